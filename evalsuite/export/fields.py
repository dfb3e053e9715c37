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

MAX_NAME = 250  # MLflow's limit on metric, param and tag names
SECTIONS = ("efficiency", "bias", "safety", "robustness", "probe_cost")


def export_key(run: dict[str, Any], record: dict[str, Any]) -> str:
    """A stable key of one (run, model, task): the same record always gets the same key, so
    exporting it again finds and updates what the first export made."""
    blob = "\0".join((str(run.get("id")), record["model"], record["task"]))
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


def record_metrics(record: dict[str, Any]) -> dict[str, float]:
    """Every numeric figure of ``record`` under its tracker name."""
    prefix = f"{record['task']}."
    out = {metric_name(address[len(prefix):]): float(value)
           for address, value in figures(record).items()}
    for path, value in flatten(record.get("probe_cost") or {}, "probe_cost.").items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[metric_name(path)] = float(value)
    return out


def record_params(run: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """How the record's figures were produced (``None`` values left out)."""
    identity = record.get("model_identity") or {}
    eff = record.get("efficiency") or {}
    data = record.get("dataset") or {}
    params: dict[str, Any] = {
        "model": record["model"], "model_spec": record.get("model_spec"),
        "model_kind": record.get("model_kind"), "model_revision": identity.get("revision"),
        "model_fingerprint": identity.get("fingerprint"), "variant_of": record.get("variant_of"),
        "dtype": eff.get("dtype"), "batch_size": eff.get("batch_size"),
        "device": eff.get("device"), "threads": eff.get("threads"),
        "task": record["task"], "task_version": record.get("task_version"),
        "family": record.get("family"), "n_examples": record.get("n_examples"),
        "dataset_path": data.get("path"), "dataset_name": data.get("name"),
        "dataset_split": data.get("split"), "dataset_revision": data.get("revision"),
        "dataset_sha256": data.get("content_sha256"),
        "dataset_fingerprint": data.get("fingerprint"),
        "seed": run.get("seed"), "limit": run.get("limit"), "sample": run.get("sample"),
        "resamples": run.get("resamples"),
    }
    for key, value in sorted((record.get("settings") or {}).items()):
        params[_limit(f"setting.{_clean(str(key))}")] = value
    return {k: v for k, v in params.items() if v is not None and v != {}}


def record_tags(run: dict[str, Any], record: dict[str, Any]) -> dict[str, str]:
    """Where and with what the record was produced, and how it ended."""
    hardware = run.get("hardware") or {}
    eff = record.get("efficiency") or {}
    gpus = ", ".join(g.get("name", "?") for g in hardware.get("gpus") or [])
    tags = {
        "evalsuite.key": export_key(run, record),
        "evalsuite.run_id": run.get("id"), "evalsuite.model": record["model"],
        "evalsuite.task": record["task"], "evalsuite.family": record.get("family"),
        "evalsuite.status": record.get("status", "ok"), "evalsuite.reason": record.get("reason"),
        "evalsuite.version": run.get("evalsuite_version"),
        "evalsuite.config_hash": run.get("config_hash"), "evalsuite.command": run.get("source"),
        "evalsuite.smoke_set": record.get("smoke_set"), "git_commit": run.get("git_commit"),
        "hardware.platform": hardware.get("platform"),
        "hardware.cpu_count": hardware.get("cpu_count"),
        "hardware.memory_gb": hardware.get("memory_gb"),
        "hardware.device_name": eff.get("device_name"),
        "hardware.gpus": gpus or None, "hardware.cuda": hardware.get("cuda"),
    }
    return {k: str(v) for k, v in tags.items() if v is not None}


def artifact_files(results: RunResults, record: dict[str, Any]) -> list[tuple[Path, str]]:
    """(file, folder in the tracker) of what goes with the record: the run's results.json,
    the record's predictions file and the HTML reports saved in the run folder."""
    files = [(results.path / RESULTS_FILE, "")]
    predictions = record.get("predictions_file")
    if predictions and (results.path / predictions).is_file():
        files.append((results.path / predictions, "predictions"))
    files += [(p, "reports") for p in sorted(results.path.glob("*.html"))]
    return files


def run_name(record: dict[str, Any]) -> str:
    return f"{record['model']} · {record['task']}"


def millis(iso: str | None) -> int | None:
    """Milliseconds since the epoch of an ISO time (``None`` stays ``None``)."""
    if not iso:
        return None
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def headline(record: dict[str, Any]) -> str:
    """One line: the primary metric with its interval, or why there is none."""
    if record.get("status", "ok") != "ok":
        return f"{record.get('status')}: {record.get('reason', '')}"
    name = record.get("primary_metric", "")
    metric = (record.get("metrics") or {}).get(name) or {}
    interval = ""
    if metric.get("ci_low") is not None and metric.get("ci_high") is not None:
        interval = f" [{metric['ci_low']:.4g}, {metric['ci_high']:.4g}]"
    value = metric.get("value")
    shown = "–" if value is None else f"{value:.4g}"
    return f"{name} {shown}{interval} on {record.get('n_examples')} examples"


def _clean(part: str) -> str:
    return re.sub(r"[^\w\- ]", "_", part, flags=re.ASCII) or "_"


def _limit(name: str) -> str:
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:MAX_NAME - 9]}-{digest}"
