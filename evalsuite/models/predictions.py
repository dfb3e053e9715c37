"""``predictions`` models: fixed outputs read from a file, keyed by example id.

Formats (chosen by the file's extension, with a look at the content for ``.json``):

* JSONL (``.jsonl``/``.ndjson``): one object per line, ``{"id": …, "prediction": …}``; the
  prediction may also be under ``output``, ``label``, ``answer``, ``translation``,
  ``summary``, ``tags`` or ``score`` (option ``field`` names another key), with optional
  class probabilities under ``scores``.
* CSV/TSV (``.csv``/``.tsv``): columns ``id`` and ``prediction`` (or the ``field`` option).
* JSON (``.json``): a SQuAD-style object ``{id: prediction}``, or a list of records as above.

Values are parsed per family by :func:`evalsuite.models.shared.parse_prediction`:
a float for similarity, a card label for sentiment (through ``label_map``, the card's own
``label_map``, case-insensitive match or an index into the labels), a tag list for NER (a
list, a JSON list or space-separated tags) and text otherwise (``null`` or a number where
text is expected is an error naming the example).

The file is streamed with a size cap (``EVALSUITE_MAX_INPUT_MB``, default 1024 MB; one line
at most 64 MB).  Ids in the file that the task does not have are reported as a warning with
their count and the first few (option ``unknown_ids=error`` refuses the file instead).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from evalsuite.errors import RunError, SpecError
from evalsuite.families import Family
from evalsuite.inputs import decode_utf8, input_limit, iter_lines, read_capped
from evalsuite.models.base import ModelAdapter, Output, files_fingerprint
from evalsuite.models.registry import register
from evalsuite.models.shared import match_label, parse_prediction, pick_prediction
from evalsuite.tasks.cards import TaskCard


def read_predictions(path: Path, field: str | None = None,
                     id_field: str = "id") -> dict[str, Any]:
    """Read a predictions file into ``{id: value or (value, scores)}``; ``SpecError`` if bad."""
    where = str(path)
    if path.is_dir():
        raise SpecError("is a folder, not a predictions file", where=where)
    try:
        return _read_records(path, where, field, id_field)
    except FileNotFoundError:
        raise SpecError("no such predictions file", where=where) from None
    except OSError as exc:
        raise SpecError(f"cannot read predictions file: {exc.strerror or exc}",
                        where=where) from None


def _read_records(path: Path, where: str, field: str | None, id_field: str
                  ) -> dict[str, Any]:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        records: Iterable[Any] = _read_table(path, "\t" if suffix == ".tsv" else ",", where)
    elif suffix == ".json":
        limit = input_limit()
        with path.open("rb") as fh:
            text = decode_utf8(read_capped(fh, limit, where, "set EVALSUITE_MAX_INPUT_MB "
                                           "to raise it"), where)
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            records = _parse_jsonl(enumerate(text.splitlines(), 1), where)  # JSONL as .json
        else:
            if isinstance(data, dict) and id_field not in data:
                return {str(k): v for k, v in data.items()}  # SQuAD style {id: answer}
            records = data if isinstance(data, list) else [data]
    else:
        records = _parse_jsonl(iter_lines(path, where=where), where)
    out: dict[str, Any] = {}
    for n, record in enumerate(records, 1):
        if not isinstance(record, dict) or id_field not in record:
            raise SpecError(f"record {n} has no {id_field!r} key", where=where)
        try:
            value = pick_prediction(record, field)
        except KeyError as exc:
            raise SpecError(f"record {n} (id {record[id_field]!r}) has no prediction key "
                            f"{exc.args[0]!r} (set the field option)", where=where) from None
        key = str(record[id_field])
        scores = record.get("scores")
        item = (value, scores) if isinstance(scores, dict) else value
        if key in out and out[key] != item:
            raise SpecError(f"id {key!r} appears twice with different predictions",
                            where=where)
        out[key] = item
    return out


def _parse_jsonl(lines: Iterable[tuple[int, str]], where: str) -> Iterable[Any]:
    for n, line in lines:
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as exc:
            raise SpecError(f"line {n} is not valid JSON ({exc.msg})", where=where) from None


def _read_table(path: Path, delimiter: str, where: str) -> Iterable[dict[str, Any]]:
    reader = csv.DictReader((line for _, line in iter_lines(path, where=where)),
                            delimiter=delimiter)
    if not reader.fieldnames:
        raise SpecError("the file has no header row (expected columns id and prediction)",
                        where=where)
    yield from reader


UNKNOWN_IDS = ("warn", "error")


def _unknown_ids(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in UNKNOWN_IDS:
        raise ValueError(f"choose {' or '.join(UNKNOWN_IDS)}")
    return text


@register
class PredictionsAdapter(ModelAdapter):
    """Fixed outputs from a JSONL, CSV/TSV or SQuAD-style JSON file, keyed by example id."""

    kind: ClassVar[str] = "predictions"
    families: ClassVar[frozenset[Family]] = frozenset(Family)
    extra_options: ClassVar[dict[str, Any]] = {"field": str, "id_field": str,
                                               "unknown_ids": _unknown_ids}
    default_batch_size: ClassVar[int] = 256
    replays_fixed_outputs: ClassVar[bool] = True

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        self.path = Path(spec.target).expanduser()
        self.table: dict[str, Any] | None = None

    def load(self) -> None:
        self.table = read_predictions(self.path, self.options.get("field"),
                                      self.options.get("id_field", "id"))

    def check_example_ids(self, card: TaskCard, ids: Collection[str] | None) -> str | None:
        """Ids of the file that the task does not have: a warning (count and the first few),
        or a ``SpecError`` with option ``unknown_ids=error``."""
        if ids is None:
            return None
        if self.table is None:
            self.load()
        assert self.table is not None
        known = set(ids)
        unknown = [i for i in self.table if i not in known]
        if not unknown:
            return None
        first = ", ".join(repr(i) for i in unknown[:5])
        message = (f"{len(unknown)} of {len(self.table)} ids are not examples of {card.name} "
                   f"(first: {first})")
        if self.options.get("unknown_ids", "warn") == "error":
            raise SpecError(message + "; drop them or remove unknown_ids=error",
                            where=str(self.path))
        return f"{self.path}: {message}"

    def predict_batch(self, card: TaskCard, examples: Sequence[dict]) -> list[Output | Any]:
        if self.table is None:
            self.load()
        assert self.table is not None
        missing = [str(ex["id"]) for ex in examples if str(ex["id"]) not in self.table]
        if missing:
            first = ", ".join(repr(m) for m in missing[:5])
            raise RunError(f"{self.path}: no prediction for {len(missing)} of {len(examples)} "
                           f"examples of {card.name} (first missing ids: {first})")
        label_map = self.options.get("label_map")
        out: list[Output | Any] = []
        for ex in examples:
            item = self.table[str(ex["id"])]
            value, scores = item if isinstance(item, tuple) else (item, None)
            try:
                prediction = parse_prediction(card, value, ex, label_map)
            except ValueError as exc:
                raise RunError(f"{self.path}: prediction for id {ex['id']!r}: {exc}") from None
            if scores:
                try:
                    scores = {match_label(card, k, label_map): float(v)
                              for k, v in scores.items()}
                except (TypeError, ValueError):
                    scores = {str(k): v for k, v in scores.items()}
            out.append(Output(prediction, scores=scores) if scores else prediction)
        return out

    def count_tokens(self, card: TaskCard, examples: Sequence[dict]) -> int | None:
        return None  # no model runs; tokens/s would be meaningless

    def fingerprint(self) -> str:
        """Hash of the file's content (the target string when the file is missing)."""
        if self.path.is_file():
            return files_fingerprint([self.path], content=True)
        return super().fingerprint()
