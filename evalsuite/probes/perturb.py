"""Seeded robustness perturbations of canonical examples.

=============  =================================================================================
name           what changes (every random choice is seeded by run seed, example id and name)
=============  =================================================================================
typo           about 10% of the words of 4+ letters (at least one) get one keyboard typo:
               swapped, dropped, doubled or neighbouring-key letter
casing         everything lower-cased
punctuation    punctuation removed (apostrophes and hyphens inside words, decimal points kept)
whitespace     some spaces doubled or turned into tabs, plus leading/trailing spaces
contractions   contractions expanded (``don't`` → ``do not``); a text without any gets its
               expandable phrases contracted instead
entity_swap    person names (from the word lists; for NER every PER span) and cities swapped for
               others, consistently across fields; answers and tags stay valid
=============  =================================================================================

QA answers always stay valid: the context is perturbed outside the answer spans only (casing
lower-cases the answers too), and swapped names move with their spans.  NER tokens keep their
tags: typos and casing change tokens in place, punctuation drops punctuation tokens tagged
``O``; whitespace and contractions do not apply to pre-tokenised input.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from evalsuite.families import FIELDS, Family
from evalsuite.probes import lexicon
from evalsuite.probes.swaps import (
    Swapped,
    answer_spans,
    person_spans,
    replace_words,
    swap_person_spans,
    transform_example,
    word_pattern,
)

PERTURBATIONS: tuple[str, ...] = ("typo", "casing", "punctuation", "whitespace", "contractions",
                                  "entity_swap")
TYPO_RATE = 0.1

_KEYBOARD = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
_NEIGHBOURS: dict[str, str] = {}
for _r, _row in enumerate(_KEYBOARD):
    for _c, _ch in enumerate(_row):
        near = [_row[j] for j in (_c - 1, _c + 1) if 0 <= j < len(_row)]
        for _dr in (-1, 1):
            if 0 <= _r + _dr < len(_KEYBOARD):
                other = _KEYBOARD[_r + _dr]
                near += [other[j] for j in (_c - 1, _c, _c + 1) if 0 <= j < len(other)]
        _NEIGHBOURS[_ch] = "".join(sorted(set(near)))


def rng_for(seed: int, *parts: Any) -> random.Random:
    """A ``random.Random`` seeded stably (not by Python's salted ``hash``) from the parts."""
    digest = hashlib.sha256("|".join(map(str, (seed, *parts))).encode()).hexdigest()
    return random.Random(int(digest[:16], 16))


# -- text perturbations --------------------------------------------------------------------------
def typos(text: str, rng: random.Random, rate: float = TYPO_RATE) -> str:
    """About ``rate`` of the words of 4+ letters (at least one) get one typo."""
    words = list(re.finditer(r"[A-Za-z]{4,}", text))
    if not words:
        return text
    k = max(1, round(rate * len(words)))
    chosen = sorted(rng.sample(range(len(words)), k), reverse=True)
    for index in chosen:
        match = words[index]
        word = match.group()
        i = rng.randrange(1, len(word) - 1)
        op = rng.choice(("swap", "drop", "double", "key"))
        if op == "swap" and word[i] != word[i + 1]:
            new = word[:i] + word[i + 1] + word[i] + word[i + 2:]
        elif op == "drop":
            new = word[:i] + word[i + 1:]
        elif op == "double":
            new = word[:i] + word[i] + word[i:]
        else:
            near = _NEIGHBOURS.get(word[i].lower(), "e")
            ch = rng.choice(near)
            new = word[:i] + (ch.upper() if word[i].isupper() else ch) + word[i + 1:]
        text = text[:match.start()] + new + text[match.end():]
    return text


def lower_case(text: str, rng: random.Random | None = None) -> str:
    return text.lower()


_PUNCT = set(".,;:!?\"“”‘’'()[]{}…—–-/*&#@")


def strip_punctuation(text: str, rng: random.Random | None = None) -> str:
    """Punctuation removed, except inside words (``don't``, ``well-known``) and numbers."""
    out = []
    for i, ch in enumerate(text):
        if ch not in _PUNCT:
            out.append(ch)
            continue
        before = text[i - 1] if i else ""
        after = text[i + 1] if i + 1 < len(text) else ""
        inside_word = ch in "'’-" and before.isalnum() and after.isalnum()
        inside_number = ch in ".,:" and before.isdigit() and after.isdigit()
        if inside_word or inside_number:
            out.append(ch)
    return re.sub(r"[ \t]{2,}", " ", "".join(out)).strip()


def whitespace(text: str, rng: random.Random) -> str:
    """Some spaces doubled or turned into tabs; a leading and a trailing space."""
    def one(match: re.Match[str]) -> str:
        roll = rng.random()
        return "  " if roll < 0.3 else "\t" if roll < 0.4 else match.group()

    return " " + re.sub(r" ", one, text) + " "


_CONTRACTIONS: dict[str, str] = {
    "do not": "don't", "does not": "doesn't", "did not": "didn't", "is not": "isn't",
    "are not": "aren't", "was not": "wasn't", "were not": "weren't", "have not": "haven't",
    "has not": "hasn't", "had not": "hadn't", "will not": "won't", "would not": "wouldn't",
    "cannot": "can't", "could not": "couldn't", "should not": "shouldn't",
    "must not": "mustn't", "it is": "it's", "that is": "that's", "there is": "there's",
    "what is": "what's", "i am": "i'm", "you are": "you're", "we are": "we're",
    "they are": "they're", "he is": "he's", "she is": "she's", "i will": "i'll",
    "you will": "you'll", "we will": "we'll", "they will": "they'll", "let us": "let's",
}
_EXPANSIONS: dict[str, str] = {v: k for k, v in _CONTRACTIONS.items()}
_EXPANSIONS.update({"i've": "i have", "you've": "you have", "we've": "we have",
                    "they've": "they have", "i'd": "i would", "you'd": "you would",
                    "can't": "cannot", "isn't": "is not", "won't": "will not"})
_CONTRACTED = re.compile(r"(?<![\w'’])(" + "|".join(
    re.escape(k).replace("'", "['’]") for k in sorted(_EXPANSIONS, key=len, reverse=True))
    + r")(?![\w'’])", re.IGNORECASE)
# contract only when a word follows ("that is" at the end of a clause stays)
_EXPANDABLE = re.compile(r"(?<![\w'’])(" + "|".join(
    r"\s+".join(map(re.escape, k.split())) for k in sorted(_CONTRACTIONS, key=len, reverse=True))
    + r")(?=\s+[A-Za-z])", re.IGNORECASE)


def toggle_contractions(text: str, rng: random.Random | None = None) -> str:
    """Expand every contraction; a text without any has its expandable phrases contracted."""
    def keep_case(source: str, target: str) -> str:
        if source.isupper() and len(source) > 1:
            return target.upper()
        if source[:1].isupper():
            return target[:1].upper() + target[1:]
        return target

    def fix_i(value: str) -> str:
        return re.sub(r"\bi\b", "I", value)

    if _CONTRACTED.search(text):
        def expand(m: re.Match[str]) -> str:
            key = m.group(1).lower().replace("’", "'")
            return fix_i(keep_case(m.group(1), _EXPANSIONS[key]))
        return _CONTRACTED.sub(expand, text)

    def contract(m: re.Match[str]) -> str:
        key = " ".join(m.group(1).lower().split())
        return fix_i(keep_case(m.group(1), _CONTRACTIONS[key]))
    return _EXPANDABLE.sub(contract, text)


TextPerturbation = Callable[[str, random.Random], str]
TEXT_PERTURBATIONS: dict[str, TextPerturbation] = {
    "typo": typos, "casing": lower_case, "punctuation": strip_punctuation,
    "whitespace": whitespace, "contractions": toggle_contractions,
}


# -- examples ------------------------------------------------------------------------------------
@dataclass
class Perturbed:
    """A perturbed example; ``changed`` says whether its inputs differ from the original.

    ``kept`` (NER) lists the original token positions still present; ``inverse`` maps swapped
    names back, so outputs can be compared with the original's.
    """

    example: dict[str, Any]
    changed: bool
    kept: list[int] | None = None
    inverse: dict[str, str] = field(default_factory=dict)


def applies(name: str, family: Family) -> str | None:
    """Why perturbation ``name`` cannot apply to ``family`` (``None`` when it can)."""
    if name not in PERTURBATIONS:
        raise KeyError(f"unknown perturbation {name!r} (choose from {', '.join(PERTURBATIONS)})")
    if family is Family.NER and name in ("whitespace", "contractions"):
        return f"NER inputs are pre-tokenised, so {name} perturbations do not apply"
    return None


def perturb_example(example: dict[str, Any], family: Family, name: str, seed: int) -> Perturbed:
    """``example`` under perturbation ``name`` (deterministic for a given seed and id)."""
    rng = rng_for(seed, example["id"], name)
    if name == "entity_swap":
        return _entity_swap(example, family, rng)
    fn = TEXT_PERTURBATIONS[name]
    if family is Family.NER:
        return _perturb_ner(example, name, fn, rng)
    new = dict(example)
    for key in FIELDS[family].inputs:
        if family is Family.QA and key == "context":
            continue
        new[key] = fn(str(example[key]), rng)
    if family is Family.QA:
        _perturb_context(example, new, fn, rng, lower_answers=name == "casing")
    changed = any(new[k] != example[k] for k in FIELDS[family].inputs)
    return Perturbed(new, changed)


def _perturb_context(example: dict[str, Any], new: dict[str, Any], fn: TextPerturbation,
                     rng: random.Random, *, lower_answers: bool) -> None:
    """Perturb the context outside answer spans; move the spans (and lower-case answers)."""
    context = str(example["context"])
    spans = answer_spans(example)
    cuts = sorted({p for span in spans if span for p in span} | {0, len(context)})
    protected = [span for span in spans if span]
    pieces: list[str] = []
    starts: dict[int, int] = {}
    ends: dict[int, int] = {}
    length = 0
    for a, b in itertools.pairwise(cuts):
        inside = any(s <= a and b <= e for s, e in protected)
        text = context[a:b]
        if inside:
            text = text.lower() if lower_answers else text
        elif text.strip():
            lead = text[:len(text) - len(text.lstrip())]
            trail = text[len(text.rstrip()):]
            text = lead + fn(text.strip(), rng) + trail
        starts[a] = length
        pieces.append(text)
        length += len(text)
        ends[b] = length
    new["context"] = "".join(pieces)
    answers, new_starts = [], []
    for answer, span in zip(example.get("answers") or [], spans, strict=True):
        if span is None:
            answers.append(str(answer).lower() if lower_answers else str(answer))
            new_starts.append(-1)
        else:
            s, e = starts[span[0]], ends[span[1]]
            answers.append(new["context"][s:e])
            new_starts.append(s)
    new["answers"] = answers
    if "answer_start" in example:
        new["answer_start"] = new_starts


def _perturb_ner(example: dict[str, Any], name: str, fn: TextPerturbation,
                 rng: random.Random) -> Perturbed:
    tokens, tags = list(example["tokens"]), list(example["tags"])
    if name == "punctuation":
        kept = [i for i, (tok, tag) in enumerate(zip(tokens, tags, strict=True))
                if not (tag == "O" and tok and all(c in _PUNCT for c in tok))]
        new = {**example, "tokens": [tokens[i] for i in kept], "tags": [tags[i] for i in kept]}
        return Perturbed(new, len(kept) != len(tokens), kept=kept)
    if name == "typo":  # about TYPO_RATE of the eligible tokens get one typo each
        changed_tokens = list(tokens)
        eligible = [i for i, t in enumerate(tokens) if re.fullmatch(r"[A-Za-z]{4,}", t)]
        if eligible:
            k = max(1, round(TYPO_RATE * len(eligible)))
            for i in rng.sample(eligible, k):
                changed_tokens[i] = typos(tokens[i], rng, rate=0.0)
    else:
        changed_tokens = [fn(t, rng) or t for t in tokens]
    new = {**example, "tokens": changed_tokens}
    return Perturbed(new, changed_tokens != tokens, kept=list(range(len(tokens))))


def _entity_swap(example: dict[str, Any], family: Family, rng: random.Random) -> Perturbed:
    groups = lexicon.name_groups()
    female = [n for g in groups.values() for n in g["female"]]
    male = [n for g in groups.values() for n in g["male"]]
    surnames = [n for g in groups.values() for n in g["surnames"]]
    cities = lexicon.cities()
    if family is Family.NER:
        tags = example["tags"]
        names = []
        for start, _ in person_spans(tags):  # keep a known given name's gender
            first = str(example["tokens"][start])
            pool = female if first in female else male if first in male else female + male
            names.append((rng.choice([n for n in pool if n != first]), rng.choice(surnames)))
        done = swap_person_spans(example, names, keep_length=True)
        new = done.example
        loc = person_spans(new["tags"], "LOC")
        tokens = list(new["tokens"])
        for start, end in loc:
            if end - start == 1:
                tokens[start] = rng.choice([c for c in cities if c != tokens[start]])
        new = {**new, "tokens": tokens}
        return Perturbed(new, new["tokens"] != example["tokens"])
    text = " ".join(str(example[k]) for k in FIELDS[family].inputs)
    mapping: dict[str, str] = {}
    pools = {"female": female, "male": male, "surnames": surnames, "cities": cities}
    owner = {n: pool for pool, names in pools.items() for n in names}
    pattern = _entity_pattern()
    for match in pattern.finditer(text):
        word = match.group(1)
        if not word[0].isupper() or word in mapping:
            continue
        canonical = next((n for n in owner if n.lower() == word.lower()), None)
        if canonical is None:
            continue
        choices = [n for n in pools[owner[canonical]] if n not in mapping.values()
                   and n != canonical]
        mapping[canonical] = rng.choice(choices)
    if not mapping:
        return Perturbed(dict(example), False)

    def fn(value: str) -> Swapped:
        return replace_words(value, mapping)

    done = transform_example(example, family, fn)
    return Perturbed(done.example, done.edits > 0, inverse={v: k for k, v in mapping.items()})


@cache
def _entity_pattern() -> re.Pattern[str]:
    groups = lexicon.name_groups()
    words = [n for g in groups.values() for key in ("female", "male", "surnames")
             for n in g[key]] + lexicon.cities()
    return word_pattern(words)


def unswap(text: str, inverse: dict[str, str]) -> str:
    """Map swapped names in an output back to the original ones."""
    return replace_words(text, inverse).text if inverse else text


