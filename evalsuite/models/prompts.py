"""Prompts, task prefixes, target-language tokens and answer parsing for generative heads.

Pure Python (no torch): what text goes into a generative model and how its continuation
becomes a family's prediction.

>>> parse_answer_text(Family.QA, " Unanswerable.\\nQuestion: …")
''
>>> parse_similarity("I would say 4.5 out of 5", (0.0, 5.0))
(4.5, True)
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from collections.abc import Sequence
from pathlib import Path
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
T5_FAMILY = frozenset({"t5", "mt5", "umt5", "longt5", "switch_transformers"})
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
NO_ANSWER = frozenset({"unanswerable", "no answer", "none", "n/a", "not answerable",
                       "cannot be answered", "unknown"})
_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)")


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


def load_shots(path: str | Path, card: TaskCard, limit: int | None = None) -> list[dict]:
    """Few-shot examples from a JSONL file of canonical examples (with their references)."""
    rows = []
    fields = FIELDS[card.family]
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        missing = [f for f in fields.required if f not in row]
        if missing:
            raise ValueError(f"{path}: line {number} has no {missing[0]!r} "
                             f"({card.family.value} shots need {', '.join(fields.required)})")
        rows.append(row)
        if limit is not None and len(rows) >= limit:
            break
    return rows


def continuation(prompt: str, answer: str, rule: str = "auto") -> str:
    """``answer`` as the continuation of ``prompt`` under the ``label_space`` rule: ``auto``
    puts a space before it unless the prompt ends with a space or a newline; ``always``,
    ``never``."""
    if rule == "never" or (rule == "auto" and prompt.endswith((" ", "\n"))):
        return answer
    return " " + answer


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


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, str | None]:
    """``text`` up to the earliest stop text, and that stop (``None`` when none occurs)."""
    best: tuple[int, str] | None = None
    for stop in stops:
        at = text.find(stop) if stop else -1
        if at >= 0 and (best is None or at < best[0]):
            best = (at, stop)
    return (text, None) if best is None else (text[:best[0]], best[1])


def text_sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# -- seq2seq prefixes and language tokens ------------------------------------------------------
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


# -- answer parsing ----------------------------------------------------------------------------
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
