"""Prompt templates: each family's default, filling one with an example, and stop texts.

Pure Python (no torch).  A template is a ``str.format`` string over the example's canonical
fields (:data:`evalsuite.families.FIELDS`) and a few extras (:func:`extra_fields`:
``{labels_or}``, ``{source_language}``, ``{score_low}``…); a few-shot demonstration is its
filled template followed by its answer (:func:`shot_answer`, :func:`continuation`).

>>> continuation("Answer:", "positive")
' positive'
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Sequence
from typing import Any

from evalsuite.families import FIELDS, Family
from evalsuite.tasks.cards import TaskCard

LANGUAGES: dict[str, tuple[str, str]] = {  # ISO 639-1 → (English name, FLORES-200 code)
    "ar": ("Arabic", "arb_Arab"), "bg": ("Bulgarian", "bul_Cyrl"), "cs": ("Czech", "ces_Latn"),
    "da": ("Danish", "dan_Latn"), "de": ("German", "deu_Latn"), "el": ("Greek", "ell_Grek"),
    "en": ("English", "eng_Latn"), "es": ("Spanish", "spa_Latn"),
    "et": ("Estonian", "est_Latn"), "fi": ("Finnish", "fin_Latn"),
    "fr": ("French", "fra_Latn"), "gu": ("Gujarati", "guj_Gujr"), "he": ("Hebrew", "heb_Hebr"),
    "hi": ("Hindi", "hin_Deva"), "hu": ("Hungarian", "hun_Latn"),
    "it": ("Italian", "ita_Latn"), "ja": ("Japanese", "jpn_Jpan"),
    "kk": ("Kazakh", "kaz_Cyrl"), "ko": ("Korean", "kor_Hang"),
    "lt": ("Lithuanian", "lit_Latn"), "lv": ("Latvian", "lvs_Latn"),
    "nl": ("Dutch", "nld_Latn"), "no": ("Norwegian", "nob_Latn"), "pl": ("Polish", "pol_Latn"),
    "pt": ("Portuguese", "por_Latn"), "ro": ("Romanian", "ron_Latn"),
    "ru": ("Russian", "rus_Cyrl"), "sk": ("Slovak", "slk_Latn"),
    "sv": ("Swedish", "swe_Latn"), "tr": ("Turkish", "tur_Latn"),
    "uk": ("Ukrainian", "ukr_Cyrl"), "vi": ("Vietnamese", "vie_Latn"),
    "zh": ("Chinese", "zho_Hans"),
}
DEFAULT_PROMPTS: dict[Family, str] = {
    Family.SENTIMENT: "Text: {text}\nIs the sentiment of this text {labels_or}?\nAnswer:",
    Family.QA: ("Context: {context}\nQuestion: {question}\nAnswer with a short span from the "
                "context, or 'unanswerable'.\nAnswer:"),
    Family.TRANSLATION: ("Translate from {source_language} to {target_language}.\n"
                         "{source_language}: {source}\n{target_language}:"),
    Family.SUMMARIZATION: "Summarize the following text.\n\n{document}\n\nSummary:",
    Family.SIMILARITY: ("Sentence 1: {sentence1}\nSentence 2: {sentence2}\nOn a scale from "
                        "{score_low:g} to {score_high:g}, how similar are the two sentences "
                        "in meaning?\nAnswer:"),
}


def language_name(code: str | None) -> str:
    """English name of an ISO code (``de`` → ``German``); the code itself when unknown."""
    if not code:
        return ""
    base = re.split(r"[_-]", code)[0].lower()
    return LANGUAGES.get(base, (code, ""))[0]


# -- templates ---------------------------------------------------------------------------------
def template_for(card: TaskCard, options: dict[str, Any]) -> str:
    """The prompt template: option ``prompt``, else the card's ``prompt``, else a default."""
    return str(options.get("prompt") or card.prompt or DEFAULT_PROMPTS[card.family])


def template_fields(template: str) -> set[str]:
    return {name.split(".")[0].split("[")[0]
            for _, name, _, _ in string.Formatter().parse(template) if name}


def extra_fields(card: TaskCard) -> dict[str, Any]:
    """Names a template may use besides the example's fields."""
    labels = list(card.labels or [])
    extra: dict[str, Any] = {
        "labels": ", ".join(labels), "labels_or": " or ".join(labels),
        "source_language": language_name(card.source_lang),
        "target_language": language_name(card.target_lang),
        "source_lang": card.source_lang or "", "target_lang": card.target_lang or "",
    }
    if card.family is Family.SIMILARITY:
        from evalsuite.models.shared import score_range

        extra["score_low"], extra["score_high"] = score_range(card)
    return extra


def template_problem(template: str, card: TaskCard) -> str | None:
    """Why ``template`` cannot be filled for ``card`` (``None`` when it can)."""
    fields = FIELDS[card.family]
    known = {*fields.inputs, *fields.optional, "id", *extra_fields(card)}
    return unknown_field_problem(template, known, f"a field of {card.family.value} examples")


def unknown_field_problem(template: str, known: set[str], what: str) -> str | None:
    """Why ``template`` uses a placeholder outside ``known`` (``None`` when it does not)."""
    try:
        unknown = sorted(template_fields(template) - known)
    except ValueError as exc:
        return f"the prompt template is not a valid format string ({exc})"
    if unknown:
        return (f"the prompt template uses {{{unknown[0]}}}, which is not {what} "
                f"(fields: {', '.join(sorted(known))})")
    return None


def fill(template: str, card: TaskCard, example: dict[str, Any]) -> str:
    """The template filled with the example's canonical fields."""
    values = {**extra_fields(card), **example}
    if card.family is Family.TRANSLATION:
        values.setdefault("source_lang", card.source_lang)
        values["source_language"] = language_name(values.get("source_lang"))
        values["target_language"] = language_name(values.get("target_lang"))
    return template.format_map(values)


def shot_answer(card: TaskCard, example: dict[str, Any]) -> str:
    """The reference answer a few-shot example shows after its prompt."""
    family = card.family
    if family is Family.SENTIMENT:
        return str(example["label"])
    if family is Family.QA:
        answers = example.get("answers") or []
        if isinstance(answers, dict):
            answers = answers.get("text") or []
        return str(answers[0]) if answers else "unanswerable"
    if family is Family.SIMILARITY:
        return f"{float(example['score']):g}"
    refs = example.get("references")
    return str(refs[0] if isinstance(refs, list) else refs)


def continuation(prompt: str, answer: str, rule: str = "auto") -> str:
    """``answer`` as the continuation of ``prompt`` under the ``label_space`` rule: ``auto``
    puts a space before it unless the prompt ends with a space or a newline; ``always``,
    ``never``."""
    if rule == "never" or (rule == "auto" and prompt.endswith((" ", "\n"))):
        return answer
    return " " + answer


def split_trailing_spaces(prompt: str) -> tuple[str, str]:
    """``prompt`` without its trailing spaces, and those spaces: for log-likelihood scoring
    they are the start of the continuation, as lm-evaluation-harness scores them, so that
    ``"Answer: " + "positive"`` is tokenized like ``"Answer:" + " positive"`` (no lone space
    token before the label).

    >>> split_trailing_spaces("Answer: ")
    ('Answer:', ' ')
    """
    head = prompt.rstrip(" ")
    return head, prompt[len(head):]


def build_prompt(template: str, card: TaskCard, example: dict[str, Any],
                 shots: Sequence[dict] = ()) -> str:
    """Few-shot demonstrations (prompt + answer), then the example's prompt."""
    filled = [fill(template, card, shot) for shot in shots]
    parts = [q + continuation(q, shot_answer(card, shot)) for q, shot in zip(filled, shots,
                                                                                strict=True)]
    return "\n\n".join([*parts, fill(template, card, example)])


def stop_sequences(card: TaskCard, example: dict[str, Any] | None = None) -> list[str]:
    """The family's default stop texts: one line for short answers, a blank line for
    summaries (and for translations of a multi-line source)."""
    if card.stop is not None:
        return list(card.stop)
    if card.family is Family.SUMMARIZATION:
        return ["\n\n"]
    if card.family is Family.TRANSLATION:
        return ["\n\n"] if example and "\n" in str(example.get("source", "")).strip() else ["\n"]
    return ["\n"]


def text_sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]
