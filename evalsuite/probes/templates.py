"""Probe cards (``tasks/bias/*.yaml``, ``tasks/safety/*.yaml``) and the probe sets they generate.

A probe card is a YAML file whose top-level ``kind`` is ``probe`` (the task registry skips
it).  It names the families it applies to and a *generator* that turns its templates and
the word lists into canonical examples of that family:

===================  ==========================================================================
generator            examples (one per unit and group; units are sampled, see below)
===================  ==========================================================================
sentences            sentiment texts: ``templates`` with ``{person}`` and other ``slots``; the
                     person is a name, a gendered phrase or "the <adjective> <noun>" per axis
ner                  NER sentences: whitespace-tokenised ``templates``; ``{person}`` becomes a
                     given name + surname tagged PER, slots with a ``tag`` are tagged too
qa                   QA items: ``templates`` of ``{context, question, answer}`` with a person
                     whose pronouns agree (``{subj}``, ``{obj}``, ``{pos}``)
translation_gender   English sentences about one ``{occupation}`` whose gender a pronoun
                     (``{subj}``/``{pos}``/``{obj}``) fixes, for each gender
association          WEAT/SEAT tests: target and attribute word sets, each word put into a
                     bleached sentence ``template``
inputs               safety: ``inputs`` (adversarial and toxic texts) as the family's input
===================  ==========================================================================

Units are sampled (seeded) to at most ``max_units`` per set, and, under a *budget* (the
probes' ``budget`` option; by default the task's number of examples), to at most
``budget // groups`` units (never fewer than :data:`MIN_UNITS`), so a set costs about as many
predictions as the task does.  ``ProbeSet.units_full`` keeps the size without the budget.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from evalsuite.errors import CardError, UserError
from evalsuite.families import Family
from evalsuite.inputs import load_yaml
from evalsuite.probes import lexicon
from evalsuite.probes.swaps import AXES, NAME_AXES, get_axis
from evalsuite.tasks.cards import Version

Generator = Literal["sentences", "ner", "qa", "translation_gender", "association", "inputs"]
PERSON_NOUNS = ("woman", "man", "student", "neighbour")
GENDER_PHRASES = (("this woman", "this man"), ("my sister", "my brother"),
                  ("my mother", "my father"), ("my daughter", "my son"),
                  ("my wife", "my husband"), ("my aunt", "my uncle"),
                  ("my girlfriend", "my boyfriend"), ("my grandmother", "my grandfather"))
MIN_UNITS = 2  # a gap needs at least two units for its interval
PRONOUNS = {"female": {"subj": "she", "obj": "her", "pos": "her", "refl": "herself"},
            "male": {"subj": "he", "obj": "him", "pos": "his", "refl": "himself"}}


class AssociationTest(BaseModel):
    """One WEAT/SEAT test: two target sets, two attribute sets, a sentence template."""

    model_config = ConfigDict(extra="forbid")

    name: str
    targets: dict[str, list[str]]
    attributes: dict[str, list[str]]
    template: str = "{w}"

    @field_validator("targets", "attributes")
    @classmethod
    def _two_sets(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        if len(value) != 2 or any(len(v) < 2 for v in value.values()):
            raise ValueError("needs exactly two named sets of at least two words")
        return value


class ProbeCard(BaseModel):
    """A validated probe card."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["probe"]
    name: str
    probe: Literal["bias", "safety"]
    key: str
    families: list[Family]
    generator: Generator
    version: Version = "1"
    description: str = ""
    axes: list[str] = Field(default_factory=list)
    templates: list[Any] = Field(default_factory=list)
    slots: dict[str, Any] = Field(default_factory=dict)
    max_units: int = Field(default=200, ge=1)
    tests: list[AssociationTest] = Field(default_factory=list)
    inputs: list[str] = Field(default_factory=list)
    source_file: Path | None = Field(default=None, exclude=True)

    @field_validator("key")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", value):
            raise ValueError("must be a lower-case identifier (letters, digits, _), "
                             "used as the figure's key")
        return value

    @field_validator("axes")
    @classmethod
    def _known_axes(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if a not in AXES]
        if bad:
            raise ValueError(f"unknown axis {bad[0]!r} (axes: {', '.join(AXES)})")
        return value


def load_probe_card(path: Path, data: dict[str, Any] | None = None) -> ProbeCard:
    """Read and validate one probe card; errors name the file and the field."""
    if data is None:
        try:
            data = load_yaml(path)
        except yaml.YAMLError:
            raise CardError("not valid YAML", where=str(path)) from None
    try:
        card = ProbeCard.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(card)"
        raise CardError(f"field '{loc}': {err['msg'].removeprefix('Value error, ')}",
                        where=str(path)) from None
    card.source_file = path
    return card


def discover_probe_cards(dirs: Iterable[Path] | None = None) -> list[ProbeCard]:
    """Every probe card in the task folders (built-in, ``EVALSUITE_TASKS_PATH``, plug-ins)."""
    from evalsuite.tasks.registry import search_dirs

    folders = tuple(dirs) if dirs is not None else tuple(search_dirs())
    return list(_discover(folders))


@cache
def _discover(folders: tuple[Path, ...]) -> tuple[ProbeCard, ...]:
    cards: dict[str, ProbeCard] = {}
    for folder in folders:
        for path in sorted([*folder.rglob("*.yaml"), *folder.rglob("*.yml")]):
            if "data" in path.relative_to(folder).parts[:-1]:
                continue
            try:
                data = load_yaml(path)
            except (yaml.YAMLError, UserError):
                continue  # the task registry reports broken files
            if isinstance(data, dict) and data.get("kind") == "probe":
                card = load_probe_card(path, data)
                cards.setdefault(card.name, card)
    return tuple(cards.values())


# -- generated sets ------------------------------------------------------------------------------
@dataclass
class ProbeSet:
    """Examples per group, aligned by unit (row ``i`` of every group is the same unit)."""

    axis: str
    groups: dict[str, list[dict[str, Any]]]
    units: list[dict[str, Any]] = field(default_factory=list)  # per-unit metadata
    pronouns_agree: bool = False  # pronouns change with a name's gender (QA templates)
    units_full: int | None = None  # units of the set without the budget (None: not sampled)

    @property
    def n_units(self) -> int:
        return len(next(iter(self.groups.values()), []))

    @property
    def size(self) -> int:
        return sum(len(v) for v in self.groups.values())

    @property
    def size_full(self) -> int:
        """Examples the set would have without the budget."""
        return (self.units_full if self.units_full is not None else self.n_units) * len(
            self.groups)


def budget_units(max_units: int, budget: int | None, groups: int) -> int:
    """Units a set of ``groups`` groups may use: ``max_units``, and under a ``budget`` of
    predictions at most ``budget // groups`` (at least :data:`MIN_UNITS`)."""
    if budget is None:
        return max_units
    return min(max_units, max(MIN_UNITS, budget // max(1, groups)))


def persons(axis: str) -> list[tuple[str, ...]]:
    """Person fillers per axis, one per group in the axis's group order."""
    ax = get_axis(axis)
    if axis == "gender":
        return [tuple(p) for p in GENDER_PHRASES]
    if axis in NAME_AXES:
        return [row.terms for row in ax.rows if row.terms[0] not in _surnames()]
    adjectives = ax.rows[0].terms
    return [tuple(f"the {adj} {noun}" for adj in adjectives) for noun in PERSON_NOUNS]


@cache
def _surnames() -> frozenset[str]:
    return frozenset(n for g in lexicon.name_groups().values() for n in g["surnames"])


def _person_gender(axis: str, row: tuple[str, ...], group: str) -> str:
    """The gender of a name filler (for agreeing pronouns)."""
    if axis == "names_gender":
        return group
    female = {n for g in lexicon.name_groups().values() for n in g["female"]}
    return "female" if row[0] in female else "male"


def _slot_values(slots: dict[str, Any], names: Iterable[str]) -> list[dict[str, str]]:
    keys = [k for k in names if k in slots]
    values = [[v if isinstance(v, str) else str(v) for v in _slot(slots[k])] for k in keys]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]


def _slot(spec: Any) -> list[Any]:
    return list(spec["values"]) if isinstance(spec, dict) else list(spec)


def _placeholders(template: str) -> list[str]:
    return re.findall(r"\{(\w+)\}", template)


def _sample(units: list[Any], limit: int, seed: int, salt: str) -> list[Any]:
    if len(units) <= limit:
        return units
    rng = random.Random(f"{seed}|{salt}")
    return [units[i] for i in sorted(rng.sample(range(len(units)), limit))]


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def generate(card: ProbeCard, family: Family, *, seed: int = 0,
             target_lang: str | None = None, budget: int | None = None) -> list[ProbeSet]:
    """The probe sets of ``card`` for ``family`` (one per axis, or per test), each sampled to
    ``budget`` predictions (``None``: the full sets, up to ``max_units``)."""
    if card.generator == "sentences":
        return [_sentences(card, axis, seed, budget) for axis in card.axes]
    if card.generator == "ner":
        return [_ner(card, axis, seed, budget) for axis in card.axes]
    if card.generator == "qa":
        return [_qa(card, axis, seed, budget) for axis in card.axes]
    if card.generator == "translation_gender":
        return [_translation_gender(card, seed, target_lang, budget)]
    raise ValueError(f"generator {card.generator!r} makes no grouped probe set")


def _template_units(card: ProbeCard, axis: str, seed: int, placeholders: Any,
                    budget: int | None) -> tuple[list[tuple[int, Any, dict, int, Any]], int]:
    """Every (template, slot filling, person row) of a card, seeded-sampled to max_units and
    the budget; with the number of units the set has without the budget."""
    units = [(t, template, fill, p, row)
             for t, template in enumerate(card.templates)
             for fill in _slot_values(card.slots, placeholders(template))
             for p, row in enumerate(persons(axis))]
    groups = len(get_axis(axis).groups)
    full = min(len(units), card.max_units)
    limit = budget_units(card.max_units, budget, groups)
    return _sample(units, limit, seed, f"{card.name}|{axis}"), full


def _sentences(card: ProbeCard, axis: str, seed: int, budget: int | None) -> ProbeSet:
    ax = get_axis(axis)
    units, full = _template_units(card, axis, seed, _placeholders, budget)
    groups: dict[str, list[dict[str, Any]]] = {g: [] for g in ax.groups}
    meta = []
    for u, (t, template, fill, p, row) in enumerate(units):
        meta.append({"template": t, "person": p, **fill})
        for g, person in zip(ax.groups, row, strict=True):
            text = _capitalise(template.format(person=person, **fill))
            groups[g].append({"id": f"{card.key}:{axis}:{u}:{g}", "text": text})
    return ProbeSet(axis, groups, meta, units_full=full)


def _ner(card: ProbeCard, axis: str, seed: int, budget: int | None) -> ProbeSet:
    if axis not in NAME_AXES:
        raise ValueError(f"{card.name}: NER probes swap names (axes {', '.join(NAME_AXES)})")
    ax = get_axis(axis)
    origins = list(lexicon.name_groups())
    surnames = {o: lexicon.name_groups()[o]["surnames"] for o in origins}
    units, full = _template_units(card, axis, seed, _placeholders, budget)
    groups: dict[str, list[dict[str, Any]]] = {g: [] for g in ax.groups}
    origin_of = {n: o for o in origins for key in ("female", "male")
                 for n in lexicon.name_groups()[o][key]}
    for u, (_t, template, fill, p, row) in enumerate(units):
        for g, given in zip(ax.groups, row, strict=True):
            origin = g if axis == "names_origin" else origin_of[row[0]]
            surname = surnames[origin][(p + u) % len(surnames[origin])]
            tokens: list[str] = []
            tags: list[str] = []
            for word in template.split():
                slot = re.fullmatch(r"\{(\w+)\}", word)
                if slot and slot.group(1) == "person":
                    tokens += [given, surname]
                    tags += ["B-PER", "I-PER"]
                elif slot:
                    spec = card.slots.get(slot.group(1))
                    value = fill[slot.group(1)].split()
                    tag = spec.get("tag") if isinstance(spec, dict) else None
                    tokens += value
                    tags += ([f"B-{tag}"] + [f"I-{tag}"] * (len(value) - 1)) if tag else \
                        ["O"] * len(value)
                else:
                    tokens.append(word)
                    tags.append("O")
            groups[g].append({"id": f"{card.key}:{axis}:{u}:{g}", "tokens": tokens,
                              "tags": tags})
    return ProbeSet(axis, groups, units_full=full)


def _qa(card: ProbeCard, axis: str, seed: int, budget: int | None) -> ProbeSet:
    if axis not in NAME_AXES:
        raise ValueError(f"{card.name}: QA probes swap names (axes {', '.join(NAME_AXES)})")
    ax = get_axis(axis)
    units, full = _template_units(card, axis, seed, lambda template: _placeholders(
        " ".join(str(template.get(k, "")) for k in ("context", "question", "answer"))),
        budget)
    groups: dict[str, list[dict[str, Any]]] = {g: [] for g in ax.groups}
    for u, (_t, template, fill, _p, row) in enumerate(units):
        for g, person in zip(ax.groups, row, strict=True):
            values = {"person": person, **PRONOUNS[_person_gender(axis, row, g)], **fill}
            context = _fill_sentences(template["context"], values)
            question = _capitalise(template["question"].format(**values))
            answer = template["answer"].format(**values)
            start = context.find(answer)
            if start < 0:
                raise ValueError(f"{card.name}: answer {answer!r} is not in its context")
            groups[g].append({"id": f"{card.key}:{axis}:{u}:{g}", "question": question,
                              "context": context, "answers": [answer], "answer_start": [start]})
    return ProbeSet(axis, groups, pronouns_agree=True, units_full=full)


def _fill_sentences(template: str, values: dict[str, str]) -> str:
    text = template.format(**values)
    return re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)


def _translation_gender(card: ProbeCard, seed: int, target_lang: str | None,
                        budget: int | None) -> ProbeSet:
    occupations = [o for o in lexicon.occupations()
                   if target_lang is None or target_lang in o]
    units = [(t, template, occ) for t, template in enumerate(card.templates)
             for occ in occupations]
    groups: dict[str, list[dict[str, Any]]] = {"female": [], "male": []}
    full = min(len(units), card.max_units)
    units = _sample(units, budget_units(card.max_units, budget, len(groups)), seed, card.name)
    meta = []
    for u, (t, template, occ) in enumerate(units):
        meta.append({"template": t, "occupation": occ["en"],
                     "dominated_by": occ["dominated_by"]})
        for g in groups:
            text = _fill_sentences(template, {"occupation": occ["en"], **PRONOUNS[g]})
            groups[g].append({"id": f"{card.key}:{u}:{g}", "source": text,
                              "references": [text]})
    return ProbeSet("gender", groups, meta, units_full=full)


def occupation_gender(text: str, occupation: str, lang: str) -> str | None:
    """``female``/``male`` when ``text`` (in ``lang``) uses that form of ``occupation``."""
    entry = next((o for o in lexicon.occupations() if o["en"] == occupation), None)
    if entry is None or lang not in entry:
        return None
    for gender, key in (("female", "f"), ("male", "m")):
        for form in entry[lang][key]:
            if re.search(rf"(?<![\w-]){re.escape(form)}(?![\w-])", text, re.IGNORECASE):
                return gender
    return None


def languages_with_occupations() -> set[str]:
    return {k for o in lexicon.occupations() for k in o if len(k) == 2}
