"""The ``vllm`` kind: importable and testable without vLLM; equal to ``hf`` on a GPU.

Without vLLM the request building and response parsing run on synthetic ``RequestOutput``
shapes (``prompt_logprobs``: per position ``None`` or token id → ``Logprob``), filled with
the log-probabilities transformers computes for the same tokens.  The ``gpu`` tests build a
tiny Llama and check that greedy outputs and label choices equal the ``hf`` kind's.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from evalsuite.errors import BackendUnavailable
from evalsuite.models import registry
from evalsuite.models.spec import ModelSpec
from evalsuite.models.vllm import (
    VLLMAdapter,
    continuation_logprob,
    generation_result,
    loglik_requests,
)
from evalsuite.tasks.cards import load_card
from evalsuite.tasks.data import load_task_data
from tests import hf_fixtures as fx

REPO = Path(__file__).resolve().parent.parent
HAS_VLLM = importlib.util.find_spec("vllm") is not None


@pytest.fixture(scope="module")
def llama(tmp_path_factory) -> Path:
    return fx.build_llama(tmp_path_factory.mktemp("vllm") / "llama", init=0.02)


def build(path: Path, kind: str = "vllm", **options):
    return registry.build(ModelSpec(kind, str(path), {k: str(v) for k, v in options.items()}))


def starter(name: str, limit: int) -> tuple:
    data = load_task_data(load_card(REPO / "tasks" / f"{name}.yaml"), limit=limit)
    return data.card, data.examples


def recorded_prompt_logprobs(model, ids: list[int]) -> list:
    """What vLLM returns for ``prompt_logprobs=1``, from transformers' own log-probs."""
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([ids])).logits[0].double(), -1)
    out: list = [None]
    for position in range(1, len(ids)):
        row = logp[position - 1]
        top = int(row.argmax())
        entry = {top: SimpleNamespace(logprob=float(row[top]), rank=1, decoded_token="")}
        entry[ids[position]] = SimpleNamespace(logprob=float(row[ids[position]]), rank=2,
                                               decoded_token="")
        out.append(entry)
    return out


def test_importable_without_vllm_and_skipped_with_the_install_line(llama):
    model = build(llama, tensor_parallel_size=2, gpu_memory_utilization=0.5, dtype="bf16",
                  max_model_len=256, enforce_eager="true")
    assert isinstance(model, VLLMAdapter)
    kwargs = model.engine_kwargs()
    assert kwargs["model"] == kwargs["tokenizer"] == str(llama)
    assert (kwargs["tensor_parallel_size"], kwargs["gpu_memory_utilization"], kwargs["dtype"],
            kwargs["max_model_len"], kwargs["enforce_eager"]) == (2, 0.5, "bfloat16", 256, True)
    card, _ = starter("sentiment/starter", 2)
    assert model.unsupported_reason(card) is None
    ner, _ = starter("ner/starter", 2)
    assert "cannot serve ner" in model.unsupported_reason(ner)
    settings = model.settings(card)
    assert settings["scoring"] == "loglik" and settings["engine"] == "vllm"
    assert settings["prompt"] == card.prompt
    if not HAS_VLLM:
        with pytest.raises(BackendUnavailable, match=r"pip install 'evalsuite\[vllm\]'"):
            model.load()
    with pytest.raises(Exception, match="num_beams"):
        build(llama, num_beams=2)


def test_loglik_requests_and_prompt_logprobs_give_hf_label_scores(llama):
    card, examples = starter("sentiment/starter", 4)
    hf = build(llama, "hf")
    hf.load()
    expected = hf.predict_batch(card, examples)
    vllm_model = build(llama)
    vllm_model.tokenizer = hf.tokenizer  # what LLM.get_tokenizer() returns: the same files
    builder = vllm_model.builder(card)
    texts = [builder.prompt(ex).text for ex in examples]
    contexts = [hf.tokenizer(t).input_ids for t in texts]
    conts = [[hf.tokenizer(c, add_special_tokens=False).input_ids
              for c in builder.label_texts(t, card.labels)] for t in texts]
    requests, where = loglik_requests(contexts, conts)
    assert len(requests) == 4 * len(card.labels)
    for request, (i, j, start) in zip(requests, where, strict=True):
        assert request == contexts[i] + conts[i][j] and start == len(contexts[i])
        recorded = recorded_prompt_logprobs(hf.model, request)
        value = continuation_logprob(recorded, request, start)
        assert value == pytest.approx(expected[i].meta["logprobs"][card.labels[j]], abs=1e-4)
    with pytest.raises(Exception, match="no log-probability"):
        continuation_logprob([None, {}], [1, 2], 1)


def test_generation_results_are_read_from_request_outputs():
    def output(text, ids, reason, stop=None):
        return SimpleNamespace(outputs=[SimpleNamespace(text=text, token_ids=ids,
                                                        finish_reason=reason, stop_reason=stop)])

    assert generation_result(output(" Paris", [5, 6], "stop", "\n"), 8) == (" Paris", 2, False,
                                                                           "\n")
    assert generation_result(output(" a b c", [1, 2, 3], "length"), 3) == (" a b c", 3, True,
                                                                          None)
    assert generation_result(output(" end", [4], "stop", 2), 8) == (" end", 1, False, None)


# -- on a GPU with vLLM: the same outputs as hf -------------------------------------------------
needs_vllm_gpu = pytest.mark.skipif(not (HAS_VLLM and torch.cuda.is_available()),
                                    reason="needs vLLM and a CUDA GPU")


@pytest.fixture(scope="module")
def gpu_llama(tmp_path_factory) -> Path:
    """head_dim 64: a size every vLLM attention backend supports."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    tokenizer = fx.metaspace_tokenizer()
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                         max_position_embeddings=512, bos_token_id=1, eos_token_id=2,
                         initializer_range=0.05)
    folder = tmp_path_factory.mktemp("vllm-gpu") / "llama"
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


ENGINE = {"dtype": "float32", "enforce_eager": "true", "gpu_memory_utilization": "0.3"}


@pytest.mark.gpu
@needs_vllm_gpu
def test_vllm_label_choices_equal_hf(gpu_llama):
    card, examples = starter("sentiment/starter", 40)
    hf = build(gpu_llama, "hf", dtype="float32", device="cuda")
    ours = build(gpu_llama, **ENGINE)
    expected = hf.predict_batch(card, examples)
    got = ours.predict_batch(card, examples)
    assert [o.prediction for o in got] == [o.prediction for o in expected]
    for a, b in zip(got, expected, strict=True):
        for label in card.labels:
            assert a.meta["logprobs"][label] == pytest.approx(b.meta["logprobs"][label],
                                                              abs=1e-3)
    ours.close()


@pytest.mark.gpu
@needs_vllm_gpu
def test_vllm_greedy_generation_equals_hf(gpu_llama):
    card, examples = starter("qa/starter", 20)
    hf = build(gpu_llama, "hf", dtype="float32", device="cuda", max_new_tokens=12,
               store_prompt="true")
    ours = build(gpu_llama, max_new_tokens=12, store_prompt="true", **ENGINE)
    expected = hf.predict_batch(card, examples)
    got = ours.predict_batch(card, examples)
    assert [o.meta["completion"] for o in got] == [o.meta["completion"] for o in expected]
    assert [o.prediction for o in got] == [o.prediction for o in expected]
    assert [o.meta["prompt"] for o in got] == [o.meta["prompt"] for o in expected]
    ours.close()
