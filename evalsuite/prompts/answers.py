"""From a language model's output to the family's prediction.

Pure Python and numpy (no torch): a generated continuation is cut at its stop text and
parsed (:func:`parse_generated`: the first line of a QA answer, the first number of a
similarity score, the first card label named…); label log-likelihoods are compared after the
chosen normalisation (:func:`label_outputs`).

>>> parse_answer_text(Family.QA, " Unanswerable.\\nQuestion: …")
''
>>> parse_similarity("I would say 4.5 out of 5", (0.0, 5.0))
(4.5, True)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evalsuite.families import Family
from evalsuite.models.base import Output
from evalsuite.tasks.cards import TaskCard

NO_ANSWER = frozenset({"unanswerable", "no answer", "none", "n/a", "not answerable",
                       "cannot be answered", "unknown"})
_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)")
TEXT_FAMILIES = frozenset({Family.QA, Family.TRANSLATION, Family.SUMMARIZATION})


# -- generated text ------------------------------------------------------------------------------
def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, str | None]:
    """``text`` up to the earliest stop text, and that stop (``None`` when none occurs)."""
    best: tuple[int, str] | None = None
    for stop in stops:
        at = text.find(stop) if stop else -1
        if at >= 0 and (best is None or at < best[0]):
            best = (at, stop)
    return (text, None) if best is None else (text[:best[0]], best[1])


def parse_answer_text(family: Family, text: str, *, source: str = "") -> str:
    """A generated continuation as a text prediction of ``family``.

    QA: the first non-empty line, stripped; "unanswerable" (and synonyms) → ``""``.
    Translation: the first line when the source is one line, else up to a blank line.
    Summarization: up to the first blank line.
    """
    body = text.strip()
    if family is Family.QA:
        line = next((ln.strip() for ln in body.splitlines() if ln.strip()), "")
        key = line.strip(" .!\"'`").lower()
        return "" if key in NO_ANSWER else line
    if family is Family.TRANSLATION and "\n" not in source.strip():
        return (body.splitlines() or [""])[0].strip()
    return re.split(r"\n\s*\n", body, maxsplit=1)[0].strip()


def parse_similarity(text: str, score_range: tuple[float, float]) -> tuple[float, bool]:
    """The first number in ``text`` clipped to ``score_range``; ``(low, False)`` if none."""
    lo, hi = score_range
    match = _NUMBER.search(text)
    if match is None:
        return lo, False
    return min(hi, max(lo, float(match.group()))), True


def first_label(text: str, labels: Sequence[str]) -> str | None:
    """The card label mentioned first in ``text`` (case-insensitive, whole words)."""
    best: tuple[int, str] | None = None
    for label in labels:
        match = re.search(rf"\b{re.escape(label)}\b", text, flags=re.IGNORECASE)
        if match and (best is None or match.start() < best[0]):
            best = (match.start(), label)
    return best[1] if best else None


def parse_generated(card: TaskCard, example: dict, text: str, meta: dict[str, Any],
                    strip: bool = True) -> Any:
    """A continuation (already cut at its stop) as the family's prediction; what could not
    be parsed goes into ``meta.unparsed``."""
    family = card.family
    if family is Family.SIMILARITY:
        from evalsuite.models.shared import score_range

        value, ok = parse_similarity(text, score_range(card))
        if not ok:
            meta["unparsed"] = text[:200]
        return value
    if family is Family.SENTIMENT:
        labels = list(card.labels or [])
        label = first_label(text, labels)
        if label is None:
            meta["unparsed"] = text[:200]
        return label or labels[0]
    if not strip and family in TEXT_FAMILIES:
        return text
    return parse_answer_text(family, text, source=str(example.get("source", "")))


def generated_output(card: TaskCard, example: dict, text: str, meta: dict[str, Any], *,
                     tokens: int, hit_limit: bool, stop: str | None, strip: bool,
                     store_prompt: bool) -> Output:
    """One generated continuation (already cut before ``stop``) as the example's output: the
    parsed prediction, with the ``generated_tokens``, whether generation hit the length
    limit, the ``stop`` text it ended at and, with ``store_prompt``, the continuation itself
    (``completion``) in ``meta``."""
    meta.update(generated_tokens=tokens, hit_length_limit=hit_limit)
    if stop is not None:
        meta["stop"] = stop
    if store_prompt:
        meta["completion"] = text
    return Output(parse_generated(card, example, text, meta, strip), meta=meta)


# -- label log-likelihoods ----------------------------------------------------------------------
@dataclass
class LabelScores:
    """Summed label log-probabilities of a batch and what normalisation needs."""

    logprobs: np.ndarray  # (examples, labels), summed over the label's tokens
    tokens: np.ndarray  # (examples, labels) tokens scored


def normalized(scores: LabelScores, labels: Sequence[str], how: str,
               calibration: np.ndarray | None = None) -> np.ndarray:
    """The scores a label is chosen by: ``sum``, ``token`` (mean per token), ``char`` (per
    character of the label, lm-evaluation-harness's ``acc_norm``) or ``calibrated`` (minus the
    label's log-probability after the content-free prompt, Zhao et al. 2021; ``calibration``
    has one row for every example or one row per example)."""
    if how == "token":
        return scores.logprobs / np.maximum(scores.tokens, 1)
    if how == "char":
        chars = np.asarray([max(len(label), 1) for label in labels], dtype=np.float64)
        return scores.logprobs / chars[None, :]
    if how == "calibrated":
        if calibration is None:
            raise ValueError("calibrated scores need the content-free log-probabilities")
        return scores.logprobs - np.broadcast_to(calibration, scores.logprobs.shape)
    return scores.logprobs


def label_outputs(scores: LabelScores, labels: Sequence[str], how: str,
                  metas: Sequence[dict[str, Any]], calibration: np.ndarray | None = None
                  ) -> list[Output]:
    """The chosen label of each row, the softmax of the chosen scores as ``scores`` and the
    summed log-probabilities in ``meta.logprobs`` (``calibration``: the content-free
    log-probabilities, one row for all or one per row, in ``meta.calibration``)."""
    chosen = normalized(scores, labels, how, calibration)
    shifted = np.exp(chosen - chosen.max(axis=1, keepdims=True))
    probs = shifted / shifted.sum(axis=1, keepdims=True)
    free = None if calibration is None else np.broadcast_to(calibration, chosen.shape)
    outputs = []
    for i, (b, p, s, meta) in enumerate(zip(chosen.argmax(axis=1), probs, scores.logprobs,
                                            metas, strict=True)):
        meta["logprobs"] = dict(zip(labels, s.tolist(), strict=True))
        if free is not None:
            meta["calibration"] = dict(zip(labels, free[i].tolist(), strict=True))
        outputs.append(Output(labels[int(b)], scores=dict(zip(labels, p.tolist(), strict=True)),
                              meta=meta))
    return outputs
