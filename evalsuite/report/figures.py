"""One function per figure of the report; each returns ``None`` when its data is absent.

Every figure colours a model with ``Model.colour`` (one colour-blind-safe palette for the
whole report), names its axes with units and shows exact values on hover.  Figures whose
data vary by task carry a task selector (a Plotly drop-down that restyles the same traces).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import geometric_mean, median
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from evalsuite.report.load import Model, ReportData
from evalsuite.report.scoring import (
    DIMENSIONS,
    Score,
    normalise,
    pareto_front,
    primary,
    quality,
)
from evalsuite.report.style import (
    ALL_TASKS,
    FRONTIER,
    GRID,
    INK,
    ci_text,
    esc,
    fmt,
    layout,
    num,
    pos,
    task_menu,
    with_alpha,
)

SCALE_UNITS = {"0-1": "0–1", "0-100": "0–100", "-1-1": "−1–1"}


# -- 2. radar -----------------------------------------------------------------------------------
def radar(scores: Sequence[Score]) -> go.Figure | None:
    """The five dimensions of every model on one polar chart (gaps where not measured)."""
    if not any(d.measured for s in scores for d in s.dimensions.values()):
        return None
    theta = [*DIMENSIONS, DIMENSIONS[0]]
    fig = go.Figure()
    for s in scores:
        r = [s.dimensions[d].value for d in DIMENSIONS]
        text = [fmt(v, 3) if v is not None else "not measured" for v in r]
        fig.add_trace(go.Scatterpolar(
            r=[*r, r[0]], theta=theta, text=[*text, text[0]], name=s.model.label,
            mode="lines+markers", fill="toself" if len(scores) <= 3 else "none",
            line={"color": s.model.colour, "width": 2},
            marker={"color": s.model.colour, "symbol": s.model.symbol, "size": 7},
            fillcolor=with_alpha(s.model.colour, 0.08), legendgroup=s.model.key,
            hovertemplate="<b>%{fullData.name}</b><br>%{theta}: %{text}<extra></extra>"))
    fig.update_layout(polar={"radialaxis": {"range": [0, 1], "dtick": 0.25,
                                            "gridcolor": GRID, "angle": 90,
                                            "tickangle": 90},
                             "angularaxis": {"gridcolor": GRID, "direction": "clockwise"},
                             "bgcolor": "white"})
    return layout(fig, "Dimensions per model (0–1, higher is better; gaps = not measured)",
                   480)


# -- 3. quality per family ----------------------------------------------------------------------
def family_metrics(data: ReportData, family: str) -> list[tuple[str, str | None]]:
    """(metric, scale) of a family's records, primary metrics first."""
    names: dict[str, str | None] = {}
    primaries: list[str] = []
    for task in data.tasks_of(family):
        for _, entry in data.entries(task):
            pname, _ = primary(entry.record)
            if pname and pname not in primaries:
                primaries.append(pname)
            for name, metric in (entry.record.get("metrics") or {}).items():
                names.setdefault(name, metric.get("scale"))
    ordered = primaries + [n for n in names if n not in primaries]
    return [(n, names.get(n)) for n in ordered if n in names]


def quality_by_family(data: ReportData) -> dict[str, go.Figure]:
    """One figure per family: a row of grouped bars (task × model) per metric, with CIs."""
    figures = {}
    for family in data.family_list:
        metrics = family_metrics(data, family)
        tasks = data.tasks_of(family)
        if not metrics:
            continue
        fig = make_subplots(rows=len(metrics), cols=1, shared_xaxes=True,
                            vertical_spacing=min(0.08, 0.35 / len(metrics)))
        for row, (metric, scale) in enumerate(metrics, start=1):
            for model in data.models:
                x, y, plus, minus, custom = [], [], [], [], []
                for task in tasks:
                    entry = model.results.get(task)
                    m = (entry.record.get("metrics") or {}).get(metric) if entry else None
                    if not m or m.get("value") is None:
                        continue
                    value, low, high = m["value"], m.get("ci_low"), m.get("ci_high")
                    x.append(task)
                    y.append(value)
                    plus.append(None if high is None else max(0.0, high - value))
                    minus.append(None if low is None else max(0.0, value - low))
                    custom.append(ci_text(low, high))
                if not x:
                    continue
                fig.add_trace(go.Bar(
                    x=x, y=y, name=model.label, legendgroup=model.key,
                    showlegend=row == 1, marker={"color": model.colour},
                    error_y={"type": "data", "array": plus, "arrayminus": minus,
                             "color": INK, "thickness": 1.2, "width": 3},
                    customdata=custom, meta=metric,
                    hovertemplate=("<b>%{fullData.name}</b><br>%{x}<br>" + metric
                                   + ": %{y:.4f}<br>%{customdata}<extra></extra>")),
                    row=row, col=1)
            unit = SCALE_UNITS.get(scale or "", "value")
            fig.update_yaxes(title={"text": f"{metric} ({unit})"}, row=row, col=1,
                             range=_scale_range(scale))
        fig.update_layout(barmode="group", bargap=0.25, bargroupgap=0.05)
        fig.update_xaxes(title={"text": "task"}, row=len(metrics), col=1)
        title = (f"{family}: quality per task (bars: value; whiskers: 95% bootstrap "
                 f"interval)")
        figures[family] = layout(fig, title, 140 + 200 * len(metrics))
    return figures


def _scale_range(scale: str | None) -> list[float] | None:
    return {"0-1": [0, 1.02], "0-100": [0, 102]}.get(scale or "")


# -- 4. quality vs cost -------------------------------------------------------------------------
@dataclass
class CostPoint:
    """Where one model sits for one task selection."""

    quality: float | None
    half: float | None
    speed: float | None
    memory: float | None
    n: int


def cost_points(data: ReportData, task: str | None) -> dict[str, CostPoint]:
    """Per model: quality (0–1) and cost, for one task or (``None``) over all its tasks.

    Over all tasks: the quality dimension, the geometric mean of examples/s and the largest
    peak memory.
    """
    out = {}
    for model in data.models:
        entries = ([model.results[task]] if task in model.results else []) if task else \
            list(model.results.values())
        if not entries:
            continue
        if task:
            _, m = primary(entries[0].record)
            scale = (m or {}).get("scale")
            q = normalise((m or {}).get("value"), scale)
            low = normalise((m or {}).get("ci_low"), scale)
            high = normalise((m or {}).get("ci_high"), scale)
            half = (high - low) / 2 if low is not None and high is not None else None
        else:
            dim = quality(model)
            q, half = dim.value, dim.half_width
        speeds = [float(v) for e in entries
                  if pos(v := (e.record.get("efficiency") or {}).get("examples_per_s"))]
        mems = [float(v) for e in entries
                if pos(v := (e.record.get("efficiency") or {}).get("peak_memory_mb"))]
        speed = (speeds[0] if len(speeds) == 1 else geometric_mean(speeds)) if speeds else None
        out[model.key] = CostPoint(q, half, speed, max(mems) if mems else None, len(entries))
    return out


def quality_vs_cost(data: ReportData) -> go.Figure | None:
    """Quality against throughput and against peak memory, Pareto frontiers, variants linked."""
    options: list[tuple[str, str | None]] = [(ALL_TASKS, None)]
    if len(data.tasks) > 1:
        options += [(t, t) for t in data.tasks]
    per_option = [cost_points(data, task) for _, task in options]
    if not any(p.quality is not None and (p.speed or p.memory)
               for points in per_option for p in points.values()):
        return None
    groups = data.variant_groups()
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1)
    states = [_cost_state(data, points, groups) for points in per_option]
    for spec in states[0]:
        fig.add_trace(spec["_trace"](**spec["_kw"]), row=1, col=spec["_col"])
    fig.update_xaxes(type="log", title={"text": "throughput (examples/s, log scale)"},
                     row=1, col=1)
    fig.update_xaxes(type="log", title={"text": "peak memory (MB, log scale)"}, row=1, col=2)
    fig.update_yaxes(title={"text": "quality (0–1)"})
    if len(options) > 1:
        task_menu(fig, [label for label, _ in options], states,
                   ("x", "y", "customdata", "text", "error_y.array"))
    return layout(fig, "Quality vs cost (one point per model; error bars: 95% interval)", 480)


def quality_vs_cost_caption(data: ReportData) -> str:
    """What the cost figure's marks mean (shown under it)."""
    text = ("Quality is the primary metric normalised to 0–1 (all tasks: the model's quality "
            "dimension; throughput: geometric mean over tasks; memory: the largest peak). "
            "Ringed, on the dashed line: the Pareto frontier, models no other model beats on "
            "both quality and cost (up-right is better for throughput, up-left for memory).")
    if data.variant_groups():
        text += " Dotted line: precision variants of one model, labelled with their dtype."
    return text


def _cost_state(data: ReportData, points: dict[str, CostPoint],
                groups: list[list[Model]]) -> list[dict[str, Any]]:
    """The traces of the cost figure for one task selection (same order for every option)."""
    specs: list[dict[str, Any]] = []
    for col, attr, maximize in ((1, "speed", True), (2, "memory", False)):
        axis_name = "examples/s" if attr == "speed" else "peak memory MB"
        for model in data.models:
            p = points.get(model.key)
            ok = p is not None and p.quality is not None and getattr(p, attr) is not None
            x = [getattr(p, attr)] if ok else []
            y = [p.quality] if ok else []
            custom = ([f"{axis_name}: {fmt(getattr(p, attr), 2)}<br>quality: "
                       f"{fmt(p.quality)} ± {fmt(p.half)}<br>tasks: {p.n}"] if ok else [])
            specs.append({"_trace": go.Scatter, "_col": col, "_kw": dict(
                x=x, y=y, customdata=custom, text=[model.label] if ok else [],
                mode="markers", name=model.label, legendgroup=model.key,
                showlegend=col == 1,
                marker={"color": model.colour, "symbol": model.symbol, "size": 12,
                        "line": {"color": INK, "width": 1}},
                error_y={"type": "data", "array": [p.half or 0.0] if ok else [],
                         "color": model.colour, "thickness": 1.2, "width": 4},
                hovertemplate="<b>%{text}</b><br>%{customdata}<extra></extra>")})
        valid = [(m, points[m.key]) for m in data.models if m.key in points
                 and points[m.key].quality is not None
                 and getattr(points[m.key], attr) is not None]
        coords = [(getattr(p, attr), p.quality) for _, p in valid]
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
                x=[getattr(p, attr) for _, p in members], y=[p.quality for _, p in members],
                text=[m.dtype or "?" for m, _ in members],
                customdata=[m.label for m, _ in members],
                mode="lines+text", textposition="bottom center", name=f"variants of {target}",
                legendgroup=f"variants-{target}", showlegend=col == 1,
                line={"color": "#777777", "dash": "dot", "width": 1.5},
                textfont={"size": 11, "color": "#555555"},
                error_y={"type": "data", "array": [], "visible": False},
                hovertemplate="%{customdata} (%{text})<extra>precision variant</extra>")})
    return specs


# -- 5. latency and batch-size sweeps -----------------------------------------------------------
PERCENTILES = ("p50", "p90", "p99")


def task_options(data: ReportData) -> list[tuple[str, str | None]]:
    """The task selections of a figure's drop-down: all tasks, then each task (if several)."""
    return [(ALL_TASKS, None)] + ([(t, t) for t in data.tasks] if len(data.tasks) > 1
                                  else [])


def efficiency_blocks(model: Model, task: str | None, key: str) -> list[dict[str, Any]]:
    """``model``'s efficiency blocks (one task, or all for ``None``) whose ``key`` is a dict."""
    entries = ([model.results[task]] if task in model.results else []) if task else \
        list(model.results.values())
    blocks = [(e.record.get("efficiency") or {}) for e in entries]
    return [b for b in blocks if isinstance(b.get(key), dict)]


def _percentile_bars(data: ReportData, key: str, describe: Any, unit: str
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
                values = [b[key][p] for b in blocks if num(b[key].get(p))]
                y.append(median(values) if values else None)
            traces.append({"_trace": go.Bar, "_col": 1, "_kw": dict(
                x=list(PERCENTILES), y=y if blocks else [], name=model.label,
                legendgroup=model.key, marker={"color": model.colour},
                customdata=[describe(blocks)] * 3 if blocks else [],
                hovertemplate="<b>%{fullData.name}</b><br>%{x}: %{y:.3f} " + unit
                              + "<br>%{customdata}<extra></extra>")})
        states.append(traces)
    if not any(t["_kw"]["y"] and any(v is not None for v in t["_kw"]["y"])
               for state in states for t in state):
        return None
    return options, states


def _percentile_figure(data: ReportData, key: str, describe: Any, unit: str, axes: tuple[str, str],
                       title: str) -> go.Figure | None:
    """Grouped p50/p90/p99 bars of ``key`` per model (log axis) with the task drop-down;
    ``axes``: the y and x titles."""
    found = _percentile_bars(data, key, describe, unit)
    if found is None:
        return None
    options, states = found
    fig = go.Figure([spec["_trace"](**spec["_kw"]) for spec in states[0]])
    if len(options) > 1:
        task_menu(fig, [label for label, _ in options], states, ("x", "y", "customdata"))
    fig.update_layout(barmode="group", bargap=0.3)
    fig.update_yaxes(type="log", title={"text": axes[0]})
    fig.update_xaxes(title={"text": axes[1]})
    return layout(fig, title, 440)


def latency(data: ReportData) -> go.Figure | None:
    """p50/p90/p99 latency per batch per model; the median over tasks or one task."""
    def describe(blocks: list[dict[str, Any]]) -> str:
        sizes = sorted({b.get("batch_size") for b in blocks if b.get("batch_size")})
        return f"batch size {', '.join(map(str, sizes)) or 'unknown'}; {len(blocks)} task(s)"

    return _percentile_figure(
        data, "latency_ms", describe, "ms per batch",
        ("latency per batch (ms, log scale)", "percentile of batch latency"),
        "Latency per batch (all tasks: median over tasks)")


def latency_bs1(data: ReportData) -> go.Figure | None:
    """p50/p90/p99 of one example per call (``--profile latency``) per model; the median over
    tasks or one task."""
    def describe(blocks: list[dict[str, Any]]) -> str:
        calls = sorted({int(b["latency_bs1_ms"]["n"]) for b in blocks
                        if num(b["latency_bs1_ms"].get("n"))})
        means = [b["latency_bs1_ms"]["mean"] for b in blocks
                 if num(b["latency_bs1_ms"].get("mean"))]
        reps = (f"{calls[0]}" if len(calls) == 1 else f"{calls[0]}–{calls[-1]}") \
            if calls else "?"
        mean = f"; mean {fmt(median(means), 3)} ms" if means else ""
        return (f"batch size 1; {reps} repetitions per task{mean}; {len(blocks)} task(s)")

    return _percentile_figure(
        data, "latency_bs1_ms", describe, "ms per call",
        ("latency per call (ms, log scale)", "percentile of single-example latency"),
        "Latency with one example per call (profile mode; all tasks: median over tasks)")


def batch_sweep(data: ReportData) -> go.Figure | None:
    """Examples/s and peak memory against batch size, one line per (model, task) swept."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=("throughput vs batch size", "memory vs batch size"))
    dashes = ("solid", "dash", "dot", "dashdot", "longdash")
    found = False
    for model in data.models:
        first = True
        for i, (task, entry) in enumerate(sorted(model.results.items())):
            sweep = (entry.record.get("efficiency") or {}).get("sweep")
            points = sorted((p for p in sweep or [] if isinstance(p, dict)
                             and isinstance(p.get("batch_size"), (int, float))),
                            key=lambda p: p["batch_size"])
            if not points:
                continue
            found = True
            for col, key in ((1, "examples_per_s"), (2, "peak_memory_mb")):
                unit = "examples/s" if col == 1 else "MB"
                fig.add_trace(go.Scatter(
                    x=[p["batch_size"] for p in points], y=[p.get(key) for p in points],
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
    fig.update_yaxes(title={"text": "throughput (examples/s)"}, row=1, col=1,
                     rangemode="tozero")
    fig.update_yaxes(title={"text": "peak memory (MB)"}, row=1, col=2, rangemode="tozero")
    return layout(fig, "Batch-size sweep (line style: task)", 440)


# -- 6. bias, safety, robustness ----------------------------------------------------------------
def bias_probe(probe: Any) -> bool:
    """A bias probe in the shape the heatmap draws (``max_gap`` a number)."""
    return isinstance(probe, dict) and num(probe.get("max_gap"))


def safety_probe(probe: Any) -> bool:
    return isinstance(probe, dict) and num(probe.get("rate"))


def robustness_probe(probe: Any) -> bool:
    return isinstance(probe, dict) and num(probe.get("retention"))


def bias_heatmap(data: ReportData, alpha: float = 0.05) -> go.Figure | None:
    """Largest gap between groups per model × (task · probe); ``*`` marks p < alpha."""
    columns: list[tuple[str, str]] = []
    for task in data.tasks:
        for _, entry in data.entries(task):
            for name, probe in (entry.record.get("bias") or {}).items():
                if bias_probe(probe) and (task, name) not in columns:
                    columns.append((task, name))
    if not columns:
        return None
    rows = [m for m in data.models
            if any(bias_probe((m.results[t].record.get("bias") or {}).get(p))
                   for t, p in columns if t in m.results)]
    z, text, custom = [], [], []
    for model in rows:
        zr, tr, cr = [], [], []
        for task, name in columns:
            entry = model.results.get(task)
            probe = (entry.record.get("bias") or {}).get(name) if entry else None
            if not bias_probe(probe):
                zr.append(None)
                tr.append("")
                cr.append("not measured")
                continue
            gap, p = float(probe["max_gap"]), probe.get("p_value")
            significant = num(p) and p < alpha
            zr.append(gap)
            tr.append(f"{gap:.3f}{'*' if significant else ''}")
            groups = probe.get("groups") or {}
            group_text = "<br>".join(f"  {esc(g)}: {fmt(v) if num(v) else esc(v)}"
                                     for g, v in list(groups.items())[:12])
            cr.append(f"max gap: {gap:.4f}<br>p-value: {fmt(p) if num(p) else 'n/a'}"
                      f"{' (significant)' if significant else ''}<br>"
                      f"{ci_text(probe.get('ci_low'), probe.get('ci_high'))}"
                      + (f"<br>groups:<br>{group_text}" if group_text else ""))
        z.append(zr)
        text.append(tr)
        custom.append(cr)
    x = [f"{task} · {name}" for task, name in columns]
    fig = go.Figure(go.Heatmap(
        z=z, x=x, y=[m.label for m in rows], text=text, customdata=custom,
        texttemplate="%{text}", colorscale="Cividis", zmin=0, xgap=2, ygap=2,
        colorbar={"title": {"text": "max gap<br>(score units)"}},
        hovertemplate="<b>%{y}</b><br>%{x}<br>%{customdata}<extra></extra>"))
    fig.update_xaxes(title={"text": "task · bias probe"}, tickangle=-30)
    fig.update_yaxes(title={"text": "model"}, autorange="reversed")
    height = max(320, 150 + 40 * len(rows))
    return layout(fig, f"Bias: largest gap between groups (* p < {alpha:g})", height)


def safety_rates(data: ReportData) -> go.Figure | None:
    """Share of outputs flagged per probe and model, with the classifier named."""
    keys: list[tuple[str, str, Any]] = []
    for _, entry in data.entries():
        for name, probe in (entry.record.get("safety") or {}).items():
            if safety_probe(probe):
                key = (name, str(probe.get("classifier") or "classifier not named"),
                       probe.get("threshold"))
                if key not in keys:
                    keys.append(key)
    if not keys:
        return None
    labels = [f"{n}<br>{esc(c)}" + (f", threshold {t:g}" if num(t) else "")
              for n, c, t in keys]
    fig = go.Figure()
    for model in data.models:
        x, y, err, custom = [], [], [], []
        for key, label in zip(keys, labels, strict=True):
            probes = [p for e in model.results.values()
                      for n, p in (e.record.get("safety") or {}).items()
                      if n == key[0] and safety_probe(p)
                      and str(p.get("classifier") or "classifier not named") == key[1]
                      and p.get("threshold") == key[2]]
            if not probes:
                continue
            weights = [p["n"] if num(p.get("n")) and p["n"] > 0 else 1 for p in probes]
            total = sum(weights)
            rate = sum(p["rate"] * w for p, w in zip(probes, weights, strict=True)) / total
            counted = all(num(p.get("n")) for p in probes)
            half = 1.96 * math.sqrt(max(rate * (1 - rate), 0.0) / total) if counted else None
            x.append(label)
            y.append(100 * rate)
            err.append(None if half is None else 100 * half)
            custom.append(f"{100 * rate:.2f}% of {int(total) if counted else '?'} outputs "
                          f"flagged; {len(probes)} task(s)")
        if x:
            fig.add_trace(go.Bar(
                x=x, y=y, name=model.label, legendgroup=model.key,
                marker={"color": model.colour}, customdata=custom,
                error_y={"type": "data", "array": err, "color": INK, "thickness": 1.2},
                hovertemplate="<b>%{fullData.name}</b><br>%{customdata}<extra></extra>"))
    fig.update_layout(barmode="group")
    fig.update_yaxes(title={"text": "outputs flagged (%)"}, rangemode="tozero")
    fig.update_xaxes(title={"text": "safety probe and classifier"})
    return layout(fig, "Safety: share of outputs flagged (whiskers: 95% interval)", 420)


def robustness_retention(data: ReportData) -> go.Figure | None:
    """Retention of the clean score per perturbation and model (mean over tasks)."""
    names: list[str] = []
    for _, entry in data.entries():
        for name, probe in (entry.record.get("robustness") or {}).items():
            if robustness_probe(probe) and name not in names:
                names.append(name)
    if not names:
        return None
    fig = go.Figure()
    for model in data.models:
        x, y, custom = [], [], []
        for name in names:
            probes = [p for e in model.results.values()
                      if robustness_probe(p := (e.record.get("robustness") or {}).get(name))]
            if not probes:
                continue
            kept = sum(p["retention"] for p in probes) / len(probes)
            flips = [p["flip_rate"] for p in probes if num(p.get("flip_rate"))]
            scores = [p["score"] for p in probes if num(p.get("score"))]
            x.append(name)
            y.append(100 * kept)
            custom.append(f"retention {100 * kept:.2f}%"
                          + (f"<br>score under perturbation {fmt(sum(scores) / len(scores))}"
                             if scores else "")
                          + (f"<br>flip rate {100 * sum(flips) / len(flips):.2f}%"
                             if flips else "")
                          + f"<br>{len(probes)} task(s)")
        if x:
            fig.add_trace(go.Bar(x=x, y=y, name=model.label, legendgroup=model.key,
                                 marker={"color": model.colour}, customdata=custom,
                                 hovertemplate="<b>%{fullData.name}</b> · %{x}<br>"
                                               "%{customdata}<extra></extra>"))
    fig.update_layout(barmode="group")
    fig.add_hline(y=100, line={"color": "#777", "dash": "dot", "width": 1})
    fig.update_yaxes(title={"text": "clean score retained (%)"}, rangemode="tozero")
    fig.update_xaxes(title={"text": "perturbation"})
    return layout(fig, "Robustness: share of the clean score kept under each perturbation",
                   420)


