"""The runner: models × tasks → predictions (cached, batched by length) → metrics → records.

Each model is loaded once and serves all its tasks.  For one (model, task) the runner looks
up every example in the prediction cache, predicts the rest in length-sorted batches
(halving a batch that runs out of memory and retrying it, never the run), commits each
batch to the cache, scores every metric with a bootstrap interval and writes the record and
its per-example predictions.  A crash keeps every finished record and cached batch; running
the same batch again recomputes nothing that finished.  However a run ends, its folder's
``run.status`` says how: ``finished``, ``interrupted`` (Ctrl-C, SIGTERM) or ``failed`` (with
``run.error``); see docs/reliability.md.
"""

from __future__ import annotations

import gc
import hashlib
import json
import math
import shutil
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from evalsuite import __version__
from evalsuite.efficiency.meter import EfficiencyMeter, free_memory
from evalsuite.errors import (
    BackendUnavailable,
    EvalsuiteError,
    RunError,
    SpecError,
    StoreError,
    UserError,
)
from evalsuite.families import FIELDS, Family
from evalsuite.metrics import registry as metric_registry
from evalsuite.metrics.base import DEFAULT_RESAMPLES, MetricContext, score
from evalsuite.models import registry as model_registry
from evalsuite.models.base import ModelAdapter, Output
from evalsuite.models.spec import ModelSpec
from evalsuite.results.files import ResultWriter, write_predictions
from evalsuite.results.lock import RunLock, create_run_folder
from evalsuite.runner.batching import fixed_size_batches, halves, sort_by_length
from evalsuite.runner.cache import NON_OUTPUT_OPTIONS, PredictionCache, example_key, model_task_key
from evalsuite.tasks.cards import TaskCard
from evalsuite.tasks.data import TaskData, load_task_data
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


class Progress(Protocol):
    def task_started(self, model: str, task: str, total: int, cached: int) -> None: ...
    def advance(self, n: int) -> None: ...
    def task_finished(self, record: dict[str, Any]) -> None: ...
    def message(self, text: str) -> None: ...


class SilentProgress:
    def task_started(self, model: str, task: str, total: int, cached: int) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def task_finished(self, record: dict[str, Any]) -> None:
        pass

    def message(self, text: str) -> None:
        pass


@dataclass
class RunOutcome:
    run_dir: Path
    records: list[dict[str, Any]]
    interrupted: bool = False

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("status") == "failed"]

    @property
    def skipped(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("status") == "skipped"]


# -- planning ----------------------------------------------------------------------------------
def config_hash(config: RunConfig) -> str:
    blob = json.dumps({
        "jobs": [{"model": j.spec.to_string(), "name": j.spec.display_name,
                  "tasks": [(t.name, t.version_id) for t in j.tasks]} for j in config.jobs],
        "seed": config.seed, "limit": config.limit, "sample": config.sample,
        "resamples": config.resamples, "probes": config.probes,
    }, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


# Spec options that say where a model runs (Ray executor), not how it predicts: adapters never
# see them and they are not part of cache keys; the local executor ignores them.
EXECUTOR_OPTIONS = frozenset({"replicas", "num_gpus", "num_cpus"})


def adapter_spec(spec: ModelSpec) -> ModelSpec:
    """``spec`` without the executor options (``replicas``, ``num_gpus``, ``num_cpus``)."""
    if not EXECUTOR_OPTIONS & set(spec.options):
        return spec
    options = {k: v for k, v in spec.options.items() if k not in EXECUTOR_OPTIONS}
    return ModelSpec(spec.kind, spec.target, options, spec.name)


def build_adapters(config: RunConfig) -> list[tuple[Job, ModelAdapter]]:
    """Adapters for every job, refusing before any work a model that cannot serve a task."""
    names = [j.spec.display_name for j in config.jobs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SpecError(f"two models are named {dupes[0]!r}; give each a distinct name=",
                        where="models")
    built = []
    for job in config.jobs:
        adapter = model_registry.build(adapter_spec(job.spec))
        for card in job.tasks:
            reason = adapter.unsupported_reason(card)
            if reason:
                raise SpecError(f"{reason}; cannot run task {card.name}",
                                where=f"model {job.spec.display_name}")
        built.append((job, adapter))
    return built


# -- running -----------------------------------------------------------------------------------
def run(config: RunConfig, progress: Progress | None = None) -> RunOutcome:
    """Run every job of ``config``; return the run folder and its records."""
    progress = progress or SilentProgress()
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


def open_cache(config: RunConfig, progress: Progress) -> PredictionCache:
    """The run's prediction cache; warnings (a corrupt file moved aside) go to
    ``progress``.  Shared by the local and the Ray executor."""
    return PredictionCache(config.cache_path, warn=lambda text: progress.message(
        f"warning: {text}"))


def open_run(config: RunConfig) -> tuple[ResultWriter, set[tuple[str, str]]]:
    """The run folder's writer (fresh, or resumed with its records) and the finished
    (model, task) pairs.  Shared by the local and the Ray executor."""
    from evalsuite.results import environment

    chash = config_hash(config)
    existing: list[dict[str, Any]] = []
    if config.resume_dir is not None:
        run_dir = config.resume_dir
        lock = RunLock(run_dir) if run_dir.is_dir() else None
        try:
            existing = _resumable_records(run_dir)
            run_meta = json.loads((run_dir / "results.json").read_text())["run"]
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        run_meta["resumed_at"] = _now()
        run_meta.pop("error", None)
    else:
        run_dir = create_run_folder(config.output_dir, config.run_id,
                                    lambda n: _fresh_run_id(chash, n))
        lock = RunLock(run_dir)
        run_meta = {"id": run_dir.name, "created": _now(), "evalsuite_version": __version__,
                    "config_hash": chash, "source": config.source, "seed": config.seed,
                    "limit": config.limit, "sample": config.sample,
                    "resamples": config.resamples, **environment.collect()}
    run_meta["status"] = "running"
    try:
        writer = ResultWriter(run_dir, run_meta, existing)
    except StoreError as exc:  # nothing ran yet: the output location is the user's to fix
        if lock is not None:
            lock.release()
        if config.resume_dir is None:  # the folder this call made, empty: leave nothing
            shutil.rmtree(run_dir, ignore_errors=True)
        raise UserError(str(exc), where="--output") from None
    writer.lock = lock
    done = {(r["model"], r["task"]) for r in existing if r.get("status") == "ok"}
    return writer, done


def close_run(writer: ResultWriter, interrupted: bool,
              error: BaseException | None = None) -> None:
    """Mark the run ``finished``, ``interrupted`` or ``failed`` (with ``run.error``), write
    the file a last time (in place when the disk is too full for a fresh copy) and release
    the folder.  Called on every exit path of a run."""
    if interrupted:
        writer.run["status"] = "interrupted"
    elif error is not None:
        writer.run["status"] = "failed"
        writer.run["error"] = f"{type(error).__name__}: {first_line(error)}" \
            if not isinstance(error, EvalsuiteError) else first_line(error)
    else:
        writer.run["status"] = "finished"
    writer.run["finished"] = _now()
    try:
        try:
            writer.flush()
        except StoreError:
            writer.flush_in_place()
    except StoreError:
        if error is None:
            raise  # otherwise the error that stopped the run is the one to report
    finally:
        writer.close()


def load_all_task_data(config: RunConfig, progress: Progress) -> dict[str, TaskData]:
    """Every task's examples, loaded before any model so data errors come first."""
    loaded: dict[str, TaskData] = {}
    for job in config.jobs:
        for card in job.tasks:
            if card.name not in loaded:
                loaded[card.name] = load_task_data(card, limit=config.limit,
                                                   sample=config.sample, seed=config.seed)
    return loaded


def _run_model(job: Job, adapter: ModelAdapter, cards: list[TaskCard], config: RunConfig,
               writer: ResultWriter, cache: PredictionCache,
               data_by_task: dict[str, TaskData], progress: Progress) -> None:
    name = job.spec.display_name
    start = time.perf_counter()
    try:
        adapter.load()
    except BackendUnavailable as exc:
        for card in cards:
            writer.add(_status_record(job.spec, card, "skipped", str(exc)))
            progress.task_finished(writer.records[-1])
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
                                  profile=job.profile or config.profile)
            except (UserError, StoreError, KeyboardInterrupt):
                raise
            except Exception as exc:  # keep finished records; report and go on
                record = _status_record(job.spec, card, "failed",
                                        f"{type(exc).__name__}: {first_line(exc)}")
            writer.add(record)
            progress.task_finished(record)
    finally:
        adapter.close()
        gc.collect()


class TaskPredictor:
    """Predicts examples of one card with one model through the cache, in sorted batches.

    The quality task and every probe (bias, safety, robustness) predict through this, so a
    probe never reloads a model and perturbed inputs are cached like any other.
    """

    def __init__(self, adapter: ModelAdapter, card: TaskCard, cache: PredictionCache) -> None:
        self.adapter = adapter
        self.card = card
        self.cache = cache
        self.identity = model_identity(adapter)
        self.prefix = model_task_key(self.identity, card.version_id, adapter.settings(card))
        self.rejected = 0  # cached outputs the task cannot accept: recomputed

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
            for batch_keys, batch_outputs in predict_all(self.adapter, self.card, todo, meter):
                fresh = dict(zip(batch_keys, batch_outputs, strict=True))
                self.cache.put_many(fresh.items())
                outputs.update(fresh)
                if on_batch is not None:
                    on_batch(len(batch_keys))
        return [_as_output(outputs[k]) for k in keys], set(todo_by_key)


def run_task(adapter: ModelAdapter, spec: ModelSpec, task_data: TaskData, config: RunConfig,
             writer: ResultWriter, cache: PredictionCache, progress: Progress,
             *, load_s: float | None = None, profile: str | None = None) -> dict[str, Any]:
    """Predict, score and write one (model, task); return its record (``profile="latency"``
    adds bs1 latency and a batch-size sweep, see :mod:`evalsuite.efficiency.profiling`)."""
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

    meter = EfficiencyMeter(device=str(adapter.device))
    meter.start()
    ordered, computed = predictor.predict(examples, meter=meter, on_batch=progress.advance,
                                          keys=keys, cached=cached)
    if computed:
        efficiency = meter.summary(adapter, load_s)
        efficiency["source"] = "measured"
        cache.put_efficiency(predictor.prefix, efficiency)
    else:
        efficiency = cache.get_efficiency(predictor.prefix) or {}
        efficiency["source"] = "cache"
    if profile:  # after the cache write: profiles are measured anew on every run
        efficiency.update(_latency_profile(adapter, task_data, config))

    record = task_record(spec, task_data, config, writer, identity=predictor.identity,
                         settings=adapter.settings(card), keys=keys, ordered=ordered,
                         computed=computed, efficiency=efficiency)
    rejected = cache.rejected - rejected_before + predictor.rejected
    if rejected:
        record["cache"]["rejected"] = rejected
    if warnings:
        record["warnings"] = warnings
    if config.probes:  # bias/safety/robustness blocks; a probe never fails the task
        from evalsuite.probes import run_probes

        record.update(run_probes(predictor, task_data, config, clean_outputs=ordered))
    return record


def task_record(spec: ModelSpec, task_data: TaskData, config: RunConfig, writer: ResultWriter,
                *, identity: dict[str, Any], settings: dict[str, Any], keys: list[str],
                ordered: list[Output], computed: set[str], efficiency: dict[str, Any]
                ) -> dict[str, Any]:
    """Score already-predicted outputs of one (model, task), write its predictions file and
    return its record (shared by the local and the Ray executor)."""
    card, examples = task_data.card, task_data.examples
    predictions = [check_prediction(card, o.prediction, ex, spec)
                   for o, ex in zip(ordered, examples, strict=True)]
    started = time.perf_counter()
    metrics, stats = score_all(card, predictions, examples, config)
    split = efficiency.setdefault("split_s", {})
    split["metrics"] = round(time.perf_counter() - started, 6)
    _add_generation_figures(efficiency, keys, ordered, computed)
    _add_request_figures(efficiency, ordered)
    primary = metric_registry.get(card.primary_metric, card.family)
    example_scores = primary.example_scores(stats[card.primary_metric])

    started = time.perf_counter()
    pred_path = writer.predictions_path(spec.display_name, card.name)
    pred_sha = write_predictions(pred_path, _prediction_rows(card, examples, ordered,
                                                             example_scores, stats))
    split["write"] = round(time.perf_counter() - started, 6)
    scrubbed = sum(bool(o.meta.get("secret_scrubbed")) for o in ordered)
    return {
        **({"variant_of": spec.variant_of} if spec.variant_of else {}),
        "model": spec.display_name,
        "model_spec": spec.to_string(),
        "model_kind": spec.kind,
        "model_identity": identity,
        "task": card.name,
        "family": card.family.value,
        "task_version": card.version_id,
        "smoke_set": card.smoke_set,
        "dataset": task_data.info,
        "status": "ok",
        "n_examples": len(examples),
        "primary_metric": card.primary_metric,
        "metrics": metrics,
        "efficiency": efficiency,
        "settings": settings,
        "cache": {"hits": len(examples) - len(computed), "computed": len(computed)},
        "truncated": sum(bool(o.meta.get("truncated")) for o in ordered),
        "predictions_file": str(pred_path.relative_to(writer.run_dir)),
        "predictions_sha256": pred_sha,
        # answers in which the endpoint echoed the API key (replaced by *** before storing)
        **({"secrets_scrubbed": scrubbed} if scrubbed else {}),
    }


def _add_generation_figures(efficiency: dict[str, Any], keys: list[str],
                            outputs: list[Output], fresh: set[str]) -> None:
    """Generated tokens/s and how often generation hit its length limit (when reported)."""
    metas = [o.meta for o in outputs]
    if not any("generated_tokens" in m for m in metas):
        return
    efficiency["generated_tokens"] = int(sum(m.get("generated_tokens", 0) for m in metas))
    efficiency["hit_length_limit_rate"] = (
        sum(bool(m.get("hit_length_limit")) for m in metas) / len(metas))
    wall = efficiency.get("wall_s")
    if wall and fresh and efficiency.get("source") == "measured":
        new_tokens = sum(m.get("generated_tokens", 0)
                         for k, m in zip(keys, metas, strict=True) if k in fresh)
        efficiency["generated_tokens_per_s"] = new_tokens / wall


def _add_request_figures(efficiency: dict[str, Any], outputs: list[Output]) -> None:
    """Client-side request latency, time to first token and retries (when reported)."""
    metas = [o.meta for o in outputs]
    for meta_key, figure in (("latency_ms", "request_latency_ms"), ("ttft_ms", "ttft_ms")):
        values = [float(m[meta_key]) for m in metas if m.get(meta_key) is not None]
        if values:
            p50, p90, p99 = np.percentile(np.asarray(values), [50, 90, 99])
            efficiency[figure] = {"p50": float(p50), "p90": float(p90), "p99": float(p99)}
    if any("retries" in m for m in metas):
        efficiency["retries"] = int(sum(m.get("retries", 0) for m in metas))


def predict_all(adapter: ModelAdapter, card: TaskCard, todo: Sequence[tuple[str, dict]],
                meter: EfficiencyMeter) -> Iterator[tuple[list[str], list[Any]]]:
    """Predict ``todo`` in length-sorted batches; yield (keys, outputs) per finished batch.

    A batch that runs out of memory is split in halves and retried; later batches are then
    planned at half the size.  Every example is predicted exactly once.  An adapter that
    ``needs_warmup`` first predicts a small untimed warm-up batch (once per task).  An adapter
    with ``prefetch(card, batch)`` is told each planned batch up to ``prefetch_depth`` batches
    before it runs, so it can tokenize it while earlier ones compute; after an out-of-memory
    the plan is redone and ``cancel_prefetch()`` drops what was announced.
    """
    precompute = getattr(adapter, "precompute_lengths", None)  # batched tokenization, once
    if precompute is not None:
        precompute(card, [ex for _, ex in todo])
    ordered = sort_by_length(todo, lambda item: adapter.example_length(card, item[1]))
    meter.watch(getattr(adapter, "phases", None))
    _warm_up(adapter, card, [ex for _, ex in ordered], meter)
    prefetch = getattr(adapter, "prefetch", None)
    depth = int(getattr(adapter, "prefetch_depth", 0) or 0) if prefetch is not None else 0
    shrink = 0
    position = 0
    examples = [ex for _, ex in ordered]
    try:
        while position < len(ordered):
            # Plan lazily from `position`; re-plan at half size only after an out-of-memory.
            planned = plan_batches(adapter, card, examples[position:], shrink)
            for batch in _announced(planned, depth, lambda b: prefetch(card, b)):
                items = ordered[position:position + len(batch)]
                splits_before = meter.oom_splits
                yield from _predict_with_backoff(adapter, card, items, meter)
                position += len(items)
                if meter.oom_splits > splits_before:
                    shrink += 1
                    break
    finally:
        _cancel_prefetch(adapter)


WARMUP_EXAMPLES = 4


def _warm_up(adapter: ModelAdapter, card: TaskCard, examples: list[dict],
             meter: EfficiencyMeter) -> None:
    """One small untimed batch (the shortest examples) before the timed ones, once per
    adapter and task, so lazy initialisation and kernel selection are not timed."""
    if not getattr(adapter, "needs_warmup", False) or not examples:
        return
    done = adapter.__dict__.setdefault("_warmed_up", set())
    key = (card.name, card.version_id)
    if key in done:
        return
    try:
        with meter.time_warmup():
            adapter.predict_batch(card, examples[-min(WARMUP_EXAMPLES, len(examples)):])
    except Exception as exc:
        if not adapter.is_out_of_memory(exc):
            raise
        free_memory()  # the timed batches back off on their own
    done.add(key)


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


def _cancel_prefetch(adapter: ModelAdapter) -> None:
    cancel = getattr(adapter, "cancel_prefetch", None)
    if cancel is not None:
        cancel()


def plan_batches(adapter: ModelAdapter, card: TaskCard, examples: list[dict],
                 shrink: int) -> Iterator[list[dict]]:
    """The adapter's own plan (token budget…) if it has one, else fixed-size batches."""
    planner = getattr(adapter, "plan_batches", None)
    if planner is not None:
        return planner(card, examples, shrink)
    return fixed_size_batches(examples, max(1, adapter.batch_size >> shrink))


def _predict_with_backoff(adapter: ModelAdapter, card: TaskCard,
                          items: list[tuple[str, dict]], meter: EfficiencyMeter
                          ) -> Iterator[tuple[list[str], list[Any]]]:
    batch = [ex for _, ex in items]
    try:
        with meter.time_batch(len(batch), adapter.count_tokens(card, batch)):
            raw = adapter.predict_batch(card, batch)
    except Exception as exc:
        if not adapter.is_out_of_memory(exc) or len(items) == 1:
            raise
        meter.oom_splits += 1
        _cancel_prefetch(adapter)  # announced batches were planned at the old size
        free_memory()
        for half in halves(items):
            yield from _predict_with_backoff(adapter, card, half, meter)
        return
    if len(raw) != len(batch):
        raise RunError(f"model returned {len(raw)} outputs for {len(batch)} inputs")
    yield [k for k, _ in items], [_to_cacheable(o) for o in raw]




# -- scoring -----------------------------------------------------------------------------------
def score_all(card: TaskCard, predictions: list[Any], examples: list[dict],
              config: RunConfig) -> tuple[dict[str, dict], dict[str, np.ndarray]]:
    context = MetricContext(labels=card.labels)
    metrics: dict[str, dict] = {}
    stats: dict[str, np.ndarray] = {}
    for name in card.metrics:
        metric = metric_registry.get(name, card.family)
        result, stats[name] = score(metric, predictions, examples, context,
                                    resamples=config.resamples, seed=config.seed)
        metrics[name] = {**result.to_dict(), "scale": metric.scale}
    return metrics, stats


def drop_unusable(card: TaskCard, cached: dict[str, Any], keys: Sequence[str],
                  examples: Sequence[dict]) -> int:
    """Remove from ``cached`` the outputs the task cannot accept (see
    :func:`prediction_problem`), so they are predicted again; return how many."""
    dropped = 0
    for key, ex in zip(keys, examples, strict=True):
        if key in cached and prediction_problem(card, _as_output(cached[key]).prediction,
                                                ex) is not None:
            del cached[key]
            dropped += 1
    return dropped


def check_prediction(card: TaskCard, prediction: Any, example: dict, spec: ModelSpec) -> Any:
    """Coerce a prediction to its family's type; refuse malformed ones with a clear error
    naming the example (a null or non-text output of a generative family included)."""
    problem = prediction_problem(card, prediction, example)
    if problem is not None:
        raise RunError(f"model {spec.display_name}, task {card.name}, example "
                       f"{example['id']}: {problem}")
    if card.family is Family.NER:
        return [str(t) for t in prediction]
    if card.family is Family.SIMILARITY:
        return float(prediction)
    return prediction


def prediction_problem(card: TaskCard, prediction: Any, example: dict) -> str | None:
    """Why the task cannot score ``prediction`` (``None`` when it can): tags of the wrong
    number, a score that is not a finite number, a label outside the card's set, or a
    null/non-text output where text is expected.  A cached output with a problem is
    predicted again; a fresh one fails the task."""
    family = card.family
    if family is Family.NER:
        if not isinstance(prediction, list) or len(prediction) != len(example["tokens"]):
            got = len(prediction) if isinstance(prediction, list) else type(prediction).__name__
            return f"expected {len(example['tokens'])} tags, got {got}"
        return None
    if family is Family.SIMILARITY:
        try:
            value = float(prediction)
        except (TypeError, ValueError):
            return f"similarity prediction {prediction!r:.60} is not a number"
        return None if math.isfinite(value) else f"similarity prediction {value} is not finite"
    if not isinstance(prediction, str):
        what = "null" if prediction is None else f"{type(prediction).__name__} {prediction!r:.60}"
        return f"expected text, got {what}"
    if family is Family.SENTIMENT and prediction and prediction not in (card.labels or ()):
        return f"label {prediction!r:.60} is not one of the card's labels {card.labels}"
    return None


def _prediction_rows(card: TaskCard, examples: list[dict], outputs: list[Output],
                     scores: np.ndarray, stats: dict[str, np.ndarray]) -> Iterator[dict]:
    fields = FIELDS[card.family]
    for i, (ex, out) in enumerate(zip(examples, outputs, strict=True)):
        row: dict[str, Any] = {
            "id": ex["id"],
            "input": {f: ex.get(f) for f in fields.inputs},
            "prediction": out.prediction,
            "reference": {f: ex.get(f) for f in fields.references},
            "score": float(scores[i]),
            "stats": {name: s[i].tolist() for name, s in stats.items()},
        }
        if out.scores:
            row["scores"] = out.scores
        if out.meta:
            row["meta"] = out.meta
        yield row


# -- helpers -----------------------------------------------------------------------------------
def model_identity(adapter: ModelAdapter) -> dict[str, Any]:
    """What makes two runs of "the same model" comparable and cacheable."""
    spec = adapter.spec
    return {
        "kind": spec.kind,
        "target": spec.target,
        "revision": adapter.options.get("revision"),
        "fingerprint": adapter.fingerprint(),
        "options": {k: v for k, v in sorted(adapter.options.items())
                    if k not in NON_OUTPUT_OPTIONS},
    }


def _as_output(value: Any) -> Output:
    if isinstance(value, dict) and value.get("__output__"):
        return Output(value["prediction"], value.get("scores"), value.get("meta") or {})
    return Output(value)


def _to_cacheable(value: Any) -> Any:
    if isinstance(value, Output):
        return {"__output__": True, "prediction": value.prediction, "scores": value.scores,
                "meta": value.meta}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _status_record(spec: ModelSpec, card: TaskCard, status: str, reason: str) -> dict[str, Any]:
    return {**({"variant_of": spec.variant_of} if spec.variant_of else {}),
            "model": spec.display_name, "model_spec": spec.to_string(), "model_kind": spec.kind,
            "task": card.name, "family": card.family.value, "task_version": card.version_id,
            "smoke_set": card.smoke_set, "status": status, "reason": reason, "n_examples": 0,
            "primary_metric": card.primary_metric, "metrics": {}}


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


def _resumable_records(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "results.json"
    if not path.is_file():
        raise UserError(f"no results.json in {run_dir}", where="--resume")
    return json.loads(path.read_text(encoding="utf-8"))["records"]



def _fresh_run_id(chash: str, n: int = 1) -> str:
    base = f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{chash[:6]}"
    return base if n == 1 else f"{base}-{n}"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
