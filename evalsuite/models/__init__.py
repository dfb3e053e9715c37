"""Model backends. Each module registers one kind; see :mod:`evalsuite.models.registry`."""
