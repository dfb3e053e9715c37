"""Extractive question answering from start/end logits, with a document stride.

A context longer than the input limit is read in overlapping windows (``doc_stride`` tokens
of overlap).  In every window the best span is found exactly and without Python loops over
start×end pairs: for each start position, the scores of the ``max_answer_length`` ends that
follow it form a band (``unfold`` of the end logits), so one ``max`` over a
``windows × tokens × max_answer_length`` tensor gives the best valid span of every window.
Only context tokens may start or end a span.  The best span over an example's windows is
mapped back to characters of the context with the offset mapping.

SQuAD v2: the null score is ``start[CLS] + end[CLS]`` (its minimum over windows); the answer is
``""`` when ``null - best_span > null_threshold`` (default 0.0).  This applies when the card
scores unanswerable questions (``no_ans_*``/``has_ans_*`` metrics) or option ``no_answer=true``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from evalsuite.models.base import Output
from evalsuite.models.hf.runtime import HeadRunner, Runtime, token_counts
from evalsuite.tasks.cards import TaskCard

DEFAULT_MAX_LENGTH = 384
DEFAULT_STRIDE = 128
DEFAULT_MAX_ANSWER = 30


def no_answer_enabled(card: TaskCard, options: dict[str, Any]) -> bool:
    """Whether unanswerable predictions are allowed (option ``no_answer``, else the card's
    metrics mention no-answer scoring)."""
    if "no_answer" in options:
        return bool(options["no_answer"])
    return any(m.startswith(("no_ans", "has_ans")) for m in card.metrics)


def qa_settings(card: TaskCard, options: dict[str, Any]) -> dict[str, Any]:
    return {"max_answer_length": int(options.get("max_answer_length", DEFAULT_MAX_ANSWER)),
            "doc_stride": int(options.get("doc_stride", DEFAULT_STRIDE)),
            "null_threshold": float(options.get("null_threshold", 0.0)),
            "no_answer": no_answer_enabled(card, options)}


def best_spans(start: torch.Tensor, end: torch.Tensor, context: torch.Tensor,
               max_answer_length: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Best ``(score, start, end)`` per window over spans inside ``context`` (a bool mask)
    with ``start <= end < start + max_answer_length``.  Score is ``-inf`` when none exists."""
    width = max(1, int(max_answer_length))
    neg = torch.finfo(torch.float32).min
    s = start.float().masked_fill(~context, float("-inf"))
    e = end.float().masked_fill(~context, float("-inf"))
    e = torch.nn.functional.pad(e, (0, width - 1), value=float("-inf"))
    scores = s.unsqueeze(-1) + e.unfold(1, width, 1)          # [w, i, d] = s[i] + e[i + d]
    flat = scores.reshape(scores.shape[0], -1)
    best, index = flat.max(dim=-1)
    first = torch.div(index, width, rounding_mode="floor")
    best = torch.where(torch.isfinite(best), best, torch.full_like(best, neg))
    return best, first, first + index % width


class QARunner(HeadRunner):
    """SQuAD-style span prediction over strided windows."""

    needs_fast_tokenizer = True

    def __init__(self, rt: Runtime, *, max_answer_length: int = DEFAULT_MAX_ANSWER,
                 doc_stride: int = DEFAULT_STRIDE, null_threshold: float = 0.0) -> None:
        super().__init__(rt)
        self.max_answer_length = max_answer_length
        self.doc_stride = doc_stride
        self.null_threshold = null_threshold
        self.question_first = getattr(rt.tokenizer, "padding_side", "right") == "right"
        self._question_tokens: dict[str, int] = {}

    def max_input(self, card: TaskCard) -> int:
        return self.rt.max_input(card, DEFAULT_MAX_LENGTH)

    def input_lengths(self, card: TaskCard, examples: Sequence[dict]) -> list[int]:
        questions = list(dict.fromkeys(str(ex["question"]).lstrip() for ex in examples))
        self._question_tokens.update(zip(questions, token_counts(self.rt.tokenizer, questions),
                                         strict=True))
        return token_counts(self.rt.tokenizer, [str(ex["question"]).lstrip() for ex in examples],
                            [str(ex["context"]) for ex in examples])

    def cost(self, card: TaskCard, length: int) -> int:
        limit = self.max_input(card)
        if length <= limit:
            return length
        step = max(limit // 2, limit - self.doc_stride)
        return limit * (1 + math.ceil((length - limit) / step))

    def prepare(self, card: TaskCard, examples: Sequence[dict], lengths: Sequence[int]) -> Any:
        """Windows of every example (tokenized with offsets) and their context masks."""
        rt, limit = self.rt, self.max_input(card)
        tok = rt.tokenizer
        questions = [str(ex["question"]).lstrip() for ex in examples]
        contexts = [str(ex["context"]) for ex in examples]
        q_tokens = [self._question_tokens.get(q) or token_counts(tok, [q])[0] for q in questions]
        too_long = [n > limit // 2 for n in q_tokens]
        if any(too_long):  # a question must leave room for the context
            questions = [" ".join(q.split()[:max(1, limit // 8)]) if cut else q
                         for q, cut in zip(questions, too_long, strict=True)]
            q_tokens = [min(n, limit // 2) for n in q_tokens]
        window = limit - max(q_tokens) - 1
        stride = min(self.doc_stride, max(0, window // 2))
        first, second = (questions, contexts) if self.question_first else (contexts, questions)
        enc = tok(first, second, truncation="only_second" if self.question_first else
                  "only_first", max_length=limit, stride=stride, padding=True,
                  return_overflowing_tokens=True, return_offsets_mapping=True,
                  return_tensors="pt", pad_to_multiple_of=self.rt.pad_multiple(limit))
        n_windows = enc["input_ids"].shape[0]
        context_id = 1 if self.question_first else 0
        seq_ids = np.array([[-1 if s is None else s for s in enc.sequence_ids(w)]
                            for w in range(n_windows)])
        context = torch.from_numpy(seq_ids == context_id)
        return rt.pinned(enc), context.pin_memory() if rt.cuda else context, contexts, too_long

    def predict(self, card: TaskCard, examples: Sequence[dict], lengths: Sequence[int],
                ready: Any = None) -> list[Output]:
        rt = self.rt
        enc, context, contexts, too_long = self.prepared(card, examples, lengths, ready)
        n_windows = enc["input_ids"].shape[0]
        inputs = rt.inputs(enc)
        context = context.to(rt.device, non_blocking=rt.cuda)  # read in decode, after forward
        with rt.phase("forward"):
            out = rt.model(**inputs)
        with rt.phase("decode"):
            return self._decode(card, enc, inputs, out, context, contexts, too_long, n_windows)

    def _decode(self, card: TaskCard, enc: Any, inputs: dict[str, Any], out: Any,
                context: torch.Tensor, contexts: list[str], too_long: list[bool],
                n_windows: int) -> list[Output]:
        rt = self.rt
        best, span_start, span_end = best_spans(out.start_logits, out.end_logits, context,
                                                self.max_answer_length)
        cls_id = getattr(rt.tokenizer, "cls_token_id", None)
        ids = inputs["input_ids"] if "input_ids" in inputs else enc["input_ids"].to(rt.device)
        cls_pos = ((ids == cls_id).int().argmax(dim=1) if cls_id is not None
                   else torch.zeros(n_windows, dtype=torch.long, device=rt.device))
        rows = torch.arange(n_windows, device=rt.device)
        null = (out.start_logits.float()[rows, cls_pos] + out.end_logits.float()[rows, cls_pos])
        table = torch.stack([best, span_start.float(), span_end.float(), null]).cpu().numpy()
        offsets = enc["offset_mapping"].numpy()
        sample = enc["overflow_to_sample_mapping"].numpy()
        use_null = no_answer_enabled(card, self.rt.options)
        floor = float(torch.finfo(torch.float32).min)
        outputs = []
        for i, text in enumerate(contexts):
            windows = np.flatnonzero(sample == i)
            w = windows[int(np.argmax(table[0, windows]))]
            score, s, e = float(table[0, w]), int(table[1, w]), int(table[2, w])
            null_score = float(table[3, windows].min())
            found = score > floor
            answer = text[int(offsets[w, s, 0]):int(offsets[w, e, 1])] if found else ""
            empty = not found or (use_null and null_score - score > self.null_threshold)
            outputs.append(Output("" if empty else answer, meta={
                "truncated": bool(too_long[i]), "windows": len(windows),
                "span_score": score if found else None, "null_score": null_score,
                "span": answer if found else None}))
        return outputs
