"""The model adapter interface every backend implements.

An adapter turns canonical examples of one family into predictions; it never computes
metrics.  The runner owns ordering, batching, caching, timing and out-of-memory back-off,
so an adapter only says how to load itself, what it can serve, and how to predict a batch.

Everything else an adapter *may* offer is declared here with a default that does nothing
special, so a backend overrides only what it has (see ``docs/extending.md``):

==========================  ========================================================
capability                  default
==========================  ========================================================
``precompute_lengths``      nothing (lengths come from :meth:`example_length`)
``plan_batches``            fixed-size batches of ``batch_size``, halved per shrink
``prefetch`` / depth        ``prefetch_depth = 0``: batches are not announced
``cancel_prefetch``         nothing
``needs_warmup``            ``False``: no untimed warm-up batch
``phases``                  a :class:`PhaseTimer` the adapter may time its steps with
``can_embed`` / ``embed``   ``False``: probes use pair scores instead of embeddings
``spreads_over_gpus``       ``False``: the model runs on one device
``replays_fixed_outputs``   ``False``: the model can predict inputs it has not seen
``info()``                  ``params``, ``weight_bytes``, ``device``, ``dtype``, ``notes``…
==========================  ========================================================
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from evalsuite.efficiency.measurement import ModelInfo
from evalsuite.efficiency.meter import PhaseTimer, describe_device
from evalsuite.errors import SpecError
from evalsuite.families import Family, input_text
from evalsuite.models.spec import ModelSpec
from evalsuite.runner.batching import fixed_size_batches
from evalsuite.tasks.cards import TaskCard


@dataclass
class Output:
    """One prediction, with optional class scores and per-example metadata."""

    prediction: Any
    scores: dict[str, float] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true/false, got {value!r}")


def _batch_size(value: Any) -> int | str:
    if str(value).strip().lower() == "auto":
        return "auto"
    size = int(value)
    if size < 1:
        raise ValueError("must be at least 1")
    return size


def positive_int(value: Any) -> int:
    """Option converter: a whole number of at least 1."""
    number = int(value)
    if number < 1:
        raise ValueError("must be at least 1")
    return number


def non_negative_int(value: Any) -> int:
    """Option converter: a whole number of 0 or more."""
    number = int(value)
    if number < 0:
        raise ValueError("must be 0 or more")
    return number


def choice(*values: str) -> Callable[[Any], str]:
    """Option converter: one of ``values`` (case-insensitive)."""
    def convert(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in values:
            raise ValueError(f"choose one of {', '.join(values)}")
        return text
    return convert


def _mapping(value: Any) -> dict[str, str]:
    """``a=b,c=d`` or a YAML mapping → dict."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    pairs = [p for p in str(value).split(",") if p.strip()]
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, val = pair.partition("=")
        if not sep:
            raise ValueError(f"expected KEY=VALUE pairs separated by commas, got {pair!r}")
        out[key.strip()] = val.strip()
    return out


ALLOC_FAILED = ("CUBLAS_STATUS_ALLOC_FAILED", "CUDNN_STATUS_ALLOC_FAILED")
"""CUDA library errors that mean the GPU's memory is full (treated as out-of-memory)."""

COMMON_OPTIONS: dict[str, Callable[[Any], Any]] = {
    "batch_size": _batch_size,
    "device": str,
    "dtype": str,
    "max_length": int,
    "revision": str,
    "label_map": _mapping,
}

OPTION_CONVERTERS = {"bool": _bool, "mapping": _mapping, "batch_size": _batch_size}


class ModelAdapter(ABC):
    """Base class of every backend (``hf``, ``st``, ``spacy``, ``cmd``, ``predictions``…).

    Subclasses set ``kind``, ``families`` and ``extra_options`` (accepted option names and
    converters), and implement :meth:`load` and :meth:`predict_batch`.  They override the
    capabilities below only when they have them (see the module docstring).
    """

    kind: ClassVar[str]
    families: ClassVar[frozenset[Family]]
    extra_options: ClassVar[dict[str, Callable[[Any], Any]]] = {}
    default_batch_size: ClassVar[int] = 32
    description: ClassVar[str] = ""  # one line for listings; the class docstring otherwise

    needs_warmup: bool = False
    """Whether the runner predicts a small untimed warm-up batch (once per task) before the
    timed ones, so lazy initialisation and kernel selection are not timed."""

    prefetch_depth: int = 0
    """How many batches ahead the runner announces through :meth:`prefetch` (0: none)."""

    can_embed: ClassVar[bool] = False
    """Whether :meth:`embed` returns sentence embeddings (the WEAT/SEAT bias tests use them;
    without them the tests use the model's pair scores)."""

    spreads_over_gpus: ClassVar[bool] = False
    """Whether one model can be spread over several GPUs (``device=cuda:all``), so a Ray
    replica that reserves more than one GPU uses them all (others are refused that)."""

    replays_fixed_outputs: ClassVar[bool] = False
    """Whether the model only replays outputs fixed in advance (a predictions file), so it
    cannot predict the perturbed or swapped inputs of the probes, and nothing ran whose cost
    could be measured (its record has ``efficiency: null``)."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.options = self._convert_options(spec)
        self.device = "cpu"
        self.dtype = "n/a"
        self.params: int | None = None
        self.weight_bytes: int | None = None
        self.notes: list[str] = []  # caveats for the efficiency block (e.g. float16 on a CPU)
        self.quantization: str | None = None  # the int8 technique (see models/precision.py)
        self.budget: dict[str, Any] | None = None  # batch_size=auto: the task's token budget
        self.phases = PhaseTimer()
        """Seconds per phase of prediction; the runner's meter reads it around each timed
        batch (see :meth:`phase`)."""

    # -- efficiency -----------------------------------------------------------------------
    def phase(self, name: str, *, overlapped: bool = False) -> AbstractContextManager[None]:
        """Time a phase of prediction (``tokenize``, ``transfer``, ``forward``, ``decode``)
        for the efficiency block's ``split_s``; optional, adapters that never call it report
        no split.  ``overlapped=True`` for work done in a background thread."""
        return self.phases.phase(name, overlapped=overlapped)

    @property
    def device_name(self) -> str | None:
        """The GPU's or CPU's model name for the efficiency block (``None`` when unknown)."""
        return describe_device(str(self.device))

    def info(self) -> ModelInfo:
        """What the efficiency block says about the loaded model.  The default reads
        ``params``, ``weight_bytes``, ``device``, ``dtype``, ``quantization``, ``budget``
        and ``notes``, which :meth:`load` (and batch planning, for ``budget``) sets (they
        stay ``None``/empty when unknown)."""
        return ModelInfo(params=self.params, weight_bytes=self.weight_bytes,
                         device=str(self.device), device_name=self.device_name,
                         dtype=self.dtype, quantization=self.quantization,
                         batch_budget=dict(self.budget) if self.budget else None,
                         notes=tuple(self.notes))

    # -- options --------------------------------------------------------------------------
    def _convert_options(self, spec: ModelSpec) -> dict[str, Any]:
        accepted = {**COMMON_OPTIONS, **self.extra_options}
        out: dict[str, Any] = {}
        for key, raw in spec.options.items():
            if key not in accepted:
                raise SpecError(
                    f"{self.kind} models take no option {key!r} "
                    f"(options: {', '.join(sorted(accepted))})",
                    where=f"model {spec.display_name}",
                )
            try:
                out[key] = accepted[key](raw)
            except (TypeError, ValueError) as exc:
                raise SpecError(f"option {key}={raw!r}: {exc}",
                                where=f"model {spec.display_name}") from None
        return out

    @property
    def batch_size(self) -> int:
        size = self.options.get("batch_size", self.default_batch_size)
        return self.default_batch_size if size == "auto" else int(size)

    # -- capability -----------------------------------------------------------------------
    def unsupported_reason(self, card: TaskCard) -> str | None:
        """Why this model cannot serve ``card`` (``None`` when it can). Checked before work."""
        if card.family not in self.families:
            served = ", ".join(sorted(f.value for f in self.families))
            return (f"{self.kind} models cannot serve {card.family.value} tasks "
                    f"(they serve: {served})")
        return None

    # -- lifecycle ------------------------------------------------------------------------
    @abstractmethod
    def load(self) -> None:
        """Load weights/resources. Called once per run before the first task."""

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to free by default
        """Free resources (GPU memory, subprocesses)."""

    def start_task(self, card: TaskCard) -> None:  # noqa: B027 - optional hook
        """Called before each (model, task): drop per-task state such as memoised
        embeddings, so every task's timing is its own."""

    def check_example_ids(self, card: TaskCard, ids: Collection[str] | None) -> str | None:
        """A warning about the task's example ids (every row of the dataset, ``None`` when
        unknown), or ``None``; may raise a ``UserError`` when told to refuse.  Called once
        per (model, task) after :meth:`load`: a predictions file checks its ids here."""
        return None

    # -- prediction -----------------------------------------------------------------------
    @abstractmethod
    def predict_batch(self, card: TaskCard, examples: Sequence[dict]) -> list[Output | Any]:
        """Predict one batch; return one output per example, in order."""

    def example_length(self, card: TaskCard, example: dict) -> int:
        """A length used to sort examples into batches of similar size."""
        return len(input_text(card.family, example))

    def precompute_lengths(self, card: TaskCard, examples: Sequence[dict]) -> None:  # noqa: B027
        """Called once with every example to predict, before any :meth:`example_length`:
        an adapter whose lengths need a tokenizer computes them here in one batched call."""

    def plan_batches(self, card: TaskCard, examples: list[dict], shrink: int
                     ) -> Iterator[list[dict]]:
        """Cut length-sorted ``examples`` into batches, in order.  ``shrink`` counts the
        out-of-memory splits so far (halve what a batch may hold per level).  The default:
        ``batch_size`` examples per batch, halved per level."""
        return fixed_size_batches(examples, max(1, self.batch_size >> shrink))

    def prefetch(self, card: TaskCard, examples: Sequence[dict]) -> None:  # noqa: B027
        """A batch :meth:`predict_batch` will be asked for soon (announced up to
        ``prefetch_depth`` batches ahead): start preparing it in the background."""

    def cancel_prefetch(self) -> None:  # noqa: B027
        """Drop every prepared batch (after an out-of-memory split, at the end of a task)."""

    def embed(self, sentences: Sequence[str]) -> Any:
        """Sentence embeddings ``(len(sentences), dim)`` as a NumPy array, when
        ``can_embed``."""
        raise NotImplementedError(f"{self.kind} models do not embed sentences")

    def count_tokens(self, card: TaskCard, examples: Sequence[dict]) -> int | None:
        """Input tokens of a batch, for tokens/s (``None`` when the backend has no tokenizer)."""
        return sum(len(input_text(card.family, ex).split()) for ex in examples)

    def is_out_of_memory(self, exc: BaseException) -> bool:
        """Whether ``exc`` is an out-of-memory error that a smaller batch would avoid: torch's
        ``OutOfMemoryError``, "out of memory" in the message, or cuBLAS/cuDNN failing to
        allocate their workspace (``CUBLAS_STATUS_ALLOC_FAILED``,
        ``CUDNN_STATUS_ALLOC_FAILED``), which a full GPU raises as a plain ``RuntimeError``."""
        if type(exc).__name__ == "OutOfMemoryError":
            return True
        text = str(exc)
        return "out of memory" in text.lower() or any(code in text for code in ALLOC_FAILED)

    # -- identity -------------------------------------------------------------------------
    def fingerprint(self) -> str:
        """What identifies this model's outputs: weights, revision, options.

        The default hashes kind and target (options are part of the identity already);
        backends with weight files override it to hash the files (sizes and modification
        times, or contents).
        """
        return hashlib.sha256(f"{self.spec.kind}:{self.spec.target}".encode()).hexdigest()[:16]

    def settings(self, card: TaskCard) -> dict[str, Any]:
        """Settings that change outputs for ``card`` (generation settings, prompt…)."""
        return {}


def files_fingerprint(paths: Sequence[Path], *, content: bool = False) -> str:
    """Hash of files' names, sizes and modification times (or their bytes if ``content``)."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}".encode())
        if content:
            with path.open("rb") as fh:
                for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                    digest.update(block)
        else:
            digest.update(str(stat.st_mtime_ns).encode())
    return digest.hexdigest()[:16]
