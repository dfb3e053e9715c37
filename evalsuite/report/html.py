"""Assemble the self-contained report page: sections in order, plotly.js embedded once.

The page needs no network: plotly.js is inlined in ``<head>`` and every figure is a ``<div>``
with a small ``Plotly.newPlot`` call whose data go through :func:`json_for_script`, the one
function that embeds JSON in the page.  A JSON block ``#evalsuite-report`` near the top holds
the title, time, models and runs, so ``report --index`` can list a report by reading only
the start of the file.

Sections: the **decision**, the **scorecard**, **per task** and the **methodology**
(:mod:`evalsuite.report.tables`), the figures (:mod:`evalsuite.report.figures`), the worst
examples and the run metadata (here).
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from html import escape
from typing import Any

from evalsuite import __version__
from evalsuite.report import figures as F
from evalsuite.report import generalisation as G
from evalsuite.report import time_split as T
from evalsuite.report.examples import WorstList, worst_examples
from evalsuite.report.load import Model, ReportData
from evalsuite.report.scoring import Score, Weights
from evalsuite.report.tables import (
    decision_section,
    method_section,
    not_measured,
    retention_sentences,
    retention_table,
    scorecard,
    swatch,
    task_table,
)
from evalsuite.results.files import flatten
from evalsuite.results.records import Block, DatasetInfo, Hardware, RunInfo

PLOT_CONFIG = {"displaylogo": False, "responsive": True,
               "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
META_ID = "evalsuite-report"
SECTIONS = (("decision", "Decision"), ("scorecard", "Scorecard"), ("tasks", "Per task"),
            ("radar", "Dimensions"), ("quality", "Quality per task"),
            ("generalisation", "Generalisation"),
            ("cost", "Quality vs cost"), ("latency", "Latency"), ("bias", "Bias"),
            ("safety", "Safety"), ("robustness", "Robustness"), ("worst", "Worst examples"),
            ("method", "Methodology"), ("metadata", "Run metadata"))
WORST_BUDGET = 200_000  # characters of example text in the worst-examples section
WORST_ROWS = 1200  # worst-example rows in all: fewer per (model, task) in very large reports


def build_page(data: ReportData, scores: list[Score], weights: Weights, *, title: str,
               worst_k: int = 5, created: str | None = None, policy: Any = None) -> str:
    """The whole report as one HTML string (``policy``: a
    :class:`~evalsuite.report.policy.PolicyView` for the decision section)."""
    created = created or datetime.now(timezone.utc).isoformat(timespec="seconds")
    figs = _Figures()
    order = [s.model for s in scores]
    n_records = sum(len(m.results) for m in data.models)
    shown = min(worst_k, max(1, WORST_ROWS // max(1, n_records)))
    width = max(40, min(240, WORST_BUDGET // max(1, n_records * max(shown, 1) * 3)))
    body = [
        _section("decision", "Decision", decision_section(data, scores, policy)),
        _section("scorecard", "Scorecard", scorecard(data, scores, weights)),
        _section("tasks", "Per task", task_table(data, scores)),
        _section("radar", "Dimensions", _dimensions(scores, figs)),
        _section("quality", "Quality per task", _quality(data, order, figs)),
        _section("generalisation", "Generalisation", _generalisation(data, order, figs)),
        _section("cost", "Quality vs cost", _cost(data, scores, figs)),
        _section("latency", "Latency", _latency(data, figs)),
        _section("bias", "Bias", _probe_block(data, figs, "bias", F.bias_heatmap(data),
                                              F.bias_probe)),
        _section("safety", "Safety", _probe_block(data, figs, "safety", F.safety_rates(data),
                                                  F.safety_probe)),
        _section("robustness", "Robustness",
                 _probe_block(data, figs, "robustness", F.robustness_retention(data),
                              F.robustness_probe)),
        _section("worst", "Worst examples",
                 worst_section(worst_examples(data, shown, width), worst_k)),
        _section("method", "Methodology", method_section(data, scores, weights)),
        _section("metadata", "Run metadata", metadata_section(data)),
    ]
    meta = {"generator": f"evalsuite {__version__}", "title": title, "created": created,
            "models": [m.label for m in data.models], "tasks": data.tasks,
            "runs": [str(r.run.id) for r in data.runs],
            "figures": figs.manifest}
    nav = " ".join(f'<a href="#{sid}">{escape(name)}</a>' for sid, name in SECTIONS)
    subtitle = (f"{len(data.models)} model{'s' * (len(data.models) != 1)} × "
                f"{len(data.tasks)} task{'s' * (len(data.tasks) != 1)} from "
                f"{len(data.runs)} run{'s' * (len(data.runs) != 1)} · built {escape(created)}"
                f" · evalsuite {escape(__version__)}")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{escape(title)}</title>\n"
        f'<script type="application/json" id="{META_ID}">{json_for_script(meta)}</script>\n'
        f"<style>{CSS}</style>\n"
        f'<script type="text/javascript">{_plotlyjs()}</script>\n'
        "</head>\n<body>\n"
        f'<header><h1>{escape(title)}</h1><p class="sub">{subtitle}</p>'
        f"<nav>{nav}</nav></header>\n<main>\n" + "\n".join(body) + "\n</main>\n</body>\n</html>\n"
    )


class _Figures:
    """Turns figures into ``<div>``s and keeps a manifest: div id -> number of traces."""

    def __init__(self) -> None:
        self.manifest: dict[str, int] = {}

    def add(self, fig: Any, div_id: str) -> str:
        if fig is None:
            return ""
        div_id = f"fig-{div_id}"  # never the id of a section
        self.manifest[div_id] = len(fig.data)
        height = int(fig.layout.height or 450)
        figure = rounded(fig.to_plotly_json())
        return (f'<div class="figure"><div id="{div_id}" class="plotly-graph-div" '
                f'style="height:{height}px; width:100%;"></div><script type="text/javascript">'
                f'Plotly.newPlot("{div_id}", {json_for_script(figure.get("data", []))}, '
                f'{json_for_script(figure.get("layout", {}))}, {json_for_script(PLOT_CONFIG)})'
                "</script></div>")


# -- figures ------------------------------------------------------------------------------------
def _dimensions(scores: list[Score], figs: _Figures) -> str:
    out = []
    for i, (gid, fig) in enumerate(F.dimension_figures(scores).items()):
        out.append(figs.add(fig, "radar" if i == 0 else f"radar-{gid}"))
    return "".join(out) or not_measured(
        "No dimension could be compared: no two models share a task.")


def _quality(data: ReportData, order: list[Model], figs: _Figures) -> str:
    by_family = F.quality_by_family(data, order)
    if not by_family:
        return not_measured("No record has metric values.")
    return "".join(figs.add(fig, f"quality-{family}") for family, fig in by_family.items())


def _generalisation(data: ReportData, order: list[Model], figs: _Figures) -> str:
    """Per suite: one sentence per model, the retention chart and the variants × models
    table; then the variants without a figure."""
    if not G.any_generalisation(data):
        return not_measured("No record has a <code>generalisation</code> block: run a suite "
                            "(<code>evalsuite run --suite NAME</code>, see "
                            "docs/generalisation.md).")
    per_suite = G.by_suite(data, order)
    charts = F.generalisation_figures(data, order)
    parts = ['<p>How much of each model\'s score on a suite\'s reference task it keeps on '
             "each shifted variant (retention, 95% interval; red: the whole interval below "
             "100%), and its worst-served variant. Retention is relative to each model's own "
             "reference score: read it beside that score. See <a href=\"#method\">"
             "Methodology</a>.</p>"]
    for i, (suite, items) in enumerate(per_suite.items()):
        skipped = [ms.model.label for ms in items if not ms.retained]
        note = (f'<p class="nm">Not drawn, nothing to retain (not above chance on '
                f"{escape(items[0].reference_task)}): {escape(', '.join(skipped))}.</p>"
                if skipped else "")
        parts.append(f"<h3>{escape(suite)}</h3>" + retention_sentences(items)
                     + figs.add(charts.get(suite), f"generalisation-{i}") + note
                     + retention_table(items))
    missing = G.not_computed(data)
    if missing:
        items_html = "".join(f"<li>{swatch(m)}{escape(m.label)} · {escape(e.task)}: "
                             f"{escape(str(g.reason or g.status))}</li>"
                             for m, e, g in missing[:200])
        parts.append(f"<details><summary>Variants without a figure ({len(missing)})"
                     f"</summary><ul class=\"nm\">{items_html}</ul></details>")
    return "".join(parts)


def _cost(data: ReportData, scores: list[Score], figs: _Figures) -> str:
    html = figs.add(F.quality_vs_cost(data, scores), "cost")
    if not html:
        return not_measured("No record has both a primary metric and throughput or memory "
                            "figures.")
    return html + f'<p class="caption">{escape(F.quality_vs_cost_caption(data))}</p>'


def _latency(data: ReportData, figs: _Figures) -> str:
    lat = figs.add(F.latency(data), "latency") or not_measured(
        "No record has latency percentiles (efficiency.latency_ms).")
    bs1 = figs.add(F.latency_bs1(data), "latency-bs1") or not_measured(
        "Batch-size-1 latency: not measured (run with <code>--profile latency</code>).")
    sweep = figs.add(F.batch_sweep(data), "sweep") or not_measured(
        "Batch-size sweep: not measured (no record has efficiency.sweep).")
    split = figs.add(T.time_split(data), "time-split")
    split = (split + f'<p class="caption">{escape(T.time_split_caption(data))}</p>' if split
             else not_measured("Time split: not measured (no record has efficiency.split_s)."))
    fixed = [m.label for m in data.models if m.fixed_outputs]
    note = (f'<p class="nm">Not measured (fixed outputs read from a file): '
            f"{escape(', '.join(fixed))}.</p>" if fixed else "")
    return (note + lat + "<h3>One example per call</h3>" + bs1 + "<h3>Batch-size sweep</h3>"
            + sweep + "<h3>Where the time goes</h3>" + split)


def _probe_block(data: ReportData, figs: _Figures, block: str, fig: Any,
                 known: Any) -> str:
    """A probe block's figure (or a 'not measured' note), the probes that did not apply in
    one line each, and a table of figures of unknown shape."""
    html = figs.add(fig, block)
    statuses: dict[str, dict[str, Any]] = {}
    other = []
    for m, e in data.entries():
        for name, probe in (e.record.section(block) or {}).items():
            if known(probe):
                continue
            if probe.status in ("not_applicable", "failed"):
                line = statuses.setdefault(f"{name}\0{probe.status}",
                                           {"name": name, "status": probe.status,
                                            "pairs": 0, "reasons": {}})
                line["pairs"] += 1
                reason = str(probe.reason or "no reason recorded")
                line["reasons"][reason] = line["reasons"].get(reason, 0) + 1
            else:
                other.append((m, e, name, probe))
    if statuses:
        rows = "".join(
            f"<tr><td>{escape(s['name'])}</td><td class=\"status-{escape(s['status'])}\">"
            f"{escape(s['status'].replace('_', ' '))}</td><td class=\"num\">{s['pairs']}</td>"
            f"<td>{_reasons(s['reasons'])}</td></tr>"
            for s in sorted(statuses.values(), key=lambda s: (s["status"], s["name"])))
        html += ("<details class=\"statuses\"><summary>Probes without a figure, one line per "
                 f"probe ({len(statuses)})</summary><table><thead><tr><th>probe</th>"
                 "<th>status</th><th>(model, task) pairs</th><th>why</th></tr></thead>"
                 f"<tbody>{rows}</tbody></table></details>")
    if other:
        rows = "".join(
            f"<tr><td>{swatch(m)}{escape(m.label)}</td><td>{escape(e.task)}</td>"
            f"<td>{escape(name)}</td><td>{_figures_text(probe)}</td></tr>"
            for m, e, name, probe in other[:500])
        html += (f"<h3>Other {escape(block)} figures</h3><table><thead><tr><th>model</th>"
                 f"<th>task</th><th>probe</th><th>figures</th></tr></thead><tbody>{rows}"
                 "</tbody></table>")
    if not html:
        html = not_measured(f"No result record has a <code>{escape(block)}</code> block.")
    models_without = [m.label for m in data.models
                      if m.results and not any(e.record.section(block)
                                               for e in m.results.values())]
    if html and fig is not None and models_without:
        html += (f'<p class="nm">{escape(block.capitalize())} not measured for: '
                 f"{escape(', '.join(models_without))}.</p>")
    return html


def _reasons(reasons: dict[str, int]) -> str:
    top = sorted(reasons.items(), key=lambda kv: -kv[1])
    text = "; ".join(f"{escape(r)}" + (f" (×{n})" if n > 1 else "") for r, n in top[:3])
    return text + (f"; … {len(top) - 3} other reasons" if len(top) > 3 else "")


def worst_section(lists: list[WorstList], k: int) -> str:
    """Per task, one table of each model's lowest-scoring examples (collapsed)."""
    if not lists:
        return not_measured("No scored records.")
    by_task: dict[str, list[WorstList]] = {}
    for item in lists:
        by_task.setdefault(item.task, []).append(item)
    width = max((len(r.input) for item in lists for r in item.rows), default=0)
    shown = max((len(item.rows) for item in lists), default=0)
    cut = f"; texts cut to {width} characters" if width else ""
    fewer = (f" (here {shown}, fewer than {k}, to keep the report small)" if 0 < shown < k
             and any(item.total > shown for item in lists) else "")
    parts = [f"<p>The lowest-scoring examples of each model on each task{fewer}, by its "
             f"per-example primary score{cut}.</p>"]
    for task, items in by_task.items():
        rows, notes = [], []
        for item in items:
            who = f"{swatch(item.model)}{escape(item.model.label)}"
            if item.note:
                notes.append(f"<li>{who}: {escape(item.note)}</li>")
                continue
            rows += [f'<tr><td class="num">{r.score:.3f}</td><td>{who}</td>'
                     f"<td><code>{escape(r.id)}</code></td><td>{escape(r.input)}</td>"
                     f"<td>{escape(r.prediction)}</td><td>{escape(r.reference)}</td></tr>"
                     for r in item.rows]
        table = ('<table class="examples"><thead><tr><th>score</th><th>model</th><th>id</th>'
                 "<th>input</th><th>prediction</th><th>reference</th></tr></thead><tbody>"
                 + "".join(rows) + "</tbody></table>") if rows else ""
        metric = items[0].metric
        parts.append(f"<details><summary>{escape(task)} <small>({escape(metric)}; "
                     f"{len(items)} model{'s' * (len(items) != 1)})</small></summary>{table}"
                     + (f"<ul class=\"nm\">{''.join(notes)}</ul>" if notes else "")
                     + "</details>")
    return "".join(parts)


def metadata_section(data: ReportData) -> str:
    """Runs, hardware, packages, models, datasets: enough to reproduce every figure."""
    run_rows = []
    for run in data.runs:
        meta, hw = run.run, run.run.hardware or Hardware()
        gpus = ", ".join(f"{g.name} ({g.memory_gb} GB)" for g in hw.gpus or [])
        hardware = "; ".join(filter(None, [
            str(hw.platform or ""), f"{hw.cpu_count} CPUs" if hw.cpu_count else "",
            f"{hw.memory_gb} GB RAM" if hw.memory_gb else "",
            f"GPU: {gpus}" if gpus else "", f"Python {hw.python}" if hw.python else ""]))
        folder = escape(str(run.path.resolve()))
        run_rows.append(
            f'<tr><td>{escape(str(meta.id))}<span class="path">{folder}'
            "</span></td>" + "".join(f"<td>{escape(str(v))}</td>" for v in (
            when(meta.created), when(meta.finished), meta.status or "–",
            meta.evalsuite_version, meta.config_hash, meta.git_commit or "–",
            _settings(meta), hardware or "–", meta.source or "–")) + "</tr>")
    runs = ('<h3>Runs</h3><div class="scroll"><table class="runs"><thead><tr><th>run</th>'
            "<th>created (UTC)</th><th>finished (UTC)</th><th>status</th><th>evalsuite</th>"
            "<th>config hash</th><th>git commit</th>"
            "<th>settings</th><th>hardware</th><th>source</th></tr></thead>"
            f"<tbody>{''.join(run_rows)}</tbody></table></div>")
    return runs + _models_table(data) + _datasets_table(data) + _packages_table(data)


def when(value: Any) -> str:
    """An ISO time as ``YYYY-MM-DD HH:MM:SS`` in UTC (as written when it does not parse)."""
    if not value:
        return "–"
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _settings(meta: RunInfo) -> str:
    values = {"seed": meta.seed, "resamples": meta.resamples, "limit": meta.limit,
              "sample": meta.sample}
    return ", ".join(f"{k}={v}" for k, v in values.items() if v is not None) or "–"


def _models_table(data: ReportData) -> str:
    rows = []
    for m in data.models:
        ident = m.identity
        options = ", ".join(f"{k}={v}" for k, v in (ident.get("options") or {}).items())
        devices = sorted({str(e.record.efficiency.device) for e in m.results.values()
                          if e.record.efficiency is not None and e.record.efficiency.device})
        runs = sorted({e.run_id for e in [*m.results.values(), *m.not_scored]})
        rows.append("<tr>" + f"<td>{swatch(m)}{escape(m.label)}</td>" + "".join(
            f"<td>{escape(str(v))}</td>" for v in (
                m.spec or "–", ident.get("revision") or "–", ident.get("fingerprint") or "–",
                m.dtype or "–", ", ".join(devices) or "–", options or "–",
                ", ".join(runs))) + "</tr>")
    return ('<h3>Models</h3><div class="scroll"><table><thead><tr><th>model</th><th>spec</th>'
            "<th>revision</th><th>weights fingerprint</th><th>dtype</th><th>device</th>"
            "<th>options</th><th>figures from run</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _datasets_table(data: ReportData) -> str:
    rows = []
    for task in data.tasks:
        seen: dict[str, dict[str, Any]] = {}
        versions: set[str] = set()
        for _, entry in data.entries(task):
            ds = entry.record.dataset or DatasetInfo()
            seen.setdefault(json.dumps(ds.to_dict(), sort_keys=True, default=str), ds)
            if entry.record.task_version:
                versions.add(str(entry.record.task_version))
        for ds in seen.values() or [DatasetInfo()]:
            digest = ds.content_sha256 or ds.fingerprint
            rows.append("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in (
                task, data.families[task], ", ".join(sorted(versions)) or "–",
                ds.path or "–", ds.name or "–", ds.split or "–", ds.revision or "–",
                (str(digest)[:16] if digest else "–"),
                "–" if ds.n_selected is None else ds.n_selected)) + "</tr>")
    return ('<h3>Tasks and datasets</h3><div class="scroll"><table><thead><tr><th>task</th>'
            "<th>family</th><th>task version</th><th>dataset</th><th>config</th><th>split</th>"
            "<th>revision</th><th>content hash</th><th>examples</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _packages_table(data: ReportData) -> str:
    names: list[str] = []
    for run in data.runs:
        names += [n for n in (run.run.packages or {}) if n not in names]
    if not names:
        return ""
    head = "".join(f"<th>{escape(str(r.run.id))}</th>" for r in data.runs)
    rows = "".join(
        f"<tr><td>{escape(n)}</td>" + "".join(
            f"<td>{escape(str((r.run.packages or {}).get(n, '–')))}</td>"
            for r in data.runs) + "</tr>" for n in names)
    return (f'<details><summary>Package versions</summary><div class="scroll"><table><thead>'
            f"<tr><th>package</th>{head}</tr></thead><tbody>{rows}</tbody></table></div>"
            "</details>")


# -- helpers ------------------------------------------------------------------------------------
def _section(sid: str, title: str, content: str) -> str:
    return f'<section id="{sid}"><h2>{escape(title)}</h2>{content}</section>'


def _figures_text(probe: Block) -> str:
    flat = flatten(probe.to_dict())
    parts = [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
             for k, v in list(flat.items())[:20]]
    return escape(", ".join(parts))[:600]


_SCRIPT_UNSAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                                "\u2028": "\\u2028", "\u2029": "\\u2029"})


def json_for_script(data: Any) -> str:
    """``data`` as JSON safe inside any ``<script>`` element: the one place the page embeds
    JSON.  Model, task, example and rule names come from users and datasets; the HTML parser
    ends a script at ``</script`` and changes state at ``<!--``, so ``<``, ``>`` and ``&`` are
    written as ``\\u003c``, ``\\u003e``, ``\\u0026`` (the same string once parsed) and
    U+2028/U+2029 as ``\\u2028``/``\\u2029`` (line terminators in older JavaScript).

    >>> json_for_script({"model": "</script><!--"})
    '{"model":"\\\\u003c/script\\\\u003e\\\\u003c!--"}'
    """
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=_json_default)
    return text.translate(_SCRIPT_UNSAFE)


def rounded(obj: Any, digits: int = 6) -> Any:
    """``obj`` with every float cut to ``digits`` significant digits (what a figure shows;
    it keeps the embedded figures small)."""
    if isinstance(obj, float):
        return float(f"{obj:.{digits}g}") if math.isfinite(obj) else obj
    if isinstance(obj, dict):
        return {k: rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [rounded(v, digits) for v in obj]
    return obj


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_PLOTLYJS: list[str] = []


def _plotlyjs() -> str:
    if not _PLOTLYJS:
        from plotly.offline import get_plotlyjs

        _PLOTLYJS.append(get_plotlyjs())
    return _PLOTLYJS[0]


CSS = """
:root { --ink:#1f2328; --muted:#5b636b; --line:#d8dee4; --bg:#f6f8fa; --accent:#0b5cad; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',
  Arial,sans-serif; color:var(--ink); background:white; }
header { padding:18px 32px 10px; border-bottom:1px solid var(--line); background:var(--bg);
  position:sticky; top:0; z-index:10; }
header h1 { margin:0; font-size:22px; }
header .sub { margin:2px 0 8px; color:var(--muted); font-size:13px; }
nav a { margin-right:14px; font-size:13px; color:var(--accent); text-decoration:none;
  white-space:nowrap; }
nav a:hover { text-decoration:underline; }
main { padding:8px 32px 48px; max-width:1400px; }
section { padding-top:10px; border-bottom:1px solid var(--line); padding-bottom:18px; }
section:last-child { border-bottom:none; }
h2 { font-size:19px; margin:18px 0 8px; scroll-margin-top:110px; }
h3 { font-size:16px; margin:16px 0 6px; }
h4 { font-size:14px; margin:12px 0 4px; }
table { border-collapse:collapse; margin:6px 0 10px; font-size:13px; }
th, td { border:1px solid var(--line); padding:4px 8px; vertical-align:top; text-align:left; }
th { background:var(--bg); font-weight:600; }
td.num, td.rank { text-align:right; font-variant-numeric:tabular-nums; }
td.rank { font-weight:700; font-size:15px; }
table.scorecard td { min-width:84px; }
table.scorecard .val { font-weight:600; font-variant-numeric:tabular-nums; }
table.scorecard .pm { color:var(--muted); font-size:12px; }
table.scorecard .how { display:block; color:var(--muted); font-size:11px; line-height:1.3;
  max-width:150px; font-weight:normal; }
.bar { display:block; height:5px; background:#e8ebef; border-radius:3px; margin:2px 0 3px;
  max-width:110px; }
.bar span { display:block; height:100%; background:#6b7785; border-radius:3px; }
.bar.strong span { background:#0b5cad; }
td.nm, p.nm { color:var(--muted); font-style:italic; }
.not-measured { color:var(--muted); background:var(--bg); border:1px dashed var(--line);
  padding:10px 14px; border-radius:6px; }
.warn { background:#fff8e5; border-left:4px solid #d4a72c; padding:6px 10px; }
.swatch { display:inline-block; width:11px; height:11px; border-radius:2px;
  margin-right:6px; vertical-align:-1px; border:1px solid rgba(0,0,0,.25); }
.status-failed { color:#b42318; font-weight:600; }
.status-skipped { color:#8a6d00; font-weight:600; }
.figure { margin:6px 0 14px; }
.caption { color:var(--muted); font-size:13px; margin:-6px 0 10px; max-width:1100px; }
details { margin:6px 0; }
details summary { cursor:pointer; color:var(--accent); }
table.examples td { max-width:420px; overflow-wrap:anywhere; }
.scroll { overflow-x:auto; }
table.runs td:nth-child(-n+4) { white-space:nowrap; }
table.runs td:nth-child(9) { min-width:240px; }
table.runs td:last-child { overflow-wrap:anywhere; min-width:140px; }
table.runs .path { display:block; white-space:normal; overflow-wrap:anywhere; max-width:240px;
  color:var(--muted); font-size:11px; }
details.method ul { margin:4px 0; padding-left:22px; font-size:13px; color:var(--muted); }
code { font-size:12px; }
.badge { display:inline-block; font-size:11px; line-height:1.3; padding:0 6px;
  border-radius:9px; background:#eef1f4; color:var(--muted); white-space:nowrap; }
.badge.low, td.low, .flag b { color:#b42318; }
.badge.low { background:#fdecea; }
tr.low td { background:#fffafa; }
.flag { background:#fdf3f2; border-left:4px solid #b42318; padding:6px 10px; margin:8px 0; }
.flag ul { margin:4px 0; }
p.verdict { font-size:16px; }
tr.grouprow td { background:var(--bg); font-weight:600; }
td.cost { min-width:190px; font-size:12px; }
td.cost span { display:block; }
table.tasks td { min-width:70px; }
table.tasks td.chance { color:var(--muted); }
table.tasks .how { display:block; color:var(--muted); font-size:11px; font-weight:normal; }
table.tasks th .how { display:block; color:var(--muted); font-size:11px; font-weight:normal; }
table.gen td .how, .gen .how { display:block; color:var(--muted); font-size:11px;
  font-weight:normal; }
table.gen td.low, .gen .how.low { color:#b42318; }
td.gen { min-width:120px; }
ul.gen { margin:4px 0 8px; padding-left:20px; }
"""
