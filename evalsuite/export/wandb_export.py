"""Export a run to Weights & Biases: one W&B run per (model, task) record.

Each W&B run is grouped by the evalsuite run id (``group``, ``job_type="evaluation"``),
named ``model · task``, with the record's parameters and tags in its config (tags under
``evalsuite``), its figures in the run summary (:mod:`evalsuite.export.fields` names them),
and one ``evaluation`` artifact holding the run's ``results.json``, the record's
predictions and any HTML report.  The W&B run id is the record's stable key, resumed with
``resume="allow"``, so exporting twice updates one W&B run rather than adding another (in
offline mode each export writes an offline run folder with that id, and ``wandb sync``
merges them into the one run).

Project and entity follow W&B's habits: ``--experiment`` (the project), else
``WANDB_PROJECT``, else ``evalsuite``; ``WANDB_ENTITY``, ``WANDB_MODE=offline`` and
``WANDB_DIR`` are W&B's own.
"""

from __future__ import annotations

import os
from typing import Any

from evalsuite.errors import EvalsuiteError, RunError, UserError
from evalsuite.export import ExportSummary
from evalsuite.export.connection import check_reachable, redact_url
from evalsuite.export.fields import (
    artifact_files,
    export_key,
    headline,
    record_metrics,
    record_params,
    record_tags,
    run_name,
)
from evalsuite.results.files import RunResults
from evalsuite.results.records import Record
from evalsuite.utils import first_line, slug

DEFAULT_PROJECT = "evalsuite"


def export_run(results: RunResults, *, project: str | None = None) -> ExportSummary:
    """Log every record of ``results`` to W&B (created, or resumed by its stable id)."""
    try:
        import wandb
    except ImportError:
        raise UserError("exporting to Weights & Biases needs the wandb package "
                        "(pip install 'evalsuite[wandb]')", where="--to wandb") from None
    name = project or os.environ.get("WANDB_PROJECT") or DEFAULT_PROJECT
    try:
        settings = wandb.setup().settings  # mode and server from the environment and files
        summary = ExportSummary("wandb", f"project {name!r}, {settings.mode}")
        if settings.mode not in ("offline", "disabled", "dryrun"):  # a server that is down:
            check_reachable(settings.base_url, "wandb export failed")  # one line, in seconds
        for record in results.records:
            _export_record(wandb, name, results, record)
            summary.logged += 1
    except (EvalsuiteError, KeyboardInterrupt):
        raise
    except wandb.errors.UsageError as exc:  # W&B's word for "your input is wrong"
        raise UserError(redact_url(first_line(exc)), where="--to wandb") from None
    except Exception as exc:
        raise RunError(redact_url(f"wandb export failed: {type(exc).__name__}: "
                                  f"{first_line(exc)}")) from exc
    finally:
        wandb.teardown()  # wait until every run is written (offline) or uploaded
    return summary


def _export_record(wandb: Any, project: str, results: RunResults, record: Record) -> None:
    run = results.run
    tags = record_tags(run, record)
    config = {**record_params(run, record), "evalsuite": tags}
    wandb_run = wandb.init(project=project, id=export_key(run, record), resume="allow",
                           name=run_name(record), group=run.id, job_type="evaluation",
                           config=config, notes=headline(record),
                           tags=["evalsuite", record.family.value, record.status],
                           reinit="finish_previous")
    try:
        wandb_run.summary.update(record_metrics(record))
        artifact = wandb.Artifact(f"evalsuite-{slug(run.id)}-{slug(record.model)}-"
                                  f"{slug(record.task)}"[:128],
                                  type="evaluation", metadata={"evalsuite.key": tags[
                                      "evalsuite.key"]})
        for path, folder in artifact_files(results, record):
            artifact.add_file(str(path), name=f"{folder}/{path.name}" if folder else path.name)
        wandb_run.log_artifact(artifact)
    finally:
        wandb_run.finish(exit_code=0 if record.ok else 1)
