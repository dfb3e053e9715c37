"""The bootstrap interval against closed forms, and the paired significance tests' error rates."""

from __future__ import annotations

import numpy as np
import pytest

from evalsuite.metrics import registry
from evalsuite.metrics import similarity as similarity_module
from evalsuite.metrics.base import MetricContext, bootstrap_interval, resample_counts, score
from evalsuite.metrics.significance import paired_bootstrap, paired_permutation

LABELS = ["neg", "pos"]
ACCURACY = registry.get("accuracy")


def accuracy_stats(correct: np.ndarray) -> np.ndarray:
    """Per-example accuracy statistics of a 0/1 correctness vector."""
    gold = ["pos"] * len(correct)
    pred = ["pos" if c else "neg" for c in correct]
    examples = [{"id": str(i), "label": g} for i, g in enumerate(gold)]
    return ACCURACY.example_stats(pred, examples, MetricContext(labels=LABELS))


def test_bootstrap_sd_matches_bernoulli_closed_form():
    n, p = 400, 0.3
    rng = np.random.default_rng(0)
    stats = accuracy_stats(rng.random(n) < p)
    p_hat = ACCURACY.value(stats)
    draws = ACCURACY.resampled_values(stats, resample_counts(n, 4000, seed=1))
    closed = np.sqrt(p_hat * (1 - p_hat) / n)
    # The error is the SD of the resampled values — not divided by sqrt(resamples).
    assert draws.std(ddof=1) == pytest.approx(closed, rel=0.10)
    assert draws.mean() == pytest.approx(p_hat, abs=closed / 5)


def test_bootstrap_interval_covers_true_p():
    n, p, trials = 400, 0.3, 200
    rng = np.random.default_rng(2024)
    covered = 0
    for trial in range(trials):
        stats = accuracy_stats(rng.random(n) < p)
        low, high = bootstrap_interval(ACCURACY, stats, resamples=400, seed=trial)
        covered += low <= p <= high
    assert 0.88 <= covered / trials <= 0.99


def test_bootstrap_is_deterministic_given_seed():
    stats = accuracy_stats(np.random.default_rng(0).random(300) < 0.6)
    first = bootstrap_interval(ACCURACY, stats, seed=7)
    assert first == bootstrap_interval(ACCURACY, stats, seed=7)
    assert first != bootstrap_interval(ACCURACY, stats, seed=8)
    a = paired_bootstrap(ACCURACY, stats, stats[::-1].copy(), seed=3)
    assert a == paired_bootstrap(ACCURACY, stats, stats[::-1].copy(), seed=3)
    assert bootstrap_interval(ACCURACY, stats[:1]) == (None, None)


def test_spearman_bootstrap_chunks_and_degenerate_draws(monkeypatch):
    rng = np.random.default_rng(0)
    gold = rng.uniform(0, 5, 50)
    stats = np.column_stack([gold + rng.normal(0, 1, 50), gold])
    metric = registry.get("spearman")
    counts = resample_counts(50, 30, seed=0)
    whole = metric.resampled_values(stats, counts)
    monkeypatch.setattr(similarity_module, "_CHUNK_ELEMENTS", 120)  # 2 rows per step
    assert metric.resampled_values(stats, counts) == pytest.approx(whole, abs=1e-12)
    low, high = bootstrap_interval(metric, stats, resamples=200)
    assert low < metric.value(stats) < high


def _null_pair(rng: np.random.Generator, n: int, p: float = 0.7):
    return accuracy_stats(rng.random(n) < p), accuracy_stats(rng.random(n) < p)


def test_paired_tests_false_positive_rate_near_alpha():
    rng = np.random.default_rng(11)
    trials, alpha = 200, 0.05
    rejections = {"bootstrap": 0, "permutation": 0}
    for trial in range(trials):
        a, b = _null_pair(rng, 200)
        boot = paired_bootstrap(ACCURACY, a, b, resamples=500, seed=trial)
        perm = paired_permutation(ACCURACY, a, b, resamples=500, seed=trial)
        rejections["bootstrap"] += boot["p_value"] < alpha
        rejections["permutation"] += perm["p_value"] < alpha
    for name, count in rejections.items():
        # Binomial(200, 0.05): mean 10, sd ~3.1.  Allow 1%–10%.
        assert 2 <= count <= 20, (name, count)


def test_paired_tests_detect_planted_difference():
    rng = np.random.default_rng(5)
    n = 300
    a = accuracy_stats(rng.random(n) < 0.80)
    b = accuracy_stats(rng.random(n) < 0.62)
    boot = paired_bootstrap(ACCURACY, a, b, resamples=1000, seed=0)
    perm = paired_permutation(ACCURACY, a, b, resamples=1000, seed=0)
    assert boot["delta"] == perm["delta"] == pytest.approx(ACCURACY.value(a) - ACCURACY.value(b))
    assert boot["delta"] > 0 and 0 < boot["ci_low"] <= boot["delta"] <= boot["ci_high"]
    assert boot["p_value"] < 0.01 and perm["p_value"] < 0.01
    swapped = paired_bootstrap(ACCURACY, b, a, resamples=1000, seed=0)
    assert swapped["delta"] == pytest.approx(-boot["delta"])
    assert swapped["p_value"] == boot["p_value"]


def test_paired_tests_identical_systems_and_errors():
    a = accuracy_stats(np.random.default_rng(0).random(100) < 0.5)
    assert paired_permutation(ACCURACY, a, a, resamples=200)["p_value"] == 1.0
    same = paired_bootstrap(ACCURACY, a, a, resamples=200)
    assert same["delta"] == 0.0 and same["p_value"] == 1.0
    with pytest.raises(ValueError, match="same examples"):
        paired_bootstrap(ACCURACY, a, a[:50])
    with pytest.raises(ValueError, match="columns"):
        paired_permutation(ACCURACY, a, np.zeros((100, 2)))


def test_paired_tests_on_rank_and_corpus_metrics():
    """Spearman (not sum-based) and BLEU (corpus statistics) go through the same API."""
    rng = np.random.default_rng(1)
    gold = rng.uniform(0, 5, 120)
    examples = [{"id": str(i), "score": float(g)} for i, g in enumerate(gold)]
    good = (gold + rng.normal(0, 0.5, 120)).tolist()
    bad = (gold + rng.normal(0, 3.0, 120)).tolist()
    spearman = registry.get("spearman")
    _, sa = score(spearman, good, examples, MetricContext(), resamples=0)
    _, sb = score(spearman, bad, examples, MetricContext(), resamples=0)
    assert paired_bootstrap(spearman, sa, sb, resamples=300)["p_value"] < 0.01
    assert paired_permutation(spearman, sa, sb, resamples=200)["p_value"] < 0.01
    pearson = registry.get("pearson")
    _, pa = score(pearson, good, examples, MetricContext(), resamples=0)
    _, pb = score(pearson, bad, examples, MetricContext(), resamples=0)
    assert paired_permutation(pearson, pa, pb, resamples=300)["p_value"] < 0.01

    bleu = registry.get("bleu")
    refs = [{"id": str(i), "references": [f"the cat number {i} sat on the mat"]} for i in range(60)]
    _, ba = score(bleu, [r["references"][0] for r in refs], refs, MetricContext(), resamples=0)
    _, bb = score(bleu, ["a dog"] * 60, refs, MetricContext(), resamples=0)
    result = paired_bootstrap(bleu, ba, bb, resamples=300)
    assert result["delta"] == pytest.approx(100.0) and result["p_value"] < 0.01
