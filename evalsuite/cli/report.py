"""``evalsuite report`` and ``evalsuite compare``: the HTML report and comparison tables."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from evalsuite.errors import UserError
from evalsuite.utils import output_file

ResultsArg = Annotated[list[Path] | None, typer.Argument(
    help="Result folders: a run folder, a folder of runs, or a results.json.",
    show_default=False)]
PresetOption = Annotated[str | None, typer.Option(
    help="Weights for a use case: balanced (default), quality-first or latency-critical.",
    show_default=False)]
WeightsOption = Annotated[str | None, typer.Option(
    help="Custom weights instead of a preset, e.g. 'quality=0.6,efficiency=0.4' "
         "(dimensions not named get 0).", show_default=False)]
PolicyOption = Annotated[Path | None, typer.Option(
    "--policy", "-p", help="A gate policy (YAML): show which models pass every rule (ranked "
                           "by quality on shared tasks, with their cost) and the first rule "
                           "each other model fails.", show_default=False)]
BaselineOption = Annotated[list[Path] | None, typer.Option(
    "--baseline", "-b", metavar="RUN", help="Baseline run folder for the policy's regression "
                                            "and efficiency rules (overrides its "
                                            "'baseline:').", show_default=False)]


def report(
    results: ResultsArg = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="HTML file to write [default: dashboards/report-<time>.html; "
                               "with --index: dashboards/index.html].",
        show_default=False)] = None,
    preset: PresetOption = None,
    weights: WeightsOption = None,
    index: Annotated[bool, typer.Option(
        "--index", help="Write dashboards/index.html listing every report and run "
                        "(RESULTS: folders of runs to scan [default: results]).")] = False,
    title: Annotated[str | None, typer.Option(help="Title of the report.",
                                              show_default=False)] = None,
    worst: Annotated[int, typer.Option(help="Worst examples kept per (model, task).")] = 5,
    policy: PolicyOption = None,
    baseline: BaselineOption = None,
) -> None:
    """Build one self-contained HTML report comparing every model in RESULTS."""
    from evalsuite.cli.console import err_console

    if index:
        from evalsuite.report.index import write_index

        out = output or Path("dashboards") / "index.html"
        _check_html(out)
        with output_file(out):
            listed = write_index(out, list(results or [Path("results")]), out.parent)
        n_reports = sum(i.kind == "report" for i in listed)
        err_console.print(f"index: {out} ({n_reports} reports, {len(listed) - n_reports} "
                          "runs)", markup=False, highlight=False)
        return
    if not results:
        raise UserError("name at least one result folder (or use --index)", where="RESULTS")
    if worst < 0:
        raise UserError(f"must be 0 or more, got {worst}", where="--worst")
    out = output or Path("dashboards") / f"report-{datetime.now():%Y%m%d-%H%M%S}.html"
    _check_html(out)
    from evalsuite.report import build_report

    with output_file(out):
        path = build_report(results, out, preset=preset, weights=weights, title=title,
                            worst_k=worst, policy=policy, baselines=baseline or [])
    size = path.stat().st_size / 2**20
    err_console.print(f"report: {path} ({size:.1f} MB)", markup=False, highlight=False)


def compare(
    results: ResultsArg = None,
    format: Annotated[str | None, typer.Option(
        "--format", "-f", help="table, markdown, csv or json [default: from -o's suffix, "
                               "else table].", show_default=False)] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write to this file instead of the terminal.",
        show_default=False)] = None,
    preset: PresetOption = None,
    weights: WeightsOption = None,
    policy: PolicyOption = None,
    baseline: BaselineOption = None,
) -> None:
    """Compare the models in RESULTS: per-task metrics against chance, ranks within groups
    of models sharing tasks, usability index, dimensions and cost."""
    from evalsuite.cli.console import err_console, out_console
    from evalsuite.report import compare as cmp
    from evalsuite.report.load import load_report_data
    from evalsuite.report.scoring import resolve_weights, score_models

    fmt = cmp.resolve_format(format, str(output) if output else None)
    if not results:
        raise UserError("name at least one result folder", where="RESULTS")
    chosen = resolve_weights(preset, weights)
    data = load_report_data(results)
    view = None
    if policy is not None:
        from evalsuite.report.policy import evaluate_policy

        view = evaluate_policy(data, policy, baseline or [])
    result = cmp.comparison(data, score_models(data, chosen), chosen, view)
    if output is not None:
        from evalsuite.utils import atomic_write_text

        with output_file(output):
            atomic_write_text(output, cmp.render(result, fmt))
        err_console.print(f"comparison ({fmt}): {output}", markup=False, highlight=False)
    elif fmt == "table":
        out_console.print(cmp.rich_table(result))
        for note in cmp.notes(result):
            out_console.print(note, markup=False, highlight=False, style="dim")
    else:
        typer.echo(cmp.render(result, fmt), nl=False)


def _check_html(path: Path) -> None:
    if path.suffix.lower() not in (".html", ".htm"):
        raise UserError(f"the report is an HTML file; name it *.html (got {str(path)!r})",
                        where="--output")
