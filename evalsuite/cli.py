"""The ``evalsuite`` command line: run, tasks (and report, compare, gate)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from evalsuite.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, EvalsuiteError, UserError

app = typer.Typer(
    name="evalsuite",
    help="Evaluate NLP models for quality, cost, bias, safety and robustness.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

TasksDirOption = Annotated[
    list[Path] | None,
    typer.Option("--tasks-dir", help="Extra folder of task cards (repeatable).",
                 show_default=False),
]
_state = {"debug": False}


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False
          ) -> None:
    _state["debug"] = debug


@app.command()
def tasks(
    tasks_dir: TasksDirOption = None,
    family: Annotated[str | None, typer.Option(help="Only this family.")] = None,
) -> None:
    """List every task card: name, family, dataset, size and metrics."""
    from rich.table import Table

    from evalsuite.console import out_console
    from evalsuite.families import parse_family
    from evalsuite.task_registry import TaskRegistry, dataset_size

    registry = TaskRegistry.discover(tasks_dir or [])
    wanted = parse_family(family, where="--family") if family else None
    table = Table(show_edge=False, header_style="bold", pad_edge=False)
    for col in ("task", "family", "dataset", "size", "metrics"):
        table.add_column(col, justify="right" if col == "size" else "left")
    for name in registry.names():
        card = registry.cards[name]
        if wanted and card.family is not wanted:
            continue
        ds = card.dataset
        where = ds.path if card.smoke_set is False else f"{Path(ds.path).name} (starter)"
        where += f" [{ds.name}]" if ds.name else ""
        where += f" {ds.split}" if card.smoke_set is False else ""
        size = dataset_size(card)
        table.add_row(name, card.family.value, where, "" if size is None else str(size),
                      ", ".join(card.metrics))
    out_console.print(table)


@app.command()
def run(
    batch: Annotated[Path | None, typer.Argument(help="Batch file (YAML).", show_default=False)
                     ] = None,
    model: Annotated[list[str] | None, typer.Option(
        "--model", "-m", help="Model spec KIND:TARGET[?k=v&…] (repeatable).")] = None,
    task: Annotated[list[str] | None, typer.Option(
        "--task", "-t", help="Task name or glob, e.g. 'sentiment/*' (repeatable).")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Folder of run folders [default: results].")] = None,
    run_id: Annotated[str | None, typer.Option(help="Name of the run folder.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for sampling and bootstrap.")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N examples per task.")
                     ] = None,
    sample: Annotated[int | None, typer.Option(help="A seeded random N examples per task.")
                      ] = None,
    resamples: Annotated[int | None, typer.Option(help="Bootstrap resamples.")] = None,
    resume: Annotated[Path | None, typer.Option(
        help="Continue an earlier run folder, keeping its finished records.")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write the "
                                           "prediction cache.")] = False,
    cache: Annotated[Path | None, typer.Option(help="Prediction cache file "
                                               "[default: ~/.cache/evalsuite].")] = None,
    tasks_dir: TasksDirOption = None,
    gate: Annotated[Path | None, typer.Option(
        help="Gate the run with this policy (see 'evalsuite gate'); exit with its code.")
                    ] = None,
) -> None:
    """Run an evaluation batch (a batch file, or --model and --task)."""
    from evalsuite.batch import load_batch
    from evalsuite.cache import default_cache_path
    from evalsuite.console import RichProgress, err_console, out_console, summary_table
    from evalsuite.runner import Job, RunConfig
    from evalsuite.runner import run as run_batch
    from evalsuite.specs import parse_spec
    from evalsuite.task_registry import TaskRegistry

    if batch is not None and (model or task):
        raise UserError("give a batch file or --model/--task, not both", where="run")
    if batch is not None:
        config, _ = load_batch(batch, tasks_dirs=[str(d) for d in tasks_dir or []])
    else:
        if not model or not task:
            raise UserError("name a batch file, or at least one --model and one --task",
                            where="run")
        registry = TaskRegistry.discover(tasks_dir or [])
        cards = registry.select(task)
        config = RunConfig(jobs=[Job(parse_spec(m), cards) for m in model],
                           source="evalsuite run " + " ".join(sys.argv[2:]))
    for flag, value in (("--limit", limit), ("--sample", sample), ("--resamples", resamples)):
        if value is not None and value < (0 if flag == "--resamples" else 1):
            raise UserError(f"must be a positive number, got {value}", where=flag)
    if output is not None:
        config.output_dir = output
    if run_id is not None:
        config.run_id = run_id
    if seed is not None:
        config.seed = seed
    if limit is not None:
        config.limit = limit
    if sample is not None:
        config.sample = sample
    if resamples is not None:
        config.resamples = resamples
    if resume is not None:
        config.resume_dir = resume
    config.cache_path = None if no_cache else (cache or default_cache_path())
    if gate is not None:  # a wrong policy is refused before the run, not after it
        from evalsuite.gate.policy import load_policy

        load_policy(gate)

    with RichProgress() as progress:
        outcome = run_batch(config, progress)
    out_console.print(summary_table(outcome.records))
    err_console.print(f"results: {outcome.run_dir / 'results.json'}")
    if outcome.failed or outcome.interrupted:
        for rec in outcome.failed:
            err_console.print(f"failed: {rec['model']} · {rec['task']}: {rec['reason']}",
                              markup=False)
    if gate is not None:
        from evalsuite.gate.commands import run_gate

        code = run_gate(outcome.run_dir, gate)
        if code or outcome.failed or outcome.interrupted:
            raise typer.Exit(max(code, EXIT_FAILED))
    elif outcome.failed or outcome.interrupted:
        raise typer.Exit(EXIT_FAILED)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app and map errors onto exit codes (0 ok, 1 failed, 2 usage)."""
    from evalsuite.console import error

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # our own bars only
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        app(args=argv, standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except EvalsuiteError as exc:
        if _state["debug"]:
            raise
        error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        error("interrupted")
        return 130
    except Exception as exc:  # click usage errors and the like
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return EXIT_USAGE
        if isinstance(exc, click.exceptions.Abort):
            return 130
        raise
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
from evalsuite.gate import commands as _gate_commands  # noqa: E402,F401  (registers gate)
from evalsuite.report import commands as _report_commands  # noqa: E402,F401  (registers report/compare)
