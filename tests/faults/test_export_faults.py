"""``evalsuite export`` (and ``run --log-to``) against trackers that are down, silent or
hostile, and outputs that cannot be written.

Outcome: one line and exit 1 within seconds for a tracking server that refuses or never
answers (never MLflow's four minutes of retries); credentials in a tracking URI are never
shown; an unwritable ``-o`` is exit 2 naming it; a record cannot make the export send a file
from outside its run folder; names reach the terminal with control characters shown, not
obeyed.
"""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from tests.faults.helpers import cli, one_error_line, small_run

MODEL = "evil\x1b[2J\x1b]0;t\x07"


@pytest.fixture()
def run_dir(tmp_path, capsys):
    return small_run(tmp_path, capsys, name=MODEL)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_tracking_server_that_is_down_fails_in_seconds_without_credentials(run_dir, capsys):
    pytest.importorskip("mlflow")
    uri = f"http://bob:s3cret@127.0.0.1:{_free_port()}"  # nothing listens there
    start = time.monotonic()
    code, out, err = cli(capsys, "export", run_dir, "--to", "mlflow", "--tracking-uri", uri)
    assert code == 1 and time.monotonic() - start < 30  # MLflow alone: about 250 s
    line = one_error_line(err)
    assert "cannot reach" in line and "127.0.0.1" in line
    assert "s3cret" not in out + err and "bob" not in out + err


class SilentServer:
    """Accepts connections and never answers (counts them)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


def test_a_server_that_never_answers_is_not_retried_for_minutes(run_dir, capsys, monkeypatch):
    """Our cap on MLflow's retries (2, backoff factor 1 instead of 7 and 2) is what bounds
    this: with a 1 s request timeout MLflow alone would retry for over two minutes."""
    pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "1")  # the user's; ours is 30
    server = SilentServer()
    try:
        start = time.monotonic()
        code, _, err = cli(capsys, "export", run_dir, "--to", "mlflow", "--tracking-uri",
                           f"http://127.0.0.1:{server.port}")
        elapsed = time.monotonic() - start
    finally:
        server.close()
    assert code == 1 and elapsed < 30, (elapsed, err)
    assert "mlflow export failed" in one_error_line(err)
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ  # restored after the export


def test_a_wandb_server_that_is_down_fails_in_seconds(run_dir, capsys, monkeypatch, tmp_path):
    pytest.importorskip("wandb")
    for name in ("WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(name, str(tmp_path / "wandb"))
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{_free_port()}")
    start = time.monotonic()
    code, out, err = cli(capsys, "export", run_dir, "--to", "wandb")
    assert code == 1 and time.monotonic() - start < 30  # W&B alone: about 100 s
    assert "cannot reach" in one_error_line(err)
    assert "k" * 40 not in out + err


def _policy(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text('version: 1\nrules:\n  - {figure: "t/sent.metrics.accuracy.value", '
                    'op: ">=", threshold: 0}\n', encoding="utf-8")
    return path


@pytest.mark.parametrize("where", ["missing folder", "a folder", "under a file"])
def test_an_output_that_cannot_be_written_is_exit_2_naming_it(run_dir, tmp_path, capsys, where):
    """Every command that writes a file the user names: report, compare, gate's files and
    the model card."""
    (tmp_path / "file").write_text("x")
    (tmp_path / "folder.html").mkdir()
    bad = {"missing folder": "/proc/no-such/{}", "a folder": str(tmp_path / "folder.html"),
           "under a file": str(tmp_path / "file" / "{}")}[where]
    commands = [
        (("report", run_dir, "-o", bad.format("r.html")), "--output"),
        (("compare", run_dir, "-o", bad.format("c.md")), "--output"),
        (("export", run_dir, "--to", "model-index", "-m", MODEL, "-o",
          bad.format("README.md")), "--output"),
        (("gate", run_dir, "--policy", _policy(tmp_path), "--junit", bad.format("j.xml")),
         "--junit"),
        (("gate", run_dir, "--policy", _policy(tmp_path), "--markdown", bad.format("g.md")),
         "--markdown"),
        (("gate", run_dir, "--policy", _policy(tmp_path), "--json", bad.format("g.json")),
         "--json"),
    ]
    for args, flag in commands:
        code, _, err = cli(capsys, *args)
        assert code == 2, (args, err)
        assert "Traceback" not in err
        (line,) = [x for x in err.splitlines() if x.startswith("error:")]
        assert line.startswith(f"error: {flag}: cannot write"), line


@pytest.mark.parametrize("readme", [b"\xff\xfe not text", b"---\nmodel-index: [\n---\nbody\n",
                                    b"---\nmodel-index: 5\n---\nbody\n", b"---\n- a\n---\n"])
def test_a_readme_whose_metadata_is_broken_is_refused_and_left_alone(run_dir, tmp_path,
                                                                     capsys, readme):
    path = tmp_path / "README.md"
    path.write_bytes(readme)
    code, _, err = cli(capsys, "export", run_dir, "--to", "model-index", "-m", MODEL,
                       "-o", path)
    assert code == 2, err
    assert "Traceback" not in err and f"--output {path}" in err
    assert path.read_bytes() == readme


@pytest.mark.parametrize("path", ["../../../../../../etc/hostname", "/etc/hostname",
                                  "predictions/../../outside.jsonl", "~/x.jsonl"])
def test_a_results_file_pointing_out_of_its_run_folder_is_refused(run_dir, tmp_path, capsys,
                                                                  path):
    """A run folder from elsewhere (a download, a colleague's) cannot make verify, the report
    or an export read or upload a file outside it."""
    import json

    doc = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    doc["records"][0]["predictions_file"] = path
    (run_dir / "results.json").write_text(json.dumps(doc), encoding="utf-8")
    for args in (("verify", run_dir), ("report", run_dir, "-o", tmp_path / "r.html"),
                 ("export", run_dir, "--to", "model-index", "-m", MODEL),
                 ("export", run_dir, "--to", "mlflow", "--tracking-uri",
                  f"sqlite:///{tmp_path / 'm.db'}")):
        code, _, err = cli(capsys, *args)
        assert code == 2, (args, err)
        line = one_error_line(err)
        assert "records.0.predictions_file" in line and "inside the run folder" in line


def test_a_link_out_of_the_run_folder_is_not_uploaded(run_dir, tmp_path, capsys, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)  # MLflow keeps a SQLite store's artifacts in ./mlruns
    secret = tmp_path / "secret.html"
    secret.write_text("<p>not for the tracker</p>")
    (run_dir / "report.html").symlink_to(secret)
    (predictions,) = (run_dir / "predictions").iterdir()
    target = tmp_path / "elsewhere.jsonl"
    predictions.rename(target)
    predictions.symlink_to(target)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code, _, err = cli(capsys, "export", run_dir, "--to", "mlflow", "--tracking-uri", uri)
    assert code == 0, err
    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("evalsuite").experiment_id])
    top = [a.path for a in client.list_artifacts(run.info.run_id)]
    assert top == ["results.json"]


def test_export_shows_names_with_control_characters_escaped(run_dir, tmp_path, capsys,
                                                            monkeypatch):
    """A model name with terminal escape sequences (clear screen, set title) reaches the
    terminal as ``\\x1b``, never as the sequence itself, from every export target."""
    code, out, err = cli(capsys, "export", run_dir, "--to", "model-index", "-m", MODEL,
                         "-o", tmp_path / "README.md")
    assert code == 0, err
    assert "\x1b" not in out + err and "\\x1b" in err
    code, out, err = cli(capsys, "export", run_dir, "--to", "model-index", "-m", MODEL)
    assert code == 0 and "\x1b" not in out + err  # the YAML block escapes it too
    pytest.importorskip("mlflow")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "exp\x1b[2J")
    code, out, err = cli(capsys, "export", run_dir, "--to", "mlflow", "--tracking-uri",
                         f"sqlite:///{tmp_path / 'm.db'}")
    assert code == 0, err
    assert "\x1b" not in out + err


def test_a_project_name_wandb_refuses_is_exit_2(run_dir, capsys, monkeypatch, tmp_path):
    pytest.importorskip("wandb")
    for name in ("WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(name, str(tmp_path / "wandb"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    code, _, err = cli(capsys, "export", run_dir, "--to", "wandb", "--experiment", "a/b?c")
    assert code == 2
    (line,) = [x for x in err.splitlines() if x.startswith("error:")]
    assert line.startswith("error: --to wandb: Invalid project name") and "Traceback" not in err
