"""The GPU path, proven on the CPU (issue 18): each test shows on a CPU-only machine what a
GPU run depends on — memory freed before an out-of-memory retry, warm-up with the longest
batch, the token budget from free memory, one synchronisation per batch with a phase split
that still sums to the batch time, sentence encoders doing model work in a latency profile,
one precision and warm-up rule for every backend, named int8 techniques, skipped (not fatal)
bitsandbytes variants, loading straight onto the device.  Where the CPU cannot reach a CUDA
call, the GPU is faked at the narrowest point (its free memory, its compute capability, the
result of ``resolve_device``), never the code under test.  The GPU itself is exercised by
``tests/test_gpu.py`` (marked ``gpu``).
"""

from __future__ import annotations

import importlib.machinery
import sys
import time
import types
import weakref
from pathlib import Path
from typing import ClassVar

import pytest
import torch

from evalsuite.efficiency.meter import HostClock, PhaseTimer
from evalsuite.efficiency.meter import attribute as meter_attribute
from evalsuite.efficiency.profiling import latency_profile
from evalsuite.families import Family
from evalsuite.models import precision, registry
from evalsuite.models.base import ModelAdapter, Output
from evalsuite.models.hf import HFAdapter
from evalsuite.models.hf.budget import (
    CPU_TOKEN_BUDGET,
    MAX_TOKENS,
    MIN_TOKENS,
    bytes_per_token,
    plan_budget,
    token_budget,
)
from evalsuite.models.precision import MOVED_NOTE, direct_load_kwargs
from evalsuite.models.registry import register
from evalsuite.models.sentence_transformers import SentenceTransformerAdapter
from evalsuite.models.spec import ModelSpec, expand_variants, parse_spec
from evalsuite.runner import run as runner
from evalsuite.tasks.cards import card_from_dict, load_card
from evalsuite.tasks.data import load_task_data
from tests import hf_fixtures as fx
from tests.conftest import REPO, write_jsonl


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A one-layer BERT sentiment classifier (random weights, local tokenizer)."""
    return fx.build_seq_cls(tmp_path_factory.mktemp("gpu-path") / "sentiment",
                            {0: "NEG", 1: "POS"})


@pytest.fixture(scope="module")
def encoder(tmp_path_factory) -> Path:
    """A one-layer bare BERT encoder: the ``hf`` encoder head, and an ``st`` model (mean
    pooling) when sentence-transformers loads the plain folder."""
    return fx.build_encoder(tmp_path_factory.mktemp("gpu-path") / "encoder")


def sentiment_card(tmp_path: Path, n: int = 24):
    rows = [{"id": f"e{i}", "text": "word " * (1 + i % 6), "label": "positive"}
            for i in range(n)]
    write_jsonl(tmp_path / "d.jsonl", rows)
    return card_from_dict({"name": "t/sent", "family": "sentiment", "labels":
                           ["negative", "positive"], "dataset": {"path": "d.jsonl"},
                           "metrics": ["accuracy"]}, source=tmp_path / "card.yaml")


def run_one(tmp_path: Path, specs: list[ModelSpec], card, **config):
    outcome = runner.run(runner.RunConfig(
        jobs=[runner.Job(s, [card]) for s in specs], output_dir=tmp_path / "results",
        cache_path=None, resamples=20, **config))
    return outcome.records


# -- 4. out-of-memory back-off frees the failed batch before retrying -------------------------
class Allocation:
    """Stands for the activations of a forward pass (weakly referenceable)."""


@register
class Hungry(ModelAdapter):
    """Runs out of memory above ``fits`` examples, after allocating its activations; records
    whether the failed call's allocation was still alive when the next call started."""

    kind = "test-hungry"
    families = frozenset({Family.SENTIMENT})
    default_batch_size = 8
    needs_warmup = False
    fits = 2
    failed: ClassVar[list[weakref.ref]] = []
    alive_at_next_call: ClassVar[list[bool]] = []

    def load(self) -> None:
        pass

    def predict_batch(self, card, examples):
        cls = type(self)
        cls.alive_at_next_call += [ref() is not None for ref in cls.failed]
        cls.failed = []
        activations = Allocation()
        if len(examples) > self.fits:
            cls.failed.append(weakref.ref(activations))
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [Output("positive") for _ in examples]


@pytest.mark.parametrize("warm_up", [False, True])
def test_out_of_memory_retry_starts_after_the_failed_batch_is_freed(tmp_path, monkeypatch,
                                                                     warm_up):
    """The halves of a batch that ran out of memory run outside the ``except`` block, so the
    failed forward's activations (held by the traceback's frames) are gone when they start —
    for timed batches and for the warm-up's back-off alike."""
    monkeypatch.setattr(Hungry, "needs_warmup", warm_up)
    Hungry.failed, Hungry.alive_at_next_call = [], []
    (record,) = run_one(tmp_path, [ModelSpec("test-hungry", "x")], sentiment_card(tmp_path))
    assert record.status == "ok" and record.efficiency.n_timed == 24
    assert record.efficiency.oom_splits >= 2  # 8 → 4 → 2
    assert Hungry.alive_at_next_call and not any(Hungry.alive_at_next_call)


def test_latency_profile_sweep_frees_the_failed_batch_before_stopping(tmp_path):
    Hungry.failed, Hungry.alive_at_next_call = [], []
    card = sentiment_card(tmp_path)
    adapter = Hungry(ModelSpec("test-hungry", "x"))
    result = latency_profile(adapter, card, load_task_data(card).examples, repeats=2,
                             max_batch=8)
    assert result["profile"]["stopped"] == "out_of_memory at batch size 4"
    assert not Hungry.failed[0]()  # freed when the profile returned


# -- 10. warm-up with the first planned (longest) batch, halved until it fits ----------------
@register
class Planned(ModelAdapter):
    """Logs its calls; runs out of memory above ``fits`` examples; needs a warm-up."""

    kind = "test-planned"
    families = frozenset({Family.SENTIMENT})
    default_batch_size = 8
    needs_warmup = True
    fits = 4
    log: ClassVar[list[tuple[str, ...]]] = []

    def load(self) -> None:
        pass

    def predict_batch(self, card, examples):
        type(self).log.append(tuple(ex["id"] for ex in examples))
        if len(examples) > self.fits:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return [Output("positive") for _ in examples]


def test_warm_up_runs_the_longest_planned_batch_and_backs_off_before_timing(tmp_path):
    card = sentiment_card(tmp_path)
    examples = load_task_data(card).examples
    Planned.log = []
    (record,) = run_one(tmp_path, [ModelSpec("test-planned", "x")], card)
    longest = sorted(examples, key=lambda ex: -len(ex["text"]))
    warm_up, retry, *timed = Planned.log
    assert len(warm_up) == 8 and len(retry) == 4  # the first planned batch, then its half
    assert {len(examples) for examples in timed} == {4}  # timed batches start at a size that fits
    assert set(retry) <= {ex["id"] for ex in longest[:8]}  # the longest examples
    eff = record.efficiency
    assert eff.warmup_batches == 1 and eff.oom_splits == 1 and eff.n_timed == 24
    assert "oom_lost_s" not in eff.model_fields_set  # no timed batch failed


def test_token_budget_is_sized_from_free_memory_and_the_model():
    bert = types.SimpleNamespace(hidden_size=768, intermediate_size=3072,
                                 num_attention_heads=12)
    per_token = bytes_per_token(bert, 2, generative=False, max_length=512)
    small, large = token_budget(8 << 30, per_token), token_budget(24 << 30, per_token)
    assert MIN_TOKENS < small < large < MAX_TOKENS
    assert large / small == pytest.approx((0.8 * 24 - 0.25) / (0.8 * 8 - 0.25), rel=1e-3)
    assert token_budget(64 << 20, per_token) == MIN_TOKENS  # a nearly full GPU: the floor
    llm = types.SimpleNamespace(hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                                num_attention_heads=14, num_key_value_heads=2,
                                vocab_size=151_936)
    generative = bytes_per_token(llm, 2, generative=True, max_length=4096)
    assert generative > 10 * bytes_per_token(llm, 2, generative=False, max_length=4096)
    eager = types.SimpleNamespace(**vars(bert), _attn_implementation="eager")
    assert bytes_per_token(eager, 2, generative=False, max_length=512) > per_token
    sized = plan_budget("cuda:1", None, bert, 2, generative=False, max_length=512,
                        usable=8 << 30)
    assert sized == {"tokens": small, "source": "free_memory", "free_memory_mb": 8192.0,
                     "bytes_per_token": per_token}
    assert plan_budget("cuda", 4096, bert, 2, generative=False, max_length=512) == \
        {"tokens": 4096, "source": "option"}
    assert plan_budget("cpu", None, bert, 4, generative=False, max_length=512) == \
        {"tokens": CPU_TOKEN_BUDGET, "source": "default"}


def test_the_hf_budget_used_is_recorded(tmp_path, tiny):
    card = load_card(REPO / "tasks/sentiment/starter.yaml")
    (auto, option) = run_one(tmp_path, [parse_spec(f"hf:{tiny}?name=a"),
                                        parse_spec(f"hf:{tiny}?name=b&token_budget=300")],
                             card, limit=16)
    assert auto.efficiency.batch_budget.model_dump(exclude_unset=True) == {
        "tokens": CPU_TOKEN_BUDGET, "source": "default", "rows": 256}
    assert option.efficiency.batch_budget.tokens == 300
    assert option.efficiency.batch_budget.source == "option"
    gpt2 = fx.build_gpt2(tmp_path / "gpt2")  # a language model plans its batches in bytes
    (lm,) = run_one(tmp_path / "lm", [parse_spec(f"hf:{gpt2}?name=lm")], card, limit=8)
    assert lm.efficiency.batch_budget.source == "memory_budget"
    assert lm.efficiency.batch_budget.memory_mb == 128.0  # the CPU's


# -- 5. latency profile of sentence encoders does model work ----------------------------------
def _count_forwards(model: torch.nn.Module) -> list[int]:
    calls = [0]
    model.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


@pytest.mark.parametrize("kind", ["st", "hf"])
def test_latency_profile_of_sentence_encoders_runs_forward_passes(tmp_path, encoder, kind):
    pytest.importorskip("sentence_transformers")
    data = load_task_data(load_card(REPO / "tasks/similarity/starter.yaml"), limit=12)
    adapter = (SentenceTransformerAdapter if kind == "st" else HFAdapter)(
        ModelSpec(kind, str(encoder)))
    adapter.load()
    bert = adapter.model[0] if kind == "st" else adapter.model  # the transformer
    calls = _count_forwards(bert)
    adapter.start_task(data.card)
    list(runner.predict_all(adapter, data.card, [(str(i), ex) for i, ex in
                                                 enumerate(data.examples)],
                            runner.EfficiencyMeter()))
    during_run = calls[0]
    result = latency_profile(adapter, data.card, data.examples, repeats=4, max_batch=4)
    profile_calls = 1 + 4 + sum(1 + p["calls"] for p in result["sweep"])
    assert during_run > 0
    assert calls[0] - during_run >= profile_calls  # every timed call embeds its sentences


# -- 6. one precision rule and one warm-up rule for every backend -----------------------------
def test_auto_precision_is_one_rule_for_every_torch_backend(encoder, monkeypatch):
    monkeypatch.setattr(precision, "native_bf16", lambda device="cuda": device != "cuda:1")
    assert precision.resolve_dtype("auto", "cuda") == "bfloat16"
    assert precision.resolve_dtype("auto", "cuda:1") == "float16"  # no native bfloat16
    assert precision.resolve_dtype("auto", "cpu") == "float32"
    assert precision.resolve_dtype("bf16", "cpu") == "bfloat16"
    # what the rule picks for dtype=auto is what every torch kind loads in: let it pick
    # bfloat16 here, as it does on a GPU
    real = precision.resolve_dtype
    monkeypatch.setattr(precision, "resolve_dtype", lambda requested, device:
                        "bfloat16" if requested == "auto" else real(requested, device))
    for kind in ("hf", "st"):
        if kind == "st":
            pytest.importorskip("sentence_transformers")
        adapter = registry.build(ModelSpec(kind, str(encoder)))
        adapter.load()
        assert adapter.dtype == "bfloat16", kind
        assert {p.dtype for p in adapter.model.parameters()} == {torch.bfloat16}, kind


def test_st_warms_up_like_hf(tmp_path, encoder):
    pytest.importorskip("sentence_transformers")
    card = load_card(REPO / "tasks/similarity/starter.yaml")
    st, hf = run_one(tmp_path, [parse_spec(f"st:{encoder}?name=st"),
                                parse_spec(f"hf:{encoder}?name=hf")], card, limit=8)
    assert st.efficiency.warmup_batches == hf.efficiency.warmup_batches == 1
    assert st.efficiency.dtype == hf.efficiency.dtype == "float32"  # the CPU's rule


# -- 7. the two int8 techniques have their own names -----------------------------------------
def test_int8_on_a_gpu_machine_says_it_ran_on_the_cpu(tiny, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    model = HFAdapter(ModelSpec("hf", str(tiny), {"dtype": "int8"}))
    model.load()
    info = model.info()
    assert info.device == "cpu" and info.dtype == "int8"
    assert info.quantization == "torch-dynamic-int8"
    assert any("GPU was not used" in note for note in info.notes)
    assert precision.quantization_method("int8", "cuda:0") == "bitsandbytes-llm-int8"
    assert precision.quantization_method("bfloat16", "cuda:0") is None


def test_variants_on_different_devices_are_marked(tmp_path, tiny, monkeypatch):
    """``int8`` (CPU) next to ``fp32`` on a GPU: each record names the sibling that ran
    elsewhere.  The GPU variant is a CPU run whose adapter reports ``cuda:0``."""
    original = HFAdapter.load

    def load(self):
        original(self)
        if self.dtype == "float32":
            self.device = "cuda:0"  # what the record and the meter see

    monkeypatch.setattr(HFAdapter, "load", load)
    monkeypatch.setattr("evalsuite.efficiency.meter._cuda_device", lambda device: False)
    monkeypatch.setattr("evalsuite.models.base.describe_device", lambda device: None)
    card = load_card(REPO / "tasks/sentiment/starter.yaml")
    spec = parse_spec(f"hf:{tiny}?name=m&variants=float32,int8")
    records = {r.model: r for r in run_one(tmp_path, expand_variants(spec), card, limit=8)}
    fp32, int8 = records["m@fp32"].efficiency, records["m@int8"].efficiency
    assert fp32.variants_on_other_devices == {"m@int8": "cpu"}
    assert int8.variants_on_other_devices == {"m@fp32": "cuda:0"}
    assert int8.quantization == "torch-dynamic-int8" and fp32.quantization is None
    from evalsuite.report.load import load_report_data

    (run_dir,) = (tmp_path / "results").iterdir()
    models = {m.label: m for m in load_report_data([run_dir]).models}
    assert models["m@int8"].dtype == "int8 (torch-dynamic-int8)"  # what the report shows
    assert models["m@int8"].other_device_variants == {"m@fp32": "cuda:0"}
    assert models["m@fp32"].other_device_variants == {"m@int8": "cpu"}


# -- 1. bitsandbytes without accelerate: that variant is skipped, the run goes on -------------
def test_bitsandbytes_int8_without_accelerate_skips_the_variant(tmp_path, tiny, monkeypatch):
    bnb = types.ModuleType("bitsandbytes")
    bnb.__spec__ = importlib.machinery.ModuleSpec("bitsandbytes", None)
    monkeypatch.setitem(sys.modules, "bitsandbytes", bnb)
    monkeypatch.setitem(sys.modules, "accelerate", None)  # not installed
    real = precision.resolve_device
    monkeypatch.setattr(precision, "resolve_device",  # the machine has a GPU
                        lambda requested, where, spread=False:
                        "cuda" if requested == "cuda" else real(requested, where))
    card = load_card(REPO / "tasks/sentiment/starter.yaml")
    skipped, ok = run_one(tmp_path, [parse_spec(f"hf:{tiny}?name=bnb&dtype=int8&device=cuda"),
                                     parse_spec(f"hf:{tiny}?name=plain&dtype=float32")],
                          card, limit=8)
    assert skipped.status == "skipped" and "accelerate" in skipped.reason
    assert "bitsandbytes LLM.int8" in skipped.reason
    assert ok.status == "ok"


def test_a_package_missing_at_load_skips_the_model(tmp_path, tiny, monkeypatch):
    import transformers

    def needs_a_package(*args, **kwargs):
        raise ImportError("this checkpoint needs the package flash_attn")

    monkeypatch.setattr(transformers.AutoModelForSequenceClassification, "from_pretrained",
                        needs_a_package)
    card = load_card(REPO / "tasks/sentiment/starter.yaml")
    (record,) = run_one(tmp_path, [ModelSpec("hf", str(tiny))], card, limit=4)
    assert record.status == "skipped" and "flash_attn" in record.reason


# -- 11. load straight onto the device --------------------------------------------------------
def test_gpu_models_load_straight_onto_their_device(tiny, monkeypatch):
    assert direct_load_kwargs("cpu", "m") == {}
    assert direct_load_kwargs("cuda:1", "m") == {"device_map": {"": torch.device("cuda:1")}}
    assert direct_load_kwargs("cuda:all", "m") == {"device_map": "auto"}
    import transformers

    seen: list[dict] = []
    original = transformers.AutoModelForSequenceClassification.from_pretrained

    def spy(source, **kwargs):
        seen.append(dict(kwargs))
        kwargs["device_map"] = {"": torch.device("cpu")}  # the CPU stands in for cuda:1
        return original(source, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForSequenceClassification, "from_pretrained",
                        spy)
    monkeypatch.setattr(precision, "resolve_device", lambda requested, where, spread=False:
                        "cuda:1")
    monkeypatch.setattr(precision, "precision_notes", lambda dtype, device, where: [])
    moved: list[str] = []
    monkeypatch.setattr(torch.nn.Module, "to", lambda self, *a, **k: moved.append(a) or self)
    model = HFAdapter(ModelSpec("hf", str(tiny), {"device": "cuda:1", "dtype": "float32"}))
    model.load()
    assert seen[0]["device_map"] == {"": torch.device("cuda:1")}
    assert not moved and MOVED_NOTE not in model.notes  # never built on the CPU and moved


def test_without_accelerate_a_gpu_model_is_moved_with_a_note(monkeypatch):
    monkeypatch.setitem(sys.modules, "accelerate", None)
    assert direct_load_kwargs("cuda", "m") == {}
    from evalsuite.errors import BackendUnavailable

    with pytest.raises(BackendUnavailable, match="accelerate"):
        direct_load_kwargs("cuda:all", "m")


# -- small ------------------------------------------------------------------------------------
@pytest.mark.parametrize("message", [
    "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
    "cuDNN error: CUDNN_STATUS_ALLOC_FAILED",
    "CUDA out of memory. Tried to allocate 20.00 MiB"])
def test_library_allocation_failures_count_as_out_of_memory(message):
    adapter = Hungry(ModelSpec("test-hungry", "x"))
    assert adapter.is_out_of_memory(RuntimeError(message))
    assert not adapter.is_out_of_memory(RuntimeError("CUBLAS_STATUS_EXECUTION_FAILED"))


def test_native_bfloat16_is_checked_on_the_requested_gpu(monkeypatch):
    majors = {0: 8, 1: 7}  # an A100 as cuda:0, a V100 as cuda:1
    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda index: types.SimpleNamespace(major=majors[int(index)]))
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert precision.native_bf16("cuda:0") and precision.native_bf16("cuda")
    assert not precision.native_bf16("cuda:1")
    assert not precision.native_bf16("cuda:all")  # spread over both: the V100 decides
    assert precision.resolve_dtype("auto", "cuda:1") == "float16"


def test_transformers_floor_allows_the_dtype_keyword():
    """``from_pretrained(dtype=…)`` needs transformers 4.56 or later."""
    import re

    (floor,) = re.findall(r'"transformers>=([\d.]+)"', (REPO / "pyproject.toml").read_text())
    assert tuple(int(x) for x in floor.split(".")) >= (4, 56)


# -- 9. one synchronisation per batch; the split still sums to the batch time -----------------
def test_one_device_sync_per_batch_not_per_phase(tmp_path, tiny, monkeypatch):
    from evalsuite.efficiency import meter as meter_module

    syncs: list[str] = []
    monkeypatch.setattr(meter_module, "synchronize", lambda device: syncs.append(device))
    card = load_card(REPO / "tasks/sentiment/starter.yaml")
    examples = load_task_data(card, limit=40).examples
    model = HFAdapter(ModelSpec("hf", str(tiny), {"batch_size": "8"}))
    model.load()
    meter = meter_module.EfficiencyMeter("cpu")
    meter.start()
    list(runner.predict_all(model, card, [(ex["id"], ex) for ex in examples], meter))
    batches = len(meter.measured.batches)
    assert batches == 5 and meter.measured.warmup_batches == 1
    assert len(syncs) == 1 + 1 + batches  # the warm-up, before the first batch, one per batch
    split = meter.measured.phases
    assert {"tokenize", "transfer", "forward", "decode"} <= set(split)
    assert sum(split.values()) <= sum(b.seconds for b in meter.measured.batches)


class LaggingDevice(HostClock):
    """A device that runs ``lag`` seconds behind the host: what CUDA events report when the
    host has queued a forward pass and moved on."""

    def __init__(self, lag: float) -> None:
        super().__init__("fake")
        self.lag = lag

    def mark(self, *, end_of_device_phase: bool = False) -> float:
        return time.perf_counter() + (self.lag if end_of_device_phase else 0.0)


def test_device_phases_overlapping_host_work_count_once(monkeypatch):
    from evalsuite.efficiency import meter as meter_module

    syncs: list[str] = []
    monkeypatch.setattr(meter_module, "synchronize", lambda device: syncs.append(device))
    timer = PhaseTimer(clock=LaggingDevice(0.05))
    meter = meter_module.EfficiencyMeter("fake")
    meter.watch(timer)
    with meter.time_batch(4, None):
        with timer.phase("tokenize"):
            time.sleep(0.01)
        with timer.phase("forward"):  # queued at once; the device finishes 50 ms later
            pass
        with timer.phase("decode", on_device=False):  # the host waits for the result
            time.sleep(0.06)
    wall = meter.measured.batches[0].seconds
    split = meter.measured.phases
    host_view = timer.snapshot()[0]
    assert sum(host_view.values()) < wall  # the host saw the forward as free
    assert split["tokenize"] == pytest.approx(host_view["tokenize"], abs=1e-3)
    assert split["forward"] == pytest.approx(0.05 + host_view["forward"], abs=2e-3)  # device
    # the host's wait for the result counts once: in the forward while the device ran
    assert split["decode"] == pytest.approx(host_view["decode"] - 0.05, abs=2e-3)
    assert sum(split.values()) <= wall + 1e-9
    assert len(syncs) == 2  # before the task's first batch, and at its end: none per phase


def test_attribution_gives_each_instant_to_one_phase():
    intervals = [("tokenize", 0.0, 2.0, False), ("transfer", 2.0, 2.5, True),
                 ("forward", 2.5, 6.0, True), ("tokenize", 3.0, 4.0, False),  # next pass
                 ("decode", 4.0, 7.0, False), ("decode", 6.0, 6.5, True)]
    split = meter_attribute(intervals, 0.0, 8.0)
    assert split == {"tokenize": 2.0, "transfer": 0.5, "forward": 3.5, "decode": 1.0}
    assert sum(split.values()) == 7.0  # the last second is predict_other
    assert meter_attribute(intervals, 1.0, 3.0) == {"tokenize": 1.0, "transfer": 0.5,
                                                     "forward": 0.5}


# -- the GPU check script ---------------------------------------------------------------------
def test_the_gpu_check_script_parses_and_its_tests_skip_without_a_gpu():
    import shutil
    import subprocess

    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("needs bash")
    script = REPO / "benchmarks" / "gpu.sh"
    assert subprocess.run([bash, "-n", str(script)], capture_output=True).returncode == 0
    done = subprocess.run([sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-rs",
                           "-p", "no:cacheprovider", "tests/test_gpu.py"],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    summary = done.stdout.strip().splitlines()[-1]
    if torch.cuda.is_available():
        assert done.returncode == 0, done.stdout[-3000:]
    else:  # every gpu test is collected and skipped, none errors
        assert done.returncode == 0 and "skipped" in summary and "error" not in summary, \
            done.stdout[-3000:]
        assert int(summary.split()[0]) >= 10


def test_a_model_spread_over_gpus_is_synchronised_and_named_on_every_one(monkeypatch):
    from evalsuite.efficiency import meter as meter_module

    synced: list[int] = []
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda index=None: synced.append(index))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda index: (index + 1) << 20)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: "NVIDIA H200")
    meter_module.synchronize("cuda:all")
    assert synced == [0, 1]
    assert meter_module.peak_memory_mb("cuda:all") == 3.0  # both GPUs' peaks
    meter_module.describe_device.cache_clear()
    assert meter_module.describe_device("cuda:all") == "2 × NVIDIA H200"
    meter_module.describe_device.cache_clear()
    assert isinstance(meter_module.clock_for("cuda:all"), HostClock)  # events see one GPU
    assert HostClock("cuda:all").sync_each
