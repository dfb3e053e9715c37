"""Names cannot break the report, the gate's files or the terminal.

A run whose model, task, example ids, inputs and labels are hostile strings (``</script>``,
``<!--``, ``<img onerror>``, U+2028, backticks, pipes, terminal escape sequences) goes
through ``evalsuite run``, ``evalsuite report`` and ``evalsuite gate``.  The report is parsed
with html5lib (the HTML5 parsing algorithm browsers use) and, when Chromium is installed,
loaded in it; the gate's Markdown is rendered with markdown-it (CommonMark + tables) and its
JUnit XML parsed.  Whatever the report helper changes in the page, these checks hold.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
import xml.etree.ElementTree as ET

import html5lib
import pytest
from markdown_it import MarkdownIt

from tests.conftest import write_jsonl
from tests.faults.helpers import cli

MODEL = "</script><script>document.title='pwned-model'</script><!--\u2028&amp;"
TASK = "t/</script><!--<script>document.title='pwned-task'</script>"
IDS = ["</script><img src=x onerror=\"document.title='pwned-id'\">",
       "<!--", "]]>\u2029", "a`b|c", "\x1b[2J\x1b]0;title\x07"]
RULE = "x`|</details><img src=x onerror=alert(1)>*y* | [z](javascript:alert(1))"
ESC = "\x1b"


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    """One run with hostile names everywhere, made through the command line."""
    tmp = tmp_path_factory.mktemp("hostile")
    rows = [{"id": id_, "text": f"good <script>alert('{i}')</script> {i}" if i % 2 else
             f"bad <!-- {i}", "label": "positive" if i % 2 else "negative"}
            for i, id_ in enumerate(IDS)]
    write_jsonl(tmp / "tasks" / "d.jsonl", rows)
    (tmp / "tasks" / "card.yaml").write_text(textwrap.dedent(f"""\
        name: {json.dumps(TASK)}
        family: sentiment
        dataset: {{path: d.jsonl}}
        labels: [negative, positive]
        metrics: [accuracy, macro_f1]
        """), encoding="utf-8")
    preds = write_jsonl(tmp / "preds.jsonl", [{"id": r["id"], "prediction": "positive"}
                                              for r in rows])
    (tmp / "batch.yaml").write_text(
        f"output: {tmp / 'results'}\ntasks_dirs: [tasks]\nresamples: 50\n"
        f"tasks: [{json.dumps(TASK)}]\n"
        f"models:\n  - name: {json.dumps(MODEL + ESC + '[31m')}\n"
        f"    spec: {json.dumps(f'predictions:{preds}')}\n", encoding="utf-8")
    return tmp


def test_the_run_accepts_the_names_and_keeps_the_terminal_clean(hostile_run, capsys):
    code, out, err = cli(capsys, "run", hostile_run / "batch.yaml", "--run-id", "r")
    assert code == 0, err
    assert ESC not in out + err and "\\x1b" in out + err  # shown, not obeyed
    doc = json.loads((hostile_run / "results" / "r" / "results.json").read_text())
    assert doc["records"][0]["model"] == MODEL + ESC + "[31m"  # stored exactly


@pytest.fixture(scope="module")
def report_html(hostile_run):
    from evalsuite.cli.app import main

    if not (hostile_run / "results" / "r").exists():
        assert main(["run", str(hostile_run / "batch.yaml"), "--run-id", "r"]) == 0
    out = hostile_run / "report.html"
    assert main(["report", str(hostile_run / "results" / "r"), "-o", str(out)]) == 0
    return out


def _parse(path):
    """The page parsed as a browser would, less the 3.5 MB plotly.js bundle (ours, known
    exactly; html5lib is pure Python and would take minutes over it when a payload has
    switched the parser into a script's escaped states)."""
    from plotly.offline import get_plotlyjs

    text = path.read_text(encoding="utf-8").replace(get_plotlyjs(), "/* plotly.js */")
    return html5lib.parse(text, treebuilder="etree", namespaceHTMLElements=False)


def test_the_report_parses_with_no_injected_markup(report_html):
    doc = _parse(report_html)
    elements = list(doc.iter())
    tags = [e.tag for e in elements if isinstance(e.tag, str)]
    assert "img" not in tags  # no <img onerror> came alive
    assert not [e for e in elements if not isinstance(e.tag, str)]  # no <!-- comment -->
    handlers = [(e.tag, a) for e in elements if isinstance(e.tag, str)
                for a in e.attrib if a.lower().startswith("on")]
    assert handlers == []
    scripts = [e for e in elements if e.tag == "script"]
    for script in scripts:  # every script is one of ours, none is a payload
        text = (script.text or "").strip()
        assert "document.title" not in text.split("\n")[0][:60], text[:200]
    meta = next(s for s in scripts if s.get("id") == "evalsuite-report")
    data = json.loads(meta.text)
    assert data["tasks"] == [TASK] and data["models"][0].startswith(MODEL)
    main = next(e for e in elements if e.tag == "main")
    sections = [s.get("id") for s in main if s.tag == "section"]
    assert sections[-1] == "metadata" and len(sections) >= 8  # nothing swallowed the rest


def test_the_report_names_survive_as_text(report_html):
    text = "".join(_parse(report_html).find("body").itertext())
    assert TASK in text and IDS[0] in text  # shown to the reader as written


def test_embedded_json_cannot_end_a_script():
    from evalsuite.report.html import json_for_script

    blob = json_for_script({"a": MODEL, "b": IDS})
    assert "<" not in blob and ">" not in blob and "&" not in blob
    assert "\u2028" not in blob and "\u2029" not in blob
    assert json.loads(blob) == {"a": MODEL, "b": IDS}


CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser",
                                               "google-chrome")) if p), None)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed")
def test_the_report_in_chromium_runs_no_injected_script(report_html):
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--disable-background-networking", "--no-first-run",
                           "--virtual-time-budget=5000", "--dump-dom",
                           report_html.as_uri()], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = html5lib.parse(done.stdout, treebuilder="etree", namespaceHTMLElements=False)
    title = dom.find("head").find("title").text
    assert "pwned" not in title
    assert not [e for e in dom.iter() if e.tag == "img"]
    plots = [e for e in dom.iter() if isinstance(e.tag, str)
             and "js-plotly-plot" in (e.get("class") or "")]
    assert plots  # the figures still render: the escaped JSON parsed


def test_the_gates_markdown_junit_and_table_keep_names_inert(hostile_run, capsys):
    from evalsuite.cli.app import main

    if not (hostile_run / "results" / "r").exists():
        assert main(["run", str(hostile_run / "batch.yaml"), "--run-id", "r"]) == 0
    policy = hostile_run / "policy.yaml"
    policy.write_text(f"rules:\n  - name: {json.dumps(RULE)}\n"
                      f"    figure: '*.metrics.accuracy.value'\n    op: '>='\n"
                      f"    threshold: 0.9\n", encoding="utf-8")
    md, xml = hostile_run / "gate.md", hostile_run / "gate.xml"
    code, out, err = cli(capsys, "gate", hostile_run / "results" / "r", "--policy", policy,
                         "--markdown", md, "--junit", xml)
    assert code == 1, err  # accuracy 0.6: the rule fails, so it is listed twice
    assert ESC not in out + err

    rendered = MarkdownIt("commonmark").enable("table").render(md.read_text("utf-8"))
    page = html5lib.parse(rendered, treebuilder="etree", namespaceHTMLElements=False)
    elements = [e for e in page.iter() if isinstance(e.tag, str)]
    assert not [e for e in elements if e.tag in ("img", "script", "a")]
    assert sum(e.tag == "details" for e in elements) == 1  # the name closed none of them
    tables = [e for e in elements if e.tag == "table"]
    assert len(tables) == 2
    for table in tables:  # every row has the header's number of cells: no | broke out
        widths = {len([c for c in row if c.tag in ("td", "th")]) for row in table.iter("tr")}
        assert len(widths) == 1
        first_cells = ["".join(row[0].itertext()) for row in table.iter("tr")][1:]
        assert first_cells == [RULE]
        labels = [row[1].find("code") for row in table.iter("tr")][1:]
        assert all(code is not None and TASK in code.text for code in labels)

    suite = ET.parse(xml).getroot()
    (case,) = suite.iter("testcase")
    assert case.get("name") == RULE and MODEL in case.find("failure").text


@pytest.mark.parametrize(("rule", "field"), [
    ("{figure: '*.metrics.accuracy.value', op: '>', threshold: .nan}", "rules[0].threshold"),
    ("{figure: '*.metrics.accuracy.value', op: '==', threshold: 1, tolerance: .nan}",
     "rules[0].tolerance"),
    ("{kind: regression, figure: '*.metrics.accuracy.value', max_drop: .nan}",
     "rules[0].max_drop"),
    ("{kind: regression, figure: '*.metrics.accuracy.value', max_drop_relative: .nan}",
     "rules[0].max_drop_relative"),
    ("{kind: efficiency, figure: '*.efficiency.examples_per_s', max_slowdown: .nan}",
     "rules[0].max_slowdown"),
    ("{kind: efficiency, figure: '*.efficiency.examples_per_s', max_slowdown: 0.1, "
     "noise: .inf}", "rules[0].noise"),
    ("{figure: '*.metrics.accuracy.value', op: '>', threshold: -.inf}", "rules[0].threshold"),
])
def test_a_policy_with_a_nan_or_infinite_number_is_refused(tmp_path, capsys, rule, field):
    from tests.faults.helpers import one_error_line

    policy = tmp_path / "policy.yaml"
    policy.write_text(f"rules:\n  - {rule}\n")
    code, _, err = cli(capsys, "gate", tmp_path, "--policy", policy)
    line = one_error_line(err)
    assert code == 2 and str(policy) in line
    assert f"field '{field}'" in line and "finite number" in line


def test_a_nan_alpha_is_refused(tmp_path, capsys):
    policy = tmp_path / "policy.yaml"
    policy.write_text("alpha: .nan\nrules:\n  - {figure: '*.metrics.a.value', op: '>', "
                      "threshold: 0}\n")
    code, _, err = cli(capsys, "gate", tmp_path, "--policy", policy)
    assert code == 2 and "field 'alpha'" in err


def test_task_listings_show_hostile_card_names_literally(tmp_path, capsys):
    """``evalsuite list tasks`` (and ``evalsuite tasks``): a card name with terminal escape
    sequences is shown as ``\\x1b``, one with Rich markup as the brackets it has."""
    write_jsonl(tmp_path / "d.jsonl", [{"id": "a", "text": "x", "label": "positive"}])
    for i, name in enumerate(["t/x\x1b[2J\x1b]0;pwn\x07", "t/[bold]y[/bold]"]):
        (tmp_path / f"c{i}.yaml").write_text(
            f"name: {json.dumps(name)}\nfamily: sentiment\ndataset: {{path: d.jsonl}}\n"
            "labels: [negative, positive]\nmetrics: [accuracy]\n", encoding="utf-8")
    for args in (("list", "tasks"), ("tasks",)):
        code, out, err = cli(capsys, *args, "--tasks-dir", tmp_path)
        assert code == 0, err
        assert ESC not in out + err
        assert "t/x\\x1b[2J\\x1b]0;pwn\\x07" in out and "t/[bold]y[/bold]" in out
