"""Timing, memory and energy of prediction: the ``efficiency`` block of a result record.

What one (model, task) records (DESIGN.md §4; every figure is ``None`` or absent, never a
made-up zero, when it could not be measured):

* ``examples_per_s`` = ``n_timed / wall_s`` and ``tokens_per_s`` (input tokens, unpadded
  and truncated as the model saw them), where ``wall_s`` is the sum of the timed batches.
  Warm-up batches run first and are excluded (``warmup_batches``, ``warmup_s``).
* ``latency_ms`` (per batch) and ``latency_per_example_ms`` (batch time / batch size, one
  value per example) as p50/p90/p99.
* ``split_s``: where ``wall_s`` went — ``tokenize``, ``transfer``, ``forward``, ``decode``
  as reported by the adapter through :class:`PhaseTimer` (``with self.phase("forward"):``),
  ``predict_other`` (the rest of the timed batches: the adapter's Python, the runner), then
  ``metrics`` and ``write`` (added by the runner).  The phases before ``metrics`` sum to
  ``wall_s``.  Work done in a background thread (tokenizing the next batch while this one
  computes) is in ``overlapped_s``, not in ``split_s``.
* Memory.  On CUDA: the allocator's peak (``torch.cuda.max_memory_allocated``, reset when the
  task starts), ``memory_source: cuda_allocator``.  On the CPU: the process's peak resident
  set size *during the task*.  ``ru_maxrss`` is a per-process high-water mark that never goes
  down, so it is used only when it rose during the task (``memory_source: rss_maxrss``, exact);
  otherwise the peak is the highest of the RSS samples taken every 10 ms by a background
  thread and at every batch boundary (``rss_sampled``, a lower bound).  ``memory_increase_mb``
  is the peak minus the memory in use when the task started, so a later task is not charged
  for what an earlier one left behind.
* ``energy_j`` and ``energy_per_example_j``: on NVIDIA GPUs from NVML's total-energy counter
  (``pip install nvidia-ml-py``) read at the first and last timed batch; the counter is the
  whole GPU's, so other processes on it are counted too.  Absent without NVML.
* ``load_s``, ``params``, ``weight_bytes``, ``device``, ``device_name``, ``dtype``,
  ``batch_size`` (the largest batch run), ``mean_batch_size``, ``oom_splits``.

On CUDA every timed region (batch, and the adapter's ``transfer``/``forward``/``decode``
phases) ends with ``torch.cuda.synchronize`` so no timer stops before the kernels finish.
"""

from __future__ import annotations

import functools
import os
import platform
import resource
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from evalsuite.efficiency.measurement import BatchTiming, Measurement, ModelInfo

GPU_PHASES = frozenset({"transfer", "forward", "decode"})  # synchronized on CUDA
RSS_INTERVAL_S = 0.01


def _cuda_device(device: str) -> bool:
    return str(device).startswith("cuda") and "torch" in sys.modules


def synchronize(device: str) -> None:
    if _cuda_device(device):
        import torch

        torch.cuda.synchronize(device)


def reset_peak_memory(device: str) -> None:
    if _cuda_device(device):
        import torch

        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device: str) -> float:
    """CUDA allocator peak, else the process's lifetime peak RSS (``ru_maxrss``), in MiB."""
    if _cuda_device(device):
        import torch

        return torch.cuda.max_memory_allocated(device) / 2**20
    return _maxrss_bytes() / 2**20


def _maxrss_bytes() -> int:
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage if sys.platform == "darwin" else usage * 1024


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def current_rss_bytes() -> int | None:
    """The process's resident set size now (Linux ``/proc/self/statm``), else ``None``."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


@functools.lru_cache(maxsize=16)
def describe_device(device: str) -> str | None:
    """A human name for ``device``: the GPU's name for ``cuda[:N]``, the CPU model for ``cpu``;
    ``None`` when unknown (a remote endpoint)."""
    device = str(device)
    if device.startswith("cuda"):
        try:
            import torch

            return str(torch.cuda.get_device_name(device))
        except Exception:
            return None
    if device == "mps":
        return "Apple GPU (MPS)"
    if device != "cpu":
        return None
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or None


# -- phases -------------------------------------------------------------------------------------
class PhaseTimer:
    """Seconds an adapter spends per phase of prediction (tokenize, transfer, forward, decode).

    An adapter wraps its steps in ``with timer.phase("forward"):``; the runner's meter reads
    the totals around each timed batch, so warm-up and profiling calls are not counted.  On
    CUDA the GPU phases end with a synchronize.  ``overlapped=True`` marks work done in a
    background thread (it overlaps the timed batches and is reported apart).

    >>> timer = PhaseTimer()
    >>> with timer.phase("forward"):
    ...     pass
    >>> sorted(timer.snapshot()[0])
    ['forward']
    """

    def __init__(self, device: str = "cpu") -> None:
        self.device = str(device)
        self._lock = threading.Lock()
        self._seconds: dict[str, float] = {}
        self._overlapped: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str, *, overlapped: bool = False,
              sync: bool | None = None) -> Iterator[None]:
        start = time.perf_counter()
        ok = False
        try:
            yield
            ok = True
        finally:
            if ok and not overlapped and (name in GPU_PHASES if sync is None else sync):
                synchronize(self.device)
            self.add(name, time.perf_counter() - start, overlapped=overlapped)

    def add(self, name: str, seconds: float, *, overlapped: bool = False) -> None:
        with self._lock:
            target = self._overlapped if overlapped else self._seconds
            target[name] = target.get(name, 0.0) + seconds

    def snapshot(self) -> tuple[dict[str, float], dict[str, float]]:
        """(critical-path seconds, background seconds) per phase, totals so far."""
        with self._lock:
            return dict(self._seconds), dict(self._overlapped)


def _delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0) > 0}


# -- memory -------------------------------------------------------------------------------------
class MemoryTracker:
    """Peak memory of one measured stretch (a task, one batch size of a sweep).

    CUDA: the allocator's peak since :meth:`start`.  CPU: ``ru_maxrss`` when it rose since
    :meth:`start` (then it is this stretch's exact peak), else the highest RSS sample
    (every ``interval`` seconds by a daemon thread, and on each :meth:`sample`).
    """

    def __init__(self, device: str, interval: float = RSS_INTERVAL_S) -> None:
        self.device = str(device)
        self.interval = interval
        self._base = 0
        self._peak = 0
        self._maxrss_before = 0
        self._stop = threading.Event()
        self._result: dict[str, Any] | None = None

    def start(self) -> MemoryTracker:
        if _cuda_device(self.device):
            import torch

            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            return self
        rss = current_rss_bytes()
        self._maxrss_before = _maxrss_bytes()
        if rss is not None:
            self._base = self._peak = rss
            ref = weakref.ref(self)
            threading.Thread(target=_sample_rss, args=(ref, self._stop, self.interval),
                             name="evalsuite-rss", daemon=True).start()
        return self

    def sample(self) -> None:
        if not _cuda_device(self.device):
            rss = current_rss_bytes()
            if rss is not None and rss > self._peak:
                self._peak = rss

    def stop(self) -> dict[str, Any]:
        """``peak_memory_mb``, ``memory_increase_mb``, ``memory_source`` (idempotent)."""
        if self._result is not None:
            return self._result
        self._stop.set()
        if _cuda_device(self.device):
            import torch

            peak = torch.cuda.max_memory_allocated(self.device)
            source = "cuda_allocator"
        else:
            self.sample()
            maxrss = _maxrss_bytes()
            if maxrss > self._maxrss_before:
                peak, source = max(maxrss, self._peak), "rss_maxrss"
            elif self._peak:
                peak, source = self._peak, "rss_sampled"
            else:  # no /proc: only the process's lifetime peak is known
                peak, source = maxrss, "rss_maxrss_lifetime"
        self._result = {"peak_memory_mb": round(peak / 2**20, 1), "memory_source": source}
        if self._base:
            self._result["memory_increase_mb"] = round(max(0, peak - self._base) / 2**20, 1)
        return self._result

    def __del__(self) -> None:
        self._stop.set()


def _sample_rss(ref: weakref.ref, stop: threading.Event, interval: float) -> None:
    while not stop.wait(interval):
        tracker = ref()
        if tracker is None:
            return
        tracker.sample()
        del tracker


# -- energy -------------------------------------------------------------------------------------
class EnergyCounter:
    """NVML's total-energy counter of the GPU behind a CUDA device (millijoules)."""

    def __init__(self, nvml: Any, handle: Any) -> None:
        self._nvml = nvml
        self._handle = handle
        self.first: int | None = None
        self.last: int | None = None

    @classmethod
    def open(cls, device: str) -> EnergyCounter | None:
        """A counter for ``device``, or ``None`` (not CUDA, no ``pynvml``, no counter)."""
        if not str(device).startswith("cuda"):
            return None
        try:
            import pynvml  # from nvidia-ml-py, optional
            import torch

            pynvml.nvmlInit()
            index = torch.cuda._get_nvml_device_index(device)  # honours CUDA_VISIBLE_DEVICES
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        except Exception:
            return None
        return cls(pynvml, handle)

    def read(self) -> None:
        try:
            value = int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle))
        except Exception:
            return
        if self.first is None:
            self.first = value
        self.last = value

    @property
    def joules(self) -> float | None:
        if self.first is None or self.last is None or self.last <= self.first:
            return None
        return (self.last - self.first) / 1000.0


# -- the meter ----------------------------------------------------------------------------------
class EfficiencyMeter:
    """Measures the timed batches of one (model, task) as they run, into :attr:`measured`;
    :meth:`measurement` hands the result over (memory and energy included)."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = str(device)
        self.measured = Measurement()
        self.timer: PhaseTimer | None = None
        self._memory: MemoryTracker | None = None
        self._energy: EnergyCounter | None = None

    @property
    def oom_splits(self) -> int:
        return self.measured.oom_splits

    def start(self) -> None:
        """Reset the peak-memory counters and open the energy counter (call once, first)."""
        self._memory = MemoryTracker(self.device).start()
        self._energy = EnergyCounter.open(self.device)

    def watch(self, timer: PhaseTimer | None) -> None:
        """Collect the adapter's phase seconds of every timed batch from ``timer``."""
        self.timer = timer

    def count_oom_split(self) -> None:
        """A timed batch ran out of memory and is split in halves."""
        self.measured.oom_splits += 1

    @contextmanager
    def time_batch(self, size: int, input_tokens: int | None) -> Iterator[None]:
        synchronize(self.device)
        timer, measured = self.timer, self.measured
        before = timer.snapshot() if timer is not None else None
        if self._energy is not None and self._energy.first is None:
            self._energy.read()
        start = time.perf_counter()
        try:
            yield
            synchronize(self.device)
        except BaseException:
            measured.lost_s += time.perf_counter() - start
            raise
        measured.batches.append(BatchTiming(size, time.perf_counter() - start, input_tokens))
        if self._energy is not None:
            self._energy.read()
        if self._memory is not None:
            self._memory.sample()
        if timer is not None and before is not None:
            after = timer.snapshot()
            for target, now, then in ((measured.phases, after[0], before[0]),
                                      (measured.overlapped, after[1], before[1])):
                for name, seconds in _delta(now, then).items():
                    target[name] = target.get(name, 0.0) + seconds

    @contextmanager
    def time_warmup(self) -> Iterator[None]:
        """A warm-up batch: run, counted in ``warmup_batches``/``warmup_s``, not timed (an
        attempt that ran out of memory adds its seconds to ``warmup_s`` only)."""
        start = time.perf_counter()
        try:
            yield
            synchronize(self.device)
        finally:
            self.measured.warmup_s += time.perf_counter() - start
        self.measured.warmup_batches += 1

    def memory(self) -> dict[str, Any]:
        """Peak memory figures since :meth:`start` (stops the sampling)."""
        if self._memory is None:
            return {"peak_memory_mb": round(peak_memory_mb(self.device), 1)}
        return dict(self._memory.stop())

    def measurement(self) -> Measurement:
        """What was measured so far, with the memory peak (sampling stops) and the energy."""
        joules = self._energy.joules if self._energy is not None else None
        return replace(self.measured, memory=self.memory(), energy_j=joules)

    def summary(self, model: ModelInfo, load_s: float | None) -> dict[str, Any]:
        """The efficiency block of what was measured (see :meth:`Measurement.summary`)."""
        return self.measurement().summary(model, load_s)


def release_frames(exc: BaseException) -> None:
    """Drop the local variables of the finished frames an exception's traceback holds (the
    activations and inputs of a forward pass that ran out of memory), so they are freed even
    while the exception object lives on."""
    traceback.clear_frames(exc.__traceback__)


def free_memory() -> None:
    """Collect garbage and return cached CUDA blocks (after an out-of-memory or a model)."""
    import gc

    gc.collect()
    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
