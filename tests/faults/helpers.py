"""Shared pieces of the fault-injection tests: small task cards written to disk and the
command line run in-process or as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from tests.conftest import REPO, write_jsonl

POSITIVE = ("good", "great", "love", "excellent")


def sentiment_rows(n: int = 12) -> list[dict[str, Any]]:
    words = ["good film", "bad plot", "great cast", "awful", "love it", "boring"]
    return [{"id": f"e{i}", "text": f"{words[i % len(words)]} {i}",
             "label": "positive" if any(p in words[i % len(words)] for p in POSITIVE)
             else "negative"} for i in range(n)]


def write_card(folder: Path, name: str = "t/sent", data: str = "d.jsonl",
               rows: list[dict] | None = None, extra: str = "") -> Path:
    """A sentiment card ``folder/card.yaml`` over ``folder/<data>`` (rows written as JSONL
    unless ``rows`` is None and the file exists)."""
    folder.mkdir(parents=True, exist_ok=True)
    if rows is not None or not (folder / data).exists():
        write_jsonl(folder / data, sentiment_rows() if rows is None else rows)
    card = folder / "card.yaml"
    card.write_text(textwrap.dedent(f"""\
        name: {name}
        family: sentiment
        dataset: {{path: {data}}}
        labels: [negative, positive]
        metrics: [accuracy]
        """) + extra, encoding="utf-8")
    return card


def predictions_file(path: Path, rows: list[dict], *, correct: bool = True) -> Path:
    """A predictions JSONL for ``rows`` (right labels, or all 'positive')."""
    return write_jsonl(path, [{"id": r["id"], "prediction": r["label"] if correct
                               else "positive"} for r in rows])


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """``evalsuite ARGS`` in this process: (exit code, stdout, stderr)."""
    from evalsuite.cli.app import main

    capsys.readouterr()
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def small_run(tmp_path: Path, capsys, *, name: str | None = None, n: int = 8) -> Path:
    """A finished run ``tmp_path/out/r``: fixed predictions on an ``n``-example sentiment
    card (model ``name`` when given), made through the command line."""
    rows = sentiment_rows(n)
    write_card(tmp_path / "tasks", rows=rows)
    spec = f"predictions:{predictions_file(tmp_path / 'preds.jsonl', rows)}"
    code, _, err = cli(capsys, "run", "-m", spec + (f"?name={name}" if name else ""), "-t",
                       "t/sent", "--tasks-dir", tmp_path / "tasks", "-o", tmp_path / "out",
                       "--run-id", "r", "--resamples", "20", "--no-cache")
    assert code == 0, err
    return tmp_path / "out" / "r"


def subprocess_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "EVALSUITE_CACHE_DIR": str(tmp_path / "cache"),
           "PYTHONPATH": str(REPO), **extra}
    env.pop("COLUMNS", None)
    return env


def evalsuite_cmd(*args: Any) -> list[str]:
    return [sys.executable, "-m", "evalsuite", *map(str, args)]


def run_cli(tmp_path: Path, *args: Any, timeout: float = 120, **env: str
            ) -> subprocess.CompletedProcess:
    """``evalsuite ARGS`` as a real process."""
    return subprocess.run(evalsuite_cmd(*args), env=subprocess_env(tmp_path, **env),
                          capture_output=True, text=True, timeout=timeout)


def one_error_line(err: str) -> str:
    """The error line of a usage error; fails when there is a traceback or several lines."""
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error:"), err
    return lines[0]


def error_line(err: str) -> str:
    """The one ``error:`` line of a run that failed after it started (progress lines may
    precede it); fails when there is a traceback or more than one error line."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text(encoding="utf-8"))


def only_run(output: Path) -> Path:
    (run_dir,) = [p for p in output.iterdir() if p.is_dir()]
    return run_dir


# -- private mount namespaces: a real full disk or read-only folder without root ---------------
def _unshare_works() -> bool:
    import shutil

    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                            "mount -t tmpfs -o size=16k tmpfs /mnt 2>/dev/null || "
                            "mount -t tmpfs -o size=16k tmpfs /tmp"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


UNSHARE = _unshare_works()


def in_namespace(setup: str, cmd: list[str]) -> list[str]:
    """``cmd`` run after the shell ``setup`` (mounts) in a private user+mount namespace, so
    a tmpfs or a read-only bind mount exists for that process only and vanishes with it."""
    return ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
            f'{setup} && exec "$@"', "sh", *cmd]


def tmpfs(folder: Path, size: str) -> str:
    return f"mkdir -p '{folder}' && mount -t tmpfs -o size={size} tmpfs '{folder}'"


def read_only(folder: Path) -> str:
    return (f"mkdir -p '{folder}' && mount --bind '{folder}' '{folder}' && "
            f"mount -o remount,bind,ro '{folder}'")


def leftovers(folder: Path) -> list[Path]:
    """Temporary files a writer left behind."""
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]
