"""Statistics behind every probe figure: gaps with intervals, permutation tests, effect sizes.

A bias measurement is *paired*: each unit (a sentence of the task, a template filling) is
seen once per group, so the per-group statistics are arrays of the same shape whose rows
line up.  :func:`group_gap` then reports

* ``groups``: the metric per group; ``max_gap`` = highest − lowest group;
* ``ci_low``/``ci_high``: a percentile bootstrap of ``max_gap`` over units (the same draws for
  every group, so the pairing is kept);
* ``p_value``: a permutation test of "the group does not matter": within each unit the
  group labels are shuffled, and the share of shuffles with a gap at least as large as
  the observed one is the p-value (``(1 + hits) / (1 + permutations)``); ``null_gap_95``
  is the 95th percentile of those shuffled gaps — how large a gap noise alone makes;
* ``effect_size``: Cohen's d between the per-unit values of the highest and the lowest
  group (difference of means over the pooled standard deviation); ``None`` when the values
  have no spread at all while differing (the gap is then exact; read ``max_gap``).

Because ``max_gap`` is a maximum it is never negative and noise alone makes it positive;
the p-value and the effect size are what separate noise from bias.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from evalsuite.families import Family
from evalsuite.metrics.base import (
    Metric,
    MetricContext,
    percentile_interval,
    resample_counts,
)

DEFAULT_PERMUTATIONS = 1000
_MAX_ELEMENTS = 4_000_000  # bound on gathered array size per vectorised chunk


class MeanOf(Metric):
    """A weighted mean as a metric: statistics ``[value × weight, weight]`` per unit."""

    name: ClassVar[str] = "mean"
    families: ClassVar[tuple[Family, ...]] = ()

    def example_stats(self, predictions: Sequence[Any], examples: Sequence[dict],
                      context: MetricContext) -> np.ndarray:
        raise NotImplementedError("build the statistics with mean_stats()")

    def from_sums(self, sums: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.where(sums[:, 1] > 0, sums[:, 0] / np.where(sums[:, 1] > 0, sums[:, 1],
                                                                  1.0), np.nan)


MEAN = MeanOf()


def mean_stats(values: Sequence[float] | np.ndarray,
               weights: Sequence[float] | np.ndarray | None = None) -> np.ndarray:
    """Statistics of :data:`MEAN` for ``values`` (``nan`` values get weight 0)."""
    v = np.asarray(values, dtype=np.float64)
    w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=np.float64)
    w = np.where(np.isfinite(v), w, 0.0)
    return np.column_stack([np.where(w > 0, v, 0.0) * w, w])


def _sum_based(metric: Metric) -> bool:
    return type(metric).resampled_values is Metric.resampled_values


def _values(metric: Metric, stats: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``metric`` under draw ``counts`` ``(B, n)`` for stats ``(n, G, k)`` → ``(B, G)``."""
    return np.stack([metric.resampled_values(stats[:, g, :], counts)
                     for g in range(stats.shape[1])], axis=1)


def _gap(values: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        finite = np.isfinite(values)
        hi = np.where(finite, values, -np.inf).max(axis=-1)
        lo = np.where(finite, values, np.inf).min(axis=-1)
        out = hi - lo
    return np.where(finite.sum(axis=-1) >= 2, out, np.nan)


def bootstrap_counts(n: int, resamples: int, seed: int) -> np.ndarray:
    return resample_counts(n, resamples, seed)


def cohens_d(a: np.ndarray, b: np.ndarray) -> float | None:
    """(mean a − mean b) / pooled SD over pairs where both are finite; see module docs."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if len(a) < 2:
        return None
    diff = float(a.mean() - b.mean())
    pooled = float(np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2.0))
    if pooled > 1e-12:
        return diff / pooled
    return 0.0 if abs(diff) <= 1e-12 else None


def permutation_null(metric: Metric, stats: np.ndarray, permutations: int,
                     seed: int) -> np.ndarray:
    """Max gaps with group labels shuffled within each unit: ``(permutations,)``."""
    n, groups, k = stats.shape
    rng = np.random.default_rng(seed)
    chunk = max(1, min(permutations, _MAX_ELEMENTS // max(1, n * groups * k)))
    rows = np.arange(n)[None, :, None]
    out: list[np.ndarray] = []
    done = 0
    while done < permutations:
        size = min(chunk, permutations - done)
        perm = np.argsort(rng.random((size, n, groups)), axis=2)
        gathered = stats[rows, perm]  # (size, n, G, k)
        if _sum_based(metric):
            with np.errstate(all="ignore"):
                sums = gathered.sum(axis=1).reshape(size * groups, k)
                values = metric.from_sums(sums).reshape(size, groups)
        else:
            ones = np.ones((1, n))
            values = np.array([[metric.resampled_values(gathered[r, :, g, :], ones)[0]
                                for g in range(groups)] for r in range(size)])
        out.append(_gap(values))
        done += size
    return np.concatenate(out)


def group_gap(stats_by_group: Mapping[str, np.ndarray], metric: Metric = MEAN, *,
              resamples: int = 1000, permutations: int = DEFAULT_PERMUTATIONS,
              seed: int = 0) -> dict[str, Any]:
    """The standard bias figure for paired per-group statistics (see module docs)."""
    names = list(stats_by_group)
    stats = np.stack([np.asarray(stats_by_group[g], dtype=np.float64) for g in names], axis=1)
    n = stats.shape[0]
    with np.errstate(all="ignore"):
        values = np.array([metric.value(stats[:, g, :]) if n else np.nan
                           for g in range(len(names))])
    gap = float(_gap(values[None, :])[0])
    figure: dict[str, Any] = {
        "max_gap": gap, "ci_low": None, "ci_high": None, "p_value": None,
        "effect_size": None, "groups": {g: float(v) for g, v in zip(names, values, strict=True)},
        "n": int(n),
    }
    finite = np.isfinite(values)
    if finite.sum() < 2:
        return figure
    hi = int(np.nanargmax(values))
    lo = int(np.nanargmin(values))
    if gap > 0:
        figure["highest"], figure["lowest"] = names[hi], names[lo]
    if n >= 2 and resamples > 0:
        counts = bootstrap_counts(n, resamples, seed)
        figure["ci_low"], figure["ci_high"] = percentile_interval(
            _gap(_values(metric, stats, counts)))
    if n >= 2 and permutations > 0:
        null = permutation_null(metric, stats, permutations, seed + 1)
        hits = int(np.sum(null >= gap - 1e-12))
        figure["p_value"] = (1 + hits) / (1 + len(null))
        finite_null = null[np.isfinite(null)]
        if finite_null.size:  # how large a gap noise alone makes
            figure["null_gap_95"] = float(np.percentile(finite_null, 95))
    with np.errstate(all="ignore"):
        a = metric.example_scores(stats[:, hi, :])
        b = metric.example_scores(stats[:, lo, :])
    figure["effect_size"] = cohens_d(a, b)
    return figure


def mean_ci(values: Sequence[float] | np.ndarray, *, resamples: int = 1000,
            seed: int = 0) -> tuple[float, float | None, float | None]:
    """Mean of ``values`` (``nan`` ignored) with a percentile-bootstrap 95% interval."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), None, None
    if v.size < 2 or resamples < 1:
        return float(v.mean()), None, None
    counts = bootstrap_counts(v.size, resamples, seed)
    low, high = percentile_interval(counts @ v / v.size)
    return float(v.mean()), low, high


def ratio_ci(metric: Metric, numerator: np.ndarray, denominator: np.ndarray, *,
             resamples: int = 1000, seed: int = 0) -> tuple[float | None, float | None]:
    """Paired bootstrap interval of ``metric(numerator) / metric(denominator)``."""
    n = len(numerator)
    if n < 2 or resamples < 1:
        return None, None
    counts = bootstrap_counts(n, resamples, seed)
    with np.errstate(all="ignore"):
        top = metric.resampled_values(np.asarray(numerator, dtype=np.float64), counts)
        bottom = metric.resampled_values(np.asarray(denominator, dtype=np.float64), counts)
        ratio = np.where(bottom != 0, top / np.where(bottom != 0, bottom, 1.0), np.nan)
    return percentile_interval(ratio)


def weat(x_assoc: np.ndarray, y_assoc: np.ndarray, *, resamples: int = 1000,
         permutations: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """WEAT from per-target associations ``s(w, A, B) = mean cos(w, A) − mean cos(w, B)``.

    ``effect_size`` = (mean s(X) − mean s(Y)) / SD of s over X ∪ Y (Caliskan et al., 2017);
    ``p_value`` is two-sided over random equal-size re-partitions of X ∪ Y; the intervals
    resample the target words of X and Y.
    """
    x = np.asarray(x_assoc, dtype=np.float64)
    y = np.asarray(y_assoc, dtype=np.float64)
    both = np.concatenate([x, y])

    def effect(a: np.ndarray, b: np.ndarray) -> float:
        sd = np.concatenate([a, b]).std(ddof=1)
        return float((a.mean() - b.mean()) / sd) if sd > 1e-12 else 0.0

    diff = float(x.mean() - y.mean())
    rng = np.random.default_rng(seed)
    observed = x.sum() - y.sum()
    null = np.empty(permutations)
    for i in range(permutations):
        order = rng.permutation(both.size)
        null[i] = both[order[:x.size]].sum() - both[order[x.size:]].sum()
    centre = both.sum() * (x.size - y.size) / both.size  # 0 for equal-size sets
    hits = int(np.sum(np.abs(null - centre) >= abs(observed - centre) - 1e-12))
    boot_gap, boot_effect = [], []
    for _ in range(resamples):
        bx = x[rng.integers(0, x.size, x.size)]
        by = y[rng.integers(0, y.size, y.size)]
        boot_gap.append(abs(bx.mean() - by.mean()))
        boot_effect.append(effect(bx, by))
    ci_low, ci_high = percentile_interval(np.array(boot_gap))
    e_low, e_high = percentile_interval(np.array(boot_effect))
    return {"max_gap": abs(diff), "ci_low": ci_low, "ci_high": ci_high,
            "p_value": (1 + hits) / (1 + permutations), "effect_size": effect(x, y),
            "effect_size_ci_low": e_low, "effect_size_ci_high": e_high,
            "n": int(both.size)}
