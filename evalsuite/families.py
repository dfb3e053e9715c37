"""The six task families and their canonical example fields (DESIGN.md §4)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Family(str, Enum):
    """A task family: what the inputs are and what a model predicts."""

    TRANSLATION = "translation"
    SUMMARIZATION = "summarization"
    SENTIMENT = "sentiment"
    NER = "ner"
    QA = "qa"
    SIMILARITY = "similarity"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class FamilyFields:
    """Canonical field names of one family."""

    inputs: tuple[str, ...]
    references: tuple[str, ...]
    optional: tuple[str, ...] = ()

    @property
    def required(self) -> tuple[str, ...]:
        return self.inputs + self.references


FIELDS: dict[Family, FamilyFields] = {
    Family.TRANSLATION: FamilyFields(
        inputs=("source",), references=("references",), optional=("source_lang", "target_lang")
    ),
    Family.SUMMARIZATION: FamilyFields(inputs=("document",), references=("references",)),
    Family.SENTIMENT: FamilyFields(inputs=("text",), references=("label",)),
    Family.NER: FamilyFields(inputs=("tokens",), references=("tags",)),
    Family.QA: FamilyFields(
        inputs=("question", "context"), references=("answers",), optional=("answer_start",)
    ),
    Family.SIMILARITY: FamilyFields(inputs=("sentence1", "sentence2"), references=("score",)),
}

# Families whose prediction is free text produced by generation.
GENERATIVE = frozenset({Family.TRANSLATION, Family.SUMMARIZATION})


def parse_family(value: str, *, where: str | None = None) -> Family:
    """Return the ``Family`` named by ``value`` or raise a ``UserError`` listing the choices."""
    from evalsuite.errors import UserError

    try:
        return Family(str(value).strip().lower())
    except ValueError:
        choices = ", ".join(f.value for f in Family)
        raise UserError(f"unknown family {value!r} (choose one of: {choices})",
                        where=where) from None


def input_text(family: Family, example: dict) -> str:
    """The text whose length drives batching and cost for one example."""
    if family is Family.NER:
        return " ".join(example["tokens"])
    if family is Family.QA:
        return f"{example['question']} {example['context']}"
    if family is Family.SIMILARITY:
        return f"{example['sentence1']} {example['sentence2']}"
    return str(example[FIELDS[family].inputs[0]])
