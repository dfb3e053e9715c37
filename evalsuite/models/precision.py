"""Numeric precision of torch models: int8 dynamic quantization, weight bytes, caveats.

Shared by the ``hf`` and ``st`` backends (precision variants, DESIGN.md §4 ``dtype``).
"""

from __future__ import annotations

import warnings
from typing import Any

from evalsuite.errors import BackendUnavailable


def native_bf16() -> bool:
    """Whether the current CUDA GPU computes in bfloat16 natively (not emulated)."""
    import torch

    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # older torch: no emulation flag
        return bool(torch.cuda.is_bf16_supported())


def precision_notes(dtype: str, device: str, where: str) -> list[str]:
    """Caveats of running ``dtype`` on ``device``; refuses bfloat16 on a GPU without it."""
    import torch

    if device.startswith("cuda") and dtype == "bfloat16" and not native_bf16():
        name = torch.cuda.get_device_name(device)
        raise BackendUnavailable(f"{where}: dtype=bfloat16: this GPU ({name}) has no "
                                 f"bfloat16 support; use dtype=float16")
    if device == "cpu" and dtype in ("float16", "bfloat16"):
        return [f"{dtype} on the CPU runs, but usually slower than float32 (fast only on CPUs "
                f"with native {dtype} matrix units); its timings say little about a GPU"]
    if dtype == "int8" and device == "cpu":
        return ["int8: dynamic quantization of the Linear layers (weights int8, activations "
                "quantized per batch) with torch.ao on the CPU"]
    return []


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
