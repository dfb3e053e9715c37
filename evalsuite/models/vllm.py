"""``vllm`` models: a causal LM served in-process by vLLM, prompted exactly as the ``hf`` kind.

Optional: ``pip install 'evalsuite[vllm]'`` on a CUDA machine (vLLM has no CPU wheels here);
without it, or without a GPU, the model is skipped with that line.  Written against vLLM's
offline API as documented for 0.10 – 0.33 (``LLM``, ``SamplingParams``,
``vllm.inputs.TokensPrompt``, ``RequestOutput.prompt_logprobs``)::

    vllm:Qwen/Qwen2.5-0.5B-Instruct?chat=true&shots=5
    vllm:./my-llama?tensor_parallel_size=2&dtype=bfloat16&gpu_memory_utilization=0.8

The prompts are built by :mod:`evalsuite.prompts.build` (template, sampled or fixed
demonstrations, chat template with ``system``, label spaces, stop texts) and tokenized with
the checkpoint's own tokenizer, so a ``vllm`` and an ``hf`` run of the same checkpoint see
identical token ids.  Then:

* **log-likelihood** (sentiment): one request per (prompt, label) with the label's tokens
  appended and ``prompt_logprobs=1``; the label's log-probability is the sum of the logged
  probabilities of its own tokens (:func:`continuation_logprob`), normalised as for ``hf``
  (``normalize=sum|token|char|calibrated``);
* **generation**: greedy (or ``do_sample=true`` with ``temperature``/``top_p``/``seed``),
  ``max_new_tokens``, stopped by vLLM at the stop texts (excluded from the text), parsed as
  for ``hf``; ``meta`` records ``generated_tokens``, ``hit_length_limit`` and the ``stop``.

Engine options: ``tensor_parallel_size``, ``pipeline_parallel_size``, ``gpu_memory_utilization``
(default 0.9), ``max_model_len``, ``enforce_eager``, ``quantization``, ``dtype``,
``revision``, ``trust_remote_code``, ``seed``.  Prompts longer than ``max_model_len`` minus
the tokens to generate keep their last tokens (``meta.truncated``).  vLLM schedules its own
batches: the runner hands it ``batch_size`` examples at a time (default 512).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from evalsuite.errors import BackendUnavailable, RunError, SpecError
from evalsuite.families import Family
from evalsuite.models.base import (
    OPTION_CONVERTERS,
    ModelAdapter,
    Output,
    positive_int,
)
from evalsuite.models.registry import register
from evalsuite.models.shared import hub_snapshot_dir, local_model_dir
from evalsuite.prompts.answers import LabelScores, generated_output, label_outputs
from evalsuite.prompts.build import (
    LM_OPTIONS,
    GenerationSettings,
    Prompt,
    PromptBuilder,
    content_free,
    lm_settings,
    prompt_meta,
    scoring_mode,
)
from evalsuite.prompts.templates import split_trailing_spaces, template_for, template_problem
from evalsuite.tasks.cards import TaskCard

INSTALL_HINT = "pip install 'evalsuite[vllm]' on a machine with a CUDA GPU"
VLLM_DTYPES = {"auto": "auto", "float16": "float16", "fp16": "float16", "half": "float16",
               "bfloat16": "bfloat16", "bf16": "bfloat16", "float32": "float32",
               "fp32": "float32"}
ENGINE_OPTIONS = ("tensor_parallel_size", "pipeline_parallel_size", "gpu_memory_utilization",
                  "max_model_len", "enforce_eager", "quantization", "trust_remote_code", "seed",
                  "revision")


def _fraction(value: Any) -> float:
    number = float(value)
    if not 0 < number <= 1:
        raise ValueError("must be in (0, 1]")
    return number


# -- requests and responses (pure: tested without vLLM) -----------------------------------------
def loglik_requests(contexts: Sequence[Sequence[int]],
                    continuations: Sequence[Sequence[Sequence[int]]]
                    ) -> tuple[list[list[int]], list[tuple[int, int, int]]]:
    """One token sequence per (prompt, label) and ``(row, label, start)``, where ``start`` is
    the position of the label's first token."""
    requests, where = [], []
    for i, (ctx, row) in enumerate(zip(contexts, continuations, strict=True)):
        for j, cont in enumerate(row):
            requests.append([*ctx, *cont])
            where.append((i, j, len(ctx)))
    return requests, where


def continuation_logprob(prompt_logprobs: Sequence[Any], token_ids: Sequence[int],
                         start: int) -> float:
    """Sum of the logged log-probabilities of ``token_ids[start:]`` (vLLM's
    ``prompt_logprobs``: per position ``None`` or a dict token id → ``Logprob``; the actual
    token is always among the keys)."""
    total = 0.0
    for position in range(start, len(token_ids)):
        entry = prompt_logprobs[position]
        token = token_ids[position]
        if entry is None or token not in entry:
            raise RunError(f"vLLM returned no log-probability for prompt position {position}")
        value = entry[token]
        total += float(getattr(value, "logprob", value))
    return total


def generation_result(output: Any, max_new: int) -> tuple[str, int, bool, str | None]:
    """(text, generated tokens, hit the length limit, stop text) of one ``RequestOutput``."""
    completion = output.outputs[0]
    tokens = len(completion.token_ids)
    reason = getattr(completion, "finish_reason", None)
    stop = getattr(completion, "stop_reason", None)
    return (completion.text, tokens, reason == "length" or (reason is None and tokens >= max_new),
            stop if isinstance(stop, str) else None)


@register
class VLLMAdapter(ModelAdapter):
    """A causal LM run by vLLM (see the module docstring)."""

    kind: ClassVar[str] = "vllm"
    families: ClassVar[frozenset[Family]] = frozenset({
        Family.SENTIMENT, Family.QA, Family.TRANSLATION, Family.SUMMARIZATION,
        Family.SIMILARITY})
    default_batch_size: ClassVar[int] = 512
    extra_options: ClassVar[dict[str, Any]] = {
        **LM_OPTIONS,
        "tensor_parallel_size": positive_int, "pipeline_parallel_size": positive_int,
        "gpu_memory_utilization": _fraction, "max_model_len": positive_int,
        "enforce_eager": OPTION_CONVERTERS["bool"], "quantization": str,
        "trust_remote_code": OPTION_CONVERTERS["bool"], "temperature": float, "top_p": float,
    }

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        self.where = f"model {spec.display_name}"
        dtype = str(self.options.get("dtype", "auto")).strip().lower()
        if dtype not in VLLM_DTYPES:
            raise SpecError(f"option dtype={dtype!r}: choose auto, float16, bfloat16 or float32",
                            where=self.where)
        self.vllm_dtype = VLLM_DTYPES[dtype]
        self.llm: Any = None
        self.tokenizer: Any = None
        self._builders: dict[tuple[str, str], PromptBuilder] = {}
        self._calibration: dict[tuple[str, str], np.ndarray] = {}

    # -- capability and lifecycle -------------------------------------------------------------
    def unsupported_reason(self, card: TaskCard) -> str | None:
        reason = super().unsupported_reason(card)
        if reason:
            return reason
        try:
            problem = template_problem(template_for(card, self.options), card)
            if problem:
                return problem
            PromptBuilder(card, self.options, where=self.where)
        except (ValueError, OSError) as exc:
            return str(exc)
        return None

    def engine_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``vllm.LLM`` from the options."""
        folder = local_model_dir(self.spec.target)
        source = str(folder) if folder is not None else self.spec.target
        kwargs: dict[str, Any] = {"model": source, "tokenizer": source,
                                  "dtype": self.vllm_dtype, "seed": 0}
        for key in ENGINE_OPTIONS:
            if key in self.options:
                kwargs[key] = self.options[key]
        return kwargs

    def load(self) -> None:
        try:
            import vllm
        except ImportError:
            raise BackendUnavailable(f"{self.where}: vllm models need the vllm package: "
                                     f"{INSTALL_HINT}") from None
        import torch

        if not torch.cuda.is_available():
            raise BackendUnavailable(f"{self.where}: vllm models need a CUDA GPU "
                                     f"(use the hf kind on this machine)")
        try:
            self.llm = vllm.LLM(**self.engine_kwargs())
        except Exception as exc:
            text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise SpecError(f"vLLM could not load {self.spec.target!r}: {text}",
                            where=self.where) from None
        self.tokenizer = self.llm.get_tokenizer()
        config = self.model_config()
        self.device = "cuda"
        self.dtype = str(getattr(config, "dtype", self.vllm_dtype)).replace("torch.", "")
        if self.options.get("chat") and not getattr(self.tokenizer, "chat_template", None):
            raise SpecError("chat=true but the tokenizer has no chat template", where=self.where)

    def close(self) -> None:
        self.llm = self.tokenizer = None
        from evalsuite.efficiency.meter import free_memory

        free_memory()

    # -- prompts ------------------------------------------------------------------------------
    def builder(self, card: TaskCard) -> PromptBuilder:
        key = (card.name, card.version_id)
        if key not in self._builders:
            self._builders[key] = PromptBuilder(
                card, self.options, where=self.where,
                chat_template=lambda messages: self.tokenizer.apply_chat_template(
                    messages, tokenize=False, add_generation_prompt=True),
                chat_template_text=getattr(self.tokenizer, "chat_template", None))
        return self._builders[key]

    def model_config(self) -> Any:
        """The engine's model config (``llm_engine.model_config``, or under ``vllm_config``
        in engines that keep it there), ``None`` when neither exists."""
        engine = getattr(self.llm, "llm_engine", None)
        config = getattr(engine, "model_config", None)
        if config is None:
            config = getattr(getattr(engine, "vllm_config", None), "model_config", None)
        return config

    def max_prompt(self, card: TaskCard) -> int:
        """Prompt tokens kept: the engine's context minus the tokens to generate."""
        limit = int(getattr(self.model_config(), "max_model_len", None)
                    or self.options.get("max_model_len")
                    or min(getattr(self.tokenizer, "model_max_length", 2048), 1 << 20))
        gen = GenerationSettings.for_card(card, self.options)
        return max(8, limit - gen.max_new_tokens)

    def encode(self, texts: Sequence[str], limit: int) -> tuple[list[list[int]], list[bool]]:
        """Token ids of each text (its last ``limit`` tokens) and whether it was cut."""
        enc = self.tokenizer(list(texts), add_special_tokens=not self.options.get("chat"))
        ids = [list(row) for row in enc["input_ids"]]
        return [row[-limit:] for row in ids], [len(row) > limit for row in ids]

    # -- prediction ---------------------------------------------------------------------------
    def predict_batch(self, card: TaskCard, examples: Sequence[dict]) -> list[Output | Any]:
        if self.llm is None:
            self.load()
        builder = self.builder(card)
        prompts = [builder.prompt(ex) for ex in examples]
        loglik = scoring_mode(card, self.options) == "loglik"
        # log-likelihood: the prompt's trailing spaces are scored with the labels (as in hf)
        ids, cut = self.encode([split_trailing_spaces(p.text)[0] if loglik else p.text
                                for p in prompts], self.max_prompt(card))
        store = bool(self.options.get("store_prompt"))
        metas = [prompt_meta(p, c, store) for p, c in zip(prompts, cut, strict=True)]
        if loglik:
            labels = list(card.labels or [])
            scores = self.label_scores(builder, [p.text for p in prompts], ids, labels)
            how = str(self.options.get("normalize", "sum"))
            calibration = self._content_free(card, labels, examples, prompts) \
                if how == "calibrated" else None
            return label_outputs(scores, labels, how, metas, calibration)
        return self.generate(card, builder, examples, ids, metas)

    def label_scores(self, builder: PromptBuilder, texts: Sequence[str],
                     contexts: Sequence[Sequence[int]], labels: Sequence[str]) -> LabelScores:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        conts = []
        for text in texts:
            spaces = split_trailing_spaces(text)[1]  # the prompt's trailing spaces (see hf)
            pieces = [spaces + piece for piece in builder.label_texts(text, labels)]
            conts.append([list(t) for t in self.tokenizer(pieces, add_special_tokens=False)[
                "input_ids"]])
        requests, where = loglik_requests(contexts, conts)
        params = SamplingParams(temperature=0.0, max_tokens=1, prompt_logprobs=1,
                                detokenize=False)
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=r) for r in requests],
                                    params, use_tqdm=False)
        sums = np.zeros((len(texts), len(labels)))
        for out, request, (i, j, start) in zip(outputs, requests, where, strict=True):
            sums[i, j] = continuation_logprob(out.prompt_logprobs, request, start)
        tokens = np.asarray([[len(c) for c in row] for row in conts])
        return LabelScores(sums, tokens)

    def _content_free(self, card: TaskCard, labels: list[str], examples: Sequence[dict],
                      prompts: Sequence[Prompt]) -> np.ndarray:
        """The content-free log-probabilities: once per card, or per example after its own
        sampled demonstrations (as the ``hf`` kind does)."""
        builder = self.builder(card)
        if builder.per_example_shots:
            texts = [builder.prompt(ex, p.shots, blank=True).text
                     for ex, p in zip(examples, prompts, strict=True)]
            ids, _ = self.encode([split_trailing_spaces(t)[0] for t in texts],
                                 self.max_prompt(card))
            return self.label_scores(builder, texts, ids, labels).logprobs
        key = (card.name, card.version_id)
        if key not in self._calibration:
            text = builder.prompt(content_free(card)).text
            ids, _ = self.encode([split_trailing_spaces(text)[0]], self.max_prompt(card))
            self._calibration[key] = self.label_scores(builder, [text], ids, labels).logprobs[0]
        return self._calibration[key]

    def sampling_params(self, card: TaskCard, stops: Sequence[str]) -> Any:
        from vllm import SamplingParams

        gen = GenerationSettings.for_card(card, self.options)
        kwargs: dict[str, Any] = {"max_tokens": gen.max_new_tokens, "stop": list(stops) or None,
                                  "skip_special_tokens": True,
                                  "include_stop_str_in_output": False}
        if gen.do_sample:
            kwargs.update(temperature=float(self.options.get("temperature", 1.0)),
                          top_p=float(self.options.get("top_p", 1.0)),
                          seed=int(self.options.get("seed", 0)))
        else:
            kwargs["temperature"] = 0.0
        return SamplingParams(**kwargs)

    def generate(self, card: TaskCard, builder: PromptBuilder, examples: Sequence[dict],
                 ids: Sequence[Sequence[int]], metas: list[dict[str, Any]]) -> list[Output]:
        from vllm.inputs import TokensPrompt

        gen = GenerationSettings.for_card(card, self.options)
        params = [self.sampling_params(card, builder.stops(ex)) for ex in examples]
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=list(r)) for r in ids],
                                    params, use_tqdm=False)
        results = []
        strip = bool(self.options.get("strip", True))
        store = bool(self.options.get("store_prompt"))
        for ex, out, meta in zip(examples, outputs, metas, strict=True):
            text, tokens, hit, stop = generation_result(out, gen.max_new_tokens)
            results.append(generated_output(card, ex, text, meta, tokens=tokens, hit_limit=hit,
                                            stop=stop, strip=strip, store_prompt=store))
        return results

    # -- identity -----------------------------------------------------------------------------
    def fingerprint(self) -> str:
        from evalsuite.models.hf.adapter import weights_fingerprint

        folder = local_model_dir(self.spec.target) or hub_snapshot_dir(
            self.spec.target, self.options.get("revision"))
        return weights_fingerprint(Path(folder) if folder else None,
                                   self.options.get("revision"), self.spec.to_string())

    def settings(self, card: TaskCard) -> dict[str, Any]:
        out = lm_settings(card, self.options, self.builder(card))
        out["engine"] = "vllm"
        return out
