"""The cards and data behind the generalisation suites: every built-in card names its
language and domain, every suite validates, and the starter sets are well formed (balanced
labels, valid IOB2, parallel FLORES rows with their attribution)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from evalsuite.families import Family
from evalsuite.tasks.data import load_task_data
from evalsuite.tasks.registry import TaskRegistry, builtin_tasks_dir
from evalsuite.text.languages import parse_language

TASKS = builtin_tasks_dir()


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def test_every_builtin_card_names_language_and_domain():
    registry = TaskRegistry.discover()
    for card in registry.cards.values():
        assert card.domain, card.name
        if card.family is Family.TRANSLATION:
            assert card.source_lang and card.target_lang and card.language is None, card.name
        else:
            assert card.language, card.name
        parse_language(card.output_language)  # valid codes
        if not card.smoke_set:  # hub cards say what was checked, and when
            assert "checked" in card.source_file.read_text() or card.name in PRE_EXISTING, \
                card.name


PRE_EXISTING = {"sentiment/sst2", "ner/conll2003", "qa/squad", "qa/squad_v2", "similarity/stsb",
                "summarization/cnn_dailymail", "summarization/xsum", "translation/wmt14-de-en",
                "translation/wmt14-en-de", "translation/wmt14-fr-en"}


def test_builtin_suites_cover_domains_and_languages():
    suites = TaskRegistry.discover().suites
    for name in ("sentiment/domains", "sentiment/starter-domains", "ner/starter-domains",
                 "ner/wikiann-languages", "qa/xquad-languages", "summarization/xlsum-languages",
                 "translation/flores-from-english", "translation/flores-into-english"):
        assert name in suites
    assert suites["translation/flores-from-english"].parallel
    assert suites["qa/xquad-languages"].parallel


@pytest.mark.parametrize(("name", "n"), [("sentiment/starter-products", 60),
                                         ("sentiment/starter-social", 60)])
def test_domain_sentiment_sets_are_balanced_and_new(name, n):
    card = TaskRegistry.discover().get(name)
    data = load_task_data(card).examples
    assert len(data) == n
    assert Counter(ex["label"] for ex in data) == {"positive": n // 2, "negative": n // 2}
    assert len({ex["id"] for ex in data}) == n and len({ex["text"] for ex in data}) == n
    starter = {r["text"] for r in rows(TASKS / "sentiment/data/starter_reviews.jsonl")}
    assert not starter & {ex["text"] for ex in data}


@pytest.mark.parametrize("name", ["ner/starter-social", "ner/starter-reviews"])
def test_domain_ner_sets_are_valid_iob2_with_every_type(name):
    card = TaskRegistry.discover().get(name)
    data = load_task_data(card).examples
    assert len(data) == 60
    starts: Counter[str] = Counter()
    for ex in data:
        assert len(ex["tokens"]) == len(ex["tags"]) and all(t.strip() for t in ex["tokens"])
        previous = "O"
        for tag in ex["tags"]:
            assert tag == "O" or tag[:2] in ("B-", "I-"), (ex["id"], tag)
            assert tag[2:] in ("", "PER", "ORG", "LOC", "MISC"), (ex["id"], tag)
            if tag.startswith("I-"):  # continues an entity of the same type
                assert previous != "O" and previous[2:] == tag[2:], (ex["id"], tag)
            starts.update([tag[2:]] if tag.startswith("B-") else [])
            previous = tag
    assert min(starts[t] for t in ("PER", "ORG", "LOC", "MISC")) >= 15, starts


def test_flores_starter_rows_are_parallel_with_attribution():
    path = TASKS / "translation/data/flores200_devtest_100.jsonl"
    data = rows(path)
    assert len(data) == 100
    assert [r["id"] for r in data] == [f"devtest-{i:04d}" for i in range(1, 101)]
    languages = [k for k in data[0] if parse_language_or_none(k)]
    assert len(languages) == 14
    assert {parse_language(k).script for k in languages} == {
        "Latn", "Hans", "Arab", "Deva", "Ethi", "Khmr", "Mymr"}
    assert all(r[k].strip() for r in data for k in languages)
    readme = (TASKS / "translation/data/README.md").read_text()
    assert "CC BY-SA 4.0" in readme and "NLLB Team" in readme and "100" in readme
    shared = Path(__file__).resolve().parents[2] / "shared/data/flores200-devtest-300"
    if shared.is_dir():  # the rows are the first 100 lines of the source files
        for lang in languages:
            source = (shared / f"{lang}.txt").read_text(encoding="utf-8").splitlines()[:100]
            assert [r[lang] for r in data] == [s.strip() for s in source], lang


def parse_language_or_none(code: str):
    try:
        return parse_language(code) if "_" in code else None
    except ValueError:
        return None
