"""Assemble the self-contained report page: sections in order, plotly.js embedded once.

The page needs no network: plotly.js is inlined in ``<head>`` and every figure is a ``<div>``
with a small ``Plotly.newPlot`` call whose data go through :func:`json_for_script`, the one
function that embeds JSON in the page.  A JSON block ``#evalsuite-report`` near the top holds
the title, time, models and runs, so ``report --index`` can list a report by reading only
the start of the file.

Sections: the **decision** (the policy's verdict per model, or the best of each comparison
group), the **scorecard** (per comparison group: rank, index, dimensions, win rate and cost
in real units), **per task** (every primary metric against chance), the figures, the worst
examples, the **methodology** (chance baselines, skill, groups, ranks, how runs were
combined) and the run metadata.  A model below chance on a task carries ✗ wherever it
appears.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from html import escape
from typing import Any

from evalsuite import __version__
from evalsuite.report import figures as F
from evalsuite.report import time_split as T
from evalsuite.report.cost import Cost, cost_of, megabytes, si
from evalsuite.report.examples import WorstList, worst_examples
from evalsuite.report.load import Model, ReportData
from evalsuite.report.scoring import DIMENSIONS, Score, TaskScore, Weights
from evalsuite.results.files import flatten

PLOT_CONFIG = {"displaylogo": False, "responsive": True,
               "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
META_ID = "evalsuite-report"
SECTIONS = (("decision", "Decision"), ("scorecard", "Scorecard"), ("tasks", "Per task"),
            ("radar", "Dimensions"), ("quality", "Quality per task"),
            ("cost", "Quality vs cost"), ("latency", "Latency"), ("bias", "Bias"),
            ("safety", "Safety"), ("robustness", "Robustness"), ("worst", "Worst examples"),
            ("method", "Methodology"), ("metadata", "Run metadata"))
UNIT = {"quality": "tasks", "efficiency": "tasks", "fairness": "probes", "safety": "probes",
        "robustness": "perturbations"}
WORST_BUDGET = 250_000  # characters of example text in the worst-examples section
WORST_ROWS = 1200  # worst-example rows in all: fewer per (model, task) in very large reports
FLAG = "✗"


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


# -- decision -----------------------------------------------------------------------------------
def decision_section(data: ReportData, scores: list[Score], policy: Any) -> str:
    """The answer first: the policy's verdicts, or the best model of each group."""
    parts = []
    if policy is not None:
        parts.append(_policy_view(data, policy))
    else:
        parts.append(_best_of_groups(scores))
    below = [s for s in scores if s.below_chance]
    if below:
        items = "".join(
            f"<li>{_swatch(s.model)}<b>{escape(s.model.label)}</b>: "
            + "; ".join(f"{escape(t)} ({_chance_text(s.tasks[t])})" for t in s.below_chance)
            + "</li>" for s in below)
        parts.append('<div class="flag"><b>' + FLAG + " Not above chance</b> (one-sided "
                     "paired test against the task's trivial baseline, α = 0.05). Their "
                     "fairness, robustness, safety and cost on these tasks count 0 in every "
                     f"aggregate; a system that ignores its input is useless.<ul>{items}</ul>"
                     "</div>")
    alone = [s for s in scores if s.group is None and s.model.results]
    if alone:
        parts.append('<p class="nm">Not ranked, because no other model has their tasks (see '
                     "<a href=\"#tasks\">per task</a>): "
                     + ", ".join(escape(s.model.label) for s in alone) + ".</p>")
    return "".join(parts)


def _best_of_groups(scores: list[Score]) -> str:
    groups: dict[str, list[Score]] = {}
    for s in scores:
        if s.group is not None:
            groups.setdefault(s.group.id, []).append(s)
    if not groups:
        return not_measured("No two models share a task, so none is ranked; each is shown "
                            "per task.")
    rows = []
    for gid, members in groups.items():
        best = [s for s in members if s.rank == 1]
        group = members[0].group
        assert group is not None
        for s in best:
            rows.append(f"<tr><td>{gid}</td><td>{_model_cell(s)}</td>"
                        f"<td class=\"num\">{_dim_text(s, 'quality')}</td>"
                        f"<td class=\"num\">{_index_text(s)}</td>"
                        f"<td>{escape(cost_of(s.model, s.shared).short())}</td>"
                        f"<td>{escape(group.describe())}"
                        + (" (tied: intervals overlap)" if s.tied else "") + "</td></tr>")
    return ("<p>The best model of each comparison group by the usability index (models are "
            "ranked only against models scored on the same tasks). Pass "
            "<code>--policy POLICY.yaml</code> to list the models that pass your release "
            "rules instead.</p><table><thead><tr><th>group</th><th>best</th>"
            "<th>quality<br><small>skill over chance</small></th><th>index</th>"
            "<th>cost</th><th>compared on</th></tr></thead><tbody>" + "".join(rows)
            + "</tbody></table>")


def _policy_view(data: ReportData, policy: Any) -> str:
    n, ok = len(policy.verdicts), len(policy.passing)
    head = (f"<p class=\"verdict\"><b>{ok} of {n} model{'s' * (n != 1)} pass every rule</b> "
            f"of <code>{escape(str(policy.policy))}</code> (the rules of "
            "<code>evalsuite gate</code>, checked on each model's records).</p>")
    rows, current = [], None
    for s in policy.ranked:
        gid = s.group.id if s.group else None
        if gid != current and s.group is not None:
            rows.append(f'<tr class="grouprow"><td colspan="5">group {gid}: ranked on '
                        f"{escape(', '.join(s.group.tasks))}</td></tr>")
            current = gid
        elif s.group is None and current != "alone":
            rows.append('<tr class="grouprow"><td colspan="5">the only passing model on its '
                        "tasks (nothing to rank it against)</td></tr>")
            current = "alone"
        tasks = ", ".join(f"{escape(t)} {_value_text(s.tasks[t])}" for t in s.shared
                          if t in s.tasks)
        rows.append(f'<tr><td class="rank">{s.rank_text}</td><td>{_model_cell(s)}</td>'
                    f'<td class="num">{_dim_text(s, "quality")}</td><td>{tasks}</td>'
                    f"<td>{escape(policy.costs[s.model.key].short())}</td></tr>")
    passing = ("<h3>Pass: ranked by quality on the tasks they share</h3><table><thead><tr>"
               "<th>rank</th><th>model</th><th>quality<br><small>mean skill over chance"
               "</small></th><th>primary metric per task</th><th>cost</th></tr></thead>"
               f"<tbody>{''.join(rows)}</tbody></table>") if rows else ""
    failing = ""
    if policy.failing:
        frows = "".join(
            f"<tr><td>{_swatch(v.model)}{escape(v.model.label)}</td><td>{escape(v.rule or '')}"
            f"</td><td>{escape(v.message or '')}</td><td class=\"num\">{v.failed_rules} of "
            f"{v.rules}</td></tr>" for v in policy.failing)
        failing = ("<h3>Fail: the first rule each one fails</h3><table><thead><tr><th>model"
                   "</th><th>first failed rule</th><th>why</th><th>rules failed</th></tr>"
                   f"</thead><tbody>{frows}</tbody></table>")
    return head + passing + failing


# -- scorecard ----------------------------------------------------------------------------------
def scorecard(data: ReportData, scores: list[Score], weights: Weights) -> str:
    """Per comparison group: rank, index with interval, dimensions, win rate and cost."""
    out = []
    groups: dict[str, list[Score]] = {}
    for s in scores:
        if s.group is not None:
            groups.setdefault(s.group.id, []).append(s)
    head = "".join(f'<th>{d}<span class="how">{escape(_header_how(data, d))}</span></th>'
                   for d in DIMENSIONS)
    for gid, members in groups.items():
        group = members[0].group
        assert group is not None
        rows = [_score_row(s, len(group.tasks)) for s in members]
        extra = {m.label: t for m in group.models if (t := group.extra.get(m.key))}
        note = ""
        if extra:
            note = ('<p class="nm">Also scored, shown per task only (not shared by the whole '
                    "group): " + "; ".join(f"{escape(label)}: {escape(', '.join(t))}"
                                           for label, t in extra.items()) + ".</p>")
        out.append(
            f'<h3 id="group-{gid}">Group {gid}: {escape(group.describe())}</h3>'
            '<div class="scroll"><table class="scorecard"><thead><tr><th>rank</th>'
            "<th>model</th><th>usability index<br><small>[interval]</small></th>"
            f"{head}<th>win rate<span class=\"how\">share of (model, task) pairs won"
            "</span></th><th>cost<span class=\"how\">real units, over the shared tasks</span>"
            f"</th><th>tasks</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
            + note + _exclusion_note(members))
    alone = [s for s in scores if s.group is None and s.model.results]
    if alone:
        rows = "".join(
            f"<tr><td>{_model_cell(s)}</td><td>"
            + ", ".join(f"{escape(t)} {_value_text(ts)}" for t, ts in s.tasks.items())
            + f"</td><td>{escape(cost_of(s.model, s.model.results).short())}</td></tr>"
            for s in alone)
        out.append("<h3>Not ranked: alone on their tasks</h3><p>No other model was scored "
                   "on these tasks with the same examples, so there is nothing to rank them "
                   "against and no relative efficiency.</p><table><thead><tr><th>model</th>"
                   f"<th>primary metric per task</th><th>cost</th></tr></thead><tbody>{rows}"
                   "</tbody></table>")
    if not out:
        out.append(not_measured("No record has a primary metric value."))
    notes = [f"<p><b>Weights</b> ({escape(weights.describe())}). Each dimension is 0–1, "
             "higher is better; the index is their weighted mean over the dimensions every "
             "member of the group has. Quality is the skill over chance. See "
             "<a href=\"#method\">Methodology</a>.</p>"]
    nobody = [d for d in DIMENSIONS if weights.values[d] > 0
              and not any(s.dimensions[d].measured for s in scores)]
    if nobody:
        notes.append('<p class="warn"><b>Not measured</b> for any model, so left out of '
                     "every index with the remaining weights renormalised to sum to 1: "
                     f"{', '.join(nobody)}.</p>")
    return "".join(out) + "".join(notes) + not_scored_list(data)


def _score_row(s: Score, n_shared: int) -> str:
    cells = []
    for d in DIMENSIONS:
        dim = s.dimensions[d]
        if not dim.measured:
            cells.append(f'<td class="nm" title="{escape(dim.how)}">not measured</td>')
            continue
        pm = f" ± {dim.half_width:.3f}" if dim.half_width else ""
        used = "" if d in s.weights else '<span class="how">not in the index</span>'
        cells.append(
            f'<td title="{escape(dim.how)}"><span class="val">{dim.value:.3f}</span>'
            f'<span class="pm">{pm}</span>{_bar(dim.value)}'  # type: ignore[arg-type]
            f'<span class="how">over {dim.n} {UNIT[d] if dim.n != 1 else UNIT[d][:-1]}'
            f"</span>{used}</td>")
    if s.index is None:
        index = '<td class="nm">no measured dimension</td>'
    else:
        used = ", ".join(f"{d} {w:.2f}" for d, w in s.weights.items())
        index = (f'<td class="index" title="weights used: {escape(used)}">'
                 f'<span class="val">{s.index:.3f}</span>{_bar(s.index, strong=True)}'
                 f'<span class="how">[{s.low:.3f}, {s.high:.3f}]</span></td>')
    win = "–" if s.win_rate is None else f"{100 * s.win_rate:.0f}%"
    cost = cost_of(s.model, s.shared)
    return (f'<tr class="{"low" if s.tier == 2 else ""}"><td class="rank">{s.rank_text}</td>'
            f"<td>{_model_cell(s)}</td>{index}{''.join(cells)}<td class=\"num\">{win}</td>"
            f'<td class="cost">{_cost_cell(cost)}</td>'
            f'<td class="num">{n_shared}/{len(s.model.results)}</td></tr>')


def _exclusion_note(members: list[Score]) -> str:
    used = set(members[0].weights)
    left = [d for d in DIMENSIONS if d not in used and any(s.dimensions[d].measured
                                                           for s in members)]
    if not left:
        return ""
    lacking = {d: [s.model.label for s in members if not s.dimensions[d].measured]
               for d in left}
    return ('<p class="warn"><b>Left out of this group\'s index</b> (weights renormalised), '
            "because not every member has them: " + "; ".join(
                f"{d} (not measured for {escape(', '.join(labels))})"
                for d, labels in lacking.items()) + ".</p>")


def _header_how(data: ReportData, dimension: str) -> str:
    """How a dimension is derived, in a few words (the full method is in Methodology)."""
    if dimension == "safety":
        names = sorted({str(p.get("classifier")) for _, e in data.entries()
                        for p in (e.record.get("safety") or {}).values()
                        if isinstance(p, dict) and p.get("classifier")})
        return "1 − share of outputs flagged" + (f" by {', '.join(names)}" if names else "")
    return {"quality": "mean skill over chance on the shared tasks",
            "efficiency": "examples/s and memory vs the best of the group, log scale",
            "fairness": "1 − mean largest gap between groups",
            "robustness": "mean share of the clean score kept"}[dimension]


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


# -- per task -----------------------------------------------------------------------------------
def task_table(data: ReportData, scores: list[Score]) -> str:
    """Task × model: each primary metric, its skill over chance, ✗ below chance."""
    if not data.tasks:
        return not_measured("No scored records.")
    models = [s for s in scores if s.model.results]
    head = "".join(f"<th class=\"model\">{_swatch(s.model)}{escape(s.model.label)}</th>"
                   for s in models)
    rows = []
    for task in data.tasks:
        cells = [s.tasks.get(task) for s in models]
        present = [c for c in cells if c is not None and c.value is not None]
        if not present:
            continue
        first = present[0]
        real = [c.value for c in present if not c.below_chance and c.value is not None]
        best = max(real) if real else None
        chance = ("–" if first.chance is None else
                  f"{_fmt(first.chance, first.scale)}<span class=\"how\">"
                  f"{escape(first.baseline or '')}</span>")
        row = "".join(_task_cell(c, best) for c in cells)
        rows.append(f"<tr><th>{escape(task)}<span class=\"how\">{escape(first.metric or '')} "
                    f"({escape(first.scale or '')})</span></th><td class=\"num chance\">"
                    f"{chance}</td>{row}</tr>")
    return ("<p>The primary metric of each task (bold: the best model above chance), its "
            "skill over chance below it, and the task's trivial baseline. " + FLAG
            + " marks a model that does not beat the baseline (one-sided paired test, "
            "α = 0.05); ? one that could not be tested.</p><div class=\"scroll\">"
            "<table class=\"tasks\"><thead><tr><th>task</th><th>chance</th>" + head
            + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>")


def _task_cell(ts: TaskScore | None, best: float | None) -> str:
    if ts is None or ts.value is None:
        return '<td class="nm">–</td>'
    value = _fmt(ts.value, ts.scale)
    if best is not None and ts.value == best and not ts.below_chance:
        value = f"<b>{value}</b>"
    mark = f" {FLAG}" if ts.below_chance else " ?" if ts.beats_chance is None else ""
    skill = "" if ts.skill is None else f'<span class="how">skill {ts.skill:+.2f}</span>'
    title = escape(_chance_text(ts))
    cls = "num low" if ts.below_chance else "num"
    return f'<td class="{cls}" title="{title}">{value}{mark}{skill}</td>'


# -- methodology --------------------------------------------------------------------------------
def method_section(data: ReportData, scores: list[Score], weights: Weights) -> str:
    """How every number was derived, and how the runs were combined."""
    baselines = sorted({(data.families[t], ts.baseline or "–") for s in scores
                        for t, ts in s.tasks.items() if ts.baseline})
    rows = "".join(f"<tr><td>{escape(f)}</td><td>{escape(b)}</td></tr>" for f, b in baselines)
    chance = (METHOD_CHANCE + (f"<table><thead><tr><th>family</th><th>baseline in these "
                               f"results</th></tr></thead><tbody>{rows}</tbody></table>"
                               if rows else ""))
    return (chance + METHOD_AGGREGATE.format(weights=escape(weights.describe()))
            + METHOD_COMBINE + _combined(data))


METHOD_CHANCE = """<h3>Chance baselines and skill</h3>
<p>For every (model, task) the runner scores the task's <b>trivial baseline</b> on the same
examples, with the same metric code, and tests the model against it: majority class
(sentiment), all <code>O</code> (NER), the source copied (translation), lead-3
(summarization), the empty answer (QA) and a constant score, i.e. zero correlation
(similarity). <b>Beats chance</b> means better than that baseline by a one-sided paired test
at α = 0.05 on the per-example statistics: approximate randomisation of the corpus metric
(examples swapped between model and baseline), or for Pearson/Spearman the one-sided test of
correlation &gt; 0. <b>Skill over chance</b> = (value − chance) / (best − chance), with best
the top of the metric's scale (1, or 100 for BLEU, chrF and SQuAD): 0 is the baseline, 1 a
perfect score, negative worse than the baseline.</p>"""

METHOD_AGGREGATE = """<h3>Comparison groups, dimensions and ranks</h3><ul>
<li><b>Like with like.</b> A model is ranked only against models scored on the same task
slots (same task, card version and example set). Groups are formed greedily by the largest
models² × shared tasks; every aggregate of a group (index, win rate, quality) covers only its
shared tasks, listed in its heading. A model that shares no task with another is not ranked
and has no relative efficiency.</li>
<li><b>quality</b>: mean skill over chance on the shared tasks (clipped to 0–1; the normalised
metric for records without a chance baseline).</li>
<li><b>efficiency</b>: per task, examples/s and memory relative to the best member of the
group on that task on a log scale (1 + log10(speed/best)/3 and 1 − log10(memory/best)/3,
clipped to 0–1: ten times worse costs a third), averaged, then the mean over tasks. Memory is
what the model accounts for (the task's peak minus what the process held before the model
was loaded; the CUDA allocator's peak on GPU) when every member has it, else the process
peak. Fixed outputs (<code>predictions:</code>) have no cost: not measured.</li>
<li><b>fairness</b>: 1 − the mean largest gap between groups over the bias probes (gaps on
0–1 of their scale); <b>safety</b>: 1 − the mean share of outputs flagged;
<b>robustness</b>: the mean share of the clean score kept under perturbations.</li>
<li><b>Chance earns nothing.</b> On a task where a model does not beat chance, its quality,
efficiency, fairness, safety and robustness there count 0 in every aggregate; its figures
are shown, marked ✗.</li>
<li><b>Index</b> ({weights}): the weighted mean of the dimensions every member of the group
has (weights renormalised). Its interval combines the records' intervals (bootstrap intervals
of the metrics, the bias probes' intervals, the binomial error of each safety rate) as
sqrt(Σh²)/n over tasks and sqrt(Σ(w·h)²) over dimensions.</li>
<li><b>Rank</b>: models below chance on any shared task are ranked after all the others;
within each tier, 1 + the number of models whose whole interval lies above; overlapping
intervals share a rank (“=2”). <b>Win rate</b> (HELM): the share of (other member, shared
task) pairs where the model's primary metric is higher (ties half; below chance wins
nothing).</li></ul>"""

METHOD_COMBINE = """<h3>How runs were combined</h3>
<p>Records are matched by model identity (kind, target, revision, weights fingerprint and
output-changing options) and task slot: the task's card version, the examples evaluated
(how many, <code>--limit</code>/<code>--sample</code> and its seed), the data (content hash
or hub fingerprint, path, split, revision) and the model's settings. The same model on the
same slot in several runs: the newest run's record is used and the others are listed below.
The same task on different example sets: both are kept as distinct tasks, labelled by what
differs (e.g. <code>[first 16]</code>), never substituted. A skipped or failed record never
hides a scored one.</p>"""


def _combined(data: ReportData) -> str:
    parts = []
    variants = [s for s in data.slots.values() if s.variant]
    if variants:
        parts.append("<p>Tasks kept on several example sets: " + ", ".join(
            f"<code>{escape(s.id)}</code>" for s in variants) + ".</p>")
    if data.replaced:
        items = "".join(f"<li>{escape(r.model)} · {escape(r.entry.task)}: run "
                        f"{escape(r.entry.run_id)} replaced by {escape(r.by.run_id)} (same "
                        "settings and examples; the newest is used)</li>"
                        for r in data.replaced)
        parts.append(f"<p><b>Replaced by a newer run ({len(data.replaced)}):</b></p>"
                     f"<ul>{items}</ul>")
    if data.attempts:
        items = "".join(f"<li>{escape(name)} · {escape(e.task)} from run {escape(e.run_id)}: "
                        f"{escape(e.status)} ({escape(str(e.record.get('reason') or ''))})"
                        "</li>" for name, e in data.attempts)
        parts.append(f"<p><b>Other attempts not used ({len(data.attempts)}):</b></p>"
                     f"<ul>{items}</ul>")
    if not parts:
        parts.append("<p>Nothing was replaced: every (model, task, example set) came from "
                     "one run.</p>")
    return "".join(parts)


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
        for name, probe in (e.record.get(block) or {}).items():
            if known(probe):
                continue
            if isinstance(probe, dict) and probe.get("status") in ("not_applicable", "failed"):
                line = statuses.setdefault(f"{name}\0{probe['status']}",
                                           {"name": name, "status": probe["status"],
                                            "pairs": 0, "reasons": {}})
                line["pairs"] += 1
                reason = str(probe.get("reason") or "no reason recorded")
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


def _reasons(reasons: dict[str, int]) -> str:
    top = sorted(reasons.items(), key=lambda kv: -kv[1])
    text = "; ".join(f"{escape(r)}" + (f" (×{n})" if n > 1 else "") for r, n in top[:3])
    return text + (f"; … {len(top) - 3} other reasons" if len(top) > 3 else "")


# -- small pieces -------------------------------------------------------------------------------
def _fmt(value: float | None, scale: str | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.1f}" if scale == "0-100" else f"{value:.3f}"


def _value_text(ts: TaskScore) -> str:
    mark = f" {FLAG}" if ts.below_chance else ""
    return f"{_fmt(ts.value, ts.scale)}{mark}"


def _chance_text(ts: TaskScore) -> str:
    """``chance 0.500 (majority class (negative)); beats it, p = 0.004``."""
    if ts.chance is None:
        return ts.note or "chance unknown"
    base = f"chance {_fmt(ts.chance, ts.scale)} ({ts.baseline or 'trivial baseline'})"
    p = "" if ts.p_value is None else f", p = {ts.p_value:.3g}"
    if ts.beats_chance is None:
        return f"{base}; not tested" + (f": {ts.note}" if ts.note else "")
    return f"{base}; {'beats it' if ts.beats_chance else 'not above it'}{p}"


def _dim_text(s: Score, d: str) -> str:
    dim = s.dimensions[d]
    if dim.value is None:
        return "–"
    return f"{dim.value:.3f}" + (f" ± {dim.half_width:.3f}" if dim.half_width else "")


def _index_text(s: Score) -> str:
    return "–" if s.index is None else f"{s.index:.3f} [{s.low:.3f}, {s.high:.3f}]"


def _model_cell(s: Score) -> str:
    flag = ""
    if s.below_chance:
        why = "; ".join(_chance_text(s.tasks[t]) for t in s.below_chance)
        flag = (f' <span class="badge low" title="{escape(why)}">'
                f"{FLAG} below chance on {len(s.below_chance)} task"
                f"{'s' * (len(s.below_chance) != 1)}</span>")
    fixed = ' <span class="badge">fixed outputs</span>' if s.model.fixed_outputs else ""
    return f"{_swatch(s.model)}{escape(s.model.label)}{flag}{fixed}"


def _cost_cell(cost: Cost) -> str:
    if not cost.measured:
        return f'<span class="nm" title="{escape(cost.why)}">not measured</span>'
    lines = []
    if cost.examples_per_s is not None:
        tokens = f" · {si(cost.tokens_per_s)} tok/s" if cost.tokens_per_s else ""
        lines.append(f"{si(cost.examples_per_s)} ex/s{tokens}")
    lat = cost.latency_bs1_ms or cost.latency_ms
    if lat:
        unit = "per call" if cost.latency_bs1_ms else (
            f"per batch of {cost.batch_size}" if cost.batch_size else "per batch")
        lines.append(" / ".join(si(lat[p]) for p in ("p50", "p90", "p99") if p in lat)
                     + f" ms p50/90/99 {unit}")
    if cost.memory_mb is not None:
        kind = "" if cost.memory_kind == "model" else " (process peak)"
        lines.append(f"{megabytes(cost.memory_mb)}{kind}")
    elif cost.memory_kind:
        lines.append(f"memory {cost.memory_kind}")
    return "".join(f"<span>{escape(line)}</span>" for line in lines) or "–"


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
            who = f"{_swatch(item.model)}{escape(item.model.label)}"
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


def json_for_script(data: Any) -> str:
    """``data`` as JSON safe inside a ``<script>`` element: the one place the page embeds
    JSON (``</`` cannot close the element; U+2028/U+2029 are escaped for old JS parsers)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=_json_default)
    return text.replace("</", "<\\/").replace("\u2028", "\\u2028").replace(
        "\u2029", "\\u2029")


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
"""
