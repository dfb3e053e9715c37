"""evalsuite: evaluate NLP models for quality, cost, bias, safety and robustness."""

__version__ = "0.1.0"
