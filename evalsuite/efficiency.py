"""Timing and memory of prediction: the ``efficiency`` block of a result record.

On CUDA every timed region ends with ``torch.cuda.synchronize`` so no timer stops before the
kernels finish; peak memory is the allocator's peak (reset per task).  On the CPU peak
memory is the process's peak resident set size.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def _cuda_device(device: str) -> bool:
    return device.startswith("cuda") and "torch" in sys.modules


def synchronize(device: str) -> None:
    if _cuda_device(device):
        import torch

        torch.cuda.synchronize(device)


def reset_peak_memory(device: str) -> None:
    if _cuda_device(device):
        import torch

        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device: str) -> float:
    if _cuda_device(device):
        import torch

        return torch.cuda.max_memory_allocated(device) / 2**20
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage / 1024 if sys.platform != "darwin" else usage / 2**20


@dataclass
class BatchTiming:
    size: int
    seconds: float
    input_tokens: int | None = None


@dataclass
class EfficiencyMeter:
    """Collects per-batch timings of one (model, task) and summarises them."""

    device: str = "cpu"
    batches: list[BatchTiming] = field(default_factory=list)
    oom_splits: int = 0

    def start(self) -> None:
        reset_peak_memory(self.device)

    @contextmanager
    def time_batch(self, size: int, input_tokens: int | None) -> Iterator[None]:
        synchronize(self.device)
        start = time.perf_counter()
        yield
        synchronize(self.device)
        self.batches.append(BatchTiming(size, time.perf_counter() - start, input_tokens))

    def summary(self, adapter: Any, load_s: float | None) -> dict[str, Any]:
        """The efficiency block (``examples_per_s`` etc.); ``None`` figures when nothing ran."""
        n = sum(b.size for b in self.batches)
        seconds = sum(b.seconds for b in self.batches)
        tokens = [b.input_tokens for b in self.batches]
        block: dict[str, Any] = {
            "n_timed": n,
            "examples_per_s": n / seconds if seconds > 0 else None,
            "tokens_per_s": (sum(tokens) / seconds  # type: ignore[arg-type]
                             if seconds > 0 and all(t is not None for t in tokens) else None),
            "latency_ms": _percentiles([1000 * b.seconds for b in self.batches]),
            "latency_per_example_ms": _percentiles(
                [1000 * b.seconds / b.size for b in self.batches if b.size]),
            "peak_memory_mb": round(peak_memory_mb(self.device), 1),
            "load_s": load_s,
            "params": adapter.params,
            "weight_bytes": adapter.weight_bytes,
            "device": adapter.device,
            "dtype": adapter.dtype,
            "batch_size": max((b.size for b in self.batches), default=None),
            "oom_splits": self.oom_splits,
            "wall_s": seconds,
        }
        return block


def _percentiles(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    p50, p90, p99 = np.percentile(np.asarray(values), [50, 90, 99])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99)}
