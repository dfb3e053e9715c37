"""Collect the records of one or several result folders into models × task slots.

A *model* is keyed by a stable identity (``model_identity`` of its records: kind, target,
revision, weight fingerprint and output-changing options), so the same model found in two
runs is one row of the report, and two different models that share a display name are two
rows (their labels get the run id).

**Combining runs never loses or hides a record.**  Each scored record belongs to a *task
slot*: its task on one example set, identified by the card version (``task_version``), the
examples evaluated (how many, ``--limit``/``--sample`` and its seed) and the data (content
hash, or the hub fingerprint; path, config, split, revision).  A model's own settings (its
prompt, generation settings, the command it runs) say how it predicts, not what it is
compared on: a prompted LM and a classifier on the same examples share a slot.  When one
model has the same slot in several runs the newest run's record is used and the others are
listed as *replaced* with the run that replaced them (saying so when its settings differed).
Records of one task on different example sets (a full run and a later ``--limit 16`` run,
another card version) are kept side by side as distinct slots labelled by what differs, e.g.
``sentiment/starter [all 80]`` and ``sentiment/starter [first 16]``; nothing is substituted.

Every model gets one colour and one marker symbol (:data:`PALETTE`, :data:`SYMBOLS`) used by
every figure.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalsuite.errors import UserError
from evalsuite.results.files import RunResults, load_many
from evalsuite.results.records import PROBE_SECTIONS, DatasetInfo, Record, Section

# 32 colours, greedily chosen to stay apart (CIEDE2000) for normal vision and simulated
# deuteranopia, protanopia and tritanopia (Machado et al. 2009): Paul Tol's "muted" scheme
# first (the first 10 are >= 11 apart under every simulation), then farthest-point picks
# from an sRGB grid with lightness 28-82, away from the Okabe-Ito phase colours of
# report.time_split.  Each colour has a marker symbol (SYMBOL_OF): two models with the same
# symbol are >= 15 apart under every simulation, so a pair that a reader cannot tell apart by
# colour differs by its marker.
PALETTE = ("#CC6677", "#332288", "#DDCC77", "#117733", "#88CCEE", "#882255", "#44AA99",
           "#999933", "#AA4499", "#BB66FF", "#77DDBB", "#444422", "#8899BB", "#7733FF",
           "#AA5577", "#CCAA88", "#99CCCC", "#2200DD", "#CC2200", "#AABB00", "#666655",
           "#BB99FF", "#DD0055", "#778899", "#AA66BB", "#554477", "#BB8866", "#5533AA",
           "#773344", "#DD9966", "#9933CC", "#AADD00")
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "cross", "star", "triangle-down",
           "hexagon")
SYMBOL_OF = (0, 1, 2, 3, 4, 5, 6, 7, 2, 1, 3, 4, 5, 0, 7, 4, 2, 6, 1, 6, 2, 3, 6, 4, 6, 3,
             5, 7, 1, 1, 4, 0)
# Beyond 32 models the palette repeats with a bar pattern and the next symbol.
PATTERNS = ("", "/", ".", "x")
FAMILY_ORDER = ("sentiment", "ner", "qa", "similarity", "translation", "summarization")


@dataclass
class Entry:
    """One result record together with the run it came from (and its task slot)."""

    run: RunResults
    record: Record
    slot: str = ""

    @property
    def task(self) -> str:
        return self.record.task

    @property
    def status(self) -> str:
        return self.record.status

    @property
    def run_id(self) -> str:
        return str(self.run.run.id or self.run.path.name)

    @property
    def created(self) -> str:
        return str(self.run.run.created or "")


@dataclass
class Replaced:
    """A record not used because a newer run has the same model, task and example set."""

    entry: Entry
    by: Entry
    model: str

    @property
    def reason(self) -> str:
        same = ("same model and examples" if self.settings_differ
                else "same model, settings and examples")
        note = " (its settings differ: a newer evalsuite or card)" if self.settings_differ else ""
        lost = (f"; the newer record has no {', '.join(self.lost_sections)} figures, so run "
                f"{self.entry.run_id}'s are not shown (report that run alone to see them)"
                if self.lost_sections else "")
        return (f"{same} as run {self.by.run_id}, which is newer{note}: "
                f"the newest record is used{lost}")

    @property
    def lost_sections(self) -> list[str]:
        """The probe and generalisation sections the replaced record has and the newer one
        lacks (a quick rerun without ``--probes`` or ``--suite``)."""
        return [name for name in (*PROBE_SECTIONS, Section.GENERALISATION.value)
                if self.entry.record.section(name) and not self.by.record.section(name)]

    @property
    def settings_differ(self) -> bool:
        return (self.entry.record.settings or {}) != (self.by.record.settings or {})


@dataclass
class Slot:
    """A task on one example set: what a model is compared on."""

    id: str
    task: str
    family: str
    signature: str
    variant: str | None = None  # what differs from the task's other slots (None: only one)
    n_examples: int | None = None


@dataclass
class Model:
    """One model of the report: its identity, label, colour and per-slot records."""

    key: str
    name: str
    label: str = ""
    colour: str = PALETTE[0]
    symbol: str = SYMBOLS[0]
    pattern: str = ""
    identity: dict[str, Any] = field(default_factory=dict)
    spec: str | None = None
    kind: str | None = None
    results: dict[str, Entry] = field(default_factory=dict)  # slot id -> ok record
    not_scored: list[Entry] = field(default_factory=list)  # skipped / failed records

    @property
    def dtype(self) -> str | None:
        """The numeric precision the model ran in (``None`` when unknown)."""
        dtype = (self.identity.get("options") or {}).get("dtype")
        if not dtype:
            for entry in self.results.values():
                efficiency = entry.record.efficiency
                dtype = efficiency.dtype if efficiency is not None else None
                if dtype:
                    break
        techniques = {e.record.efficiency.quantization for e in self.results.values()
                      if e.record.efficiency is not None and e.record.efficiency.quantization}
        if dtype == "int8" and len(techniques) == 1:  # two int8 techniques: name which
            return f"int8 ({techniques.pop()})"
        return None if dtype in (None, "", "n/a", "auto") else str(dtype)

    @property
    def other_device_variants(self) -> dict[str, str]:
        """Its precision variants that ran a task on another device (name → device)."""
        out: dict[str, str] = {}
        for entry in self.results.values():
            efficiency = entry.record.efficiency
            if efficiency is not None and efficiency.variants_on_other_devices:
                out.update(efficiency.variants_on_other_devices)
        return out

    @property
    def variant_of(self) -> tuple[str, str, str] | None:
        """What its precision variants share: (kind, target, revision)."""
        if not self.identity.get("target"):
            return None
        return (str(self.identity.get("kind")), str(self.identity["target"]),
                str(self.identity.get("revision")))

    @property
    def fixed_outputs(self) -> bool:
        """Outputs read from a file (``predictions:``): no cost was measured."""
        return self.kind == "predictions" or (bool(self.results) and all(
            "efficiency" in e.record.model_fields_set and e.record.efficiency is None
            for e in self.results.values()))


@dataclass
class ReportData:
    """Everything the report and ``compare`` draw from."""

    runs: list[RunResults]
    models: list[Model]
    tasks: list[str]  # slot ids, by family then task
    families: dict[str, str]  # slot id -> family
    slots: dict[str, Slot] = field(default_factory=dict)
    replaced: list[Replaced] = field(default_factory=list)
    # skipped/failed records of a (model, task) that has a scored record, or an older
    # failure of one that has none (model name, record)
    attempts: list[tuple[str, Entry]] = field(default_factory=list)

    @property
    def superseded(self) -> list[Entry]:
        """Records not used: replaced by a newer run, or failed attempts beside a score."""
        return [r.entry for r in self.replaced] + [e for _, e in self.attempts]

    def entries(self, task: str | None = None) -> Iterator[tuple[Model, Entry]]:
        """(model, ok record) pairs, optionally of one slot."""
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


# -- example sets ---------------------------------------------------------------------------------
def example_set(record: Record) -> dict[str, Any]:
    """What makes two records of a task comparable: card version, examples and data."""
    ds = record.dataset or DatasetInfo()
    data = ds.content_sha256 or (ds.fingerprint if ds.source == "hub" else None)
    return {"task_version": record.task_version,
            "n": record.n_examples, "n_total": ds.n_total,
            "limit": ds.limit, "sample": ds.sample, "seed": ds.seed if ds.sample else None,
            "data": data, "where": [ds.path, ds.name, ds.split, ds.revision]}


def signature(record: Record) -> str:
    """A short hash of :func:`example_set`."""
    blob = json.dumps(example_set(record), sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:10]


def _examples_text(s: dict[str, Any]) -> str:
    n, total = s.get("n"), s.get("n_total")
    if s.get("sample"):
        return f"sample {n} (seed {s.get('seed')})"
    if total is not None and n is not None and n < total:
        return f"first {n}"
    return f"all {n}" if n is not None else "examples ?"


def variant_labels(sets: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Signature -> a short label naming what differs between a task's example sets."""
    def differs(key: str) -> bool:
        return len({json.dumps(s.get(key), sort_keys=True, default=str)
                    for s in sets.values()}) > 1

    labels = {}
    for sig, s in sets.items():
        parts = []
        if any(differs(k) for k in ("n", "n_total", "limit", "sample", "seed")):
            parts.append(_examples_text(s))
        if differs("task_version"):
            parts.append(f"card {s.get('task_version')}")
        if differs("data") or differs("where"):
            parts.append(f"data {str(s.get('data') or sig)[:8]}")
        labels[sig] = ", ".join(parts) or sig[:8]
    if len(set(labels.values())) < len(labels):  # still ambiguous: add the signature
        labels = {sig: f"{label} #{sig[:6]}" for sig, label in labels.items()}
    return labels


# -- loading ------------------------------------------------------------------------------------
def load_report_data(paths: Iterable[str | Path]) -> ReportData:
    """Load every run under ``paths`` and group its records by model identity."""
    paths = list(paths)
    if not paths:
        raise UserError("name at least one result folder", where="RESULTS")
    return collect(load_many(paths))


def collect(runs: list[RunResults]) -> ReportData:
    """Group the records of ``runs`` by model and task slot (newest run first wins)."""
    runs = sorted(_unique_runs(runs), key=lambda r: (str(r.run.created), str(r.run.id)))
    models: dict[str, Model] = {}
    families: dict[str, str] = {}
    scored: dict[tuple[str, str, str], Entry] = {}  # (model, task, signature) -> newest
    replaced: list[Replaced] = []
    failed: dict[tuple[str, str], list[Entry]] = {}
    for run in runs:
        keys = _run_model_keys(run)
        for record in run.records:
            entry = Entry(run, record)
            key = keys[record.model]
            model = models.get(key)
            identity = record.model_identity.to_dict() if record.model_identity else {}
            if model is None:
                model = models[key] = Model(key=key, name=record.model, identity=identity,
                                            spec=record.model_spec, kind=record.model_kind)
            if identity and not model.identity:
                model.identity = identity
            families.setdefault(entry.task, str(record.family))
            if entry.status == "ok":
                at = (key, entry.task, signature(record))
                if at in scored:
                    replaced.append(Replaced(scored[at], entry, model.name))
                scored[at] = entry
            else:
                failed.setdefault((key, entry.task), []).append(entry)
    if not models:
        raise UserError("the result files hold no (model, task) records", where="RESULTS")
    slots = _slots(scored, families)
    for (key, task, sig), entry in scored.items():
        slot = slots[(task, sig)]
        entry.slot = slot.id
        models[key].results[slot.id] = entry
    attempts: list[tuple[str, Entry]] = []
    for (key, task), entries in failed.items():
        if any(k[0] == key and k[1] == task for k in scored):
            attempts += [(models[key].name, e) for e in entries]  # a score exists: listed
        else:
            models[key].not_scored.append(entries[-1])  # the newest attempt's reason
            attempts += [(models[key].name, e) for e in entries[:-1]]
    ordered = _label_and_colour(list(models.values()))
    by_id = {s.id: s for s in slots.values()}
    tasks = sorted(by_id, key=lambda sid: (_family_rank(by_id[sid].family), by_id[sid].task,
                                           -(by_id[sid].n_examples or 0), sid))
    for model in ordered:
        model.results = {t: model.results[t] for t in tasks if t in model.results}
    return ReportData(runs=runs, models=ordered, tasks=tasks,
                      families={t: by_id[t].family for t in tasks}, slots=by_id,
                      replaced=replaced, attempts=attempts)


def _slots(scored: dict[tuple[str, str, str], Entry], families: dict[str, str]
           ) -> dict[tuple[str, str], Slot]:
    """One slot per (task, example set); a task with several sets gets labelled slots."""
    sets: dict[str, dict[str, dict[str, Any]]] = {}
    sizes: dict[tuple[str, str], int | None] = {}
    for (_, task, sig), entry in scored.items():
        sets.setdefault(task, {})[sig] = example_set(entry.record)
        sizes[(task, sig)] = entry.record.n_examples
    out = {}
    for task, by_sig in sets.items():
        labels = variant_labels(by_sig) if len(by_sig) > 1 else {}
        for sig in by_sig:
            variant = labels.get(sig)
            sid = f"{task} [{variant}]" if variant else task
            out[(task, sig)] = Slot(sid, task, families[task], sig, variant,
                                    sizes[(task, sig)])
    return out


def _unique_runs(runs: list[RunResults]) -> list[RunResults]:
    seen: set[Path] = set()
    out = []
    for run in runs:
        path = run.path.resolve()
        if path not in seen:
            seen.add(path)
            out.append(run)
    return out


def _run_model_keys(run: RunResults) -> dict[str, str]:
    """Display name -> identity key within one run (names are unique in a run)."""
    identities: dict[str, dict[str, Any]] = {}
    specs: dict[str, str] = {}
    for record in run.records:
        name = record.model
        if record.model_identity and name not in identities:
            identities[name] = record.model_identity.to_dict()
        specs.setdefault(name, str(record.model_spec or name))
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
        model.colour, model.symbol, model.pattern = style_of(i)
    return models


def style_of(i: int) -> tuple[str, str, str]:
    """The ``i``-th model's colour, marker symbol and bar pattern."""
    cycle, slot = divmod(i, len(PALETTE))
    symbol = SYMBOLS[(SYMBOL_OF[slot] + cycle) % len(SYMBOLS)]
    return PALETTE[slot], symbol, PATTERNS[cycle % len(PATTERNS)]


def _family_rank(family: str) -> int:
    return FAMILY_ORDER.index(family) if family in FAMILY_ORDER else len(FAMILY_ORDER)
