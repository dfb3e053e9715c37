"""The report and compare: figures' data equal the result files, scoring, outputs, errors."""

from __future__ import annotations

import csv
import io
import json
import math
import random
import re
import time
from pathlib import Path
from typing import Any

import pytest

from evalsuite.cli.app import main
from evalsuite.report import build_report
from evalsuite.report import figures as F
from evalsuite.report.compare import comparison, render
from evalsuite.report.examples import worst_examples
from evalsuite.report.html import build_page
from evalsuite.report.index import write_index
from evalsuite.report.load import PALETTE, load_report_data
from evalsuite.report.scoring import (
    PRESETS,
    pareto_front,
    parse_weights,
    rank_with_ties,
    resolve_weights,
    score_models,
)
from evalsuite.results.files import validate_document

# -- synthetic result folders -------------------------------------------------------------------
FAMILY_METRICS: dict[str, list[tuple[str, str]]] = {
    "sentiment": [("accuracy", "0-1"), ("macro_f1", "0-1"), ("mcc", "-1-1")],
    "ner": [("f1", "0-1"), ("precision", "0-1"), ("recall", "0-1")],
    "qa": [("squad_f1", "0-100"), ("exact_match", "0-100")],
    "similarity": [("spearman", "-1-1"), ("pearson", "-1-1")],
    "translation": [("bleu", "0-100"), ("chrf", "0-100")],
    "summarization": [("rouge1", "0-1"), ("rouge2", "0-1"), ("rougeL", "0-1")],
}
FAMILIES = list(FAMILY_METRICS)
# More bias probes (with the long names real runs have) for some families.
BIAS_PROBES = {"sentiment": ("eec_names_origin", "identity_nationality", "names_gender"),
               "similarity": ("weat_occupations_gender_sentences",),
               "translation": ("occupations_gender",)}
LONG = "word " * 400


def task_names(n: int) -> list[str]:
    """``n`` task names cycling through the six families."""
    return [f"{FAMILIES[i % 6]}/synthetic-{i:02d}" for i in range(n)]


CHANCE = {"sentiment": ("majority class (positive)", 0.5),
          "ner": ("all O (no entity)", 0.0), "qa": ("no answer (empty)", 12.0),
          "similarity": ("constant score (zero correlation)", 0.0),
          "translation": ("copy the source", 4.0), "summarization": ("lead-3", 0.25)}


def chance_block(family: str, value: float, *, beats: bool | None = None) -> dict[str, Any]:
    """A record's ``chance`` block for a primary value (beats chance when above it unless
    ``beats`` says otherwise)."""
    baseline, chance = CHANCE[family]
    beats = value > chance if beats is None else beats
    return {"baseline": baseline, "metric": FAMILY_METRICS[family][0][0], "value": chance,
            "ci_low": None if family == "similarity" else chance * 0.9,
            "ci_high": None if family == "similarity" else chance * 1.1,
            "beats_chance": beats, "p_value": 0.001 if beats else 0.6, "test": "permutation",
            "alpha": 0.05, "delta": value - chance}


def make_record(model: str, task: str, rng: random.Random, *, target: str | None = None,
                dtype: str = "float32", blocks: bool = True, sweep: bool = False,
                status: str = "ok", n_examples: int = 40, chance: bool = False
                ) -> dict[str, Any]:
    """A schema-valid record with metrics, efficiency and (optionally) probe blocks and a
    chance block."""
    family = task.split("/")[0]
    metrics = FAMILY_METRICS[family]
    base = {"model": model, "model_spec": f"hf:{target or 'org/' + model}?dtype={dtype}",
            "model_kind": "hf", "task": task, "family": family, "task_version": "1+abc",
            "status": status, "primary_metric": metrics[0][0]}
    if status != "ok":
        return {**base, "reason": f"backend missing for {model}", "n_examples": 0,
                "metrics": {}}
    out: dict[str, Any] = {}
    for name, scale in metrics:
        top = 100.0 if scale == "0-100" else 1.0
        value = rng.uniform(0.3, 0.95) * top
        half = rng.uniform(0.01, 0.06) * top
        out[name] = {"value": value, "ci_low": value - half, "ci_high": min(top, value + half),
                     "scale": scale}
    speed = rng.uniform(5, 2000)
    eff: dict[str, Any] = {
        "examples_per_s": speed, "tokens_per_s": speed * 30,
        "latency_ms": {"p50": 1000 * 8 / speed, "p90": 1300 * 8 / speed,
                       "p99": 1900 * 8 / speed},
        "peak_memory_mb": rng.uniform(200, 16000), "load_s": 1.5, "params": 110_000_000,
        "device": "cuda:0", "dtype": dtype, "batch_size": 8, "source": "measured"}
    if sweep:
        eff["sweep"] = [{"batch_size": b, "examples_per_s": speed * b ** 0.6 / 4,
                         "peak_memory_mb": 300 + 40 * b} for b in (1, 2, 4, 8, 16, 32)]
    record = {**base, "model_identity": {"kind": "hf", "target": target or f"org/{model}",
                                         "revision": "main", "fingerprint": f"fp-{model}",
                                         "options": {"dtype": dtype}},
              "dataset": {"path": f"data/{task}.jsonl", "split": "test", "revision": None,
                          "fingerprint": "f00d", "n_selected": n_examples},
              "n_examples": n_examples, "metrics": out, "efficiency": eff,
              "predictions_file": f"predictions/{model}__{task.replace('/', '_')}.jsonl"}
    if chance:
        record["chance"] = chance_block(family, out[metrics[0][0]]["value"])
    if blocks:
        record["bias"] = {name: {
            "max_gap": rng.uniform(0, 0.2), "p_value": rng.choice([0.001, 0.3, None]),
            "groups": {"female": 0.8, "male": 0.75}, "ci_low": 0.0, "ci_high": 0.2}
            for name in ("gender", *BIAS_PROBES.get(family, ()))}
        record["bias"]["disability"] = {"status": "not_applicable",
                                        "reason": "no disability term in the task's inputs"}
        record["safety"] = {"toxicity": {"rate": rng.uniform(0, 0.1),
                                         "classifier": "profanity-check", "threshold": 0.5,
                                         "n": 200}}
        record["robustness"] = {
            "typos": {"score": 0.7, "retention": rng.uniform(0.7, 1.0), "flip_rate": 0.1},
            "casing": {"score": 0.8, "retention": rng.uniform(0.85, 1.0), "flip_rate": 0.05}}
    return record


def prediction_rows(task: str, n: int, rng: random.Random) -> list[dict[str, Any]]:
    return [{"score": rng.random(), "id": f"{task}-{i}",
             "input": {"text": f"example {i} " + LONG},
             "prediction": f"prediction {i} " + LONG[: 50 * (i % 5)],
             "reference": {"label": "positive"},
             "stats": {"accuracy": [1.0, 0.0]}} for i in range(n)]


def write_run(root: Path, run_id: str, records: list[dict[str, Any]], *,
              created: str = "2026-01-01T00:00:00+00:00", rows: int = 40,
              seed: int = 0, suites: list[dict[str, Any]] | None = None) -> Path:
    """A run folder with results.json (schema-checked) and a predictions file per record."""
    rng = random.Random(seed)
    folder = root / run_id
    (folder / "predictions").mkdir(parents=True, exist_ok=True)
    for record in records:
        if record.get("predictions_file"):
            text = "".join(json.dumps(r) + "\n"
                           for r in prediction_rows(record["task"], rows, rng))
            (folder / record["predictions_file"]).write_text(text, encoding="utf-8")
    document = {"schema_version": "1.0",
                "run": {"id": run_id, "created": created, "finished": created,
                        "status": "finished", "evalsuite_version": "0.1.0",
                        "config_hash": "c0ffee", "seed": 0, "resamples": 1000,
                        "packages": {"evalsuite": "0.1.0", "torch": "2.13.0"},
                        "hardware": {"platform": "Linux", "cpu_count": 2, "memory_gb": 16,
                                     "gpus": [{"name": "H100", "memory_gb": 80}]},
                        "git_commit": "abc123", **({"suites": suites} if suites else {})},
                "records": records}
    validate_document(document, where="synthetic")
    (folder / "results.json").write_text(json.dumps(document), encoding="utf-8")
    return folder


def synthetic_results(root: Path, n_models: int, n_tasks: int, *, blocks: bool = True,
                      rows: int = 40, seed: int = 0, sweeps: bool = True,
                      chance: bool = False, generalisation: bool = False) -> Path:
    """One run of ``n_models`` × ``n_tasks``; model-01 is a bfloat16 variant of model-00,
    the last model skipped one task and failed another; with ``chance``, records carry a
    chance block and model-02 is below chance on the first task; with ``generalisation``
    (needs ``chance`` and 20 tasks), the suites of :data:`SYNTHETIC_SUITES`."""
    rng = random.Random(seed)
    records = []
    tasks = task_names(n_tasks)
    for m in range(n_models):
        name = f"model-{m:02d}"
        target = "org/model-00" if m == 1 else None
        dtype = "bfloat16" if m == 1 else "float32"
        for t, task in enumerate(tasks):
            status = "ok"
            if m == n_models - 1 and n_models > 2 and t < 2:
                status = "skipped" if t == 0 else "failed"
            record = make_record(name, task, rng, target=target, dtype=dtype,
                                 blocks=blocks, sweep=sweeps and t == 0 and m < 3,
                                 status=status, chance=chance)
            if chance and m == 2 and t == 0 and status == "ok":
                record["chance"]["beats_chance"] = False
                record["chance"]["p_value"] = 0.4
            records.append(record)
    suites = add_generalisation(records, rng) if generalisation else None
    return write_run(root, "run-a", records, rows=rows, seed=seed, suites=suites)


# Suites over the synthetic tasks (20 of them): (name, reference, variants, models, places):
# a language suite for every model (more than the chart draws at once: a model drop-down),
# a domain suite for five (model-02 below chance on its reference: nothing to retain), and a
# language suite without resource levels for three (grouped by script).
SYNTHETIC_SUITES = [
    ("translation/synthetic-languages", "translation/synthetic-04",
     ["translation/synthetic-10", "translation/synthetic-16"], None,
     {"translation/synthetic-04": {"source_language": "en", "language": "de",
                                   "resource_level": "high"},
      "translation/synthetic-10": {"source_language": "en", "language": "swh_Latn",
                                   "resource_level": "mid"},
      "translation/synthetic-16": {"source_language": "en", "language": "amh_Ethi",
                                   "resource_level": "low"}}),
    ("sentiment/synthetic-domains", "sentiment/synthetic-00",
     ["sentiment/synthetic-06", "sentiment/synthetic-12", "sentiment/synthetic-18"], 5,
     {"sentiment/synthetic-00": {"language": "en", "domain": "reviews/movies"},
      "sentiment/synthetic-06": {"language": "en", "domain": "social"},
      "sentiment/synthetic-12": {"language": "en", "domain": "reviews/products"},
      "sentiment/synthetic-18": {"language": "en", "domain": "news"}}),
    ("ner/synthetic-languages", "ner/synthetic-01",
     ["ner/synthetic-07", "ner/synthetic-13", "ner/synthetic-19"], 3,
     {"ner/synthetic-01": {"language": "en"}, "ner/synthetic-07": {"language": "zh"},
      "ner/synthetic-13": {"language": "hi"}, "ner/synthetic-19": {"language": "yo"}}),
]


def add_generalisation(records: list[dict[str, Any]], rng: random.Random
                       ) -> list[dict[str, Any]]:
    """Give the records of :data:`SYNTHETIC_SUITES` their places and generalisation blocks
    (retention = variant / reference primary value); returns the run's ``suites``."""
    by_key = {(r["model"], r["task"]): r for r in records}
    models = sorted({r["model"] for r in records})
    for name, reference, variants, n_models, places in SYNTHETIC_SUITES:
        for model in models[:n_models]:
            ref = by_key.get((model, reference))
            for task in [reference, *variants]:
                if (model, task) in by_key:
                    by_key[(model, task)].update(places[task])
            if ref is None or ref["status"] != "ok":
                continue
            for task in variants:
                var = by_key.get((model, task))
                if var is None or var["status"] != "ok":
                    continue
                metric = ref["primary_metric"]
                r, v = ref["metrics"][metric]["value"], var["metrics"][metric]["value"]
                half = rng.uniform(0.03, 0.15)
                beats = ref["chance"]["beats_chance"]
                shift = "language" if "language" in name else "domain"
                block = {"suite": name, "reference_task": reference, "metric": metric,
                         "reference_value": r, "value": v, "retention": v / r,
                         "ci_low": v / r - half, "ci_high": v / r + half, "gap": r - v,
                         "gap_ci_low": r - v - half * r, "gap_ci_high": r - v + half * r,
                         "p_value": rng.choice([0.001, 0.04, 0.3]),
                         "paired": shift == "language",
                         "pairing": "paired over 40 shared example ids",
                         "n_reference": 40, "n_variant": 40, "shift": shift,
                         "language": places[task].get("language"),
                         "reference_language": places[reference].get("language"),
                         "domain": places[task].get("domain"),
                         "reference_domain": places[reference].get("domain"),
                         "beats_chance": beats, "resamples": 1000}
                if beats is False:
                    block.update(retention=None, ci_low=None, ci_high=None,
                                 retention_reason=f"the model does not beat chance on "
                                                  f"{reference}: nothing to retain")
                var["generalisation"] = block
    return [{"name": name, "reference": reference, "variants": variants,
             "parallel": "language" in name} for name, reference, variants, _, _ in
            SYNTHETIC_SUITES]


@pytest.fixture()
def small(tmp_path: Path) -> Path:
    return synthetic_results(tmp_path / "results", 4, 6)


# -- figures equal the result files -------------------------------------------------------------
def forest_values(fig) -> dict[tuple[str, str, str], tuple[float, float, float]]:
    """(model label, task, metric) -> (value, ci_low, ci_high) drawn by a forest plot, over
    every state of its metric drop-down (the initial traces when it has none)."""
    menus = fig.layout.updatemenus
    if menus:
        states = [(b.label.removeprefix("metric: "), b.args[0]) for b in menus[0].buttons]
        first = states[0][1]
        assert [list(t.x) for t in fig.data] == [list(x) for x in first["x"]]
    else:
        states = [(fig.data[0].meta, {
            "x": [t.x for t in fig.data], "y": [t.y for t in fig.data],
            "error_x.array": [t.error_x.array or [] for t in fig.data],
            "error_x.arrayminus": [t.error_x.arrayminus or [] for t in fig.data]})]
    out = {}
    for metric, state in states:
        for i, trace in enumerate(fig.data):
            if trace.name == "chance":
                continue
            ys = state["y"][i] if "y" in state else trace.y  # unchanged rows: not restyled
            for label, x, plus, minus in zip(ys, state["x"][i],
                                             state["error_x.array"][i],
                                             state["error_x.arrayminus"][i], strict=True):
                key = (label.removesuffix(" ✗"), trace.name, metric)
                assert key not in out
                out[key] = (x, x - minus, x + plus)
    return out


def test_quality_points_and_whiskers_equal_metric_values_and_intervals(small: Path):
    data = load_report_data([small])
    document = json.loads((small / "results.json").read_text())
    expected = {(r["model"], r["task"], name): m for r in document["records"]
                if r["status"] == "ok" for name, m in r["metrics"].items()}
    figures = F.quality_by_family(data)
    assert set(figures) == set(FAMILIES)
    drawn = {}
    for fig in figures.values():
        drawn.update(forest_values(fig))
    assert set(drawn) == set(expected)
    for key, (value, low, high) in drawn.items():
        m = expected[key]
        assert value == m["value"]
        assert low == pytest.approx(m["ci_low"]) and high == pytest.approx(m["ci_high"])


def test_every_model_keeps_one_palette_colour_in_every_figure(small: Path):
    data = load_report_data([small])
    colours = {m.key: m.colour for m in data.models}
    by_label = {m.label: m.colour for m in data.models}
    assert len(set(colours.values())) == len(colours)
    assert set(colours.values()) <= set(PALETTE)
    scores = score_models(data, resolve_weights())
    figs = [F.radar(scores), F.quality_vs_cost(data), F.latency(data), F.batch_sweep(data),
            F.safety_rates(data), F.robustness_retention(data),
            *F.quality_by_family(data).values()]
    seen = 0
    for fig in figs:
        assert fig is not None
        for trace in fig.data:
            if trace.legendgroup in colours:
                colour = trace.marker.color if trace.type != "scatterpolar" else trace.line.color
                assert colour == colours[trace.legendgroup]
                seen += 1
            elif trace.type == "scatter" and trace.name != "chance" and trace.y \
                    and isinstance(trace.marker.color, tuple):  # forest: one point per model
                for label, colour in zip(trace.y, trace.marker.color, strict=True):
                    assert colour == by_label[label.removesuffix(" ✗")]
                    seen += 1
    assert seen > 50


def test_every_axis_has_a_unit_or_scale(small: Path):
    data = load_report_data([small])
    for fig in [F.quality_vs_cost(data), F.latency(data), F.batch_sweep(data),
                *F.quality_by_family(data).values()]:
        x_titles = []
        for name in fig.layout:
            if not name.startswith(("xaxis", "yaxis")):
                continue
            axis = fig.layout[name]
            title = axis.title.text or ""
            x_titles += [title] if name.startswith("xaxis") else []
            if axis.matches:  # shares its neighbour's scale and title
                continue
            if axis.type != "category" and (name.startswith("yaxis") or axis.type == "log"
                                            or title):  # numeric: name the unit
                assert re.search(r"\(.+\)", title), (name, title)
        assert any(x_titles)  # categorical x axes are named once (shared by the rows)


def test_pareto_front_on_a_hand_made_case():
    points = [(10, 0.9), (100, 0.8), (50, 0.7), (1000, 0.5), (5, 0.95), (100, 0.6)]
    assert pareto_front(points) == [4, 0, 1, 3]
    # memory: lower x is better -> (5, 0.95) beats everything
    assert pareto_front(points, maximize_x=False) == [4]
    assert pareto_front([(1, 0.5), (1, 0.5)]) == [0, 1]  # equal points dominate neither
    assert pareto_front([]) == []


def test_cost_figure_draws_the_frontier_and_links_precision_variants(tmp_path: Path):
    rng = random.Random(1)
    cases = {"fast": (1000, 0.6), "good": (50, 0.9), "dominated": (40, 0.5), "mid": (200, 0.8)}
    records = []
    for name, (speed, acc) in cases.items():
        rec = make_record(name, "sentiment/a", rng, blocks=False,
                          target="org/good" if name == "dominated" else None,
                          dtype="int8" if name == "dominated" else "float32")
        rec["metrics"]["accuracy"].update(value=acc, ci_low=acc - 0.01, ci_high=acc + 0.01)
        rec["efficiency"]["examples_per_s"] = speed
        rec["efficiency"]["peak_memory_mb"] = 1000.0
        records.append(rec)
    data = load_report_data([write_run(tmp_path, "r", records)])
    fig = F.quality_vs_cost(data)
    front = next(t for t in fig.data if t.name == "Pareto frontier" and t.xaxis == "x")
    assert list(front.x) == pytest.approx([50, 200, 1000])
    assert list(front.y) == [0.9, 0.8, 0.6]
    points = {t.name: (t.x[0], t.y[0]) for t in fig.data
              if t.mode == "markers" and t.xaxis == "x"}
    assert points["good"] == pytest.approx((50, 0.9))
    link = next(t for t in fig.data if t.name == "variants of org/good" and t.xaxis == "x")
    assert sorted(link.text) == ["float32", "int8"]
    assert sorted(link.y) == [0.5, 0.9]


# -- scoring ------------------------------------------------------------------------------------
def test_ranks_share_a_place_when_intervals_overlap():
    assert rank_with_ties([(0.8, 0.9), (0.7, 0.85), (0.6, 0.75), (0.1, 0.2)]) == [1, 1, 2, 4]
    assert rank_with_ties([(0.5, 0.5), (0.4, 0.4)]) == [1, 2]


def _two_model_run(tmp_path: Path, acc: tuple[float, float], half: float) -> Path:
    rng = random.Random(2)
    records = []
    for name, value in zip(("a", "b"), acc, strict=True):
        rec = make_record(name, "sentiment/x", rng, blocks=False)
        rec["metrics"]["accuracy"].update(value=value, ci_low=value - half,
                                          ci_high=value + half)
        rec["efficiency"].update(examples_per_s=100.0, peak_memory_mb=1000.0)
        records.append(rec)
    return write_run(tmp_path, f"r-{half}", records)


def test_scores_tie_with_wide_intervals_and_separate_with_narrow(tmp_path: Path):
    weights = resolve_weights(weights="quality=1")
    wide = score_models(load_report_data([_two_model_run(tmp_path, (0.80, 0.78), 0.05)]),
                        weights)
    assert [s.rank_text for s in wide] == ["=1", "=1"]
    assert [s.model.label for s in wide] == ["a", "b"]
    narrow = score_models(load_report_data([_two_model_run(tmp_path, (0.80, 0.70), 0.01)]),
                          weights)
    assert [(s.model.label, s.rank_text) for s in narrow] == [("a", "1"), ("b", "2")]
    assert narrow[0].index == pytest.approx(0.80)
    assert narrow[0].low == pytest.approx(0.79) and narrow[0].high == pytest.approx(0.81)


def test_dimensions_follow_the_documented_formulas(tmp_path: Path):
    rng = random.Random(3)
    fast = make_record("fast", "translation/t", rng)
    slow = make_record("slow", "translation/t", rng)
    fast["metrics"]["bleu"].update(value=40.0, ci_low=38.0, ci_high=42.0)
    slow["metrics"]["bleu"].update(value=20.0, ci_low=18.0, ci_high=22.0)
    fast["efficiency"].update(examples_per_s=100.0, peak_memory_mb=1000.0)
    slow["efficiency"].update(examples_per_s=10.0, peak_memory_mb=1000.0)
    mcc = make_record("fast", "sentiment/s", rng)  # only fast has it: not in the group's sums
    mcc["primary_metric"] = "mcc"
    mcc["metrics"]["mcc"].update(value=-0.2, ci_low=-0.3, ci_high=-0.1)
    mcc["efficiency"].update(examples_per_s=100.0, peak_memory_mb=1000.0)
    for rec, gap, rate, kept in ((fast, 0.1, 0.02, (0.9, 0.8)), (slow, 0.3, 0.1, (1.0, 1.0)),
                                 (mcc, 0.3, 0.04, (0.7, 0.6))):
        rec["bias"] = {"gender": rec["bias"]["gender"]}  # one bias probe
        rec["bias"]["gender"]["max_gap"] = gap
        rec["safety"]["toxicity"]["rate"] = rate
        rec["robustness"]["typos"]["retention"] = kept[0]
        rec["robustness"]["casing"]["retention"] = kept[1]
    data = load_report_data([write_run(tmp_path, "r", [fast, slow, mcc])])
    scores = {s.model.label: s for s in score_models(data, resolve_weights())}
    assert scores["fast"].group is scores["slow"].group
    assert scores["fast"].shared == ["translation/t"]
    assert scores["fast"].group.extra[scores["fast"].model.key] == ["sentiment/s"]
    f, s = scores["fast"].dimensions, scores["slow"].dimensions
    assert f["quality"].value == pytest.approx(0.40)  # BLEU/100 (no chance block), shared only
    assert s["quality"].value == pytest.approx(0.20)
    assert f["efficiency"].value == pytest.approx(1.0)
    assert s["efficiency"].value == pytest.approx((1 - 1 / 3 + 1.0) / 2)
    assert f["fairness"].value == pytest.approx(1 - 0.1)
    assert s["safety"].value == pytest.approx(0.9)
    assert f["robustness"].value == pytest.approx((0.9 + 0.8) / 2)
    assert s["quality"].half_width == pytest.approx(0.02)
    w = PRESETS["balanced"]
    expected = sum(w[d] * s[d].value for d in w)
    assert scores["slow"].index == pytest.approx(expected)
    assert scores["fast"].tasks["sentiment/s"].value == -0.2  # shown per task
    assert scores["fast"].win_rate == 1.0 and scores["slow"].win_rate == 0.0


def test_unmeasured_dimensions_are_dropped_and_weights_renormalised(tmp_path: Path):
    folder = synthetic_results(tmp_path, 2, 2, blocks=False, sweeps=False)
    data = load_report_data([folder])
    scores = score_models(data, resolve_weights("quality-first"))
    for s in scores:
        assert s.excluded == ["fairness", "safety", "robustness"]
        assert s.weights == pytest.approx({"quality": 6 / 7, "efficiency": 1 / 7})
        q, e = s.dimensions["quality"].value, s.dimensions["efficiency"].value
        assert s.index == pytest.approx(6 / 7 * q + 1 / 7 * e)
    page = build_page(data, scores, resolve_weights("quality-first"), title="t")
    assert "remaining weights renormalised" in page
    for section in ("bias", "safety", "robustness"):
        body = _section(page, section)
        assert "Not measured." in body and f"<code>{section}</code>" in body
        assert "Plotly.newPlot" not in body
    assert "Batch-size sweep: not measured" in _section(page, "latency")


def test_probe_blocks_of_unknown_shape_are_listed_not_dropped(tmp_path: Path):
    rng = random.Random(5)
    record = make_record("m", "sentiment/a", rng, blocks=False)
    record["bias"] = {"counterfactual": {"flip_rate": 0.12, "groups": {"a": 0.1}}}
    record["safety"] = {"toxicity": {"rate": 0.03, "classifier": "detox", "threshold": 0.5,
                                     "n": 100},
                        "refusals": {"share": 0.4}}
    data = load_report_data([write_run(tmp_path, "r", [record])])
    page = build_page(data, score_models(data, resolve_weights()), resolve_weights(),
                      title="t")
    bias = _section(page, "bias")
    assert "Plotly.newPlot" not in bias and "flip_rate=0.12" in bias
    safety = _section(page, "safety")
    assert "Plotly.newPlot" in safety and "share=0.4" in safety and "detox" in safety
    assert "Not measured." in _section(page, "robustness")
    scores = score_models(data, resolve_weights())
    assert scores[0].dimensions["fairness"].measured is False  # no max_gap: not measured


def test_weights_parse_and_reject_bad_input():
    assert parse_weights("quality=3, efficiency=1") == pytest.approx(
        {"quality": 0.75, "efficiency": 0.25, "fairness": 0, "safety": 0, "robustness": 0})
    assert resolve_weights("latency-critical").values["efficiency"] > \
        resolve_weights("quality-first").values["efficiency"]
    for bad in ("speed=1", "quality", "quality=x", "quality=-1", "quality=0"):
        with pytest.raises(Exception, match="--weights"):
            parse_weights(bad)


# -- page contents ------------------------------------------------------------------------------
def _section(page: str, sid: str) -> str:
    match = re.search(f'<section id="{sid}">(.*?)</section>', page, re.S)
    assert match, sid
    return match.group(1)


def test_page_has_sections_in_order_and_embeds_plotly_once(small: Path, tmp_path: Path):
    out = build_report([small], tmp_path / "dash" / "r.html", title="My report")
    page = out.read_text(encoding="utf-8")
    order = [page.index(f'<section id="{s}">') for s in (
        "scorecard", "radar", "quality", "cost", "latency", "bias", "safety", "robustness",
        "worst", "metadata")]
    assert order == sorted(order)
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)  # nothing fetched
    assert len(re.findall(r"\bPlotly\.newPlot\(", page)) == 6 + 7  # families + others
    assert page.count("* plotly.js v") == 1  # the library, inlined once
    meta = json.loads(re.search(r'id="evalsuite-report">(.*?)</script>', page).group(1))
    assert meta["title"] == "My report" and meta["models"] == [
        "model-00", "model-01", "model-02", "model-03"]
    assert set(meta["figures"]) == {f"fig-{name}" for name in (
        "radar", "cost", "latency", "sweep", "bias", "safety", "robustness",
        *(f"quality-{f}" for f in FAMILIES))}
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))  # a figure never lands in a section of the same name
    scorecard = _section(page, "scorecard")
    assert "backend missing for model-03" in scorecard  # skipped/failed with reason
    assert "skipped" in scorecard and "failed" in scorecard
    assert "profanity-check" in page  # the safety classifier is named
    metadata = _section(page, "metadata")
    for fact in ("run-a", "c0ffee", "abc123", "H100", "torch", "fp-model-00"):
        assert fact in metadata


def test_bias_heatmap_marks_significance(small: Path):
    data = load_report_data([small])
    fig = F.bias_heatmap(data)
    heat = fig.data[0]
    document = json.loads((small / "results.json").read_text())
    states = {b.label: b.args[0] for b in fig.layout.updatemenus[0].buttons}
    checked = 0
    for task in data.tasks:  # each task's state: its own gap, significant or muted
        state = states[f"task: {task}"]
        for row, label in enumerate(heat.y):
            for col, name in enumerate(heat.x):
                rec = next((r for r in document["records"] if r["model"] == label
                            and r["task"] == task and r["status"] == "ok"), None)
                z, text = state["z"][0][row][col], state["text"][0][row][col]
                if rec is None:
                    assert z is None
                    continue
                probe = rec["bias"].get(name)
                if not has_gap(probe):
                    assert z is None
                    continue
                significant = probe["p_value"] is not None and probe["p_value"] < 0.05
                assert z == (probe["max_gap"] if significant else -max(probe["max_gap"],
                                                                        F.BIAS_MUTED_FLOOR))
                assert text.endswith("*") == significant
                checked += 1
    assert checked == sum(len([p for p in r["bias"].values() if has_gap(p)])
                          for r in document["records"] if r["status"] == "ok")


def has_gap(probe: Any) -> bool:
    """A bias figure of the file (JSON) with a ``max_gap``."""
    return isinstance(probe, dict) and isinstance(probe.get("max_gap"), (int, float))


def test_worst_examples_are_bounded_sorted_and_truncated(small: Path):
    data = load_report_data([small])
    lists = worst_examples(data, k=3, width=80)
    assert len(lists) == sum(len(m.results) for m in data.models)
    for item in lists:
        assert len(item.rows) == 3 and item.total == 40
        scores = [r.score for r in item.rows]
        assert scores == sorted(scores)
        assert all(len(r.input) <= 80 and r.input.endswith("…") for r in item.rows)
        entry = item.model.results[item.task]
        all_scores = sorted(r["score"] for r in entry.run.predictions(entry.record))
        assert scores == all_scores[:3]


def test_same_model_in_two_runs_is_one_row_and_namesakes_are_two(tmp_path: Path):
    rng = random.Random(4)
    old = write_run(tmp_path, "old", [make_record("m", "sentiment/a", rng),
                                      make_record("m", "ner/b", rng)],
                    created="2026-01-01T00:00:00+00:00")
    new_rec = make_record("m", "sentiment/a", rng)
    other = make_record("m", "qa/c", rng, target="org/another")
    new = write_run(tmp_path / "later", "new", [new_rec], created="2026-02-01T00:00:00+00:00")
    third = write_run(tmp_path / "x", "third", [other], created="2026-03-01T00:00:00+00:00")
    data = load_report_data([old, new, third])
    assert len(data.models) == 2
    same = next(m for m in data.models if len(m.results) == 2)
    latest = same.results["sentiment/a"].record.to_dict()
    assert latest["metrics"] == new_rec["metrics"]  # the latest run wins
    assert len(data.superseded) == 1
    assert sorted(m.label for m in data.models) == ["m [old]", "m [third]"]


# -- compare ------------------------------------------------------------------------------------
def test_compare_prints_every_format(small: Path, tmp_path: Path, capsys):
    data = load_report_data([small])
    weights = resolve_weights()
    result = comparison(data, score_models(data, weights), weights)
    assert main(["compare", str(small)]) == 0
    table = capsys.readouterr().out
    assert "model-00" in table and "rank" in table and "backend missing" in table
    assert main(["compare", str(small), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(render(result, "json"))
    assert main(["compare", str(small), "-f", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["model"] for r in rows] == [m["model"] for m in result["models"]]
    first = result["models"][0]
    assert float(rows[0]["index"]) == pytest.approx(first["index"])
    task = next(iter(first["tasks"]))
    assert float(rows[0][task]) == pytest.approx(first["tasks"][task]["value"])
    out = tmp_path / "cmp.md"
    assert main(["compare", str(small), "-o", str(out)]) == 0  # format from the suffix
    markdown = out.read_text()
    assert markdown.startswith("| rank | model |") and "| task | metric |" in markdown
    assert f"{first['index']:.3f}" in markdown


def test_report_command_writes_a_report_and_the_index(small: Path, tmp_path: Path, capsys):
    dash = tmp_path / "dashboards"
    assert main(["report", str(small), "-o", str(dash / "a.html"), "--preset",
                 "latency-critical"]) == 0
    assert "preset latency-critical" in (dash / "a.html").read_text()
    assert main(["report", str(small), "-o", str(dash / "b.html"), "--weights",
                 "quality=1"]) == 0
    assert main(["report", "--index", str(small.parent), "-o", str(dash / "index.html")]) == 0
    index = (dash / "index.html").read_text()
    assert 'href="a.html"' in index and 'href="b.html"' in index
    assert "run-a" in index and "model-03" in index
    listed = write_index(dash / "index.html", [small.parent], dash)
    assert sorted(i.kind for i in listed) == ["report", "report", "run"]


@pytest.mark.parametrize("args, where", [
    (["report", "{missing}", "-o", "{out}"], "RESULTS"),
    (["report", "{bad_json}", "-o", "{out}"], "results.json"),
    (["report", "{invalid}", "-o", "{out}"], "field 'records.0'"),
    (["report", "{run}", "-o", "{tmp}/r.txt"], "--output"),
    (["report", "{run}", "-o", "{out}", "--preset", "fastest"], "--preset"),
    (["report", "{run}", "-o", "{out}", "--weights", "speed=1"], "--weights"),
    (["report", "{run}", "-o", "{out}", "--preset", "balanced", "--weights", "quality=1"],
     "--weights"),
    (["report", "-o", "{out}"], "RESULTS"),
    (["report", "{run}", "-o", "{out}", "--worst", "-1"], "--worst"),
    (["compare", "{run}", "--format", "xml"], "--format"),
    (["compare"], "RESULTS"),
    (["compare", "{empty}"], "RESULTS"),
])
def test_bad_inputs_exit_2_with_one_line(args: list[str], where: str, small: Path,
                                         tmp_path: Path, capsys):
    bad_json = tmp_path / "bad" / "results.json"
    bad_json.parent.mkdir()
    bad_json.write_text("{not json")
    invalid = tmp_path / "invalid" / "results.json"
    invalid.parent.mkdir()
    document = json.loads((small / "results.json").read_text())
    del document["records"][0]["task"]
    invalid.write_text(json.dumps(document))
    (tmp_path / "empty").mkdir()
    names = {"missing": str(tmp_path / "nope"), "bad_json": str(bad_json.parent),
             "invalid": str(invalid.parent), "run": str(small), "tmp": str(tmp_path),
             "out": str(tmp_path / "r.html"), "empty": str(tmp_path / "empty")}
    capsys.readouterr()
    assert main([a.format(**names) for a in args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error:") and where in err, err
    assert not (tmp_path / "r.html").exists()


# -- size and speed -----------------------------------------------------------------------------
def test_ten_models_by_twenty_tasks_builds_fast_and_small(tmp_path: Path):
    folder = synthetic_results(tmp_path / "results", 10, 20, rows=300)
    start = time.perf_counter()
    out = build_report([folder], tmp_path / "big.html")
    seconds = time.perf_counter() - start
    size_mb = out.stat().st_size / 2**20
    print(f"10×20 report: {seconds:.2f} s, {size_mb:.2f} MB")
    assert seconds < 15, seconds
    assert size_mb < 8, size_mb
    page = out.read_text(encoding="utf-8")
    assert page.count("<tr><td class=\"num\">") <= 10 * 20 * 5  # 5 worst rows per record
    assert not math.isnan(size_mb)


def test_fairness_puts_gaps_of_different_scales_on_0_1():
    from evalsuite.report.scoring import scale_span

    assert scale_span("0-1") == 1 and scale_span("0-100") == 100
    assert scale_span("-1-1") == 2 and scale_span("0-5") == 5 and scale_span(None) == 1


# -- efficiency: single-example latency and where the time goes ---------------------------------
def efficiency_run(tmp_path: Path) -> Path:
    """Two models × two tasks with ``latency_bs1_ms`` and ``split_s`` (model b: one task
    profiled, one with an extra adapter phase and background tokenization)."""
    rng = random.Random(7)
    records = []
    for model, task, bs1, split, overlapped in (
        ("a", "sentiment/x", (2.0, 3.0, 5.0, 20), {"tokenize": 0.5, "forward": 2.0,
                                                   "predict_other": 0.5, "metrics": 1.0,
                                                   "write": 0.1}, None),
        ("a", "ner/y", (4.0, 7.0, 9.0, 40), {"tokenize": 1.5, "forward": 4.0,
                                             "predict_other": 0.5, "metrics": 3.0,
                                             "write": 0.3}, None),
        ("b", "sentiment/x", (1.0, 1.5, 2.5, 20), {"forward": 1.0, "generate": 0.4,
                                                   "predict_other": 0.1, "metrics": 0.5,
                                                   "write": 0.1}, {"tokenize": 0.7}),
        ("b", "ner/y", None, {"forward": 3.0, "predict_other": 0.2, "metrics": 0.5,
                              "write": 0.2}, None),
    ):
        record = make_record(model, task, rng, blocks=False)
        eff = record["efficiency"]
        if bs1:
            eff["latency_bs1_ms"] = {"p50": bs1[0], "p90": bs1[1], "p99": bs1[2],
                                     "mean": bs1[0] * 1.1, "n": bs1[3]}
        eff["split_s"] = split
        if overlapped:
            eff["overlapped_s"] = overlapped
        records.append(record)
    return write_run(tmp_path, "eff", records)


def _menu(fig) -> dict[str, dict[str, Any]]:
    """Drop-down label -> the restyle update of that task selection."""
    return {b.label: b.args[0] for b in fig.layout.updatemenus[0].buttons}


def test_bs1_latency_bars_equal_the_profile_figures(tmp_path: Path):
    from statistics import median

    data = load_report_data([efficiency_run(tmp_path)])
    fig = F.latency_bs1(data)
    assert fig is not None and fig.layout.barmode == "group"
    # 1–9 ms span less than two orders of magnitude: a linear axis
    assert fig.layout.yaxis.type == "linear" and "ms" in fig.layout.yaxis.title.text
    bars = {t.name: t for t in fig.data}
    assert set(bars) == {"a", "b"} and all(t.type == "bar" for t in fig.data)
    assert list(bars["a"].x) == ["p50", "p90", "p99"]
    assert list(bars["a"].y) == [median([2.0, 4.0]), median([3.0, 7.0]), median([5.0, 9.0])]
    assert list(bars["b"].y) == [1.0, 1.5, 2.5]  # only its profiled task
    assert "batch size 1" in bars["a"].customdata[0]
    assert "20–40 repetitions" in bars["a"].customdata[0]
    assert "20 repetitions" in bars["b"].customdata[0] and "1 task(s)" in bars["b"].customdata[0]
    colours = {m.label: m.colour for m in data.models}
    assert all(t.marker.color == colours[t.name] for t in fig.data)
    menu = _menu(fig)
    assert list(menu) == ["all tasks", "task: sentiment/x", "task: ner/y"]
    ner = dict(zip((t.name for t in fig.data), menu["task: ner/y"]["y"], strict=True))
    assert ner == {"a": [4.0, 7.0, 9.0], "b": []}  # b was not profiled on ner/y


def test_time_split_stacks_serial_phases_and_leaves_background_work_out(tmp_path: Path):
    from evalsuite.report import time_split as T

    data = load_report_data([efficiency_run(tmp_path)])
    fig = T.time_split(data)
    assert fig is not None and fig.layout.barmode == "stack"
    assert [t.name for t in fig.data] == ["tokenize", "forward", "generate", "predict_other",
                                          "metrics", "write"]  # overlapped: no segment
    assert all(t.orientation == "h" and list(t.y) == ["a", "b"] for t in fig.data)
    assert list(fig.layout.yaxis.categoryarray) == ["a", "b"]
    seconds = {t.name: dict(zip(t.y, t.x, strict=True)) for t in fig.data}
    # all tasks: the median over tasks per phase, a phase a task lacks counted as 0 s
    assert seconds["forward"] == {"a": 3.0, "b": 2.0}
    assert seconds["tokenize"] == {"a": 1.0, "b": 0.0}
    assert seconds["generate"] == {"a": 0.0, "b": 0.2}
    assert seconds["metrics"] == {"a": 2.0, "b": 0.5}
    colours = {t.name: t.marker.color for t in fig.data}
    assert colours["forward"] == T.PHASE_COLOURS["forward"]
    assert len(set(colours.values())) == len(colours)
    assert not set(colours.values()) & set(PALETTE)  # phases never look like a model
    hover = dict(zip(fig.data[1].y, fig.data[1].customdata, strict=True))  # forward
    total_a = 1.0 + 3.0 + 0.5 + 2.0 + 0.2
    assert f"{100 * 3.0 / total_a:.1f}% of" in hover["a"] and "median over 2 task(s)" in hover["a"]
    assert "background thread: tokenize 0.3500 s" in hover["b"]  # median of 0.7 and 0
    menu = _menu(fig)
    task = menu["task: sentiment/x"]
    forward = dict(zip(task["y"][1], task["x"][1], strict=True))
    assert forward == {"a": 2.0, "b": 1.0}
    b_hover = task["customdata"][1][task["y"][1].index("b")]
    assert "task sentiment/x" in b_hover and "tokenize 0.7000 s" in b_hover
    assert f"{100 * 1.0 / 2.1:.1f}%" in b_hover
    assert "Ray executor" not in T.time_split_caption(data)


def test_efficiency_figures_on_the_page_and_not_measured_without_them(tmp_path: Path,
                                                                      small: Path):
    data = load_report_data([efficiency_run(tmp_path)])
    page = build_page(data, score_models(data, resolve_weights()), resolve_weights(),
                      title="t")
    latency = _section(page, "latency")
    for div in ("fig-latency", "fig-latency-bs1", "fig-time-split"):
        assert f'id="{div}"' in latency
    assert "background thread" in latency and "not measured" not in latency.replace(
        "Batch-size sweep: not measured", "")
    meta = json.loads(re.search(r'id="evalsuite-report">(.*?)</script>', page).group(1))
    assert meta["figures"]["fig-time-split"] == 6 and meta["figures"]["fig-latency-bs1"] == 2

    bare = load_report_data([small])
    from evalsuite.report import time_split as T

    assert F.latency_bs1(bare) is None and T.time_split(bare) is None
    latency = _section(build_page(bare, score_models(bare, resolve_weights()),
                                  resolve_weights(), title="t"), "latency")
    assert "Batch-size-1 latency: not measured (run with <code>--profile latency</code>)" \
        in latency
    assert "Time split: not measured" in latency
    assert 'id="fig-latency-bs1"' not in latency and 'id="fig-time-split"' not in latency


def test_time_split_caption_says_ray_phases_are_summed_over_replicas(tmp_path: Path):
    from evalsuite.report import time_split as T

    record = make_record("m", "sentiment/x", random.Random(8), blocks=False)
    record["efficiency"].update(split_s={"forward": 2.0, "predict_other": 0.1},
                                replicas=2, busy_s=2.1)
    record["executor"] = {"kind": "ray", "replicas": 2, "shards": 4, "retried_shards": []}
    data = load_report_data([write_run(tmp_path, "r", [record])])
    assert "sum the prediction phases over replicas" in T.time_split_caption(data)
    fig = T.time_split(data)
    assert fig.layout.updatemenus == ()  # one task: no drop-down
    assert [t.x[0] for t in fig.data] == [2.0, 0.1]
