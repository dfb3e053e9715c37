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

from evalsuite.results.records import PROBE_SECTIONS, MetricValue, Record, Scale
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
        self._key: tuple[str, str] | None = None  # the (model, task) of the bar

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._drop_bar()
        self.progress.stop()
        self.console.file.flush()  # every note is out before the summary table (stdout)

    def task_started(self, model: str, task: str, total: int, cached: int) -> None:
        self._drop_bar()
        self._task = self.progress.add_task(f"{model} · {task}", total=total, completed=cached)
        self._key = (model, task)

    def probes_started(self, model: str, task: str, total: int) -> None:
        """The probe phase of (model, task): a bar over its ``total`` planned figures."""
        self._drop_bar()
        self._task = self.progress.add_task(f"{model} · {task} · probes", total=total)
        self._key = (model, task)

    def probe_step(self, label: str) -> None:
        """One probe figure is done; ``label`` names it."""
        if self._task is not None and self._key is not None:
            model, task = self._key
            self.progress.update(self._task, advance=1,
                                 description=escape(f"{model} · {task} · probes: {label}"))

    def advance(self, n: int) -> None:
        if self._task is not None:
            self.progress.advance(self._task, n)

    def _drop_bar(self) -> None:
        if self._task is not None:
            self.progress.remove_task(self._task)
        self._task = None
        self._key = None
    def advance_task(self, model: str, task: str, n: int) -> None:
        """One bar at a time: the running task's (see ``MultiTaskProgress`` for several)."""
        self.advance(n)

    def task_finished(self, record: Record) -> None:
        # The finished bar goes before its note is printed, so that after the last task no
        # bar is left for the live display to erase when the summary table follows.
        if self._key == record.key:
            self._drop_bar()
        status = record.status
        head = printable(f"{record.model} · {record.task}")
        if status != "ok":
            colour = "yellow" if status == "skipped" else "red"
            self.console.print(f"[{colour}]{status}[/] {escape(head)}: "
                               f"{escape(printable(record.reason or ''))}", soft_wrap=False)
            return
        name = record.primary_metric or ""
        metric = record.metrics.get(name)
        cached = f" ({record.cache.hits} cached)" if record.cache and record.cache.hits else ""
        # soft_wrap=False: rich wraps the note itself, so the live display below it knows
        # where the cursor is (a terminal-wrapped line would shift it).
        self.console.print(f"[green]done[/] {escape(head)}: {name} {format_metric(metric)}"
                           f" on {record.n_examples} examples{cached}", soft_wrap=False)

    def message(self, text: str) -> None:
        self.console.print(escape(printable(text)), soft_wrap=False)


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
    """Headline figures: one row per (model, task).

    Figures never wrap or shrink; when the terminal is narrow, model and task names fold
    onto more lines instead.
    """
    rows: list[tuple[str, ...]] = []
    dim: list[bool] = []
    for rec in records:
        if not rec.ok:
            rows.append((printable(rec.model), printable(rec.task), rec.status,
                         _short(printable(rec.reason or "")), "", ""))
            dim.append(True)
            continue
        name = rec.primary_metric or ""
        speed = rec.efficiency.examples_per_s if rec.efficiency else None
        rows.append((printable(rec.model), printable(rec.task), name,
                     format_metric(rec.metrics.get(name)),
                     str(rec.n_examples), format_rate(speed)))
        dim.append(False)
    table = Table(show_edge=False, header_style="bold", pad_edge=False)
    for i, (column, justify) in enumerate((
            ("model", "left"), ("task", "left"), ("metric", "left"),
            ("value [95% CI]", "right"), ("n", "right"), ("ex/s", "right"))):
        if i < 2:  # names may fold
            table.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
            continue
        # Figure columns are as wide as their widest figure (a failed row's reason is cut to
        # that width: the full reason is printed below the table).
        figures = [row[i] for row, is_dim in zip(rows, dim, strict=True)
                   if not is_dim or i == 2]
        width = max([len(column), *map(len, figures)])
        table.add_column(column, justify=justify, no_wrap=True,  # type: ignore[arg-type]
                         overflow="ellipsis", min_width=width,
                         max_width=width if i == 3 and not all(dim) else None)
    for row, is_dim in zip(rows, dim, strict=True):
        table.add_row(*row, style="dim" if is_dim else None)
    return table


def probe_problems(records: list[Record]) -> list[tuple[str, str]]:
    """(status, line) for every probe figure that failed or was not measured, one line per
    (model, task, status, reason) naming the figures: failures first."""
    groups: dict[tuple[str, str, str, str], list[str]] = {}
    for rec in records:
        for section in PROBE_SECTIONS:
            for key, figure in (rec.section(section) or {}).items():
                if figure.status is None:
                    continue
                head = printable(f"{rec.model} · {rec.task}")
                groups.setdefault((figure.status, head, printable(figure.reason or ""), section),
                                  []).append(f"{section}.{key}")
    lines = [(status, f"probe {status.replace('_', ' ')}: {head}: {', '.join(keys)}"
                      + (f" ({reason})" if reason else ""))
             for (status, head, reason, _), keys in groups.items()]
    return sorted(lines, key=lambda item: item[0] != "failed")


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


def cell(text: object) -> str:
    """Text from a card, a plug-in or a result for a Rich table cell: control characters shown
    as ``\\x1b`` (never obeyed) and ``[…]`` kept literal (never read as markup)."""
    return escape(printable(text))


def error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(printable(message))}", soft_wrap=True)
    sys.stderr.flush()
