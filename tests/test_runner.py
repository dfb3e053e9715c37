"""The runner: batching, caching, out-of-memory back-off, records, resume after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from typing import ClassVar

import pytest

from evalsuite.errors import SpecError
from evalsuite.families import Family
from evalsuite.models.base import ModelAdapter, Output
from evalsuite.models.registry import register
from evalsuite.models.spec import parse_spec
from evalsuite.results.files import load_results
from evalsuite.runner.run import Job, RunConfig, run
from evalsuite.tasks.cards import card_from_dict
from tests.conftest import write_jsonl

POSITIVE = {"good", "great", "love", "excellent"}


@register
class KeywordSentiment(ModelAdapter):
    """A real (if simple) lexicon classifier, with a switchable simulated OOM."""

    kind = "test-keywords"
    families = frozenset({Family.SENTIMENT})
    default_batch_size = 8
    calls: ClassVar[list[list[str]]] = []
    oom_above: ClassVar[int | None] = None

    def load(self) -> None:
        self.params = len(POSITIVE)

    def predict_batch(self, card, examples):
        if self.oom_above is not None and len(examples) > self.oom_above:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if any(ex["text"] == "crash" for ex in examples):
            raise ValueError("model crashed on 'crash'")
        type(self).calls.append([ex["id"] for ex in examples])
        out = []
        for ex in examples:
            hit = bool(POSITIVE & set(ex["text"].lower().split()))
            p = 0.9 if hit else 0.2
            out.append(Output("positive" if hit else "negative",
                              scores={"positive": p, "negative": 1 - p}))
        return out


@pytest.fixture
def sentiment_task(tmp_path):
    words = ["good film", "bad plot", "great cast", "awful", "love it", "boring",
             "excellent", "dull and long, too long for anyone", "good"]
    rows = [{"id": f"e{i}", "text": f"{w} {'x ' * (i % 5)}".strip(),
             "label": "positive" if any(p in w for p in POSITIVE) else "negative"}
            for i, w in enumerate(words * 4)]
    write_jsonl(tmp_path / "d.jsonl", rows)
    return card_from_dict({"name": "t/sent", "family": "sentiment",
                           "dataset": {"path": "d.jsonl"}, "labels": ["negative", "positive"],
                           "metrics": ["accuracy", "macro_f1", "mcc"]},
                          source=tmp_path / "card.yaml")


def make_config(tmp_path, card, spec="test-keywords:lexicon", **kw):
    return RunConfig(jobs=[Job(parse_spec(spec), [card])], output_dir=tmp_path / "results",
                     cache_path=tmp_path / "cache.sqlite", resamples=200, **kw)


def test_record_shape_and_files(tmp_path, sentiment_task):
    KeywordSentiment.calls = []
    outcome = run(make_config(tmp_path, sentiment_task))
    (record,) = outcome.records
    assert record.status == "ok" and record.n_examples == 36
    acc = record.metrics["accuracy"]
    assert acc.value == 1.0 and acc.ci_low <= acc.value <= acc.ci_high
    eff = record.efficiency
    assert eff.examples_per_s > 0 and eff.params == 4 and eff.source == "measured"
    assert eff.latency_ms.p50 <= eff.latency_ms.p90 <= eff.latency_ms.p99
    # batches are sorted longest first and never exceed the batch size
    lengths = {f"e{i}": i % 5 for i in range(36)}
    flat = [i for batch in KeywordSentiment.calls for i in batch]
    assert sorted(flat) == sorted(lengths) and max(map(len, KeywordSentiment.calls)) <= 8
    results = load_results(outcome.run_dir)  # validates against the JSON Schema
    rows = list(results.predictions(record))
    assert len(rows) == 36 and rows[0]["scores"]["positive"] in (0.9, 0.2)
    assert set(rows[0]) >= {"id", "input", "prediction", "reference", "score", "stats"}
    assert results.run.config_hash and results.run.packages["numpy"]


def test_cache_recomputes_nothing(tmp_path, sentiment_task):
    KeywordSentiment.calls = []
    run(make_config(tmp_path, sentiment_task))
    first_calls = len(KeywordSentiment.calls)
    outcome = run(make_config(tmp_path, sentiment_task))
    assert len(KeywordSentiment.calls) == first_calls  # nothing predicted again
    record = outcome.records[0]
    assert record.cache.to_dict() == {"hits": 36, "computed": 0}
    assert record.efficiency.source == "cache"
    assert record.efficiency.examples_per_s > 0  # the measured block is kept


def test_cache_key_changes_with_options(tmp_path, sentiment_task):
    KeywordSentiment.calls = []
    run(make_config(tmp_path, sentiment_task, spec="test-keywords:lexicon?dtype=float16"))
    n = len(KeywordSentiment.calls)
    run(make_config(tmp_path, sentiment_task, spec="test-keywords:lexicon?dtype=float32"))
    assert len(KeywordSentiment.calls) > n
    m = len(KeywordSentiment.calls)
    run(make_config(tmp_path, sentiment_task, spec="test-keywords:lexicon?dtype=float32"
                    "&batch_size=3"))  # batch size does not change outputs: cached
    assert len(KeywordSentiment.calls) == m


def test_out_of_memory_halves_the_batch_and_keeps_every_example_once(tmp_path,
                                                                     sentiment_task):
    KeywordSentiment.calls = []
    KeywordSentiment.oom_above = 3
    try:
        outcome = run(make_config(tmp_path, sentiment_task))
    finally:
        KeywordSentiment.oom_above = None
    flat = [i for batch in KeywordSentiment.calls for i in batch]
    assert sorted(flat) == sorted(f"e{i}" for i in range(36))  # each exactly once
    assert max(map(len, KeywordSentiment.calls)) <= 3
    eff = outcome.records[0].efficiency
    assert eff.oom_splits >= 1 and eff.batch_size <= 3
    assert outcome.records[0].metrics["accuracy"].value == 1.0


def test_family_mismatch_refused_before_work(tmp_path, sentiment_task):
    ner = card_from_dict({"name": "t/ner", "family": "ner", "dataset": {"path": "x.jsonl"},
                          "metrics": ["f1"]}, source=tmp_path / "c.yaml")
    config = RunConfig(jobs=[Job(parse_spec("test-keywords:lexicon"), [sentiment_task, ner])],
                       output_dir=tmp_path / "results", cache_path=None)
    with pytest.raises(SpecError, match="cannot serve ner"):
        run(config)
    assert not (tmp_path / "results").exists()


def test_failure_in_one_task_keeps_the_others(tmp_path, sentiment_task):
    write_jsonl(tmp_path / "bad.jsonl", [{"id": "b1", "text": "crash", "label": "positive"}])
    broken = sentiment_task.model_copy(update={
        "name": "t/broken", "dataset": sentiment_task.dataset.model_copy(
            update={"path": "bad.jsonl"})})
    config = RunConfig(jobs=[Job(parse_spec("test-keywords:lexicon?oom=1"), [sentiment_task])],
                       output_dir=tmp_path / "r", cache_path=None)
    with pytest.raises(SpecError, match="take no option 'oom'"):
        run(config)
    outcome = run(RunConfig(jobs=[Job(parse_spec("test-keywords:lexicon"),
                                      [broken, sentiment_task])],
                            output_dir=tmp_path / "r", cache_path=None))
    failed, ok = outcome.records
    assert failed.status == "failed" and "model crashed on 'crash'" in failed.reason
    assert ok.status == "ok" and ok.metrics["accuracy"].value == 1.0
    assert load_results(outcome.run_dir).records[1].task == "t/sent"


SLOW_MODEL = textwrap.dedent("""
    import sys, time
    log = open(sys.argv[1], "a")
    lines = sys.stdin.read().splitlines()
    for line in lines:
        log.write(line + "\\n")
    log.flush()
    time.sleep(float(sys.argv[2]))
    for line in lines:
        print("positive" if "good" in line else "negative")
""")


def test_killed_run_resumes_without_recomputing(tmp_path):
    """Kill a real `evalsuite run` halfway; the second run predicts only what was left."""
    rows = [{"id": f"r{i:03d}", "text": f"{'good' if i % 3 else 'bad'} item {i}",
             "label": "positive" if i % 3 else "negative"} for i in range(40)]
    write_jsonl(tmp_path / "tasks" / "d.jsonl", rows)
    (tmp_path / "tasks" / "card.yaml").write_text(textwrap.dedent("""
        name: t/slow
        family: sentiment
        dataset: {path: d.jsonl}
        labels: [negative, positive]
        metrics: [accuracy]
    """))
    script = tmp_path / "model.py"
    script.write_text(SLOW_MODEL)
    log = tmp_path / "seen.txt"
    env = {**os.environ, "EVALSUITE_CACHE_DIR": str(tmp_path / "cache")}
    spec = f"cmd:{sys.executable} {script} {log} 0.4?batch_size=5"
    cmd = [sys.executable, "-m", "evalsuite", "run", "-m", spec, "-t", "t/slow",
           "--tasks-dir", str(tmp_path / "tasks"), "-o", str(tmp_path / "results"),
           "--resamples", "50"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline:
        seen = log.read_text().splitlines() if log.exists() else []
        if len(seen) >= 15:  # three batches started
            break
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = log.read_text().splitlines()
    assert 10 <= len(first) < 40, "the kill did not land halfway"
    log.unlink()

    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    second = log.read_text().splitlines()
    # the second run never repeats a finished batch (the batch in flight may repeat)
    assert len(second) <= 40 - len(first) + 5
    assert {line for line in first + second} == {r["text"] for r in rows}
    runs = [json.loads((d / "results.json").read_text())
            for d in sorted((tmp_path / "results").iterdir())]
    assert [r["run"]["status"] for r in runs] == ["running", "finished"]  # killed, then done
    record = runs[1]["records"][0]
    assert record["cache"]["hits"] >= len(first) - 5
    assert record["metrics"]["accuracy"]["value"] == 1.0
