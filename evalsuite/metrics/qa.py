"""Extractive QA metrics: SQuAD exact match and token F1 (v1.1 and v2.0), on 0–100.

Follows the official SQuAD v2.0 evaluation script: answers are normalised (lowercase, drop
punctuation, drop the articles a/an/the, collapse whitespace) and the best gold answer
counts.  An unanswerable question (no gold answer) scores 100 when the prediction is empty
after normalisation — ``""`` is the canonical "no answer" — and 0 otherwise.  On data
without unanswerable questions this equals SQuAD v1.1.

Other languages follow MLQA's evaluation script (Lewis et al., 2020), which the official
normaliser would get wrong (it strips only ASCII punctuation and English articles, and a
Chinese answer has no spaces to split tokens at): :func:`normalize_answer` with a card
``language`` other than English drops every Unicode punctuation character, removes the
articles MLQA lists for Spanish, German, Vietnamese and Arabic, and splits Chinese into one
token per character (MLQA's "mixed segmentation"; Japanese likewise, with kana).

Per-example statistics carry the answerable indicator, so the ``has_ans_*`` / ``no_ans_*``
splits are functions of column sums too; an empty split is ``nan``.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from evalsuite.families import Family
from evalsuite.metrics.base import Metric, MetricContext
from evalsuite.metrics.registry import register
from evalsuite.results.records import Scale
from evalsuite.text.languages import Language, language_or_none

_SHARED_KEY = "squad_scores"
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)
# MLQA's articles per language (mlqa_evaluation_v1.py); Hindi and Chinese have none.
MLQA_ARTICLES = {
    "en": re.compile(r"\b(a|an|the)\b"),
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    "ar": re.compile(r"\sال^|ال"),
}
MLQA_ARTICLES["arb"] = MLQA_ARTICLES["ar"]
_MLQA_ZH_CHAR = re.compile(r"[\u4e00-\u9fa5]")  # MLQA's range for Chinese characters
_JA_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")  # kana and kanji


def normalize_answer(text: str, language: str | None = None) -> str:
    """SQuAD normalisation: lowercase, no punctuation, no articles, single spaces; for a
    language other than English, MLQA's (see the module docstring).

    >>> normalize_answer("The  Cat!")
    'cat'
    >>> normalize_answer("北京大学。", "zh")
    '北 京 大 学'
    """
    lang = language_or_none(language)
    if lang is None or lang.base == "en":
        text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
        return " ".join(_ARTICLES.sub(" ", text).split())
    return mlqa_normalize(text, lang)


def mlqa_normalize(text: str, lang: Language) -> str:
    """MLQA's ``normalize_answer(s, lang)``: lowercase, drop Unicode punctuation, drop the
    language's articles, then whitespace or (Chinese, Japanese) per-character tokens."""
    text = "".join(ch for ch in text.lower()
                   if ch not in _PUNCTUATION and not unicodedata.category(ch).startswith("P"))
    articles = MLQA_ARTICLES.get(lang.base)
    if articles is not None:
        text = articles.sub(" ", text)
    char_token = _MLQA_ZH_CHAR if lang.base == "zh" else _JA_CHAR if lang.han else None
    if char_token is None:
        return " ".join(text.split())
    tokens: list[str] = []
    for chunk in text.split():
        run = ""
        for ch in chunk:
            if char_token.match(ch):
                tokens += [run, ch] if run else [ch]
                run = ""
            else:
                run += ch
        if run:
            tokens.append(run)
    return " ".join(tokens)


def exact_score(gold: str, prediction: str, language: str | None = None) -> float:
    return float(normalize_answer(gold, language) == normalize_answer(prediction, language))


def f1_score(gold: str, prediction: str, language: str | None = None) -> float:
    """Token F1 after normalisation; two empty answers agree (SQuAD v2 rule)."""
    gold_tokens = normalize_answer(gold, language).split()
    pred_tokens = normalize_answer(prediction, language).split()
    if not gold_tokens or not pred_tokens:
        return float(gold_tokens == pred_tokens)
    same = sum((Counter(gold_tokens) & Counter(pred_tokens)).values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_scores(predictions: Sequence[Any], examples: Sequence[dict],
                 language: str | None = None) -> np.ndarray:
    """``(n, 3)``: exact (0/1), F1 (0–1), answerable (0/1) per example."""
    out = np.zeros((len(examples), 3))
    for i, (pred, ex) in enumerate(zip(predictions, examples, strict=True)):
        answers = ex.get("answers") or []
        answers = [answers] if isinstance(answers, str) else [str(a) for a in answers]
        pred = "" if pred is None else str(pred)
        # As the official v2 script: answers that normalise to "" are dropped; none left
        # means the only correct prediction is no answer.
        gold = [a for a in answers if normalize_answer(a, language)] or [""]
        out[i] = (
            max(exact_score(g, pred, language) for g in gold),
            max(f1_score(g, pred, language) for g in gold),
            float(bool(answers)),
        )
    return out


class _SquadMetric(Metric):
    families = (Family.QA,)
    reference = "the official SQuAD v2.0 evaluation script"
    scale = Scale.PERCENT
    _column: int  # 0 exact, 1 F1
    _split: str | None = None  # None (all), "has" (answerable), "no" (unanswerable)

    def example_stats(
        self, predictions: Sequence[Any], examples: Sequence[dict], context: MetricContext
    ) -> np.ndarray:
        if _SHARED_KEY not in context.shared:
            context.shared[_SHARED_KEY] = squad_scores(predictions, examples, context.language)
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
