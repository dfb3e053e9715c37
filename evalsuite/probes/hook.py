"""The runner hook: run the requested probes for one (model, task) and return their blocks.

``run_probes`` is called at the end of :func:`evalsuite.runner.run_task` when
``RunConfig.probes`` is not empty.  It returns ``{"bias": …, "safety": …, "robustness": …,
"probe_cost": …, "probe_status": …}`` for the requested probes, as the typed blocks of
:mod:`evalsuite.results.records`; the record is updated with it.  A figure that cannot apply
is recorded as ``{"status": "not_applicable", "reason": …}``, one that fails as
``{"status": "failed", "reason": …}`` — the task itself never fails because of a probe.
``probe_status`` sums each requested probe up (``ok``, ``failed`` or ``not_applicable``, with
the reason): ``failed`` as soon as one figure that applies could not be computed (its
classifier is not installed…), so the run's summary and the report say the dimension was not
measured instead of showing what was left.

Options come from, in increasing precedence, the defaults, the task card
(``options: {probes: {robustness: {n: 100}}}``) and the probe entry itself
(``robustness?n=100&perturbations=typo+casing``; list values are separated by spaces, ``+``
or ``|``; ``all?budget=full`` gives its options to every probe).

Template probe sets (``tasks/bias``, ``tasks/safety``) are sampled to the option ``budget``:
at most that many predictions per set, by default the task's number of examples, so probes
cost in proportion to the task; ``budget=full`` runs the full sets.  The budget is recorded
in ``probe_cost.budget`` and each template figure records the ``sentences`` it used and the
``sentences_full`` of its set.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, urlencode

from evalsuite.errors import UserError
from evalsuite.models.base import Output
from evalsuite.probes.context import ProbeContext, ProbePredictor, failed
from evalsuite.probes.registry import PROBES, probe_names
from evalsuite.results.records import PROBE_FIGURES, PROBE_SECTIONS, ProbeCost, ProbeOutcome

if TYPE_CHECKING:
    from evalsuite.runner.run import RunConfig, TaskPredictor
    from evalsuite.tasks.data import TaskData


class ProbeProgress(Protocol):
    """What the probes tell a progress display (the runner's ``Progress`` has these)."""

    def probes_started(self, model: str, task: str, total: int) -> None: ...
    def probe_step(self, label: str) -> None: ...
    def advance(self, n: int) -> None: ...


PROBE_KINDS: tuple[str, ...] = PROBE_SECTIONS  # built-in probes; each writes its own section
_LIST_OPTIONS = frozenset({"axes", "perturbations", "cards"})
_INT_OPTIONS = frozenset({"n", "permutations", "resamples"})
_FLOAT_OPTIONS = frozenset({"threshold", "margin"})
_BOOL_OPTIONS = frozenset({"weat_pairs"})


def parse_probes(value: str | Iterable[Any] | None, *, where: str = "--probes") -> list[str]:
    """Validate a probe list (``"bias,safety"``, ``"all"``, a list, or a name → options
    mapping from a batch file) into entries ``name[?key=value&…]``."""
    if value is None:
        return []
    if isinstance(value, str):
        items: list[Any] = [v for v in (p.strip() for p in value.split(",")) if v]
    elif isinstance(value, dict):
        items = [_entry(str(k), v or {}, where) for k, v in value.items()]
    else:
        items = list(value)
    out: list[str] = []
    for item in items:
        if isinstance(item, dict):
            out += [_entry(str(k), v or {}, where) for k, v in item.items()]
            continue
        text = str(item).strip()
        name, _, query = text.partition("?")
        name = name.strip().lower()
        if name in ("all", "*"):
            _known_options(probe_names(), _options(query, where), where)
            out += [n + (f"?{query}" if query else "") for n in probe_names()
                    if n not in _names(out)]
            continue
        if name not in PROBES:
            raise PROBES.unknown(name, where=where, available=[*probe_names(), "all"])
        _known_options(probe_names(), _options(query, where), where)  # now, not mid-run
        out.append(name + (f"?{query}" if query else ""))
    return out


def _known_options(names: Sequence[str], options: Mapping[str, Any], where: str) -> None:
    """Refuse an option that none of the probes reads: a typo (``budgt``) would otherwise be
    ignored.  (``all?budget=…`` hands every probe the same options, so one probe's entry may
    carry another's.)"""
    known: set[str] = set()
    for name in names:
        known |= set(PROBES.get(name, where=where).options)
    unknown = sorted(set(options) - known)
    if unknown:
        raise UserError(f"no probe takes the option {unknown[0]!r} (options: "
                        f"{', '.join(sorted(known))}; evalsuite list probes)", where=where)


def _names(entries: Sequence[str]) -> set[str]:
    return {e.partition("?")[0] for e in entries}


def _entry(name: str, options: Any, where: str) -> str:
    if not isinstance(options, dict):
        raise UserError(f"options of probe {name!r} must be a mapping", where=where)
    flat = {k: "|".join(map(str, v)) if isinstance(v, (list, tuple)) else v
            for k, v in options.items()}
    query = urlencode(flat)
    return parse_probes([name + (f"?{query}" if query else "")], where=where)[0]


def _options(query: str | dict[str, Any], where: str) -> dict[str, Any]:
    pairs = query.items() if isinstance(query, dict) else parse_qsl(query,
                                                                    keep_blank_values=True)
    out: dict[str, Any] = {}
    for key, raw in pairs:
        try:
            if key in _LIST_OPTIONS:
                out[key] = raw if isinstance(raw, list) else [
                    v for v in re.split(r"[\s,|+]+", str(raw)) if v]
            elif key in _INT_OPTIONS:
                out[key] = int(raw)
                if out[key] < (0 if key != "n" else 1):
                    raise ValueError("must be positive")
            elif key in _FLOAT_OPTIONS:
                out[key] = float(raw)
            elif key in _BOOL_OPTIONS:
                out[key] = str(raw).lower() in ("1", "true", "yes", "on")
            elif key == "budget":
                out[key] = _budget(raw)
            else:
                out[key] = raw
        except ValueError as exc:
            raise UserError(f"probe option {key}={raw!r}: {exc}", where=where) from None
    return out


def _budget(raw: Any) -> int | str:
    """``full`` (the whole template sets) or a positive number of predictions per set."""
    if str(raw).strip().lower() in ("full", "all", "none"):
        return "full"
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError("must be a positive number of predictions per set, or 'full'")
    return value


def probe_options(entries: Sequence[str], card_options: dict[str, Any] | None
                  ) -> dict[str, dict[str, Any]]:
    """Requested probe kind → merged options (card options, then the entry's)."""
    from_card = (card_options or {}).get("probes") or {}
    merged: dict[str, dict[str, Any]] = {}
    for entry in entries:
        name, _, query = entry.partition("?")
        options = dict(_options(from_card.get(name) or {}, "task card options.probes"))
        options.update(_options(query, "--probes"))
        merged[name] = options
    return merged


def probe_status(figures: Mapping[str, Any]) -> ProbeOutcome:
    """One probe's outcome from its figures: ``ok``, ``failed`` (a figure that applies could
    not be computed; the reason names it) or ``not_applicable`` (none applies)."""
    def field(figure: Any, name: str) -> Any:
        return figure.get(name) if isinstance(figure, Mapping) else getattr(figure, name, None)

    failures = [(k, v) for k, v in figures.items() if field(v, "status") == "failed"]
    if failures:
        key, figure = failures[0]
        more = f" (and {len(failures) - 1} more figures)" if len(failures) > 1 else ""
        return ProbeOutcome(status="failed", reason=f"{key}: {field(figure, 'reason')}{more}")
    if figures and all(field(v, "status") == "not_applicable" for v in figures.values()):
        return ProbeOutcome(status="not_applicable",
                            reason=str(field(next(iter(figures.values())), "reason")))
    return ProbeOutcome(status="ok")


def run_probes(predictor: TaskPredictor, task_data: TaskData, config: RunConfig,
               clean_outputs: Sequence[Output] | None = None, *,
               progress: ProbeProgress | None = None, model: str = "") -> dict[str, Any]:
    """The ``bias``/``safety``/``robustness`` blocks (figure name → typed figure) and
    ``probe_cost`` for one task; ``progress`` (for ``model``) is told the planned figures
    and each finished one."""
    entries = parse_probes(config.probes)
    if not entries:
        return {}
    examples = list(task_data.examples)
    n = len(examples)
    probe_predictor = ProbePredictor(predictor, examples, clean_outputs)
    contexts: dict[str, ProbeContext] = {}
    for name, options in probe_options(entries, task_data.card.options).items():
        budget = options.get("budget", n)
        contexts[name] = ProbeContext(
            probe_predictor, examples, options, seed=config.seed,
            resamples=int(options.get("resamples", config.resamples)),
            permutations=int(options.get("permutations", 1000)),
            _clean=list(clean_outputs) if clean_outputs is not None else None,
            budget=None if budget == "full" else int(budget))
    planned = {name: _planned(name, ctx) for name, ctx in contexts.items()}
    if progress is not None:
        progress.probes_started(model, task_data.card.name, sum(planned.values()))
    blocks: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    statuses: dict[str, ProbeOutcome] = {}
    for name, ctx in contexts.items():
        done: list[str] = []

        def step(key: str, name: str = name, done: list[str] = done) -> None:
            done.append(key)
            if progress is not None and len(done) <= planned[name]:
                progress.probe_step(f"{name}.{key}")

        ctx.on_figure = step
        start = time.perf_counter()
        probe = PROBES.get(name)
        try:
            figures = probe.run(ctx)
        except Exception as exc:  # a probe never fails the task
            figures = {"all" if probe.section == name else name: failed(exc)}
        block = blocks.setdefault(probe.section, {})
        clash = sorted(set(block) & set(figures))
        if clash:
            raise UserError(f"probes {', '.join(sorted(seconds))} and {name} both write "
                            f"{probe.section} figure {clash[0]!r}", where="--probes")
        block.update({key: PROBE_FIGURES[probe.section].model_validate(figure)
                      for key, figure in figures.items()})
        statuses[name] = probe_status(figures)
        seconds[name] = round(time.perf_counter() - start, 3)
        if progress is not None and len(done) < planned[name]:
            progress.advance(planned[name] - len(done))
    predicted = {k: int(v) for k, v in probe_predictor.predicted.items()}
    blocks["probe_cost"] = ProbeCost(
        task_examples=n,
        predicted=predicted,
        computed={k: int(v) for k, v in probe_predictor.computed.items()},
        embedded_texts={k: int(v) for k, v in probe_predictor.embedded.items()},
        seconds=seconds,
        prediction_seconds={k: round(v, 3) for k, v in probe_predictor.seconds.items()},
        multiple=(sum(v for k, v in predicted.items() if k != "clean") / n) if n else None,
        budget={name: "full" if ctx.budget is None else ctx.budget  # template sets
                for name, ctx in contexts.items() if _reads_budget(name)},
    )
    blocks["probe_status"] = statuses
    return blocks


def _planned(name: str, ctx: ProbeContext) -> int:
    """A probe's planned figure count (1 without a plan, or when planning itself fails: the
    run will say why)."""
    try:
        plan = PROBES.get(name).plan
        return 1 if plan is None else max(1, int(plan(ctx)))
    except Exception:
        return 1


def _reads_budget(name: str) -> bool:
    try:
        return "budget" in PROBES.get(name).options
    except Exception:
        return False
