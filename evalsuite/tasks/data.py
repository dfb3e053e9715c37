"""Load a card's dataset with 🤗 datasets and map it onto canonical example fields."""

from __future__ import annotations

import glob
import hashlib
import json
import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalsuite.errors import CardError, HubUnreachableError, UserError
from evalsuite.families import FIELDS, Family
from evalsuite.inputs import check_utf8_file
from evalsuite.tasks.cards import TaskCard
from evalsuite.utils import file_sha256, first_line, hash_file

TEXT_SUFFIXES = frozenset({".jsonl", ".json", ".csv", ".tsv"})
LOCAL_BUILDERS = {
    ".jsonl": ("json", {}),
    ".json": ("json", {}),
    ".csv": ("csv", {}),
    ".tsv": ("csv", {"delimiter": "\t"}),
    ".parquet": ("parquet", {}),
}
DATASETS_DIR_ENV = "EVALSUITE_DATASETS_DIR"


@dataclass
class TaskData:
    """A card's examples in canonical form, with where they came from."""

    card: TaskCard
    examples: list[dict[str, Any]]
    info: dict[str, Any] = field(default_factory=dict)
    # ids of every row of the dataset, selected or not (``None`` when only a full load would
    # tell: --limit/--sample on a card whose ids are hashes of the inputs)
    dataset_ids: list[str] | None = None


def load_task_data(
    card: TaskCard, *, limit: int | None = None, sample: int | None = None, seed: int = 0
) -> TaskData:
    """Load, select (``limit`` first rows or a seeded ``sample``) and map a card's examples."""
    dataset, info = _load_dataset(card)
    total = len(dataset)
    if total == 0:
        raise CardError(f"field 'dataset': {card.dataset.path} (split "
                        f"{card.dataset.split!r}) has no examples", where=_where(card))
    indices = select_indices(total, limit=limit, sample=sample, seed=seed)
    full = dataset
    if len(indices) != total:
        dataset = dataset.select(indices)
    rows = dataset.to_list()
    mapper = _RowMapper(card, dataset.features, list(dataset.column_names))
    examples = [mapper(row, position) for position, row in zip(indices, rows, strict=True)]
    duplicates = dedupe(card, examples, indices, hashed_ids=mapper.id_column is None)
    if duplicates:
        info["duplicate_ids"] = {"rows": duplicates, "dedupe": card.dedupe}
    dataset_ids = [ex["id"] for ex in examples] if len(indices) == total else \
        mapper.all_ids(full)
    info.update(n_total=total, n_selected=len(examples), limit=limit, sample=sample,
                seed=seed if sample else None)
    return TaskData(card=card, examples=examples, info=info, dataset_ids=dataset_ids)


def select_indices(total: int, *, limit: int | None, sample: int | None, seed: int) -> list[int]:
    """Row indices to evaluate: all, the first ``limit``, or a seeded ``sample`` (in order)."""
    for flag, value in (("--limit", limit), ("--sample", sample)):
        if value is not None and value < 1:
            raise UserError(f"must be a positive number, got {value}", where=flag)
    indices = list(range(total))
    if sample is not None and sample < total:
        indices = sorted(random.Random(seed).sample(indices, sample))
    if limit is not None:
        indices = indices[:limit]
    return indices


# -- locating and loading ---------------------------------------------------------------------
def resolve_local_path(card: TaskCard) -> Path | None:
    """The local file/folder a card's dataset points at, or ``None`` for a hub id."""
    raw = card.dataset.path
    candidates = [Path(raw).expanduser()]
    if not Path(raw).is_absolute():
        candidates.insert(0, card.base_dir / raw)
    mirror = os.environ.get(DATASETS_DIR_ENV)
    if mirror:
        candidates.append(Path(mirror).expanduser() / raw)
    for path in candidates:
        if path.exists():
            return path.resolve()
    if Path(raw).suffix.lower() in LOCAL_BUILDERS or raw.startswith((".", "/", "~")):
        raise CardError(f"field 'dataset.path': no such file or folder {raw!r} "
                        f"(relative paths are read from {card.base_dir})", where=_where(card))
    return None


def _load_dataset(card: TaskCard):
    import datasets

    datasets.disable_progress_bars()
    ref = card.dataset
    local = resolve_local_path(card)
    info: dict[str, Any] = {"path": ref.path, "name": ref.name, "split": ref.split,
                            "revision": ref.revision}
    try:
        if local is not None and local.is_file():
            builder, kwargs = LOCAL_BUILDERS.get(local.suffix.lower(), (None, {}))
            if builder is None:
                raise CardError(
                    f"field 'dataset.path': cannot read {local.suffix!r} files "
                    f"(use one of {', '.join(LOCAL_BUILDERS)})", where=_where(card))
            if local.stat().st_size == 0:
                raise CardError(f"field 'dataset': {local} is empty (no examples)",
                                where=_where(card))
            digest = hashlib.sha256()
            problem = None
            if local.suffix.lower() in TEXT_SUFFIXES:
                problem = check_utf8_file(local, digest)
            else:
                hash_file(local, digest)
            if problem:
                raise UserError(problem, where=str(local))
            ds = datasets.load_dataset(builder, data_files=str(local), split="train",
                                       **kwargs, **ref.options)
            info.update(source="local", content_sha256=digest.hexdigest())
        elif local is not None:
            ds = datasets.load_dataset(str(local), name=ref.name, split=ref.split,
                                       data_files=ref.data_files, **ref.options)
            info.update(source="local")
        elif (files := local_data_files(card)) is not None:
            data_files, found = files
            split = ref.split if isinstance(ref.data_files, dict) else "train"
            ds = datasets.load_dataset(ref.path, name=ref.name, split=split,
                                       data_files=data_files, **ref.options)
            info.update(source="local", **_files_digest(found, card.base_dir))
        else:
            ds = _load_from_hub(card)
            info.update(source="hub")
    except (CardError, UserError):
        raise
    except ValueError as exc:
        if "corresponds to no data" in str(exc):  # a table with a header and no rows
            raise CardError(f"field 'dataset': {local or ref.path} has no examples",
                            where=_where(card)) from None
        if "split" in str(exc).lower():
            raise CardError(f"field 'dataset.split': {first_line(exc)}", where=_where(card)) \
                from None
        raise CardError(f"field 'dataset': {_root_cause(exc)}", where=_where(card)) from None
    except FileNotFoundError as exc:
        raise CardError(f"field 'dataset': {first_line(exc)}", where=_where(card)) from None
    except Exception as exc:
        if local is None:  # the hub: its own errors are the clearest
            raise
        # datasets wraps reader errors (bad JSON, an empty file: StopIteration…)
        raise CardError(f"field 'dataset': cannot read {local}: {_root_cause(exc)}",
                        where=_where(card)) from None
    info["fingerprint"] = getattr(ds, "_fingerprint", None)
    return ds, info


def _load_from_hub(card: TaskCard):
    import datasets

    from evalsuite import hub

    ref = card.dataset
    reachable = hub.ensure_hub_or_offline()
    try:
        return datasets.load_dataset(ref.path, name=ref.name, split=ref.split,
                                     revision=ref.revision, data_files=ref.data_files,
                                     **ref.options)
    except Exception:  # the hub libraries raise many types for "not available"
        if reachable:
            raise
        label = ref.path + (f" ({ref.name})" if ref.name else "")
        revision = f" --revision {ref.revision}" if ref.revision else ""
        raise HubUnreachableError(
            f"dataset {label} is not in the local cache and {hub.offline_reason()}; "
            f"copy it here (e.g. `hf download {ref.path} --repo-type dataset{revision} "
            f"--local-dir DIR/{ref.path}` on a networked machine) and set "
            f"{DATASETS_DIR_ENV}=DIR, or point dataset.path at a local copy",
            where=_where(card),
        ) from None


# Builders of 🤗 datasets that read files named by ``data_files`` (``path: json`` …).
FILE_BUILDERS = frozenset({"json", "csv", "parquet", "text", "arrow", "xml"})


def local_data_files(card: TaskCard) -> tuple[Any, list[Path]] | None:
    """For ``path: json|csv|…`` with local ``data_files``: the data files resolved against the
    card's folder (same shape: a path, a list, or split → paths) and every file they name;
    ``None`` when the card does not read local files this way."""
    ref = card.dataset
    if ref.path not in FILE_BUILDERS or not ref.data_files:
        return None
    found: list[Path] = []

    def resolve(pattern: Any) -> Any:
        if isinstance(pattern, list):
            return [resolve(p) for p in pattern]
        text = str(pattern)
        if "://" in text:
            raise _NotLocal
        full = Path(text).expanduser()
        if not full.is_absolute():
            full = card.base_dir / full
        matches = sorted(Path(m) for m in glob.glob(str(full), recursive=True))
        files = [m for m in matches if m.is_file()]
        if not files:
            raise CardError(f"field 'dataset.data_files': no file matches {text!r} "
                            f"(relative paths are read from {card.base_dir})",
                            where=_where(card))
        found.extend(files)
        return str(full)

    try:
        if isinstance(ref.data_files, dict):
            resolved: Any = {split: resolve(p) for split, p in ref.data_files.items()}
        else:
            resolved = resolve(ref.data_files)
    except _NotLocal:
        return None
    return resolved, sorted(set(found))


class _NotLocal(Exception):
    """A data file is a URL: the dataset is not read from local files."""


def _files_digest(files: list[Path], base: Path) -> dict[str, Any]:
    """``content_sha256`` of the data (one file: its digest; several: the digest of their
    ``sha256sum``-style listing) and each file's digest, paths relative to ``base``."""
    digests = [(os.path.relpath(f, base), file_sha256(f)) for f in files]
    if len(digests) == 1:
        content = digests[0][1]
    else:
        listing = "".join(f"{sha}  {path}\n" for path, sha in digests)
        content = hashlib.sha256(listing.encode()).hexdigest()
    return {"content_sha256": content,
            "data_files": [{"path": path, "sha256": sha} for path, sha in digests]}


# -- mapping rows onto canonical fields --------------------------------------------------------
class _RowMapper:
    """Turns one dataset row into a canonical example for the card's family."""

    def __init__(self, card: TaskCard, features: Any, columns: list[str]) -> None:
        self.card = card
        self.features = features
        fields = FIELDS[card.family]
        self.fields = list(fields.required) + [
            f for f in fields.optional if f in card.columns
        ]
        for name in self.fields:
            column = card.column_for(name)
            if column.split(".")[0] not in columns:
                raise CardError(
                    f"field 'columns.{name}': column {column!r} is not in the dataset "
                    f"(columns: {', '.join(columns)})", where=_where(card))
        self.id_column = card.columns.get("id") or next(
            (c for c in ("id", "idx", "guid") if c in columns), None)
        self.label_names = _class_label_names(features, card.column_for("label"))
        self.tag_names = card.tag_names or _class_label_names(features, card.column_for("tags"))

    def __call__(self, row: dict[str, Any], position: int) -> dict[str, Any]:
        card = self.card
        ex: dict[str, Any] = {name: _get_path(row, card.column_for(name)) for name in self.fields}
        family = card.family
        if self.id_column is not None:
            ex["id"] = str(_get_path(row, self.id_column))
        where = f"{_where(card)}: example {ex.get('id', f'#{position}')}"
        if family in (Family.TRANSLATION, Family.SUMMARIZATION):
            ex["references"] = _as_text_list(ex["references"], where)
            if family is Family.TRANSLATION:
                ex.setdefault("source_lang", card.source_lang)
                ex.setdefault("target_lang", card.target_lang)
        elif family is Family.SENTIMENT:
            ex["label"] = self._label(ex["label"], where)
        elif family is Family.NER:
            ex["tokens"] = [str(t) for t in ex["tokens"]]
            ex["tags"] = self._tags(ex["tags"], len(ex["tokens"]), where)
        elif family is Family.QA:
            answers = ex["answers"]
            if isinstance(answers, dict):
                ex["answer_start"] = list(answers.get("answer_start") or [])
                answers = answers.get("text", [])
            ex["answers"] = [str(a) for a in (answers if isinstance(answers, list) else
                                              [answers] if answers not in (None, "") else [])]
        elif family is Family.SIMILARITY:
            try:
                score = float(ex["score"])
            except (TypeError, ValueError):
                score = math.nan
            if not math.isfinite(score):
                raise UserError(f"gold score {ex['score']!r} is not a finite number",
                                where=where)
            ex["score"] = score
        if "id" not in ex:
            ex["id"] = _content_id(family, ex)
        return ex

    def all_ids(self, dataset: Any) -> list[str] | None:
        """The id of every row of ``dataset`` from its id column (one column read, no row
        mapping), with the card's ``dedupe`` rule applied; ``None`` without an id column."""
        if self.id_column is None:
            return None
        top, _, rest = self.id_column.partition(".")
        ids = [{"id": str(_get_path(v, rest) if rest else v)} for v in dataset[top]]
        if self.card.dedupe is not None:
            dedupe(self.card, ids, list(range(len(ids))))
        return [r["id"] for r in ids]

    def _label(self, value: Any, where: str) -> str:
        card = self.card
        labels = card.labels or []
        key = str(value)
        if card.label_map and key in card.label_map:
            return card.label_map[key]
        if isinstance(value, (int,)) and not isinstance(value, bool):
            if self.label_names and 0 <= value < len(self.label_names):
                key = self.label_names[value]
            elif 0 <= value < len(labels) and not self.label_names:
                return labels[value]
        if card.label_map and key in card.label_map:
            return card.label_map[key]
        if key in labels:
            return key
        raise UserError(f"label {value!r} is not in the card's labels {labels} "
                        f"(add a label_map to the card)", where=where)

    def _tags(self, tags: Any, length: int, where: str) -> list[str]:
        out = []
        for tag in tags:
            if isinstance(tag, int) and not isinstance(tag, bool):
                if not self.tag_names or not 0 <= tag < len(self.tag_names):
                    raise UserError(f"tag id {tag} has no name (add tag_names to the card)",
                                    where=where)
                tag = self.tag_names[tag]
            out.append(str(tag))
        if len(out) != length:
            raise UserError(f"{length} tokens but {len(out)} tags", where=where)
        bad = [t for t in out if t != "O" and t[:2] not in ("B-", "I-")]
        if bad:
            raise UserError(f"tags {bad[:3]} are not IOB2 (add tag_names or fix the data)",
                            where=where)
        return out


def _class_label_names(features: Any, column: str) -> list[str] | None:
    feature = features.get(column.split(".")[0]) if features is not None else None
    for _ in range(3):  # unwrap Sequence/List features
        if feature is None:
            return None
        if hasattr(feature, "names"):
            return list(feature.names)
        feature = getattr(feature, "feature", None)
    return None


def _get_path(row: dict[str, Any], dotted: str) -> Any:
    value: Any = row
    for part in dotted.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise KeyError(dotted)
    return value


def _as_text_list(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value) and value:
        return value
    raise UserError(f"references must be a text or a non-empty list of texts, got {value!r:.60}",
                    where=where)


def _content_id(family: Family, example: dict[str, Any]) -> str:
    inputs = {name: example[name] for name in FIELDS[family].inputs}
    blob = json.dumps(inputs, sort_keys=True, ensure_ascii=False)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def dedupe(card: TaskCard, examples: list[dict[str, Any]], positions: list[int], *,
           hashed_ids: bool = False) -> int:
    """Apply the card's ``dedupe`` rule to repeated ids in place; return how many rows it
    dropped or renamed.  Without the rule a repeated id is a ``CardError`` naming it
    (``hashed_ids``: the ids are hashes of the inputs, so the rows repeat an input)."""
    first_row: dict[str, int] = {}
    repeats: dict[str, int] = {}
    keep: list[dict[str, Any]] = []
    changed = 0
    for ex, position in zip(examples, positions, strict=True):
        base = ex["id"]
        if base not in first_row:
            first_row[base] = position
            keep.append(ex)
            continue
        if card.dedupe is None:
            hashed = (" (the card maps no id column, so ids are hashes of the inputs: these "
                      "rows have the same inputs)") if hashed_ids else ""
            raise CardError(
                f"example id {base!r} appears more than once (rows {first_row[base] + 1} and "
                f"{position + 1}){hashed}; ids must be unique: fix the data, map another "
                f"id column, or add 'dedupe: first' (keep the first row) or 'dedupe: "
                f"suffix' (rename repeats {base}#1, …) to the card", where=_where(card))
        changed += 1
        if card.dedupe == "suffix":
            repeats[base] = repeats.get(base, 0) + 1
            ex["id"] = f"{base}#{repeats[base]}"
            keep.append(ex)
    examples[:] = keep
    return changed


def _root_cause(exc: BaseException) -> str:
    """The first line of the innermost exception a library wrapped ``exc`` around."""
    seen = {id(exc)}
    while True:
        inner = exc.__cause__ or exc.__context__
        if inner is None or id(inner) in seen:
            break
        seen.add(id(inner))
        exc = inner
    text = first_line(exc)
    return text



def _where(card: TaskCard) -> str:
    return str(card.source_file) if card.source_file else card.name
