"""Exports: MLflow (a real SQLite-backed store read back with MLflow's client), Weights &
Biases (offline run files), and Hugging Face model-card metadata (parsed with
huggingface_hub)."""

from __future__ import annotations

import json
import posixpath
import re
import struct
from pathlib import Path

import pandas as pd
import pytest
import yaml

from evalsuite.cli.app import main
from evalsuite.export.fields import export_key, metric_name, record_metrics
from evalsuite.models.spec import parse_spec
from evalsuite.results.files import load_results
from evalsuite.runner.run import Job, RunConfig, run
from evalsuite.tasks.registry import TaskRegistry
from tests.conftest import write_jsonl


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A finished run: VADER on the sentiment starter set and on SST-2 (served by a local
    mirror of the hub dataset, so it has a hub id, config, split), robustness figures, a
    failed record, and an HTML report saved in the run folder."""
    base = tmp_path_factory.mktemp("export")
    repo = base / "mirror" / "nyu-mll" / "glue"
    (repo / "sst2").mkdir(parents=True)
    pd.DataFrame({"sentence": ["a good film", "a bad film", "great fun", "dull"],
                  "label": [1, 0, 1, 0], "idx": [0, 1, 2, 3]}).to_parquet(
        repo / "sst2" / "validation-00000-of-00001.parquet")
    (repo / "README.md").write_text(
        "---\nconfigs:\n- config_name: sst2\n  data_files:\n  - split: validation\n"
        "    path: sst2/validation-*\n---\n", encoding="utf-8")
    write_jsonl(base / "fixed.jsonl", [{"id": "nope", "prediction": "positive"}])
    mp = pytest.MonkeyPatch()
    mp.setenv("EVALSUITE_DATASETS_DIR", str(base / "mirror"))
    try:
        registry = TaskRegistry.discover()
        cards = [registry.get("sentiment/starter"), registry.get("sentiment/sst2")]
        config = RunConfig(jobs=[Job(parse_spec("baseline:vader?name=vader"), cards),
                                 Job(parse_spec(f"predictions:{base / 'fixed.jsonl'}"
                                                "?name=fixed"), cards[:1])],
                           output_dir=base / "results", run_id="r1", limit=16,
                           resamples=100, probes=["robustness?perturbations=typo+casing"])
        outcome = run(config)
    finally:
        mp.undo()
    assert [r.status for r in outcome.records] == ["ok", "ok", "failed"]
    assert main(["report", str(outcome.run_dir), "-o",
                 str(outcome.run_dir / "report.html")]) == 0
    return outcome.run_dir


# -- flat names ----------------------------------------------------------------------------------
def test_metric_names_are_flat_and_valid_for_mlflow():
    assert metric_name("metrics.accuracy.value") == "accuracy"
    assert metric_name("metrics.accuracy.ci_low") == "accuracy.ci_low"
    assert metric_name("metrics.f1.per_type.PER.f1") == "f1.per_type.PER.f1"
    assert metric_name("efficiency.latency_ms.p50") == "efficiency/latency_ms.p50"
    assert metric_name("bias.eec_gender.max_gap") == "bias/eec_gender.max_gap"
    hostile = metric_name("bias.groups/../x:y.é ü.max_gap")
    for name in (hostile, metric_name("robustness..." + "x" * 400)):
        assert re.fullmatch(r"[/\w.\- ]*", name, flags=re.ASCII), name  # MLflow's portable set
        assert posixpath.normpath(name) == name and len(name) <= 250, name


def test_every_numeric_figure_gets_a_metric(run_dir):
    record = load_results(run_dir).records[0]
    metrics = record_metrics(record)
    assert metrics["accuracy"] == record.metrics["accuracy"].value
    assert metrics["accuracy.ci_high"] == record.metrics["accuracy"].ci_high
    assert metrics["robustness/typo.retention"] == record.robustness["typo"].retention
    assert metrics["efficiency/examples_per_s"] == record.efficiency.examples_per_s
    assert metrics["probe_cost/multiple"] == record.probe_cost.multiple


# -- MLflow --------------------------------------------------------------------------------------
def test_mlflow_export_logs_one_run_per_record_and_updates_on_reexport(run_dir, tmp_path,
                                                                       capsys, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)  # MLflow keeps a SQLite store's artifacts in ./mlruns

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    argv = ["export", str(run_dir), "--to", "mlflow", "--tracking-uri", uri,
            "--experiment", "nlp-evals"]
    assert main(argv) == 0
    assert "3 runs created, 0 updated" in capsys.readouterr().err
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("nlp-evals")
    runs = client.search_runs([experiment.experiment_id])
    results = load_results(run_dir)
    assert len(runs) == len(results.records) == 3
    by_key = {r.data.tags["evalsuite.key"]: r for r in runs}
    for record in results.records:
        mlflow_run = by_key[export_key(results.run, record)]
        tags, params = mlflow_run.data.tags, mlflow_run.data.params
        assert mlflow_run.info.run_name == f"{record.model} · {record.task}"
        assert tags["evalsuite.run_id"] == "r1"
        assert tags["evalsuite.version"] == results.run.evalsuite_version
        assert tags["hardware.cpu_count"] == str(results.run.hardware.cpu_count)
        if results.run.git_commit:
            assert tags["mlflow.source.git.commit"] == results.run.git_commit.removesuffix(
                "-dirty")
        assert params["model_spec"] == record.model_spec
        assert params["task_version"] == record.task_version and params["seed"] == "0"
        artifacts = {a.path for a in client.list_artifacts(mlflow_run.info.run_id)}
        assert {"results.json", "reports"} <= artifacts
        if not record.ok:
            assert mlflow_run.info.status == "FAILED"
            assert "no prediction" in tags["evalsuite.reason"]
            assert not mlflow_run.data.metrics
            continue
        assert mlflow_run.info.status == "FINISHED"
        metrics = mlflow_run.data.metrics
        assert metrics == pytest.approx(record_metrics(record))
        accuracy = record.metrics["accuracy"]
        assert (metrics["accuracy"], metrics["accuracy.ci_low"], metrics["accuracy.ci_high"]) \
            == pytest.approx((accuracy.value, accuracy.ci_low, accuracy.ci_high))
        measured = [k for k, v in record.robustness.items() if v.flip_rate is not None]
        assert measured
        for key in measured:
            assert metrics[f"robustness/{key}.flip_rate"] == pytest.approx(
                record.robustness[key].flip_rate)
        assert params["batch_size"] == str(record.efficiency.batch_size)
        assert [a.path for a in client.list_artifacts(mlflow_run.info.run_id, "predictions")
                ] == [record.predictions_file]
        assert [a.path for a in client.list_artifacts(mlflow_run.info.run_id, "reports")
                ] == ["reports/report.html"]
    sst2 = next(r for r in runs if r.data.tags["evalsuite.task"] == "sentiment/sst2")
    assert sst2.data.params["dataset_path"] == "nyu-mll/glue"
    assert sst2.data.params["dataset_name"] == "sst2"

    assert main(argv) == 0  # again: the same runs, updated, no metric logged twice
    assert "0 runs created, 3 updated" in capsys.readouterr().err
    again = client.search_runs([experiment.experiment_id])
    assert sorted(r.info.run_id for r in again) == sorted(r.info.run_id for r in runs)
    for name in ("accuracy", "efficiency/wall_s", "robustness/typo.retention"):
        assert len(client.get_metric_history(sst2.info.run_id, name)) == 1


def test_run_logs_to_mlflow_at_the_end(tmp_path, monkeypatch, capsys):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.chdir(tmp_path)  # MLflow keeps a SQLite store's artifacts in ./mlruns
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "nightly")
    assert main(["run", "-m", "baseline:vader", "-t", "sentiment/starter", "--limit", "8",
                 "-o", str(tmp_path / "results"), "--run-id", "n1", "--log-to",
                 "mlflow"]) == 0
    assert "mlflow: 1 runs created" in capsys.readouterr().err
    client = MlflowClient(tracking_uri=uri)
    (mlflow_run,) = client.search_runs([client.get_experiment_by_name("nightly")
                                        .experiment_id])
    assert mlflow_run.data.tags["evalsuite.run_id"] == "n1"
    assert "accuracy" in mlflow_run.data.metrics
    assert main(["run", "-m", "baseline:vader", "-t", "sentiment/starter", "--log-to",
                 "neptune", "-o", str(tmp_path / "results")]) == 2
    assert "--log-to: unknown tracker 'neptune'" in capsys.readouterr().err


def test_export_refuses_wrong_input_with_one_line(run_dir, capsys):
    for argv, fragment in (
            (["--to", "sheets"], "--to: unknown target 'sheets'"),
            (["--to", "model-index"], "--model: name the model"),
            (["--to", "model-index", "-m", "gpt-9"], "no model 'gpt-9'"),
            (["--to", "mlflow", "-m", "vader"], "only --to model-index takes --model")):
        assert main(["export", str(run_dir), *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and fragment in err and len(err.splitlines()) == 1


# -- Weights & Biases ----------------------------------------------------------------------------
def _wandb_records(path: Path):
    """The records of an offline W&B run file (LevelDB log format: 32 KiB blocks of
    checksummed chunks after a 7-byte ``:W&B`` header), decoded with W&B's own protobufs.
    wandb ships no Python reader for these files any more, hence this one."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", (path, data[:16])
    pos, pending = 7, b""
    while pos + 7 <= len(data):
        left = 32768 - pos % 32768
        if left < 7:
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if length == 0 and kind == 0:  # block padding
            pos += left
            continue
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        pending = chunk if kind in (1, 2) else pending + chunk  # full/first, middle/last
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record


def _finished_wandb_records(path: Path, wait_s: float = 60.0) -> list:
    """The records of an offline run file once W&B's writer (a separate process) has
    written its ``exit`` record."""
    import time

    deadline = time.monotonic() + wait_s
    while True:
        try:
            records = list(_wandb_records(path))
        except Exception:  # half written: not finished yet
            if time.monotonic() > deadline:
                raise
            records = []
        if any(r.WhichOneof("record_type") == "exit" for r in records) or \
                time.monotonic() > deadline:
            return records
        time.sleep(0.5)


def test_wandb_offline_export(run_dir, tmp_path, monkeypatch, capsys):
    pytest.importorskip("wandb")
    for name, sub in (("WANDB_DIR", ""), ("WANDB_DATA_DIR", "data"),
                      ("WANDB_CACHE_DIR", "cache"), ("WANDB_CONFIG_DIR", "config"),
                      ("WANDB_ARTIFACT_DIR", "artifacts")):
        monkeypatch.setenv(name, str(tmp_path / sub))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    argv = ["export", str(run_dir), "--to", "wandb", "--experiment", "nlp-evals"]
    assert main(argv) == 0
    assert "wandb: 3 runs logged" in capsys.readouterr().err
    results = load_results(run_dir)
    files = sorted((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 3
    seen = {}
    for file in files:
        records = _finished_wandb_records(file)
        (header,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
        config = {u.key: json.loads(u.value_json) for u in header.config.update}
        summary = {u.key: json.loads(u.value_json) for r in records
                   if r.WhichOneof("record_type") == "summary" for u in r.summary.update
                   if u.key}
        artifacts = [r.artifact for r in records if r.WhichOneof("record_type") == "artifact"]
        seen[header.run_id] = (header, config, summary, artifacts)
    for record in results.records:
        header, config, summary, artifacts = seen[export_key(results.run, record)]
        assert header.project == "nlp-evals" and header.run_group == "r1"
        assert header.display_name == f"{record.model} · {record.task}"
        assert config["model_spec"] == record.model_spec
        assert config["evalsuite"]["evalsuite.version"] == results.run.evalsuite_version
        paths = {c.path for c in artifacts[0].manifest.contents}
        assert {"results.json", "reports/report.html"} <= paths
        if record.ok:
            assert summary["accuracy"] == pytest.approx(record.metrics["accuracy"].value)
            assert summary["robustness/typo.retention"] == pytest.approx(
                record.robustness["typo"].retention)
            assert f"predictions/{Path(record.predictions_file).name}" in paths
    assert main(argv) == 0  # again: the same run ids, which W&B resumes
    files = sorted((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 6  # (W&B suffixes a folder whose name is taken: "…-ID-1")
    assert {f.name.removeprefix("run-").removesuffix(".wandb") for f in files} == set(seen)


# -- model-index ---------------------------------------------------------------------------------
def _front_matter(text: str) -> dict:
    match = re.match(r"---\n(.*?)\n---\n", text, flags=re.S)
    assert match, text[:200]
    return yaml.safe_load(match.group(1))


def test_model_index_for_one_model_parses_with_huggingface_hub(run_dir, capsys):
    from huggingface_hub.repocard_data import model_index_to_eval_results

    assert main(["export", str(run_dir), "--to", "model-index", "-m", "vader"]) == 0
    captured = capsys.readouterr()
    name, results = model_index_to_eval_results(_front_matter(captured.out)["model-index"])
    assert name == "vader"
    assert "sentiment/starter: a smoke set" in captured.err
    by_dataset = {}
    for result in results:
        by_dataset.setdefault(result.dataset_type, {})[result.metric_type] = result
        assert result.verified is False and result.task_type == "text-classification"
    assert set(by_dataset) == {"nyu-mll/glue", "sentiment/starter"}
    sst2 = by_dataset["nyu-mll/glue"]
    assert set(sst2) == {"accuracy", "f1", "matthews_correlation"}
    assert sst2["f1"].metric_config == "macro" and sst2["f1"].metric_name == "Macro F1"
    assert (sst2["accuracy"].dataset_config, sst2["accuracy"].dataset_split) == (
        "sst2", "validation")
    record = next(r for r in load_results(run_dir).records if r.task == "sentiment/sst2")
    assert sst2["accuracy"].metric_value == pytest.approx(
        record.metrics["accuracy"].value, abs=1e-4)
    assert "4 of 4 examples" not in captured.err  # the mirror has 4 rows, all evaluated


def test_model_index_updates_a_readme_and_keeps_its_body(run_dir, tmp_path):
    from huggingface_hub.repocard_data import model_index_to_eval_results

    readme = tmp_path / "README.md"
    body = "# vader\n\nA lexicon sentiment model.\n\n## Results\n\nSee below.\n"
    readme.write_text(
        "---\nlicense: mit\nlanguage: en\nmodel-index:\n- name: vader\n  results:\n"
        "  - task: {type: text-classification}\n"
        "    dataset: {type: imdb, name: IMDb, split: test}\n"
        "    metrics:\n    - {type: accuracy, value: 0.7}\n---\n" + body, encoding="utf-8")
    argv = ["export", str(run_dir), "--to", "model-index", "-m", "vader", "-o", str(readme)]
    assert main(argv) == 0
    assert main(argv) == 0  # twice: our results replaced, not repeated
    text = readme.read_text(encoding="utf-8")
    assert text.endswith("---\n" + body)
    meta = _front_matter(text)
    assert meta["license"] == "mit" and meta["language"] == "en"
    _, results = model_index_to_eval_results(meta["model-index"])
    assert sum(r.dataset_type == "imdb" for r in results) == 1  # theirs, kept
    assert sum(r.dataset_type == "nyu-mll/glue" for r in results) == 3
    assert len(results) == 1 + 3 + 3
    fresh = tmp_path / "NEW.md"
    assert main(["export", str(run_dir), "--to", "model-index", "-m", "vader", "-o",
                 str(fresh)]) == 0
    assert _front_matter(fresh.read_text())["model-index"][0]["name"] == "vader"
