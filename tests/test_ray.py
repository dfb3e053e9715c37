"""The Ray executor on a local 2-CPU Ray instance: same metrics and files as the local
executor, a worker killed mid-shard, the cache, the command line; Ray stays optional."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

import tests.ray_models  # registers the test-ray kind here; workers import it too
from evalsuite.cli.app import main
from evalsuite.errors import SpecError
from evalsuite.models.spec import parse_spec
from evalsuite.results.files import load_results
from evalsuite.results.records import Efficiency, Record
from evalsuite.runner.run import Job, RunConfig, run
from evalsuite.tasks.registry import TaskRegistry

REPO = Path(__file__).resolve().parent.parent
HAS_RAY = importlib.util.find_spec("ray") is not None
REGISTRY = TaskRegistry.discover([])


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def batch(tmp_path: Path, out: str, *, cache: str | None, die: bool = True,
          fail_task: str | None = None) -> RunConfig:
    """Two models: a 2-replica test model on two tasks (one replica killed on its first
    shard), and a rule-based baseline on a third task."""
    options = f"log={tmp_path / 'predicted.log'}"
    options += f"&die_marker={tmp_path / 'died'}" if die else ""
    options += f"&fail_task={fail_task}" if fail_task else ""
    jobs = [Job(parse_spec(f"test-ray:kw?name=kw&replicas=2&{options}"),
                REGISTRY.select(["sentiment/starter", "similarity/starter"])),
            Job(parse_spec("baseline:copy?num_cpus=1"),
                REGISTRY.select(["translation/starter-en-de"]))]
    return RunConfig(jobs=jobs, output_dir=tmp_path / out, resamples=200, limit=30,
                     cache_path=tmp_path / cache if cache else None)


def by_pair(records: list[Record]) -> dict[tuple[str, str], Record]:
    return {r.key: r for r in records}


def predictions(outcome, record) -> dict[str, object]:
    return {row["id"]: row["prediction"]
            for row in load_results(outcome.run_dir).predictions(record)}


@pytest.mark.usefixtures("ray_cluster")
@pytest.mark.ray
@pytest.mark.skipif(not HAS_RAY, reason="ray is not installed")
def test_ray_matches_local_and_survives_a_killed_worker(tmp_path):
    from evalsuite.executors.ray_executor import run as run_on_ray

    ray_run = run_on_ray(batch(tmp_path, "ray", cache="cache.sqlite"))
    load_results(ray_run.run_dir)  # valid against the JSON Schema
    records = by_pair(ray_run.records)
    assert [(r.model, r.task) for r in ray_run.records] == [
        ("kw", "sentiment/starter"), ("kw", "similarity/starter"),
        ("baseline:copy", "translation/starter-en-de")]  # the local executor's order
    assert all(r.status == "ok" and r.n_examples == 30 for r in records.values())

    # exactly one shard was lost with its worker and retried; the run says so
    retried = [e for r in records.values() for e in r.executor.retried_shards]
    assert len(retried) == 1 and retried[0].reason.split(":")[0].startswith("Actor")
    assert "done_by_replica" in retried[0].model_fields_set
    kw = records[("kw", "sentiment/starter")]
    assert kw.executor.kind == "ray" and kw.executor.replicas == 2
    assert kw.executor.shards >= 2
    # finished shards were never recomputed: every example was predicted exactly once
    logged = Counter(Path(tmp_path / "predicted.log").read_text().splitlines())
    assert len(logged) == 60 and set(logged.values()) == {1}

    eff = kw.efficiency
    assert eff.source == "measured" and eff.examples_per_s > 0
    assert 1 <= eff.replicas == len(eff.per_replica) <= 2
    assert sum(block.n_timed for block in eff.per_replica) == 30
    assert all(block.examples_per_s > 0 and block.pid for block in eff.per_replica)
    assert_timing_split(eff)
    assert ray_run.records and json.loads(
        (ray_run.run_dir / "results.json").read_text())["run"]["executor"]["kind"] == "ray"

    # the local executor on the same batch (the marker exists now: nobody dies)
    local = run(batch(tmp_path, "local", cache=None))
    local_records = by_pair(local.records)
    assert set(local_records) == set(records)
    for pair, rec in records.items():
        assert rec.metrics == local_records[pair].metrics, pair  # to the last digit
        assert rec.model_identity == local_records[pair].model_identity
        assert predictions(ray_run, rec) == predictions(local, local_records[pair])
        assert rec.predictions_file == local_records[pair].predictions_file
        # the local executor's efficiency fields, and the same phases in split_s
        local_eff = local_records[pair].efficiency
        assert local_eff.model_fields_set <= rec.efficiency.model_fields_set, \
            local_eff.model_fields_set - rec.efficiency.model_fields_set
        assert set(local_eff.split_s) == set(rec.efficiency.split_s), pair

    # a second Ray run finds everything in the driver's cache and predicts nothing
    again = run_on_ray(batch(tmp_path, "ray-again", cache="cache.sqlite"))
    assert all(r.cache.to_dict() == {"hits": 30, "computed": 0} for r in again.records)
    assert Counter(Path(tmp_path / "predicted.log").read_text().splitlines()) == Counter(
        {k: 2 for k in logged})  # once by Ray, once by the local run: not a third time
    for pair, rec in by_pair(again.records).items():
        assert rec.metrics == records[pair].metrics
        assert rec.efficiency.source == "cache"


def assert_timing_split(eff: Efficiency) -> None:
    """``split_s``/``warmup_s`` of a Ray efficiency block: non-negative, the prediction phases
    summing to the replicas' busy time (no more than wall time × replicas), per replica too."""
    split = eff.split_s
    assert {"forward", "predict_other", "metrics", "write"} <= set(split), split
    assert all(seconds >= 0 for seconds in split.values())
    predicting = sum(v for k, v in split.items() if k not in ("metrics", "write"))
    assert predicting == pytest.approx(eff.busy_s, abs=1e-4)
    assert predicting <= eff.wall_s * eff.replicas + 1e-3
    assert eff.warmup_s >= 0 and eff.warmup_batches >= 0
    assert eff.warmup_batches == sum(b.warmup_batches for b in eff.per_replica)
    assert eff.warmup_s == pytest.approx(sum(b.warmup_s for b in eff.per_replica),
                                            abs=1e-5)
    for block in eff.per_replica:
        assert sum(block.split_s.values()) == pytest.approx(block.wall_s, abs=1e-4)
        assert block.split_s["forward"] <= block.wall_s + 1e-6
        assert block.memory_source.startswith(("rss", "cuda"))
    assert eff.peak_memory_mb == max(b.peak_memory_mb for b in eff.per_replica)


@pytest.mark.usefixtures("ray_cluster")
@pytest.mark.ray
@pytest.mark.skipif(not HAS_RAY, reason="ray is not installed")
def test_ray_replicas_warm_up_once_per_task_untimed(tmp_path):
    from evalsuite.executors.ray_executor import run as run_on_ray

    jobs = [Job(parse_spec("test-ray:kw?name=kw&replicas=2&warmup=1"),
                REGISTRY.select(["sentiment/starter", "similarity/starter"]))]
    outcome = run_on_ray(RunConfig(jobs=jobs, output_dir=tmp_path / "ray", resamples=50,
                                   limit=30, cache_path=None))
    load_results(outcome.run_dir)  # valid against the JSON Schema
    for record in outcome.records:
        eff = record.efficiency
        assert record.status == "ok" and eff.source == "measured"
        assert_timing_split(eff)
        # every replica that served the task warmed up once for it, outside the timed batches
        assert eff.warmup_batches == eff.replicas == len(eff.per_replica)
        assert all(b.warmup_batches == 1 and b.warmup_s > 0 for b in eff.per_replica)
        assert sum(b.n_timed for b in eff.per_replica) == 30


@pytest.mark.ray
@pytest.mark.skipif(not HAS_RAY, reason="ray is not installed")
def test_ray_efficiency_merges_shards_and_replicas():
    from evalsuite.efficiency.measurement import BatchTiming, Measurement, ModelInfo
    from evalsuite.executors.ray_executor import replicas_total

    info = ModelInfo(device="cuda:0", device_name="GPU", dtype="float16", params=10,
                     weight_bytes=20)

    def shard(seconds: list[float], phases: dict, warmup: int, peak: float,
              energy) -> Measurement:
        return Measurement(batches=[BatchTiming(4, s, 40) for s in seconds], phases=phases,
                           overlapped={"tokenize": 0.1}, warmup_batches=warmup,
                           warmup_s=0.5 * warmup, energy_j=energy,
                           memory={"peak_memory_mb": peak, "memory_source": "cuda_allocator",
                                   "memory_increase_mb": peak / 2})

    one = Measurement().merge(shard([1.0, 1.0], {"forward": 1.5, "tokenize": 0.2}, 1, 100.0,
                                    10.0))
    one = one.merge(shard([2.0], {"forward": 1.8}, 0, 300.0, 5.0))
    two = Measurement().merge(shard([0.5], {"forward": 0.4}, 1, 200.0, None))
    block = one.summary(info, 1.0).to_dict()  # as the result file has it
    assert block["wall_s"] == 4.0 and block["n_timed"] == 12
    assert block["split_s"] == pytest.approx({"tokenize": 0.2, "forward": 3.3,
                                              "predict_other": 0.5})
    assert block["warmup_batches"] == 1 and block["warmup_s"] == 0.5
    assert block["overlapped_s"] == pytest.approx({"tokenize": 0.2})
    assert block["peak_memory_mb"] == 300.0 and block["memory_increase_mb"] == 150.0
    assert block["energy_j"] == 15.0 and block["energy_per_example_j"] == 15.0 / 12
    assert block["device_name"] == "GPU" and block["memory_source"] == "cuda_allocator"

    total = replicas_total([one, two], own_gpus=True).summary(info, 1.0).to_dict()
    assert total["wall_s"] == 4.5 and total["n_timed"] == 16
    assert sum(total["split_s"].values()) == pytest.approx(4.5)
    assert total["split_s"]["forward"] == pytest.approx(3.7)
    assert total["warmup_batches"] == 2 and total["warmup_s"] == 1.0
    assert total["peak_memory_mb"] == 300.0
    assert "energy_j" not in total  # replica 1 had no energy counter: no made-up total
    assert replicas_total([one], own_gpus=True).energy_j == 15.0
    assert replicas_total([one, one], own_gpus=False).energy_j is None  # replicas share a GPU


@pytest.mark.usefixtures("ray_cluster")
@pytest.mark.ray
@pytest.mark.skipif(not HAS_RAY, reason="ray is not installed")
def test_ray_probes_give_the_local_figures(tmp_path):
    """--probes under Ray: the same bias, safety and robustness blocks as the local run; the
    probes' new inputs are predicted (and embedded) by the replicas."""
    from evalsuite.executors.ray_executor import run as run_on_ray
    from evalsuite.probes import parse_probes

    def config(out: str) -> RunConfig:
        jobs = [Job(parse_spec(f"test-ray-embed:kw?name=kw&replicas=2&log={tmp_path / out}.log"),
                    REGISTRY.select(["sentiment/starter", "similarity/starter"])),
                Job(parse_spec("baseline:lead?k=2"), REGISTRY.select(["summarization/starter"]))]
        probes = parse_probes("bias?n=12&permutations=50,safety?n=12,robustness?n=12")
        return RunConfig(jobs=jobs, output_dir=tmp_path / out, resamples=50, limit=20,
                         cache_path=None, probes=probes)

    ray_run = run_on_ray(config("ray"))
    local = run(config("local"))
    local_records = {k: r.to_dict() for k, r in by_pair(local.records).items()}
    ray_records = {k: r.to_dict() for k, r in by_pair(ray_run.records).items()}
    for pair, rec in ray_records.items():
        assert rec["status"] == "ok", rec.get("reason")
        mine = local_records[pair]
        for block in ("bias", "safety", "robustness"):
            assert rec[block] == mine[block], (pair, block)
        for count in ("predicted", "computed", "embedded_texts"):
            assert rec["probe_cost"][count] == mine["probe_cost"][count], (pair, count)
    kw = ray_records[("kw", "similarity/starter")]
    assert kw["probe_cost"]["embedded_texts"].get("bias")  # WEAT embeddings by a replica
    assert any("retention" in figure for figure in kw["robustness"].values())
    assert any("max_gap" in figure for figure in kw["bias"].values())
    lead = ray_records[("baseline:lead", "summarization/starter")]
    assert "rate" in lead["safety"]["toxicity"] and "rate" in lead["safety"]["pii_leakage"]
    # the workers predicted the probes' inputs: far more than the task's 40 examples
    predicted = Path(f"{tmp_path / 'ray'}.log").read_text().splitlines()
    assert len(predicted) > 40 and len(predicted) == len(
        Path(f"{tmp_path / 'local'}.log").read_text().splitlines())


@pytest.mark.usefixtures("ray_cluster")
@pytest.mark.ray
@pytest.mark.skipif(not HAS_RAY, reason="ray is not installed")
def test_ray_task_failure_keeps_the_other_tasks(tmp_path):
    from evalsuite.executors.ray_executor import run as run_on_ray

    outcome = run_on_ray(batch(tmp_path, "ray", cache=None, die=False,
                               fail_task="similarity/starter"))
    records = by_pair(outcome.records)
    failed = records[("kw", "similarity/starter")]
    assert failed.status == "failed"
    assert failed.reason == "ValueError: simulated failure on similarity/starter"
    assert records[("kw", "sentiment/starter")].status == "ok"
    assert records[("baseline:copy", "translation/starter-en-de")].status == "ok"


@pytest.mark.usefixtures("ray_cluster")
@pytest.mark.ray
@pytest.mark.skipif(not HAS_RAY, reason="ray is not installed")
def test_ray_command_line(tmp_path):
    batch_file = tmp_path / "batch.yaml"
    batch_file.write_text(textwrap.dedent(f"""\
        output: {tmp_path / "results"}
        limit: 8
        resamples: 50
        models:
          - name: copy
            spec: "baseline:copy"
            replicas: 2
            tasks: [translation/starter-en-de]
        """))
    assert main(["run", str(batch_file), "--executor", "ray", "--no-cache",
                 "--run-id", "r1"]) == 0
    record = json.loads((tmp_path / "results" / "r1" / "results.json").read_text())["records"][0]
    assert record["status"] == "ok" and record["executor"]["replicas"] == 2
    # the local executor accepts the same batch file (placement options are ignored)
    assert main(["run", str(batch_file), "--no-cache", "--run-id", "l1"]) == 0
    local = json.loads((tmp_path / "results" / "l1" / "results.json").read_text())["records"][0]
    assert local["metrics"] == record["metrics"] and "executor" not in local
    with pytest.raises(SpecError, match="no node of the cluster"):
        from evalsuite.executors.ray_executor import run as run_on_ray

        config = RunConfig(jobs=[Job(parse_spec("baseline:copy?num_gpus=8"),
                                     REGISTRY.select(["translation/starter-en-de"]))],
                           output_dir=tmp_path / "gpu", cache_path=None, limit=2)
        run_on_ray(config)


@pytest.mark.usefixtures("ray_cluster")
@pytest.mark.ray
@pytest.mark.skipif(not HAS_RAY, reason="ray is not installed")
def test_a_replica_without_gpus_sees_none():
    """Ray 2.60 leaves ``CUDA_VISIBLE_DEVICES`` alone for actors that reserve no GPU, so a
    CPU replica would find (and use) the machine's GPUs: the executor hides them."""
    import ray

    from evalsuite.executors.base import Placement
    from evalsuite.executors.ray_executor import replica_options, worker_runtime_env

    env = worker_runtime_env(["tests.ray_models"])
    options = replica_options(Placement(num_gpus=0), env)
    assert options["runtime_env"]["env_vars"]["CUDA_VISIBLE_DEVICES"] == ""
    assert options["runtime_env"]["env_vars"]["PYTHONPATH"] == env["env_vars"]["PYTHONPATH"]
    probe = ray.remote(tests.ray_models.DeviceProbe).options(**options).remote(0.0)
    seen = ray.get(probe.report.remote())
    assert seen == {"CUDA_VISIBLE_DEVICES": "", "device": "cpu", "gpus": [],
                    "cuda_devices": 0}
    assert "CUDA_VISIBLE_DEVICES" not in replica_options(Placement(num_gpus=1), env).get(
        "runtime_env", {}).get("env_vars", {})  # Ray sets it to the GPUs it gives


def test_replicas_reserving_several_gpus_use_them_all():
    from evalsuite.executors.ray_executor import spread_over

    spec = parse_spec("hf:./m?dtype=bfloat16")
    assert spread_over(spec, ["2", "5"]).options == {"dtype": "bfloat16", "device": "cuda:all"}
    assert spread_over(spec, ["2"]) is spec  # one GPU: plain cuda
    pinned = parse_spec("hf:./m?device=cuda:0")
    assert spread_over(pinned, ["2", "5"]) is pinned  # the user chose


@pytest.mark.usefixtures("ray_cluster")
@pytest.mark.ray
@pytest.mark.skipif(not HAS_RAY, reason="ray is not installed")
def test_a_model_that_runs_on_one_gpu_cannot_reserve_two(tmp_path, monkeypatch):
    import ray

    from evalsuite.executors.ray_executor import run as run_on_ray

    monkeypatch.setattr(ray, "nodes", lambda: [{"Alive": True,  # a node with 4 GPUs
                                                "Resources": {"CPU": 8, "GPU": 4}}])
    config = RunConfig(jobs=[Job(parse_spec("test-ray:kw?num_gpus=2"),
                                 REGISTRY.select(["sentiment/starter"]))],
                       output_dir=tmp_path / "gpus", cache_path=None, limit=2)
    with pytest.raises(SpecError, match=r"run on one GPU.*replicas=2 and num_gpus=1"):
        run_on_ray(config)


# -- without Ray ---------------------------------------------------------------------------------
def test_one_progress_bar_per_model_and_task():
    from io import StringIO

    from rich.console import Console

    from evalsuite.executors.progress import MultiTaskProgress

    out = StringIO()
    with MultiTaskProgress(Console(file=out, force_terminal=True, width=120)) as progress:
        progress.task_started("a", "t1", 10, 0)
        progress.task_started("b", "t2", 20, 5)
        progress.advance_task("a", "t1", 4)
        bars = {task.description: task.completed for task in progress.progress.tasks}
        assert bars == {"a · t1": 4, "b · t2": 5}
        progress.task_finished(Record(model="a", task="t1", family="sentiment",
                                      status="failed", reason="boom", n_examples=0,
                                      metrics={}))
        assert [task.description for task in progress.progress.tasks] == ["b · t2"]
    assert "failed" in out.getvalue()


def test_executor_ray_without_ray_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails
    code = main(["run", "-m", "baseline:copy", "-t", "translation/starter-en-de",
                 "--executor", "ray", "--no-cache", "-o", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "pip install 'evalsuite[ray]'" in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())  # refused before any work


def test_bad_executor_flags_exit_2(tmp_path, capsys):
    base = ["run", "-m", "baseline:copy", "-t", "translation/starter-en-de", "--no-cache",
            "-o", str(tmp_path)]
    assert main([*base, "--executor", "dask"]) == 2
    assert main([*base, "--address", "auto"]) == 2
    err = capsys.readouterr().err
    assert "--executor: unknown executor 'dask'" in err and "--address" in err


def test_placement_options():
    from evalsuite.executors.base import adapter_spec, placement

    spec = parse_spec("baseline:copy?replicas=3&num_gpus=0.5&k=2")
    assert adapter_spec(spec).options == {"k": "2"}
    assert adapter_spec(spec).display_name == spec.display_name
    assert placement(spec).replicas == 3 and placement(spec).num_gpus == 0.5
    with pytest.raises(SpecError, match="replicas"):
        placement(parse_spec("baseline:copy?replicas=0"))


def test_local_executor_imports_nothing_from_ray(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        from evalsuite.cli.app import main
        import evalsuite.executors, evalsuite.executors.local
        code = main(["run", "-m", "baseline:copy", "-t", "translation/starter-en-de",
                     "--limit", "3", "--resamples", "10", "--no-cache", "-o", {str(tmp_path)!r}])
        assert code == 0, code
        leaked = sorted(m for m in sys.modules if m == "ray" or m.startswith("ray."))
        assert not leaked, leaked
        print("no ray")
        """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0 and "no ray" in done.stdout, done.stderr[-2000:]
