"""Suites: a reference task and its shifted variants (new domains, new languages).

A suite is a YAML file under a task folder, found with the cards by the task registry, with
``kind: suite``::

    kind: suite
    name: sentiment/domains
    description: Movie-review sentiment against product reviews and social media.
    reference: sentiment/sst2
    variants: [sentiment/amazon-polarity, sentiment/tweet-eval]
    parallel: false     # true: the variants translate the reference's examples (same ids)

Every task must exist, be of one family and share the reference's primary metric (a
retention is a ratio of one metric); the reference is not a variant.  ``parallel: true``
says the variants' examples are translations of the reference's, keyed by the same ids
(FLORES-200 is), so the generalisation figures pair examples by id.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from evalsuite.errors import CardError, UserError
from evalsuite.tasks.cards import TaskCard, distinct_names


class Suite(BaseModel):
    """A validated suite file."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    reference: str
    variants: list[str]
    parallel: bool = False
    source_file: Path | None = Field(default=None, exclude=True)

    @field_validator("name", "reference")
    @classmethod
    def _no_spaces(cls, value: str) -> str:
        if not value or value != value.strip() or " " in value:
            raise ValueError("must be a non-empty name without spaces")
        return value

    @field_validator("variants")
    @classmethod
    def _variants(cls, value: list[str]) -> list[str]:
        return distinct_names(value, "variant task", "task")

    @property
    def tasks(self) -> list[str]:
        """The reference first, then the variants."""
        return [self.reference, *self.variants]

    def summary(self) -> dict[str, Any]:
        """What a run records about the suite (``run.suites``)."""
        return {"name": self.name, "reference": self.reference, "variants": self.variants,
                "parallel": self.parallel}


def suite_from_dict(data: Any, *, source: str | Path | None = None) -> Suite:
    """Validate a parsed suite file (``kind: suite`` allowed), one ``CardError`` line."""
    where = str(source) if source is not None else "<suite>"
    if not isinstance(data, dict):
        raise CardError("a suite must be a YAML mapping", where=where)
    data = {k: v for k, v in data.items() if k != "kind"}
    try:
        suite = Suite.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(suite)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (a suite has name, description, reference, variants, parallel)"
        raise CardError(f"field '{loc}': {msg}", where=where) from None
    if source is not None:
        suite.source_file = Path(source)
    return suite


def check_suite(suite: Suite, cards: dict[str, TaskCard]) -> None:
    """Refuse a suite whose tasks are unknown, of another family or another primary metric."""
    where = str(suite.source_file or suite.name)
    for field, name in [("reference", suite.reference), *[("variants", v) for v in
                                                           suite.variants]]:
        if name not in cards:
            close = difflib.get_close_matches(name, list(cards), n=3, cutoff=0.6)
            hint = f" (did you mean: {', '.join(close)}?)" if close else ""
            raise CardError(f"field '{field}': unknown task {name!r}{hint}", where=where)
    if suite.reference in suite.variants:
        raise CardError(f"field 'variants': the reference {suite.reference!r} is not a variant "
                        "of itself", where=where)
    ref = cards[suite.reference]
    for name in suite.variants:
        card = cards[name]
        if card.family is not ref.family:
            raise CardError(f"field 'variants': {name} is {card.family.value}, the reference "
                            f"{ref.name} is {ref.family.value} (one family per suite)",
                            where=where)
        if card.primary_metric != ref.primary_metric:
            raise CardError(f"field 'variants': {name}'s primary metric is "
                            f"{card.primary_metric}, the reference's is {ref.primary_metric} "
                            "(list the same metric first on every card of the suite)",
                            where=where)


def select_suites(suites: dict[str, Suite], patterns: Iterable[str], *,
                  where: str = "--suite") -> list[Suite]:
    """Suites by name or glob (``'translation/*'``), in the order asked; two that give one
    variant different references are refused (:func:`check_no_conflicts`)."""
    chosen: list[Suite] = []
    for pattern in patterns:
        if any(ch in pattern for ch in "*?["):
            matches = [suites[n] for n in sorted(suites) if fnmatch.fnmatch(n, pattern)]
            if not matches:
                raise UserError(f"no suite matches {pattern!r} (run `evalsuite tasks` to list "
                                "them)", where=where)
        elif pattern in suites:
            matches = [suites[pattern]]
        else:
            close = difflib.get_close_matches(pattern, sorted(suites), n=3, cutoff=0.6)
            hint = f" (did you mean: {', '.join(close)}?)" if close else \
                " (run `evalsuite tasks` to list them)"
            raise UserError(f"unknown suite {pattern!r}{hint}", where=where)
        chosen += [m for m in matches if m.name not in {c.name for c in chosen}]
    check_no_conflicts(chosen, where)
    return chosen


def check_no_conflicts(suites: list[Suite], where: str = "--suite") -> None:
    """Refuse two suites of one run that give one variant different references: a record
    carries one ``generalisation`` block."""
    reference_of: dict[str, Suite] = {}
    for suite in suites:
        for variant in suite.variants:
            other = reference_of.setdefault(variant, suite)
            if other.reference != suite.reference:
                raise UserError(f"{variant} is a variant of {other.reference} in suite "
                                f"{other.name} and of {suite.reference} in suite {suite.name}; "
                                "run them separately", where=where)
