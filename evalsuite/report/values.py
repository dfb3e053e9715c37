"""Values read out of result records: finite numbers (never a bool) and the primary
metric."""

from __future__ import annotations

import math
from typing import Any

from evalsuite.results.records import MetricValue, Record


def number(value: Any) -> float | None:
    """``value`` as a finite float; ``None`` for a bool, null, text, NaN or infinity."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def positive(value: Any) -> bool:
    """Whether ``value`` is a finite number above zero."""
    found = number(value)
    return found is not None and found > 0


def primary(record: Record) -> tuple[str | None, MetricValue | None]:
    """The record's primary metric: its name and value (with interval and scale)."""
    name = record.primary_metric or next(iter(record.metrics), None)
    return name, record.metrics.get(name) if name else None
