"""What was measured while predicting, and how it becomes the ``efficiency`` block.

A :class:`Measurement` is plain data (batch timings, phase seconds, warm-up, memory, energy):
the live :class:`~evalsuite.efficiency.meter.EfficiencyMeter` fills one in this process,
and measurements of several shards, replicas or processes :meth:`~Measurement.merge` into
one (times and counts add up, the larger memory peak wins), so every executor summarises
with the same :meth:`~Measurement.summary`, straight into the record's typed block
(:class:`~evalsuite.results.records.Efficiency`).  :class:`ModelInfo` is what the block says
about the model (``adapter.info()``).  The fields are described in
:mod:`evalsuite.efficiency.meter`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from evalsuite.results.records import Efficiency, EfficiencyFigures

Block = TypeVar("Block", bound=EfficiencyFigures)

PHASES = ("tokenize", "transfer", "forward", "decode")
MEMORY_FIELDS = ("peak_memory_mb", "memory_source", "memory_increase_mb", "model_memory_mb",
                 "memory_before_load_mb")


@dataclass(frozen=True)
class ModelInfo:
    """A loaded model as the efficiency block describes it (``None`` where unknown)."""

    params: int | None = None
    weight_bytes: int | None = None
    device: str = "cpu"
    device_name: str | None = None  # the GPU's or CPU's model name
    dtype: str | None = None
    quantization: str | None = None  # the int8 technique: torch-dynamic-int8, bitsandbytes-…
    batch_budget: dict[str, Any] | None = None  # batch_size=auto: tokens, rows, source…
    notes: tuple[str, ...] = ()  # caveats, e.g. float16 on a CPU


@dataclass
class BatchTiming:
    """One timed batch: its examples, seconds and input tokens (``None``: not counted)."""

    size: int
    seconds: float
    input_tokens: int | None = None


@dataclass
class Measurement:
    """The measured side of the efficiency block, for one (model, task) or a share of it."""

    batches: list[BatchTiming] = field(default_factory=list)
    oom_splits: int = 0
    lost_s: float = 0.0  # timed batches that failed (out of memory) and were split
    warmup_batches: int = 0
    warmup_s: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # critical-path seconds per phase
    overlapped: dict[str, float] = field(default_factory=dict)  # background seconds per phase
    memory: dict[str, Any] = field(default_factory=dict)  # MEMORY_FIELDS; empty: not measured
    energy_j: float | None = None
    threads: int | None = None  # torch intra-op threads of the measuring process

    def merge(self, other: Measurement) -> Measurement:
        """Both as one: batches, seconds and counts summed, the larger memory peak (and the
        larger increase), the energy each measured summed (``None`` when neither did), the
        larger thread count."""
        energy = None if self.energy_j is None and other.energy_j is None else \
            (self.energy_j or 0.0) + (other.energy_j or 0.0)
        return Measurement(
            batches=[*self.batches, *other.batches],
            oom_splits=self.oom_splits + other.oom_splits,
            lost_s=self.lost_s + other.lost_s,
            warmup_batches=self.warmup_batches + other.warmup_batches,
            warmup_s=self.warmup_s + other.warmup_s,
            phases=_summed(self.phases, other.phases),
            overlapped=_summed(self.overlapped, other.overlapped),
            memory=_larger_peak(self.memory, other.memory),
            energy_j=energy,
            threads=max((t for t in (self.threads, other.threads) if t is not None),
                        default=None))

    def summary(self, model: ModelInfo, load_s: float | None,
                kind: type[Block] = Efficiency) -> Block:  # type: ignore[assignment]
        """The efficiency block (``examples_per_s`` etc.) as a ``kind`` (a record's
        :class:`~evalsuite.results.records.Efficiency`, or a Ray replica's own figures);
        ``None`` figures when nothing ran or was measured, and conditional figures
        (``device_name``, ``energy_j``…) left unset, so absent from the result file."""
        batches = self.batches
        n = sum(b.size for b in batches)
        seconds = sum(b.seconds for b in batches)
        tokens = [b.input_tokens for b in batches]
        known_tokens = bool(tokens) and all(t is not None for t in tokens)
        block: dict[str, Any] = {
            "n_timed": n,
            "examples_per_s": n / seconds if seconds > 0 else None,
            "tokens_per_s": (sum(tokens) / seconds  # type: ignore[arg-type]
                             if seconds > 0 and known_tokens else None),
            "input_tokens": sum(tokens) if known_tokens else None,  # type: ignore[arg-type]
            "latency_ms": percentiles([1000 * b.seconds for b in batches]),
            "latency_per_example_ms": percentiles(
                [1000 * b.seconds / b.size for b in batches if b.size],
                weights=[b.size for b in batches if b.size]),
            **(self.memory or {"peak_memory_mb": None}),
            "load_s": load_s,
            "params": model.params,
            "weight_bytes": model.weight_bytes,
            "device": model.device,
            "dtype": model.dtype,
            "batch_size": max((b.size for b in batches), default=None),
            "mean_batch_size": round(n / len(batches), 2) if batches else None,
            "oom_splits": self.oom_splits,
            "wall_s": seconds,
            "warmup_batches": self.warmup_batches,
            "warmup_s": round(self.warmup_s, 6),
            "split_s": self.split(seconds),
        }
        if model.device_name:
            block["device_name"] = model.device_name
        if model.quantization:
            block["quantization"] = model.quantization
        if model.batch_budget:
            block["batch_budget"] = dict(model.batch_budget)
        if self.lost_s:
            block["oom_lost_s"] = self.lost_s
        if self.overlapped:
            block["overlapped_s"] = {k: round(v, 6) for k, v in self.overlapped.items()}
        if self.energy_j is not None and n:
            block["energy_j"] = self.energy_j
            block["energy_per_example_j"] = self.energy_j / n
        if model.notes:
            block["notes"] = list(model.notes)
        block["threads"] = self.threads
        return kind.model_validate(block)

    def split(self, wall_s: float) -> dict[str, float]:
        """The adapter's phases of the timed batches and the rest (``predict_other``)."""
        parts = {name: self.phases[name] for name in (*PHASES, *sorted(set(self.phases)
                                                                         - set(PHASES)))
                 if self.phases.get(name)}
        parts["predict_other"] = max(0.0, wall_s - sum(parts.values()))
        return {k: round(v, 6) for k, v in parts.items()}


def percentiles(values: list[float], weights: list[int] | None = None
                ) -> dict[str, float] | None:
    """p50/p90/p99 of ``values`` (each counted ``weights[i]`` times when given)."""
    if not values:
        return None
    array = np.asarray(values, dtype=float)
    if weights is not None:
        array = np.repeat(array, np.asarray(weights, dtype=int))
    p50, p90, p99 = np.percentile(array, [50, 90, 99])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99)}


def _summed(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    out = dict(a)
    for name, seconds in b.items():
        out[name] = out.get(name, 0.0) + seconds
    return out


def _larger_peak(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The memory figures with the larger peak; the larger increase of the two."""
    if not b.get("peak_memory_mb"):
        return dict(a)
    peak = dict(b if (b["peak_memory_mb"] or 0) >= (a.get("peak_memory_mb") or 0) else a)
    increases = [m["memory_increase_mb"] for m in (a, b) if m.get("memory_increase_mb")
                 is not None]
    if increases:
        peak["memory_increase_mb"] = max(increases)
    return peak
