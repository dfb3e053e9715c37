"""torch intra-op threads on a small shared machine: `--threads 1` against torch's default.

One process scores the same BERT 6×384 classifier (the overhead benchmark's) on the same
sentences through evalsuite's runner, with the thread counts in alternating rounds (the first
a warm-up), with and without background load: ``--load K`` busy processes, one per core they
occupy, stand in for the other jobs of a shared machine.  Prints median examples/s per thread
count and the ratio against the fastest.

    python benchmarks/threads.py [--sentences 400] [--repeats 5] [--threads 1,2] [--load 0,1]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch

from benchmarks.common import (
    build_classifier,
    machine,
    median_times,
    print_table,
    write_sentiment_task,
)
from evalsuite.models.spec import ModelSpec
from evalsuite.runner.run import Job, RunConfig, run
from evalsuite.tasks.cards import load_card


def _spin(stop: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def _measure(model: Path, card: Path, work: Path, threads: list[int], repeats: int
             ) -> dict[int, float]:
    """Median seconds of one uncached run per thread count (alternating rounds)."""
    task = load_card(card)

    def once(n: int) -> float:
        outcome = run(RunConfig(jobs=[Job(ModelSpec("hf", str(model), {"batch_size": "32"}),
                                          [task])],
                                output_dir=work / "results", threads=n, resamples=0))
        return outcome.records[0].efficiency.wall_s

    medians = median_times({str(n): (lambda n=n: once(n)) for n in threads}, repeats,
                           warmup=1)
    return {int(name): median for name, (median, _, _) in medians.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", default=f"1,{os.cpu_count() or 2}")
    parser.add_argument("--load", default="0,1", help="busy background processes per row")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    loads = [int(k) for k in args.load.split(",")]
    default = torch.get_num_threads()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = build_classifier(work / "clf")
        card = write_sentiment_task(work / "sent", args.sentences)
        for load in loads:
            stop = multiprocessing.Event()
            spinners = [multiprocessing.Process(target=_spin, args=(stop,), daemon=True)
                        for _ in range(load)]
            for p in spinners:
                p.start()
            try:
                seconds = _measure(model, card, work, threads, args.repeats)
            finally:
                stop.set()
                for p in spinners:
                    p.join()
            best = min(seconds.values())
            rows += [(str(load), str(n), f"{args.sentences / s:.0f}", f"{s / best:.2f}×")
                     for n, s in seconds.items()]
    torch.set_num_threads(default)
    print_table(f"Threads — {machine()}, torch {torch.__version__} (default {default} "
                f"threads), BERT 6×384 classifier, {args.sentences} sentences, median of "
                f"{args.repeats}", rows,
                ("busy processes", "threads", "examples/s", "time vs fastest"))


if __name__ == "__main__":
    main()
