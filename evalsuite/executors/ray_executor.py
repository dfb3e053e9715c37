"""The Ray executor: a batch's (model, task, shard) work items on a Ray cluster.

::

    evalsuite run batch.yaml --executor ray                  # a local Ray instance
    evalsuite run batch.yaml --executor ray --address auto   # the cluster this node is in
    evalsuite run batch.yaml --executor ray --address 10.0.0.5:6379

How the work is split and merged:

* Every model gets ``replicas`` actors (model spec option, default 1), each reserving
  ``num_gpus`` GPUs (default 0; fractions share a GPU) and ``num_cpus`` CPUs (default 1).  An
  actor loads its model once and serves every task of that model.  A replica with no GPU
  sees none (``CUDA_VISIBLE_DEVICES=""``, so ``device=auto`` is the CPU); one with a
  fraction caps its CUDA allocator at that fraction; one with several spreads an ``hf``
  model over all of them (``device=cuda:all``; other kinds are refused ``num_gpus`` > 1).
  These three options say where a model runs, not what it predicts: adapters never see
  them, cache keys ignore them and the local executor accepts and ignores them.
* The driver (this process) loads every task's examples, looks them up in the prediction
  cache and asks one replica to order the rest by length and cut them into batches exactly
  as the local executor would; runs of consecutive batches form shards (about
  ``SHARDS_PER_REPLICA`` per replica), which go to whichever replica of the model is idle.
* **The driver owns the prediction cache.**  Actors return outputs; the driver commits each
  shard to the SQLite file as it arrives.  One process writes the file, and workers need no
  access to the driver's disk.  Scoring and records use the local executor's own code
  (:func:`evalsuite.runner.steps.task_record`), so metrics match it to the last digit for
  deterministic models, and the run folder has the same files.
* A replica whose process dies (killed, out of memory, node lost) is restarted by Ray
  (``max_restarts``); the shard it was running goes back to the front of the queue and runs
  on the next idle replica of the model, at most ``MAX_SHARD_ATTEMPTS`` times.  Finished
  shards are never recomputed: they are in the cache and in the driver's memory.  Each
  record says what was retried: ``record.executor`` (``kind: ray``, ``replicas``,
  ``shards``, ``retried_shards``).

Probes (``--probes``) run on the driver when a task's record is built, exactly as in the
local executor: they predict through the driver's cache, and what is not cached is predicted
by a replica of the model (:class:`ReplicaPredictor`), so their figures match the local run.

Efficiency stays honest: ``efficiency.per_replica`` has each replica's throughput over its
own busy time, batch latency, peak memory of its process during the task's shards and load
time; the top-level figures are the aggregate (``examples_per_s`` = examples over the
wall-clock time from the task's first shard to its last, ``busy_s`` = summed replica time)
with ``replicas``, the number of replicas that served the task.  Every block has the local
executor's fields: ``split_s`` (seconds per phase, summed over shards and, at the top, over
replicas, so its prediction phases add up to ``busy_s`` rather than ``wall_s``; ``metrics``
and ``write`` are added by :func:`~evalsuite.runner.steps.task_record`), ``overlapped_s``,
``warmup_batches``/``warmup_s`` (each replica warms up once per task, untimed: outside
``busy_s`` but inside the wall-clock time), ``memory_source``/``memory_increase_mb`` and,
where NVML measures it, ``energy_j`` (at the top only when no two replicas share a GPU).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import math
import os
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import ray

from evalsuite.efficiency.measurement import Measurement, ModelInfo
from evalsuite.efficiency.meter import EfficiencyMeter, MemoryBefore, memory_before_load
from evalsuite.errors import BackendUnavailable, EvalsuiteError, RunError, SpecError, UserError
from evalsuite.executors import require_ray
from evalsuite.executors.base import Placement, adapter_spec, placement
from evalsuite.models.base import ModelAdapter
from evalsuite.models.spec import ModelSpec
from evalsuite.results.records import (
    Efficiency,
    Record,
    RecordExecutor,
    ReplicaEfficiency,
    RunExecutor,
)
from evalsuite.runner import steps
from evalsuite.runner.batching import sort_by_length
from evalsuite.runner.cache import PredictionCache, example_key, model_task_key
from evalsuite.runner.run import (
    Job,
    Progress,
    RunConfig,
    RunOutcome,
    SilentProgress,
    TaskPredictor,
    predict_all,
)
from evalsuite.tasks.cards import TaskCard
from evalsuite.tasks.data import TaskData
from evalsuite.utils import first_line

SHARDS_PER_REPLICA = 4
MAX_SHARD_ATTEMPTS = 3
MAX_RESTARTS = 3
WAIT_S = 1.0


# -- the actor ---------------------------------------------------------------------------------
class ModelReplica:
    """One replica of one model in a Ray actor: loads it once, plans and predicts shards."""

    def __init__(self, spec: ModelSpec, modules: list[str], index: int,
                 num_gpus: float = 0.0) -> None:
        gpus = claim_gpus(num_gpus)  # before anything initialises CUDA in this process
        for name in modules:  # registers the adapter kind (built-in or a user's module)
            importlib.import_module(name)
        self.spec = spread_over(spec, gpus)
        self.num_gpus = num_gpus
        self.index = index
        self.adapter: ModelAdapter | None = None
        self.load_s: float | None = None
        self.memory_before: MemoryBefore | None = None  # the process before the model loaded

    def _loaded(self) -> ModelAdapter:
        if self.adapter is None:
            from evalsuite.models import registry

            adapter = registry.build(self.spec)
            self.memory_before = memory_before_load()
            start = time.perf_counter()
            share_gpu(self.num_gpus)
            adapter.load()
            self.load_s = time.perf_counter() - start
            self.adapter = adapter
        return self.adapter

    def describe(self) -> dict[str, Any]:
        """This replica (index, process, node), its model's ``info()`` and load time."""
        return {"replica": self.index, "pid": os.getpid(),
                "node": ray.util.get_node_ip_address(), "info": self._loaded().info(),
                "load_s": self.load_s}

    def load(self, cards: list[TaskCard]) -> dict[str, Any]:
        """Load the model; its identity and its settings for each card."""
        adapter = self._loaded()
        return {"identity": steps.model_identity(adapter),
                "settings": {card.name: adapter.settings(card) for card in cards},
                **self.describe()}

    def plan(self, card: TaskCard, examples: list[dict]) -> tuple[list[int], list[int]]:
        """Length order of ``examples`` and the batch sizes the local executor would use."""
        adapter = self._loaded()
        order = sort_by_length(list(range(len(examples))),
                               lambda i: adapter.example_length(card, examples[i]))
        batches = adapter.plan_batches(card, [examples[i] for i in order], 0)
        return order, [len(batch) for batch in batches]

    def predict(self, card: TaskCard, keys: list[str], examples: list[dict]
                ) -> dict[str, Any]:
        """Outputs of one shard (in order) with what its meter measured (a
        :class:`Measurement`: batch timings, phase seconds, warm-up — once per replica and
        task —, memory and energy)."""
        adapter = self._loaded()
        meter = EfficiencyMeter(device=str(adapter.device), before_load=self.memory_before)
        meter.start()
        outputs: dict[str, Any] = {}
        for batch_keys, batch_outputs in predict_all(adapter, card,
                                                     list(zip(keys, examples, strict=True)),
                                                     meter):
            outputs.update(zip(batch_keys, batch_outputs, strict=True))
        return {"outputs": [outputs[k] for k in keys], "measurement": meter.measurement(),
                **self.describe()}

    def embed(self, sentences: list[str]) -> Any:
        """The model's sentence embeddings (for the probes, when it ``can_embed``)."""
        return self._loaded().embed(sentences)

    def close(self) -> None:
        if self.adapter is not None:
            self.adapter.close()


_RemoteReplica = ray.remote(ModelReplica)


def replica_options(placement: Placement, runtime_env: dict[str, Any] | None
                    ) -> dict[str, Any]:
    """The Ray actor options of one replica.  A replica that reserves no GPU gets
    ``CUDA_VISIBLE_DEVICES=""``: Ray (since 2.48 optionally, since 2.60 by default) no longer
    hides the GPUs from such actors, and ``device=auto`` would otherwise pick a GPU Ray never
    gave it, piling onto another replica's."""
    options: dict[str, Any] = {"num_cpus": placement.num_cpus, "num_gpus": placement.num_gpus,
                               "max_restarts": MAX_RESTARTS, "max_task_retries": 0}
    env = dict(runtime_env or {})
    if not placement.num_gpus:
        env["env_vars"] = {**env.get("env_vars", {}), "CUDA_VISIBLE_DEVICES": ""}
    if env:
        options["runtime_env"] = env
    return options


def claim_gpus(num_gpus: float) -> list[str]:
    """In a replica's process: the GPU ids Ray gave it; with none reserved, every GPU is
    hidden (``CUDA_VISIBLE_DEVICES=""``, in case the actor options did not reach the
    process's environment)."""
    gpus = [str(g) for g in ray.get_gpu_ids()] if num_gpus else []
    if not gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    return gpus


def spread_over(spec: ModelSpec, gpus: list[str]) -> ModelSpec:
    """``spec`` with ``device=cuda:all`` when the replica holds several GPUs and the spec
    leaves the device to ``auto``: the model is spread over all of them, not only the
    first (the driver refused models that cannot be, see :func:`check_placement`)."""
    device = str(spec.options.get("device", "auto")).strip().lower()
    if len(gpus) < 2 or device != "auto":
        return spec
    return replace(spec, options={**spec.options, "device": "cuda:all"})


def share_gpu(num_gpus: float) -> None:
    """A replica that reserves a fraction of a GPU caps its process's CUDA allocator at that
    fraction, so replicas sharing a GPU size their batches (``batch_size=auto``) for their
    share and one cannot take the other's memory."""
    if not 0 < num_gpus < 1:
        return
    import torch

    if torch.cuda.is_available():
        torch.cuda.set_per_process_memory_fraction(num_gpus)


class ReplicaPredictor(TaskPredictor):
    """The runner's predictor on the driver, for the probes: the driver's cache, and what is
    not cached predicted (or embedded) by a replica of the model."""

    def __init__(self, adapter: ModelAdapter, card: TaskCard, cache: PredictionCache, *,
                 identity: dict[str, Any], settings: dict[str, Any], actor: Any) -> None:
        super().__init__(adapter, card, cache, identity=identity, settings=settings)
        self.actor = actor

    def compute(self, todo: list[tuple[str, dict]], meter: EfficiencyMeter
                ) -> Iterator[tuple[list[str], list[Any]]]:
        if self.actor is None:
            raise RunError("no replica of the model is alive to predict the probes' inputs")
        keys = [key for key, _ in todo]
        result = ray.get(self.actor.predict.remote(self.card, keys, [ex for _, ex in todo]))
        yield keys, result["outputs"]

    def embed(self, sentences: Sequence[str]) -> Any:
        if self.actor is None:
            raise RunError("no replica of the model is alive to embed the probes' sentences")
        # a copy: Ray hands NumPy arrays over read-only (zero-copy from its object store)
        return np.array(ray.get(self.actor.embed.remote(list(sentences))))


# -- driver-side state -------------------------------------------------------------------------
@dataclass
class _Replica:
    index: int
    actor: Any
    ready: bool = False
    dead: bool = False
    busy: _Shard | None = None
    restarts: int = 0


@dataclass
class _Shard:
    task: _Task
    index: int
    keys: list[str]
    examples: list[dict]
    attempts: int = 0


@dataclass
class _Task:
    model: _Model
    data: TaskData
    status: str = "waiting"  # waiting → planning → running → done | failed
    settings: dict[str, Any] = field(default_factory=dict)
    prefix: str = ""
    keys: list[str] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    computed: set[str] = field(default_factory=set)
    shards: int = 0
    shards_left: int = 0
    todo: tuple[list[str], list[dict]] | None = None
    work: dict[int, Measurement] = field(default_factory=dict)  # replica index -> its shards
    replica_info: dict[int, dict[str, Any]] = field(default_factory=dict)  # its describe()
    first_start: float | None = None
    last_end: float | None = None
    retried: list[dict[str, Any]] = field(default_factory=list)

    @property
    def card(self) -> TaskCard:
        return self.data.card

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed", "skipped")


@dataclass
class _Model:
    job: Job
    adapter: ModelAdapter  # the driver's, not loaded: what the model declares (probes)
    spec: ModelSpec  # without the executor options
    placement: Placement
    modules: list[str]
    tasks: list[_Task] = field(default_factory=list)
    replicas: list[_Replica] = field(default_factory=list)
    queue: deque = field(default_factory=deque)
    identity: dict[str, Any] | None = None
    closed: bool = False

    @property
    def name(self) -> str:
        return self.job.spec.display_name


class _Scheduler:
    """Feeds shards to idle replicas and turns finished tasks into records."""

    def __init__(self, models: list[_Model], config: RunConfig, writer: Any,
                 cache: PredictionCache, progress: Progress,
                 runtime_env: dict[str, Any] | None) -> None:
        self.models = models
        self.config = config
        self.writer = writer
        self.cache = cache
        self.progress = progress
        self.runtime_env = runtime_env
        self.inflight: dict[Any, tuple[str, _Model, _Replica, Any]] = {}

    # -- lifecycle -------------------------------------------------------------------------
    def run(self) -> None:
        for model in self.models:
            self._start_model(model)
        while self.inflight:
            ready, _ = ray.wait(list(self.inflight), num_returns=1, timeout=WAIT_S)
            for ref in ready:
                kind, model, replica, payload = self.inflight.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:  # the model code raised
                    cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                    self._on_error(kind, model, replica, payload, cause)
                except ray.exceptions.RayError as exc:  # the replica's process is gone
                    self._on_lost(kind, model, replica, payload, exc)
                else:
                    getattr(self, f"_on_{kind}")(model, replica, payload, result)
        for model in self.models:  # every replica died for good
            for task in model.tasks:
                if not task.finished:
                    self._fail(task, "every replica of the model died "
                               f"(after {MAX_RESTARTS} restarts each)")

    def shutdown(self) -> None:
        for model in self.models:
            self._close_model(model, graceful=False)

    def _start_model(self, model: _Model) -> None:
        options = replica_options(model.placement, self.runtime_env)
        for index in range(model.placement.replicas):
            actor = _RemoteReplica.options(**options).remote(model.spec, model.modules, index,
                                                             model.placement.num_gpus)
            replica = _Replica(index, actor)
            model.replicas.append(replica)
            self._load(model, replica)

    def _load(self, model: _Model, replica: _Replica) -> None:
        cards = [t.card for t in model.tasks]
        self._submit("loaded", model, replica, replica.actor.load.remote(cards), None)

    def _submit(self, kind: str, model: _Model, replica: _Replica, ref: Any,
                payload: Any) -> None:
        self.inflight[ref] = (kind, model, replica, payload)

    def _close_model(self, model: _Model, *, graceful: bool = True) -> None:
        if model.closed:
            return
        model.closed = True
        if graceful:
            refs = [r.actor.close.remote() for r in model.replicas if r.ready and not r.dead]
            with contextlib.suppress(Exception):  # freeing resources is best effort
                ray.get(refs, timeout=30)
        for replica in model.replicas:
            ray.kill(replica.actor, no_restart=True)

    # -- events --------------------------------------------------------------------------------
    def _on_loaded(self, model: _Model, replica: _Replica, _: Any,
                   info: dict[str, Any]) -> None:
        replica.ready = True
        if model.closed:
            return
        if model.identity is None:
            model.identity = info["identity"]
            for task in model.tasks:
                self._start_task(task, info["settings"][task.card.name], replica)
        self._dispatch(model)

    def _start_task(self, task: _Task, settings: dict[str, Any], replica: _Replica) -> None:
        model, card, examples = task.model, task.card, task.data.examples
        assert model.identity is not None
        task.settings = settings
        task.prefix = model_task_key(model.identity, card.version_id, settings)
        task.keys = [example_key(task.prefix, card.family, ex) for ex in examples]
        task.outputs = self.cache.get_many(task.keys)
        steps.drop_unusable(card, task.outputs, task.keys, examples)  # recomputed, not scored
        self.progress.task_started(model.name, card.name, len(examples), len(task.outputs))
        todo = {k: ex for k, ex in zip(task.keys, examples, strict=True)
                if k not in task.outputs}
        task.computed = set(todo)
        if not todo:
            self._finish(task)
            return
        task.todo = (list(todo), list(todo.values()))
        self._plan(task, replica)

    def _plan(self, task: _Task, replica: _Replica) -> None:
        assert task.todo is not None
        task.status = "planning"
        ref = replica.actor.plan.remote(task.card, task.todo[1])
        self._submit("planned", task.model, replica, ref, task)

    def _on_planned(self, model: _Model, replica: _Replica, task: _Task,
                    plan: tuple[list[int], list[int]]) -> None:
        if model.closed or task.finished:
            return
        assert task.todo is not None
        keys, examples = task.todo
        order, sizes = plan
        live = sum(not r.dead for r in model.replicas) or 1
        per_shard = max(1, math.ceil(len(sizes) / (live * SHARDS_PER_REPLICA)))
        position = 0
        shards = []
        for start in range(0, len(sizes), per_shard):
            count = sum(sizes[start:start + per_shard])
            picked = order[position:position + count]
            shards.append(_Shard(task, len(shards), [keys[i] for i in picked],
                                 [examples[i] for i in picked]))
            position += count
        task.todo = None
        task.shards = task.shards_left = len(shards)
        task.status = "running"
        model.queue.extend(shards)
        self._dispatch(model)

    def _dispatch(self, model: _Model) -> None:
        if model.closed:
            return
        for replica in model.replicas:
            if not replica.ready or replica.dead or replica.busy is not None:
                continue
            waiting = next((t for t in model.tasks if t.status == "waiting" and t.todo), None)
            if waiting is not None:  # its planning replica died: plan it here
                self._plan(waiting, replica)
                continue
            shard = self._next_shard(model)
            if shard is None:
                break
            shard.attempts += 1
            replica.busy = shard
            task = shard.task
            task.first_start = task.first_start or time.perf_counter()
            ref = replica.actor.predict.remote(task.card, shard.keys, shard.examples)
            self._submit("predicted", model, replica, ref, shard)
        busy = any(r.busy is not None for r in model.replicas)
        if model.identity is not None and not busy and all(t.finished for t in model.tasks):
            self._close_model(model)  # frees its resources for the next model

    @staticmethod
    def _next_shard(model: _Model) -> _Shard | None:
        while model.queue:
            shard = model.queue.popleft()
            if shard.task.status == "running":
                return shard
        return None

    def _on_predicted(self, model: _Model, replica: _Replica, shard: _Shard,
                      result: dict[str, Any]) -> None:
        replica.busy = None
        task = shard.task
        if task.status == "running" and not model.closed:
            fresh = dict(zip(shard.keys, result["outputs"], strict=True))
            self.cache.put_many(fresh.items())
            task.outputs.update(fresh)
            index = replica.index
            task.work[index] = task.work.get(index, Measurement()).merge(result["measurement"])
            task.replica_info.setdefault(index, {k: result[k] for k in
                                                 ("replica", "pid", "node", "info", "load_s")})
            task.last_end = time.perf_counter()
            for entry in task.retried:
                if entry["shard"] == shard.index:
                    entry["done_by_replica"] = index
            self.progress.advance_task(model.name, task.card.name, len(shard.keys))
            task.shards_left -= 1
            if task.shards_left == 0:
                self._finish(task)
        self._dispatch(model)

    def _on_lost(self, kind: str, model: _Model, replica: _Replica, payload: Any,
                 exc: BaseException) -> None:
        """The replica's process died or is unreachable: retry its work, revive it."""
        replica.ready = False
        replica.busy = None
        if model.closed:
            return
        reason = first_line(exc)[:160]
        if kind == "predicted":
            shard: _Shard = payload
            task = shard.task
            task.retried.append({"shard": shard.index, "examples": len(shard.keys),
                                 "attempt": shard.attempts, "replica": replica.index,
                                 "reason": f"{type(exc).__name__}: {reason}"})
            if task.status == "running":
                if shard.attempts >= MAX_SHARD_ATTEMPTS:
                    self._fail(task, f"shard {shard.index} failed {shard.attempts} times: "
                               f"the replica died ({type(exc).__name__})")
                else:
                    self.progress.message(
                        f"{model.name} · {task.card.name}: replica {replica.index} died; "
                        f"shard {shard.index} ({len(shard.keys)} examples) goes to another "
                        f"replica")
                    model.queue.appendleft(shard)
        elif kind == "planned":
            task = payload
            if task.status == "planning":
                task.status = "waiting"  # planned again by the next ready replica
        replica.restarts += 1
        if replica.restarts > MAX_RESTARTS:
            replica.dead = True
        else:
            self._load(model, replica)  # waits for Ray to restart the actor
        if all(r.dead for r in model.replicas):
            for task in model.tasks:
                if not task.finished:
                    self._fail(task, f"every replica of the model died ({reason})")
        self._dispatch(model)

    def _on_error(self, kind: str, model: _Model, replica: _Replica, payload: Any,
                  cause: BaseException) -> None:
        """The model's own code raised: as in the local executor."""
        if kind == "loaded":
            if isinstance(cause, BackendUnavailable):
                for task in model.tasks:
                    if not task.finished:
                        task.status = "skipped"
                        self._add(task, steps.status_record(model.job.spec, task.card,
                                                            "skipped", str(cause)))
                self._close_model(model, graceful=False)
                return
            if isinstance(cause, EvalsuiteError):
                raise cause
            raise RunError(f"model {model.name}: could not be loaded: "
                           f"{type(cause).__name__}: {first_line(cause)}") from cause
        replica.busy = None
        if isinstance(cause, UserError):
            raise cause
        task = payload.task if isinstance(payload, _Shard) else payload
        if not task.finished:
            self._fail(task, f"{type(cause).__name__}: {first_line(cause)}")
        self._dispatch(model)

    # -- records -------------------------------------------------------------------------------
    def _fail(self, task: _Task, reason: str) -> None:
        task.status = "failed"
        self._add(task, steps.status_record(task.model.job.spec, task.card, "failed", reason))

    def _add(self, task: _Task, record: Record) -> None:
        record.executor = RecordExecutor(kind="ray", replicas=len(task.model.replicas),
                                         shards=task.shards, retried_shards=task.retried)
        self.progress.task_finished(self.writer.add(record))

    def _finish(self, task: _Task) -> None:
        model = task.model
        if task.computed:
            efficiency = self._efficiency(task)
            efficiency.source = "measured"
            self.cache.put_efficiency(task.prefix, efficiency.to_dict())
        else:
            efficiency = Efficiency.from_cache(self.cache.get_efficiency(task.prefix))
        ordered = [steps.as_output(task.outputs[k]) for k in task.keys]
        assert model.identity is not None
        try:
            record = steps.task_record(model.job.spec, task.data, self.config, self.writer,
                                       identity=model.identity, settings=task.settings,
                                       keys=task.keys, ordered=ordered,
                                       computed=task.computed, efficiency=efficiency)
            if self.config.probes:  # as in the local executor; a probe never fails the task
                from evalsuite.probes import run_probes

                record.update(run_probes(self._predictor(task), task.data, self.config,
                                         clean_outputs=ordered, progress=self.progress,
                                         model=model.name))
        except UserError:
            raise
        except Exception as exc:  # keep finished records; report and go on
            task.status = "failed"
            record = steps.status_record(model.job.spec, task.card, "failed",
                                         f"{type(exc).__name__}: {first_line(exc)}")
        else:
            task.status = "done"
        self._add(task, record)

    def _predictor(self, task: _Task) -> ReplicaPredictor:
        """The probes' predictor for ``task``: the driver's cache, a live replica."""
        model = task.model
        assert model.identity is not None
        live = [r for r in model.replicas if r.ready and not r.dead]
        return ReplicaPredictor(model.adapter, task.card, self.cache, identity=model.identity,
                                settings=task.settings,
                                actor=live[0].actor if live else None)

    def _efficiency(self, task: _Task) -> Efficiency:
        """Per-replica blocks and the aggregate over the task's wall-clock time."""
        indexes = sorted(task.work)
        per_replica = []
        for index in indexes:
            about = task.replica_info[index]
            part = task.work[index].summary(about["info"], about["load_s"], ReplicaEfficiency)
            part.replica, part.node, part.pid = about["replica"], about["node"], about["pid"]
            per_replica.append(part)
        own_gpus = len(indexes) == 1 or task.model.placement.num_gpus >= 1
        total = replicas_total([task.work[i] for i in indexes], own_gpus=own_gpus)
        first: ModelInfo = task.replica_info[indexes[0]]["info"]
        block = total.summary(first, max((p.load_s or 0.0) for p in per_replica))
        wall = (task.last_end or 0.0) - (task.first_start or 0.0)
        block.busy_s = block.wall_s
        block.wall_s = wall
        block.examples_per_s = block.n_timed / wall if wall > 0 else None
        if block.input_tokens is not None:
            block.tokens_per_s = block.input_tokens / wall if wall > 0 else None
        block.replicas = len(per_replica)
        block.per_replica = per_replica
        return block


def replicas_total(parts: list[Measurement], *, own_gpus: bool) -> Measurement:
    """Every replica's measurement of a task as one: times summed, the largest memory peak;
    the energy summed only when no two replicas share a GPU (``own_gpus``) and every replica
    measured it (no made-up total)."""
    total = functools.reduce(Measurement.merge, parts, Measurement())
    if not (own_gpus and all(part.energy_j is not None for part in parts)):
        total = replace(total, energy_j=None)
    return total


# -- cluster -----------------------------------------------------------------------------------
def connect(address: str | None) -> bool:
    """Join the running Ray (this process's, ``address`` or a new local one); True if started."""
    if ray.is_initialized():
        return False
    try:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(include_dashboard=False, log_to_driver=False)
    except ConnectionError as exc:
        raise UserError(f"cannot connect to Ray at {address}: {first_line(exc)}",
                        where="--address") from None
    return True


def check_placement(models: list[_Model]) -> None:
    """Refuse (exit 2) a replica reserving several GPUs for a model that runs on one: the
    others would sit idle while reserved."""
    for model in models:
        gpus = model.placement.num_gpus
        if gpus > 1 and not model.adapter.spreads_over_gpus:
            raise SpecError(f"num_gpus={gpus:g}: {model.spec.kind} models run on one GPU, so "
                            f"a replica would leave {gpus - 1:g} of its GPUs idle; use "
                            f"replicas={model.placement.replicas * math.ceil(gpus)} and "
                            f"num_gpus=1", where=f"model {model.name}")


def check_resources(models: list[_Model]) -> None:
    """Refuse (exit 2) a replica that no node of the cluster can ever hold."""
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    for model in models:
        need = {"CPU": model.placement.num_cpus, "GPU": model.placement.num_gpus}
        if not any(all(node.get(k, 0) >= v for k, v in need.items() if v) for node in nodes):
            have = ray.cluster_resources()
            raise SpecError(f"one replica needs {need['CPU']:g} CPU and {need['GPU']:g} GPU, "
                            f"but no node of the cluster has that (cluster: "
                            f"{have.get('CPU', 0):g} CPU, {have.get('GPU', 0):g} GPU)",
                            where=f"model {model.name}")


def worker_runtime_env(modules: list[str]) -> dict[str, Any] | None:
    """``PYTHONPATH`` for workers when a needed module is not in an installed package.

    Adapters that a user registers in a module of their own (or tests register in
    ``tests/``) must be importable by the workers: their source folder is put on the
    workers' path.  On a multi-node cluster that folder must exist on every node (or use a
    job ``working_dir``, see docs/scale-out.md).
    """
    roots: list[str] = []
    for name in [*modules, "evalsuite"]:
        module = sys.modules.get(name)
        file = getattr(module, "__file__", None)
        if not file:
            continue
        path = Path(file).resolve()
        depth = name.count(".") + (1 if path.name == "__init__.py" else 0)
        root = path.parents[depth]
        if {"site-packages", "dist-packages"} & set(root.parts) or str(root) in roots:
            continue
        roots.append(str(root))
    if not roots:
        return None
    existing = os.environ.get("PYTHONPATH")
    return {"env_vars": {"PYTHONPATH": os.pathsep.join([*roots, *([existing] if existing
                                                                   else [])])}}


# -- entry point -------------------------------------------------------------------------------
def run(config: RunConfig, progress: Progress | None = None, *,
        address: str | None = None) -> RunOutcome:
    """Run every job of ``config`` on Ray; same folder, files and records as the local run."""
    progress = progress or SilentProgress()
    plan = steps.build_adapters(config)  # validates every (model, task) before any work
    started = connect(address)
    try:
        return _run(config, plan, progress, address)
    finally:
        if started:
            ray.shutdown()


def _run(config: RunConfig, plan: list[tuple[Job, ModelAdapter]], progress: Progress,
         address: str | None) -> RunOutcome:
    data_by_task = steps.load_all_task_data(config, progress)  # data errors before any folder
    writer, done = steps.open_run(config)
    run_dir = writer.run_dir
    models = []
    for job, adapter in plan:
        model = _Model(job=job, adapter=adapter, spec=adapter_spec(job.spec),
                       placement=placement(job.spec), modules=[type(adapter).__module__])
        model.tasks = [_Task(model, data_by_task[card.name]) for card in job.tasks
                       if (job.spec.display_name, card.name) not in done]
        if model.tasks:
            models.append(model)
    check_resources(models)
    check_placement(models)
    resources = ray.cluster_resources()
    writer.run.executor = RunExecutor(
        kind="ray", address=address or "local", ray_version=ray.__version__,
        nodes=sum(1 for n in ray.nodes() if n.get("Alive")),
        cluster_resources={k: resources[k] for k in ("CPU", "GPU") if k in resources})
    runtime_env = worker_runtime_env(sorted({m for model in models for m in model.modules}))
    cache = steps.open_cache(config, progress)
    scheduler = _Scheduler(models, config, writer, cache, progress, runtime_env)
    interrupted = False
    error: BaseException | None = None
    try:
        scheduler.run()
    except KeyboardInterrupt:
        interrupted = True
        progress.message(f"interrupted: {len(writer.records)} finished records kept in "
                         f"{run_dir}; run again with --resume {run_dir} to continue")
    except BaseException as exc:
        error = exc
        raise
    finally:
        scheduler.shutdown()
        cache.close()
        pairs = [(job.spec.display_name, card.name) for job, _ in plan for card in job.tasks]
        order = {pair: n for n, pair in enumerate(pairs)}
        writer.records.sort(key=lambda r: order.get(r.key, len(order)))
        steps.close_run(writer, interrupted, error)
    return RunOutcome(run_dir=run_dir, records=writer.records, interrupted=interrupted)


class RayExecutor:
    """The (model, task, shard) work items of a batch on the actors of a Ray cluster."""

    name: ClassVar[str] = "ray"
    description: ClassVar[str] = ("shards of every (model, task) on the replicas of a Ray "
                                  "cluster (model options replicas, num_gpus, num_cpus)")
    concurrent_tasks: ClassVar[bool] = True

    def __init__(self, *, address: str | None = None) -> None:
        require_ray()  # Ray may be gone since this module was imported
        self.address = address

    def check(self, config: RunConfig) -> None:
        if config.profile or any(job.profile for job in config.jobs):
            raise UserError("latency profiles run with the local executor; drop --executor "
                            "ray", where="--profile")
        if config.threads is not None:
            raise UserError("Ray gives each replica the threads of its CPUs; set num_cpus= "
                            "on the model instead", where="--threads")

    def run(self, config: RunConfig, progress: Progress | None = None) -> RunOutcome:
        return run(config, progress, address=self.address)
