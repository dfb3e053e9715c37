"""The output location fails: a full disk, a read-only folder, a run that stops any way.

Outcome: one line naming the path; exit 2 when nothing ran yet (nothing is left behind), exit
1 mid-run with every finished record kept; ``run.status`` is never left ``running`` except by
SIGKILL; no temporary file survives; files get the user's normal permissions.
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess

import pytest

from tests.faults.helpers import (
    UNSHARE,
    cli,
    error_line,
    evalsuite_cmd,
    in_namespace,
    leftovers,
    one_error_line,
    only_run,
    predictions_file,
    read_only,
    results,
    sentiment_rows,
    subprocess_env,
    tmpfs,
    write_card,
)

needs_unshare = pytest.mark.skipif(not UNSHARE, reason="no unprivileged mount namespaces here")


def two_tasks(tmp_path, n=40):
    """Two sentiment tasks t/a and t/b and a predictions file serving both."""
    rows = sentiment_rows(n)
    for name in ("a", "b"):
        write_card(tmp_path / "tasks" / name, name=f"t/{name}", rows=rows)
    return f"predictions:{predictions_file(tmp_path / 'preds.jsonl', rows)}"


def args(tmp_path, spec, output, *extra):
    return ("run", "-m", spec, "-t", "t/*", "--tasks-dir", tmp_path / "tasks",
            "-o", output, "--resamples", "20", *extra)


class FullDisk:
    """``os.replace`` (how every result file is committed) fails with ENOSPC from its
    ``n``-th call on (``once``: that call only).  The writers above it run for real."""

    def __init__(self, monkeypatch, n: int, *, once: bool = False) -> None:
        self.calls = 0
        real = os.replace

        def replace(src, dst, *a, **kw):
            self.calls += 1
            if self.calls == n or (self.calls > n and not once):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
            return real(src, dst, *a, **kw)

        monkeypatch.setattr(os, "replace", replace)


def test_disk_full_before_anything_ran_is_exit_2_and_leaves_nothing(tmp_path, capsys,
                                                                     monkeypatch):
    spec = two_tasks(tmp_path)
    FullDisk(monkeypatch, 1)
    code, _, err = cli(capsys, *args(tmp_path, spec, tmp_path / "results"))
    line = one_error_line(err)
    assert code == 2 and "results.json" in line and "No space left on device" in line
    assert list((tmp_path / "results").iterdir()) == []  # the folder it made is gone


@pytest.mark.parametrize("once", [True, False], ids=["then-space", "stays-full"])
def test_disk_full_mid_run_keeps_finished_records_and_says_failed(tmp_path, capsys,
                                                                   monkeypatch, once):
    spec = two_tasks(tmp_path)
    # writes: results.json (start), t/a predictions, results.json (record a), t/b predictions
    FullDisk(monkeypatch, 4, once=once)
    code, _, err = cli(capsys, *args(tmp_path, spec, tmp_path / "results"))
    line = error_line(err)
    assert code == 1 and "No space left on device" in line and "t_b.jsonl" in line
    assert "1 finished records kept in" in line and "--resume" in line
    run_dir = only_run(tmp_path / "results")
    doc = results(run_dir)
    assert doc["run"]["status"] == "failed" and "No space left" in doc["run"]["error"]
    assert [r["task"] for r in doc["records"]] == ["t/a"]
    assert leftovers(run_dir) == []
    monkeypatch.undo()
    # the space is back: resuming finishes the run without redoing t/a
    code, _, err = cli(capsys, *args(tmp_path, spec, tmp_path / "results", "--resume", run_dir))
    assert code == 0, err
    doc = results(run_dir)
    assert doc["run"]["status"] == "finished" and "error" not in doc["run"]
    assert [r["task"] for r in doc["records"]] == ["t/a", "t/b"]


def test_in_place_rewrite_never_replaces_a_whole_file_by_a_longer_one(tmp_path):
    from evalsuite.errors import StoreError
    from evalsuite.results.files import ResultWriter

    writer = ResultWriter(tmp_path / "run", {"id": "x", "status": "running", "created": "now",
                                             "evalsuite_version": "0", "config_hash": "c"})
    before = (tmp_path / "run" / "results.json").read_bytes()
    writer.run.error = "x" * 10_000  # cannot fit in the file's current size
    with pytest.raises(StoreError, match="no room to rewrite it in place"):
        writer.flush_in_place()
    assert (tmp_path / "run" / "results.json").read_bytes() == before
    writer.run.error = "short"
    writer.run.status = "failed"
    writer.flush_in_place()
    assert results(tmp_path / "run")["run"]["status"] == "failed"


@needs_unshare
def test_a_real_full_disk_under_the_cache(tmp_path):
    """The prediction cache lives on a 128 KB tmpfs: SQLite runs out of room mid-run."""
    spec = two_tasks(tmp_path, n=300)
    small = tmp_path / "small"
    cmd = in_namespace(tmpfs(small, "128k"), evalsuite_cmd(
        *args(tmp_path, spec, tmp_path / "results", "--cache", small / "cache.sqlite")))
    done = subprocess.run(cmd, env=subprocess_env(tmp_path), capture_output=True, text=True,
                          timeout=180)
    line = error_line(done.stderr)
    assert done.returncode == 1, done.stderr
    assert f"cannot write the prediction cache {small / 'cache.sqlite'}" in line
    assert "full" in line and "finished records kept in" in line
    doc = results(only_run(tmp_path / "results"))
    assert doc["run"]["status"] == "failed" and "prediction cache" in doc["run"]["error"]


@needs_unshare
def test_a_real_full_disk_keeps_results_status_honest(tmp_path):
    """Output on a tmpfs big enough for task a, not b: inspect it before it vanishes."""
    spec = two_tasks(tmp_path, n=300)  # 54 KB of predictions per task, 6 KB of results
    out = tmp_path / "small"
    script = (f"{' '.join(evalsuite_cmd(*args(tmp_path, spec, out / 'results')))}; "
              f"echo EXIT=$?; cat {out}/results/*/results.json; "
              f"echo; find {out} -name '*.tmp' | sed 's/^/LEFT=/'")
    cmd = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
           f"{tmpfs(out, '96k')} && {script}"]
    done = subprocess.run(cmd, env=subprocess_env(tmp_path), capture_output=True, text=True,
                          timeout=180)
    assert "EXIT=1" in done.stdout, done.stdout + done.stderr
    assert '"status":"failed"' in done.stdout.replace(" ", "").replace("\n", "")
    assert "LEFT=" not in done.stdout and '"task":"t/a"' in done.stdout.replace(" ", "")
    assert "No space left on device" in error_line(done.stderr)


@needs_unshare
@pytest.mark.parametrize("where", ["output", "cache"])
def test_a_read_only_location_is_exit_2_naming_it(tmp_path, where):
    spec = two_tasks(tmp_path)
    ro = tmp_path / "ro"
    output = (ro if where == "output" else tmp_path) / "results"
    extra = ("--cache", ro / "cache.sqlite") if where == "cache" else ()
    cmd = in_namespace(read_only(ro), evalsuite_cmd(*args(tmp_path, spec, output, *extra)))
    done = subprocess.run(cmd, env=subprocess_env(tmp_path), capture_output=True, text=True,
                          timeout=180)
    line = one_error_line(done.stderr)
    assert done.returncode == 2 and str(ro) in line and "Read-only file system" in line
    assert not (tmp_path / "results").exists()  # refused before any run folder


def test_an_output_path_under_a_file_is_exit_2(tmp_path, capsys):
    spec = two_tasks(tmp_path)
    (tmp_path / "blocker").write_text("a file where a folder should be")
    code, _, err = cli(capsys, *args(tmp_path, spec, tmp_path / "blocker" / "results"))
    line = one_error_line(err)
    assert code == 2 and "blocker" in line and "--output" in line


def test_files_get_the_users_normal_permissions(tmp_path, capsys):
    spec = two_tasks(tmp_path)
    old = os.umask(0o027)
    try:
        code, _, err = cli(capsys, *args(tmp_path, spec, tmp_path / "results",
                                         "--cache", tmp_path / "c" / "cache.sqlite"))
    finally:
        os.umask(old)
    assert code == 0, err
    run_dir = only_run(tmp_path / "results")

    def mode(path):
        return stat.S_IMODE(path.stat().st_mode)

    predictions = sorted((run_dir / "predictions").iterdir())
    assert mode(run_dir / "results.json") == 0o640  # 0666 less the umask, not mkstemp's 0600
    assert {mode(p) for p in predictions} == {0o640}
    assert mode(tmp_path / "c" / "cache.sqlite") == 0o640
    assert mode(run_dir) == mode(run_dir / "predictions") == 0o750
