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
    """List every task card: name, family, dataset, size and metrics."""
    from rich.markup import escape
    from rich.table import Table

    from evalsuite.cli.console import out_console
    from evalsuite.families import parse_family
    from evalsuite.tasks.registry import TaskRegistry, dataset_size

    registry = TaskRegistry.discover(tasks_dir or [])
    wanted = parse_family(family, where="--family") if family else None
    table = Table(show_edge=False, header_style="bold", pad_edge=False)
    for col in ("task", "family", "dataset", "size", "metrics"):
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
        table.add_row(name, card.family.value, escape(where), "" if size is None else str(size),
                      ", ".join(card.metrics))
    out_console.print(table)
    if registry.broken:  # the listed cards work; a card naming an unknown metric says why
        raise registry.broken[min(registry.broken)]
