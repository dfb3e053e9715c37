"""What every probe gets: the task, its clean outputs and a counting, de-duplicating predictor."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evalsuite.families import FIELDS, Family
from evalsuite.models.base import ModelAdapter, Output
from evalsuite.tasks.cards import TaskCard

if TYPE_CHECKING:
    from evalsuite.runner.run import TaskPredictor


class ProbePredictor:
    """Predicts probe examples through :class:`~evalsuite.runner.TaskPredictor` only.

    Examples whose inputs equal an already predicted example (a task example, or an earlier
    probe example) reuse that output, so unchanged variants cost nothing; every example sent
    to the model is counted per probe category, which is how the cost multiple is measured.
    """

    def __init__(self, predictor: TaskPredictor, examples: Sequence[dict],
                 outputs: Sequence[Output] | None = None) -> None:
        self.predictor = predictor
        self.card: TaskCard = predictor.card
        self.family: Family = predictor.card.family
        self.known: dict[str, Output] = {}
        self.predicted: Counter[str] = Counter()
        self.computed: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()
        self.embedded: Counter[str] = Counter()  # texts sent to an adapter's embed()
        if outputs is not None:
            for ex, out in zip(examples, outputs, strict=True):
                self.known.setdefault(self.digest(ex), out)

    @property
    def adapter(self) -> ModelAdapter:
        """The model's adapter, for what it declares (``can_embed``…; under Ray it is not
        loaded in this process)."""
        return self.predictor.adapter

    def digest(self, example: dict) -> str:
        inputs = [example.get(f) for f in FIELDS[self.family].inputs]
        return json.dumps(inputs, ensure_ascii=False, sort_keys=True, default=str)

    def embed(self, texts: Sequence[str], category: str) -> Any:
        """The model's sentence embeddings (``adapter.embed``; counted, timed)."""
        start = time.perf_counter()
        vectors = self.predictor.embed(list(texts))
        self.seconds[category] += time.perf_counter() - start
        self.embedded[category] += len(texts)
        return vectors

    def predict(self, examples: Sequence[dict], category: str) -> list[Output]:
        """Outputs for ``examples`` in order; new inputs go to the model in sorted batches."""
        digests = [self.digest(ex) for ex in examples]
        todo: dict[str, dict] = {}
        for d, ex in zip(digests, examples, strict=True):
            if d not in self.known and d not in todo:
                todo[d] = ex
        if todo:
            start = time.perf_counter()
            outputs, computed = self.predictor.predict(list(todo.values()))
            self.seconds[category] += time.perf_counter() - start
            self.known.update(zip(todo, outputs, strict=True))
            self.predicted[category] += len(todo)
            self.computed[category] += len(computed)
        return [self.known[d] for d in digests]


@dataclass
class ProbeContext:
    """One (model, task) as the probes see it."""

    predictor: ProbePredictor
    examples: list[dict[str, Any]]
    options: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    resamples: int = 1000
    permutations: int = 1000
    _clean: list[Output] | None = None

    @property
    def card(self) -> TaskCard:
        return self.predictor.card

    @property
    def family(self) -> Family:
        return self.predictor.card.family

    @property
    def n(self) -> int:
        """The cap on sampled task examples (option ``n``, default 200)."""
        return int(self.options.get("n", 200))

    def clean_outputs(self) -> list[Output]:
        """The task's own outputs for every example (from the run, else the cache)."""
        if self._clean is None:
            self._clean = self.predictor.predict(self.examples, "clean")
        return self._clean

    def sample(self, items: Sequence[Any], salt: str, n: int | None = None) -> list[Any]:
        """A seeded sample of at most ``n`` items, in their original order."""
        limit = self.n if n is None else n
        if len(items) <= limit:
            return list(items)
        rng = random.Random(f"{self.seed}|{salt}")
        return [items[i] for i in sorted(rng.sample(range(len(items)), limit))]

    def can_predict_new_inputs(self) -> str | None:
        """Why the model cannot predict inputs outside the task (``None`` when it can)."""
        if self.predictor.adapter.replays_fixed_outputs:
            return ("the model replays a fixed predictions file, so it cannot predict "
                    "perturbed or swapped inputs")
        return None


def not_applicable(reason: str) -> dict[str, str]:
    return {"status": "not_applicable", "reason": reason}


def failed(exc: BaseException) -> dict[str, str]:
    text = (str(exc).strip().splitlines() or [""])[0][:300]
    return {"status": "failed", "reason": f"{type(exc).__name__}: {text}"}


def coerce(family: Family, prediction: Any) -> Any:
    """A prediction in its family's type (tags list, float score, or text)."""
    if family is Family.NER:
        return [str(t) for t in prediction] if isinstance(prediction, list) else []
    if family is Family.SIMILARITY:
        try:
            return float(prediction)
        except (TypeError, ValueError):
            return float("nan")
    return "" if prediction is None else str(prediction)


def positive_label(card: TaskCard) -> str:
    """The card label read as "positive" (by name, else the last label)."""
    labels = list(card.labels or [])
    for label in labels:
        if label.lower() in ("positive", "pos"):
            return label
    return labels[-1] if labels else "positive"


def positive_probability(output: Output, positive: str) -> float:
    """p(positive) from the output's scores, else 1/0 from its label."""
    if output.scores and positive in output.scores:
        try:
            return float(output.scores[positive])
        except (TypeError, ValueError):
            pass
    return float(str(output.prediction) == positive)
