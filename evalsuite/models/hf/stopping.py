"""Stop a generating row when its decoded continuation contains a stop text.

Checked as text, not token ids: a stop string may span several tokens or end inside one,
and a tokenizer may spell it many ways.  Each step decodes only the tail of the rows still
running (enough tokens to hold the longest stop text); a finished row is marked done, so
``generate`` pads it from then on and ends the batch as soon as every row is done.  The
continuation is cut before the stop afterwards (:func:`evalsuite.prompts.answers.cut_at_stop`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import StoppingCriteria

TAIL_SLACK = 2  # extra tokens decoded so a stop that ends inside a token is seen whole


class StopOnText(StoppingCriteria):
    """Per-row stopping on any of the row's ``stops`` in the text generated after
    ``start`` (``stops[i]``: the stop texts of row ``i``; beams are not supported)."""

    def __init__(self, tokenizer: Any, stops: Sequence[Sequence[str]], start: int,
                 lock: Any) -> None:
        self.tokenizer = tokenizer
        self.stops = [[s for s in row if s] for row in stops]
        self.start = start
        self.lock = lock
        self.tail = max((len(s.encode()) for row in self.stops for s in row),
                        default=0) + TAIL_SLACK
        self.done: torch.Tensor | None = None
        self.steps: torch.Tensor | None = None  # new tokens when the row stopped (-1: not)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor,
                 **kwargs: Any) -> torch.BoolTensor:
        rows, length = input_ids.shape[0], input_ids.shape[1]
        if self.done is None:
            self.done = torch.zeros(rows, dtype=torch.bool)
            self.steps = torch.full((rows,), -1, dtype=torch.long)
        assert self.steps is not None
        running = [row for row in (~self.done).nonzero().flatten().tolist()
                   if self.stops[row]]
        if running:
            begin = max(self.start, length - self.tail)
            window = input_ids[running, begin:].cpu()
            with self.lock:
                texts = self.tokenizer.batch_decode(window, skip_special_tokens=True)
            for row, text in zip(running, texts, strict=True):
                if any(stop in text for stop in self.stops[row]):
                    self.done[row] = True
                    self.steps[row] = length - self.start
        return self.done.to(input_ids.device)
