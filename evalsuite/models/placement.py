"""Where a torch model's weights go when it loads: straight onto its device.

``from_pretrained`` builds a model on the CPU and copies it to the GPU afterwards unless it is
given a ``device_map``; with one, each weight is read from the checkpoint straight onto its
device (no full host copy, a shorter ``load_s``).  transformers needs the ``accelerate``
package for any ``device_map`` (and for bitsandbytes 8-bit weights), so without it the model
loads on the CPU and is moved, with a note in the record.  Shared by the ``hf`` and ``st``
backends.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from evalsuite.errors import BackendUnavailable

MOVED_NOTE = ("loaded on the CPU, then moved to the GPU (pip install accelerate to load "
              "straight onto it: less host memory, shorter load_s)")
"""The note of a GPU model that could not be loaded straight onto its device."""


def module_available(name: str) -> bool:
    """Whether the Python package ``name`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a broken or blocked (sys.modules[name] = None) module
        return False


def direct_load_kwargs(device: str, where: str) -> dict[str, Any]:
    """``from_pretrained`` keywords that put the weights on ``device`` as they load:
    ``device_map={"": device}`` for one GPU, ``device_map="auto"`` (layers spread over every
    visible GPU) for ``cuda:all``; nothing on the CPU or without ``accelerate`` (the caller
    then moves the model, see :data:`MOVED_NOTE`).  ``cuda:all`` without ``accelerate`` is
    refused (``BackendUnavailable``): one GPU would hold the whole model."""
    if not device.startswith("cuda"):
        return {}
    if not module_available("accelerate"):
        if device == "cuda:all":
            raise BackendUnavailable(f"{where}: device=cuda:all spreads the model over the "
                                     f"GPUs with accelerate, which is not installed (pip "
                                     f"install accelerate)")
        return {}
    if device == "cuda:all":
        return {"device_map": "auto"}
    import torch

    return {"device_map": {"": torch.device(device)}}


def first_device(model: Any, device: str) -> str:
    """The device a model's inputs go to: its input embeddings' (the first GPU of a model
    spread over several), else ``device``."""
    if device != "cuda:all":
        return device
    embeddings = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") \
        else None
    weight = getattr(embeddings, "weight", None)
    return str(weight.device) if weight is not None else "cuda:0"
