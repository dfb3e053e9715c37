"""The runner: models × tasks → predictions (cached, batched by length) → metrics → records.

Each model is loaded once and serves all its tasks.  For one (model, task) the runner looks
up every example in the prediction cache, predicts the rest in length-sorted batches
(halving a batch that runs out of memory and retrying it, never the run), commits each
batch to the cache, scores every metric with a bootstrap interval and writes the record and
its per-example predictions (through :mod:`evalsuite.runner.steps`, which the Ray executor
shares).  A crash keeps every finished record and cached batch; running the same batch again
recomputes nothing that finished.  However a run ends, its folder's ``run.status`` says how:
``finished``, ``interrupted`` (Ctrl-C, SIGTERM) or ``failed`` (with ``run.error``); see
docs/reliability.md.
"""

from __future__ import annotations

import gc
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from evalsuite.efficiency.meter import (
    EfficiencyMeter,
    MemoryBefore,
    free_memory,
    memory_before_load,
    release_frames,
)
from evalsuite.efficiency.threads import set_threads
from evalsuite.errors import BackendUnavailable, EvalsuiteError, RunError, StoreError, UserError
from evalsuite.metrics.base import DEFAULT_RESAMPLES
from evalsuite.models.base import ModelAdapter, Output
from evalsuite.models.spec import ModelSpec
from evalsuite.results.files import ResultWriter
from evalsuite.results.records import Efficiency, Record
from evalsuite.runner.batching import halves, sort_by_length
from evalsuite.runner.cache import PredictionCache, example_key, model_task_key
from evalsuite.runner.steps import (
    as_output,
    build_adapters,
    close_run,
    drop_unusable,
    load_all_task_data,
    model_identity,
    open_cache,
    open_run,
    status_record,
    task_record,
    to_cacheable,
)
from evalsuite.tasks.cards import TaskCard
from evalsuite.tasks.data import TaskData
from evalsuite.tasks.suites import Suite
from evalsuite.utils import first_line


@dataclass
class Job:
    """One model and the tasks it runs."""

    spec: ModelSpec
    tasks: list[TaskCard]
    profile: str | None = None  # "latency": this model's latency profile (else the run's)


@dataclass
class RunConfig:
    jobs: list[Job]
    output_dir: Path = Path("results")
    run_id: str | None = None
    seed: int = 0
    limit: int | None = None
    sample: int | None = None
    resamples: int = DEFAULT_RESAMPLES
    cache_path: Path | None = None
    resume_dir: Path | None = None
    source: str | None = None  # the batch file or command line, for the record
    probes: list[str] = field(default_factory=list)  # bias, safety, robustness (+ ?options)
    profile: str | None = None  # "latency": bs1 latency and a batch-size sweep per record
    profile_repeats: int = 20
    profile_max_batch: int = 256
    threads: int | None = None  # torch intra-op threads (None: torch's default)
    suites: list[Suite] = field(default_factory=list)  # generalisation figures for these


class Progress(Protocol):
    def task_started(self, model: str, task: str, total: int, cached: int) -> None: ...
    def advance(self, n: int) -> None: ...
    def probes_started(self, model: str, task: str, total: int) -> None: ...
    def probe_step(self, label: str) -> None: ...
    def advance_task(self, model: str, task: str, n: int) -> None:
        """``n`` more examples of one of several (model, task) pairs running at once."""
    def task_finished(self, record: Record) -> None: ...
    def message(self, text: str) -> None: ...


class SilentProgress:
    def task_started(self, model: str, task: str, total: int, cached: int) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def probes_started(self, model: str, task: str, total: int) -> None:
        pass

    def probe_step(self, label: str) -> None:
        pass

    def advance_task(self, model: str, task: str, n: int) -> None:
        pass

    def task_finished(self, record: Record) -> None:
        pass

    def message(self, text: str) -> None:
        pass


@dataclass
class RunOutcome:
    run_dir: Path
    records: list[Record]
    interrupted: bool = False

    @property
    def failed(self) -> list[Record]:
        return [r for r in self.records if r.status == "failed"]

    @property
    def skipped(self) -> list[Record]:
        return [r for r in self.records if r.status == "skipped"]


# -- running -----------------------------------------------------------------------------------
def run(config: RunConfig, progress: Progress | None = None) -> RunOutcome:
    """Run every job of ``config``; return the run folder and its records."""
    progress = progress or SilentProgress()
    set_threads(config.threads)
    plan = build_adapters(config)
    data_by_task = load_all_task_data(config, progress)  # data errors before any folder
    cache = open_cache(config, progress)  # an unusable cache is refused before any folder
    try:
        writer, done = open_run(config)
    except BaseException:
        cache.close()
        raise
    run_dir = writer.run_dir
    interrupted = False
    error: BaseException | None = None
    try:
        for job, adapter in plan:
            todo = [c for c in job.tasks if (job.spec.display_name, c.name) not in done]
            if todo:
                _run_model(job, adapter, todo, config, writer, cache, data_by_task, progress)
    except KeyboardInterrupt:
        interrupted = True
        progress.message(f"interrupted: {len(writer.records)} finished records kept in "
                         f"{run_dir}; run again with --resume {run_dir} to continue")
    except RunError as exc:  # one line: what stopped the run, and what was kept
        error = exc
        raise type(exc)(f"{exc}; {len(writer.records)} finished records kept in {run_dir} "
                        f"(fix the problem and run again with --resume {run_dir})") from exc
    except BaseException as exc:
        error = exc
        raise
    finally:
        cache.close()
        close_run(writer, interrupted, error)
    return RunOutcome(run_dir=run_dir, records=writer.records, interrupted=interrupted)


def _run_model(job: Job, adapter: ModelAdapter, cards: list[TaskCard], config: RunConfig,
               writer: ResultWriter, cache: PredictionCache,
               data_by_task: dict[str, TaskData], progress: Progress) -> None:
    name = job.spec.display_name
    before = memory_before_load()
    start = time.perf_counter()
    try:
        adapter.load()
    except BackendUnavailable as exc:
        for card in cards:
            progress.task_finished(writer.add(status_record(job.spec, card, "skipped",
                                                            str(exc))))
        return
    except EvalsuiteError:
        raise
    except Exception as exc:
        raise RunError(f"model {name}: could not be loaded: {type(exc).__name__}: "
                       f"{first_line(exc)}") from exc
    load_s = time.perf_counter() - start
    try:
        for card in cards:
            try:
                record = run_task(adapter, job.spec, data_by_task[card.name], config, writer,
                                  cache, progress, load_s=load_s,
                                  profile=job.profile or config.profile, memory_before=before)
            except (UserError, StoreError, KeyboardInterrupt):
                raise
            except BackendUnavailable as exc:  # e.g. an Apertium pair not installed
                record = status_record(job.spec, card, "skipped", str(exc))
            except Exception as exc:  # keep finished records; report and go on
                record = status_record(job.spec, card, "failed",
                                       f"{type(exc).__name__}: {first_line(exc)}")
            progress.task_finished(writer.add(record))
    finally:
        adapter.close()
        gc.collect()


class TaskPredictor:
    """Predicts examples of one card with one model through the cache, in sorted batches.

    The quality task and every probe (bias, safety, robustness) predict through this, so a
    probe never reloads a model and perturbed inputs are cached like any other.  Examples
    missing from the cache are computed by :meth:`compute` (here: :func:`predict_all` with
    the loaded adapter; an executor whose model runs elsewhere overrides it and
    :meth:`embed`, and passes the model's ``identity`` and ``settings``).
    """

    def __init__(self, adapter: ModelAdapter, card: TaskCard, cache: PredictionCache, *,
                 identity: dict[str, Any] | None = None,
                 settings: dict[str, Any] | None = None) -> None:
        self.adapter = adapter
        self.card = card
        self.cache = cache
        self.identity = model_identity(adapter) if identity is None else identity
        settings = adapter.settings(card) if settings is None else settings
        self.prefix = model_task_key(self.identity, card.version_id, settings)
        self.rejected = 0  # cached outputs the task cannot accept: recomputed

    def compute(self, todo: list[tuple[str, dict]], meter: EfficiencyMeter
                ) -> Iterator[tuple[list[str], list[Any]]]:
        """Predict ``todo`` ((key, example) pairs); yield (keys, outputs) per batch."""
        return predict_all(self.adapter, self.card, todo, meter)

    def embed(self, sentences: Sequence[str]) -> Any:
        """The model's sentence embeddings (when ``adapter.can_embed``)."""
        return self.adapter.embed(sentences)

    def keys(self, examples: Sequence[dict]) -> list[str]:
        return [example_key(self.prefix, self.card.family, ex) for ex in examples]

    def cached(self, keys: Sequence[str], examples: Sequence[dict]) -> dict[str, Any]:
        """The cached outputs the task can accept, by key (the others are counted in
        ``rejected`` and predicted again)."""
        outputs: dict[str, Any] = self.cache.get_many(keys)
        self.rejected += drop_unusable(self.card, outputs, keys, examples)
        return outputs

    def predict(self, examples: Sequence[dict], *, meter: EfficiencyMeter | None = None,
                on_batch: Any = None, keys: list[str] | None = None,
                cached: dict[str, Any] | None = None) -> tuple[list[Output], set[str]]:
        """Outputs for ``examples`` in order, and the keys that were computed (not cached);
        ``keys`` and ``cached`` (from :meth:`cached`) when the caller has them already."""
        keys = keys if keys is not None else self.keys(examples)
        outputs = dict(cached) if cached is not None else self.cached(keys, examples)
        todo_by_key = {k: ex for k, ex in zip(keys, examples, strict=True) if k not in outputs}
        todo = list(todo_by_key.items())
        if todo:
            meter = meter or EfficiencyMeter(device=str(self.adapter.device))
            for batch_keys, batch_outputs in self.compute(todo, meter):
                fresh = dict(zip(batch_keys, batch_outputs, strict=True))
                self.cache.put_many(fresh.items())
                outputs.update(fresh)
                if on_batch is not None:
                    on_batch(len(batch_keys))
        return [as_output(outputs[k]) for k in keys], set(todo_by_key)


def run_task(adapter: ModelAdapter, spec: ModelSpec, task_data: TaskData, config: RunConfig,
             writer: ResultWriter, cache: PredictionCache, progress: Progress,
             *, load_s: float | None = None, profile: str | None = None,
             memory_before: MemoryBefore | None = None) -> Record:
    """Predict, score and write one (model, task); return its record (``profile="latency"``
    adds bs1 latency and a batch-size sweep, see :mod:`evalsuite.efficiency.profiling`;
    ``memory_before``: what the process held before the model was loaded)."""
    card, examples = task_data.card, task_data.examples
    adapter.start_task(card)
    warnings = [w for w in [adapter.check_example_ids(card, task_data.dataset_ids)] if w]
    for warning in warnings:
        progress.message(f"warning: {warning}")
    predictor = TaskPredictor(adapter, card, cache)
    rejected_before = cache.rejected
    keys = predictor.keys(examples)
    cached = predictor.cached(keys, examples)
    progress.task_started(spec.display_name, card.name, len(examples), len(cached))

    meter = EfficiencyMeter(device=str(adapter.device), before_load=memory_before)
    meter.start()
    ordered, computed = predictor.predict(examples, meter=meter, on_batch=progress.advance,
                                          keys=keys, cached=cached)
    if computed:
        efficiency = meter.summary(adapter.info(), load_s)
        efficiency.source = "measured"
        cache.put_efficiency(predictor.prefix, efficiency.to_dict())
    else:
        efficiency = Efficiency.from_cache(cache.get_efficiency(predictor.prefix))
    if profile:  # after the cache write: profiles are measured anew on every run
        efficiency.update(_latency_profile(adapter, task_data, config))

    record = task_record(spec, task_data, config, writer, identity=predictor.identity,
                         settings=adapter.settings(card), keys=keys, ordered=ordered,
                         computed=computed, efficiency=efficiency)
    rejected = cache.rejected - rejected_before + predictor.rejected
    if rejected and record.cache is not None:
        record.cache.rejected = rejected
    if warnings:
        record.warnings = warnings
    if config.probes:  # bias/safety/robustness blocks; a probe never fails the task
        from evalsuite.probes import run_probes

        record.update(run_probes(predictor, task_data, config, clean_outputs=ordered,
                                 progress=progress, model=spec.display_name))
    return record


def predict_all(adapter: ModelAdapter, card: TaskCard, todo: Sequence[tuple[str, dict]],
                meter: EfficiencyMeter) -> Iterator[tuple[list[str], list[Any]]]:
    """Predict ``todo`` in length-sorted batches; yield (keys, outputs) per finished batch.

    A batch that runs out of memory is split in halves and retried; later batches are then
    planned at half the size.  Every example is predicted exactly once.  An adapter that
    ``needs_warmup`` first predicts its first planned batch (the longest) untimed, once per
    task, halving it until it fits, so the timed batches start at a size that fits.  The
    adapter's ``prefetch(card, batch)`` is told each planned batch up to ``prefetch_depth``
    batches before it runs, so it can tokenize it while earlier ones compute; after an
    out-of-memory the plan is redone and ``cancel_prefetch()`` drops what was announced.
    """
    adapter.precompute_lengths(card, [ex for _, ex in todo])  # batched tokenization, once
    ordered = sort_by_length(todo, lambda item: adapter.example_length(card, item[1]))
    meter.watch(adapter.phases)
    examples = [ex for _, ex in ordered]
    shrink = _warm_up(adapter, card, examples, meter)
    depth = adapter.prefetch_depth
    position = 0
    try:
        while position < len(ordered):
            # Plan lazily from `position`; re-plan at half size only after an out-of-memory.
            planned = adapter.plan_batches(card, examples[position:], shrink)
            for batch in _announced(planned, depth, lambda b: adapter.prefetch(card, b)):
                items = ordered[position:position + len(batch)]
                splits_before = meter.oom_splits
                yield from _predict_with_backoff(adapter, card, items, meter)
                position += len(items)
                if meter.oom_splits > splits_before:
                    shrink += 1
                    _remember_shrink(adapter, card, shrink)
                    break
    finally:
        adapter.cancel_prefetch()


# The shrink level (out-of-memory halvings) each live adapter found for each task it warmed up
# for, keyed by (card name, version): the runner's own bookkeeping, so an adapter warms up once
# per task however many times it is asked to predict, and later calls (probes, Ray shards)
# start at a size that fits.
_WARMED_UP: weakref.WeakKeyDictionary[ModelAdapter, dict[tuple[str, str], int]] = \
    weakref.WeakKeyDictionary()


def _remember_shrink(adapter: ModelAdapter, card: TaskCard, shrink: int) -> None:
    if adapter.needs_warmup:
        _WARMED_UP.setdefault(adapter, {})[(card.name, card.version_id)] = shrink


def _warm_up(adapter: ModelAdapter, card: TaskCard, examples: list[dict],
             meter: EfficiencyMeter) -> int:
    """The first planned batch (the longest: the one that finds out whether memory suffices)
    predicted untimed, once per adapter and task, so lazy initialisation, kernel selection
    and allocator growth are not timed; halved (counted in ``oom_splits``) until it fits.
    Returns the shrink level the timed batches start at.  What the warm-up memoised (sentence
    embeddings) is dropped (``start_task``) so the timed batches do their own work."""
    if not adapter.needs_warmup or not examples:
        return 0
    done = _WARMED_UP.setdefault(adapter, {})
    key = (card.name, card.version_id)
    if key in done:
        return done[key]
    shrink = 0
    while True:
        batch = next(iter(adapter.plan_batches(card, examples, shrink)), None)
        if not batch or not _ran_out_of_memory(adapter, card, batch, meter):
            break
        meter.count_oom_split()
        free_memory()  # outside the handler: the failed batch's tensors are released
        if len(batch) == 1:
            break  # the timed batch of one raises its own out-of-memory
        shrink += 1
    adapter.start_task(card)
    done[key] = shrink
    return shrink


def _ran_out_of_memory(adapter: ModelAdapter, card: TaskCard, batch: list[dict],
          meter: EfficiencyMeter) -> bool:
    """Predict a warm-up batch: ``True`` when it ran out of memory (the failed call's frames
    are then cleared), ``False`` when it fit."""
    try:
        with meter.time_warmup():
            adapter.predict_batch(card, batch)
    except Exception as exc:
        if not adapter.is_out_of_memory(exc):
            raise
        release_frames(exc)
        return True
    return False


def _announced(batches: Iterable[list[dict]], depth: int,
               announce: Callable[[list[dict]], None]) -> Iterator[list[dict]]:
    """``batches`` in order; each is announced (once) when it comes within ``depth`` batches
    of the one running, the first ones before the first runs."""
    if depth <= 0:
        yield from batches
        return
    window: deque[list[dict]] = deque()
    source = iter(batches)
    while True:
        while len(window) <= depth:
            upcoming = next(source, None)
            if upcoming is None:
                break
            announce(upcoming)
            window.append(upcoming)
        if not window:
            return
        yield window.popleft()


def _predict_with_backoff(adapter: ModelAdapter, card: TaskCard,
                          items: list[tuple[str, dict]], meter: EfficiencyMeter
                          ) -> Iterator[tuple[list[str], list[Any]]]:
    batch = [ex for _, ex in items]
    out_of_memory = False
    try:
        with meter.time_batch(len(batch), adapter.count_tokens(card, batch)):
            raw = adapter.predict_batch(card, batch)
    except Exception as exc:
        if not adapter.is_out_of_memory(exc) or len(items) == 1:
            raise
        release_frames(exc)
        out_of_memory = True
    if out_of_memory:
        # Retried outside the handler: while it runs, the exception and the failed call's
        # frames (activations, inputs) would stay alive and crowd the halves out of memory.
        meter.count_oom_split()
        adapter.cancel_prefetch()  # announced batches were planned at the old size
        free_memory()
        for half in halves(items):
            yield from _predict_with_backoff(adapter, card, half, meter)
        return
    if len(raw) != len(batch):
        raise RunError(f"model returned {len(raw)} outputs for {len(batch)} inputs")
    yield [k for k, _ in items], [to_cacheable(o) for o in raw]


# -- helpers -----------------------------------------------------------------------------------
def _latency_profile(adapter: ModelAdapter, task_data: TaskData, config: RunConfig
                     ) -> dict[str, Any]:
    """The latency profile's figures; a profile that fails is noted, not fatal."""
    from evalsuite.efficiency.profiling import latency_profile

    try:
        return latency_profile(adapter, task_data.card, task_data.examples,
                               repeats=config.profile_repeats,
                               max_batch=config.profile_max_batch)
    except (UserError, KeyboardInterrupt):
        raise
    except Exception as exc:
        return {"profile": {"mode": "latency", "status": "failed",
                            "reason": f"{type(exc).__name__}: {first_line(exc)}"}}


