"""Error types that map onto the command line's exit codes (DESIGN.md §4).

``UserError`` means the user's input is wrong (exit code 2): the message is one line that
names the file, field or flag and says what to do.  ``RunError`` means a run or a gate failed
(exit code 1) after finished results were kept.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class EvalsuiteError(Exception):
    """Base class of every error evalsuite raises on purpose."""

    exit_code = EXIT_FAILED


class UserError(EvalsuiteError, ValueError):
    """The user's input (a card, spec, flag, file or column) is wrong: exit code 2."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class CardError(UserError):
    """A task card is invalid; the message names the file and the field."""


class SpecError(UserError):
    """A model spec is invalid or names a kind that cannot serve the task."""


class HubUnreachableError(UserError):
    """A hub id was asked for but the hub cannot be reached (offline, or no network)."""


class RunError(EvalsuiteError):
    """A run failed part way; finished results were written and are listed."""


class StoreError(RunError):
    """The results folder or the prediction cache could not be written mid-run (a full
    disk, a read-only mount): the run stops with exit code 1, keeping finished records."""


class BackendUnavailable(EvalsuiteError):
    """A model's system is not installed here (a package, a binary, a spaCy pipeline).

    The runner records the model's tasks as skipped with this reason and goes on.
    """
