"""Numbers read out of result records: a finite float, or ``None`` (never a bool)."""

from __future__ import annotations

import math
from typing import Any


def number(value: Any) -> float | None:
    """``value`` as a finite float; ``None`` for a bool, null, text, NaN or infinity."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def positive(value: Any) -> bool:
    """Whether ``value`` is a finite number above zero."""
    found = number(value)
    return found is not None and found > 0
