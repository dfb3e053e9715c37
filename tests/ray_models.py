"""Tiny deterministic models for the Ray executor tests.

They live in a module (not in a test file) so that Ray workers can import them: the executor
puts this folder's parent on the workers' ``PYTHONPATH`` and imports the adapter's module
before building the model.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from evalsuite.families import Family
from evalsuite.models.base import ModelAdapter, Output
from evalsuite.models.registry import register
from evalsuite.tasks.cards import TaskCard

POSITIVE = {"good", "great", "love", "loved", "excellent", "wonderful", "best", "enjoyed",
            "fantastic", "amazing", "perfect", "delicious", "brilliant"}


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", text.lower()))


@register
class RayTestModel(ModelAdapter):
    """Keyword sentiment and word-overlap similarity, with switchable failures.

    Options: ``log`` (a file every predicted example id is appended to, as ``task id``),
    ``die_marker`` (the first process that predicts creates this file and exits at once,
    like a worker killed mid-shard; later ones find the file and work), ``fail_task`` (raise
    a ``ValueError`` when predicting this task), ``warmup`` (1: ask for the runner's untimed
    warm-up batch).  The prediction itself is reported as the ``forward`` phase.
    """

    kind: ClassVar[str] = "test-ray"
    families: ClassVar[frozenset[Family]] = frozenset({Family.SENTIMENT, Family.SIMILARITY})
    extra_options: ClassVar[dict[str, Any]] = {"log": str, "die_marker": str, "fail_task": str,
                                               "warmup": int}
    default_batch_size: ClassVar[int] = 4

    def load(self) -> None:
        self.params = len(POSITIVE)
        self.needs_warmup = bool(self.options.get("warmup"))

    def predict_batch(self, card: TaskCard, examples: Sequence[dict]) -> list[Output | Any]:
        marker = self.options.get("die_marker")
        if marker:
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pass
            else:
                os.close(fd)
                os._exit(1)  # the worker dies mid-shard: nothing is returned or logged
        if self.options.get("fail_task") == card.name:
            raise ValueError(f"simulated failure on {card.name}")
        log = self.options.get("log")
        if log:
            with open(log, "a", encoding="utf-8") as fh:
                fh.write("".join(f"{card.name} {ex['id']}\n" for ex in examples))
        with self.phase("forward"):
            return self._predict(card, examples)

    @staticmethod
    def _predict(card: TaskCard, examples: Sequence[dict]) -> list[Output | Any]:
        if card.family is Family.SIMILARITY:
            out: list[Output | Any] = []
            for ex in examples:
                a, b = _words(ex["sentence1"]), _words(ex["sentence2"])
                out.append(5.0 * len(a & b) / max(len(a | b), 1))
            return out
        outputs: list[Output | Any] = []
        for ex in examples:
            hits = len(POSITIVE & _words(ex["text"]))
            p = min(0.95, 0.3 + 0.25 * hits)
            outputs.append(Output("positive" if p > 0.5 else "negative",
                                  scores={"positive": p, "negative": 1 - p}))
        return outputs


@register
class RayEmbeddingModel(RayTestModel):
    """The same model, which also embeds sentences (hashed bags of words), so the WEAT bias
    tests take their embeddings from the adapter."""

    kind: ClassVar[str] = "test-ray-embed"
    can_embed: ClassVar[bool] = True

    def embed(self, sentences: Sequence[str]) -> Any:
        vectors = np.zeros((len(sentences), 32))
        for row, sentence in enumerate(sentences):
            for word in _words(sentence):
                vectors[row, hashlib.md5(word.encode()).digest()[0] % 32] += 1.0
        return vectors


class DeviceProbe:
    """An actor that reports what its process sees of the GPUs, created with the options the
    Ray executor gives a model replica (after the same in-process claim)."""

    def __init__(self, num_gpus: float) -> None:
        from evalsuite.executors.ray_executor import claim_gpus

        self.gpus = claim_gpus(num_gpus)

    def report(self) -> dict[str, Any]:
        import torch

        from evalsuite.utils import resolve_device

        return {"CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
                "device": resolve_device("auto"), "gpus": self.gpus,
                "cuda_devices": torch.cuda.device_count()}
