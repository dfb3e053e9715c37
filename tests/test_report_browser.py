"""The report in a real browser: headless Chromium loads it from disk with no network.

Checks that no JavaScript error occurs, that every expected figure rendered with all its
traces (and survives every task drop-down), and saves a full-page screenshot.  A small probe
script is put at the top of a copy of the report; it records errors and, once the page has
loaded, writes what it found into the DOM, which ``--dump-dom`` prints.

Skipped when no ``chromium`` is installed (``scripts/setup.sh test`` installs Debian's).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from test_report import FAMILIES, efficiency_run, synthetic_results

from evalsuite.report import build_report

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser",
                                               "google-chrome", "google-chrome-stable")) if p),
                None)
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium not found (scripts/setup.sh test "
                                                "installs Debian's chromium package)"),
]
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
         "--hide-scrollbars", "--mute-audio")
PROBE = """<script>
window.__errors = [];
window.addEventListener("error", e => window.__errors.push(
  "error: " + (e.message || e.type) + " @" + (e.filename || "") + ":" + (e.lineno || "")), true);
window.addEventListener("unhandledrejection", e => window.__errors.push(
  "unhandled rejection: " + (e.reason && (e.reason.stack || e.reason))));
(function () {
  const original = console.error;
  console.error = function (...args) {
    window.__errors.push("console.error: " + args.join(" "));
    original.apply(console, args);
  };
})();
window.addEventListener("load", () => setTimeout(async () => {
  const result = {plots: {}, menus: 0};
  const count = gd => gd.querySelectorAll("g.trace, g.hm").length;
  for (const gd of document.querySelectorAll(".js-plotly-plot")) {
    result.plots[gd.id] = {data: gd.data.length, full: gd._fullData.length,
                           rendered: count(gd), svg: gd.querySelectorAll("svg").length};
  }
  try {
    for (const gd of document.querySelectorAll(".js-plotly-plot")) {
      for (const menu of (gd.layout.updatemenus || [])) {
        for (const button of menu.buttons) {
          await Plotly.restyle(gd, button.args[0]);
          result.menus += 1;
        }
        await Plotly.restyle(gd, menu.buttons[0].args[0]);
      }
    }
  } catch (err) {
    window.__errors.push("drop-down: " + (err.stack || err));
  }
  result.errors = window.__errors;
  result.height = document.documentElement.scrollHeight;
  const pre = document.createElement("pre");
  pre.id = "__report_probe";
  pre.textContent = JSON.stringify(result);
  document.body.appendChild(pre);
}, 300));
</script>
"""


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=150, check=False)


def _probe(tmp_path: Path, report: Path) -> dict[str, Any]:
    page = report.read_text(encoding="utf-8")
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("<head>", "<head>\n" + PROBE, 1), encoding="utf-8")
    done = _chromium(tmp_path, "--virtual-time-budget=20000", "--dump-dom", probed.as_uri())
    match = re.search(r'<pre id="__report_probe">(.*?)</pre>', done.stdout, re.S)
    assert match, f"the probe never reported (rc {done.returncode}): {done.stderr[-2000:]}"
    return json.loads(html.unescape(match.group(1)))


@pytest.mark.timeout(300)
def test_report_renders_every_figure_without_errors(tmp_path: Path):
    results = synthetic_results(tmp_path / "results", 6, 12)
    report = build_report([results], tmp_path / "dashboards" / "report.html")
    manifest = json.loads(re.search(r'id="evalsuite-report">(.*?)</script>',
                                    report.read_text(encoding="utf-8")).group(1))["figures"]
    expected = {f"fig-{name}" for name in ("radar", "cost", "latency", "sweep", "bias",
                                           "safety", "robustness")}
    expected |= {f"fig-quality-{family}" for family in FAMILIES}

    found = _probe(tmp_path, report)

    assert found["errors"] == []
    assert set(found["plots"]) == expected == set(manifest)
    for div_id, plot in found["plots"].items():
        assert plot["data"] == plot["full"] == manifest[div_id], div_id
        assert plot["rendered"] == manifest[div_id], (div_id, plot)
        assert plot["svg"] >= 1, div_id
    assert found["menus"] == 2 * (1 + 12)  # cost and latency: all tasks + each task

    shot = tmp_path / "report.png"
    height = max(1200, min(int(found["height"]), 16000))
    done = _chromium(tmp_path, f"--window-size=1400,{height}", "--virtual-time-budget=20000",
                     f"--screenshot={shot}", report.as_uri())
    assert shot.is_file() and shot.stat().st_size > 50_000, done.stderr[-2000:]
    if os.environ.get("EVALSUITE_REPORT_SCREENSHOT"):  # keep a copy to look at (CI artefact)
        shutil.copyfile(shot, os.environ["EVALSUITE_REPORT_SCREENSHOT"])


@pytest.mark.timeout(300)
def test_efficiency_figures_render_and_survive_their_drop_downs(tmp_path: Path):
    report = build_report([efficiency_run(tmp_path / "results")],
                          tmp_path / "dashboards" / "eff.html")
    manifest = json.loads(re.search(r'id="evalsuite-report">(.*?)</script>',
                                    report.read_text(encoding="utf-8")).group(1))["figures"]
    found = _probe(tmp_path, report)
    assert found["errors"] == []
    assert {"fig-latency", "fig-latency-bs1", "fig-time-split"} <= set(found["plots"])
    for div_id, plot in found["plots"].items():
        assert plot["data"] == plot["full"] == plot["rendered"] == manifest[div_id], div_id
    assert found["menus"] == 4 * (1 + 2)  # cost, latency, bs1 latency, time split
