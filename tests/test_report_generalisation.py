"""The report's Generalisation section, its chart, the scorecard column and compare: the
figures drawn equal the records' generalisation blocks, the worst variant is named in words,
the column covers only the variants a group shares, and nothing-to-retain is said."""

from __future__ import annotations

import csv
import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
from test_report import make_record, synthetic_results, write_run
from test_report_decision import record, scored

from evalsuite.report import build_report
from evalsuite.report import figures as F
from evalsuite.report import generalisation as G
from evalsuite.report.compare import comparison, render
from evalsuite.report.load import load_report_data
from evalsuite.results.records import Record


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return synthetic_results(tmp_path_factory.mktemp("gen") / "results", 8, 20, chance=True,
                             generalisation=True)


def blocks(folder: Path) -> dict[tuple[str, str], dict[str, Any]]:
    document = json.loads((folder / "results.json").read_text())
    return {(r["model"], r["task"]): r["generalisation"] for r in document["records"]
            if r.get("generalisation")}


def drawn(fig) -> dict[tuple[str, str], tuple[float, float, float]]:
    """(model label, variant label) -> (x, low, high) over every state of the chart."""
    menus = fig.layout.updatemenus
    trace = fig.data[0]
    labels = list(trace.y[1]) if isinstance(trace.y[0], (list, tuple)) else list(trace.y)
    if menus:
        states = [{k: v[0] for k, v in b.args[0].items()} for b in menus[0].buttons]
    else:
        states = [{"name": t.name, "x": t.x, "error_x.array": t.error_x.array,
                   "error_x.arrayminus": t.error_x.arrayminus} for t in fig.data]
    out = {}
    for state in states:
        for label, x, plus, minus in zip(labels, state["x"], state["error_x.array"],
                                         state["error_x.arrayminus"], strict=True):
            if x is not None:
                out[(state["name"].removesuffix(" ✗"), label)] = (x, x - minus, x + plus)
    return out


def test_chart_points_and_whiskers_equal_the_generalisation_blocks(folder: Path):
    data = load_report_data([folder])
    found = blocks(folder)
    figures = F.generalisation_figures(data)
    assert list(figures) == ["ner/synthetic-languages", "sentiment/synthetic-domains",
                             "translation/synthetic-languages"]
    labels = {"translation/synthetic-10": "en→sw", "translation/synthetic-16": "en→am",
              "sentiment/synthetic-06": "social", "sentiment/synthetic-12": "reviews/products",
              "sentiment/synthetic-18": "news", "ner/synthetic-07": "zh",
              "ner/synthetic-13": "hi", "ner/synthetic-19": "yo"}
    expected = {(model, labels[task]): (100 * b["retention"], 100 * b["ci_low"],
                                        100 * b["ci_high"])
                for (model, task), b in found.items() if b["retention"] is not None}
    points = {}
    for fig in figures.values():
        points.update(drawn(fig))
        line = fig.layout.shapes[0]
        assert (line.x0, line.x1, line.line.dash) == (100, 100, "dot")  # the reference
        assert "%" in fig.layout.xaxis.ticksuffix
    assert set(points) == set(expected)
    for key, (x, low, high) in points.items():
        assert x == pytest.approx(expected[key][0])
        assert low == pytest.approx(expected[key][1]) and high == pytest.approx(expected[key][2])
    # model-02 is below chance on the sentiment reference: nothing drawn for it there
    assert not any(m == "model-02" and v in ("social", "news") for m, v in points)
    # more than six models: one at a time through a drop-down; fewer side by side
    translation = figures["translation/synthetic-languages"]
    assert len(translation.data) == 1 and len(translation.layout.updatemenus[0].buttons) == 8
    assert translation.layout.updatemenus[0].buttons[0].label.startswith("model: ")
    assert figures["ner/synthetic-languages"].layout.scattermode == "group"
    assert len(figures["ner/synthetic-languages"].data) == 3


def test_language_variants_are_grouped_by_resource_level_else_by_script(folder: Path):
    figures = F.generalisation_figures(load_report_data([folder]))
    groups = {name: list(zip(fig.data[0].y[0], fig.data[0].y[1], strict=True))
              for name, fig in figures.items() if fig.layout.yaxis.type == "multicategory"}
    assert groups["translation/synthetic-languages"] == [("mid-resource", "en→sw"),
                                                         ("low-resource", "en→am")]
    assert groups["ner/synthetic-languages"] == [("Devanagari script", "hi"),
                                                 ("Han (simplified) script", "zh"),
                                                 ("Latin script", "yo")]
    assert figures["sentiment/synthetic-domains"].layout.yaxis.type == "category"  # domains


def base(model: str, task: str, value: float, **place: Any) -> dict[str, Any]:
    rec = record(model, task, value)
    rec.update(place)
    return rec


def block(reference: dict[str, Any], variant: dict[str, Any], suite: str, *,
          ci: tuple[float, float] | None = None, shift: str = "language") -> None:
    """Give ``variant`` the block the runner would (its retention against ``reference``)."""
    metric = reference["primary_metric"]
    r, v = reference["metrics"][metric]["value"], variant["metrics"][metric]["value"]
    beats = reference["chance"]["beats_chance"]
    low, high = ci or (v / r - 0.05, v / r + 0.05)
    variant["generalisation"] = {
        "suite": suite, "reference_task": reference["task"], "metric": metric,
        "reference_value": r, "value": v, "retention": None if beats is False else v / r,
        "ci_low": None if beats is False else low, "ci_high": None if beats is False else high,
        "gap": r - v, "gap_ci_low": r - v - 1, "gap_ci_high": r - v + 1, "p_value": 0.01,
        "paired": True, "shift": shift, "beats_chance": beats,
        **({"retention_reason": "the model does not beat chance on the reference"}
           if beats is False else {})}


def flores(model: str, target: str, value: float, level: str | None = None,
           beats: bool | None = None, **extra: Any) -> dict[str, Any]:
    rec = record(model, f"translation/flores-eng-{target}", value, beats=beats, **extra)
    rec.update(source_language="eng_Latn", language=f"{target}_Latn" if target != "amh"
               else "amh_Ethi", **({"resource_level": level} if level else {}))
    return rec


def test_the_worst_variant_is_named_in_words_by_hand(tmp_path: Path):
    ref = flores("mt", "cat", 50.0, "high")
    gl, am = flores("mt", "glg", 47.0, "mid"), flores("mt", "amh", 3.0, "low")
    block(ref, gl, "translation/flores", ci=(0.90, 0.99))
    block(ref, am, "translation/flores", ci=(0.04, 0.09))
    data = load_report_data([write_run(tmp_path, "r", [ref, gl, am])])
    [ms] = G.model_suites(data, data.models[0])
    assert G.sentence(ms) == ("mt keeps 94% of its en→ca bleu on en→gl; worst: en→am, "
                              "6.0% [4.0–9.0%]; mean 50% over 2 variants.")
    assert [v.name for v in ms.variants] == ["English → Galician", "English → Amharic"]
    one = G.ModelSuite(ms.model, ms.suite, ms.reference_task, "en→ca", "bleu",
                       ms.variants[:1])
    assert G.sentence(one) == ("mt keeps 94% [90–99%] of its en→ca bleu on en→gl (a loss "
                               "the interval supports).")


def test_nothing_to_retain_below_chance_and_the_gap_is_still_said(tmp_path: Path):
    ref = flores("copy", "cat", 20.0, beats=False)
    am = flores("copy", "amh", 1.5, beats=False)
    block(ref, am, "translation/flores")
    data = load_report_data([write_run(tmp_path, "r", [ref, am])])
    [ms] = G.model_suites(data, data.models[0])
    assert ms.nothing_to_retain and not ms.retained
    assert G.sentence(ms) == ("copy: nothing to retain on translation/flores: it does not "
                              "beat chance on translation/flores-eng-cat; largest gap: "
                              "en→am, 18.5 bleu below the reference.")
    assert F.generalisation_figures(data) == {}  # nothing to draw


def test_scorecard_column_covers_only_the_variants_the_group_shares(tmp_path: Path):
    """a and b share the reference and en→gl; a alone has en→am (its worst): the column
    compares them on en→gl only.  c does not beat chance on the reference: nothing to
    retain.  d is alone: its own variants."""
    records = []
    for name, gl_value in (("a", 45.0), ("b", 30.0)):
        ref, gl = flores(name, "cat", 50.0, "high"), flores(name, "glg", gl_value, "mid")
        block(ref, gl, "translation/flores")
        records += [ref, gl]
    am = flores("a", "amh", 5.0, "low")
    block(records[0], am, "translation/flores")
    ref_c, gl_c = flores("c", "cat", 20.0, beats=False), flores("c", "glg", 19.0, beats=False)
    block(ref_c, gl_c, "translation/flores")
    ref_d = base("d", "ner/news", 0.8, language="en", domain="news")
    social = base("d", "ner/social", 0.4, language="en", domain="social")
    block(ref_d, social, "ner/domains", shift="domain")
    records += [am, ref_c, gl_c, ref_d, social]
    data, scores, by, weights = scored([write_run(tmp_path, "r", records)])
    group = by["a"].group
    assert group is not None and {m.label for m in group.models} == {"a", "b", "c"}
    cells = G.group_retention(data, group.models, group.tasks)
    by_label = {m.label: cells[m.key] for m in group.models}
    assert by_label["a"].value == pytest.approx(45 / 50)  # not the mean with en→am's 0.1
    assert by_label["a"].worst.label == "en→gl"
    assert by_label["b"].value == pytest.approx(30 / 50)
    assert by_label["c"].value is None and by_label["c"].why.startswith("nothing to retain")
    alone = G.group_retention(data, [by["d"].model], None)[by["d"].model.key]
    assert alone.value == pytest.approx(0.5) and alone.worst.label == "social"

    page = build_report([tmp_path / "r"], tmp_path / "r.html").read_text(encoding="utf-8")
    scorecard = page.split('<section id="scorecard">')[1].split("</section>")[0]
    assert "generalisation" in scorecard and "90%" in scorecard and "60%" in scorecard
    assert "nothing to retain" in scorecard
    method = page.split('<section id="method">')[1].split("</section>")[0]
    assert "mean retention over the suite variants that" in method

    result = comparison(data, scores, weights)
    models = {m["model"]: m for m in result["models"]}
    assert models["a"]["generalisation"]["value"] == pytest.approx(0.9)
    assert models["a"]["generalisation"]["variants"] == ["translation/flores-eng-glg"]
    assert models["c"]["generalisation"]["nothing_to_retain"] is True
    assert models["c"]["generalisation"]["value"] is None
    task = models["a"]["tasks"]["translation/flores-eng-amh"]["generalisation"]
    assert task["retention"] == pytest.approx(0.1) and task["label"] == "en→am"
    assert task["group"] == "low-resource"
    assert models["a"]["tasks"]["translation/flores-eng-cat"]["generalisation"] is None
    assert [g["model"] for g in result["generalisation"]] == ["a", "b", "c", "d"]
    markdown = render(result, "markdown")
    assert "| generalisation |" in markdown.splitlines()[0]
    assert "90% (worst en→gl 90%)" in markdown and "nothing to retain" in markdown
    assert ("- a keeps 90% of its en→ca bleu on en→gl; worst: en→am, 10% [5.0–15%]; mean "
            "50% over 2 variants.") in markdown  # the section's words: all of a's variants
    table = render(result, "table")
    assert "generalisation" in table.splitlines()[0]
    rows = list(csv.reader(render(result, "csv").splitlines()))
    assert rows[0][-1] == "generalisation"
    assert float(rows[[r[3] for r in rows].index("a")][-1]) == pytest.approx(0.9)


def test_report_without_suites_says_so_and_keeps_the_scorecard_as_it_was(tmp_path: Path):
    run = write_run(tmp_path, "r", [record("a", "sentiment/s", 0.8),
                                    record("b", "sentiment/s", 0.7)])
    page = build_report([run], tmp_path / "r.html").read_text(encoding="utf-8")
    section = page.split('<section id="generalisation">')[1].split("</section>")[0]
    assert "Not measured" in section and "--suite" in section
    assert "generalisation<span" not in page.split('<section id="scorecard">')[1].split(
        "</section>")[0]
    data, scores, _, weights = scored([run])
    result = comparison(data, scores, weights)
    assert result["generalisation"] == []
    assert all(m["generalisation"] is None for m in result["models"])
    assert "generalisation" not in render(result, "table").splitlines()[0]


def test_section_lists_sentences_chart_and_table_per_suite(folder: Path, tmp_path: Path):
    page = build_report([folder], tmp_path / "g.html").read_text(encoding="utf-8")
    section = page.split('<section id="generalisation">')[1].split("</section>")[0]
    assert section.count('class="plotly-graph-div"') == 3
    assert section.count('<table class="tasks gen">') == 3
    assert len(re.findall(r"worst: ", section)) >= 8
    assert "nothing to retain" in section and "Not drawn" in section
    assert '<a href="#generalisation">Generalisation</a>' in page


def test_into_english_labels_the_source_and_groups_by_its_script():
    def rec(task: str, source: str, **extra: Any) -> Record:
        raw = make_record("m", task, random.Random(0))
        raw.update(source_language=source, language="eng_Latn", **extra)
        return Record.model_validate(raw)

    reference = rec("translation/flores-cat-eng", "cat_Latn")
    label, name, group, _ = G.place_label(rec("translation/flores-zho-eng", "zho_Hans"),
                                          reference, "language")
    assert (label, name, group) == ("zh→en", "Chinese → English", "Han (simplified) script")
    label, _, group, _ = G.place_label(rec("translation/flores-hin-eng", "hin_Deva",
                                           resource_level="mid"), reference, "language")
    assert (label, group) == ("hi→en", "mid-resource")
    assert G.percent(0.0612) == "6.1%" and G.percent(0.941) == "94%" and G.percent(None) == "–"


def test_a_newer_record_without_its_retention_figure_says_so(tmp_path: Path):
    """A plain rerun of a suite variant (no --suite) replaced the record that held its
    generalisation block; the retention disappeared from the section unannounced."""
    ref, gl = flores("mt", "cat", 50.0, "high"), flores("mt", "glg", 47.0, "mid")
    block(ref, gl, "translation/flores-from-english")
    plain = flores("mt", "glg", 47.0, "mid")
    old = write_run(tmp_path / "a", "suite", [ref, gl], created="2026-01-01T00:00:00+00:00")
    new = write_run(tmp_path / "b", "plain", [plain], created="2026-02-01T00:00:00+00:00")
    data = load_report_data([old, new])
    (r,) = data.replaced
    assert r.lost_sections == ["generalisation"] and "generalisation" in r.reason
