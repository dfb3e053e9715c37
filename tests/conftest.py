"""Shared fixtures. Nothing is downloaded: the hub is switched off for every test."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Each test gets its own prediction cache and no user task folders."""
    base = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("EVALSUITE_CACHE_DIR", str(base / "evalsuite"))
    monkeypatch.delenv("EVALSUITE_TASKS_PATH", raising=False)
    monkeypatch.delenv("EVALSUITE_DATASETS_DIR", raising=False)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    return path
