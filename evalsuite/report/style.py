"""The report's shared look and small helpers every figure module uses: the Plotly
template, number and interval formatting, the task drop-down, colour alpha, HTML escaping."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
INK = "#222222"
GRID = "#E3E3E3"
FRONTIER = "#333333"
TEMPLATE = go.layout.Template(layout={
    "font": {"family": FONT, "size": 13, "color": INK},
    "paper_bgcolor": "white", "plot_bgcolor": "white",
    "xaxis": {"gridcolor": GRID, "linecolor": "#999", "zerolinecolor": "#BBB",
              "automargin": True, "ticks": "outside", "tickcolor": "#999"},
    "yaxis": {"gridcolor": GRID, "linecolor": "#999", "zerolinecolor": "#BBB",
              "automargin": True, "ticks": "outside", "tickcolor": "#999"},
    "hoverlabel": {"align": "left", "font": {"family": FONT}},
    "legend": {"title": {"text": "model"}},
    "margin": {"l": 70, "r": 30, "t": 60, "b": 60},
})
ALL_TASKS = "all tasks"


def layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    """The report's template and title on ``fig``, tall enough that the legend never
    needs a scroll bar."""
    entries = {t.legendgroup or t.name for t in fig.data
               if t.showlegend is not False and t.type != "heatmap"}
    height = max(height, 250 + 28 * len(entries))
    fig.update_layout(template=TEMPLATE, height=height,
                      title={"text": title, "x": 0.01, "xanchor": "left", "yref": "container",
                             "y": 1.0, "yanchor": "top", "pad": {"t": 14}})
    return fig


def fmt(value: float | None, digits: int = 4) -> str:
    """A figure for hover text (``–`` when missing; thousands grouped above 1000)."""
    if value is None:
        return "–"
    return f"{value:.{digits}f}" if abs(value) < 1000 else f"{value:,.1f}"


def ci_text(low: float | None, high: float | None) -> str:
    """``95% CI [low, high]`` (or ``no interval``)."""
    return "no interval" if low is None or high is None else f"95% CI [{fmt(low)}, {fmt(high)}]"


def task_menu(fig: go.Figure, labels: list[str], states: list[list[dict[str, Any]]],
              attrs: Sequence[str], prefix: str = "task: ") -> None:
    """A drop-down that restyles every trace to one task selection (``attrs``: dotted
    attributes read from each trace spec's ``_kw``; ``prefix`` before each label)."""
    buttons = []
    for label, state in zip(labels, states, strict=True):
        update: dict[str, list[Any]] = {}
        for attr in attrs:
            update[attr] = [lookup(spec["_kw"], attr) for spec in state]
        text = label if label == ALL_TASKS or label.startswith("group ") else f"{prefix}{label}"
        buttons.append({"label": text, "method": "restyle", "args": [update]})
    fig.update_layout(updatemenus=[{
        "buttons": buttons, "direction": "down", "showactive": True, "x": 0.0,
        "xanchor": "left", "y": 1.0, "yanchor": "bottom", "pad": {"b": 10},
        "bgcolor": "white", "bordercolor": "#999", "font": {"size": 12}}], margin={"t": 105})


def lookup(kw: dict[str, Any], attr: str) -> Any:
    """``kw``'s value at a dotted attribute (``error_y.array``); ``[]`` when absent."""
    node: Any = kw
    for part in attr.split("."):
        if not isinstance(node, dict) or part not in node:
            return []
        node = node[part]
    return node


def with_alpha(colour: str, opacity: float) -> str:
    """``#RRGGBB`` as ``rgba(…)`` with ``opacity``."""
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{opacity})"


def num(value: Any) -> bool:
    """Whether ``value`` is a finite number (not a bool)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def pos(value: Any) -> bool:
    """Whether ``value`` is a finite number above zero."""
    return num(value) and value > 0


def esc(value: Any) -> str:
    """``value`` as text safe inside HTML."""
    import html

    return html.escape(str(value))
