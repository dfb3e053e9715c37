"""docs/extending.md works as written: its tested code blocks become a plug-in package (the
modules, and a dist-info with the entry points of its pyproject block) that ``evalsuite run``
uses from the command line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

DOC = REPO / "docs" / "extending.md"
PACKAGE = "my_evalsuite_plugins"
WORDS = "recommend,perfect,delicious,loved,friendly,fast,helpful,worth"


def documented_blocks() -> dict[str, str]:
    """``<!-- tested: NAME -->`` → the code block that follows it."""
    pattern = re.compile(r"<!-- tested: ([\w ]+) -->\n```\w+\n(.*?)```", re.DOTALL)
    return {name: code for name, code in pattern.findall(DOC.read_text(encoding="utf-8"))}


def entry_points_txt(toml: str) -> str:
    """The ``[project.entry-points."GROUP"]`` tables of a pyproject block, as a dist-info's
    ``entry_points.txt``."""
    out = []
    for line in toml.splitlines():
        table = re.fullmatch(r'\[project\.entry-points\."([\w.]+)"\]', line.strip())
        if table:
            out.append(f"[{table.group(1)}]")
        elif "=" in line:
            name, _, value = line.partition("=")
            out.append(f"{name.strip()} = {value.strip().strip(chr(34))}")
        else:
            out.append(line)
    return "\n".join(out) + "\n"


@pytest.fixture()
def installed(tmp_path: Path) -> Path:
    blocks = documented_blocks()
    site = tmp_path / "site"
    (site / PACKAGE).mkdir(parents=True)
    (site / PACKAGE / "__init__.py").write_text("")
    for name in ("keywords_backend", "error_rate", "casing_probe"):
        (site / PACKAGE / f"{name}.py").write_text(blocks[name])
    info = site / f"{PACKAGE}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {PACKAGE}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points_txt(blocks["entry points"]))
    return site


def test_the_example_backend_is_one_short_module():
    code = documented_blocks()["keywords_backend"]
    assert code.count("@register") == 1 and code.count("\nclass ") == 1
    assert len(code.strip().splitlines()) <= 40


def test_the_documented_plugin_runs_from_the_command_line(installed, tmp_path):
    cards = tmp_path / "cards"
    cards.mkdir()
    data = REPO / "tasks" / "sentiment" / "data" / "starter_reviews.jsonl"
    (cards / "reviews.yaml").write_text(
        f"name: mine/reviews\nfamily: sentiment\ndataset: {{path: {data}}}\n"
        "labels: [negative, positive]\nmetrics: [accuracy, error_rate]\n")
    script = Path(sys.executable).with_name("evalsuite")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "evalsuite"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(installed), str(REPO)])}
    done = subprocess.run(
        [*command, "run", "-m", f"keywords:{WORDS}", "-t", "mine/reviews", "--tasks-dir",
         str(cards), "--probes", "casing?n=30", "--no-cache", "--resamples", "50", "-o",
         str(tmp_path / "out"), "--run-id", "r1"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (record,) = json.loads((tmp_path / "out" / "r1" / "results.json").read_text())["records"]
    assert record["model_kind"] == "keywords" and record["efficiency"]["params"] == 8
    accuracy = record["metrics"]["accuracy"]["value"]
    assert 0.5 < accuracy < 1.0  # a real, imperfect keyword model on the starter reviews
    assert record["metrics"]["error_rate"]["value"] == pytest.approx(1 - accuracy)
    upper = record["robustness"]["upper"]  # the section the probe names
    assert upper["n"] == 30 and 0.0 <= upper["flip_rate"] <= 1.0
    assert record["probe_cost"]["predicted"]["casing"] > 0  # upper-cased inputs predicted
