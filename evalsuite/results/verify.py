"""Check a run's figures against its per-example statistics (``evalsuite verify``).

Every metric is a function of per-example sufficient statistics (:mod:`evalsuite.metrics.
base`), and the runner stores them in each row of the predictions file.  Verifying a run
recomputes, for every finished record:

* each metric's ``value`` from the statistics (tolerance: relative 1e-9);
* its bootstrap interval ``ci_low``/``ci_high`` with the run's seed and resamples, which
  draws exactly the resamples the run drew (tolerance: relative 1e-6; skipped with a note
  when this NumPy is not the run's, whose random streams may differ);
* each row's ``score`` (the primary metric per example, used by worst-example lists) and
  ``n_examples``;
* the predictions file's SHA-256 against ``predictions_sha256`` (runs of older versions have
  none: noted, not failed).

A record whose figures cannot be checked (no predictions file, no statistics, a metric this
evalsuite does not know) is a problem too: a results file is trusted only when every figure
it holds was checked.  Probe, efficiency and chance figures are measurements, not functions
of the stored statistics, and are not recomputed.
"""

from __future__ import annotations

import importlib.metadata
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evalsuite.results.files import RunResults, load_results
from evalsuite.results.records import Record
from evalsuite.utils import file_sha256

VALUE_TOLERANCE = 1e-9
INTERVAL_TOLERANCE = 1e-6


@dataclass
class Verification:
    """The outcome for one run: what was checked and every problem found."""

    run_dir: Path
    records: int = 0
    figures: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_run(run: RunResults | str | Path, *, intervals: bool = True) -> Verification:
    """Recompute every metric of ``run`` (a loaded run or its folder) from its predictions."""
    if not isinstance(run, RunResults):
        run = load_results(run)
    out = Verification(run_dir=run.path)
    seed = int(run.run.seed or 0)
    resamples = run.run.resamples
    here = _numpy_version()
    then = (run.run.packages or {}).get("numpy")
    compare_intervals = intervals and resamples is not None
    if compare_intervals and then and then != here:
        compare_intervals = False
        out.notes.append(f"intervals not recomputed: NumPy {here} here, {then} in the run "
                         "(its random streams may differ)")
    for record in run.records:
        if not record.ok or not record.metrics:
            continue
        out.records += 1
        where = f"{record.model} · {record.task}"
        for problem in _check_record(run, record, out, seed=seed, resamples=resamples,
                                     intervals=compare_intervals):
            out.problems.append(f"{where}: {problem}")
    return out


def _check_record(run: RunResults, record: Record, out: Verification, *, seed: int,
                  resamples: int | None, intervals: bool) -> Iterator[str]:
    from evalsuite.metrics import registry as metric_registry
    from evalsuite.metrics.base import bootstrap_interval

    rel = record.predictions_file
    if not rel:
        yield "no predictions file: its figures cannot be checked"
        return
    path = run.path / rel
    if not path.is_file():
        yield f"predictions file {rel} is missing: its figures cannot be checked"
        return
    expected_sha = record.predictions_sha256
    if expected_sha is None:
        out.notes.append(f"{record.model} · {record.task}: no predictions_sha256 "
                         "(written by an older evalsuite)")
    elif file_sha256(path) != expected_sha:
        yield f"predictions file {rel} changed after the run wrote it (SHA-256 differs)"
    try:
        rows = list(run.predictions(record))
    except (OSError, ValueError) as exc:
        yield f"predictions file {rel} cannot be read: {exc}"
        return
    if len(rows) != record.n_examples:
        yield (f"{record.task}.n_examples: results.json says {record.n_examples}, "
               f"the predictions file has {len(rows)} rows")
    draws: dict[Any, np.ndarray] = {}  # one draw for all metrics of a task, as the runner
    for name, stored in record.metrics.items():
        address = f"{record.task}.metrics.{name}"
        try:
            metric = metric_registry.get(name, record.family)
        except (KeyError, ValueError):
            yield f"{address}: unknown metric {name!r}, cannot be checked"
            continue
        try:
            stats = _stats(rows, name)
        except ValueError as exc:
            yield f"{address}: {exc}"
            continue
        value = metric.value(stats) if len(stats) else math.nan
        out.figures += 1
        problem = _differs(f"{address}.value", stored.value, value, VALUE_TOLERANCE)
        if problem:
            yield problem
        if intervals:
            low, high = bootstrap_interval(metric, stats, resamples=int(resamples or 0),
                                           seed=seed, draws=draws)
            for bound, again in (("ci_low", low), ("ci_high", high)):
                out.figures += 1
                problem = _differs(f"{address}.{bound}", getattr(stored, bound), again,
                                   INTERVAL_TOLERANCE)
                if problem:
                    yield problem
        if name == record.primary_metric:
            yield from _check_scores(rows, metric.example_scores(stats), record.task)


def _check_scores(rows: list[dict[str, Any]], scores: np.ndarray, task: str) -> Iterator[str]:
    for row, score in zip(rows, scores, strict=True):
        stored = row.get("score")
        if _differs("", stored, float(score), VALUE_TOLERANCE):
            yield (f"{task}: example {row.get('id')!r}: score {stored!r} in the predictions "
                   f"file, its statistics give {float(score)!r}")
            return  # one is enough to say the file was edited


def _stats(rows: list[dict[str, Any]], name: str) -> np.ndarray:
    values = []
    for row in rows:
        stats = row.get("stats")
        if not isinstance(stats, dict) or name not in stats:
            raise ValueError(f"example {row.get('id')!r} has no statistics for {name}: "
                             "its figures cannot be checked")
        if not isinstance(stats[name], list) or (values and len(stats[name]) != len(values[0])):
            raise ValueError(f"example {row.get('id')!r}: its statistics for {name} do not "
                             "have the shape of the others")
        values.append([math.nan if v is None else v for v in stats[name]])
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"the statistics of {name} are not all numbers") from None
    return array.reshape(len(values), -1)


def _differs(address: str, stored: Any, recomputed: float | None, tolerance: float
             ) -> str | None:
    """A problem line when ``stored`` is not ``recomputed`` within ``tolerance``."""
    fresh = None if recomputed is None or not math.isfinite(recomputed) else recomputed
    if stored is None or fresh is None:
        if stored is None and fresh is None:
            return None
    elif isinstance(stored, (int, float)) and not isinstance(stored, bool) and math.isclose(
            stored, fresh, rel_tol=tolerance, abs_tol=tolerance * 1e-3):
        return None
    return (f"{address}: results.json says {stored!r}, the per-example statistics give "
            f"{fresh!r}")


def _numpy_version() -> str:
    try:
        return importlib.metadata.version("numpy")
    except importlib.metadata.PackageNotFoundError:
        return np.__version__
