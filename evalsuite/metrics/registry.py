"""Metric registry: ``@register`` a :class:`Metric` subclass, look it up by name.

A name is unique within a family, not across families: ``f1`` is entity F1 for ``ner`` and
SQuAD token F1 for ``qa``.  Look such a name up with its family — ``get("f1", "qa")`` or the
qualified ``get("qa/f1")``; a name used by one family only needs no family.

Entries are keyed ``family/name``.  Built-in metrics are imported on first use.  Installed
packages add metrics through the ``evalsuite.metrics`` entry-point group, named by the
metric's name (``keyword_hit = "package.module:KeywordHit"``); the class's ``families`` say
which families it serves.  A plug-in that cannot be imported breaks only the cards that name
it.
"""

from __future__ import annotations

from evalsuite.errors import UserError
from evalsuite.families import Family
from evalsuite.metrics.base import Metric
from evalsuite.registry import Registry, UnknownNameError

ENTRY_POINT_GROUP = "evalsuite.metrics"

_BUILTIN = {
    "evalsuite.metrics.classification": {"sentiment": {
        "accuracy": "Accuracy", "macro_f1": "MacroF1", "mcc": "MatthewsCorrelation"}},
    "evalsuite.metrics.ner": {"ner": {
        "precision": "EntityPrecision", "recall": "EntityRecall", "f1": "EntityF1"}},
    "evalsuite.metrics.qa": {"qa": {
        "exact_match": "ExactMatch", "f1": "SquadF1", "has_ans_exact": "HasAnswerExact",
        "has_ans_f1": "HasAnswerF1", "no_ans_exact": "NoAnswerExact",
        "no_ans_f1": "NoAnswerF1"}},
    "evalsuite.metrics.similarity": {"similarity": {
        "pearson": "Pearson", "spearman": "Spearman"}},
    "evalsuite.metrics.summarization": {"summarization": {
        "rouge1": "Rouge1", "rouge2": "Rouge2", "rougeL": "RougeL", "rougeLsum": "RougeLsum"}},
    "evalsuite.metrics.translation": {"translation": {"bleu": "Bleu", "chrf": "ChrF"}},
    "evalsuite.metrics.bertscore": {"translation": {"bertscore": "BertScore"},
                                    "summarization": {"bertscore": "BertScore"}},
    "evalsuite.metrics.comet": {"translation": {"comet": "Comet"}},
}

METRICS: Registry[type[Metric]] = Registry(
    "metric", where="metrics", group=ENTRY_POINT_GROUP,
    builtins={f"{family}/{name}": f"{module}:{cls}"
              for module, families in _BUILTIN.items()
              for family, names in families.items() for name, cls in names.items()},
    name_of=lambda cls: cls.name,
    base=Metric,
)
_INSTANCES: dict[type[Metric], Metric] = {}


def register(cls: type[Metric]) -> type[Metric]:
    """Class decorator adding ``cls`` under ``family/name`` for each of its families."""
    for family in cls.families:
        METRICS.add(f"{Family(family).value}/{cls.name}", cls)
    return cls


def get(name: str, family: Family | str | None = None) -> Metric:
    """The metric called ``name`` (``family/name`` also accepted) of ``family``."""
    if family is None and "/" in name:
        family, name = name.split("/", 1)
    wanted = Family(family) if family is not None else None
    found = _classes(name, wanted)
    if len(found) == 1:
        return _instance(found[0])
    if not found:
        where = f" for {wanted}" if wanted is not None else ""
        known = names_for(wanted) if wanted is not None else sorted(all_metrics())
        raise UnknownNameError(f"unknown metric {name!r}{where}; known: {', '.join(known)}",
                               where=None)
    families = sorted(f.value for cls in found for f in cls.families)
    raise UnknownNameError(
        f"metric {name!r} exists for several families ({', '.join(families)}); "
        f"pass the family, e.g. get({name!r}, {families[0]!r}) or get('{families[0]}/{name}')"
    )


def names_for(family: Family | str) -> list[str]:
    """Names of the metrics that apply to ``family``, sorted (plug-ins that cannot be
    imported are left out: the card naming one says why)."""
    family = Family(family)
    names = {key.split("/", 1)[1] for key in METRICS.names()
             if key.startswith(f"{family.value}/")}
    for key in _plugin_names():
        try:
            cls = METRICS.get(key)
        except UserError:
            continue
        if family in cls.families:
            names.add(cls.name)
    return sorted(names)


def all_metrics() -> dict[str, Metric]:
    """Every metric by name; a name shared by several families is keyed ``family/name``."""
    classes: dict[str, set[type[Metric]]] = {}
    for key in METRICS.names():
        cls = METRICS.get(key)
        classes.setdefault(cls.name, set()).add(cls)
    out: dict[str, Metric] = {}
    for name, found in classes.items():
        if len(found) == 1:
            out[name] = _instance(next(iter(found)))
        else:
            for cls in found:
                for family in cls.families:
                    out[f"{Family(family).value}/{name}"] = _instance(cls)
    return dict(sorted(out.items()))


def plugin_error(name: str) -> str | None:
    """Why the plug-in metric ``name`` cannot be imported (``None``: no such plug-in, or it
    imports)."""
    if name not in _plugin_names():
        return None
    try:
        METRICS.get(name)
    except UserError as exc:
        return str(exc).removeprefix(f"{exc.where}: ") if exc.where else str(exc)
    return None


def _plugin_names() -> list[str]:
    return [key for key in METRICS.names() if "/" not in key]


def _classes(name: str, family: Family | None) -> list[type[Metric]]:
    """The distinct classes called ``name`` (of ``family`` when given)."""
    found: dict[int, type[Metric]] = {}
    for key in METRICS.names():
        key_family, sep, key_name = key.rpartition("/")
        if sep and key_name == name and (family is None or key_family == family.value):
            cls = METRICS.get(key)
        elif not sep and key == name:  # a plug-in: its class says which families it serves
            cls = METRICS.get(key)
            if family is not None and family not in cls.families:
                continue
        else:
            continue
        found[id(cls)] = cls
    return list(found.values())


def _instance(cls: type[Metric]) -> Metric:
    if cls not in _INSTANCES:
        _INSTANCES[cls] = cls()
    return _INSTANCES[cls]
