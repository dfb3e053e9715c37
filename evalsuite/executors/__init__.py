"""Executors: where the work of an evaluation batch runs.

``local`` (the default) runs every model in this process, one after the other
(:func:`evalsuite.runner.run`).  ``ray`` splits the batch into (model, task, shard) work items
and runs them on the actors of a Ray cluster (:mod:`evalsuite.executors.ray_executor`; needs
``pip install 'evalsuite[ray]'``).  Both write the same result folder and files.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from evalsuite.errors import UserError

EXECUTORS = ("local", "ray")
RAY_INSTALL_HINT = "pip install 'evalsuite[ray]'"


def ray_available() -> bool:
    """Whether Ray can be imported here (without importing it)."""
    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):
        return False


def require_ray() -> None:
    """Refuse with exit code 2 and the install command when Ray is missing."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise UserError(f"the ray executor needs Ray, which is not installed: "
                        f"{RAY_INSTALL_HINT}", where="--executor") from None


def run_batch(config: Any, progress: Any = None, *, executor: str = "local",
              address: str | None = None) -> Any:
    """Run ``config`` (a :class:`~evalsuite.runner.RunConfig`) on the named executor."""
    if executor == "local":
        if address is not None:
            raise UserError("only the ray executor connects to a cluster; add --executor ray",
                            where="--address")
        from evalsuite.executors.local import run

        return run(config, progress)
    if executor == "ray":
        require_ray()
        from evalsuite.executors.ray_executor import run as run_on_ray

        return run_on_ray(config, progress, address=address)
    raise UserError(f"unknown executor {executor!r} (choose: {', '.join(EXECUTORS)})",
                    where="--executor")


__all__ = ["EXECUTORS", "RAY_INSTALL_HINT", "ray_available", "require_ray", "run_batch"]
