"""Command-line options shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

TasksDirOption = Annotated[
    list[Path] | None,
    typer.Option("--tasks-dir", metavar="DIR", help="Extra folder of task cards (repeatable).",
                 show_default=False),
]
