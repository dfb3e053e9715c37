"""``evalsuite verify``: recompute a run's figures from its per-example statistics."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evalsuite.errors import EXIT_FAILED


def verify(
    runs: Annotated[list[Path], typer.Argument(help="Run folders (or their results.json).",
                                               show_default=False)],
    intervals: Annotated[bool, typer.Option(
        "--intervals/--no-intervals",
        help="Also recompute the bootstrap intervals (seeded: the run's exact resamples).")
                         ] = True,
) -> None:
    """Recompute every metric of a run from the per-example statistics in its predictions
    files: exit 0 when every figure matches, 1 naming each one that does not (a results file
    edited by hand, or predictions that changed), 2 when a folder is not a run."""
    from evalsuite.cli.console import err_console, out_console
    from evalsuite.results.files import load_many
    from evalsuite.results.verify import verify_run
    from evalsuite.utils import printable

    failed = False
    for run in load_many(runs):
        result = verify_run(run, intervals=intervals)
        for note in result.notes:
            err_console.print(f"note: {printable(note)}", markup=False)
        for problem in result.problems:
            out_console.print(f"MISMATCH {printable(problem)}", markup=False, soft_wrap=True)
        verdict = "ok" if result.ok else "FAILED"
        out_console.print(f"{verdict}: {result.figures} figures of {result.records} records "
                          f"checked in {printable(run.path)}"
                          + (f", {len(result.problems)} problems" if result.problems else ""),
                          markup=False, soft_wrap=True)
        failed |= not result.ok
    if failed:
        raise typer.Exit(EXIT_FAILED)
