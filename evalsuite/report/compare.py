"""The comparison as data, and as a terminal table, Markdown, CSV or JSON.

One row per model (best first): rank, usability index with interval, the five dimensions
and the primary metric of every task.  The same numbers as the report's scorecard.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from evalsuite.errors import UserError
from evalsuite.report.load import ReportData
from evalsuite.report.scoring import DIMENSIONS, Score, Weights, primary

FORMATS = ("table", "markdown", "csv", "json")
SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".csv": "csv", ".json": "json",
            ".txt": "table"}


def comparison(data: ReportData, scores: list[Score], weights: Weights) -> dict[str, Any]:
    """Everything ``compare`` prints, as plain data (what ``--format json`` writes)."""
    models = []
    for s in scores:
        tasks = {}
        for task in data.tasks:
            entry = s.model.results.get(task)
            name, metric = primary(entry.record) if entry else (None, None)
            if metric is not None:
                tasks[task] = {"metric": name, "value": metric.get("value"),
                               "ci_low": metric.get("ci_low"), "ci_high": metric.get("ci_high"),
                               "scale": metric.get("scale")}
        models.append({
            "model": s.model.label, "identity": s.model.key, "spec": s.model.spec,
            "rank": s.rank, "tied": s.tied, "index": s.index,
            "index_low": s.low, "index_high": s.high, "weights_used": s.weights,
            "dimensions": {d: {"value": dim.value, "half_width": dim.half_width,
                               "derived": dim.how, "n": dim.n}
                           for d, dim in s.dimensions.items()},
            "tasks": tasks,
            "not_scored": [{"task": e.task, "status": e.status,
                            "reason": e.record.get("reason")} for e in s.model.not_scored],
        })
    return {"weights": {"source": weights.source, **weights.values},
            "tasks": [{"task": t, "family": data.families[t]} for t in data.tasks],
            "runs": [str(r.run.get("id")) for r in data.runs], "models": models}


def resolve_format(fmt: str | None, output: str | None) -> str:
    """The format named by ``--format``, else guessed from ``-o``'s suffix, else 'table'."""
    if fmt is None:
        if output:
            for suffix, name in SUFFIXES.items():
                if output.lower().endswith(suffix):
                    return name
        return "table"
    fmt = fmt.strip().lower()
    if fmt == "md":
        fmt = "markdown"
    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r} (choose one of: {', '.join(FORMATS)})",
                        where="--format")
    return fmt


def render(result: dict[str, Any], fmt: str) -> str:
    """The comparison in one of :data:`FORMATS` (``table`` as plain text)."""
    if fmt == "json":
        return json.dumps(result, indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        return to_csv(result)
    if fmt == "markdown":
        return to_markdown(result)
    return table_text(result)


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _index_text(m: dict[str, Any]) -> str:
    if m["index"] is None:
        return "–"
    return f"{m['index']:.3f} [{m['index_low']:.3f}, {m['index_high']:.3f}]"


def _rank_text(m: dict[str, Any]) -> str:
    if m["rank"] is None:
        return "–"
    return f"={m['rank']}" if m["tied"] else str(m["rank"])


def _metric_text(t: dict[str, Any] | None) -> str:
    if not t or t["value"] is None:
        return "–"
    digits = 1 if t.get("scale") == "0-100" else 3
    return f"{t['value']:.{digits}f}"


def _rows(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    head = ["rank", "model", "index [interval]", *DIMENSIONS, "tasks"]
    n_tasks = len(result["tasks"])
    rows = [[_rank_text(m), m["model"], _index_text(m),
             *[_num(m["dimensions"][d]["value"]) if m["dimensions"][d]["value"] is not None
               else "not measured" for d in DIMENSIONS],
             f"{len(m['tasks'])}/{n_tasks}"] for m in result["models"]]
    return head, rows


def notes(result: dict[str, Any]) -> list[str]:
    w = result["weights"]
    notes = [f"Weights ({w['source']}): " + ", ".join(f"{d} {w[d]:.2f}" for d in DIMENSIONS)
             + ". Dimensions are 0–1, higher is better; models whose index intervals overlap "
               "share a rank (=N)."]
    missing = [d for d in DIMENSIONS
               if any(m["dimensions"][d]["value"] is None for m in result["models"])]
    if missing:
        notes.append("Not measured dimensions are left out of a model's index and the other "
                     f"weights renormalised: {', '.join(missing)}.")
    skipped = [(m["model"], s) for m in result["models"] for s in m["not_scored"]]
    for model, s in skipped:
        notes.append(f"{s['status']}: {model} · {s['task']}: {s['reason'] or 'no reason'}")
    return notes


def table_text(result: dict[str, Any]) -> str:
    """A plain-text table (what ``-o FILE`` writes for the table format)."""
    head, rows = _rows(result)
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    right = {0, 2, len(head) - 1, *range(3, 3 + len(DIMENSIONS))}

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    out = [line(head), "  ".join("-" * w for w in widths)] + [line(r) for r in rows]
    return "\n".join([*out, "", *notes(result)]) + "\n"


def rich_table(result: dict[str, Any]) -> Any:
    """The comparison as a ``rich`` table for the terminal."""
    from rich.table import Table

    head, rows = _rows(result)
    table = Table(show_edge=False, header_style="bold", pad_edge=False,
                  caption="– = not measured", caption_justify="left")
    for i, col in enumerate(head):
        table.add_column(col, justify="left" if i == 1 else "right",
                         min_width=len(col) if i > 2 else None, no_wrap=i not in (1, 2))
    for row in rows:
        table.add_row(*[("[dim]–[/]") if c == "not measured" else _escape(c) for c in row])
    return table


def to_markdown(result: dict[str, Any]) -> str:
    """The scorecard and a task × model table of primary metrics, as GitHub Markdown."""
    head, rows = _rows(result)
    out = ["| " + " | ".join(head) + " |",
           "|" + "|".join("---:" if i != 1 else "---" for i in range(len(head))) + "|"]
    out += ["| " + " | ".join(_md(c) for c in r) + " |" for r in rows]
    out += ["", *(f"- {_md(n)}" for n in notes(result)), ""]
    models = result["models"]
    if result["tasks"] and models:
        out += ["| task | metric | " + " | ".join(_md(m["model"]) for m in models) + " |",
                "|---|---|" + "---:|" * len(models)]
        for t in result["tasks"]:
            name = next((m["tasks"][t["task"]]["metric"] for m in models
                         if t["task"] in m["tasks"]), "–")
            out.append(f"| {_md(t['task'])} | {_md(str(name))} | " + " | ".join(
                _metric_text(m["tasks"].get(t["task"])) for m in models) + " |")
        out.append("")
    return "\n".join(out)


def to_csv(result: dict[str, Any]) -> str:
    """One row per model: rank, index, interval, dimensions and every task's primary metric."""
    tasks = [t["task"] for t in result["tasks"]]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["rank", "tied", "model", "index", "index_low", "index_high", *DIMENSIONS,
                     *tasks])
    for m in result["models"]:
        writer.writerow([
            m["rank"] if m["rank"] is not None else "", m["tied"], m["model"],
            *(_csv(m[k]) for k in ("index", "index_low", "index_high")),
            *(_csv(m["dimensions"][d]["value"]) for d in DIMENSIONS),
            *(_csv((m["tasks"].get(t) or {}).get("value")) for t in tasks)])
    return buffer.getvalue()


def _csv(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
