"""The local executor: every model in this process, one after the other.

It is :func:`evalsuite.runner.run` itself; this module exists so that executors are named
alike (``evalsuite.executors.local`` / ``evalsuite.executors.ray_executor``).  It imports
nothing from Ray.
"""

from __future__ import annotations

from evalsuite.runner.run import RunOutcome, run

__all__ = ["RunOutcome", "run"]
