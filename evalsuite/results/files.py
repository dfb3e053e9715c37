"""Result folders: ``results/<run-id>/results.json`` plus per-example predictions.

The file is the contract that the report and the gate read (DESIGN.md §4); it is validated
against ``evalsuite/results/schema/results.schema.json`` and rewritten atomically after every
finished (model, task), so a crash keeps every finished record.  A write that fails (a full
disk, a read-only folder) is a :class:`~evalsuite.errors.StoreError` naming the file, and
leaves no temporary file behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalsuite.errors import StoreError, UserError
from evalsuite.inputs import MAX_INPUT_MB_ENV, input_limit, iter_lines, read_text
from evalsuite.utils import atomic_write_json, json_default, slug

SCHEMA_VERSION = "1.0"
RESULTS_FILE = "results.json"
SCHEMA_PATH = Path(__file__).parent / "schema" / "results.schema.json"


def clean_floats(obj: Any) -> Any:
    """Replace NaN/inf (not valid JSON) by ``None`` recursively (NumPy scalars too)."""
    if hasattr(obj, "item") and hasattr(obj, "dtype") and getattr(obj, "ndim", 1) == 0:
        obj = obj.item()
    if isinstance(obj, float):
        return obj if obj == obj and abs(obj) != float("inf") else None
    if isinstance(obj, dict):
        return {k: clean_floats(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [clean_floats(v) for v in obj]
    return obj


class ResultWriter:
    """Writes one run folder, record by record."""

    def __init__(self, run_dir: Path, run: dict[str, Any],
                 records: list[dict[str, Any]] | None = None) -> None:
        self.run_dir = run_dir
        self.run = run
        self.records: list[dict[str, Any]] = list(records or [])
        self.lock: Any = None  # the run folder's lock (released by close)
        try:
            (run_dir / "predictions").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot write {run_dir / 'predictions'}: "
                             f"{exc.strerror or exc}") from None
        self.flush()

    def predictions_path(self, model: str, task: str) -> Path:
        return self.run_dir / "predictions" / f"{slug(model)}__{slug(task)}.jsonl"

    def add(self, record: dict[str, Any]) -> None:
        """Add or replace the record of one (model, task) and rewrite the file."""
        key = (record["model"], record["task"])
        self.records = [r for r in self.records if (r["model"], r["task"]) != key]
        self.records.append(clean_floats(record))
        self.flush()

    def flush(self) -> None:
        path = self.run_dir / RESULTS_FILE
        try:
            atomic_write_json(path, self.document())
        except OSError as exc:
            raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from None

    def flush_in_place(self) -> None:
        """Overwrite results.json in place (no temporary file): the last resort when the
        disk is too full for :meth:`flush`'s temporary copy, so the status can still say how
        the run ended.  The document is written compact, and only when it is no longer than
        the file already there (whose disk blocks it then reuses), so a half-written file
        cannot replace a whole one."""
        path = self.run_dir / RESULTS_FILE
        text = json.dumps(self.document(), ensure_ascii=False, allow_nan=False,
                          default=json_default, separators=(",", ":")).encode("utf-8")
        try:
            if len(text) > path.stat().st_size:
                raise OSError(28, "no room to rewrite it in place")
            with path.open("r+b") as fh:
                fh.write(text)
                fh.truncate()
        except OSError as exc:
            raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from None

    def close(self) -> None:
        """Release the run folder's lock."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def document(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "run": self.run, "records": self.records}


_ROW_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, default=json_default)


def write_predictions(path: Path, rows: Iterable[dict[str, Any]]) -> str:
    """One JSON line per row (NaN/inf written as ``null``), replaced atomically; returns
    the SHA-256 of the file (``predictions_sha256`` of the record, checked by verify)."""
    tmp = path.with_suffix(".jsonl.tmp")
    digest = hashlib.sha256()
    try:
        with tmp.open("wb") as fh:
            for row in rows:
                try:
                    line = _ROW_ENCODER.encode(row)
                except ValueError:  # a NaN or inf somewhere in the row: the slow path
                    line = _ROW_ENCODER.encode(clean_floats(row))
                data = (line + "\n").encode("utf-8")
                digest.update(data)
                fh.write(data)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise
    return digest.hexdigest()


# -- reading ------------------------------------------------------------------------------------
@dataclass
class RunResults:
    """One loaded result folder."""

    path: Path
    document: dict[str, Any]

    @property
    def run(self) -> dict[str, Any]:
        return self.document["run"]

    @property
    def records(self) -> list[dict[str, Any]]:
        return self.document["records"]

    def predictions(self, record: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Per-example rows of one record (empty when it has none)."""
        rel = record.get("predictions_file")
        if not rel:
            return iter(())
        return _read_jsonl(self.path / rel)


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    for _, line in iter_lines(path, where=str(path)):  # capped, UTF-8 checked
        if line.strip():
            yield json.loads(line)


def find_result_files(path: str | Path) -> list[Path]:
    """``results.json`` files under ``path`` (a run folder, a folder of runs, or the file)."""
    p = Path(path)
    if p.is_file():
        return [p]
    if (p / RESULTS_FILE).is_file():
        return [p / RESULTS_FILE]
    if p.is_dir():
        return sorted(p.glob(f"*/{RESULTS_FILE}"))
    raise UserError(f"no such file or folder {str(path)!r}", where="RESULTS")


def load_results(path: str | Path, *, validate: bool = True) -> RunResults:
    """Load one run's results (a run folder or its results.json), checking the schema."""
    files = find_result_files(path)
    if not files:
        raise UserError(f"no {RESULTS_FILE} in {str(path)!r}", where="RESULTS")
    if len(files) > 1:
        raise UserError(f"{str(path)!r} holds {len(files)} runs; name one run folder",
                        where="RESULTS")
    file = files[0]
    try:
        document = json.loads(read_text(file, limit=input_limit(),
                                        how=f"set {MAX_INPUT_MB_ENV} to raise it"))
    except json.JSONDecodeError as exc:
        raise UserError(f"not valid JSON (line {exc.lineno})", where=str(file)) from None
    if validate:
        validate_document(document, where=str(file))
    return RunResults(path=file.parent, document=document)


def load_many(paths: Iterable[str | Path]) -> list[RunResults]:
    """Every run found under the given paths (run folders or folders of runs)."""
    runs = []
    for path in paths:
        files = find_result_files(path)
        if not files:
            raise UserError(f"no {RESULTS_FILE} under {str(path)!r}", where="RESULTS")
        runs += [load_results(f) for f in files]
    return runs


def validate_document(document: Any, *, where: str) -> None:
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or "schema_version" not in document:
        raise UserError("not an evalsuite result file (no schema_version)", where=where)
    major = str(document["schema_version"]).split(".")[0]
    if major != SCHEMA_VERSION.split(".")[0]:
        raise UserError(f"schema_version {document['schema_version']} is not supported "
                        f"(this evalsuite reads {SCHEMA_VERSION})", where=where)
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(document))
    if error is not None:
        path = ".".join(str(p) for p in error.absolute_path) or "(top)"
        raise UserError(f"field '{path}': {error.message[:200]}", where=where)


# -- figures and frames -------------------------------------------------------------------------
def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted paths to leaf values: ``{"metrics.accuracy.value": 0.9, …}``."""
    out: dict[str, Any] = {}
    if isinstance(obj, dict):
        for key, value in obj.items():
            out.update(flatten(value, f"{prefix}{key}."))
    elif prefix:
        out[prefix[:-1]] = obj
    return out


def figures(record: dict[str, Any]) -> dict[str, Any]:
    """A record's numeric figures keyed ``<task>.<dotted path>`` (the gate's addresses)."""
    flat = flatten({k: record.get(k) for k in ("metrics", "efficiency", "bias", "safety",
                                               "robustness", "generalisation") if record.get(k)})
    return {f"{record['task']}.{path}": value for path, value in flat.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)}


def to_dataframe(runs: RunResults | Iterable[RunResults], *, long: bool = True):
    """A pandas DataFrame of the metrics of one or several runs.

    ``long=True``: one row per (run, model, task, metric) with value and interval.
    ``long=False``: one row per (run, model, task) with every figure as a dotted column.
    """
    import pandas as pd

    if isinstance(runs, RunResults):
        runs = [runs]
    rows = []
    for run in runs:
        for rec in run.records:
            base = {"run_id": run.run.get("id"), "model": rec["model"], "task": rec["task"],
                    "family": rec["family"], "status": rec.get("status", "ok"),
                    "n_examples": rec.get("n_examples")}
            if long:
                for name, m in (rec.get("metrics") or {}).items():
                    rows.append({**base, "metric": name, "value": m.get("value"),
                                 "ci_low": m.get("ci_low"), "ci_high": m.get("ci_high"),
                                 "primary": name == rec.get("primary_metric")})
            else:
                flat = flatten({k: rec.get(k) for k in ("metrics", "efficiency", "bias",
                                                        "safety", "robustness") if rec.get(k)})
                rows.append({**base, **flat})
    return pd.DataFrame(rows)
