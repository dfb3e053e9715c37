"""NER metrics: entity-level micro precision, recall and F1 under strict IOB2.

Entities are read with seqeval's ``Tokens(..., IOB2)`` — the same code as
``seqeval.metrics.*(mode="strict", scheme=IOB2)`` — so an entity counts only when its type
and both boundaries match.  Per-example statistics are ``[tp, n_pred, n_gold]`` followed by
one such triple per entity type.  The type columns cover the gold types and the types of the
card's label set (``context.labels``), which do not depend on the model, so two systems'
statistics stay column-aligned for paired tests; a type that only the predictions contain
can have no true positive and no support, so it is reported in ``extra()`` with zeros
(exactly as seqeval's report) without needing a column.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from seqeval.scheme import IOB2, Tokens

from evalsuite.families import Family
from evalsuite.metrics.base import Metric, MetricContext
from evalsuite.metrics.registry import register

_STATS_KEY = "ner_stats"
_TYPES_KEY = "ner_types"
_PRED_ONLY_KEY = "ner_predicted_only_types"
_TAG_TYPE = re.compile(r"^[BIESLU]-(.+)$")


def _entities(tags: Sequence[str], example_id: Any, what: str) -> set[tuple[str, int, int]]:
    """Strict IOB2 entities of one sentence as ``(type, start, end)``."""
    try:
        return {(e.tag, e.start, e.end) for e in Tokens(list(tags), IOB2).entities}
    except (ValueError, KeyError, IndexError, TypeError) as err:
        raise ValueError(
            f"example {example_id!r}: {what} tags are not valid IOB2 ({err}); got {list(tags)!r}"
        ) from None


def _label_types(labels: Sequence[str] | None) -> set[str]:
    """Entity types named by a card's label set (``B-PER`` / ``I-PER`` / ``PER``; ``O`` skipped)."""
    types: set[str] = set()
    for label in labels or ():
        if label == "O":
            continue
        match = _TAG_TYPE.match(label)
        types.add(match.group(1) if match else label)
    return types


def ner_stats(
    predictions: Sequence[Sequence[str]], examples: Sequence[dict], labels: Sequence[str] | None
) -> tuple[np.ndarray, list[str], list[str]]:
    """Statistics ``(n, 3 + 3 * T)``, the column types, and the predicted-only types."""
    if len(predictions) != len(examples):
        raise ValueError(f"{len(predictions)} predictions for {len(examples)} examples")
    gold_sets, pred_sets = [], []
    for pred, ex in zip(predictions, examples, strict=True):
        ex_id = ex.get("id", "?")
        gold = ex["tags"]
        if isinstance(pred, str) or not isinstance(pred, Sequence):
            raise ValueError(f"example {ex_id!r}: prediction must be a list of tags, got {pred!r}")
        if len(pred) != len(gold):
            raise ValueError(
                f"example {ex_id!r}: {len(pred)} predicted tags for {len(gold)} tokens"
            )
        gold_sets.append(_entities(gold, ex_id, "gold"))
        pred_sets.append(_entities(pred, ex_id, "predicted"))
    gold_types = {e[0] for s in gold_sets for e in s}
    types = sorted(gold_types | _label_types(labels))
    pred_only = sorted({e[0] for s in pred_sets for e in s} - set(types))
    column = {t: 3 + 3 * i for i, t in enumerate(types)}
    stats = np.zeros((len(examples), 3 + 3 * len(types)))
    for i, (gold, pred) in enumerate(zip(gold_sets, pred_sets, strict=True)):
        stats[i, :3] = len(gold & pred), len(pred), len(gold)
        for offset, entities in ((0, gold & pred), (1, pred), (2, gold)):
            for kind, _, _ in entities:
                if kind in column:
                    stats[i, column[kind] + offset] += 1
    return stats, types, pred_only


def _prf(tp: np.ndarray, n_pred: np.ndarray, n_gold: np.ndarray) -> tuple[np.ndarray, ...]:
    """Precision, recall, F1 with seqeval's convention: 0 where a denominator is 0."""
    with np.errstate(all="ignore"):
        p = np.where(n_pred > 0, tp / np.where(n_pred > 0, n_pred, 1), 0.0)
        r = np.where(n_gold > 0, tp / np.where(n_gold > 0, n_gold, 1), 0.0)
        f = np.where(p + r > 0, 2 * p * r / np.where(p + r > 0, p + r, 1), 0.0)
    return p, r, f


class _EntityMetric(Metric):
    families = (Family.NER,)
    reference = "seqeval (mode='strict', scheme=IOB2)"
    _index: int  # 0 precision, 1 recall, 2 F1

    def example_stats(
        self, predictions: Sequence[Any], examples: Sequence[dict], context: MetricContext
    ) -> np.ndarray:
        if _STATS_KEY not in context.shared:
            stats, types, pred_only = ner_stats(predictions, examples, context.labels)
            context.shared[_STATS_KEY] = stats
            context.shared[_TYPES_KEY] = types
            context.shared[_PRED_ONLY_KEY] = pred_only
        return context.shared[_STATS_KEY]

    def from_sums(self, sums: np.ndarray) -> np.ndarray:
        return _prf(sums[:, 0], sums[:, 1], sums[:, 2])[self._index]

    def example_scores(self, stats: np.ndarray) -> np.ndarray:
        """Per-sentence value; a sentence with no gold and no predicted entity scores 1."""
        empty = (stats[:, 1] == 0) & (stats[:, 2] == 0)
        return np.where(empty, 1.0, self.from_sums(stats))

    def extra(self, stats: np.ndarray, context: MetricContext) -> dict[str, Any]:
        types = context.shared.get(_TYPES_KEY, [])
        sums = stats.sum(axis=0)
        per_type: dict[str, dict[str, float]] = {}
        for i, kind in enumerate(types):
            tp, n_pred, n_gold = sums[3 + 3 * i : 6 + 3 * i]
            p, r, f = (float(v[0]) for v in _prf(np.array([tp]), np.array([n_pred]),
                                                  np.array([n_gold])))
            per_type[kind] = {"precision": p, "recall": r, "f1": f, "support": int(n_gold)}
        for kind in context.shared.get(_PRED_ONLY_KEY, []):
            per_type[kind] = {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
        return {"per_type": dict(sorted(per_type.items()))}


@register
class EntityPrecision(_EntityMetric):
    name = "precision"
    _index = 0
    description = "Entity-level micro precision, strict IOB2 (seqeval mode='strict')."


@register
class EntityRecall(_EntityMetric):
    name = "recall"
    _index = 1
    description = "Entity-level micro recall, strict IOB2 (seqeval mode='strict')."


@register
class EntityF1(_EntityMetric):
    name = "f1"
    _index = 2
    description = "Entity-level micro F1, strict IOB2 (seqeval mode='strict')."
