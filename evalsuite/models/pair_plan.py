"""Sentence-pair batches planned over the task's unique sentences (similarity encoders).

An encoder scores a pair from two sentence embeddings, and a sentence shared by several pairs
is embedded once per task.  The cheapest schedule is therefore the one a hand-written loop
would use: every unique sentence once, in one pass sorted by length.  :class:`PairPlanner`
gives the runner that schedule in pair batches:

* each pair's sort key (:meth:`PairPlanner.length`) is the token count of its *shorter*
  sentence, so pairs come longest first in the order their sentences become available;
* :meth:`PairPlanner.plan` cuts the pairs so that batch *k* brings a *chunk*: every sentence
  not embedded yet that is at least as long as the shortest sentence of its last pair.  The
  chunks, in order, are the task's sentences sorted by length, and every pair of a batch has
  both sentences in its own or an earlier chunk;
* :meth:`PairPlanner.to_embed` is what a batch must embed: its chunk when the runner asks for
  a planned batch (or its prefetched copy), and only its own missing sentences otherwise (the
  halves of a batch split after an out-of-memory, warm-up and profiling batches).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator, Sequence

SIDES = ("sentence1", "sentence2")
SENTENCES_PER_BATCH = 4  # forward passes of new sentences per runner batch
MEMO_LIMIT = 200_000  # embeddings an encoder keeps for sentences recurring across pairs
CHUNKS_KEPT = 64  # planned chunks remembered (the runner runs them in order, a few ahead)


def pair_texts(examples: Sequence[dict]) -> list[str]:
    """The distinct sentences of ``examples``, in order of first appearance."""
    return list(dict.fromkeys(str(ex[side]) for ex in examples for side in SIDES))


def batch_key(examples: Sequence[dict]) -> tuple[int, ...]:
    """Identifies a planned batch (the runner passes the same example dicts it was given)."""
    return tuple(id(ex) for ex in examples)


class PairPlanner:
    """Token counts of a task's sentences, and pair batches that embed them in length order."""

    def __init__(self, count: Callable[[list[str]], list[int]]) -> None:
        self._count = count  # untruncated tokens of each text, in one batched call
        self.tokens: dict[str, int] = {}
        self._chunks: dict[tuple[int, ...], list[str]] = {}

    def reset(self) -> None:
        """Forget planned chunks (a new task; token counts stay valid)."""
        self._chunks.clear()

    def count(self, examples: Sequence[dict]) -> None:
        """Count the tokens of every sentence of ``examples`` not counted yet."""
        missing = [t for t in pair_texts(examples) if t not in self.tokens]
        if missing:
            self.tokens.update(zip(missing, self._count(missing), strict=True))

    def length(self, example: dict) -> int:
        """Sort key of a pair: the tokens of its shorter sentence."""
        if any(str(example[side]) not in self.tokens for side in SIDES):
            self.count([example])
        return min(self.tokens[str(example[side])] for side in SIDES)

    def plan(self, examples: list[dict], target: int, embedded: Container[str]
             ) -> Iterator[list[dict]]:
        """Consecutive batches of ``examples`` (sorted by :meth:`length`, longest first), each
        bringing a chunk of at least ``target`` sentences not in ``embedded`` (the last may
        bring fewer)."""
        self.count(examples)
        self._chunks.clear()
        tokens = self.tokens
        pending = sorted((t for t in pair_texts(examples) if t not in embedded),
                         key=tokens.__getitem__, reverse=True)
        position = 0
        batch: list[dict] = []
        chunk: list[str] = []
        for ex in examples:
            shortest = self.length(ex)
            while position < len(pending) and tokens[pending[position]] >= shortest:
                chunk.append(pending[position])
                position += 1
            batch.append(ex)
            if len(chunk) >= target:
                yield self._planned(batch, chunk)
                batch, chunk = [], []
        if batch:
            yield self._planned(batch, chunk)

    def _planned(self, batch: list[dict], chunk: list[str]) -> list[dict]:
        if len(self._chunks) >= CHUNKS_KEPT:
            self._chunks.pop(next(iter(self._chunks)))
        self._chunks[batch_key(batch)] = chunk
        return batch

    def to_embed(self, examples: Sequence[dict], embedded: Container[str]) -> list[str]:
        """Sentences to embed before scoring ``examples``, longest first: the batch's chunk
        when these are a planned batch (their own sentences are in it or in an earlier one),
        else their own sentences not in ``embedded``."""
        chunk = self._chunks.get(batch_key(examples))
        if chunk is not None:
            return [t for t in chunk if t not in embedded]
        return self.missing(examples, embedded)

    def missing(self, examples: Sequence[dict], embedded: Container[str]) -> list[str]:
        """The sentences of ``examples`` not in ``embedded``, longest first."""
        self.count(examples)
        todo = [t for t in pair_texts(examples) if t not in embedded]
        return sorted(todo, key=self.tokens.__getitem__, reverse=True)

    def done(self, examples: Sequence[dict]) -> None:
        """Forget the chunk of a batch that has been predicted."""
        self._chunks.pop(batch_key(examples), None)
