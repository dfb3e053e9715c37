"""Summarization metrics: ROUGE-1/2/L/Lsum F1 with rouge-score, best reference per example.

All four come from one ``RougeScorer(...).score_multi`` call per example, shared through
``context.shared``.  ROUGE-Lsum needs one sentence per line; texts are split with
:func:`evalsuite.text.sentences.one_sentence_per_line` (rules, no nltk data download; it
knows ``。！？`` and ``।``).  ROUGE-1/2/L are unaffected by the split because the tokenizers
treat newlines as spaces.  The corpus value is the mean per-example F1, so the statistics
are ``[f1, 1]``.

The tokenizer depends on the card's language and is recorded in each figure's
``signature``: English (or no language given) uses rouge-score's own tokenizer with Porter
stemming, exactly as ``RougeScorer(..., use_stemmer=True)``; any other language uses
:class:`evalsuite.text.tokenize.UnicodeTokenizer` (rouge-score's keeps only ``[a-z0-9]``, so
Hindi or Chinese would score 0).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from rouge_score import rouge_scorer
from rouge_score.tokenize import tokenize as rouge_score_tokenize

from evalsuite.families import Family
from evalsuite.metrics.base import Metric, MetricContext
from evalsuite.metrics.registry import register
from evalsuite.text.languages import language_or_none
from evalsuite.text.sentences import one_sentence_per_line
from evalsuite.text.tokenize import UnicodeTokenizer

logger = logging.getLogger(__name__)

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
_SHARED_KEY = "rouge_f1"
_SIGNATURE_KEY = "rouge_signature"
DEFAULT_SIGNATURE = "tok:rouge-score|stem:porter"


def rouge_scorer_for(language: str | None) -> tuple[rouge_scorer.RougeScorer, str]:
    """The scorer for texts in ``language`` and its signature (tokenizer and stemmer)."""
    lang = language_or_none(language)
    if lang is None or lang.base == "en":
        return rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True), DEFAULT_SIGNATURE
    tokenizer = UnicodeTokenizer(lang)
    return (rouge_scorer.RougeScorer(list(ROUGE_TYPES), tokenizer=tokenizer),
            f"{tokenizer.signature}|lang:{lang.tag}")


def rouge_f1(predictions: Sequence[Any], examples: Sequence[dict],
             language: str | None = None) -> tuple[np.ndarray, str]:
    """``(n, 4)`` F1 of rouge1, rouge2, rougeL, rougeLsum (each the best over references)
    and the tokenizer's signature."""
    scorer, signature = rouge_scorer_for(language)
    out = np.zeros((len(examples), len(ROUGE_TYPES)))
    dropped = 0
    for i, (pred, ex) in enumerate(zip(predictions, examples, strict=True)):
        refs = ex["references"]
        refs = [refs] if isinstance(refs, str) else list(refs)
        if not refs:
            raise ValueError(f"example {ex.get('id', '?')!r} has no references")
        prediction = one_sentence_per_line("" if pred is None else str(pred))
        scores = scorer.score_multi([one_sentence_per_line(str(r)) for r in refs], prediction)
        out[i] = [scores[t].fmeasure for t in ROUGE_TYPES]
        if language is None and refs[0].strip() and not rouge_score_tokenize(refs[0], None):
            dropped += 1
    if dropped:
        logger.warning("ROUGE: %d reference(s) have no [a-z0-9] token, so rouge-score's "
                       "tokenizer scores them 0; set the card's language to use a Unicode "
                       "tokenizer", dropped)
    return out, signature


class _Rouge(Metric):
    families = (Family.SUMMARIZATION,)
    reference = "rouge-score RougeScorer(use_stemmer=True).score_multi"
    rouge_type: str

    def example_stats(
        self, predictions: Sequence[Any], examples: Sequence[dict], context: MetricContext
    ) -> np.ndarray:
        if _SHARED_KEY not in context.shared:
            context.shared[_SHARED_KEY], context.shared[_SIGNATURE_KEY] = rouge_f1(
                predictions, examples, context.language)
        f1 = context.shared[_SHARED_KEY][:, ROUGE_TYPES.index(self.rouge_type)]
        return np.column_stack([f1, np.ones_like(f1)])

    def from_sums(self, sums: np.ndarray) -> np.ndarray:
        return sums[:, 0] / sums[:, 1]

    def extra(self, stats: np.ndarray, context: MetricContext) -> dict[str, Any]:
        return {"signature": context.shared.get(_SIGNATURE_KEY)
                or rouge_scorer_for(context.language)[1]}


@register
class Rouge1(_Rouge):
    name = rouge_type = "rouge1"
    description = "Mean ROUGE-1 F1 (unigrams, Porter stemming), best reference per example."


@register
class Rouge2(_Rouge):
    name = rouge_type = "rouge2"
    description = "Mean ROUGE-2 F1 (bigrams, Porter stemming), best reference per example."


@register
class RougeL(_Rouge):
    name = rouge_type = "rougeL"
    description = "Mean ROUGE-L F1 (longest common subsequence), best reference per example."


@register
class RougeLsum(_Rouge):
    name = rouge_type = "rougeLsum"
    description = "Mean ROUGE-Lsum F1 (summary-level LCS over sentences split one per line)."
