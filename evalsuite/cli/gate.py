"""``evalsuite gate``: check a run against a policy (exit 0 pass, 1 fail, 2 wrong input)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evalsuite.gate.check import run_gate


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
    verify: Annotated[bool, typer.Option(
        "--verify/--no-verify",
        help="First recompute every figure of the run and baselines from their predictions "
             "(see 'evalsuite verify'); a mismatch fails the gate.")] = True,
) -> None:
    """Check a run against a policy: exit 0 if every rule passes, 1 if any fails, 2 if the
    policy or the inputs are wrong."""
    code = run_gate(results, policy, baseline or [], junit=junit, markdown=markdown,
                    json_path=json_path, verify=verify)
    if code:
        raise typer.Exit(code)
