"""The usability index: five dimensions per model, weights per use case, ranks with ties.

Each dimension is a number in [0, 1] (higher is better) derived from the result records:

* **quality**: the mean over the model's tasks of its primary metric, normalised by the
  metric's scale (``0-100`` divided by 100; ``-1-1`` correlations and MCC clipped at 0,
  since a negative correlation is no more usable than none).
* **efficiency**: per task, throughput (``examples_per_s``) and peak memory relative to the
  best model on that task, on a log scale: ``1 + log10(x / best) / 3`` for throughput and
  ``1 - log10(mem / best) / 3`` for memory, clipped to [0, 1] (ten times slower costs a
  third; a thousand times slower scores 0); the mean of the two, then over tasks.
* **fairness**: ``1 - mean max_gap`` over the bias probes of every task.
* **safety**: ``1 - mean rate`` over the safety probes (the share of outputs flagged).
* **robustness**: the mean ``retention`` over the perturbations (clipped to [0, 1]).

A dimension with no data is *not measured*: it is left out of the model's index and the
remaining weights are renormalised to sum to 1.

**Interval of the index** (used for ranks): every measured dimension gets a half-width from
the intervals in the records, treating tasks and probes as independent (normal
approximation): quality from the metrics' 95% bootstrap intervals, ``sqrt(sum h_i^2) / n``
over its ``n`` tasks; fairness likewise from the probes' ``ci_low``/``ci_high``; safety from
the binomial standard error of each rate (``1.96 * sqrt(r(1-r)/n)``).  Efficiency and
robustness carry no interval.  The index half-width is ``sqrt(sum (w_d h_d)^2)`` with the
renormalised weights ``w_d``.

**Ranks with ties**: a model's rank is 1 + the number of models whose whole interval lies
above its own.  Models whose intervals overlap are not told apart, so they can share a rank.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from evalsuite.errors import UserError
from evalsuite.report.load import Model, ReportData

DIMENSIONS = ("quality", "efficiency", "fairness", "safety", "robustness")
PRESETS: dict[str, dict[str, float]] = {
    "balanced": {"quality": 0.35, "efficiency": 0.2, "fairness": 0.15, "safety": 0.15,
                 "robustness": 0.15},
    "quality-first": {"quality": 0.6, "efficiency": 0.1, "fairness": 0.1, "safety": 0.1,
                      "robustness": 0.1},
    "latency-critical": {"quality": 0.3, "efficiency": 0.4, "fairness": 0.1, "safety": 0.1,
                         "robustness": 0.1},
}
DEFAULT_PRESET = "balanced"
LOG_DECADES = 3.0  # efficiency: a model this many decades worse than the best scores 0
Z95 = 1.959963984540054


@dataclass
class Dimension:
    """One dimension of one model: value in [0, 1], interval half-width, how it was derived."""

    value: float | None
    half_width: float | None = None
    how: str = "not measured"
    n: int = 0

    @property
    def measured(self) -> bool:
        return self.value is not None


@dataclass
class Score:
    """A model's dimensions, usability index with interval, and rank."""

    model: Model
    dimensions: dict[str, Dimension]
    weights: dict[str, float] = field(default_factory=dict)  # renormalised, measured only
    index: float | None = None
    low: float | None = None
    high: float | None = None
    rank: int | None = None
    tied: bool = False

    @property
    def rank_text(self) -> str:
        if self.rank is None:
            return "–"
        return f"={self.rank}" if self.tied else str(self.rank)

    @property
    def excluded(self) -> list[str]:
        return [d for d in DIMENSIONS if not self.dimensions[d].measured]


@dataclass
class Weights:
    """The weights in force and where they came from (a preset or ``--weights``)."""

    values: dict[str, float]
    source: str

    def describe(self) -> str:
        parts = ", ".join(f"{d} {self.values[d]:.2f}" for d in DIMENSIONS)
        return f"{self.source}: {parts}"


# -- weights ------------------------------------------------------------------------------------
def resolve_weights(preset: str | None = None, weights: str | None = None) -> Weights:
    """Weights from a preset name or a ``quality=0.5,efficiency=0.5`` string (not both).

    With ``--weights`` the dimensions it does not name get weight 0.
    """
    if preset is not None and weights is not None:
        raise UserError("give --preset or --weights, not both", where="--weights")
    if weights is not None:
        return Weights(parse_weights(weights), "custom weights")
    name = preset or DEFAULT_PRESET
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r} (choose one of: {', '.join(PRESETS)})",
                        where="--preset")
    return Weights(_normalised(PRESETS[name]), f"preset {name}")


def parse_weights(text: str) -> dict[str, float]:
    """``"quality=2,efficiency=1"`` -> weights over every dimension, summing to 1."""
    values = dict.fromkeys(DIMENSIONS, 0.0)
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, number = part.partition("=")
        name = name.strip().lower()
        if not sep or name not in DIMENSIONS:
            raise UserError(f"expected DIMENSION=NUMBER with DIMENSION one of "
                            f"{', '.join(DIMENSIONS)}; got {part!r}", where="--weights")
        try:
            value = float(number)
        except ValueError:
            raise UserError(f"{number.strip()!r} is not a number (in {part!r})",
                            where="--weights") from None
        if not math.isfinite(value) or value < 0:
            raise UserError(f"weights must be finite and >= 0; got {part!r}",
                            where="--weights")
        values[name] = value
    if sum(values.values()) <= 0:
        raise UserError("at least one weight must be above 0", where="--weights")
    return _normalised(values)


def _normalised(values: dict[str, float]) -> dict[str, float]:
    total = sum(values.values())
    return {d: values.get(d, 0.0) / total for d in DIMENSIONS}


# -- dimensions ---------------------------------------------------------------------------------
def normalise(value: float | None, scale: str | None) -> float | None:
    """A metric value on [0, 1] by its scale (see the module docstring)."""
    if value is None or not math.isfinite(value):
        return None
    if scale == "0-100":
        value = value / 100.0
    return min(1.0, max(0.0, value))


def primary(record: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    """The record's primary metric: (name, {value, ci_low, ci_high, scale})."""
    metrics = record.get("metrics") or {}
    name = record.get("primary_metric") or next(iter(metrics), None)
    return name, metrics.get(name) if name else None


def quality(model: Model) -> Dimension:
    values, halves, names = [], [], set()
    for entry in model.results.values():
        name, metric = primary(entry.record)
        if metric is None:
            continue
        scale = metric.get("scale")
        value = normalise(metric.get("value"), scale)
        if value is None:
            continue
        values.append(value)
        names.add(str(name))
        low, high = normalise(metric.get("ci_low"), scale), normalise(metric.get("ci_high"),
                                                                        scale)
        if low is not None and high is not None:
            halves.append((high - low) / 2)
    if not values:
        return Dimension(None, how="no primary metric")
    half = math.sqrt(sum(h * h for h in halves)) / len(values) if halves else None
    return Dimension(_mean(values), half, n=len(values),
                     how=f"mean of {', '.join(sorted(names))} (normalised to 0–1) over "
                         f"{_count(len(values), 'task')}")


def efficiency_by_task(data: ReportData) -> dict[str, dict[str, float]]:
    """model key -> task -> efficiency score in [0, 1] (see the module docstring)."""
    out: dict[str, dict[str, float]] = {}
    for task in data.tasks:
        speeds: dict[str, float] = {}
        memory: dict[str, float] = {}
        for model, entry in data.entries(task):
            eff = entry.record.get("efficiency") or {}
            if _positive(eff.get("examples_per_s")):
                speeds[model.key] = float(eff["examples_per_s"])
            if _positive(eff.get("peak_memory_mb")):
                memory[model.key] = float(eff["peak_memory_mb"])
        best_speed = max(speeds.values(), default=None)
        best_memory = min(memory.values(), default=None)
        for key in set(speeds) | set(memory):
            parts = []
            if key in speeds and best_speed:
                parts.append(_clip01(1 + math.log10(speeds[key] / best_speed) / LOG_DECADES))
            if key in memory and best_memory:
                parts.append(_clip01(1 - math.log10(memory[key] / best_memory) / LOG_DECADES))
            out.setdefault(key, {})[task] = _mean(parts)
    return out


def efficiency(model: Model, by_task: dict[str, dict[str, float]]) -> Dimension:
    scores = by_task.get(model.key, {})
    if not scores:
        return Dimension(None, how="no throughput or memory figures")
    return Dimension(_mean(scores.values()), None, n=len(scores),
                     how=f"examples/s and peak memory vs the best model per task, log scale "
                         f"(10× worse = −1/3), over {_count(len(scores), 'task')}")


def scale_span(scale: Any) -> float:
    """Width of a figure's scale: ``"0-1"`` → 1, ``"0-100"`` → 100, ``"-1-1"`` → 2."""
    match = re.fullmatch(r"\s*(-?[\d.]+)\s*-\s*(-?[\d.]+)\s*", str(scale or "0-1"))
    if not match:
        return 1.0
    span = float(match.group(2)) - float(match.group(1))
    return span if span > 0 else 1.0


def fairness(model: Model) -> Dimension:
    problem = _probe_failure(model, "bias")
    if problem:
        return Dimension(None, how=problem)
    gaps, halves = [], []
    for probe in _probes(model, "bias"):
        gap = _number(probe.get("max_gap"))
        if gap is None:
            continue
        span = scale_span(probe.get("scale"))  # gaps of F1 (0-100) or STS (0-5) → 0-1
        gaps.append(_clip01(gap / span))
        low, high = _number(probe.get("ci_low")), _number(probe.get("ci_high"))
        if low is not None and high is not None:
            halves.append(abs(high - low) / 2 / span)
    if not gaps:
        return Dimension(None)
    half = math.sqrt(sum(h * h for h in halves)) / len(gaps) if halves else None
    return Dimension(1 - _mean(gaps), half, n=len(gaps),
                     how=f"1 − mean largest gap between groups over "
                         f"{_count(len(gaps), 'bias probe')}")


def safety(model: Model) -> Dimension:
    problem = _probe_failure(model, "safety")
    if problem:
        return Dimension(None, how=problem)
    rates, halves, classifiers = [], [], set()
    for probe in _probes(model, "safety"):
        rate = _number(probe.get("rate"))
        if rate is None:
            continue
        rate = _clip01(rate)
        rates.append(rate)
        if probe.get("classifier"):
            classifiers.add(str(probe["classifier"]))
        n = _number(probe.get("n"))
        if n and n > 0:
            halves.append(Z95 * math.sqrt(rate * (1 - rate) / n))
    if not rates:
        return Dimension(None)
    half = math.sqrt(sum(h * h for h in halves)) / len(rates) if halves else None
    by = f" ({', '.join(sorted(classifiers))})" if classifiers else ""
    return Dimension(1 - _mean(rates), half, n=len(rates),
                     how=f"1 − mean flagged rate{by} over {_count(len(rates), 'safety probe')}")


def robustness(model: Model) -> Dimension:
    problem = _probe_failure(model, "robustness")
    if problem:
        return Dimension(None, how=problem)
    kept = [_clip01(r) for p in _probes(model, "robustness")
            if (r := _number(p.get("retention"))) is not None]
    if not kept:
        return Dimension(None)
    return Dimension(_mean(kept), None, n=len(kept),
                     how=f"mean retention of the clean score over "
                         f"{_count(len(kept), 'perturbation')}")


# -- index and ranks ----------------------------------------------------------------------------
def score_models(data: ReportData, weights: Weights) -> list[Score]:
    """Every model's dimensions, index, interval and rank, best first."""
    by_task = efficiency_by_task(data)
    scores = []
    for model in data.models:
        dims = {"quality": quality(model), "efficiency": efficiency(model, by_task),
                "fairness": fairness(model), "safety": safety(model),
                "robustness": robustness(model)}
        scores.append(_index(model, dims, weights))
    ranked = [s for s in scores if s.index is not None]
    ranks = rank_with_ties([(s.low, s.high) for s in ranked])  # type: ignore[misc]
    for s, r in zip(ranked, ranks, strict=True):
        s.rank = r
    for s in ranked:
        s.tied = sum(o.rank == s.rank for o in ranked) > 1
    return sorted(scores, key=lambda s: (s.rank is None, s.rank or 0,
                                         -(s.index or 0.0), s.model.label))


def _index(model: Model, dims: dict[str, Dimension], weights: Weights) -> Score:
    used = {d: weights.values[d] for d in DIMENSIONS
            if dims[d].measured and weights.values[d] > 0}
    total = sum(used.values())
    if total <= 0:
        return Score(model, dims)
    used = {d: w / total for d, w in used.items()}
    index = sum(w * dims[d].value for d, w in used.items())  # type: ignore[operator]
    half = math.sqrt(sum((w * (dims[d].half_width or 0.0)) ** 2 for d, w in used.items()))
    return Score(model, dims, used, index, index - half, index + half)


def rank_with_ties(intervals: Sequence[tuple[float, float]]) -> list[int]:
    """Rank = 1 + number of intervals lying wholly above this one (overlaps share a rank)."""
    return [1 + sum(other_low > high for other_low, _ in intervals)
            for _, high in intervals]


def pareto_front(points: Sequence[tuple[float, float]], *, maximize_x: bool = True
                 ) -> list[int]:
    """Indices of the points no other point beats on both axes, sorted by x.

    ``y`` is always maximised; ``x`` is maximised (throughput) or minimised (memory).
    """
    sign = 1.0 if maximize_x else -1.0
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any(
            (sign * ox >= sign * x and oy >= y) and (sign * ox > sign * x or oy > y)
            for j, (ox, oy) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (points[i][0], points[i][1]))


# -- helpers ------------------------------------------------------------------------------------
def _probes(model: Model, block: str) -> Iterable[dict[str, Any]]:
    for entry in model.results.values():
        for probe in (entry.record.get(block) or {}).values():
            if isinstance(probe, dict):
                yield probe


def _probe_failure(model: Model, probe: str) -> str | None:
    """Why ``probe`` is not measured for ``model``: a task whose record says the probe
    failed (``probe_status``), so a value from the figures left would be a partial one."""
    for task, entry in model.results.items():
        state = (entry.record.get("probe_status") or {}).get(probe) or {}
        if state.get("status") == "failed":
            return f"not measured: {probe} failed on {task} ({state.get('reason', '')})"
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _positive(value: Any) -> bool:
    number = _number(value)
    return number is not None and number > 0


def _clip01(value: float) -> float:
    return min(1.0, max(0.0, value))


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
