"""Chance: the score a trivial system gets on a task's own examples, and whether a model beats it.

Every (model, task) record carries a ``chance`` block so that a score is read against what
no model at all would get on the same examples.  The trivial system of each family needs
nothing but the examples:

==============  ===================================================================
family          baseline
==============  ===================================================================
sentiment       the majority class of the evaluated examples' gold labels (ties: the
                card's label order)
ner             every token ``O`` (no entity)
translation     the source sentence, copied
summarization   lead-3: the document's first three sentences
                (:func:`evalsuite.models.baselines.lead`, the ``baseline:lead`` system)
qa              the empty answer ("no answer") for every question
similarity      a constant score: zero correlation by definition
==============  ===================================================================

The baseline is scored with the card's primary metric through the same metric code (value
and bootstrap interval), once per task and example set (:func:`reference` memoises it).
``beats_chance`` is true only when the model is better than the baseline by a one-sided
paired test at ``alpha`` = 0.05 on the per-example statistics of both:

* **approximate randomisation** (:func:`evalsuite.metrics.significance.paired_permutation`,
  the gate's default test): each example's statistics are swapped between the two systems at
  random and the *corpus* metric is recomputed, so BLEU, F1 or MCC are tested as the metric
  they are, never as a per-example average.  The swap distribution is symmetric about zero,
  so the one-sided p-value of an improvement is half the two-sided one (and ``1 - p/2`` when
  the model is not better).
* **correlations** (Pearson, Spearman): a constant prediction has no correlation at all, so
  chance is 0 and the test is the one-sided test of ``correlation > 0`` (``scipy.stats``
  ``pearsonr`` / ``spearmanr`` with ``alternative="greater"``).  A model whose scores are
  constant *is* the baseline: ``beats_chance`` false.

``beats_chance`` is ``None`` when no test is possible (fewer than 3 examples, an undefined
metric, statistics of different shapes); the block's ``note`` says why.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evalsuite.families import Family
from evalsuite.metrics import registry as metric_registry
from evalsuite.metrics.base import DEFAULT_RESAMPLES, MetricContext, score
from evalsuite.tasks.cards import TaskCard

ALPHA = 0.05
CORRELATIONS = frozenset({"pearson", "spearman"})
MIN_EXAMPLES = 3
_MEMO_SIZE = 32


# -- the trivial systems ------------------------------------------------------------------------
def _majority(card: TaskCard, examples: Sequence[dict]) -> tuple[str, list[Any]]:
    order = list(card.labels or [])
    counts: dict[str, int] = {}
    for ex in examples:
        counts[str(ex["label"])] = counts.get(str(ex["label"]), 0) + 1
    rank = {label: i for i, label in enumerate(order)}
    label = min(counts, key=lambda lab: (-counts[lab], rank.get(lab, len(rank)), lab)) \
        if counts else (order[0] if order else "")
    return f"majority class ({label})", [label] * len(examples)


def _all_outside(card: TaskCard, examples: Sequence[dict]) -> tuple[str, list[Any]]:
    return "all O (no entity)", [["O"] * len(ex["tokens"]) for ex in examples]


def _copy_source(card: TaskCard, examples: Sequence[dict]) -> tuple[str, list[Any]]:
    return "copy the source", [str(ex["source"]) for ex in examples]


def _lead_3(card: TaskCard, examples: Sequence[dict]) -> tuple[str, list[Any]]:
    from evalsuite.models.baselines import lead, sentence_joiner

    join = sentence_joiner(card)
    return "lead-3", [lead(str(ex["document"]), 3, join) for ex in examples]


def _no_answer(card: TaskCard, examples: Sequence[dict]) -> tuple[str, list[Any]]:
    return "no answer (empty)", [""] * len(examples)


def _constant_score(card: TaskCard, examples: Sequence[dict]) -> tuple[str, list[Any]]:
    golds = [float(ex["score"]) for ex in examples]
    mean = sum(golds) / len(golds) if golds else 0.0
    return "constant score (zero correlation)", [mean] * len(examples)


BASELINES: dict[Family, Callable[[TaskCard, Sequence[dict]], tuple[str, list[Any]]]] = {
    Family.SENTIMENT: _majority,
    Family.NER: _all_outside,
    Family.TRANSLATION: _copy_source,
    Family.SUMMARIZATION: _lead_3,
    Family.QA: _no_answer,
    Family.SIMILARITY: _constant_score,
}


def baseline_predictions(card: TaskCard, examples: Sequence[dict]) -> tuple[str, list[Any]]:
    """The trivial system's name and its prediction for each example of ``card``."""
    return BASELINES[card.family](card, examples)


# -- the baseline's score, once per task --------------------------------------------------------
@dataclass(frozen=True)
class ChanceReference:
    """The baseline's primary-metric score on one task's evaluated examples."""

    baseline: str
    metric: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    stats: np.ndarray  # the baseline's per-example statistics of the primary metric
    correlation: bool  # chance is zero correlation, tested by a correlation test
    family: Family = Family.SENTIMENT


_MEMO: OrderedDict[str, ChanceReference] = OrderedDict()


def _memo_key(card: TaskCard, examples: Sequence[dict], resamples: int, seed: int) -> str:
    digest = hashlib.sha256(f"{card.name}\0{card.version_id}\0{resamples}\0{seed}".encode())
    for ex in examples:
        digest.update(str(ex.get("id")).encode() + b"\0")
    return digest.hexdigest()


def reference(card: TaskCard, examples: Sequence[dict], *,
              resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> ChanceReference:
    """The chance reference of ``card`` on ``examples`` (computed once per task and example
    set in a process, then reused for every model)."""
    key = _memo_key(card, examples, resamples, seed)
    if key in _MEMO:
        _MEMO.move_to_end(key)
        return _MEMO[key]
    name, predictions = baseline_predictions(card, examples)
    metric = metric_registry.get(card.primary_metric, card.family)
    result, stats = score(metric, predictions, examples, MetricContext.for_card(card),
                          resamples=resamples, seed=seed)
    correlation = metric.name in CORRELATIONS and card.family is Family.SIMILARITY
    if correlation:  # a constant has no correlation: chance is 0, without an interval
        ref = ChanceReference(name, metric.name, 0.0, None, None, stats, True, card.family)
    else:
        ref = ChanceReference(name, metric.name, _finite(result.value), _finite(result.ci_low),
                              _finite(result.ci_high), stats, False, card.family)
    _MEMO[key] = ref
    while len(_MEMO) > _MEMO_SIZE:
        _MEMO.popitem(last=False)
    return ref


# -- does a model beat it? ----------------------------------------------------------------------
def chance_block(ref: ChanceReference, model_stats: np.ndarray, *,
                 resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                 alpha: float = ALPHA) -> dict[str, Any]:
    """The record's ``chance`` block: the baseline's value and interval, ``beats_chance``,
    the one-sided p-value and the test used (see the module docstring)."""
    block: dict[str, Any] = {"baseline": ref.baseline, "metric": ref.metric,
                             "value": ref.value, "ci_low": ref.ci_low, "ci_high": ref.ci_high,
                             "beats_chance": None, "p_value": None, "test": None,
                             "alpha": alpha}
    stats = np.asarray(model_stats, dtype=np.float64)
    if len(stats) < MIN_EXAMPLES:
        block["note"] = f"not tested: {len(stats)} examples (at least {MIN_EXAMPLES} needed)"
        return block
    if ref.correlation:
        return {**block, **_correlation_test(ref.metric, stats, alpha)}
    return {**block, **_paired_test(ref, stats, resamples, seed, alpha)}


def _paired_test(ref: ChanceReference, stats: np.ndarray, resamples: int, seed: int,
                 alpha: float) -> dict[str, Any]:
    from evalsuite.metrics.significance import paired_permutation

    metric = metric_registry.get(ref.metric, ref.family)
    try:
        result = paired_permutation(metric, stats, ref.stats, resamples, seed)
    except ValueError as exc:
        return {"note": f"not tested: {exc}"}
    delta, two_sided = result["delta"], result["p_value"]
    if two_sided is None or not math.isfinite(delta):
        return {"note": "not tested: the metric is undefined on these examples"}
    better = delta > 0 if metric.higher_is_better else delta < 0
    p_value = two_sided / 2 if better else 1 - two_sided / 2
    return {"beats_chance": bool(better and p_value < alpha), "p_value": float(p_value),
            "test": "permutation", "delta": float(delta)}


def _correlation_test(name: str, stats: np.ndarray, alpha: float) -> dict[str, Any]:
    from scipy import stats as sps

    predicted, gold = stats[:, 0], stats[:, 1]
    test = "pearson_greater" if name == "pearson" else "spearman_greater"
    if np.ptp(predicted) == 0:
        return {"beats_chance": False, "test": test,
                "note": "the model's scores are constant: no correlation, the baseline itself"}
    if np.ptp(gold) == 0:
        return {"note": "not tested: the gold scores are constant"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = (sps.pearsonr if name == "pearson" else sps.spearmanr)(
            predicted, gold, alternative="greater")
    p_value = float(found.pvalue)
    if not math.isfinite(p_value):
        return {"note": "not tested: the correlation is undefined on these examples"}
    return {"beats_chance": bool(p_value < alpha), "p_value": p_value, "test": test,
            "delta": float(found.statistic)}


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None
