"""Semantic similarity metrics: Pearson and Spearman correlation with the gold scores.

Pearson is a function of the sums of ``x, y, x², y², xy, 1``; both ``x`` (prediction) and
``y`` (gold) are first shifted by the gold mean — the correlation is shift-invariant, the
shift is the same for every system on a task (so paired tests may swap rows), and it keeps
the sums of squares well conditioned.  Spearman is not a function of column sums: it
overrides :meth:`Metric.value` and :meth:`Metric.resampled_values`, ranking each bootstrap
resample exactly (average ranks for ties, as ``scipy.stats.spearmanr``) from the draw counts.

The per-example score of both is ``-|prediction - gold|`` on the task's raw score scale
(higher is better; no rescaling), used for worst-example lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats as sps

from evalsuite.families import Family
from evalsuite.metrics.base import Metric, MetricContext
from evalsuite.metrics.registry import register
from evalsuite.results.records import Scale

_SHARED_KEY = "similarity_pairs"
_CHUNK_ELEMENTS = 2_000_000  # bound on (resamples × examples) per vectorised step


def similarity_pairs(predictions: Sequence[Any], examples: Sequence[dict]) -> np.ndarray:
    """``(n, 2)`` float array of (prediction, gold); non-finite values are refused."""
    pairs = np.zeros((len(examples), 2))
    for i, (pred, ex) in enumerate(zip(predictions, examples, strict=True)):
        try:
            pairs[i] = float(pred), float(ex["score"])
        except (TypeError, ValueError):
            raise ValueError(
                f"example {ex.get('id', '?')!r}: score {pred!r} / gold {ex.get('score')!r} "
                "is not a number"
            ) from None
        if not np.isfinite(pairs[i]).all():
            raise ValueError(f"example {ex.get('id', '?')!r}: non-finite score {pred!r}")
    return pairs


def _pairs(predictions: Sequence[Any], examples: Sequence[dict], context: MetricContext):
    if _SHARED_KEY not in context.shared:
        context.shared[_SHARED_KEY] = similarity_pairs(predictions, examples)
    return context.shared[_SHARED_KEY]


def _pearson_from_moments(
    n: np.ndarray, sx: np.ndarray, sy: np.ndarray, sxx: np.ndarray, syy: np.ndarray,
    sxy: np.ndarray,
) -> np.ndarray:
    with np.errstate(all="ignore"):
        cov = sxy - sx * sy / n
        vx = sxx - sx * sx / n
        vy = syy - sy * sy / n
        denom = np.sqrt(vx * vy)
        ok = (vx > 0) & (vy > 0) & (denom > 0) & (n > 1)
        r = np.where(ok, cov / np.where(ok, denom, 1.0), np.nan)
    return np.clip(r, -1.0, 1.0)


class _Correlation(Metric):
    """A correlation of predicted and gold scores; an example's score is its absolute error."""

    families = (Family.SIMILARITY,)
    scale = Scale.SIGNED_UNIT

    def example_scores(self, stats: np.ndarray) -> np.ndarray:
        """``-|prediction - gold|`` on the raw scale (Pearson's common shift cancels)."""
        return 0.0 - np.abs(stats[:, 0] - stats[:, 1])  # 0.0 - x: no negative zeros


@register
class Pearson(_Correlation):
    name = "pearson"
    reference = "scipy.stats.pearsonr"
    description = "Pearson correlation of predicted and gold scores (as scipy.stats.pearsonr)."

    def example_stats(
        self, predictions: Sequence[Any], examples: Sequence[dict], context: MetricContext
    ) -> np.ndarray:
        pairs = _pairs(predictions, examples, context)
        shift = pairs[:, 1].mean() if len(pairs) else 0.0
        x, y = pairs[:, 0] - shift, pairs[:, 1] - shift
        return np.column_stack([x, y, x * x, y * y, x * y, np.ones_like(x)])

    def from_sums(self, sums: np.ndarray) -> np.ndarray:
        sx, sy, sxx, syy, sxy, n = (sums[:, j] for j in range(6))
        return _pearson_from_moments(n, sx, sy, sxx, syy, sxy)


def _resample_ranks(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Average rank of each example's value within each resample, ``(B, n)``.

    ``counts[b, i]`` copies of ``values[i]`` are drawn; ties — within and between examples
    with equal values — get their average rank, exactly as ``rankdata`` on the resample.
    """
    order = np.argsort(values, kind="stable")
    v = values[order]
    starts = np.flatnonzero(np.r_[True, v[1:] != v[:-1]])
    ends = np.r_[starts[1:], len(v)] - 1
    group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(v)]))
    cum = np.cumsum(counts[:, order], axis=1)
    before = np.where(starts > 0, cum[:, np.maximum(starts - 1, 0)], 0.0)
    group_rank = before + (cum[:, ends] - before + 1.0) / 2.0
    ranks = np.empty_like(cum)
    ranks[:, order] = group_rank[:, group]
    return ranks


def _weighted_pearson(rx: np.ndarray, ry: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Pearson correlation of the rows of ``rx`` and ``ry`` with example weights ``w``."""
    n = w.sum(axis=1)
    wx, wy = w * rx, w * ry
    return _pearson_from_moments(
        n, wx.sum(axis=1), wy.sum(axis=1), (wx * rx).sum(axis=1), (wy * ry).sum(axis=1),
        (wx * ry).sum(axis=1),
    )


@register
class Spearman(_Correlation):
    name = "spearman"
    reference = "scipy.stats.spearmanr"
    description = "Spearman rank correlation of predicted and gold scores (scipy.stats.spearmanr)."

    def example_stats(
        self, predictions: Sequence[Any], examples: Sequence[dict], context: MetricContext
    ) -> np.ndarray:
        """``(n, 2)``: prediction, gold (ranks depend on the whole sample)."""
        return _pairs(predictions, examples, context).copy()

    def from_sums(self, sums: np.ndarray) -> np.ndarray:
        raise NotImplementedError("Spearman is not a function of column sums")

    def value(self, stats: np.ndarray) -> float:
        if len(stats) < 2:
            return float("nan")
        rx, ry = sps.rankdata(stats[:, 0]), sps.rankdata(stats[:, 1])
        return float(_weighted_pearson(rx[None], ry[None], np.ones((1, len(stats))))[0])

    def resampled_values(self, stats: np.ndarray, counts: np.ndarray) -> np.ndarray:
        n = len(stats)
        step = max(1, _CHUNK_ELEMENTS // max(n, 1))
        out = np.empty(len(counts))
        for lo in range(0, len(counts), step):
            c = counts[lo : lo + step]
            rx = _resample_ranks(stats[:, 0], c)
            ry = _resample_ranks(stats[:, 1], c)
            out[lo : lo + step] = _weighted_pearson(rx, ry, c)
        return out
