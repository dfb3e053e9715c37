"""The ``evalsuite gate`` command (registered on the main app by ``evalsuite.cli``).

:func:`run_gate` is the whole gate in one call — load the policy and the runs, evaluate,
print, write the report files — and returns the exit code; ``evalsuite run --gate`` uses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from evalsuite.cli import app
from evalsuite.errors import UserError


def run_gate(results: Path, policy_path: Path, baselines: Sequence[Path] = (), *,
             junit: Path | None = None, markdown: Path | None = None,
             json_path: Path | None = None) -> int:
    """Gate one run folder with a policy; print the table, write files, return 0 or 1.

    Raises :class:`~evalsuite.errors.UserError` (exit code 2) when the policy or the inputs
    are wrong.  ``baselines`` overrides the policy's ``baseline:``.
    """
    from evalsuite.console import out_console
    from evalsuite.gate.outputs import print_report, write_outputs
    from evalsuite.gate.policy import load_policy
    from evalsuite.gate.rules import evaluate
    from evalsuite.results import load_results

    policy = load_policy(policy_path)
    paths = list(baselines)
    if not paths and policy.baseline_path() is not None:
        paths = [policy.baseline_path()]  # type: ignore[list-item]
    run = load_results(results)
    base_runs = [load_results(p) for p in paths]
    if any(b.path.resolve() == run.path.resolve() for b in base_runs):
        raise UserError("the baseline is the run being gated; name the release's run folder",
                        where="--baseline")
    report = evaluate(policy, run, base_runs)
    print_report(report, out_console)
    write_outputs(report, junit=junit, markdown_path=markdown, json_path=json_path)
    return report.exit_code


@app.command()
def gate(
    results: Annotated[Path, typer.Argument(help="Run folder (or its results.json) to gate.",
                                            show_default=False)],
    policy: Annotated[Path, typer.Option("--policy", "-p", help="Gate policy (YAML).",
                                         show_default=False)],
    baseline: Annotated[list[Path] | None, typer.Option(
        "--baseline", "-b", metavar="RUN",
        help="Baseline run folder, e.g. the last release's results (repeatable: repeated "
        "runs give efficiency rules their measurement noise; the first is used for "
        "regression rules). Overrides the policy's 'baseline:'.")] = None,
    junit: Annotated[Path | None, typer.Option(help="Write JUnit XML here.")] = None,
    markdown: Annotated[Path | None, typer.Option(help="Write a Markdown summary here.")
                        ] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write a JSON report here.")
                         ] = None,
) -> None:
    """Check a run against a policy: exit 0 if every rule passes, 1 if any fails, 2 if the
    policy or the inputs are wrong."""
    code = run_gate(results, policy, baseline or [], junit=junit, markdown=markdown,
                    json_path=json_path)
    if code:
        raise typer.Exit(code)
