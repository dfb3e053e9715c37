"""Typed result records: the generated schema, the extra-field policy, and files that stay the
same key for key as the ones evalsuite wrote before the records were typed."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel

from evalsuite.cli.app import main
from evalsuite.errors import UserError
from evalsuite.results import records as R
from evalsuite.results.files import (
    SCHEMA_PATH,
    ResultWriter,
    figures,
    load_results,
    to_dataframe,
    validate_document,
)
from tests import hf_fixtures as fx

DATA = Path(__file__).parent / "data"
# Written by evalsuite at commit f41d781 (dict records, hand-written schema) from the batch of
# write_shapes_run(): every kind of record and block the runner writes.
SHAPES = DATA / "results-shapes-1.0.json"
FIELDS_1_0 = DATA / "record-fields-1.0.txt"  # Class.field of the 1.0 records (frozen)
RUN = {"id": "r", "created": "2026-01-01T00:00:00+00:00", "evalsuite_version": "0.1.0",
       "config_hash": "c0ffee"}


def models() -> list[type[BaseModel]]:
    return [m for m in vars(R).values()
            if isinstance(m, type) and issubclass(m, R.Block) and m.__module__ == R.__name__]


def ok_record(**extra: Any) -> dict[str, Any]:
    return {"model": "m", "task": "sentiment/x", "family": "sentiment", "status": "ok",
            "n_examples": 3, "metrics": {"accuracy": {"value": 1.0, "ci_low": None,
                                                      "ci_high": None, "scale": "0-1"}},
            **extra}


# -- the schema and the models -------------------------------------------------------------------
def test_committed_schema_is_generated_from_the_models():
    committed = SCHEMA_PATH.read_text(encoding="utf-8")
    assert committed == R.schema_text(), (
        "results.schema.json differs from the models; regenerate it with "
        "'python -m evalsuite.results.records --schema --write'")


def test_files_validate_against_the_generated_schema():
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(R.json_schema())
    document = json.loads(SHAPES.read_text(encoding="utf-8"))
    assert list(validator.iter_errors(document)) == []
    document["records"][0]["metrics"]["accuracy"]["scale"] = "0-10"
    del document["records"][1]["task"]
    assert len(list(validator.iter_errors(document))) == 2


def test_schema_command_prints_the_schema(capsys):
    assert R.main(["--schema"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(R.schema_text())


def test_every_field_is_documented():
    undocumented = [f"{m.__name__}.{name}" for m in models()
                    for name, field in m.model_fields.items() if not field.description]
    assert not undocumented
    schema = R.json_schema()
    assert schema["$defs"]["Record"]["properties"]["metrics"]["description"]


def test_sections_and_scales_live_in_the_records_module():
    assert set(R.SECTIONS) <= set(R.Record.model_fields)
    assert set(R.PROBE_SECTIONS) == set(R.PROBE_FIGURES) <= set(R.SECTIONS)
    assert [s.value for s in R.Scale] == ["0-1", "0-100", "-1-1"]
    assert f"{R.Scale.PERCENT}" == str(R.Scale.PERCENT) == "0-100" == R.Scale.PERCENT
    assert {"0-100": 1}[R.Scale.PERCENT] == 1  # a scale is its text, as a key too
    assert R.range_scale(0, 5) == "0-5" and R.range_scale(-1.0, 1.0) == "-1-1"
    from evalsuite.metrics import registry

    assert registry.get("bleu").scale is R.Scale.PERCENT
    assert registry.get("spearman").scale is R.Scale.SIGNED_UNIT
    assert registry.get("accuracy").scale is R.Scale.UNIT


def test_numbers_are_kept_as_written():
    value = R.MetricValue(value=np.float64(0.5), ci_low=float("nan"), ci_high=1)
    assert value.to_dict() == {"value": 0.5, "ci_low": None, "ci_high": 1}
    assert type(value.value) is float and type(value.ci_high) is int  # 1 stays 1, not 1.0
    assert R.BiasFigure(n=np.int64(4), p_value=1).n == 4
    for bad in ({"value": True, "ci_low": None, "ci_high": None},
                {"value": "1", "ci_low": None, "ci_high": None}):
        with pytest.raises(ValueError, match="number or null"):
            R.MetricValue.model_validate(bad)
    with pytest.raises(ValueError, match="between 0 and 1"):
        R.SafetyFigure(rate=1.5)


# -- present, absent, null -----------------------------------------------------------------------
def test_a_field_is_written_when_given_and_absent_when_not():
    record = R.Record.model_validate(ok_record(efficiency={"examples_per_s": None}))
    assert record.to_dict()["efficiency"] == {"examples_per_s": None}  # null: given as null
    assert record.efficiency.tokens_per_s is None  # absent: None to a reader, not written
    assert "tokens_per_s" not in record.efficiency.present()
    record.efficiency.update({"source": "cache"})
    assert record.to_dict()["efficiency"] == {"examples_per_s": None, "source": "cache"}
    status = R.Record(model="m", task="t", family="ner", status="skipped", reason="x",
                      n_examples=0, metrics={})
    assert set(status.to_dict()) == {"model", "task", "family", "status", "reason",
                                     "n_examples", "metrics"}


def test_cached_efficiency_keeps_the_declared_fields():
    cached = R.Efficiency.from_cache({"examples_per_s": 2.0, "source": "measured",
                                      "from_a_newer_version": 1})
    assert cached.to_dict() == {"examples_per_s": 2.0, "source": "cache"}
    assert R.Efficiency.from_cache(None).to_dict() == {"source": "cache"}


def test_files_written_before_typed_records_read_back_unchanged(tmp_path):
    raw = json.loads(SHAPES.read_text(encoding="utf-8"))
    run = load_results(_copy_run(SHAPES, tmp_path / "old"))
    assert run.run.to_dict() == raw["run"]
    assert [r.to_dict() for r in run.records] == raw["records"]  # None vs absent kept
    for record in run.records:  # and the models declare every field that was written
        R.check_declared(record)
    # typed access, and the gate's dotted figures
    tiny = run.records[0]
    assert tiny.variant_of == "tiny" and tiny.efficiency.latency_bs1_ms.n == 3
    assert figures(tiny)["sentiment/starter.metrics.accuracy.value"] == tiny.metrics[
        "accuracy"].value
    frame = to_dataframe(run, long=False)
    assert "efficiency.split_s.write" in frame.columns


def _copy_run(file: Path, folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(file.read_text(encoding="utf-8"), encoding="utf-8")
    return folder


# -- the extra-field policy ------------------------------------------------------------------------
def test_the_writer_refuses_undeclared_fields(tmp_path):
    writer = ResultWriter(tmp_path / "r", RUN)
    with pytest.raises(R.UndeclaredFieldError, match=r"efficiency\.speed, bias\.g\.odd"):
        writer.add(ok_record(efficiency={"speed": 1.0}, bias={"g": {"odd": 0.1}}))
    record = R.Record.model_validate(ok_record())
    record.efficiency = R.Efficiency(examples_per_s=2.0)
    record.efficiency.update({"typo_field": 3})
    with pytest.raises(R.UndeclaredFieldError, match=r"efficiency\.typo_field"):
        writer.add(record)
    assert writer.records == []  # nothing half-written
    writer.add(ok_record())
    assert load_results(writer.run_dir).records[0].status == "ok"


def test_a_newer_minor_version_with_extra_fields_loads_and_keeps_them(tmp_path):
    document = {"schema_version": "1.9", "run": {**RUN, "cloud": "x"},
                "records": [ok_record(novelty={"value": 0.5},  # a field 1.0 does not declare
                                      efficiency={"examples_per_s": 3.0, "joules": 1.0})]}
    folder = tmp_path / "newer"
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps(document))
    run = load_results(folder)
    record = run.records[0]
    assert record.model_extra == {"novelty": {"value": 0.5}}
    assert record.efficiency.examples_per_s == 3.0
    assert record.to_dict() == document["records"][0]
    assert run.run.to_dict() == document["run"]


def test_bad_files_are_one_line_user_errors():
    document = json.loads(SHAPES.read_text(encoding="utf-8"))
    del document["records"][0]["task"]
    with pytest.raises(UserError, match=r"field 'records\.0': 'task' is a required property"):
        validate_document(document, where="f.json")
    document = json.loads(SHAPES.read_text(encoding="utf-8"))
    document["records"][2]["metrics"]["accuracy"]["value"] = "high"
    with pytest.raises(UserError, match=r"field 'records\.2\.metrics\.accuracy\.value': "):
        validate_document(document, where="f.json")
    document["records"][2]["metrics"]["accuracy"]["value"] = 0.5
    document["records"][2]["metrics"]["accuracy"]["scale"] = "0-10"
    with pytest.raises(UserError, match=r"records\.2\.metrics\.accuracy\.scale'.*'0-1'"):
        validate_document(document, where="f.json")
    for bad, words in (({"schema_version": "2.0", "run": RUN, "records": []}, "not supported"),
                       ({"run": RUN}, "no schema_version"), ([], "no schema_version")):
        with pytest.raises(UserError, match=words) as caught:
            validate_document(bad, where="f.json")
        assert len(str(caught.value).splitlines()) == 1


# -- a run writes the same keys as before ----------------------------------------------------------
def write_shapes_run(folder: Path) -> Path:
    """The batch behind ``tests/data/results-shapes-1.0.json``: precision variants with a
    latency profile, every probe, text and NER metrics, a skipped and a failed record."""
    tiny = fx.build_seq_cls(folder / "tiny", {0: "NEG", 1: "POS"})
    batch = folder / "batch.yaml"
    batch.write_text(textwrap.dedent(f"""
        output: {folder / "results"}
        run_id: shapes
        resamples: 50
        limit: 16
        probes:
          bias: {{permutations: 50, n: 10}}
          safety: {{n: 10}}
          robustness: {{n: 10}}
        models:
          - {{spec: "hf:{tiny}", name: tiny, variants: [float32, bf16],
              tasks: [sentiment/starter], profile: latency}}
          - {{spec: "baseline:vader", tasks: [sentiment/starter]}}
          - {{spec: "baseline:copy", tasks: [translation/starter-en-de]}}
          - {{spec: "baseline:lead", tasks: [summarization/starter]}}
          - {{spec: "spacy:en_core_web_sm", tasks: [ner/starter]}}
          - {{spec: "cmd:evalsuite-no-such-program", name: missing,
              tasks: [sentiment/starter]}}
          - {{spec: "cmd:false", name: broken, tasks: [sentiment/starter]}}
        """))
    assert main(["run", str(batch), "--no-cache", "--profile-repeats", "3"]) == 1  # broken
    return folder / "results" / "shapes" / "results.json"


# Present only when a gap is not exactly zero: which groups are highest and lowest.
VALUE_DEPENDENT = {"highest", "lowest"}


def key_paths(obj: Any, prefix: str = "") -> set[str]:
    """Dotted key paths of JSON data (list positions as ``*``)."""
    out: set[str] = set()
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key not in VALUE_DEPENDENT:
                out.add(prefix + key)
                out |= key_paths(value, f"{prefix}{key}.")
    elif isinstance(obj, list):
        for value in obj:
            out |= key_paths(value, f"{prefix}*.")
    return out


def owners(node: Any, prefix: str = "") -> dict[str, str]:
    """Dotted path of every field a typed record has → ``Class.field`` (keys of plain
    mappings, such as metric names, are data, not fields)."""
    out: dict[str, str] = {}
    if isinstance(node, R.Block):
        for name, value in node.present().items():
            if name not in VALUE_DEPENDENT:
                out[prefix + name] = f"{type(node).__name__}.{name}"
                out.update(owners(value, f"{prefix}{name}."))
    elif isinstance(node, dict):
        for key, value in node.items():
            out.update(owners(value, f"{prefix}{key}."))
    elif isinstance(node, list):
        for value in node:
            out.update(owners(value, f"{prefix}*."))
    return out


@pytest.mark.timeout(600)
def test_a_run_writes_the_keys_it_wrote_before_typed_records(tmp_path):
    """Every key written before is still written, and no field of the 1.0 records that was
    absent (left out, not null) is written now; fields added since are free to appear."""
    for package in ("spacy", "vaderSentiment", "profanity_check"):
        pytest.importorskip(package)
    path = write_shapes_run(tmp_path)
    new, typed = json.loads(path.read_text(encoding="utf-8")), load_results(path.parent)
    old = json.loads(SHAPES.read_text(encoding="utf-8"))
    fields_1_0 = {line for line in FIELDS_1_0.read_text(encoding="utf-8").splitlines()
                  if line and not line.startswith("#")}

    def same_keys(mine: dict, before: dict, model: R.Block, what: str) -> None:
        now, then = key_paths(mine), key_paths(before)
        assert then <= now, (what, sorted(then - now))
        appeared = {p: o for p, o in owners(model).items() if p not in then}
        assert not {p for p, o in appeared.items() if o in fields_1_0}, (what, appeared)

    same_keys(new["run"], old["run"], typed.run, "run")
    assert [(r["model"], r["task"]) for r in new["records"]] == [
        (r["model"], r["task"]) for r in old["records"]]
    for mine, before, model in zip(new["records"], old["records"], typed.records, strict=True):
        same_keys(mine, before, model, mine["model"])
        if not mine["model"].startswith("tiny"):  # random weights: the others are exact
            assert {k: mine["metrics"][k] for k in before["metrics"]} == before["metrics"]
    # the same types too: an int stays an int, a null stays a null
    vader = new["records"][2]
    assert vader["efficiency"]["n_timed"] == 16 and vader["cache"] == {"hits": 0,
                                                                      "computed": 16}
    assert not any(isinstance(v, float) and math.isnan(v)
                   for v in _leaves(new["records"]))


def _leaves(obj: Any) -> list[Any]:
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in _leaves(v)]
    if isinstance(obj, list):
        return [x for v in obj for x in _leaves(v)]
    return [obj]
