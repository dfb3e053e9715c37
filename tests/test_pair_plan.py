"""Sentence-pair planning: each unique sentence once, in one length-sorted pass."""

from __future__ import annotations

import random

import pytest

from evalsuite.models.pair_plan import PairPlanner, pair_texts


def words(texts: list[str]) -> list[int]:
    return [len(t.split()) for t in texts]


def sentence(i: int) -> str:
    return " ".join(f"w{i}" for _ in range(1 + i % 17)) + f" s{i}"


@pytest.fixture
def pairs() -> list[dict]:
    rng = random.Random(0)
    pool = [sentence(i) for i in range(120)]  # 120 sentences shared by 400 pairs
    return [{"id": str(k), "sentence1": a, "sentence2": b}
            for k, (a, b) in enumerate(rng.sample(pool, 2) for _ in range(400))]


def test_chunks_are_every_sentence_once_in_length_order(pairs):
    planner = PairPlanner(words)
    ordered = sorted(pairs, key=planner.length, reverse=True)
    batches = list(planner.plan(ordered, target=16, embedded=set()))
    assert [ex["id"] for b in batches for ex in b] == [ex["id"] for ex in ordered]

    embedded: set[str] = set()
    sequence: list[str] = []
    for batch in batches:
        chunk = planner.to_embed(batch, embedded)
        assert not embedded & set(chunk)
        embedded.update(chunk)
        sequence += chunk
        # every pair of the batch can be scored: both sentences are in this or an earlier chunk
        assert set(pair_texts(batch)) <= embedded
        planner.done(batch)
    assert sorted(sequence) == sorted(pair_texts(pairs))  # each sentence exactly once
    lengths = words(sequence)
    assert lengths == sorted(lengths, reverse=True)  # one pass sorted by length
    sizes = [len(b) for b in batches]
    assert len(sizes) > 3 and sum(sizes) == len(pairs)


def test_every_chunk_but_the_last_reaches_the_target(pairs):
    planner = PairPlanner(words)
    ordered = sorted(pairs, key=planner.length, reverse=True)
    embedded: set[str] = set()
    chunks = []
    for batch in planner.plan(ordered, target=25, embedded=embedded):
        chunks.append(planner.to_embed(batch, embedded))
        embedded.update(chunks[-1])
    assert all(len(c) >= 25 for c in chunks[:-1]) and chunks[-1]


def test_embedded_sentences_are_left_out_and_unplanned_batches_embed_their_own(pairs):
    planner = PairPlanner(words)
    ordered = sorted(pairs, key=planner.length, reverse=True)
    known = set(pair_texts(ordered[:50]))
    plan = list(planner.plan(ordered, target=10, embedded=known))
    planned = [t for batch in plan for t in planner.to_embed(batch, known)]
    assert not known & set(planned)
    assert sorted(planned) == sorted(set(pair_texts(pairs)) - known)

    half = plan[1][: len(plan[1]) // 2]  # a half after an out-of-memory split: not planned
    own = planner.to_embed(half, set())
    assert sorted(own) == sorted(pair_texts(half))
    assert words(own) == sorted(words(own), reverse=True)
    assert planner.missing(half, set(own)) == []


def test_tokens_are_counted_once_per_sentence(pairs):
    calls: list[int] = []

    def counting(texts: list[str]) -> list[int]:
        calls.append(len(texts))
        return words(texts)

    planner = PairPlanner(counting)
    planner.count(pairs)
    planner.count(pairs)
    list(planner.plan(sorted(pairs, key=planner.length, reverse=True), 8, set()))
    assert calls == [len(pair_texts(pairs))]
    assert planner.length(pairs[0]) == min(words([pairs[0]["sentence1"],
                                                  pairs[0]["sentence2"]]))
