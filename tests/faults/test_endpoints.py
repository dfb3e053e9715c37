"""Hostile endpoints cannot hang a run or leak the API key.

A server that trickles one byte a second or never answers fails the request after
``timeout`` (the deadline covers connect, send and the whole answer) and is retried, then
recorded; a huge answer is cut at ``max_response_mb``; a command that floods stdout is
stopped at ``max_output_mb``; an answer that echoes the key is scrubbed before anything is
stored, and the record says so.
"""

from __future__ import annotations

import json
import sys
import time

import pytest

from evalsuite.runner.run import Job, RunConfig, run
from evalsuite.tasks.registry import TaskRegistry
from tests.faults.helpers import cli, only_run, results, sentiment_rows, write_card
from tests.openai_stub_server import StubServer

REGISTRY = TaskRegistry.discover([])


@pytest.fixture
def stub(monkeypatch):
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    with StubServer(max_requests=2000, lifetime_s=120) as server:
        yield server  # stopping it releases every handler still trickling or hanging


def spec(stub, options=""):
    return f"http:{stub.url}?model=stub-model&name=stub&backoff=0.01" + (
        f"&{options}" if options else "")


def run_one(tmp_path, model, task="sentiment/starter", limit=4):
    from evalsuite.models.spec import parse_spec

    config = RunConfig(jobs=[Job(parse_spec(model), REGISTRY.select([task]))],
                       output_dir=tmp_path / "results", resamples=50, limit=limit)
    started = time.perf_counter()
    outcome = run(config)
    return outcome, time.perf_counter() - started


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_a_trickling_server_fails_the_request_after_the_deadline(tmp_path, stub, stream):
    stub.behaviour.trickle_s = 1.0  # every read succeeds; the answer would take minutes
    options = "timeout=1&retries=1&concurrency=4" + ("&stream=true" if stream else "")
    outcome, elapsed = run_one(tmp_path, spec(stub, options))
    (record,) = outcome.records
    assert record.status == "failed"
    assert "timed out after 1 s after 2 attempts" in record.reason
    assert elapsed < 10  # two 1 s deadlines, back-off and imports, not minutes


def test_a_trickle_on_the_first_attempt_is_retried_and_recovers(tmp_path, stub):
    stub.behaviour.trickle_s = 1.0
    stub.behaviour.trickle_first_attempts = 1
    outcome, elapsed = run_one(tmp_path, spec(stub, "timeout=1&retries=2"))
    (record,) = outcome.records
    assert record.status == "ok" and record.efficiency.retries == 4
    assert elapsed < 8


def test_a_server_that_never_answers_fails_after_the_deadline(tmp_path, stub):
    stub.behaviour.hang = True
    outcome, elapsed = run_one(tmp_path, spec(stub, "timeout=0.5&retries=1"))
    (record,) = outcome.records
    assert record.status == "failed"
    assert "timed out after 0.5 s after 2 attempts" in record.reason
    assert elapsed < 6


@pytest.mark.parametrize(("size_mb", "options", "limit_text"), [
    (48, "", "16 MB"), (2, "max_response_mb=0.5", "0.5 MB")])
def test_a_huge_answer_is_cut_at_the_limit_and_not_retried(tmp_path, stub, size_mb,
                                                           options, limit_text):
    stub.behaviour.huge_body_mb = size_mb
    outcome, elapsed = run_one(tmp_path, spec(stub, options), limit=2)
    (record,) = outcome.records
    assert record.status == "failed"
    assert f"the answer is larger than {limit_text} (option max_response_mb)" in \
        record.reason
    assert set(stub.stats.attempts.values()) == {1}  # the same answer would come again
    assert elapsed < 20


def test_an_echoed_api_key_is_scrubbed_everywhere_and_recorded(tmp_path, stub, monkeypatch,
                                                               capsys):
    key = "sk-evalsuite-echo-91c4d7f0a3b2e6"
    monkeypatch.setenv("ECHO_KEY", key)
    stub.behaviour.echo_key_in_answer = True
    out = tmp_path / "results"
    code, run_out, run_err = cli(capsys, "run", "-m", spec(stub, "api_key_env=ECHO_KEY"),
                                 "-t", "translation/starter-en-de", "-t", "sentiment/starter",
                                 "--limit", "5", "-o", out, "--cache", tmp_path / "c.sqlite")
    assert code == 0, run_err
    assert stub.stats.auth_headers == {f"Bearer {key}"}  # it was sent, and came back
    run_dir = only_run(out)
    records = results(run_dir)["records"]
    assert [r["secrets_scrubbed"] for r in records] == [5, 5]
    rows = [json.loads(line) for line in (run_dir / records[0]["predictions_file"]).open()]
    assert all("***" in row["prediction"] and row["meta"]["secret_scrubbed"] for row in rows)
    # the report and the gate's files are built from those: nothing to leak either
    code, rep_out, rep_err = cli(capsys, "report", run_dir, "-o", tmp_path / "r.html")
    assert code == 0, rep_err
    policy = tmp_path / "p.yaml"
    policy.write_text("rules:\n  - {figure: '*.metrics.*.value', op: '>=', threshold: 0}\n")
    code, gate_out, gate_err = cli(capsys, "gate", run_dir, "--policy", policy,
                                   "--markdown", tmp_path / "g.md", "--junit", tmp_path / "g.xml")
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".html" for p in files) and any("sqlite" in p.name for p in files)
    for path in files:
        assert key.encode() not in path.read_bytes(), path
    for text in (run_out, run_err, rep_out, rep_err, gate_out, gate_err):
        assert key not in text


def test_a_command_flooding_stdout_is_stopped_at_the_limit(tmp_path, capsys):
    write_card(tmp_path / "tasks", rows=sentiment_rows(4))
    script = tmp_path / "flood.py"
    script.write_text("import sys\nsys.stdin.read()\nwhile True:\n"
                      "    sys.stdout.write('x' * 65536)\n")
    started = time.perf_counter()
    code, _, _err = cli(capsys, "run", "-m", f"cmd:{sys.executable} {script}?max_output_mb=1",
                       "-t", "t/sent", "--tasks-dir", tmp_path / "tasks", "-o",
                       tmp_path / "results", "--no-cache")
    assert code == 1 and time.perf_counter() - started < 30
    record = results(only_run(tmp_path / "results"))["records"][0]
    assert record["status"] == "failed"
    assert "wrote more than 1 MB for one batch and was stopped (option max_output_mb)" in \
        record["reason"]


def test_a_command_that_hangs_is_killed_with_everything_it_started(tmp_path, capsys):
    import os

    write_card(tmp_path / "tasks", rows=sentiment_rows(4))
    pids = tmp_path / "pids.txt"
    script = tmp_path / "hang.py"
    script.write_text(
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "time.sleep(120)\n")
    code, _, _ = cli(capsys, "run", "-m", f"cmd:{sys.executable} {script}?timeout=1",
                     "-t", "t/sent", "--tasks-dir", tmp_path / "tasks", "-o",
                     tmp_path / "results", "--no-cache")
    assert code == 1
    record = results(only_run(tmp_path / "results"))["records"][0]
    assert "timed out after 1 s" in record["reason"]
    for pid in map(int, pids.read_text().split()):
        deadline = time.time() + 5
        while time.time() < deadline and _alive(pid):
            time.sleep(0.05)
        assert not _alive(pid), pid
    assert os.getpid()  # this process is untouched


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (killed, not yet reaped by its parent) is not running
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


@pytest.mark.parametrize("url", ["http://bob:s3cretTOKEN@127.0.0.1:9/v1",
                                 "https://s3cretTOKEN@api.example.com/v1"])
def test_credentials_in_the_endpoint_url_are_refused_before_anything_is_written(
        tmp_path, capsys, url):
    """A password in the URL would become the model's name: in results, predictions, the
    terminal, the report and every export.  Refused (exit 2) without echoing it."""
    write_card(tmp_path / "tasks")
    batch = tmp_path / "batch.yaml"
    batch.write_text(f"output: {tmp_path / 'out'}\ntasks_dirs: [tasks]\ntasks: [t/sent]\n"
                     f"models:\n  - {{kind: http, target: '{url}', model: m}}\n")
    for args in (("run", "-m", f"http:{url}?model=m", "-t", "t/sent", "--tasks-dir",
                  tmp_path / "tasks", "-o", tmp_path / "out"), ("run", batch)):
        code, out, err = cli(capsys, *args)
        assert code == 2
        assert "api_key_env" in err and "Traceback" not in err
        assert "s3cretTOKEN" not in out + err
        assert not (tmp_path / "out").exists()
