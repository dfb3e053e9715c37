"""How a language model's input is built for one example: shots, chat turns, labels, stops.

Shared by the ``hf`` generative heads and the ``vllm`` kind (pure Python: the chat template
is applied by the callable the backend passes, the tokenizer's ``apply_chat_template``).
For example ``x`` of a card with template ``T``:

1. **demonstrations** ``d1 … dN`` (:mod:`evalsuite.models.fewshot`), each written as
   ``T(d) + space + answer(d)`` (the same space rule as labels, below);
2. the **prompt**: demonstrations and ``T(x)`` joined by a blank line (``"\\n\\n"``);
3. **chat** (``chat=true``): the prompt becomes one user turn (or, with
   ``shots_as_turns=true``, one user/assistant pair per demonstration, then the user turn),
   after an optional ``system`` message, rendered by the tokenizer's chat template with the
   generation prompt added;
4. **labels** (log-likelihood scoring) are continuations of the prompt: option
   ``label_space`` ``auto`` (default: ``" " + label``, or the bare label when the prompt
   ends with a space or a newline), ``always`` or ``never``;
5. **generation** stops at the first of the stop texts (option ``stop``, else the card's
   ``stop``, else the family default: a newline for short answers, a blank line for
   summaries); the continuation is cut before the stop, then parsed into the family's
   prediction (stripped, first line for QA…) unless ``strip=false`` keeps the cut
   continuation as it is for the text families.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evalsuite.families import FIELDS, Family
from evalsuite.models.base import (
    OPTION_CONVERTERS,
    Output,
    choice,
    non_negative_int,
    positive_int,
)
from evalsuite.models.fewshot import ShotSource, examples_shot_ids, shot_source
from evalsuite.models.prompts import (
    continuation,
    fill,
    first_label,
    parse_answer_text,
    parse_similarity,
    shot_answer,
    stop_sequences,
    template_for,
    text_sha,
)
from evalsuite.tasks.cards import TaskCard

LABEL_SPACES = ("auto", "always", "never")
NORMALIZATIONS = ("sum", "token", "char", "calibrated")  # how label log-likelihoods compare
SHOT_SEPARATOR = "\n\n"
TEXT_FAMILIES = frozenset({Family.QA, Family.TRANSLATION, Family.SUMMARIZATION})
DEFAULT_MAX_NEW = {Family.QA: 32, Family.SIMILARITY: 8, Family.SENTIMENT: 8}
CONTENT_FREE = "N/A"  # the content-free input of calibrated scoring
ChatTemplate = Callable[[list[dict[str, str]]], str]


@dataclass(frozen=True)
class GenerationSettings:
    """Generation settings that change outputs (part of cache keys)."""

    max_new_tokens: int
    num_beams: int = 1
    do_sample: bool = False

    @classmethod
    def for_card(cls, card: TaskCard, options: dict[str, Any]) -> GenerationSettings:
        default = card.max_new_tokens or DEFAULT_MAX_NEW.get(card.family, 128)
        return cls(max_new_tokens=int(options.get("max_new_tokens") or default),
                   num_beams=int(options.get("num_beams", 1)),
                   do_sample=bool(options.get("do_sample", False)))


def scoring_mode(card: TaskCard, options: dict[str, Any]) -> str:
    """``loglik`` (label log-likelihood: sentiment, by default) or ``generate``."""
    return str(options.get("scoring", "loglik")) if card.family is Family.SENTIMENT else "generate"


def content_free(card: TaskCard) -> dict[str, Any]:
    """An example of ``card`` whose every input field is ``N/A`` (calibrated scoring)."""
    example: dict[str, Any] = {name: CONTENT_FREE for name in FIELDS[card.family].inputs}
    example["id"] = "__content_free__"
    if card.family is Family.TRANSLATION:
        example.update(source_lang=card.source_lang, target_lang=card.target_lang)
    return example


def parse_stops(value: Any) -> list[str]:
    """Option converter for ``stop``: a list (batch file), a JSON list, or one text with
    backslash escapes (``stop=\\n``); ``stop=[]`` means EOS only."""
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    text = str(value)
    if text.strip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a JSON list of texts ({exc.msg})") from None
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            raise ValueError("expected a JSON list of texts")
        return items
    return [text.encode("latin-1", "backslashreplace").decode("unicode_escape")] if text else []


def label_space(value: Any) -> str:
    """Option converter for ``label_space``."""
    text = str(value).strip().lower()
    if text not in LABEL_SPACES:
        raise ValueError(f"choose one of {', '.join(LABEL_SPACES)}")
    return text


# options every language-model kind (hf generative heads, vllm) takes
LM_OPTIONS: dict[str, Callable[[Any], Any]] = {
    "prompt": str, "shots_file": str, "shots": non_negative_int, "shots_seed": int,
    "shots_as_turns": OPTION_CONVERTERS["bool"], "chat": OPTION_CONVERTERS["bool"],
    "system": str, "scoring": choice("loglik", "generate"), "normalize": choice(*NORMALIZATIONS),
    "label_space": label_space, "stop": parse_stops, "strip": OPTION_CONVERTERS["bool"],
    "store_prompt": OPTION_CONVERTERS["bool"], "max_new_tokens": positive_int,
    "do_sample": OPTION_CONVERTERS["bool"], "seed": int,
}


@dataclass
class Prompt:
    """One example's model input and the demonstrations it shows."""

    text: str
    shot_ids: list[str] = field(default_factory=list)


class PromptBuilder:
    """Builds the prompts of one card for one model's options."""

    def __init__(self, card: TaskCard, options: dict[str, Any], *, where: str,
                 chat_template: ChatTemplate | None = None) -> None:
        self.card = card
        self.options = options
        self.template = template_for(card, options)
        self.rule = str(options.get("label_space", "auto"))
        self.chat = chat_template if options.get("chat") else None
        self.system = options.get("system")
        self.as_turns = bool(options.get("shots_as_turns"))
        self.shots: ShotSource = shot_source(card, options, where)

    def prompt(self, example: dict[str, Any]) -> Prompt:
        shots = self.shots.choose(example, self.card.family)
        demos = [(fill(self.template, self.card, s), shot_answer(self.card, s)) for s in shots]
        query = fill(self.template, self.card, example)
        ids = examples_shot_ids(shots) if self.shots.fixed is None else []
        if self.chat is None:
            parts = [q + continuation(q, a, self.rule) for q, a in demos]
            return Prompt(SHOT_SEPARATOR.join([*parts, query]), ids)
        messages = [{"role": "system", "content": str(self.system)}] if self.system else []
        if self.as_turns:
            for q, a in demos:
                messages += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
            messages.append({"role": "user", "content": query})
        else:
            parts = [q + continuation(q, a, self.rule) for q, a in demos]
            messages.append({"role": "user", "content": SHOT_SEPARATOR.join([*parts, query])})
        return Prompt(self.chat(messages), ids)

    def stops(self, example: dict[str, Any] | None = None) -> list[str]:
        """Stop texts: option ``stop``, else the card's, else the family default."""
        if "stop" in self.options:
            return list(self.options["stop"])
        return stop_sequences(self.card, example)

    def label_texts(self, prompt: str, labels: Sequence[str]) -> list[str]:
        """Each label as the continuation of ``prompt``."""
        return [continuation(prompt, label, self.rule) for label in labels]

    def settings(self) -> dict[str, Any]:
        """What about the prompts changes outputs (for results and cache keys)."""
        out: dict[str, Any] = {"prompt": self.template, "prompt_sha256": text_sha(self.template)}
        out.update(self.shots.settings())
        if self.chat is not None:
            out["chat"] = True
            if self.system:
                out["system_sha256"] = text_sha(str(self.system))
            if self.as_turns:
                out["shots_as_turns"] = True
        if self.rule != "auto":
            out["label_space"] = self.rule
        return out


# -- what comes back -----------------------------------------------------------------------------
@dataclass
class LabelScores:
    """Summed label log-probabilities of a batch and what normalisation needs."""

    logprobs: np.ndarray  # (examples, labels), summed over the label's tokens
    tokens: np.ndarray  # (examples, labels) tokens scored


def normalized(scores: LabelScores, labels: Sequence[str], how: str,
               calibration: np.ndarray | None = None) -> np.ndarray:
    """The scores a label is chosen by: ``sum``, ``token`` (mean per token), ``char`` (per
    character of the label, lm-evaluation-harness's ``acc_norm``) or ``calibrated`` (minus the
    label's log-probability after the content-free prompt, Zhao et al. 2021)."""
    if how == "token":
        return scores.logprobs / np.maximum(scores.tokens, 1)
    if how == "char":
        chars = np.asarray([max(len(label), 1) for label in labels], dtype=np.float64)
        return scores.logprobs / chars[None, :]
    if how == "calibrated":
        if calibration is None:
            raise ValueError("calibrated scores need the content-free log-probabilities")
        return scores.logprobs - calibration[None, :]
    return scores.logprobs


def label_outputs(scores: LabelScores, labels: Sequence[str], how: str,
                  metas: Sequence[dict[str, Any]], calibration: np.ndarray | None = None
                  ) -> list[Output]:
    """The chosen label of each row, the softmax of the chosen scores as ``scores`` and the
    summed log-probabilities in ``meta.logprobs``."""
    chosen = normalized(scores, labels, how, calibration)
    shifted = np.exp(chosen - chosen.max(axis=1, keepdims=True))
    probs = shifted / shifted.sum(axis=1, keepdims=True)
    outputs = []
    for b, p, s, meta in zip(chosen.argmax(axis=1), probs, scores.logprobs, metas, strict=True):
        meta["logprobs"] = dict(zip(labels, s.tolist(), strict=True))
        outputs.append(Output(labels[int(b)], scores=dict(zip(labels, p.tolist(), strict=True)),
                              meta=meta))
    return outputs


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


def lm_settings(card: TaskCard, options: dict[str, Any], builder: PromptBuilder | None
                ) -> dict[str, Any]:
    """What about a language model's prompting, scoring and generation changes outputs
    (``builder`` ``None``: a seq2seq task prefix instead of a prompt)."""
    gen = GenerationSettings.for_card(card, options)
    mode = scoring_mode(card, options)
    out: dict[str, Any] = {"max_new_tokens": gen.max_new_tokens, "num_beams": gen.num_beams,
                           "do_sample": gen.do_sample, "scoring": mode}
    if mode == "loglik":
        out["normalize"] = str(options.get("normalize", "sum"))
    if builder is not None:
        out.update(builder.settings())
        if mode == "generate":
            out["stop"] = builder.stops()
            if not options.get("strip", True):
                out["strip"] = False
    if options.get("store_prompt"):
        out["store_prompt"] = True
    return out
