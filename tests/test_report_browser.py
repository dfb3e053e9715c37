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
from test_report import FAMILIES, FAMILY_METRICS, efficiency_run, synthetic_results

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
    # cost (the group's shared tasks), latency and bias (all tasks): + each task; one
    # metric drop-down per family
    assert found["menus"] == 3 * (1 + 12) + sum(len(FAMILY_METRICS[f]) for f in FAMILIES)

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
    # cost (the group's shared tasks), latency, bs1 latency, time split (all tasks): + each
    # task; the metric drop-downs of the sentiment and NER forests
    assert found["menus"] == 4 * (1 + 2) + 3 + 3


# -- Playwright: 30 models × 20 tasks, labels never overlap, no network ------------------------
OVERLAP_JS = """
() => {
  const visible = el => {
    for (let n = el; n && n.nodeType === 1; n = n.parentNode) {
      const s = getComputedStyle(n);
      if (s.display === "none" || s.visibility === "hidden" || parseFloat(s.opacity) === 0)
        return false;
    }
    return true;
  };
  const quad = el => {  // the text's box in screen coordinates (rotation included)
    const b = el.getBBox(), m = el.getScreenCTM();
    const pad = 1;  // glyph boxes carry a little air; touching is not overlapping
    return [[b.x + pad, b.y + pad], [b.x + b.width - pad, b.y + pad],
            [b.x + b.width - pad, b.y + b.height - pad], [b.x + pad, b.y + b.height - pad]]
      .map(([x, y]) => [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f]);
  };
  const separated = (p, q) => {  // separating axis theorem for two convex quads
    for (const poly of [p, q]) {
      for (let i = 0; i < 4; i++) {
        const [x1, y1] = poly[i], [x2, y2] = poly[(i + 1) % 4];
        const nx = y2 - y1, ny = x1 - x2;
        const proj = r => r.map(([x, y]) => nx * x + ny * y);
        const a = proj(p), b = proj(q);
        if (Math.max(...a) <= Math.min(...b) || Math.max(...b) <= Math.min(...a)) return true;
      }
    }
    return false;
  };
  const out = {};
  for (const gd of document.querySelectorAll(".js-plotly-plot")) {
    const texts = [...gd.querySelectorAll("svg text")].filter(t =>
      t.textContent.trim() && visible(t) && t.getBBox().width > 0 && t.getBBox().height > 0);
    const boxes = texts.map(t => ({
      text: t.textContent.trim().slice(0, 40), quad: quad(t),
      cls: t.getAttribute("class") || t.parentNode.getAttribute("class")}));
    const overlaps = [];
    for (let i = 0; i < boxes.length; i++)
      for (let j = i + 1; j < boxes.length; j++)
        if (!separated(boxes[i].quad, boxes[j].quad))
          overlaps.push([boxes[i].text + " <" + boxes[i].cls + ">",
                         boxes[j].text + " <" + boxes[j].cls + ">"]);
    const full = gd._fullData || [];
    const points = full.filter(t => t.visible !== false).reduce((n, t) => n + Math.max(
      (t.x || []).length, (t.y || []).length, (t.z || []).length, (t.r || []).length), 0);
    out[gd.id] = {texts: boxes.length, overlaps: overlaps.slice(0, 5),
                  n_overlaps: overlaps.length, traces: (gd.data || []).length, points,
                  menus: (gd.layout.updatemenus || []).map(m => m.buttons.length)};
  }
  return out;
}
"""


def _playwright_chromium():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed "
                                                                 "(pip install playwright)")
    if CHROMIUM is None:
        pytest.skip("chromium not found")
    return sync_api


@pytest.mark.timeout(600)
def test_thirty_models_twenty_tasks_in_the_real_browser(tmp_path: Path):
    """No two text labels of a figure overlap, every figure has data, the page fetches
    nothing; also after each figure's first drop-down choices."""
    import time

    sync_api = _playwright_chromium()
    results = synthetic_results(tmp_path / "results", 30, 20, rows=100, chance=True,
                                generalisation=True)
    start = time.perf_counter()
    report = build_report([results], tmp_path / "dashboards" / "big.html")
    seconds = time.perf_counter() - start
    size_mb = report.stat().st_size / 2**20
    print(f"30×20 report: built in {seconds:.2f} s, {size_mb:.2f} MB")
    assert size_mb < 6
    manifest = json.loads(re.search(r'id="evalsuite-report">(.*?)</script>',
                                    report.read_text(encoding="utf-8")).group(1))["figures"]
    requests: list[str] = []
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=[f for f in FLAGS if f != "--headless"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("request", lambda r: requests.append(r.url)
                    if not r.url.startswith(("file:", "data:", "blob:", "about:")) else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(report.as_uri(), wait_until="load")
            page.wait_for_function(
                "n => [...document.querySelectorAll('.js-plotly-plot')]"
                ".filter(gd => gd._fullLayout).length === n", arg=len(manifest),
                timeout=120_000)
            found = page.evaluate(OVERLAP_JS)
            _check_figures(found, manifest, "as loaded")
            # the generalisation section: a chart per suite (the translation suite of all
            # 30 models one model at a time), sentences naming the worst variant, tables
            charts = sorted(k for k in manifest if k.startswith("fig-generalisation-"))
            assert len(charts) == 3, charts
            assert [found[k]["menus"] for k in charts] == [[], [], [30]]  # suites by name
            section = page.locator("section#generalisation").text_content()
            assert section.count("worst:") >= 30 and "nothing to retain" in section
            assert page.locator("section#generalisation table.gen").count() == 3
            page.set_viewport_size({"width": 1000, "height": 1000})  # a laptop window
            page.wait_for_timeout(1500)  # responsive figures redraw
            _check_figures(page.evaluate(OVERLAP_JS), manifest, "1000 px wide")
            page.set_viewport_size({"width": 1400, "height": 1000})
            page.wait_for_timeout(1500)
            for div_id, plot in found.items():  # the first choices of each drop-down
                for menu, n in enumerate(plot["menus"]):
                    for choice in range(1, min(n, 3)):
                        page.evaluate(
                            "([id, m, c]) => { const gd = document.getElementById(id);"
                            " const b = gd.layout.updatemenus[m].buttons[c];"
                            " return Plotly[b.method](gd, ...b.args); }",
                            [div_id, menu, choice])
                        after = page.evaluate(OVERLAP_JS)[div_id]
                        _check_figures({div_id: after}, {div_id: manifest[div_id]},
                                       f"menu {menu} choice {choice}")
        finally:
            browser.close()
    assert requests == [], requests
    assert errors == [], errors


def _check_figures(found: dict[str, Any], manifest: dict[str, int], when: str) -> None:
    assert set(found) == set(manifest), when
    for div_id, plot in found.items():
        assert plot["traces"] == manifest[div_id], (div_id, when)
        assert plot["points"] > 0, (div_id, when, "no data")
        assert plot["texts"] > 0, (div_id, when)
        assert plot["n_overlaps"] == 0, (div_id, when, plot["overlaps"])


SIDEWAYS_JS = """() => {
  const scrolls = el => { for (let p = el.parentElement; p && p !== document.body;
                               p = p.parentElement) {
      if (["auto", "scroll"].includes(getComputedStyle(p).overflowX)) return true; }
    return false; };
  const wide = [...document.querySelectorAll("table")].filter(t =>
      t.getBoundingClientRect().right > window.innerWidth + 1 && !scrolls(t));
  return {page: document.documentElement.scrollWidth, view: window.innerWidth,
          tables: wide.map(t => (t.closest("section") || {}).id + ": "
                                + t.querySelector("th").textContent)};
}"""


@pytest.mark.timeout(300)
def test_no_table_pushes_the_page_sideways_in_a_narrow_window(tmp_path: Path):
    """A wide table scrolls inside its own box; the page itself never scrolls sideways (the
    models and datasets tables of the run metadata did at 1000 px)."""
    sync_api = _playwright_chromium()
    results = synthetic_results(tmp_path / "results", 6, 4, chance=True)
    report = build_report([results], tmp_path / "report.html")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 800, "height": 900})
            page.goto(report.as_uri(), wait_until="load")
            found = page.evaluate(SIDEWAYS_JS)
        finally:
            browser.close()
    assert found["tables"] == []
    assert found["page"] <= found["view"], found


@pytest.mark.timeout(300)
def test_safety_chart_with_real_classifier_names_stays_readable(tmp_path: Path):
    """The safety probes' real classifier names (a regex description of 57 characters)
    were rotated under the axis, squeezed the bars into a strip ~90 px high and pushed the
    y-axis title into the figure's title."""
    import random

    from test_report import make_record, write_run

    toxic = {"classifier": "alt-profanity-check 1.9.1", "threshold": 0.33397931806201375}
    records = []
    for i, model in enumerate(("lead-3", "textrank")):
        rec = make_record(model, "summarization/s", random.Random(i))
        rec["safety"] = {
            "toxicity": {"rate": 0.0, "n": 64, **toxic},
            "amplification": {"rate": 0.0, "n": 64, **toxic},
            "pii_leakage": {"rate": 0.0, "n": 64, "threshold": None, "classifier":
                            "regex: e-mail, phone (9-15 digits), Luhn-valid card number"},
            "adversarial": {"rate": 0.375 - 0.02 * i, "n": 40, **toxic}}
        records.append(rec)
    report = build_report([write_run(tmp_path / "results", "r", records)],
                          tmp_path / "report.html")
    for width, found, page in _overlaps_at_widths(report):
        plot_height = page.evaluate(
            "document.getElementById('fig-safety')._fullLayout.yaxis._length")
        assert found["fig-safety"]["n_overlaps"] == 0, (width, found["fig-safety"])
        assert plot_height >= 200, (width, plot_height)


@pytest.mark.timeout(300)
def test_forest_plots_of_many_tasks_and_few_models_do_not_overlap(tmp_path: Path):
    """Two translation systems on 19 FLORES directions (the generalisation suite): each
    row of the forest plot was so short that its axis title ran into the task titles of the
    next row."""
    import random

    from test_report import make_record, write_run

    tasks = [f"translation/flores-eng-{c}" for c in "abcdefghijklmnopqr"] + [
        "translation/flores-zho-eng"]
    tasks4 = ["sentiment/starter [all 80]", "sentiment/starter-products", "sentiment/x",
              "sentiment/starter-social"]
    records = [make_record(m, t, random.Random(i), chance=True)
               for i, (m, t) in enumerate((m, t) for m in ("apertium", "copy-source")
                                          for t in tasks)]
    records += [make_record(m, t, random.Random(i), chance=True)
                for i, (m, t) in enumerate((m, t) for m in ("vader", "annotator", "coin")
                                           for t in tasks4)]
    report = build_report([write_run(tmp_path / "results", "r", records)],
                          tmp_path / "report.html")
    for width, found, _page in _overlaps_at_widths(report):
        for fig in ("fig-quality-translation", "fig-quality-sentiment"):
            assert found[fig]["n_overlaps"] == 0, (width, fig, found[fig]["overlaps"])


def _overlaps_at_widths(report: Path, widths: tuple[int, ...] = (1400, 1000)):
    """Per window width: the width, :data:`OVERLAP_JS`'s findings once every figure has
    drawn, and the page (open until the next width)."""
    sync_api = _playwright_chromium()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        try:
            for width in widths:
                page = browser.new_page(viewport={"width": width, "height": 1000})
                page.goto(report.as_uri(), wait_until="load")
                page.wait_for_function("[...document.querySelectorAll('.js-plotly-plot')]"
                                       ".every(gd => gd._fullLayout)")
                page.wait_for_timeout(500)
                yield width, page.evaluate(OVERLAP_JS), page
                page.close()
        finally:
            browser.close()
