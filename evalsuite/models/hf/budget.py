"""How many tokens one forward pass may hold (``batch_size=auto``): sized from the memory free
on the GPU and from the model.

A batch's memory is the model's weights (already loaded) plus activations that grow with the
padded tokens of the batch.  :func:`bytes_per_token` estimates the second from the config:
one layer's live activations at a time (``torch.inference_mode`` frees each layer's), the
attention weights when the model computes them eagerly, and for generative heads the key/value
cache of every layer and the vocabulary-wide logits with their float32 log-softmax.
:func:`token_budget` divides the usable memory by it, keeping ``HEADROOM`` of it for the
allocator's fragmentation and for whatever else shares the GPU, within ``[MIN_TOKENS,
MAX_TOKENS]``.  The estimate is deliberately simple: a budget that turns out too large costs
one out-of-memory split (the warm-up runs the longest batch first and backs off before any
timed batch), one too small costs some throughput.  On the CPU the fixed ``CPU_TOKEN_BUDGET``
stays (its batches are bounded by cache, not memory).  The budget used goes into the record
(``efficiency.batch_budget``).
"""

from __future__ import annotations

from typing import Any

CPU_TOKEN_BUDGET = 16_384
GPU_TOKEN_BUDGET = 65_536  # when the free memory cannot be read
AUTO_MAX_ROWS = 256
MIN_TOKENS = 512
MAX_TOKENS = 1 << 20
HEADROOM = 0.8
RESERVE_BYTES = 256 << 20  # CUDA context growth, cuBLAS/cuDNN workspaces


def _first(config: Any, *names: str) -> int | None:
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def bytes_per_token(config: Any, dtype_bytes: float, *, generative: bool,
                    max_length: int) -> int:
    """Activation bytes one more padded token of a batch costs (see the module doc).

    >>> from types import SimpleNamespace as C
    >>> bert = C(hidden_size=768, intermediate_size=3072, num_attention_heads=12)
    >>> bytes_per_token(bert, 4, generative=False, max_length=512)
    55296
    """
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    hidden = _first(text, "hidden_size", "d_model", "n_embd", "dim") or 768
    inner = _first(text, "intermediate_size", "d_ff", "n_inner", "ffn_dim", "hidden_dim") \
        or 4 * hidden
    heads = _first(text, "num_attention_heads", "n_head", "num_heads",
                   "encoder_attention_heads") or 12
    per_token = dtype_bytes * (6 * hidden + 3 * inner)  # residual, q/k/v, attention out, FFN
    if getattr(config, "_attn_implementation", None) == "eager":
        per_token += 4 * heads * max_length  # attention weights, materialised
    if generative:
        layers = _first(text, "num_hidden_layers", "n_layer", "num_layers",
                        "num_decoder_layers") or 12
        kv_heads = _first(text, "num_key_value_heads", "num_kv_heads") or heads
        head_dim = _first(text, "head_dim") or hidden // heads
        per_token += 2 * layers * kv_heads * head_dim * dtype_bytes  # key/value cache
        vocab = _first(text, "vocab_size") or 32_000
        per_token += vocab * (dtype_bytes + 4)  # logits, then float32 log-softmax
    return int(per_token)


def token_budget(usable_bytes: int, per_token: int) -> int:
    """Padded tokens a forward pass may hold in ``usable_bytes`` (see the module doc).

    >>> token_budget(8 << 30, 55296), token_budget(80 << 30, 55296)
    (119421, 1048576)
    >>> token_budget(100 << 20, 55296)  # nearly full: the floor
    512
    """
    spare = max(0.0, HEADROOM * usable_bytes - RESERVE_BYTES)
    return int(min(MAX_TOKENS, max(MIN_TOKENS, spare // max(1, per_token))))


def usable_memory(device: str) -> int | None:
    """Bytes this process may still allocate on ``device``: the GPU's free memory plus what
    this process's caching allocator holds unused, within the per-process memory fraction
    (``torch.cuda.set_per_process_memory_fraction``, set for replicas sharing a GPU); the
    smallest over the GPUs of ``cuda:all``.  ``None`` when it cannot be read."""
    if not str(device).startswith("cuda"):
        return None
    try:
        import torch

        from evalsuite.utils import cuda_indexes

        usable = []
        for index in cuda_indexes(device):
            free, total = torch.cuda.mem_get_info(index)
            allocated = torch.cuda.memory_allocated(index)
            mine = free + torch.cuda.memory_reserved(index) - allocated
            fraction = torch.cuda.get_per_process_memory_fraction(index) \
                if hasattr(torch.cuda, "get_per_process_memory_fraction") else 1.0
            usable.append(min(mine, int(fraction * total) - allocated))
    except Exception:
        return None
    return max(0, min(usable)) if usable else None


def plan_budget(device: str, option: int | None, config: Any, dtype_bytes: float, *,
                generative: bool, max_length: int, usable: int | None = None,
                memory_planned: bool = False) -> dict[str, Any]:
    """The token budget of one task's forward passes and where it comes from (the record's
    ``batch_budget``): option ``token_budget``, else the free memory (``usable``: measured
    now unless given), else the fixed CPU or GPU default.  ``memory_planned`` heads (the
    language models: :mod:`evalsuite.models.hf.memory`) plan their batches in bytes: their
    token figure is the fixed default, whose halvings after out-of-memory errors halve the
    memory budget (``source: memory_budget``)."""
    if option is not None:
        return {"tokens": int(option), "source": "option"}
    if memory_planned:
        cuda = str(device).startswith("cuda")
        return {"tokens": GPU_TOKEN_BUDGET if cuda else CPU_TOKEN_BUDGET,
                "source": "memory_budget"}
    if not str(device).startswith("cuda"):
        return {"tokens": CPU_TOKEN_BUDGET, "source": "default"}
    usable = usable_memory(device) if usable is None else usable
    if usable is None:
        return {"tokens": GPU_TOKEN_BUDGET, "source": "default"}
    per_token = bytes_per_token(config, dtype_bytes, generative=generative,
                                max_length=max_length)
    return {"tokens": token_budget(usable, per_token), "source": "free_memory",
            "free_memory_mb": round(usable / 2**20, 1), "bytes_per_token": per_token}
