"""Order examples by length and cut them into batches; split a batch on out-of-memory."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


def sort_by_length(items: Sequence[T], length: Callable[[T], int]) -> list[T]:
    """Longest first: padding is minimised and an out-of-memory shows in the first batch."""
    return sorted(items, key=length, reverse=True)


def fixed_size_batches(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def token_budget_batches(
    items: Sequence[T], length: Callable[[T], int], budget: int, max_size: int
) -> Iterator[list[T]]:
    """Batches of length-sorted items whose padded size (rows × longest) stays within
    ``budget`` tokens, with at most ``max_size`` rows."""
    batch: list[T] = []
    longest = 0
    for item in items:
        size = max(length(item), 1)
        if batch and (max(longest, size) * (len(batch) + 1) > budget or len(batch) >= max_size):
            yield batch
            batch, longest = [], 0
        batch.append(item)
        longest = max(longest, size)
    if batch:
        yield batch


def halves(batch: Sequence[T]) -> tuple[list[T], list[T]]:
    middle = len(batch) // 2
    return list(batch[:middle]), list(batch[middle:])
