"""What a model costs, in real units: throughput, latency and memory over a set of tasks.

Over several task slots: throughput is the geometric mean of examples/s (and tokens/s),
latency the median of each percentile, memory the largest.  Memory is what the model
accounts for (``model_memory_mb``: the task's peak minus what the process held before the
model was loaded; on CUDA the allocator peak) when the records have it, else the process's
peak, labelled as such (it includes Python and the libraries).  ``cmd`` and ``http`` models
run in another process (a command, a server): their memory is not measured.  Fixed outputs
(``predictions:``) cost nothing measurable: :attr:`Cost.measured` is false and every figure
is ``None``, shown as "not measured".
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from statistics import geometric_mean, median
from typing import Any

from evalsuite.report.load import Model
from evalsuite.report.values import number, positive
from evalsuite.results.records import Percentiles

PERCENTILES = ("p50", "p90", "p99")
# Memory below this many MB counts as this much when models are compared (resident-set
# figures do not tell a lexicon's 0.0 MB from its 0.6 MB; a ratio against 0 is undefined).
MEMORY_FLOOR_MB = 1.0
# Kinds whose model runs outside evalsuite's process: its memory is not measured here.
OTHER_PROCESS = {"cmd": "in its own process", "http": "behind an endpoint"}


@dataclass
class Cost:
    """A model's cost over some task slots (``None``: not measured)."""

    measured: bool
    examples_per_s: float | None = None
    tokens_per_s: float | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)  # per batch
    latency_bs1_ms: dict[str, float] = field(default_factory=dict)  # one example per call
    batch_size: int | None = None
    memory_mb: float | None = None
    memory_kind: str | None = None  # "model" (attributable) or "process peak"
    devices: list[str] = field(default_factory=list)
    n_tasks: int = 0
    why: str = ""  # why it is not measured

    def to_dict(self) -> dict[str, Any]:
        return {"measured": self.measured, "examples_per_s": self.examples_per_s,
                "tokens_per_s": self.tokens_per_s, "latency_ms": self.latency_ms or None,
                "latency_bs1_ms": self.latency_bs1_ms or None, "batch_size": self.batch_size,
                "memory_mb": self.memory_mb, "memory_kind": self.memory_kind,
                "devices": self.devices, "tasks": self.n_tasks,
                **({"not_measured": self.why} if not self.measured else {})}

    def short(self) -> str:
        """``1.2k ex/s · p90 35 ms/batch · 420 MB`` (or ``not measured``)."""
        if not self.measured:
            return "not measured"
        parts = []
        if self.examples_per_s is not None:
            parts.append(f"{si(self.examples_per_s)} ex/s")
        p90 = self.latency_bs1_ms.get("p90") or self.latency_ms.get("p90")
        if p90 is not None:
            unit = "ms" if self.latency_bs1_ms.get("p90") else "ms/batch"
            parts.append(f"p90 {si(p90)} {unit}")
        if self.memory_mb is not None:
            parts.append(megabytes(self.memory_mb) + ("" if self.memory_kind == "model"
                                                      else " (process peak)"))
        return " · ".join(parts) or "not measured"


def memory_mb(entry: Any, attributable: bool = True) -> float | None:
    """The model's memory on a record: ``model_memory_mb`` (what the model accounts for;
    0.0 below what the meter resolves), else (or with ``attributable=False``) the process
    peak ``peak_memory_mb``; ``None`` for models running in another process
    (:data:`OTHER_PROCESS`)."""
    eff = entry.record.efficiency
    if entry.record.model_kind in OTHER_PROCESS or eff is None:
        return None
    share = number(eff.model_memory_mb)
    if attributable and share is not None and share >= 0:
        return share
    return float(eff.peak_memory_mb) if positive(eff.peak_memory_mb) else None


def cost_of(model: Model, slots: Iterable[str]) -> Cost:
    """``model``'s cost over ``slots`` (those it has)."""
    entries = [model.results[s] for s in slots if s in model.results]
    if model.fixed_outputs:
        return Cost(False, n_tasks=len(entries),
                    why="fixed outputs (predictions file): nothing ran")
    blocks = [e.record.efficiency for e in entries if e.record.efficiency is not None]
    if not blocks:
        return Cost(False, n_tasks=len(entries), why="no efficiency figures in the records")
    out = Cost(True, n_tasks=len(entries))
    out.examples_per_s = _geomean(b.examples_per_s for b in blocks)
    out.tokens_per_s = _geomean(b.tokens_per_s for b in blocks)
    out.latency_ms = _percentiles(b.latency_ms for b in blocks)
    out.latency_bs1_ms = _percentiles(b.latency_bs1_ms for b in blocks)
    sizes = [int(b.batch_size) for b in blocks if positive(b.batch_size)]
    out.batch_size = max(sizes) if sizes else None
    if model.kind in OTHER_PROCESS:  # the command or the server holds the model's memory
        out.memory_kind = f"not measured (runs {OTHER_PROCESS[model.kind]})"
        out.devices = sorted({str(b.device) for b in blocks if b.device})
        return out
    model_memory = [float(b.model_memory_mb) for b in blocks
                    if number(b.model_memory_mb) is not None]
    if model_memory and len(model_memory) == len(blocks):
        out.memory_mb, out.memory_kind = max(model_memory), "model"
    else:
        peaks = [float(b.peak_memory_mb) for b in blocks if positive(b.peak_memory_mb)]
        if peaks:
            cuda = all(b.memory_source == "cuda_allocator" for b in blocks)
            out.memory_mb, out.memory_kind = max(peaks), ("model" if cuda else "process peak")
    out.devices = sorted({str(b.device) for b in blocks if b.device})
    return out


def megabytes(value: float) -> str:
    """``420 MB``; ``< 0.1 MB`` below what the resident-set sampling resolves."""
    return "< 0.1 MB" if 0 <= value < 0.1 else f"{si(value)} MB"


def si(value: float) -> str:
    """A figure with three significant digits and a k/M suffix: 0.0123, 4.56, 789, 1.2k."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    magnitude = abs(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def _geomean(values: Iterable[Any]) -> float | None:
    found = [float(v) for v in values if positive(v)]
    if len(found) == 1:
        return found[0]
    return geometric_mean(found) if found else None


def _percentiles(blocks: Iterable[Percentiles | None]) -> dict[str, float]:
    found = [b for b in blocks if b is not None]
    out = {}
    for p in PERCENTILES:
        values = [v for b in found if (v := number(getattr(b, p))) is not None]
        if values:
            out[p] = median(values)
    return out
