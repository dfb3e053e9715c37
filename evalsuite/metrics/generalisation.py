"""Generalisation figures: how much of a model's quality on a reference task survives a
shifted variant of it (another domain, another language).

For every suite a run was asked for (``run.suites``) and every model with a finished record
of the suite's reference task, each finished variant record gets a block::

    generalisation = {suite, reference_task, metric, reference_value, value,
                      retention, ci_low, ci_high,          # variant / reference, 95% interval
                      gap, gap_ci_low, gap_ci_high,        # reference - variant, metric units
                      p_value, paired, pairing, n_reference, n_variant,
                      language, reference_language, domain, reference_domain, shift,
                      beats_chance, retention_reason?, resamples}

*retention* is the variant's primary metric over the reference's (1.0 = nothing lost) and
*gap* their difference, positive when the variant is worse (both turned round for a metric
where lower is better).  Both come from the per-example sufficient statistics the runner
stored, so a corpus-level metric (BLEU, chrF) is recomputed on every bootstrap resample,
never averaged.  The interval is a percentile bootstrap: **paired** when the suite is
``parallel`` and both records scored the same example ids (FLORES-200: the same sentences in
every language), drawing the same examples for reference and variant; **unpaired**
otherwise, drawing each task's examples independently.  ``p_value`` is the two-sided
bootstrap p-value of "no gap" (:func:`evalsuite.metrics.significance.bootstrap_p_value`).

A model that does not beat chance on the reference task has nothing to retain: when the
reference record carries the report's ``chance`` block with ``beats_chance: false``,
``retention`` and its interval are ``null`` with ``retention_reason`` (the gap is still
given).  Without a ``chance`` block ``beats_chance`` is ``null`` and retention is computed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evalsuite.metrics import registry as metric_registry
from evalsuite.metrics.base import (
    CONFIDENCE,
    DEFAULT_RESAMPLES,
    Metric,
    draw_counts,
    percentile_interval,
    resample_chunks,
)
from evalsuite.metrics.significance import bootstrap_p_value
from evalsuite.results.files import read_predictions
from evalsuite.results.records import Generalisation, Record, RunInfo, Section, check_declared
from evalsuite.text.languages import parse_language
from evalsuite.utils import first_line

logger = logging.getLogger(__name__)

BLOCK = Section.GENERALISATION.value


def compare(metric: Metric, reference: np.ndarray, variant: np.ndarray, *, paired: bool,
            resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
            confidence: float = CONFIDENCE) -> dict[str, Any]:
    """Retention and gap of ``variant`` against ``reference`` (per-example statistics of one
    metric) with bootstrap intervals; ``paired`` needs the rows aligned (same examples)."""
    if paired and len(reference) != len(variant):
        raise ValueError(f"paired statistics need the same examples: {len(reference)} vs "
                         f"{len(variant)} rows")
    ref_value = metric.value(reference) if len(reference) else float("nan")
    var_value = metric.value(variant) if len(variant) else float("nan")
    retention, gap = _retention_gap(metric, np.array([ref_value]), np.array([var_value]))
    out: dict[str, Any] = {
        "reference_value": _finite(ref_value), "value": _finite(var_value),
        "retention": _finite(retention[0]), "ci_low": None, "ci_high": None,
        "gap": _finite(gap[0]), "gap_ci_low": None, "gap_ci_high": None, "p_value": None,
    }
    if min(len(reference), len(variant)) < 2 or resamples < 1:
        return out
    ref_draws, var_draws = _draws(metric, reference, variant, paired, resamples, seed)
    ret_draws, gap_draws = _retention_gap(metric, ref_draws, var_draws)
    out["ci_low"], out["ci_high"] = percentile_interval(ret_draws, confidence)
    out["gap_ci_low"], out["gap_ci_high"] = percentile_interval(gap_draws, confidence)
    finite = gap_draws[np.isfinite(gap_draws)]
    if finite.size and out["gap"] is not None:
        out["p_value"] = bootstrap_p_value(finite, out["gap"])
    return out


def _retention_gap(metric: Metric, ref: np.ndarray, var: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Retention (``nan`` where the denominator is not positive) and gap, worse = positive."""
    better, worse = (var, ref) if metric.higher_is_better else (ref, var)
    with np.errstate(all="ignore"):
        retention = np.where(worse > 0, better / np.where(worse > 0, worse, 1.0), np.nan)
        gap = ref - var if metric.higher_is_better else var - ref
    return retention, gap


def _draws(metric: Metric, reference: np.ndarray, variant: np.ndarray, paired: bool,
           resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap values of both tasks' metric: the same draws when paired, else independent."""
    rng = np.random.default_rng(seed)
    if not paired:
        return (_resampled(metric, [reference], rng, resamples)[0],
                _resampled(metric, [variant], rng, resamples)[0])
    ref_draws, var_draws = _resampled(metric, [reference, variant], rng, resamples)
    return ref_draws, var_draws


def _resampled(metric: Metric, stats: Sequence[np.ndarray], rng: np.random.Generator,
               resamples: int) -> list[np.ndarray]:
    """Corpus values of each stats array under shared bootstrap draws, in chunks."""
    n = len(stats[0])
    parts: list[list[np.ndarray]] = [[] for _ in stats]
    for _, size in resample_chunks(resamples, n):
        counts = draw_counts(rng, n, size)
        for part, s in zip(parts, stats, strict=True):
            part.append(metric.resampled_values(s, counts))
    return [np.concatenate(p) for p in parts]


# -- results ------------------------------------------------------------------------------------
def annotate_records(run_dir: Path, run: RunInfo, records: list[Record]) -> None:
    """Add a ``generalisation`` block to every finished variant record of the run's suites
    (``run.suites``), reading per-example statistics from the predictions files."""
    by_key = {r.key: r for r in records}
    for suite in run.suites or []:
        variants = set(suite.variants or [])
        for record in records:
            if record.task not in variants or not record.ok:
                continue
            reference = by_key.get((record.model, suite.reference or ""))
            try:
                block = variant_block(run_dir, suite.to_dict(), reference, record,
                                      resamples=DEFAULT_RESAMPLES if run.resamples is None
                                      else run.resamples, seed=run.seed or 0)
            except Exception as exc:  # a figure that cannot be computed never fails the run
                logger.warning("generalisation of %s on %s failed: %s", record.model,
                               record.task, exc)
                block = {"suite": suite.name, "reference_task": suite.reference,
                         "status": "failed", "reason": f"{type(exc).__name__}: "
                                                       f"{first_line(exc)}"}
            record.generalisation = Generalisation.model_validate(block)
            check_declared(record.generalisation, BLOCK)


def variant_block(run_dir: Path, suite: dict[str, Any], reference: Record | None,
                  variant: Record, *, resamples: int, seed: int) -> dict[str, Any]:
    """The ``generalisation`` block of one variant record (see the module docstring)."""
    head = {"suite": suite["name"], "reference_task": suite["reference"]}
    if reference is None or not reference.ok:
        why = ("no record" if reference is None else
               f"its record is {reference.status} ({reference.reason or ''})")
        return {**head, "status": "not_applicable",
                "reason": f"the model has no finished record of {suite['reference']}: {why}"}
    name = reference.primary_metric or ""
    if variant.primary_metric != name:
        raise ValueError(f"primary metrics differ: {name} and {variant.primary_metric}")
    metric = metric_registry.get(name, reference.family)
    ref_stats = _stats_by_id(run_dir, reference, name)
    var_stats = _stats_by_id(run_dir, variant, name)
    same_ids = set(ref_stats) == set(var_stats)
    paired = bool(suite.get("parallel")) and same_ids and len(ref_stats) >= 2
    if paired:
        ids = list(ref_stats)
        ref_rows = np.array([ref_stats[i] for i in ids])
        var_rows = np.array([var_stats[i] for i in ids])
        pairing = f"paired over {len(ids)} shared example ids"
    else:
        ref_rows, var_rows = np.array(list(ref_stats.values())), np.array(list(var_stats.values()))
        pairing = f"unpaired: {len(ref_rows)} and {len(var_rows)} examples drawn independently"
        if suite.get("parallel"):
            pairing += " (the suite is parallel, but the two records scored different examples)"
    figures = compare(metric, ref_rows, var_rows, paired=paired, resamples=resamples, seed=seed)
    chance = getattr(reference, "chance", None)  # the report's block, when it ran
    if isinstance(chance, dict):
        beats_chance = chance.get("beats_chance")
    else:
        beats_chance = getattr(chance, "beats_chance", None)
    block = {**head, "metric": name, **figures, "paired": paired, "pairing": pairing,
             "n_reference": len(ref_rows), "n_variant": len(var_rows),
             **_shift(reference, variant), "beats_chance": beats_chance,
             "resamples": resamples}
    reason = None
    if beats_chance is False:
        reason = f"the model does not beat chance on {suite['reference']}: nothing to retain"
    elif figures["retention"] is None:
        reason = f"the reference score {figures['reference_value']} is not positive"
    if reason:
        block.update(retention=None, ci_low=None, ci_high=None, retention_reason=reason)
    return block


def _stats_by_id(run_dir: Path, record: Record, metric: str) -> dict[str, list[float]]:
    """Per-example statistics of ``metric`` from a record's predictions file, by example id."""
    if not record.predictions_file:
        raise ValueError(f"record {record.model} · {record.task} has no predictions file")
    return {str(row["id"]): row["stats"][metric]
            for row in read_predictions(run_dir, record.predictions_file)}


def _shift(reference: Record, variant: Record) -> dict[str, Any]:
    """Languages and domains of both records and what changed between them."""
    def tags(record: Record) -> tuple[str | None, ...]:
        return tuple(None if code is None else parse_language(code).tag
                     for code in (record.source_language, record.language))

    axes = [axis for axis, changed in (("language", tags(reference) != tags(variant)),
                                       ("domain", reference.domain != variant.domain))
            if changed]
    return {"language": variant.language, "reference_language": reference.language,
            "domain": variant.domain, "reference_domain": reference.domain,
            "shift": "+".join(axes) or "dataset"}


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if np.isfinite(number) else None
