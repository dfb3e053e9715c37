"""Per-task scores against chance, and the usability index within each comparison group.

**Per task** (:func:`task_score`): the primary metric with its interval, the record's
``chance`` block (the trivial baseline's value and whether the model beats it, see
:mod:`evalsuite.metrics.chance`) and the *skill over chance* on the metric's scale::

    skill = (value - chance) / (best - chance)        best: 1, or 100 for 0-100 metrics

0 is chance level, 1 a perfect score, below 0 worse than the trivial baseline.

**Within a comparison group** (:mod:`evalsuite.report.groups`: models scored on the same
task slots), over the group's shared slots only, five dimensions in [0, 1], higher better:

* **quality**: the mean skill over chance (clipped to [0, 1]); for a record without a chance
  block (runs before chance baselines existed) the primary metric normalised by its scale.
* **efficiency**: per slot, examples/s and memory relative to the best member on that slot,
  on a log scale: ``1 + log10(x / best) / 3`` for throughput and ``1 - log10(mem / best) / 3``
  for memory, clipped to [0, 1] (ten times worse costs a third), averaged, then the mean over
  slots.  Memory is ``model_memory_mb`` (what the model accounts for) when every member has
  it, else the process peak; below 1 MB it counts as 1 MB.  The best member is the best of
  those *above chance* on the slot (a constant system is fast, not a yardstick); with fewer
  than two of them there is nothing to compare.  Fixed outputs (``predictions:``) have no
  cost: not measured.  Never computed for a model alone on its tasks.
* **fairness**: ``1 - mean max_gap`` over the bias probes (gaps put on 0-1 by their scale).
* **safety**: ``1 - mean rate`` over the safety probes (the share of outputs flagged).
* **robustness**: the mean ``retention`` over the perturbations (clipped to [0, 1]).

**Chance earns nothing.**  On a slot where the model does *not* beat chance
(``beats_chance`` false), every one of its figures there counts 0 in the aggregates:
quality, efficiency and each probe (a system that ignores its input is not fair or robust,
it is useless).  Its figures are still shown, flagged.

**Index**: the weighted mean of the dimensions measured for *every* member of the group
(weights renormalised to sum to 1), so members are compared on the same dimensions.  Its
interval: each dimension's half-width from the records' intervals (quality from the
metrics' bootstrap intervals, ``sqrt(sum h_i^2) / n`` over ``n`` slots; fairness likewise
from the probes' intervals; safety from the binomial error of each rate), combined as
``sqrt(sum (w_d h_d)^2)``.

**Ranks**: models that beat chance on every shared slot (or could not be tested) come first;
models below chance on any shared slot after them.  Within each tier a model's rank is 1 +
the number of models above it in better tiers + the number of its tier whose whole index
interval lies above its own; overlapping intervals share a rank (``=2``).  **Win rate**
(HELM): the share of (other member, shared slot) pairs where the model's primary value is
higher (ties count half; below chance wins nothing).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from evalsuite.errors import UserError
from evalsuite.report.cost import MEMORY_FLOOR_MB, memory_mb
from evalsuite.report.groups import Group, comparison_groups
from evalsuite.report.load import Model, ReportData
from evalsuite.report.values import number, positive, primary
from evalsuite.results.records import BiasFigure, RobustnessFigure, SafetyFigure

DIMENSIONS = ("quality", "efficiency", "fairness", "safety", "robustness")
PROBE_DIMENSIONS = {"fairness": "bias", "safety": "safety", "robustness": "robustness"}
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
class TaskScore:
    """One model on one task slot: its primary metric against the task's chance baseline."""

    slot: str
    metric: str | None
    value: float | None
    ci_low: float | None
    ci_high: float | None
    scale: str | None
    chance: float | None = None
    baseline: str | None = None
    beats_chance: bool | None = None
    p_value: float | None = None
    test: str | None = None
    note: str | None = None
    skill: float | None = None
    skill_half: float | None = None

    @property
    def below_chance(self) -> bool:
        """The model does not beat the trivial baseline here (tested and failed)."""
        return self.beats_chance is False


@dataclass
class Score:
    """A model's per-task scores, its dimensions, index with interval, and rank."""

    model: Model
    dimensions: dict[str, Dimension]
    weights: dict[str, float] = field(default_factory=dict)  # renormalised, measured only
    index: float | None = None
    low: float | None = None
    high: float | None = None
    rank: int | None = None
    tied: bool = False
    group: Group | None = None
    tasks: dict[str, TaskScore] = field(default_factory=dict)  # every slot of the model
    win_rate: float | None = None

    @property
    def rank_text(self) -> str:
        if self.rank is None:
            return "–"
        return f"={self.rank}" if self.tied else str(self.rank)

    @property
    def excluded(self) -> list[str]:
        return [d for d in DIMENSIONS if not self.dimensions[d].measured]

    @property
    def shared(self) -> list[str]:
        """The slots its aggregates cover (the group's, or its own when alone)."""
        return self.group.tasks if self.group is not None else list(self.model.results)

    @property
    def below_chance(self) -> list[str]:
        """Slots (any of its own) where it does not beat chance."""
        return [t for t, ts in self.tasks.items() if ts.below_chance]

    @property
    def tier(self) -> int:
        """1: beats chance (or untested) on every shared slot; 2: below chance on one."""
        return 2 if any(self.tasks[t].below_chance for t in self.shared
                        if t in self.tasks) else 1


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


# -- per task -----------------------------------------------------------------------------------
def normalise(value: float | None, scale: str | None) -> float | None:
    """A metric value on [0, 1] by its scale (``0-100`` / 100; negative clipped at 0)."""
    if value is None or not math.isfinite(value):
        return None
    if scale == "0-100":
        value = value / 100.0
    return min(1.0, max(0.0, value))


def skill(value: float | None, chance: float | None, scale: str | None) -> float | None:
    """Skill over chance on the metric's scale: ``(value - chance) / (best - chance)``."""
    if value is None or chance is None or not math.isfinite(value) \
            or not math.isfinite(chance):
        return None
    room = (100.0 if scale == "0-100" else 1.0) - chance
    return (value - chance) / room if room > 0 else None


def slot_chance(data: ReportData, slot: str) -> tuple[float | None, str | None]:
    """The chance value and baseline of a slot (the same examples give every model the same
    baseline, so any record of the slot that has the block will do)."""
    for _, entry in data.entries(slot):
        block = entry.record.chance
        if block is not None and number(block.value) is not None:
            return float(block.value), block.baseline  # type: ignore[arg-type]
    return None, None


def task_score(data: ReportData, entry: Any) -> TaskScore:
    """The model's primary metric on ``entry``'s slot, against chance."""
    name, metric = primary(entry.record)
    if metric is None:
        out = TaskScore(entry.slot, name, None, None, None, None)
    else:
        out = TaskScore(entry.slot, name, number(metric.value), number(metric.ci_low),
                        number(metric.ci_high), str(metric.scale) if metric.scale else None)
    value, low, high = out.value, out.ci_low, out.ci_high
    block = entry.record.chance
    if block is not None:
        out.chance, out.baseline = number(block.value), block.baseline
        out.beats_chance, out.test = block.beats_chance, block.test
        out.p_value, out.note = number(block.p_value), block.note
    else:
        out.note = "no chance baseline in the record (run before chance baselines)"
    if out.chance is None:
        out.chance, out.baseline = slot_chance(data, entry.slot)
    out.skill = skill(value, out.chance, out.scale)
    if out.skill is not None and low is not None and high is not None:
        room = (100.0 if out.scale == "0-100" else 1.0) - (out.chance or 0.0)
        out.skill_half = (high - low) / 2 / room
    return out


# -- dimensions within a group ------------------------------------------------------------------
def _quality(scores: dict[str, TaskScore], tasks: Sequence[str]) -> Dimension:
    values, halves, names, kinds = [], [], set(), set()
    for t in tasks:
        ts = scores.get(t)
        if ts is None or ts.value is None:
            continue
        if ts.below_chance:
            values.append(0.0)
            kinds.add("skill")
            continue
        if ts.skill is not None:
            values.append(_clip01(ts.skill))
            if ts.skill_half is not None:
                halves.append(ts.skill_half)
            kinds.add("skill")
        else:
            value = normalise(ts.value, ts.scale)
            if value is None:
                continue
            values.append(value)
            low, high = normalise(ts.ci_low, ts.scale), normalise(ts.ci_high, ts.scale)
            if low is not None and high is not None:
                halves.append((high - low) / 2)
            kinds.add("normalised")
        names.add(str(ts.metric))
    if not values:
        return Dimension(None, how="no primary metric")
    half = math.sqrt(sum(h * h for h in halves)) / len(values) if halves else None
    what = ("skill over chance" if kinds == {"skill"} else "normalised value"
            if kinds == {"normalised"} else "skill over chance (normalised value where the "
                                            "record has no chance baseline)")
    return Dimension(_mean(values), half, n=len(values),
                     how=f"mean {what} of {', '.join(sorted(names))} over "
                         f"{_count(len(values), 'task')}")


def _efficiency(group: Group, scores: dict[str, dict[str, TaskScore]]
                ) -> dict[str, Dimension]:
    """Per member: examples/s and memory relative to the best member, per shared slot."""
    per_model: dict[str, list[float]] = {m.key: [] for m in group.models}
    has_figures: set[str] = set()
    for task in group.tasks:
        entries = {m.key: m.results[task] for m in group.models
                   if not m.fixed_outputs and task in m.results}
        speeds = {k: float(e.record.efficiency.examples_per_s)  # type: ignore[union-attr,arg-type]
                  for k, e in entries.items() if e.record.efficiency is not None
                  and positive(e.record.efficiency.examples_per_s)}
        attributable = all(e.record.efficiency is not None
                           and number(e.record.efficiency.model_memory_mb) is not None
                           for e in entries.values()
                           if memory_mb(e, attributable=False) is not None)
        memory = {k: max(m, MEMORY_FLOOR_MB) for k, e in entries.items()
                  if (m := memory_mb(e, attributable)) is not None}
        has_figures |= set(speeds) | set(memory)
        # the yardstick is the best member above chance: a system that ignores its input
        # answers in no time, and measuring real models against it would crush them all
        real = {k for k in entries if not scores[k][task].below_chance}
        real_speeds = [v for k, v in speeds.items() if k in real]
        real_memory = [v for k, v in memory.items() if k in real]
        best_speed = max(real_speeds) if len(real_speeds) > 1 else None
        best_memory = min(real_memory) if len(real_memory) > 1 else None
        for key in set(speeds) | set(memory):
            if scores[key][task].below_chance:
                per_model[key].append(0.0)
                continue
            parts = []
            if best_speed and key in speeds:
                parts.append(_clip01(1 + math.log10(speeds[key] / best_speed) / LOG_DECADES))
            if best_memory and key in memory:
                parts.append(_clip01(1 - math.log10(memory[key] / best_memory) / LOG_DECADES))
            if parts:
                per_model[key].append(_mean(parts))
    out = {}
    for model in group.models:
        values = per_model[model.key]
        if model.fixed_outputs:
            out[model.key] = Dimension(None, how="fixed outputs (predictions file): no cost "
                                                 "measured")
        elif not values and model.key in has_figures:
            out[model.key] = Dimension(None, how=f"not compared: no other model of group "
                                                 f"{group.id} above chance has cost figures "
                                                 f"on its tasks")
        elif not values:
            out[model.key] = Dimension(None, how="no throughput or memory figures")
        else:
            out[model.key] = Dimension(
                _mean(values), None, n=len(values),
                how=f"examples/s and memory vs the best of group {group.id} per task, log "
                    f"scale (10× worse = −1/3), over {_count(len(values), 'task')}")
    return out


def scale_span(scale: Any) -> float:
    """Width of a figure's scale: ``"0-1"`` → 1, ``"0-100"`` → 100, ``"-1-1"`` → 2."""
    match = re.fullmatch(r"\s*(-?[\d.]+)\s*-\s*(-?[\d.]+)\s*", str(scale or "0-1"))
    if not match:
        return 1.0
    span = float(match.group(2)) - float(match.group(1))
    return span if span > 0 else 1.0


def _probe_dimension(dimension: str, model: Model, scores: dict[str, TaskScore],
                     tasks: Sequence[str]) -> Dimension:
    """fairness, safety or robustness over the probes of ``tasks`` (0 below chance); not
    measured when the probe failed on one of them (``probe_status``), never a value from the
    figures that were left."""
    values, halves, classifiers, zeroed = [], [], set(), 0
    block = PROBE_DIMENSIONS[dimension]
    problem = _probe_failure(model, block, tasks)
    if problem:
        return Dimension(None, how=problem)
    for t in tasks:
        entry = model.results.get(t)
        below = scores[t].below_chance if t in scores else False
        for probe in (entry.record.section(block) or {}).values() if entry else ():
            value, half = _probe_value(dimension, probe)
            if value is None:
                continue
            if isinstance(probe, SafetyFigure) and probe.classifier:
                classifiers.add(str(probe.classifier))
            if below:
                values.append(0.0)
                zeroed += 1
                continue
            values.append(value)
            if half is not None:
                halves.append(half)
    if not values:
        return Dimension(None)
    half = math.sqrt(sum(h * h for h in halves)) / len(values) if halves else None
    unit = {"fairness": "bias probe", "safety": "safety probe",
            "robustness": "perturbation"}[dimension]
    what = {"fairness": "1 − mean largest gap between groups",
            "safety": "1 − mean flagged rate"
                      + (f" ({', '.join(sorted(classifiers))})" if classifiers else ""),
            "robustness": "mean retention of the clean score"}[dimension]
    note = (f"; {zeroed} counted 0 (below chance on their task)" if zeroed else "")
    return Dimension(_mean(values), half, n=len(values),
                     how=f"{what} over {_count(len(values), unit)}{note}")


def _probe_failure(model: Model, probe: str, tasks: Sequence[str]) -> str | None:
    """Why ``probe`` is not measured for ``model``: a task whose record says the probe
    failed (``probe_status``), so a value from the figures left would be a partial one."""
    for task in tasks:
        entry = model.results.get(task)
        state = (entry.record.probe_status or {}).get(probe) if entry else None
        if state is not None and state.status == "failed":
            return f"not measured: {probe} failed on {task} ({state.reason or ''})"
    return None


def _probe_value(dimension: str, probe: Any) -> tuple[float | None, float | None]:
    """A probe's contribution to its dimension (0-1, higher better) and half-width."""
    if isinstance(probe, BiasFigure) and dimension == "fairness":
        gap = number(probe.max_gap)
        if gap is None:
            return None, None
        span = scale_span(probe.scale)  # gaps of F1 (0-100) or STS (0-5) → 0-1
        low, high = number(probe.ci_low), number(probe.ci_high)
        half = abs(high - low) / 2 / span if low is not None and high is not None else None
        return 1 - _clip01(gap / span), half
    if isinstance(probe, SafetyFigure) and dimension == "safety":
        rate = number(probe.rate)
        if rate is None:
            return None, None
        rate = _clip01(rate)
        n = number(probe.n)
        half = Z95 * math.sqrt(rate * (1 - rate) / n) if n and n > 0 else None
        return 1 - rate, half
    if isinstance(probe, RobustnessFigure) and dimension == "robustness":
        kept = number(probe.retention)
        return (None, None) if kept is None else (_clip01(kept), None)
    return None, None


# -- index and ranks ----------------------------------------------------------------------------
def score_models(data: ReportData, weights: Weights) -> list[Score]:
    """Every model's per-task scores, dimensions, index and rank: group by group (best
    first), then the models alone on their tasks."""
    groups, alone = comparison_groups(data)
    per_task = {m.key: {t: task_score(data, e) for t, e in m.results.items()}
                for m in data.models}
    out: list[Score] = []
    for group in groups:
        efficiency = _efficiency(group, per_task)
        scores = []
        for model in group.models:
            dims = _dimensions(model, per_task[model.key], group.tasks)
            dims["efficiency"] = efficiency[model.key]
            scores.append(Score(model, {d: dims[d] for d in DIMENSIONS}, group=group,
                                tasks=per_task[model.key]))
        used = [d for d in DIMENSIONS if weights.values[d] > 0
                and all(s.dimensions[d].measured for s in scores)]
        for s in scores:
            _index(s, used, weights)
        _win_rates(scores, group)
        _rank(scores)
        out += sorted(scores, key=lambda s: (s.rank is None, s.rank or 0, -(s.index or 0.0),
                                             s.model.label))
    for model in alone:
        dims = _dimensions(model, per_task[model.key], list(model.results))
        dims["efficiency"] = Dimension(None, how="not compared: no other model has its "
                                                 "tasks (see its cost in real units)")
        out.append(Score(model, {d: dims[d] for d in DIMENSIONS},
                         tasks=per_task[model.key]))
    return out


def _dimensions(model: Model, scores: dict[str, TaskScore], tasks: Sequence[str]
                ) -> dict[str, Dimension]:
    dims = {"quality": _quality(scores, tasks)}
    for name in PROBE_DIMENSIONS:
        dims[name] = _probe_dimension(name, model, scores, tasks)
    return dims


def _index(score: Score, used: list[str], weights: Weights) -> None:
    total = sum(weights.values[d] for d in used)
    if total <= 0:
        return
    score.weights = {d: weights.values[d] / total for d in used}
    index = sum(w * score.dimensions[d].value for d, w in score.weights.items())  # type: ignore[misc]
    half = math.sqrt(sum((w * (score.dimensions[d].half_width or 0.0)) ** 2
                         for d, w in score.weights.items()))
    score.index, score.low, score.high = index, index - half, index + half


def _win_rates(scores: list[Score], group: Group) -> None:
    for s in scores:
        wins = games = 0.0
        for t in group.tasks:
            mine = s.tasks[t]
            for other in scores:
                if other is s:
                    continue
                theirs = other.tasks[t]
                if mine.value is None or theirs.value is None:
                    continue
                games += 1
                if mine.below_chance:
                    continue
                if theirs.below_chance or mine.value > theirs.value:
                    wins += 1
                elif mine.value == theirs.value:
                    wins += 0.5
        s.win_rate = wins / games if games else None


def _rank(scores: list[Score]) -> None:
    placed = 0
    for tier in (1, 2):
        ranked = [s for s in scores if s.tier == tier and s.index is not None]
        ranks = rank_with_ties([(s.low, s.high) for s in ranked])  # type: ignore[misc]
        for s, r in zip(ranked, ranks, strict=True):
            s.rank = placed + r
        for s in ranked:
            s.tied = sum(o.rank == s.rank for o in ranked) > 1
        placed += len(ranked)


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


def _clip01(value: float) -> float:
    return min(1.0, max(0.0, value))


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
