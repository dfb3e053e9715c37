"""Talking to a tracking server without hanging on it or leaking its credentials.

* :func:`check_reachable` opens one TCP connection to an ``http(s)`` server with a short
  deadline before anything is sent, so a server that is down, a wrong port or a host that
  drops packets fails in seconds with one line, instead of after the tracker library's own
  retries (MLflow's defaults wait about four minutes on a refused connection, W&B's about
  a minute and a half).
* :func:`bounded_mlflow_http` caps MLflow's per-request timeout and retries for the export
  (only where the user has not set them), so a server that accepts and never answers cannot
  hold the export for long either.
* :func:`redact_url` hides the user and password of ``scheme://user:password@host`` URLs in
  every message and summary line.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from evalsuite.errors import RunError

CONNECT_TIMEOUT_S = 10.0
MLFLOW_HTTP_DEFAULTS = {  # MLflow's own: 120 s per request, 7 retries with backoff factor 2
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
}
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")


def redact_url(text: str) -> str:
    """``text`` with the credentials of any ``scheme://user:password@`` URL replaced by
    ``***``."""
    return _USERINFO.sub(r"\1***@", text)


def check_reachable(url: str, what: str, *, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Refuse (``RunError``, exit 1) an ``http(s)`` ``url`` whose host does not accept a TCP
    connection within ``timeout`` seconds; other schemes (files, databases) pass."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise RunError(f"{what}: {redact_url(url)} has an invalid port") from None
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            pass
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise RunError(f"{what}: cannot reach {redact_url(url)} ({reason}; tried for up to "
                       f"{timeout:g} s)") from None


@contextmanager
def bounded_mlflow_http() -> Iterator[None]:
    """MLflow's HTTP timeout and retries capped for the duration (variables the user set are
    left alone)."""
    added = [name for name in MLFLOW_HTTP_DEFAULTS if name not in os.environ]
    for name in added:
        os.environ[name] = MLFLOW_HTTP_DEFAULTS[name]
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)
