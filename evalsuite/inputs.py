"""Reading what users hand us (cards, batch files, policies, predictions files) safely.

Every read is capped, so ``/dev/zero`` or a runaway file cannot eat the machine's memory, and
a file that is not UTF-8 is refused with the byte offset and line of the first bad byte::

    tasks/x.yaml: not valid UTF-8: byte 0xe9 at offset 412 (line 9)

YAML documents are also refused when their aliases expand into more than
:data:`MAX_YAML_NODES` values (a "billion laughs" file would otherwise hang whatever walks it).
The cap on data files (predictions files) is :data:`DEFAULT_MAX_INPUT_MB` megabytes, or the
``EVALSUITE_MAX_INPUT_MB`` environment variable.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import yaml

from evalsuite.errors import UserError

MAX_INPUT_MB_ENV = "EVALSUITE_MAX_INPUT_MB"
DEFAULT_MAX_INPUT_MB = 1024  # predictions files and other data read by evalsuite itself
CONFIG_FILE_LIMIT = 16 << 20  # task cards, batch files, policies
MAX_LINE_BYTES = 64 << 20  # one line of a JSONL/CSV file
MAX_YAML_NODES = 1_000_000
_BLOCK = 1 << 20


def input_limit() -> int:
    """The cap in bytes on a data file: ``EVALSUITE_MAX_INPUT_MB`` (default 1024) MB."""
    raw = os.environ.get(MAX_INPUT_MB_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_INPUT_MB << 20
    try:
        megabytes = float(raw)
    except ValueError:
        raise UserError(f"must be a number of megabytes, got {raw!r}",
                        where=MAX_INPUT_MB_ENV) from None
    if not megabytes > 0:
        raise UserError(f"must be positive, got {raw!r}", where=MAX_INPUT_MB_ENV)
    return int(megabytes * (1 << 20))


def describe_size(limit: int) -> str:
    """``16 MB``, ``0.5 MB``, ``1,048 bytes``."""
    if limit >= 1 << 16:
        return f"{round(limit / (1 << 20), 3):g} MB"
    return f"{limit:,} bytes"


def too_large(where: str, limit: int, how: str) -> UserError:
    return UserError(f"larger than the limit of {describe_size(limit)} ({how})", where=where)


def read_capped(fh: IO[bytes], limit: int, where: str, how: str) -> bytes:
    """At most ``limit`` bytes of ``fh``; more is refused with ``how`` (how to raise it)."""
    data = fh.read(limit + 1)
    if len(data) > limit:
        raise too_large(where, limit, how)
    return data


def utf8_error(data: bytes, exc: UnicodeDecodeError, *, offset: int = 0,
               lines_before: int = 0) -> str:
    """``not valid UTF-8: byte 0xe9 at offset 412 (line 9)`` for a decode error in ``data``
    (a block that starts ``offset`` bytes and ``lines_before`` newlines into the file)."""
    bad = data[exc.start:exc.start + 1]
    line = lines_before + data.count(b"\n", 0, exc.start) + 1
    what = f"byte 0x{bad.hex()}" if bad else "a truncated character"
    if bad and exc.reason == "unexpected end of data":
        what += " (a truncated character)"
    return f"not valid UTF-8: {what} at offset {offset + exc.start} (line {line})"


def decode_utf8(data: bytes, where: str) -> str:
    """``data`` as text (a UTF-8 byte-order mark is dropped); ``UserError`` when it is not
    UTF-8, naming the offset and line of the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        shift = 3 if data.startswith(b"\xef\xbb\xbf") else 0
        raise UserError(utf8_error(data[shift:], exc, offset=shift), where=where) from None


def read_text(path: str | Path, *, where: str | None = None, limit: int = CONFIG_FILE_LIMIT,
              how: str = "is this the right file?") -> str:
    """A whole (small) text file, capped and checked to be UTF-8.

    ``FileNotFoundError`` passes through so that callers can say what was missing; other
    read errors become a ``UserError`` naming the file.
    """
    path = Path(path)
    where = where or str(path)
    if path.is_dir():
        raise UserError("is a folder, not a file", where=where)
    try:
        with path.open("rb") as fh:
            data = read_capped(fh, limit, where, how)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise UserError(f"cannot read: {exc.strerror or exc}", where=where) from None
    return decode_utf8(data, where)


def load_yaml(path: str | Path, *, where: str | None = None) -> Any:
    """Parse a YAML file (safe loader) read with :func:`read_text`.

    ``yaml.YAMLError`` passes through (callers word it); a document whose aliases expand
    past :data:`MAX_YAML_NODES` values is refused.
    """
    where = where or str(path)
    data = yaml.safe_load(read_text(path, where=where))
    if _expanded_size(data, MAX_YAML_NODES) > MAX_YAML_NODES:
        raise UserError(f"its aliases expand into more than {MAX_YAML_NODES:,} values; "
                        "write the document out without nested aliases", where=where)
    return data


def _expanded_size(data: Any, budget: int) -> int:
    """Values in ``data`` counting shared (aliased) parts each time they appear; stops
    counting past ``budget``."""
    count = 0
    stack = [data]
    while stack and count <= budget:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return count


def iter_lines(path: Path, *, where: str, limit: int | None = None,
               how: str = f"set {MAX_INPUT_MB_ENV} to raise it") -> Iterator[tuple[int, str]]:
    """``(line number, text)`` for each line of a UTF-8 text file, streamed.

    The whole file is capped at ``limit`` bytes (default :func:`input_limit`) and each line
    at :data:`MAX_LINE_BYTES`, so memory stays bounded whatever the file is.
    """
    limit = input_limit() if limit is None else limit
    seen = 0
    with path.open("rb") as fh:
        number = 0
        while True:
            raw = fh.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            number += 1
            seen += len(raw)
            if seen > limit:
                raise too_large(where, limit, how)
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                raise UserError(f"line {number} is longer than "
                                f"{describe_size(MAX_LINE_BYTES)}", where=where)
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise UserError(utf8_error(raw, exc, offset=seen - len(raw),
                                           lines_before=number - 1), where=where) from None
            yield number, text


def check_utf8_file(path: Path, digest: Any = None) -> str | None:
    """Why ``path`` is not UTF-8 text (offset and line of the first bad byte), else ``None``;
    streamed in blocks.  ``digest`` (a ``hashlib`` object) is fed every byte on the way."""
    offset = 0  # bytes of the file before ``pending``
    lines = 0  # newlines before ``pending``
    pending = b""
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            if digest is not None:
                digest.update(block)
            data = pending + block
            try:
                data.decode("utf-8")
                good = len(data)
            except UnicodeDecodeError as exc:
                if exc.reason != "unexpected end of data" or len(data) - exc.start > 3:
                    return utf8_error(data, exc, offset=offset, lines_before=lines)
                good = exc.start  # a character split across blocks: keep its start
            lines += data.count(b"\n", 0, good)
            offset += good
            pending = data[good:]
    if pending:
        try:
            pending.decode("utf-8")
        except UnicodeDecodeError as exc:
            return utf8_error(pending, exc, offset=offset, lines_before=lines)
    return None
