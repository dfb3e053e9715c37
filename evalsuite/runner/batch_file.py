"""Batch files: which models run which tasks, and where results go.

```yaml
output: results          # folder of run folders, relative to where you run (default)
seed: 0
limit: 200               # optional: first N examples of every task
probes: [bias, safety, robustness]   # optional: or "all", or {robustness: {n: 100}}
tasks: [sentiment/*]     # tasks for models that list none of their own
suites: [sentiment/domains]  # optional: a suite's reference + variants join those tasks, and
                         # variants get generalisation figures (a model may list suites too)
profile: latency         # optional: bs1 latency + batch-size sweep per record (profile_repeats: 20)
threads: 1               # optional: torch intra-op threads (default: one per core)
models:
  - spec: "hf:distilbert-base-uncased-finetuned-sst-2-english"
  - spec: "hf:./my-model"
    variants: [float32, bfloat16, int8]  # one entry each: hf:./my-model@fp32, …@bf16, …@int8
    profile: latency     # or per model entry
  - name: vader
    kind: baseline
    target: vader
    tasks: [sentiment/starter]
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from evalsuite.errors import UserError
from evalsuite.inputs import load_yaml
from evalsuite.models.spec import expand_variants, parse_spec
from evalsuite.probes.hook import parse_probes
from evalsuite.results.lock import check_run_id
from evalsuite.runner.run import Job, RunConfig
from evalsuite.tasks.registry import TaskRegistry
from evalsuite.tasks.suites import check_no_conflicts

BATCH_KEYS = {"output", "seed", "limit", "sample", "resamples", "tasks", "models", "tasks_dirs",
              "description", "run_id", "probes", "profile", "profile_repeats", "suites",
              "threads"}


def load_batch(path: str | Path, *, tasks_dirs: list[str] | None = None) -> tuple[
        RunConfig, TaskRegistry]:
    """Parse a batch file into a ``RunConfig`` (paths in it are relative to the file)."""
    path = Path(path)
    where = str(path)
    try:
        data = load_yaml(path)
    except FileNotFoundError:
        raise UserError("no such batch file", where=where) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise UserError(f"not valid YAML{f' at line {mark.line + 1}' if mark else ''}",
                        where=where) from None
    if not isinstance(data, dict):
        raise UserError("a batch file is a YAML mapping with 'models' and 'tasks'", where=where)
    unknown = sorted(set(data) - BATCH_KEYS)
    if unknown:
        raise UserError(f"unknown field {unknown[0]!r} (fields: {', '.join(sorted(BATCH_KEYS))})",
                        where=where)
    dirs = [str((path.parent / d).resolve()) for d in data.get("tasks_dirs") or []]
    registry = TaskRegistry.discover([*dirs, *(tasks_dirs or [])])
    models = data.get("models")
    if not isinstance(models, list) or not models:
        raise UserError("field 'models': list at least one model", where=where)
    default_tasks = _task_list(data.get("tasks"), f"{where}: field 'tasks'")
    suites = registry.select_suites(
        _task_list(data.get("suites"), f"{where}: field 'suites'") or [],
        where=f"{where}: field 'suites'")
    if suites:
        default_tasks = [*(default_tasks or []), *(n for s in suites for n in s.tasks)]
    jobs = []
    for i, entry in enumerate(models):
        entry_where = f"{where}: models[{i}]"
        own_tasks = None
        profile = None
        if isinstance(entry, dict):
            entry = dict(entry)
            own_tasks = _task_list(entry.pop("tasks", None), f"{entry_where}.tasks")
            profile = _profile(entry.pop("profile", None), f"{entry_where}.profile")
            own_suites = registry.select_suites(
                _task_list(entry.pop("suites", None), f"{entry_where}.suites") or [],
                where=f"{entry_where}.suites")
            if own_suites:
                own_tasks = [*(own_tasks or []), *(n for s in own_suites for n in s.tasks)]
                suites += [s for s in own_suites if s not in suites]
        spec = parse_spec(entry, where=entry_where)
        names = own_tasks or default_tasks
        if not names:
            raise UserError("no tasks: list them under the model or at the top level",
                            where=entry_where)
        cards = registry.select(names)
        jobs.extend(Job(spec=variant, tasks=cards, profile=profile)
                    for variant in expand_variants(spec, where=entry_where))
    config = RunConfig(
        jobs=jobs,
        output_dir=Path(str(data.get("output", "results"))),
        seed=_int(data.get("seed", 0), f"{where}: field 'seed'"),
        limit=_opt_int(data.get("limit"), f"{where}: field 'limit'"),
        sample=_opt_int(data.get("sample"), f"{where}: field 'sample'"),
        resamples=_int(data.get("resamples", 1000), f"{where}: field 'resamples'"),
        run_id=None if data.get("run_id") is None else check_run_id(
            data["run_id"], where=f"{where}: field 'run_id'"),
        source=str(path),
        probes=parse_probes(data.get("probes"), where=f"{where}: field 'probes'"),
        profile=_profile(data.get("profile"), f"{where}: field 'profile'"),
        suites=suites,
        threads=_opt_int(data.get("threads"), f"{where}: field 'threads'"),
    )
    check_no_conflicts(suites, f"{where}: field 'suites'")
    if config.threads is not None and config.threads < 1:
        raise UserError("must be at least 1", where=f"{where}: field 'threads'")
    if data.get("profile_repeats") is not None:
        config.profile_repeats = _int(data["profile_repeats"], f"{where}: field "
                                                               f"'profile_repeats'")
        if config.profile_repeats < 1:
            raise UserError("must be at least 1", where=f"{where}: field 'profile_repeats'")
    return config, registry


def _profile(value: Any, where: str) -> str | None:
    from evalsuite.efficiency.profiling import PROFILES

    if value is None or value is False:
        return None
    if value not in PROFILES:
        raise UserError(f"unknown profile {value!r} (profiles: {', '.join(PROFILES)})",
                        where=where)
    return str(value)


def _task_list(value: Any, where: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise UserError("must be a task name or a list of task names", where=where)


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"must be a whole number, got {value!r}", where=where)
    return value


def _opt_int(value: Any, where: str) -> int | None:
    return None if value is None else _int(value, where)
