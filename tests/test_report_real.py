"""The report's answer on real runs: VADER, a constant system and a seeded coin flip.

Each system really runs (``baseline:vader``; the other two are command-line programs) on the
starter sentiment set and on a larger file-backed set of 600+ labelled sentences derived
from the project's EEC-style probe templates, with the bias and robustness probes on.  The
real system must rank first; the constant and the coin must be flagged as not beating
chance, and their perfect "fairness" and "robustness" (a system that ignores its input
treats every group alike) must earn them nothing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from evalsuite.cli.app import main
from evalsuite.models.spec import parse_spec
from evalsuite.runner.run import Job, RunConfig, run
from evalsuite.tasks.cards import card_from_dict
from evalsuite.tasks.registry import TaskRegistry
from tests.conftest import REPO, write_jsonl

pytest.importorskip("vaderSentiment")

CONSTANT = "import sys\nfor _ in sys.stdin:\n    print('positive', flush=True)\n"
COIN = ("import hashlib, sys\n"
        "for line in sys.stdin:\n"
        "    digest = hashlib.sha256(b'seed-7:' + line.encode()).digest()\n"
        "    print('positive' if digest[0] % 2 else 'negative', flush=True)\n")
POSITIVE_WORDS = {"happy", "delighted", "excited", "wonderful", "exciting"}


def eec_sentences() -> list[dict[str, str]]:
    """Labelled sentences from the EEC-style probe card: the emotion or event word sets the
    label (happy, delighted, excited, wonderful, exciting are positive; angry, furious,
    sad, miserable, anxious, awful, dreadful negative)."""
    card = yaml.safe_load((REPO / "tasks/bias/sentiment-eec.yaml").read_text())
    names = yaml.safe_load((REPO / "evalsuite/probes/wordlists/names.yaml").read_text())
    people = [n for group in names["groups"].values() for n in group["female"][:1]
              + group["male"][:1]]
    rows = []
    for template in card["templates"]:
        slot = "emotion" if "{emotion}" in template else "event" if "{event}" in template \
            else None
        if slot is None:
            continue
        for word in card["slots"][slot]:
            for person in people:
                text = template.format(person=person, **{slot: word})
                rows.append({"id": f"eec-{len(rows):04d}", "text": text,
                             "label": "positive" if word in POSITIVE_WORDS else "negative"})
    return rows


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("real")
    (root / "constant.py").write_text(CONSTANT)
    (root / "coin.py").write_text(COIN)
    rows = eec_sentences()
    write_jsonl(root / "eec.jsonl", rows)
    eec = card_from_dict({"name": "sentiment/eec-derived", "family": "sentiment",
                          "dataset": {"path": "eec.jsonl"},
                          "labels": ["negative", "positive"],
                          "metrics": ["accuracy", "macro_f1", "mcc"]},
                         source=root / "eec.yaml")
    starter = TaskRegistry.discover().get("sentiment/starter")
    models = [parse_spec("baseline:vader?name=vader"),
              parse_spec(f"cmd:{sys.executable} {root / 'constant.py'}?name=constant"),
              parse_spec(f"cmd:{sys.executable} {root / 'coin.py'}?name=coin")]
    config = RunConfig(jobs=[Job(m, [starter, eec]) for m in models],
                       output_dir=root / "results", resamples=500,
                       probes=["bias", "robustness?n=80"], cache_path=root / "cache.sqlite")
    outcome = run(config)
    assert not outcome.failed, outcome.failed
    assert len(rows) >= 300
    return outcome.run_dir


def test_the_real_system_ranks_first_and_the_trivial_ones_are_flagged(runs: Path, capsys):
    capsys.readouterr()
    assert main(["compare", str(runs), "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    by = {m["model"]: m for m in result["models"]}
    assert set(by) == {"vader", "constant", "coin"}
    assert [g["tasks"] for g in result["groups"]] == [
        ["sentiment/eec-derived", "sentiment/starter"]]
    assert by["vader"]["rank"] == 1 and by["vader"]["beats_chance"] is True
    for trivial in ("constant", "coin"):
        m = by[trivial]
        assert m["rank"] > 1 and m["beats_chance"] is False, m
        assert sorted(m["below_chance"]) == ["sentiment/eec-derived", "sentiment/starter"]
        for task in m["tasks"].values():
            assert task["beats_chance"] is False and task["chance"] is not None
        # shown, but worth nothing: the constant's raw probes look perfect
        assert m["dimensions"]["fairness"]["value"] == 0.0
        assert m["dimensions"]["robustness"]["value"] == 0.0
        assert m["index"] < by["vader"]["index"]
    for task in by["vader"]["tasks"].values():
        assert task["beats_chance"] is True and task["chance_p_value"] < 0.05
        assert task["value"] > task["chance"]
    eec = by["constant"]["tasks"]["sentiment/eec-derived"]
    assert eec["chance_baseline"] == "majority class (negative)"
    assert eec["value"] < eec["chance"]  # "positive" for every sentence: the minority class


def test_the_constants_perfect_probe_figures_are_in_the_records(runs: Path):
    document = json.loads((runs / "results.json").read_text())
    constant = [r for r in document["records"] if r["model"] == "constant"]
    gaps = [p["max_gap"] for r in constant for p in r["bias"].values()
            if isinstance(p, dict) and isinstance(p.get("max_gap"), (int, float))]
    kept = [p["retention"] for r in constant for p in r["robustness"].values()
            if isinstance(p, dict) and isinstance(p.get("retention"), (int, float))]
    assert gaps and max(gaps) == 0.0  # it treats every group alike: it never looks
    assert kept and min(kept) == 1.0  # and never flips under a typo
    for record in constant:
        assert record["efficiency"]["model_memory_mb"] is not None or \
            record["model_kind"] == "cmd"


def test_the_report_page_says_so(runs: Path, tmp_path: Path):
    out = tmp_path / "real.html"
    assert main(["report", str(runs), "-o", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    decision = page[page.index('<section id="decision">'):page.index('<section id="scorecard">')]
    assert "vader" in decision and "Not above chance" in decision
    assert "constant" in decision and "coin" in decision
