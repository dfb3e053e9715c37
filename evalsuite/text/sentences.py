"""Sentence splitting for lead-k, TextRank's fallback, retrieval QA and ROUGE-Lsum.

A small rule-based splitter (no model or data download) that knows several scripts:

* ``. ! ? …`` (optionally followed by closing quotes/brackets) end a sentence before
  whitespace and a character that can start one: an upper-case letter, a digit, or a letter
  of a script without case (Arabic, Devanagari, Han…).  Abbreviations (``Dr.``, ``p.m.``,
  ``J. K.``) do not end a sentence.
* the full-width ``。 ！ ？``, Myanmar ``။`` and Khmer ``។ ៕`` end a sentence whether or
  not a space follows (Chinese, Japanese, Burmese and Khmer often put none);
* ``। ॥`` (danda: Hindi, Nepali, Bengali…), ``؟ ۔`` (Arabic, Urdu), ``። ፧`` (Ethiopic)
  and ``։`` (Armenian) end a sentence before whitespace.

A zero-width space (U+200B, Khmer's word separator) counts as whitespace here.
* a line break always ends one.

>>> split_sentences("Dr. Smith came. He saw! 他来了。她走了！ यह ठीक है। वह गया।")
['Dr. Smith came.', 'He saw!', '他来了。', '她走了！', 'यह ठीक है।', 'वह गया।']
"""

from __future__ import annotations

import re

_CLOSERS = "\"'”’)\\]»」』）》】〕"
_OPENERS = "\"'“‘(\\[«「『（《【〔"
_FULL_WIDTH_ENDS = "。！？｡။។៕"  # end a sentence with or without a space after
_SCRIPT_ENDS = "।॥؟۔።፧։"
_SPACE = r"[\s\u200b]"  # whitespace, and the zero-width space Khmer separates words with
_BOUNDARY = re.compile(
    rf"(?P<latin>[.!?…]+[{_CLOSERS}]*)\s+(?=[{_OPENERS}]?(?P<next>\S))"
    rf"|(?P<wide>[{_FULL_WIDTH_ENDS}]+[{_CLOSERS}]*){_SPACE}*(?=[^\s\u200b])"
    rf"|(?P<script>[{_SCRIPT_ENDS}]+[{_CLOSERS}]*){_SPACE}+(?=[^\s\u200b])"
)
_EDGE_SPACE = re.compile(rf"^{_SPACE}+|{_SPACE}+$")
_ABBREVIATIONS = frozenset((
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "vs", "etc", "fig", "al", "inc",
    "ltd", "co", "corp", "gen", "col", "lt", "sgt", "jan", "feb", "mar", "apr", "jun", "jul",
    "aug", "sep", "sept", "oct", "nov", "dec",
))
_CASED_ABBREVIATIONS = frozenset({"No"})  # "No. 5", but "he said no. Then"


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` in order, stripped, without empty ones."""
    out: list[str] = []
    for line in text.splitlines():
        start = 0
        for match in _BOUNDARY.finditer(line):
            if match.group("latin") is not None and not _latin_end(line, match):
                continue
            kind = next(k for k in ("latin", "wide", "script") if match.group(k) is not None)
            end = match.end(kind)
            out.append(line[start:end])
            start = match.end()
        out.append(line[start:])
    stripped = (_EDGE_SPACE.sub("", s) for s in out)
    return [s for s in stripped if s]


def one_sentence_per_line(text: str) -> str:
    """``text`` with each sentence on its own line (the input ROUGE-Lsum expects).

    >>> one_sentence_per_line("Hello there. It is 5 p.m. now! Dr. Who came.")
    'Hello there.\\nIt is 5 p.m. now!\\nDr. Who came.'
    """
    return "\n".join(split_sentences(text))


def _latin_end(line: str, match: re.Match[str]) -> bool:
    """Whether a ``. ! ? …`` boundary candidate really ends a sentence."""
    following = match.group("next")
    if not (following.isdigit() or (following.isalpha() and not following.islower())):
        return False
    if match.group("latin") != ".":
        return True
    words = line[: match.start()].rsplit(None, 1)
    last = words[-1].lstrip(_OPENERS.replace("\\", "")) if words else ""
    # Abbreviations and initials ("Dr. Who", "J. Smith", "p.m.") do not end a sentence.
    return not (last.lower() in _ABBREVIATIONS or last in _CASED_ABBREVIATIONS
                or (len(last) == 1 and last.isupper()) or "." in last)
