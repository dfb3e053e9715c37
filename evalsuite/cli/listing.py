"""``evalsuite list tasks|models|metrics|probes|executors``: what this installation has.

Every listing reads the registries (:mod:`evalsuite.registry`): built-ins, classes registered
in Python and plug-ins of installed packages alike, each marked with where it comes from.
A built-in whose Python package is missing is listed with the command that installs it.
``evalsuite tasks`` is ``evalsuite list tasks``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import typer

from evalsuite.cli import tasks as tasks_command
from evalsuite.errors import UserError
from evalsuite.registry import Entry, Registry

app = typer.Typer(help="List what this installation has: tasks, model kinds, metrics, probes "
                       "or executors.", no_args_is_help=True, add_completion=False,
                  rich_markup_mode=None)
app.command("tasks", help="Every task card and suite (the same as 'evalsuite tasks').")(
    tasks_command.tasks)

FamilyOption = Annotated[str | None, typer.Option(help="Only this family.", show_default=False)]


@app.command("models")
def models(family: FamilyOption = None) -> None:
    """Model kinds: the families each serves, the options it takes and what it is."""
    from evalsuite.models.base import COMMON_OPTIONS
    from evalsuite.models.registry import KINDS

    wanted = _family(family)
    table = _table("kind", "serves", "options", "from", "about")
    for entry, cls in _loaded(KINDS, table):
        served = sorted(f.value for f in cls.families)
        if wanted and wanted not in served:
            continue
        _add(table, entry.name, ", ".join(served), ", ".join(sorted(cls.extra_options)),
                      entry.origin, _about(cls))
    _print(table, f"Every kind also takes: {', '.join(sorted(COMMON_OPTIONS))}. A model spec "
                  f"is KIND:TARGET?option=value&… (README: Models).")


@app.command("metrics")
def metrics(family: FamilyOption = None) -> None:
    """Metrics per family: scale, direction and the implementation each reproduces."""
    from evalsuite.metrics.registry import METRICS

    wanted = _family(family)
    table = _table("family", "metric", "scale", "better", "reference implementation", "from",
                   "about")
    rows = []
    for entry, cls, missing in _entries(METRICS):
        fam, _, name = entry.name.rpartition("/")
        if wanted and fam and fam != wanted:
            continue
        if cls is None:
            rows.append((fam, name, "–", "–", "–", entry.origin, f"not available: {missing}"))
            continue
        rows.append((fam, cls.name, cls.scale, "higher" if cls.higher_is_better else "lower",
                     cls.reference or "–", entry.origin, _about(cls)))
    for row in sorted(rows, key=lambda r: (r[0], r[1])):
        _add(table, *row)
    _print(table, "Scales: 0-1, 0-100 (BLEU, chrF++, SQuAD) or -1-1 (correlations); every "
                  "metric has a bootstrap 95% interval. Familiar evaluate names (rouge, squad, "
                  "seqeval, sacrebleu) load through evalsuite.metrics.hf_evaluate.load.")


@app.command("probes")
def probes() -> None:
    """Probes with their options, and the probe cards under tasks/bias and tasks/safety."""
    from evalsuite.probes.registry import PROBES
    from evalsuite.probes.templates import discover_probe_cards

    table = _table("probe", "options", "from", "about")
    for entry, probe in _loaded(PROBES, table):
        options = "\n".join(f"{k}: {v}" for k, v in probe.options.items())
        _add(table, probe.name, options, entry.origin, probe.description)
    _print(table, "Run them with --probes NAME[?option=value&…] (or all); docs/probes.md.")
    cards = _table("probe card", "probe", "key", "families", "sets", "size", "about")
    for card in sorted(discover_probe_cards(), key=lambda c: c.name):
        if card.generator == "association":
            sets, size = ", ".join(t.name for t in card.tests), f"{len(card.tests)} tests"
        elif card.generator == "inputs":
            sets, size = "inputs", f"{len(card.inputs)} inputs"
        elif card.generator == "translation_gender":
            sets, size = "gender", f"≤ {card.max_units} units"
        else:
            sets, size = ", ".join(card.axes), f"≤ {card.max_units} units per axis"
        _add(cards, card.name, card.probe, card.key,
                      ", ".join(sorted(f.value for f in card.families)), sets, size,
                      card.description)
    _print(cards, "Template sets are sampled to the probe's budget (default: the task's "
                  "number of examples; budget=full for the whole sets).")


@app.command("executors")
def executors() -> None:
    """Executors: where a batch runs (--executor NAME)."""
    from evalsuite.executors import EXECUTORS

    table = _table("executor", "runs tasks", "from", "about")
    for entry, cls in _loaded(EXECUTORS, table):
        _add(table, cls.name, "at once" if cls.concurrent_tasks else "one after another",
                      entry.origin, _about(cls))
    _print(table, None)


# -- helpers -----------------------------------------------------------------------------------
def _family(value: str | None) -> str | None:
    from evalsuite.families import parse_family

    return parse_family(value, where="--family").value if value else None


def _entries(registry: Registry[Any]) -> Iterator[tuple[Entry[Any], Any, str | None]]:
    """Every entry of ``registry`` with its object, or ``None`` and why it cannot be loaded
    here (a missing package, a broken plug-in)."""
    for entry in registry.entries():
        try:
            yield entry, registry.get(entry.name), None
        except UserError as exc:
            yield entry, None, str(exc).split(": ", 1)[-1]


def _loaded(registry: Registry[Any], table: Any) -> Iterator[tuple[Entry[Any], Any]]:
    """Every entry of ``registry`` that loads here, with its object; one that does not gets
    its own row in ``table``: its name, dashes, where it comes from and why."""
    for entry, obj, missing in _entries(registry):
        if obj is None:
            dashes = ["–"] * (len(table.columns) - 3)
            _add(table, entry.name, *dashes, entry.origin, f"not available: {missing}")
        else:
            yield entry, obj


def _about(obj: Any) -> str:
    from evalsuite.registry import one_line

    return one_line(obj)


def _add(table: Any, *cells: object) -> None:
    """A row of text from plug-ins and cards, shown literally (see ``console.cell``)."""
    from evalsuite.cli.console import cell

    table.add_row(*map(cell, cells))


def _table(*columns: str) -> Any:
    """A listing table: the first column (names) never wraps, the others fold."""
    from rich.table import Table

    table = Table(show_edge=False, header_style="bold", pad_edge=False)
    for i, column in enumerate(columns):
        table.add_column(column, overflow="fold", no_wrap=i == 0)
    return table


def _print(table: Any, caption: str | None) -> None:
    from evalsuite.cli.console import out_console

    out_console.print(table)
    if caption:
        out_console.print(caption, markup=False, highlight=False)
