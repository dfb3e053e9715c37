"""Latency profile mode: batch-size-1 latency and a throughput sweep over batch sizes.

``evalsuite run … --profile latency`` (or ``profile: latency`` in a batch file, for the whole
batch or one model entry) adds to every (model, task) record, after the normal run:

* ``efficiency.latency_bs1_ms = {p50, p90, p99, mean, n}``: one example per call, ``n``
  calls (``--profile-repeats``, default 20) cycling over up to 8 examples spread evenly over
  the task's length distribution, after one untimed warm-up call;
* ``efficiency.sweep = [{batch_size, examples_per_s, latency_ms, peak_memory_mb, …}]``: batch
  sizes 1, 2, 4, … of examples of median length, each timed as the median of a few calls after
  one warm-up call, with the peak memory of those calls (CUDA allocator peak, or the process's
  RSS, see :mod:`evalsuite.efficiency.meter`); it stops at the first out-of-memory, at
  ``max_batch`` (256) or the task's size, or after ``budget_s`` seconds in all;
* ``efficiency.profile``: the settings and why the sweep stopped.

The calls go straight to the adapter: nothing is cached, scored or counted in the record's
throughput figures.  Before each call the adapter drops its per-task memo (``start_task``),
so a sentence encoder embeds the call's sentences instead of answering from the embeddings
the run memoised.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from evalsuite.efficiency.meter import MemoryTracker, free_memory, release_frames, synchronize
from evalsuite.tasks.cards import TaskCard

if TYPE_CHECKING:
    from evalsuite.models.base import ModelAdapter

PROFILES = ("latency",)
DEFAULT_REPEATS = 20
DEFAULT_MAX_BATCH = 256
BS1_EXAMPLES = 8
SIZE_SECONDS = 1.0  # timed calls per batch size take about this long (1 to 5 calls)
BUDGET_S = 300.0


def latency_profile(adapter: ModelAdapter, card: TaskCard, examples: Sequence[dict], *,
                    repeats: int = DEFAULT_REPEATS, max_batch: int = DEFAULT_MAX_BATCH,
                    budget_s: float = BUDGET_S) -> dict[str, Any]:
    """``latency_bs1_ms``, ``sweep`` and ``profile`` for ``examples`` (see the module doc)."""
    if not examples:
        return {"profile": {"mode": "latency", "stopped": "no examples"}}
    adapter.precompute_lengths(card, list(examples))
    order = sorted(examples, key=lambda ex: adapter.example_length(card, ex))
    device = str(adapter.device)
    started = time.perf_counter()
    latency, picked = _bs1_latency(adapter, card, order, device, max(1, repeats))
    sweep, stopped, cap = _sweep(adapter, card, order, device, max(1, max_batch),
                                 started + budget_s)
    return {"latency_bs1_ms": latency, "sweep": sweep,
            "profile": {"mode": "latency", "repeats": max(1, repeats), "bs1_examples": picked,
                        "max_batch": cap, "stopped": stopped,
                        "seconds": round(time.perf_counter() - started, 3)}}


def _timed(adapter: Any, card: TaskCard, batch: list[dict], device: str) -> float:
    adapter.start_task(card)  # forget memoised work (sentence embeddings): every call computes
    synchronize(device)
    start = time.perf_counter()
    outputs = adapter.predict_batch(card, batch)
    synchronize(device)
    seconds = time.perf_counter() - start
    if len(outputs) != len(batch):
        raise RuntimeError(f"model returned {len(outputs)} outputs for {len(batch)} inputs")
    return seconds


def _bs1_latency(adapter: Any, card: TaskCard, order: list[dict], device: str,
                 repeats: int) -> tuple[dict[str, float], int]:
    n = len(order)
    index = sorted(set(np.linspace(0, n - 1, min(n, BS1_EXAMPLES)).round().astype(int)))
    picked = [order[i] for i in index]
    _timed(adapter, card, [picked[len(picked) // 2]], device)  # warm-up
    values = [1000 * _timed(adapter, card, [picked[r % len(picked)]], device)
              for r in range(repeats)]
    p50, p90, p99 = np.percentile(np.asarray(values), [50, 90, 99])
    return ({"p50": float(p50), "p90": float(p90), "p99": float(p99),
             "mean": float(np.mean(values)), "n": len(values)}, len(picked))


def _sweep(adapter: Any, card: TaskCard, order: list[dict], device: str, max_batch: int,
           deadline: float) -> tuple[list[dict[str, Any]], str, int]:
    n = len(order)
    cap = min(max_batch, n)
    points: list[dict[str, Any]] = []
    size = 1
    while size <= cap:
        if time.perf_counter() > deadline:
            return points, "time_budget", cap
        start = max(0, min(n - size, n // 2 - size // 2))  # examples of median length
        batch = order[start:start + size]
        memory = MemoryTracker(device).start()
        try:
            first = _timed(adapter, card, batch, device)  # warm-up (new shapes, allocator)
            calls = int(min(5, max(1, SIZE_SECONDS // max(first, 1e-6))))
            seconds = float(np.median([_timed(adapter, card, batch, device)
                                       for _ in range(calls)]))
        except Exception as exc:
            memory.stop()
            if not adapter.is_out_of_memory(exc):
                raise
            release_frames(exc)
            stopped = f"out_of_memory at batch size {size}"
        else:
            stopped = ""
        if stopped:
            free_memory()  # outside the handler, so the failed call's tensors are gone
            return points, stopped, cap
        points.append({"batch_size": size, "examples_per_s": size / seconds,
                       "latency_ms": 1000 * seconds, "calls": calls, **memory.stop()})
        size *= 2
    return points, "max_batch" if cap == max_batch else "task_size", cap


