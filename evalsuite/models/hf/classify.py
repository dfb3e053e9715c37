"""Encoder heads: sequence classification, token classification (NER), mean-pooled encoders.

Each runner tokenizes a batch once (``prepare``, possibly ahead in the prefetch thread), runs
one forward pass under ``torch.inference_mode`` and moves the whole batch result to the CPU
once: no per-example ``.item()``/``.cpu()`` in the loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from evalsuite.errors import SpecError
from evalsuite.families import Family
from evalsuite.models.base import Output
from evalsuite.models.hf.heads import map_labels, map_tags, model_labels, repair_iob2
from evalsuite.models.hf.runtime import HeadRunner, Runtime, token_counts
from evalsuite.models.pair_plan import MEMO_LIMIT, SENTENCES_PER_BATCH, PairPlanner
from evalsuite.runner.batching import token_budget_batches
from evalsuite.tasks.cards import TaskCard


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
                               truncation=True, max_length=limit, return_tensors="pt",
                               pad_to_multiple_of=rt.pad_multiple(limit))
        else:
            enc = rt.tokenizer([str(ex["text"]) for ex in examples], padding=True,
                               truncation=True, max_length=limit, return_tensors="pt",
                               pad_to_multiple_of=rt.pad_multiple(limit))
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
        limit = self.max_input(card)
        enc = self.rt.tokenizer(words, is_split_into_words=True, padding=True, truncation=True,
                                max_length=limit, return_tensors="pt",
                                pad_to_multiple_of=self.rt.pad_multiple(limit))
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
    the same map as the ``st`` kind.  Pairs are planned over the task's unique sentences
    (:mod:`evalsuite.models.pair_plan`): each sentence is embedded once per task, in forward
    passes of length-sorted sentences within the adapter's token budget and row cap.
    """

    def __init__(self, rt: Runtime, *, pooling: str = "mean", seq_limit: int | None = None,
                 limits: tuple[int, int] = (16_384, 64)) -> None:
        super().__init__(rt)
        self.pooling = pooling
        self.seq_limit = seq_limit
        self.planner = PairPlanner(lambda texts: token_counts(self.rt.tokenizer, texts))
        self._memo: dict[str, torch.Tensor] = {}  # sentence -> embedding, per task
        self._budget, self._rows = limits  # of a forward pass; plan() sets the shrunk ones

    def max_input(self, card: TaskCard) -> int:
        return self.rt.max_input(card, self.seq_limit)

    def input_lengths(self, card: TaskCard, examples: Sequence[dict]) -> list[int]:
        """A pair's sort key: the tokens of its shorter sentence."""
        self.planner.count(examples)
        return [self.planner.length(ex) for ex in examples]

    def plan(self, card: TaskCard, examples: list[dict], budget: int, rows: int,
             length: Callable[[dict], int]) -> Iterator[list[dict]]:
        """Pair batches each bringing about ``SENTENCES_PER_BATCH × rows`` new sentences,
        embedded in forward passes of at most ``rows`` rows and ``budget`` padded tokens
        (planned over unique sentences: ``length`` is not needed)."""
        self._budget, self._rows = budget, rows
        return self.planner.plan(examples, SENTENCES_PER_BATCH * rows, self._memo)

    def encode(self, texts: Sequence[str], limit: int) -> Any:
        enc = self.rt.tokenizer(list(texts), padding=True, truncation=True, max_length=limit,
                                return_tensors="pt", pad_to_multiple_of=self.rt.pad_multiple(limit))
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
        """The sentences this batch embeds (its planned chunk, see :class:`PairPlanner`),
        tokenized in length-sorted forward passes within the token budget and row cap."""
        limit = self.max_input(card)
        texts = self.planner.to_embed(examples, self._memo)
        tokens = self.planner.tokens
        passes = token_budget_batches(texts, lambda t: min(tokens[t], limit), self._budget,
                                      self._rows)
        return [(group, self.encode(group, limit)) for group in passes]

    def start_task(self) -> None:
        self._memo.clear()
        self.planner.reset()

    def input_tokens(self, card: TaskCard, examples: Sequence[dict],
                     length: Callable[[dict], int]) -> int:
        """Input tokens the next forward passes will see: the sentences they embed (those
        embedded earlier in the task are skipped)."""
        limit = self.max_input(card)
        tokens = self.planner.tokens
        return sum(min(tokens[t], limit) for t in self.planner.to_embed(examples, self._memo))

    def _remember(self, texts: Sequence[str], embeddings: torch.Tensor) -> None:
        if len(self._memo) + len(texts) > MEMO_LIMIT:
            self._memo.clear()
        self._memo.update(zip(texts, embeddings, strict=True))

    def predict(self, card: TaskCard, examples: Sequence[dict], lengths: Sequence[int],
                ready: Any = None) -> list[Output]:
        from evalsuite.models.shared import score_range

        lo, hi = score_range(card)
        limit = self.max_input(card)
        for texts, enc in self.prepared(card, examples, lengths, ready):
            self._remember(texts, self.embed_encoded(enc))
        missing = self.planner.missing(examples, self._memo)  # e.g. after a memo reset
        if missing:
            self._remember(missing, self.embed(missing, limit))
        self.planner.done(examples)
        with self.rt.phase("decode"):
            left = torch.stack([self._memo[str(ex["sentence1"])] for ex in examples])
            right = torch.stack([self._memo[str(ex["sentence2"])] for ex in examples])
            cosines = (left * right).sum(dim=-1).cpu().tolist()
            tokens = self.planner.tokens
            return [Output(lo + (hi - lo) * (c + 1.0) / 2.0,
                           meta={"truncated": max(tokens[str(ex["sentence1"])],
                                                  tokens[str(ex["sentence2"])]) > limit})
                    for c, ex in zip(cosines, examples, strict=True)]
