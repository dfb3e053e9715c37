"""Hub reachability: fail at once, with a useful message, when the hub cannot be reached.

The Hugging Face libraries retry for about a minute before giving up on a missing network.
Before the first hub access we check the environment flags and make one short connection
attempt; when the hub is out of reach we switch the libraries to offline mode so that local
caches still work and anything else fails immediately.
"""

from __future__ import annotations

import functools
import os
import socket
from urllib.parse import urlparse

_TRUE = {"1", "true", "yes", "on"}


def offline_requested() -> bool:
    """Whether the user asked for offline mode (``HF_HUB_OFFLINE``/``HF_DATASETS_OFFLINE``)."""
    return any(
        os.environ.get(var, "").strip().lower() in _TRUE
        for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


@functools.lru_cache(maxsize=1)
def hub_reachable(timeout: float = 3.0) -> bool:
    """One TCP connection attempt to the hub endpoint (cached for the process)."""
    if offline_requested():
        return False
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    parsed = urlparse(endpoint)
    host = parsed.hostname or "huggingface.co"
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def go_offline() -> None:
    """Put huggingface_hub, datasets and transformers into offline mode for this process."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    import importlib

    for module, attr in (
        ("huggingface_hub.constants", "HF_HUB_OFFLINE"),
        ("datasets.config", "HF_HUB_OFFLINE"),
        ("datasets.config", "HF_DATASETS_OFFLINE"),
    ):
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        if hasattr(mod, attr):
            setattr(mod, attr, True)


def ensure_hub_or_offline() -> bool:
    """Return whether the hub is reachable; if not, switch the libraries to offline mode."""
    reachable = hub_reachable()
    if not reachable:
        go_offline()
    return reachable


def offline_reason() -> str:
    if offline_requested():
        return "offline mode is set (HF_HUB_OFFLINE=1)"
    return "the hub cannot be reached from this machine"
