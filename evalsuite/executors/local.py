"""The local executor: every model in this process, one after the other.

It is :func:`evalsuite.runner.run` itself behind the :class:`~evalsuite.executors.base.Executor`
seam.  It imports nothing from Ray.
"""

from __future__ import annotations

from typing import ClassVar

from evalsuite.errors import UserError
from evalsuite.runner.run import Progress, RunConfig, RunOutcome, run


class LocalExecutor:
    """Every model in this process, one after the other."""

    name: ClassVar[str] = "local"
    description: ClassVar[str] = "every model in this process, one after the other"
    concurrent_tasks: ClassVar[bool] = False

    def __init__(self, *, address: str | None = None) -> None:
        if address is not None:
            raise UserError("only the ray executor joins a cluster; add --executor ray",
                            where="--address")

    def check(self, config: RunConfig) -> None:
        """Everything a batch can ask for runs locally."""

    def run(self, config: RunConfig, progress: Progress | None = None) -> RunOutcome:
        return run(config, progress)


__all__ = ["LocalExecutor", "RunOutcome", "run"]
