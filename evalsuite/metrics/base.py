"""The metric interface and the bootstrap confidence interval every metric gets.

A metric turns (predictions, examples) into per-example *sufficient statistics* — an
``(n, k)`` array whose column sums determine the corpus value (counts for BLEU, a confusion
cell for MCC, a 0/1 for accuracy).  Resampling examples then only needs a matrix product,
so a 1,000-resample bootstrap over 10,000 examples takes milliseconds, and a paired test
between two models reuses the same resamples on both.  Metrics whose value is not a function
of column sums (Spearman's rank correlation) override :meth:`Metric.resampled_values`.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from evalsuite.families import Family
from evalsuite.results.records import Scale

DEFAULT_RESAMPLES = 1000
CONFIDENCE = 0.95
MAX_THREADS = 8
DRAWS_KEY = "bootstrap_draws"  # MetricContext.shared: resamples reused by a task's metrics


@dataclass
class MetricResult:
    """A metric's value with its bootstrap 95% interval (``None`` when it cannot be formed)."""

    value: float
    ci_low: float | None
    ci_high: float | None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high, **self.extra}


class Metric(ABC):
    """One named metric of one or more families.

    Subclasses set ``name``, ``families``, ``scale`` (a :class:`~evalsuite.results.records.Scale`:
    ``0-1``, ``0-100`` or ``-1-1``) and implement :meth:`example_stats` and :meth:`from_sums`.
    """

    name: ClassVar[str]
    families: ClassVar[tuple[Family, ...]]
    scale: ClassVar[Scale] = Scale.UNIT
    higher_is_better: ClassVar[bool] = True
    description: ClassVar[str] = ""
    reference: ClassVar[str] = ""  # the implementation it reproduces (tests compare with it)

    @abstractmethod
    def example_stats(
        self, predictions: Sequence[Any], examples: Sequence[dict], context: MetricContext
    ) -> np.ndarray:
        """Per-example sufficient statistics, shape ``(n, k)``."""

    @abstractmethod
    def from_sums(self, sums: np.ndarray) -> np.ndarray:
        """Corpus values from summed statistics: ``(B, k)`` in, ``(B,)`` out."""

    def example_scores(self, stats: np.ndarray) -> np.ndarray:
        """A per-example score (for worst-example lists and paired tests); ``nan`` if none."""
        with np.errstate(all="ignore"):
            return self.from_sums(stats)

    def extra(self, stats: np.ndarray, context: MetricContext) -> dict[str, Any]:
        """Additional fields stored beside value/ci (a signature, per-type scores…)."""
        return {}

    def value(self, stats: np.ndarray) -> float:
        with np.errstate(all="ignore"):
            return float(self.from_sums(stats.sum(axis=0, keepdims=True))[0])

    def resampled_values(self, stats: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Corpus values under resampling; ``counts[b, i]`` = times example ``i`` is drawn."""
        with np.errstate(all="ignore"):
            return self.from_sums(counts @ stats)


@dataclass
class MetricContext:
    """What a metric may need beyond predictions and references.

    ``language`` is the language of the texts a metric compares (a card's ``language``; a
    translation card's ``target_lang``): it picks sacreBLEU's tokenizer, ROUGE's tokenizer
    and SQuAD's answer normalisation.  ``options`` are the card's ``options``.
    """

    labels: list[str] | None = None
    shared: dict[str, Any] = field(default_factory=dict)
    language: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_card(cls, card: Any) -> MetricContext:
        """The context of a task card (labels, output language, options)."""
        return cls(labels=card.labels, language=card.output_language,
                   options=dict(card.options))


def resample_counts(n: int, resamples: int, seed: int) -> np.ndarray:
    """``(resamples, n)`` draw counts of a seeded bootstrap over ``n`` examples."""
    return draw_counts(np.random.default_rng(seed), n, resamples)


def draw_counts(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """``size`` bootstrap resamples of ``n`` examples as draw counts, shape ``(size, n)``.

    ``n`` uniform indices per row, counted with one offset ``bincount`` (several times
    faster than ``rng.multinomial`` for thousands of examples).
    """
    idx = rng.integers(0, n, size=(size, n))
    idx += (np.arange(size) * n)[:, None]
    return np.bincount(idx.ravel(), minlength=size * n).reshape(size, n).astype(np.float64)


CHUNK_ELEMENTS = 20_000_000  # (resamples × examples) drawn at once: ~160 MB of counts
PARALLEL_ELEMENTS = 1_000_000  # a chunk at least this big is split across threads


def resample_chunks(resamples: int, n: int) -> Iterator[tuple[int, int]]:
    """``(done, size)`` of each chunk of ``resamples`` resamples of ``n`` examples: resamples
    already drawn before the chunk, and how many it draws (at most :data:`CHUNK_ELEMENTS`
    draw counts at once)."""
    chunk = max(1, min(resamples, CHUNK_ELEMENTS // max(n, 1)))
    for done in range(0, resamples, chunk):
        yield done, min(chunk, resamples - done)


def bootstrap_interval(
    metric: Metric,
    stats: np.ndarray,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
    draws: dict[Any, np.ndarray] | None = None,
) -> tuple[float | None, float | None]:
    """Percentile bootstrap interval of ``metric`` over examples (``None`` if n < 2).

    The resamples depend only on ``(n, resamples, seed)``; ``draws`` (a dict the caller
    keeps, e.g. per task) holds them so that every metric of a task reuses one draw.  Large
    chunks of resamples are evaluated in threads (NumPy releases the GIL); the values do not
    depend on how many.
    """
    n = len(stats)
    if n < 2 or resamples < 1:
        return None, None
    values: list[np.ndarray] = []
    rng = np.random.default_rng(seed)
    for done, size in resample_chunks(resamples, n):
        key = (n, resamples, seed, done)
        counts = draws.get(key) if draws is not None else None
        if counts is None:
            counts = draw_counts(rng, n, size)
            if draws is not None and size == resamples:  # keep single-chunk draws only
                draws[key] = counts
        values.append(_resampled_values(metric, stats, counts))
    return percentile_interval(np.concatenate(values), confidence)


def _resampled_values(metric: Metric, stats: np.ndarray, counts: np.ndarray) -> np.ndarray:
    workers = min(os.cpu_count() or 1, MAX_THREADS, len(counts))
    if workers < 2 or counts.size < PARALLEL_ELEMENTS:
        return metric.resampled_values(stats, counts)
    parts = np.array_split(counts, workers)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="evalsuite-bootstrap") \
            as pool:
        return np.concatenate(list(pool.map(lambda c: metric.resampled_values(stats, c),
                                            parts)))


def percentile_interval(draws: np.ndarray, confidence: float = CONFIDENCE
                        ) -> tuple[float | None, float | None]:
    """The central ``confidence`` interval of bootstrap draws (non-finite draws dropped)."""
    draws = draws[np.isfinite(draws)]
    if draws.size == 0:
        return None, None
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(draws, [tail, 100.0 - tail])
    return float(low), float(high)


def score(
    metric: Metric,
    predictions: Sequence[Any],
    examples: Sequence[dict],
    context: MetricContext,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> tuple[MetricResult, np.ndarray]:
    """Compute one metric with its interval; also return the per-example statistics."""
    stats = np.asarray(metric.example_stats(predictions, examples, context), dtype=np.float64)
    if stats.ndim != 2 or len(stats) != len(examples):
        raise ValueError(f"{metric.name}: example_stats must return shape (n, k)")
    value = metric.value(stats) if len(stats) else float("nan")
    low, high = bootstrap_interval(metric, stats, resamples=resamples, seed=seed,
                                   draws=context.shared.setdefault(DRAWS_KEY, {}))
    return MetricResult(value, low, high, metric.extra(stats, context)), stats
