"""Translation metrics: corpus BLEU and chrF++ on sacrebleu's own sufficient statistics.

sacrebleu computes corpus scores from summed per-segment statistics (n-gram matches and
totals, hypothesis/closest-reference lengths for BLEU; character and word n-gram
hypothesis/reference/match counts for chrF).  We take those statistics from
``_extract_corpus_statistics`` — the function sacrebleu's own significance tests use — and
re-implement ``_compute_score_from_stats`` vectorised, so a bootstrap is a matrix product and
the corpus value equals ``sacrebleu.corpus_bleu`` / ``corpus_chrf(word_order=2)``.
Examples may carry different numbers of references.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from sacrebleu.metrics import BLEU as SacreBLEU
from sacrebleu.metrics import CHRF as SacreCHRF

from evalsuite.families import Family
from evalsuite.metrics.base import Metric, MetricContext
from evalsuite.metrics.registry import register
from evalsuite.results.records import Scale
from evalsuite.text.languages import language_or_none
from evalsuite.utils import first_line

logger = logging.getLogger(__name__)

MAX_NGRAM_ORDER = 4
CHAR_ORDER = 6
WORD_ORDER = 2  # chrF++
BETA = 2


def _hypotheses(predictions: Sequence[Any]) -> list[str]:
    return ["" if p is None else str(p) for p in predictions]


def _reference_streams(examples: Sequence[dict]) -> list[list[str | None]]:
    """sacrebleu's layout: one stream per reference position, ``None`` where an example has
    fewer references than the most."""
    refs: list[list[str]] = []
    for ex in examples:
        r = ex["references"]
        r = [r] if isinstance(r, str) else [str(x) for x in r]
        if not r:
            raise ValueError(f"example {ex.get('id', '?')!r} has no references")
        refs.append(r)
    width = max(len(r) for r in refs)
    return [[r[j] if j < len(r) else None for r in refs] for j in range(width)]


def _target_language(examples: Sequence[dict], context: MetricContext) -> str | None:
    """The examples' common ``target_lang``, else the card's output language."""
    langs = {ex.get("target_lang") or "" for ex in examples}
    if len(langs) == 1 and (lang := langs.pop()):
        return lang
    return context.language


def bleu_tokenizer(language: str | None) -> str:
    """sacreBLEU's tokenizer for a target language (a BCP-47 or FLORES code).

    Chinese ``zh``; Japanese ``ja-mecab`` and Korean ``ko-mecab`` (sacreBLEU's choices, which
    need its ``ja``/``ko`` extras); other scripts written without spaces (Thai, Lao, Khmer,
    Myanmar, Tibetan) ``char``, since ``13a`` would treat a whole sentence as one word;
    everything else ``13a``.  The ``flores200`` SentencePiece tokenizer (spBLEU) is used only
    when a card asks for it (``options.bleu_tokenize``): sacreBLEU downloads its model on
    first use, which an offline machine cannot do.
    """
    lang = language_or_none(language)
    if lang is None:
        return "13a"
    if lang.base == "ja":
        return "ja-mecab"
    if lang.base == "ko":
        return "ko-mecab"
    if lang.han:
        return "zh"
    return "char" if lang.unspaced else "13a"


def _sacrebleu_bleu(trg_lang: str | None, tokenize: str | None = None) -> SacreBLEU:
    """BLEU with sacrebleu's defaults and the tokenizer of the target language (or the
    card's ``bleu_tokenize``); ja/ko fall back to ``char`` without their MeCab extras."""
    tokenize = tokenize or bleu_tokenizer(trg_lang)
    try:
        return SacreBLEU(tokenize=tokenize)
    except Exception as err:
        if tokenize in SPM_TOKENIZERS:  # sentencepiece missing, or the model not downloadable
            raise ValueError(f"BLEU tokenizer {tokenize!r} is unavailable "
                             f"({type(err).__name__}: {first_line(err)}): it needs the "
                             "sentencepiece package and a model sacreBLEU downloads on first "
                             "use (~/.sacrebleu/models/); copy it there on an offline machine, "
                             "or drop options.bleu_tokenize") from None
        if not isinstance(err, (RuntimeError, ImportError)):
            raise
        logger.warning("BLEU: %s tokenizer unavailable (%s); using 'char'", tokenize, err)
        return SacreBLEU(tokenize="char")


SPM_TOKENIZERS = frozenset({"spm", "flores101", "flores200", "spBLEU-1K"})


def _signature(scorer: SacreBLEU | SacreCHRF) -> str:
    """sacrebleu's signature; ``nrefs:0`` when no references were read (no examples)."""
    if not hasattr(scorer, "num_refs"):
        scorer.num_refs = 0
    return str(scorer.get_signature())


def _corpus_stats(
    scorer: SacreBLEU | SacreCHRF, predictions: Sequence[Any], examples: Sequence[dict], width: int
) -> np.ndarray:
    if not examples:
        return np.zeros((0, width))
    stats = scorer._extract_corpus_statistics(
        _hypotheses(predictions), _reference_streams(examples)
    )
    return np.asarray(stats, dtype=np.float64).reshape(len(examples), width)


def bleu_from_stats(sums: np.ndarray, *, effective_order: bool = False) -> np.ndarray:
    """Vectorised ``BLEU.compute_bleu`` with 'exp' smoothing: ``(B, 10)`` in, ``(B,)`` out.

    Columns: hypothesis length, closest reference length, correct 1..4-grams, total 1..4-grams.
    ``effective_order=True`` gives sacrebleu's sentence BLEU.
    """
    sums = np.atleast_2d(sums)
    sys_len, ref_len = sums[:, 0], sums[:, 1]
    correct = sums[:, 2 : 2 + MAX_NGRAM_ORDER]
    total = sums[:, 2 + MAX_NGRAM_ORDER : 2 + 2 * MAX_NGRAM_ORDER]
    with np.errstate(all="ignore"):
        short = sys_len < ref_len
        bp = np.where(short, np.exp(1.0 - ref_len / np.where(sys_len > 0, sys_len, 1.0)), 1.0)
        bp = np.where(short & (sys_len <= 0), 0.0, bp)
        # Orders up to the first one with no hypothesis n-grams (sacrebleu stops there).
        valid = np.cumprod(total > 0, axis=1).astype(bool)
        # 'exp' smoothing: the k-th order with no match gets precision 100 / (2^k * total).
        smooth = 2.0 ** np.cumsum(valid & (correct == 0), axis=1)
        safe_total = np.where(total > 0, total, 1.0)
        precision = np.where(
            correct > 0, 100.0 * correct / safe_total, 100.0 / (smooth * safe_total)
        )
        log_p = np.where(valid, np.log(precision), -9999999999.0)  # sacrebleu's my_log(0)
        if effective_order:
            order = np.maximum(valid.sum(axis=1), 1)
            log_sum = np.where(valid, log_p, 0.0).sum(axis=1)
        else:
            order = np.full(len(sums), MAX_NGRAM_ORDER)
            log_sum = log_p.sum(axis=1)
        score = bp * np.exp(log_sum / order)
    return np.where((correct > 0).any(axis=1), score, 0.0)


def chrf_from_stats(sums: np.ndarray, *, beta: float = BETA) -> np.ndarray:
    """Vectorised ``CHRF._compute_f_score`` (effective-order averaging, sacrebleu's default).

    ``(B, 3 * orders)`` in — hypothesis, reference, match counts per n-gram order — ``(B,)`` out.
    """
    sums = np.atleast_2d(sums)
    triples = sums.reshape(len(sums), sums.shape[1] // 3, 3)
    hyp, ref, match = triples[..., 0], triples[..., 1], triples[..., 2]
    effective = (hyp > 0) & (ref > 0)
    with np.errstate(all="ignore"):
        prec = np.where(effective, match / np.where(hyp > 0, hyp, 1.0), 0.0)
        rec = np.where(effective, match / np.where(ref > 0, ref, 1.0), 0.0)
        count = effective.sum(axis=1)
        avg_p = np.where(count > 0, prec.sum(axis=1) / np.maximum(count, 1), 0.0)
        avg_r = np.where(count > 0, rec.sum(axis=1) / np.maximum(count, 1), 0.0)
        factor = beta**2
        denom = factor * avg_p + avg_r
        score = 100.0 * (1 + factor) * avg_p * avg_r / np.where(denom > 0, denom, 1.0)
    return np.where(avg_p + avg_r > 0, score, 0.0)


@register
class Bleu(Metric):
    """Corpus BLEU (sacrebleu defaults: 13a tokenizer, exp smoothing, mixed case)."""

    name = "bleu"
    families = (Family.TRANSLATION,)
    scale = Scale.PERCENT
    description = "Corpus BLEU as sacrebleu.corpus_bleu; per example: sentence BLEU."
    reference = "sacrebleu.corpus_bleu"

    def example_stats(
        self, predictions: Sequence[Any], examples: Sequence[dict], context: MetricContext
    ) -> np.ndarray:
        scorer = _sacrebleu_bleu(_target_language(examples, context),
                                 context.options.get("bleu_tokenize"))
        stats = _corpus_stats(scorer, predictions, examples, 2 + 2 * MAX_NGRAM_ORDER)
        context.shared["bleu_signature"] = _signature(scorer)
        return stats

    def from_sums(self, sums: np.ndarray) -> np.ndarray:
        return bleu_from_stats(sums)

    def example_scores(self, stats: np.ndarray) -> np.ndarray:
        """Sentence BLEU (effective order, as ``sacrebleu.sentence_bleu``)."""
        return bleu_from_stats(stats, effective_order=True)

    def extra(self, stats: np.ndarray, context: MetricContext) -> dict[str, Any]:
        signature = context.shared.get("bleu_signature") or _signature(SacreBLEU())
        return {"signature": signature}


@register
class ChrF(Metric):
    """Corpus chrF++ (character 6-grams plus word 1-2-grams, beta 2)."""

    name = "chrf"
    families = (Family.TRANSLATION,)
    scale = Scale.PERCENT
    description = (
        "Corpus chrF++ as sacrebleu.corpus_chrf(word_order=2); per example: sentence chrF++."
    )
    reference = "sacrebleu.corpus_chrf(word_order=2)"

    @staticmethod
    def _scorer() -> SacreCHRF:
        return SacreCHRF(char_order=CHAR_ORDER, word_order=WORD_ORDER, beta=BETA)

    def example_stats(
        self, predictions: Sequence[Any], examples: Sequence[dict], context: MetricContext
    ) -> np.ndarray:
        scorer = self._scorer()
        stats = _corpus_stats(scorer, predictions, examples, 3 * (CHAR_ORDER + WORD_ORDER))
        context.shared["chrf_signature"] = _signature(scorer)
        return stats

    def from_sums(self, sums: np.ndarray) -> np.ndarray:
        return chrf_from_stats(sums)

    def extra(self, stats: np.ndarray, context: MetricContext) -> dict[str, Any]:
        signature = context.shared.get("chrf_signature") or _signature(self._scorer())
        return {"signature": signature}
