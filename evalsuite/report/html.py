"""Assemble the self-contained report page: sections in order, plotly.js embedded once.

The page needs no network: plotly.js is inlined in ``<head>`` and every figure is a ``<div>``
with a small ``Plotly.newPlot`` call.  A JSON block ``#evalsuite-report`` near the top holds
the title, time, models and runs, so ``report --index`` can list a report by reading only
the start of the file.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from html import escape
from typing import Any

import plotly.io as pio

from evalsuite import __version__
from evalsuite.report import figures as F
from evalsuite.report import time_split as T
from evalsuite.report.embed import script_json
from evalsuite.report.examples import WorstList, worst_examples
from evalsuite.report.load import Model, ReportData
from evalsuite.report.scoring import DIMENSIONS, Score, Weights
from evalsuite.results.files import flatten

PLOT_CONFIG = {"displaylogo": False, "responsive": True,
               "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
META_ID = "evalsuite-report"
SECTIONS = (("scorecard", "Scorecard"), ("radar", "Dimensions"),
            ("quality", "Quality per task"), ("cost", "Quality vs cost"),
            ("latency", "Latency"), ("bias", "Bias"), ("safety", "Safety"),
            ("robustness", "Robustness"), ("worst", "Worst examples"),
            ("metadata", "Run metadata"))
UNIT = {"quality": "tasks", "efficiency": "tasks", "fairness": "probes", "safety": "probes",
        "robustness": "perturbations"}


def build_page(data: ReportData, scores: list[Score], weights: Weights, *, title: str,
               worst_k: int = 5, created: str | None = None) -> str:
    """The whole report as one HTML string."""
    created = created or datetime.now(timezone.utc).isoformat(timespec="seconds")
    figs = _Figures()
    body = [
        _section("scorecard", "Scorecard", scorecard(data, scores, weights)),
        _section("radar", "Dimensions", figs.add(F.radar(scores), "radar")
                 or not_measured("No dimension could be derived for any model.")),
        _section("quality", "Quality per task", _quality(data, figs)),
        _section("cost", "Quality vs cost", _cost(data, figs)),
        _section("latency", "Latency", _latency(data, figs)),
        _section("bias", "Bias", _probe_block(data, figs, "bias", F.bias_heatmap(data),
                                              F.bias_probe)),
        _section("safety", "Safety", _probe_block(data, figs, "safety", F.safety_rates(data),
                                                  F.safety_probe)),
        _section("robustness", "Robustness",
                 _probe_block(data, figs, "robustness", F.robustness_retention(data),
                              F.robustness_probe)),
        _section("worst", "Worst examples", worst_section(worst_examples(data, worst_k),
                                                          worst_k)),
        _section("metadata", "Run metadata", metadata_section(data)),
    ]
    meta = {"generator": f"evalsuite {__version__}", "title": title, "created": created,
            "models": [m.label for m in data.models], "tasks": data.tasks,
            "runs": [str(r.run.get("id")) for r in data.runs],
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
        f'<script type="application/json" id="{META_ID}">{_json_script(meta)}</script>\n'
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
        height = fig.layout.height or 450
        return '<div class="figure">' + pio.to_html(
            fig, include_plotlyjs=False, full_html=False, div_id=div_id, config=PLOT_CONFIG,
            default_height=f"{height}px", validate=False) + "</div>"


# -- sections -----------------------------------------------------------------------------------
def scorecard(data: ReportData, scores: list[Score], weights: Weights) -> str:
    """The ranked table: index with interval, each dimension and how it was derived."""
    head = "".join(f'<th>{d}<span class="how">{escape(_header_how(data, d))}</span></th>'
                   for d in DIMENSIONS)
    rows = []
    for s in scores:
        cells = []
        for d in DIMENSIONS:
            dim = s.dimensions[d]
            if not dim.measured:
                cells.append('<td class="nm" title="not measured: left out of the index">'
                             "not measured</td>")
                continue
            pm = f" ± {dim.half_width:.3f}" if dim.half_width else ""
            cells.append(
                f'<td title="{escape(dim.how)}"><span class="val">{dim.value:.3f}</span>'
                f'<span class="pm">{pm}</span>{_bar(dim.value)}'  # type: ignore[arg-type]
                f'<span class="how">over {dim.n} {UNIT[d] if dim.n != 1 else UNIT[d][:-1]}'
                "</span></td>")
        if s.index is None:
            index = '<td class="nm">no measured dimension</td>'
        else:
            used = ", ".join(f"{d} {w:.2f}" for d, w in s.weights.items())
            index = (f'<td class="index" title="weights used: {escape(used)}">'
                     f'<span class="val">{s.index:.3f}</span>{_bar(s.index, strong=True)}'
                     f'<span class="how">[{s.low:.3f}, {s.high:.3f}]</span></td>')
        tasks = f"{len(s.model.results)}/{len(data.tasks)}"
        rows.append(f'<tr><td class="rank">{s.rank_text}</td><td>{_swatch(s.model)}'
                    f"{escape(s.model.label)}</td>{index}{''.join(cells)}"
                    f'<td class="num">{tasks}</td></tr>')
    table = (f'<table class="scorecard"><thead><tr><th>rank</th><th>model</th>'
             f"<th>usability index<br><small>[interval]</small></th>{head}<th>tasks</th>"
             f"</tr></thead><tbody>{''.join(rows)}</tbody></table>")
    notes = [f"<p><b>Weights</b> ({escape(weights.describe())}). Each dimension is 0–1, "
             f"higher is better; the index is their weighted mean.</p>"]
    notes += _exclusion_notes(data, scores)
    notes.append(DERIVATION)
    return table + "".join(notes) + not_scored_list(data)


def _header_how(data: ReportData, dimension: str) -> str:
    """How a dimension is derived, in a few words (the full method is below the table)."""
    if dimension == "safety":
        names = sorted({str(p.get("classifier")) for _, e in data.entries()
                        for p in (e.record.get("safety") or {}).values()
                        if isinstance(p, dict) and p.get("classifier")})
        return "1 − share of outputs flagged" + (f" by {', '.join(names)}" if names else "")
    return {"quality": "mean primary metric, normalised to 0–1",
            "efficiency": "examples/s and peak memory vs the best model per task, log scale",
            "fairness": "1 − mean largest gap between groups",
            "robustness": "mean share of the clean score kept"}[dimension]


def _exclusion_notes(data: ReportData, scores: list[Score]) -> list[str]:
    out = []
    everyone = [d for d in DIMENSIONS if all(not s.dimensions[d].measured for s in scores)]
    some = {d: [s.model.label for s in scores if not s.dimensions[d].measured]
            for d in DIMENSIONS if d not in everyone}
    parts = []
    if everyone:
        parts.append(f"{', '.join(everyone)} (no model)")
    parts += [f"{d} ({', '.join(map(escape, labels))})" for d, labels in some.items() if labels]
    if parts:
        out.append('<p class="warn"><b>Not measured</b>, so left out of the index with the '
                   f"remaining weights renormalised to sum to 1: {'; '.join(parts)}.</p>")
    counts = {len(m.results) for m in data.models if m.results}
    if len(counts) > 1:
        out.append('<p class="warn">Models cover different sets of tasks (see the '
                   "<i>tasks</i> column); quality and efficiency average over each model's "
                   "own tasks, so compare them with care.</p>")
    return out


DERIVATION = """<details class="method"><summary>How the dimensions, intervals and ranks are
derived</summary><ul>
<li><b>quality</b>: mean over the model's tasks of its primary metric normalised to 0–1
(0–100 metrics such as BLEU divided by 100; correlations and MCC clipped at 0).</li>
<li><b>efficiency</b>: per task, examples/s and peak memory relative to the best model on
that task on a log scale (1 + log10(speed/best)/3 and 1 − log10(memory/best)/3, clipped
to 0–1: ten times worse costs a third), averaged, then the mean over tasks.</li>
<li><b>fairness</b>: 1 − the mean largest gap between groups over the bias probes.</li>
<li><b>safety</b>: 1 − the mean share of outputs the safety classifier flagged.</li>
<li><b>robustness</b>: the mean share of the clean score kept under the perturbations.</li>
<li><b>interval</b>: each dimension's half-width comes from the intervals in the result
files (bootstrap 95% intervals of the metrics, the bias probes' intervals, the binomial
error of each safety rate), combined over tasks as sqrt(Σh²)/n and over dimensions as
sqrt(Σ(w·h)²); efficiency and robustness carry none.</li>
<li><b>rank</b>: 1 + the number of models whose whole interval lies above this model's.
Models whose intervals overlap can share a rank, shown as “=2”.</li>
</ul></details>"""


def not_scored_list(data: ReportData) -> str:
    """Skipped and failed records with their reasons."""
    items = data.not_scored
    if not items:
        return ""
    rows = "".join(
        f"<tr><td>{_swatch(m)}{escape(m.label)}</td><td>{escape(e.task)}</td>"
        f'<td class="status-{escape(e.status)}">{escape(e.status)}</td>'
        f"<td>{escape(str(e.record.get('reason') or 'no reason recorded'))}</td>"
        f"<td>{escape(e.run_id)}</td></tr>" for m, e in items)
    return ('<h3>Not scored</h3><p>These (model, task) pairs have no scores and are not in '
            "the figures:</p><table><thead><tr><th>model</th><th>task</th><th>status</th>"
            f"<th>reason</th><th>run</th></tr></thead><tbody>{rows}</tbody></table>")


def _quality(data: ReportData, figs: _Figures) -> str:
    by_family = F.quality_by_family(data)
    if not by_family:
        return not_measured("No record has metric values.")
    return "".join(figs.add(fig, f"quality-{family}") for family, fig in by_family.items())


def _cost(data: ReportData, figs: _Figures) -> str:
    html = figs.add(F.quality_vs_cost(data), "cost")
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
    return (lat + "<h3>One example per call</h3>" + bs1 + "<h3>Batch-size sweep</h3>" + sweep
            + "<h3>Where the time goes</h3>" + split)


def _probe_block(data: ReportData, figs: _Figures, block: str, fig: Any,
                 known: Any) -> str:
    """A probe block's figure (or a 'not measured' note) plus a table of unknown shapes."""
    html = figs.add(fig, block)
    other = [(m, e, name, probe) for m, e in data.entries()
             for name, probe in (e.record.get(block) or {}).items() if not known(probe)]
    if other:
        rows = "".join(
            f"<tr><td>{_swatch(m)}{escape(m.label)}</td><td>{escape(e.task)}</td>"
            f"<td>{escape(name)}</td><td>{_figures_text(probe)}</td></tr>"
            for m, e, name, probe in other[:500])
        html += (f"<h3>Other {escape(block)} figures</h3><table><thead><tr><th>model</th>"
                 f"<th>task</th><th>probe</th><th>figures</th></tr></thead><tbody>{rows}"
                 "</tbody></table>")
    if not html:
        html = not_measured(f"No result record has a <code>{escape(block)}</code> block.")
    models_without = [m.label for m in data.models
                      if m.results and not any((e.record.get(block) or {})
                                               for e in m.results.values())]
    if html and fig is not None and models_without:
        html += (f'<p class="nm">{escape(block.capitalize())} not measured for: '
                 f"{escape(', '.join(models_without))}.</p>")
    return html


def worst_section(lists: list[WorstList], k: int) -> str:
    """Per task, each model's ``k`` lowest-scoring examples (collapsed)."""
    if not lists:
        return not_measured("No scored records.")
    by_task: dict[str, list[WorstList]] = {}
    for item in lists:
        by_task.setdefault(item.task, []).append(item)
    parts = [f"<p>The {k} lowest-scoring examples of each model on each task (by its "
             "per-example primary score; texts cut to keep the report small).</p>"]
    for task, items in by_task.items():
        inner = []
        for item in items:
            head = (f"<h4>{_swatch(item.model)}{escape(item.model.label)} "
                    f"<small>{escape(item.metric)}, worst {len(item.rows)} of "
                    f"{item.total}</small></h4>")
            if item.note:
                inner.append(head + not_measured(escape(item.note)))
                continue
            rows = "".join(
                f'<tr><td class="num">{r.score:.3f}</td><td><code>{escape(r.id)}</code></td>'
                f"<td>{escape(r.input)}</td><td>{escape(r.prediction)}</td>"
                f"<td>{escape(r.reference)}</td></tr>" for r in item.rows)
            inner.append(head + '<table class="examples"><thead><tr><th>score</th>'
                         "<th>id</th><th>input</th><th>prediction</th><th>reference</th>"
                         f"</tr></thead><tbody>{rows}</tbody></table>")
        parts.append(f"<details><summary>{escape(task)} <small>({len(items)} model"
                     f"{'s' * (len(items) != 1)})</small></summary>{''.join(inner)}"
                     "</details>")
    return "".join(parts)


def metadata_section(data: ReportData) -> str:
    """Runs, hardware, packages, models, datasets: enough to reproduce every figure."""
    run_rows = []
    for run in data.runs:
        meta, hw = run.run, run.run.get("hardware") or {}
        gpus = ", ".join(f"{g.get('name')} ({g.get('memory_gb')} GB)"
                         for g in hw.get("gpus") or [] if isinstance(g, dict))
        hardware = "; ".join(filter(None, [
            str(hw.get("platform") or ""), f"{hw['cpu_count']} CPUs" if hw.get("cpu_count")
            else "", f"{hw['memory_gb']} GB RAM" if hw.get("memory_gb") else "",
            f"GPU: {gpus}" if gpus else "", f"Python {hw['python']}" if hw.get("python")
            else ""]))
        folder = escape(str(run.path.resolve()))
        run_rows.append(
            f'<tr><td>{escape(str(meta.get("id")))}<span class="path">{folder}'
            "</span></td>" + "".join(f"<td>{escape(str(v))}</td>" for v in (
            when(meta.get("created")), when(meta.get("finished")),
            meta.get("status", "–"), meta.get("evalsuite_version"), meta.get("config_hash"),
            meta.get("git_commit") or "–", _settings(meta), hardware or "–",
            meta.get("source") or "–")) + "</tr>")
    runs = ('<h3>Runs</h3><div class="scroll"><table class="runs"><thead><tr><th>run</th>'
            "<th>created (UTC)</th><th>finished (UTC)</th><th>status</th><th>evalsuite</th>"
            "<th>config hash</th><th>git commit</th>"
            "<th>settings</th><th>hardware</th><th>source</th></tr></thead>"
            f"<tbody>{''.join(run_rows)}</tbody></table></div>")
    return runs + _models_table(data) + _datasets_table(data) + _packages_table(data) + \
        _superseded(data)


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


def _settings(meta: dict[str, Any]) -> str:
    keys = ("seed", "resamples", "limit", "sample")
    return ", ".join(f"{k}={meta[k]}" for k in keys if meta.get(k) is not None) or "–"


def _models_table(data: ReportData) -> str:
    rows = []
    for m in data.models:
        ident = m.identity
        options = ", ".join(f"{k}={v}" for k, v in (ident.get("options") or {}).items())
        devices = sorted({str((e.record.get("efficiency") or {}).get("device"))
                          for e in m.results.values()
                          if (e.record.get("efficiency") or {}).get("device")})
        runs = sorted({e.run_id for e in [*m.results.values(), *m.not_scored]})
        rows.append("<tr>" + f"<td>{_swatch(m)}{escape(m.label)}</td>" + "".join(
            f"<td>{escape(str(v))}</td>" for v in (
                m.spec or "–", ident.get("revision") or "–", ident.get("fingerprint") or "–",
                m.dtype or "–", ", ".join(devices) or "–", options or "–",
                ", ".join(runs))) + "</tr>")
    return ("<h3>Models</h3><table><thead><tr><th>model</th><th>spec</th><th>revision</th>"
            "<th>weights fingerprint</th><th>dtype</th><th>device</th><th>options</th>"
            f"<th>figures from run</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _datasets_table(data: ReportData) -> str:
    rows = []
    for task in data.tasks:
        seen: dict[str, dict[str, Any]] = {}
        versions: set[str] = set()
        for _, entry in data.entries(task):
            ds = entry.record.get("dataset") or {}
            seen.setdefault(json.dumps(ds, sort_keys=True, default=str), ds)
            if entry.record.get("task_version"):
                versions.add(str(entry.record["task_version"]))
        for ds in seen.values() or [{}]:
            digest = ds.get("content_sha256") or ds.get("fingerprint")
            rows.append("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in (
                task, data.families[task], ", ".join(sorted(versions)) or "–",
                ds.get("path") or "–", ds.get("name") or "–", ds.get("split") or "–",
                ds.get("revision") or "–", (str(digest)[:16] if digest else "–"),
                ds.get("n_selected", "–"))) + "</tr>")
    return ("<h3>Tasks and datasets</h3><table><thead><tr><th>task</th><th>family</th>"
            "<th>task version</th><th>dataset</th><th>config</th><th>split</th>"
            "<th>revision</th><th>content hash</th><th>examples</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _packages_table(data: ReportData) -> str:
    names: list[str] = []
    for run in data.runs:
        names += [n for n in (run.run.get("packages") or {}) if n not in names]
    if not names:
        return ""
    head = "".join(f"<th>{escape(str(r.run.get('id')))}</th>" for r in data.runs)
    rows = "".join(
        f"<tr><td>{escape(n)}</td>" + "".join(
            f"<td>{escape(str((r.run.get('packages') or {}).get(n, '–')))}</td>"
            for r in data.runs) + "</tr>" for n in names)
    return (f"<details><summary>Package versions</summary><table><thead><tr><th>package"
            f"</th>{head}</tr></thead><tbody>{rows}</tbody></table></details>")


def _superseded(data: ReportData) -> str:
    if not data.superseded:
        return ""
    items = "".join(f"<li>{escape(e.record['model'])} · {escape(e.task)} from run "
                    f"{escape(e.run_id)} ({escape(e.status)})</li>" for e in data.superseded)
    return ("<details><summary>Records replaced by a later run of the same model and task "
            f"({len(data.superseded)})</summary><ul>{items}</ul></details>")


# -- helpers ------------------------------------------------------------------------------------
def not_measured(message: str) -> str:
    """The note a section shows instead of a blank chart (``message`` is trusted HTML)."""
    return f'<p class="not-measured"><b>Not measured.</b> {message}</p>'


def _section(sid: str, title: str, content: str) -> str:
    return f'<section id="{sid}"><h2>{escape(title)}</h2>{content}</section>'


def _swatch(model: Model) -> str:
    return f'<span class="swatch" style="background:{model.colour}"></span>'


def _bar(value: float, strong: bool = False) -> str:
    cls = "bar strong" if strong else "bar"
    return f'<span class="{cls}"><span style="width:{100 * max(0.0, min(1.0, value)):.0f}%">' \
           "</span></span>"


def _figures_text(probe: Any) -> str:
    if not isinstance(probe, dict):
        return escape(str(probe))[:300]
    flat = flatten(probe)
    parts = [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
             for k, v in list(flat.items())[:20]]
    return escape(", ".join(parts))[:600]


def _json_script(data: Any) -> str:
    return script_json(data)


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
table.scorecard td { min-width:110px; }
table.scorecard .val { font-weight:600; font-variant-numeric:tabular-nums; }
table.scorecard .pm { color:var(--muted); font-size:12px; }
table.scorecard .how { display:block; color:var(--muted); font-size:11px; line-height:1.3;
  max-width:190px; font-weight:normal; }
.bar { display:block; height:5px; background:#e8ebef; border-radius:3px; margin:2px 0 3px;
  max-width:140px; }
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
"""
