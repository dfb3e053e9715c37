"""Paired significance tests between two systems scored on the same examples.

Both take one metric and the two systems' per-example statistics (from
:func:`evalsuite.metrics.base.score`), aligned by example; ``delta`` is always
``value(a) - value(b)``, positive when system *a* scores higher.

* :func:`paired_bootstrap` — Koehn (2004) / sacrebleu style: draw examples with replacement,
  apply the *same* draws to both systems, and read the interval of the difference from the
  percentiles.  Two-sided p-value: the share of resampled differences on the other side of
  zero from the observed one (ties at zero count as the other side), doubled, with a +1
  correction so it is never 0 — ``min(1, 2 (c + 1) / (R + 1))``.
* :func:`paired_permutation` — approximate randomisation (Noreen 1989; sacrebleu's ``ar``):
  swap each example's statistics between the systems with probability 1/2; two-sided
  ``p = (c + 1) / (R + 1)`` with ``c`` the permutations whose ``|delta|`` reaches the
  observed one.  Exact under the null of exchangeable systems; the default for gates.

Sum-based metrics run fully vectorised; metrics that override ``resampled_values``
(Spearman) use it for the bootstrap and a loop over permutations.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evalsuite.metrics.base import (
    CONFIDENCE,
    DEFAULT_RESAMPLES,
    Metric,
    draw_counts,
    resample_chunks,
)


def _check(stats_a: np.ndarray, stats_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(stats_a, dtype=np.float64)
    b = np.asarray(stats_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError("statistics must be (n, k) arrays")
    if len(a) != len(b):
        raise ValueError(f"paired test needs the same examples: {len(a)} vs {len(b)} rows")
    return a, b


def _is_sum_based(metric: Metric) -> bool:
    return type(metric).resampled_values is Metric.resampled_values


def paired_bootstrap(
    metric: Metric,
    stats_a: np.ndarray,
    stats_b: np.ndarray,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> dict[str, Any]:
    """Paired bootstrap of ``value(a) - value(b)``.

    Returns ``{"delta", "ci_low", "ci_high", "p_value"}``; the interval and p-value are
    ``None`` when they cannot be formed (fewer than 2 examples, or no finite resample).
    """
    a, b = _check(stats_a, stats_b)
    delta = metric.value(a) - metric.value(b) if len(a) else float("nan")
    result: dict[str, Any] = {"delta": float(delta), "ci_low": None, "ci_high": None,
                              "p_value": None}
    n = len(a)
    if n < 2 or resamples < 1 or not np.isfinite(delta):
        return result
    rng = np.random.default_rng(seed)
    draws: list[np.ndarray] = []
    for _, size in resample_chunks(resamples, n):
        counts = draw_counts(rng, n, size)
        with np.errstate(all="ignore"):
            draws.append(metric.resampled_values(a, counts) - metric.resampled_values(b, counts))
    deltas = np.concatenate(draws)
    deltas = deltas[np.isfinite(deltas)]
    if deltas.size == 0:
        return result
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(deltas, [tail, 100.0 - tail])
    result.update(ci_low=float(low), ci_high=float(high),
                  p_value=bootstrap_p_value(deltas, float(delta)))
    return result


def bootstrap_p_value(deltas: np.ndarray, observed: float) -> float:
    """Two-sided bootstrap p-value of "the difference is zero": the share of resampled
    differences on the other side of zero from the observed one (ties count as the other
    side), doubled, with a +1 correction so it is never 0.  ``deltas`` must be finite."""
    other_side = np.count_nonzero(deltas <= 0) if observed > 0 else np.count_nonzero(deltas >= 0)
    return float(min(1.0, 2.0 * (other_side + 1) / (deltas.size + 1)))


def paired_permutation(
    metric: Metric,
    stats_a: np.ndarray,
    stats_b: np.ndarray,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """Approximate randomisation test of ``value(a) - value(b)``.

    Returns ``{"delta", "p_value"}`` (``p_value`` is ``None`` when the delta is undefined).
    The statistics must have the same columns for both systems (they do when both were
    scored on the same task).
    """
    a, b = _check(stats_a, stats_b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{metric.name}: statistics have {a.shape[1]} and {b.shape[1]} columns; score both "
            "systems on the same task (and label set) so examples can be swapped"
        )
    delta = metric.value(a) - metric.value(b) if len(a) else float("nan")
    result: dict[str, Any] = {"delta": float(delta), "p_value": None}
    n = len(a)
    if n < 1 or resamples < 1 or not np.isfinite(delta):
        return result
    rng = np.random.default_rng(seed)
    tolerance = 1e-12 * max(1.0, abs(delta))
    hits = 0
    total = 0
    if _is_sum_based(metric):
        sum_a, sum_b, diff = a.sum(axis=0), b.sum(axis=0), b - a
        for _, size in resample_chunks(resamples, n):
            swap = (rng.random((size, n)) < 0.5).astype(np.float64)
            moved = swap @ diff
            with np.errstate(all="ignore"):
                perm = metric.from_sums(sum_a + moved) - metric.from_sums(sum_b - moved)
            finite = np.isfinite(perm)
            hits += int(np.count_nonzero(np.abs(perm[finite]) >= abs(delta) - tolerance))
            total += int(finite.sum())
    else:
        for _ in range(resamples):
            swap = rng.random(n) < 0.5
            perm_a = np.where(swap[:, None], b, a)
            perm_b = np.where(swap[:, None], a, b)
            value = metric.value(perm_a) - metric.value(perm_b)
            if np.isfinite(value):
                hits += int(abs(value) >= abs(delta) - tolerance)
                total += 1
    if total:
        result["p_value"] = float((hits + 1) / (total + 1))
    return result
