"""Generative heads: encoder-decoder (seq2seq) and decoder-only (causal) language models.

* Translation and summarization with a seq2seq model: T5-style task prefix (option
  ``prefix``, ``config.task_specific_params`` or the T5 convention) + the source text, and the
  target language as a Marian ``>>de<<`` input token or as a forced first token for
  multilingual models (M2M100 ``__de__``, NLLB ``deu_Latn``, mBART ``de_DE``).
* Every other case uses a prompt (:mod:`evalsuite.prompts.build`): the template (option
  ``prompt``, the card's ``prompt`` or a default) filled with the example's canonical fields,
  after few-shot demonstrations (fixed ``shots_file`` or ``shots`` sampled per example from
  the card's ``shots_split``), optionally rendered by the tokenizer's chat template
  (``chat=true``, ``system=…``, ``shots_as_turns=true``).
* Sentiment is decided by the log-likelihood of each card label as the continuation
  (:mod:`.loglik`: one forward pass per prompt; option ``normalize`` = ``sum`` (default),
  ``token``, ``char`` or ``calibrated``; ``scores`` are the softmax of the chosen scores and
  ``meta.logprobs`` the summed log-probabilities); other families are generated greedily
  (``num_beams`` 1, ``do_sample`` false by default), stopped at the first stop text (option
  ``stop``, card ``stop`` or the family default, :mod:`.stopping`) and parsed
  (:mod:`evalsuite.prompts.answers`; ``strip=false`` keeps the cut continuation as it is).

Decoder-only models run with LEFT padding (pad = EOS when the tokenizer has none) and
explicit position ids.  Over-long prompts are fitted by dropping demonstrations (earliest
first, counted in ``meta["shots_dropped"]``), then by cutting the example's main field
(context, document, source, text), so the instruction and the answer cue survive; the fit is
recorded in ``meta["truncated"]``.  Every generated output records ``generated_tokens``,
``hit_length_limit`` and the ``stop`` text it ended at; sampled demonstrations are recorded
in ``meta.shot_ids``; ``store_prompt=true`` adds the exact model input (``meta.prompt``) and,
when generating, the raw continuation (``meta.completion``).  Batches are sized by a memory
budget (:mod:`.memory`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from evalsuite.errors import RunError, SpecError
from evalsuite.families import Family
from evalsuite.models.base import Output
from evalsuite.models.hf.loglik import causal_label_logprobs, seq2seq_label_logprobs
from evalsuite.models.hf.memory import MemoryModel, default_budget_bytes
from evalsuite.models.hf.runtime import HeadRunner, Runtime, token_counts
from evalsuite.models.hf.stopping import StopOnText
from evalsuite.prompts.answers import LabelScores, cut_at_stop, generated_output, label_outputs
from evalsuite.prompts.build import (
    GenerationSettings,
    Prompt,
    PromptBuilder,
    content_free,
    lm_settings,
    prompt_meta,
    scoring_mode,
)
from evalsuite.prompts.seq2seq import find_language_token, task_prefix
from evalsuite.prompts.templates import split_trailing_spaces, template_for, template_problem
from evalsuite.runner.batching import token_budget_batches
from evalsuite.tasks.cards import TaskCard

MAIN_FIELD = {Family.SENTIMENT: "text", Family.QA: "context", Family.TRANSLATION: "source",
              Family.SUMMARIZATION: "document", Family.SIMILARITY: "sentence2"}
_MULTILINGUAL = ("m2m_100", "nllb", "nllb-moe", "mbart", "seamless_m4t")


def uses_prefix(seq2seq: bool, card: TaskCard, options: dict[str, Any]) -> bool:
    """Seq2seq translation/summarization take prefix + source unless a prompt is forced."""
    return (seq2seq and card.family in (Family.TRANSLATION, Family.SUMMARIZATION)
            and "prompt" not in options)


def prompt_problem(card: TaskCard, options: dict[str, Any], where: str) -> str | None:
    """Why the prompts of ``card`` cannot be built (bad template, shots file or split)."""
    problem = template_problem(template_for(card, options), card)
    if problem:
        return problem
    PromptBuilder(card, options, where=where)  # reads the shots file / split: raises
    return None


def generation_counts(new: torch.Tensor, eos_ids: Sequence[int], max_new: int
                      ) -> tuple[list[int], list[bool]]:
    """Generated tokens per row (up to and including the first EOS) and whether the row used
    every allowed token; vectorised over the batch."""
    width = new.shape[1]
    if eos_ids and width:
        is_eos = torch.isin(new, torch.tensor(list(eos_ids), dtype=new.dtype))
        has = is_eos.any(dim=1)
        counts = torch.where(has, is_eos.int().argmax(dim=1) + 1,
                             torch.full((new.shape[0],), width, dtype=torch.long))
    else:
        counts = torch.full((new.shape[0],), width, dtype=torch.long)
    return counts.tolist(), (counts >= max_new).tolist()


@dataclass
class Generated:
    """One row's continuation: cut before its stop text, with the raw counts."""

    text: str
    tokens: int
    hit_limit: bool
    stop: str | None


class GenerativeRunner(HeadRunner):
    """Seq2seq (``seq2seq=True``) or causal LM prediction for the five text families."""

    def __init__(self, rt: Runtime, *, seq2seq: bool, token_budget: int = 16_384) -> None:
        super().__init__(rt)
        self.seq2seq = seq2seq
        self.token_budget = token_budget  # the adapter's, before out-of-memory halvings
        tok = rt.tokenizer
        if not seq2seq:
            tok.padding_side = "left"
            tok.truncation_side = "left"
        if tok.pad_token_id is None:
            if tok.eos_token is None:
                raise RunError(f"model {rt.name}: the tokenizer has neither a pad nor an EOS "
                               f"token, so batches cannot be padded")
            tok.pad_token = tok.eos_token
        self.chat = bool(rt.options.get("chat"))
        if self.chat and not getattr(tok, "chat_template", None):
            raise SpecError("chat=true but the tokenizer has no chat template",
                            where=f"model {rt.name}")
        self.normalize = str(rt.options.get("normalize", "sum"))
        self.strip = bool(rt.options.get("strip", True))
        self.store_prompt = bool(rt.options.get("store_prompt", False))
        self._builders: dict[tuple[str, str], PromptBuilder] = {}
        self._languages: dict[str, tuple[str, str] | None] = {}
        self._label_tokens: dict[str, int] = {}
        self._continuations: dict[str, list[int]] = {}
        self._calibration: dict[tuple[str, str], np.ndarray] = {}
        parameter = next(iter(rt.model.parameters()), None)
        width = parameter.element_size() if parameter is not None else 4
        self.memory = MemoryModel.from_config(rt.config, width)
        budget = rt.options.get("memory_budget")
        self.memory_budget = (int(budget) << 20) if budget else default_budget_bytes(rt.device)

    # -- prompts -------------------------------------------------------------------------------
    def builder(self, card: TaskCard) -> PromptBuilder:
        """The card's prompt builder (demonstrations read once per card)."""
        key = (card.name, card.version_id)
        if key not in self._builders:
            self._builders[key] = PromptBuilder(card, self.rt.options,
                                                where=f"model {self.rt.name}",
                                                chat_template=self._chat_template,
                                                chat_template_text=self._template_text())
        return self._builders[key]

    def _template_text(self) -> str | None:
        template = getattr(self.rt.tokenizer, "chat_template", None)
        return template if isinstance(template, str) else None

    def _chat_template(self, messages: list[dict[str, str]]) -> str:
        return self.rt.tokenizer.apply_chat_template(messages, tokenize=False,
                                                     add_generation_prompt=True)

    def settings(self, card: TaskCard) -> GenerationSettings:
        return GenerationSettings.for_card(card, self.rt.options)

    def describe(self, card: TaskCard) -> dict[str, Any]:
        """Everything about this head that changes outputs for ``card``."""
        options = self.rt.options
        prefixed = uses_prefix(self.seq2seq, card, options)
        out = lm_settings(card, options, None if prefixed else self.builder(card))
        if prefixed:
            out["prefix"] = task_prefix(self.rt.config, card, options)
        if "target_lang_token" in options:
            out["target_lang_token"] = options["target_lang_token"]
        return out

    # -- inputs --------------------------------------------------------------------------------
    def max_input(self, card: TaskCard) -> int:
        limit = self.rt.max_input(card)
        if self.seq2seq:
            return limit
        reserve = max(self.settings(card).max_new_tokens, self._longest_label(card))
        return max(8, limit - reserve) if "max_length" not in self.rt.options else limit

    def _longest_label(self, card: TaskCard) -> int:
        if card.family is not Family.SENTIMENT:
            return 0
        if card.name not in self._label_tokens:
            self._label_tokens[card.name] = max(token_counts(
                self.rt.tokenizer, [f" {label}" for label in card.labels or []]))
        return self._label_tokens[card.name]

    def language(self, card: TaskCard) -> tuple[str, str] | None:
        """``("prefix" | "forced_bos", token)`` for the card's target language, or ``None``."""
        if card.family is not Family.TRANSLATION or not self.seq2seq:
            return None
        if card.name not in self._languages:
            self._languages[card.name] = self._find_language(card)
        return self._languages[card.name]

    def _find_language(self, card: TaskCard) -> tuple[str, str] | None:
        tok, options = self.rt.tokenizer, self.rt.options
        specials = [*getattr(tok, "all_special_tokens", []), *tok.get_added_vocab()]
        vocab = tok.get_vocab()
        if "target_lang_token" in options:
            token = str(options["target_lang_token"])
            if token not in vocab:
                raise RunError(f"model {self.rt.name}: target_lang_token {token!r} is not in "
                               f"the tokenizer's vocabulary")
            return ("prefix" if token.startswith(">>") else "forced_bos"), token
        found = find_language_token(vocab, specials, card.target_lang or "")
        source = find_language_token(vocab, specials, card.source_lang or "")
        if source and source[0] == "forced_bos" and hasattr(tok, "src_lang"):
            token = source[1]
            tok.src_lang = token.strip("_") if token.startswith("__") else token
        model_type = str(getattr(self.rt.config, "model_type", ""))
        if found is None and model_type.startswith(_MULTILINGUAL):
            raise RunError(f"model {self.rt.name}: no language token for target language "
                           f"{card.target_lang!r} in the tokenizer (set target_lang_token=…)")
        return found

    def prompt(self, card: TaskCard, example: dict, keep_shots: int | None = None) -> Prompt:
        """The model input for one example (before tokenization); ``keep_shots``: show only
        the last that many demonstrations."""
        options = self.rt.options
        if uses_prefix(self.seq2seq, card, options):
            field = "source" if card.family is Family.TRANSLATION else "document"
            text = task_prefix(self.rt.config, card, options) + str(example[field])
            language = self.language(card)
            if language and language[0] == "prefix":
                text = f"{language[1]} {text}"
            return Prompt(text)
        return self.builder(card).prompt(example, keep_shots)

    def text(self, card: TaskCard, example: dict) -> str:
        return self.prompt(card, example).text

    def input_lengths(self, card: TaskCard, examples: Sequence[dict]) -> list[int]:
        texts = [self.text(card, ex) for ex in examples]
        if self.chat:
            return [len(ids) for ids in self.rt.tokenizer(
                texts, add_special_tokens=False, verbose=False)["input_ids"]]
        return token_counts(self.rt.tokenizer, texts)

    def plan(self, card: TaskCard, examples: list[dict], budget: int, rows: int,
             length: Callable[[dict], int]) -> Iterator[list[dict]]:
        """Batches within the memory budget in bytes (``cost`` is in bytes), halved as often
        as the token ``budget`` was after out-of-memory errors; option ``token_budget`` plans
        by padded tokens instead."""
        if "token_budget" not in self.rt.options:
            budget = max(1, self.memory_budget * budget // max(1, self.token_budget))
        return token_budget_batches(examples, lambda ex: self.cost(card, length(ex)), budget,
                                    rows)

    def cost(self, card: TaskCard, length: int) -> int:
        base = min(length, self.max_input(card))
        token_planning = "token_budget" in self.rt.options
        if scoring_mode(card, self.rt.options) == "loglik":
            n_labels, longest = len(card.labels or [1]), self._longest_label(card)
            if token_planning:
                return (base + longest) * n_labels
            return self.memory.scoring_row(base, n_labels, max(0, longest - 1))
        gen = self.settings(card)
        if token_planning:
            return (base + gen.max_new_tokens) * max(1, gen.num_beams)
        return self.memory.generation_row(base, gen.max_new_tokens, max(1, gen.num_beams))

    def fitted_prompts(self, card: TaskCard, examples: Sequence[dict], lengths: Sequence[int],
                       limit: int) -> list[Prompt]:
        """Inputs that fit in ``limit`` tokens: over the limit, demonstrations are dropped
        (earliest first) until the prompt fits, and only then is the example's main field cut
        from its end, so the example itself, the instruction and the answer cue survive."""
        tok = self.rt.tokenizer
        prompts = []
        for ex, n in zip(examples, lengths, strict=True):
            if n <= limit:
                prompts.append(self.prompt(card, ex))
                continue
            prompt = self.prompt(card, ex)
            keep = None
            if prompt.shots:
                keep, n = self._shots_that_fit(card, ex, prompt.shots, limit)
            if n > limit:
                field = MAIN_FIELD[card.family]
                ids = tok(str(ex[field]), add_special_tokens=False)["input_ids"]
                cut = max(0, len(ids) - (n - limit) - 4)
                ex = {**ex, field: tok.decode(ids[:cut], skip_special_tokens=True)}
            prompts.append(self.prompt(card, ex, keep))
        return prompts

    def _shots_that_fit(self, card: TaskCard, example: dict, shown: int, limit: int
                        ) -> tuple[int, int]:
        """The most of ``example``'s last demonstrations its prompt can show within
        ``limit`` tokens (0 when even none fit), and that prompt's length (binary search)."""
        low, high = 0, shown - 1  # ``shown`` demonstrations are known not to fit
        fits: dict[int, int] = {}
        while low < high:
            middle = (low + high + 1) // 2
            n = self._length(self.prompt(card, example, middle).text)
            if n <= limit:
                low, fits[middle] = middle, n
            else:
                high = middle - 1
        return low, fits.get(low) or self._length(self.prompt(card, example, low).text)

    def _length(self, text: str) -> int:
        """Tokens of one prompt as :meth:`encode` counts them."""
        return len(self.rt.tokenizer(text, add_special_tokens=not self.chat,
                                     verbose=False)["input_ids"])

    def encode(self, texts: Sequence[str], limit: int) -> Any:
        return self.rt.tokenizer(list(texts), padding=True, truncation=True, max_length=limit,
                                 add_special_tokens=not self.chat, return_tensors="pt")

    # -- prediction ----------------------------------------------------------------------------
    def prepare(self, card: TaskCard, examples: Sequence[dict], lengths: Sequence[int]) -> Any:
        """The fitted prompts and, when generating, their tokenized batch."""
        limit = self.max_input(card)
        prompts = self.fitted_prompts(card, examples, lengths, limit)
        if scoring_mode(card, self.rt.options) == "loglik":
            return prompts, None
        return prompts, self.rt.pinned(self.encode([p.text for p in prompts], limit))

    def predict(self, card: TaskCard, examples: Sequence[dict], lengths: Sequence[int],
                ready: Any = None) -> list[Output]:
        limit = self.max_input(card)
        prompts, enc = self.prepared(card, examples, lengths, ready)
        texts = [p.text for p in prompts]
        metas = [prompt_meta(prompt, n > limit, self.store_prompt)
                 for prompt, n in zip(prompts, lengths, strict=True)]
        if scoring_mode(card, self.rt.options) == "loglik":
            return self._classify(card, examples, prompts, metas, limit)
        stops = [self.builder(card).stops(ex) if not uses_prefix(self.seq2seq, card,
                                                                 self.rt.options) else []
                 for ex in examples]
        generated = self.generate(card, texts, limit, enc, stops)
        with self.rt.phase("decode"):
            return [generated_output(card, ex, gen.text, meta, tokens=gen.tokens,
                                     hit_limit=gen.hit_limit, stop=gen.stop, strip=self.strip,
                                     store_prompt=self.store_prompt)
                    for ex, gen, meta in zip(examples, generated, metas, strict=True)]

    def generate(self, card: TaskCard, texts: Sequence[str], limit: int, enc: Any = None,
                 stops: Sequence[Sequence[str]] | None = None) -> list[Generated]:
        """Each text's continuation, cut before its first stop text (``enc``: the texts
        already tokenized; ``stops``: the stop texts of each row)."""
        rt, gen = self.rt, self.settings(card)
        stops = stops if stops is not None else [[] for _ in texts]
        if enc is None:
            with rt.phase("tokenize"), rt.lock:
                enc = self.encode(texts, limit)
        kwargs: dict[str, Any] = {"max_new_tokens": gen.max_new_tokens,
                                  "num_beams": gen.num_beams, "do_sample": gen.do_sample,
                                  "pad_token_id": rt.tokenizer.pad_token_id}
        language = self.language(card)
        if language and language[0] == "forced_bos":
            kwargs["forced_bos_token_id"] = rt.tokenizer.convert_tokens_to_ids(language[1])
        if gen.do_sample:
            torch.manual_seed(int(rt.options.get("seed", 0)))
        start = 1 if self.seq2seq else enc["input_ids"].shape[1]
        criterion = None
        if any(stops) and gen.num_beams == 1:  # beam search: the text is cut afterwards
            criterion = StopOnText(rt.tokenizer, stops, start, rt.lock)
            kwargs["stopping_criteria"] = [criterion]
        inputs = rt.inputs(enc, ("input_ids", "attention_mask"))
        with rt.phase("forward"):  # the whole decoding loop of generate()
            out = rt.model.generate(**inputs, **kwargs)
        with rt.phase("decode"):
            new = out[:, start:].cpu()
            counts, hits = generation_counts(new, self._eos_ids(), gen.max_new_tokens)
            if criterion is not None and criterion.steps is not None:
                steps = criterion.steps.tolist()
                counts = [c if s < 0 else min(c, s) for c, s in zip(counts, steps, strict=True)]
                hits = [h and s < 0 for h, s in zip(hits, steps, strict=True)]
            with rt.lock:
                raw = rt.tokenizer.batch_decode(new, skip_special_tokens=True)
            results = []
            for text, row_stops, n, hit in zip(raw, stops, counts, hits, strict=True):
                cut, stop = cut_at_stop(text, row_stops)
                results.append(Generated(cut, n, hit and stop is None, stop))
            return results

    def _eos_ids(self) -> list[int]:
        ids: set[int] = set()
        for source in (getattr(self.rt.model, "generation_config", None), self.rt.tokenizer):
            value = getattr(source, "eos_token_id", None)
            if isinstance(value, int):
                ids.add(value)
            elif isinstance(value, (list, tuple)):
                ids.update(int(v) for v in value)
        return sorted(ids)

    # -- label log-likelihood ------------------------------------------------------------------
    def _classify(self, card: TaskCard, examples: Sequence[dict], prompts: Sequence[Prompt],
                  metas: list[dict[str, Any]], limit: int) -> list[Output]:
        labels = list(card.labels or [])
        raw = self.label_scores(card, [p.text for p in prompts], labels, limit)
        calibration = self._content_free(card, labels, limit, examples, prompts) \
            if self.normalize == "calibrated" else None
        return label_outputs(raw, labels, self.normalize, metas, calibration)

    def _content_free(self, card: TaskCard, labels: list[str], limit: int,
                      examples: Sequence[dict], prompts: Sequence[Prompt]) -> np.ndarray:
        """Each label's log-probability after the content-free prompt: once per card, or,
        when demonstrations are sampled per example, after each example's own
        demonstrations (one row per example)."""
        builder = self.builder(card)
        if builder.per_example_shots:
            texts = [builder.prompt(ex, p.shots, blank=True).text
                     for ex, p in zip(examples, prompts, strict=True)]
            return self.label_scores(card, texts, labels, limit).logprobs
        key = (card.name, card.version_id)
        if key not in self._calibration:
            text = self.text(card, content_free(card))
            self._calibration[key] = self.label_scores(card, [text], labels, limit).logprobs[0]
        return self._calibration[key]

    def label_scores(self, card: TaskCard, texts: Sequence[str], labels: Sequence[str],
                     limit: int) -> LabelScores:
        """Summed log-probabilities of each label as the continuation of each text."""
        rt, tok = self.rt, self.rt.tokenizer
        if self.seq2seq:
            with rt.phase("tokenize"), rt.lock:
                enc = self.encode(texts, limit)
                ids = tok(list(labels), add_special_tokens=False)["input_ids"]
            return seq2seq_label_logprobs(rt, enc, ids)
        builder = self.builder(card)
        split = [split_trailing_spaces(text) for text in texts]  # spaces go to the labels
        with rt.phase("tokenize"), rt.lock:
            contexts = tok([head for head, _ in split], truncation=True, max_length=limit,
                           add_special_tokens=not self.chat)["input_ids"]
            filler = tok.bos_token_id if tok.bos_token_id is not None else tok.pad_token_id
            contexts = [list(ctx) or [filler] for ctx in contexts]
            conts = [[spaces + c for c in builder.label_texts(text, labels)]
                     for text, (_, spaces) in zip(texts, split, strict=True)]
            missing = sorted({c for row in conts for c in row} - self._continuations.keys())
            if missing:
                encoded = tok(missing, add_special_tokens=False)["input_ids"]
                self._continuations.update(zip(missing, map(list, encoded), strict=True))
        rows = [[self._continuations[c] for c in row] for row in conts]
        empty = [c for row in conts for c in row if not self._continuations[c]]
        if empty:
            raise RunError(f"model {rt.name}: label continuation {empty[0]!r} has no tokens")
        return causal_label_logprobs(rt, contexts, rows)
