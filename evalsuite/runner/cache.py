"""SQLite prediction cache: a killed run started again recomputes nothing that finished.

A key is the model's identity (kind, target, weight fingerprint, output-changing options),
the task version, the example (id and a hash of its inputs) and the settings that change
outputs (generation settings, prompt template).  Batch size and device are not part of it.
Rows are committed after every batch.

The cache is a convenience, never a source of wrong figures:

* a file that is not a readable SQLite database (corrupt, truncated, unreadable) is moved
  aside to ``<name>.corrupt-<time>`` (the warning says where) and a fresh cache is used;
* a row that cannot be decoded, or whose stored scope and example id differ from the
  request's, is treated as missing and recomputed (:attr:`PredictionCache.rejected` counts
  them);
* a cache that cannot be written (read-only, disk full) stops the run with one line naming
  the file: a ``UserError`` (exit 2) when the run starts, a ``StoreError`` (exit 1) mid-run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from evalsuite.errors import StoreError, UserError
from evalsuite.families import FIELDS, Family

CACHE_DIR_ENV = "EVALSUITE_CACHE_DIR"
NON_OUTPUT_OPTIONS = frozenset({"batch_size", "device", "token_budget"})
_T = TypeVar("_T")
# SQLite result codes (sqlite3.Error.sqlite_errorname on Python 3.11+) and the messages
# that carry them on older versions
_CORRUPT = ("SQLITE_CORRUPT", "SQLITE_NOTADB", "file is not a database", "malformed")
_CANNOT_WRITE = ("SQLITE_FULL", "SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_CANTOPEN",
                 "SQLITE_PERM", "disk is full", "readonly", "disk I/O error",
                 "unable to open")


def default_cache_path() -> Path:
    base = os.environ.get(CACHE_DIR_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "evalsuite")
    return Path(base) / "predictions.sqlite"


def _digest(obj: Any) -> str:
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def model_task_key(identity: dict[str, Any], task_version: str, settings: dict[str, Any]) -> str:
    """The part of every key shared by one (model, task): identity, task version, settings."""
    return _digest({"model": identity, "task": task_version, "settings": settings})


class CacheKey(str):
    """A cache key (a plain ``str`` everywhere) that remembers what it was made from: the
    (model, task) ``scope`` and the ``example_id``.  Both are stored beside the row, and a row
    whose stored fields differ from its request's is treated as missing."""

    scope: str
    example_id: str

    def __new__(cls, value: str, scope: str, example_id: str) -> CacheKey:
        key = super().__new__(cls, value)
        key.scope, key.example_id = scope, example_id
        return key

    def __getnewargs__(self) -> tuple[str, str, str]:  # pickling (Ray sends keys around)
        return str(self), self.scope, self.example_id


def example_key(prefix: str, family: Family, example: dict[str, Any]) -> CacheKey:
    inputs = {name: example.get(name) for name in FIELDS[family].inputs}
    return CacheKey(_digest([prefix, example["id"], inputs])[:40], prefix, str(example["id"]))


class PredictionCache:
    """Get and put predictions by key; ``path=None`` disables caching.

    ``warn`` receives one-line notes (a corrupt file moved aside…); the runner passes its
    progress display.
    """

    def __init__(self, path: Path | None, warn: Callable[[str], None] | None = None) -> None:
        self.path = path
        self.warn = warn or (lambda text: None)
        self.rejected = 0  # rows treated as missing: undecodable, or stored fields differ
        self.moved_to: list[Path] = []
        self._db: sqlite3.Connection | None = None
        if path is not None:
            self._open(path)

    # -- opening and recovery -----------------------------------------------------------------
    def _open(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._start_error(path.parent, exc) from None
        if path.is_file() and not os.access(path, os.R_OK):
            self._move_aside("cannot be read")
        try:  # the operating system's reason (read-only, permission) beats SQLite's
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o666))
        except OSError as exc:
            raise self._start_error(path, exc) from None
        for attempt in range(2):
            try:
                self._connect(path)
                return
            except sqlite3.DatabaseError as exc:
                self._close_quietly()
                if attempt or not _is_corrupt(exc):
                    raise self._start_error(path, exc) from None
                self._move_aside(f"is not a readable SQLite database ({_reason(exc)})")

    def _connect(self, path: Path) -> None:
        db = sqlite3.connect(str(path), timeout=30)
        self._db = db
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE IF NOT EXISTS predictions (key TEXT PRIMARY KEY, output TEXT, "
                   "created REAL, scope TEXT, example TEXT)")
        db.execute("CREATE TABLE IF NOT EXISTS efficiency (key TEXT PRIMARY KEY, block TEXT, "
                   "created REAL)")
        columns = {row[1] for row in db.execute("PRAGMA table_info(predictions)")}
        for column in ("scope", "example"):  # caches written before key fields were stored
            if column not in columns:
                db.execute(f"ALTER TABLE predictions ADD COLUMN {column} TEXT")
        db.execute("BEGIN IMMEDIATE")  # fails now, not mid-run, on a read-only cache
        db.execute("ROLLBACK")
        db.commit()

    def _move_aside(self, why: str) -> None:
        """Rename the cache file (and its WAL/SHM files) to ``<name>.corrupt-<time>``."""
        assert self.path is not None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        try:
            if self.path.exists():
                os.replace(self.path, target)
            for suffix in ("-wal", "-shm"):
                side = self.path.with_name(self.path.name + suffix)
                if side.exists():
                    os.replace(side, target.with_name(target.name + suffix))
        except OSError as exc:
            raise self._start_error(self.path, exc) from None
        self.moved_to.append(target)
        self.warn(f"prediction cache {self.path} {why}: moved it to {target} and continuing "
                  f"with a fresh cache")

    def _start_error(self, path: Path, exc: BaseException) -> UserError:
        detail = getattr(exc, "strerror", None) or _reason(exc)
        return UserError(f"cannot use the prediction cache at {path}: {detail} (choose "
                         f"another file with --cache PATH, or run with --no-cache)",
                         where="--cache")

    def _guard(self, action: Callable[[sqlite3.Connection], _T], default: _T, *,
               writing: bool) -> _T:
        """Run ``action``; a cache that turned out corrupt is moved aside and replaced once;
        one that cannot be written stops the run with a ``StoreError`` naming it."""
        if self._db is None:
            return default
        try:
            return action(self._db)
        except sqlite3.DatabaseError as exc:
            with contextlib.suppress(sqlite3.Error):
                self._db.rollback()
            if _is_corrupt(exc):
                self._close_quietly()
                assert self.path is not None
                self._move_aside(f"turned out corrupt ({_reason(exc)})")
                self._connect(self.path)
                return action(self._db)  # type: ignore[arg-type]
            if writing or _kind(exc) == "cannot_write":
                raise StoreError(f"cannot write the prediction cache {self.path}: "
                                 f"{_reason(exc)} (free space or use --cache PATH / "
                                 f"--no-cache)") from None
            raise

    def _close_quietly(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None

    # -- reading and writing ------------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        return self._db is not None

    def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        """Cached outputs by key; rows that cannot be decoded or whose stored scope/example
        differ from a :class:`CacheKey`'s are left out (and counted in ``rejected``)."""
        if self._db is None or not keys:
            return {}
        wanted = {str(k): k for k in keys}

        def read(db: sqlite3.Connection) -> dict[str, Any]:
            found: dict[str, Any] = {}
            listed = list(wanted)
            for start in range(0, len(listed), 500):
                chunk = listed[start:start + 500]
                marks = ",".join("?" * len(chunk))
                rows = db.execute("SELECT key, output, scope, example FROM predictions "
                                  f"WHERE key IN ({marks})", chunk)
                for key, output, scope, example in rows:
                    request = wanted.get(key)
                    if isinstance(request, CacheKey) and (
                            scope != request.scope or example != request.example_id):
                        self.rejected += 1
                        continue
                    try:
                        found[key] = json.loads(output)
                    except (TypeError, ValueError):
                        self.rejected += 1
            return found

        return self._guard(read, {}, writing=False)

    def put_many(self, items: Iterable[tuple[str, Any]]) -> None:
        if self._db is None:
            return
        now = time.time()
        rows = [(k, json.dumps(v, ensure_ascii=False), now, getattr(k, "scope", None),
                 getattr(k, "example_id", None)) for k, v in items]

        def write(db: sqlite3.Connection) -> None:
            db.executemany("INSERT OR REPLACE INTO predictions (key, output, created, scope, "
                           "example) VALUES (?, ?, ?, ?, ?)", rows)
            db.commit()

        self._guard(write, None, writing=True)

    def get_efficiency(self, key: str) -> dict[str, Any] | None:
        def read(db: sqlite3.Connection) -> dict[str, Any] | None:
            row = db.execute("SELECT block FROM efficiency WHERE key = ?", (key,)).fetchone()
            if row is None:
                return None
            try:
                block = json.loads(row[0])
            except (TypeError, ValueError):
                self.rejected += 1
                return None
            return block if isinstance(block, dict) else None

        return self._guard(read, None, writing=False)

    def put_efficiency(self, key: str, block: dict[str, Any]) -> None:
        def write(db: sqlite3.Connection) -> None:
            db.execute("INSERT OR REPLACE INTO efficiency (key, block, created) VALUES (?,?,?)",
                       (key, json.dumps(block), time.time()))
            db.commit()

        self._guard(write, None, writing=True)

    def close(self) -> None:
        self._close_quietly()


def _reason(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _kind(exc: BaseException) -> str:
    text = f"{getattr(exc, 'sqlite_errorname', '')} {exc}"
    if any(mark in text for mark in _CORRUPT):
        return "corrupt"
    if any(mark in text for mark in _CANNOT_WRITE):
        return "cannot_write"
    return "other"


def _is_corrupt(exc: BaseException) -> bool:
    return _kind(exc) == "corrupt"

