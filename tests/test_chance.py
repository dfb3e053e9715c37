"""Chance baselines: each family's trivial system, its score, and the one-sided test."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import sacrebleu
from rouge_score import rouge_scorer
from scipy import stats as sps

from evalsuite.metrics import chance
from evalsuite.metrics import registry as metric_registry
from evalsuite.metrics.base import MetricContext
from evalsuite.metrics.significance import paired_permutation
from evalsuite.models.spec import parse_spec
from evalsuite.results.files import load_results
from evalsuite.runner.run import Job, RunConfig, run
from evalsuite.tasks.cards import card_from_dict
from tests.conftest import write_jsonl


def card(tmp_path, family: str, metrics: list[str], **extra):
    return card_from_dict({"name": f"t/{family}", "family": family,
                           "dataset": {"path": "d.jsonl"}, "metrics": metrics, **extra},
                          source=tmp_path / "card.yaml")


def stats_of(card_, predictions, examples):
    metric = metric_registry.get(card_.primary_metric, card_.family)
    return np.asarray(metric.example_stats(predictions, examples,
                                           MetricContext(labels=card_.labels)))


# -- the trivial systems and their scores -------------------------------------------------------
def test_majority_class_of_the_evaluated_examples_with_ties_in_card_order(tmp_path):
    c = card(tmp_path, "sentiment", ["accuracy"], labels=["negative", "neutral", "positive"])
    examples = [{"id": str(i), "text": "t", "label": lab}
                for i, lab in enumerate(["positive"] * 5 + ["negative"] * 3 + ["neutral"] * 2)]
    name, preds = chance.baseline_predictions(c, examples)
    assert name == "majority class (positive)" and preds == ["positive"] * 10
    ref = chance.reference(c, examples, resamples=100)
    assert ref.value == pytest.approx(0.5)
    assert ref.ci_low is not None and ref.ci_low < 0.5 < ref.ci_high
    tied = examples[:6]  # 5 positive, 1 negative -> still positive; now a real tie:
    tied = [{**e, "label": lab} for e, lab in zip(tied, ["positive", "negative"] * 3,
                                                     strict=True)]
    assert chance.baseline_predictions(c, tied)[0] == "majority class (negative)"


def test_ner_all_o_qa_empty_translation_copy_summarization_lead3(tmp_path):
    ner = card(tmp_path, "ner", ["f1"])
    ner_ex = [{"id": "a", "tokens": ["Ann", "runs"], "tags": ["B-PER", "O"]},
              {"id": "b", "tokens": ["it", "rains"], "tags": ["O", "O"]}]
    assert chance.baseline_predictions(ner, ner_ex)[1] == [["O", "O"], ["O", "O"]]
    assert chance.reference(ner, ner_ex, resamples=50).value == 0.0  # no entity found

    qa = card(tmp_path, "qa", ["exact_match"])
    qa_ex = [{"id": str(i), "question": "q", "context": "c",
              "answers": [] if i < 3 else ["x"]} for i in range(8)]
    assert chance.baseline_predictions(qa, qa_ex)[1] == [""] * 8
    assert chance.reference(qa, qa_ex, resamples=50).value == pytest.approx(100 * 3 / 8)

    mt = card(tmp_path, "translation", ["bleu"], source_lang="en", target_lang="es")
    mt_ex = [{"id": "1", "source": "the red house is big", "references": ["la casa roja"]},
             {"id": "2", "source": "Madrid Barcelona 2024",
              "references": ["Madrid y Barcelona 2024"]}]
    name, preds = chance.baseline_predictions(mt, mt_ex)
    assert name == "copy the source" and preds == [e["source"] for e in mt_ex]
    expected = sacrebleu.corpus_bleu(preds, [[e["references"][0] for e in mt_ex]]).score
    assert chance.reference(mt, mt_ex, resamples=50).value == pytest.approx(expected)

    summ = card(tmp_path, "summarization", ["rouge1"])
    doc = "First point here. Second point. Third one! Fourth is cut. Fifth too."
    summ_ex = [{"id": "1", "document": doc, "references": ["First point. Third one."]}]
    name, preds = chance.baseline_predictions(summ, summ_ex)
    assert name == "lead-3" and preds == ["First point here. Second point. Third one!"]
    scorer = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=True)
    expected = scorer.score("First point. Third one.", preds[0])["rouge1"].fmeasure
    assert chance.reference(summ, summ_ex, resamples=0).value == pytest.approx(expected)


# -- beats chance: the one-sided paired test ----------------------------------------------------
@pytest.fixture
def balanced(tmp_path):
    c = card(tmp_path, "sentiment", ["accuracy", "macro_f1"], labels=["negative", "positive"])
    rng = random.Random(0)
    examples = [{"id": str(i), "text": "t", "label": rng.choice(["negative", "positive"])}
                for i in range(120)]
    return c, examples


def test_a_real_system_beats_chance_a_constant_and_a_coin_do_not(balanced):
    c, examples = balanced
    ref = chance.reference(c, examples, resamples=500)
    gold = [e["label"] for e in examples]
    flip = {"negative": "positive", "positive": "negative"}
    good = [g if i % 5 else flip[g] for i, g in enumerate(gold)]  # 80% right
    constant = [ref.baseline.split("(")[1][:-1]] * len(gold)  # the majority label itself
    coin = [random.Random(1).choice(["negative", "positive"]) for _ in gold]
    verdicts = {name: chance.chance_block(ref, stats_of(c, preds, examples), resamples=500)
                for name, preds in (("good", good), ("constant", constant), ("coin", coin))}
    assert verdicts["good"]["beats_chance"] is True and verdicts["good"]["p_value"] < 0.01
    assert verdicts["constant"]["beats_chance"] is False
    assert verdicts["constant"]["p_value"] == pytest.approx(0.5)  # identical to the baseline
    assert verdicts["coin"]["beats_chance"] is False
    for block in verdicts.values():
        assert block["value"] == ref.value and block["test"] == "permutation"
    # the one-sided p-value is half the two-sided permutation p-value of an improvement
    metric = metric_registry.get("accuracy", "sentiment")
    two_sided = paired_permutation(metric, stats_of(c, good, examples), ref.stats, 500, 0)
    assert verdicts["good"]["p_value"] == pytest.approx(two_sided["p_value"] / 2)
    assert verdicts["good"]["delta"] == pytest.approx(0.8 - ref.value)


def test_reference_is_computed_once_per_task_and_example_set(balanced):
    c, examples = balanced
    first = chance.reference(c, examples, resamples=200, seed=3)
    assert chance.reference(c, list(examples), resamples=200, seed=3) is first
    assert chance.reference(c, examples[:50], resamples=200, seed=3) is not first


def test_correlation_chance_is_zero_and_tested_as_correlation_above_zero(tmp_path):
    c = card(tmp_path, "similarity", ["pearson", "spearman"])
    rng = np.random.default_rng(0)
    gold = rng.uniform(0, 5, 60)
    examples = [{"id": str(i), "sentence1": "a", "sentence2": "b", "score": float(g)}
                for i, g in enumerate(gold)]
    ref = chance.reference(c, examples, resamples=100)
    assert ref.value == 0.0 and ref.ci_low is None and ref.correlation
    assert ref.baseline == "constant score (zero correlation)"
    noisy = gold + rng.normal(0, 1.5, 60)
    block = chance.chance_block(ref, stats_of(c, list(noisy), examples))
    expected = sps.pearsonr(noisy, gold, alternative="greater")
    assert block["test"] == "pearson_greater" and block["beats_chance"] is True
    assert block["p_value"] == pytest.approx(expected.pvalue)
    constant = chance.chance_block(ref, stats_of(c, [2.5] * 60, examples))
    assert constant["beats_chance"] is False and "constant" in constant["note"]
    reversed_ = chance.chance_block(ref, stats_of(c, list(-gold), examples))
    assert reversed_["beats_chance"] is False and reversed_["p_value"] > 0.99
    spear = card(tmp_path, "similarity", ["spearman"])
    ref_s = chance.reference(spear, examples, resamples=100)
    block = chance.chance_block(ref_s, stats_of(spear, list(noisy), examples))
    assert block["test"] == "spearman_greater"
    assert block["p_value"] == pytest.approx(
        sps.spearmanr(noisy, gold, alternative="greater").pvalue)


def test_too_few_examples_is_not_tested(balanced):
    c, examples = balanced
    ref = chance.reference(c, examples[:2], resamples=50)
    block = chance.chance_block(ref, stats_of(c, ["positive"] * 2, examples[:2]))
    assert block["beats_chance"] is None and "not tested" in block["note"]


# -- in the runner ------------------------------------------------------------------------------
def test_records_carry_chance_predictions_carry_its_statistics(tmp_path):
    rows = [{"id": f"e{i}", "text": "good film" if i % 2 else "bad plot",
             "label": "positive" if i % 2 else "negative"} for i in range(30)]
    write_jsonl(tmp_path / "d.jsonl", rows)
    c = card(tmp_path, "sentiment", ["accuracy"], labels=["negative", "positive"])
    preds = tmp_path / "p.jsonl"
    write_jsonl(preds, [{"id": r["id"], "prediction": r["label"]} for r in rows])
    config = RunConfig(jobs=[Job(parse_spec("baseline:vader"), [c]),
                             Job(parse_spec(f"predictions:{preds}"), [c])],
                       output_dir=tmp_path / "results", resamples=200)
    outcome = run(config)
    vader, fixed = outcome.records
    for record in (vader, fixed):
        block = record.chance
        assert block.baseline == "majority class (negative)" and block.value == 0.5
    assert fixed.chance.beats_chance is True  # a perfect file beats the coin-toss 0.5
    assert fixed.efficiency is None  # fixed outputs have no cost
    eff = vader.efficiency
    assert eff.model_memory_mb is not None and 0 <= eff.model_memory_mb <= eff.peak_memory_mb
    assert eff.model_memory_mb == pytest.approx(
        eff.peak_memory_mb - eff.memory_before_load_mb, abs=0.11)
    results = load_results(outcome.run_dir)  # schema-valid with efficiency: null
    rows_out = list(results.predictions(fixed))
    assert len(rows_out) == 30 and all(len(r["chance_stats"]) == len(r["stats"]["accuracy"])
                                       for r in rows_out)
    ref_stats = np.asarray([r["chance_stats"] for r in rows_out])
    metric = metric_registry.get("accuracy", "sentiment")
    assert metric.value(ref_stats) == 0.5  # the chance value recomputes from the rows
    assert json.loads((outcome.run_dir / "results.json").read_text())["records"][1][
        "efficiency"] is None
