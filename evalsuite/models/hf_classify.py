"""Encoder heads: sequence classification, token classification (NER), mean-pooled encoders.

Each runner tokenizes a batch once (``prepare``, possibly ahead in the prefetch thread), runs
one forward pass under ``torch.inference_mode`` and moves the whole batch result to the CPU
once: no per-example ``.item()``/``.cpu()`` in the loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from evalsuite.cards import TaskCard
from evalsuite.errors import SpecError
from evalsuite.families import Family
from evalsuite.models.base import Output
from evalsuite.models.hf_heads import map_labels, map_tags, model_labels, repair_iob2
from evalsuite.models.hf_runtime import HeadRunner, Runtime, token_counts


def label_mapping(config: Any, card: TaskCard, options: dict[str, Any]) -> list[str | None]:
    """Model label index → card label (``ValueError`` when they cannot be matched)."""
    return map_labels(model_labels(config), card.labels or [], options.get("label_map"),
                      card.label_map)


def tag_mapping(config: Any, card: TaskCard, options: dict[str, Any]) -> list[str]:
    """Model label index → IOB2 card tag (``ValueError`` when they cannot be matched)."""
    return map_tags(model_labels(config), card.tag_names, options.get("label_map"))


class SeqClsRunner(HeadRunner):
    """Sentiment (softmax over labels mapped onto the card's) or pair similarity (regression)."""

    def __init__(self, rt: Runtime) -> None:
        super().__init__(rt)
        self._onehot: dict[tuple[str, str], torch.Tensor] = {}

    def input_lengths(self, card: TaskCard, examples: Sequence[dict]) -> list[int]:
        if card.family is Family.SIMILARITY:
            return token_counts(self.rt.tokenizer, [ex["sentence1"] for ex in examples],
                                [ex["sentence2"] for ex in examples])
        return token_counts(self.rt.tokenizer, [str(ex["text"]) for ex in examples])

    def prepare(self, card: TaskCard, examples: Sequence[dict], lengths: Sequence[int]) -> Any:
        rt, limit = self.rt, self.max_input(card)
        if card.family is Family.SIMILARITY:
            enc = rt.tokenizer([str(ex["sentence1"]) for ex in examples],
                               [str(ex["sentence2"]) for ex in examples], padding=True,
                               truncation=True, max_length=limit, return_tensors="pt")
        else:
            enc = rt.tokenizer([str(ex["text"]) for ex in examples], padding=True,
                               truncation=True, max_length=limit, return_tensors="pt")
        return rt.pinned(enc)

    def onehot(self, card: TaskCard, n_labels: int) -> torch.Tensor:
        """(model labels × card labels) 0/1 matrix on the device, built once per card."""
        key = (card.name, card.version_id)
        if key not in self._onehot:
            try:
                mapping = label_mapping(self.rt.config, card, self.rt.options)
            except ValueError as exc:
                raise SpecError(str(exc), where=f"model {self.rt.name}") from None
            labels = list(card.labels or [])
            matrix = np.zeros((len(mapping), n_labels), dtype=np.float32)
            for index, label in enumerate(mapping):
                if label is not None:
                    matrix[index, labels.index(label)] = 1.0
            self._onehot[key] = torch.from_numpy(matrix).to(self.rt.device)
        return self._onehot[key]

    def predict(self, card: TaskCard, examples: Sequence[dict], lengths: Sequence[int],
                ready: Any = None) -> list[Output]:
        rt, limit = self.rt, self.max_input(card)
        enc = self.prepared(card, examples, lengths, ready)
        inputs = rt.inputs(enc)
        with rt.phase("forward"):
            logits = rt.model(**inputs).logits.float()
        truncated = [n > limit for n in lengths]
        with rt.phase("decode"):
            if card.family is Family.SIMILARITY:
                values = logits[:, 0].cpu().tolist()
                return [Output(v, meta={"truncated": t}) for v, t in zip(values, truncated,
                                                                          strict=True)]
            labels = list(card.labels or [])
            # the onehot matrix sums the model labels' probabilities per card label
            probs = torch.softmax(logits, dim=-1) @ self.onehot(card, len(labels))
            probs = probs / probs.sum(dim=-1, keepdim=True).clamp_min(1e-12)
            table = probs.cpu().numpy()
            best = table.argmax(axis=1)
            return [Output(labels[b], scores=dict(zip(labels, row.tolist(), strict=True)),
                           meta={"truncated": t})
                    for b, row, t in zip(best, table, truncated, strict=True)]


class TokenClsRunner(HeadRunner):
    """NER: word-level IOB2 tags read from each word's first sub-token."""

    needs_fast_tokenizer = True

    def input_lengths(self, card: TaskCard, examples: Sequence[dict]) -> list[int]:
        return token_counts(self.rt.tokenizer, [list(ex["tokens"]) for ex in examples],
                            words=True)

    def prepare(self, card: TaskCard, examples: Sequence[dict], lengths: Sequence[int]) -> Any:
        words = [[str(w) for w in ex["tokens"]] for ex in examples]
        enc = self.rt.tokenizer(words, is_split_into_words=True, padding=True, truncation=True,
                                max_length=self.max_input(card), return_tensors="pt")
        word_ids = [np.asarray([-1 if w is None else w for w in enc.word_ids(i)])
                    for i in range(len(words))]
        return words, self.rt.pinned(enc), word_ids

    def predict(self, card: TaskCard, examples: Sequence[dict], lengths: Sequence[int],
                ready: Any = None) -> list[Output]:
        rt, limit = self.rt, self.max_input(card)
        try:
            tags = np.asarray(tag_mapping(rt.config, card, rt.options), dtype=object)
        except ValueError as exc:
            raise SpecError(str(exc), where=f"model {rt.name}") from None
        words, enc, all_word_ids = self.prepared(card, examples, lengths, ready)
        inputs = rt.inputs(enc)
        with rt.phase("forward"):
            logits = rt.model(**inputs).logits
        with rt.phase("decode"):
            best = logits.argmax(dim=-1).cpu().numpy()
            outputs = []
            for i, tokens in enumerate(words):
                seen, first = np.unique(all_word_ids[i], return_index=True)  # first sub-token
                keep = seen >= 0
                predicted = np.full(len(tokens), "O", dtype=object)
                predicted[seen[keep]] = tags[best[i, first[keep]]]
                cut = len(tokens) - (int(seen[keep].max()) + 1 if keep.any() else 0)
                cut = cut if lengths[i] > limit else 0
                outputs.append(Output(repair_iob2(list(predicted)),
                                      meta={"truncated": bool(cut), "truncated_words": cut}))
            return outputs


class EncoderRunner(HeadRunner):
    """Similarity by cosine of attention-mask-weighted mean (or CLS) embeddings.

    The cosine ``c`` is mapped onto the card's score range as ``lo + (hi - lo) * (c + 1) / 2``,
    the same map as the ``st`` kind.
    """

    def __init__(self, rt: Runtime, *, pooling: str = "mean", seq_limit: int | None = None
                 ) -> None:
        super().__init__(rt)
        self.pooling = pooling
        self.seq_limit = seq_limit
        self._text_tokens: dict[str, int] = {}
        self._memo: dict[str, torch.Tensor] = {}  # sentence -> embedding, per task

    def max_input(self, card: TaskCard) -> int:
        return self.rt.max_input(card, self.seq_limit)

    def input_lengths(self, card: TaskCard, examples: Sequence[dict]) -> list[int]:
        texts = list(dict.fromkeys(str(ex[f]) for ex in examples
                                   for f in ("sentence1", "sentence2")))
        self._text_tokens.update(zip(texts, token_counts(self.rt.tokenizer, texts), strict=True))
        return [self._text_tokens[str(ex["sentence1"])] + self._text_tokens[str(ex["sentence2"])]
                for ex in examples]

    def cost(self, card: TaskCard, length: int) -> int:
        return min(length, 2 * self.max_input(card))

    def encode(self, texts: Sequence[str], limit: int) -> Any:
        enc = self.rt.tokenizer(list(texts), padding=True, truncation=True, max_length=limit,
                                return_tensors="pt")
        return self.rt.pinned(enc)

    def embed_encoded(self, enc: Any) -> torch.Tensor:
        """L2-normalised float32 embeddings of a tokenized batch (on the model's device)."""
        inputs = self.rt.inputs(enc)
        with self.rt.phase("forward"):
            hidden = self.rt.model(**inputs).last_hidden_state.float()
            if self.pooling == "cls":
                pooled = hidden[:, 0]
            else:
                mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=-1)

    def embed(self, texts: Sequence[str], limit: int) -> torch.Tensor:
        """L2-normalised float32 embeddings of ``texts`` (on the model's device)."""
        with self.rt.phase("tokenize"), self.rt.lock:
            enc = self.encode(texts, limit)
        return self.embed_encoded(enc)

    def prepare(self, card: TaskCard, examples: Sequence[dict], lengths: Sequence[int]) -> Any:
        """Tokenize the batch's sentences that are not memoised yet (a sentence shared by
        several pairs is encoded once per task; with prefetch a few may be encoded twice)."""
        texts = list(dict.fromkeys(str(ex[f]) for ex in examples
                                   for f in ("sentence1", "sentence2")))
        new = [t for t in texts if t not in self._memo]
        return (self.encode(new, self.max_input(card)) if new else None), new

    def start_task(self) -> None:
        self._memo.clear()

    def pending_tokens(self, examples: Sequence[dict], limit: int) -> int:
        """Input tokens the next forward pass will see: sentences not memoised yet."""
        texts = {str(ex[f]) for ex in examples for f in ("sentence1", "sentence2")}
        return sum(min(self._text_tokens.get(t, 0), limit) for t in texts - self._memo.keys())

    def predict(self, card: TaskCard, examples: Sequence[dict], lengths: Sequence[int],
                ready: Any = None) -> list[Output]:
        from evalsuite.models.sentence_transformers import score_range

        lo, hi = score_range(card)
        limit = self.max_input(card)
        enc, new = self.prepared(card, examples, lengths, ready)
        if enc is not None:
            self._memo.update(zip(new, self.embed_encoded(enc), strict=True))
        with self.rt.phase("decode"):
            left = torch.stack([self._memo[str(ex["sentence1"])] for ex in examples])
            right = torch.stack([self._memo[str(ex["sentence2"])] for ex in examples])
            cosines = (left * right).sum(dim=-1).cpu().tolist()
            counts = self._text_tokens
            return [Output(lo + (hi - lo) * (c + 1.0) / 2.0,
                           meta={"truncated": max(counts.get(str(ex["sentence1"]), 0),
                                                  counts.get(str(ex["sentence2"]), 0)) > limit})
                    for c, ex in zip(cosines, examples, strict=True)]
