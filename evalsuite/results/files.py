"""Result folders: ``results/<run-id>/results.json`` plus per-example predictions.

The file is the contract that the report and the gate read (DESIGN.md §4).  Its records are
the typed models of :mod:`evalsuite.results.records` (which also generate the JSON Schema
``evalsuite/results/schema/results.schema.json``); a file is validated against them when it is
loaded, and rewritten atomically after every finished (model, task), so a crash keeps every
finished record.  A write that fails (a full disk, a read-only folder) is a
:class:`~evalsuite.errors.StoreError` naming the file, and leaves no temporary file behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from evalsuite.errors import StoreError, UserError
from evalsuite.inputs import MAX_INPUT_MB_ENV, input_limit, iter_lines, read_text
from evalsuite.results.lock import is_being_written
from evalsuite.results.records import (
    SCHEMA_VERSION,
    Block,
    Record,
    ResultDocument,
    RunInfo,
    check_declared,
)
from evalsuite.utils import atomic_write_json, json_default, slug

__all__ = ["RESULTS_FILE", "SCHEMA_PATH", "SCHEMA_VERSION", "ResultWriter", "RunResults",
           "clean_floats", "figures", "find_result_files", "flatten", "load_many",
           "load_results", "read_predictions", "to_dataframe", "validate_document",
           "write_predictions"]

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
    """Writes one run folder, record by record.

    Records are :class:`~evalsuite.results.records.Record` models (a plain mapping is
    validated into one); a record with a field that no model declares is refused with
    :class:`~evalsuite.results.records.UndeclaredFieldError`.
    """

    def __init__(self, run_dir: Path, run: RunInfo | Mapping[str, Any],
                 records: Iterable[Record | Mapping[str, Any]] | None = None) -> None:
        self.run_dir = run_dir
        self.run = run if isinstance(run, RunInfo) else RunInfo.model_validate(clean_floats(run))
        self.records: list[Record] = [_as_record(r) for r in records or []]
        self.lock: Any = None  # the run folder's lock (released by close)
        try:
            (run_dir / "predictions").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot write {run_dir / 'predictions'}: "
                             f"{exc.strerror or exc}") from None
        self.flush()

    def predictions_path(self, model: str, task: str) -> Path:
        return self.run_dir / "predictions" / f"{slug(model)}__{slug(task)}.jsonl"

    def add(self, record: Record | Mapping[str, Any]) -> Record:
        """Add or replace the record of one (model, task), rewrite the file and return the
        record as stored."""
        record = _as_record(record)
        check_declared(record)
        self.records = [r for r in self.records if r.key != record.key]
        self.records.append(record)
        self.flush()
        return record

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
        """The file's JSON data."""
        return clean_floats({"schema_version": SCHEMA_VERSION, "run": self.run.to_dict(),
                             "records": [r.to_dict() for r in self.records]})


def _as_record(record: Record | Mapping[str, Any]) -> Record:
    return record if isinstance(record, Record) else Record.model_validate(
        clean_floats(dict(record)))


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
    """One loaded result folder: its typed document (see :mod:`evalsuite.results.records`)."""

    path: Path
    document: ResultDocument

    @property
    def run(self) -> RunInfo:
        return self.document.run

    @property
    def records(self) -> list[Record]:
        return self.document.records

    def predictions_file(self, record: Record) -> Path | None:
        """Where one record's per-example rows are (``None`` when it has none)."""
        return self.path / record.predictions_file if record.predictions_file else None

    def predictions(self, record: Record) -> Iterator[dict[str, Any]]:
        """Per-example rows of one record (empty when it has none)."""
        return read_predictions(self.path, record.predictions_file)


def read_predictions(run_dir: Path, relative: str | None) -> Iterator[dict[str, Any]]:
    """The rows of a predictions file named relative to its run folder (none for ``None``)."""
    if not relative:
        return iter(())
    return _read_jsonl(run_dir / relative)


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


def load_results(path: str | Path) -> RunResults:
    """Load one run's results (a run folder or its results.json), checking every field.

    A run whose file says ``running`` while no process holds its lock was killed: its
    status reads ``interrupted`` (see :func:`~evalsuite.results.lock.is_being_written`)."""
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
    typed = validate_document(document, where=str(file))
    if typed.run.status == "running" and not is_being_written(file.parent):
        typed.run.status = "interrupted"  # its process died without a word: killed
    return RunResults(path=file.parent, document=typed)


def load_many(paths: Iterable[str | Path]) -> list[RunResults]:
    """Every run found under the given paths (run folders or folders of runs)."""
    runs = []
    for path in paths:
        files = find_result_files(path)
        if not files:
            raise UserError(f"no {RESULTS_FILE} under {str(path)!r}", where="RESULTS")
        runs += [load_results(f) for f in files]
    return runs


def validate_document(document: Any, *, where: str) -> ResultDocument:
    """The typed result document, or a one-line :class:`UserError` naming ``where`` and the
    first wrong field.  Fields a newer minor version added are kept, not refused."""
    if not isinstance(document, dict) or "schema_version" not in document:
        raise UserError("not an evalsuite result file (no schema_version)", where=where)
    major = str(document["schema_version"]).split(".")[0]
    if major != SCHEMA_VERSION.split(".")[0]:
        raise UserError(f"schema_version {document['schema_version']} is not supported "
                        f"(this evalsuite reads {SCHEMA_VERSION})", where=where)
    try:
        typed = ResultDocument.model_validate(document)
    except ValidationError as exc:
        raise UserError(_first_error(exc), where=where) from None
    seen: dict[tuple[str, str], int] = {}
    for i, record in enumerate(typed.records):  # a hand-merged file would count twice
        first = seen.setdefault((record.model, record.task), i)
        if first != i:
            raise UserError(f"records {first} and {i} are both {record.model!r} on "
                            f"{record.task!r}; a run has one record per model and task",
                            where=where)
    return typed


def _first_error(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    loc = [str(part) for part in error["loc"]]
    if error["type"] == "missing":
        path = ".".join(loc[:-1]) or "(top)"
        return f"field '{path}': '{loc[-1]}' is a required property"
    return f"field '{'.'.join(loc) or '(top)'}': {error['msg'][:200]}"


# -- figures and frames -------------------------------------------------------------------------
def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted paths to leaf values: ``{"metrics.accuracy.value": 0.9, …}`` (a record model
    contributes the fields it has)."""
    if isinstance(obj, Block):
        obj = obj.present()
    out: dict[str, Any] = {}
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            out.update(flatten(value, f"{prefix}{key}."))
    elif prefix:
        out[prefix[:-1]] = obj.value if isinstance(obj, Enum) else obj
    return out


def figures(record: Record) -> dict[str, Any]:
    """A record's numeric figures keyed ``<task>.<dotted path>`` (the gate's addresses)."""
    flat = flatten(record.sections())
    return {f"{record.task}.{path}": value for path, value in flat.items()
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
            base = {"run_id": run.run.id, "model": rec.model, "task": rec.task,
                    "family": rec.family.value, "status": rec.status,
                    "n_examples": rec.n_examples}
            if long:
                for name, m in rec.metrics.items():
                    rows.append({**base, "metric": name, "value": m.value,
                                 "ci_low": m.ci_low, "ci_high": m.ci_high,
                                 "primary": name == rec.primary_metric})
            else:
                rows.append({**base, **flatten(rec.sections())})
    return pd.DataFrame(rows)
