"""Figures can be checked: ``evalsuite verify`` and the gate refuse edited results.

A real run over the six starter tasks (a rule-based command model) verifies clean: every
metric's value and seeded bootstrap interval are recomputed from the per-example statistics
in its predictions files.  Then each way of tampering is caught, naming the figure: a value or
interval edited in results.json, a statistic or score edited in a predictions file, a
prediction edited without its statistics (the file's SHA-256), a predictions file deleted or
stripped of statistics, rows dropped.  The gate runs the same check before it trusts a run.
"""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from tests.faults.helpers import cli, error_line

RULE_MODEL = """\
import json, sys
for line in sys.stdin:
    ex = json.loads(line)
    if "tokens" in ex:
        out = ["B-PER" if t[:1].isupper() and i else "O" for i, t in enumerate(ex["tokens"])]
    elif "sentence1" in ex:
        a, b = set(ex["sentence1"].lower().split()), set(ex["sentence2"].lower().split())
        out = 5 * len(a & b) / max(len(a | b), 1)
    elif "question" in ex:
        out = " ".join(ex["context"].split()[:3])
    elif "document" in ex:
        out = " ".join(ex["document"].split()[:25])
    elif "source" in ex:
        out = ex["source"]
    else:
        out = "positive" if any(w in ex["text"].lower() for w in ("good", "great", "love"))\\
            else "negative"
    print(json.dumps({"prediction": out}))
"""
TASKS = ["sentiment/starter", "ner/starter", "qa/starter", "similarity/starter",
         "summarization/starter", "translation/starter-en-de"]


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    from evalsuite.cli.app import main

    tmp = tmp_path_factory.mktemp("verify")
    script = tmp / "rules.py"
    script.write_text(RULE_MODEL)
    args = ["run", "-m", f"cmd:{sys.executable} {script}?jsonl=true&name=rules", "--limit",
            "24", "--resamples", "200", "-o", str(tmp / "results"), "--run-id", "clean",
            "--no-cache"]
    for task in TASKS:
        args += ["-t", task]
    assert main(args) == 0
    return tmp / "results" / "clean"


@pytest.fixture
def run_copy(clean_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(clean_run, copy, ignore=shutil.ignore_patterns(".evalsuite.lock"))
    return copy


def doc(run):
    return json.loads((run / "results.json").read_text())


def save(run, data):
    (run / "results.json").write_text(json.dumps(data, indent=2))


def rows(run, record):
    path = run / record["predictions_file"]
    return path, [json.loads(line) for line in path.read_text().splitlines()]


def write_rows(path, items):
    path.write_text("".join(json.dumps(r) + "\n" for r in items))


def test_a_clean_run_verifies_every_metric_of_every_family(clean_run, capsys):
    code, out, err = cli(capsys, "verify", clean_run)
    assert code == 0, out + err
    records = doc(clean_run)["records"]
    assert [r["status"] for r in records] == ["ok"] * 6
    metrics = sum(len(r["metrics"]) for r in records)
    assert f"ok: {3 * metrics} figures of 6 records checked" in out  # value + 2 bounds each


@pytest.mark.parametrize(("task", "metric", "bound"), [
    ("sentiment/starter", "accuracy", "value"), ("ner/starter", "f1", "ci_high"),
    ("translation/starter-en-de", "bleu", "value"), ("qa/starter", "f1", "ci_low"),
    ("similarity/starter", "spearman", "value"), ("summarization/starter", "rougeL", "value")])
def test_an_edited_figure_is_named(run_copy, capsys, task, metric, bound):
    data = doc(run_copy)
    record = next(r for r in data["records"] if r["task"] == task)
    record["metrics"][metric][bound] += 0.01 if record["metrics"][metric]["scale"] == "0-1" \
        else 1.0
    save(run_copy, data)
    code, out, _ = cli(capsys, "verify", run_copy)
    assert code == 1
    assert f"MISMATCH rules · {task}: {task}.metrics.{metric}.{bound}: results.json says" \
        in out and "FAILED" in out


def test_edited_statistics_or_scores_are_caught(run_copy, capsys):
    record = doc(run_copy)["records"][0]
    path, items = rows(run_copy, record)
    stats = items[0]["stats"]["accuracy"]
    stats[0] = 1.0 - stats[0]  # this example now counts as right (or wrong)
    write_rows(path, items)
    code, out, _ = cli(capsys, "verify", run_copy)
    assert code == 1 and "changed after the run wrote it" in out
    assert "sentiment/starter.metrics.accuracy.value: results.json says" in out

    items[0]["score"] = 0.5  # a score no statistic gives
    write_rows(path, items)
    code, out, _ = cli(capsys, "verify", run_copy, "--no-intervals")
    assert code == 1 and f"example {items[0]['id']!r}: score 0.5 in the predictions file" in out


def test_an_edited_prediction_alone_is_caught_by_the_checksum(run_copy, capsys):
    record = doc(run_copy)["records"][2]
    path, items = rows(run_copy, record)
    items[3]["prediction"] = "something else entirely"
    write_rows(path, items)
    code, out, _ = cli(capsys, "verify", run_copy)
    assert code == 1
    assert f"predictions file {record['predictions_file']} changed after the run wrote it" in out


@pytest.mark.parametrize("damage", ["delete", "no_stats", "drop_rows", "no_file_field"])
def test_figures_that_cannot_be_checked_fail_verification(run_copy, capsys, damage):
    data = doc(run_copy)
    record = data["records"][1]
    path, items = rows(run_copy, record)
    if damage == "delete":
        path.unlink()
    elif damage == "no_stats":
        write_rows(path, [{k: v for k, v in r.items() if k != "stats"} for r in items])
    elif damage == "drop_rows":
        write_rows(path, items[:-2])
    else:
        del record["predictions_file"]
        save(run_copy, data)
    code, out, _ = cli(capsys, "verify", run_copy)
    assert code == 1 and "ner/starter" in out
    assert {"delete": "is missing", "no_stats": "has no statistics for",
            "drop_rows": "ner/starter.n_examples", "no_file_field": "no predictions file"
            }[damage] in out


def test_the_gate_refuses_an_edited_run_before_its_rules(run_copy, clean_run, capsys,
                                                          tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  - {figure: 'sentiment/starter.metrics.accuracy.value', "
                      "op: '>=', threshold: 0.99}\n")
    code, out, _ = cli(capsys, "gate", clean_run, "--policy", policy)
    assert code == 1 and "gate FAILED" in out  # the honest figure fails the rule
    data = doc(run_copy)
    data["records"][0]["metrics"]["accuracy"]["value"] = 1.0  # "fixed" by hand
    save(run_copy, data)
    code, out, err = cli(capsys, "gate", run_copy, "--policy", policy, "--junit",
                         tmp_path / "j.xml")
    line = error_line(err)
    assert code == 1 and "not trusted" in line
    assert "sentiment/starter.metrics.accuracy.value: results.json says 1.0" in line
    assert not (tmp_path / "j.xml").exists() and "gate PASSED" not in out
    code, out, _ = cli(capsys, "gate", run_copy, "--policy", policy, "--no-verify")
    assert code == 0 and "gate PASSED" in out  # what the edit would have bought


def test_a_baseline_is_verified_too(run_copy, clean_run, capsys, tmp_path):
    data = doc(run_copy)
    data["records"][0]["metrics"]["accuracy"]["value"] = 0.0  # makes any candidate look good
    save(run_copy, data)
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  - {kind: regression, figure: '*.metrics.accuracy.value', "
                      "max_drop: 0}\n")
    code, _, err = cli(capsys, "gate", clean_run, "--policy", policy, "--baseline", run_copy)
    assert code == 1 and str(run_copy) in error_line(err)


def test_intervals_are_skipped_with_a_note_under_another_numpy(run_copy, capsys):
    data = doc(run_copy)
    data["run"]["packages"]["numpy"] = "0.0.1"
    data["records"][0]["metrics"]["accuracy"]["ci_low"] = 0.0  # not compared now
    save(run_copy, data)
    code, _, err = cli(capsys, "verify", run_copy)
    assert code == 0 and "intervals not recomputed: NumPy" in err
    code, _, _ = cli(capsys, "verify", run_copy, "--no-intervals")
    assert code == 0


def test_a_run_still_being_written_is_not_gated_and_a_killed_one_reads_interrupted(
        run_copy, capsys, tmp_path):
    from evalsuite.results.files import load_results
    from evalsuite.results.lock import RunLock

    data = doc(run_copy)
    data["run"]["status"] = "running"  # what a SIGKILL leaves behind
    save(run_copy, data)
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  - {figure: 'sentiment/starter.metrics.accuracy.value', "
                      "op: '>=', threshold: 0}\n")
    lock = RunLock(run_copy)  # a live run holds the folder
    try:
        assert load_results(run_copy).run.status == "running"
        code, out, err = cli(capsys, "gate", run_copy, "--policy", policy)
        assert code == 2 and "still being written" in error_line(err)
        assert "gate PASSED" not in out
    finally:
        lock.release()
    assert load_results(run_copy).run.status == "interrupted"  # nobody holds it: killed
    code, out, _ = cli(capsys, "gate", run_copy, "--policy", policy)
    assert code == 0 and "gate PASSED" in out


def test_a_record_repeated_by_hand_is_refused(tmp_path, capsys):
    """A results file with the same (model, task) twice (hand-merged runs) would count twice
    in the report, the gate and an export: refused at load, naming both records."""
    from tests.faults.helpers import cli, one_error_line, small_run

    run = small_run(tmp_path, capsys)
    doc = json.loads((run / "results.json").read_text(encoding="utf-8"))
    doc["records"] = doc["records"] * 2
    (run / "results.json").write_text(json.dumps(doc), encoding="utf-8")
    for args in (("verify", run), ("compare", run), ("export", run, "--to", "model-index",
                                                      "-m", doc["records"][0]["model"])):
        code, _, err = cli(capsys, *args)
        assert code == 2
        assert "records 0 and 1 are both" in one_error_line(err)
