"""The executor seam: what an executor is, and the model options that say where a model runs.

An executor takes a :class:`~evalsuite.runner.run.RunConfig` and produces the run folder; the
steps every executor shares (open and close the run, build a record, a status record) are in
:mod:`evalsuite.runner.steps`, and efficiency measurements from anywhere merge as
:class:`~evalsuite.efficiency.measurement.Measurement`.  Executors register in
:data:`evalsuite.executors.EXECUTORS` (entry-point group ``evalsuite.executors``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from evalsuite.errors import SpecError
from evalsuite.models.spec import ModelSpec

if TYPE_CHECKING:
    from evalsuite.runner.run import Progress, RunConfig, RunOutcome


class Executor(Protocol):
    """Runs an evaluation batch somewhere; built with the command line's ``--address``."""

    name: ClassVar[str]
    description: ClassVar[str]
    concurrent_tasks: ClassVar[bool]
    """Whether several (model, task) pairs run at once (one progress bar each)."""

    def __init__(self, *, address: str | None = None) -> None:
        """Refuse (``UserError``) options this executor does not take."""

    def check(self, config: RunConfig) -> None:
        """Refuse (``UserError``) before any work what this executor cannot run."""

    def run(self, config: RunConfig, progress: Progress | None = None) -> RunOutcome:
        """Run every job; the run folder and its records (finished ones kept on failure)."""
        ...


# Spec options that say where a model runs (the Ray executor's placement), not how it
# predicts: adapters never see them and they are not part of cache keys; the local executor
# accepts and ignores them.
EXECUTOR_OPTIONS = frozenset({"replicas", "num_gpus", "num_cpus"})


def adapter_spec(spec: ModelSpec) -> ModelSpec:
    """``spec`` without the executor options (``replicas``, ``num_gpus``, ``num_cpus``)."""
    if not EXECUTOR_OPTIONS & set(spec.options):
        return spec
    options = {k: v for k, v in spec.options.items() if k not in EXECUTOR_OPTIONS}
    return ModelSpec(spec.kind, spec.target, options, spec.name)


@dataclass(frozen=True)
class Placement:
    """Where a model runs: replicas and the resources each one reserves."""

    replicas: int = 1
    num_gpus: float = 0.0
    num_cpus: float = 1.0


def placement(spec: ModelSpec) -> Placement:
    """The ``replicas``, ``num_gpus`` and ``num_cpus`` options of a model spec."""
    where = f"model {spec.display_name}"
    values: dict[str, Any] = {}
    for key, convert, low in (("replicas", int, 1), ("num_gpus", float, 0.0),
                              ("num_cpus", float, 0.0)):
        if key not in spec.options:
            continue
        raw = spec.options[key]
        try:
            value = convert(raw)
        except (TypeError, ValueError):
            value = None
        if value is None or value < low or isinstance(raw, bool):
            raise SpecError(f"option {key}={raw!r}: must be a number of at least {low:g}",
                            where=where)
        values[key] = value
    return Placement(**values)
