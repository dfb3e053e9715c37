"""How much memory one row of a language-model batch needs: batches are sized by bytes.

An estimate from the config alone (hidden size, layers, heads, key/value heads, vocabulary,
intermediate size, the dtype's width): the keys/values kept for generating rows, one
layer's transient activations, the attention scores of one layer (and the 4-D mask of packed
label scoring) and the float32 logits at the positions that are scored or sampled.  A batch
of length-sorted rows is planned so that ``rows × bytes(longest row)`` stays within the
memory budget (option ``memory_budget``, in MiB: 128 on the CPU; on CUDA half the device
memory left free after loading).  It is an estimate (allocator slack and tokenizer buffers
come on top); an out-of-memory still halves the batch and the budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CPU_MEMORY_BUDGET_MB = 128
GPU_BUDGET_FRACTION = 0.5
ACTIVATION_COPIES = 2  # residual stream + the layer's output alive at once


def _get(config: Any, *names: str, default: int = 0) -> int:
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return default


@dataclass(frozen=True)
class MemoryModel:
    """Per-row byte estimates of a decoder-only (or encoder-decoder) transformer."""

    hidden: int
    layers: int
    heads: int
    kv_width: int  # key/value heads × head dimension
    intermediate: int
    vocab: int
    width: int  # bytes per element of the weights' dtype

    @classmethod
    def from_config(cls, config: Any, dtype_bytes: int) -> MemoryModel:
        config = getattr(config, "text_config", None) or config
        hidden = _get(config, "hidden_size", "n_embd", "d_model", default=768)
        heads = _get(config, "num_attention_heads", "n_head", "num_heads", default=12)
        kv_heads = _get(config, "num_key_value_heads", default=heads)
        head_dim = _get(config, "head_dim", default=max(1, hidden // heads))
        layers = _get(config, "num_hidden_layers", "n_layer", "num_layers", default=12)
        layers += _get(config, "num_decoder_layers", "decoder_layers")
        return cls(hidden=hidden, layers=layers, heads=heads, kv_width=kv_heads * head_dim,
                   intermediate=_get(config, "intermediate_size", "n_inner", "d_ff",
                                     "ffn_dim", default=4 * hidden),
                   vocab=_get(config, "vocab_size", default=50_000), width=dtype_bytes)

    def kv_bytes(self, tokens: int) -> int:
        """Keys and values of ``tokens`` positions over every layer."""
        return 2 * self.layers * self.kv_width * tokens * self.width

    def pass_bytes(self, tokens: int, context: int) -> int:
        """Transient memory of a forward pass over ``tokens`` new positions that attend to
        ``context`` positions (one layer's activations and attention scores)."""
        activations = ACTIVATION_COPIES * tokens * (3 * self.hidden + self.intermediate)
        return (activations + self.heads * tokens * context) * self.width

    def logits_bytes(self, positions: int) -> int:
        """Logits at ``positions`` in the dtype, their float32 copy and log-softmax."""
        return positions * self.vocab * (self.width + 8)

    def scoring_row(self, prompt: int, labels: int, extra: int) -> int:
        """One prompt scored against ``labels`` continuations of up to ``extra`` tokens
        beyond the first, packed behind the prompt (0: single-token labels, read from the
        last position): one pass over the packed row, its 4-D mask, the kept logits."""
        row = prompt + labels * extra
        mask = row * row * self.width if extra else 0
        return self.pass_bytes(row, row) + mask + self.logits_bytes(1 + labels * extra)

    def generation_row(self, prompt: int, new: int, beams: int = 1) -> int:
        """One prompt generating up to ``new`` tokens with ``beams`` beams."""
        per_beam = self.kv_bytes(prompt + new) + self.logits_bytes(1)
        return self.pass_bytes(prompt, prompt) + beams * per_beam


def default_budget_bytes(device: str) -> int:
    """The memory budget of a batch when option ``memory_budget`` is not given: on CUDA a
    share of what this process can still allocate (free memory, its allocator's unused
    cache, within its per-process fraction: :func:`~evalsuite.models.hf.budget.usable_memory`)."""
    if str(device).startswith("cuda"):
        from evalsuite.models.hf.budget import GPU_TOKEN_BUDGET, usable_memory

        usable = usable_memory(device)
        if usable is None:  # unreadable: a conservative 1 KiB per token of the fixed budget
            return GPU_TOKEN_BUDGET << 10
        return int(usable * GPU_BUDGET_FRACTION)
    return CPU_MEMORY_BUDGET_MB << 20
