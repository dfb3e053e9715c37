"""``evalsuite tasks``: the task cards this installation can run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evalsuite.cli.options import TasksDirOption


def tasks(
    tasks_dir: TasksDirOption = None,
    family: Annotated[str | None, typer.Option(help="Only this family.")] = None,
) -> None:
    """List every task card (name, family, language, domain, dataset, size, metrics) and
    every suite (reference task and variants)."""
    from rich.table import Table

    from evalsuite.cli.console import cell, out_console
    from evalsuite.families import parse_family
    from evalsuite.tasks.registry import TaskRegistry, dataset_size

    registry = TaskRegistry.discover(tasks_dir or [])
    wanted = parse_family(family, where="--family") if family else None
    table = Table(show_edge=False, header_style="bold", pad_edge=False)
    for col in ("task", "family", "language", "domain", "dataset", "size", "metrics"):
        table.add_column(col, justify="right" if col == "size" else "left")
    for name in registry.names():
        card = registry.cards[name]
        if wanted and card.family is not wanted:
            continue
        ds = card.dataset
        where = ds.path if card.smoke_set is False else f"{Path(ds.path).name} (starter)"
        where += f" [{ds.name}]" if ds.name else ""
        where += f" {ds.split}" if card.smoke_set is False else ""
        size = dataset_size(card)
        language = (f"{card.source_lang}→{card.target_lang}" if card.source_lang
                    else card.language or "")
        table.add_row(*map(cell, (name, card.family.value, language, card.domain or "", where,
                                  "" if size is None else str(size), ", ".join(card.metrics))))
    out_console.print(table)
    suites = [s for name, s in sorted(registry.suites.items())
              if not wanted or (s.reference in registry.cards
                                and registry.cards[s.reference].family is wanted)]
    if suites:
        listing = Table(show_edge=False, header_style="bold", pad_edge=False)
        for col in ("suite", "reference", "variants", "pairing"):
            listing.add_column(col)
        for suite in suites:
            listing.add_row(*map(cell, (suite.name, suite.reference, ", ".join(suite.variants),
                                        "parallel (by id)" if suite.parallel else "unpaired")))
        out_console.print(listing)
    if registry.broken:  # the listed cards work; a card naming an unknown metric says why
        raise registry.broken[min(registry.broken)]
