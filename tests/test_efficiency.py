"""The efficiency block: what every record says a model costs, measured so it can be trusted.

Tiny models built here (CPU, no downloads).  Timing figures are checked for consistency, never
against speed thresholds (CI machines are shared and noisy).
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
import time
import types
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch

from evalsuite.efficiency import meter as efficiency
from evalsuite.efficiency.measurement import Measurement, ModelInfo
from evalsuite.efficiency.meter import (
    BatchTiming,
    EfficiencyMeter,
    EnergyCounter,
    MemoryTracker,
    PhaseTimer,
)
from evalsuite.efficiency.profiling import latency_profile
from evalsuite.errors import SpecError
from evalsuite.families import Family
from evalsuite.models.base import ModelAdapter, Output
from evalsuite.models.hf import HFAdapter
from evalsuite.models.registry import register
from evalsuite.models.spec import ModelSpec, expand_variants, parse_spec
from evalsuite.results.files import load_results
from evalsuite.results.records import Record
from evalsuite.runner import run as runner
from evalsuite.runner.batch_file import load_batch
from evalsuite.tasks.cards import card_from_dict, load_card
from evalsuite.tasks.data import load_task_data
from tests import hf_fixtures as fx
from tests.conftest import REPO, write_jsonl

SPLIT_PHASES = ("tokenize", "transfer", "forward", "decode", "predict_other")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A one-layer BERT sentiment classifier (random weights, local tokenizer)."""
    return fx.build_seq_cls(tmp_path_factory.mktemp("eff") / "sentiment", {0: "NEG", 1: "POS"})


@pytest.fixture(scope="module")
def sentiment_card():
    return load_card(REPO / "tasks/sentiment/starter.yaml")


def run_one(tmp_path: Path, spec: ModelSpec | list[ModelSpec], card, **config) -> list[Record]:
    specs = spec if isinstance(spec, list) else [spec]
    config.setdefault("resamples", 50)
    outcome = runner.run(runner.RunConfig(
        jobs=[runner.Job(s, [card]) for s in specs], output_dir=tmp_path / "results",
        cache_path=tmp_path / "cache.sqlite", **config))
    load_results(outcome.run_dir)  # the records validate against the JSON Schema
    return outcome.records


# -- the block on every run ------------------------------------------------------------------------
def test_efficiency_block_is_complete_and_consistent(tmp_path, tiny, sentiment_card):
    (record,) = run_one(tmp_path, ModelSpec("hf", str(tiny), {"batch_size": "8"}),
                        sentiment_card)
    eff = record.efficiency
    assert record.status == "ok" and eff.source == "measured"
    assert eff.n_timed == record.n_examples == 80
    assert eff.examples_per_s == pytest.approx(eff.n_timed / eff.wall_s)
    assert eff.tokens_per_s == pytest.approx(eff.input_tokens / eff.wall_s)
    assert eff.input_tokens > eff.n_timed  # sub-word tokens, several per example
    for figure in ("latency_ms", "latency_per_example_ms"):
        p = getattr(eff, figure)
        assert 0 < p.p50 <= p.p90 <= p.p99
    assert eff.latency_per_example_ms.p50 < eff.latency_ms.p99
    assert eff.batch_size == 8 and 1 <= eff.mean_batch_size <= 8
    assert eff.peak_memory_mb > 0 and eff.memory_increase_mb >= 0
    assert eff.memory_source in ("rss_maxrss", "rss_sampled")
    assert eff.load_s > 0 and eff.device == "cpu" and eff.dtype == "float32"
    assert isinstance(eff.device_name, str) and eff.device_name
    assert eff.params > 0 and eff.weight_bytes >= 4 * eff.params
    assert eff.warmup_batches == 1 and eff.warmup_s > 0
    split = eff.split_s
    assert set(SPLIT_PHASES) <= set(split) and split["metrics"] > 0 and split["write"] > 0
    assert all(split[k] > 0 for k in ("tokenize", "forward", "decode"))
    assert sum(split[k] for k in SPLIT_PHASES) == pytest.approx(eff.wall_s, abs=1e-4)
    assert {"energy_j", "energy_per_example_j"}.isdisjoint(eff.model_fields_set)  # no NVML
    assert "overlapped_s" not in eff.model_fields_set  # prefetch is off on the CPU by default


@register
class Ticker(ModelAdapter):
    """Reports exactly 1 µs of ``forward`` per call; warm-up and profile calls included."""

    kind = "test-ticker"
    families = frozenset({Family.SENTIMENT})
    default_batch_size = 4
    needs_warmup = True
    calls = 0

    def load(self) -> None:
        self.params = 1

    def predict_batch(self, card, examples):
        type(self).calls += 1
        self.phases.add("forward", 1e-6)
        return [Output("positive") for _ in examples]


def make_card(tmp_path: Path, n: int = 10):
    rows = [{"id": f"e{i}", "text": "word " * (1 + i % 4), "label": "positive"}
            for i in range(n)]
    write_jsonl(tmp_path / "d.jsonl", rows)
    return card_from_dict({"name": "t/sent", "family": "sentiment", "labels":
                           ["negative", "positive"], "dataset": {"path": "d.jsonl"},
                           "metrics": ["accuracy"]}, source=tmp_path / "card.yaml")


def test_warm_up_runs_once_and_is_excluded(tmp_path):
    card = make_card(tmp_path)
    Ticker.calls = 0
    (record,) = run_one(tmp_path, ModelSpec("test-ticker", "x"), card)
    eff = record.efficiency
    batches = Ticker.calls - 1  # one warm-up call, then ceil(10 / 4) timed batches
    assert batches == 3 and eff.warmup_batches == 1 and eff.n_timed == 10
    assert eff.split_s["forward"] == pytest.approx(batches * 1e-6, abs=1e-9)


@register
class Plain(ModelAdapter):
    """An adapter that reports no phases and needs no warm-up (a command, an endpoint…)."""

    kind = "test-plain"
    families = frozenset({Family.SENTIMENT})

    def load(self) -> None:
        pass

    def predict_batch(self, card, examples):
        return ["positive" for _ in examples]


def test_adapter_without_phases_still_gets_predict_and_metrics(tmp_path):
    card = make_card(tmp_path)
    (record,) = run_one(tmp_path, ModelSpec("test-plain", "x"), card)
    split = record.efficiency.split_s
    assert set(split) == {"predict_other", "metrics", "write"}
    assert split["predict_other"] == pytest.approx(record.efficiency.wall_s, abs=1e-5)
    assert record.efficiency.warmup_batches == 0  # it does not ask for a warm-up


def test_measurement_of_another_process_keeps_working():
    """Another process (a Ray replica) hands over a Measurement and the model's ModelInfo."""
    measured = Measurement(batches=[BatchTiming(4, 0.2, 40), BatchTiming(2, 0.1, None)],
                           oom_splits=1)
    info = ModelInfo(params=10, weight_bytes=40, device="cpu", dtype="float32")
    block = measured.summary(info, 1.5).to_dict()  # as the result file has it
    assert block["examples_per_s"] == pytest.approx(6 / 0.3) and block["tokens_per_s"] is None
    assert block["peak_memory_mb"] is None and block["oom_splits"] == 1  # never the driver's
    assert block["latency_per_example_ms"]["p50"] == pytest.approx(50.0)  # 4 of 6 examples
    assert "device_name" not in block  # never guessed from the driver's machine
    assert block["warmup_batches"] == 0 and block["split_s"] == {"predict_other": 0.3}
    merged = measured.merge(Measurement(batches=[BatchTiming(2, 0.1, 20)], warmup_batches=1,
                                        memory={"peak_memory_mb": 5.0}, energy_j=2.0))
    assert merged.summary(info, 1.5).n_timed == 8 and merged.oom_splits == 1
    assert merged.warmup_batches == 1 and merged.memory == {"peak_memory_mb": 5.0}
    assert merged.energy_j == 2.0 and len(measured.batches) == 2  # merge makes a new one


def test_cpu_peak_memory_is_per_task_not_per_process():
    """ru_maxrss never goes down: a later, smaller task must not inherit an earlier peak."""
    rss = efficiency.current_rss_bytes()
    if rss is None:
        pytest.skip("needs /proc/self/statm")
    big = max(efficiency._maxrss_bytes() - rss, 0) + (160 << 20)
    first = MemoryTracker("cpu").start()
    block = np.ones(big // 8)  # touches every page: the process reaches a new peak
    first_result = first.stop()
    del block
    second = MemoryTracker("cpu").start()
    small = np.ones((64 << 20) // 8)  # above glibc's largest mmap threshold: fresh pages
    deadline = time.time() + 5
    while second._peak - second._base < (48 << 20) and time.time() < deadline:
        time.sleep(0.02)  # the sampling thread sees the small allocation
    second_result = second.stop()
    del small
    assert first_result["memory_source"] == "rss_maxrss"
    assert first_result["memory_increase_mb"] >= 150
    assert second_result["memory_source"] == "rss_sampled"
    assert 48 <= second_result["memory_increase_mb"] < 150
    assert second_result["peak_memory_mb"] < first_result["peak_memory_mb"]


# -- energy ----------------------------------------------------------------------------------------
def test_energy_absent_without_nvml(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml fails
    assert EnergyCounter.open("cuda:0") is None
    assert EnergyCounter.open("cpu") is None
    meter = EfficiencyMeter(device="cpu")
    meter.start()
    with meter.time_batch(2, 10):
        pass
    assert not {"energy_j", "energy_per_example_j"} & set(meter.summary(Ticker(
        ModelSpec("test-ticker", "x")).info(), None).to_dict())


def test_energy_from_a_total_energy_counter(monkeypatch):
    readings = iter([1000, 5000, 9000, 13000])  # millijoules
    fake = types.SimpleNamespace(
        nvmlInit=lambda: None, nvmlDeviceGetHandleByIndex=lambda index: ("gpu", index),
        nvmlDeviceGetTotalEnergyConsumption=lambda handle: next(readings))
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setattr(torch.cuda, "_get_nvml_device_index", lambda device: 0)
    counter = EnergyCounter.open("cuda:0")  # the probe reading: 1000 mJ
    assert counter is not None
    meter = EfficiencyMeter(device="cpu")
    meter._energy = counter
    for _ in range(2):
        with meter.time_batch(5, None):
            pass
    block = meter.summary(Ticker(ModelSpec("test-ticker", "x")).info(), None).to_dict()
    assert block["energy_j"] == pytest.approx(8.0)  # 13000 - 5000 mJ over the timed batches
    assert block["energy_per_example_j"] == pytest.approx(0.8)


# -- phases ----------------------------------------------------------------------------------------
def test_phase_timer_separates_background_work():
    timer = PhaseTimer()
    with timer.phase("tokenize"):
        pass
    with timer.phase("tokenize", overlapped=True):
        pass
    with pytest.raises(ValueError), timer.phase("forward"):
        raise ValueError("boom")
    seconds, background = timer.snapshot()
    assert set(seconds) == {"tokenize", "forward"} and set(background) == {"tokenize"}


def test_no_per_example_device_syncs_in_the_hf_hot_loop():
    """``.item()`` (or ``.cpu()`` inside a per-example loop) stalls a GPU once per example."""
    for name in ("classify", "qa", "generation", "runtime"):
        source = (REPO / "evalsuite" / "models" / "hf" / f"{name}.py").read_text()
        assert not re.search(r"[\w)\]]\.item\(\)", source), name


# -- prefetch and out-of-memory back-off -----------------------------------------------------------
def _predictions(tmp_path: Path, name: str, spec: ModelSpec, card) -> tuple[dict, list[dict]]:
    config = runner.RunConfig(jobs=[runner.Job(spec, [card])], output_dir=tmp_path,
                              run_id=name, resamples=20, cache_path=None)
    outcome = runner.run(config)
    record = outcome.records[0]
    assert record.status == "ok", record
    rows = [json.loads(line) for line in
            (outcome.run_dir / record.predictions_file).read_text().splitlines()]
    return record, rows


def test_prefetch_gives_the_same_predictions(tmp_path, tiny, sentiment_card):
    options = {"token_budget": "256"}
    _, plain = _predictions(tmp_path, "plain", ModelSpec("hf", str(tiny), options),
                            sentiment_card)
    record, ahead = _predictions(tmp_path, "ahead", ModelSpec(
        "hf", str(tiny), {**options, "prefetch": "true", "prefetch_depth": "2"}),
        sentiment_card)
    assert [r["scores"] for r in ahead] == [r["scores"] for r in plain]
    eff = record.efficiency
    assert eff.overlapped_s["tokenize"] > 0  # batches were tokenized in the background
    assert sum(eff.split_s[k] for k in SPLIT_PHASES) == pytest.approx(eff.wall_s,
                                                                        abs=1e-4)


def test_out_of_memory_with_prefetch_keeps_every_example_once(tmp_path, tiny, sentiment_card,
                                                             monkeypatch):
    examples = load_task_data(sentiment_card).examples
    _, reference = _predictions(tmp_path, "plain", ModelSpec("hf", str(tiny)), sentiment_card)
    original_load = HFAdapter.load
    seen: list[int] = []

    def load_with_small_memory(self):
        original_load(self)
        forward = self.model.forward

        def limited(*args, **kwargs):
            rows = kwargs["input_ids"].shape[0]
            if rows > 6:
                raise torch.cuda.OutOfMemoryError(f"CUDA out of memory ({rows} rows)")
            seen.append(rows)
            return forward(*args, **kwargs)

        self.model.forward = limited

    monkeypatch.setattr(HFAdapter, "load", load_with_small_memory)
    record, rows = _predictions(tmp_path, "small", ModelSpec(
        "hf", str(tiny), {"prefetch": "true", "batch_size": "16", "token_budget": "2048"}),
        sentiment_card)
    ids = [r["id"] for r in rows]
    assert sorted(ids) == sorted(e["id"] for e in examples) and len(set(ids)) == len(ids)
    assert [r["prediction"] for r in rows] == [r["prediction"] for r in reference]
    eff = record.efficiency
    assert eff.oom_splits > 0 and eff.batch_size <= 6 and eff.n_timed == 80
    assert sum(seen) == 80 + min(4, 80)  # every example forwarded once, plus the warm-up


@register
class Announced(ModelAdapter):
    """Records announced (prefetched) and predicted batches; runs out of memory above 4."""

    kind = "test-announced"
    families = frozenset({Family.SENTIMENT})
    default_batch_size = 8
    prefetch_depth = 2
    log: ClassVar[list[tuple[str, tuple[str, ...]]]] = []

    def load(self) -> None:
        pass

    def prefetch(self, card, examples) -> None:
        type(self).log.append(("announce", tuple(ex["id"] for ex in examples)))

    def cancel_prefetch(self) -> None:
        type(self).log.append(("cancel", ()))

    def predict_batch(self, card, examples):
        ids = tuple(ex["id"] for ex in examples)
        if len(ids) > 4:
            type(self).log.append(("oom", ids))
            raise RuntimeError("CUDA out of memory. Tried to allocate 1.00 GiB")
        type(self).log.append(("predict", ids))
        return [Output("positive") for _ in examples]


def test_batches_are_announced_ahead_and_replanned_after_out_of_memory(tmp_path):
    card = make_card(tmp_path, n=30)
    Announced.log = []
    (record,) = run_one(tmp_path, ModelSpec("test-announced", "x"), card)
    log = Announced.log
    predicted = [i for kind, ids in log if kind == "predict" for i in ids]
    assert sorted(predicted) == sorted(f"e{i}" for i in range(30))  # each exactly once
    first_oom = next(i for i, (kind, _) in enumerate(log) if kind == "oom")
    assert [k for k, _ in log[:first_oom]] == ["announce"] * 3  # running batch + 2 ahead
    assert log[first_oom + 1][0] == "cancel"  # stale announcements dropped at once
    for index, (kind, ids) in enumerate(log):  # after the split, batches of 4 announced
        if kind == "predict" and index > first_oom + 3:
            assert ("announce", ids) in log[:index]
    assert record.efficiency.oom_splits == 1 and record.efficiency.batch_size == 4


# -- precision variants ----------------------------------------------------------------------------
def test_precision_variants_are_separate_linked_records(tmp_path, tiny):
    batch = tmp_path / "batch.yaml"
    batch.write_text(textwrap.dedent(f"""
        output: {tmp_path / "results"}
        resamples: 20
        limit: 24
        tasks: [sentiment/starter]
        models:
          - spec: "hf:{tiny}"
            name: tiny
            variants: [float32, bf16, int8]
    """))
    config, _ = load_batch(batch)
    assert [j.spec.display_name for j in config.jobs] == ["tiny@fp32", "tiny@bf16", "tiny@int8"]
    config.cache_path = tmp_path / "cache.sqlite"
    outcome = runner.run(config)
    load_results(outcome.run_dir)
    records = {r.model: r for r in outcome.records}
    assert all(r.status == "ok" and r.variant_of == "tiny" for r in records.values())
    assert len({r.model_identity.target for r in records.values()}) == 1
    dtypes = {name: r.efficiency.dtype for name, r in records.items()}
    assert dtypes == {"tiny@fp32": "float32", "tiny@bf16": "bfloat16", "tiny@int8": "int8"}
    fp32, bf16, int8 = (records[f"tiny@{v}"].efficiency for v in ("fp32", "bf16", "int8"))
    assert fp32.params == bf16.params == int8.params
    assert int8.weight_bytes < fp32.weight_bytes and bf16.weight_bytes < \
        fp32.weight_bytes
    assert "notes" in int8.model_fields_set and "notes" in bf16.model_fields_set \
        and "notes" not in fp32.model_fields_set
    assert all(r.cache.computed == 24 for r in records.values())  # separate cache keys


def test_variants_in_a_spec_string_and_bad_variants():
    specs = expand_variants(parse_spec("st:all-MiniLM-L6-v2?variants=float32,int8&name=m"))
    assert [(s.display_name, s.options["dtype"], s.variant_of) for s in specs] == [
        ("m@fp32", "float32", "m"), ("m@int8", "int8", "m")]
    assert expand_variants(parse_spec("hf:x")) == [parse_spec("hf:x")]
    for text, fragment in (("hf:x?variants=fp32&dtype=int8", "not both"),
                           ("hf:x?variants=fp8", "unknown precision"),
                           ("hf:x?variants=fp32,float32", "twice"),
                           ("cmd:echo?variants=fp32", "precision control")):
        with pytest.raises(SpecError, match=fragment):
            expand_variants(parse_spec(text))


def test_int8_is_dynamic_quantization_on_the_cpu(tiny, sentiment_card):
    model = HFAdapter(ModelSpec("hf", str(tiny), {"dtype": "int8"}))
    model.load()
    assert model.device == "cpu" and model.dtype == "int8"
    linear = type(model.model.bert.encoder.layer[0].attention.self.query)
    assert "quantized.dynamic" in linear.__module__
    examples = load_task_data(sentiment_card, limit=8).examples
    assert len(model.predict_batch(sentiment_card, examples)) == 8


# -- latency profile mode --------------------------------------------------------------------------
def test_profile_mode_writes_bs1_latency_and_sweep(tmp_path, tiny, sentiment_card):
    (record,) = run_one(tmp_path, ModelSpec("hf", str(tiny)), sentiment_card, limit=20,
                        profile="latency", profile_repeats=5)
    eff = record.efficiency
    bs1 = eff.latency_bs1_ms
    assert bs1.n == 5 and 0 < bs1.p50 <= bs1.p90 <= bs1.p99
    assert [p.batch_size for p in eff.sweep] == [1, 2, 4, 8, 16]
    assert all(p.examples_per_s > 0 and p.peak_memory_mb > 0 for p in eff.sweep)
    assert eff.profile.stopped == "task_size" and eff.profile.max_batch == 20
    assert eff.n_timed == 20  # profile calls are not counted in the run's throughput


def test_profile_sweep_stops_at_out_of_memory(tmp_path):
    card = make_card(tmp_path, n=40)
    adapter = Announced(ModelSpec("test-announced", "x"))
    examples = load_task_data(card).examples
    result = latency_profile(adapter, card, examples, repeats=3, max_batch=32)
    assert [p["batch_size"] for p in result["sweep"]] == [1, 2, 4]
    assert result["profile"]["stopped"] == "out_of_memory at batch size 8"
    assert result["latency_bs1_ms"]["n"] == 3


def test_profile_from_the_command_line_and_batch_files(tmp_path, tiny):
    from evalsuite.cli.app import main

    assert main(["run", "-m", f"hf:{tiny}?name=tiny", "-t", "sentiment/starter",
                 "--limit", "8", "--profile", "latency", "--profile-repeats", "3",
                 "--no-cache", "--resamples", "10", "-o", str(tmp_path)]) == 0
    (run_dir,) = tmp_path.iterdir()
    record = load_results(run_dir).records[0]
    assert record.efficiency.latency_bs1_ms.n == 3
    assert [p.batch_size for p in record.efficiency.sweep] == [1, 2, 4, 8]
    assert main(["run", "-m", "hf:x", "-t", "sentiment/starter", "--profile", "speed",
                 "-o", str(tmp_path)]) == 2
    batch = tmp_path / "b.yaml"
    batch.write_text("tasks: [sentiment/starter]\nprofile_repeats: 7\nmodels:\n"
                     f"  - {{spec: 'hf:{tiny}', profile: latency}}\n  - spec: 'hf:{tiny}'\n"
                     "    name: other\n")
    config, _ = load_batch(batch)
    assert [j.profile for j in config.jobs] == ["latency", None]
    assert config.profile is None and config.profile_repeats == 7


# -- threads -------------------------------------------------------------------------------------
def test_threads_are_set_and_recorded(tmp_path, tiny, sentiment_card, capsys):
    """--threads sets torch's intra-op threads for the run; the efficiency block records the
    count it was measured with (and a cached block keeps its own)."""
    from evalsuite.cli.app import main

    before = torch.get_num_threads()
    try:
        (record,) = run_one(tmp_path / "a", ModelSpec("hf", str(tiny)), sentiment_card,
                            threads=1, limit=8)
        assert torch.get_num_threads() == 1
        assert record.efficiency.threads == 1
        torch.set_num_threads(2)
        (cached,) = run_one(tmp_path / "a", ModelSpec("hf", str(tiny)), sentiment_card,
                            limit=8, run_id="again")
        assert cached.efficiency.source == "cache"
        assert cached.efficiency.threads == 1  # what it was measured with
        assert main(["run", "-m", f"hf:{tiny}", "-t", "sentiment/starter", "--limit", "4",
                     "--threads", "0", "-o", str(tmp_path / "b")]) == 2
        assert "--threads" in capsys.readouterr().err
        pytest.importorskip("ray")
        assert main(["run", "-m", f"hf:{tiny}", "-t", "sentiment/starter", "--limit", "4",
                     "--threads", "1", "--executor", "ray", "-o", str(tmp_path / "c")]) == 2
        assert "--threads: Ray gives each replica" in capsys.readouterr().err
        batch = tmp_path / "batch.yaml"
        batch.write_text("threads: 1\nmodels: [{spec: 'baseline:vader'}]\n"
                         "tasks: [sentiment/starter]\n")
        from evalsuite.runner.batch_file import load_batch

        assert load_batch(batch)[0].threads == 1
    finally:
        torch.set_num_threads(before)
