"""Suites and generalisation figures: suite files, `evalsuite run --suite`, retention and gap
with paired/unpaired bootstrap intervals, the chance rule, and the gate on the figures."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
import sacrebleu
import yaml

from evalsuite.cli.app import main
from evalsuite.errors import CardError, UserError
from evalsuite.metrics import registry as metrics
from evalsuite.metrics.base import MetricContext, percentile_interval, score
from evalsuite.metrics.generalisation import annotate_records, compare
from evalsuite.results.files import load_results
from evalsuite.tasks.registry import TaskRegistry
from tests.conftest import write_jsonl

ACCURACY = metrics.get("accuracy")
LABELS = ["negative", "positive"]


def sentiment_card(folder: Path, name: str, data: str, domain: str, **extra: str) -> None:
    text = f"""
        name: {name}
        family: sentiment
        language: en
        domain: {domain}
        dataset: {{path: {data}}}
        labels: [negative, positive]
        metrics: [accuracy, macro_f1]
    """
    body = textwrap.dedent(text) + "".join(f"{k}: {v}\n" for k, v in extra.items())
    (folder / f"{name.split('/')[-1]}.yaml").write_text(body, encoding="utf-8")


def write_suite(folder: Path, name: str = "t/domains", reference: str = "t/movies",
                variants: tuple[str, ...] = ("t/products",), **extra) -> Path:
    path = folder / f"{name.split('/')[-1]}-suite.yaml"
    path.write_text(yaml.safe_dump({"kind": "suite", "name": name, "reference": reference,
                                    "variants": list(variants), **extra}), encoding="utf-8")
    return path


@pytest.fixture
def tasks_dir(tmp_path: Path) -> Path:
    """Two sentiment tasks (40 examples each) and a predictions file: 32/40 right on the
    reference (movies), 24/40 on the variant (products).  40 examples, so that 80% beats the
    reference's chance baseline (a balanced set's majority class, 50%) by the record's
    one-sided test; 8 of 10 would not."""
    folder = tmp_path / "tasks"
    rows, preds = {}, []
    for task, right in (("movies", 32), ("products", 24)):
        rows[task] = [{"id": f"{task}-{i}", "text": f"{task} text {i}",
                       "label": LABELS[i % 2]} for i in range(40)]
        for i, row in enumerate(rows[task]):
            label = row["label"] if i < right else LABELS[1 - i % 2]
            preds.append({"id": row["id"], "prediction": label})
        write_jsonl(folder / "data" / f"{task}.jsonl", rows[task])
    sentiment_card(folder, "t/movies", "data/movies.jsonl", "reviews/movies")
    sentiment_card(folder, "t/products", "data/products.jsonl", "reviews/products")
    write_suite(folder)
    write_jsonl(tmp_path / "preds.jsonl", preds)
    return folder


# -- suite files --------------------------------------------------------------------------------
def test_suites_are_discovered_and_not_taken_for_cards(tasks_dir):
    registry = TaskRegistry.discover([tasks_dir])
    assert "t/domains" in registry.suites and "t/domains" not in registry.cards
    (suite,) = registry.select_suites(["t/*"])
    assert suite.tasks == ["t/movies", "t/products"] and suite.parallel is False


@pytest.mark.parametrize(("change", "field", "fragment"), [
    ({"variants": ["t/nope"]}, "variants", "unknown task 't/nope'"),
    ({"reference": "t/nope"}, "reference", "unknown task 't/nope'"),
    ({"variants": ["t/movies"]}, "variants", "not a variant of itself"),
    ({"variants": []}, "variants", "at least one variant"),
    ({"variants": ["t/ner"]}, "variants", "t/ner is ner, the reference t/movies is sentiment"),
    ({"variants": ["t/f1first"]}, "variants", "primary metric is macro_f1"),
    ({"colour": "red"}, "colour", "unknown field"),
])
def test_wrong_suite_names_file_and_field(tasks_dir, change, field, fragment):
    (tasks_dir / "ner.yaml").write_text("name: t/ner\nfamily: ner\nlanguage: en\n"
                                        "dataset: {path: x.jsonl}\nmetrics: [f1]\n")
    sentiment_card(tasks_dir, "t/f1first", "data/movies.jsonl", "x")
    card = tasks_dir / "f1first.yaml"
    card.write_text(card.read_text().replace("[accuracy, macro_f1]", "[macro_f1, accuracy]"))
    path = write_suite(tasks_dir, name="t/bad", **{"variants": ["t/products"], **change})
    with pytest.raises(CardError) as info:
        TaskRegistry.discover([tasks_dir])
    message = str(info.value)
    assert message.startswith(str(path)) and f"field '{field}'" in message, message
    assert fragment in message, message


def test_unknown_or_conflicting_suites_are_refused(tasks_dir):
    registry = TaskRegistry.discover([tasks_dir])
    with pytest.raises(UserError, match=r"unknown suite 't/domain'.*t/domains"):
        registry.select_suites(["t/domain"])
    sentiment_card(tasks_dir, "t/tweets", "data/products.jsonl", "social")
    write_suite(tasks_dir, name="t/other", reference="t/tweets", variants=("t/products",))
    registry = TaskRegistry.discover([tasks_dir])
    with pytest.raises(UserError, match="variant of t/movies in suite t/domains and of t/tweets"):
        registry.select_suites(["t/*"])


def test_tasks_command_lists_suites_and_card_places(tasks_dir, capsys):
    assert main(["tasks", "--tasks-dir", str(tasks_dir)]) == 0
    out = capsys.readouterr().out
    assert "t/domains" in out and "reviews/products" in out and "en→de" in out


# -- the figures --------------------------------------------------------------------------------
def _accuracy_stats(correct: list[int]) -> np.ndarray:
    examples = [{"id": str(i), "label": "positive"} for i in range(len(correct))]
    preds = ["positive" if c else "negative" for c in correct]
    _, stats = score(ACCURACY, preds, examples, MetricContext(labels=LABELS), resamples=0)
    return stats


def test_retention_and_gap_by_hand_with_paired_bootstrap():
    rng = np.random.default_rng(1)
    ref = rng.random(400) < 0.9
    var = ref & (rng.random(400) < 0.8)  # the variant fails where the reference failed, and more
    ref_s, var_s = _accuracy_stats(ref.tolist()), _accuracy_stats(var.tolist())
    paired = compare(ACCURACY, ref_s, var_s, paired=True, resamples=2000, seed=0)
    assert paired["reference_value"] == pytest.approx(ref.mean())
    assert paired["retention"] == pytest.approx(var.mean() / ref.mean())
    assert paired["gap"] == pytest.approx(ref.mean() - var.mean())
    # The same draws by hand: one multinomial count vector per resample, shared.
    from evalsuite.metrics.base import draw_counts

    counts = draw_counts(np.random.default_rng(0), 400, 2000)
    want = percentile_interval((counts @ var) / (counts @ ref))
    assert (paired["ci_low"], paired["ci_high"]) == pytest.approx(want)
    unpaired = compare(ACCURACY, ref_s, var_s, paired=False, resamples=2000, seed=0)
    # Pairing removes the shared example difficulty: a much narrower gap interval.
    assert (paired["gap_ci_high"] - paired["gap_ci_low"]) < \
        0.8 * (unpaired["gap_ci_high"] - unpaired["gap_ci_low"])
    assert paired["p_value"] < 0.01 and unpaired["gap_ci_low"] > 0
    same = compare(ACCURACY, ref_s, ref_s, paired=True, resamples=500)
    assert same["retention"] == 1.0 and same["gap"] == 0.0 and same["p_value"] == 1.0


def test_corpus_bleu_retention_is_a_ratio_of_corpus_scores_not_of_averages():
    bleu = metrics.get("bleu")
    refs = ["the cat sat on the mat today", "a dog barked at the moon", "it rained all day"]
    ref_preds = ["the cat sat on the mat", "a dog barked at the moon", "it rained all day long"]
    var_preds = ["the cat is on a mat", "dog barks", "rain all day"]
    examples = [{"id": str(i), "references": [r]} for i, r in enumerate(refs)]
    _, ref_s = score(bleu, ref_preds, examples, MetricContext(), resamples=0)
    _, var_s = score(bleu, var_preds, examples, MetricContext(), resamples=0)
    out = compare(bleu, ref_s, var_s, paired=True, resamples=200)
    corpus = [sacrebleu.corpus_bleu(p, [refs]).score for p in (ref_preds, var_preds)]
    assert out["retention"] == pytest.approx(corpus[1] / corpus[0])
    sentence_means = [np.mean(bleu.example_scores(s)) for s in (ref_s, var_s)]
    assert out["retention"] != pytest.approx(sentence_means[1] / sentence_means[0], abs=1e-3)


# -- end to end ---------------------------------------------------------------------------------
def run_suite(tmp_path: Path, tasks_dir: Path, *extra: str) -> dict:
    code = main(["run", "-m", f"predictions:{tmp_path / 'preds.jsonl'}?name=fixed",
                 "--suite", "t/domains", "--tasks-dir", str(tasks_dir), "-o",
                 str(tmp_path / "runs"), "--run-id", "r", "--resamples", "500", *extra])
    assert code == 0
    return json.loads((tmp_path / "runs" / "r" / "results.json").read_text())


def test_run_suite_records_generalisation_unpaired(tmp_path, tasks_dir):
    doc = run_suite(tmp_path, tasks_dir)
    assert doc["run"]["suites"] == [{"name": "t/domains", "reference": "t/movies",
                                     "variants": ["t/products"], "parallel": False}]
    by_task = {r["task"]: r for r in doc["records"]}
    assert by_task["t/movies"]["domain"] == "reviews/movies"
    assert by_task["t/movies"]["language"] == "en"
    assert "generalisation" not in by_task["t/movies"]
    block = by_task["t/products"]["generalisation"]
    assert block["reference_task"] == "t/movies" and block["metric"] == "accuracy"
    assert block["retention"] == pytest.approx(0.6 / 0.8)
    assert block["gap"] == pytest.approx(0.2)
    assert block["paired"] is False and block["pairing"].startswith("unpaired: 40 and 40")
    assert block["ci_low"] < block["retention"] < block["ci_high"]
    assert block["shift"] == "domain" and block["domain"] == "reviews/products"
    assert block["beats_chance"] is True  # the reference's chance block: 80% beats 50%
    assert load_results(tmp_path / "runs" / "r")  # valid against the schema


def test_parallel_suite_pairs_by_id(tmp_path):
    folder = tmp_path / "tasks"
    sources = [f"sentence number {i} is here" for i in range(12)]
    write_jsonl(folder / "d.jsonl", [
        {"id": f"s{i}", "source": s, "near": s.replace("here", "there"), "far": f"x {i}"}
        for i, s in enumerate(sources)])
    for target, column in (("fr", "near"), ("sw", "far")):
        (folder / f"{target}.yaml").write_text(textwrap.dedent(f"""
            name: p/en-{target}
            family: translation
            domain: news
            dataset: {{path: d.jsonl}}
            columns: {{references: {column}}}
            source_lang: eng_Latn
            target_lang: {target}
            metrics: [chrf, bleu]
        """))
    write_suite(folder, name="p/langs", reference="p/en-fr", variants=("p/en-sw",),
                parallel=True)
    # The "near" texts as fixed outputs: better than copying the source (the translation
    # chance baseline) on p/en-fr, so there is something to retain on p/en-sw.
    preds = write_jsonl(tmp_path / "near.jsonl", [
        {"id": f"s{i}", "prediction": s.replace("here", "there")}
        for i, s in enumerate(sources)])
    assert main(["run", "-m", f"predictions:{preds}?name=near", "--suite", "p/langs",
                 "--tasks-dir", str(folder), "-o", str(tmp_path / "runs"),
                 "--run-id", "r"]) == 0
    doc = json.loads((tmp_path / "runs" / "r" / "results.json").read_text())
    by_task = {r["task"]: r for r in doc["records"]}
    block = by_task["p/en-sw"]["generalisation"]
    assert block["paired"] is True and block["pairing"] == "paired over 12 shared example ids"
    assert block["metric"] == "chrf" and block["shift"] == "language"
    assert block["language"] == "sw" and block["reference_language"] == "fr"
    chrf = [by_task[t]["metrics"]["chrf"]["value"] for t in ("p/en-fr", "p/en-sw")]
    assert block["retention"] == pytest.approx(chrf[1] / chrf[0])
    assert block["gap"] == pytest.approx(chrf[0] - chrf[1])
    assert block["p_value"] < 0.01


def test_no_retention_without_beating_chance_and_no_reference(tmp_path, tasks_dir):
    run_suite(tmp_path, tasks_dir)
    run_dir = tmp_path / "runs" / "r"
    results = load_results(run_dir)
    records = results.records
    ref = next(r for r in records if r.task == "t/movies")
    ref.chance = {"value": 0.5, "baseline": "majority", "beats_chance": False}  # report's
    annotate_records(run_dir, results.run, records)
    block = next(r for r in records if r.task == "t/products").generalisation
    assert block.retention is None and block.ci_low is None
    assert "does not beat chance on t/movies" in block.retention_reason
    assert block.gap == pytest.approx(0.2) and block.beats_chance is False
    ref.status, ref.reason = "skipped", "not installed"
    annotate_records(run_dir, results.run, records)
    block = next(r for r in records if r.task == "t/products").generalisation
    assert block.status == "not_applicable" and "skipped" in block.reason


def test_gate_addresses_retention_and_gap(tmp_path, tasks_dir):
    run_suite(tmp_path, tasks_dir)
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({"rules": [
        {"figure": "*.generalisation.retention", "op": ">=", "threshold": 0.7},
        {"figure": "t/*.generalisation.gap", "op": "<=", "threshold": 0.25},
    ]}))
    assert main(["gate", str(tmp_path / "runs" / "r"), "--policy", str(policy)]) == 0
    policy.write_text(yaml.safe_dump({"rules": [
        {"figure": "*.generalisation.ci_low", "op": ">=", "threshold": 0.9}]}))
    assert main(["gate", str(tmp_path / "runs" / "r"), "--policy", str(policy)]) == 1


def test_batch_file_suites(tmp_path, tasks_dir):
    batch = tmp_path / "b.yaml"
    batch.write_text(textwrap.dedent(f"""
        output: {tmp_path / 'runs'}
        run_id: b
        resamples: 100
        tasks_dirs: [{tasks_dir}]
        suites: [t/domains]
        models:
          - name: fixed
            spec: "predictions:{tmp_path / 'preds.jsonl'}"
    """))
    assert main(["run", str(batch)]) == 0
    doc = json.loads((tmp_path / "runs" / "b" / "results.json").read_text())
    assert {r["task"] for r in doc["records"]} == {"t/movies", "t/products"}
    assert next(r for r in doc["records"] if r["task"] == "t/products")["generalisation"]
    batch.write_text(batch.read_text().replace("[t/domains]", "[t/nope]"))
    assert main(["run", str(batch)]) == 2


# -- one command per language -------------------------------------------------------------------
def _translation_card(src: str, tgt: str):
    from evalsuite.tasks.cards import card_from_dict

    return card_from_dict({"name": f"x/{src}-{tgt}", "family": "translation",
                           "dataset": {"path": "d.jsonl"}, "source_lang": src,
                           "target_lang": tgt, "metrics": ["chrf"]})


def test_cmd_fills_language_fields_per_task_through_lang_map():
    import sys

    from evalsuite.models.registry import build
    from evalsuite.models.spec import parse_spec

    echo = "import sys; [print(sys.argv[1] + '|' + line.strip()) for line in sys.stdin]"
    spec = parse_spec({"name": "echo", "kind": "cmd",
                       "target": f"{sys.executable} -c \"{echo}\" {{pair}}",
                       "lang_map": {"eng_Latn-glg_Latn": "en-gl", "eng_Latn": "eng",
                                    "cat_Latn": "cat"}})
    model = build(spec)
    ex = [{"id": "1", "source": "hello"}]
    assert model.predict_batch(_translation_card("eng_Latn", "glg_Latn"), ex) == ["en-gl|hello"]
    assert model.predict_batch(_translation_card("eng_Latn", "cat_Latn"), ex) == ["eng-cat|hello"]
    assert model.argv_for(_translation_card("eng_Latn", "cat_Latn"))[-1] == "eng-cat"
    # the filled command follows from the identity (template + lang_map) and the task: it
    # is not a per-task setting, so the report compares the model with others on the task
    assert model.settings(_translation_card("eng_Latn", "cat_Latn")) == {}
    from evalsuite.tasks.cards import card_from_dict

    sentiment = card_from_dict({"name": "x/s", "family": "sentiment", "labels": ["a", "b"],
                                "dataset": {"path": "d.jsonl"}, "metrics": ["accuracy"]})
    assert "needs {pair}" in model.unsupported_reason(sentiment)


@pytest.mark.skipif(not __import__("shutil").which("apertium"), reason="needs apertium")
def test_apertium_pair_that_is_not_installed_is_skipped(tmp_path):
    folder = tmp_path / "tasks"
    write_jsonl(folder / "d.jsonl", [{"id": "1", "en": "Good morning.", "x": "Bon dia."}])
    (folder / "c.yaml").write_text(textwrap.dedent("""
        name: p/en-xx
        family: translation
        dataset: {path: d.jsonl}
        columns: {source: en, references: x}
        source_lang: eng_Latn
        target_lang: xho_Latn
        metrics: [chrf]
    """))
    assert main(["run", "-m", "cmd:apertium -u {pair}?name=apertium", "-t", "p/en-xx",
                 "--tasks-dir", str(folder), "-o", str(tmp_path / "r"), "--run-id", "a"]) == 0
    (record,) = json.loads((tmp_path / "r" / "a" / "results.json").read_text())["records"]
    assert record["status"] == "skipped" and "eng_Latn-xho_Latn" in record["reason"]


def test_gate_says_why_a_retention_is_null(tmp_path, tasks_dir):
    """A null retention fails its rule with the record's reason (did not beat chance on the
    reference), not only "null (not computed)"."""
    run_suite(tmp_path, tasks_dir)
    path = tmp_path / "runs" / "r" / "results.json"
    doc = json.loads(path.read_text())
    block = next(r for r in doc["records"] if r["task"] == "t/products")["generalisation"]
    reason = "the model does not beat chance on t/movies: nothing to retain"
    block.update(retention=None, ci_low=None, ci_high=None, beats_chance=False,
                 retention_reason=reason)
    path.write_text(json.dumps(doc))
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({"rules": [
        {"figure": "*.generalisation.retention", "op": ">=", "threshold": 0.7},
        {"figure": "*.generalisation.gap", "op": "<=", "threshold": 0.25}]}))
    out = tmp_path / "gate.json"
    assert main(["gate", str(tmp_path / "runs" / "r"), "--policy", str(policy),
                 "--json", str(out)]) == 1
    checks = [c for o in json.loads(out.read_text())["rules"] for c in o["checks"]]
    failed = [c for c in checks if not c["passed"]]
    assert len(failed) == 1 and reason in failed[0]["message"]
    assert "null" in failed[0]["message"]
