"""Bias probes: how much the output moves when only the group a text mentions changes.

Two kinds of figures, each ``{max_gap, ci_low, ci_high, p_value, effect_size, groups, n}``
(see :mod:`evalsuite.probes.stats` for what they mean):

* **counterfactual** — ``bias.<axis>``: a seeded sample (option ``n``, default 200) of the
  task's own examples that mention a term of the axis is rewritten into every group of the
  axis (:mod:`~evalsuite.probes.swaps`); NER examples get names of each group swapped into
  their person spans.
* **templates** — ``bias.<card key>_<axis>``: the probe cards under ``tasks/bias/`` for the
  task's family (EEC-style sentiment sentences, NER and QA name templates, WinoBias-style
  occupation sentences for translation, WEAT/SEAT word sets for similarity models).

What ``groups`` holds per family:

=============  ==================================================================================
family         per-group value (+ extra figures)
=============  ==================================================================================
sentiment      mean p(positive) (+ ``flip_rate``: units whose label differs between groups)
ner            person-entity F1 (strict IOB2, PER only)
qa             the task's primary metric against the swapped answers (+ ``change_rate``:
               units whose normalised answer differs between groups or from the original)
similarity     mean predicted score (+ ``mean_shift``: mean over units of the largest score
               change from the original pair; WEAT tests for encoders)
translation,   the primary metric against swapped references (+ ``change_rate``: outputs that
summarization  differ beyond the swapped terms); translation: occupation gender agreement
=============  ==================================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from evalsuite.families import Family
from evalsuite.metrics import registry as metric_registry
from evalsuite.metrics.base import MetricContext
from evalsuite.metrics.ner import ner_stats
from evalsuite.metrics.qa import normalize_answer
from evalsuite.models.base import Output
from evalsuite.probes import lexicon, stats
from evalsuite.probes.context import (
    ProbeContext,
    coerce,
    failed,
    not_applicable,
    positive_label,
    positive_probability,
)
from evalsuite.probes.perturb import rng_for
from evalsuite.probes.registry import COMMON_OPTIONS, Probe, register
from evalsuite.probes.swaps import (
    AXES,
    NAME_AXES,
    example_has_terms,
    get_axis,
    person_spans,
    swap,
    swap_person_spans,
    transform_example,
)
from evalsuite.probes.templates import (
    ProbeCard,
    ProbeSet,
    discover_probe_cards,
    generate,
    languages_with_occupations,
    occupation_gender,
)
from evalsuite.results.records import Scale, Section, range_scale

CATEGORY = Section.BIAS.value  # probe cost category


def default_axes(family: Family) -> tuple[str, ...]:
    """Axes swapped in the task's own inputs for ``family``."""
    if family in (Family.NER, Family.TRANSLATION):
        return NAME_AXES
    return AXES


def run_bias(ctx: ProbeContext) -> dict[str, dict[str, Any]]:
    """Every bias figure for one (model, task)."""
    figures: dict[str, dict[str, Any]] = {}
    reason = ctx.can_predict_new_inputs()
    if reason:
        return {"counterfactual": not_applicable(reason)}
    wanted = ctx.options.get("axes")
    axes = [a for a in AXES if wanted is None or a in wanted]
    for axis in axes:
        try:
            figures[axis] = counterfactual(ctx, axis)
        except Exception as exc:  # one failed figure never fails the task
            figures[axis] = failed(exc)
    for card in probe_cards(ctx):
        try:
            figures.update(template_figures(ctx, card))
        except Exception as exc:
            figures[card.key] = failed(exc)
    return figures


def probe_cards(ctx: ProbeContext) -> list[ProbeCard]:
    """The bias probe cards for the task's family (option ``cards`` selects by name)."""
    chosen = ctx.options.get("cards")
    return [c for c in discover_probe_cards()
            if c.probe == "bias" and ctx.family in c.families
            and (chosen is None or c.name in chosen or c.key in chosen)]


# -- counterfactual swaps in the task's own examples ---------------------------------------------
def counterfactual(ctx: ProbeContext, axis: str) -> dict[str, Any]:
    """``bias.<axis>``: the task's examples rewritten into every group of ``axis``."""
    family = ctx.family
    if axis not in default_axes(family):
        if family is Family.NER:
            why = "NER bias swaps names into the task's person spans"
        else:
            why = ("outside names, group terms are translated, so outputs are expected to "
                   "change; see bias.occupation_gender")
        return not_applicable(f"{axis} swaps do not apply to {family.value} ({why})")
    ax = get_axis(axis)
    if family is Family.NER:
        units = [ex for ex in ctx.examples if person_spans(ex["tags"])]
    else:
        units = [ex for ex in ctx.examples if example_has_terms(ex, family, ax)]
    if not units:
        what = "person entity" if family is Family.NER else f"{axis} term"
        return not_applicable(f"no {what} in the task's {len(ctx.examples)} inputs")
    units = ctx.sample(units, f"bias|{axis}")
    groups: dict[str, list[dict[str, Any]]] = {}
    for g in ax.groups:
        groups[g] = [_variant(ctx, ex, axis, g, u) for u, ex in enumerate(units)]
    probe_set = ProbeSet(axis, groups)
    figure = measure(ctx, probe_set, originals=units)
    figure["source"] = "task examples"
    return figure


def _variant(ctx: ProbeContext, example: dict[str, Any], axis: str, group: str,
             unit: int) -> dict[str, Any]:
    family = ctx.family
    if family is Family.NER:
        rng = rng_for(ctx.seed, example["id"], axis)
        names = _span_names(axis, group, len(person_spans(example["tags"])), rng.random())
        new = swap_person_spans(example, names).example
    else:
        ax = get_axis(axis)
        new = transform_example(example, family, lambda text: swap(text, ax, group)).example
    if ctx.predictor.digest(new) != ctx.predictor.digest(example):
        new["id"] = f"{example['id']}~{axis}:{group}"
    return new


def _span_names(axis: str, group: str, count: int, draw: float) -> list[tuple[str, str]]:
    """Names for ``count`` person spans, in ``group``; other factors fixed by ``draw``."""
    origins = lexicon.name_groups()
    keys = list(origins)
    rng = np.random.default_rng(int(draw * 2**32))
    out = []
    for k in range(count):
        i = int(rng.integers(0, 8))
        if axis == "names_gender":
            origin = keys[int(rng.integers(0, len(keys)))]
            gender = group
        else:
            origin = group
            gender = ("female", "male")[int(rng.integers(0, 2))]
        names = origins[origin][gender]
        surnames = origins[origin]["surnames"]
        out.append((names[(i + k) % len(names)], surnames[(i + 2 * k) % len(surnames)]))
    return out


# -- measuring a grouped probe set ---------------------------------------------------------------
def measure(ctx: ProbeContext, probe_set: ProbeSet,
            originals: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Predict every group of ``probe_set`` and compute the family's bias figure."""
    family = ctx.family
    outputs = {g: ctx.predictor.predict(exs, CATEGORY) for g, exs in probe_set.groups.items()}
    original_outputs = None
    if originals is not None:
        original_outputs = ctx.predictor.predict(originals, CATEGORY)
    if family is Family.SENTIMENT:
        return _sentiment(ctx, probe_set, outputs)
    if family is Family.NER:
        return _ner(ctx, probe_set, outputs)
    if family is Family.SIMILARITY:
        return _similarity(ctx, probe_set, outputs, original_outputs)
    return _text(ctx, probe_set, outputs, original_outputs)


def _gap(ctx: ProbeContext, by_group: dict[str, np.ndarray], metric: Any = stats.MEAN,
         scale: str | None = None) -> dict[str, Any]:
    """The gap figure; ``scale`` is the range its values live on (``Scale.UNIT`` unless the
    measure is a metric quoted otherwise), so readers can put gaps of tasks side by side."""
    figure = stats.group_gap(by_group, metric, resamples=ctx.resamples,
                             permutations=ctx.permutations, seed=ctx.seed)
    figure["scale"] = scale or getattr(metric, "scale", None) or Scale.UNIT
    return figure


def _sentiment(ctx: ProbeContext, probe_set: ProbeSet,
               outputs: dict[str, list[Output]]) -> dict[str, Any]:
    positive = positive_label(ctx.card)
    values = {g: [positive_probability(o, positive) for o in outs]
              for g, outs in outputs.items()}
    figure = _gap(ctx, {g: stats.mean_stats(v) for g, v in values.items()})
    has_scores = all(o.scores and positive in o.scores for outs in outputs.values()
                     for o in outs)
    figure["measure"] = (f"mean p({positive})" if has_scores
                         else f"share predicted {positive} (the model gives no probabilities)")
    labels = np.array([[str(o.prediction) for o in outs] for outs in outputs.values()])
    flips = np.array([len(set(labels[:, u])) > 1 for u in range(labels.shape[1])], float)
    _add_rate(ctx, figure, "flip_rate", flips)
    references = [ex.get("label") for ex in next(iter(probe_set.groups.values()))]
    if all(r is not None for r in references):
        figure["accuracy"] = {g: float(np.mean([str(o.prediction) == str(ex["label"])
                                                for o, ex in zip(outs, probe_set.groups[g],
                                                                 strict=True)]))
                              for g, outs in outputs.items()}
    return figure


def _person_stats(predictions: list[list[str]], examples: list[dict]) -> np.ndarray:
    keep = [{**ex, "tags": _only(ex["tags"])} for ex in examples]
    found, _, _ = ner_stats([_only(p) for p in predictions], keep, None)
    return found[:, :3]


def _only(tags: list[str], kind: str = "PER") -> list[str]:
    return [t if t[2:] == kind else "O" for t in tags]


def _ner(ctx: ProbeContext, probe_set: ProbeSet,
         outputs: dict[str, list[Output]]) -> dict[str, Any]:
    f1 = metric_registry.get("f1", "ner")
    by_group = {g: _person_stats([coerce(Family.NER, o.prediction) for o in outs],
                                 probe_set.groups[g]) for g, outs in outputs.items()}
    figure = _gap(ctx, by_group, f1)
    figure["measure"] = "person-entity F1 (strict IOB2)"
    return figure


def _similarity(ctx: ProbeContext, probe_set: ProbeSet, outputs: dict[str, list[Output]],
                original_outputs: list[Output] | None) -> dict[str, Any]:
    scores = {g: np.array([coerce(Family.SIMILARITY, o.prediction) for o in outs])
              for g, outs in outputs.items()}
    lo, hi = _score_range(ctx)
    figure = _gap(ctx, {g: stats.mean_stats(v) for g, v in scores.items()},
                  scale=range_scale(lo, hi))
    figure["measure"] = "mean predicted similarity"
    matrix = np.stack(list(scores.values()))  # (G, n)
    if original_outputs is not None:
        base = np.array([coerce(Family.SIMILARITY, o.prediction) for o in original_outputs])
        shift = np.nanmax(np.abs(matrix - base[None, :]), axis=0)
    else:
        shift = np.nanmax(matrix, axis=0) - np.nanmin(matrix, axis=0)
    _add_rate(ctx, figure, "mean_shift", shift)
    figure["mean_shift_share_of_range"] = float(np.nanmean(shift) / (hi - lo))
    return figure


def _score_range(ctx: ProbeContext) -> tuple[float, float]:
    raw = ctx.card.options.get("score_range", (0.0, 5.0))
    lo, hi = (float(v) for v in raw)
    return lo, hi


def _text(ctx: ProbeContext, probe_set: ProbeSet, outputs: dict[str, list[Output]],
          original_outputs: list[Output] | None) -> dict[str, Any]:
    """QA, translation and summarization: quality per group and the change rate."""
    family = ctx.family
    metric = metric_registry.get(ctx.card.primary_metric, family)
    by_group = {}
    for g, outs in outputs.items():
        predictions = [coerce(family, o.prediction) for o in outs]
        by_group[g] = np.asarray(metric.example_stats(
            predictions, probe_set.groups[g], MetricContext.for_card(ctx.card)), float)
    figure = _gap(ctx, by_group, metric)
    figure["measure"] = f"{metric.name} ({metric.scale})"
    ax = get_axis(probe_set.axis)

    def norm(text: str) -> str:
        return normalize_answer(text) if family is Family.QA else " ".join(text.split())

    # A change is an output that differs from the reference output with the same swap
    # applied: the original example's output, else the first group's.
    if original_outputs is not None:
        reference = [str(coerce(family, o.prediction)) for o in original_outputs]
    else:
        reference = [str(coerce(family, o.prediction)) for o in next(iter(outputs.values()))]
    changes = np.zeros(len(reference))
    for g, outs in outputs.items():
        for u, out in enumerate(outs):
            expected = swap(reference[u], ax, g).text
            if probe_set.pronouns_agree and probe_set.axis == "names_gender":
                expected = swap(expected, get_axis("pronouns"), g).text
            expected = norm(expected)
            if norm(str(coerce(family, out.prediction))) != expected:
                changes[u] = 1.0
    _add_rate(ctx, figure, "change_rate", changes)
    return figure


def _add_rate(ctx: ProbeContext, figure: dict[str, Any], name: str,
              values: np.ndarray) -> None:
    mean, low, high = stats.mean_ci(values, resamples=ctx.resamples, seed=ctx.seed)
    figure[name] = mean
    figure[f"{name}_ci_low"] = low
    figure[f"{name}_ci_high"] = high


# -- template probe cards ------------------------------------------------------------------------
def template_figures(ctx: ProbeContext, card: ProbeCard) -> dict[str, dict[str, Any]]:
    """The figures of one bias probe card, keyed ``<card key>_<axis or test>``."""
    if card.generator == "association":
        return {f"{card.key}_{test.name}": _guard(lambda t=test: association(ctx, card, t))
                for test in card.tests}
    if card.generator == "translation_gender":
        return occupation_figures(ctx, card)
    out: dict[str, dict[str, Any]] = {}
    for probe_set in generate(card, ctx.family, seed=ctx.seed):
        key = f"{card.key}_{probe_set.axis}"
        out[key] = _guard(lambda s=probe_set: _template_measure(ctx, card, s))
    return out


def _template_measure(ctx: ProbeContext, card: ProbeCard, probe_set: ProbeSet
                      ) -> dict[str, Any]:
    figure = measure(ctx, probe_set)
    figure["source"] = f"probe card {card.name}"
    figure["sentences"] = probe_set.size
    return figure


def _guard(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return fn()
    except Exception as exc:
        return failed(exc)


def occupation_figures(ctx: ProbeContext, card: ProbeCard) -> dict[str, dict[str, Any]]:
    """``<key>_gender`` and ``<key>_stereotype``: occupation gender agreement in translation."""
    lang = (ctx.card.target_lang or "").split("-")[0].lower()
    keys = (f"{card.key}_gender", f"{card.key}_stereotype")
    if lang not in languages_with_occupations():
        reason = (f"the occupation lexicon covers {', '.join(sorted(languages_with_occupations()))}"
                  f", not the target language {ctx.card.target_lang!r}")
        return {k: not_applicable(reason) for k in keys}
    (probe_set,) = generate(card, ctx.family, seed=ctx.seed, target_lang=lang)
    for exs in probe_set.groups.values():
        for ex in exs:
            ex["source_lang"], ex["target_lang"] = ctx.card.source_lang, ctx.card.target_lang
    outputs = {g: ctx.predictor.predict(exs, CATEGORY) for g, exs in probe_set.groups.items()}
    agree: dict[str, np.ndarray] = {}
    for g, outs in outputs.items():
        found = [occupation_gender(str(o.prediction), meta["occupation"], lang)
                 for o, meta in zip(outs, probe_set.units, strict=True)]
        agree[g] = np.array([np.nan if f is None else float(f == g) for f in found])
    coverage = float(np.mean([np.isfinite(v).mean() for v in agree.values()]))
    if coverage == 0:
        reason = (f"no occupation noun in {lang} was recognised in any output, so gender "
                  f"agreement cannot be read")
        return {k: not_applicable(reason) for k in keys}
    gender = _gap(ctx, {g: stats.mean_stats(v) for g, v in agree.items()})
    dominant = [m["dominated_by"] for m in probe_set.units]
    pro = np.array([agree[d][u] for u, d in enumerate(dominant)])
    anti = np.array([agree["female" if d == "male" else "male"][u]
                     for u, d in enumerate(dominant)])
    stereo = _gap(ctx, {"pro_stereotype": stats.mean_stats(pro),
                        "anti_stereotype": stats.mean_stats(anti)})
    for figure in (gender, stereo):
        figure.update(measure="share of recognised occupation nouns whose gender agrees with "
                              "the pronoun", coverage=coverage, language=lang,
                      source=f"probe card {card.name}", sentences=probe_set.size)
    return dict(zip(keys, (gender, stereo), strict=True))


def association(ctx: ProbeContext, card: ProbeCard, test: Any) -> dict[str, Any]:
    """A WEAT/SEAT test; embeddings from ``adapter.embed`` if the model can embed, else pair
    scores predicted through the runner and rescaled to [-1, 1]."""
    (x_name, xs), (y_name, ys) = test.targets.items()
    (a_name, a_words), (b_name, b_words) = test.attributes.items()
    targets = [test.template.format(w=w) for w in [*xs, *ys]]
    attributes = [test.template.format(w=w) for w in [*a_words, *b_words]]
    if ctx.predictor.adapter.can_embed and not ctx.options.get("weat_pairs"):
        vectors = np.asarray(ctx.predictor.embed([*targets, *attributes], CATEGORY),
                             dtype=np.float64)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        sims = vectors[:len(targets)] @ vectors[len(targets):].T
        method = "cosine of embeddings (adapter.embed)"
    else:
        pairs = [{"id": f"{card.key}:{test.name}:{i}:{j}", "sentence1": t, "sentence2": a,
                  "score": 0.0}
                 for i, t in enumerate(targets) for j, a in enumerate(attributes)]
        outs = ctx.predictor.predict(pairs, CATEGORY)
        lo, hi = _score_range(ctx)
        raw = np.array([coerce(Family.SIMILARITY, o.prediction) for o in outs])
        sims = (2.0 * (raw - lo) / (hi - lo) - 1.0).reshape(len(targets), len(attributes))
        method = "model's pair scores rescaled to [-1, 1] (cosine for bi-encoders)"
    assoc = sims[:, :len(a_words)].mean(axis=1) - sims[:, len(a_words):].mean(axis=1)
    sx, sy = assoc[:len(xs)], assoc[len(xs):]
    figure = stats.weat(sx, sy, resamples=ctx.resamples, seed=ctx.seed)
    figure.update(groups={x_name: float(sx.mean()), y_name: float(sy.mean())},
                  measure=f"mean association s(w) = cos(w, {a_name}) - cos(w, {b_name})",
                  method=method, targets=[x_name, y_name], attributes=[a_name, b_name],
                  template=test.template, source=f"probe card {card.name}")
    return figure


PROBE = register(Probe(
    "bias", "how much the output moves when only the group a text mentions changes "
    "(counterfactual swaps, template cards, WEAT/SEAT)",
    {**COMMON_OPTIONS, "axes": "axes swapped in the task's inputs (default: all of the family)",
     "cards": "probe cards to run, by key (default: every card of the family)",
     "weat_pairs": "WEAT from the model's pair scores even when it embeds"}, run_bias))
