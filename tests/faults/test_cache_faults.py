"""The prediction cache is damaged: the run survives and never scores a bad row.

A file that is not a readable SQLite database is moved aside (the warning says where) and a
fresh cache is used; an undecodable row, a row whose stored scope/example id differ from its
request, or a cached prediction the task cannot accept (a label outside the card's set) is
predicted again, never scored; the record counts them in ``cache.rejected``.
"""

from __future__ import annotations

import json
import os
import sqlite3

import pytest

from evalsuite.runner.cache import CacheKey, PredictionCache
from tests.faults.helpers import cli, predictions_file, results, sentiment_rows, write_card


@pytest.fixture
def task(tmp_path):
    rows = sentiment_rows(12)
    write_card(tmp_path / "tasks", rows=rows)
    return rows, f"predictions:{predictions_file(tmp_path / 'preds.jsonl', rows)}"


def run_args(tmp_path, spec, run_id):
    return ("run", "-m", spec, "-t", "t/sent", "--tasks-dir", tmp_path / "tasks", "-o",
            tmp_path / "results", "--run-id", run_id, "--resamples", "20", "--cache",
            tmp_path / "cache.sqlite")


def record(tmp_path, run_id):
    return results(tmp_path / "results" / run_id)["records"][0]


def test_a_file_that_is_not_a_database_is_moved_aside(tmp_path, capsys, task):
    _, spec = task
    junk = b"this is not SQLite\n" * 200
    (tmp_path / "cache.sqlite").write_bytes(junk)
    code, _, err = cli(capsys, *run_args(tmp_path, spec, "a"))
    assert code == 0, err
    moved = sorted(tmp_path.glob("cache.sqlite.corrupt-*"))
    assert len(moved) == 1 and moved[0].read_bytes() == junk
    note = " ".join(err.split())
    assert f"warning: prediction cache {tmp_path / 'cache.sqlite'} is not a readable SQLite " \
           f"database" in note and f"moved it to {moved[0]}" in note
    assert record(tmp_path, "a")["cache"] == {"hits": 0, "computed": 12}
    code, _, _ = cli(capsys, *run_args(tmp_path, spec, "b"))  # the fresh cache works
    assert code == 0 and record(tmp_path, "b")["cache"] == {"hits": 12, "computed": 0}


def test_a_truncated_database_is_moved_aside_and_recomputed(tmp_path, capsys):
    rows = sentiment_rows(3000)  # enough rows for a database of many pages
    write_card(tmp_path / "tasks", rows=rows)
    spec = f"predictions:{predictions_file(tmp_path / 'preds.jsonl', rows)}"
    assert cli(capsys, *run_args(tmp_path, spec, "a"))[0] == 0
    path = tmp_path / "cache.sqlite"
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 3] + b"\x00" * 4096 + data[len(data) // 3 + 4096:])
    code, _, err = cli(capsys, *run_args(tmp_path, spec, "b"))
    assert code == 0, err
    assert "warning: prediction cache" in err and "moved it to" in err
    assert len(list(tmp_path.glob("cache.sqlite.corrupt-*"))) == 1
    rec = record(tmp_path, "b")
    assert rec["status"] == "ok" and rec["metrics"]["accuracy"]["value"] == 1.0


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_cache_file_is_moved_aside(tmp_path, capsys, task):
    _, spec = task
    path = tmp_path / "cache.sqlite"
    assert cli(capsys, *run_args(tmp_path, spec, "a"))[0] == 0
    path.chmod(0)
    code, _, err = cli(capsys, *run_args(tmp_path, spec, "b"))
    assert code == 0 and "cannot be read" in err
    assert record(tmp_path, "b")["cache"]["computed"] == 12


def damage(path, sql, *params):
    db = sqlite3.connect(path)
    changed = db.execute(sql, params).rowcount
    db.commit()
    db.close()
    assert changed >= 1


@pytest.mark.parametrize(("what", "sql", "params"), [
    ("undecodable row", "UPDATE predictions SET output = ? WHERE example = ?",
     ("{not json", "e3")),
    ("label outside the card's set", "UPDATE predictions SET output = ? WHERE example = ?",
     ('"neutral"', "e3")),
    ("a label the card has, of the wrong type", "UPDATE predictions SET output = ? "
     "WHERE example = ?", ("1", "e3")),
    ("stored example id differs", "UPDATE predictions SET example = ? WHERE example = ?",
     ("e4", "e3")),
    ("stored scope differs", "UPDATE predictions SET scope = ? WHERE example = ?",
     ("another model", "e3")),
])
def test_a_bad_row_is_recomputed_not_scored(tmp_path, capsys, task, what, sql, params):
    rows, spec = task
    assert cli(capsys, *run_args(tmp_path, spec, "a"))[0] == 0
    damage(tmp_path / "cache.sqlite", sql, *params)
    code, _, err = cli(capsys, *run_args(tmp_path, spec, "b"))
    assert code == 0, err
    rec = record(tmp_path, "b")
    assert rec["cache"] == {"hits": 11, "computed": 1, "rejected": 1}, what
    assert rec["metrics"]["accuracy"]["value"] == 1.0  # the damaged row was never scored
    preds = {json.loads(line)["id"]: json.loads(line)["prediction"]
             for line in (tmp_path / "results" / "b" / rec["predictions_file"]).open()}
    assert preds["e3"] == rows[3]["label"]
    assert record(tmp_path, "a")["metrics"] == rec["metrics"]


def test_a_cache_from_before_key_fields_is_upgraded_and_recomputed(tmp_path, capsys, task):
    _, spec = task
    db = sqlite3.connect(tmp_path / "cache.sqlite")
    db.execute("CREATE TABLE predictions (key TEXT PRIMARY KEY, output TEXT, created REAL)")
    db.execute("CREATE TABLE efficiency (key TEXT PRIMARY KEY, block TEXT, created REAL)")
    db.commit()
    db.close()
    assert cli(capsys, *run_args(tmp_path, spec, "a"))[0] == 0
    db = sqlite3.connect(tmp_path / "cache.sqlite")
    db.execute("UPDATE predictions SET scope = NULL, example = NULL")  # as old rows are
    db.commit()
    db.close()
    assert cli(capsys, *run_args(tmp_path, spec, "b"))[0] == 0
    assert record(tmp_path, "b")["cache"] == {"hits": 0, "computed": 12, "rejected": 12}
    assert cli(capsys, *run_args(tmp_path, spec, "c"))[0] == 0  # rewritten with key fields
    assert record(tmp_path, "c")["cache"] == {"hits": 12, "computed": 0}


def test_a_database_that_turns_out_corrupt_mid_run_is_replaced(tmp_path):
    notes = []
    path = tmp_path / "cache.sqlite"
    cache = PredictionCache(path, warn=notes.append)
    keys = [CacheKey(f"k{i:04d}", "scope", f"e{i}") for i in range(2000)]
    cache.put_many((k, {"text": "x" * 200}) for k in keys)
    cache.close()
    cache = PredictionCache(path, warn=notes.append)
    assert len(cache.get_many(keys[:10])) == 10
    with open(path, "r+b") as fh:  # damage it under the open connection
        fh.seek(8192)
        fh.write(b"\xff" * 65536)
    found = cache.get_many(keys)
    assert found == {} and len(notes) == 1 and "turned out corrupt" in notes[0]
    assert cache.moved_to and cache.moved_to[0].exists()
    cache.put_many([(keys[0], "fresh")])  # the fresh cache takes writes
    assert cache.get_many(keys[:1]) == {keys[0]: "fresh"}
    cache.close()


def test_an_undecodable_efficiency_block_is_ignored(tmp_path):
    cache = PredictionCache(tmp_path / "cache.sqlite")
    cache.put_efficiency("scope", {"examples_per_s": 3.0})
    damage(tmp_path / "cache.sqlite", "UPDATE efficiency SET block = '{oops'")
    assert cache.get_efficiency("scope") is None and cache.rejected == 1
    cache.close()
