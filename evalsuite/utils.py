"""Small helpers used across the package: error text, atomic file writes, device choice.

Each lives here once so that backends, the runner, the report and the gate agree on them.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from evalsuite.errors import SpecError, UserError


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (its type name when it has none).

    >>> first_line(ValueError("bad value\\nmore detail"))
    'bad value'
    >>> first_line(KeyError())
    'KeyError'
    """
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: object) -> str:
    """``text`` for a terminal or CI log: control characters (escape sequences that could
    clear the screen or rewrite earlier lines) shown as ``\\xNN``.

    >>> printable("model\\x1b[2J")
    'model\\\\x1b[2J'
    """
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def slug(text: str) -> str:
    """A file-name-safe form of a model or task name.

    >>> slug("hf:org/model@bf16")
    'hf_org_model_bf16'
    """
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:120] or "x"


def p_value_text(p: float) -> str:
    """``p = …`` to three significant digits, never rounded to a certainty: 0.9995 reads
    ``p > 0.999``, not ``p = 1``."""
    return "p > 0.999" if 0.999 < p < 1 else f"p = {p:.3g}"


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder, so a reader
    (or a crash) never sees half a file.  The file gets the user's normal permissions
    (``0666`` less the umask), not ``mkstemp``'s ``0600``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def output_file(path: Path, where: str = "--output") -> Iterator[None]:
    """Around the writing of a file the user named (a report, a model card, JUnit XML): any
    ``OSError`` — a missing or read-only folder, a folder in the way, a full disk — becomes
    one line naming the file and the flag (exit code 2), never a traceback."""
    try:
        yield
    except OSError as exc:
        raise UserError(f"cannot write {str(path)!r}: {exc.strerror or exc}",
                        where=where) from None


def atomic_write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON (NaN refused, NumPy scalars and paths converted)
    through :func:`atomic_write_text`."""
    text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False, default=json_default)
    atomic_write_text(path, text + "\n")


def hash_file(path: Path, digest: Any) -> Any:
    """Feed ``path``'s bytes to ``digest`` (a ``hashlib`` object) in 1 MiB blocks; return it."""
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in blocks (hex)."""
    import hashlib

    return hash_file(path, hashlib.sha256()).hexdigest()


def json_default(obj: Any) -> Any:
    """``json`` fallback for NumPy scalars (``.item()``) and paths."""
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def resolve_device(requested: str | None, where: str = "model", *,
                   spread: bool = False) -> str:
    """``auto`` (or nothing) → ``cuda`` when a GPU is visible, else ``cpu``; ``cuda:N`` is
    checked against the GPUs this process can see; ``cpu`` and ``mps`` pass through.
    ``cuda:all`` (one model spread over every visible GPU) only where the caller can
    ``spread`` a model; it is plain ``cuda`` when one GPU is visible.

    Raises :class:`~evalsuite.errors.SpecError` naming ``where`` for a device that is not
    there or not a device at all.  (A process that must not use a GPU hides them with
    ``CUDA_VISIBLE_DEVICES=""``; ``auto`` then is ``cpu``.)
    """
    import torch

    value = str(requested or "auto").strip().lower()
    if value == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if value.startswith("cuda"):
        if not torch.cuda.is_available():
            raise SpecError(f"device={value} was asked for but no CUDA GPU is visible",
                            where=where)
        index = value.partition(":")[2]
        if index == "all":
            if not spread:
                raise SpecError("device=cuda:all (one model over every GPU) is for hf "
                                "models; use cuda or cuda:N", where=where)
            return "cuda:all" if torch.cuda.device_count() > 1 else "cuda"
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise SpecError(f"device={value}: this machine has {torch.cuda.device_count()} "
                            f"GPU(s) (cuda:0…)", where=where)
    elif value not in ("cpu", "mps"):
        raise SpecError(f"device={value}: use auto, cpu, cuda or cuda:N"
                        f"{' or cuda:all' if spread else ''}", where=where)
    return value


def cuda_indexes(device: str) -> list[int]:
    """The GPU indexes behind a CUDA device name: ``cuda`` → the current one, ``cuda:N`` →
    ``N``, ``cuda:all`` (one model spread over every visible GPU) → all of them."""
    import torch

    index = str(device).partition(":")[2]
    if index == "all":
        return list(range(torch.cuda.device_count()))
    return [int(index)] if index else [torch.cuda.current_device()]
