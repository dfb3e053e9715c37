"""The report's tables: the decision, the scorecard, per task, and the methodology.

* :func:`decision_section`: the policy's verdict per model (or the best of each comparison
  group), the models below chance and those alone on their tasks;
* :func:`scorecard`: per comparison group, rank, index, dimensions, win rate and cost in
  real units; the models alone on their tasks; skipped and failed records;
* :func:`task_table`: every primary metric against its task's chance baseline;
* :func:`method_section`: how each number was derived and how the runs were combined.

A model below chance on a task carries ✗ wherever it appears.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

from evalsuite.report import generalisation as G
from evalsuite.report.cost import Cost, cost_of, megabytes, si
from evalsuite.report.load import Model, ReportData
from evalsuite.report.scoring import DIMENSIONS, Score, TaskScore, Weights
from evalsuite.utils import p_value_text

FLAG = "✗"
UNIT = {"quality": "tasks", "efficiency": "tasks", "fairness": "probes", "safety": "probes",
        "robustness": "perturbations"}


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
        items = "".join(f"<li>{swatch(s.model)}<b>{escape(s.model.label)}</b>: "
                        f"{_below_chance_tasks(s)}</li>" for s in below)
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


def _below_chance_tasks(s: Score, shown: int = 3) -> str:
    """The tasks where ``s`` is not above chance, with the chance values; beyond ``shown``
    tasks (a baseline run on every direction of a suite) folded behind their count."""
    text = "; ".join(f"{escape(t)} ({_chance_text(s.tasks[t])})" for t in s.below_chance)
    if len(s.below_chance) <= shown:
        return text
    return (f"on {len(s.below_chance)} tasks <details><summary>which, with their chance "
            f"values</summary>{text}</details>")


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
        best = [s for s in members if s.rank == 1 and s.tier == 1]
        group = members[0].group
        assert group is not None
        if not best:  # the top of a group of chance-level systems is no pick
            rows.append(f"<tr><td>{gid}</td><td colspan=\"4\"><span class=\"badge low\">"
                        f"{FLAG} none above chance</span>: no member beats its trivial "
                        f"baseline on every shared task</td>"
                        f"<td>{escape(group.describe())}</td></tr>")
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
            f"<tr><td>{swatch(v.model)}{escape(v.model.label)}</td><td>{escape(v.rule or '')}"
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
    general = G.any_generalisation(data)
    if general:
        head += GEN_HEAD
    for gid, members in groups.items():
        group = members[0].group
        assert group is not None
        cells = G.group_retention(data, group.models, group.tasks) if general else {}
        rows = [_score_row(s, len(group.tasks), cells.get(s.model.key)) for s in members]
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
            + f"</td><td>{escape(cost_of(s.model, s.model.results).short())}</td>"
            + (retention_cell(G.group_retention(data, [s.model], None)[s.model.key])
               if general else "") + "</tr>"
            for s in alone)
        out.append("<h3>Not ranked: alone on their tasks</h3><p>No other model was scored "
                   "on these tasks with the same examples, so there is nothing to rank them "
                   "against and no relative efficiency.</p><table><thead><tr><th>model</th>"
                   "<th>primary metric per task</th><th>cost</th>"
                   + ("<th class=\"gen\">generalisation<span class=\"how\">mean retention "
                      "over its own suite variants</span></th>" if general else "")
                   + f"</tr></thead><tbody>{rows}</tbody></table>")
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


def _score_row(s: Score, n_shared: int, retention: G.Retention | None = None) -> str:
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
            f'<span class="pm">{pm}</span>{bar(dim.value)}'  # type: ignore[arg-type]
            f'<span class="how">over {dim.n} {UNIT[d] if dim.n != 1 else UNIT[d][:-1]}'
            f"</span>{used}</td>")
    if s.index is None:
        index = '<td class="nm">no measured dimension</td>'
    else:
        used = ", ".join(f"{d} {w:.2f}" for d, w in s.weights.items())
        index = (f'<td class="index" title="weights used: {escape(used)}">'
                 f'<span class="val">{s.index:.3f}</span>{bar(s.index, strong=True)}'
                 f'<span class="how">[{s.low:.3f}, {s.high:.3f}]</span></td>')
    win = "–" if s.win_rate is None else f"{100 * s.win_rate:.0f}%"
    cost = cost_of(s.model, s.shared)
    if retention is not None:
        cells.append(retention_cell(retention))
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
        names = sorted({str(p.classifier) for _, e in data.entries()
                        for p in (e.record.safety or {}).values() if p.classifier})
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
        f"<tr><td>{swatch(m)}{escape(m.label)}</td><td>{escape(e.task)}</td>"
        f'<td class="status-{escape(e.status)}">{escape(e.status)}</td>'
        f"<td>{escape(str(e.record.reason or 'no reason recorded'))}</td>"
        f"<td>{escape(e.run_id)}</td></tr>" for m, e in items)
    return ('<h3>Not scored</h3><p>These (model, task) pairs have no scores and are not in '
            "the figures:</p><table><thead><tr><th>model</th><th>task</th><th>status</th>"
            f"<th>reason</th><th>run</th></tr></thead><tbody>{rows}</tbody></table>")


# -- generalisation -----------------------------------------------------------------------------
GEN_HEAD = ('<th class="gen">generalisation<span class="how">mean retention over the shared '
            "suite variants; worst named (not in the index)</span></th>")


def retention_cell(cell: G.Retention) -> str:
    """The scorecard's generalisation cell: mean retention, a bar, the worst variant."""
    if cell.value is None:
        return f'<td class="gen nm" title="{escape(G.RULE)}">{escape(cell.why)}</td>'
    worst = cell.worst
    assert worst is not None
    low = " low" if worst.loss_is_real else ""
    n = len(cell.variants)
    return (f'<td class="gen" title="{escape(G.RULE)}"><span class="val">'
            f"{G.percent(cell.value)}</span>"
            f"{bar(min(1.0, cell.value))}<span class=\"how{low}\">worst: "
            f"{escape(worst.label)} {G.percent(worst.retention)}{escape(G.interval(worst))}"
            f"</span><span class=\"how\">over {n} variant{'s' * (n != 1)}</span></td>")


SENTENCES_SHOWN = 8  # per suite; the others behind "more"


def retention_sentences(items: list[G.ModelSuite]) -> str:
    """Per model and suite, one sentence: what it keeps and its worst-served variant."""
    lines = [f"<li>{swatch(ms.model)}{escape(G.sentence(ms))}</li>" for ms in items]
    shown, rest = lines[:SENTENCES_SHOWN], lines[SENTENCES_SHOWN:]
    more = (f'<details><summary>{len(rest)} more model{"s" * (len(rest) != 1)}</summary>'
            f'<ul class="gen">{"".join(rest)}</ul></details>' if rest else "")
    return f'<ul class="gen">{"".join(shown)}</ul>{more}'


def retention_table(items: list[G.ModelSuite]) -> str:
    """A suite's variants × models: each model's reference score, then its retention per
    variant with the interval (red: the whole interval below 100%)."""
    rows: dict[str, G.Variant] = {}
    for ms in items:
        for v in ms.variants:
            rows.setdefault(v.slot, v)
    slots = sorted(rows, key=lambda s: (rows[s].group_rank, rows[s].position, s))
    head = "".join(f'<th class="model">{swatch(ms.model)}{escape(ms.model.label)}'
                   + (f" {FLAG}" if ms.nothing_to_retain else "") + "</th>" for ms in items)
    reference = "".join(
        f'<td class="num">{_ref_value(ms)}</td>' for ms in items)
    body = [f"<tr><th>reference<span class=\"how\">{escape(items[0].reference_task)}</span>"
            f"</th><td></td>{reference}</tr>"]
    for slot in slots:
        v = rows[slot]
        cells = "".join(_retention_td(next((x for x in ms.variants if x.slot == slot), None))
                        for ms in items)
        about = v.task if v.name == v.label else f"{v.name} · {v.task}"
        body.append(f"<tr><th>{escape(v.label)}<span class=\"how\">{escape(about)}</span>"
                    f"</th><td>{escape(v.group or v.shift)}</td>{cells}</tr>")
    return ('<div class="scroll"><table class="tasks gen"><thead><tr><th>variant</th>'
            f"<th>group</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


def _ref_value(ms: G.ModelSuite) -> str:
    v = ms.variants[0]
    return (f"{G.metric_value(v.reference_value, v.scale)}<span class=\"how\">"
            f"{escape(ms.metric)}</span>")


def _retention_td(v: G.Variant | None) -> str:
    if v is None:
        return '<td class="nm">–</td>'
    if v.retention is None:
        why = v.reason or "no retention figure"
        gap = "" if v.gap is None else f"gap {G.metric_value(v.gap, v.scale)}"
        short = "nothing to retain" if v.nothing_to_retain else "–"
        return (f'<td class="nm" title="{escape(why)}">{short}<span class="how">{gap}</span>'
                "</td>")
    cls = "num low" if v.loss_is_real else "num"
    title = (f"{v.metric} {G.metric_value(v.value, v.scale)} vs "
             f"{G.metric_value(v.reference_value, v.scale)}; gap "
             f"{G.metric_value(v.gap, v.scale)}"
             + ("" if v.p_value is None else f", {p_value_text(v.p_value)}")
             + ("; paired by example id" if v.paired else "; unpaired"))
    return (f'<td class="{cls}" title="{escape(title)}">{G.percent(v.retention)}'
            f'<span class="how">{escape(G.interval(v).strip())}</span></td>')


# -- per task -----------------------------------------------------------------------------------
def task_table(data: ReportData, scores: list[Score]) -> str:
    """Task × model: each primary metric, its skill over chance, ✗ below chance."""
    if not data.tasks:
        return not_measured("No scored records.")
    models = [s for s in scores if s.model.results]
    head = "".join(f"<th class=\"model\">{swatch(s.model)}{escape(s.model.label)}</th>"
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
            + (METHOD_GENERALISATION if G.any_generalisation(data) else "")
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
group above chance on that task on a log scale (1 + log10(speed/best)/3 and
1 − log10(memory/best)/3, clipped to 0–1: ten times worse costs a third), averaged, then the
mean over tasks; a system below chance is no yardstick, so it takes two members above chance.
Memory is what the model accounts for (the task's peak minus what the process held before the
model was loaded; the CUDA allocator's peak on GPU) when every member has it, else the
process peak; below 1 MB it counts as 1 MB. Fixed outputs (<code>predictions:</code>) have
no cost: not measured.</li>
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

METHOD_GENERALISATION = """<h3>Generalisation</h3>
<p>A suite pairs a reference task with shifted variants (another domain, another language).
<b>Retention</b> = the variant's primary metric / the reference's, for the same model (1 =
nothing lost); <b>gap</b> = reference − variant in metric units. Both come from the
per-example statistics with a 95% bootstrap interval, paired over example ids when the suite
is parallel (FLORES: the same sentences in every language). A model that does not beat chance
on the reference task has <b>nothing to retain</b>: no retention, only its gap. The
<b>scorecard's generalisation column</b> is the mean retention over the suite variants that
every member of the comparison group has (same variant and reference task slots, among the
group's shared tasks), with the worst of them named; a member with nothing to retain on one
of them gets no value. It is shown beside the index, not part of it. The Generalisation
section shows every variant, per model, with its interval.</p>"""

METHOD_COMBINE = """<h3>How runs were combined</h3>
<p>Records are matched by model identity (kind, target, revision, weights fingerprint and
output-changing options) and task slot: the task's card version, the examples evaluated
(how many, <code>--limit</code>/<code>--sample</code> and its seed), the data (content hash
or hub fingerprint, path, split, revision). A model's own settings (prompt, generation
settings, command) say how it predicts, not what it is compared on, so a prompted language
model and a classifier on the same examples are compared. The same model on the same slot in
several runs: the newest run's record is used and the others are listed below.
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
                        f"{escape(r.entry.run_id)} replaced by {escape(r.by.run_id)} "
                        f"({escape(r.reason)})</li>"
                        for r in data.replaced)
        parts.append(f"<p><b>Replaced by a newer run ({len(data.replaced)}):</b></p>"
                     f"<ul>{items}</ul>")
    if data.attempts:
        items = "".join(f"<li>{escape(name)} · {escape(e.task)} from run {escape(e.run_id)}: "
                        f"{escape(e.status)} ({escape(str(e.record.reason or ''))})"
                        "</li>" for name, e in data.attempts)
        parts.append(f"<p><b>Other attempts not used ({len(data.attempts)}):</b></p>"
                     f"<ul>{items}</ul>")
    if not parts:
        parts.append("<p>Nothing was replaced: every (model, task, example set) came from "
                     "one run.</p>")
    return "".join(parts)


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
    p = "" if ts.p_value is None else f", {p_value_text(ts.p_value)}"
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
        # below chance only on slots the group does not compare: said, so a ranked row
        # does not read as failing the compared tasks
        outside = (" outside this group" if s.group is not None
                   and not set(s.below_chance) & set(s.shared) else "")
        flag = (f' <span class="badge low" title="{escape(why)}">'
                f"{FLAG} below chance on {len(s.below_chance)} task"
                f"{'s' * (len(s.below_chance) != 1)}{outside}</span>")
    fixed = ' <span class="badge">fixed outputs</span>' if s.model.fixed_outputs else ""
    return f"{swatch(s.model)}{escape(s.model.label)}{flag}{fixed}"


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


def not_measured(message: str) -> str:
    """The note a section shows instead of a blank chart (``message`` is trusted HTML)."""
    return f'<p class="not-measured"><b>Not measured.</b> {message}</p>'


def swatch(model: Model) -> str:
    return f'<span class="swatch" style="background:{model.colour}"></span>'


def bar(value: float, strong: bool = False) -> str:
    cls = "bar strong" if strong else "bar"
    return f'<span class="{cls}"><span style="width:{100 * max(0.0, min(1.0, value)):.0f}%">' \
           "</span></span>"
