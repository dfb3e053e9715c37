"""What the probes cost against the task: all probes on a small run, budgeted and full sets.

For each starter task with its quickstart system, one uncached run of ``--limit N`` examples
with ``--probes all`` (template sets sampled to the task's size, the default) and one with
``all?budget=full`` (the whole template sets), in alternating rounds.  Prints the probe
predictions per task example (``probe_cost.multiple``) and the probe phase's seconds against
the task's own prediction seconds.

    python benchmarks/probe_cost.py [--limit 16] [--repeats 1] [--systems TASK,…]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from benchmarks.common import machine, print_table
from evalsuite.models.spec import parse_spec
from evalsuite.runner.run import Job, RunConfig, run
from evalsuite.tasks.registry import TaskRegistry

SYSTEMS = (("baseline:vader", "sentiment/starter"), ("spacy:en_core_web_sm", "ner/starter"),
           ("st:all-MiniLM-L6-v2", "similarity/starter"),
           ("baseline:lead?k=3", "summarization/starter"),
           ("baseline:retrieval", "qa/starter"), ("baseline:copy", "translation/starter-en-es"))


def _once(spec: str, task: str, probes: str, limit: int, out: Path) -> tuple[float, float, float]:
    """(probe predictions / task examples, probe seconds, task seconds) of one run."""
    card = TaskRegistry.discover().get(task)
    start = time.perf_counter()
    outcome = run(RunConfig(jobs=[Job(parse_spec(spec), [card])], output_dir=out,
                            limit=limit, probes=[probes], resamples=200))
    total = time.perf_counter() - start
    (record,) = outcome.records
    cost = record.probe_cost
    probe_s = sum((cost.seconds or {}).values())
    return cost.multiple, probe_s, total - probe_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--systems", default=",".join(task for _, task in SYSTEMS),
                        help="comma-separated starter tasks to measure (default: all six)")
    args = parser.parse_args()
    chosen = args.systems.split(",")
    unknown = sorted(set(chosen) - {task for _, task in SYSTEMS})
    if unknown:
        parser.error(f"--systems: unknown {', '.join(unknown)}; choose from "
                     + ", ".join(task for _, task in SYSTEMS))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec, task in (pair for pair in SYSTEMS if pair[1] in chosen):
            runs: dict[str, list[tuple[float, float, float]]] = {"all": [],
                                                                 "all?budget=full": []}
            for _ in range(args.repeats):
                for probes in runs:
                    runs[probes].append(_once(spec, task, probes, args.limit, Path(tmp)))
            cells = []
            for probes in ("all?budget=full", "all"):
                multiple = runs[probes][0][0]
                ratio = statistics.median(p / t for _, p, t in runs[probes])
                cells += [f"{multiple:.1f}×", f"{ratio:.2f}×"]
            rows.append((f"{task} ({spec})", *cells))
    print_table(f"Probe cost, {args.limit} examples, all probes — {machine()}, median of "
                f"{args.repeats}", rows,
                ("task (model)", "predictions, full sets", "seconds, full sets",
                 "predictions, budget", "seconds, budget"))


if __name__ == "__main__":
    main()
