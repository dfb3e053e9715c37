"""One function per figure of the report; each returns ``None`` when its data is absent.

Every figure draws a model with ``Model.colour`` and ``Model.symbol`` (one palette for the
whole report, :mod:`evalsuite.report.load`), names its axes with units that match the tick
labels and shows exact values on hover.  Built to stay readable from 1 to 30 models and
tasks: models are rows (forest plots, heatmaps) rather than ever-thinner bars, no text is
drawn on the plot where it could collide (variant names and values are in the hover), a
value axis is logarithmic only when its values span more than two orders of magnitude, and
figures whose data vary by task carry a drop-down that restyles the same traces.

A model that does not beat its task's chance baseline is drawn with an open marker (or a
hatched bar) and ``✗`` after its name, wherever it appears.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import median
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from evalsuite.report import generalisation as G
from evalsuite.report.cost import MEMORY_FLOOR_MB, cost_of, megabytes
from evalsuite.report.load import Entry, Model, ReportData
from evalsuite.report.scoring import (
    DIMENSIONS,
    Score,
    normalise,
    pareto_front,
    scale_span,
    task_score,
)
from evalsuite.report.style import (
    ALL_TASKS,
    FRONTIER,
    GRID,
    INK,
    esc,
    fmt,
    layout,
    lookup,
    num,
    task_menu,
    with_alpha,
)
from evalsuite.report.values import primary
from evalsuite.results.records import (
    BiasFigure,
    Efficiency,
    RobustnessFigure,
    SafetyFigure,
    Section,
)
from evalsuite.utils import p_value_text

SCALE_UNITS = {"0-1": "0–1", "0-100": "0–100", "-1-1": "−1–1"}
FLAG = " ✗"  # after the name of a model below chance
FOREST_ROW_GAP_PX = 66.0  # between two rows of a forest plot: tick labels + task titles
LOG_SPAN = 100.0  # a value axis spanning more than this ratio is drawn on a log scale
BIAS_ZMAX = 0.25  # the bias heatmap's fixed scale: a gap of a quarter of the scale saturates
# The bias heatmap's symmetric scale: greys below 0 (gaps that are not significant, drawn
# as their negative), viridis above (significant gaps; no greys in it, so the two sides
# never look alike).
BIAS_COLOURS = [[0.0, "#7F7F7F"], [0.499, "#F0F0F0"], [0.5, "#440154"], [0.6, "#3B528B"],
                [0.7, "#21918C"], [0.8, "#5EC962"], [1.0, "#FDE725"]]  # greys | viridis
BIAS_MUTED_FLOOR = 0.002  # a gap that is not significant sits at least this far below 0
BIAS_MAX_CELLS = 8000  # heatmap cells over all drop-down states before per-task states go
RADAR_MAX = 8  # more models than this: the dimensions as a heatmap instead of a radar


def below_chance(entry: Entry | None) -> bool:
    """Whether the record says its model does not beat the task's chance baseline."""
    return entry is not None and entry.record.chance is not None \
        and entry.record.chance.beats_chance is False


def flagged(model: Model) -> bool:
    """Below chance on any of its tasks."""
    return any(below_chance(e) for e in model.results.values())


def name_of(model: Model) -> str:
    """The model's label, with ✗ when it is below chance on a task."""
    return model.label + FLAG if flagged(model) else model.label


def open_symbol(symbol: str, hollow: bool) -> str:
    return f"{symbol}-open" if hollow else symbol


def axis_type(values: Sequence[float | None]) -> str:
    """``log`` when the positive values span more than :data:`LOG_SPAN`, else ``linear``."""
    found = [v for v in values if v is not None and v > 0]
    return "log" if found and max(found) / min(found) > LOG_SPAN else "linear"


def _scale_range(scale: str | None) -> list[float] | None:
    return {"0-1": [0, 1.02], "0-100": [0, 102], "-1-1": [-1.02, 1.02]}.get(scale or "")


# -- dimensions -----------------------------------------------------------------------------------
def dimension_figures(scores: Sequence[Score]) -> dict[str, go.Figure]:
    """Per comparison group: its members' dimensions (radar up to 8 models, else a heatmap)."""
    out = {}
    by_group: dict[str, list[Score]] = {}
    for s in scores:
        if s.group is not None:
            by_group.setdefault(s.group.id, []).append(s)
    for gid, members in by_group.items():
        fig = (_radar(members) if len(members) <= RADAR_MAX else _dimension_heatmap(members))
        if fig is not None:
            out[gid] = fig
    return out


def radar(scores: Sequence[Score]) -> go.Figure | None:
    """The first group's dimensions (see :func:`dimension_figures`)."""
    figures = dimension_figures(scores)
    return next(iter(figures.values()), None)


def _group_title(members: Sequence[Score]) -> str:
    group = members[0].group
    assert group is not None
    return f"Group {group.id}: dimensions (0–1, higher is better) over its {len(group.tasks)} " \
           f"shared task{'s' * (len(group.tasks) != 1)}"


def _radar(members: Sequence[Score]) -> go.Figure | None:
    if not any(d.measured for s in members for d in s.dimensions.values()):
        return None
    theta = [*DIMENSIONS, DIMENSIONS[0]]
    fig = go.Figure()
    for s in members:
        r = [s.dimensions[d].value for d in DIMENSIONS]
        text = [fmt(v, 3) if v is not None else "not measured" for v in r]
        low = s.tier == 2
        fig.add_trace(go.Scatterpolar(
            r=[*r, r[0]], theta=theta, text=[*text, text[0]], name=name_of(s.model),
            mode="lines+markers", fill="toself" if len(members) <= 3 else "none",
            line={"color": s.model.colour, "width": 2, "dash": "dot" if low else "solid"},
            marker={"color": s.model.colour, "symbol": open_symbol(s.model.symbol, low),
                    "size": 8},
            fillcolor=with_alpha(s.model.colour, 0.08), legendgroup=s.model.key,
            hovertemplate="<b>%{fullData.name}</b><br>%{theta}: %{text}<extra></extra>"))
    fig.update_layout(polar={"radialaxis": {"range": [0, 1], "dtick": 0.25,
                                            "gridcolor": GRID, "angle": 90,
                                            "tickangle": 90},
                             "angularaxis": {"gridcolor": GRID, "direction": "clockwise"},
                             "bgcolor": "white"})
    return layout(fig, _group_title(members) + "; gaps = not measured", 480)


def _dimension_heatmap(members: Sequence[Score]) -> go.Figure:
    z, text, hover = [], [], []
    for s in members:
        values = [s.dimensions[d].value for d in DIMENSIONS]
        z.append(values)
        text.append([fmt(v, 2) if v is not None else "–" for v in values])
        hover.append([esc(s.dimensions[d].how) for d in DIMENSIONS])
    fig = go.Figure(go.Heatmap(
        z=z, x=list(DIMENSIONS), y=[name_of(s.model) for s in members], text=text,
        customdata=hover, texttemplate="%{text}", zmin=0, zmax=1, colorscale="Cividis",
        xgap=2, ygap=2, colorbar={"title": {"text": "0–1"}},
        hovertemplate="<b>%{y}</b><br>%{x}: %{z:.3f}<br>%{customdata}<extra></extra>"))
    fig.update_xaxes(type="category", title={"text": "dimension"})
    fig.update_yaxes(type="category", title={"text": "model (best first)"},
                     autorange="reversed")
    return layout(fig, _group_title(members), 150 + 26 * len(members))


# -- quality per family: forest plots -------------------------------------------------------------
def family_metrics(data: ReportData, family: str) -> list[tuple[str, str | None]]:
    """(metric, scale) of a family's records, primary metrics first."""
    names: dict[str, str | None] = {}
    primaries: list[str] = []
    for task in data.tasks_of(family):
        for _, entry in data.entries(task):
            pname, _ = primary(entry.record)
            if pname and pname not in primaries:
                primaries.append(pname)
            for name, metric in entry.record.metrics.items():
                names.setdefault(name, str(metric.scale) if metric.scale else None)
    ordered = primaries + [n for n in names if n not in primaries]
    return [(n, names.get(n)) for n in ordered if n in names]


def _grid(n: int, longest: int) -> tuple[int, int]:
    cols = 1 if n == 1 else 2 if n == 2 or longest > 30 else 3
    return math.ceil(n / cols), cols


def quality_by_family(data: ReportData, order: Sequence[Model] | None = None
                      ) -> dict[str, go.Figure]:
    """One forest plot per family: a column per task, a row per model, each metric's value
    with its 95% interval; a dashed line (a shape) at the task's chance level, shown with
    its primary metric; a drop-down switches the metric."""
    figures = {}
    models_in_order = list(order or data.models)
    for family in data.family_list:
        metrics = family_metrics(data, family)
        tasks = data.tasks_of(family)
        if not metrics:
            continue
        models = [m for m in models_in_order if any(t in m.results for t in tasks)]
        labels = [name_of(m) for m in models]
        rows, cols = _grid(len(tasks), max(len(t) for t in tasks))
        specs = [[{} if r * cols + c < len(tasks) else None for c in range(cols)]
                 for r in range(rows)]  # no axes for the empty cells of the last row
        height = 150 + rows * (90 + 24 * len(models))
        # room between rows, in pixels, for one row's tick labels and the next row's task
        # titles (a fraction of the height squeezed them together for 19 tasks)
        gap = FOREST_ROW_GAP_PX / max(1.0, height - 200)
        fig = make_subplots(rows=rows, cols=cols, shared_yaxes=True, specs=specs,
                            subplot_titles=tasks, horizontal_spacing=0.05,
                            vertical_spacing=min(gap, 0.9 / (rows - 1)) if rows > 1 else 0.1)
        states = [_forest_state(models, labels, tasks, metric) for metric, _ in metrics]
        for i, spec in enumerate(states[0]):
            row, col = divmod(i, cols)
            fig.add_trace(spec["_trace"](**spec["_kw"]), row=row + 1, col=col + 1)
        lines = _chance_lines(data, fig, tasks)
        metric, scale = metrics[0]
        fig.update_xaxes(range=_scale_range(scale), showgrid=True)
        for col in range(cols):  # the metric under the lowest axis of each column only
            row = (len(tasks) - 1 - col) // cols
            fig.update_xaxes(title={"text": f"{metric} "
                                            f"({SCALE_UNITS.get(scale or '', 'value')})"},
                             row=row + 1, col=col + 1)
        fig.update_yaxes(type="category", categoryorder="array", categoryarray=labels,
                         autorange="reversed", title={"text": "model"})
        for r in range(1, rows + 1):  # only the first axis says what the rows are
            for c in range(1, cols + 1):
                if (r, c) != (1, 1) and r * cols + c - cols <= len(tasks):
                    fig.update_yaxes(title={"text": ""}, row=r, col=c)
        first = metrics[0][0]
        for shape, (_, metric) in zip(fig.layout.shapes, lines, strict=True):
            shape.visible = metric == first
        if len(metrics) > 1:
            _metric_menu(fig, metrics, states, [metric for _, metric in lines])
        fig.update_annotations(font={"size": 12})
        figures[family] = layout(fig, f"{family}: quality per task (95% bootstrap interval; "
                                      "dashed: chance; open marker: not above chance)",
                                 height)
        fig.update_layout(showlegend=False, margin={"t": 120})
    return figures


def _forest_state(models: list[Model], labels: list[str], tasks: list[str], metric: str
                  ) -> list[dict[str, Any]]:
    """One trace per task (a point per model with its interval) for one metric."""
    specs = []
    for task in tasks:
        x, y, plus, minus, colours, symbols, hover = [], [], [], [], [], [], []
        for model, label in zip(models, labels, strict=True):
            entry = model.results.get(task)
            m = entry.record.metrics.get(metric) if entry else None
            if m is None or not num(m.value):
                continue
            value, low, high = m.value, m.ci_low, m.ci_high
            is_primary = primary(entry.record)[0] == metric  # type: ignore[union-attr]
            block = entry.record.chance if entry and is_primary else None
            low_chance = is_primary and below_chance(entry)
            x.append(value)
            y.append(label)
            plus.append(max(0.0, high - value) if num(high) else 0.0)
            minus.append(max(0.0, value - low) if num(low) else 0.0)
            colours.append(model.colour)
            symbols.append(open_symbol(model.symbol, low_chance))
            verdict = ""
            if is_primary and block is not None:
                verdict = ("<br><b>not above chance</b>" if low_chance else
                           "<br>beats chance" if block.beats_chance else
                           "<br>chance not tested")
                if num(block.value):
                    verdict += f" {fmt(block.value, 3)}"
                if num(block.p_value):
                    verdict += f" ({p_value_text(block.p_value)})"
            hover.append(("no interval" if not (num(low) and num(high)) else
                          f"95% CI [{fmt(low, 3)}, {fmt(high, 3)}]") + verdict)
        specs.append({"_trace": go.Scatter, "_kw": dict(
            x=x, y=y, mode="markers", name=task, customdata=hover, meta=metric,
            showlegend=False,
            marker={"color": colours, "symbol": symbols, "size": 10,
                    "line": {"width": 1.5}},
            error_x={"type": "data", "array": plus, "arrayminus": minus, "color": "#666",
                     "thickness": 1.2, "width": 3},
            hovertemplate=f"<b>%{{y}}</b><br>{esc(task)}<br>{esc(metric)}: %{{x:.4g}}<br>"
                          "%{customdata}<extra></extra>")})
    return specs


def _chance_lines(data: ReportData, fig: go.Figure, tasks: list[str]
                  ) -> list[tuple[float, str]]:
    """A dashed vertical line at each task's chance level, across its whole subplot (a
    shape, so it needs no category of its own); returns (chance, primary metric) per line."""
    out = []
    for i, task in enumerate(tasks):
        found = next(((e.record.chance.value, primary(e.record)[0])
                      for _, e in data.entries(task)
                      if e.record.chance is not None and num(e.record.chance.value)), None)
        if found is None:
            continue
        axis = fig.data[i].xaxis or "x"
        fig.add_shape(type="line", x0=found[0], x1=found[0], xref=axis, y0=0, y1=1,
                      yref=f"{fig.data[i].yaxis or 'y'} domain",
                      line={"color": "#B22222", "dash": "dash", "width": 1.5},
                      name=f"chance: {_baseline_name(data, task)}")
        out.append((float(found[0]), str(found[1])))
    return out


def _baseline_name(data: ReportData, task: str) -> str:
    for _, entry in data.entries(task):
        name = entry.record.chance.baseline if entry.record.chance is not None else None
        if name:
            return str(name)
    return "trivial baseline"


def _metric_menu(fig: go.Figure, metrics: list[tuple[str, str | None]],
                 states: list[list[dict[str, Any]]], lines: list[str]) -> None:
    """The metric drop-down; ``lines``: the metric of each chance line (shown for it only)."""
    buttons = []
    axis_names = sorted({t.xaxis or "x" for t in fig.data}, key=lambda a: int(a[1:] or 1))
    attrs = ("x", "y", "customdata", "marker.symbol", "marker.color", "error_x.array",
             "error_x.arrayminus")
    updates = [{attr: [lookup(spec["_kw"], attr) for spec in state] for attr in attrs}
               for state in states]
    # Restyle only what differs between metrics (the same models on the same rows: y and
    # the colours stay as drawn).
    changing = [a for a in attrs if any(u[a] != updates[0][a] for u in updates)]
    for (metric, scale), full in zip(metrics, updates, strict=True):
        update = {a: full[a] for a in changing}
        axes = {}
        for name in axis_names:
            key = "xaxis" + name[1:]
            if fig.layout[key].title.text:  # only the axes that name the metric
                axes[f"{key}.title.text"] = (f"{metric} "
                                             f"({SCALE_UNITS.get(scale or '', 'value')})")
            axes[f"{key}.range"] = _scale_range(scale)
            axes[f"{key}.autorange"] = _scale_range(scale) is None
        for k, line_metric in enumerate(lines):
            axes[f"shapes[{k}].visible"] = line_metric == metric
        buttons.append({"label": f"metric: {metric}", "method": "update",
                        "args": [update, axes]})
    fig.update_layout(updatemenus=[{
        "buttons": buttons, "direction": "down", "showactive": True, "x": 1.0,
        "xanchor": "right", "y": 1.0, "yanchor": "bottom", "pad": {"b": 28},
        "bgcolor": "white", "bordercolor": "#999", "font": {"size": 12}}])


# -- quality vs cost ------------------------------------------------------------------------------
@dataclass
class CostPoint:
    """Where one model sits for one selection (a group's shared tasks, or one task)."""

    quality: float | None
    half: float | None
    speed: float | None
    memory: float | None
    n: int
    below: bool = False
    memory_kind: str | None = None  # "model" (its share) or "process peak"


def cost_points(data: ReportData, tasks: Sequence[str], scores: Sequence[Score] | None = None,
                models: Sequence[Model] | None = None) -> dict[str, CostPoint]:
    """Per model: quality and cost over ``tasks``.

    One task: skill over chance (the normalised value when the record has no chance block).
    Several (a group's shared tasks): the group's quality dimension from ``scores``.
    Cost as in the scorecard (:func:`~evalsuite.report.cost.cost_of`): the geometric mean
    of examples/s and the largest memory, the model's share when every record has it.
    """
    by_key = {s.model.key: s for s in scores or ()}
    out = {}
    for model in models or data.models:
        entries = [model.results[t] for t in tasks if t in model.results]
        if len(entries) != len(tasks) or model.fixed_outputs:
            continue
        if len(tasks) == 1:
            ts = task_score(data, entries[0])
            if ts.skill is not None:
                q, half = ts.skill, ts.skill_half
            else:
                q = normalise(ts.value, ts.scale)
                low, high = normalise(ts.ci_low, ts.scale), normalise(ts.ci_high, ts.scale)
                half = (high - low) / 2 if low is not None and high is not None else None
            below = ts.below_chance
        else:
            score = by_key.get(model.key)
            if score is None:
                continue
            q, half = score.dimensions["quality"].value, score.dimensions["quality"].half_width
            below = score.tier == 2
        cost = cost_of(model, tasks)  # the scorecard's figures, so both say the same
        out[model.key] = CostPoint(q, half, cost.examples_per_s, cost.memory_mb, len(entries),
                                   below, cost.memory_kind)
    return out


def cost_options(data: ReportData, scores: Sequence[Score]
                 ) -> list[tuple[str, list[str], list[Model]]]:
    """The cost figure's selections: each group over its shared tasks, then each task."""
    groups = [s.group for s in scores if s.group is not None]
    seen: dict[str, Any] = {}
    for g in groups:
        seen.setdefault(g.id, g)
    options = [(f"group {g.id}: {len(g.tasks)} shared task{'s' * (len(g.tasks) != 1)}",
                g.tasks, g.models) for g in seen.values() if len(g.tasks) > 1]
    options += [(t, [t], data.models) for t in data.tasks]
    return options


def quality_vs_cost(data: ReportData, scores: Sequence[Score] | None = None
                    ) -> go.Figure | None:
    """Quality against throughput and against memory, Pareto frontiers, variants linked."""
    if scores is None:
        from evalsuite.report.scoring import resolve_weights, score_models

        scores = score_models(data, resolve_weights())
    options = cost_options(data, scores)
    per_option = [cost_points(data, tasks, scores, models) for _, tasks, models in options]
    if not any(p.quality is not None and (p.speed or p.memory)
               for points in per_option for p in points.values()):
        return None
    groups = data.variant_groups()
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08, shared_yaxes=True)
    states = [_cost_state(data, points, groups) for points in per_option]
    for spec in states[0]:
        fig.add_trace(spec["_trace"](**spec["_kw"]), row=1, col=spec["_col"])
    speeds = [p.speed for points in per_option for p in points.values()]
    mems = [p.memory for points in per_option for p in points.values()]
    for col, values, title in ((1, speeds, "throughput (examples/s"),
                               (2, mems, "memory (MB")):
        kind = axis_type(values)
        fig.update_xaxes(type=kind, title={"text": title + (", log scale)" if kind == "log"
                                                            else ")")}, row=1, col=col)
        if kind == "log":  # few ticks: plotly labels every digit (…, 8, 9, 1000, 2…) of a
            # span under ~2 decades when it may, and "9" runs into "1000" on a half-width axis
            fig.update_xaxes(nticks=3, row=1, col=col)
    fig.update_yaxes(title={"text": "quality (skill over chance: 0 chance, 1 perfect)"},
                     row=1, col=1)
    if len(options) > 1:
        task_menu(fig, [label for label, _, _ in options], states,
                  ("x", "y", "customdata", "text", "error_y.array", "marker.symbol"))
    fig.update_traces(text=None, selector={"mode": "markers"})
    return layout(fig, "Quality vs cost (one point per model; error bars: 95% interval)", 500)


def quality_vs_cost_caption(data: ReportData) -> str:
    """What the cost figure's marks mean (shown under it)."""
    text = ("Quality is the skill over chance, (value − chance) / (best − chance): 0 is the "
            "task's trivial baseline, 1 a perfect score (the normalised metric for records "
            "without a chance baseline). A group's selection covers the tasks its models "
            "share (quality: the group's quality dimension; throughput: geometric mean; "
            "memory: the largest). Memory is what the model accounts for (peak minus the "
            "process before loading) when every record has it, else the process peak; "
            "below 1 MB it is drawn at 1 MB (the hover gives the figure). "
            "Ringed, on the dashed line: the Pareto frontier, models above chance that no "
            "other such model beats on both quality and cost (up-right is better for "
            "throughput, up-left for memory). "
            "Open markers: not above chance.")
    fixed = [m.label for m in data.models if m.fixed_outputs]
    if fixed:
        text += (f" Not shown (fixed outputs, no cost measured): {', '.join(fixed)}.")
    if data.variant_groups():
        text += " Dotted line: precision variants of one model (their dtype on hover)."
    return text


def _cost_state(data: ReportData, points: dict[str, CostPoint],
                groups: list[list[Model]]) -> list[dict[str, Any]]:
    """The traces of the cost figure for one selection (same order for every option)."""
    specs: list[dict[str, Any]] = []
    for col, attr, maximize in ((1, "speed", True), (2, "memory", False)):
        axis_name = "examples/s" if attr == "speed" else "memory MB"
        for model in data.models:
            p = points.get(model.key)
            ok = p is not None and p.quality is not None and getattr(p, attr) is not None
            x = [_drawn(attr, getattr(p, attr))] if ok else []
            y = [p.quality] if ok else []
            custom = ([f"± {fmt(p.half, 3)}; {p.n} task{'s' * (p.n != 1)}"
                       + ("<br><b>not above chance</b>" if p.below else "")]
                      if ok else [])
            if ok and attr == "memory":  # the measured figure, not where it is drawn
                custom = [f"{megabytes(p.memory)}"
                          f"{'' if p.memory_kind == 'model' else ' (process peak)'}<br>"
                          f"quality: {fmt(p.quality, 3)} {custom[0]}"]
            symbol = open_symbol(model.symbol, bool(ok and p.below))
            specs.append({"_trace": go.Scatter, "_col": col, "_kw": dict(
                x=x, y=y, customdata=custom,
                mode="markers", name=name_of(model), legendgroup=model.key,
                showlegend=col == 1,
                marker={"color": model.colour, "symbol": symbol, "size": 12,
                        "line": {"color": INK, "width": 1}},
                error_y={"type": "data", "array": [p.half or 0.0] if ok else [],
                         "color": model.colour, "thickness": 1.2, "width": 4},
                hovertemplate=(f"<b>%{{fullData.name}}</b><br>{axis_name}: %{{x:.4g}}<br>"
                               "quality: %{y:.3f} %{customdata}<extra></extra>")
                if attr == "speed" else
                "<b>%{fullData.name}</b><br>memory: %{customdata}<extra></extra>")})
        valid = [(m, points[m.key]) for m in data.models if m.key in points
                 and points[m.key].quality is not None and not points[m.key].below
                 and getattr(points[m.key], attr) is not None]  # chance is no trade-off
        coords = [(_drawn(attr, getattr(p, attr)), p.quality) for _, p in valid]
        front = pareto_front(coords, maximize_x=maximize)
        specs.append({"_trace": go.Scatter, "_col": col, "_kw": dict(
            x=[coords[i][0] for i in front], y=[coords[i][1] for i in front],
            customdata=[""] * len(front), text=[valid[i][0].label for i in front],
            mode="lines+markers", name="Pareto frontier", legendgroup="pareto",
            showlegend=col == 1, line={"color": FRONTIER, "dash": "dash", "width": 1.5},
            marker={"symbol": "circle-open", "size": 20, "color": FRONTIER,
                    "line": {"width": 1.5}},
            error_y={"type": "data", "array": [], "visible": False},
            hovertemplate="Pareto frontier: %{text}<extra></extra>")})
        for group in groups:
            members = [(m, points[m.key]) for m in group if m.key in points
                       and points[m.key].quality is not None
                       and getattr(points[m.key], attr) is not None]
            members.sort(key=lambda mp: getattr(mp[1], attr))
            target = group[0].identity.get("target", "")
            specs.append({"_trace": go.Scatter, "_col": col, "_kw": dict(
                x=[_drawn(attr, getattr(p, attr)) for _, p in members],
                y=[p.quality for _, p in members],
                text=[(m.dtype or "?") + (", on another device than " + ", ".join(
                    m.other_device_variants) if m.other_device_variants else "")
                    for m, _ in members],
                customdata=[m.label for m, _ in members],
                mode="lines", name=f"variants of {target}",
                legendgroup=f"variants-{target}", showlegend=col == 1,
                line={"color": "#777777", "dash": "dot", "width": 1.5},
                error_y={"type": "data", "array": [], "visible": False},
                hovertemplate="%{customdata} (%{text})<extra>precision variant</extra>")})
    return specs


def _drawn(attr: str, value: float) -> float:
    """Where a cost figure is drawn: memory below :data:`MEMORY_FLOOR_MB` (a lexicon's
    0.0 MB) at the floor, so a log axis can show it (its hover gives the figure)."""
    return max(value, MEMORY_FLOOR_MB) if attr == "memory" else value


# -- latency and batch-size sweeps ----------------------------------------------------------------
PERCENTILES = ("p50", "p90", "p99")


def task_options(data: ReportData) -> list[tuple[str, str | None]]:
    """The task selections of a figure's drop-down: all tasks, then each task (if several)."""
    return [(ALL_TASKS, None)] + ([(t, t) for t in data.tasks] if len(data.tasks) > 1
                                  else [])


def efficiency_blocks(model: Model, task: str | None, key: str) -> list[Efficiency]:
    """``model``'s efficiency blocks (one task, or all for ``None``) that have the figure
    ``key`` (a field of :class:`~evalsuite.results.records.Efficiency`)."""
    if model.fixed_outputs:
        return []
    entries = ([model.results[task]] if task in model.results else []) if task else \
        list(model.results.values())
    blocks = [e.record.efficiency for e in entries]
    return [b for b in blocks if b is not None and getattr(b, key) is not None]


def _percentile_bars(data: ReportData, key: str, describe: Callable[..., str], unit: str
                     ) -> tuple[list[tuple[str, str | None]], list[list[dict[str, Any]]]] | None:
    """Per task selection, one bar trace per model: the median over tasks of ``key``'s
    p50/p90/p99; ``describe(blocks)`` is the hover's last line.  ``None`` when nothing has
    ``key``."""
    options = task_options(data)
    states = []
    for _, task in options:
        traces = []
        for model in data.models:
            blocks = efficiency_blocks(model, task, key)
            y = []
            for p in PERCENTILES:
                values = [v for b in blocks if num(v := getattr(getattr(b, key), p))]
                y.append(median(values) if values else None)
            traces.append({"_trace": go.Bar, "_col": 1, "_kw": dict(
                x=list(PERCENTILES), y=y if blocks else [], name=model.label,
                legendgroup=model.key,
                marker={"color": model.colour, "pattern": {"shape": model.pattern}},
                customdata=[describe(blocks)] * 3 if blocks else [],
                hovertemplate="<b>%{fullData.name}</b><br>%{x}: %{y:.3f} " + unit
                              + "<br>%{customdata}<extra></extra>")})
        states.append(traces)
    if not any(t["_kw"]["y"] and any(v is not None for v in t["_kw"]["y"])
               for state in states for t in state):
        return None
    return options, states


def _percentile_figure(data: ReportData, key: str, describe: Callable[..., str], unit: str,
                       axes: tuple[str, str], title: str) -> go.Figure | None:
    """Grouped p50/p90/p99 bars of ``key`` per model with the task drop-down (log axis when
    the values span more than two orders of magnitude); ``axes``: the y and x titles."""
    found = _percentile_bars(data, key, describe, unit)
    if found is None:
        return None
    options, states = found
    fig = go.Figure([spec["_trace"](**spec["_kw"]) for spec in states[0]])
    if len(options) > 1:
        task_menu(fig, [label for label, _ in options], states, ("x", "y", "customdata"))
    kind = axis_type([v for state in states for t in state for v in t["_kw"]["y"]])
    fig.update_layout(barmode="group", bargap=0.3)
    fig.update_yaxes(type=kind, title={"text": axes[0] + (", log scale)" if kind == "log"
                                                         else ")")})
    fig.update_xaxes(type="category", title={"text": axes[1]})
    return layout(fig, title, 440)


def latency(data: ReportData) -> go.Figure | None:
    """p50/p90/p99 latency per batch per model; the median over tasks or one task."""
    def describe(blocks: list[dict[str, Any]]) -> str:
        sizes = sorted({b.batch_size for b in blocks if b.batch_size})
        return f"batch size {', '.join(map(str, sizes)) or 'unknown'}; {len(blocks)} task(s)"

    return _percentile_figure(
        data, "latency_ms", describe, "ms per batch",
        ("latency per batch (ms", "percentile of batch latency"),
        "Latency per batch (all tasks: median over tasks)")


def latency_bs1(data: ReportData) -> go.Figure | None:
    """p50/p90/p99 of one example per call (``--profile latency``) per model; the median over
    tasks or one task."""
    def describe(blocks: list[dict[str, Any]]) -> str:
        calls = sorted({int(b.latency_bs1_ms.n) for b in blocks})
        means = [b.latency_bs1_ms.mean for b in blocks if num(b.latency_bs1_ms.mean)]
        reps = (f"{calls[0]}" if len(calls) == 1 else f"{calls[0]}–{calls[-1]}") \
            if calls else "?"
        mean = f"; mean {fmt(median(means), 3)} ms" if means else ""
        return (f"batch size 1; {reps} repetitions per task{mean}; {len(blocks)} task(s)")

    return _percentile_figure(
        data, "latency_bs1_ms", describe, "ms per call",
        ("latency per call (ms", "percentile of single-example latency"),
        "Latency with one example per call (profile mode; all tasks: median over tasks)")


def batch_sweep(data: ReportData) -> go.Figure | None:
    """Examples/s and peak memory against batch size, one line per (model, task) swept."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=("throughput vs batch size", "memory vs batch size"))
    dashes = ("solid", "dash", "dot", "dashdot", "longdash")
    values: dict[int, list[float]] = {1: [], 2: []}
    found = False
    for model in data.models:
        first = True
        for i, (task, entry) in enumerate(sorted(model.results.items())):
            efficiency = entry.record.efficiency
            points = sorted(efficiency.sweep or [] if efficiency is not None else [],
                            key=lambda p: p.batch_size)
            if not points:
                continue
            found = True
            for col, key in ((1, "examples_per_s"), (2, "peak_memory_mb")):
                unit = "examples/s" if col == 1 else "MB"
                ys = [getattr(p, key) for p in points]
                values[col] += [y for y in ys if num(y)]
                fig.add_trace(go.Scatter(
                    x=[p.batch_size for p in points], y=ys,
                    name=f"{model.label} · {task}", legendgroup=model.key,
                    showlegend=col == 1 and first, mode="lines+markers",
                    line={"color": model.colour, "dash": dashes[i % len(dashes)]},
                    marker={"color": model.colour, "symbol": model.symbol},
                    hovertemplate=f"<b>{esc(model.label)}</b> · {esc(task)}<br>"
                                  f"batch size %{{x}}: %{{y:.2f}} {unit}<extra></extra>"),
                    row=1, col=col)
            first = False
    if not found:
        return None
    fig.update_xaxes(type="log", dtick=math.log10(2), title={"text": "batch size (examples)"})
    for col, title in ((1, "throughput (examples/s"), (2, "peak memory (MB")):
        kind = axis_type(values[col])
        fig.update_yaxes(type=kind, title={"text": title + (", log scale)" if kind == "log"
                                                            else ")")},
                         row=1, col=col, rangemode="tozero" if kind == "linear" else None)
    return layout(fig, "Batch-size sweep (line style: task)", 460)


# -- bias, safety, robustness ---------------------------------------------------------------------
def bias_probe(probe: Any) -> bool:
    """A bias figure the heatmap draws (``max_gap`` a number)."""
    return isinstance(probe, BiasFigure) and num(probe.max_gap)


def safety_probe(probe: Any) -> bool:
    """A safety figure the bars draw (``rate`` a number)."""
    return isinstance(probe, SafetyFigure) and num(probe.rate)


def robustness_probe(probe: Any) -> bool:
    """A robustness figure the bars draw (``retention`` a number)."""
    return isinstance(probe, RobustnessFigure) and num(probe.retention)


def _drawn_probes(data: ReportData, section: Section, drawn: Callable[[Any], bool]
                  ) -> list[str]:
    """The probes of ``section`` with a figure some record draws, in the order first seen."""
    names: list[str] = []
    for _, entry in data.entries():
        for name, probe in (entry.record.section(section) or {}).items():
            if drawn(probe) and name not in names:
                names.append(name)
    return names


def _bias_cells(data: ReportData, rows: list[Model], probes: list[str], task: str | None,
                alpha: float) -> dict[str, list[list[Any]]]:
    """z (gap on 0-1 of its scale), significance and hover per (model, probe): one task's, or
    over all tasks the largest (whose hover also lists the groups' values)."""
    z, sig, hover = [], [], []
    for model in rows:
        zr, sr, hr = [], [], []
        for name in probes:
            found = []
            for slot, entry in model.results.items():
                if task is not None and slot != task:
                    continue
                probe = (entry.record.bias or {}).get(name)
                if probe is not None and bias_probe(probe):
                    found.append((probe.max_gap / scale_span(probe.scale), slot,  # type: ignore[operator]
                                  probe, entry))
            if not found:
                zr.append(None)
                sr.append(False)
                hr.append("not measured")
                continue
            gap, slot, probe, entry = max(found, key=lambda f: f[0])
            p = probe.p_value
            significant = bool(num(p) and p < alpha)
            groups = (probe.groups or {}) if task is None else {}  # all tasks only
            group_text = " · ".join(f"{esc(g)} {fmt(v, 3) if num(v) else esc(v)}"
                                    for g, v in list(groups.items())[:8])
            zr.append(gap)
            sr.append(significant)
            where = f"{esc(slot)}: " if task is None else ""  # a task's state names it
            hr.append(f"{where}gap {fmt(probe.max_gap, 3)} ({100 * gap:.1f}% of "
                      f"{esc(probe.scale or '0-1')}), p {fmt(p, 3) if num(p) else 'n/a'}"
                      + ("" if significant else " (n.s.)")
                      + ("<br><b>below chance here: counts 0</b>"
                         if below_chance(entry) else "")
                      + (f"<br>{group_text}" if group_text else "")
                      + (f"<br>largest of {len(found)} tasks" if len(found) > 1 else ""))
        z.append(zr)
        sig.append(sr)
        hover.append(hr)
    return {"z": z, "sig": sig, "hover": hover}


def bias_heatmap(data: ReportData, alpha: float = 0.05) -> go.Figure | None:
    """Largest gap between groups per model × bias probe on one fixed symmetric scale:
    significant gaps (p < alpha, marked ``*``) are coloured on the positive side, the others
    are drawn as their negative on a muted grey side, so a gap of 0.0001 never glows."""
    probes = _drawn_probes(data, Section.BIAS, bias_probe)
    if not probes:
        return None
    rows = [m for m in data.models
            if any(bias_probe(p) for e in m.results.values()
                   for p in (e.record.bias or {}).values())]
    labels = [name_of(m) for m in rows]
    options = task_options(data)
    options = [(label, task) for label, task in options
               if task is None or any(bias_probe(p) for _, e in data.entries(task)
                                      for p in (e.record.bias or {}).values())]
    if len(rows) * len(probes) * len(options) > BIAS_MAX_CELLS:  # keep the page small:
        options = options[:1]  # all tasks only (the hover names each cell's task)
    states = []
    few = len(probes) <= 12
    for _, task in options:
        cells = _bias_cells(data, rows, probes, task, alpha)
        z = [[None if g is None else (g if s else -max(g, BIAS_MUTED_FLOOR))
              for g, s in zip(gr, sr, strict=True)]
             for gr, sr in zip(cells["z"], cells["sig"], strict=True)]
        text = [[(f"{g:.2f}" if few else "") + ("*" if s else "") if g is not None else ""
                 for g, s in zip(gr, sr, strict=True)]
                for gr, sr in zip(cells["z"], cells["sig"], strict=True)]
        states.append([{"_kw": dict(z=z, text=text, customdata=cells["hover"])}])
    ticks = [-BIAS_ZMAX, -BIAS_ZMAX / 2, 0, BIAS_ZMAX / 2, BIAS_ZMAX]
    fig = go.Figure(go.Heatmap(
        **states[0][0]["_kw"], x=probes, y=labels, texttemplate="%{text}",
        zmin=-BIAS_ZMAX, zmax=BIAS_ZMAX, colorscale=BIAS_COLOURS, xgap=2, ygap=2,
        textfont={"size": 11},
        colorbar={"title": {"text": "largest gap<br>(share of<br>the scale)"},
                  "lenmode": "pixels", "len": 220, "yanchor": "top", "y": 1.0,
                  "tickvals": ticks,
                  "ticktext": [f"{abs(t):.0%}" + (" n.s." if t < 0 else "") for t in ticks]},
        hovertemplate="<b>%{y}</b> · %{x}<br>%{customdata}<extra></extra>"))
    if len(options) > 1:
        task_menu(fig, [label for label, _ in options], states, ("z", "text", "customdata"))
    fig.update_xaxes(type="category", title={"text": "bias probe"})
    fig.update_yaxes(type="category", title={"text": "model"}, autorange="reversed")
    height = max(460, 260 + 26 * len(rows))
    return layout(fig, f"Bias: largest gap between groups (fixed scale; colour, *: p < "
                       f"{alpha:g}; grey: not significant)", height)


def _hatch(model: Model, low: bool) -> dict[str, Any]:
    marker: dict[str, Any] = {"color": with_alpha(model.colour, 0.45) if low else model.colour,
                              "pattern": {"shape": "x" if low else model.pattern}}
    if low:
        marker["line"] = {"color": model.colour, "width": 1.5}
    return marker


def safety_rates(data: ReportData) -> go.Figure | None:
    """Share of outputs flagged per probe and model, with the classifier named."""
    keys: list[tuple[str, str, Any]] = []
    for _, entry in data.entries():
        for name, probe in (entry.record.safety or {}).items():
            if safety_probe(probe):
                key = (name, str(probe.classifier or "classifier not named"), probe.threshold)
                if key not in keys:
                    keys.append(key)
    if not keys:
        return None
    # the classifier wrapped in short lines: a long one ("regex: e-mail, phone (9-15
    # digits), Luhn-valid card number") rotated under the axis and squeezed the bars flat
    labels = ["<br>".join([f"<b>{esc(n)}</b>", *map(esc, textwrap.wrap(c, 22))]
                          + ([f"threshold {t:.3g}"] if num(t) else []))
              for n, c, t in keys]
    lines = max(label.count("<br>") + 1 for label in labels)
    fig = go.Figure()
    for model in data.models:
        x, y, err, custom = [], [], [], []
        low = False
        for key, label in zip(keys, labels, strict=True):
            found = [(p, e) for e in model.results.values()
                     for n, p in (e.record.safety or {}).items()
                     if n == key[0] and safety_probe(p)
                     and str(p.classifier or "classifier not named") == key[1]
                     and p.threshold == key[2]]
            if not found:
                continue
            probes = [p for p, _ in found]
            low = low or any(below_chance(e) for _, e in found)
            weights = [p.n if num(p.n) and p.n > 0 else 1 for p in probes]
            total = sum(weights)
            rate = sum(p.rate * w for p, w in zip(probes, weights, strict=True)) / total
            counted = all(num(p.n) for p in probes)
            half = 1.96 * math.sqrt(max(rate * (1 - rate), 0.0) / total) if counted else None
            x.append(label)
            y.append(100 * rate)
            err.append(None if half is None else 100 * half)
            custom.append(f"{100 * rate:.2f}% of {int(total) if counted else '?'} outputs "
                          f"flagged; {len(probes)} task(s)"
                          + ("<br><b>below chance on a task: counts 0</b>"
                             if any(below_chance(e) for _, e in found) else ""))
        if x:
            fig.add_trace(go.Bar(
                x=x, y=y, name=name_of(model), legendgroup=model.key,
                marker=_hatch(model, low), customdata=custom,
                error_y={"type": "data", "array": err, "color": INK, "thickness": 1.2},
                hovertemplate="<b>%{fullData.name}</b><br>%{customdata}<extra></extra>"))
    fig.update_layout(barmode="group")
    fig.update_yaxes(title={"text": "outputs flagged (% of outputs)"}, rangemode="tozero",
                     ticksuffix="%")
    fig.update_xaxes(type="category", title={"text": "safety probe and classifier"},
                     automargin=True)
    return layout(fig, "Safety: share of outputs flagged (whiskers: 95% interval)",
                  400 + 16 * lines)


def robustness_retention(data: ReportData) -> go.Figure | None:
    """Retention of the clean score per perturbation and model (mean over tasks)."""
    names = _drawn_probes(data, Section.ROBUSTNESS, robustness_probe)
    if not names:
        return None
    fig = go.Figure()
    for model in data.models:
        x, y, custom = [], [], []
        low = False
        for name in names:
            found = [(p, e) for e in model.results.values()
                     if robustness_probe(p := (e.record.robustness or {}).get(name))]
            if not found:
                continue
            probes = [p for p, _ in found]
            low = low or any(below_chance(e) for _, e in found)
            kept = sum(p.retention for p in probes) / len(probes)
            flips = [p.flip_rate for p in probes if num(p.flip_rate)]
            scores = [p.score for p in probes if num(p.score)]
            x.append(name)
            y.append(100 * kept)
            custom.append(f"retention {100 * kept:.2f}%"
                          + (f"<br>score under perturbation {fmt(sum(scores) / len(scores))}"
                             if scores else "")
                          + (f"<br>flip rate {100 * sum(flips) / len(flips):.2f}%"
                             if flips else "")
                          + f"<br>{len(probes)} task(s)"
                          + ("<br><b>below chance on a task: counts 0</b>"
                             if any(below_chance(e) for _, e in found) else ""))
        if x:
            fig.add_trace(go.Bar(x=x, y=y, name=name_of(model), legendgroup=model.key,
                                 marker=_hatch(model, low), customdata=custom,
                                 hovertemplate="<b>%{fullData.name}</b> · %{x}<br>"
                                               "%{customdata}<extra></extra>"))
    fig.update_layout(barmode="group")
    fig.add_hline(y=100, line={"color": "#777", "dash": "dot", "width": 1})
    fig.update_yaxes(title={"text": "clean score retained (% of the clean score)"},
                     rangemode="tozero", ticksuffix="%")
    fig.update_xaxes(type="category", title={"text": "perturbation"})
    return layout(fig, "Robustness: share of the clean score kept under each perturbation",
                  440)



# -- generalisation -------------------------------------------------------------------------------
RETENTION_GROUPED = 6  # more models than this on a suite: one model at a time (drop-down)


def generalisation_figures(data: ReportData, order: Sequence[Model] | None = None
                           ) -> dict[str, go.Figure]:
    """Per suite, a dot-and-interval chart of retention (% of the reference score kept) per
    variant, a dotted line at 100%; language variants grouped by resource level or script.
    Up to :data:`RETENTION_GROUPED` models side by side, more through a model drop-down.
    Models with nothing to retain (below chance on the reference) are not drawn."""
    figures = {}
    for suite, items in G.by_suite(data, list(order or data.models)).items():
        drawn = [ms for ms in items if ms.retained]
        if drawn:
            figures[suite] = _retention_figure(suite, drawn)
    return figures


def _retention_figure(suite: str, drawn: list[G.ModelSuite]) -> go.Figure:
    rows: dict[str, G.Variant] = {}
    for ms in drawn:
        for v in ms.variants:
            rows.setdefault(v.slot, v)
    slots = sorted(rows, key=lambda s: (rows[s].group_rank, rows[s].position, s))
    grouped = any(rows[s].group for s in slots)
    y: Any = ([[rows[s].group or "" for s in slots], [rows[s].label for s in slots]]
              if grouped else [rows[s].label for s in slots])
    states = [_retention_state(ms, slots) for ms in drawn]
    one_at_a_time = len(drawn) > RETENTION_GROUPED
    fig = go.Figure()
    for state in states[:1] if one_at_a_time else states:
        fig.add_trace(go.Scatter(y=y, orientation="h", mode="markers", **state["_kw"],
                                 hovertemplate="%{customdata}<extra></extra>"))
    if one_at_a_time:
        fig.data[0].showlegend = False
        task_menu(fig, [ms.model.label for ms in drawn], [[s] for s in states],
                  ("x", "error_x.array", "error_x.arrayminus", "marker.color",
                   "marker.symbol", "name", "customdata", "legendgroup"), prefix="model: ")
    else:
        fig.update_layout(scattermode="group", scattergap=0.35)
    highs = [100 * (v.ci_high if v.ci_high is not None else v.retention or 0)
             for ms in drawn for v in ms.retained]
    fig.add_vline(x=100, line={"color": "#777", "dash": "dot", "width": 1.5})
    first = drawn[0]
    fig.update_xaxes(title={"text": f"retention: % of the reference's {first.metric} kept "
                                    f"({first.reference_label} = 100%)"},
                     ticksuffix="%", range=[0, max(110.0, max(highs, default=0) + 8)])
    fig.update_yaxes(type="multicategory" if grouped else "category", autorange="reversed",
                     title={"text": "variant"})
    per_row = 26 if one_at_a_time else max(26, 10 + 11 * len(drawn))
    title = f"{suite}: share of the reference score kept (95% interval)"
    fig = layout(fig, title, 190 + per_row * len(slots))
    if one_at_a_time:
        fig.update_layout(margin={"t": 110})
    return fig


def _retention_state(ms: G.ModelSuite, slots: list[str]) -> dict[str, Any]:
    """One model's points over every row of the chart (``None`` where it has none)."""
    found = {v.slot: v for v in ms.variants}
    x, plus, minus, hover = [], [], [], []
    for slot in slots:
        v = found.get(slot)
        if v is None or v.retention is None:
            x.append(None)
            plus.append(0.0)
            minus.append(0.0)
            hover.append("")
            continue
        value = 100 * v.retention
        x.append(value)
        plus.append(max(0.0, 100 * v.ci_high - value) if v.ci_high is not None else 0.0)
        minus.append(max(0.0, value - 100 * v.ci_low) if v.ci_low is not None else 0.0)
        hover.append(_retention_hover(ms, v))
    model = ms.model
    return {"_kw": dict(x=x, name=name_of(model), legendgroup=model.key, customdata=hover,
                        marker={"color": model.colour, "symbol": model.symbol, "size": 10,
                                "line": {"width": 1}},
                        error_x={"type": "data", "array": plus, "arrayminus": minus,
                                 "color": model.colour, "thickness": 1.5, "width": 4})}


def _retention_hover(ms: G.ModelSuite, v: G.Variant) -> str:
    scale = v.scale
    lines = [f"<b>{esc(ms.model.label)}</b> · {esc(v.name)}"
             + (f" ({esc(v.group)})" if v.group else ""),
             f"retention {G.percent(v.retention)}{esc(G.interval(v))}",
             f"{esc(v.metric)} {G.metric_value(v.value, scale)} vs "
             f"{G.metric_value(v.reference_value, scale)} on {esc(ms.reference_label)}"]
    if v.gap is not None:
        gap = f"gap {G.metric_value(v.gap, scale)}"
        if v.gap_ci_low is not None and v.gap_ci_high is not None:
            gap += (f" [{G.metric_value(v.gap_ci_low, scale)}, "
                    f"{G.metric_value(v.gap_ci_high, scale)}]")
        if v.p_value is not None:
            gap += f", {p_value_text(v.p_value)}"
        lines.append(gap)
    lines.append("paired by example id" if v.paired else "unpaired")
    return "<br>".join(lines)
