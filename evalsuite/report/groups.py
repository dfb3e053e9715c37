"""Comparison groups: a model is ranked only against models scored on the same task slots.

A *slot* is a task on one example set (:mod:`evalsuite.report.load`).  A group is a set of
at least two models together with every slot they all have; ranks and any cross-task
aggregate (usability index, win rate, the quality of the decision view) are computed inside a
group over its shared slots only.  Slots that only some members have are shown per task,
never folded into the group's aggregates.  A model that shares no slot with any other model
is *alone*: it is shown per task and never ranked.

Groups are formed greedily: among the candidate slot sets (each model's own set and the
intersection of every pair) the one with the largest ``models² × slots`` is taken, with every
remaining model that has all of its slots; then the same on the models left.  Squaring the
number of models prefers ranking everyone over the tasks they all finished (five candidates,
one of which failed one task, are ranked together on the other tasks) while a single extra
model on one task does not shrink the others' comparison to that task.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from itertools import combinations

from evalsuite.report.load import Model, ReportData
from evalsuite.report.values import number, primary


@dataclass
class Group:
    """Models compared with each other, and the slots they share."""

    id: str
    models: list[Model]
    tasks: list[str]
    extra: dict[str, list[str]] = field(default_factory=dict)  # model key -> other slots

    def describe(self) -> str:
        """``4 models on 3 shared tasks: a, b, c`` (the first five tasks named)."""
        names = ", ".join(self.tasks[:5]) + (f", … ({len(self.tasks) - 5} more)"
                                              if len(self.tasks) > 5 else "")
        return (f"{len(self.models)} models on {len(self.tasks)} shared "
                f"task{'s' * (len(self.tasks) != 1)}: {names}")


def scored_slots(model: Model) -> set[str]:
    """The slots where ``model`` has a value of the primary metric."""
    out = set()
    for slot, entry in model.results.items():
        _, metric = primary(entry.record)
        if metric is not None and number(metric.value) is not None:
            out.add(slot)
    return out


def comparison_groups(data: ReportData) -> tuple[list[Group], list[Model]]:
    """The groups (largest first) and the models alone on their slots."""
    slots = {m.key: scored_slots(m) for m in data.models}
    order = {t: i for i, t in enumerate(data.tasks)}
    remaining = [m for m in data.models if slots[m.key]]
    groups: list[Group] = []
    while len(remaining) >= 2:
        candidates = {frozenset(slots[m.key]) for m in remaining}
        candidates |= {frozenset(slots[a.key] & slots[b.key])
                       for a, b in combinations(remaining, 2)}
        best: tuple[tuple[int, int, int, tuple[int, ...]], list[Model]] | None = None
        for candidate in candidates:
            if not candidate:
                continue
            members = [m for m in remaining if candidate <= slots[m.key]]
            if len(members) < 2:
                continue
            rank = (len(members) ** 2 * len(candidate), len(members), len(candidate),
                    tuple(-order[t] for t in sorted(candidate, key=order.__getitem__)))
            if best is None or rank > best[0]:
                best = (rank, members)
        if best is None:
            break
        members = best[1]
        shared = set.intersection(*(slots[m.key] for m in members))
        tasks = sorted(shared, key=order.__getitem__)
        extra = {m.key: sorted(slots[m.key] - shared, key=order.__getitem__) for m in members}
        groups.append(Group(_group_id(len(groups)), members, tasks, extra))
        remaining = [m for m in remaining if m not in members]
    alone = [m for m in data.models if not any(m in g.models for g in groups)]
    return groups, alone


def _group_id(i: int) -> str:
    return string.ascii_uppercase[i] if i < 26 else f"G{i + 1}"
