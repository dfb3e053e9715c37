"""Collect the records of one or several result folders into models × tasks.

A *model* is keyed by a stable identity (``model_identity`` of its records: kind, target,
revision, weight fingerprint and output-changing options), so the same model found in two
runs is one row of the report, and two different models that share a display name are two
rows (their labels get the run id).  When one model has the same task in several runs the
record of the latest run wins; the others are listed as superseded.  Every model gets one
colour (a colour-blind-safe palette) and marker symbol used by every figure.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalsuite.errors import UserError
from evalsuite.results.files import RunResults, load_many, read_predictions

# Plotly's "Safe" qualitative palette (CARTO, colour-blind safe), grey last.
PALETTE = ("#88CCEE", "#CC6677", "#DDCC77", "#117733", "#332288", "#AA4499",
           "#44AA99", "#999933", "#882255", "#661100", "#888888")
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "star")
FAMILY_ORDER = ("sentiment", "ner", "qa", "similarity", "translation", "summarization")


@dataclass
class ReportRun:
    """A loaded run as the report reads it: run metadata and records as plain JSON data
    (the typed records' ``to_dict()``), so figures read exactly what the file holds."""

    path: Path
    run: dict[str, Any]
    records: list[dict[str, Any]]

    @classmethod
    def of(cls, results: RunResults) -> ReportRun:
        return cls(path=results.path, run=results.run.to_dict(),
                   records=[record.to_dict() for record in results.records])

    def predictions(self, record: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Per-example rows of one record (empty when it has none)."""
        return read_predictions(self.path, record.get("predictions_file"))


@dataclass
class Entry:
    """One result record together with the run it came from."""

    run: ReportRun
    record: dict[str, Any]

    @property
    def task(self) -> str:
        return self.record["task"]

    @property
    def status(self) -> str:
        return self.record.get("status", "ok")

    @property
    def run_id(self) -> str:
        return str(self.run.run.get("id", self.run.path.name))


@dataclass
class Model:
    """One model of the report: its identity, label, colour and per-task records."""

    key: str
    name: str
    label: str = ""
    colour: str = PALETTE[0]
    symbol: str = SYMBOLS[0]
    identity: dict[str, Any] = field(default_factory=dict)
    spec: str | None = None
    results: dict[str, Entry] = field(default_factory=dict)  # task -> ok record
    not_scored: list[Entry] = field(default_factory=list)  # skipped / failed records

    @property
    def dtype(self) -> str | None:
        """The numeric precision the model ran in (``None`` when unknown)."""
        dtype = (self.identity.get("options") or {}).get("dtype")
        if not dtype:
            for entry in self.results.values():
                dtype = (entry.record.get("efficiency") or {}).get("dtype")
                if dtype:
                    break
        return None if dtype in (None, "", "n/a", "auto") else str(dtype)

    @property
    def variant_of(self) -> tuple[str, str, str] | None:
        """What its precision variants share: (kind, target, revision)."""
        if not self.identity.get("target"):
            return None
        return (str(self.identity.get("kind")), str(self.identity["target"]),
                str(self.identity.get("revision")))


@dataclass
class ReportData:
    """Everything the report and ``compare`` draw from."""

    runs: list[ReportRun]
    models: list[Model]
    tasks: list[str]
    families: dict[str, str]  # task -> family
    superseded: list[Entry] = field(default_factory=list)

    def entries(self, task: str | None = None) -> Iterator[tuple[Model, Entry]]:
        """(model, ok record) pairs, optionally of one task."""
        for model in self.models:
            for name, entry in model.results.items():
                if task is None or name == task:
                    yield model, entry

    def tasks_of(self, family: str) -> list[str]:
        return [t for t in self.tasks if self.families[t] == family]

    @property
    def family_list(self) -> list[str]:
        seen = {self.families[t] for t in self.tasks}
        return [f for f in FAMILY_ORDER if f in seen] + sorted(seen - set(FAMILY_ORDER))

    @property
    def not_scored(self) -> list[tuple[Model, Entry]]:
        return [(m, e) for m in self.models for e in m.not_scored]

    def variant_groups(self) -> list[list[Model]]:
        """Models that are precision variants of one another (same target, other dtype)."""
        groups: dict[tuple[str, str, str], list[Model]] = {}
        for model in self.models:
            if model.variant_of is not None:
                groups.setdefault(model.variant_of, []).append(model)
        return [g for g in groups.values()
                if len(g) > 1 and len({m.dtype for m in g}) > 1]


def identity_key(identity: dict[str, Any] | None, fallback: str) -> str:
    """A short stable hash of a model identity (or of ``fallback`` when there is none)."""
    blob = json.dumps(identity, sort_keys=True, default=str) if identity else f"spec:{fallback}"
    return hashlib.sha1(blob.encode()).hexdigest()[:10]


def load_report_data(paths: Iterable[str | Path]) -> ReportData:
    """Load every run under ``paths`` and group its records by model identity."""
    paths = list(paths)
    if not paths:
        raise UserError("name at least one result folder", where="RESULTS")
    return collect(load_many(paths))


def collect(loaded: list[RunResults]) -> ReportData:
    """Group the records of ``loaded`` (oldest run first, so later runs win) by model."""
    runs = sorted(_unique_runs([ReportRun.of(r) for r in loaded]),
                  key=lambda r: (str(r.run.get("created", "")), str(r.run.get("id", ""))))
    models: dict[str, Model] = {}
    superseded: list[Entry] = []
    families: dict[str, str] = {}
    for run in runs:
        keys = _run_model_keys(run)
        for record in run.records:
            entry = Entry(run, record)
            key = keys[record["model"]]
            model = models.get(key)
            if model is None:
                model = models[key] = Model(key=key, name=record["model"],
                                            identity=record.get("model_identity") or {},
                                            spec=record.get("model_spec"))
            if record.get("model_identity") and not model.identity:
                model.identity = record["model_identity"]
            families.setdefault(entry.task, record["family"])
            if entry.status == "ok":
                if entry.task in model.results:
                    superseded.append(model.results[entry.task])
                model.results[entry.task] = entry
                model.not_scored = [e for e in model.not_scored if e.task != entry.task]
            elif entry.task not in model.results:
                model.not_scored = [e for e in model.not_scored if e.task != entry.task]
                model.not_scored.append(entry)
            else:
                superseded.append(entry)
    if not models:
        raise UserError("the result files hold no (model, task) records", where="RESULTS")
    ordered = _label_and_colour(list(models.values()))
    tasks = sorted(families, key=lambda t: (_family_rank(families[t]), t))
    return ReportData(runs=runs, models=ordered, tasks=tasks, families=families,
                      superseded=superseded)


def _unique_runs(runs: list[ReportRun]) -> list[ReportRun]:
    seen: set[Path] = set()
    out = []
    for run in runs:
        path = run.path.resolve()
        if path not in seen:
            seen.add(path)
            out.append(run)
    return out


def _run_model_keys(run: ReportRun) -> dict[str, str]:
    """Display name -> identity key within one run (names are unique in a run)."""
    identities: dict[str, dict[str, Any]] = {}
    specs: dict[str, str] = {}
    for record in run.records:
        name = record["model"]
        if record.get("model_identity") and name not in identities:
            identities[name] = record["model_identity"]
        specs.setdefault(name, str(record.get("model_spec") or name))
    return {name: identity_key(identities.get(name), specs[name]) for name in specs}


def _label_and_colour(models: list[Model]) -> list[Model]:
    by_name: dict[str, list[Model]] = {}
    for model in models:
        by_name.setdefault(model.name, []).append(model)
    for name, group in by_name.items():
        for model in group:
            model.label = name
        if len(group) > 1:
            for model in group:
                runs = sorted({e.run_id for e in [*model.results.values(), *model.not_scored]})
                model.label = f"{name} [{runs[-1] if runs else model.key[:6]}]"
            labels = [m.label for m in group]
            for model in group:
                if labels.count(model.label) > 1:
                    model.label = f"{model.label} #{model.key[:6]}"
    models.sort(key=lambda m: (m.label.lower(), m.key))
    for i, model in enumerate(models):
        model.colour = PALETTE[i % len(PALETTE)]
        model.symbol = SYMBOLS[(i // len(PALETTE)) % len(SYMBOLS)]
    return models


def _family_rank(family: str) -> int:
    return FAMILY_ORDER.index(family) if family in FAMILY_ORDER else len(FAMILY_ORDER)
