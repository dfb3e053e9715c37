"""How a language model's input is built for one example: shots, chat turns, labels, stops.

Shared by the ``hf`` generative heads and the ``vllm`` kind (pure Python: the chat template
is applied by the callable the backend passes, the tokenizer's ``apply_chat_template``).
For example ``x`` of a card with template ``T`` (:mod:`evalsuite.prompts.templates`):

1. **demonstrations** ``d1 … dN`` (:mod:`evalsuite.prompts.fewshot`), each written as
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
   prediction (:mod:`evalsuite.prompts.answers`: stripped, first line for QA…) unless
   ``strip=false`` keeps the cut continuation as it is for the text families.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from evalsuite.families import FIELDS, Family
from evalsuite.models.base import OPTION_CONVERTERS, choice, non_negative_int, positive_int
from evalsuite.prompts.fewshot import ShotSource, examples_shot_ids, shot_source
from evalsuite.prompts.templates import (
    continuation,
    fill,
    shot_answer,
    stop_sequences,
    template_for,
    text_sha,
)
from evalsuite.tasks.cards import TaskCard

LABEL_SPACES = ("auto", "always", "never")
NORMALIZATIONS = ("sum", "token", "char", "calibrated")  # how label log-likelihoods compare
SHOT_SEPARATOR = "\n\n"
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
    shots: int = 0  # demonstrations shown
    shots_dropped: int = 0  # demonstrations left out so the prompt fits the context


def prompt_meta(prompt: Prompt, truncated: bool, store_prompt: bool) -> dict[str, Any]:
    """An example's ``meta`` from its prompt: whether the input was ``truncated``, the
    demonstrations' ``shot_ids`` and, with ``store_prompt``, the exact model input."""
    meta: dict[str, Any] = {"truncated": truncated}
    if prompt.shot_ids:
        meta["shot_ids"] = prompt.shot_ids
    if prompt.shots_dropped:
        meta["shots_dropped"] = prompt.shots_dropped
    if store_prompt:
        meta["prompt"] = prompt.text
    return meta


class PromptBuilder:
    """Builds the prompts of one card for one model's options."""

    def __init__(self, card: TaskCard, options: dict[str, Any], *, where: str,
                 chat_template: ChatTemplate | None = None,
                 chat_template_text: str | None = None) -> None:
        self.card = card
        self.chat_template_text = chat_template_text  # recorded as a hash in the settings
        self.options = options
        self.template = template_for(card, options)
        self.rule = str(options.get("label_space", "auto"))
        self.chat = chat_template if options.get("chat") else None
        self.system = options.get("system")
        self.as_turns = bool(options.get("shots_as_turns"))
        self.shots: ShotSource = shot_source(card, options, where)

    def prompt(self, example: dict[str, Any], keep_shots: int | None = None, *,
               blank: bool = False) -> Prompt:
        """``example``'s input; ``keep_shots``: show only the last that many of its
        demonstrations (the rest are dropped to fit the context); ``blank``: the same
        demonstrations before the content-free input instead (calibrated scoring)."""
        shots = self.shots.choose(example, self.card.family)
        dropped = 0
        if keep_shots is not None and keep_shots < len(shots):
            dropped = len(shots) - keep_shots
            shots = shots[dropped:]
        demos = [(fill(self.template, self.card, s), shot_answer(self.card, s)) for s in shots]
        query = fill(self.template, self.card, content_free(self.card) if blank else example)
        ids = examples_shot_ids(shots) if self.shots.fixed is None \
            or all("id" in s for s in shots) else []
        if self.chat is None:
            parts = [q + continuation(q, a, self.rule) for q, a in demos]
            return Prompt(SHOT_SEPARATOR.join([*parts, query]), ids, len(shots), dropped)
        messages = [{"role": "system", "content": str(self.system)}] if self.system else []
        if self.as_turns:
            for q, a in demos:
                messages += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
            messages.append({"role": "user", "content": query})
        else:
            parts = [q + continuation(q, a, self.rule) for q, a in demos]
            messages.append({"role": "user", "content": SHOT_SEPARATOR.join([*parts, query])})
        return Prompt(self.chat(messages), ids, len(shots), dropped)

    @property
    def per_example_shots(self) -> bool:
        """Whether demonstrations differ from example to example (sampled shots)."""
        return self.shots.fixed is None and self.shots.count > 0

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
            if self.chat_template_text:
                out["chat_template_sha256"] = text_sha(self.chat_template_text)
            if self.system:
                out["system"] = str(self.system)
                out["system_sha256"] = text_sha(str(self.system))
            if self.as_turns:
                out["shots_as_turns"] = True
        if self.rule != "auto":
            out["label_space"] = self.rule
        return out


PROMPT_RULES = 2
"""Version of the rules that turn a card and options into model inputs and scores (prompt
cutting, label spacing, demonstrations, calibration).  Part of every language model's
settings, hence of its cache keys: bump it when a change of these rules changes outputs, so
predictions cached by an older evalsuite are recomputed, not reused.  2: demonstrations give
way before the example, trailing spaces move into the label, a fixed shots file never shows
an example its own answer, calibration per example."""


def lm_settings(card: TaskCard, options: dict[str, Any], builder: PromptBuilder | None
                ) -> dict[str, Any]:
    """What about a language model's prompting, scoring and generation changes outputs
    (``builder`` ``None``: a seq2seq task prefix instead of a prompt)."""
    gen = GenerationSettings.for_card(card, options)
    mode = scoring_mode(card, options)
    out: dict[str, Any] = {"prompt_rules": PROMPT_RULES, "max_new_tokens": gen.max_new_tokens,
                           "num_beams": gen.num_beams, "do_sample": gen.do_sample,
                           "scoring": mode}
    if mode == "loglik":
        out["normalize"] = str(options.get("normalize", "sum"))
        if out["normalize"] == "calibrated" and builder is not None:
            out["calibration"] = ("per example (its own demonstrations)"
                                  if builder.per_example_shots else "per task")
    if builder is not None:
        out.update(builder.settings())
        if mode == "generate":
            out["stop"] = builder.stops()
            if not options.get("strip", True):
                out["strip"] = False
    if options.get("store_prompt"):
        out["store_prompt"] = True
    return out
