"""Metrics with bootstrap confidence intervals; see :mod:`evalsuite.metrics.base`."""
