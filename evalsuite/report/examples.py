"""The lowest-scoring examples of each (model, task), trimmed so the report stays small.

Only ``k`` rows per record are kept (streamed through a bounded heap, so a predictions file
of any length costs O(k) memory; only the kept rows are parsed, see :func:`scan_scores`) and
every text is cut to ``width`` characters.
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
    metric = str(entry.record.primary_metric or "score")
    result = WorstList(model=model, task=entry.task, metric=metric)
    path = entry.run.predictions_file(entry.record)
    if path is None:
        result.note = "no per-example predictions recorded"
        return result
    heap: list[tuple[float, int, bytes]] = []  # max-heap on score: the k lowest
    try:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.readlines(BLOCK_BYTES), []):
                for score, line in scan_scores(block):
                    item = (-score, -result.total, line)
                    result.total += 1
                    if len(heap) < k:
                        heapq.heappush(heap, item)
                    elif item > heap[0]:
                        heapq.heapreplace(heap, item)
        rows = [(-s, json.loads(line)) for s, _, line in sorted(heap, reverse=True)]
    except FileNotFoundError:
        result.note = f"predictions file {entry.record.predictions_file} is missing"
        return result
    except (OSError, ValueError) as exc:
        result.note = f"predictions file unreadable: {type(exc).__name__}"
        return result
    result.rows = [WorstRow(id=str(r.get("id", "")), score=score,
                            input=shorten(_text(r.get("input")), width),
                            prediction=shorten(_text(r.get("prediction")), width),
                            reference=shorten(_text(r.get("reference")), width))
                   for score, r in rows]
    if not result.rows:
        result.note = "no example has a per-example score"
    return result


BLOCK_BYTES = 8 << 20  # lines read at a time
_SCORE_FIRST = b'{"score": '


def scan_scores(block: list[bytes]) -> list[tuple[float, bytes]]:
    """(score, line) of the rows of a block of predictions lines with a finite ``score``.

    The runner writes ``score`` as each row's first key, so it is read from the start of the
    line and the row is not parsed; lines written otherwise are parsed.
    """
    out = []
    start = len(_SCORE_FIRST)
    for line in block:
        if line.startswith(_SCORE_FIRST):
            end = line.find(b",", start)
            try:
                value = float(line[start:end] if end > 0 else line[start:].rstrip(b"}\r\n "))
            except ValueError:
                continue  # null
            if math.isfinite(value):
                out.append((value, line))
        elif line.strip() and (score := _parsed_score(line)) is not None:
            out.append((score, line))
    return out


def _parsed_score(line: bytes) -> float | None:
    value = json.loads(line).get("score")
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value):
        return None
    return float(value)


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
