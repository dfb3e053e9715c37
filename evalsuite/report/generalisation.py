"""Generalisation in the report: each model's retention per domain and per language, the
worst-served variant named in words, and the scorecard's generalisation column.

The runner gives every finished record of a suite variant a ``generalisation`` block
(:mod:`evalsuite.metrics.generalisation`): retention = the variant's primary metric over the
suite reference's, with a bootstrap interval, and the gap in metric units.  This module
reads those blocks into :class:`Variant` rows with a short label (``en→gl``, ``hi``,
``social``), a long one (``English → Galician``) and a group for the figure (the card's
resource level for a language shift, else the language's script; none for a domain shift).

**The scorecard column** (:func:`group_retention`), like every aggregate of a comparison
group, covers only what the members share: the variant slots of the group's shared tasks
where every member has a retention figure against the same reference task (whose slot the
group also shares).  Its value is the **mean retention** over those variants, with the
**worst** one named beside it.  A member that does not beat chance on the reference of one
of them has *nothing to retain*: it gets no value (the others keep theirs).  The column is
not part of the usability index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import fmean

from evalsuite.report.load import Entry, Model, ReportData
from evalsuite.report.values import number
from evalsuite.results.records import Generalisation, Record
from evalsuite.text.languages import language_name, parse_language, script_name, short_tag

RESOURCE_ORDER = ("high", "mid", "low")
RULE = ("mean retention over the suite variants every member of the group has, against the "
        "same reference task; worst variant named")


@dataclass
class Variant:
    """One model's figures on one suite variant (a task slot with a generalisation block)."""

    model: Model
    slot: str
    task: str
    suite: str
    reference_task: str
    reference_slot: str | None
    metric: str
    scale: str | None
    value: float | None
    reference_value: float | None
    retention: float | None
    ci_low: float | None
    ci_high: float | None
    gap: float | None
    gap_ci_low: float | None
    gap_ci_high: float | None
    p_value: float | None
    paired: bool | None
    shift: str
    label: str  # short: en→gl, hi, social
    name: str  # long: English → Galician, Hindi, social (reviews/products)
    group: str | None  # high-resource, Ethiopic script… (language shifts only)
    group_rank: tuple[int, str]
    position: int  # place in the suite file
    beats_chance: bool | None
    reason: str | None

    @property
    def nothing_to_retain(self) -> bool:
        """The model does not beat chance on the reference task."""
        return self.beats_chance is False

    @property
    def loss_is_real(self) -> bool:
        """The whole retention interval lies below 1 (a loss the data support)."""
        return self.ci_high is not None and self.ci_high < 1.0


@dataclass
class ModelSuite:
    """One model on one suite: its variants and the reference they are measured against."""

    model: Model
    suite: str
    reference_task: str
    reference_label: str
    metric: str
    variants: list[Variant] = field(default_factory=list)

    @property
    def retained(self) -> list[Variant]:
        return [v for v in self.variants if v.retention is not None]

    @property
    def nothing_to_retain(self) -> bool:
        return any(v.nothing_to_retain for v in self.variants)

    @property
    def worst(self) -> Variant | None:
        return min(self.retained, key=lambda v: v.retention or 0.0, default=None)

    @property
    def best(self) -> Variant | None:
        return max(self.retained, key=lambda v: v.retention or 0.0, default=None)


@dataclass
class Retention:
    """The scorecard's generalisation cell of one model."""

    value: float | None  # mean retention over the variants
    worst: Variant | None
    variants: list[Variant]
    why: str = ""  # when there is no value: nothing to retain, or not measured


# -- reading the blocks -------------------------------------------------------------------------
def any_generalisation(data: ReportData) -> bool:
    """Whether any record of the report carries a generalisation block."""
    return any(e.record.generalisation is not None for _, e in data.entries())


def variants_of(data: ReportData, model: Model) -> list[Variant]:
    """The model's variant records that carry generalisation figures, in suite order."""
    order = suite_order(data)
    out = []
    for slot, entry in model.results.items():
        block = entry.record.generalisation
        if block is None or block.status is not None or not block.reference_task:
            continue
        reference = _reference_entry(model, entry, block.reference_task)
        variant = _variant(model, slot, entry, block, reference)
        variant.position = order.get((variant.suite, variant.task), len(order))
        out.append(variant)
    return sorted(out, key=lambda v: (v.suite, v.group_rank, v.position, v.slot))


def not_computed(data: ReportData) -> list[tuple[Model, Entry, Generalisation]]:
    """Variant records whose block says why there is no figure (no reference record, a
    failure)."""
    return [(m, e, e.record.generalisation) for m, e in data.entries()
            if e.record.generalisation is not None
            and e.record.generalisation.status is not None]


def suite_order(data: ReportData) -> dict[tuple[str, str], int]:
    """(suite, variant task) -> its place in the suite file (the runs' ``suites``)."""
    order: dict[tuple[str, str], int] = {}
    for run in data.runs:
        for suite in run.run.suites or []:
            for i, task in enumerate(suite.variants or []):
                order.setdefault((suite.name, task), i)
    return order


def model_suites(data: ReportData, model: Model) -> list[ModelSuite]:
    """The model's variants, one :class:`ModelSuite` per suite."""
    out: dict[str, ModelSuite] = {}
    for v in variants_of(data, model):
        ms = out.get(v.suite)
        if ms is None:
            reference = model.results.get(v.reference_slot or "")
            ref_label = (place_label(reference.record, None)[0] if reference is not None
                         else v.reference_task)
            ms = out[v.suite] = ModelSuite(model, v.suite, v.reference_task, ref_label,
                                           v.metric)
        ms.variants.append(v)
    return list(out.values())


def by_suite(data: ReportData, order: list[Model] | None = None
             ) -> dict[str, list[ModelSuite]]:
    """Suite name (sorted) -> each model's :class:`ModelSuite` on it, models in ``order``."""
    out: dict[str, list[ModelSuite]] = {}
    for model in order or data.models:
        for ms in model_suites(data, model):
            out.setdefault(ms.suite, []).append(ms)
    return dict(sorted(out.items()))


def _reference_entry(model: Model, entry: Entry, task: str) -> Entry | None:
    """The model's record of the reference task: from the variant's run when it has one."""
    found = [e for e in model.results.values() if e.task == task]
    same_run = [e for e in found if e.run is entry.run]
    return (same_run or found or [None])[0]


def _variant(model: Model, slot: str, entry: Entry, block: Generalisation,
             reference: Entry | None) -> Variant:
    record = entry.record
    label, name, group, rank = place_label(record, reference.record if reference else None,
                                           block.shift)
    metric = record.metrics.get(block.metric or "")
    return Variant(
        model=model, slot=slot, task=entry.task, suite=str(block.suite or block.reference_task),
        reference_task=str(block.reference_task),
        reference_slot=reference.slot if reference else None,
        metric=str(block.metric or record.primary_metric or ""),
        scale=str(metric.scale) if metric is not None and metric.scale else None,
        value=number(block.value), reference_value=number(block.reference_value),
        retention=number(block.retention), ci_low=number(block.ci_low),
        ci_high=number(block.ci_high), gap=number(block.gap),
        gap_ci_low=number(block.gap_ci_low), gap_ci_high=number(block.gap_ci_high),
        p_value=number(block.p_value), paired=block.paired, shift=str(block.shift or ""),
        label=label, name=name, group=group, group_rank=rank, position=0,
        beats_chance=block.beats_chance, reason=block.retention_reason)


# -- labels -------------------------------------------------------------------------------------
def place_label(record: Record, reference: Record | None, shift: str | None = None
                ) -> tuple[str, str, str | None, tuple[int, str]]:
    """A record's short label, long name, figure group and the group's sort key.

    Translation: ``en→gl`` / ``English → Galician``; another language: ``hi`` / ``Hindi``;
    a domain: the card's domain.  A language shift is grouped by the card's resource level
    (``high-resource``…), else by the script of the language that changed.
    """
    shift = shift or ""
    task_short = record.task.split("/")[-1]
    target = record.language
    if record.source_language and target:
        label = f"{short_tag(record.source_language)}→{short_tag(target)}"
        name = f"{language_name(record.source_language)} → {language_name(target)}"
        changed = target
        if reference is not None and reference.source_language and \
                short_tag(reference.source_language) != short_tag(record.source_language):
            changed = record.source_language
    elif target and ("language" in shift or not record.domain):
        label, name, changed = short_tag(target), language_name(target), target
    else:
        label = record.domain or task_short
        name, changed = label, None
    if "domain" in shift and record.domain and label != record.domain:
        label, name = f"{label} · {record.domain}", f"{name} · {record.domain}"
    if shift == "dataset":
        label, name = f"{label} ({task_short})", f"{name} ({record.task})"
    if "language" not in shift or changed is None:
        return label, name, None, (len(RESOURCE_ORDER) + 1, "")
    if record.resource_level:
        level = record.resource_level
        return label, name, f"{level}-resource", (RESOURCE_ORDER.index(level), "")
    script = parse_language(changed).script
    group = f"{script_name(script)} script" if script else "script unknown"
    return label, name, group, (len(RESOURCE_ORDER), group)


# -- words --------------------------------------------------------------------------------------
def percent(value: float | None) -> str:
    """``0.941`` → ``94%`` (one decimal under 10%); ``–`` when missing."""
    if value is None:
        return "–"
    pct = 100 * value
    return f"{pct:.1f}%" if abs(pct) < 9.95 else f"{pct:.0f}%"


def interval(v: Variant) -> str:
    """``[90–99%]`` (or nothing without an interval)."""
    if v.ci_low is None or v.ci_high is None:
        return ""
    return f" [{percent(v.ci_low).rstrip('%')}–{percent(v.ci_high)}]"


def metric_value(value: float | None, scale: str | None) -> str:
    if value is None:
        return "–"
    return f"{value:.1f}" if scale == "0-100" else f"{value:.3f}"


def sentence(ms: ModelSuite) -> str:
    """One line in words (plain text): what the model keeps, and its worst-served variant.

    ``apertium keeps 94% [90–99%] of its en→ca chrf on en→gl (a loss the interval
    supports).`` or, over several variants, ``… keeps 94% of its en→ca chrf on en→gl;
    worst: en→am, 6% [4–9%]; mean 63% over 12 variants.``
    """
    who, what = ms.model.label, f"its {ms.reference_label} {ms.metric}"
    if ms.nothing_to_retain:
        gaps = [v for v in ms.variants if v.gap is not None]
        worst_gap = max(gaps, key=lambda v: v.gap or 0.0, default=None)
        tail = (f"; largest gap: {worst_gap.label}, {metric_value(worst_gap.gap, worst_gap.scale)}"
                f" {ms.metric} below the reference" if worst_gap is not None else "")
        return (f"{who}: nothing to retain on {ms.suite}: it does not beat chance on "
                f"{ms.reference_task}{tail}.")
    retained = ms.retained
    if not retained:
        return f"{who}: no retention figure on {ms.suite} ({ms.variants[0].reason or 'none'})."
    best, worst = ms.best, ms.worst
    assert best is not None and worst is not None
    if len(retained) == 1:
        note = (" (a loss the interval supports)" if worst.loss_is_real else
                " (more than on the reference)" if (worst.ci_low or 0) > 1 else
                " (the interval includes 100%)" if worst.ci_low is not None else "")
        return (f"{who} keeps {percent(worst.retention)}{interval(worst)} of {what} on "
                f"{worst.label}{note}.")
    mean = fmean(v.retention for v in retained if v.retention is not None)
    return (f"{who} keeps {percent(best.retention)} of {what} on {best.label}; worst: "
            f"{worst.label}, {percent(worst.retention)}{interval(worst)}; mean "
            f"{percent(mean)} over {len(retained)} variants.")


# -- the scorecard column -----------------------------------------------------------------------
def group_retention(data: ReportData, models: list[Model], tasks: list[str] | None
                    ) -> dict[str, Retention]:
    """Per model key, its generalisation cell over the variants all ``models`` share among
    ``tasks`` (``None``: a model alone, over its own variants); see the module docstring."""
    rows = {m.key: {v.slot: v for v in variants_of(data, m)} for m in models}
    allowed = set(tasks) if tasks is not None else None
    shared = []
    for slot in (tasks if tasks is not None else list(rows[models[0].key])):
        found = [rows[m.key].get(slot) for m in models]
        if any(v is None for v in found):
            continue
        references = {(v.reference_task, v.reference_slot) for v in found if v is not None}
        if len(references) != 1:
            continue
        ref_slot = next(iter(references))[1]
        if allowed is not None and ref_slot not in allowed:
            continue
        if all(v is not None and (v.retention is not None or v.nothing_to_retain)
               for v in found):
            shared.append(slot)
    out = {}
    for model in models:
        mine = [rows[model.key][slot] for slot in shared]
        if not mine:
            why = ("no suite variant" if not rows[model.key] else
                   "no suite variant shared by the whole group")
            out[model.key] = Retention(None, None, [], why)
            continue
        below = sorted({v.reference_task for v in mine if v.nothing_to_retain})
        if below:
            out[model.key] = Retention(None, None, mine, "nothing to retain: does not beat "
                                       f"chance on {', '.join(below)}")
            continue
        worst = min(mine, key=lambda v: v.retention or 0.0)
        out[model.key] = Retention(fmean(v.retention for v in mine if v.retention is not None),
                                   worst, mine)
    return out


def variant_entry(v: Variant) -> dict[str, object]:
    """``tasks.<task>.generalisation`` of ``compare --format json``."""
    return {"suite": v.suite, "reference_task": v.reference_task, "label": v.label,
            "name": v.name, "group": v.group, "shift": v.shift, "metric": v.metric,
            "retention": v.retention, "ci_low": v.ci_low, "ci_high": v.ci_high,
            "gap": v.gap, "gap_ci_low": v.gap_ci_low, "gap_ci_high": v.gap_ci_high,
            "p_value": v.p_value, "paired": v.paired, "beats_chance": v.beats_chance,
            **({"retention_reason": v.reason} if v.reason else {})}


def retention_entry(cell: Retention) -> dict[str, object]:
    """``models[].generalisation`` of ``compare --format json``."""
    worst = cell.worst
    return {"value": cell.value, "rule": RULE, "variants": [v.slot for v in cell.variants],
            "worst": None if worst is None else {
                "task": worst.slot, "label": worst.label, "retention": worst.retention,
                "ci_low": worst.ci_low, "ci_high": worst.ci_high},
            "nothing_to_retain": any(v.nothing_to_retain for v in cell.variants),
            **({"note": cell.why} if cell.why else {})}
