"""The ``evalsuite`` command line (:mod:`evalsuite.cli.app` builds it; one module per command)."""

from evalsuite.cli.app import app, main

__all__ = ["app", "main"]
