"""No silent drops: a probe that cannot run is said so, everywhere.

The safety probe's classifier is not installed (its module cannot be imported): the record's
``probe_status.safety`` says ``failed`` with the reason, the run's summary names it, and the
report shows the safety dimension as not measured, never the value of the figures that were
left (PII leakage still computed).  ``--executor ray --probes`` runs the probes (on the
driver, through the shared hook) and records their status the same way.
"""

from __future__ import annotations

import json
import sys

import html5lib
import pytest

from tests.faults.helpers import cli, only_run


def run_safety(tmp_path, capsys, out):
    """Two summarizers (English outputs: the default classifier reads them; two models: the
    report ranks them in its scorecard) with the safety probe."""
    return cli(capsys, "run", "-m", "baseline:lead", "-m", "baseline:textrank", "-t",
               "summarization/starter", "--limit", "12", "--probes", "safety", "-o",
               tmp_path / out, "--resamples", "50")


def scorecard_cell(report, dimension):
    """The text of the scorecard's cell for ``dimension`` (first model)."""
    doc = html5lib.parse(report.read_text(encoding="utf-8"), treebuilder="etree",
                         namespaceHTMLElements=False)
    table = next(t for t in doc.iter("table") if "scorecard" in (t.get("class") or ""))
    heads = ["".join(th.itertext()) for th in table.iter("th")]
    column = next(i for i, h in enumerate(heads) if h.startswith(dimension))
    row = next(iter(table.find("tbody")))
    return "".join(list(row)[column].itertext())


def test_a_probe_whose_classifier_is_missing_is_named_and_not_measured(tmp_path, capsys,
                                                                        monkeypatch):
    from evalsuite.probes import safety

    code, _, err = run_safety(tmp_path, capsys, "installed")  # the classifier is here
    assert code == 0, err
    ok = json.loads((only_run(tmp_path / "installed") / "results.json").read_text())
    assert [r["probe_status"] for r in ok["records"]] == [{"safety": {"status": "ok"}}] * 2

    monkeypatch.setitem(sys.modules, "profanity_check", None)  # as if not installed
    monkeypatch.setattr(safety, "_CLASSIFIERS", {})  # not the one loaded above
    code, _, err = run_safety(tmp_path, capsys, "missing")
    assert code == 0, err  # a probe never fails the task
    run_dir = only_run(tmp_path / "missing")
    record = json.loads((run_dir / "results.json").read_text())["records"][0]
    state = record["probe_status"]["safety"]
    assert state["status"] == "failed" and "alt-profanity-check" in state["reason"]
    assert record["safety"]["pii_leakage"]["rate"] is not None  # what was left…
    summary = " ".join(err.split())  # the end-of-run summary names what failed and why
    assert "probe failed: baseline:lead · summarization/starter: safety.toxicity" in summary
    assert "SpecError: safety: the default toxicity classifier needs alt-profanity-check" \
        in summary

    for name, folder in (("installed", only_run(tmp_path / "installed")), ("missing", run_dir)):
        assert cli(capsys, "report", folder, "-o", tmp_path / f"{name}.html")[0] == 0
    assert scorecard_cell(tmp_path / "installed.html", "safety")[:1].isdigit()
    assert scorecard_cell(tmp_path / "missing.html", "safety") == "not measured"  # …unused


def test_probe_status_sums_up_figures():
    from evalsuite.probes.hook import probe_status

    assert probe_status({"a": {"rate": 0.1}, "b": {"status": "not_applicable",
                                                   "reason": "x"}}).to_dict() == {"status": "ok"}
    assert probe_status({"a": {"status": "not_applicable", "reason": "labels"}}).to_dict() == {
        "status": "not_applicable", "reason": "labels"}
    assert probe_status({"a": {"rate": 0.1}, "b": {"status": "failed", "reason": "boom"},
                         "c": {"status": "failed", "reason": "bang"}}).to_dict() == {
        "status": "failed", "reason": "b: boom (and 1 more figures)"}


@pytest.mark.filterwarnings("ignore")
def test_ray_with_probes_runs_them_and_says_how_each_went(tmp_path, capsys):
    pytest.importorskip("ray")
    code, _, err = cli(capsys, "run", "-m", "baseline:vader", "-t", "sentiment/starter",
                       "--limit", "20", "--probes", "bias", "--executor", "ray", "-o",
                       tmp_path / "results")
    assert code == 0, err
    record = json.loads((only_run(tmp_path / "results") / "results.json").read_text()
                        )["records"][0]
    assert record["probe_status"]["bias"]["status"] in ("ok", "not_applicable")
    assert record["bias"]  # the figures, not a silent drop
