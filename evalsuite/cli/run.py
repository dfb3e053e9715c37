"""``evalsuite run``: run an evaluation batch (a batch file, or --model and --task)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from evalsuite.cli.options import TasksDirOption
from evalsuite.errors import EXIT_FAILED, RunError, UserError


def run(
    batch: Annotated[Path | None, typer.Argument(help="Batch file (YAML).", show_default=False)
                     ] = None,
    model: Annotated[list[str] | None, typer.Option(
        "--model", "-m", metavar="SPEC",
        help="Model spec KIND:TARGET[?k=v&…] (repeatable).")] = None,
    task: Annotated[list[str] | None, typer.Option(
        "--task", "-t", metavar="TASK",
        help="Task name or glob, e.g. 'sentiment/*' (repeatable).")] = None,
    suite: Annotated[list[str] | None, typer.Option(
        "--suite", "-s", metavar="SUITE",
        help="Suite name or glob: its reference task and variants, with generalisation "
             "figures (repeatable; see docs/generalisation.md).")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Folder of run folders [default: results].")] = None,
    run_id: Annotated[str | None, typer.Option(help="Name of the run folder.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for sampling and bootstrap.")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N examples per task.")
                     ] = None,
    sample: Annotated[int | None, typer.Option(help="A seeded random N examples per task.")
                      ] = None,
    resamples: Annotated[int | None, typer.Option(help="Bootstrap resamples.")] = None,
    resume: Annotated[Path | None, typer.Option(
        help="Continue an earlier run folder, keeping its finished records.")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write the "
                                           "prediction cache.")] = False,
    cache: Annotated[Path | None, typer.Option(help="Prediction cache file "
                                               "[default: ~/.cache/evalsuite].")] = None,
    tasks_dir: TasksDirOption = None,
    probes: Annotated[str | None, typer.Option(
        help="Probes to run after each task, comma-separated: bias, safety, robustness or "
             "all (options: 'robustness?n=100'; see docs/probes.md).")] = None,
    gate: Annotated[Path | None, typer.Option(
        help="Gate the run with this policy (see 'evalsuite gate'); exit with its code.")
                    ] = None,
    executor: Annotated[str, typer.Option(
        help="Where to run: local (this process) or ray (a Ray cluster; "
             "pip install 'evalsuite[ray]').")] = "local",
    address: Annotated[str | None, typer.Option(
        help="With --executor ray: the cluster to join, auto or HOST:PORT "
             "[default: a new local Ray instance].")] = None,
    profile: Annotated[str | None, typer.Option(
        help="'latency': also measure batch-size-1 latency and a throughput sweep over batch "
             "sizes 1, 2, 4, … for every (model, task).")] = None,
    profile_repeats: Annotated[int | None, typer.Option(
        help="With --profile latency: batch-size-1 calls timed [default: 20].")] = None,
    threads: Annotated[int | None, typer.Option(
        help="torch intra-op threads [default: torch's, one per core]; 1 or 2 on small "
             "shared machines (docs/efficiency.md).")] = None,
    log_to: Annotated[list[str] | None, typer.Option(
        "--log-to", metavar="TRACKER",
        help="At the end, log the run to mlflow or wandb as 'evalsuite export' does "
             "(MLFLOW_TRACKING_URI, MLFLOW_EXPERIMENT_NAME, WANDB_PROJECT; repeatable).")
                      ] = None,
) -> None:
    """Run an evaluation batch (a batch file, or --model and --task)."""
    from evalsuite.cli.console import (
        RichProgress,
        err_console,
        out_console,
        probe_problems,
        summary_table,
    )
    from evalsuite.models.spec import expand_variants, parse_spec
    from evalsuite.runner.batch_file import load_batch
    from evalsuite.runner.cache import default_cache_path
    from evalsuite.runner.run import Job, RunConfig
    from evalsuite.tasks.registry import TaskRegistry
    from evalsuite.utils import printable

    if batch is not None and (model or task or suite):
        raise UserError("give a batch file or --model/--task/--suite, not both", where="run")
    from evalsuite.executors import create

    runner = create(executor, address=address)  # unknown, not installed: refused at once
    if batch is not None:
        config, _ = load_batch(batch, tasks_dirs=[str(d) for d in tasks_dir or []])
    else:
        if not model or not (task or suite):
            raise UserError("name a batch file, or at least one --model and one --task or "
                            "--suite", where="run")
        registry = TaskRegistry.discover(tasks_dir or [])
        suites = registry.select_suites(suite or [])
        cards = registry.select([*(task or []), *(n for s in suites for n in s.tasks)])
        config = RunConfig(jobs=[Job(variant, cards) for m in model
                                 for variant in expand_variants(parse_spec(m))],
                           source="evalsuite run " + " ".join(sys.argv[2:]), suites=suites)
    for flag, value in (("--limit", limit), ("--sample", sample), ("--resamples", resamples)):
        if value is not None and value < (0 if flag == "--resamples" else 1):
            raise UserError(f"must be a positive number, got {value}", where=flag)
    overrides = {"output_dir": output, "run_id": run_id, "seed": seed, "limit": limit,
                 "sample": sample, "resamples": resamples, "resume_dir": resume}
    for name, value in overrides.items():  # what the command line gives wins over the file
        if value is not None:
            setattr(config, name, value)
    if profile is not None:
        from evalsuite.efficiency.profiling import PROFILES

        if profile not in PROFILES:
            raise UserError(f"unknown profile {profile!r} (profiles: {', '.join(PROFILES)})",
                            where="--profile")
        config.profile = profile
    for flag, name, value in (("--threads", "threads", threads),
                              ("--profile-repeats", "profile_repeats", profile_repeats)):
        if value is not None:
            if value < 1:
                raise UserError(f"must be at least 1, got {value}", where=flag)
            setattr(config, name, value)
    if probes is not None:
        from evalsuite.probes.hook import parse_probes

        config.probes = parse_probes(probes, where="--probes")
    config.cache_path = None if no_cache else (cache or default_cache_path())
    runner.check(config)
    if gate is not None:  # a wrong policy is refused before the run, not after it
        from evalsuite.gate.policy import load_policy

        load_policy(gate)
    from evalsuite.cli.export import check_tracker, log_run

    for tracker in log_to or []:
        check_tracker(tracker)

    if runner.concurrent_tasks:
        from evalsuite.executors.progress import MultiTaskProgress

        progress: RichProgress = MultiTaskProgress()
    else:
        progress = RichProgress()
    with progress:
        outcome = runner.run(config, progress)
    out_console.print(summary_table(outcome.records))
    for status, line in probe_problems(outcome.records):
        err_console.print(line, style="red" if status == "failed" else "yellow", markup=False)
    err_console.print(f"results: {outcome.run_dir / 'results.json'}")
    logging_failed = False
    for tracker in log_to or []:
        from evalsuite.results.files import load_results

        try:
            logged = log_run(load_results(outcome.run_dir), tracker)
            for note in logged.notes:
                err_console.print(f"note: {printable(note)}", markup=False)
            err_console.print(printable(logged.line()), markup=False)
        except RunError as exc:  # the results are kept; the run's exit code says so
            logging_failed = True
            err_console.print(f"error: {printable(str(exc))}", style="red", markup=False)
    if outcome.failed or outcome.interrupted:
        for rec in outcome.failed:
            err_console.print(f"failed: {printable(rec.model)} · {printable(rec.task)}: "
                              f"{printable(rec.reason or '')}", markup=False)
    if gate is not None:
        from evalsuite.gate.check import run_gate

        code = run_gate(outcome.run_dir, gate)
        if code or outcome.failed or outcome.interrupted or logging_failed:
            raise typer.Exit(max(code, EXIT_FAILED))
    elif outcome.failed or outcome.interrupted or logging_failed:
        raise typer.Exit(EXIT_FAILED)
