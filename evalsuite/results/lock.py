"""Run folders: created atomically and held by one process at a time.

``create_run_folder`` makes the folder with ``mkdir`` (no ``exist_ok``), so of two runs started
at the same moment with the same ``--run-id`` exactly one gets it; the other is refused.
``RunLock`` is an exclusive ``flock`` on ``<run>/.evalsuite.lock`` held while the run writes,
so a ``--resume`` of a folder another run is still writing is refused too.  The operating
system drops the lock when the process ends, however it ends (a killed run can be resumed
at once).  Where ``fcntl`` is missing (Windows) the lock is a no-op.

Readers ask :func:`is_being_written`: a folder whose ``status`` says ``running`` while no
process holds its lock was killed (SIGKILL, a lost machine), which nothing could record, so
readers show it as ``interrupted``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from evalsuite.errors import UserError

LOCK_FILE = ".evalsuite.lock"


def check_run_id(run_id: object, where: str = "--run-id") -> str:
    """A run id is one folder name: text, not empty, no path separator, not ``.``/``..``
    (so it cannot put the run folder outside ``--output``)."""
    if isinstance(run_id, int) and not isinstance(run_id, bool):  # run_id: 2024 in YAML
        run_id = str(run_id)
    if not isinstance(run_id, str) or not run_id.strip():
        raise UserError(f"must be a folder name, got {run_id!r}", where=where)
    if "/" in run_id or "\\" in run_id or run_id in (".", "..") or "\0" in run_id:
        raise UserError(f"must be one folder name (no '/', '\\', '.' or '..'), got {run_id!r}",
                        where=where)
    return run_id


def create_run_folder(output_dir: Path, run_id: str | None,
                      fresh_id: Callable[[int], str]) -> Path:
    """Create and return a new run folder under ``output_dir``.

    With an explicit ``run_id`` an existing folder is a ``UserError`` (``--run-id``);
    otherwise ``fresh_id(n)`` names the ``n``-th candidate (1, 2, …) until one is free.
    """
    if run_id is not None:
        check_run_id(run_id)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the output folder {output_dir}: "
                        f"{exc.strerror or exc}", where="--output") from None
    n = 1
    while True:
        run_dir = output_dir / (run_id or fresh_id(n))
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            if run_id:
                raise UserError(f"run folder {run_dir} exists already (use --resume "
                                f"{run_dir} to continue it, or another --run-id)",
                                where="--run-id") from None
            n += 1
        except OSError as exc:
            raise UserError(f"cannot create the run folder {run_dir}: "
                            f"{exc.strerror or exc}", where="--output") from None


class RunLock:
    """An exclusive lock on one run folder (see the module docstring)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK_FILE
        self._fd: int | None = None
        try:
            import fcntl
        except ImportError:  # no flock here: no lock
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise UserError(f"cannot write to the run folder {run_dir}: "
                            f"{exc.strerror or exc}", where="--output") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_pid(fd)
            os.close(fd)
            raise UserError(f"run folder {run_dir} is being written by another evalsuite run"
                            f"{f' (process {holder})' if holder else ''}; wait for it or "
                            f"choose another --run-id", where="--run-id") from None
        with contextlib.suppress(OSError):  # the pid is only for the message above
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


def is_being_written(run_dir: Path) -> bool:
    """Whether a live evalsuite process holds ``run_dir``'s lock (never blocks; ``False``
    when the folder has no lock file or ``fcntl`` is missing)."""
    try:
        import fcntl
    except ImportError:
        return False
    try:
        fd = os.open(run_dir / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # fails while a writer holds LOCK_EX
    except OSError:
        return True
    finally:
        os.close(fd)  # drops the shared lock at once, if it was taken
    return False


def _read_pid(fd: int) -> str:
    with contextlib.suppress(OSError):
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        if text.isdigit():
            return text
    return ""
