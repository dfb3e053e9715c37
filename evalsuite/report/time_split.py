"""“Where the time goes”: the ``efficiency.split_s`` phases of each model as stacked bars.

``split_s`` holds the seconds of the timed batches per phase (``tokenize``, ``transfer``,
``forward``, ``decode`` reported by the adapter, other phases an adapter names, and
``predict_other``, the rest of the batches) followed by ``metrics`` and ``write``; these run
one after the other, so they stack.  Work done in a background thread while batches computed
(``efficiency.overlapped_s``, prefetch tokenization) overlaps them: it is not stacked, the
hover names it.
"""

from __future__ import annotations

from collections.abc import Iterable
from statistics import median

import plotly.graph_objects as go

from evalsuite.efficiency.measurement import PHASES
from evalsuite.report.figures import efficiency_blocks, task_options
from evalsuite.report.load import Model, ReportData
from evalsuite.report.style import ALL_TASKS, esc, fmt, layout, num, task_menu
from evalsuite.results.records import Efficiency

AFTER = ("predict_other", "metrics", "write")
# Okabe–Ito (colour-blind safe), none of them a model colour (load.PALETTE); greys for
# phases an adapter names itself.
PHASE_COLOURS = {"tokenize": "#E69F00", "transfer": "#F0E442", "forward": "#0072B2",
                 "decode": "#56B4E9", "predict_other": "#CC79A7", "metrics": "#009E73",
                 "write": "#D55E00"}
EXTRA_COLOURS = ("#4D4D4D", "#A6A6A6", "#7A5C3A", "#000000")


def phase_order(names: Iterable[str]) -> list[str]:
    """Phases as ``Measurement.split`` orders them: the adapter's known phases, its other
    phases (sorted), then ``predict_other``, ``metrics``, ``write``."""
    names = set(names)
    extra = sorted(names - set(PHASES) - set(AFTER))
    return [p for p in PHASES if p in names] + extra + [p for p in AFTER if p in names]


def phase_colours(phases: list[str]) -> dict[str, str]:
    extra = [p for p in phases if p not in PHASE_COLOURS]
    return {**PHASE_COLOURS, **{p: EXTRA_COLOURS[i % len(EXTRA_COLOURS)]
                                for i, p in enumerate(extra)}}


def _seconds(block: Efficiency, key: str) -> dict[str, float]:
    """Seconds per phase of ``split_s`` or ``overlapped_s`` (negative or null left out)."""
    return {k: float(v) for k, v in (getattr(block, key) or {}).items() if num(v) and v >= 0}


def model_split(model: Model, task: str | None
                ) -> tuple[dict[str, float], dict[str, float], int] | None:
    """(seconds per phase, background seconds per phase, tasks) of ``model`` on ``task``, or
    the median over its tasks (``None``); a phase a task lacks counts as 0 s there."""
    blocks = [b for b in efficiency_blocks(model, task, "split_s") if _seconds(b, "split_s")]
    if not blocks:
        return None
    splits = [_seconds(b, "split_s") for b in blocks]
    background = [_seconds(b, "overlapped_s") for b in blocks]
    serial = {p: median(s.get(p, 0.0) for s in splits) for p in {p for s in splits for p in s}}
    overlapped = {p: median(s.get(p, 0.0) for s in background)
                  for p in {p for s in background for p in s}}
    return serial, {p: v for p, v in overlapped.items() if v > 0}, len(blocks)


def _hover(model: Model, phase: str, seconds: float, total: float,
           overlapped: dict[str, float], n: int, task: str | None) -> str:
    share = 100 * seconds / total if total > 0 else 0.0
    where = f"task {esc(task)}" if task else f"median over {n} task(s)"
    text = (f"<b>{esc(model.label)}</b><br>{esc(phase)}: {fmt(seconds)} s, {share:.1f}% of "
            f"{fmt(total)} s<br>{where}")
    if overlapped:
        done = ", ".join(f"{esc(p)} {fmt(v)} s" for p, v in sorted(overlapped.items()))
        text += f"<br>not stacked, in a background thread: {done}"
    return text


def time_split(data: ReportData) -> go.Figure | None:
    """Horizontal stacked bars, one per model, one segment per phase of ``split_s``; the
    median over tasks or one task (drop-down); hover: seconds and share of the bar."""
    options = task_options(data)
    per_option = [{m.key: model_split(m, task) for m in data.models} for _, task in options]
    phases = phase_order({p for splits in per_option for s in splits.values() if s
                          for p in s[0]})
    if not phases:
        return None
    colours = phase_colours(phases)
    states = []
    for (_, task), splits in zip(options, per_option, strict=True):
        traces = []
        for phase in phases:
            x, y, custom = [], [], []
            for model in data.models:
                split = splits.get(model.key)
                if split is None:
                    continue
                serial, overlapped, n = split
                seconds = serial.get(phase, 0.0)
                x.append(seconds)
                y.append(model.label)
                custom.append(_hover(model, phase, seconds, sum(serial.values()), overlapped,
                                     n, task))
            traces.append({"_kw": dict(x=x, y=y, customdata=custom)})
        states.append(traces)
    fig = go.Figure([
        go.Bar(**spec["_kw"], name=phase, orientation="h", legendgroup=f"phase:{phase}",
               marker={"color": colours[phase], "line": {"color": "white", "width": 0.5}},
               hovertemplate="%{customdata}<extra></extra>")
        for phase, spec in zip(phases, states[0], strict=True)])
    labels = [m.label for m in data.models
              if any(splits.get(m.key) for splits in per_option)]
    fig.update_layout(barmode="stack", bargap=0.35, legend={"title": {"text": "phase"},
                                                            "traceorder": "normal"})
    fig.update_xaxes(title={"text": "time (s)"}, rangemode="tozero")
    fig.update_yaxes(title={"text": "model"}, categoryorder="array", categoryarray=labels,
                     autorange="reversed")
    if len(options) > 1:
        task_menu(fig, [label for label, _ in options], states, ("x", "y", "customdata"))
    return layout(fig, f"Where the time goes (seconds per phase; {ALL_TASKS}: median over "
                        "tasks)", 160 + 44 * len(labels))


def time_split_caption(data: ReportData) -> str:
    """What the bars of :func:`time_split` mean (shown under it)."""
    text = ("Segments run one after the other: tokenize, transfer (host to device), forward "
            "and decode as the model's adapter reports them, predict_other (the rest of the "
            "timed batches), then metrics (scoring with bootstrap intervals) and write (the "
            "predictions file). Work done in a background thread while batches computed "
            "(prefetch tokenization, efficiency.overlapped_s) overlaps these phases, so it "
            "is not stacked; the hover names it. Warm-up batches are not counted.")
    if any((e.record.executor is not None and e.record.executor.kind == "ray")
           or (e.record.efficiency is not None and e.record.efficiency.replicas)
           for _, e in data.entries()):
        text += (" Records of the Ray executor sum the prediction phases over replicas "
                 "(replica busy time, not wall-clock time).")
    return text
