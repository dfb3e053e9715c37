"""Model kind registry: ``@register`` an adapter class; build one from a spec."""

from __future__ import annotations

import importlib

from evalsuite.errors import SpecError
from evalsuite.models.base import ModelAdapter
from evalsuite.models.spec import ModelSpec

# kind -> module that defines it; imported on first use so that `evalsuite tasks`
# never pays for torch, spaCy or sentence-transformers.
_BUILTIN_MODULES: dict[str, str] = {
    "hf": "evalsuite.models.hf",
    "st": "evalsuite.models.sentence_transformers",
    "spacy": "evalsuite.models.spacy",
    "cmd": "evalsuite.models.command",
    "http": "evalsuite.models.http",
    "predictions": "evalsuite.models.predictions",
    "baseline": "evalsuite.models.baselines",
    "vllm": "evalsuite.models.vllm",
}
_ADAPTERS: dict[str, type[ModelAdapter]] = {}


def register(cls: type[ModelAdapter]) -> type[ModelAdapter]:
    """Class decorator registering an adapter under ``cls.kind``."""
    _ADAPTERS[cls.kind] = cls
    return cls


def kinds() -> list[str]:
    return sorted(set(_BUILTIN_MODULES) | set(_ADAPTERS))


def adapter_class(kind: str) -> type[ModelAdapter]:
    if kind not in _ADAPTERS:
        module = _BUILTIN_MODULES.get(kind)
        if module is None:
            raise SpecError(f"unknown model kind {kind!r} (kinds: {', '.join(kinds())})")
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            raise SpecError(
                f"model kind {kind!r} needs the Python package {exc.name!r}, which is not "
                f"installed (pip install 'evalsuite[offline]')"
            ) from None
        if kind not in _ADAPTERS:
            raise SpecError(f"model kind {kind!r} is not available in this installation")
    return _ADAPTERS[kind]


def build(spec: ModelSpec) -> ModelAdapter:
    """An adapter for ``spec`` (not loaded yet)."""
    return adapter_class(spec.kind)(spec)
