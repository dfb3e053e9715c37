"""Sentiment (label classification) metrics: accuracy, macro-F1 and MCC.

Each example contributes one cell of the confusion matrix, so all three are functions of
summed one-hot statistics and bootstrap with a matrix product.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from evalsuite.families import Family
from evalsuite.metrics.base import Metric, MetricContext
from evalsuite.metrics.registry import register
from evalsuite.results.records import Scale


def _confusion_stats(
    predictions: Sequence[Any], examples: Sequence[dict], labels: list[str]
) -> np.ndarray:
    """One-hot (gold, predicted) cell per example; shape ``(n, L*L)``.

    A prediction outside the label set counts as wrong for every class (column of its own).
    """
    index = {label: i for i, label in enumerate(labels)}
    size = len(labels)
    gold = np.array([index[ex["label"]] for ex in examples], dtype=np.int64)
    pred = np.array([index.get(p, size) for p in predictions], dtype=np.int64)
    stats = np.zeros((len(examples), size * (size + 1)))
    stats[np.arange(len(examples)), gold * (size + 1) + pred] = 1.0
    return stats


def _confusions(sums: np.ndarray) -> np.ndarray:
    """``(B, L, L+1)`` confusion matrices (rows gold, columns predicted + 'invalid')."""
    size = int((-1 + np.sqrt(1 + 4 * sums.shape[1])) / 2)
    return sums.reshape(len(sums), size, size + 1)


def _accuracy(sums: np.ndarray) -> np.ndarray:
    conf = _confusions(sums)
    correct = np.trace(conf[:, :, :-1], axis1=1, axis2=2)
    return correct / conf.sum(axis=(1, 2))


class _ConfusionMetric(Metric):
    families = (Family.SENTIMENT,)

    def example_stats(self, predictions, examples, context: MetricContext) -> np.ndarray:
        if context.labels is None:
            raise ValueError(f"{self.name} needs the card's label set")
        key = "confusion_stats"
        if key not in context.shared:
            context.shared[key] = _confusion_stats(predictions, examples, context.labels)
        return context.shared[key]

    def example_scores(self, stats: np.ndarray) -> np.ndarray:
        """1 where an example's predicted label is the gold one, else 0."""
        return _accuracy(stats)


@register
class Accuracy(_ConfusionMetric):
    name = "accuracy"
    reference = "sklearn.metrics.accuracy_score"
    description = "Share of examples whose predicted label equals the gold label."

    def from_sums(self, sums: np.ndarray) -> np.ndarray:
        return _accuracy(sums)


@register
class MacroF1(_ConfusionMetric):
    name = "macro_f1"
    reference = "sklearn.metrics.f1_score(average='macro')"
    description = "Unweighted mean of per-class F1 (as sklearn f1_score(average='macro'))."

    def from_sums(self, sums: np.ndarray) -> np.ndarray:
        conf = _confusions(sums)
        tp = np.diagonal(conf[:, :, :-1], axis1=1, axis2=2)
        gold = conf.sum(axis=2)
        pred = conf[:, :, :-1].sum(axis=1)
        denom = gold + pred
        f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
        # sklearn averages over the labels present in gold or predictions.
        present = denom > 0
        return np.where(present.any(axis=1),
                        (f1 * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1), np.nan)


@register
class MatthewsCorrelation(_ConfusionMetric):
    name = "mcc"
    reference = "sklearn.metrics.matthews_corrcoef"
    scale = Scale.SIGNED_UNIT
    description = "Matthews correlation coefficient, multiclass (as sklearn matthews_corrcoef)."

    def from_sums(self, sums: np.ndarray) -> np.ndarray:
        conf = _confusions(sums)
        size = conf.shape[1]
        # Predictions outside the label set become an extra predicted-only class.
        square = np.zeros((len(conf), size + 1, size + 1))
        square[:, :size, :] = conf
        t = square.sum(axis=2)  # true counts per class
        p = square.sum(axis=1)  # predicted counts per class
        c = np.trace(square, axis1=1, axis2=2)
        s = square.sum(axis=(1, 2))
        cov_ytyp = c * s - (t * p).sum(axis=1)
        cov_ypyp = s**2 - (p * p).sum(axis=1)
        cov_ytyt = s**2 - (t * t).sum(axis=1)
        denom = np.sqrt(cov_ytyt * cov_ypyp)
        return np.divide(cov_ytyp, denom, out=np.zeros_like(cov_ytyp), where=denom > 0)
