"""What one result record becomes in an experiment tracker (MLflow, Weights & Biases).

* **metrics** — every numeric figure of the record, named after its dotted path with the task
  left out (the tracker run is one (model, task)): a quality metric is its plain name
  (``accuracy``) with ``accuracy.ci_low`` / ``accuracy.ci_high`` for its interval; other
  figures keep their section as a prefix before a slash, which both trackers use to group
  charts: ``efficiency/latency_ms.p50``, ``bias/gender.max_gap``,
  ``safety/toxicity.rate``, ``robustness/typo.retention``, ``probe_cost/multiple``.  Only
  letters, digits, ``_ - .`` and spaces survive inside a name (MLflow's portable set).
* **params** — how the figures were produced: model spec, revision, dtype, batch size,
  device, threads, task card and version, dataset, seed, sampling and settings.
* **tags** — where: the run id, git commit, evalsuite version, hardware, status.
* **artifacts** — the run's ``results.json``, the record's predictions file and any HTML
  report saved in the run folder.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from evalsuite.results.files import RESULTS_FILE, RunResults, figures, flatten
from evalsuite.results.records import (
    DatasetInfo,
    Efficiency,
    Hardware,
    ModelIdentity,
    Record,
    RunInfo,
)

MAX_NAME = 250  # MLflow's limit on metric, param and tag names
SECTIONS = ("efficiency", "bias", "safety", "robustness", "probe_cost")


def export_key(run: RunInfo, record: Record) -> str:
    """A stable key of one (run, model, task): the same record always gets the same key, so
    exporting it again finds and updates what the first export made."""
    blob = "\0".join((run.id, record.model, record.task))
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def metric_name(path: str) -> str:
    """The tracker name of a record's dotted path (``metrics.accuracy.ci_low`` →
    ``accuracy.ci_low``, ``bias.gender.max_gap`` → ``bias/gender.max_gap``)."""
    section, *rest = path.split(".")
    if section == "metrics" and rest:
        name, *detail = rest
        parts = [name] + ([] if detail == ["value"] else detail)
        text = ".".join(_clean(p) for p in parts)
    else:
        text = _clean(section) + "/" + ".".join(_clean(p) for p in rest)
    return _limit(text)


def record_metrics(record: Record) -> dict[str, float]:
    """Every numeric figure of ``record`` under its tracker name."""
    prefix = f"{record.task}."
    out = {metric_name(address[len(prefix):]): float(value)
           for address, value in figures(record).items()}
    for path, value in flatten(record.probe_cost or {}, "probe_cost.").items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[metric_name(path)] = float(value)
    return out


def record_params(run: RunInfo, record: Record) -> dict[str, Any]:
    """How the record's figures were produced (``None`` values left out)."""
    identity = record.model_identity or ModelIdentity()
    eff = record.efficiency or Efficiency()
    data = record.dataset or DatasetInfo()
    params: dict[str, Any] = {
        "model": record.model, "model_spec": record.model_spec,
        "model_kind": record.model_kind, "model_revision": identity.revision,
        "model_fingerprint": identity.fingerprint, "variant_of": record.variant_of,
        "dtype": eff.dtype, "batch_size": eff.batch_size, "device": eff.device,
        "threads": eff.threads, "task": record.task, "task_version": record.task_version,
        "family": record.family.value, "n_examples": record.n_examples,
        "language": record.language, "domain": record.domain,
        "dataset_path": data.path, "dataset_name": data.name, "dataset_split": data.split,
        "dataset_revision": data.revision, "dataset_sha256": data.content_sha256,
        "dataset_fingerprint": data.fingerprint,
        "seed": run.seed, "limit": run.limit, "sample": run.sample, "resamples": run.resamples,
    }
    for key, value in sorted((record.settings or {}).items()):
        params[_limit(f"setting.{_clean(str(key))}")] = value
    return {k: v for k, v in params.items() if v is not None and v != {}}


def record_tags(run: RunInfo, record: Record) -> dict[str, str]:
    """Where and with what the record was produced, and how it ended."""
    hardware = run.hardware or Hardware()
    eff = record.efficiency or Efficiency()
    gpus = ", ".join(g.name or "?" for g in hardware.gpus or [])
    tags = {
        "evalsuite.key": export_key(run, record),
        "evalsuite.run_id": run.id, "evalsuite.model": record.model,
        "evalsuite.task": record.task, "evalsuite.family": record.family.value,
        "evalsuite.status": record.status, "evalsuite.reason": record.reason,
        "evalsuite.version": run.evalsuite_version,
        "evalsuite.config_hash": run.config_hash, "evalsuite.command": run.source,
        "evalsuite.smoke_set": record.smoke_set, "git_commit": run.git_commit,
        "hardware.platform": hardware.platform, "hardware.cpu_count": hardware.cpu_count,
        "hardware.memory_gb": hardware.memory_gb, "hardware.device_name": eff.device_name,
        "hardware.gpus": gpus or None, "hardware.cuda": hardware.cuda,
    }
    return {k: str(v) for k, v in tags.items() if v is not None}


def artifact_files(results: RunResults, record: Record) -> list[tuple[Path, str]]:
    """(file, folder in the tracker) of what goes with the record: the run's results.json,
    the record's predictions file and the HTML reports saved in the run folder — only files
    that really are in the run folder (a link out of it is left behind)."""
    folder = results.path.resolve()
    files = [(results.path / RESULTS_FILE, "")]
    predictions = record.predictions_file
    if predictions and (results.path / predictions).is_file():
        files.append((results.path / predictions, "predictions"))
    files += [(p, "reports") for p in sorted(results.path.glob("*.html"))]
    return [(path, where) for path, where in files
            if path.is_file() and path.resolve().is_relative_to(folder)]


def run_name(record: Record) -> str:
    return f"{record.model} · {record.task}"


def millis(iso: str | None) -> int | None:
    """Milliseconds since the epoch of an ISO time (``None`` stays ``None``)."""
    if not iso:
        return None
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def headline(record: Record) -> str:
    """One line: the primary metric with its interval, or why there is none."""
    if not record.ok:
        return f"{record.status}: {record.reason or ''}"
    name = record.primary_metric or ""
    metric = record.metrics.get(name)
    if metric is None or metric.value is None:
        return f"{name} – on {record.n_examples} examples"
    interval = ""
    if metric.ci_low is not None and metric.ci_high is not None:
        interval = f" [{metric.ci_low:.4g}, {metric.ci_high:.4g}]"
    return f"{name} {metric.value:.4g}{interval} on {record.n_examples} examples"


def _clean(part: str) -> str:
    return re.sub(r"[^\w\- ]", "_", part, flags=re.ASCII) or "_"


def _limit(name: str) -> str:
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:MAX_NAME - 9]}-{digest}"
