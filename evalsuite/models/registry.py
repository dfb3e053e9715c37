"""Model kinds: ``@register`` an adapter class under its ``kind``; build one from a spec.

Built-in kinds are imported on first use, so that ``evalsuite tasks`` never pays for torch,
spaCy or sentence-transformers.  Installed packages add kinds through the
``evalsuite.models`` entry-point group (``kind = "package.module:AdapterClass"``); see
``docs/extending.md``.
"""

from __future__ import annotations

from evalsuite.models.base import ModelAdapter
from evalsuite.models.spec import ModelSpec
from evalsuite.registry import Registry

ENTRY_POINT_GROUP = "evalsuite.models"

KINDS: Registry[type[ModelAdapter]] = Registry(
    "model kind", where="--model", group=ENTRY_POINT_GROUP,
    builtins={
        "hf": "evalsuite.models.hf.adapter:HFAdapter",
        "st": "evalsuite.models.sentence_transformers:SentenceTransformerAdapter",
        "spacy": "evalsuite.models.spacy:SpacyAdapter",
        "cmd": "evalsuite.models.command:CommandAdapter",
        "http": "evalsuite.models.http:HttpAdapter",
        "predictions": "evalsuite.models.predictions:PredictionsAdapter",
        "baseline": "evalsuite.models.baselines:BaselineAdapter",
        "vllm": "evalsuite.models.vllm:VLLMAdapter",
    },
    name_of=lambda cls: cls.kind,
    install_hint="pip install 'evalsuite[offline]'",
    replace=True,  # a test or notebook may define a kind again
    base=ModelAdapter,
)


def register(cls: type[ModelAdapter]) -> type[ModelAdapter]:
    """Class decorator registering an adapter under ``cls.kind``."""
    return KINDS.add(cls.kind, cls)


def kinds() -> list[str]:
    """Every kind's name, sorted (nothing is imported)."""
    return sorted(KINDS.names())


def adapter_class(kind: str, *, where: str | None = None) -> type[ModelAdapter]:
    """The adapter class of ``kind`` (its module imported on first use)."""
    return KINDS.get(kind, where=where)


def build(spec: ModelSpec) -> ModelAdapter:
    """An adapter for ``spec`` (not loaded yet)."""
    return adapter_class(spec.kind, where=f"model {spec.display_name}")(spec)
