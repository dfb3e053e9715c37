"""Robustness probes: the task's score on perturbed inputs, per perturbation.

A seeded sample of the task's examples (option ``n``, default 200) is perturbed six ways
(:mod:`~evalsuite.probes.perturb`; option ``perturbations`` picks some).  Per perturbation,
``robustness.<name> = {score, clean_score, retention, flip_rate, n}`` where

* ``score`` / ``clean_score``: the task's primary metric on the perturbed / clean sample;
* ``retention`` = score / clean score, with a paired bootstrap interval (``ci_low``,
  ``ci_high``: the same resampled examples for both);
* ``flip_rate``: share of examples whose output changed — a different label, different
  tags on the surviving tokens, a different SQuAD-normalised answer, a different text
  (whitespace aside; swapped names are mapped back first), or for similarity a score that
  moved by more than 10% of the score range;
* ``n_changed``: examples the perturbation actually changed (unchanged ones reuse the clean
  output and cost nothing).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evalsuite.families import Family
from evalsuite.metrics import registry as metric_registry
from evalsuite.metrics.base import MetricContext
from evalsuite.metrics.qa import normalize_answer
from evalsuite.models.base import Output
from evalsuite.probes import stats
from evalsuite.probes.context import ProbeContext, coerce, failed, not_applicable
from evalsuite.probes.perturb import PERTURBATIONS, Perturbed, applies, perturb_example, unswap
from evalsuite.probes.registry import COMMON_OPTIONS, Probe, register
from evalsuite.results.records import Section

CATEGORY = Section.ROBUSTNESS.value  # probe cost category
SIMILARITY_FLIP = 0.1  # share of the score range


def run_robustness(ctx: ProbeContext) -> dict[str, dict[str, Any]]:
    """Every robustness figure for one (model, task)."""
    wanted = ctx.options.get("perturbations") or PERTURBATIONS
    unknown = [w for w in wanted if w not in PERTURBATIONS]
    if unknown:
        raise ValueError(f"unknown perturbation {unknown[0]!r} "
                         f"(choose from {', '.join(PERTURBATIONS)})")
    reason = ctx.can_predict_new_inputs()
    if reason:
        return {name: not_applicable(reason) for name in wanted}
    sample_ids = ctx.sample(range(len(ctx.examples)), "robustness")
    examples = [ctx.examples[i] for i in sample_ids]
    clean_all = ctx.clean_outputs()
    clean = [clean_all[i] for i in sample_ids]
    metric = metric_registry.get(ctx.card.primary_metric, ctx.family)
    clean_stats = _stats(ctx, metric, clean, examples)
    figures: dict[str, dict[str, Any]] = {}
    for name in wanted:
        try:
            figures[name] = _one(ctx, name, metric, examples, clean, clean_stats)
        except Exception as exc:  # one failed figure never fails the task
            figures[name] = failed(exc)
    return figures


def _stats(ctx: ProbeContext, metric: Any, outputs: list[Output],
           examples: list[dict[str, Any]]) -> np.ndarray:
    predictions = [coerce(ctx.family, o.prediction) for o in outputs]
    return np.asarray(metric.example_stats(predictions, examples,
                                           MetricContext.for_card(ctx.card)), float)


def _one(ctx: ProbeContext, name: str, metric: Any, examples: list[dict[str, Any]],
         clean: list[Output], clean_stats: np.ndarray) -> dict[str, Any]:
    family = ctx.family
    why = applies(name, family)
    if why:
        return not_applicable(why)
    perturbed = [perturb_example(ex, family, name, ctx.seed) for ex in examples]
    changed = [p.changed for p in perturbed]
    if not any(changed):
        return not_applicable(f"{name} changes none of the {len(examples)} sampled inputs")
    for p, ex in zip(perturbed, examples, strict=True):
        if p.changed:
            p.example["id"] = f"{ex['id']}~{name}"
    todo = [p.example for p in perturbed if p.changed]
    fresh = iter(ctx.predictor.predict(todo, CATEGORY))
    outputs = [next(fresh) if p.changed else c for p, c in zip(perturbed, clean, strict=True)]
    pert_stats = _stats(ctx, metric, outputs, [p.example for p in perturbed])
    with np.errstate(all="ignore"):
        score = metric.value(pert_stats)
        clean_score = metric.value(clean_stats)
    retention = score / clean_score if clean_score and np.isfinite(clean_score) else None
    low, high = stats.ratio_ci(metric, pert_stats, clean_stats, resamples=ctx.resamples,
                               seed=ctx.seed)
    flips = np.array([not _same(ctx, c, o, p) for c, o, p in
                      zip(clean, outputs, perturbed, strict=True)], dtype=float)
    flip_rate, flip_low, flip_high = stats.mean_ci(flips, resamples=ctx.resamples,
                                                   seed=ctx.seed)
    return {"score": score, "clean_score": clean_score, "retention": retention,
            "ci_low": low, "ci_high": high, "flip_rate": flip_rate,
            "flip_rate_ci_low": flip_low, "flip_rate_ci_high": flip_high,
            "n": len(examples), "n_changed": int(sum(changed)),
            "metric": metric.name, "scale": metric.scale}


def _same(ctx: ProbeContext, clean: Output, output: Output, perturbed: Perturbed) -> bool:
    """Whether the perturbed output equals the clean one (see module docs)."""
    family = ctx.family
    a, b = coerce(family, clean.prediction), coerce(family, output.prediction)
    if family is Family.NER:
        kept = perturbed.kept if perturbed.kept is not None else list(range(len(a)))
        return [a[i] for i in kept if i < len(a)] == list(b)
    if family is Family.SIMILARITY:
        lo, hi = (float(v) for v in ctx.card.options.get("score_range", (0.0, 5.0)))
        return bool(abs(a - b) <= SIMILARITY_FLIP * (hi - lo))
    if family is Family.SENTIMENT:
        return a == b
    b = unswap(b, perturbed.inverse)
    if family is Family.QA:
        return normalize_answer(a) == normalize_answer(b)
    return " ".join(a.split()) == " ".join(b.split())


PROBE = register(Probe(
    "robustness", "the task's score, retention and flip rate on perturbed inputs",
    {**COMMON_OPTIONS, "perturbations": f"to apply (default: {', '.join(PERTURBATIONS)})"},
    run_robustness))
