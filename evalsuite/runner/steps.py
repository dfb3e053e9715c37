"""The steps every executor shares: open and close a run folder, build the adapters, load
the tasks' data, score outputs into a record, and the status record of a task that did not
run.

The local executor (:mod:`evalsuite.runner.run`) and the Ray executor
(:mod:`evalsuite.executors.ray_executor`) differ only in where predictions are computed;
from the outputs on, both call :func:`task_record`, so the same predictions give the same
record and files to the last digit.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from evalsuite import __version__
from evalsuite.errors import EvalsuiteError, RunError, SpecError, StoreError, UserError
from evalsuite.executors.base import adapter_spec
from evalsuite.families import FIELDS, Family
from evalsuite.metrics import registry as metric_registry
from evalsuite.metrics.base import MetricContext, score
from evalsuite.metrics.generalisation import annotate_records
from evalsuite.models import registry as model_registry
from evalsuite.models.base import ModelAdapter, Output
from evalsuite.models.spec import ModelSpec
from evalsuite.results.files import ResultWriter, load_results, write_predictions
from evalsuite.results.lock import RunLock, create_run_folder
from evalsuite.results.records import (
    CacheCounts,
    Efficiency,
    MetricValue,
    Percentiles,
    Record,
    ResultDocument,
    RunInfo,
    check_declared,
)
from evalsuite.runner.cache import NON_OUTPUT_OPTIONS, PredictionCache
from evalsuite.tasks.cards import TaskCard
from evalsuite.tasks.data import TaskData, load_task_data
from evalsuite.utils import first_line

if TYPE_CHECKING:
    from evalsuite.runner.run import Job, Progress, RunConfig


# -- planning ----------------------------------------------------------------------------------
def config_hash(config: RunConfig) -> str:
    blob = json.dumps({
        "jobs": [{"model": j.spec.to_string(), "name": j.spec.display_name,
                  "tasks": [(t.name, t.version_id) for t in j.tasks]} for j in config.jobs],
        "seed": config.seed, "limit": config.limit, "sample": config.sample,
        "resamples": config.resamples, "probes": config.probes,
        **({"suites": [s.name for s in config.suites]} if config.suites else {}),
    }, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


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


# -- the run folder ------------------------------------------------------------------------------
def open_run(config: RunConfig) -> tuple[ResultWriter, set[tuple[str, str]]]:
    """The run folder's writer (fresh, or resumed with its records) and the finished
    (model, task) pairs.  Shared by the local and the Ray executor."""
    from evalsuite.results import environment

    chash = config_hash(config)
    existing: list[Record] = []
    if config.resume_dir is not None:
        run_dir = config.resume_dir
        lock = RunLock(run_dir) if run_dir.is_dir() else None
        try:
            resumed = _resumable(run_dir)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        existing, run_meta = resumed.records, resumed.run
        run_meta.resumed_at = _now()
        run_meta.error = None
        run_meta.model_fields_set.discard("error")  # an earlier failure: not written again
    else:
        run_dir = create_run_folder(config.output_dir, config.run_id,
                                    lambda n: _fresh_run_id(chash, n))
        lock = RunLock(run_dir)
        run_meta = RunInfo(id=run_dir.name, created=_now(), evalsuite_version=__version__,
                           config_hash=chash, source=config.source, seed=config.seed,
                           limit=config.limit, sample=config.sample,
                           resamples=config.resamples, **environment.collect())
        if config.suites:
            run_meta.suites = [suite.summary() for suite in config.suites]
        check_declared(run_meta, "run")
    run_meta.status = "running"
    try:
        writer = ResultWriter(run_dir, run_meta, existing)
    except StoreError as exc:  # nothing ran yet: the output location is the user's to fix
        if lock is not None:
            lock.release()
        if config.resume_dir is None:  # the folder this call made, empty: leave nothing
            shutil.rmtree(run_dir, ignore_errors=True)
        raise UserError(str(exc), where="--output") from None
    writer.lock = lock
    done = {r.key for r in existing if r.ok}
    return writer, done


def close_run(writer: ResultWriter, interrupted: bool,
              error: BaseException | None = None) -> None:
    """Add the generalisation figures of the run's suites, mark the run ``finished``,
    ``interrupted`` or ``failed`` (with ``run.error``), write the file a last time (in place
    when the disk is too full for a fresh copy) and release the folder.  Called on every
    exit path of a run."""
    try:
        annotate_records(writer.run_dir, writer.run, writer.records)
        mark_variant_devices(writer.records)
    except Exception:
        if error is None:
            raise
    if interrupted:
        writer.run.status = "interrupted"
    elif error is not None:
        writer.run.status = "failed"
        writer.run.error = first_line(error) if isinstance(error, EvalsuiteError) \
            else f"{type(error).__name__}: {first_line(error)}"
    else:
        writer.run.status = "finished"
    writer.run.finished = _now()
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


def open_cache(config: RunConfig, progress: Progress) -> PredictionCache:
    """The run's prediction cache; warnings (a corrupt file moved aside) go to
    ``progress``.  Shared by the local and the Ray executor."""
    return PredictionCache(config.cache_path, warn=lambda text: progress.message(
        f"warning: {text}"))


def mark_variant_devices(records: list[Record]) -> None:
    """Mark each precision variant whose task ran on another device than a sibling's (say
    ``int8`` on the CPU, ``bf16`` on the GPU): its ``efficiency.variants_on_other_devices``
    names those siblings and their devices, so their costs are never compared as equals."""
    devices: dict[tuple[str, str], dict[str, str]] = {}
    for record in records:
        if record.variant_of and record.ok and record.efficiency and record.efficiency.device:
            devices.setdefault((record.variant_of, record.task), {})[record.model] = \
                record.efficiency.device
    for record in records:
        siblings = devices.get((record.variant_of or "", record.task), {})
        own = siblings.get(record.model)
        others = {name: device for name, device in siblings.items() if device != own}
        if own is not None and others:
            record.efficiency.variants_on_other_devices = others


def load_all_task_data(config: RunConfig, progress: Progress) -> dict[str, TaskData]:
    """Every task's examples, loaded before any model so data errors come first."""
    loaded: dict[str, TaskData] = {}
    for job in config.jobs:
        for card in job.tasks:
            if card.name not in loaded:
                loaded[card.name] = load_task_data(card, limit=config.limit,
                                                   sample=config.sample, seed=config.seed)
    return loaded


# -- records -------------------------------------------------------------------------------------
def task_record(spec: ModelSpec, task_data: TaskData, config: RunConfig, writer: ResultWriter,
                *, identity: dict[str, Any], settings: dict[str, Any], keys: list[str],
                ordered: list[Output], computed: set[str], efficiency: Efficiency
                ) -> Record:
    """Score already-predicted outputs of one (model, task), write its predictions file and
    return its record (shared by the local and the Ray executor)."""
    card, examples = task_data.card, task_data.examples
    predictions = [check_prediction(card, o.prediction, ex, spec)
                   for o, ex in zip(ordered, examples, strict=True)]
    started = time.perf_counter()
    metrics, stats = score_all(card, predictions, examples, config)
    chance, chance_stats = chance_of(card, examples, stats[card.primary_metric], config)
    if efficiency.split_s is None:
        efficiency.split_s = {}
    split = efficiency.split_s
    split["metrics"] = round(time.perf_counter() - started, 6)
    _add_generation_figures(efficiency, keys, ordered, computed)
    _add_request_figures(efficiency, ordered)
    primary = metric_registry.get(card.primary_metric, card.family)
    example_scores = primary.example_scores(stats[card.primary_metric])

    started = time.perf_counter()
    pred_path = writer.predictions_path(spec.display_name, card.name)
    pred_sha = write_predictions(pred_path, _prediction_rows(card, examples, ordered,
                                                             example_scores, stats,
                                                             chance_stats))
    split["write"] = round(time.perf_counter() - started, 6)
    scrubbed = sum(bool(o.meta.get("secret_scrubbed")) for o in ordered)
    # Fixed outputs (a predictions file): nothing ran, so there is no cost to record.
    fixed = model_registry.adapter_class(spec.kind).replays_fixed_outputs
    record = Record(
        **_record_head(spec, card),
        **card_place(card),
        model_identity=identity,
        dataset=task_data.info,
        status="ok",
        n_examples=len(examples),
        metrics=metrics,
        chance=chance,
        efficiency=None if fixed else efficiency,
        settings=settings,
        cache=CacheCounts(hits=len(examples) - len(computed), computed=len(computed)),
        truncated=sum(bool(o.meta.get("truncated")) for o in ordered),
        predictions_file=str(pred_path.relative_to(writer.run_dir)),
        predictions_sha256=pred_sha,
    )
    if scrubbed:  # answers in which the endpoint echoed the API key (replaced by ***)
        record.secrets_scrubbed = scrubbed
    fewer = sum(bool(o.meta.get("shots_dropped")) for o in ordered)
    if fewer:  # demonstrations dropped to fit the context
        record.shots_dropped = fewer
    return record


def _record_head(spec: ModelSpec, card: TaskCard) -> dict[str, Any]:
    """The fields of every record of (``spec``, ``card``), whatever its status
    (``variant_of`` only for a precision variant)."""
    head: dict[str, Any] = {
        "model": spec.display_name, "model_spec": spec.to_string(), "model_kind": spec.kind,
        "task": card.name, "family": card.family, "task_version": card.version_id,
        "smoke_set": card.smoke_set, "primary_metric": card.primary_metric}
    if spec.variant_of:
        head["variant_of"] = spec.variant_of
    return head


def card_place(card: TaskCard) -> dict[str, Any]:
    """A record's ``language`` (of the compared texts), ``source_language`` (translation),
    ``domain`` and ``resource_level``, as the card names them (absent when it does not)."""
    place = {"language": card.output_language, "source_language": card.source_lang,
             "domain": card.domain, "resource_level": card.resource_level}
    return {k: v for k, v in place.items() if v is not None}


def _add_generation_figures(efficiency: Efficiency, keys: list[str],
                            outputs: list[Output], fresh: set[str]) -> None:
    """Generated tokens/s and how often generation hit its length limit (when reported)."""
    metas = [o.meta for o in outputs]
    if not any("generated_tokens" in m for m in metas):
        return
    efficiency.generated_tokens = int(sum(m.get("generated_tokens", 0) for m in metas))
    efficiency.hit_length_limit_rate = (
        sum(bool(m.get("hit_length_limit")) for m in metas) / len(metas))
    wall = efficiency.wall_s
    if wall and fresh and efficiency.source == "measured":
        new_tokens = sum(m.get("generated_tokens", 0)
                         for k, m in zip(keys, metas, strict=True) if k in fresh)
        efficiency.generated_tokens_per_s = new_tokens / wall


def _add_request_figures(efficiency: Efficiency, outputs: list[Output]) -> None:
    """Client-side request latency, time to first token and retries (when reported)."""
    metas = [o.meta for o in outputs]
    for meta_key, figure in (("latency_ms", "request_latency_ms"), ("ttft_ms", "ttft_ms")):
        values = [float(m[meta_key]) for m in metas if m.get(meta_key) is not None]
        if values:
            p50, p90, p99 = np.percentile(np.asarray(values), [50, 90, 99])
            efficiency.update({figure: Percentiles(p50=float(p50), p90=float(p90),
                                                   p99=float(p99))})
    if any("retries" in m for m in metas):
        efficiency.retries = int(sum(m.get("retries", 0) for m in metas))


def score_all(card: TaskCard, predictions: list[Any], examples: list[dict],
              config: RunConfig) -> tuple[dict[str, MetricValue], dict[str, np.ndarray]]:
    context = MetricContext.for_card(card)
    metrics: dict[str, MetricValue] = {}
    stats: dict[str, np.ndarray] = {}
    for name in card.metrics:
        metric = metric_registry.get(name, card.family)
        result, stats[name] = score(metric, predictions, examples, context,
                                    resamples=config.resamples, seed=config.seed)
        metrics[name] = MetricValue(**result.to_dict(), scale=metric.scale)
    return metrics, stats


def drop_unusable(card: TaskCard, cached: dict[str, Any], keys: Sequence[str],
                  examples: Sequence[dict]) -> int:
    """Remove from ``cached`` the outputs the task cannot accept (see
    :func:`prediction_problem`), so they are predicted again; return how many."""
    dropped = 0
    for key, ex in zip(keys, examples, strict=True):
        if key in cached and prediction_problem(card, as_output(cached[key]).prediction,
                                                ex) is not None:
            del cached[key]
            dropped += 1
    return dropped


def chance_of(card: TaskCard, examples: list[dict], model_stats: np.ndarray,
              config: RunConfig) -> tuple[dict[str, Any], np.ndarray | None]:
    """The record's ``chance`` block (:mod:`evalsuite.metrics.chance`) and the baseline's
    per-example statistics of the primary metric; a failure is noted, never fatal."""
    from evalsuite.metrics import chance

    try:
        ref = chance.reference(card, examples, resamples=config.resamples, seed=config.seed)
        return chance.chance_block(ref, model_stats, resamples=config.resamples,
                                   seed=config.seed), ref.stats
    except Exception as exc:  # the task's own metrics are fine; say why chance is missing
        return {"baseline": None, "value": None, "ci_low": None, "ci_high": None,
                "beats_chance": None, "p_value": None, "test": None,
                "note": f"not computed: {type(exc).__name__}: {first_line(exc)}"}, None


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
                     scores: np.ndarray, stats: dict[str, np.ndarray],
                     chance_stats: np.ndarray | None = None) -> Iterator[dict]:
    fields = FIELDS[card.family]
    for i, (ex, out) in enumerate(zip(examples, outputs, strict=True)):
        row: dict[str, Any] = {
            "score": float(scores[i]),  # first: a reader can rank rows without parsing them
            "id": ex["id"],
            "input": {f: ex.get(f) for f in fields.inputs},
            "prediction": out.prediction,
            "reference": {f: ex.get(f) for f in fields.references},
            "stats": {name: s[i].tolist() for name, s in stats.items()},
        }
        if chance_stats is not None:  # the chance baseline's statistics of the primary metric
            row["chance_stats"] = chance_stats[i].tolist()
        if out.scores:
            row["scores"] = out.scores
        if out.meta:
            row["meta"] = out.meta
        yield row


# -- helpers -------------------------------------------------------------------------------------
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


def as_output(value: Any) -> Output:
    if isinstance(value, dict) and value.get("__output__"):
        return Output(value["prediction"], value.get("scores"), value.get("meta") or {})
    return Output(value)


def to_cacheable(value: Any) -> Any:
    if isinstance(value, Output):
        return {"__output__": True, "prediction": value.prediction, "scores": value.scores,
                "meta": value.meta}
    if isinstance(value, np.generic):
        return value.item()
    return value


def status_record(spec: ModelSpec, card: TaskCard, status: str, reason: str) -> Record:
    """The record of a (model, task) that was skipped or failed: no figures, a reason."""
    return Record(**_record_head(spec, card), status=status, reason=reason, n_examples=0,
                  metrics={})


def _resumable(run_dir: Path) -> ResultDocument:
    if not (run_dir / "results.json").is_file():
        raise UserError(f"no results.json in {run_dir}", where="--resume")
    return load_results(run_dir).document


def _fresh_run_id(chash: str, n: int = 1) -> str:
    base = f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{chash[:6]}"
    return base if n == 1 else f"{base}-{n}"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
