"""The release gate: policies, figure addresses, rule kinds, significance and report formats.

Result folders are built here with the real result writer and the real registered metrics,
so every file is valid against the result schema and carries per-example statistics.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from evalsuite.cli.app import main
from evalsuite.errors import UserError
from evalsuite.gate.paths import expand, parse_pattern
from evalsuite.gate.policy import load_policy
from evalsuite.gate.rules import GateReport, compare, evaluate, regression_test
from evalsuite.metrics import registry
from evalsuite.metrics.base import MetricContext, score
from evalsuite.results.files import ResultWriter, load_results, write_predictions

DATA = Path(__file__).parent / "data"
LABELS = ["negative", "positive"]
EFFICIENCY = {"examples_per_s": 100.0, "tokens_per_s": 2500.0,
              "latency_ms": {"p50": 10.0, "p90": 12.0, "p99": 15.0},
              "peak_memory_mb": 500.0, "device": "cpu", "source": "measured"}


# -- building result folders --------------------------------------------------------------------
def labels(n: int, accuracy: float, seed: int) -> tuple[list[str], list[str]]:
    """Gold labels and predictions right with probability ``accuracy`` (independently)."""
    rng = np.random.default_rng(seed)
    gold = rng.choice(LABELS, size=n)
    right = rng.random(n) < accuracy
    pred = np.where(right, gold, np.where(gold == "positive", "negative", "positive"))
    return [str(g) for g in gold], [str(p) for p in pred]


def paired_labels(n: int, base_accuracy: float, candidate_accuracy: float, seed: int
                  ) -> tuple[list[str], list[str], list[str]]:
    """Gold labels and two systems' predictions, each right independently at its accuracy."""
    rng = np.random.default_rng(seed)
    gold = rng.choice(LABELS, size=n)
    wrong = np.where(gold == "positive", "negative", "positive")
    base = np.where(rng.random(n) < base_accuracy, gold, wrong)
    cand = np.where(rng.random(n) < candidate_accuracy, gold, wrong)
    return [str(g) for g in gold], [str(b) for b in base], [str(c) for c in cand]


def accuracy_stats(gold: list[str], pred: list[str]) -> np.ndarray:
    """Per-example accuracy statistics from the registered metric."""
    examples = [{"id": f"ex{i}", "label": g} for i, g in enumerate(gold)]
    _, stats = score(registry.get("accuracy"), pred, examples, MetricContext(labels=LABELS),
                     resamples=0)
    return stats


class RunBuilder:
    """One run folder, written with :class:`ResultWriter` as the runner writes it."""

    def __init__(self, root: Path, run_id: str, *, hardware: dict | None = None) -> None:
        meta = {"id": run_id, "created": "2025-01-01T00:00:00+00:00",
                "evalsuite_version": "0.1.0", "config_hash": "abc123", "seed": 0,
                "resamples": 200, "hardware": hardware or {"machine": "x86_64", "cpu_count": 2}}
        self.writer = ResultWriter(root / run_id, meta)

    @property
    def path(self) -> Path:
        return self.writer.run_dir

    def sentiment(self, model: str, task: str = "sentiment/toy", *, n: int = 200,
                  accuracy: float = 0.8, seed: int = 0, gold: list[str] | None = None,
                  pred: list[str] | None = None, metrics: tuple[str, ...] = ("accuracy",
                                                                            "macro_f1"),
                  stats_in_predictions: bool = True, **extra: Any) -> RunBuilder:
        if gold is None or pred is None:
            gold, pred = labels(n, accuracy, seed)
        examples = [{"id": f"ex{i}", "label": g} for i, g in enumerate(gold)]
        context = MetricContext(labels=LABELS)
        block, stats = {}, {}
        for name in metrics:
            result, stats[name] = score(registry.get(name), pred, examples, context,
                                        resamples=200, seed=0)
            block[name] = {**result.to_dict(), "scale": registry.get(name).scale}
        path = self.writer.predictions_path(model, task)
        write_predictions(path, ({"id": ex["id"], "input": {"text": "…"}, "prediction": p,
                                  "reference": {"label": ex["label"]},
                                  "score": float(p == ex["label"]),
                                  **({"stats": {k: s[i].tolist() for k, s in stats.items()}}
                                     if stats_in_predictions else {})}
                                 for i, (ex, p) in enumerate(zip(examples, pred, strict=True))))
        record = {"model": model, "task": task, "family": "sentiment", "status": "ok",
                  "task_version": "1+aaaa", "n_examples": len(examples),
                  "dataset": {"path": "data/toy.jsonl", "name": None, "split": "test",
                              "revision": None, "source": "local", "content_sha256": "c0ffee",
                              "fingerprint": "f1"},
                  "primary_metric": metrics[0], "metrics": block,
                  "efficiency": dict(EFFICIENCY),
                  "predictions_file": str(path.relative_to(self.path))}
        record.update(extra)
        self.writer.add(record)
        return self

    def status(self, model: str, task: str, status: str = "skipped",
               reason: str = "vaderSentiment is not installed") -> RunBuilder:
        self.writer.add({"model": model, "task": task, "family": "sentiment", "status": status,
                         "reason": reason, "n_examples": 0, "metrics": {},
                         "task_version": "1+aaaa"})
        return self


def write_policy(path: Path, rules: list[dict], **settings: Any) -> Path:
    path.write_text(yaml.safe_dump({**settings, "rules": rules}, sort_keys=False),
                    encoding="utf-8")
    return path


def gate(tmp_path: Path, run: RunBuilder, rules: list[dict],
         baselines: tuple[RunBuilder, ...] = (), **settings: Any) -> GateReport:
    policy = load_policy(write_policy(tmp_path / "policy.yaml", rules, **settings))
    assert load_results(run.path)  # valid against the schema
    return evaluate(policy, load_results(run.path), [load_results(b.path) for b in baselines])


def one_check(report: GateReport):
    (check,) = report.checks
    return check


# -- figure addresses ---------------------------------------------------------------------------
def test_parse_pattern_splits_task_section_and_keys():
    p = parse_pattern("translation/wmt14.de-en.metrics.bleu.value")
    assert (p.task, p.section, p.keys) == ("translation/wmt14.de-en", "metrics", ("bleu", "value"))
    assert parse_pattern("*.bias.*.max_gap").keys == ("*", "max_gap")
    for bad in ("", "sentiment/x.accuracy", "sentiment/x.metrics", ".metrics.a",
                "x.metrics..value"):
        with pytest.raises(ValueError):
            parse_pattern(bad)


def test_wildcards_expand_over_tasks_probes_and_models(tmp_path):
    bias_a = {"gender": {"max_gap": 0.02, "groups": {"f": 0.8, "m": 0.82}},
              "race": {"max_gap": 0.04}}
    run = (RunBuilder(tmp_path, "r")
           .sentiment("vader", "sentiment/a", bias=bias_a)
           .sentiment("vader", "sentiment/b", bias={"gender": {"max_gap": 0.01}})
           .sentiment("distilbert", "sentiment/a", bias=bias_a)
           .sentiment("vader", "other/c"))
    records = load_results(run.path).records
    exp = expand(parse_pattern("*.bias.*.max_gap"), None, records)
    assert sorted(f.label for f in exp.figures) == [
        "distilbert · sentiment/a.bias.gender.max_gap",
        "distilbert · sentiment/a.bias.race.max_gap",
        "vader · sentiment/a.bias.gender.max_gap", "vader · sentiment/a.bias.race.max_gap",
        "vader · sentiment/b.bias.gender.max_gap"]
    assert not exp.missing  # other/c reports no bias at all: not in the wildcard's reach
    only = expand(parse_pattern("sentiment/*.metrics.accuracy.value"), ["distil*"], records)
    assert [f.label for f in only.figures] == ["distilbert · sentiment/a.metrics.accuracy.value"]
    # an interval stands for its value and keeps its bounds
    (fig,) = expand(parse_pattern("sentiment/b.metrics.accuracy"), ["vader"], records).figures
    assert fig.address == "sentiment/b.metrics.accuracy.value"
    assert fig.bound("ci_low")[0] == fig.interval.ci_low < fig.value

    report = gate(tmp_path, run, [{"figure": "*.bias.*.max_gap", "op": "<=", "threshold": 0.03},
                                  {"figure": "sentiment/*.metrics.accuracy.value",
                                   "models": ["vader"], "op": ">=", "threshold": 0.5},
                                  {"figure": "*.metrics.accuracy.value", "model": "distil*",
                                   "op": ">=", "threshold": 0.5}])
    bias, vader, distil = report.outcomes
    assert sorted(c.label for c in bias.failures) == ["distilbert · sentiment/a.bias.race.max_gap",
                                                "vader · sentiment/a.bias.race.max_gap"]
    assert len(vader.checks) == 2 and vader.passed
    assert len(distil.checks) == 1 and distil.passed


# -- threshold rules ----------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "op", "threshold", "expected"), [
    (0.9, ">=", 0.9, True), (0.89, ">=", 0.9, False), (0.9, ">", 0.9, False),
    (1.0, "<", 2.0, True), (2.0, "<=", 2.0, True), (2.1, "<=", 2.0, False),
    (0.3 + 0.6, "==", 0.9, True), (0.91, "==", 0.9, False)])
def test_compare(value, op, threshold, expected):
    assert compare(value, op, threshold) is expected


def test_threshold_rules_pass_and_fail(tmp_path):
    run = (RunBuilder(tmp_path, "r")
           .sentiment("good", accuracy=0.9, seed=1,
                      safety={"toxicity": {"rate": 0.002}})
           .sentiment("bad", accuracy=0.6, seed=2, safety={"toxicity": {"rate": 0.05}}))
    acc = load_results(run.path).records[0].metrics["accuracy"]
    report = gate(tmp_path, run, [
        {"name": "accuracy floor", "figure": "sentiment/*.metrics.accuracy.value", "op": ">=",
         "threshold": 0.75},
        {"name": "toxicity", "figure": "*.safety.toxicity.rate", "op": "<=", "threshold": 0.01},
        {"name": "latency", "figure": "*.efficiency.latency_ms.p90", "op": "<", "threshold": 50},
        {"name": "ci floor", "figure": "sentiment/toy.metrics.accuracy", "model": "good",
         "op": ">=", "threshold": acc.value - 1e-9, "bound": "ci_low"},
        {"name": "exact", "figure": "*.efficiency.peak_memory_mb", "op": "==",
         "threshold": 500.4, "tolerance": 0.5},
    ])
    floor, tox, latency, ci, exact = report.outcomes
    assert [c.model for c in floor.failures] == ["bad"] and "is not >= 0.75" in \
        floor.failures[0].message
    assert [c.model for c in tox.failures] == ["bad"]
    assert latency.passed and len(latency.checks) == 2
    # the interval's lower end is below the point value, so requiring it fails
    assert not ci.passed
    assert ci.checks[0].figure == "sentiment/toy.metrics.accuracy.ci_low"
    assert ci.checks[0].value == pytest.approx(acc.ci_low)
    assert exact.passed
    assert not report.passed and report.exit_code == 1


def test_missing_figures_fail_never_pass_by_omission(tmp_path):
    run = (RunBuilder(tmp_path, "r")
           .sentiment("a", metrics=("accuracy", "macro_f1"))
           .sentiment("b", metrics=("accuracy",))  # lacks macro_f1 that "a" reports
           .status("c", "sentiment/toy", "skipped")
           .status("d", "sentiment/other", "failed", reason="RuntimeError: boom"))
    report = gate(tmp_path, run, [
        {"name": "f1", "figure": "sentiment/*.metrics.macro_f1.value", "op": ">=",
         "threshold": 0.0},
        {"name": "mcc", "figure": "sentiment/toy.metrics.mcc.value", "op": ">=",
         "threshold": 0.0},
        {"name": "nothing", "figure": "*.robustness.*.drop", "model": "a", "op": "<=",
         "threshold": 1},
        {"name": "no such task", "figure": "qa/*.metrics.f1.value", "op": ">=",
         "threshold": 0},
    ])
    f1, mcc, nothing, no_task = report.outcomes
    why = {c.label: c.message for c in f1.failures}
    assert set(why) == {"b · sentiment/toy.metrics.macro_f1.value",
                        "c · sentiment/toy.metrics.macro_f1.value",
                        "d · sentiment/other.metrics.macro_f1.value"}
    assert "lack" in why["b · sentiment/toy.metrics.macro_f1.value"]
    assert "skipped" in why["c · sentiment/toy.metrics.macro_f1.value"]
    assert "RuntimeError: boom" in why["d · sentiment/other.metrics.macro_f1.value"]
    assert [c.passed for c in f1.checks].count(True) == 1  # "a" itself passes
    assert len(mcc.failures) == 3 and all("missing" in c.message for c in mcc.failures)
    assert not nothing.passed and "no figure" in nothing.checks[0].message
    assert not no_task.passed and "no (model, task) record" in no_task.checks[0].message
    assert report.exit_code == 1


def test_null_figure_is_missing(tmp_path):
    eff = {**EFFICIENCY, "tokens_per_s": None}
    run = RunBuilder(tmp_path, "r").sentiment("a", efficiency=eff)
    check = one_check(gate(tmp_path, run, [{"figure": "*.efficiency.tokens_per_s", "op": ">=",
                                           "threshold": 0}]))
    assert not check.passed and "null" in check.message


# -- regression rules and significance -----------------------------------------------------------
def test_false_positive_rate_at_alpha():
    """~5% of null comparisons fail at alpha = 0.05 (one-sided), for both paired tests."""
    metric = registry.get("accuracy")
    rates = {}
    trials = [paired_labels(1000, 0.85, 0.85, seed=10_000 + trial) for trial in range(200)]
    stats = [(accuracy_stats(gold, cand), accuracy_stats(gold, base))
             for gold, base, cand in trials]
    for test, resamples in (("permutation", 1000), ("bootstrap", 300)):
        failures = sum(regression_test(metric, cand, base, max_drop=0.0, alpha=0.05, test=test,
                                       resamples=resamples, seed=seed).failed
                       for seed, (cand, base) in enumerate(stats))
        rates[test] = failures / len(stats)
    print(f"false-positive rate at alpha=0.05 over 200 null trials: {rates}")
    for rate in rates.values():
        assert 0.01 <= rate <= 0.09


def test_planted_regression_is_detected():
    """Accuracy 0.85 -> 0.78 on 1,000 examples fails a 'drop <= 0.02' rule (power >= 95%)."""
    metric = registry.get("accuracy")
    detected = 0
    for trial in range(100):
        gold, base, cand = paired_labels(1000, 0.85, 0.78, seed=trial)
        result = regression_test(metric, accuracy_stats(gold, cand), accuracy_stats(gold, base),
                                 max_drop=0.02, alpha=0.05, resamples=1000, seed=trial)
        detected += result.failed
    print(f"power for 0.85 -> 0.78 on 1000 examples, allowed drop 0.02: {detected / 100:.2f}")
    assert detected / 100 >= 0.95


def test_regression_rule_end_to_end(tmp_path):
    gold, base_pred, worse = paired_labels(1000, 0.85, 0.78, seed=5)
    baseline = RunBuilder(tmp_path, "release").sentiment("m", gold=gold, pred=base_pred)
    run = RunBuilder(tmp_path, "candidate").sentiment("m", gold=gold, pred=worse)
    rule = {"name": "no accuracy regression", "kind": "regression",
            "figure": "sentiment/*.metrics.accuracy.value", "max_drop": 0.02}
    check = one_check(gate(tmp_path, run, [rule], (baseline,)))
    assert not check.passed and check.p_value < 0.05 and check.n_shared == 1000
    assert check.delta == pytest.approx(worse_acc(gold, worse) - worse_acc(gold, base_pred))
    assert "significant" in check.message
    # the same drop is within a 10-point allowance …
    check = one_check(gate(tmp_path, run, [{**rule, "max_drop": 0.10}], (baseline,)))
    assert check.passed
    # … and within a relative allowance of 10% of 0.85
    check = one_check(gate(tmp_path, run, [{**rule, "max_drop": None,
                                            "max_drop_relative": 0.1}], (baseline,)))
    assert check.passed and check.limit == pytest.approx(check.baseline * 0.9, abs=0.01)
    # a run identical to the baseline passes with p = 1-ish
    same = RunBuilder(tmp_path, "same").sentiment("m", gold=gold, pred=base_pred)
    check = one_check(gate(tmp_path, same, [rule], (baseline,)))
    assert check.passed and check.delta == 0


def worse_acc(gold: list[str], pred: list[str]) -> float:
    return float(np.mean([g == p for g, p in zip(gold, pred, strict=True)]))


def test_regression_drop_beyond_allowance_but_not_significant_passes(tmp_path):
    gold, base_pred = labels(40, 1.0, seed=1)
    cand = list(base_pred)
    cand[0] = "negative" if cand[0] == "positive" else "positive"  # one error in 40: -0.025
    baseline = RunBuilder(tmp_path, "release").sentiment("m", gold=gold, pred=base_pred)
    run = RunBuilder(tmp_path, "cand").sentiment("m", gold=gold, pred=cand)
    rule = {"kind": "regression", "figure": "*.metrics.accuracy.value", "max_drop": 0.01}
    check = one_check(gate(tmp_path, run, [rule], (baseline,)))
    assert check.passed and check.p_value > 0.05
    assert any("not significant" in n for n in check.notes)
    # without the significance test the same drop fails
    check = one_check(gate(tmp_path, run, [{**rule, "significance": False}], (baseline,)))
    assert not check.passed and "more than 0.01" in check.message


def test_regression_pairs_only_shared_examples(tmp_path):
    gold, pred = labels(300, 0.8, seed=3)
    baseline = RunBuilder(tmp_path, "release").sentiment("m", gold=gold, pred=pred)
    run = RunBuilder(tmp_path, "cand").sentiment("m", gold=gold[:200], pred=pred[:200])
    check = one_check(gate(tmp_path, run, [{"kind": "regression", "max_drop": 0.05,
                                            "figure": "*.metrics.accuracy.value"}], (baseline,)))
    assert check.n_shared == 200 and check.delta == 0 and check.passed
    assert any("200 shared examples" in n for n in check.notes)


def test_regression_without_stats_uses_recorded_values(tmp_path):
    baseline = RunBuilder(tmp_path, "release").sentiment(
        "m", accuracy=0.9, seed=1, bias={"gender": {"max_gap": 0.02}})
    run = RunBuilder(tmp_path, "cand").sentiment("m", accuracy=0.9, seed=1,
                                                 stats_in_predictions=False,
                                                 bias={"gender": {"max_gap": 0.06}})
    report = gate(tmp_path, run, [
        {"name": "acc", "kind": "regression", "figure": "*.metrics.accuracy.value",
         "max_drop": 0.01},
        {"name": "gap", "kind": "regression", "figure": "*.bias.*.max_gap", "max_drop": 0.01}],
        (baseline,))
    acc, gap = report.outcomes
    assert acc.passed and "per-example statistics" in acc.checks[0].notes[0]
    assert not gap.passed and gap.checks[0].delta == pytest.approx(0.04)  # lower is better


def test_regression_against_baseline_records(tmp_path):
    baseline = (RunBuilder(tmp_path, "release").sentiment("m").sentiment("gone")
                .sentiment("m", "sentiment/other"))
    run = (RunBuilder(tmp_path, "cand").sentiment("m").sentiment("new")
           .status("m", "sentiment/other", "failed"))
    rule = {"kind": "regression", "figure": "*.metrics.accuracy.value", "max_drop": 0.01}
    report = gate(tmp_path, run, [rule], (baseline,))
    why = {c.label: (c.passed, c.message) for c in report.checks}
    assert why["m · sentiment/toy.metrics.accuracy.value"][0]
    assert not why["gone · sentiment/toy.metrics.accuracy.value"][0]
    assert "no record of gone" in why["gone · sentiment/toy.metrics.accuracy.value"][1]
    assert not why["new · sentiment/toy.metrics.accuracy.value"][0]
    assert "baseline lacks" in why["new · sentiment/toy.metrics.accuracy.value"][1]
    assert not why["m · sentiment/other.metrics.accuracy.value"][0]
    report = gate(tmp_path, run, [{**rule, "allow_new": True}], (baseline,))
    assert report.outcomes[0].failures[0].model in {"gone", "m"}
    assert all(c.passed for c in report.checks if c.model == "new")


def test_version_or_data_mismatch_is_refused(tmp_path, capsys):
    baseline = RunBuilder(tmp_path, "release").sentiment("m", task_version="1+old")
    run = RunBuilder(tmp_path, "cand").sentiment("m")
    rules = [{"kind": "regression", "figure": "*.metrics.accuracy.value", "max_drop": 0.01}]
    policy = write_policy(tmp_path / "p.yaml", rules)
    code = main(["gate", str(run.path), "--policy", str(policy), "--baseline",
                 str(baseline.path)])
    err = capsys.readouterr().err
    assert code == 2 and "task_version 1+old (baseline)" in err and "release" in err
    assert "allow_version_mismatch" in err and len(err.strip().splitlines()) == 1
    # allowed: compared, with a note
    report = gate(tmp_path, run, rules, (baseline,), allow_version_mismatch=True)
    assert report.passed and any("task_version" in n for n in report.checks[0].notes)
    # a different data file (content hash) is refused too; local fingerprints are not compared
    other = dict(load_results(run.path).records[0].dataset.to_dict(), content_sha256="beef",
                 fingerprint="f2")
    moved = dict(load_results(run.path).records[0].dataset.to_dict(), fingerprint="f2")
    changed = RunBuilder(tmp_path, "changed").sentiment("m", dataset=other,
                                                        task_version="1+old")
    with pytest.raises(UserError, match="content_sha256"):
        gate(tmp_path, changed, rules, (baseline,), allow_version_mismatch=False)
    assert gate(tmp_path, RunBuilder(tmp_path, "moved").sentiment("m", dataset=moved,
                                                                 task_version="1+old"),
                rules, (baseline,)).passed


# -- efficiency rules ---------------------------------------------------------------------------
def eff(p50: float, device: str = "cpu", examples_per_s: float = 100.0) -> dict:
    return {**EFFICIENCY, "latency_ms": {"p50": p50, "p90": p50 * 1.2, "p99": p50 * 1.5},
            "examples_per_s": examples_per_s, "device": device}


def test_efficiency_rules_with_noise(tmp_path):
    base = RunBuilder(tmp_path, "release").sentiment("m", efficiency=eff(10.0))
    rule = {"kind": "efficiency", "figure": "*.efficiency.latency_ms.p50", "max_slowdown": 0.10}
    ok = RunBuilder(tmp_path, "ok").sentiment("m", efficiency=eff(10.9))
    slow = RunBuilder(tmp_path, "slow").sentiment("m", efficiency=eff(11.5))
    assert one_check(gate(tmp_path, ok, [rule], (base,))).passed
    check = one_check(gate(tmp_path, slow, [rule], (base,)))
    assert not check.passed and "15.0% slower" in check.message
    assert check.limit == pytest.approx(11.0)
    # a stated noise floor widens the allowance: 10% + 10%
    assert one_check(gate(tmp_path, slow, [{**rule, "noise": 0.1}], (base,))).passed
    # repeated baseline runs: median 10, spread (10.8 - 9.6) / 10 = 12% of noise
    again = [RunBuilder(tmp_path, f"release{i}").sentiment("m", efficiency=eff(v))
             for i, v in enumerate((9.6, 10.8))]
    check = one_check(gate(tmp_path, slow, [rule], (base, *again)))
    assert check.passed and check.baseline == 10.0 and check.limit == pytest.approx(12.2)
    assert "median of 3 runs" in check.expected
    # throughput: higher is better, a 25% slowdown is 100 -> 80 examples/s
    tput = {"kind": "efficiency", "figure": "*.efficiency.examples_per_s", "max_slowdown": 0.2}
    slower = RunBuilder(tmp_path, "tput").sentiment("m", efficiency=eff(10, examples_per_s=80))
    check = one_check(gate(tmp_path, slower, [tput], (base,)))
    assert not check.passed and "25.0% slower" in check.message
    # different devices are not comparable
    gpu = RunBuilder(tmp_path, "gpu").sentiment("m", efficiency=eff(1.0, device="cuda:0"))
    check = one_check(gate(tmp_path, gpu, [rule], (base,)))
    assert not check.passed and "cuda:0" in check.message


# -- outputs ------------------------------------------------------------------------------------
def failing_report(tmp_path: Path) -> tuple[Path, Path, Path]:
    gold, base_pred, worse = paired_labels(1000, 0.85, 0.78, seed=5)
    baseline = RunBuilder(tmp_path, "release").sentiment("m", gold=gold, pred=base_pred)
    run = RunBuilder(tmp_path, "cand").sentiment("m", gold=gold, pred=worse,
                                                 efficiency=eff(10.5))
    policy = write_policy(tmp_path / "policy.yaml", [
        {"name": "accuracy <floor> & co", "figure": "sentiment/*.metrics.accuracy.value",
         "op": ">=", "threshold": 0.7},
        {"name": "no regression", "kind": "regression", "figure": "*.metrics.accuracy.value",
         "max_drop": 0.02},
        {"name": "latency", "kind": "efficiency", "figure": "*.efficiency.latency_ms.p50",
         "max_slowdown": 0.1},
        {"name": "missing | pipe", "figure": "*.safety.toxicity.rate", "op": "<=",
         "threshold": 0.01},
    ])
    return run.path, baseline.path, policy


def test_cli_writes_junit_markdown_and_json(tmp_path, capsys):
    lxml = pytest.importorskip("lxml.etree")
    run, baseline, policy = failing_report(tmp_path)
    out = tmp_path / "out"
    code = main(["gate", str(run), "--policy", str(policy), "--baseline", str(baseline),
                 "--junit", str(out / "gate.xml"), "--markdown", str(out / "gate.md"),
                 "--json", str(out / "gate.json")])
    stdout = capsys.readouterr().out
    assert code == 1
    for word in ("rule", "figure", "value", "verdict", "p-value", "FAIL", "gate FAILED"):
        assert word in stdout

    schema = lxml.XMLSchema(lxml.parse(str(DATA / "junit.xsd")))
    doc = lxml.parse(str(out / "gate.xml"))
    schema.assertValid(doc)
    cases = doc.findall(".//testcase")
    assert [c.get("name") for c in cases] == ["accuracy <floor> & co", "no regression",
                                              "latency", "missing | pipe"]
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert failed == ["no regression", "missing | pipe"]
    suite = doc.find("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("4", "2")
    assert "significant" in cases[1].find("failure").get("message")

    md = (out / "gate.md").read_text(encoding="utf-8")
    assert md.startswith("## ❌ evalsuite gate FAILED: 2 of 4 rules passed")
    assert "### Failures" in md and "missing \\| pipe" in md and "<details>" in md
    assert "`m · sentiment/toy.metrics.accuracy.value`" in md

    data = json.loads((out / "gate.json").read_text(encoding="utf-8"))
    assert data["passed"] is False and data["exit_code"] == 1
    assert data["summary"] == {"rules": 4, "rules_failed": 2, "checks": 4, "checks_failed": 2}
    reg = data["rules"][1]["checks"][0]
    assert reg["n_shared"] == 1000 and reg["p_value"] < 0.05 and reg["test"] == "permutation"
    assert data["rules"][2]["passed"] and data["rules"][2]["checks"][0]["baseline"] == 10.0


def test_passing_gate_exits_zero_and_junit_is_valid(tmp_path, capsys):
    lxml = pytest.importorskip("lxml.etree")
    run = RunBuilder(tmp_path, "r").sentiment("m", accuracy=0.9)
    policy = write_policy(tmp_path / "p.yaml", [{"figure": "*.metrics.accuracy.value",
                                                 "op": ">=", "threshold": 0.5}])
    assert main(["gate", str(run.path), "-p", str(policy), "--junit",
                 str(tmp_path / "j.xml")]) == 0
    assert "gate PASSED" in capsys.readouterr().out
    lxml.XMLSchema(lxml.parse(str(DATA / "junit.xsd"))).assertValid(
        lxml.parse(str(tmp_path / "j.xml")))


def test_policy_baseline_key_is_relative_to_the_policy(tmp_path):
    RunBuilder(tmp_path, "release").sentiment("m")
    run = RunBuilder(tmp_path, "cand").sentiment("m")
    policy = write_policy(tmp_path / "p.yaml", [{"kind": "regression", "max_drop": 0,
                                                 "figure": "*.metrics.accuracy.value"}],
                          baseline="release")
    assert main(["gate", str(run.path), "--policy", str(policy)]) == 0


# -- bad policies and inputs --------------------------------------------------------------------
BAD_POLICIES = {
    "rules: []": "field 'rules'",
    "rules: [{figure: 'x.metrics.a.value', op: '=>', threshold: 1}]": "field 'rules[0].op'",
    "rules: [{figure: 'x.accuracy', op: '>', threshold: 1}]": "field 'rules[0].figure'",
    "rules: [{figure: 'x.metrics.a', op: '>', treshold: 1}]": "field 'rules[0].treshold'",
    "rules: [{name: r, kind: regresion, figure: 'x.metrics.a'}]": "field 'rules[0]' (rule 'r')",
    "rules: [{kind: regression, figure: 'x.metrics.a', max_drop: 1, max_drop_relative: 0.1}]":
        "not both",
    "rules: [{kind: efficiency, figure: 'x.metrics.a', max_slowdown: 0.1}]": "efficiency",
    "alpha: 1.5\nrules: [{figure: 'x.metrics.a', op: '>', threshold: 1}]": "field 'alpha'",
    "rules: [{figure: 'x.metrics.a', op: '>=', threshold: 1, bound: low}]":
        "field 'rules[0].bound'",
    "rules: {": "not valid YAML",
    "- 1": "a policy is a mapping",
}


@pytest.mark.parametrize("text", list(BAD_POLICIES))
def test_bad_policy_exits_2_with_one_line(tmp_path, capsys, text):
    run = RunBuilder(tmp_path, "r").sentiment("m")
    policy = tmp_path / "bad.yaml"
    policy.write_text(text, encoding="utf-8")
    assert main(["gate", str(run.path), "--policy", str(policy)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(policy) in err and BAD_POLICIES[text] in err


def test_bad_inputs_exit_2(tmp_path, capsys):
    run = RunBuilder(tmp_path, "r").sentiment("m", bias={"g": {"effect_size": 0.1}})
    regression = write_policy(tmp_path / "reg.yaml", [{"kind": "regression", "max_drop": 0,
                                                       "figure": "*.metrics.accuracy.value"}])
    cases = [
        (["gate", str(run.path), "--policy", str(tmp_path / "nope.yaml")], "no such policy"),
        (["gate", str(run.path), "--policy", str(regression)], "no baseline"),
        (["gate", str(tmp_path / "nowhere"), "--policy", str(regression)], "nowhere"),
        (["gate", str(run.path), "--policy", str(regression), "--baseline", str(run.path)],
         "--baseline"),
        (["gate", str(run.path), "--policy",
          str(write_policy(tmp_path / "dir.yaml", [{"kind": "regression", "max_drop": 0,
                                                    "figure": "*.bias.*.effect_size"}])),
          "--baseline", str(RunBuilder(tmp_path, "b").sentiment(
              "m", bias={"g": {"effect_size": 0.1}}).path)], "higher_is_better"),
    ]
    for argv, words in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and words in err, err


# -- evalsuite run --gate -----------------------------------------------------------------------
def test_run_with_gate(tmp_path, capsys):
    from evalsuite.families import Family
    from evalsuite.models.base import ModelAdapter, Output
    from evalsuite.models.registry import register

    @register
    class AlwaysPositive(ModelAdapter):
        kind = "test-gate-positive"
        families = frozenset({Family.SENTIMENT})

        def load(self) -> None:
            self.params = 0

        def predict_batch(self, card, examples):
            return [Output("positive") for _ in examples]

    gold, _ = labels(30, 1.0, seed=0)
    (tmp_path / "cards").mkdir()
    (tmp_path / "cards" / "d.jsonl").write_text("".join(
        json.dumps({"id": f"e{i}", "text": f"text {i}", "label": g}) + "\n"
        for i, g in enumerate(gold)), encoding="utf-8")
    (tmp_path / "cards" / "toy.yaml").write_text(yaml.safe_dump({
        "name": "gate/toy", "family": "sentiment", "dataset": {"path": "d.jsonl"},
        "labels": LABELS, "metrics": ["accuracy"]}), encoding="utf-8")
    share = sum(g == "positive" for g in gold) / len(gold)
    argv = ["run", "-m", "test-gate-positive:x", "-t", "gate/toy", "--tasks-dir",
            str(tmp_path / "cards"), "--output", str(tmp_path / "results"), "--no-cache",
            "--resamples", "50"]
    passing = write_policy(tmp_path / "pass.yaml", [{"figure": "gate/toy.metrics.accuracy",
                                                     "op": ">=", "threshold": share - 0.01}])
    failing = write_policy(tmp_path / "fail.yaml", [{"figure": "gate/toy.metrics.accuracy",
                                                     "op": ">=", "threshold": share + 0.01}])
    assert main([*argv, "--run-id", "a", "--gate", str(passing)]) == 0
    assert main([*argv, "--run-id", "b", "--gate", str(failing)]) == 1
    assert "gate FAILED" in capsys.readouterr().out
    # a wrong policy is refused before anything runs
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [{figure: nope}]", encoding="utf-8")
    assert main([*argv, "--run-id", "c", "--gate", str(bad)]) == 2
    assert not (tmp_path / "results" / "c").exists()


def test_example_policy_is_valid_and_has_every_rule_kind():
    policy = load_policy(Path(__file__).resolve().parent.parent / "examples" / "gate-policy.yaml")
    kinds = {rule.kind for rule in policy.rules}
    assert kinds == {"threshold", "regression", "efficiency"}
    bounds = {getattr(rule, "bound", None) for rule in policy.rules}
    assert {"value", "ci_low"} <= bounds
    assert any(getattr(rule, "max_drop_relative", None) for rule in policy.rules)
