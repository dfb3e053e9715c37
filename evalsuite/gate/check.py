"""The whole gate in one call: load the policy and the runs, evaluate, print, write files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from evalsuite.errors import RunError, UserError


def run_gate(results: Path, policy_path: Path, baselines: Sequence[Path] = (), *,
             junit: Path | None = None, markdown: Path | None = None,
             json_path: Path | None = None, verify: bool = True) -> int:
    """Gate one run folder with a policy; print the table, write files, return 0 or 1.

    Raises :class:`~evalsuite.errors.UserError` (exit code 2) when the policy or the inputs
    are wrong, and :class:`~evalsuite.errors.RunError` (exit code 1) when ``verify`` finds a
    figure of the run or a baseline that its predictions do not give (see
    :mod:`evalsuite.results.verify`).  ``baselines`` overrides the policy's ``baseline:``.
    """
    from evalsuite.cli.console import out_console
    from evalsuite.gate.outputs import print_report, write_outputs
    from evalsuite.gate.policy import load_policy
    from evalsuite.gate.rules import evaluate
    from evalsuite.results.files import load_results

    policy = load_policy(policy_path)
    paths = list(baselines)
    if not paths and policy.baseline_path() is not None:
        paths = [policy.baseline_path()]  # type: ignore[list-item]
    run = load_results(results)
    if run.run.status == "running":  # still being written: its figures are not final
        raise UserError(f"{run.path} is still being written by an evalsuite run; gate it "
                        f"when the run has finished", where="RESULTS")
    base_runs = [load_results(p) for p in paths]
    if any(b.path.resolve() == run.path.resolve() for b in base_runs):
        raise UserError("the baseline is the run being gated; name the release's run folder",
                        where="--baseline")
    if verify:
        from evalsuite.results.verify import verify_run

        for checked in (run, *base_runs):
            outcome = verify_run(checked)
            if not outcome.ok:
                more = len(outcome.problems) - 1
                raise RunError(f"{checked.path}: not trusted, its figures do not match its "
                               f"predictions: {outcome.problems[0]}"
                               + (f" (and {more} more; see evalsuite verify)" if more else "")
                               + " — rerun the evaluation, or gate with --no-verify")
    report = evaluate(policy, run, base_runs)
    print_report(report, out_console)
    write_outputs(report, junit=junit, markdown_path=markdown, json_path=json_path)
    return report.exit_code
