"""Evaluating a policy's rules on a run (and its baseline runs) into checks and a verdict.

One rule expands (:mod:`evalsuite.gate.paths`) into one *check* per figure it names; a figure
the results lack is a failing check.  The rule kinds:

* **threshold**: ``value <op> threshold`` on the point value or an interval bound.
* **regression**: ``drop = baseline - candidate`` (for higher-is-better figures; the other
  way round otherwise) must not exceed the allowed drop.  For metrics with per-example
  statistics in the predictions files the drop is measured on the examples both runs share
  (aligned by id) and the rule fails only when the drop exceeds the allowance *and* a paired
  test (:mod:`evalsuite.metrics.significance`, permutation or bootstrap) finds it
  significant: one-sided ``p < alpha``, where the one-sided p-value of a drop is half the
  test's two-sided p-value (both tests' null distributions are symmetric about zero).
  Figures without per-example statistics (bias, safety, robustness, or a run whose
  predictions file is gone) are compared on their recorded values and the message says so.
* **efficiency**: the candidate's figure against the median of the baseline runs' figures;
  it fails when the slowdown exceeds ``max_slowdown`` plus the measurement noise, which is
  the rule's ``noise`` or, with several baseline runs, the relative spread
  ``(max - min) / median`` of their measurements, whichever is larger.  A result file holds
  one measurement per (model, task): percentiles over its batches (``latency_ms``,
  ``latency_per_example_ms``), ``examples_per_s`` over the timed prediction,
  ``peak_memory_mb``, ``load_s`` and the ``device``; batches are length-sorted, so the
  spread between percentiles reflects input lengths rather than noise and is not used.
  Repeated measurements come from repeated runs, given as several ``--baseline`` folders.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import numpy as np

from evalsuite.errors import EXIT_FAILED, EXIT_OK, UserError
from evalsuite.gate.paths import Expansion, Figure, as_number, expand, model_selected
from evalsuite.gate.policy import EfficiencyRule, Policy, RegressionRule, ThresholdRule
from evalsuite.results.files import RunResults
from evalsuite.results.records import PROBE_SECTIONS, Block, DatasetInfo, Record, Section
from evalsuite.utils import p_value_text

# Efficiency figures and whether higher is better (keyed by the first key under efficiency).
EFFICIENCY_DIRECTION = {
    "examples_per_s": True, "tokens_per_s": True, "generated_tokens_per_s": True,
    "latency_ms": False, "latency_per_example_ms": False, "peak_memory_mb": False,
    "model_memory_mb": False,
    "load_s": False, "wall_s": False, "weight_bytes": False, "params": False,
    "hit_length_limit_rate": False, "oom_splits": False,
}
# Generalisation figures (suite variants) and whether higher is better.
GENERALISATION_DIRECTION = {
    "retention": True, "ci_low": True, "ci_high": True, "value": True,
    "gap": False, "gap_ci_low": False, "gap_ci_high": False,
}


# -- results of a gate ---------------------------------------------------------------------------
@dataclass
class Check:
    """One figure checked by one rule."""

    rule: str
    kind: str
    figure: str
    passed: bool
    model: str | None = None
    task: str | None = None
    value: float | None = None
    expected: str = ""  # the threshold, or the baseline and what is allowed
    baseline: float | None = None
    limit: float | None = None  # the number the value was compared with
    delta: float | None = None  # candidate - baseline (on shared examples when paired)
    p_value: float | None = None  # one-sided, for a drop
    test: str | None = None
    n_shared: int | None = None
    message: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``model · figure`` (just the figure when no model is involved)."""
        return f"{self.model} · {self.figure}" if self.model else self.figure

    @property
    def verdict(self) -> str:
        return "pass" if self.passed else "FAIL"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RuleOutcome:
    """A rule and its checks; it passes when it has checks and all of them pass."""

    index: int
    name: str
    kind: str
    scope: str
    describe: str
    checks: list[Check]
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "name": self.name, "kind": self.kind, "figure": self.scope,
                "condition": self.describe, "passed": self.passed,
                "checks": [c.to_dict() for c in self.checks]}


@dataclass
class GateReport:
    """Everything one gate decided: the verdict, each rule's checks and notes."""

    results: Path
    baselines: list[Path]
    policy: Path | None
    alpha: float
    test: str
    outcomes: list[RuleOutcome]
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.passed else EXIT_FAILED

    @property
    def checks(self) -> list[Check]:
        return [c for o in self.outcomes for c in o.checks]

    def to_dict(self) -> dict[str, Any]:
        checks = self.checks
        return {
            "passed": self.passed,
            "exit_code": self.exit_code,
            "results": str(self.results),
            "baselines": [str(b) for b in self.baselines],
            "policy": str(self.policy) if self.policy else None,
            "alpha": self.alpha,
            "test": self.test,
            "summary": {"rules": len(self.outcomes),
                        "rules_failed": sum(not o.passed for o in self.outcomes),
                        "checks": len(checks),
                        "checks_failed": sum(not c.passed for c in checks)},
            "notes": self.notes,
            "rules": [o.to_dict() for o in self.outcomes],
        }


# -- the paired regression test -----------------------------------------------------------------
@dataclass
class RegressionTest:
    """A paired comparison of candidate and baseline on their shared examples."""

    delta: float  # candidate - baseline
    drop: float  # in the harmful direction: > 0 means worse
    allowed: float
    baseline_value: float
    p_value: float | None  # one-sided, for a drop
    exceeds: bool
    significant: bool

    @property
    def failed(self) -> bool:
        return self.exceeds and self.significant


def regression_test(metric: Any, stats_candidate: np.ndarray, stats_baseline: np.ndarray, *,
                    max_drop: float | None = None, max_drop_relative: float | None = None,
                    alpha: float = 0.05, test: str = "permutation", resamples: int = 2000,
                    seed: int = 0, higher_is_better: bool | None = None) -> RegressionTest:
    """The gate's regression check on aligned per-example statistics (rows = shared examples).

    Fails (``.failed``) when the drop exceeds the allowance and the one-sided p-value of the
    paired ``test`` is below ``alpha``.
    """
    from evalsuite.metrics.significance import paired_bootstrap, paired_permutation

    higher = metric.higher_is_better if higher_is_better is None else higher_is_better
    if test == "bootstrap":
        res = paired_bootstrap(metric, stats_candidate, stats_baseline, resamples, seed)
    else:
        res = paired_permutation(metric, stats_candidate, stats_baseline, resamples, seed)
    delta = float(res["delta"])
    base_value = float(metric.value(np.asarray(stats_baseline, dtype=np.float64)))
    drop = -delta if higher else delta
    allowed = (abs(base_value) * max_drop_relative if max_drop_relative is not None
               else (max_drop or 0.0))
    two_sided = res.get("p_value")
    p_value = None
    if two_sided is not None:
        p_value = two_sided / 2 if drop > 0 else 1 - two_sided / 2
    significant = p_value is not None and p_value < alpha
    return RegressionTest(delta=delta, drop=drop, allowed=allowed, baseline_value=base_value,
                          p_value=p_value, exceeds=bool(drop > allowed),
                          significant=significant)


# -- evaluating a policy -------------------------------------------------------------------------
class _Stats:
    """Per-example statistics from predictions files, read once per (run, model, task)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, str, str], dict[str, dict[str, Any]] | None] = {}

    def rows(self, run: RunResults, record: Record) -> dict[str, dict[str, Any]] | None:
        key = (id(run), record.model, record.task)
        if key not in self._cache:
            try:
                rows = {str(r["id"]): r.get("stats") or {} for r in run.predictions(record)}
            except (OSError, ValueError, KeyError):
                rows = None
            self._cache[key] = rows or None
        return self._cache[key]


def evaluate(policy: Policy, results: RunResults, baselines: Sequence[RunResults] = ()
             ) -> GateReport:
    """Check every rule of ``policy`` on ``results`` (against ``baselines``)."""
    if policy.needs_baseline and not baselines:
        kinds = sorted({r.kind for r in policy.rules if r.kind != "threshold"})
        raise UserError(f"the policy has {' and '.join(kinds)} rules but no baseline run; pass "
                        "--baseline RUN_FOLDER or set 'baseline:' in the policy",
                        where=str(policy.source or "policy"))
    notes = _check_comparable(policy, results, baselines)
    stats = _Stats()
    outcomes = []
    for index, (rule, name) in enumerate(zip(policy.rules, policy.rule_names(), strict=True)):
        start = time.perf_counter()
        if isinstance(rule, ThresholdRule):
            checks = _threshold_checks(rule, name, results)
        elif isinstance(rule, RegressionRule):
            checks = _regression_checks(rule, name, index, policy, results, baselines[0],
                                        stats)
        else:
            checks = _efficiency_checks(rule, name, index, policy, results, baselines)
        for check in checks:
            check.notes += notes.get(check.task or "", [])
        outcomes.append(RuleOutcome(index, name, rule.kind, rule.scope(), rule.describe(),
                                    checks, time.perf_counter() - start))
    all_notes = sorted({n for task_notes in notes.values() for n in task_notes})
    return GateReport(results=results.path, baselines=[b.path for b in baselines],
                      policy=policy.source, alpha=policy.alpha, test=policy.test,
                      outcomes=outcomes, notes=all_notes)


def _missing_checks(rule: Any, name: str, exp: Expansion, runs: str = "results"
                    ) -> list[Check]:
    checks = [Check(name, rule.kind, m.address, False, model=m.model, task=m.task,
                    expected=rule.describe(), message=f"missing: {m.reason}")
              for m in exp.missing]
    if not exp.figures and not exp.missing:
        what = (f"no (model, task) record in the {runs} matches task '{rule.pattern.task}'"
                + (f" and models {rule.model_globs}" if rule.model_globs else "")
                if exp.n_records == 0 else f"no figure in the {runs} matches")
        checks.append(Check(name, rule.kind, rule.figure, False, expected=rule.describe(),
                            message=f"missing: {what} (a gate never passes by omission)"))
    return checks


def _why_null(fig: Figure) -> str:
    """The record's own reason for a null generalisation figure (e.g. no retention: the
    model does not beat chance on the reference), as a suffix; else nothing."""
    block = fig.record.generalisation
    reason = getattr(block, "retention_reason", None) if ".generalisation." in fig.address \
        else None
    return f": {reason}" if reason else ""


def _not_a_number(value: Any) -> str:
    if value is None:
        return "null (not computed)"
    if isinstance(value, Block):
        value = value.present()
    if isinstance(value, dict):
        return f"a group ({', '.join(map(str, value))}), not a number; address one of them"
    if isinstance(value, str):
        value = str(value)  # a scale or other enum member: its text
    return f"{type(value).__name__} {value!r}, not a number"


# -- threshold ----------------------------------------------------------------------------------
def compare(value: float, op: str, threshold: float, tolerance: float | None = None) -> bool:
    """``value <op> threshold``; ``==`` holds within ``tolerance`` (default 1e-9)."""
    if op == "<":
        return value < threshold
    if op == "<=":
        return value <= threshold
    if op == ">":
        return value > threshold
    if op == ">=":
        return value >= threshold
    if op == "==":
        return abs(value - threshold) <= (1e-9 if tolerance is None else tolerance)
    raise ValueError(f"unknown op {op!r}")


def _threshold_checks(rule: ThresholdRule, name: str, results: RunResults) -> list[Check]:
    exp = expand(rule.pattern, rule.model_globs, results.records)
    checks = _missing_checks(rule, name, exp)
    for fig in exp.figures:
        raw, address = fig.bound(rule.bound)
        value = as_number(raw)
        check = Check(name, "threshold", address, False, model=fig.model, task=fig.task,
                      value=value, expected=rule.describe(), limit=rule.threshold)
        if value is None:
            check.message = f"missing: {address} is {_not_a_number(raw)}{_why_null(fig)}"
        else:
            check.passed = compare(value, rule.op, rule.threshold, rule.tolerance)
            if not check.passed:
                check.message = f"{value:.6g} is not {rule.describe()}"
        checks.append(check)
    return checks


# -- regression ---------------------------------------------------------------------------------
def _baseline_expansion(rule: Any, baseline: RunResults
                        ) -> tuple[dict[tuple[str, str, tuple[str, ...]], Figure],
                                   dict[tuple[str, str], set[tuple[str, ...]]]]:
    exp = expand(rule.pattern, rule.model_globs, baseline.records)
    lookup = {(f.model, f.task, f.keys): f for f in exp.figures}
    expected: dict[tuple[str, str], set[tuple[str, ...]]] = {}
    for f in exp.figures:
        expected.setdefault((f.model, f.task), set()).add(f.keys)
    return lookup, expected


def _gone_checks(rule: Any, name: str, results: RunResults,
                 expected: dict[tuple[str, str], set[tuple[str, ...]]]) -> list[Check]:
    """Failing checks for (model, task) records the baseline has and the results lack."""
    present = {r.key for r in results.records}
    return [Check(name, rule.kind, rule.pattern.address(task, sorted(keys)[0]), False,
                  model=model, task=task,
                  message=f"missing: the results have no record of {model} · {task}, "
                          "which the baseline has")
            for (model, task), keys in sorted(expected.items()) if (model, task) not in present]


def _figure_checks(rule: RegressionRule | EfficiencyRule, name: str, results: RunResults,
                   expected: dict[tuple[str, str], set[tuple[str, ...]]]
                   ) -> tuple[list[Check], list[tuple[Figure, Check]]]:
    """A rule's checks against baselines: those of figures missing from the results or gone
    since the baselines, then one undecided (failing) check per figure of the results, also
    returned with its figure for the caller to decide."""
    exp = expand(rule.pattern, rule.model_globs, results.records, expected=expected)
    checks = _missing_checks(rule, name, exp) + _gone_checks(rule, name, results, expected)
    pending = [(fig, Check(name, rule.kind, fig.address, False, model=fig.model,
                           task=fig.task, value=as_number(fig.value))) for fig in exp.figures]
    return checks + [check for _, check in pending], pending


def _new_figure(rule: RegressionRule | EfficiencyRule, check: Check, why: str) -> None:
    """Decide the check of a figure no baseline has: it passes with ``allow_new``."""
    check.passed = rule.allow_new
    check.message = (f"new figure: {why}" + (" (allowed: allow_new)" if rule.allow_new else
                                             "; set allow_new: true to accept new figures"))


def _direction(rule: RegressionRule | EfficiencyRule, index: int, fig: Figure,
               metric: Any, where: str) -> bool:
    """Whether higher is better for ``fig``: the rule's word, else the metric or figure kind."""
    if rule.higher_is_better is not None:
        return rule.higher_is_better
    section = fig.address[len(fig.task) + 1:].split(".")[0]
    if section == Section.METRICS and metric is not None:
        return bool(metric.higher_is_better)
    if section == Section.EFFICIENCY and fig.keys[0] in EFFICIENCY_DIRECTION:
        return EFFICIENCY_DIRECTION[fig.keys[0]]
    last = fig.keys[-1]
    if section in PROBE_SECTIONS and (last.endswith(("gap", "rate", "drop"))):
        return False
    if section == Section.GENERALISATION and last in GENERALISATION_DIRECTION:
        return GENERALISATION_DIRECTION[last]
    raise UserError(f"field 'rules[{index}].higher_is_better': cannot tell whether higher is "
                    f"better for '{fig.address}'; set higher_is_better: true or false",
                    where=where)


def _metric_of(fig: Figure) -> Any:
    """The registered metric a ``<task>.metrics.<name>.value`` figure belongs to, if any."""
    if fig.address[len(fig.task) + 1:].split(".")[0] != Section.METRICS or len(fig.keys) != 2 \
            or fig.keys[1] != "value":
        return None
    from evalsuite.metrics import registry

    try:
        return registry.get(fig.keys[0], fig.record.family)
    except (KeyError, ValueError):
        return None


def _regression_checks(rule: RegressionRule, name: str, index: int, policy: Policy,
                       results: RunResults, baseline: RunResults, stats: _Stats
                       ) -> list[Check]:
    lookup, expected = _baseline_expansion(rule, baseline)
    checks, pending = _figure_checks(rule, name, results, expected)
    for fig, check in pending:
        base = lookup.get((fig.model, fig.task, fig.keys))
        if base is None:
            _new_figure(rule, check, "the baseline lacks it")
            continue
        check.baseline = as_number(base.value)
        if check.value is None or check.baseline is None:
            side = "results" if check.value is None else "baseline"
            raw = fig.value if check.value is None else base.value
            check.message = f"missing: the {side} value is {_not_a_number(raw)}"
            continue
        metric = _metric_of(fig)
        higher = _direction(rule, index, fig, metric, str(policy.source or "policy"))
        paired = None
        if rule.significance and metric is not None:
            paired = _paired(rule, policy, metric, fig, base, results, baseline, stats, check,
                             higher)
            if paired is False:
                continue  # a failing check (no shared examples)
        if paired is None:
            _point_regression(rule, check, higher)
        else:
            _paired_verdict(policy, check, paired, higher)
    return checks


def _paired(rule: RegressionRule, policy: Policy, metric: Any, fig: Figure, base: Figure,
            results: RunResults, baseline: RunResults, stats: _Stats, check: Check,
            higher: bool) -> RegressionTest | bool | None:
    """The paired test on shared examples; ``None`` when the statistics are not there."""
    name = metric.name
    cand_rows = stats.rows(results, fig.record)
    base_rows = stats.rows(baseline, base.record)
    for side, rows in (("results", cand_rows), ("baseline", base_rows)):
        if not rows or not any(name in r for r in rows.values()):
            check.notes.append(f"no per-example statistics of {name} in the {side}' "
                               "predictions file; decided on the recorded values without a "
                               "significance test")
            return None
    assert cand_rows is not None and base_rows is not None
    shared = [i for i in cand_rows if i in base_rows
              and name in cand_rows[i] and name in base_rows[i]]
    if not shared:
        check.message = ("missing: the results and the baseline share no scored example ids "
                         f"({len(cand_rows)} vs {len(base_rows)} examples)")
        return False
    check.n_shared = len(shared)
    if len(shared) < max(len(cand_rows), len(base_rows)):
        check.notes.append(f"paired on {len(shared)} shared examples (results "
                           f"{len(cand_rows)}, baseline {len(base_rows)})")
    try:
        a = np.asarray([cand_rows[i][name] for i in shared], dtype=np.float64)
        b = np.asarray([base_rows[i][name] for i in shared], dtype=np.float64)
        return regression_test(metric, a, b, max_drop=rule.max_drop,
                               max_drop_relative=rule.max_drop_relative, alpha=policy.alpha,
                               test=policy.test, resamples=policy.resamples,
                               seed=policy.seed, higher_is_better=higher)
    except ValueError as exc:  # statistics of different shapes (a changed label set…)
        check.notes.append(f"paired test impossible ({exc}); decided on the recorded values")
        return None


def _allowed(rule: RegressionRule, base_value: float) -> float:
    if rule.max_drop_relative is not None:
        return abs(base_value) * rule.max_drop_relative
    return rule.max_drop or 0.0


def _point_regression(rule: RegressionRule, check: Check, higher: bool) -> None:
    assert check.value is not None and check.baseline is not None
    check.delta = check.value - check.baseline
    drop = -check.delta if higher else check.delta
    allowed = _allowed(rule, check.baseline)
    check.limit = check.baseline - allowed if higher else check.baseline + allowed
    check.expected = f"{check.baseline:.6g} (drop ≤ {allowed:.3g})"
    check.passed = not drop > allowed
    if not rule.significance:
        check.notes.append("significance test off for this rule")
    elif not any("per-example" in n or "paired test" in n for n in check.notes):
        check.notes.append("no per-example statistics for this figure; decided on the "
                           "recorded values without a significance test")
    if not check.passed:
        check.message = f"dropped by {drop:.4g} from {check.baseline:.6g}, more than {allowed:.3g}"


def _paired_verdict(policy: Policy, check: Check, t: RegressionTest, higher: bool) -> None:
    check.delta, check.p_value, check.test = t.delta, t.p_value, policy.test
    if not math.isfinite(t.delta):
        check.delta = None
        check.message = (f"missing: the metric is undefined on the {check.n_shared} shared "
                         "examples of the two runs")
        return
    check.limit = t.baseline_value - t.allowed if higher else t.baseline_value + t.allowed
    check.expected = f"{check.baseline:.6g} (drop ≤ {t.allowed:.3g})"
    check.passed = not t.failed
    p = "p = n/a" if t.p_value is None else p_value_text(t.p_value)
    shared = f" on {check.n_shared} shared examples"
    if t.failed:
        check.message = (f"dropped by {t.drop:.4g}{shared}, more than {t.allowed:.3g}, "
                         f"significant ({p} < α = {policy.alpha:g})")
    elif t.exceeds:
        check.notes.append(f"dropped by {t.drop:.4g}{shared}, more than {t.allowed:.3g}, but "
                           f"not significant ({p} ≥ α = {policy.alpha:g})")


# -- efficiency ---------------------------------------------------------------------------------
def _efficiency_checks(rule: EfficiencyRule, name: str, index: int, policy: Policy,
                       results: RunResults, baselines: Sequence[RunResults]) -> list[Check]:
    lookups, expected = [], {}
    for base in baselines:
        lookup, exp_b = _baseline_expansion(rule, base)
        lookups.append(lookup)
        for key, keys in exp_b.items():
            expected.setdefault(key, set()).update(keys)
    checks, pending = _figure_checks(rule, name, results, expected)
    for fig, check in pending:
        key = (fig.model, fig.task, fig.keys)
        base_runs = [run for run, lk in zip(baselines, lookups, strict=True) if key in lk]
        bases = [lk[key] for lk in lookups if key in lk]
        values = [v for v in (as_number(b.value) for b in bases) if v is not None]
        if not bases:
            _new_figure(rule, check, "no baseline run has it")
            continue
        if check.value is None or not values:
            side = "results" if check.value is None else "baseline"
            check.message = f"missing: the {side} value is null (not measured)"
            continue
        devices = _devices(fig, bases)
        if rule.require_same_device and devices:
            check.message = (f"not comparable: measured on {devices[0]}, baseline on "
                             f"{devices[1]} (set require_same_device: false to compare)")
            continue
        _efficiency_verdict(rule, index, check, fig, values, bases,
                            str(policy.source or "policy"))
        if len({_hardware(run) for run in (results, *base_runs)}) > 1:
            check.notes.append("measured on different hardware")
    return checks


def _device(record: Record) -> str | None:
    return record.efficiency.device if record.efficiency else None


def _devices(fig: Figure, bases: list[Figure]) -> tuple[str, str] | None:
    mine = _device(fig.record)
    for b in bases:
        theirs = _device(b.record)
        if mine and theirs and str(mine) != str(theirs):
            return str(mine), str(theirs)
    return None


def _efficiency_verdict(rule: EfficiencyRule, index: int, check: Check, fig: Figure,
                        values: list[float], bases: list[Figure], where: str) -> None:
    assert check.value is not None
    higher = _direction(rule, index, fig, None, where)
    base = statistics.median(values)
    spread = (max(values) - min(values)) / base if len(values) > 1 and base > 0 else None
    noise = max(rule.noise, spread or 0.0)
    allowance = rule.max_slowdown + noise
    check.baseline, check.delta = base, check.value - base
    value = check.value
    if higher:
        check.limit = base / (1 + allowance)
        slowdown = base / value - 1 if value > 0 else float("inf")
        check.passed = value >= check.limit
    else:
        check.limit = base * (1 + allowance)
        slowdown = value / base - 1 if base > 0 else (0.0 if value <= 0 else float("inf"))
        check.passed = value <= check.limit
    runs = f"median of {len(values)} runs" if len(values) > 1 else "1 run"
    noise_src = (f"spread {spread:.1%}" if spread is not None and spread >= rule.noise
                 else f"noise {rule.noise:.1%}")
    check.expected = (f"{base:.4g} ({runs}; {'≥' if higher else '≤'} {check.limit:.4g})")
    if any(b.record.efficiency and b.record.efficiency.source == "cache"
           for b in [fig, *bases]):
        check.notes.append("some timings were copied from the prediction cache, not re-measured")
    if not check.passed:
        check.message = (f"{slowdown:.1%} slower than the baseline ({value:.4g} vs {base:.4g}), "
                         f"more than {allowance:.1%} ({rule.max_slowdown:.1%} allowed + "
                         f"{noise_src})")


def _hardware(run: RunResults) -> tuple[Any, ...]:
    """What identifies a run's machine for timing purposes."""
    hw = run.run.hardware
    if hw is None:
        return (None, None, ())
    return (hw.machine, hw.cpu_count, tuple(g.name for g in hw.gpus or []))


# -- comparability ------------------------------------------------------------------------------
def record_differences(candidate: Record, baseline: Record) -> list[str]:
    """Why two records of a task are not comparable (empty when they are).

    Compared: ``task_version`` (card version + card hash); the dataset's ``path``, ``name``,
    ``split`` and ``revision``; ``content_sha256`` when both have one; the datasets-library
    ``fingerprint`` only when both were loaded from the hub (for local files it depends on
    the file's path and modification time, so it differs between machines).
    """
    out = []
    if candidate.task_version != baseline.task_version:
        out.append(f"task_version {baseline.task_version} (baseline) vs "
                   f"{candidate.task_version} (results)")
    a, b = candidate.dataset or DatasetInfo(), baseline.dataset or DatasetInfo()
    for key in ("path", "name", "split", "revision"):
        if (candidate.dataset or baseline.dataset) and getattr(a, key) != getattr(b, key):
            out.append(f"dataset {key} {getattr(b, key)} (baseline) vs {getattr(a, key)} "
                       "(results)")
    if a.content_sha256 and b.content_sha256 and a.content_sha256 != b.content_sha256:
        out.append("dataset content differs (content_sha256)")
    if a.source == b.source == "hub" and a.fingerprint and b.fingerprint \
            and a.fingerprint != b.fingerprint:
        out.append(f"dataset fingerprint {b.fingerprint} (baseline) vs "
                   f"{a.fingerprint} (results)")
    return out


def _check_comparable(policy: Policy, results: RunResults, baselines: Sequence[RunResults]
                      ) -> dict[str, list[str]]:
    """Refuse (``UserError``) baselines whose tasks differ in version or data, unless allowed.

    Only (model, task) records that a regression or efficiency rule compares are checked.
    Returns per-task notes when the policy allows the mismatch.
    """
    compared = [r for r in policy.rules if r.kind != "threshold"]
    pairs = {rec.key for rule in compared for rec in results.records
             if rec.ok and model_selected(rec.model, rule.model_globs)
             and fnmatchcase(rec.task, rule.pattern.task)}
    candidate = {r.key: r for r in results.records}
    notes: dict[str, list[str]] = {}
    for base in baselines:
        base_records = {r.key: r for r in base.records if r.ok}
        problems = [(task, diff) for (model, task) in sorted(pairs)
                    if (model, task) in base_records
                    for diff in record_differences(candidate[(model, task)],
                                                   base_records[(model, task)])]
        problems = list(dict.fromkeys(problems))
        if problems and not policy.allow_version_mismatch:
            task, diff = problems[0]
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise UserError(f"not comparable with the results: task {task}: {diff}{more}; "
                            "set 'allow_version_mismatch: true' in the policy to compare anyway",
                            where=f"baseline {base.path}")
        for task, diff in problems:
            note = f"baseline differs: {diff} (allowed by the policy)"
            if note not in notes.setdefault(task, []):
                notes[task].append(note)
    return notes
