"""Model specs: ``KIND:TARGET[?key=value&…]`` strings and their YAML mapping form.

>>> spec = parse_spec("hf:distilbert-base-uncased?revision=main&batch_size=32")
>>> spec.kind, spec.target, spec.options["batch_size"]
('hf', 'distilbert-base-uncased', '32')
>>> [s.display_name for s in expand_variants(parse_spec("hf:m?variants=float32,int8"))]
['hf:m@fp32', 'hf:m@int8']
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
    variant_of: str | None = None  # the display name of the entry a precision variant came from

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
        from evalsuite.models.registry import KINDS

        raise KINDS.unknown(spec.kind, where=where)
    if not spec.target:
        raise SpecError(f"model spec of kind {spec.kind!r} has an empty target", where=where)
    return spec


# Precision variants: accepted spellings -> the short name in ``NAME@short`` -> option dtype.
VARIANT_SHORT = {"float32": "fp32", "fp32": "fp32", "float16": "fp16", "fp16": "fp16",
                 "half": "fp16", "bfloat16": "bf16", "bf16": "bf16", "int8": "int8"}
VARIANT_DTYPE = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "int8": "int8"}
PRECISION_KINDS = ("hf", "st")


def expand_variants(spec: ModelSpec, *, where: str = "--model") -> list[ModelSpec]:
    """One spec per precision of its ``variants`` option, else ``[spec]``.

    ``variants`` is a list (batch file: ``variants: [float32, bfloat16, int8]``) or a
    comma-separated string (``hf:MODEL?variants=float32,int8``).  Each variant is the same
    model with ``dtype`` set, named ``NAME@fp32``, ``NAME@fp16``, ``NAME@bf16``, ``NAME@int8``
    (NAME: the entry's display name) and linked by ``variant_of = NAME``.
    """
    raw = spec.options.get("variants")
    if raw is None:
        return [spec]
    values = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
    wanted = [str(v).strip().lower() for v in values if str(v).strip()]
    choices = ", ".join(VARIANT_DTYPE.values())
    if not wanted:
        raise SpecError(f"variants: list at least one precision ({choices})", where=where)
    if "dtype" in spec.options:
        raise SpecError("give dtype or variants, not both", where=where)
    if spec.kind not in PRECISION_KINDS:
        raise SpecError(f"variants need a model kind with precision control "
                        f"({', '.join(PRECISION_KINDS)}), not {spec.kind!r}", where=where)
    unknown = [v for v in wanted if v not in VARIANT_SHORT]
    if unknown:
        raise SpecError(f"variants: unknown precision {unknown[0]!r} (choose: {choices})",
                        where=where)
    shorts = [VARIANT_SHORT[v] for v in wanted]
    if len(set(shorts)) != len(shorts):
        raise SpecError(f"variants: a precision is listed twice ({', '.join(wanted)})",
                        where=where)
    options = {k: v for k, v in spec.options.items() if k != "variants"}
    base = spec.display_name
    return [ModelSpec(spec.kind, spec.target, {**options, "dtype": VARIANT_DTYPE[short]},
                      f"{base}@{short}", variant_of=base) for short in shorts]


def known_kinds() -> list[str]:
    from evalsuite.models import registry

    return registry.kinds()
