"""The benchmark scripts still run against today's code, at toy sizes.

Their figures are taken by hand (``benchmarks/RESULTS.md``), so nothing else would notice
when a change of the runner or the result records breaks one (typed records once broke
``probe_cost.py`` and ``threads.py`` unnoticed).  Each script runs as a user runs it, in a
subprocess, and must print its Markdown table with finite figures; no speed is asserted.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO

SCRIPTS = {
    "overhead": ["--pairs", "40", "--sentences", "40", "--repeats", "1", "--scale", "1"],
    "peers": ["--pairs", "40", "--sentences", "40", "--repeats", "1"],
    "probe_cost": ["--limit", "4", "--systems", "sentiment/starter"],
    "threads": ["--sentences", "16", "--repeats", "1", "--threads", "1", "--load", "0"],
    "report_build": ["--models", "4", "--tasks", "2", "--rows", "5", "--repeats", "1"],
}


def table_rows(output: str) -> list[list[str]]:
    """The body rows of the Markdown tables in ``output``, as cells."""
    rows = [line.strip("|").split("|") for line in output.splitlines() if line.startswith("|")]
    return [[c.strip() for c in row] for row in rows
            if not all(set(c.strip()) <= {"-", " "} for c in row)]


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_benchmark_script_prints_its_table(name: str, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / f"{name}.py"),
                           *SCRIPTS[name]], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = table_rows(done.stdout)
    assert len(rows) >= 2, done.stdout  # a header and at least one measured row
    numbers = [float(m) for row in rows[1:] for cell in row[1:]
               for m in re.findall(r"-?\d+\.\d+", cell)]
    assert numbers and all(math.isfinite(x) for x in numbers), done.stdout
