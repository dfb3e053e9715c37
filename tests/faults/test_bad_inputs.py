"""Bad input files are user errors: exit 2 and one line naming the file and the problem.

Empty data, bytes that are not UTF-8 (offset and line named), gold scores that are not
finite numbers, repeated example ids (refused unless the card says ``dedupe:``), predictions
files with ids the task does not have, null or non-text outputs of generative families, and
inputs too large to read (``/dev/zero`` included).
"""

from __future__ import annotations

import json
import textwrap

import pytest

from tests.conftest import write_jsonl
from tests.faults.helpers import (
    cli,
    one_error_line,
    only_run,
    predictions_file,
    results,
    sentiment_rows,
    write_card,
)


def run_args(tmp_path, spec, *extra):
    return ("run", "-m", spec, "-t", "t/sent", "--tasks-dir", tmp_path / "tasks",
            "-o", tmp_path / "results", "--resamples", "20", *extra)


def fixed(tmp_path, rows=None, **options):
    rows = rows or sentiment_rows()
    path = predictions_file(tmp_path / "preds.jsonl", rows)
    query = "&".join(f"{k}={v}" for k, v in options.items())
    return f"predictions:{path}" + (f"?{query}" if query else "")


# -- empty data ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name, content", [("d.jsonl", ""), ("d.jsonl", "\n\n"),
                                           ("d.csv", "id,text,label\n")])
def test_an_empty_dataset_is_refused_naming_the_card(tmp_path, capsys, name, content):
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / name).write_text(content, encoding="utf-8")
    card = write_card(tasks, data=name, rows=None)
    code, _, err = cli(capsys, *run_args(tmp_path, fixed(tmp_path)))
    line = one_error_line(err)
    assert code == 2 and str(card) in line and ("no examples" in line or "empty" in line)
    assert not (tmp_path / "results").exists()  # refused before any folder


# -- encodings ----------------------------------------------------------------------------------
def test_a_card_that_is_not_utf8_names_offset_and_line(tmp_path, capsys):
    tasks = tmp_path / "tasks"
    card = write_card(tasks)
    text = card.read_bytes().replace(b"labels:", b"# caf\xe9\nlabels:")
    card.write_bytes(text)
    offset = text.index(b"\xe9")
    line_no = text[:offset].count(b"\n") + 1
    code, _, err = cli(capsys, "tasks", "--tasks-dir", tasks)
    line = one_error_line(err)
    assert code == 2 and str(card) in line
    assert f"byte 0xe9 at offset {offset} (line {line_no})" in line


@pytest.mark.parametrize("suffix", ["jsonl", "csv"])
def test_a_data_file_that_is_not_utf8_names_offset_and_line(tmp_path, capsys, suffix):
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    if suffix == "jsonl":
        body = b"".join(json.dumps(r).encode() + b"\n" for r in sentiment_rows(5))
        body += b'{"id": "x", "text": "na\xefve", "label": "positive"}\n'
    else:
        body = b"id,text,label\n" + b"a,good,positive\n" * 300 + b"b,caf\xe9,negative\n"
    (tasks / f"d.{suffix}").write_bytes(body)
    write_card(tasks, data=f"d.{suffix}", rows=None)
    offset = body.index(b"\xe9" if suffix == "csv" else b"\xef")
    code, _, err = cli(capsys, *run_args(tmp_path, fixed(tmp_path)))
    line = one_error_line(err)
    assert code == 2 and f"d.{suffix}" in line
    line_no = body[:offset].count(b"\n") + 1
    assert f"at offset {offset} (line {line_no})" in line


def test_a_character_split_across_read_blocks_is_valid(tmp_path):
    from evalsuite.inputs import check_utf8_file

    path = tmp_path / "d.jsonl"
    path.write_bytes(b"a" * ((1 << 20) - 1) + "é".encode() + b"\n")  # é spans the boundary
    assert check_utf8_file(path) is None
    path.write_bytes(b"a" * ((1 << 20) - 1) + b"\xc3")  # truncated at the end of the file
    assert check_utf8_file(path) == ("not valid UTF-8: byte 0xc3 (a truncated character) at "
                                     "offset 1048575 (line 1)")


def test_batch_file_and_policy_that_are_not_utf8(tmp_path, capsys):
    batch = tmp_path / "batch.yaml"
    batch.write_bytes(b"models: []\n# \xff\n")
    code, _, err = cli(capsys, "run", batch)
    assert code == 2 and "byte 0xff at offset 13 (line 2)" in one_error_line(err)
    policy = tmp_path / "policy.yaml"
    policy.write_bytes(b"rules:\n  - {figure: '*.metrics.accuracy.value', op: '>', "
                       b"threshold: 0.5, name: \xfe}\n")
    code, _, err = cli(capsys, "gate", tmp_path, "--policy", policy)
    assert code == 2 and "policy.yaml" in one_error_line(err) and "0xfe" in err


# -- gold scores ------------------------------------------------------------------------------
@pytest.mark.parametrize("score", ["nan", "inf", "-Infinity", "high", None])
def test_a_gold_score_that_is_not_a_finite_number_is_refused_at_load(tmp_path, capsys, score):
    tasks = tmp_path / "tasks"
    rows = [{"id": f"p{i}", "s1": f"a {i}", "s2": f"b {i}", "score": float(i)}
            for i in range(5)]
    rows[3]["score"] = score
    write_jsonl(tasks / "d.jsonl", rows)
    (tasks / "card.yaml").write_text(textwrap.dedent("""\
        name: t/sim
        family: similarity
        dataset: {path: d.jsonl}
        columns: {sentence1: s1, sentence2: s2}
        metrics: [pearson]
        """))
    preds = write_jsonl(tmp_path / "p.jsonl", [{"id": r["id"], "score": 1.0} for r in rows])
    code, _, err = cli(capsys, "run", "-m", f"predictions:{preds}", "-t", "t/sim",
                       "--tasks-dir", tasks, "-o", tmp_path / "results")
    line = one_error_line(err)
    assert code == 2 and "card.yaml: example p3: gold score" in line
    assert "not a finite number" in line


# -- duplicate ids ----------------------------------------------------------------------------
def test_duplicate_ids_are_refused_unless_the_card_says_dedupe(tmp_path, capsys):
    tasks = tmp_path / "tasks"
    rows = sentiment_rows(6)
    rows[4]["id"] = "e1"  # a second e1, with another text
    write_card(tasks, rows=rows)
    code, _, err = cli(capsys, *run_args(tmp_path, fixed(tmp_path, rows)))
    line = one_error_line(err)
    assert code == 2 and "example id 'e1' appears more than once (rows 2 and 5)" in line
    assert "dedupe: first" in line and not (tmp_path / "results").exists()

    from evalsuite.tasks.cards import load_card
    from evalsuite.tasks.data import load_task_data

    for rule, ids in (("first", ["e0", "e1", "e2", "e3", "e5"]),
                      ("suffix", ["e0", "e1", "e2", "e3", "e1#1", "e5"])):
        card = load_card(write_card(tasks, rows=rows, extra=f"dedupe: {rule}\n"))
        data = load_task_data(card)
        assert [e["id"] for e in data.examples] == ids
        assert data.info["duplicate_ids"] == {"rows": 1, "dedupe": rule}


def test_the_dedupe_field_leaves_existing_card_hashes_alone(tmp_path):
    from evalsuite.tasks.cards import load_card

    card = load_card(write_card(tmp_path / "tasks"))
    assert "dedupe" not in card.model_dump(mode="json", exclude={"dedupe"})
    with_rule = load_card(write_card(tmp_path / "tasks", extra="dedupe: first\n"))
    assert card.content_hash != with_rule.content_hash
    import hashlib

    legacy = json.dumps(card.model_dump(mode="json", exclude={"dedupe", "resource_level"}),
                        sort_keys=True)  # resource_level: a report label, never hashed
    assert card.content_hash == hashlib.sha256(legacy.encode()).hexdigest()[:12]


# -- predictions files ------------------------------------------------------------------------
def test_predictions_with_unknown_ids_warn_with_count_and_first_ids(tmp_path, capsys):
    rows = sentiment_rows(12)
    write_card(tmp_path / "tasks", rows=rows)
    extra = [{"id": f"zz{i}", "prediction": "positive"} for i in range(7)]
    path = write_jsonl(tmp_path / "preds.jsonl",
                       [{"id": r["id"], "prediction": r["label"]} for r in rows] + extra)
    code, _, err = cli(capsys, *run_args(tmp_path, f"predictions:{path}"))
    assert code == 0, err
    assert "7 of 19 ids are not examples of t/sent (first: 'zz0', 'zz1', 'zz2', 'zz3', " \
           "'zz4')" in " ".join(err.split())
    record = results(only_run(tmp_path / "results"))["records"][0]
    assert record["status"] == "ok" and "7 of 19 ids" in record["warnings"][0]

    # --limit selects rows but the ids of the rows left out are still the task's
    code, _, err = cli(capsys, *run_args(tmp_path, f"predictions:{path}", "--limit", "3"))
    assert code == 0 and "7 of 19 ids" in " ".join(err.split()) and "e11" not in err

    before = set((tmp_path / "results").iterdir())
    code, _, err = cli(capsys, *run_args(tmp_path, f"predictions:{path}?unknown_ids=error"))
    line = one_error_line(err)
    assert code == 2 and str(path) in line and "7 of 19 ids are not examples" in line
    (run_dir,) = set((tmp_path / "results").iterdir()) - before
    assert results(run_dir)["run"]["status"] == "failed"  # never left 'running'


@pytest.mark.parametrize("family_value", [None, 17, ["a", "b"]])
def test_null_or_non_text_outputs_of_generative_families_name_the_example(
        tmp_path, capsys, family_value):
    tasks = tmp_path / "tasks"
    rows = [{"id": f"s{i}", "source": f"hello {i}", "ref": f"hola {i}"} for i in range(4)]
    write_jsonl(tasks / "d.jsonl", rows)
    (tasks / "card.yaml").write_text(textwrap.dedent("""\
        name: t/mt
        family: translation
        dataset: {path: d.jsonl}
        columns: {references: ref}
        source_lang: en
        target_lang: es
        metrics: [bleu]
        """))
    preds = [{"id": r["id"], "prediction": r["ref"]} for r in rows]
    preds[2]["prediction"] = family_value
    path = write_jsonl(tmp_path / "p.jsonl", preds)
    code, _, _err = cli(capsys, "run", "-m", f"predictions:{path}", "-t", "t/mt",
                       "--tasks-dir", tasks, "-o", tmp_path / "results")
    assert code == 1
    record = results(only_run(tmp_path / "results"))["records"][0]
    assert record["status"] == "failed"
    assert "id 's2'" in record["reason"] and "expected text, got" in record["reason"]


def test_a_command_writing_null_for_text_fails_the_task_naming_the_example(tmp_path, capsys):
    import sys

    rows = sentiment_rows(4)
    write_card(tmp_path / "tasks", rows=rows)
    script = tmp_path / "model.py"
    script.write_text("import sys, json\n"
                      "for line in sys.stdin:\n"
                      "    ex = json.loads(line)\n"
                      "    print(json.dumps({'prediction': None if ex['id'] == 'e2' "
                      "else 'positive'}))\n")
    code, _, _err = cli(capsys, *run_args(tmp_path, f"cmd:{sys.executable} {script}?jsonl=true"))
    assert code == 1
    record = results(only_run(tmp_path / "results"))["records"][0]
    assert record["status"] == "failed" and "'e2'" in record["reason"]


# -- size limits --------------------------------------------------------------------------------
def test_a_predictions_file_over_the_size_limit_is_refused(tmp_path, capsys, monkeypatch):
    rows = sentiment_rows(200)
    write_card(tmp_path / "tasks", rows=rows)
    path = predictions_file(tmp_path / "preds.jsonl", rows)
    monkeypatch.setenv("EVALSUITE_MAX_INPUT_MB", "0.001")  # 1 KB
    code, _, err = cli(capsys, *run_args(tmp_path, f"predictions:{path}"))
    line = one_error_line(err)
    assert code == 2 and str(path) in line
    assert "larger than the limit of 1,048 bytes (set EVALSUITE_MAX_INPUT_MB to raise it)" in line


@pytest.mark.parametrize("kind", ["predictions", "card", "batch"])
def test_dev_zero_is_refused_without_eating_memory(tmp_path, capsys, kind):
    import resource

    write_card(tmp_path / "tasks")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if kind == "predictions":
        code, _, err = cli(capsys, *run_args(tmp_path, "predictions:/dev/zero"))
        assert "line 1 is longer than 64 MB" in one_error_line(err)
    elif kind == "card":
        code, _, err = cli(capsys, "run", "-m", "baseline:vader", "-t", "/dev/zero.yaml",
                           "-o", tmp_path / "results")
        assert code == 2  # not a file: an unknown task, said in one line
        one_error_line(err)
        from evalsuite.inputs import read_text

        with pytest.raises(Exception, match="larger than the limit of 16 MB"):
            read_text("/dev/zero")
    else:
        code, _, err = cli(capsys, "run", "/dev/zero")
        assert "larger than the limit of 16 MB" in one_error_line(err)
    assert code == 2
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 400  # bounded by the caps, never the size of the input


def test_a_yaml_alias_bomb_is_refused(tmp_path, capsys):
    tasks = tmp_path / "tasks"
    card = write_card(tasks)
    bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    bomb += [f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]"
             for p, c in zip("abcdefgh", "bcdefghi", strict=True)]
    card.write_text(card.read_text() + "options:\n" + textwrap.indent("\n".join(bomb), "  "))
    code, _, err = cli(capsys, "tasks", "--tasks-dir", tasks)
    line = one_error_line(err)
    assert code == 2 and str(card) in line and "aliases expand" in line


def test_resuming_a_folder_whose_results_file_is_broken_is_exit_2(tmp_path, capsys):
    write_card(tmp_path / "tasks")
    run_dir = tmp_path / "results" / "broken"
    run_dir.mkdir(parents=True)
    (run_dir / "results.json").write_text('{"schema_version": "1.0", "run": {', "utf-8")
    code, _, err = cli(capsys, *run_args(tmp_path, fixed(tmp_path), "--resume", run_dir))
    line = one_error_line(err)
    assert code == 2 and "results.json" in line and "not valid JSON" in line


@pytest.mark.parametrize("run_id", ["../escaped", "/tmp/abs-run", "a/b", ".", "..", ""])
def test_a_run_id_that_is_not_one_folder_name_is_refused(tmp_path, capsys, run_id):
    """--run-id (or a batch file's run_id) cannot put the run folder outside --output."""
    rows = sentiment_rows(4)
    write_card(tmp_path / "tasks", rows=rows)
    preds = predictions_file(tmp_path / "p.jsonl", rows)
    out = tmp_path / "deep" / "out"
    code, _, err = cli(capsys, "run", "-m", f"predictions:{preds}", "-t", "t/sent",
                       "--tasks-dir", tmp_path / "tasks", "-o", out, "--run-id", run_id)
    assert code == 2
    assert one_error_line(err).startswith("error: --run-id: must be")
    assert not (tmp_path / "deep").exists() or not any(out.iterdir())
    assert not (tmp_path / "escaped").exists()


@pytest.mark.parametrize("value,ok", [("[1, 2]", False), ("{a: 1}", False), ("../x", False),
                                      ("2024", True)])
def test_a_batch_files_run_id_must_be_a_folder_name(tmp_path, capsys, value, ok):
    rows = sentiment_rows(4)
    write_card(tmp_path / "tasks", rows=rows)
    preds = predictions_file(tmp_path / "p.jsonl", rows)
    batch = tmp_path / "batch.yaml"
    batch.write_text(f"output: {tmp_path / 'out'}\ntasks_dirs: [tasks]\ntasks: [t/sent]\n"
                     f"resamples: 10\nrun_id: {value}\nmodels:\n  - spec: predictions:{preds}\n",
                     encoding="utf-8")
    code, _, err = cli(capsys, "run", batch)
    if ok:
        assert code == 0, err
        assert (tmp_path / "out" / value / "results.json").is_file()
    else:
        assert code == 2
        assert f"{batch}: field 'run_id': must be" in one_error_line(err)


def test_a_named_pipe_in_a_card_folder_is_refused_not_waited_on(tmp_path):
    """Reading a FIFO blocks until someone writes to it: card discovery must not hang on
    one (a real process with a deadline, since a hang is what is tested)."""
    import os

    from tests.faults.helpers import run_cli

    write_card(tmp_path / "tasks")
    os.mkfifo(tmp_path / "tasks" / "pipe.yaml")
    done = run_cli(tmp_path, "list", "tasks", "--tasks-dir", tmp_path / "tasks", timeout=60)
    assert done.returncode == 2
    line = one_error_line(done.stderr)
    assert "pipe.yaml" in line and "not a regular file" in line


def test_few_shot_sources_that_are_wrong_are_refused_naming_the_field(tmp_path, capsys):
    """``shots_split`` naming a data file that is not there names ``shots_split`` (not the
    dataset's path); a ``shots_file`` line that is not a JSON object names the file and line
    (exit 2, not a task failing with a TypeError)."""
    from tests.openai_stub_server import StubServer

    rows = sentiment_rows(6)
    write_card(tmp_path / "a", rows=rows, extra="shots: 2\nshots_split: nope.jsonl\n")
    write_card(tmp_path / "b", name="t/b", rows=rows, extra="shots: 1\n")
    (tmp_path / "shots.jsonl").write_text('5\n{"text": "x", "label": "positive"}\n')
    with StubServer(lifetime_s=60) as server:
        spec = f"http:{server.url}?model=stub"
        code, _, err = cli(capsys, "run", "-m", spec, "-t", "t/sent", "--tasks-dir",
                           tmp_path / "a", "-o", tmp_path / "out", "--no-cache")
        assert code == 2
        line = one_error_line(err)
        assert "card.yaml: field 'shots_split': no such data file 'nope.jsonl'" in line
        code, _, err = cli(capsys, "run", "-m", f"{spec}&shots_file={tmp_path / 'shots.jsonl'}",
                           "-t", "t/b", "--tasks-dir", tmp_path / "b", "-o", tmp_path / "out",
                           "--no-cache")
    assert code == 2
    line = one_error_line(err)
    assert "option shots_file" in line and "line 1 is not a JSON object" in line


def test_a_policy_baseline_that_is_not_there_names_the_policy_field(tmp_path, capsys):
    from tests.faults.helpers import small_run

    run = small_run(tmp_path, capsys)
    policy = tmp_path / "policy.yaml"
    policy.write_text('version: 1\nbaseline: ../gone\nrules:\n  - {kind: regression, '
                      'figure: "t/sent.metrics.accuracy.value", max_drop: 0.1}\n')
    for args in (("gate", run), ("compare", run), ("report", run, "-o", tmp_path / "r.html")):
        code, _, err = cli(capsys, *args, "--policy", policy)
        assert code == 2
        assert one_error_line(err).startswith(f"error: {policy}: field 'baseline': no such "
                                              f"run folder")


@pytest.mark.parametrize("probes,expected", [
    ("robustness?nope=1", "no probe takes the option 'nope'"),
    ("all?budgt=10", "no probe takes the option 'budgt'"),
    ("bias?budget=abc", "must be a positive number of predictions per set, or 'full'"),
])
def test_a_probe_option_nobody_reads_is_refused_not_ignored(tmp_path, capsys, probes,
                                                            expected):
    rows = sentiment_rows(4)
    write_card(tmp_path / "tasks", rows=rows)
    preds = predictions_file(tmp_path / "p.jsonl", rows)
    code, _, err = cli(capsys, "run", "-m", f"predictions:{preds}", "-t", "t/sent",
                       "--tasks-dir", tmp_path / "tasks", "-o", tmp_path / "out",
                       "--probes", probes)
    assert code == 2
    assert expected in one_error_line(err)
    assert not (tmp_path / "out").exists()
