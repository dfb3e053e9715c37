"""Scaling: evalsuite's wall time at 1×, 2×, 4×, 8× the examples must grow linearly.

Fits log(time) = a + k·log(n) and prints the exponent k (1.0 = linear).

    python benchmarks/scaling.py [--base 400] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch

from benchmarks.common import (
    build_classifier,
    machine,
    median_time,
    print_table,
    write_sentiment_task,
)
from benchmarks.overhead import BATCH, evalsuite_runner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows, sizes, times = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clf = build_classifier(work / "clf")
        for factor in (1, 2, 4, 8):
            n = args.base * factor
            card = write_sentiment_task(work / f"sent{n}", n)
            _, _, run_once = evalsuite_runner(f"hf:{clf}?batch_size={BATCH}", card, work)
            run_once()
            t, _, _ = median_time(run_once, args.repeats)
            sizes.append(n)
            times.append(t)
            rows.append((f"{factor}×", str(n), f"{t:.2f}", f"{t / times[0]:.2f}",
                         f"{n / t:.0f}"))
    slope = float(np.polyfit(np.log(sizes), np.log(times), 1)[0])
    print_table(f"Scaling, BERT 6×384 classifier — {machine()}, torch {torch.__version__}, "
                f"median of {args.repeats}; fitted exponent {slope:.2f} (1.00 = linear)",
                rows, ("size", "examples", "seconds", "time ratio", "examples/s"))


if __name__ == "__main__":
    main()
