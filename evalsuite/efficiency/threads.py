"""torch's intra-op thread count: set it for a run (``--threads``) and record it.

torch starts as many intra-op threads as the machine has cores; on a small machine shared
with other work that oversubscribes the cores and can make a CPU run several times slower
(docs/efficiency.md says when to set it).
"""

from __future__ import annotations

import sys

from evalsuite.errors import UserError


def set_threads(threads: int | None) -> None:
    """Use ``threads`` intra-op threads in torch for the rest of the process (``None``:
    leave torch's default)."""
    if threads is None:
        return
    if threads < 1:
        raise UserError(f"must be at least 1, got {threads}", where="--threads")
    import torch

    torch.set_num_threads(threads)


def torch_threads() -> int | None:
    """torch's intra-op thread count, or ``None`` when torch is not loaded."""
    torch = sys.modules.get("torch")
    return int(torch.get_num_threads()) if torch is not None else None
