"""Where and in what precision a torch model runs, and how its weights get there.

Shared by the ``hf`` and ``st`` backends (precision variants, DESIGN.md §4 ``dtype``):

* :func:`place` — the device and dtype of a model (one rule for every torch backend), with
  the caveats of the pair; int8 is dynamic quantization on the CPU, bitsandbytes on a GPU;
* :func:`direct_load_kwargs` — ``from_pretrained`` builds a model on the CPU and copies it to
  the GPU afterwards unless it is given a ``device_map``; with one, each weight is read from
  the checkpoint straight onto its device (no full host copy, a shorter ``load_s``).
  transformers needs the ``accelerate`` package for any ``device_map`` (and for bitsandbytes
  8-bit weights), so without it the model loads on the CPU and is moved, with a note in the
  record (:data:`MOVED_NOTE`);
* :func:`module_weight_bytes` — what the weights occupy, int8 packed weights included.
"""

from __future__ import annotations

import importlib.util
import warnings
from typing import Any

from evalsuite.errors import BackendUnavailable
from evalsuite.utils import cuda_indexes, resolve_device

DTYPES = {"auto": "auto", "float32": "float32", "fp32": "float32", "float16": "float16",
          "fp16": "float16", "half": "float16", "bfloat16": "bfloat16", "bf16": "bfloat16",
          "int8": "int8"}
"""Accepted spellings of option ``dtype`` → the precision's name."""


def native_bf16(device: str = "cuda") -> bool:
    """Whether the CUDA GPU ``device`` names (``cuda``: the current one, ``cuda:N``, or
    ``cuda:all``: every visible one) computes in bfloat16 natively (compute capability 8.0,
    Ampere, or later; every ROCm GPU), not emulated."""
    import torch

    if torch.version.hip:
        return True
    return all(torch.cuda.get_device_properties(index).major >= 8
               for index in cuda_indexes(device))


def resolve_dtype(requested: str, device: str) -> str:
    """The one precision rule of every torch backend: ``auto`` → bfloat16 on a GPU that
    computes it natively, else float16; float32 on the CPU (and other devices).  Other
    spellings → their name (:data:`DTYPES`)."""
    name = DTYPES[requested]
    if name != "auto":
        return name
    if device.startswith("cuda"):
        return "bfloat16" if native_bf16(device) else "float16"
    return "float32"


def precision_notes(dtype: str, device: str, where: str) -> list[str]:
    """Caveats of running ``dtype`` on ``device``; refuses bfloat16 on a GPU without it."""
    import torch

    if device.startswith("cuda") and dtype == "bfloat16" and not native_bf16(device):
        name = torch.cuda.get_device_name(cuda_indexes(device)[0])
        raise BackendUnavailable(f"{where}: dtype=bfloat16: this GPU ({name}) has no "
                                 f"bfloat16 support; use dtype=float16")
    if device == "cpu" and dtype in ("float16", "bfloat16"):
        return [f"{dtype} on the CPU runs, but usually slower than float32 (fast only on CPUs "
                f"with native {dtype} matrix units); its timings say little about a GPU"]
    if dtype == "int8" and device == "cpu":
        return ["int8: dynamic quantization of the Linear layers (weights int8, activations "
                "quantized per batch) with torch.ao on the CPU"]
    if dtype == "int8" and device.startswith("cuda"):
        return ["int8: bitsandbytes LLM.int8 (8-bit weights, outlier features in float16) on "
                "the GPU; not comparable with the CPU's dynamic int8"]
    return []


def place(requested: str, device_option: str | None, where: str, *, spread: bool = False,
          gpu_int8: bool = False) -> tuple[str, str, list[str]]:
    """Where and in what precision a torch model runs — ``(device, dtype, notes)`` — by one
    rule for every backend: :func:`~evalsuite.utils.resolve_device` and :func:`resolve_dtype`,
    except that ``dtype=int8`` with ``device=auto`` is dynamic quantization on the CPU (noted
    when a GPU was there).  On another device ``int8`` is bitsandbytes where the backend has
    it (``gpu_int8``), else refused (``BackendUnavailable``: the variant is skipped)."""
    import torch

    name = DTYPES[requested]
    option = str(device_option or "auto").strip().lower()
    extra: list[str] = []
    if name == "int8" and option == "auto":
        device = "cpu"
        if torch.cuda.is_available():
            extra.append(INT8_ON_CPU_NOTE)
    elif name == "int8" and option != "cpu" and not gpu_int8:
        raise BackendUnavailable(f"{where}: dtype=int8 (dynamic quantization) runs on the CPU "
                                 f"only; use device=cpu")
    else:
        device = resolve_device(device_option, where, spread=spread)
    dtype = resolve_dtype(name, device)
    return device, dtype, precision_notes(dtype, device, where) + extra


INT8_ON_CPU_NOTE = ("int8 with device=auto is dynamic quantization, a CPU technique: this "
                    "machine's GPU was not used (device=cuda runs bitsandbytes LLM.int8)")
"""The note of an ``int8`` model placed on the CPU although a GPU is visible."""


# -- loading straight onto the device -----------------------------------------------------------
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


# -- int8 and weight bytes ---------------------------------------------------------------------
def quantization_method(dtype: str, device: str) -> str | None:
    """The technique behind ``dtype=int8`` on ``device``: ``torch-dynamic-int8`` (torch.ao
    dynamic quantization of the Linear layers, CPU) or ``bitsandbytes-llm-int8``
    (bitsandbytes LLM.int8 weights, CUDA); ``None`` for other precisions."""
    if dtype != "int8":
        return None
    return "bitsandbytes-llm-int8" if device.startswith("cuda") else "torch-dynamic-int8"


def require_bitsandbytes(where: str) -> None:
    """Refuse (``BackendUnavailable``: the variant is skipped, the run goes on) bitsandbytes
    8-bit loading when ``bitsandbytes`` or ``accelerate`` (which transformers needs for it)
    is missing."""
    missing = [name for name in ("bitsandbytes", "accelerate") if not module_available(name)]
    if missing:
        raise BackendUnavailable(
            f"{where}: dtype=int8 on a CUDA device is bitsandbytes LLM.int8, which needs "
            f"{' and '.join(missing)} (pip install {' '.join(missing)}); or use device=cpu "
            f"for dynamic int8 quantization")


def quantize_dynamic_int8(model: Any, where: str) -> Any:
    """``model`` with its ``nn.Linear`` layers dynamically quantized to int8 (CPU)."""
    import torch

    try:
        from torch.ao.quantization import quantize_dynamic
    except ImportError:
        raise BackendUnavailable(f"{where}: dtype=int8 needs torch.ao.quantization."
                                 f"quantize_dynamic, which this torch does not have") from None
    with warnings.catch_warnings():  # torch.ao quantization is deprecated in favour of torchao
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def module_weight_bytes(model: Any) -> int:
    """Bytes of a module's parameters and buffers, each counted once (tied weights), plus the
    packed int8 weights of dynamically quantized layers."""
    tensors = {id(t): t for t in [*model.parameters(), *model.buffers()]}
    for module in model.modules():
        packed = getattr(module, "_packed_params", None)
        unpack = getattr(packed, "_weight_bias", None)
        if callable(unpack):
            tensors.update((id(t), t) for t in unpack() if t is not None)
    return int(sum(t.numel() * t.element_size() for t in tensors.values()))
