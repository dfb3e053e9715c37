"""What a run ran on: package versions, hardware, git commit (recorded in every result file)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = (
    "evalsuite", "torch", "transformers", "datasets", "evaluate", "tokenizers",
    "sentence-transformers", "spacy", "scikit-learn", "sacrebleu", "rouge-score", "seqeval",
    "scipy", "numpy", "pandas", "plotly", "vadersentiment", "summa", "alt-profanity-check",
)


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_commit(start: Path | None = None) -> str | None:
    """The commit of the working tree evalsuite runs from (``None`` outside a checkout)."""
    cwd = start or Path.cwd()
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = out.stdout.strip()
    if out.returncode != 0 or not commit:
        return None
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                           capture_output=True, text=True, timeout=5, check=False).stdout.strip()
    return commit + ("-dirty" if dirty else "")


def hardware() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            total_kb = int(fh.readline().split()[1])
        info["memory_gb"] = round(total_kb / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    if "torch" in sys.modules or _importable("torch"):
        import torch

        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpus"] = [
                {"name": torch.cuda.get_device_name(i),
                 "memory_gb": round(torch.cuda.get_device_properties(i).total_memory / 2**30, 1)}
                for i in range(torch.cuda.device_count())
            ]
            info["cuda"] = torch.version.cuda
    return info


def _importable(name: str) -> bool:
    from importlib.util import find_spec

    return find_spec(name) is not None


def collect() -> dict[str, Any]:
    return {"packages": package_versions(), "hardware": hardware(), "git_commit": git_commit()}
