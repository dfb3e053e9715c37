"""Broken plug-ins: an installed package whose entry points name something that is not a
model kind, metric, probe or executor (a string, an unrelated class), a module that raises
on import, an attribute that is not there.

Outcome: ``evalsuite list …`` lists every entry, the broken ones as "not available" with the
reason; a run that asks for one is refused with one line naming the entry point (exit 2);
a run that does not use them is not disturbed.  Never a traceback.
"""

from __future__ import annotations

import pytest

from tests.conftest import REPO
from tests.faults.helpers import (
    one_error_line,
    predictions_file,
    run_cli,
    sentiment_rows,
    write_card,
)

ENTRY_POINTS = """\
[evalsuite.models]
strkind = badplug:NOT_A_CLASS
halfkind = badplug:Half
boomkind = badplug.boom:X
missattr = badplug:Nope

[evalsuite.metrics]
strmetric = badplug:NOT_A_CLASS
halfmetric = badplug:Half

[evalsuite.probes]
strprobe = badplug:NOT_A_CLASS
halfprobe = badplug:Half

[evalsuite.executors]
strexec = badplug:NOT_A_CLASS
halfexec = badplug:Half
"""


@pytest.fixture()
def site(tmp_path):
    site = tmp_path / "site"
    (site / "badplug").mkdir(parents=True)
    (site / "badplug" / "__init__.py").write_text(
        'NOT_A_CLASS = "just a string"\n\n\nclass Half:\n    """Nothing a plug-in needs."""\n')
    (site / "badplug" / "boom.py").write_text('raise RuntimeError("boom at import")\n')
    info = site / "badplug-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: badplug\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    return site


def _env(site):
    import os

    return {"PYTHONPATH": os.pathsep.join([str(site), str(REPO)]), "COLUMNS": "300"}


@pytest.mark.parametrize("what,names", [
    ("models", ["strkind", "halfkind", "boomkind", "missattr"]),
    ("metrics", ["strmetric", "halfmetric"]),
    ("probes", ["strprobe", "halfprobe"]),
    ("executors", ["strexec", "halfexec"]),
])
def test_list_shows_broken_plugins_as_not_available(site, tmp_path, what, names):
    done = run_cli(tmp_path, "list", what, **_env(site))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    for name in names:
        (row,) = [line for line in done.stdout.splitlines() if line.startswith(name)
                  or f" {name} " in line]
        assert "not available" in row, row


def test_a_run_naming_a_broken_plugin_is_one_line_and_others_still_run(site, tmp_path):
    rows = sentiment_rows(6)
    write_card(tmp_path / "tasks", rows=rows)
    preds = predictions_file(tmp_path / "p.jsonl", rows)
    common = ("-t", "t/sent", "--tasks-dir", tmp_path / "tasks", "-o", tmp_path / "out",
              "--resamples", "10")
    done = run_cli(tmp_path, "run", "-m", "strkind:x", *common, **_env(site))
    assert done.returncode == 2
    line = one_error_line(done.stderr)
    assert "entry point evalsuite.models" in line and "'strkind'" in line
    assert "not a ModelAdapter" in line
    done = run_cli(tmp_path, "run", "-m", f"predictions:{preds}", *common, "--executor",
                   "halfexec", **_env(site))
    assert done.returncode == 2
    assert "not an executor class" in one_error_line(done.stderr)
    done = run_cli(tmp_path, "run", "-m", f"predictions:{preds}", *common, **_env(site))
    assert done.returncode == 0, done.stderr  # the broken metric plug-ins stay out of the way
