"""``evalsuite export``: a run's results into MLflow, Weights & Biases or a model card."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evalsuite.errors import UserError


def export(
    results: Annotated[Path, typer.Argument(help="Run folder (or its results.json).",
                                            show_default=False)],
    to: Annotated[str, typer.Option(
        "--to", help="mlflow (one MLflow run per model and task), wandb (the same in "
                     "Weights & Biases) or model-index (Hugging Face model-card metadata "
                     "of one model).", show_default=False)],
    tracking_uri: Annotated[str | None, typer.Option(
        help="MLflow tracking URI [default: MLFLOW_TRACKING_URI, else MLflow's default].",
        show_default=False)] = None,
    experiment: Annotated[str | None, typer.Option(
        help="MLflow experiment, or W&B project [default: MLFLOW_EXPERIMENT_NAME or "
             "WANDB_PROJECT, else evalsuite].", show_default=False)] = None,
    model: Annotated[str | None, typer.Option(
        "--model", "-m", metavar="MODEL",
        help="model-index: the model (its name in the run).", show_default=False)] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="model-index: README.md to write or update (its body is "
                               "kept) [default: print the block].", show_default=False)
                      ] = None,
) -> None:
    """Export a run's results: MLflow or W&B runs (exporting again updates them), or the
    model-index block of a Hugging Face model card."""
    from evalsuite.cli.console import err_console, out_console
    from evalsuite.export import TARGETS
    from evalsuite.results.files import load_results
    from evalsuite.utils import printable

    if to not in TARGETS:
        raise UserError(f"unknown target {to!r} (choose: {', '.join(TARGETS)})", where="--to")
    if to != "model-index" and (model or output):
        raise UserError("only --to model-index takes --model and --output",
                        where="--model" if model else "--output")
    if to == "model-index" and not model:
        raise UserError("name the model whose results go into the card", where="--model")
    run = load_results(results)
    if to == "model-index":
        from evalsuite.export import model_index
        from evalsuite.utils import atomic_write_text, output_file

        index = model_index.build(run, str(model))
        text = model_index.render(index, output)
        for note in index.notes:
            err_console.print(f"note: {printable(note)}", markup=False)
        if output is None:
            out_console.print(text, markup=False, highlight=False, end="", soft_wrap=True)
        else:
            with output_file(output):
                atomic_write_text(output, text)
            err_console.print(f"model-index: {len(index.results)} results of "
                              f"{printable(index.model_name)} in {printable(output)}",
                              markup=False)
        return
    summary = log_run(run, to, tracking_uri=tracking_uri, experiment=experiment)
    for note in summary.notes:
        err_console.print(f"note: {printable(note)}", markup=False)
    err_console.print(printable(summary.line()), markup=False)


TRACKERS = {"mlflow": ("mlflow", "mlflow"), "wandb": ("wandb", "wandb")}  # package, extra


def check_tracker(to: str, where: str = "--log-to") -> None:
    """Refuse, before any work, a tracker that is unknown or not installed."""
    from importlib.util import find_spec

    if to not in TRACKERS:
        raise UserError(f"unknown tracker {to!r} (choose: {', '.join(TRACKERS)})", where=where)
    package, extra = TRACKERS[to]
    if find_spec(package) is None:
        raise UserError(f"logging to {to} needs the {package} package "
                        f"(pip install 'evalsuite[{extra}]')", where=where)


def log_run(run, to: str, *, tracking_uri: str | None = None,
            experiment: str | None = None):
    """Send a loaded run to an experiment tracker (``mlflow`` or ``wandb``)."""
    if to == "mlflow":
        from evalsuite.export.mlflow_export import export_run

        return export_run(run, tracking_uri=tracking_uri, experiment=experiment)
    if tracking_uri:
        raise UserError("W&B takes no tracking URI (set WANDB_BASE_URL for a private "
                        "server)", where="--tracking-uri")
    from evalsuite.export.wandb_export import export_run as export_wandb

    return export_wandb(run, project=experiment)
