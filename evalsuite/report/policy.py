"""The decision view: the gate's policy evaluated on every model of a report.

``evalsuite report RUN… --policy POLICY.yaml`` (and ``compare --policy``) runs the same rule
engine as ``evalsuite gate`` (:func:`evalsuite.gate.rules.evaluate`) once per model, on a
view of the results that holds only that model's records, gathered from every run of the
report.  A model passes when every rule passes on its records; otherwise the first rule it
fails (in the policy's order) and why are shown.  Like the gate, a rule that finds no figure
for a model fails for it (a model not evaluated on a task the policy names cannot pass).

Per (model, task) the gate sees one record: the slot with the most examples (the newest on a
tie); skipped and failed records are included, so a rule that reaches them fails.

The models that pass are ranked by the primary quality on the tasks they share (skill over
chance, :mod:`evalsuite.report.scoring`, with the same comparison groups and chance tiers as
the scorecard), each with its cost in real units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalsuite.report.cost import Cost, cost_of
from evalsuite.report.load import Entry, Model, ReportData
from evalsuite.report.scoring import Score, Weights, score_models
from evalsuite.results.files import RunResults
from evalsuite.results.records import Record, ResultDocument

QUALITY_ONLY = Weights({"quality": 1.0, "efficiency": 0.0, "fairness": 0.0, "safety": 0.0,
                        "robustness": 0.0}, "quality only")


@dataclass
class Verdict:
    """One model under the policy."""

    model: Model
    passed: bool
    rule: str | None = None  # the first rule it fails
    message: str | None = None
    failed_rules: int = 0
    rules: int = 0


@dataclass
class PolicyView:
    """Every model's verdict, and the passing models ranked by quality with their cost."""

    policy: Path
    verdicts: list[Verdict]
    ranked: list[Score] = field(default_factory=list)  # passing models, group by group
    costs: dict[str, Cost] = field(default_factory=dict)  # model key -> over its shared slots

    @property
    def passing(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.passed]

    @property
    def failing(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.passed]

    def verdict(self, model: Model) -> Verdict | None:
        return next((v for v in self.verdicts if v.model.key == model.key), None)


@dataclass
class ModelRun(RunResults):
    """One model's records from several runs, read as one run by the gate."""

    origins: dict[int, RunResults] = field(default_factory=dict)  # id(record) -> its run

    def predictions(self, record: Record) -> Any:
        return self.origins[id(record)].predictions(record)


def model_run(model: Model) -> ModelRun:
    """The records the gate sees for ``model`` (one per task, see the module docstring)."""
    chosen: dict[str, Entry] = {}
    for entry in model.results.values():
        best = chosen.get(entry.task)
        if best is None or (entry.record.n_examples, entry.created) > \
                (best.record.n_examples, best.created):
            chosen[entry.task] = entry
    entries = list(chosen.values()) + [e for e in model.not_scored if e.task not in chosen]
    newest = max(entries, key=lambda e: e.created)
    document = ResultDocument.model_construct(
        schema_version=newest.run.document.schema_version, run=newest.run.run,
        records=[e.record for e in entries])
    return ModelRun(path=newest.run.path, document=document,
                    origins={id(e.record): e.run for e in entries})


def evaluate_policy(data: ReportData, policy_path: Path,
                    baselines: Sequence[Path] = ()) -> PolicyView:
    """Every model of ``data`` under the policy (a ``UserError`` when the policy or a
    baseline is wrong, exactly as ``evalsuite gate``)."""
    from evalsuite.gate.policy import load_policy
    from evalsuite.gate.rules import evaluate
    from evalsuite.results.files import load_results

    policy = load_policy(policy_path)
    paths = list(baselines)
    if not paths and policy.baseline_path() is not None:
        paths = [policy.baseline_path()]  # type: ignore[list-item]
    base_runs = [load_results(p) for p in paths]
    verdicts = []
    for model in data.models:
        if not model.results and not model.not_scored:
            continue
        report = evaluate(policy, model_run(model), base_runs)
        verdict = Verdict(model, report.passed, rules=len(report.outcomes),
                          failed_rules=sum(not o.passed for o in report.outcomes))
        first = next((o for o in report.outcomes if not o.passed), None)
        if first is not None:
            verdict.rule = first.name
            check = next(iter(first.failures), None)
            verdict.message = (f"{check.label}: {check.message}" if check is not None
                               else "the rule found nothing to check")
        verdicts.append(verdict)
    view = PolicyView(policy_path, verdicts)
    passing = [v.model for v in view.passing]
    if passing:
        sub = ReportData(runs=data.runs, models=passing, tasks=data.tasks,
                         families=data.families, slots=data.slots)
        view.ranked = score_models(sub, QUALITY_ONLY)
        view.costs = {s.model.key: cost_of(s.model, s.shared) for s in view.ranked}
    return view
