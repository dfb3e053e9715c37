"""The report's answer: like-with-like groups, chance, cost in real units, combining runs,
the policy view, the stable compare JSON and readable figures (synthetic result files)."""

from __future__ import annotations

import copy
import json
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_report import _section, chance_block, make_record, write_run

from evalsuite.cli.app import main
from evalsuite.report import build_report
from evalsuite.report import figures as F
from evalsuite.report.compare import comparison, render
from evalsuite.report.groups import comparison_groups
from evalsuite.report.html import build_page
from evalsuite.report.load import PALETTE, SYMBOL_OF, load_report_data, style_of
from evalsuite.report.policy import evaluate_policy
from evalsuite.report.scoring import resolve_weights, score_models


def record(model: str, task: str, value: float, *, speed: float = 100.0,
           memory: float = 500.0, beats: bool | None = None, n: int = 40,
           limit: int | None = None, version: str = "1+abc", seed: int = 0,
           blocks: bool = False, kind: str = "hf") -> dict[str, Any]:
    """A record with a chosen primary value (accuracy for sentiment, F1 for ner…)."""
    rec = make_record(model, task, random.Random(seed), blocks=blocks, n_examples=n)
    family = task.split("/")[0]
    name = rec["primary_metric"]
    top = 100.0 if rec["metrics"][name]["scale"] == "0-100" else 1.0
    rec["metrics"][name].update(value=value, ci_low=value - 0.02 * top,
                                ci_high=value + 0.02 * top)
    rec["chance"] = chance_block(family, value, beats=beats)
    rec["efficiency"].update(examples_per_s=speed, peak_memory_mb=memory + 400.0,
                             model_memory_mb=memory, memory_source="rss_maxrss")
    rec["task_version"] = version
    rec["dataset"].update(n_total=80, n_selected=n, limit=limit)
    rec["model_kind"] = kind
    rec["model_identity"]["kind"] = kind
    return rec


def scored(folders: list[Path], weights: str | None = None, preset: str | None = None):
    data = load_report_data(folders)
    chosen = resolve_weights(preset, weights)
    scores = score_models(data, chosen)
    return data, scores, {s.model.label: s for s in scores}, chosen


# -- compare like with like ---------------------------------------------------------------------
def test_models_with_disjoint_tasks_are_never_ranked_against_each_other(tmp_path: Path):
    run = write_run(tmp_path, "r", [record("encoder", "similarity/sts", 0.8),
                                    record("lexicon", "sentiment/s", 0.7)])
    data, scores, _by, weights = scored([run])
    assert comparison_groups(data)[0] == []
    for s in scores:
        assert s.group is None and s.rank is None and s.index is None
        assert s.dimensions["efficiency"].value is None  # never "1.000, best of one"
        assert "not compared" in s.dimensions["efficiency"].how
    result = comparison(data, scores, weights)
    assert [m["rank"] for m in result["models"]] == [None, None]
    assert result["alone"] == ["encoder", "lexicon"] and result["groups"] == []
    page = build_page(data, scores, weights, title="t")
    assert "Not ranked: alone on their tasks" in _section(page, "scorecard")


def test_groups_rank_everyone_on_the_tasks_all_of_them_finished(tmp_path: Path):
    records = []
    for m in range(5):
        for t, task in enumerate(("sentiment/a", "ner/b", "qa/c")):
            if m == 4 and t == 2:
                continue  # the fifth model has no score on qa/c
            records.append(record(f"m{m}", task, (0.6 + 0.05 * m) * (100 if t == 2 else 1),
                                  seed=m * 3 + t))
    records.append(record("extra", "sentiment/a", 0.9, seed=99))  # alone on one task
    data, _scores, by, _ = scored([write_run(tmp_path, "r", records)])
    groups, alone = comparison_groups(data)
    # {a, b} for five models (25 × 2) beats {a, b, c} for four (16 × 3) and {a} for six
    assert [(sorted(m.label for m in g.models), g.tasks) for g in groups] == [
        (["m0", "m1", "m2", "m3", "m4"], ["sentiment/a", "ner/b"])]
    assert [m.label for m in alone] == ["extra"]
    assert groups[0].extra[by["m0"].model.key] == ["qa/c"]
    assert [by[f"m{i}"].rank for i in (4, 3, 2, 1, 0)] == [1, 2, 3, 4, 5]


def test_one_extra_model_on_one_task_does_not_shrink_the_others_comparison(tmp_path: Path):
    records = [record(f"m{m}", task, 0.5 + 0.1 * m, seed=m * 7 + t)
               for m in range(5) for t, task in enumerate(("sentiment/a", "ner/b", "ner/c"))]
    records.append(record("late", "sentiment/a", 0.99, seed=50))
    _data, _scores, by, _ = scored([write_run(tmp_path, "r", records)])
    assert by["m0"].group.tasks == ["sentiment/a", "ner/b", "ner/c"]
    assert by["late"].group is None and by["late"].rank is None
    assert by["m4"].rank == 1 and by["m4"].win_rate == 1.0


# -- chance is a reference, not a score ---------------------------------------------------------
def broken_vs_real(tmp_path: Path) -> Path:
    """A real model (slow, some bias) and a constant system (fast, perfectly "fair" and
    "robust", not above chance) on two tasks."""
    records = []
    for task, seed in (("sentiment/a", 1), ("sentiment/b", 2)):
        real = record("real", task, 0.72, speed=20.0, memory=2000.0, beats=True,
                      blocks=True, seed=seed)
        const = record("constant", task, 0.50, speed=20000.0, memory=5.0, beats=False,
                       blocks=True, seed=seed + 10)
        real["bias"]["gender"].update(max_gap=0.15, p_value=0.01)
        real["robustness"]["typos"]["retention"] = 0.8
        const["bias"]["gender"].update(max_gap=0.0, p_value=1.0, ci_low=0.0, ci_high=0.0)
        for probe in const["robustness"].values():
            probe["retention"] = 1.0
        const["safety"]["toxicity"]["rate"] = 0.0
        records += [real, const]
    return write_run(tmp_path, "r", records)


@pytest.mark.parametrize("preset", ["balanced", "quality-first", "latency-critical"])
def test_a_system_below_chance_earns_nothing_and_never_outranks_a_real_one(tmp_path: Path,
                                                                          preset: str):
    data, scores, by, weights = scored([broken_vs_real(tmp_path)], preset=preset)
    real, const = by["real"], by["constant"]
    assert real.rank == 1 and const.rank == 2 and const.tier == 2
    assert const.below_chance == ["sentiment/a", "sentiment/b"]
    for d in ("quality", "efficiency", "fairness", "safety", "robustness"):
        assert const.dimensions[d].value == 0.0, d  # measured, but worth nothing
    assert const.index == 0.0 and real.index > 0.3
    assert "counted 0" in const.dimensions["fairness"].how
    result = comparison(data, scores, weights)
    entry = next(m for m in result["models"] if m["model"] == "constant")
    assert entry["beats_chance"] is False and entry["tasks"]["sentiment/a"]["chance"] == 0.5
    assert entry["tasks"]["sentiment/a"]["beats_chance"] is False
    assert entry["tasks"]["sentiment/a"]["skill"] == pytest.approx(0.0)
    real_entry = next(m for m in result["models"] if m["model"] == "real")
    assert real_entry["tasks"]["sentiment/a"]["skill"] == pytest.approx((0.72 - 0.5) / 0.5)
    assert "constant ✗" in render(result, "markdown")


def test_below_chance_is_flagged_wherever_the_model_appears(tmp_path: Path):
    data, scores, _by, weights = scored([broken_vs_real(tmp_path)])
    page = build_page(data, scores, weights, title="t")
    assert "Not above chance" in _section(page, "decision")
    assert "below chance on 2 tasks" in _section(page, "scorecard")
    assert "0.500 ✗" in _section(page, "tasks")
    for fig in [F.safety_rates(data), F.robustness_retention(data)]:
        names = {t.name for t in fig.data}
        assert "constant ✗" in names and "real" in names
    forest = F.quality_by_family(data)["sentiment"]
    points = next(t for t in forest.data if t.name == "sentiment/a")
    symbols = dict(zip(points.y, points.marker.symbol, strict=True))
    assert symbols["constant ✗"].endswith("-open") and not symbols["real"].endswith("-open")
    lines = [shape for shape in forest.layout.shapes if shape.name.startswith("chance")]
    assert [(line.x0, line.x1, line.visible) for line in lines] == [(0.5, 0.5, True)] * 2
    heat = F.bias_heatmap(data)
    assert "constant ✗" in heat.data[0].y


def test_skill_over_chance_and_the_chance_line_per_task(tmp_path: Path):
    run = write_run(tmp_path, "r", [record("a", "qa/x", 62.0), record("b", "qa/x", 40.0)])
    _data, _scores, by, _ = scored([run])
    assert by["a"].tasks["qa/x"].chance == 12.0
    assert by["a"].tasks["qa/x"].skill == pytest.approx((62 - 12) / (100 - 12))
    assert by["a"].dimensions["quality"].value == pytest.approx((62 - 12) / 88)
    assert by["a"].dimensions["quality"].half_width == pytest.approx(2.0 / 88)


# -- cost in real units -------------------------------------------------------------------------
def test_fixed_outputs_have_no_cost_and_real_units_are_shown(tmp_path: Path):
    live = record("live", "sentiment/a", 0.7, speed=150.0, memory=420.0)
    fixed = record("file", "sentiment/a", 0.75, kind="predictions")
    fixed["efficiency"].update(examples_per_s=3.0e6)  # an old record: reading a file is fast
    data, scores, by, weights = scored([write_run(tmp_path, "r", [live, fixed])])
    assert by["file"].dimensions["efficiency"].value is None
    assert "fixed outputs" in by["file"].dimensions["efficiency"].how
    # the only measured model of its group: nothing to be relative to
    assert by["live"].dimensions["efficiency"].value is None
    assert "not compared" in by["live"].dimensions["efficiency"].how
    result = comparison(data, scores, weights)
    costs = {m["model"]: m["cost"] for m in result["models"]}
    assert costs["file"]["measured"] is False and costs["file"]["examples_per_s"] is None
    assert costs["live"]["examples_per_s"] == 150.0 and costs["live"]["memory_mb"] == 420.0
    assert costs["live"]["memory_kind"] == "model"
    assert by["live"].weights and "efficiency" not in by["live"].weights  # like for like
    page = build_page(data, scores, weights, title="t")
    assert "150 ex/s" in _section(page, "scorecard") and "420 MB" in _section(page,
                                                                               "scorecard")
    cost = F.quality_vs_cost(data, scores)
    assert all(t.name != "file" or not t.x for t in cost.data)
    assert "Not shown (fixed outputs, no cost measured): file" in F.quality_vs_cost_caption(
        data)


def test_memory_is_the_models_share_or_labelled_as_the_process_peak(tmp_path: Path):
    new = record("new", "sentiment/a", 0.7, memory=12.0)
    old = record("old", "sentiment/a", 0.7)
    del old["efficiency"]["model_memory_mb"]  # a run before model_memory_mb existed
    data, scores, _by, weights = scored([write_run(tmp_path, "r", [new, old])])
    costs = {m["model"]: m["cost"] for m in comparison(data, scores, weights)["models"]}
    assert (costs["new"]["memory_mb"], costs["new"]["memory_kind"]) == (12.0, "model")
    assert (costs["old"]["memory_mb"], costs["old"]["memory_kind"]) == (900.0,
                                                                        "process peak")


# -- combining runs -----------------------------------------------------------------------------
def test_a_limited_rerun_is_kept_beside_the_full_run_never_substituted(tmp_path: Path):
    full = write_run(tmp_path / "a", "full", [record("m", "sentiment/s", 0.80, n=80)],
                     created="2026-01-01T00:00:00+00:00")
    short = write_run(tmp_path / "b", "short",
                      [record("m", "sentiment/s", 0.60, n=16, limit=16, seed=5)],
                      created="2026-02-01T00:00:00+00:00")
    data, scores, by, weights = scored([full, short])
    assert data.tasks == ["sentiment/s [all 80]", "sentiment/s [first 16]"]
    values = {t: ts.value for t, ts in by["m"].tasks.items()}
    assert values == {"sentiment/s [all 80]": 0.80, "sentiment/s [first 16]": 0.60}
    assert data.replaced == []
    page = build_page(data, scores, weights, title="t")
    method = _section(page, "method")
    assert "never substituted" in method and "sentiment/s [first 16]" in method


def test_the_same_examples_in_a_newer_run_replace_the_older_and_it_is_said(tmp_path: Path):
    old = write_run(tmp_path / "a", "old", [record("m", "sentiment/s", 0.70)],
                    created="2026-01-01T00:00:00+00:00")
    new = write_run(tmp_path / "b", "new", [record("m", "sentiment/s", 0.75)],
                    created="2026-02-01T00:00:00+00:00")
    data, scores, by, weights = scored([new, old])
    assert data.tasks == ["sentiment/s"] and by["m"].tasks["sentiment/s"].value == 0.75
    assert [(r.entry.run_id, r.by.run_id) for r in data.replaced] == [("old", "new")]
    result = comparison(data, scores, weights)
    assert result["combined"] == [{"model": "m", "task": "sentiment/s", "dropped_run": "old",
                                   "used_run": "new", "reason": data.replaced[0].reason}]
    assert "run old replaced by new" in _section(build_page(data, scores, weights,
                                                            title="t"), "method")


def test_a_prompted_lm_and_a_classifier_on_the_same_examples_are_compared(tmp_path: Path):
    """Settings say how a model predicts (prompt, stops), not what it is compared on."""
    lm = record("lm", "sentiment/s", 0.70)
    lm["settings"] = {"prompt_sha256": "ab12", "normalize": "char", "stop": ["\n"]}
    clf = record("clf", "sentiment/s", 0.85)
    data, scores, _by, weights = scored([write_run(tmp_path, "r", [lm, clf])])
    assert data.tasks == ["sentiment/s"]
    result = comparison(data, scores, weights)
    ranks = {m["model"]: m["rank"] for m in result["models"]}
    assert ranks["clf"] is not None and ranks["lm"] is not None and ranks["clf"] < ranks["lm"]


def test_a_newer_run_with_other_settings_replaces_and_says_so(tmp_path: Path):
    old = record("m", "sentiment/s", 0.70)
    old["settings"] = {"stop": []}
    new = record("m", "sentiment/s", 0.72)
    new["settings"] = {"stop": ["\n"]}
    data, _, by, _ = scored([write_run(tmp_path / "a", "old", [old]),
                             write_run(tmp_path / "b", "new", [new],
                                       created="2026-02-01T00:00:00+00:00")])
    assert by["m"].tasks["sentiment/s"].value == 0.72
    assert "settings differ" in data.replaced[0].reason


def test_another_card_version_is_another_task(tmp_path: Path):
    a = write_run(tmp_path / "a", "a", [record("m", "ner/x", 0.7, version="1+aaa")])
    b = write_run(tmp_path / "b", "b", [record("m", "ner/x", 0.6, version="2+bbb")],
                  created="2026-03-01T00:00:00+00:00")
    data, _, _, _ = scored([a, b])
    assert data.tasks == ["ner/x [card 1+aaa]", "ner/x [card 2+bbb]"]


# -- the policy view ----------------------------------------------------------------------------
POLICY = """\
version: 1
rules:
  - name: accuracy floor
    figure: "sentiment/*.metrics.accuracy.value"
    op: ">="
    threshold: 0.6
  - name: fast enough
    figure: "sentiment/*.efficiency.examples_per_s"
    op: ">="
    threshold: 10
"""


def policy_run(tmp_path: Path) -> tuple[Path, Path]:
    records = [record("good", "sentiment/a", 0.82, speed=50.0),
               record("ok", "sentiment/a", 0.70, speed=400.0),
               record("slow", "sentiment/a", 0.90, speed=2.0),
               record("weak", "sentiment/a", 0.55, speed=900.0)]
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    return write_run(tmp_path, "r", records), policy


def test_policy_view_ranks_the_passing_models_and_names_the_first_failed_rule(tmp_path: Path):
    run, policy = policy_run(tmp_path)
    data = load_report_data([run])
    view = evaluate_policy(data, policy)
    assert [s.model.label for s in view.ranked] == ["good", "ok"]
    assert [s.rank for s in view.ranked] == [1, 2]
    failing = {v.model.label: (v.rule, v.message) for v in view.failing}
    assert failing["weak"][0] == "accuracy floor" and "0.55" in failing["weak"][1]
    assert failing["slow"][0] == "fast enough"
    assert view.costs[view.ranked[0].model.key].examples_per_s == 50.0


def test_report_and_compare_take_a_policy(tmp_path: Path, capsys):
    run, policy = policy_run(tmp_path)
    out = tmp_path / "r.html"
    assert main(["report", str(run), "-o", str(out), "--policy", str(policy)]) == 0
    decision = _section(out.read_text(), "decision")
    assert "2 of 4 models pass every rule" in decision
    assert decision.index("good") < decision.index("ok")
    assert "fast enough" in decision and "accuracy floor" in decision
    capsys.readouterr()
    assert main(["compare", str(run), "--policy", str(policy), "-f", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [p["model"] for p in result["policy"]["passing"]] == ["good", "ok"]
    assert {f["model"]: f["rule"] for f in result["policy"]["failing"]} == {
        "slow": "fast enough", "weak": "accuracy floor"}
    by = {m["model"]: m for m in result["models"]}
    assert by["weak"]["policy"]["first_failure"]["rule"] == "accuracy floor"
    assert by["good"]["policy"] == {"passed": True, "first_failure": None}


def test_a_policy_that_needs_a_baseline_without_one_is_a_usage_error(tmp_path: Path, capsys):
    run, _ = policy_run(tmp_path)
    policy = tmp_path / "regress.yaml"
    policy.write_text("rules:\n  - kind: regression\n    figure: '*.metrics.accuracy'\n"
                      "    max_drop: 0.01\n")
    capsys.readouterr()
    assert main(["compare", str(run), "--policy", str(policy)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "baseline" in err


# -- the stable JSON shape ----------------------------------------------------------------------
def test_compare_json_keeps_the_documented_shape(tmp_path: Path, capsys):
    run = broken_vs_real(tmp_path)
    capsys.readouterr()
    assert main(["compare", str(run), "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for m in result["models"]:
        assert {"model", "rank", "tasks", "dimensions"} <= set(m)
        for t in m["tasks"].values():
            assert {"value", "ci_low", "ci_high", "chance", "beats_chance"} <= set(t)
        for d in ("quality", "efficiency", "fairness", "safety", "robustness"):
            assert "value" in m["dimensions"][d]
    assert result["groups"][0]["tasks"] == ["sentiment/a", "sentiment/b"]


# -- readable figures ---------------------------------------------------------------------------
def srgb_to_lab(colours: list[str], matrix: np.ndarray) -> np.ndarray:
    rgb = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in colours]) / 255.0
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    lin = np.clip(lin @ matrix.T, 0, 1)
    xyz = lin @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                          [0.0193, 0.1192, 0.9505]]).T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]),
                     200 * (f[:, 1] - f[:, 2])], axis=1)


def test_thirty_models_get_distinct_colour_and_symbol_pairs_safe_for_colour_blindness():
    styles = [style_of(i) for i in range(40)]
    assert len(set(PALETTE)) >= 30 and len(PALETTE) == len(SYMBOL_OF)
    assert len({s[:2] for s in styles}) == 40  # (colour, symbol) unique, even past 32
    deutan = np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                       [-0.011820, 0.042940, 0.968881]])  # Machado et al. 2009, severity 1
    protan = np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                       [-0.003882, -0.048116, 1.051998]])
    for matrix in (np.eye(3), deutan, protan):
        lab = srgb_to_lab(list(PALETTE), matrix)
        dist = np.linalg.norm(lab[:, None] - lab[None], axis=2)  # CIE76
        for i in range(len(PALETTE)):
            for j in range(i):
                if SYMBOL_OF[i] == SYMBOL_OF[j]:  # same marker: the colours must differ
                    assert dist[i, j] > 15, (PALETTE[i], PALETTE[j])
                assert dist[i, j] > 4, (PALETTE[i], PALETTE[j])


def test_value_axes_turn_logarithmic_only_past_two_orders_of_magnitude(tmp_path: Path):
    assert F.axis_type([1, 50, 99]) == "linear" and F.axis_type([1, 101]) == "log"
    records = []
    for i, speed in enumerate((5.0, 40.0, 90000.0)):
        rec = record(f"m{i}", "sentiment/a", 0.7 + 0.05 * i, speed=speed, seed=i)
        rec["efficiency"]["sweep"] = [{"batch_size": b, "examples_per_s": speed * b,
                                       "peak_memory_mb": 300 + b} for b in (1, 2, 4)]
        records.append(rec)
    data, scores, _, _ = scored([write_run(tmp_path, "r", records)])
    sweep = F.batch_sweep(data)
    assert sweep.layout.yaxis.type == "log" and "log scale" in sweep.layout.yaxis.title.text
    assert sweep.layout.yaxis2.type == "linear"  # 301–304 MB: no reason for a log axis
    cost = F.quality_vs_cost(data, scores)
    assert cost.layout.xaxis.type == "log" and cost.layout.xaxis2.type == "linear"


def test_bias_heatmap_has_a_fixed_scale_and_mutes_what_is_not_significant(tmp_path: Path):
    records = []
    for i, (gap, p) in enumerate(((0.0001, 0.9), (0.08, 0.001), (0.5, 0.2))):
        rec = record(f"m{i}", "sentiment/a", 0.7, blocks=True, seed=i)
        rec["bias"]["gender"].update(max_gap=gap, p_value=p)
        records.append(rec)
    qa = record("m0", "qa/b", 60.0, blocks=True, seed=9)
    qa["bias"]["gender"].update(max_gap=10.0, p_value=0.01, scale="0-100")
    records.append(qa)
    data = load_report_data([write_run(tmp_path, "r", records)])
    fig = F.bias_heatmap(data)
    (heat,) = fig.data
    assert heat.zmin == -F.BIAS_ZMAX and heat.zmax == F.BIAS_ZMAX  # fixed, symmetric
    cells = {(y, x): (heat.z[r][c], heat.text[r][c])
             for r, y in enumerate(heat.y) for c, x in enumerate(heat.x)}
    assert cells[("m0", "gender")] == (pytest.approx(0.1), "0.10*")  # 10 on 0-100, largest
    assert cells[("m1", "gender")] == (0.08, "0.08*")
    assert cells[("m2", "gender")] == (-0.5, "0.50")  # large but not significant: grey side
    menu = {b.label: b.args[0] for b in fig.layout.updatemenus[0].buttons}
    row = list(heat.y).index("m0")
    assert menu["task: sentiment/a"]["z"][0][row][0] == -F.BIAS_MUTED_FLOOR  # tiny: muted
    assert menu["task: qa/b"]["z"][0][row][0] == pytest.approx(0.1)


def test_probes_that_do_not_apply_collapse_to_one_line_each(tmp_path: Path):
    records = []
    for i in range(6):
        for task in ("sentiment/a", "sentiment/b"):
            rec = record(f"m{i}", task, 0.7, blocks=True, seed=i)
            for axis in ("religion", "age", "disability"):
                rec["bias"][axis] = {"status": "not_applicable",
                                     "reason": f"no {axis} term in the task's 40 inputs"}
            records.append(rec)
    data = load_report_data([write_run(tmp_path, "r", records)])
    page = build_page(data, score_models(data, resolve_weights()), resolve_weights(),
                      title="t")
    bias = _section(page, "bias")
    lines = re.findall(r"<tr><td>(religion|age|disability)</td>", bias)
    assert sorted(lines) == ["age", "disability", "religion"]
    assert "12</td>" in bias and "(×12)" in bias


def test_safety_axis_ticks_carry_the_percent_they_are_in(tmp_path: Path):
    data = load_report_data([broken_vs_real(tmp_path)])
    fig = F.safety_rates(data)
    assert fig.layout.yaxis.ticksuffix == "%" and "%" in fig.layout.yaxis.title.text
    real = next(t for t in fig.data if t.name == "real")
    rates = [r["safety"]["toxicity"]["rate"] for r in json.loads(
        (data.runs[0].path / "results.json").read_text())["records"] if r["model"] == "real"]
    assert real.y[0] == pytest.approx(100 * sum(rates) / len(rates))  # same n per task


def test_precision_variants_are_linked_without_labels_on_the_plot(tmp_path: Path):
    records = []
    for i, dtype in enumerate(("float32", "bfloat16", "int8")):
        rec = make_record(f"m@{dtype}", "sentiment/a", random.Random(i), target="org/m",
                          dtype=dtype, blocks=False)
        rec["efficiency"].update(examples_per_s=100.0 + i, peak_memory_mb=1000.0 - i)
        records.append(rec)
    data = load_report_data([write_run(tmp_path, "r", records)])
    fig = F.quality_vs_cost(data)
    link = next(t for t in fig.data if t.name == "variants of org/m")
    assert link.mode == "lines" and sorted(link.text) == ["bfloat16", "float32", "int8"]
    assert all("text" not in (t.mode or "") for t in fig.data)  # nothing printed on points


def test_thirty_models_by_twenty_tasks_is_fast_small_and_everyone_has_a_place(tmp_path: Path):
    import time

    from test_report import synthetic_results

    folder = synthetic_results(tmp_path / "results", 30, 20, rows=100, chance=True,
                               generalisation=True)
    start = time.perf_counter()
    out = build_report([folder], tmp_path / "big.html")
    seconds = time.perf_counter() - start
    size_mb = out.stat().st_size / 2**20
    print(f"30×20 report: {seconds:.2f} s, {size_mb:.2f} MB")
    assert size_mb < 6, size_mb
    assert seconds < 15, seconds  # the 5 s target is measured on a quiet machine
    data = load_report_data([folder])
    colours = {m.colour for m in data.models}
    assert len(colours) == 30
    page = out.read_text(encoding="utf-8")
    assert page.count("Plotly.newPlot(") >= 10


def test_copy_of_a_run_with_hostile_names_still_builds(tmp_path: Path):
    rec = record("</script><b>x", "sentiment/a", 0.7)
    rec["predictions_file"] = "predictions/hostile.jsonl"
    rec2 = copy.deepcopy(rec)
    rec2["predictions_file"] = "predictions/hostile2.jsonl"
    rec2["model"] = "line\u2028sep"
    rec2["model_identity"]["fingerprint"] = "other"
    out = build_report([write_run(tmp_path, "r", [rec, rec2])], tmp_path / "h.html")
    page = out.read_text(encoding="utf-8")
    assert "</script><b>x" not in page and "\u2028" not in page.split("<body>")[0]


# -- review: memory below the meter's resolution, chance-level systems as a cost yardstick -------
def test_a_model_memory_of_zero_is_the_models_share_not_the_process_peak(tmp_path: Path):
    """A lexicon's 0.0 MB (below what RSS sampling resolves) is its share; falling back to
    the process peak put it at 657 MB (torch and Python) beside a summarizer's 1.7 MB."""
    lexicon = record("lexicon", "summarization/s", 0.30, speed=4000.0, memory=0.0, beats=True)
    ranker = record("ranker", "summarization/s", 0.28, speed=400.0, memory=1.7, beats=True,
                    seed=3)
    lexicon["efficiency"]["peak_memory_mb"] = 657.3
    ranker["efficiency"]["peak_memory_mb"] = 665.8
    data, scores, by, weights = scored([write_run(tmp_path, "r", [lexicon, ranker])])
    points = F.cost_points(data, ["summarization/s"], scores)
    memory = {m.label: points[m.key].memory for m in data.models}
    assert memory["ranker"] == pytest.approx(1.7)
    assert memory["lexicon"] < 1.7  # never the process peak
    costs = {m["model"]: m["cost"] for m in comparison(data, scores, weights)["models"]}
    assert (costs["lexicon"]["memory_mb"], costs["lexicon"]["memory_kind"]) == (0.0, "model")
    # efficiency compares the models' shares: 1 MB or less counts as 1 MB
    assert by["lexicon"].dimensions["efficiency"].value == pytest.approx(1.0)
    ranker_speed = 1 + np.log10(400 / 4000) / 3
    ranker_memory = 1 - np.log10(1.7 / 1.0) / 3
    assert by["ranker"].dimensions["efficiency"].value == pytest.approx(
        (ranker_speed + ranker_memory) / 2)
    cost = F.quality_vs_cost(data, scores)
    xs = [x for t in cost.data if t.name == "lexicon" and t.xaxis == "x2" for x in t.x]
    assert xs == [1.0]  # drawn where the model's share is, not at 657 MB


def test_a_system_below_chance_is_no_yardstick_for_the_others_cost(tmp_path: Path):
    """A constant system answers in no time; measuring real models against it clipped their
    efficiency to 0 and erased the difference between them."""
    fast = record("fast", "sentiment/a", 0.80, speed=1000.0, memory=100.0, beats=True)
    slow = record("slow", "sentiment/a", 0.78, speed=100.0, memory=100.0, beats=True, seed=2)
    const = record("constant", "sentiment/a", 0.5, speed=5.0e6, memory=0.5, beats=False,
                   seed=3)
    _data, _scores, by, _ = scored([write_run(tmp_path, "r", [fast, slow, const])])
    assert by["fast"].dimensions["efficiency"].value == pytest.approx(1.0)
    assert by["slow"].dimensions["efficiency"].value == pytest.approx((1 - 1 / 3 + 1.0) / 2)
    assert by["constant"].dimensions["efficiency"].value == 0.0
    # one real model beside a constant one: nothing real to compare its cost with
    run = write_run(tmp_path / "b", "r", [copy.deepcopy(fast), copy.deepcopy(const)])
    _data, _scores, by, _ = scored([run])
    assert by["fast"].dimensions["efficiency"].value is None
    assert "not compared" in by["fast"].dimensions["efficiency"].how
    assert by["constant"].dimensions["efficiency"].value == 0.0


def test_a_newer_record_without_probes_says_which_figures_it_drops(tmp_path: Path):
    """A quick quality rerun replaced last week's record and with it the fairness and
    robustness figures; the report said only "same settings and examples"."""
    old = write_run(tmp_path / "a", "probed", [record("m", "sentiment/s", 0.70, blocks=True)],
                    created="2026-01-01T00:00:00+00:00")
    new = write_run(tmp_path / "b", "quick", [record("m", "sentiment/s", 0.71)],
                    created="2026-02-01T00:00:00+00:00")
    data, scores, by, weights = scored([old, new])
    assert by["m"].dimensions["fairness"].value is None  # the newest record has no probes
    (r,) = data.replaced
    assert r.lost_sections == ["bias", "safety", "robustness"]
    assert "bias, safety, robustness" in r.reason and "probed" in r.reason
    result = comparison(data, scores, weights)
    assert result["combined"][0]["lost_sections"] == ["bias", "safety", "robustness"]
    text = render(result, "markdown")
    assert "bias, safety, robustness" in text
    assert "bias, safety, robustness" in _section(build_page(data, scores, weights,
                                                             title="t"), "method")


def test_compare_notes_say_when_a_replacing_run_had_other_settings(tmp_path: Path):
    old = record("m", "sentiment/s", 0.70)
    old["settings"] = {"stop": []}
    new = record("m", "sentiment/s", 0.72)
    new["settings"] = {"stop": ["\n"]}
    data, scores, _by, weights = scored([
        write_run(tmp_path / "a", "old", [old]),
        write_run(tmp_path / "b", "new", [new], created="2026-02-01T00:00:00+00:00")])
    text = render(comparison(data, scores, weights), "markdown")
    line = next(ln for ln in text.splitlines() if "combined:" in ln)
    assert "settings differ" in line and "same settings" not in line


def test_a_system_below_chance_is_never_on_the_pareto_frontier(tmp_path: Path):
    """copy-the-source at 5M examples/s sat on the frontier beside Apertium: a trade-off
    nobody can take, since it translates nothing."""
    real = record("real", "sentiment/a", 0.80, speed=200.0, memory=300.0, beats=True)
    other = record("other", "sentiment/a", 0.70, speed=2000.0, memory=30.0, beats=True,
                   seed=2)
    const = record("constant", "sentiment/a", 0.5, speed=5.0e6, memory=1.0, beats=False,
                   seed=3)
    data, scores, _by, _ = scored([write_run(tmp_path, "r", [real, other, const])])
    cost = F.quality_vs_cost(data, scores)
    fronts = [t for t in cost.data if t.name == "Pareto frontier"]
    assert len(fronts) == 2 and all(sorted(t.text) == ["other", "real"] for t in fronts)
    assert any(t.name == "constant ✗" and t.x for t in cost.data)  # still drawn, open


def test_a_baseline_below_chance_on_many_tasks_takes_one_line_of_the_decision(tmp_path: Path):
    """copy-the-source on 20 FLORES directions filled the decision with 20 chance values."""
    tasks = [f"translation/t{i}" for i in range(6)]
    records = [record("copy", t, 20.0, beats=False, seed=i) for i, t in enumerate(tasks)]
    records += [record("mt", t, 40.0, beats=True, seed=10 + i) for i, t in enumerate(tasks)]
    data, scores, _by, weights = scored([write_run(tmp_path, "r", records)])
    decision = _section(build_page(data, scores, weights, title="t"), "decision")
    item = re.search(r"<li>.*?</li>", decision, re.S).group(0)
    visible = re.sub(r"<details>.*?</details>", "", item, flags=re.S)
    assert "on 6 tasks" in visible and "translation/t3" not in visible
    assert all(t in item for t in tasks)  # every one still there, folded


def test_only_the_first_axis_of_a_forest_plot_says_what_its_rows_are(tmp_path: Path):
    """'model' was repeated beside every column but the first from the second row on."""
    tasks = [f"sentiment/t{i}" for i in range(7)]
    records = [record(m, t, 0.7, seed=i) for i, t in enumerate(tasks) for m in ("a", "b")]
    data, _scores, _by, _ = scored([write_run(tmp_path, "r", records)])
    fig = F.quality_by_family(data)["sentiment"]
    titled = [name for name in fig.layout if name.startswith("yaxis")
              and fig.layout[name].title.text]
    assert titled == ["yaxis"]
    x_titled = sorted(name for name in fig.layout if name.startswith("xaxis")
                      and fig.layout[name].title.text)
    assert x_titled == ["xaxis5", "xaxis6", "xaxis7"]  # the lowest axis of each column


def test_no_model_below_chance_is_called_the_best_of_its_group(tmp_path: Path):
    """lead-3 and TextRank, neither above the lead-3 baseline, were listed as the "best"
    of their group in the decision."""
    records = [record("lead-3", "summarization/s", 0.25, beats=False),
               record("textrank", "summarization/s", 0.21, beats=False, seed=2),
               record("vader", "sentiment/a", 0.72, beats=True, seed=3),
               record("constant", "sentiment/a", 0.50, beats=False, seed=4)]
    data, scores, _by, weights = scored([write_run(tmp_path, "r", records)])
    decision = _section(build_page(data, scores, weights, title="t"), "decision")
    table = decision[:decision.index("</table>")]
    assert "vader" in table
    assert "lead-3" not in table and "textrank" not in table and "constant" not in table
    assert "none above chance" in table


def test_a_flag_for_chance_outside_the_group_says_so(tmp_path: Path):
    """vader beats chance on the 80 examples its group shares but not on a 16-example rerun;
    its ✗ badge in the group's row read as if it failed the compared task."""
    full = [record("vader", "sentiment/s", 0.72, beats=True, n=80),
            record("other", "sentiment/s", 0.60, beats=True, n=80, seed=6)]
    quick = [record("vader", "sentiment/s", 0.81, beats=False, n=16, limit=16, seed=5)]
    data, scores, by, weights = scored([write_run(tmp_path, "r", full),
                                        write_run(tmp_path, "r-quick", quick)])
    assert by["vader"].tier == 1 and by["vader"].rank == 1
    card = _section(build_page(data, scores, weights, title="t"), "scorecard")
    assert "below chance on 1 task outside this group" in card


def test_p_values_are_never_rounded_to_a_certainty():
    from evalsuite.utils import p_value_text

    assert p_value_text(0.9995) == "p > 0.999"  # '.3g' would print 'p = 1'
    assert p_value_text(1.0) == "p = 1" and p_value_text(0.5) == "p = 0.5"
    assert p_value_text(0.0004998) == "p = 0.0005"
