"""Counterfactual demographic swaps: change only the group a text mentions.

An :class:`Axis` (gender, names by gender, names by origin, nationality, religion, age,
disability) has groups and *rows* of aligned terms, one per group (``[she, he]``,
``[American, Mexican, …]``, ``[Emily, James]``).  :func:`swap` rewrites every term of the axis
in a text into the chosen group's term of the same row:

* whole words only, so swapping ``Ann`` leaves ``Annabelle`` and ``O'Connor`` alone; names and
  proper adjectives match only when capitalised (``Rosa`` but not ``rosa``);
* case is kept (``He`` → ``She``, ``HE`` → ``SHE``); possessives keep their ending
  (``John's`` → ``Emily's``); ``a``/``an`` before a swapped word is corrected;
* a term in several rows is resolved by the next word: ``her book`` → ``his book`` but
  ``gave her the keys`` → ``gave him the keys``; ``his car`` → ``her car`` but ``it is his``
  → ``it is hers``; ``a Christian church`` → ``a Jewish church`` but ``a Christian`` →
  ``a Jew``;
* age and disability terms change only right before a person noun (``old man`` changes,
  ``old car`` and ``blind spot`` do not).

Every swap returns its edits, so answer spans can be moved with the text
(:func:`transform_example`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any

from evalsuite.families import FIELDS, Family
from evalsuite.probes import lexicon

AXES: tuple[str, ...] = ("gender", "names_gender", "names_origin", "nationality", "religion",
                         "age", "disability")
NAME_AXES: tuple[str, ...] = ("names_gender", "names_origin")

# Words after which a possessive/adjective reading is unlikely (her → him, his → hers…).
_FUNCTION_WORDS = """
a an the this that these those my your his her its our their some any no every each all both
either neither another such what which whose who whom whoever there here then now today
tomorrow yesterday tonight again also too very so really just only even still already soon
later always never often sometimes once twice back away up down out off over in on at by for
from with without about into onto upon to of as than like since until till after before
during through across around behind near between among against toward towards under and or
but nor yet if because although though while when where why how whether not n't please
is are was were be been being am has have had do does did will would shall should can could
may might must said says say told tells asked asks went goes go come came comes get got gets
make made let lets see saw seen hear heard help helped want wanted feel felt know knew think
thought find found give gave take took leave left live lives lived believe believes believed
cry laugh smile sing dance stay run walk sleep eat drink win lose speak talk work play wait
"""
FUNCTION_WORDS = frozenset(_FUNCTION_WORDS.split())


@dataclass(frozen=True)
class Row:
    """Aligned terms, one per group; ``before_noun`` rows win when the next word is a noun."""

    terms: tuple[str, ...]
    before_noun: bool = False


@dataclass(frozen=True)
class Edit:
    """Replace ``text[start:end]`` (``old``) by ``new``."""

    start: int
    end: int
    old: str
    new: str


@dataclass(frozen=True)
class Swapped:
    """A rewritten text and the edits that made it from the original."""

    text: str
    edits: tuple[Edit, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.edits)


@dataclass(frozen=True)
class Axis:
    """A demographic dimension: groups and rows of aligned terms."""

    name: str
    groups: tuple[str, ...]
    rows: tuple[Row, ...]
    context: str | None = None  # "person_noun": swap only right before a person noun
    aliases: tuple[tuple[str, int], ...] = ()  # recognised, never produced: term → row

    @cached_property
    def index(self) -> dict[str, list[tuple[int, int | None]]]:
        """Lower-cased term → (row, group position; ``None`` for an alias)."""
        out: dict[str, list[tuple[int, int | None]]] = {}
        for r, row in enumerate(self.rows):
            if len(row.terms) != len(self.groups):
                raise ValueError(f"axis {self.name}: row {row.terms} has {len(row.terms)} "
                                 f"terms for {len(self.groups)} groups")
            for g, term in enumerate(row.terms):
                entry = (r, g)
                if entry not in out.setdefault(term.lower(), []):
                    out[term.lower()].append(entry)
        for term, r in self.aliases:
            out.setdefault(term.lower(), []).append((r, None))
        return out

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        return word_pattern(self.index)

    def group_index(self, group: str) -> int:
        try:
            return self.groups.index(group)
        except ValueError:
            raise KeyError(f"axis {self.name} has no group {group!r} "
                           f"(groups: {', '.join(self.groups)})") from None


def word_pattern(terms: Sequence[str] | dict[str, Any]) -> re.Pattern[str]:
    """A case-insensitive whole-word pattern for ``terms`` (longest first)."""
    words = sorted({t.lower() for t in terms}, key=lambda t: (-len(t), t))
    alternation = "|".join(r"\s+".join(map(re.escape, w.split())) for w in words)
    return re.compile(rf"(?<![\w-])(?<!\w['’])({alternation})(?![\w-])", re.IGNORECASE)


# -- the axes ------------------------------------------------------------------------------------
@cache
def get_axis(name: str) -> Axis:
    """The axis called ``name`` (one of :data:`AXES`), built from the word lists."""
    if name in ("gender", "pronouns"):  # "pronouns": the pronoun rows only (internal)
        data = lexicon.load("gender")
        before = {("her", "his")}
        rows = [Row(tuple(p), before_noun=tuple(p) in before) for p in data["pronouns"]]
        if name == "gender":
            rows += [Row(tuple(p)) for p in data["words"]]
        return Axis(name, ("female", "male"), tuple(rows))
    if name in NAME_AXES:
        groups = lexicon.name_groups()
        origins = tuple(groups)
        if name == "names_gender":
            rows = [Row((f, m)) for o in origins
                    for f, m in zip(groups[o]["female"], groups[o]["male"], strict=True)]
            return Axis(name, ("female", "male"), tuple(rows))
        rows = []
        for key in ("female", "male", "surnames"):
            for i in range(min(len(groups[o][key]) for o in origins)):
                rows.append(Row(tuple(groups[o][key][i] for o in origins)))
        return Axis(name, origins, tuple(rows))
    spec = lexicon.load("identity")["axes"].get(name)
    if spec is None:
        raise KeyError(f"unknown axis {name!r} (axes: {', '.join(AXES)})")
    noun_row = spec.get("noun_row")
    # with a noun row, row 0 holds the adjectives, used before a noun
    rows = [Row(tuple(r), before_noun=noun_row is not None and i == 0)
            for i, r in enumerate(spec["rows"])]
    return Axis(name, tuple(spec["groups"]), tuple(rows), spec.get("context"),
                tuple((str(k), int(v)) for k, v in (spec.get("aliases") or {}).items()))


# -- finding and swapping ------------------------------------------------------------------------
@dataclass(frozen=True)
class Term:
    """One occurrence of an axis term: span, row and the group it belongs to (``None``: alias)."""

    start: int
    end: int
    text: str
    row: int
    group: int | None


def _next_word(text: str, end: int) -> str | None:
    match = re.match(r"[ \t]+([A-Za-z][\w'’-]*)", text[end:])
    return match.group(1).lower() if match else None


def _nominal_next(text: str, end: int) -> bool:
    """Whether the word after ``end`` looks like (the start of) a noun phrase."""
    word = _next_word(text, end)
    if word is None:
        return False
    word = re.sub(r"['’]s$", "", word)
    return word not in FUNCTION_WORDS


def find_terms(text: str, axis: Axis) -> list[Term]:
    """Every occurrence of ``axis`` terms in ``text``, resolved to one row each."""
    found: list[Term] = []
    nouns = lexicon.person_nouns() if axis.context == "person_noun" else None
    for match in axis.pattern.finditer(text):
        raw = match.group(1)
        candidates = axis.index.get(" ".join(raw.lower().split()), [])
        candidates = [(r, g) for r, g in candidates
                      if not _is_proper(axis.rows[r].terms[g if g is not None else 0])
                      or raw[0].isupper()]
        if not candidates:
            continue
        if nouns is not None:
            word = _next_word(text, match.end())
            if word is None or re.sub(r"['’]s$", "", word) not in nouns:
                continue
        if len({r for r, _ in candidates}) > 1:
            nominal = _nominal_next(text, match.end())
            preferred = [c for c in candidates if axis.rows[c[0]].before_noun == nominal]
            candidates = preferred or candidates
        row, group = candidates[0]
        found.append(Term(match.start(1), match.end(1), raw, row, group))
    return found


def has_terms(text: str, axis: Axis) -> bool:
    return bool(find_terms(text, axis))


def swap(text: str, axis: Axis, group: str) -> Swapped:
    """``text`` with every ``axis`` term rewritten into ``group``'s term of the same row.

    >>> swap("He gave her his book.", get_axis("gender"), "female").text
    'She gave her her book.'
    >>> swap("Ann met Annabelle.", Axis("t", ("a", "b"), (Row(("Ann", "Bob")),)), "b").text
    'Bob met Annabelle.'
    """
    target = axis.group_index(group)
    edits: list[Edit] = []
    for term in find_terms(text, axis):
        if term.group == target:
            continue
        new = match_case(term.text, axis.rows[term.row].terms[target])
        if new == term.text:
            continue
        article = _article_edit(text, term.start, new)
        if article is not None:
            edits.append(article)
        edits.append(Edit(term.start, term.end, term.text, new))
    return Swapped(apply_edits(text, edits), tuple(edits))


def replace_words(text: str, mapping: dict[str, str]) -> Swapped:
    """Replace whole capitalised words (names) by ``mapping`` — the entity-swap primitive."""
    if not mapping:
        return Swapped(text)
    lower = {k.lower(): v for k, v in mapping.items()}
    edits: list[Edit] = []
    for match in _mapping_pattern(tuple(sorted(mapping))).finditer(text):
        raw = match.group(1)
        if not raw[0].isupper():
            continue
        new = match_case(raw, lower[raw.lower()])
        if new != raw:
            article = _article_edit(text, match.start(1), new)
            if article is not None:
                edits.append(article)
            edits.append(Edit(match.start(1), match.end(1), raw, new))
    return Swapped(apply_edits(text, edits), tuple(edits))


@cache
def _mapping_pattern(keys: tuple[str, ...]) -> re.Pattern[str]:
    return word_pattern(keys)


def match_case(source: str, target: str) -> str:
    """``target`` in the case of ``source``: UPPER, Capitalised or lower (proper nouns keep
    their own capitals)."""
    letters = [c for c in source if c.isalpha()]
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return target.upper()
    if source[:1].isupper():
        return target[:1].upper() + target[1:]
    if _is_proper(target):
        return target
    return target.lower()


def _is_proper(term: str) -> bool:
    return term[:1].isupper()


_AN_EXCEPTIONS = ("uni", "use", "usu", "uti", "eu", "one", "once", "ubiq", "ura")
_AN_SILENT_H = ("hour", "honest", "honou", "honor", "heir")


def indefinite_article(word: str) -> str:
    """``a`` or ``an`` for ``word`` (by its first sound, with the common exceptions)."""
    w = word.lower()
    if w.startswith(_AN_SILENT_H):
        return "an"
    if w.startswith(_AN_EXCEPTIONS):
        return "a"
    return "an" if w[:1] in "aeiou" else "a"


def _article_edit(text: str, start: int, new_word: str) -> Edit | None:
    match = re.search(r"(?<![\w-])(an?)([ \t]+)$", text[:start], re.IGNORECASE)
    if match is None:
        return None
    old = match.group(1)
    article = indefinite_article(new_word)
    if old.isupper() and (len(old) > 1 or (len(new_word) > 1 and new_word.isupper())):
        wanted = article.upper()
    elif old[0].isupper():
        wanted = article.capitalize()
    else:
        wanted = article
    if wanted == old:
        return None
    return Edit(match.start(1), match.end(1), old, wanted)


# -- edits ---------------------------------------------------------------------------------------
def apply_edits(text: str, edits: Sequence[Edit]) -> str:
    """``text`` with non-overlapping ``edits`` applied."""
    out, position = [], 0
    for edit in sorted(edits, key=lambda e: e.start):
        out.append(text[position:edit.start])
        out.append(edit.new)
        position = edit.end
    out.append(text[position:])
    return "".join(out)


def map_offset(edits: Sequence[Edit], position: int, *, end: bool = False) -> int:
    """Where ``position`` of the original text lies after ``edits`` (a span end if ``end``)."""
    shift = 0
    for edit in sorted(edits, key=lambda e: e.start):
        if edit.end <= position:
            shift += len(edit.new) - (edit.end - edit.start)
        elif edit.start < position < edit.end:
            return edit.start + shift + (len(edit.new) if end else 0)
        elif edit.start >= position:
            break
    return position + shift


# -- whole examples ------------------------------------------------------------------------------
TextFn = Callable[[str], Swapped]


@dataclass
class Rewritten:
    """An example rewritten by a text function, and how many edits that took."""

    example: dict[str, Any]
    edits: int = 0
    notes: dict[str, Any] = field(default_factory=dict)


def transform_example(example: dict[str, Any], family: Family, fn: TextFn,
                      *, references: bool = True) -> Rewritten:
    """Apply ``fn`` to every text input of ``example`` and keep its references valid.

    QA answers move with the context (their spans are mapped through the edits, so an answer
    that contained a swapped name contains the new one).  Translation and summarization
    references are rewritten with ``fn`` too (names copy through translation).  NER examples
    are not handled here (token lists: see :func:`swap_person_spans`).
    """
    if family is Family.NER:
        raise ValueError("NER examples are rewritten span by span (swap_person_spans)")
    new = dict(example)
    count = 0
    for name in FIELDS[family].inputs:
        if family is Family.QA and name == "context":
            continue
        done = fn(str(example[name]))
        new[name] = done.text
        count += len(done.edits)
    if family is Family.QA:
        count += _rewrite_qa_context(example, new, fn)
    elif references and family in (Family.TRANSLATION, Family.SUMMARIZATION):
        new["references"] = [fn(str(r)).text for r in example.get("references") or []]
    return Rewritten(new, count)


def answer_spans(example: dict[str, Any]) -> list[tuple[int, int] | None]:
    """Character spans of each QA answer in the context (``None`` where it is not found)."""
    context = str(example["context"])
    starts = list(example.get("answer_start") or [])
    spans: list[tuple[int, int] | None] = []
    for i, answer in enumerate(example.get("answers") or []):
        answer = str(answer)
        start = starts[i] if i < len(starts) else -1
        if not (isinstance(start, int) and start >= 0
                and context[start:start + len(answer)] == answer):
            start = context.find(answer) if answer else -1
        spans.append((start, start + len(answer)) if start >= 0 and answer else None)
    return spans


def _rewrite_qa_context(example: dict[str, Any], new: dict[str, Any], fn: TextFn) -> int:
    context = str(example["context"])
    done = fn(context)
    new["context"] = done.text
    answers, starts = [], []
    for answer, span in zip(example.get("answers") or [], answer_spans(example), strict=True):
        if span is None:
            answers.append(fn(str(answer)).text)
            starts.append(-1)
            continue
        s = map_offset(done.edits, span[0])
        e = map_offset(done.edits, span[1], end=True)
        answers.append(done.text[s:e])
        starts.append(s)
    new["answers"] = answers
    if "answer_start" in example:
        new["answer_start"] = starts
    return len(done.edits)


def example_has_terms(example: dict[str, Any], family: Family, axis: Axis) -> bool:
    """Whether any text input of ``example`` mentions a term of ``axis``."""
    if family is Family.NER:
        return False
    return any(has_terms(str(example[f]), axis) for f in FIELDS[family].inputs)


# -- NER: names swapped into person spans --------------------------------------------------------
def person_spans(tags: Sequence[str], kind: str = "PER") -> list[tuple[int, int]]:
    """``(start, end)`` token spans of IOB2 entities of type ``kind``."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for i, tag in enumerate([*tags, "O"]):
        inside = tag == f"I-{kind}" and start is not None
        if inside:
            continue
        if start is not None:
            spans.append((start, i))
            start = None
        if tag in (f"B-{kind}", f"I-{kind}"):
            start = i
    return spans


def swap_person_spans(example: dict[str, Any], names: Sequence[tuple[str, str | None]],
                      kind: str = "PER", *, keep_length: bool = False) -> Rewritten:
    """Replace the ``k``-th ``kind`` span of an NER example by ``names[k % len(names)]``.

    A name is ``(given, surname)``; a one-token span gets the given name, a longer one the
    given name and the surname (tags ``B-`` then ``I-``), so tags stay valid IOB2.  With
    ``keep_length`` a longer span keeps its middle tokens, so positions do not move.
    """
    tokens, tags = list(example["tokens"]), list(example["tags"])
    spans = person_spans(tags, kind)
    if not spans or not names:
        return Rewritten(dict(example), 0)
    new_tokens: list[str] = []
    new_tags: list[str] = []
    position = 0
    for k, (start, end) in enumerate(spans):
        new_tokens += tokens[position:start]
        new_tags += tags[position:start]
        given, surname = names[k % len(names)]
        words = [given] if end - start == 1 or not surname else [given, surname]
        if keep_length and end - start > 1:
            words = [given, *tokens[start + 1:end - 1], surname or tokens[end - 1]]
        new_tokens += words
        new_tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(words) - 1)
        position = end
    new_tokens += tokens[position:]
    new_tags += tags[position:]
    return Rewritten({**example, "tokens": new_tokens, "tags": new_tags}, len(spans))
