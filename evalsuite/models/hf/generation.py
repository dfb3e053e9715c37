"""Generative heads: encoder-decoder (seq2seq) and decoder-only (causal) language models.

* Translation and summarization with a seq2seq model: T5-style task prefix (option
  ``prefix``, ``config.task_specific_params`` or the T5 convention) + the source text, and the
  target language as a Marian ``>>de<<`` input token or as a forced first token for
  multilingual models (M2M100 ``__de__``, NLLB ``deu_Latn``, mBART ``de_DE``).
* Every other case uses a prompt template (option ``prompt``, the card's ``prompt`` or a
  default) filled with the example's canonical fields, after optional few-shot
  demonstrations (option ``shots_file``), optionally wrapped in the tokenizer's chat
  template (``chat=true``).
* Sentiment is decided by the log-likelihood of each card label as the continuation (scores
  are the softmax over labels); other families are generated greedily (``num_beams`` 1,
  ``do_sample`` false by default) and parsed (:mod:`evalsuite.models.prompts`).

Decoder-only models generate in batches with LEFT padding (pad = EOS when the tokenizer has
none).  Over-long prompts are fitted by cutting the example's main field (context, document,
source, text), so the instruction and the answer cue survive; the cut is recorded in
``meta["truncated"]``.  Every output records ``generated_tokens`` and ``hit_length_limit``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from evalsuite.errors import RunError, SpecError
from evalsuite.families import Family
from evalsuite.models.base import Output
from evalsuite.models.hf.runtime import HeadRunner, Runtime, token_counts
from evalsuite.models.prompts import (
    build_prompt,
    find_language_token,
    first_label,
    load_shots,
    parse_answer_text,
    parse_similarity,
    task_prefix,
    template_for,
    text_sha,
)
from evalsuite.tasks.cards import TaskCard

DEFAULT_MAX_NEW = {Family.QA: 32, Family.SIMILARITY: 8, Family.SENTIMENT: 8}
MAIN_FIELD = {Family.SENTIMENT: "text", Family.QA: "context", Family.TRANSLATION: "source",
              Family.SUMMARIZATION: "document", Family.SIMILARITY: "sentence2"}
_MULTILINGUAL = ("m2m_100", "nllb", "nllb-moe", "mbart", "seamless_m4t")


@dataclass(frozen=True)
class GenerationSettings:
    """Generation settings that change outputs (part of cache keys)."""

    max_new_tokens: int
    num_beams: int = 1
    do_sample: bool = False

    @classmethod
    def for_card(cls, card: TaskCard, options: dict[str, Any]) -> GenerationSettings:
        default = card.max_new_tokens or DEFAULT_MAX_NEW.get(card.family, 128)
        return cls(max_new_tokens=int(options.get("max_new_tokens") or default),
                   num_beams=int(options.get("num_beams", 1)),
                   do_sample=bool(options.get("do_sample", False)))


def uses_prefix(seq2seq: bool, card: TaskCard, options: dict[str, Any]) -> bool:
    """Seq2seq translation/summarization take prefix + source unless a prompt is forced."""
    return (seq2seq and card.family in (Family.TRANSLATION, Family.SUMMARIZATION)
            and "prompt" not in options)


def scoring_mode(card: TaskCard, options: dict[str, Any]) -> str:
    return str(options.get("scoring", "loglik")) if card.family is Family.SENTIMENT else "generate"


def shots_for(card: TaskCard, options: dict[str, Any]) -> list[dict]:
    """Few-shot demonstrations from option ``shots_file`` (the first ``shots`` of them)."""
    if not options.get("shots_file"):
        return []
    return load_shots(options["shots_file"], card, options.get("shots"))


def generation_settings(card: TaskCard, options: dict[str, Any], config: Any, *,
                        seq2seq: bool) -> dict[str, Any]:
    """Everything about a generative head that changes outputs for ``card``."""
    gen = GenerationSettings.for_card(card, options)
    shots = [] if uses_prefix(seq2seq, card, options) else shots_for(card, options)
    out: dict[str, Any] = {"max_new_tokens": gen.max_new_tokens, "num_beams": gen.num_beams,
                           "do_sample": gen.do_sample, "scoring": scoring_mode(card, options)}
    if uses_prefix(seq2seq, card, options):
        out["prefix"] = task_prefix(config, card, options)
    else:
        template = template_for(card, options)
        out.update(prompt=template, prompt_sha256=text_sha(template))
    if shots:
        out.update(shots=len(shots), shots_sha256=text_sha(repr(shots)))
    if options.get("chat"):
        out["chat"] = True
    if "target_lang_token" in options:
        out["target_lang_token"] = options["target_lang_token"]
    return out


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


class GenerativeRunner(HeadRunner):
    """Seq2seq (``seq2seq=True``) or causal LM prediction for the five text families."""

    def __init__(self, rt: Runtime, *, seq2seq: bool) -> None:
        super().__init__(rt)
        self.seq2seq = seq2seq
        self._shots: dict[str, list[dict]] = {}
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
        self._languages: dict[str, tuple[str, str] | None] = {}
        self._label_tokens: dict[str, int] = {}

    # -- inputs --------------------------------------------------------------------------------
    def settings(self, card: TaskCard) -> GenerationSettings:
        return GenerationSettings.for_card(card, self.rt.options)

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

    def text(self, card: TaskCard, example: dict) -> str:
        """The model input for one example (before tokenization)."""
        options = self.rt.options
        if uses_prefix(self.seq2seq, card, options):
            field = "source" if card.family is Family.TRANSLATION else "document"
            text = task_prefix(self.rt.config, card, options) + str(example[field])
            language = self.language(card)
            if language and language[0] == "prefix":
                text = f"{language[1]} {text}"
            return text
        if card.name not in self._shots:
            self._shots[card.name] = shots_for(card, options)
        prompt = build_prompt(template_for(card, options), card, example, self._shots[card.name])
        if self.chat:
            prompt = self.rt.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], tokenize=False,
                add_generation_prompt=True)
        return prompt

    def input_lengths(self, card: TaskCard, examples: Sequence[dict]) -> list[int]:
        texts = [self.text(card, ex) for ex in examples]
        if self.chat:
            return [len(ids) for ids in self.rt.tokenizer(
                texts, add_special_tokens=False, verbose=False)["input_ids"]]
        return token_counts(self.rt.tokenizer, texts)

    def cost(self, card: TaskCard, length: int) -> int:
        base = min(length, self.max_input(card))
        if scoring_mode(card, self.rt.options) == "loglik":
            return (base + self._longest_label(card)) * len(card.labels or [1])
        gen = self.settings(card)
        return (base + gen.max_new_tokens) * max(1, gen.num_beams)

    def fitted_texts(self, card: TaskCard, examples: Sequence[dict], lengths: Sequence[int],
                     limit: int) -> list[str]:
        """Inputs whose over-long main field is cut so the whole prompt fits in ``limit``."""
        tok = self.rt.tokenizer
        texts = []
        for ex, n in zip(examples, lengths, strict=True):
            if n > limit:
                field = MAIN_FIELD[card.family]
                ids = tok(str(ex[field]), add_special_tokens=False)["input_ids"]
                keep = max(0, len(ids) - (n - limit) - 4)
                ex = {**ex, field: tok.decode(ids[:keep], skip_special_tokens=True)}
            texts.append(self.text(card, ex))
        return texts

    def encode(self, texts: Sequence[str], limit: int) -> Any:
        return self.rt.tokenizer(list(texts), padding=True, truncation=True, max_length=limit,
                                 add_special_tokens=not self.chat, return_tensors="pt")

    # -- prediction ----------------------------------------------------------------------------
    def prepare(self, card: TaskCard, examples: Sequence[dict], lengths: Sequence[int]) -> Any:
        """The fitted prompts and, when generating, their tokenized batch."""
        limit = self.max_input(card)
        texts = self.fitted_texts(card, examples, lengths, limit)
        if scoring_mode(card, self.rt.options) == "loglik":
            return texts, None
        return texts, self.rt.pinned(self.encode(texts, limit))

    def predict(self, card: TaskCard, examples: Sequence[dict], lengths: Sequence[int],
                ready: Any = None) -> list[Output]:
        limit = self.max_input(card)
        texts, enc = self.prepared(card, examples, lengths, ready)
        truncated = [n > limit for n in lengths]
        if scoring_mode(card, self.rt.options) == "loglik":
            return self._classify(card, texts, truncated, limit)
        generated, counts, hits = self.generate(card, texts, limit, enc)
        with self.rt.phase("decode"):
            outputs = []
            for ex, text, n, hit, cut in zip(examples, generated, counts, hits, truncated,
                                             strict=True):
                meta: dict[str, Any] = {"truncated": cut, "generated_tokens": n,
                                        "hit_length_limit": hit}
                outputs.append(Output(self._parse(card, ex, text, meta), meta=meta))
            return outputs

    def _parse(self, card: TaskCard, example: dict, text: str, meta: dict[str, Any]) -> Any:
        family = card.family
        if family is Family.SIMILARITY:
            from evalsuite.models.shared import score_range

            value, ok = parse_similarity(text, score_range(card))
            if not ok:
                meta["unparsed"] = text[:200]
            return value
        if family is Family.SENTIMENT:
            labels = list(card.labels or [])
            label = first_label(text, labels)
            if label is None:
                meta["unparsed"] = text[:200]
            return label or labels[0]
        return parse_answer_text(family, text, source=str(example.get("source", "")))

    def generate(self, card: TaskCard, texts: Sequence[str], limit: int, enc: Any = None
                 ) -> tuple[list[str], list[int], list[bool]]:
        """Decoded continuations, generated token counts and length-limit hits (``enc``: the
        texts already tokenized)."""
        rt, gen = self.rt, self.settings(card)
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
        inputs = rt.inputs(enc, ("input_ids", "attention_mask"))
        with rt.phase("forward"):  # the whole decoding loop of generate()
            out = rt.model.generate(**inputs, **kwargs)
        with rt.phase("decode"):
            start = 1 if self.seq2seq else enc["input_ids"].shape[1]
            new = out[:, start:].cpu()
            counts, hits = generation_counts(new, self._eos_ids(), gen.max_new_tokens)
            with rt.lock:
                return rt.tokenizer.batch_decode(new, skip_special_tokens=True), counts, hits

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
    def _classify(self, card: TaskCard, texts: Sequence[str], truncated: Sequence[bool],
                  limit: int) -> list[Output]:
        labels = list(card.labels or [])
        logp = self.label_logprobs(texts, labels, limit)
        probs = torch.softmax(logp, dim=1).numpy()
        sums = logp.numpy()
        best = probs.argmax(axis=1)
        return [Output(labels[b], scores=dict(zip(labels, p.tolist(), strict=True)),
                       meta={"truncated": t, "logprobs": dict(zip(labels, s.tolist(),
                                                                  strict=True))})
                for b, p, s, t in zip(best, probs, sums, truncated, strict=True)]

    def label_logprobs(self, texts: Sequence[str], labels: Sequence[str], limit: int
                       ) -> torch.Tensor:
        """``(examples, labels)`` summed log-probabilities of each label as the continuation
        (float32, on the CPU)."""
        if self.seq2seq:
            return self._seq2seq_logprobs(texts, labels, limit)
        return self._causal_logprobs(texts, labels, limit)

    def _causal_logprobs(self, texts: Sequence[str], labels: Sequence[str], limit: int
                         ) -> torch.Tensor:
        rt = self.rt
        with rt.phase("tokenize"), rt.lock:
            ids, mask, ctx_len, tgt, tmask = self._causal_rows(texts, labels, limit)
        device, width, k = rt.device, ids.shape[1], tgt.shape[1]
        with rt.phase("transfer"):
            input_ids, attention = rt.to_device(ids), rt.to_device(mask)
        with rt.phase("forward"):
            logits = rt.model(input_ids=input_ids, attention_mask=attention).logits
        with rt.phase("decode"):
            pos = (rt.to_device(np.asarray(ctx_len, dtype=np.int64))[:, None] - 1
                   + torch.arange(k, device=device)[None, :]).clamp(max=width - 1)
            picked = logits.gather(1, pos[:, :, None].expand(-1, -1, logits.shape[-1]))
            return self._sum_logprobs(picked, tgt, tmask, len(texts), len(labels))

    def _causal_rows(self, texts: Sequence[str], labels: Sequence[str], limit: int
                     ) -> tuple[np.ndarray, np.ndarray, list[int], np.ndarray, np.ndarray]:
        """Right-padded (context + label) rows, their masks, context lengths and targets."""
        tok = self.rt.tokenizer
        contexts = tok(list(texts), truncation=True, max_length=limit,
                       add_special_tokens=not self.chat)["input_ids"]
        spaced = tok([f" {label}" for label in labels], add_special_tokens=False)["input_ids"]
        plain = tok(list(labels), add_special_tokens=False)["input_ids"]
        filler = tok.bos_token_id if tok.bos_token_id is not None else tok.pad_token_id
        rows, ctx_len, targets = [], [], []
        for text, ctx in zip(texts, contexts, strict=True):
            ctx = list(ctx) or [filler]
            conts = plain if text.endswith((" ", "\n")) else spaced
            for cont in conts:
                rows.append(ctx + list(cont))
                ctx_len.append(len(ctx))
                targets.append(list(cont))
        width, k = max(map(len, rows)), max(map(len, targets))
        ids = np.full((len(rows), width), tok.pad_token_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        tgt = np.zeros((len(rows), k), dtype=np.int64)
        tmask = np.zeros((len(rows), k), dtype=bool)
        for r, (row, cont) in enumerate(zip(rows, targets, strict=True)):
            ids[r, :len(row)] = row  # right padding: positions stay those of the unpadded text
            mask[r, :len(row)] = 1
            tgt[r, :len(cont)] = cont
            tmask[r, :len(cont)] = True
        return ids, mask, ctx_len, tgt, tmask

    def _seq2seq_logprobs(self, texts: Sequence[str], labels: Sequence[str], limit: int
                          ) -> torch.Tensor:
        rt, tok = self.rt, self.rt.tokenizer
        with rt.phase("tokenize"), rt.lock:
            enc = self.encode(texts, limit)
            cont = tok(list(labels), add_special_tokens=False)["input_ids"]
            k, n_labels = max(map(len, cont)), len(labels)
            tgt = np.zeros((n_labels, k), dtype=np.int64)
            tmask = np.zeros((n_labels, k), dtype=bool)
            for j, ids in enumerate(cont):
                tgt[j, :len(ids)] = ids
                tmask[j, :len(ids)] = True
            tgt = np.tile(tgt, (len(texts), 1))
            tmask = np.tile(tmask, (len(texts), 1))
        inputs = rt.inputs(enc, ("input_ids", "attention_mask"))
        with rt.phase("transfer"):
            targets = rt.to_device(np.where(tmask, tgt, -100))
        with rt.phase("forward"):
            inputs = {key: value.repeat_interleave(n_labels, dim=0)
                      for key, value in inputs.items()}
            logits = rt.model(**inputs, labels=targets).logits
        with rt.phase("decode"):
            return self._sum_logprobs(logits, tgt, tmask, len(texts), n_labels)

    @staticmethod
    def _sum_logprobs(logits: torch.Tensor, tgt: np.ndarray, tmask: np.ndarray, n: int,
                      n_labels: int) -> torch.Tensor:
        device = logits.device
        logp = torch.log_softmax(logits.float(), dim=-1)
        token = logp.gather(2, torch.from_numpy(tgt).to(device)[:, :, None]).squeeze(-1)
        token = token * torch.from_numpy(tmask).to(device)  # one copy each per batch
        return token.sum(dim=1).view(n, n_labels).cpu()
