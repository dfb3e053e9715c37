"""Model specs: ``KIND:TARGET[?key=value&…]`` strings and their YAML mapping form.

>>> spec = parse_spec("hf:distilbert-base-uncased?revision=main&batch_size=32")
>>> spec.kind, spec.target, spec.options["batch_size"]
('hf', 'distilbert-base-uncased', '32')
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from evalsuite.errors import SpecError


@dataclass(frozen=True)
class ModelSpec:
    """What to evaluate: a backend kind, its target (id, path, command…) and options."""

    kind: str
    target: str
    options: dict[str, Any] = field(default_factory=dict)
    name: str | None = None

    @property
    def display_name(self) -> str:
        """The name shown in tables and reports (``name=`` option, else ``kind:target``)."""
        return self.name or f"{self.kind}:{self.target}"

    def to_string(self) -> str:
        """The command-line form of this spec."""
        query = "&".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        return f"{self.kind}:{self.target}" + (f"?{query}" if query else "")

    def options_hash(self) -> str:
        """A short stable hash of the options (part of cache keys and result identities)."""
        blob = json.dumps(self.options, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def parse_spec(value: str | dict, *, where: str = "--model") -> ModelSpec:
    """Parse a spec string or a batch-file mapping into a ``ModelSpec``.

    A mapping has ``kind`` and ``target`` (or ``spec: "KIND:TARGET?…"``), an optional
    ``name`` and any other keys as options.
    """
    if isinstance(value, dict):
        return _parse_mapping(value, where)
    if not isinstance(value, str) or not value.strip():
        raise SpecError("a model spec must be a non-empty string like 'hf:MODEL_ID'", where=where)
    text = value.strip()
    kind, sep, rest = text.partition(":")
    if not sep or not kind or " " in kind:
        raise SpecError(
            f"model spec {text!r} has no kind; write KIND:TARGET, e.g. 'hf:{text}' "
            f"(kinds: {', '.join(known_kinds())})",
            where=where,
        )
    target, _, query = rest.partition("?")
    options: dict[str, Any] = {}
    for key, val in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        options[key.strip()] = val
    name = options.pop("name", None)
    return _checked(ModelSpec(kind=kind.strip().lower(), target=target.strip(), options=options,
                              name=name), where)


def _parse_mapping(value: dict, where: str) -> ModelSpec:
    data = dict(value)
    if "spec" in data:
        base = parse_spec(str(data.pop("spec")), where=where)
        name = data.pop("name", base.name)
        return _checked(ModelSpec(base.kind, base.target, {**base.options, **data}, name), where)
    missing = [k for k in ("kind", "target") if k not in data]
    if missing:
        raise SpecError(
            f"model entry needs {' and '.join(missing)} (or spec: 'KIND:TARGET')", where=where
        )
    kind = str(data.pop("kind")).strip().lower()
    target = str(data.pop("target")).strip()
    name = data.pop("name", None)
    return _checked(ModelSpec(kind, target, data, None if name is None else str(name)), where)


def _checked(spec: ModelSpec, where: str) -> ModelSpec:
    if spec.kind not in known_kinds():
        raise SpecError(
            f"unknown model kind {spec.kind!r} (kinds: {', '.join(known_kinds())})", where=where
        )
    if not spec.target:
        raise SpecError(f"model spec of kind {spec.kind!r} has an empty target", where=where)
    return spec


def known_kinds() -> list[str]:
    from evalsuite.models import registry

    return registry.kinds()
