"""Export a run to MLflow: one MLflow run per (model, task) record.

Each MLflow run carries the record's parameters, metrics (with interval bounds) and tags
(:mod:`evalsuite.export.fields`), MLflow's own ``mlflow.source.git.commit`` and
``mlflow.note.content`` tags, and the run's ``results.json``, the record's predictions and
any HTML report as artifacts.  It is found again by its ``evalsuite.key`` tag (run id + model
+ task), so exporting twice updates the same MLflow run instead of adding one: only metrics
whose value differs are logged again, and parameters MLflow already has are left alone.

The tracking URI and experiment follow MLflow's habits: ``--tracking-uri``, else
``MLFLOW_TRACKING_URI``, else MLflow's default; ``--experiment``, else
``MLFLOW_EXPERIMENT_NAME``, else ``evalsuite``.
"""

from __future__ import annotations

import os
import time
from typing import Any

from evalsuite.errors import EvalsuiteError, RunError, UserError
from evalsuite.export import ExportSummary
from evalsuite.export.connection import bounded_mlflow_http, check_reachable, redact_url
from evalsuite.export.fields import (
    artifact_files,
    export_key,
    headline,
    millis,
    record_metrics,
    record_params,
    record_tags,
    run_name,
)
from evalsuite.results.files import RunResults
from evalsuite.results.records import Record
from evalsuite.utils import first_line

DEFAULT_EXPERIMENT = "evalsuite"
MAX_PARAM_VALUE = 6000  # MLflow's limits
MAX_TAG_VALUE = 8000
BATCH = {"metrics": 1000, "params": 100, "tags": 100}
STATUS = {"ok": "FINISHED", "failed": "FAILED", "skipped": "KILLED"}


def export_run(results: RunResults, *, tracking_uri: str | None = None,
               experiment: str | None = None) -> ExportSummary:
    """Log every record of ``results`` to MLflow (create or update); say what was done."""
    try:
        import mlflow
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise UserError("exporting to MLflow needs the mlflow package "
                        "(pip install 'evalsuite[mlflow]')", where="--to mlflow") from None
    name = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
    uri = tracking_uri or mlflow.get_tracking_uri()
    check_reachable(uri, "mlflow export failed")  # a server that is down fails in seconds
    try:
        with bounded_mlflow_http():
            client = MlflowClient(tracking_uri=tracking_uri)
            experiment_id = _experiment(client, name)
            summary = ExportSummary("mlflow", f"experiment {name!r} at {redact_url(uri)}")
            for record in results.records:
                _export_record(client, experiment_id, results, record, summary)
    except (EvalsuiteError, KeyboardInterrupt):
        raise
    except Exception as exc:  # the tracking server or store refused: one line, exit 1
        raise RunError(redact_url(f"mlflow export failed: {type(exc).__name__}: "
                                  f"{first_line(exc)}")) from exc
    return summary


def _experiment(client: Any, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is None:
        return client.create_experiment(name)
    if found.lifecycle_stage == "deleted":
        raise UserError(f"MLflow experiment {name!r} is deleted; restore it or name another",
                        where="--experiment")
    return found.experiment_id


def _export_record(client: Any, experiment_id: str, results: RunResults, record: Record,
                   summary: ExportSummary) -> None:
    from mlflow.entities import Metric, Param, RunTag

    run = results.run
    key = export_key(run, record)
    found = client.search_runs([experiment_id], filter_string=f"tags.`evalsuite.key` = '{key}'",
                               max_results=1)
    tags = record_tags(run, record)
    commit = (run.git_commit or "").removesuffix("-dirty")
    if commit:
        tags["mlflow.source.git.commit"] = commit
    tags["mlflow.source.name"] = "evalsuite"
    tags["mlflow.note.content"] = (f"{headline(record)}\n\nevalsuite run `{run.id}`"
                                   + (f": `{run.source}`" if run.source else ""))
    if found:
        mlflow_run = found[0]
        summary.updated += 1
    else:
        mlflow_run = client.create_run(experiment_id, start_time=millis(run.created),
                                       tags={"evalsuite.key": key}, run_name=run_name(record))
        summary.created += 1
    run_id = mlflow_run.info.run_id
    logged_metrics = mlflow_run.data.metrics
    logged_params = mlflow_run.data.params
    stamp = millis(run.finished or run.created) or int(time.time() * 1000)
    metrics = [Metric(k, v, stamp, 0) for k, v in record_metrics(record).items()
               if logged_metrics.get(k) != v]
    params = []
    for k, v in record_params(run, record).items():
        value = str(v)[:MAX_PARAM_VALUE]
        if k not in logged_params:
            params.append(Param(k, value))
        elif logged_params[k] != value:
            summary.notes.append(f"{run_name(record)}: parameter {k} is {logged_params[k]!r} "
                                 f"in MLflow, {value!r} here (MLflow keeps the first)")
    run_tags = [RunTag(k, v[:MAX_TAG_VALUE]) for k, v in tags.items()]
    for kind, items in (("metrics", metrics), ("params", params), ("tags", run_tags)):
        size = BATCH[kind]
        for start in range(0, len(items), size):
            client.log_batch(run_id, **{kind: items[start:start + size]})
    for path, folder in artifact_files(results, record):
        client.log_artifact(run_id, str(path), artifact_path=folder or None)
    client.set_terminated(run_id, STATUS.get(record.status, "FINISHED"),
                          end_time=millis(run.finished))
