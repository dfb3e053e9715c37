"""COMET (Rei et al. 2020/2022) through the ``unbabel-comet`` package, with bootstrap intervals.

Optional: ``pip install 'evalsuite[comet]'``.  The model comes from the hub
(``Unbabel/wmt22-comet-da`` by default, with its XLM-R encoder): on a machine without the hub
it must be in the local hub cache, or the card names a local checkpoint; otherwise the metric
stops the run with one line saying so.  Configured on the card
(``options: {metrics: {comet: {...}}}``): ``model`` (a hub id, a ``model.ckpt`` file or a
folder holding ``checkpoints/model.ckpt``), ``batch_size`` (8), ``gpus`` (1 when CUDA is
available, else 0).

Each example is scored against its first reference (COMET models take one); the corpus value
is the mean segment score (COMET's ``system_score``), so the statistics are ``[score, 1]``.
The signature records the model, the checkpoint's hash and the package versions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evalsuite.errors import CardError, HubUnreachableError, UserError
from evalsuite.families import Family
from evalsuite.metrics.base import Metric, MetricContext
from evalsuite.metrics.registry import register

DEFAULT_MODEL = "Unbabel/wmt22-comet-da"
SETTINGS = frozenset({"model", "batch_size", "gpus"})
INSTALL_HINT = "pip install 'evalsuite[comet]'"
_SHARED_KEY = "comet"


def comet_inputs(predictions: Sequence[Any], examples: Sequence[dict]) -> list[dict[str, str]]:
    """COMET's input rows: source, machine translation, first reference."""
    rows = []
    for pred, ex in zip(predictions, examples, strict=True):
        refs = ex["references"]
        ref = refs if isinstance(refs, str) else (refs[0] if refs else "")
        rows.append({"src": str(ex.get("source", "")), "mt": "" if pred is None else str(pred),
                     "ref": str(ref)})
    return rows


def checkpoint_path(name: str) -> Path:
    """The ``model.ckpt`` of a local path or a hub id (from the cache when offline)."""
    from evalsuite import hub

    local = Path(name).expanduser()
    if local.is_file():
        return local
    if local.is_dir():
        found = local / "checkpoints" / "model.ckpt"
        if found.is_file():
            return found
        raise CardError(f"field 'options.metrics.comet.model': {name!r} has no "
                        f"checkpoints/model.ckpt")
    from huggingface_hub import snapshot_download

    offline = not hub.ensure_hub_or_offline()
    try:
        folder = Path(snapshot_download(repo_id=name, local_files_only=offline))
    except Exception as exc:
        if offline:
            raise HubUnreachableError(
                f"the COMET model {name!r} is not in the hub cache and "
                f"{hub.offline_reason()}; download it on a networked machine (hf download "
                f"{name}) or name a local checkpoint in options.metrics.comet.model") from None
        raise CardError(f"field 'options.metrics.comet.model': cannot fetch {name!r}: "
                        f"{str(exc).splitlines()[0][:200]}") from None
    return folder / "checkpoints" / "model.ckpt"


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]


@register
class Comet(Metric):
    """Mean COMET segment score (the package's system score)."""

    name = "comet"
    families = (Family.TRANSLATION,)
    scale = "0-1"
    description = ("Mean COMET score (unbabel-comet; default Unbabel/wmt22-comet-da), against "
                   "the first reference.")

    def example_stats(self, predictions: Sequence[Any], examples: Sequence[dict],
                      context: MetricContext) -> np.ndarray:
        settings = dict((context.options.get("metrics") or {}).get(self.name) or {})
        unknown = sorted(set(settings) - SETTINGS)
        if unknown:
            raise CardError(f"field 'options.metrics.comet': unknown setting {unknown[0]!r} "
                            f"(settings: {', '.join(sorted(SETTINGS))})")
        if not examples:
            return np.zeros((0, 2))
        try:
            import comet
        except ImportError:
            raise UserError(f"the comet metric needs the unbabel-comet package: "
                            f"{INSTALL_HINT}", where="metric comet") from None
        import torch

        name = str(settings.get("model") or DEFAULT_MODEL)
        path = checkpoint_path(name)
        try:
            model = comet.load_from_checkpoint(str(path), local_files_only=True)
        except TypeError:  # releases before local_files_only
            model = comet.load_from_checkpoint(str(path))
        gpus = int(settings.get("gpus", 1 if torch.cuda.is_available() else 0))
        output = model.predict(comet_inputs(predictions, examples),
                               batch_size=int(settings.get("batch_size", 8)), gpus=gpus,
                               progress_bar=False)
        scores = np.asarray(output.scores, dtype=np.float64)
        context.shared[_SHARED_KEY] = {
            "model": name,
            "signature": f"{name}|ckpt:{_file_hash(path)}|unbabel-comet:"
                         f"{getattr(comet, '__version__', '?')}|torch:{torch.__version__}"}
        return np.column_stack([scores, np.ones(len(scores))])

    def from_sums(self, sums: np.ndarray) -> np.ndarray:
        return sums[:, 0] / sums[:, 1]

    def extra(self, stats: np.ndarray, context: MetricContext) -> dict[str, Any]:
        return dict(context.shared.get(_SHARED_KEY) or {})
