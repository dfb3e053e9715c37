"""Runs started at the same moment, as real processes.

Two runs with the same ``--run-id``: exactly one gets the folder, the other exits 2 (the
folder is made with an atomic ``mkdir``).  A ``--resume`` of a folder another run is still
writing exits 2 (the folder's lock).  Runs without ``--run-id`` started in the same second get
folders of their own.  Runs sharing one prediction cache all finish with correct figures.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time

from tests.faults.helpers import (
    cli,
    evalsuite_cmd,
    one_error_line,
    results,
    sentiment_rows,
    subprocess_env,
    write_card,
)

SLOW_MODEL = """\
import os, sys, time
lines = sys.stdin.read().splitlines()
time.sleep(float(sys.argv[1]))
gate = os.environ.get("SLOW_MODEL_GATE")  # a file to wait for, so runs overlap for sure
while gate and not os.path.exists(gate):
    time.sleep(0.05)
for line in lines:
    print("positive" if any(w in line for w in ("good", "great", "love")) else "negative")
"""


def setup(tmp_path, n=24, delay=0.2):
    write_card(tmp_path / "tasks", rows=sentiment_rows(n))
    script = tmp_path / "slow.py"
    script.write_text(SLOW_MODEL)
    return f"cmd:{sys.executable} {script} {delay}?batch_size=4"


def launch(tmp_path, model, *extra, gate=None):
    env = subprocess_env(tmp_path, **({"SLOW_MODEL_GATE": str(gate)} if gate else {}))
    return subprocess.Popen(
        evalsuite_cmd("run", "-m", model, "-t", "t/sent", "--tasks-dir", tmp_path / "tasks",
                      "-o", tmp_path / "results", "--resamples", "20", *extra),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(procs):
    return [(p, *p.communicate(timeout=180)) for p in procs]


def test_two_runs_with_the_same_run_id_one_wins_the_other_exits_2(tmp_path):
    model = setup(tmp_path)
    done = finish([launch(tmp_path, model, "--run-id", "same") for _ in range(2)])
    codes = sorted(p.returncode for p, _, _ in done)
    assert codes == [0, 2], [err for _, _, err in done]
    loser = next(err for p, _, err in done if p.returncode == 2)
    line = one_error_line(loser)
    assert "--run-id" in line and "same" in line
    assert "exists already" in line or "being written by another evalsuite run" in line
    doc = results(tmp_path / "results" / "same")
    assert doc["run"]["status"] == "finished" and len(doc["records"]) == 1
    assert doc["records"][0]["metrics"]["accuracy"]["value"] == 1.0


def test_resuming_a_folder_another_run_is_writing_exits_2(tmp_path):
    model = setup(tmp_path, delay=0)
    gate = tmp_path / "go"
    first = launch(tmp_path, model, "--run-id", "busy", gate=gate)  # waits for the gate
    folder = tmp_path / "results" / "busy" / "results.json"
    deadline = time.time() + 120
    while not folder.exists() and time.time() < deadline:
        time.sleep(0.05)
    second = subprocess.run(
        evalsuite_cmd("run", "-m", model, "-t", "t/sent", "--tasks-dir", tmp_path / "tasks",
                      "--resume", tmp_path / "results" / "busy"),
        env=subprocess_env(tmp_path), capture_output=True, text=True, timeout=120)
    gate.touch()
    ((proc, _, err),) = finish([first])
    assert proc.returncode == 0, err
    line = one_error_line(second.stderr)
    assert second.returncode == 2
    assert f"run folder {tmp_path / 'results' / 'busy'} is being written by another " \
           f"evalsuite run (process {proc.pid})" in line
    assert results(tmp_path / "results" / "busy")["run"]["status"] == "finished"


def test_runs_without_a_run_id_in_the_same_second_get_their_own_folders(tmp_path):
    model = setup(tmp_path, delay=0.05)
    done = finish([launch(tmp_path, model) for _ in range(2)])
    assert [p.returncode for p, _, _ in done] == [0, 0], [e for _, _, e in done]
    folders = sorted((tmp_path / "results").iterdir())
    assert len(folders) == 2
    assert all(results(f)["run"]["status"] == "finished" for f in folders)


def test_runs_sharing_one_cache_keep_working(tmp_path, capsys):
    model = setup(tmp_path, n=40, delay=0.1)
    cache = tmp_path / "shared.sqlite"
    done = finish([launch(tmp_path, model, "--run-id", f"r{i}", "--cache", cache)
                   for i in range(2)])
    assert [p.returncode for p, _, _ in done] == [0, 0], [e for _, _, e in done]
    for i in range(2):
        (record,) = results(tmp_path / "results" / f"r{i}")["records"]
        assert record["status"] == "ok" and record["metrics"]["accuracy"]["value"] == 1.0
    db = sqlite3.connect(cache)
    assert db.execute("SELECT count(*), count(DISTINCT key) FROM predictions").fetchone() \
        == (40, 40)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    code, _, err = cli(capsys, "run", "-m", model, "-t", "t/sent", "--tasks-dir",
                       tmp_path / "tasks", "-o", tmp_path / "results", "--run-id", "r3",
                       "--cache", cache)
    assert code == 0, err
    (record,) = results(tmp_path / "results" / "r3")["records"]
    assert record["cache"] == {"hits": 40, "computed": 0}
