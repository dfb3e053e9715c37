"""Figure addresses: dotted paths into result records, with wildcards over tasks and keys.

An address is ``<task glob>.<section>.<key>[.<key>…]``:

* ``<task glob>`` is matched against the record's task name with shell-style wildcards
  (``*``, ``?``, ``[abc]``), e.g. ``sentiment/*`` or ``*``;
* ``<section>`` is one of ``metrics``, ``efficiency``, ``bias``, ``safety``, ``robustness``,
  ``generalisation`` (written out, never a wildcard); the first ``.<section>.`` in the
  address ends the task part, so task names may contain dots;
* every ``<key>`` matches exactly one level of the record's nested figures and may itself be
  a wildcard: ``*.bias.*.max_gap`` is every bias probe's ``max_gap`` of every task.

Models are chosen beside the address, not inside it: a rule's ``model: GLOB`` or
``models: [GLOB, …]`` (default: every model).  Examples::

    sentiment/*.metrics.accuracy.value     accuracy of every sentiment task
    sentiment/sst2.metrics.accuracy        the same figure (an interval means its .value)
    *.efficiency.latency_ms.p90            90th-percentile batch latency, every task
    *.bias.*.max_gap                       every bias probe's largest group gap
    *.generalisation.retention             every suite variant's share of the reference score

**Expansion.**  Wildcards expand over what the results contain.  Within one task every model
is expected to report the same figures, so a figure that one in-scope model reports and
another lacks is *missing* for the latter; with a task name written out (no wildcard) every
in-scope model must have the figure; a (model, task) record whose status is ``skipped`` or
``failed`` lacks every figure.  Missing figures fail their rule, and so does an address that
matches nothing: a gate never passes by omission.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from evalsuite.results.records import SECTIONS, Block, MetricValue, Record

BOUNDS = ("value", "ci_low", "ci_high")
_SECTION_RE = re.compile(r"\.(" + "|".join(SECTIONS) + r")(?:\.|$)")
_GLOB_CHARS = set("*?[")


def is_glob(text: str) -> bool:
    """Whether ``text`` holds a wildcard character."""
    return any(c in _GLOB_CHARS for c in text)


@dataclass(frozen=True)
class FigurePattern:
    """A parsed address: task glob, section and key globs."""

    text: str
    task: str
    section: str
    keys: tuple[str, ...]

    def address(self, task: str, keys: Sequence[str]) -> str:
        """The concrete address of one figure of ``task``."""
        return ".".join([task, self.section, *keys])


def parse_pattern(text: str) -> FigurePattern:
    """Parse an address; raise ``ValueError`` with a one-line reason when it is malformed."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("an address must be a non-empty string such as "
                         "'sentiment/*.metrics.accuracy.value'")
    text = text.strip()
    match = _SECTION_RE.search(text)
    if match is None or match.start() == 0:
        raise ValueError(f"{text!r} is not '<task>.<section>.<key>…' with a section among "
                         f"{', '.join(SECTIONS)} (e.g. 'sentiment/*.metrics.accuracy.value')")
    task, section = text[:match.start()], match.group(1)
    rest = text[match.end():]
    keys = tuple(rest.split(".")) if rest else ()
    if not keys or any(not k for k in keys):
        raise ValueError(f"{text!r} names no figure after '{section}' "
                         f"(e.g. '{task}.{section}.<name>…')")
    return FigurePattern(text=text, task=task, section=section, keys=keys)


def model_selected(model: str, globs: Sequence[str] | None) -> bool:
    """Whether a model's display name matches one of ``globs`` (``None``: every model)."""
    return globs is None or any(fnmatchcase(model, g) for g in globs)


@dataclass
class Figure:
    """One resolved figure of one (model, task) record."""

    model: str
    task: str
    keys: tuple[str, ...]
    address: str
    value: Any
    record: Record
    interval: MetricValue | None = None  # the metric value the figure belongs to

    @property
    def label(self) -> str:
        return f"{self.model} · {self.address}"

    def bound(self, bound: str) -> tuple[Any, str]:
        """The interval's ``bound`` (``value``, ``ci_low``, ``ci_high``) and its address."""
        if bound == "value":
            return self.value, self.address
        address = self.address.rsplit(".", 1)[0] + "." + bound
        return (getattr(self.interval, bound) if self.interval is not None else None), address


@dataclass
class Missing:
    """A figure a rule names that the results lack, with the reason."""

    model: str | None
    task: str | None
    address: str
    reason: str

    @property
    def label(self) -> str:
        return f"{self.model} · {self.address}" if self.model else self.address


@dataclass
class Expansion:
    """What one address resolves to in one run: figures found and figures missing."""

    figures: list[Figure] = field(default_factory=list)
    missing: list[Missing] = field(default_factory=list)
    n_records: int = 0  # (model, task) records the task glob and model selector matched


def resolve_keys(block: Any, keys: Sequence[str]) -> tuple[list[tuple[tuple[str, ...], Any]],
                                                           str | None]:
    """Walk ``keys`` (globs allowed) into nested blocks: mappings, and record models by the
    fields they have (:meth:`~evalsuite.results.records.Block.present`).

    Returns the ``(concrete keys, value)`` pairs found and, when a written-out key is absent,
    the first such key (for messages).
    """
    found: list[tuple[tuple[str, ...], Any]] = []
    absent: str | None = None

    def walk(node: Any, depth: int, trail: tuple[str, ...]) -> None:
        nonlocal absent
        if depth == len(keys):
            found.append((trail, node))
            return
        key = keys[depth]
        if isinstance(node, Block):
            node = node.present()
        if not isinstance(node, dict):
            absent = absent or key
            return
        if is_glob(key):
            for name in node:
                if fnmatchcase(str(name), key):
                    walk(node[name], depth + 1, (*trail, str(name)))
        elif key in node:
            walk(node[key], depth + 1, (*trail, key))
        else:
            absent = absent or key

    walk(block, 0, ())
    return found, absent


def expand(pattern: FigurePattern, models: Sequence[str] | None,
           records: Iterable[Record],
           expected: dict[tuple[str, str], set[tuple[str, ...]]] | None = None) -> Expansion:
    """Resolve ``pattern`` over one run's records (see the module docstring for the rules).

    ``expected`` adds, per (model, task), key paths that must be present (a baseline's
    figures, for regression rules).
    """
    scoped = [r for r in records
              if model_selected(r.model, models) and fnmatchcase(r.task, pattern.task)]
    out = Expansion(n_records=len(scoped))
    found_by_record: list[tuple[Record, dict[tuple[str, ...], Figure]]] = []
    for rec in scoped:
        if not rec.ok:
            reason = rec.reason or "no reason recorded"
            address = ".".join([rec.task, pattern.section, *pattern.keys])
            out.missing.append(Missing(rec.model, rec.task, address,
                                       f"the record is {rec.status} ({reason})"))
            continue
        pairs, _ = resolve_keys(rec.section(pattern.section), pattern.keys)
        figures = [_figure(pattern, rec, keys, value) for keys, value in pairs]
        found_by_record.append((rec, {f.keys: f for f in figures}))
    # Figures each task is expected to carry: what any in-scope model reports for it.
    per_task: dict[str, set[tuple[str, ...]]] = {}
    for rec, found in found_by_record:
        per_task.setdefault(rec.task, set()).update(found)
    literal = not is_glob(pattern.task) and not any(is_glob(k) for k in pattern.keys)
    for rec, found in found_by_record:
        model, task = rec.model, rec.task
        want = set(per_task.get(task, set()))
        want |= (expected or {}).get((model, task), set())
        if not want and literal:
            want = {pattern.keys}
        for keys in sorted(want - set(found)):
            _, absent = resolve_keys(rec.section(pattern.section), keys)
            where = f"no '{absent}' in {pattern.section}" if absent else "not found"
            out.missing.append(Missing(model, task, pattern.address(task, keys),
                                       f"the results lack this figure ({where})"))
        out.figures.extend(found.values())
    return out


def _figure(pattern: FigurePattern, rec: Record, keys: tuple[str, ...],
            value: Any) -> Figure:
    """A found figure; a metric value stands for its ``value`` and remembers its bounds."""
    interval = None
    if isinstance(value, MetricValue):
        interval, keys, value = value, (*keys, "value"), value.value
    elif keys[-1] == "value":
        parent, _ = resolve_keys(rec.section(pattern.section), keys[:-1])
        if parent and isinstance(parent[0][1], MetricValue):
            interval = parent[0][1]
    return Figure(rec.model, rec.task, keys, pattern.address(rec.task, keys), value,
                  rec, interval)


def as_number(value: Any) -> float | None:
    """A figure as a float, or ``None`` when it is not a number (null, text, a group)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if number == number else None
