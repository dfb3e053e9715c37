"""Dataset loading: local files of every format, hub layout folders, selection, mapping."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from evalsuite.errors import CardError, HubUnreachableError, UserError
from evalsuite.tasks.cards import card_from_dict
from evalsuite.tasks.data import load_task_data, select_indices
from tests.conftest import write_jsonl

ROWS = [{"sentence": f"review number {i}", "lab": i % 2, "uid": f"r{i}"} for i in range(10)]


def sentiment_card(tmp_path, path, **extra):
    data = {"name": "t/s", "family": "sentiment", "dataset": {"path": str(path)},
            "columns": {"text": "sentence", "label": "lab"}, "labels": ["neg", "pos"],
            "metrics": ["accuracy"], **extra}
    return card_from_dict(data, source=tmp_path / "card.yaml")


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "tsv", "parquet"])
def test_local_formats_map_columns(tmp_path, fmt):
    frame = pd.DataFrame(ROWS)
    path = tmp_path / f"d.{fmt}"
    if fmt == "jsonl":
        write_jsonl(path, ROWS)
    elif fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "tsv":
        frame.to_csv(path, index=False, sep="\t")
    else:
        frame.to_parquet(path)
    data = load_task_data(sentiment_card(tmp_path, path.name, columns={
        "text": "sentence", "label": "lab", "id": "uid"}))
    assert [e["text"] for e in data.examples] == [r["sentence"] for r in ROWS]
    assert [e["label"] for e in data.examples] == ["neg", "pos"] * 5  # int → card label
    assert data.examples[3]["id"] == "r3"
    assert data.info["source"] == "local" and data.info["fingerprint"]


def test_hash_ids_are_stable_and_unique(tmp_path):
    write_jsonl(tmp_path / "d.jsonl", [{"sentence": "same", "lab": 0}] * 2 + [
        {"sentence": "other", "lab": 1}])
    with pytest.raises(CardError, match="appears more than once"):  # never renamed silently
        load_task_data(sentiment_card(tmp_path, "d.jsonl"))
    card = sentiment_card(tmp_path, "d.jsonl", dedupe="suffix")
    ids = [e["id"] for e in load_task_data(card).examples]
    assert len(set(ids)) == 3 and ids[1] == ids[0] + "#1"
    assert ids == [e["id"] for e in load_task_data(card).examples]


def test_limit_and_seeded_sample(tmp_path):
    write_jsonl(tmp_path / "d.jsonl", ROWS)
    card = sentiment_card(tmp_path, "d.jsonl")
    assert len(load_task_data(card, limit=3).examples) == 3
    a = [e["text"] for e in load_task_data(card, sample=4, seed=1).examples]
    b = [e["text"] for e in load_task_data(card, sample=4, seed=1).examples]
    c = [e["text"] for e in load_task_data(card, sample=4, seed=2).examples]
    assert a == b and a != c and len(a) == 4
    assert select_indices(5, limit=None, sample=10, seed=0) == list(range(5))
    with pytest.raises(UserError, match="--limit"):
        select_indices(5, limit=0, sample=None, seed=0)


def test_missing_column_and_bad_label_are_clear(tmp_path):
    write_jsonl(tmp_path / "d.jsonl", ROWS)
    card = sentiment_card(tmp_path, "d.jsonl", columns={"text": "review", "label": "lab"})
    with pytest.raises(CardError, match=r"field 'columns.text': column 'review' is not in the "
                                        r"dataset \(columns: sentence, lab, uid\)"):
        load_task_data(card)
    write_jsonl(tmp_path / "e.jsonl", [{"sentence": "x", "lab": "meh"}])
    with pytest.raises(UserError, match=r"label 'meh' is not in the card's labels"):
        load_task_data(sentiment_card(tmp_path, "e.jsonl"))
    with pytest.raises(CardError, match="no such file"):
        load_task_data(sentiment_card(tmp_path, "absent.jsonl"))


def test_label_map(tmp_path):
    write_jsonl(tmp_path / "d.jsonl", [{"sentence": "x", "lab": "NEGATIVE"},
                                       {"sentence": "y", "lab": "POSITIVE"}])
    card = sentiment_card(tmp_path, "d.jsonl", label_map={"NEGATIVE": "neg",
                                                          "POSITIVE": "pos"})
    assert [e["label"] for e in load_task_data(card).examples] == ["neg", "pos"]


def test_squad_form_and_ner_tag_ids(tmp_path):
    write_jsonl(tmp_path / "qa.jsonl", [
        {"id": "q1", "question": "Who?", "context": "Ann ran.",
         "answers": {"text": ["Ann"], "answer_start": [0]}},
        {"id": "q2", "question": "Why?", "context": "Ann ran.",
         "answers": {"text": [], "answer_start": []}}])
    qa = card_from_dict({"name": "t/qa", "family": "qa", "dataset": {"path": "qa.jsonl"},
                         "metrics": ["exact_match"]}, source=tmp_path / "c.yaml")
    ex = load_task_data(qa).examples
    assert ex[0]["answers"] == ["Ann"] and ex[0]["answer_start"] == [0]
    assert ex[1]["answers"] == []

    write_jsonl(tmp_path / "ner.jsonl", [{"tokens": ["Ann", "ran"], "ner_tags": [1, 0]}])
    ner = card_from_dict({"name": "t/ner", "family": "ner", "dataset": {"path": "ner.jsonl"},
                          "columns": {"tags": "ner_tags"}, "tag_names": ["O", "B-PER"],
                          "metrics": ["f1"]}, source=tmp_path / "c.yaml")
    assert load_task_data(ner).examples[0]["tags"] == ["B-PER", "O"]
    write_jsonl(tmp_path / "bad.jsonl", [{"tokens": ["Ann", "ran"], "ner_tags": ["B-PER"]}])
    bad = ner.model_copy(update={"dataset": ner.dataset.model_copy(update={"path": "bad.jsonl"})})
    with pytest.raises(UserError, match="2 tokens but 1 tags"):
        load_task_data(bad)


def test_translation_nested_columns_and_reference_lists(tmp_path):
    write_jsonl(tmp_path / "t.jsonl", [{"translation": {"de": "Hallo", "en": "Hello"}}])
    card = card_from_dict({"name": "t/t", "family": "translation",
                           "dataset": {"path": "t.jsonl"},
                           "columns": {"source": "translation.de",
                                       "references": "translation.en"},
                           "source_lang": "de", "target_lang": "en", "metrics": ["bleu"]},
                          source=tmp_path / "c.yaml")
    ex = load_task_data(card).examples[0]
    assert ex["source"] == "Hallo" and ex["references"] == ["Hello"]
    assert (ex["source_lang"], ex["target_lang"]) == ("de", "en")


def test_local_folder_in_hub_layout_and_mirror(tmp_path, monkeypatch):
    """A folder laid out like a hub dataset repo loads with its config name and split; the
    EVALSUITE_DATASETS_DIR mirror serves a hub id offline."""
    repo = tmp_path / "mirror" / "nyu-mll" / "glue"
    (repo / "sst2").mkdir(parents=True)
    pd.DataFrame({"sentence": ["good", "bad"], "label": [1, 0], "idx": [0, 1]}).to_parquet(
        repo / "sst2" / "validation-00000-of-00001.parquet")
    (repo / "README.md").write_text(
        "---\nconfigs:\n- config_name: sst2\n  data_files:\n  - split: validation\n"
        "    path: sst2/validation-*\n---\n", encoding="utf-8")
    monkeypatch.setenv("EVALSUITE_DATASETS_DIR", str(tmp_path / "mirror"))
    from evalsuite.tasks.registry import TaskRegistry

    card = TaskRegistry.discover().get("sentiment/sst2")
    data = load_task_data(card)
    assert [(e["id"], e["text"], e["label"]) for e in data.examples] == [
        ("0", "good", "positive"), ("1", "bad", "negative")]


def test_unreachable_hub_fails_at_once_with_advice(tmp_path):
    import time

    from evalsuite.tasks.registry import TaskRegistry

    card = TaskRegistry.discover().get("summarization/xsum")
    start = time.perf_counter()
    with pytest.raises(HubUnreachableError) as info:
        load_task_data(card)
    assert time.perf_counter() - start < 15
    message = str(info.value)
    assert "EdinburghNLP/xsum" in message and "EVALSUITE_DATASETS_DIR" in message
    assert message.startswith(str(card.source_file))
    json.dumps(message)


def test_builder_with_local_data_files_is_recorded_as_local(tmp_path):
    """``path: json`` + ``data_files`` (relative to the card) reads local files: the record
    says so, with each file's sha256, not ``source: hub``."""
    import hashlib

    first = write_jsonl(tmp_path / "data" / "part-1.jsonl", ROWS[:4])
    write_jsonl(tmp_path / "data" / "part-2.jsonl", ROWS[4:])
    card = sentiment_card(tmp_path, "json", columns={"text": "sentence", "label": "lab",
                                                    "id": "uid"})
    one = card.model_copy(update={"dataset": card.dataset.model_copy(
        update={"data_files": "data/part-1.jsonl"})})
    data = load_task_data(one)
    assert [e["id"] for e in data.examples] == ["r0", "r1", "r2", "r3"]
    assert data.info["source"] == "local"
    assert data.info["content_sha256"] == hashlib.sha256(first.read_bytes()).hexdigest()
    assert data.info["data_files"] == [{"path": "data/part-1.jsonl",
                                        "sha256": data.info["content_sha256"]}]
    by_split = card.model_copy(update={"dataset": card.dataset.model_copy(
        update={"data_files": {"test": "data/part-*.jsonl"}, "split": "test"})})
    data = load_task_data(by_split)
    assert len(data.examples) == 10 and data.info["source"] == "local"
    assert [f["path"] for f in data.info["data_files"]] == ["data/part-1.jsonl",
                                                            "data/part-2.jsonl"]
    missing = card.model_copy(update={"dataset": card.dataset.model_copy(
        update={"data_files": "data/nothing-*.jsonl"})})
    with pytest.raises(CardError, match=r"dataset\.data_files.*nothing"):
        load_task_data(missing)
    # …and so it reaches the result file (a declared field, checked against the schema)
    from evalsuite.models.spec import parse_spec
    from evalsuite.results.files import load_results
    from evalsuite.runner.run import Job, RunConfig, run

    outcome = run(RunConfig(jobs=[Job(parse_spec("baseline:vader"), [one])],
                            output_dir=tmp_path / "results", resamples=10))
    (record,) = load_results(outcome.run_dir).records
    assert record.dataset.source == "local"
    assert [(f.path, f.sha256) for f in record.dataset.data_files] == [
        ("data/part-1.jsonl", hashlib.sha256(first.read_bytes()).hexdigest())]


def test_xsum_loads_from_a_mirror_of_its_parquet_conversion(tmp_path, monkeypatch):
    """The xsum card reads the hub's Parquet conversion (refs/convert/parquet: one folder per
    config and split); a mirror of that branch serves it offline, and the offline advice
    names the revision to download."""
    from evalsuite.tasks.registry import TaskRegistry

    card = TaskRegistry.discover().get("summarization/xsum")
    assert card.dataset.revision == "refs/convert/parquet"
    with pytest.raises(HubUnreachableError, match=r"--revision refs/convert/parquet"):
        load_task_data(card)
    repo = tmp_path / "mirror" / "EdinburghNLP" / "xsum" / "default"
    for split, n in (("test", 3), ("train", 2)):
        (repo / split).mkdir(parents=True)
        pd.DataFrame({"document": [f"{split} article {i}." for i in range(n)],
                      "summary": [f"{split} summary {i}" for i in range(n)],
                      "id": [f"{split}{i}" for i in range(n)]}).to_parquet(
            repo / split / "0000.parquet")
    monkeypatch.setenv("EVALSUITE_DATASETS_DIR", str(tmp_path / "mirror"))
    data = load_task_data(card)
    assert [e["id"] for e in data.examples] == ["test0", "test1", "test2"]
    assert data.examples[0]["references"] == ["test summary 0"]
    assert data.info["revision"] == "refs/convert/parquet"
