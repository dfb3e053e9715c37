"""The lowest-scoring examples of each (model, task), trimmed so the report stays small.

Only ``k`` rows per record are kept (streamed through a bounded heap, so a predictions file
of any length costs O(k) memory) and every text is cut to ``width`` characters.
"""

from __future__ import annotations

import heapq
import json
import math
from dataclasses import dataclass, field
from typing import Any

from evalsuite.report.load import Entry, Model, ReportData

DEFAULT_K = 5
DEFAULT_WIDTH = 240


@dataclass
class WorstRow:
    """One trimmed example: id, score and the three texts."""

    id: str
    score: float
    input: str
    prediction: str
    reference: str


@dataclass
class WorstList:
    """The worst examples of one (model, task), or why there are none."""

    model: Model
    task: str
    metric: str
    rows: list[WorstRow] = field(default_factory=list)
    total: int = 0
    note: str | None = None


def worst_examples(data: ReportData, k: int = DEFAULT_K,
                   width: int = DEFAULT_WIDTH) -> list[WorstList]:
    """Per (model, task) with a predictions file: its ``k`` lowest-scoring examples."""
    out = []
    for task in data.tasks:
        for model, entry in data.entries(task):
            out.append(_worst_of(model, entry, k, width))
    return out


def _worst_of(model: Model, entry: Entry, k: int, width: int) -> WorstList:
    metric = str(entry.record.get("primary_metric") or "score")
    result = WorstList(model=model, task=entry.task, metric=metric)
    if not entry.record.get("predictions_file"):
        result.note = "no per-example predictions recorded"
        return result
    heap: list[tuple[float, int, dict[str, Any]]] = []
    try:
        for i, row in enumerate(entry.run.predictions(entry.record)):
            score = row.get("score")
            if isinstance(score, bool) or not isinstance(score, (int, float)) \
                    or not math.isfinite(score):
                continue
            result.total += 1
            item = (-float(score), -i, row)  # max-heap on score keeps the k lowest
            if len(heap) < k:
                heapq.heappush(heap, item)
            elif item > heap[0]:
                heapq.heapreplace(heap, item)
    except FileNotFoundError:
        result.note = f"predictions file {entry.record['predictions_file']} is missing"
        return result
    except (OSError, json.JSONDecodeError) as exc:
        result.note = f"predictions file unreadable: {type(exc).__name__}"
        return result
    rows = sorted(heap, key=lambda t: (-t[0], -t[1]))
    result.rows = [WorstRow(id=str(r.get("id", "")), score=-s,
                            input=shorten(_text(r.get("input")), width),
                            prediction=shorten(_text(r.get("prediction")), width),
                            reference=shorten(_text(r.get("reference")), width))
                   for s, _, r in rows]
    if not result.rows:
        result.note = "no example has a per-example score"
    return result


def _text(value: Any) -> str:
    """A readable one-line form of an input, prediction or reference field."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if len(value) == 1:
            return _text(next(iter(value.values())))
        return " | ".join(f"{k}: {_text(v)}" for k, v in value.items() if v is not None)
    if isinstance(value, list):
        if all(isinstance(v, str) for v in value):
            return " ".join(value) if all(" " not in v for v in value) else " ‖ ".join(value)
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def shorten(text: str, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"
