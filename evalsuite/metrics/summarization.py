"""Summarization metrics: ROUGE-1/2/L/Lsum F1 with rouge-score, best reference per example.

All four come from one ``RougeScorer(..., use_stemmer=True).score_multi`` call per example,
shared through ``context.shared``.  ROUGE-Lsum needs one sentence per line; texts are split
with :func:`split_sentences` (a regex, so no nltk data download).  ROUGE-1/2/L are unaffected
by the split because rouge-score's tokenizer treats newlines as spaces.  The corpus value is
the mean per-example F1, so the statistics are ``[f1, 1]``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from rouge_score import rouge_scorer

from evalsuite.families import Family
from evalsuite.metrics.base import Metric, MetricContext
from evalsuite.metrics.registry import register

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
_SHARED_KEY = "rouge_f1"

# A sentence ends at . ! ? (or …), optionally followed by closing quotes/brackets, then
# whitespace, then something that can start a sentence.
_BOUNDARY = re.compile(r"""([.!?…]+["'”’)\]]*)\s+(?=["'“‘(\[]?[A-Z0-9])""")
_ABBREVIATIONS = frozenset((
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "vs", "etc", "fig", "al", "inc",
    "ltd", "co", "corp", "gen", "col", "lt", "sgt", "jan", "feb", "mar", "apr", "jun", "jul",
    "aug", "sep", "sept", "oct", "nov", "dec",
))


def split_sentences(text: str) -> str:
    """Put each sentence of ``text`` on its own line (existing newlines are kept).

    >>> split_sentences("Hello there. It is 5 p.m. now! Dr. Who came.")
    'Hello there.\\nIt is 5 p.m. now!\\nDr. Who came.'
    """

    def _cut(match: re.Match[str]) -> str:
        punct = match.group(1)
        if punct == ".":
            words = match.string[: match.start()].rsplit(None, 1)
            last = words[-1].lstrip("\"'“‘([") if words else ""
            # Abbreviations and initials ("Dr. Who", "J. Smith", "p.m.") do not end a sentence.
            if last.lower() in _ABBREVIATIONS or (len(last) == 1 and last.isupper()) or "." in last:
                return match.group(0)
        return punct + "\n"

    lines = (_BOUNDARY.sub(_cut, line.strip()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def rouge_f1(predictions: Sequence[Any], examples: Sequence[dict]) -> np.ndarray:
    """``(n, 4)`` F1 of rouge1, rouge2, rougeL, rougeLsum; each the best over references."""
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    out = np.zeros((len(examples), len(ROUGE_TYPES)))
    for i, (pred, ex) in enumerate(zip(predictions, examples, strict=True)):
        refs = ex["references"]
        refs = [refs] if isinstance(refs, str) else list(refs)
        if not refs:
            raise ValueError(f"example {ex.get('id', '?')!r} has no references")
        prediction = split_sentences("" if pred is None else str(pred))
        scores = scorer.score_multi([split_sentences(str(r)) for r in refs], prediction)
        out[i] = [scores[t].fmeasure for t in ROUGE_TYPES]
    return out


class _Rouge(Metric):
    families = (Family.SUMMARIZATION,)
    reference = "rouge-score RougeScorer(use_stemmer=True).score_multi"
    rouge_type: str

    def example_stats(
        self, predictions: Sequence[Any], examples: Sequence[dict], context: MetricContext
    ) -> np.ndarray:
        if _SHARED_KEY not in context.shared:
            context.shared[_SHARED_KEY] = rouge_f1(predictions, examples)
        f1 = context.shared[_SHARED_KEY][:, ROUGE_TYPES.index(self.rouge_type)]
        return np.column_stack([f1, np.ones_like(f1)])

    def from_sums(self, sums: np.ndarray) -> np.ndarray:
        return sums[:, 0] / sums[:, 1]


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
