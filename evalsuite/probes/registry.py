"""Probe registry: ``bias``, ``safety``, ``robustness`` and plug-ins.

A probe is a class with a ``name``, a one-line ``description``, the ``options`` it reads (name
→ one-line help) and ``run(ctx)``, which returns the probe's block of the record (figure name
→ figure).  Built-in probes are imported on first use; installed packages add probes through
the ``evalsuite.probes`` entry-point group (``name = "package.module:ProbeClass"``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from evalsuite.registry import Registry

if TYPE_CHECKING:
    from evalsuite.probes.context import ProbeContext

ENTRY_POINT_GROUP = "evalsuite.probes"

# Options every probe reads through ProbeContext.
COMMON_OPTIONS = {
    "n": "cap on the task examples sampled (seeded)",
    "resamples": "bootstrap resamples of the intervals (default: the run's)",
    "permutations": "permutations of the p-values (default 1000)",
}


class Probe(Protocol):
    """What a probe declares and does."""

    name: ClassVar[str]
    description: ClassVar[str]
    options: ClassVar[dict[str, str]]

    def run(self, ctx: ProbeContext) -> dict[str, Any]:
        """The probe's block for one (model, task): figure name → figure (a figure that
        cannot be computed is ``{"status": "not_applicable" | "failed", "reason": …}``)."""
        ...


PROBES: Registry[type[Probe]] = Registry(
    "probe", where="--probes", group=ENTRY_POINT_GROUP,
    builtins={"bias": "evalsuite.probes.bias:BiasProbe",
              "safety": "evalsuite.probes.safety:SafetyProbe",
              "robustness": "evalsuite.probes.robustness:RobustnessProbe"},
    name_of=lambda cls: cls.name,
)


def register(cls: type[Probe]) -> type[Probe]:
    """Class decorator registering a probe under ``cls.name``."""
    return PROBES.add(cls.name, cls)


def probe_names() -> list[str]:
    """Every probe's name: the built-ins in their order, then the others."""
    return PROBES.names()
