"""Task cards and the registry: valid cards load, wrong ones give one line naming file+field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from evalsuite.errors import CardError, UserError
from evalsuite.families import Family
from evalsuite.tasks.cards import load_card
from evalsuite.tasks.registry import TaskRegistry, builtin_tasks_dir, dataset_size

GOOD = """
name: mine/sentiment
family: sentiment
dataset: {path: data.jsonl}
labels: [negative, positive]
metrics: [accuracy]
"""


def write_card(folder: Path, text: str, name: str = "card.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_builtin_cards_cover_every_family_with_starter_and_benchmark():
    registry = TaskRegistry.discover()
    by_family: dict[Family, list] = {}
    for card in registry.cards.values():
        by_family.setdefault(card.family, []).append(card)
    assert set(by_family) == set(Family)
    for family, cards in by_family.items():
        starters = [c for c in cards if c.smoke_set]
        benchmarks = [c for c in cards if not c.smoke_set]
        assert starters, f"{family} has no starter set"
        assert benchmarks, f"{family} has no hub benchmark"
        for card in starters:
            assert "not a benchmark" in card.source_file.read_text().lower()
            assert dataset_size(card) >= 60, card.name
    names = registry.names()
    for expected in ("sentiment/sst2", "ner/conll2003", "qa/squad", "qa/squad_v2",
                     "similarity/stsb", "translation/wmt14-de-en", "translation/wmt14-fr-en",
                     "summarization/cnn_dailymail", "summarization/xsum",
                     "translation/starter-en-es", "translation/starter-en-de"):
        assert expected in names


def test_valid_card_loads(tmp_path):
    card = load_card(write_card(tmp_path, GOOD))
    assert card.family is Family.SENTIMENT
    assert card.primary_metric == "accuracy"
    assert card.version_id.startswith("1+")


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        (("family: sentiment", "family: poetry"), "family", "poetry"),
        (("metrics: [accuracy]", "metrics: [bleu]"), "metrics", "unknown metric 'bleu'"),
        (("metrics: [accuracy]", "metrics: []"), "metrics", "at least one metric"),
        (("labels: [negative, positive]", "labels: [positive]"), "labels", "two distinct"),
        (("labels: [negative, positive]", "labels: [a, a]"), "labels", "two distinct"),
        (("name: mine/sentiment", "name: mine/sentiment\ncolumns: {sentence: text}"),
         "columns", "'sentence' is not a field of sentiment"),
        (("name: mine/sentiment", "name: mine/sentiment\nmetircs: [accuracy]"), "metircs",
         "unknown field"),
        (("dataset: {path: data.jsonl}", "dataset: {}"), "dataset.path", "required"),
        (("name: mine/sentiment", "name: mine/sentiment\nshots: true"), "shots",
         "valid integer"),  # YAML's true is not 1 demonstration
        (("name: mine/sentiment", "name: mine/sentiment\nshots_seed: 1.5"), "shots_seed",
         "valid integer"),
    ],
)
def test_wrong_card_names_file_and_field(tmp_path, change, field, fragment):
    path = write_card(tmp_path, GOOD.replace(*change))
    with pytest.raises(CardError) as info:
        load_card(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert f"field '{field}'" in message, message
    assert fragment in message, message
    assert "\n" not in message


def test_invalid_yaml_names_line(tmp_path):
    path = write_card(tmp_path, "name: x\nfamily: [unclosed\n")
    with pytest.raises(CardError, match=r"not valid YAML at line \d"):
        load_card(path)


def test_translation_card_needs_language_pair(tmp_path):
    path = write_card(tmp_path, """
        name: t/x
        family: translation
        dataset: {path: d.jsonl}
        metrics: [bleu]
    """)
    with pytest.raises(CardError, match="source_lang"):
        load_card(path)


def test_user_folder_env_var_and_duplicates(tmp_path, monkeypatch):
    user = tmp_path / "mine"
    user.mkdir()
    write_card(user, GOOD)
    registry = TaskRegistry.discover([user])
    assert "mine/sentiment" in registry.names()
    assert "sentiment/sst2" in registry.names()  # built-ins still there

    monkeypatch.setenv("EVALSUITE_TASKS_PATH", str(user))
    assert "mine/sentiment" in TaskRegistry.discover().names()

    other = tmp_path / "other"
    other.mkdir()
    write_card(other, GOOD, "copy.yaml")
    with pytest.raises(CardError, match="already defined in"):
        TaskRegistry.discover([user, other])


def test_data_folders_and_probe_cards_are_not_task_cards(tmp_path):
    folder = tmp_path / "t"
    (folder / "data").mkdir(parents=True)
    write_card(folder / "data", "not: a card\n", "x.yaml")
    write_card(folder, "kind: probe\nname: bias/x\n", "probe.yaml")
    write_card(folder, GOOD)
    assert "mine/sentiment" in TaskRegistry.discover([folder]).names()


def test_missing_tasks_dir_and_unknown_task():
    with pytest.raises(UserError, match="--tasks-dir"):
        TaskRegistry.discover(["/no/such/folder"])
    registry = TaskRegistry.discover()
    with pytest.raises(UserError, match=r"unknown task 'sentiment/sst3'.*sentiment/sst2"):
        registry.get("sentiment/sst3")
    assert [c.name for c in registry.select(["qa/squad*"])] == ["qa/squad", "qa/squad_v2"]


def test_builtin_dir_is_the_repo_tree_in_a_checkout():
    assert (builtin_tasks_dir() / "sentiment" / "starter.yaml").is_file()
