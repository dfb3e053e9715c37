"""Ctrl-C, SIGTERM and SIGKILL of a real ``evalsuite run``.

Ctrl-C and SIGTERM stop a run within seconds even with HTTP requests in flight or a command
mid-batch, kill what the run started, and leave ``run.status = interrupted`` with the resume
hint.  SIGKILL cannot be caught: the folder says ``running``, and ``--resume`` continues it at
once (the folder's lock died with the process).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from evalsuite.results.files import load_results
from tests.faults.helpers import (
    evalsuite_cmd,
    only_run,
    results,
    sentiment_rows,
    subprocess_env,
    write_card,
)
from tests.openai_stub_server import StubServer

STOP_WITHIN_S = 8  # "a few seconds", with room for a loaded CI machine
SLOW_MODEL = """\
import os, sys, time
open(sys.argv[1], "a").write(f"{os.getpid()}\\n")
lines = sys.stdin.read().splitlines()
time.sleep(float(sys.argv[2]))
for line in lines:
    print("positive" if "good" in line or "great" in line or "love" in line else "negative")
"""


def start(tmp_path, *args):
    return subprocess.Popen(evalsuite_cmd("run", *args, "-o", tmp_path / "results",
                                          "--resamples", "20"),
                            env=subprocess_env(tmp_path, NO_PROXY="127.0.0.1",
                                               no_proxy="127.0.0.1"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition, timeout=60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def stop(proc, sig):
    proc.send_signal(sig)
    sent = time.perf_counter()
    out, err = proc.communicate(timeout=60)
    return time.perf_counter() - sent, out, err


def test_ctrl_c_with_http_requests_in_flight_stops_within_seconds(tmp_path):
    with StubServer(lifetime_s=120) as stub:
        stub.behaviour.hang = True  # every request stays in flight
        proc = start(tmp_path, "-m", f"http:{stub.url}?model=m&timeout=600&concurrency=4",
                     "-t", "sentiment/starter", "--limit", "8")
        wait_for(lambda: stub.stats.in_flight >= 4)
        elapsed, _, err = stop(proc, signal.SIGINT)
    assert elapsed < STOP_WITHIN_S, (elapsed, err)
    assert proc.returncode == 1 and "Traceback" not in err
    run_dir = only_run(tmp_path / "results")
    assert results(run_dir)["run"]["status"] == "interrupted"
    assert f"run again with --resume {run_dir} to continue" in " ".join(err.split())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_batch_kills_the_command_and_says_interrupted(tmp_path, sig):
    write_card(tmp_path / "tasks", rows=sentiment_rows(12))
    pids = tmp_path / "pids.txt"
    script = tmp_path / "slow.py"
    script.write_text(SLOW_MODEL)
    proc = start(tmp_path, "-m", f"cmd:{sys.executable} {script} {pids} 60?batch_size=4",
                 "-t", "t/sent", "--tasks-dir", tmp_path / "tasks")
    wait_for(lambda: pids.exists() and pids.read_text().strip())
    elapsed, _, err = stop(proc, sig)
    assert elapsed < STOP_WITHIN_S, (elapsed, err)
    assert proc.returncode == 1 and "Traceback" not in err, (proc.returncode, err)
    assert results(only_run(tmp_path / "results"))["run"]["status"] == "interrupted"
    child = int(pids.read_text().split()[0])
    wait_for(lambda: not _running(child), timeout=5)


def test_sigkill_leaves_running_and_resume_continues_at_once(tmp_path):
    write_card(tmp_path / "tasks", rows=sentiment_rows(12))
    pids = tmp_path / "pids.txt"
    script = tmp_path / "slow.py"
    script.write_text(SLOW_MODEL)
    model = f"cmd:{sys.executable} {script} {pids} 0.3?batch_size=4"
    proc = start(tmp_path, "-m", model, "-t", "t/sent", "--tasks-dir", tmp_path / "tasks")
    wait_for(lambda: pids.exists() and len(pids.read_text().split()) >= 2)
    stop(proc, signal.SIGKILL)
    pids.unlink()  # a file named on the command line is part of the model's fingerprint
    run_dir = only_run(tmp_path / "results")
    assert results(run_dir)["run"]["status"] == "running"  # nothing can mark a SIGKILL
    assert load_results(run_dir).run.status == "interrupted"  # but no process holds its lock
    done = subprocess.run(evalsuite_cmd("run", "-m", model, "-t", "t/sent", "--tasks-dir",
                                        tmp_path / "tasks", "--resume", run_dir),
                          env=subprocess_env(tmp_path), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    doc = results(run_dir)
    assert doc["run"]["status"] == "finished" and doc["records"][0]["cache"]["hits"] >= 4


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False
