"""Probe registry: ``bias``, ``safety``, ``robustness`` and plug-ins.

A probe is a :class:`Probe`: a ``name``, a one-line ``description``, the ``options`` it reads
(name → one-line help) and ``run(ctx)``, which returns the probe's block of the record
(figure name → figure).  Built-in probes are imported on first use; installed packages add
probes through the ``evalsuite.probes`` entry-point group (``name = "package.module:PROBE"``,
a :class:`Probe`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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
BUDGET_HELP = ("predictions per template probe set (default: the task's number of examples; "
               "'full': the whole sets)")


@dataclass(frozen=True)
class Probe:
    """One probe: what it is called, what it measures, the options it reads, and ``run``,
    which returns its figures for one (model, task): figure name → figure (a figure that
    cannot be computed is ``{"status": "not_applicable" | "failed", "reason": …}``).

    ``section`` is the record section the figures go to — ``bias``, ``safety`` or
    ``robustness`` — and decides their fields (:data:`evalsuite.results.records.PROBE_FIGURES`);
    the built-in probes write the section of their name, a plug-in names the one it fits.
    Figure names must not clash with another probe's in the same section.

    ``plan`` (optional) says how many figures ``run`` will produce, so the progress display
    can count them; ``run`` reports each finished one with ``ctx.figure_done(key)``.
    Without a plan the probe is one step of the display.
    """

    name: str
    description: str
    options: dict[str, str]
    run: Callable[[ProbeContext], dict[str, Any]]
    section: str = ""
    plan: Callable[[ProbeContext], int] | None = None

    def __post_init__(self) -> None:
        from evalsuite.results.records import PROBE_SECTIONS

        section = self.section or self.name
        if section not in PROBE_SECTIONS:
            raise ValueError(f"probe {self.name!r} writes section {section!r}; a probe writes "
                             f"one of: {', '.join(PROBE_SECTIONS)} (set section=)")
        object.__setattr__(self, "section", section)


PROBES: Registry[Probe] = Registry(
    "probe", where="--probes", group=ENTRY_POINT_GROUP,
    builtins={"bias": "evalsuite.probes.bias:PROBE",
              "safety": "evalsuite.probes.safety:PROBE",
              "robustness": "evalsuite.probes.robustness:PROBE"},
    name_of=lambda probe: probe.name,
    base=Probe,
)


def register(probe: Probe) -> Probe:
    """Add ``probe`` under its name (returns it, to bind it to a module attribute)."""
    return PROBES.add(probe.name, probe)


def probe_names() -> list[str]:
    """Every probe's name: the built-ins in their order, then the others."""
    return PROBES.names()
