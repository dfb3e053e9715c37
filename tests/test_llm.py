"""Language models with the ``hf`` kind: label log-likelihood, stops, few-shot, chat, prompts.

The log-likelihood tests compare against the implementation evalsuite had before scoring was
reworked (one right-padded row per (prompt, label), full-vocabulary log-softmax over every
position), kept here as the reference: the sums must agree to 1e-5.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from evalsuite.errors import CardError
from evalsuite.models import registry
from evalsuite.models.hf import HFAdapter, loglik
from evalsuite.models.spec import ModelSpec
from evalsuite.prompts.answers import cut_at_stop
from evalsuite.prompts.build import CONTENT_FREE, parse_stops
from evalsuite.prompts.fewshot import shot_source
from evalsuite.prompts.templates import continuation
from evalsuite.tasks.cards import card_from_dict, load_card
from evalsuite.tasks.data import load_task_data
from tests import hf_fixtures as fx

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def lms(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("lms")
    return {"gpt2": fx.build_gpt2(root / "gpt2"), "llama": fx.build_llama(root / "llama"),
            "t5": fx.build_t5(root / "t5"),
            # the usual initialisation: log-probabilities of realistic size
            "gpt2-smooth": fx.build_gpt2(root / "gpt2-smooth", init=0.02),
            "llama-smooth": fx.build_llama(root / "llama-smooth", init=0.02)}


def loaded(path: Path, **options) -> HFAdapter:
    built = registry.build(ModelSpec("hf", str(path), {k: v if isinstance(v, list) else str(v)
                                                       for k, v in options.items()}))
    assert isinstance(built, HFAdapter)
    built.load()
    return built


def starter(name: str, limit: int | None = None) -> tuple:
    data = load_task_data(load_card(REPO / "tasks" / f"{name}.yaml"), limit=limit)
    return data.card, data.examples


def sentiment_card(**extra):
    card, _ = starter("sentiment/starter")
    data = {**card.model_dump(mode="json", exclude={"source_file"}), **extra}
    return card_from_dict(data, source=card.source_file)


# -- the reference: today's implementation before the rework -----------------------------------
def reference_causal(model: HFAdapter, texts: list[str], labels: list[str]) -> np.ndarray:
    """One right-padded (prompt + label) row per pair, log-softmax over every position."""
    tok = model.tokenizer
    contexts = tok(texts)["input_ids"]
    spaced = tok([f" {label}" for label in labels], add_special_tokens=False)["input_ids"]
    plain = tok(labels, add_special_tokens=False)["input_ids"]
    out = np.zeros((len(texts), len(labels)))
    for i, (text, ctx) in enumerate(zip(texts, contexts, strict=True)):
        conts = plain if text.endswith((" ", "\n")) else spaced
        rows = [ctx + cont for cont in conts]
        width = max(map(len, rows))
        ids = torch.full((len(rows), width), tok.pad_token_id)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, row in enumerate(rows):
            ids[r, :len(row)] = torch.tensor(row)
            mask[r, :len(row)] = 1
        with torch.no_grad():
            logp = torch.log_softmax(model.model(input_ids=ids, attention_mask=mask).logits, -1)
        for j, cont in enumerate(conts):
            out[i, j] = sum(float(logp[j, len(ctx) - 1 + t, tok_id])
                            for t, tok_id in enumerate(cont))
    return out


def reference_seq2seq(model: HFAdapter, texts: list[str], labels: list[str]) -> np.ndarray:
    tok = model.tokenizer
    out = np.zeros((len(texts), len(labels)))
    for i, text in enumerate(texts):
        enc = tok(text, return_tensors="pt")
        for j, label in enumerate(labels):
            ids = tok(label, add_special_tokens=False, return_tensors="pt").input_ids
            with torch.no_grad():
                logits = model.model(**enc, labels=ids).logits
            out[i, j] = float(torch.log_softmax(logits, -1)[0].gather(1, ids.T).sum())
    return out


def spy_forward(model: HFAdapter) -> list[dict]:
    """Record every forward call's keyword arguments and its logits' shape."""
    calls: list[dict] = []
    original = model.model.forward

    def spy(*args, **kwargs):
        out = original(*args, **kwargs)
        calls.append({**kwargs, "logits_shape": tuple(out.logits.shape)})
        return out

    model.model.forward = spy
    return calls


def logprobs(outputs, labels) -> np.ndarray:
    return np.asarray([[o.meta["logprobs"][label] for label in labels] for o in outputs])


# -- log-likelihood ----------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["packed", "cached", "row-per-label"])
@pytest.mark.parametrize("name", ["gpt2-smooth", "llama-smooth", "gpt2", "llama"])
def test_label_logprobs_equal_the_full_sequence_reference(lms, name, path, monkeypatch):
    """Equal to 1e-5; the peaked models' sums reach -40, where float32 itself is only good to
    about 2e-5 (both implementations are that far from a float64 run), so there 1e-6 of the
    value is allowed.  ``cached``: the path for attention without 4-D masks;
    ``row-per-label``: for models that take no position ids."""
    packed = path == "packed"
    if path == "cached":
        monkeypatch.setattr(loglik, "packable", lambda rt: False)
    card, examples = starter("sentiment/starter", limit=12)
    model = loaded(lms[name])
    if path == "row-per-label":
        monkeypatch.setattr(model.runner.rt, "accepts", lambda name: name != "position_ids")
    spans = [len(model.tokenizer(f" {label}", add_special_tokens=False).input_ids) - 1
             for label in card.labels]
    assert min(spans) >= 1  # labels of several tokens
    spied = spy_forward(model)
    outputs = model.predict_batch(card, examples)
    calls = list(spied)
    texts = [model.runner.text(card, ex) for ex in examples]
    expected = reference_causal(model, texts, list(card.labels))
    rtol = 0 if name.endswith("smooth") else 1e-6
    np.testing.assert_allclose(logprobs(outputs, card.labels), expected, atol=1e-5, rtol=rtol)
    assert [o.prediction for o in outputs] == [card.labels[i] for i in expected.argmax(1)]
    width = max(len(model.tokenizer(t).input_ids) for t in texts)
    if path == "row-per-label":
        assert len(calls) == 1 and calls[0]["input_ids"].shape[0] == 12 * len(card.labels)
    elif packed:  # one pass: prompt and label tokens; logits only where scored
        assert len(calls) == 1
        assert calls[0]["input_ids"].shape == (12, width + sum(spans))
        assert calls[0]["logits_shape"][:2] == (12, 1 + sum(spans))
    else:  # the prompts (last position only), then the labels' own tokens on the cache
        assert len(calls) == 2
        assert calls[0]["logits_to_keep"] == 1 and calls[0]["logits_shape"][:2] == (12, 1)
        assert calls[1]["input_ids"].shape == (12 * len(card.labels), max(spans))
    assert model.settings(card)["normalize"] == "sum"


def test_single_token_labels_are_read_from_the_last_position(lms):
    model = loaded(lms["gpt2"])
    tok = model.tokenizer
    words = [w for w in ("the", "a", "and", "is", "of", "to") if
             len(tok(f" {w}", add_special_tokens=False).input_ids) == 1][:3]
    assert len(words) >= 2
    card = sentiment_card(labels=words, label_map=None)
    _, examples = starter("sentiment/starter", limit=8)
    examples = [{**ex, "label": words[0]} for ex in examples]
    spied = spy_forward(model)
    outputs = model.predict_batch(card, examples)
    calls = list(spied)
    assert len(calls) == 1 and calls[0]["logits_shape"] == (8, 1, len(tok))
    texts = [model.runner.text(card, ex) for ex in examples]
    np.testing.assert_allclose(logprobs(outputs, words),
                               reference_causal(model, texts, words), atol=1e-5, rtol=0)


def test_prompts_ending_in_a_newline_take_the_bare_label(lms):
    card = sentiment_card(prompt="Review: {text}\nSentiment:\n")
    _, examples = starter("sentiment/starter", limit=5)
    model = loaded(lms["gpt2"])
    outputs = model.predict_batch(card, examples)
    texts = [model.runner.text(card, ex) for ex in examples]
    np.testing.assert_allclose(logprobs(outputs, card.labels),
                               reference_causal(model, texts, list(card.labels)), atol=1e-5)
    assert continuation("Answer:", "positive") == " positive"
    assert continuation("Answer:\n", "positive") == "positive"
    assert continuation("Answer:\n", "positive", "always") == " positive"
    assert continuation("Answer:", "positive", "never") == "positive"


def test_seq2seq_runs_the_encoder_once_per_prompt(lms):
    card, examples = starter("sentiment/starter", limit=6)
    model = loaded(lms["t5"])
    encoder = model.model.get_encoder()
    sizes: list[int] = []
    original = encoder.forward

    def spy(*args, **kwargs):
        sizes.append(kwargs["input_ids"].shape[0])
        return original(*args, **kwargs)

    encoder.forward = spy
    outputs = model.predict_batch(card, examples)
    assert sizes == [6]
    texts = [model.runner.text(card, ex) for ex in examples]
    np.testing.assert_allclose(logprobs(outputs, card.labels),
                               reference_seq2seq(model, texts, list(card.labels)), atol=1e-5)


def test_normalisations_choose_by_token_character_and_content_free_scores(lms):
    card, examples = starter("sentiment/starter", limit=10)
    labels = list(card.labels)
    base = loaded(lms["gpt2"]).predict_batch(card, examples)
    sums = logprobs(base, labels)
    tok = loaded(lms["gpt2"]).tokenizer
    n_tokens = np.asarray([len(tok(f" {lb}", add_special_tokens=False).input_ids)
                           for lb in labels])
    chars = np.asarray([len(lb) for lb in labels])
    for how, expected in (("token", sums / n_tokens), ("char", sums / chars)):
        model = loaded(lms["gpt2"], normalize=how)
        outputs = model.predict_batch(card, examples)
        np.testing.assert_allclose(logprobs(outputs, labels), sums, atol=1e-5)
        assert [o.prediction for o in outputs] == [labels[i] for i in expected.argmax(1)]
        probs = np.exp(expected) / np.exp(expected).sum(1, keepdims=True)
        np.testing.assert_allclose([[o.scores[lb] for lb in labels] for o in outputs], probs,
                                   atol=1e-5)
        assert model.settings(card)["normalize"] == how
    model = loaded(lms["gpt2"], normalize="calibrated")
    outputs = model.predict_batch(card, examples)
    free = card.prompt.format(text=CONTENT_FREE)
    offset = reference_causal(model, [free], labels)[0]
    calibrated = sums - offset
    assert [o.prediction for o in outputs] == [labels[i] for i in calibrated.argmax(1)]


def test_batches_are_sized_by_the_memory_budget(lms):
    card, examples = starter("sentiment/starter")
    small = loaded(lms["gpt2"], memory_budget=1)
    ordered = sorted(examples, key=lambda e: small.example_length(card, e), reverse=True)
    batches = list(small.plan_batches(card, ordered, 0))
    assert sum(map(len, batches)) == len(examples) and len(batches) > 1
    cost = small.runner.cost
    for batch in batches:
        assert len(batch) == 1 or len(batch) * max(
            cost(card, small.example_length(card, e)) for e in batch) <= 1 << 20
    assert len(list(small.plan_batches(card, ordered, 1))) > len(batches)
    roomy = loaded(lms["gpt2"], memory_budget=512)  # the whole starter set at once
    assert len(list(roomy.plan_batches(card, ordered, 0))) == 1


# -- generation --------------------------------------------------------------------------------
def test_stop_texts_cut_generation_and_end_rows_early(lms):
    card, examples = starter("summarization/starter", limit=4)
    free = loaded(lms["gpt2"], stop="[]", max_new_tokens=24, store_prompt="true")
    runs = free.predict_batch(card, examples)
    raw = [o.meta["completion"] for o in runs]
    assert all(o.meta["generated_tokens"] == 24 and "stop" not in o.meta for o in runs)
    # a stop text spanning several tokens, taken from the middle of the first continuation
    ids = free.tokenizer(raw[0], add_special_tokens=False).input_ids
    stop = free.tokenizer.decode(ids[5:8])
    assert len(free.tokenizer.tokenize(stop)) > 1
    model = loaded(lms["gpt2"], stop=json.dumps([stop]), max_new_tokens=24,
                   store_prompt="true")
    calls = []
    original = model.model.generate
    model.model.generate = lambda *a, **k: calls.append(k) or original(*a, **k)
    outputs = model.predict_batch(card, examples)
    first = outputs[0]
    assert first.meta["completion"] == raw[0][:raw[0].index(stop)]
    assert first.meta["stop"] == stop and first.meta["generated_tokens"] < 24
    assert first.meta["hit_length_limit"] is False
    for out, text in zip(outputs, raw, strict=True):
        assert out.meta["completion"] == cut_at_stop(text, [stop])[0]
    assert model.settings(card)["stop"] == [stop]
    assert "stopping_criteria" in calls[0]


def test_a_batch_stops_when_every_row_has_stopped(lms):
    card, examples = starter("qa/starter", limit=3)
    model = loaded(lms["gpt2"], max_new_tokens=40, store_prompt="true", stop="[]")
    raw = [o.meta["completion"] for o in model.predict_batch(card, examples)]
    # stop at each row's own second character: every row is done after a few tokens
    stops = sorted({text[1:3] for text in raw})
    model = loaded(lms["gpt2"], max_new_tokens=40, stop=json.dumps(stops))
    widths = []
    original = model.model.generate

    def spy(*args, **kwargs):
        out = original(*args, **kwargs)
        widths.append(out.shape[1] - kwargs["input_ids"].shape[1])
        return out

    model.model.generate = spy
    outputs = model.predict_batch(card, examples)
    assert widths[0] < 40
    assert all(o.meta["generated_tokens"] <= widths[0] for o in outputs)


def test_strip_false_keeps_the_cut_continuation_and_prompts_are_stored(lms):
    card, examples = starter("qa/starter", limit=3)
    model = loaded(lms["gpt2"], max_new_tokens=8, strip="false", store_prompt="true")
    outputs = model.predict_batch(card, examples)
    for ex, out in zip(examples, outputs, strict=True):
        assert out.prediction == out.meta["completion"]
        assert "\n" not in out.prediction  # the QA default stop
        assert out.meta["prompt"] == card.prompt.format(**ex)
    assert model.settings(card)["strip"] is False
    stripped = loaded(lms["gpt2"], max_new_tokens=8).predict_batch(card, examples)
    assert [o.prediction for o in stripped] == [
        "" if o.prediction.strip().strip(" .!\"'`").lower() in ("unanswerable",)
        else o.prediction.strip() for o in outputs]
    assert "prompt" not in stripped[0].meta


def test_stop_option_forms():
    assert parse_stops("\\n") == ["\n"]
    assert parse_stops('["\\n\\n", "Question:"]') == ["\n\n", "Question:"]
    assert parse_stops(["###"]) == ["###"]
    assert parse_stops("[]") == [] and parse_stops("") == []
    with pytest.raises(ValueError, match="JSON"):
        parse_stops("[oops")
    assert cut_at_stop("a b\nc###d", ["###", "\n"]) == ("a b", "\n")
    assert cut_at_stop("abc", ["x"]) == ("abc", None)


# -- few-shot and chat -------------------------------------------------------------------------
def test_sampled_shots_are_seeded_per_example_and_never_the_example(lms):
    card = sentiment_card(shots=3, shots_split="data/starter_reviews.jsonl")
    _, examples = starter("sentiment/starter", limit=8)
    model = loaded(lms["gpt2"], store_prompt="true")
    outputs = model.predict_batch(card, examples)
    by_id = {ex["id"]: ex for ex in load_task_data(card).examples}
    for ex, out in zip(examples, outputs, strict=True):
        ids = out.meta["shot_ids"]
        assert len(ids) == 3 and ex["id"] not in ids and len(set(ids)) == 3
        prompt = out.meta["prompt"]
        for shot_id in ids:
            shot = by_id[shot_id]
            assert card.prompt.format(text=shot["text"]) + " " + shot["label"] in prompt
        assert prompt.endswith(card.prompt.format(text=ex["text"]))
    alone = loaded(lms["gpt2"]).predict_batch(card, examples[3:5][::-1])
    assert [o.meta["shot_ids"] for o in alone] == [o.meta["shot_ids"] for o in outputs[3:5]][::-1]
    settings = model.settings(card)
    assert settings["shots"] == 3 and settings["shots_source"] == "sampled"
    reseeded = loaded(lms["gpt2"], shots_seed=7).predict_batch(card, examples)
    assert [o.meta["shot_ids"] for o in reseeded] != [o.meta["shot_ids"] for o in outputs]
    none = loaded(lms["gpt2"], shots=0).predict_batch(card, examples[:2])
    assert "shot_ids" not in none[0].meta


def test_too_few_examples_for_the_shots_is_refused_before_work(lms):
    card = sentiment_card(shots=500, shots_split="data/starter_reviews.jsonl")
    model = registry.build(ModelSpec("hf", str(lms["gpt2"]), {}))
    reason = model.unsupported_reason(card)
    assert reason is not None and "500 demonstrations" in reason and "has only 80" in reason
    with pytest.raises(CardError, match="field 'shots'"):
        shot_source(card, {}, "here")


def test_chat_turns_system_prompt_and_shots_as_turns(lms, tmp_path):
    folder = fx.with_chat_template(
        lms["gpt2"], tmp_path / "chat",
        "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}[assistant]{% endif %}")
    card = sentiment_card(shots=2, shots_split="data/starter_reviews.jsonl")
    _, examples = starter("sentiment/starter", limit=2)
    model = loaded(folder, chat="true", system="Be brief.", shots_as_turns="true",
                   store_prompt="true")
    out = model.predict_batch(card, examples)[0]
    prompt = out.meta["prompt"]
    assert prompt.startswith("[system] Be brief.\n[user] Review: ")
    assert prompt.count("[user]") == 3 and prompt.count("[assistant]") == 3
    assert prompt.endswith("Answer:\n[assistant]")
    settings = model.settings(card)
    assert settings["chat"] and settings["shots_as_turns"] and "system_sha256" in settings
    one_turn = loaded(folder, chat="true", store_prompt="true").predict_batch(card, examples)
    assert one_turn[0].meta["prompt"].count("[user]") == 1


def test_http_completions_get_the_same_prompts_and_shots(lms, monkeypatch):
    from evalsuite.models.spec import parse_spec
    from tests.openai_stub_server import StubServer

    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    card = sentiment_card(shots=2, shots_split="data/starter_reviews.jsonl")
    _, examples = starter("sentiment/starter", limit=3)
    hf = loaded(lms["gpt2"], store_prompt="true").predict_batch(card, examples)
    with StubServer(max_requests=50, lifetime_s=60) as stub:
        http = registry.build(parse_spec(f"http:{stub.url}?model=m&api=completions"))
        http.load()
        try:
            http.predict_batch(card, examples)
        finally:
            http.close()
        prompts = [body["prompt"] for body in stub.stats.bodies]
    assert sorted(prompts) == sorted(o.meta["prompt"] for o in hf)
    assert http.settings(card)["shots_source"] == "sampled"


def test_demonstrations_give_way_before_the_example_when_the_prompt_is_too_long(lms):
    """Over the context, demonstrations are dropped (earliest first) before the evaluated
    example's own text is cut: it used to be cut to nothing, the model seeing demos only."""
    card = sentiment_card(shots=8, shots_split="data/starter_reviews.jsonl",
                          max_input_length=160)
    _, examples = starter("sentiment/starter", limit=3)
    model = loaded(lms["gpt2"], store_prompt="true")
    full = loaded(lms["gpt2"], store_prompt="true").predict_batch(
        sentiment_card(shots=8, shots_split="data/starter_reviews.jsonl"), examples)
    outputs = model.predict_batch(card, examples)
    tok, limit = model.runner.rt.tokenizer, model.runner.max_input(card)
    for ex, out, whole in zip(examples, outputs, full, strict=True):
        meta = out.meta
        assert meta["truncated"] is True
        assert meta["prompt"].endswith(card.prompt.format(text=ex["text"]))
        kept = meta["shot_ids"]
        assert 0 < len(kept) < 8 and meta["shots_dropped"] == 8 - len(kept)
        assert kept == whole.meta["shot_ids"][8 - len(kept):]  # the latest ones stay
        assert meta["prompt"] == whole.meta["prompt"][-len(meta["prompt"]):]
        assert len(tok(meta["prompt"])["input_ids"]) <= limit


def test_the_record_counts_examples_shown_fewer_demonstrations(lms, tmp_path):
    from evalsuite.runner import run as runner

    card = sentiment_card(shots=8, shots_split="data/starter_reviews.jsonl",
                          max_input_length=160)
    spec = ModelSpec("hf", str(lms["gpt2"]), {})
    config = runner.RunConfig(jobs=[runner.Job(spec, [card])], output_dir=tmp_path,
                              run_id="r", limit=3, resamples=20)
    record = runner.run(config).records[0]
    assert record.status == "ok" and record.settings["shots"] == 8
    assert record.shots_dropped == 3 and record.truncated == 3


def test_calibration_uses_each_examples_own_demonstrations(lms):
    """With sampled shots, the content-free prompt of an example carries that example's
    demonstrations (Zhao et al. calibrate the prompt as shown, demonstrations included); it
    used to be one content-free prompt per card with demonstrations drawn for it alone."""
    card = sentiment_card(shots=2, shots_split="data/starter_reviews.jsonl")
    _, examples = starter("sentiment/starter", limit=6)
    labels = list(card.labels)
    model = loaded(lms["gpt2"], normalize="calibrated", store_prompt="true")
    outputs = model.predict_batch(card, examples)
    free = card.prompt.format(text=CONTENT_FREE)
    texts = [o.meta["prompt"].rsplit("\n\n", 1)[0] + "\n\n" + free for o in outputs]
    offsets = reference_causal(model, texts, labels)
    calibrated = logprobs(outputs, labels) - offsets
    assert [o.prediction for o in outputs] == [labels[i] for i in calibrated.argmax(1)]
    assert model.settings(card)["calibration"].startswith("per example")
    for out, offset in zip(outputs, offsets, strict=True):
        np.testing.assert_allclose([out.meta["calibration"][lb] for lb in labels], offset,
                                   atol=1e-4)


def test_a_chat_template_file_is_part_of_the_model_identity(lms, tmp_path):
    """transformers 5 saves the chat template as ``chat_template.jinja``: editing it changes
    every chat prompt, so it must change the fingerprint (the cache key) too; the record's
    settings say which template and which system prompt were used."""
    from transformers import AutoTokenizer

    from evalsuite.models.hf.adapter import weights_fingerprint

    folder = tmp_path / "chat"
    shutil.copytree(lms["gpt2"], folder)
    tok = AutoTokenizer.from_pretrained(folder)
    tok.chat_template = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"
    tok.save_pretrained(folder)
    assert (folder / "chat_template.jinja").is_file()
    before = weights_fingerprint(folder, None, "")
    card = sentiment_card()
    settings = loaded(folder, chat="true", system="Be brief.").settings(card)
    assert settings["system"] == "Be brief." and len(settings["chat_template_sha256"]) == 12
    (folder / "chat_template.jinja").write_text("{% for m in messages %}[{{ m['role'] }}] "
                                                "{{ m['content'] }}\n{% endfor %}")
    assert weights_fingerprint(folder, None, "") != before
    edited = loaded(folder, chat="true", system="Be brief.").settings(card)
    assert edited["chat_template_sha256"] != settings["chat_template_sha256"]


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_a_prompts_trailing_space_moves_into_the_label(lms, name):
    """"Answer: " + "positive" is the same text as "Answer:" + " positive"; as in
    lm-evaluation-harness, the prompt's trailing spaces are scored as the start of the label
    (a lone space token before the label is text a model has rarely seen), so both templates
    give the same log-probabilities."""
    _, examples = starter("sentiment/starter", limit=4)
    model = loaded(lms[name])
    spaced = model.predict_batch(sentiment_card(prompt="Review: {text}\nAnswer: "), examples)
    plain = model.predict_batch(sentiment_card(prompt="Review: {text}\nAnswer:"), examples)
    labels = ["negative", "positive"]
    np.testing.assert_allclose(logprobs(spaced, labels), logprobs(plain, labels), atol=1e-5)


def test_a_fixed_shots_file_never_shows_the_example_its_own_answer(lms, tmp_path):
    """A shots_file drawn from the evaluated split would show an example its own answer; as
    with sampled shots (and lm-eval's first_n sampler) the example is left out and the next
    line takes its place."""
    _, examples = starter("sentiment/starter", limit=3)
    shots = tmp_path / "shots.jsonl"
    shots.write_text("".join(json.dumps(ex) + "\n" for ex in examples))
    card = sentiment_card()
    model = loaded(lms["gpt2"], shots_file=str(shots), shots=2, store_prompt="true")
    outputs = model.predict_batch(card, examples)
    for ex, out in zip(examples, outputs, strict=True):
        assert out.meta["prompt"].count(ex["text"]) == 1  # its own text once: the query
        others = [o for o in examples if o["id"] != ex["id"]][:2]
        assert out.meta["shot_ids"] == [o["id"] for o in others]
    assert model.settings(card)["shots"] == 2


def test_predictions_cached_under_older_prompt_rules_are_recomputed(lms, tmp_path,
                                                                     monkeypatch):
    """A language model's settings carry ``prompt_rules``, so when a release changes how
    prompts are built or scored, its predictions cached by the older release are not
    served as if they were today's."""
    from evalsuite.prompts import build
    from evalsuite.runner import run as runner

    card = sentiment_card()
    spec = ModelSpec("hf", str(lms["gpt2"]), {})

    def cache_hits(run_id: str) -> tuple[int, dict]:
        config = runner.RunConfig(jobs=[runner.Job(spec, [card])], output_dir=tmp_path,
                                  run_id=run_id, limit=4, resamples=20,
                                  cache_path=tmp_path / "cache.sqlite")
        record = runner.run(config).records[0]
        return record.cache.hits, record.settings

    hits, settings = cache_hits("first")
    assert hits == 0 and settings["prompt_rules"] == build.PROMPT_RULES
    assert cache_hits("second")[0] == 4  # the same rules: served from the cache
    monkeypatch.setattr(build, "PROMPT_RULES", build.PROMPT_RULES + 1)
    hits, settings = cache_hits("newer")
    assert hits == 0 and settings["prompt_rules"] == build.PROMPT_RULES
