"""Terminal output: progress bars per (model, task) and the short summary table."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from evalsuite.results.records import MetricValue, Record, Scale
from evalsuite.utils import printable

# Outside a terminal (CI logs, pipes) rich would wrap at 80 columns; give tables room.
err_console = Console(stderr=True, highlight=False,
                      width=None if sys.stderr.isatty() else 160, soft_wrap=True)
out_console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)


class RichProgress:
    """One progress bar per (model, task); a one-line note when each finishes."""

    def __init__(self, console: Console = err_console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("{task.description}", style="bold"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

    def task_started(self, model: str, task: str, total: int, cached: int) -> None:
        if self._task is not None:
            self.progress.remove_task(self._task)
        self._task = self.progress.add_task(f"{model} · {task}", total=total, completed=cached)

    def advance(self, n: int) -> None:
        if self._task is not None:
            self.progress.advance(self._task, n)

    def advance_task(self, model: str, task: str, n: int) -> None:
        """One bar at a time: the running task's (see ``MultiTaskProgress`` for several)."""
        self.advance(n)

    def task_finished(self, record: Record) -> None:
        status = record.status
        head = printable(f"{record.model} · {record.task}")
        if status != "ok":
            colour = "yellow" if status == "skipped" else "red"
            self.console.print(f"[{colour}]{status}[/] {escape(head)}: "
                               f"{escape(printable(record.reason or ''))}")
            return
        name = record.primary_metric or ""
        metric = record.metrics.get(name)
        cached = f" ({record.cache.hits} cached)" if record.cache and record.cache.hits else ""
        self.console.print(f"[green]done[/] {escape(head)}: {name} {format_metric(metric)}"
                           f" on {record.n_examples} examples{cached}")

    def message(self, text: str) -> None:
        self.console.print(escape(printable(text)))


def format_value(value: float | None, scale: str | None = None) -> str:
    if value is None:
        return "–"
    return f"{value:.1f}" if scale == Scale.PERCENT else f"{value:.3f}"


def format_metric(metric: MetricValue | None) -> str:
    """``value [ci_low, ci_high]`` with the digits its scale needs (``–`` when absent)."""
    if metric is None:
        return format_value(None)
    scale = metric.scale
    text = format_value(metric.value, scale)
    if metric.ci_low is not None and metric.ci_high is not None:
        text += f" [{format_value(metric.ci_low, scale)}, {format_value(metric.ci_high, scale)}]"
    return text


def summary_table(records: list[Record]) -> Table:
    """Headline figures: one row per (model, task)."""
    table = Table(show_edge=False, header_style="bold", pad_edge=False)
    for column, justify in (("model", "left"), ("task", "left"), ("metric", "left"),
                            ("value [95% CI]", "right"), ("n", "right"), ("ex/s", "right")):
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for rec in records:
        if not rec.ok:
            table.add_row(printable(rec.model), printable(rec.task), rec.status,
                          _short(printable(rec.reason or "")), "", "", style="dim")
            continue
        name = rec.primary_metric or ""
        speed = rec.efficiency.examples_per_s if rec.efficiency else None
        table.add_row(printable(rec.model), printable(rec.task), name,
                      format_metric(rec.metrics.get(name)),
                      str(rec.n_examples), format_rate(speed))
    return table


def format_rate(value: float | None) -> str:
    """Examples/s for people: 3 significant figures, k/M suffixes."""
    if not value:
        return "–"
    for bound, suffix in ((1e6, "M"), (1e3, "k")):
        if value >= bound:
            return f"{value / bound:.3g}{suffix}"
    return f"{value:.3g}"


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(printable(message))}", soft_wrap=True)
    sys.stderr.flush()
