"""Progress for executors that run several (model, task) pairs at once: one bar each."""

from __future__ import annotations

from typing import Any

from rich.progress import TaskID

from evalsuite.cli.console import RichProgress
from evalsuite.results.records import Record


class MultiTaskProgress(RichProgress):
    """One live bar per running (model, task); each bar leaves a one-line note when done.

    Besides the runner's ``Progress`` methods it has :meth:`advance_task`, which the Ray
    executor calls with the (model, task) a finished shard belongs to.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._bars: dict[tuple[str, str], TaskID] = {}

    def task_started(self, model: str, task: str, total: int, cached: int) -> None:
        key = (model, task)
        if key in self._bars:
            self.progress.remove_task(self._bars.pop(key))
        self._bars[key] = self.progress.add_task(f"{model} · {task}", total=total,
                                                 completed=cached)
        self._task = self._bars[key]

    def advance_task(self, model: str, task: str, n: int) -> None:
        bar = self._bars.get((model, task))
        if bar is not None:
            self.progress.advance(bar, n)

    def task_finished(self, record: Record) -> None:
        bar = self._bars.pop(record.key, None)
        if bar is not None:
            self.progress.remove_task(bar)
            if self._task == bar:
                self._task = None
        super().task_finished(record)
