"""The gate's policy file (YAML), validated with pydantic.

A policy holds settings (``alpha``, the paired ``test``, ``resamples``, ``seed``, an optional
``baseline`` run folder, ``allow_version_mismatch``) and a list of ``rules`` of three kinds:

* ``threshold`` — a figure compared with a number: ``op`` (``<``, ``<=``, ``>``, ``>=``,
  ``==`` within ``tolerance``), ``threshold`` and ``bound`` (``value``, or the confidence
  interval's ``ci_low``/``ci_high``);
* ``regression`` — a figure compared with the baseline run: ``max_drop`` (absolute, in the
  figure's units) or ``max_drop_relative`` (a fraction of the baseline value); with
  ``significance: true`` (the default) it fails only when the drop is larger than allowed
  *and* significant under a paired test on the examples both runs share;
* ``efficiency`` — a timing, throughput or memory figure compared with the baseline:
  ``max_slowdown`` (relative) plus the measurement noise (``noise``, or the spread of
  repeated baseline runs when there are several).

Every rule has a ``figure`` address (:mod:`evalsuite.gate.paths`), optional ``model``/
``models`` globs and an optional ``name``.  Errors name the file and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from evalsuite.errors import UserError
from evalsuite.gate.paths import FigurePattern, parse_pattern
from evalsuite.inputs import load_yaml
from evalsuite.results.records import Section

RULE_KINDS = ("threshold", "regression", "efficiency")


class _Rule(BaseModel):
    """Fields every rule has."""

    # a NaN threshold, tolerance or allowance would make every comparison pass or fail
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str | None = None
    description: str | None = None
    figure: str
    model: str | None = Field(None, description="glob over model names")
    models: list[str] | None = Field(None, min_length=1, description="globs over model names")

    @field_validator("figure")
    @classmethod
    def _figure(cls, value: str) -> str:
        parse_pattern(value)
        return value.strip()

    @model_validator(mode="after")
    def _one_model_selector(self) -> _Rule:
        if self.model is not None and self.models is not None:
            raise ValueError("give 'model' or 'models', not both")
        return self

    @property
    def pattern(self) -> FigurePattern:
        return parse_pattern(self.figure)

    @property
    def model_globs(self) -> list[str] | None:
        return [self.model] if self.model is not None else self.models

    def scope(self) -> str:
        """The address, with the model selector when there is one."""
        globs = self.model_globs
        return self.figure + (f" [models: {', '.join(globs)}]" if globs else "")


class ThresholdRule(_Rule):
    """``figure <op> threshold`` on the point value or an interval bound."""

    kind: Literal["threshold"] = "threshold"
    op: Literal["<", "<=", ">", ">=", "=="]
    threshold: float
    bound: Literal["value", "ci_low", "ci_high"] = "value"
    tolerance: float | None = Field(None, ge=0, description="only for op '=='")

    @model_validator(mode="after")
    def _tolerance(self) -> ThresholdRule:
        if self.tolerance is not None and self.op != "==":
            raise ValueError("'tolerance' applies to op '==' only")
        return self

    def describe(self) -> str:
        bound = "" if self.bound == "value" else f"{self.bound} "
        tol = f" ± {self.tolerance:g}" if self.op == "==" else ""
        return f"{bound}{self.op} {self.threshold:g}{tol}"

    def default_name(self) -> str:
        return f"{self.figure} {self.describe()}"


class RegressionRule(_Rule):
    """No drop larger than allowed (and significant) against the baseline run."""

    kind: Literal["regression"]
    max_drop: float | None = Field(None, ge=0)
    max_drop_relative: float | None = Field(None, ge=0, lt=1)
    significance: bool = True
    higher_is_better: bool | None = None
    allow_new: bool = False

    @model_validator(mode="after")
    def _one_allowance(self) -> RegressionRule:
        if self.max_drop is not None and self.max_drop_relative is not None:
            raise ValueError("give 'max_drop' or 'max_drop_relative', not both")
        return self

    def describe(self) -> str:
        if self.max_drop_relative is not None:
            return f"drop ≤ {self.max_drop_relative:.3g} relative"
        return f"drop ≤ {self.max_drop or 0:g}"

    def default_name(self) -> str:
        return f"{self.figure} regression ({self.describe()})"


class EfficiencyRule(_Rule):
    """No slowdown beyond ``max_slowdown`` + measurement noise against the baseline run(s)."""

    kind: Literal["efficiency"]
    max_slowdown: float = Field(ge=0)
    noise: float = Field(0.0, ge=0)
    higher_is_better: bool | None = None
    allow_new: bool = False
    require_same_device: bool = True

    @field_validator("figure")
    @classmethod
    def _efficiency_figure(cls, value: str) -> str:
        if parse_pattern(value).section != Section.EFFICIENCY:
            raise ValueError(f"{value!r}: an efficiency rule addresses '<task>.efficiency.…'")
        return value

    def describe(self) -> str:
        noise = f"max({self.noise:.0%}, spread)" if self.noise else "spread"
        return f"slowdown ≤ {self.max_slowdown:.0%} + {noise}"

    def default_name(self) -> str:
        return f"{self.figure} efficiency ({self.describe()})"


def _rule_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("kind", "threshold")
    return getattr(value, "kind", None)


Rule = Annotated[
    Annotated[ThresholdRule, Tag("threshold")]
    | Annotated[RegressionRule, Tag("regression")]
    | Annotated[EfficiencyRule, Tag("efficiency")],
    Discriminator(_rule_kind, custom_error_type="rule_kind",
                  custom_error_message=("a rule is a mapping whose 'kind' is one of "
                                        f"{', '.join(RULE_KINDS)}")),
]


class Policy(BaseModel):
    """A whole policy file."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    version: Literal[1] = 1
    description: str | None = None
    alpha: float = Field(0.05, gt=0, lt=0.5)
    test: Literal["permutation", "bootstrap"] = "permutation"
    resamples: int = Field(2000, ge=100, le=100_000)
    seed: int = 0
    baseline: str | None = None
    allow_version_mismatch: bool = False
    rules: list[Rule] = Field(min_length=1)

    _source: Path | None = PrivateAttr(None)  # the file it was read from

    @model_validator(mode="after")
    def _unique_names(self) -> Policy:
        names = [r.name for r in self.rules if r.name]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"two rules are named {dupes[0]!r}; names must be unique")
        return self

    def rule_names(self) -> list[str]:
        """Each rule's name (given, or made from the rule and made unique)."""
        out: list[str] = []
        for i, rule in enumerate(self.rules):
            name = rule.name or rule.default_name()
            out.append(name if name not in out else f"{name} #{i + 1}")
        return out

    @property
    def source(self) -> Path | None:
        """The file the policy was read from."""
        return self._source

    @property
    def needs_baseline(self) -> bool:
        return any(r.kind != "threshold" for r in self.rules)

    def baseline_path(self) -> Path | None:
        """``baseline`` resolved against the policy file's folder; one that is not there is a
        ``UserError`` naming the policy's field."""
        if self.baseline is None:
            return None
        path = Path(self.baseline).expanduser()
        if not path.is_absolute() and self._source is not None:
            path = self._source.parent / path
        if not path.exists():
            where = f"{self._source}: field 'baseline'" if self._source else "field 'baseline'"
            raise UserError(f"no such run folder {str(path)!r} (relative paths are read from "
                            f"the policy's folder; --baseline overrides it)", where=where)
        return path


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file; a ``UserError`` names the file and the field."""
    file = Path(path)
    where = str(file)
    if not file.is_file():
        raise UserError("no such policy file", where=where)
    try:
        data = load_yaml(file)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise UserError(f"not valid YAML{line}: {problem}", where=where) from None
    if not isinstance(data, dict):
        raise UserError("a policy is a mapping with at least 'rules:'", where=where)
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        raise UserError(_first_error(exc, data), where=where) from None
    policy._source = file
    return policy


def _first_error(exc: ValidationError, data: dict[str, Any]) -> str:
    """One line: ``field 'rules[2].op': …`` for the first validation error."""
    errors = exc.errors(include_url=False)
    # A misspelt field also shows up as a missing one: name the misspelling first.
    err = min(errors, key=lambda e: e["type"] != "extra_forbidden")
    parts: list[str] = []
    loc = list(err["loc"])
    for i, item in enumerate(loc):
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        elif item in RULE_KINDS and i > 0 and isinstance(loc[i - 1], int):
            continue  # the union's tag, not a field
        else:
            parts.append(str(item))
    field = ".".join(parts) or "(top)"
    message = err["msg"].removeprefix("Value error, ")
    rule_name = _rule_name_at(loc, data)
    named = f" (rule {rule_name!r})" if rule_name else ""
    if err["type"] == "missing":
        message = "required field is missing"
    elif err["type"] == "extra_forbidden":
        message = "unknown field (check the spelling; see docs/gate.md)"
    return f"field '{field}'{named}: {message}"


def _rule_name_at(loc: list[Any], data: dict[str, Any]) -> str | None:
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rules = data.get("rules")
        if isinstance(rules, list) and loc[1] < len(rules) and isinstance(rules[loc[1]], dict):
            name = rules[loc[1]].get("name")
            return str(name) if name else None
    return None
