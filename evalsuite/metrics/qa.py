"""Extractive QA metrics: SQuAD exact match and token F1 (v1.1 and v2.0), on 0–100.

Follows the official SQuAD v2.0 evaluation script: answers are normalised (lowercase, drop
punctuation, drop the articles a/an/the, collapse whitespace) and the best gold answer
counts.  An unanswerable question (no gold answer) scores 100 when the prediction is empty
after normalisation — ``""`` is the canonical "no answer" — and 0 otherwise.  On data
without unanswerable questions this equals SQuAD v1.1.

Per-example statistics carry the answerable indicator, so the ``has_ans_*`` / ``no_ans_*``
splits are functions of column sums too; an empty split is ``nan``.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from evalsuite.families import Family
from evalsuite.metrics.base import Metric, MetricContext
from evalsuite.metrics.registry import register
from evalsuite.results.records import Scale

_SHARED_KEY = "squad_scores"
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lowercase, no punctuation, no articles, single spaces.

    >>> normalize_answer("The  Cat!")
    'cat'
    """
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_score(gold: str, prediction: str) -> float:
    return float(normalize_answer(gold) == normalize_answer(prediction))


def f1_score(gold: str, prediction: str) -> float:
    """Token F1 after normalisation; two empty answers agree (SQuAD v2 rule)."""
    gold_tokens = normalize_answer(gold).split()
    pred_tokens = normalize_answer(prediction).split()
    if not gold_tokens or not pred_tokens:
        return float(gold_tokens == pred_tokens)
    same = sum((Counter(gold_tokens) & Counter(pred_tokens)).values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_scores(predictions: Sequence[Any], examples: Sequence[dict]) -> np.ndarray:
    """``(n, 3)``: exact (0/1), F1 (0–1), answerable (0/1) per example."""
    out = np.zeros((len(examples), 3))
    for i, (pred, ex) in enumerate(zip(predictions, examples, strict=True)):
        answers = ex.get("answers") or []
        answers = [answers] if isinstance(answers, str) else [str(a) for a in answers]
        pred = "" if pred is None else str(pred)
        # As the official v2 script: answers that normalise to "" are dropped; none left
        # means the only correct prediction is no answer.
        gold = [a for a in answers if normalize_answer(a)] or [""]
        out[i] = (
            max(exact_score(g, pred) for g in gold),
            max(f1_score(g, pred) for g in gold),
            float(bool(answers)),
        )
    return out


class _SquadMetric(Metric):
    families = (Family.QA,)
    scale = Scale.PERCENT
    _column: int  # 0 exact, 1 F1
    _split: str | None = None  # None (all), "has" (answerable), "no" (unanswerable)

    def example_stats(
        self, predictions: Sequence[Any], examples: Sequence[dict], context: MetricContext
    ) -> np.ndarray:
        if _SHARED_KEY not in context.shared:
            context.shared[_SHARED_KEY] = squad_scores(predictions, examples)
        scores = context.shared[_SHARED_KEY]
        if self._split is None:
            member = np.ones(len(scores))
        elif self._split == "has":
            member = scores[:, 2]
        else:
            member = 1.0 - scores[:, 2]
        return np.column_stack([100.0 * scores[:, self._column] * member, member])

    def from_sums(self, sums: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.where(sums[:, 1] > 0, sums[:, 0] / sums[:, 1], np.nan)


@register
class ExactMatch(_SquadMetric):
    name = "exact_match"
    _column = 0
    description = "SQuAD exact match (0-100) after answer normalisation, best gold answer."


@register
class SquadF1(_SquadMetric):
    name = "f1"
    _column = 1
    description = "SQuAD token F1 (0-100) after answer normalisation, best gold answer."


@register
class HasAnswerExact(_SquadMetric):
    name = "has_ans_exact"
    _column, _split = 0, "has"
    description = "SQuAD v2 exact match on the answerable questions only (0-100)."


@register
class HasAnswerF1(_SquadMetric):
    name = "has_ans_f1"
    _column, _split = 1, "has"
    description = "SQuAD v2 token F1 on the answerable questions only (0-100)."


@register
class NoAnswerExact(_SquadMetric):
    name = "no_ans_exact"
    _column, _split = 0, "no"
    description = "SQuAD v2 exact match on the unanswerable questions only (0-100)."


@register
class NoAnswerF1(_SquadMetric):
    name = "no_ans_f1"
    _column, _split = 1, "no"
    description = "SQuAD v2 token F1 on the unanswerable questions only (0-100)."
