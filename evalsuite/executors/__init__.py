"""Executors: where the work of an evaluation batch runs.

``local`` (the default) runs every model in this process, one after the other
(:func:`evalsuite.runner.run`).  ``ray`` splits the batch into (model, task, shard) work items
and runs them on the actors of a Ray cluster (:mod:`evalsuite.executors.ray_executor`; needs
``pip install 'evalsuite[ray]'``).  Both write the same result folder and files.  Executors
are looked up in :data:`EXECUTORS` (installed packages add their own through the
``evalsuite.executors`` entry-point group); :mod:`evalsuite.executors.base` defines the seam.
"""

from __future__ import annotations

from evalsuite.errors import UserError
from evalsuite.executors.base import Executor
from evalsuite.registry import Registry

RAY_INSTALL_HINT = "pip install 'evalsuite[ray]'"

EXECUTORS: Registry[type[Executor]] = Registry(
    "executor", where="--executor", group="evalsuite.executors",
    builtins={"local": "evalsuite.executors.local:LocalExecutor",
              "ray": "evalsuite.executors.ray_executor:RayExecutor"},
    name_of=lambda cls: cls.name,
    install_hint=RAY_INSTALL_HINT,  # the only built-in executor with an extra dependency
)


def require_ray() -> None:
    """Refuse with exit code 2 and the install command when Ray cannot be imported."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise UserError(f"the ray executor needs Ray, which is not installed: "
                        f"{RAY_INSTALL_HINT}", where="--executor") from None


def create(name: str, *, address: str | None = None) -> Executor:
    """The executor called ``name``, refusing (exit code 2) an unknown name, a missing
    dependency or an option it does not take, before any work."""
    return EXECUTORS.get(name)(address=address)


__all__ = ["EXECUTORS", "RAY_INSTALL_HINT", "Executor", "create", "require_ray"]
