"""SQLite prediction cache: a killed run started again recomputes nothing that finished.

A key is the model's identity (kind, target, weight fingerprint, output-changing options),
the task version, the example (id and a hash of its inputs) and the settings that change
outputs (generation settings, prompt template).  Batch size and device are not part of it.
Rows are committed after every batch.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from evalsuite.families import FIELDS, Family

CACHE_DIR_ENV = "EVALSUITE_CACHE_DIR"
NON_OUTPUT_OPTIONS = frozenset({"batch_size", "device", "token_budget"})


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


def example_key(prefix: str, family: Family, example: dict[str, Any]) -> str:
    inputs = {name: example.get(name) for name in FIELDS[family].inputs}
    return _digest([prefix, example["id"], inputs])[:40]


class PredictionCache:
    """Get and put predictions by key; ``path=None`` disables caching."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS predictions (key TEXT PRIMARY KEY, output TEXT, "
                "created REAL)")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS efficiency (key TEXT PRIMARY KEY, block TEXT, "
                "created REAL)")
            self._db.commit()

    @property
    def enabled(self) -> bool:
        return self._db is not None

    def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        if self._db is None or not keys:
            return {}
        found: dict[str, Any] = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys[start:start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT key, output FROM predictions WHERE key IN ({marks})", chunk)
            found.update((k, json.loads(v)) for k, v in rows)
        return found

    def put_many(self, items: Iterable[tuple[str, Any]]) -> None:
        if self._db is None:
            return
        now = time.time()
        self._db.executemany(
            "INSERT OR REPLACE INTO predictions (key, output, created) VALUES (?, ?, ?)",
            [(k, json.dumps(v, ensure_ascii=False), now) for k, v in items])
        self._db.commit()

    def get_efficiency(self, key: str) -> dict[str, Any] | None:
        if self._db is None:
            return None
        row = self._db.execute("SELECT block FROM efficiency WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put_efficiency(self, key: str, block: dict[str, Any]) -> None:
        if self._db is None:
            return
        self._db.execute("INSERT OR REPLACE INTO efficiency (key, block, created) VALUES (?,?,?)",
                         (key, json.dumps(block), time.time()))
        self._db.commit()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
