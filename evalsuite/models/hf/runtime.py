"""What every ``hf`` head works with: the loaded model, its tokenizer, device and limits.

A head splits a batch into :meth:`HeadRunner.prepare` (CPU only: tokenization, pinned host
memory on CUDA; safe to run in the adapter's prefetch thread while the previous batch
computes) and :meth:`HeadRunner.predict` (host→device copy, forward, decode), and reports the
phases ``tokenize``/``transfer``/``forward``/``decode`` through ``Runtime.phase``.  Every
tokenizer call that may run while the prefetch thread tokenizes holds ``Runtime.lock``: a fast
tokenizer switches its padding/truncation state per call and is not safe to share between
threads otherwise.
"""

from __future__ import annotations

import inspect
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from evalsuite.efficiency.meter import PhaseTimer
from evalsuite.errors import SpecError
from evalsuite.models.base import Output
from evalsuite.runner.batching import token_budget_batches
from evalsuite.tasks.cards import TaskCard

# Tokenizers without a real limit report model_max_length as a huge sentinel (int(1e30)).
_NO_LIMIT = 1_000_000
_MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
PAD_MULTIPLE = 8


@dataclass
class Runtime:
    """A loaded checkpoint: model (eval mode, on ``device``), tokenizer, config, options."""

    model: Any
    tokenizer: Any
    config: Any
    device: str
    options: dict[str, Any]
    name: str
    phases: PhaseTimer | None = None
    lock: Any = field(default_factory=threading.RLock, repr=False)
    _accepted: frozenset[str] = field(default=frozenset(), init=False, repr=False)

    def __post_init__(self) -> None:
        forward = getattr(self.model, "forward", None)
        try:
            params = inspect.signature(forward).parameters if forward else {}
        except (TypeError, ValueError):
            params = {}
        self._accepted = frozenset(params)

    @property
    def forward_params(self) -> frozenset[str]:
        """The argument names of the model's forward (empty when they cannot be read)."""
        return self._accepted

    def accepts(self, name: str) -> bool:
        """Whether the model's forward takes argument ``name`` (``True`` when unknown)."""
        return not self._accepted or name in self._accepted

    @property
    def model_limit(self) -> int:
        """The most input tokens the checkpoint takes (tokenizer, else position embeddings)."""
        limit = getattr(self.tokenizer, "model_max_length", None)
        if isinstance(limit, int) and 0 < limit < _NO_LIMIT:
            return limit
        for attr in ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length"):
            value = getattr(self.config, attr, None)
            if isinstance(value, int) and value > 0:
                return value
        return 512

    def max_input(self, card: TaskCard, default: int | None = None) -> int:
        """Input token limit: option ``max_length``, else the card's ``max_input_length`` and
        ``default`` capped by the model's own limit."""
        if "max_length" in self.options:
            return int(self.options["max_length"])
        limit = self.model_limit
        for cap in (card.max_input_length, default):
            if cap:
                limit = min(limit, int(cap))
        return limit

    @property
    def cuda(self) -> bool:
        return str(self.device).startswith("cuda")

    def pad_multiple(self, limit: int) -> int | None:
        """Pad batches to a multiple of 8 tokens on CUDA (tensor-core friendly shapes, fewer
        distinct kernel shapes); ``None`` on the CPU or when ``limit`` is not a multiple."""
        return PAD_MULTIPLE if self.cuda and limit % PAD_MULTIPLE == 0 else None

    def phase(self, name: str) -> AbstractContextManager[None]:
        """Time a phase of the batch (see :class:`~evalsuite.efficiency.PhaseTimer`)."""
        return self.phases.phase(name) if self.phases is not None else nullcontext()

    def pinned(self, encoding: Any, keys: Sequence[str] = _MODEL_INPUTS) -> Any:
        """``encoding`` with its model inputs in pinned host memory (CUDA only), so the copy to
        the GPU can be asynchronous."""
        if self.cuda:
            for key in keys:
                if key in encoding and not encoding[key].is_pinned():
                    encoding[key] = encoding[key].pin_memory()
        return encoding

    def inputs(self, encoding: Any, keys: Sequence[str] | None = None) -> dict[str, Any]:
        """The encoding's tensors the model's forward accepts, moved to the device at once
        (asynchronously from pinned memory on CUDA)."""
        wanted = keys or _MODEL_INPUTS
        with self.phase("transfer"):
            return {k: encoding[k].to(self.device, non_blocking=self.cuda) for k in wanted
                    if k in encoding and (k in self._accepted or not self._accepted)}

    def to_device(self, array: Any) -> Any:
        """A NumPy array or CPU tensor on the device (pinned and asynchronous on CUDA)."""
        import torch

        tensor = torch.from_numpy(array) if not isinstance(array, torch.Tensor) else array
        if self.cuda:
            return tensor.pin_memory().to(self.device, non_blocking=True)
        return tensor.to(self.device)


class HeadRunner(ABC):
    """Predicts one family-batch with one kind of head."""

    needs_fast_tokenizer: bool = False

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        if self.needs_fast_tokenizer and not getattr(rt.tokenizer, "is_fast", True):
            raise SpecError("this head needs a fast (Rust) tokenizer for word and character "
                            "offsets; the checkpoint has only a slow one", where=f"model {rt.name}")

    @abstractmethod
    def input_lengths(self, card: TaskCard, examples: Sequence[dict]) -> list[int]:
        """Untruncated input tokens of each example (one batched tokenizer call)."""

    def prepare(self, card: TaskCard, examples: Sequence[dict], lengths: Sequence[int]) -> Any:
        """The CPU-side inputs of a batch (tokenized, pinned on CUDA), or ``None`` when the
        head tokenizes inside :meth:`predict`.  Runs in the prefetch thread or, when nothing
        was prefetched, in :meth:`prepared`; the caller holds ``rt.lock``."""
        return None

    def prepared(self, card: TaskCard, examples: Sequence[dict], lengths: Sequence[int],
                 ready: Any) -> Any:
        """``ready`` (prefetched) or the batch prepared now, timed as ``tokenize``."""
        if ready is not None:
            return ready
        with self.rt.phase("tokenize"), self.rt.lock:
            return self.prepare(card, examples, lengths)

    def cost(self, card: TaskCard, length: int) -> int:
        """Padded tokens one example occupies in a batch (for the token budget)."""
        return min(length, self.max_input(card))

    def max_input(self, card: TaskCard) -> int:
        return self.rt.max_input(card)

    def start_task(self) -> None:  # noqa: B027 - a head without per-task state keeps none
        """Drop per-task state (memoised embeddings) before each task."""

    def plan(self, card: TaskCard, examples: list[dict], budget: int, rows: int,
             length: Callable[[dict], int]) -> Iterator[list[dict]]:
        """Batches of the length-sorted ``examples`` within ``budget`` padded tokens and
        ``rows`` rows; ``length`` gives an example's untruncated tokens."""
        return token_budget_batches(examples, lambda ex: self.cost(card, length(ex)), budget,
                                    rows)

    def input_tokens(self, card: TaskCard, examples: Sequence[dict],
                     length: Callable[[dict], int]) -> int:
        """Input tokens the forward passes of this batch see, truncated as the model does."""
        limit = self.max_input(card)
        return sum(min(length(ex), limit) for ex in examples)

    @abstractmethod
    def predict(self, card: TaskCard, examples: Sequence[dict], lengths: Sequence[int],
                ready: Any = None) -> list[Output]:
        """One output per example; ``lengths`` are the examples' untruncated token counts and
        ``ready`` what :meth:`prepare` returned for this batch in the prefetch thread."""


def token_counts(tokenizer: Any, texts: Sequence[str], pairs: Sequence[str] | None = None,
                 *, words: bool = False) -> list[int]:
    """Tokens (with special tokens) of each text or pair, without truncation or padding."""
    if not texts:
        return []
    kwargs: dict[str, Any] = {"truncation": False, "padding": False, "verbose": False}
    if words:
        kwargs["is_split_into_words"] = True
    enc = tokenizer(list(texts), list(pairs), **kwargs) if pairs is not None else \
        tokenizer(list(texts), **kwargs)
    return [len(ids) for ids in enc["input_ids"]]
