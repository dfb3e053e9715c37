"""The gate's outputs: a terminal table, JUnit XML, a Markdown summary and JSON.

* **Table** (rich): rule, figure, value, threshold or baseline, verdict, p-value; failures and
  notes listed below it.
* **JUnit XML** (the Ant/Surefire format Jenkins, GitLab, GitHub test-report actions and Azure
  read): one ``<testsuite>`` for the gate, one ``<testcase>`` per rule (``classname`` =
  ``evalsuite.gate.<kind>``, ``name`` = the rule's name); a failing rule has one
  ``<failure>`` whose message names the failing figures; every rule's checks are listed in
  its ``<system-out>``.
* **Markdown**: a verdict headline, a table of the failures and the full table folded in a
  ``<details>`` block — fit for a pull-request comment or ``$GITHUB_STEP_SUMMARY``.  Names
  (rules, models, tasks, paths) are escaped: :func:`code_span` for figures and paths,
  :func:`markdown_text` for the rest, so none can close a code span, a table cell or the
  ``<details>`` block, or inject markup.
* **JSON**: :meth:`GateReport.to_dict` (verdict, summary counts, every rule and check).
"""

from __future__ import annotations

import json
import re
import socket
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from evalsuite.gate.rules import Check, GateReport, RuleOutcome
from evalsuite.results.files import clean_floats
from evalsuite.utils import p_value_text, printable

MAX_MARKDOWN_ROWS = 400  # keeps a summary well under GitHub's 65,536-character comment limit
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def fmt(value: float | None, digits: int = 4) -> str:
    """A number for a table cell (``–`` when absent)."""
    if value is None:
        return "–"
    if value != value:
        return "nan"
    return f"{value:.{digits}g}"


def value_text(check: Check) -> str:
    """The value cell: the figure, with its change against the baseline when there is one."""
    text = fmt(check.value)
    if check.delta is not None and check.kind != "threshold":
        text += f" (Δ {check.delta:+.3g})"
    return text


def p_text(check: Check) -> str:
    return "" if check.p_value is None else f"{check.p_value:.3g}"


def headline(report: GateReport) -> str:
    """One line: verdict and counts."""
    checks = report.checks
    failed_rules = sum(not o.passed for o in report.outcomes)
    failed = sum(not c.passed for c in checks)
    verdict = "PASSED" if report.passed else "FAILED"
    return (f"gate {verdict}: {len(report.outcomes) - failed_rules} of {len(report.outcomes)} "
            f"rules passed ({len(checks)} checks, {failed} failed)")


# -- terminal -----------------------------------------------------------------------------------
def table(report: GateReport) -> Table:
    """The terminal table of every check."""
    out = Table(show_edge=False, header_style="bold", pad_edge=False, title=None)
    for col in ("rule", "figure", "value", "threshold / baseline", "verdict", "p-value"):
        out.add_column(col, justify="right" if col in ("value", "p-value") else "left",
                       overflow="fold")
    for outcome in report.outcomes:
        for i, check in enumerate(outcome.checks):
            verdict = "[green]pass[/]" if check.passed else "[bold red]FAIL[/]"
            out.add_row(_term(outcome.name) if i == 0 else "", _term(check.label),
                        value_text(check), _term(check.expected), verdict, p_text(check),
                        end_section=i == len(outcome.checks) - 1)
    return out


def _term(text: str) -> str:
    """A name for the terminal: rich markup and control characters escaped."""
    return escape(printable(text))


def print_report(report: GateReport, console: Console) -> None:
    """Table, failure messages, notes and the headline on a rich console."""
    console.print(table(report))
    for outcome in report.outcomes:
        for check in outcome.failures:
            console.print(f"[red]✗[/] {_term(outcome.name)}: {_term(check.label)}: "
                          f"{_term(check.message)}")
    notes = sorted({f"{c.label}: {n}" for c in report.checks for n in c.notes})
    for note in notes[:50]:
        console.print(f"[dim]note[/] {_term(note)}")
    if len(notes) > 50:
        console.print(f"[dim]… and {len(notes) - 50} more notes (see --json)[/]")
    colour = "green" if report.passed else "bold red"
    console.print(f"[{colour}]{escape(headline(report))}[/]")


# -- JUnit XML ----------------------------------------------------------------------------------
def _xml_text(text: str) -> str:
    return _XML_INVALID.sub("?", text)


def _check_line(check: Check) -> str:
    parts = [f"{check.verdict} {check.label}: value {value_text(check)}"]
    if check.expected:
        parts.append(f"expected {check.expected}")
    if check.p_value is not None:
        parts.append(p_value_text(check.p_value))
    line = ", ".join(parts)
    if check.message:
        line += f" — {check.message}"
    if check.notes:
        line += f" [{'; '.join(check.notes)}]"
    return line


def _failure_message(outcome: RuleOutcome) -> str:
    failures = outcome.failures
    if not outcome.checks:
        return "the rule checked nothing"
    first = failures[0]
    more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
    return (f"{len(failures)} of {len(outcome.checks)} figures fail: {first.label}: "
            f"{first.message}{more}")


def junit_xml(report: GateReport) -> str:
    """The report as JUnit XML (one test case per rule)."""
    failures = sum(not o.passed for o in report.outcomes)
    total_time = sum(o.seconds for o in report.outcomes)
    suites = ET.Element("testsuites", name="evalsuite gate", tests=str(len(report.outcomes)),
                        failures=str(failures), errors="0", time=f"{total_time:.3f}")
    suite = ET.SubElement(
        suites, "testsuite",
        name=f"evalsuite gate: {report.policy.name if report.policy else 'policy'}",
        tests=str(len(report.outcomes)), failures=str(failures), errors="0", skipped="0",
        time=f"{total_time:.3f}",
        timestamp=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
        hostname=socket.gethostname() or "localhost")
    props = ET.SubElement(suite, "properties")
    for name, value in (("results", str(report.results)),
                        *(("baseline", str(b)) for b in report.baselines),
                        ("policy", str(report.policy or "")), ("alpha", f"{report.alpha:g}"),
                        ("test", report.test)):
        ET.SubElement(props, "property", name=name, value=_xml_text(value))
    for outcome in report.outcomes:
        case = ET.SubElement(suite, "testcase", classname=f"evalsuite.gate.{outcome.kind}",
                             name=_xml_text(outcome.name), time=f"{outcome.seconds:.3f}")
        if not outcome.passed:
            failure = ET.SubElement(case, "failure", message=_xml_text(_failure_message(outcome)),
                                    type=f"gate.{outcome.kind}")
            failure.text = _xml_text("\n".join(_check_line(c) for c in outcome.failures)
                                     or "the rule checked nothing")
        out = ET.SubElement(case, "system-out")
        out.text = _xml_text(f"{outcome.scope}: {outcome.describe}\n"
                             + "\n".join(_check_line(c) for c in outcome.checks))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


# -- Markdown -----------------------------------------------------------------------------------
_MD_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+!|~])")
_BACKTICKS = re.compile(r"`+")


def markdown_text(text: str) -> str:
    """``text`` as literal Markdown on one line: HTML characters as entities, Markdown
    punctuation backslash-escaped (``|`` too, so it is safe in a table cell).

    >>> markdown_text("<b>*rule*</b> | x")
    '&lt;b&gt;\\\\*rule\\\\*&lt;/b&gt; \\\\| x'
    """
    text = " ".join(str(text).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_PUNCTUATION.sub(r"\\\1", text)


def code_span(text: str) -> str:
    """``text`` as an inline code span that no backtick in it can close (CommonMark: a
    fence one backtick longer than the longest run inside), safe in a table cell.

    >>> code_span("a`b")
    '`` a`b ``'
    """
    text = " ".join(str(text).split()).replace("|", "\\|")
    longest = max((len(m) for m in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _cell(text: str) -> str:
    return text.replace("\n", " ") or " "


def _rows(checks: list[tuple[str, Check]], *, why: bool) -> list[str]:
    head = "| rule | figure | value | threshold / baseline | verdict | p-value |"
    sep = "| --- | --- | ---: | --- | --- | ---: |"
    if why:
        head, sep = head + " why |", sep + " --- |"
    lines = [head, sep]
    for name, c in checks[:MAX_MARKDOWN_ROWS]:
        verdict = "✅ pass" if c.passed else "❌ **FAIL**"
        row = [markdown_text(name), code_span(c.label), markdown_text(value_text(c)),
               markdown_text(c.expected), verdict, markdown_text(p_text(c))]
        if why:
            row.append(markdown_text(c.message + (f" ({'; '.join(c.notes)})" if c.notes
                                                  else "")))
        lines.append("| " + " | ".join(_cell(x) for x in row) + " |")
    if len(checks) > MAX_MARKDOWN_ROWS:
        lines.append(f"\n… {len(checks) - MAX_MARKDOWN_ROWS} more rows: see the JSON report.")
    return lines


def markdown(report: GateReport) -> str:
    """A Markdown summary for a pull-request comment or ``$GITHUB_STEP_SUMMARY``."""
    icon = "✅" if report.passed else "❌"
    lines = [f"## {icon} evalsuite {headline(report)}", ""]
    base = ", ".join(code_span(str(b)) for b in report.baselines) or "none"
    lines += [f"Results {code_span(str(report.results))} · baseline {base} · policy "
              f"{code_span(str(report.policy or '–'))} · α = {report.alpha:g} (paired "
              f"{report.test} test, one-sided)", ""]
    failures = [(o.name, c) for o in report.outcomes for c in o.failures]
    if failures:
        lines += ["### Failures", "", *_rows(failures, why=True), ""]
    every = [(o.name, c) for o in report.outcomes for c in o.checks]
    lines += [f"<details><summary>All {len(every)} checks of {len(report.outcomes)} rules"
              "</summary>", "", *_rows(every, why=False), "", "</details>", ""]
    notes = sorted({f"{code_span(c.label)}: {markdown_text(n)}" for c in report.checks
                    for n in c.notes})
    if notes:
        lines += ["<details><summary>Notes</summary>", ""]
        lines += [f"- {n}" for n in notes[:MAX_MARKDOWN_ROWS]]
        lines += ["", "</details>", ""]
    return "\n".join(lines)


# -- JSON ---------------------------------------------------------------------------------------
def json_text(report: GateReport) -> str:
    """The report as JSON (NaN and infinities become null)."""
    return json.dumps(clean_floats(report.to_dict()), indent=2, ensure_ascii=False,
                      allow_nan=False) + "\n"


# -- files --------------------------------------------------------------------------------------
def write_outputs(report: GateReport, *, junit: Path | None = None,
                  markdown_path: Path | None = None, json_path: Path | None = None) -> None:
    """Write the requested report files (folders are created)."""
    from evalsuite.utils import output_file

    for path, text, flag in ((junit, junit_xml, "--junit"), (markdown_path, markdown, "--markdown"),
                             (json_path, json_text, "--json")):
        if path is not None:
            with output_file(path, where=flag):
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text(report), encoding="utf-8")
