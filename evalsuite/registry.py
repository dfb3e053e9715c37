"""One registry pattern for every extension point: model kinds, metrics, probes, executors.

A :class:`Registry` maps names to objects (usually classes).  An entry is one of

* **built-in**, given as a lazy ``"package.module:attribute"`` string and imported on first
  use, so that listing names never imports torch, spaCy or Ray;
* **registered** in Python with the :meth:`Registry.register` decorator (a module of the
  package, or a user's own module imported before the run);
* **a plug-in**: an entry point of an installed distribution in the registry's group, e.g.
  in the plug-in's ``pyproject.toml``::

      [project.entry-points."evalsuite.models"]
      echo = "my_package.backend:EchoAdapter"

  read once, on the registry's first use, and imported only when the name is asked for.

Asking for a name nobody registered raises a :class:`~evalsuite.errors.UserError` (exit
code 2) that lists what is available; a plug-in that cannot be imported says which one.
Task cards have their own entry-point group (``evalsuite.tasks``, folders of cards, see
:mod:`evalsuite.tasks.registry`).

>>> colours = Registry("colour", where="--colour")
>>> @colours.register("red")
... class Red:
...     pass
>>> colours.get("red") is Red, colours.names()
(True, ['red'])
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Generic, TypeVar

from evalsuite.errors import UserError

T = TypeVar("T")


class UnknownNameError(UserError, KeyError):
    """A registry has no entry of that name (a ``UserError``, and a ``KeyError`` for code that
    looks names up like a mapping)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


@dataclass
class Entry(Generic[T]):
    """One name of a registry: where it comes from and, once imported, the object."""

    name: str
    target: str | None = None  # "module:attribute" until imported
    value: T | None = None
    origin: str = "built-in"  # built-in | registered | plug-in <distribution>

    @property
    def loaded(self) -> bool:
        return self.value is not None


def one_line(obj: Any) -> str:
    """What a registered object says it is, in one line (for listings): its
    ``description``, else the first line of its docstring."""
    text = getattr(obj, "description", "") or (obj.__doc__ or "").strip()
    return text.splitlines()[0].strip() if text else ""


def import_target(target: str) -> Any:
    """The object a ``"package.module:attribute.path"`` string names."""
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


class Registry(Generic[T]):
    """Names → objects, with lazy built-ins, a ``register`` decorator and entry-point plug-ins.

    ``what`` names an entry in messages ("model kind", "metric"); ``where`` is the flag or
    field a wrong name came from; ``group`` is the entry-point group read for plug-ins;
    ``name_of`` gives the name of a decorated object when the decorator is used bare;
    ``install_hint`` is appended when a built-in entry misses a Python package; ``base`` is
    the class a plug-in's object must be (or subclass), checked when it is imported.
    """

    def __init__(self, what: str, *, where: str | None = None, group: str | None = None,
                 builtins: dict[str, str] | None = None,
                 name_of: Callable[[T], str] | None = None,
                 install_hint: str | None = None, replace: bool = False,
                 base: type | None = None) -> None:
        self.what = what
        self.base = base  # what a plug-in must be (a subclass or an instance of it)
        self.where = where
        self.group = group
        self.name_of = name_of
        self.install_hint = install_hint
        self.replace = replace  # a second registration under a name replaces the first
        self._entries: dict[str, Entry[T]] = {
            name: Entry(name, target=target) for name, target in (builtins or {}).items()}
        self._plugins_read = group is None

    # -- adding ----------------------------------------------------------------------------------
    def register(self, name: str | Callable[..., Any] | None = None) -> Any:
        """Decorator adding an object under ``name`` (or ``name_of(obj)`` when used bare)."""
        if callable(name):  # used bare: @registry.register
            return self.add(self._name_of(name), name)  # type: ignore[arg-type]

        def decorate(obj: T) -> T:
            return self.add(name if isinstance(name, str) else self._name_of(obj), obj)

        return decorate

    def add(self, name: str, obj: T, *, origin: str = "registered") -> T:
        """Add ``obj`` under ``name``; a built-in's own module registering it is a no-op."""
        entry = self._entries.get(name)
        if entry is not None and entry.value is not None and entry.value is not obj \
                and not self.replace:
            raise ValueError(f"{self.what} {name!r} registered twice "
                             f"({entry.value!r} and {obj!r})")
        if entry is not None and entry.value is None and entry.target is not None:
            entry.value = obj  # its lazy module was imported: keep the entry's origin
        else:
            self._entries[name] = Entry(name, value=obj, origin=origin)
        return obj

    def _name_of(self, obj: Any) -> str:
        if self.name_of is None:
            raise TypeError(f"give the {self.what}'s name: @register('name')")
        return self.name_of(obj)

    # -- looking up ------------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Every name, built-ins first in their order, then plug-ins and registered ones."""
        self._read_plugins()
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        self._read_plugins()
        return name in self._entries

    def entries(self) -> list[Entry[T]]:
        """Every entry (not imported): for listings such as ``evalsuite list``."""
        self._read_plugins()
        return list(self._entries.values())

    def get(self, name: str, *, where: str | None = None) -> T:
        """The object registered as ``name``, imported on first use."""
        self._read_plugins()
        entry = self._entries.get(name)
        if entry is None:
            raise self.unknown(name, where=where)
        if entry.value is None:
            entry.value = self._import(entry, where)
        return entry.value

    def loaded(self) -> Iterator[tuple[str, T]]:
        """Every (name, object), importing each; an entry that cannot be imported raises."""
        for name in self.names():
            yield name, self.get(name)

    def unknown(self, name: str, *, where: str | None = None,
                available: list[str] | None = None) -> UnknownNameError:
        """The error for a name that is not registered (lists the available ones)."""
        names = sorted(self.names() if available is None else available)
        listed = ", ".join(names) if names else "none"
        return UnknownNameError(f"unknown {self.what} {name!r}; available: {listed}",
                                where=where or self.where)

    # -- plug-ins and lazy imports -----------------------------------------------------------------
    def _read_plugins(self) -> None:
        if self._plugins_read:
            return
        self._plugins_read = True
        for ep in metadata.entry_points(group=self.group):
            if ep.name in self._entries:  # a plug-in never shadows a built-in or a registration
                continue
            dist = getattr(ep, "dist", None)
            origin = f"plug-in {dist.name}" if dist is not None else "plug-in"
            self._entries[ep.name] = Entry(ep.name, target=ep.value, origin=origin)

    def _import(self, entry: Entry[T], where: str | None) -> T:
        assert entry.target is not None
        where = where or self.where
        plugin = entry.origin.startswith("plug-in")
        try:
            obj = import_target(entry.target)
        except ModuleNotFoundError as exc:
            hint = (self.install_hint or "install it") if not plugin else \
                "install it, or reinstall the plug-in with its dependencies"
            raise UserError(f"{self.what} {entry.name!r} needs the Python package "
                            f"{exc.name!r}, which is not installed ({hint})",
                            where=where) from None
        except Exception as exc:
            if not plugin:
                raise
            raise UserError(f"cannot load the {self.what} plug-in {entry.name!r} "
                            f"({entry.target}): {type(exc).__name__}: {exc}",
                            where=f"entry point {self.group}") from None
        if entry.value is not None:  # importing the module registered it already
            return entry.value
        if plugin:
            self._check_plugin(entry, obj)
        return obj

    def _check_plugin(self, entry: Entry[T], obj: Any) -> None:
        """Refuse a plug-in object of the wrong kind or name, naming the entry point."""
        where = f"entry point {self.group}"
        shown = obj.__name__ if isinstance(obj, type) else type(obj).__name__
        wrong_kind = self.base is not None and not (
            isinstance(obj, self.base) or (isinstance(obj, type) and issubclass(obj, self.base)))
        try:
            name = self.name_of(obj) if self.name_of is not None else entry.name
        except Exception:  # no name where one is expected: not one of ours
            wrong_kind = True
        if wrong_kind:
            expected = f"a {self.base.__name__}" if self.base is not None else \
                f"{'an' if self.what[0] in 'aeiou' else 'a'} {self.what} class"
            raise UserError(f"the {self.what} plug-in {entry.name!r} ({entry.target}) is "
                            f"{shown}, not {expected}", where=where)
        if name != entry.name:
            raise UserError(f"the {self.what} plug-in {entry.name!r} ({entry.target}) "
                            f"calls itself {name!r}; the entry point's name "
                            f"must be the same", where=where)
