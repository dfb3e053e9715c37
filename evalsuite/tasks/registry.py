"""The task registry: finds task cards and looks them up by name.

Cards are YAML files found, in this order, in the built-in ``tasks/`` tree (shipped inside
the wheel), in the folders of ``EVALSUITE_TASKS_PATH`` (separated like ``PATH``), in folders
given with ``--tasks-dir``, and in folders that installed packages declare under the
``evalsuite.tasks`` entry-point group (an attribute holding a folder path, or a callable
returning one or several).  Files under a ``data/`` folder, and YAML files whose top-level
``kind`` is not ``task`` (probe cards, suites), are not task cards; ``kind: suite`` files
are suites (:mod:`evalsuite.tasks.suites`).
"""

from __future__ import annotations

import difflib
import fnmatch
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import yaml

from evalsuite.errors import CardError, UserError
from evalsuite.inputs import load_yaml
from evalsuite.tasks.cards import TaskCard, UnknownMetricCardError, card_from_dict, load_card
from evalsuite.tasks.suites import Suite, check_suite, select_suites, suite_from_dict

TASKS_PATH_ENV = "EVALSUITE_TASKS_PATH"
ENTRY_POINT_GROUP = "evalsuite.tasks"


def builtin_tasks_dir() -> Path:
    """The built-in card tree: inside the installed wheel, else the source checkout's."""
    package = Path(__file__).resolve().parent.parent  # the evalsuite package folder
    packaged = package / "_builtin_tasks"
    if packaged.is_dir():
        return packaged
    return package.parent / "tasks"


def entry_point_dirs() -> list[Path]:
    """Card folders declared by installed packages."""
    found: list[Path] = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            target = ep.load()
            value = target() if callable(target) else target
        except Exception as exc:  # a broken plug-in must say which one
            raise UserError(f"cannot load task plug-in {ep.name!r} ({ep.value}): {exc}",
                            where=f"entry point {ENTRY_POINT_GROUP}") from None
        values = value if isinstance(value, (list, tuple)) else [value]
        found.extend(Path(v) for v in values)
    return found


def search_dirs(extra: Iterable[str | Path] = ()) -> list[Path]:
    """Every folder searched for cards, built-in first."""
    dirs = [builtin_tasks_dir()]
    env = os.environ.get(TASKS_PATH_ENV, "")
    dirs += [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]
    for folder in extra:
        path = Path(folder).expanduser()
        if not path.is_dir():
            raise UserError(f"no such folder {str(folder)!r}", where="--tasks-dir")
        dirs.append(path)
    dirs += entry_point_dirs()
    unique: list[Path] = []
    for d in dirs:
        if d.resolve() not in [u.resolve() for u in unique]:
            unique.append(d)
    return unique


@dataclass
class TaskRegistry:
    """All cards found, by name, and the suites (``kind: suite`` files) over them.

    A card that names a metric nobody registered (a plug-in that is not installed) is kept
    aside in ``broken``: the other cards of its folder work, and asking for that card raises
    its error.
    """

    cards: dict[str, TaskCard]
    suites: dict[str, Suite] = field(default_factory=dict)
    broken: dict[str, UnknownMetricCardError] = field(default_factory=dict)

    @classmethod
    def discover(cls, extra_dirs: Iterable[str | Path] = ()) -> TaskRegistry:
        cards: dict[str, TaskCard] = {}
        suites: dict[str, Suite] = {}
        broken: dict[str, UnknownMetricCardError] = {}
        sources: dict[str, Path | None] = {}
        for folder in search_dirs(extra_dirs):
            found_cards, found_suites = _cards_in(folder)
            for name, source, card in found_cards:
                if name in sources:
                    raise CardError(f"field 'name': {name!r} is already defined in "
                                    f"{sources[name]}", where=str(source))
                sources[name] = source
                if isinstance(card, UnknownMetricCardError):
                    broken[name] = card
                else:
                    cards[name] = card
            for suite in found_suites:
                if suite.name in suites:
                    first = suites[suite.name].source_file
                    raise CardError(f"field 'name': suite {suite.name!r} is already defined in "
                                    f"{first}", where=str(suite.source_file))
                suites[suite.name] = suite
        for suite in suites.values():
            if not {suite.reference, *suite.variants} & set(broken):  # else: refused when run
                check_suite(suite, cards)
        return cls(cards, suites, broken)

    def select_suites(self, patterns: Iterable[str], *, where: str = "--suite") -> list[Suite]:
        """Suites by name or glob (see :func:`evalsuite.tasks.suites.select_suites`)."""
        return select_suites(self.suites, patterns, where=where)

    def names(self) -> list[str]:
        """The usable cards' names (not the broken ones)."""
        return sorted(self.cards)

    def get(self, name: str) -> TaskCard:
        """A card by name, or by the path of a card file."""
        if name in self.cards:
            return self.cards[name]
        if name in self.broken:
            raise self.broken[name]
        if name.endswith((".yaml", ".yml")) and Path(name).is_file():
            return load_card(name)
        close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.6) or [
            n for n in self.names() if name.split("/")[-1] in n][:3]
        hint = f" (did you mean: {', '.join(close)}?)" if close else \
            " (run `evalsuite tasks` to list them)"
        raise UserError(f"unknown task {name!r}{hint}", where="--task")

    def select(self, patterns: Iterable[str]) -> list[TaskCard]:
        """Cards matching names, card paths or glob patterns like ``'sentiment/*'``."""
        chosen: list[TaskCard] = []
        for pattern in patterns:
            if any(ch in pattern for ch in "*?["):
                for name in sorted(self.broken):
                    if fnmatch.fnmatch(name, pattern):
                        raise self.broken[name]
                matches = [self.cards[n] for n in self.names() if fnmatch.fnmatch(n, pattern)]
                if not matches:
                    raise UserError(f"no task matches {pattern!r}", where="--task")
            else:
                matches = [self.get(pattern)]
            chosen += [m for m in matches if m.name not in {c.name for c in chosen}]
        return chosen


def _cards_in(folder: Path) -> tuple[list[tuple[str, Path, TaskCard | UnknownMetricCardError]],
                                     list[Suite]]:
    """(name, file, card) of every card file in ``folder``, and its suites; a card naming an
    unknown metric comes as its error instead (any other problem raises at once)."""
    cards: list[tuple[str, Path, TaskCard | UnknownMetricCardError]] = []
    suites: list[Suite] = []
    for path in sorted([*folder.rglob("*.yaml"), *folder.rglob("*.yml")]):
        if "data" in path.relative_to(folder).parts[:-1]:
            continue
        if path.exists() and not path.is_file() and not path.is_dir():  # reading would block
            raise CardError("not a regular file (a named pipe, socket or device); a card "
                            "folder holds card files", where=str(path))
        try:
            data = load_yaml(path)
        except yaml.YAMLError:
            load_card(path)  # raises the formatted error
            continue
        if isinstance(data, dict) and data.get("kind") == "suite":
            suites.append(suite_from_dict(data, source=path))
            continue
        if isinstance(data, dict) and data.get("kind", "task") != "task":
            continue
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if k != "kind"}
        try:
            card = card_from_dict(data, source=path)
        except UnknownMetricCardError as exc:
            cards.append((str(data["name"]), path, exc))
            continue
        cards.append((card.name, path, card))
    return cards, suites


def dataset_size(card: TaskCard) -> int | None:
    """Examples in the card's dataset when known without loading it (the ``size`` field, or
    the line count of a local JSONL/CSV/TSV file)."""
    if card.size is not None:
        return card.size
    from evalsuite.tasks.data import resolve_local_path

    try:
        local = resolve_local_path(card)
    except CardError:
        return None
    if local is None or not local.is_file():
        return None
    if local.suffix in (".jsonl", ".csv", ".tsv"):
        with local.open("rb") as fh:
            lines = sum(1 for line in fh if line.strip())
        return lines - (0 if local.suffix == ".jsonl" else 1)
    return None
