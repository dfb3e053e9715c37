"""Building the report of 30 models × 20 tasks: time and size, against reading the results.

The result files are the generated set of the report's browser test (30 models, 20 tasks over
the six families, 100 predictions per record, chance blocks and probe figures).  In alternating
rounds it times reading them (``load_report_data``: parsing and schema validation, the floor
any report pays) and building the whole page (``build_report``); prints the medians, their
ratio and the page's size.

    python benchmarks/report_build.py [--models 30] [--tasks 20] [--rows 100] [--repeats 5]

Targets (issue 13): the 30 × 20 page under 5 s and under 6 MB.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from test_report import synthetic_results  # noqa: E402

from benchmarks.common import median_times, print_table  # noqa: E402
from evalsuite.report import build_report  # noqa: E402
from evalsuite.report.load import load_report_data  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=30)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = synthetic_results(Path(tmp) / "results", args.models, args.tasks,
                                   rows=args.rows, chance=True)
        out = Path(tmp) / "report.html"
        found = median_times({"read the results": lambda: load_report_data([folder]),
                              "build the report": lambda: build_report([folder], out)},
                             repeats=args.repeats, warmup=1)
        size = out.stat().st_size / 2**20
    read, build = found["read the results"][0], found["build the report"][0]
    print_table(f"Report of {args.models} models × {args.tasks} tasks ({args.rows} rows each)",
                [("read the results", f"{read:.2f}", "1.00", ""),
                 ("build the report", f"{build:.2f}", f"{build / read:.2f}", f"{size:.2f}")],
                ("step", "median s", "× reading", "page MB"))


if __name__ == "__main__":
    main()
