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
  for what an earlier one left behind.  ``model_memory_mb`` (:func:`model_memory`) is the
  peak minus what the process held before the model was loaded: the weights and working
  memory the model accounts for, without Python and the libraries (a lexicon scorer's 650 MB
  process peak is mostly torch).
* ``energy_j`` and ``energy_per_example_j``: on NVIDIA GPUs from NVML's total-energy counter
  (``pip install nvidia-ml-py``) read at the first and last timed batch; the counter is the
  whole GPU's, so other processes on it are counted too.  Absent without NVML.
* ``load_s``, ``params``, ``weight_bytes``, ``device``, ``device_name``, ``dtype``,
  ``batch_size`` (the largest batch run), ``mean_batch_size``, ``oom_splits``.

Synchronisation: on CUDA a timed batch ends with one ``torch.cuda.synchronize`` (so its
timer does not stop before its kernels finish), and nothing in it waits for the GPU otherwise:
the adapter's device phases (``transfer``/``forward``/``decode``) are marked with CUDA events
(:class:`CudaEventClock`), read after that one synchronisation, so the host keeps queueing
work and ``non_blocking`` copies overlap.  Each instant of the batch counts once in
``split_s`` (:func:`attribute`: the device phase running then, else the host phase), so the
split still sums to ``wall_s``.  On the CPU the phases are timed with the host's clock, as
they run.  A model spread over several GPUs (``cuda:all``) synchronises every GPU after each
device phase instead (events of one stream would not see the others).
"""

from __future__ import annotations

import functools
import itertools
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
from dataclasses import dataclass, replace
from typing import Any

from evalsuite.efficiency.measurement import BatchTiming, Measurement, ModelInfo
from evalsuite.efficiency.threads import torch_threads
from evalsuite.results.records import Efficiency
from evalsuite.utils import cuda_indexes

GPU_PHASES = frozenset({"transfer", "forward", "decode"})  # synchronized on CUDA
RSS_INTERVAL_S = 0.01


def _cuda_device(device: str) -> bool:
    return str(device).startswith("cuda") and "torch" in sys.modules


def synchronize(device: str) -> None:
    """Wait for the GPU(s) of a CUDA device (every one of ``cuda:all``); nothing elsewhere."""
    if _cuda_device(device):
        import torch

        for index in cuda_indexes(device):
            torch.cuda.synchronize(index)


def reset_peak_memory(device: str) -> None:
    if _cuda_device(device):
        import torch

        for index in cuda_indexes(device):
            torch.cuda.reset_peak_memory_stats(index)


def _cuda_allocated(device: str, peak: bool) -> int:
    """Bytes the CUDA allocator holds (or held at its peak) on the GPU(s) of ``device``,
    summed over the GPUs of ``cuda:all`` (the sum of their peaks: an upper bound)."""
    import torch

    read = torch.cuda.max_memory_allocated if peak else torch.cuda.memory_allocated
    return int(sum(read(index) for index in cuda_indexes(device)))


def peak_memory_mb(device: str) -> float:
    """CUDA allocator peak, else the process's lifetime peak RSS (``ru_maxrss``), in MiB."""
    if _cuda_device(device):
        return _cuda_allocated(device, peak=True) / 2**20
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

            names = [str(torch.cuda.get_device_name(i)) for i in cuda_indexes(device)]
        except Exception:
            return None
        if len(set(names)) == 1 and len(names) > 1:
            return f"{len(names)} × {names[0]}"
        return ", ".join(names) or None
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
class HostClock:
    """Marks phase boundaries with the host's clock (``time.perf_counter``): on the CPU, where
    every phase has finished when it returns, and for a model spread over several GPUs
    (``cuda:all``), whose device phases end with a synchronisation of every GPU."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self.sync_each = str(device) == "cuda:all"

    def start(self) -> None:
        """A timed batch starts (the device is idle)."""

    def mark(self, *, end_of_device_phase: bool = False) -> float:
        if end_of_device_phase and self.sync_each:
            synchronize(self.device)
        return time.perf_counter()

    def seconds(self, mark: Any) -> float:
        """A mark on the host's ``perf_counter`` timeline (call after the batch's sync)."""
        return float(mark)


class CudaEventClock(HostClock):
    """Marks device phase boundaries with CUDA events on the device's current stream, so no
    phase waits for the GPU: the runner synchronises once, at the end of the batch, and the
    events are then read on the host's timeline.  An event records when the GPU *reaches*
    it, so a phase's interval is the GPU's time between its first and its last kernel, or
    the host's time when the GPU is idle waiting for the host."""

    def __init__(self, device: str) -> None:
        super().__init__(device)
        self._t0 = 0.0
        self._e0: Any = None

    def start(self) -> None:
        self._e0 = self._event()
        self._t0 = time.perf_counter()

    def _event(self) -> Any:
        import torch

        event = torch.cuda.Event(enable_timing=True)
        event.record(torch.cuda.current_stream(self.device))
        return event

    def mark(self, *, end_of_device_phase: bool = False) -> Any:
        return self._event()

    def seconds(self, mark: Any) -> float:
        return self._t0 + self._e0.elapsed_time(mark) / 1000.0


def clock_for(device: str) -> HostClock:
    """CUDA events on one CUDA GPU (``cuda``, ``cuda:N``), the host's clock elsewhere."""
    device = str(device)
    if _cuda_device(device) and device != "cuda:all":
        return CudaEventClock(device)
    return HostClock(device)


class PhaseTimer:
    """Seconds an adapter spends per phase of prediction (tokenize, transfer, forward, decode).

    An adapter wraps its steps in ``with timer.phase("forward"):``; the runner's meter opens
    a timed batch (:meth:`start_batch`), synchronises the device once at its end and reads
    the batch's phase intervals (:meth:`end_batch`), so warm-up and profiling calls are not
    counted.  Device phases (``transfer``, ``forward``, ``decode``) are marked with the
    device's clock (:class:`CudaEventClock` on CUDA: no synchronisation per phase), host
    phases with the host's.  ``overlapped=True`` marks work done in a background thread (it
    overlaps the timed batches and is reported apart, as totals).

    >>> timer = PhaseTimer()
    >>> with timer.phase("forward"):
    ...     pass
    >>> sorted(timer.snapshot()[0])
    ['forward']
    """

    def __init__(self, device: str = "cpu", clock: HostClock | None = None) -> None:
        self._lock = threading.Lock()
        self._seconds: dict[str, float] = {}
        self._overlapped: dict[str, float] = {}
        self._host = HostClock()
        self._clock = clock
        self._device = str(device)
        self._batch: list[tuple[str, HostClock, Any, Any]] | None = None
        self._added: dict[str, float] = {}

    @property
    def device(self) -> str:
        return self._device

    @device.setter
    def device(self, device: str) -> None:
        """The device the adapter's model runs on (set when it loads): picks its clock."""
        self._device = str(device)
        self._clock = None

    @property
    def clock(self) -> HostClock:
        """The clock of device phases (:func:`clock_for` the device, unless one was given)."""
        if self._clock is None:
            self._clock = clock_for(self._device)
        return self._clock

    @contextmanager
    def phase(self, name: str, *, overlapped: bool = False,
              on_device: bool | None = None) -> Iterator[None]:
        """Time one phase; ``on_device`` (default: ``name`` is a device phase) marks it with
        the device's clock."""
        device_phase = (name in GPU_PHASES if on_device is None else on_device) \
            and not overlapped
        clock = self.clock if device_phase and self._batch is not None else self._host
        begun, start = clock.mark(), time.perf_counter()
        try:
            yield
        finally:
            ended = clock.mark(end_of_device_phase=device_phase)
            seconds = time.perf_counter() - start
            with self._lock:
                target = self._overlapped if overlapped else self._seconds
                target[name] = target.get(name, 0.0) + seconds
                if self._batch is not None and not overlapped:
                    self._batch.append((name, clock, begun, ended))

    def add(self, name: str, seconds: float, *, overlapped: bool = False) -> None:
        """Count ``seconds`` of a phase measured elsewhere (outside the timeline)."""
        with self._lock:
            target = self._overlapped if overlapped else self._seconds
            target[name] = target.get(name, 0.0) + seconds
            if self._batch is not None and not overlapped:
                self._added[name] = self._added.get(name, 0.0) + seconds

    def snapshot(self) -> tuple[dict[str, float], dict[str, float]]:
        """(critical-path seconds, background seconds) per phase, totals so far, as the host
        saw them (on CUDA a device phase's host time is the time to queue its work; a timed
        batch's split comes from :meth:`end_batch`)."""
        with self._lock:
            return dict(self._seconds), dict(self._overlapped)

    def start_batch(self) -> None:
        """A timed batch starts: record its phases from now on (the device is idle)."""
        with self._lock:
            self._batch, self._added = [], {}
        self.clock.start()

    def end_batch(self, start: float, end: float) -> dict[str, float]:
        """Seconds per phase of the batch timed from ``start`` to ``end`` (host clock), after
        the device was synchronised: each instant counts once, for the device phase running
        then, else the innermost host phase (see :func:`attribute`); they sum to at most
        ``end - start``.  Recording stops."""
        with self._lock:
            batch, added, self._batch, self._added = self._batch or [], self._added, None, {}
        intervals = [(name, clock.seconds(begun), clock.seconds(ended), clock is not self._host)
                     for name, clock, begun, ended in batch]
        split = attribute(intervals, start, end)
        for name, seconds in added.items():
            split[name] = split.get(name, 0.0) + seconds
        return split

    def discard_batch(self) -> None:
        """Stop recording without reading (the batch failed)."""
        with self._lock:
            self._batch, self._added = None, {}


def attribute(intervals: list[tuple[str, float, float, bool]], start: float, end: float
              ) -> dict[str, float]:
    """Seconds per phase of ``[start, end]`` from phase intervals ``(name, begin, end,
    on_device)``: each instant goes to the device phase covering it (the device is the
    bottleneck while it computes; the host may be tokenizing ahead meanwhile), else to the
    latest-begun host phase covering it (the innermost), else to none (``predict_other``).
    The result never sums to more than ``end - start``.

    >>> attribute([("tokenize", 0, 3, False), ("forward", 2, 5, True)], 0, 6)
    {'tokenize': 2, 'forward': 3}
    """
    clipped = [(name, max(a, start), min(b, end), dev) for name, a, b, dev in intervals
               if min(b, end) > max(a, start)]
    points = sorted({p for _, a, b, _ in clipped for p in (a, b)})
    split: dict[str, float] = {}
    for low, high in itertools.pairwise(points):
        covering = [iv for iv in clipped if iv[1] <= low and iv[2] >= high]
        if not covering:
            continue
        on_device = [iv for iv in covering if iv[3]]
        name = max(on_device or covering, key=lambda iv: iv[1])[0]
        split[name] = split.get(name, 0) + (high - low)
    return split


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
            reset_peak_memory(self.device)
            self._base = _cuda_allocated(self.device, peak=False)
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
            peak = _cuda_allocated(self.device, peak=True)
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


# -- memory attributable to the model -----------------------------------------------------------
@dataclass(frozen=True)
class MemoryBefore:
    """What the process held before a model was loaded (bytes; ``None`` when unknown)."""

    rss: int | None
    cuda: int


def memory_before_load() -> MemoryBefore:
    """The process's resident memory and CUDA allocations now: call it before
    ``adapter.load()`` so a task's peak can be split into the model's share and the rest
    (Python, imported libraries, other models' leftovers)."""
    cuda = 0
    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            cuda = sum(torch.cuda.memory_allocated(i) for i in range(torch.cuda.device_count()))
    return MemoryBefore(rss=current_rss_bytes(), cuda=cuda)


def model_memory(block: dict[str, Any], before: MemoryBefore | None) -> dict[str, Any]:
    """``model_memory_mb``: the memory the model accounts for (weights plus working memory),
    i.e. the task's peak minus what the process held before the model was loaded.

    On CUDA the allocator peak minus the bytes allocated before loading; on the CPU the peak
    resident set minus the resident set before loading.  Empty when the peak or the
    before-load figure is unknown.
    """
    peak = block.get("peak_memory_mb")
    if before is None or not isinstance(peak, (int, float)):
        return {}
    if block.get("memory_source") == "cuda_allocator":
        held = before.cuda
    elif before.rss is not None and block.get("memory_source") != "rss_maxrss_lifetime":
        held = before.rss
    else:
        return {}
    return {"model_memory_mb": round(max(0.0, peak - held / 2**20), 1),
            "memory_before_load_mb": round(held / 2**20, 1)}


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

    def __init__(self, device: str = "cpu", before_load: MemoryBefore | None = None) -> None:
        self.device = str(device)
        self.before_load = before_load  # what the process held before the model was loaded
        self.measured = Measurement()
        self.timer: PhaseTimer | None = None
        self._memory: MemoryTracker | None = None
        self._energy: EnergyCounter | None = None
        self._synced = False

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
        """Time one batch: the device is synchronised once, at its end (and before the first
        batch of the task); the adapter's phases are read from its timer then."""
        if not self._synced:
            synchronize(self.device)
            self._synced = True
        timer, measured = self.timer, self.measured
        overlapped_before = timer.snapshot()[1] if timer is not None else {}
        if self._energy is not None and self._energy.first is None:
            self._energy.read()
        if timer is not None:
            timer.start_batch()
        start = time.perf_counter()
        try:
            yield
            synchronize(self.device)
        except BaseException:
            measured.lost_s += time.perf_counter() - start
            if timer is not None:
                timer.discard_batch()
            raise
        end = time.perf_counter()
        measured.batches.append(BatchTiming(size, end - start, input_tokens))
        if self._energy is not None:
            self._energy.read()
        if self._memory is not None:
            self._memory.sample()
        if timer is not None:
            _add(measured.phases, timer.end_batch(start, end))
            overlapped = timer.snapshot()[1]
            _add(measured.overlapped, {k: v - overlapped_before.get(k, 0.0)
                                       for k, v in overlapped.items()
                                       if v > overlapped_before.get(k, 0.0)})

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
        """Peak memory figures since :meth:`start` (stops the sampling), with the model's
        share when :attr:`before_load` is known (:func:`model_memory`)."""
        if self._memory is None:
            return {"peak_memory_mb": round(peak_memory_mb(self.device), 1)}
        block = dict(self._memory.stop())
        block.update(model_memory(block, self.before_load))
        return block

    def measurement(self) -> Measurement:
        """What was measured so far, with the memory peak (sampling stops), the energy and
        torch's thread count."""
        joules = self._energy.joules if self._energy is not None else None
        return replace(self.measured, memory=self.memory(), energy_j=joules,
                       threads=torch_threads())

    def summary(self, model: ModelInfo, load_s: float | None) -> Efficiency:
        """The efficiency block of what was measured (see :meth:`Measurement.summary`)."""
        return self.measurement().summary(model, load_s)


def _add(target: dict[str, float], seconds: dict[str, float]) -> None:
    for name, value in seconds.items():
        target[name] = target.get(name, 0.0) + value


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
