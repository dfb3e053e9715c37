"""Task cards: one YAML file describing a dataset, its column mapping and its metrics.

A card that is wrong is refused with one line naming the file and the field::

    tasks/sentiment/x.yaml: field 'metrics': unknown metric 'acc' for sentiment (…)
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from evalsuite.errors import CardError
from evalsuite.families import FIELDS, Family
from evalsuite.text.languages import parse_language

DOMAIN_SHAPE = re.compile(r"^[a-z0-9]+(?:[-_/][a-z0-9]+)*$")
Version = Annotated[str, BeforeValidator(str)]  # a card's version: 2 and "2" are both "2"


def distinct_names(value: list[str], at_least: str, item: str) -> list[str]:
    """``value`` when it lists at least one name and none twice (a card's metrics, a suite's
    variants); ``ValueError`` saying which rule it breaks otherwise."""
    if not value:
        raise ValueError(f"list at least one {at_least}")
    if len(set(value)) != len(value):
        raise ValueError(f"lists a {item} twice")
    return value


class DatasetRef(BaseModel):
    """Where a card's examples come from: a hub id or a path relative to the card."""

    model_config = ConfigDict(extra="forbid")

    path: str
    name: str | None = None
    split: str = "test"
    revision: str | None = None
    data_files: str | list[str] | dict[str, Any] | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class TaskCard(BaseModel):
    """A validated task card."""

    model_config = ConfigDict(extra="forbid")

    name: str
    family: Family
    version: Version = "1"
    description: str = ""
    smoke_set: bool = False
    size: int | None = Field(default=None, ge=0)
    dataset: DatasetRef
    columns: dict[str, str] = Field(default_factory=dict)
    metrics: list[str]
    labels: list[str] | None = None
    label_map: dict[str, str] | None = None
    tag_names: list[str] | None = None
    source_lang: str | None = None
    target_lang: str | None = None
    language: str | None = None
    domain: str | None = None
    resource_level: Literal["high", "mid", "low"] | None = None
    prompt: str | None = None
    max_input_length: int | None = Field(default=None, gt=0)
    max_new_tokens: int | None = Field(default=None, gt=0)
    stop: list[str] | None = None  # generation stops at the first of these texts
    shots: StrictInt | None = Field(default=None, ge=0)  # few-shot demonstrations per example
    shots_split: str | None = None  # the split (or a data file) they are sampled from
    shots_seed: StrictInt = 0
    options: dict[str, Any] = Field(default_factory=dict)
    # duplicate example ids: refused unless the card says what to do (``first`` keeps the
    # first row of each id, ``suffix`` renames later rows ``id#1``, ``id#2``…)
    dedupe: Literal["first", "suffix"] | None = None
    source_file: Path | None = Field(default=None, exclude=True)

    @field_validator("name")
    @classmethod
    def _name_shape(cls, value: str) -> str:
        if not value or value != value.strip() or " " in value:
            raise ValueError("must be a non-empty name without spaces, e.g. 'sentiment/sst2'")
        return value

    @field_validator("source_lang", "target_lang", "language")
    @classmethod
    def _language_code(cls, value: str | None) -> str | None:
        if value is not None:
            parse_language(value)  # raises ValueError naming what is expected
        return value

    @field_validator("domain")
    @classmethod
    def _domain_shape(cls, value: str | None) -> str | None:
        if value is not None and not DOMAIN_SHAPE.match(value):
            raise ValueError(f"{value!r} is not a short lower-case label such as 'news', "
                             "'reviews/movies' or 'social'")
        return value

    @field_validator("metrics")
    @classmethod
    def _metrics_nonempty(cls, value: list[str]) -> list[str]:
        return distinct_names(value, "metric (the primary one first)", "metric")

    @model_validator(mode="after")
    def _family_rules(self) -> TaskCard:
        from evalsuite.metrics import registry as metric_registry

        fields = FIELDS[self.family]
        allowed = set(fields.required) | set(fields.optional) | {"id"}
        for key in self.columns:
            if key not in allowed:
                raise _FieldError(
                    "columns",
                    f"{key!r} is not a field of {self.family.value} "
                    f"(fields: {', '.join(sorted(allowed))})",
                )
        for metric in self.metrics:
            known = metric_registry.names_for(self.family)
            if metric not in known:
                broken = metric_registry.plugin_error(metric)
                raise _FieldError(
                    "metrics",
                    f"unknown metric {metric!r} for {self.family.value}"
                    + (f": {broken}" if broken else f" (choose from: {', '.join(known)})"),
                    unknown_metric=True,
                )
        if self.family is Family.SENTIMENT:
            if not self.labels:
                raise _FieldError("labels", "sentiment cards list their label set, e.g. "
                                  "[negative, positive]")
            if len(set(self.labels)) != len(self.labels) or len(self.labels) < 2:
                raise _FieldError("labels", "needs at least two distinct labels")
            if self.label_map:
                bad = sorted(set(self.label_map.values()) - set(self.labels))
                if bad:
                    raise _FieldError("label_map", f"maps onto {bad}, which are not in labels")
        if self.family is Family.TRANSLATION:
            if not (self.source_lang and self.target_lang):
                raise _FieldError("source_lang",
                                  "translation cards name source_lang and target_lang")
            if self.language is not None:
                raise _FieldError("language", "translation cards name their languages with "
                                  "source_lang and target_lang, not language")
            if "bleu" in self.metrics and "chrf" not in self.metrics:
                self.metrics.append("chrf")  # chrF++ beside BLEU everywhere (see README)
        elif self.source_lang or self.target_lang:
            raise _FieldError("source_lang" if self.source_lang else "target_lang",
                              f"only translation cards have it; {self.family.value} cards "
                              "name their language with language")
        tokenize = self.options.get("bleu_tokenize")
        if tokenize is not None:
            from sacrebleu.metrics import BLEU

            if tokenize not in BLEU.TOKENIZERS:
                raise _FieldError("options.bleu_tokenize",
                                  f"unknown sacreBLEU tokenizer {tokenize!r} "
                                  f"(choose from: {', '.join(BLEU.TOKENIZERS)})")
        if self.tag_names is not None:
            bad_tags = [t for t in self.tag_names if t != "O" and t[:2] not in ("B-", "I-")]
            if bad_tags:
                raise _FieldError("tag_names", f"{bad_tags[:3]} are not IOB2 tags")
        return self

    @property
    def primary_metric(self) -> str:
        return self.metrics[0]

    @property
    def output_language(self) -> str | None:
        """The language of the texts the metrics compare: ``target_lang`` for translation,
        else ``language`` (``None`` when the card does not say)."""
        return self.target_lang if self.family is Family.TRANSLATION else self.language

    def column_for(self, field: str) -> str:
        """The dataset column (or dotted path) that holds canonical ``field``."""
        return self.columns.get(field, field)

    @property
    def content_hash(self) -> str:
        """Hash of everything that changes the task's examples or scoring (not
        ``resource_level``, a label for reports)."""
        # a field left at None since it was added stays out, so existing hashes hold
        unset = {name for name in ("dedupe",) if getattr(self, name) is None}
        blob = json.dumps(self.model_dump(mode="json", exclude={"resource_level", *unset}),
                          sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    @property
    def version_id(self) -> str:
        """The task version recorded in results and cache keys: ``<version>+<content hash>``."""
        return f"{self.version}+{self.content_hash}"

    @property
    def base_dir(self) -> Path:
        return self.source_file.parent if self.source_file else Path.cwd()


class _FieldError(ValueError):
    def __init__(self, field: str, message: str, *, unknown_metric: bool = False) -> None:
        self.field = field
        self.unknown_metric = unknown_metric
        super().__init__(message)


class UnknownMetricCardError(CardError):
    """A card names a metric nobody registered: only that card is unusable (the registry
    keeps the other cards of its folder and raises this when the card is asked for)."""


def card_from_dict(data: Any, *, source: str | Path | None = None) -> TaskCard:
    """Validate a parsed card, turning the first problem into one ``CardError`` line."""
    where = str(source) if source is not None else "<card>"
    if not isinstance(data, dict):
        raise CardError("a task card must be a YAML mapping", where=where)
    try:
        card = TaskCard.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, _FieldError):
            error = UnknownMetricCardError if ctx_error.unknown_metric else CardError
            raise error(f"field '{ctx_error.field}': {ctx_error}", where=where) from None
        loc = ".".join(str(p) for p in err["loc"]) or "(card)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling against the card reference in README)"
        elif err["type"] == "enum":
            msg = f"{msg} (got {err.get('input')!r})"
        raise CardError(f"field '{loc}': {msg}", where=where) from None
    if source is not None:
        card.source_file = Path(source)
    return card


def load_card(path: str | Path) -> TaskCard:
    """Read and validate one card file."""
    from evalsuite.inputs import load_yaml

    path = Path(path)
    try:
        data = load_yaml(path)
    except FileNotFoundError:
        raise CardError("no such card file", where=str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        raise CardError(f"not valid YAML{line}", where=str(path)) from None
    return card_from_dict(data, source=path)
