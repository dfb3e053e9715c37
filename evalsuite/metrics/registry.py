"""Metric registry: ``@register`` a :class:`Metric` subclass, look it up by name.

A name is unique within a family, not across families: ``f1`` is entity F1 for ``ner`` and
SQuAD token F1 for ``qa``.  Look such a name up with its family — ``get("f1", "qa")`` or the
qualified ``get("qa/f1")``; a name used by one family only needs no family.
"""

from __future__ import annotations

from evalsuite.families import Family
from evalsuite.metrics.base import Metric

_METRICS: dict[tuple[str, Family], Metric] = {}


def register(cls: type[Metric]) -> type[Metric]:
    """Class decorator adding one instance of ``cls`` under ``cls.name`` for its families."""
    for family in cls.families:
        if (cls.name, family) in _METRICS:
            raise ValueError(f"metric {cls.name!r} registered twice for {family}")
    instance = cls()
    for family in cls.families:
        _METRICS[(cls.name, family)] = instance
    return cls


def get(name: str, family: Family | str | None = None) -> Metric:
    """The metric called ``name`` (``family/name`` also accepted) of ``family``."""
    _load_builtin()
    if family is None and "/" in name:
        family, name = name.split("/", 1)
    wanted = Family(family) if family is not None else None
    found = {id(m): m for (n, f), m in _METRICS.items()
             if n == name and (wanted is None or f is wanted)}
    if len(found) == 1:
        return next(iter(found.values()))
    if not found:
        where = f" for {wanted}" if wanted is not None else ""
        known = names_for(wanted) if wanted is not None else sorted(all_metrics())
        raise KeyError(f"unknown metric {name!r}{where}; known: {', '.join(known)}")
    families = sorted(f.value for (n, f) in _METRICS if n == name)
    raise KeyError(
        f"metric {name!r} exists for several families ({', '.join(families)}); "
        f"pass the family, e.g. get({name!r}, {families[0]!r}) or get('{families[0]}/{name}')"
    )


def names_for(family: Family) -> list[str]:
    """Names of the metrics that apply to ``family``, sorted."""
    _load_builtin()
    return sorted(n for n, f in _METRICS if f is Family(family))


def all_metrics() -> dict[str, Metric]:
    """Every metric by name; a name shared by several families is keyed ``family/name``."""
    _load_builtin()
    families: dict[str, set[Family]] = {}
    for n, f in _METRICS:
        families.setdefault(n, set()).add(f)
    out: dict[str, Metric] = {}
    for (n, f), metric in _METRICS.items():
        if len({id(_METRICS[(n, g)]) for g in families[n]}) == 1:
            out[n] = metric
        else:
            out[f"{f.value}/{n}"] = metric
    return dict(sorted(out.items()))


def _load_builtin() -> None:
    # Importing the family modules runs their @register decorators.
    from evalsuite.metrics import (  # noqa: F401
        bertscore,
        classification,
        comet,
        ner,
        qa,
        similarity,
        summarization,
        translation,
    )
