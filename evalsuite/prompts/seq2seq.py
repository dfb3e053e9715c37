"""Inputs of encoder-decoder (seq2seq) models: T5-style task prefixes and target-language
tokens (Marian ``>>de<<``, M2M100 ``__de__``, NLLB ``deu_Latn``, mBART ``de_DE``).

Pure Python (no torch): the ``hf`` backend's seq2seq heads use these instead of a prompt
template for translation and summarization.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from evalsuite.families import Family
from evalsuite.prompts.templates import LANGUAGES, language_name
from evalsuite.tasks.cards import TaskCard

T5_FAMILY = frozenset({"t5", "mt5", "umt5", "longt5", "switch_transformers"})


def task_prefix(config: Any, card: TaskCard, options: dict[str, Any]) -> str:
    """T5-style task prefix: option ``prefix``, else ``config.task_specific_params``, else the
    T5 convention for t5/mt5 models (``translate English to German: ``, ``summarize: ``)."""
    if "prefix" in options:
        return str(options["prefix"])
    params = getattr(config, "task_specific_params", None) or {}
    if card.family is Family.TRANSLATION:
        src, tgt = (card.source_lang or "").lower(), (card.target_lang or "").lower()
        entry = params.get(f"translation_{src}_to_{tgt}")
        if isinstance(entry, dict) and "prefix" in entry:
            return str(entry["prefix"])
        if getattr(config, "model_type", "") in T5_FAMILY:
            return (f"translate {language_name(card.source_lang)} to "
                    f"{language_name(card.target_lang)}: ")
    if card.family is Family.SUMMARIZATION:
        entry = params.get("summarization")
        if isinstance(entry, dict) and "prefix" in entry:
            return str(entry["prefix"])
        if getattr(config, "model_type", "") in T5_FAMILY:
            return "summarize: "
    return ""


def language_token_candidates(code: str) -> tuple[list[str], list[str]]:
    """Vocabulary tokens naming language ``code``: (Marian-style input tokens ``>>de<<``,
    forced-BOS codes: ``__de__`` (M2M100), ``deu_Latn`` (NLLB), ``de_DE`` (mBART))."""
    raw = code.strip()
    base = re.split(r"[_-]", raw)[0].lower()
    flores = LANGUAGES.get(base, ("", ""))[1]
    iso3 = flores.split("_")[0] if flores else ""
    marian = [f">>{base}<<"] + ([f">>{iso3}<<"] if iso3 else []) + \
        ([f">>{flores}<<"] if flores else [])
    forced = [raw, f"__{base}__"] + ([flores] if flores else [])
    return marian, forced


def find_language_token(vocab: dict[str, int], special: Sequence[str], code: str
                        ) -> tuple[str, str] | None:
    """``("prefix" | "forced_bos", token)`` for the target language, or ``None``.

    Marian-style ``>>xx<<`` tokens are prepended to the source; language codes of
    multilingual models (M2M100 ``__de__``, NLLB ``deu_Latn``, mBART ``de_DE``) are forced
    as the first generated token.
    """
    marian, forced = language_token_candidates(code)
    for token in marian:
        if token in vocab:
            return "prefix", token
    specials = set(special)
    for token in forced:
        if token in specials or (token != code and token in vocab):
            return "forced_bos", token
    base = re.split(r"[_-]", code)[0].lower()
    pattern = re.compile(rf"^{re.escape(base)}_[A-Z]{{2}}$")  # mBART-50 style, e.g. de_DE
    matches = sorted(t for t in specials if pattern.match(t))
    return ("forced_bos", matches[0]) if matches else None
