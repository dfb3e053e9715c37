"""Few-shot demonstrations: a fixed file, or sampled per example from a split of the task.

Two sources, as lm-evaluation-harness users know them:

* **fixed** — option ``shots_file`` (a JSONL file of canonical examples with their
  references); the first ``shots`` lines (all when ``shots`` is not given) precede every
  example, in file order, except the example itself (same id or input text), whose place
  the next line takes.
* **sampled** — ``shots: N`` on the card or the model: ``N`` demonstrations drawn for each
  example from the split named by the card's ``shots_split`` (a split name of the card's
  dataset, or a data file relative to the card; default: the evaluated split itself).  The
  draw is seeded by ``shots_seed`` (card or model option, default 0) *and the example's id*,
  so an example sees the same demonstrations whatever the batch, the order, ``--limit`` or
  the cache; the evaluated example (same id or same input text) is never one of its own
  demonstrations.  The chosen ids go into the example's ``meta.shot_ids``.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalsuite.errors import CardError, SpecError
from evalsuite.families import FIELDS, Family, input_text
from evalsuite.prompts.templates import text_sha
from evalsuite.tasks.cards import TaskCard

DATA_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".parquet")


@dataclass
class ShotSource:
    """Where an example's demonstrations come from (see the module docstring)."""

    count: int
    fixed: list[dict] | None = None  # the file's demonstrations, in order
    pool: list[dict] = field(default_factory=list)  # the split sampled from
    seed: int = 0
    split: str | None = None
    sha: str = ""

    def choose(self, example: dict[str, Any], family: Family) -> list[dict]:
        """The demonstrations of ``example`` (never the example itself)."""
        if self.fixed is not None:
            return _others(self.fixed, example, family)[:self.count]
        if not self.count:
            return []
        rng = random.Random(f"{self.seed}:{example.get('id')}")
        picks = rng.sample(range(len(self.pool)), min(self.count + 1, len(self.pool)))
        return _others([self.pool[i] for i in picks], example, family)[:self.count]

    def settings(self) -> dict[str, Any]:
        """What identifies the demonstrations in results and cache keys."""
        if self.fixed is not None:
            return {"shots": self.count, "shots_source": "file",
                    "shots_sha256": self.sha} if self.fixed else {}
        if not self.count:
            return {}
        return {"shots": self.count, "shots_source": "sampled", "shots_split": self.split,
                "shots_seed": self.seed, "shots_sha256": self.sha}


def shot_source(card: TaskCard, options: dict[str, Any], where: str) -> ShotSource:
    """The card's and the model's few-shot settings combined (the model's win)."""
    count = options.get("shots", card.shots)
    seed = int(options.get("shots_seed", card.shots_seed))
    if options.get("shots_file"):
        path = Path(str(options["shots_file"])).expanduser()
        try:  # one spare line, to stand in for an example that is itself a demonstration
            rows = load_shots(path, card, None if count is None else int(count) + 1)
        except (OSError, ValueError) as exc:
            raise SpecError(f"option shots_file: {exc}", where=where) from None
        shown = len(rows) if count is None else min(int(count), len(rows))
        return ShotSource(count=shown, fixed=rows, sha=text_sha(repr(rows)))
    if not count:
        return ShotSource(count=0)
    pool, split = shot_pool(card)
    if len(pool) <= int(count):
        raise CardError(f"field 'shots': {count} demonstrations asked for, but the shots "
                        f"split {split!r} has only {len(pool)} examples (one is the "
                        f"evaluated example itself)", where=_where(card))
    ids = hashlib.sha256("\n".join(str(ex["id"]) for ex in pool).encode()).hexdigest()[:12]
    return ShotSource(count=int(count), pool=pool, seed=seed, split=split, sha=ids)


def load_shots(path: str | Path, card: TaskCard, limit: int | None = None) -> list[dict]:
    """Few-shot examples from a JSONL file of canonical examples (with their references)."""
    rows = []
    fields = FIELDS[card.family]
    from evalsuite.inputs import iter_lines

    for number, line in iter_lines(Path(path), where=str(path)):  # capped, UTF-8 checked
        if not line.strip():
            continue
        row = json.loads(line)
        if not isinstance(row, dict):
            raise ValueError(f"{path}: line {number} is not a JSON object (an example with "
                             f"its fields)")
        missing = [f for f in fields.required if f not in row]
        if missing:
            raise ValueError(f"{path}: line {number} has no {missing[0]!r} "
                             f"({card.family.value} shots need {', '.join(fields.required)})")
        rows.append(row)
        if limit is not None and len(rows) >= limit:
            break
    return rows


def shot_pool(card: TaskCard) -> tuple[list[dict], str]:
    """The examples of the card's ``shots_split`` (canonical fields), and its name."""
    from evalsuite.tasks.data import load_task_data

    split = card.shots_split or card.dataset.split
    dataset = card.dataset
    if split.lower().endswith(DATA_SUFFIXES):
        dataset = dataset.model_copy(update={"path": split, "name": None,
                                             "data_files": None})
    else:
        dataset = dataset.model_copy(update={"split": split})
    other = card.model_copy(update={"dataset": dataset, "shots": None})
    if dataset is not card.dataset:  # a data file: name the field that named it
        from evalsuite.tasks.data import resolve_local_path

        try:
            resolve_local_path(other)
        except CardError:
            raise CardError(f"field 'shots_split': no such data file {split!r} (relative "
                            f"paths are read from {card.base_dir})", where=_where(card)
                            ) from None
    return load_task_data(other).examples, split


def _others(rows: Sequence[dict], example: dict[str, Any], family: Family) -> list[dict]:
    """``rows`` without the example itself (same id, or the same input text)."""
    own = input_text(family, example)
    return [row for row in rows if row.get("id") != example.get("id")
            and input_text(family, row) != own]


def examples_shot_ids(chosen: Sequence[dict]) -> list[str]:
    return [str(ex.get("id")) for ex in chosen]


def _where(card: TaskCard) -> str:
    return str(card.source_file) if card.source_file else card.name
