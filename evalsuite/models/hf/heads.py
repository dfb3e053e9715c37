"""Which head a transformers checkpoint has, which families it serves, and its label maps.

Everything here reads only the checkpoint's config (``AutoConfig``), so the runner can refuse
a model that cannot serve a task before any weight is loaded.

>>> from types import SimpleNamespace
>>> select_head(SimpleNamespace(architectures=["BertForTokenClassification"]))
'token-cls'
>>> repair_iob2(["I-PER", "I-PER", "O", "I-LOC", "B-ORG", "I-LOC"])
['B-PER', 'I-PER', 'O', 'B-LOC', 'B-ORG', 'B-LOC']
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from evalsuite.families import Family
from evalsuite.tasks.cards import TaskCard

SEQ_CLS, TOKEN_CLS, QA, SEQ2SEQ, CAUSAL, ENCODER = (
    "seq-cls", "token-cls", "qa", "seq2seq", "causal", "encoder")
HEADS = (SEQ_CLS, TOKEN_CLS, QA, SEQ2SEQ, CAUSAL, ENCODER)
HEAD_ALIASES = {
    "sequence-classification": SEQ_CLS, "seq-classification": SEQ_CLS, "classifier": SEQ_CLS,
    "token-classification": TOKEN_CLS, "ner": TOKEN_CLS,
    "question-answering": QA, "extractive-qa": QA,
    "seq2seq-lm": SEQ2SEQ, "text2text": SEQ2SEQ, "encoder-decoder": SEQ2SEQ,
    "causal-lm": CAUSAL, "decoder": CAUSAL, "lm": CAUSAL,
    "embedding": ENCODER, "mean-pooling": ENCODER,
}
HEAD_NAMES = {
    SEQ_CLS: "sequence-classification", TOKEN_CLS: "token-classification",
    QA: "extractive question-answering", SEQ2SEQ: "sequence-to-sequence",
    CAUSAL: "causal language model", ENCODER: "plain encoder",
}
_PROMPTED = frozenset({Family.TRANSLATION, Family.SUMMARIZATION, Family.SENTIMENT, Family.QA,
                       Family.SIMILARITY})
HEAD_FAMILIES: dict[str, frozenset[Family]] = {
    SEQ_CLS: frozenset({Family.SENTIMENT, Family.SIMILARITY}),
    TOKEN_CLS: frozenset({Family.NER}),
    QA: frozenset({Family.QA}),
    SEQ2SEQ: _PROMPTED,
    CAUSAL: _PROMPTED,
    ENCODER: frozenset({Family.SIMILARITY}),
}
_ARCH_SUFFIXES = (
    ("ForSequenceClassification", SEQ_CLS),
    ("ForTokenClassification", TOKEN_CLS),
    ("ForQuestionAnsweringSimple", QA),
    ("ForQuestionAnswering", QA),
    ("MTModel", SEQ2SEQ),
    ("ForSeq2SeqLM", SEQ2SEQ),
    ("ForCausalLM", CAUSAL),
    ("ForMaskedLM", ENCODER),
    ("ForPreTraining", ENCODER),
)
LABEL_ALIASES: dict[str, tuple[str, ...]] = {
    "negative": ("neg", "negative", "n", "bad", "label_negative", "0 star", "1 star"),
    "positive": ("pos", "positive", "p", "good", "label_positive"),
    "neutral": ("neu", "neutral", "mixed"),
    "entailment": ("entailment", "entail"),
    "contradiction": ("contradiction", "contra"),
}
_GENERIC = re.compile(r"^(label_?)?\d+$", re.IGNORECASE)


def parse_head(value: Any) -> str:
    """Option converter for ``head=``: a head name or one of its aliases."""
    text = str(value).strip().lower().replace("_", "-")
    head = HEAD_ALIASES.get(text, text)
    if head not in HEADS:
        raise ValueError(f"unknown head {value!r} (heads: {', '.join(HEADS)})")
    return head


def architecture(config: Any) -> str:
    archs = getattr(config, "architectures", None) or []
    return str(archs[0]) if archs else ""


def select_head(config: Any, forced: str | None = None) -> str | None:
    """The head a checkpoint has, from ``architectures``, ``is_encoder_decoder`` and
    ``task_specific_params``; ``forced`` (option ``head=``) wins.  ``None`` when unknown."""
    if forced:
        return forced
    arch = architecture(config)
    encoder_decoder = bool(getattr(config, "is_encoder_decoder", False))
    for suffix, head in _ARCH_SUFFIXES:
        if arch.endswith(suffix):
            return head
    if arch.endswith(("ForConditionalGeneration", "LMHeadModel", "WithLMHead")):
        return SEQ2SEQ if encoder_decoder else CAUSAL
    params = getattr(config, "task_specific_params", None) or {}
    if encoder_decoder:
        if arch and not any(k.startswith(("summarization", "translation")) for k in params):
            return None  # a bare encoder-decoder (e.g. BartModel) has no LM head
        return SEQ2SEQ
    if getattr(config, "is_decoder", False) or arch.endswith("Decoder"):
        return CAUSAL
    if arch.endswith("Model") or not arch:
        return ENCODER
    return None


def head_reason(config: Any, head: str | None, card: TaskCard) -> str | None:
    """Why a checkpoint with ``head`` cannot serve ``card`` (``None`` when it can)."""
    family = card.family
    arch = architecture(config) or getattr(config, "model_type", "?")
    if head is None:
        return (f"cannot tell which head the checkpoint ({arch}) has; "
                f"force one with head= ({', '.join(HEADS)})")
    served = HEAD_FAMILIES[head]
    if family not in served:
        hint = " (NER needs a token-classification checkpoint)" if family is Family.NER else ""
        return (f"a {HEAD_NAMES[head]} checkpoint ({arch}) cannot serve {family.value}{hint}; "
                f"it serves: {', '.join(sorted(f.value for f in served))}")
    if head == SEQ_CLS:
        n = int(getattr(config, "num_labels", 0) or len(getattr(config, "id2label", {}) or {}))
        if family is Family.SIMILARITY and n != 1:
            return (f"a {n}-label classifier ({arch}) cannot serve similarity "
                    f"(a similarity cross-encoder has one regression output)")
        if family is Family.SENTIMENT and n < 2:
            return f"a one-output regression model ({arch}) cannot serve sentiment"
    return None


# -- sequence-classification labels ------------------------------------------------------------
def model_labels(config: Any) -> list[str]:
    """The model's label names in index order."""
    id2label = getattr(config, "id2label", None) or {}
    n = int(getattr(config, "num_labels", 0) or len(id2label))
    return [str(id2label.get(i, id2label.get(str(i), f"LABEL_{i}"))) for i in range(n)]


def _alias_key(label: str) -> str:
    text = label.strip().lower()
    for canonical, aliases in LABEL_ALIASES.items():
        if text in aliases:
            return canonical
    return text


def map_labels(names: Sequence[str], card_labels: Sequence[str],
               explicit: Mapping[str, str] | None = None,
               card_map: Mapping[str, str] | None = None) -> list[str | None]:
    """For every model label (by index), the card label it counts for, or ``None``.

    Tried in order: the ``label_map`` option (keys are model labels or indices), the card's
    own ``label_map``, exact and case-insensitive names, common aliases (NEG/POS, LABEL_0…),
    and, when every model label is generic (``LABEL_0``, ``0``…) and the counts match, label
    order.  Raises ``ValueError`` naming both label sets when a card label gets no model label.
    """
    explicit = dict(explicit or {})
    bad = sorted(set(explicit.values()) - set(card_labels))
    if bad:
        raise ValueError(f"label_map maps onto {bad}, which are not among the card's labels "
                         f"{list(card_labels)}")
    folded = {label.lower(): label for label in card_labels}
    aliased = {_alias_key(label): label for label in card_labels}
    generic = all(_GENERIC.match(n.strip()) for n in names)
    out: list[str | None] = []
    for index, name in enumerate(names):
        found = None
        for key in (name, str(index)):
            if key in explicit:
                found = explicit[key]
                break
            if card_map and key in card_map and card_map[key] in card_labels:
                found = card_map[key]
                break
        if found is None:
            found = folded.get(name.strip().lower()) or aliased.get(_alias_key(name))
        if found is None and generic and len(names) == len(card_labels) and not explicit:
            found = card_labels[index]
        out.append(found)
    missing = [label for label in card_labels if label not in out]
    if missing:
        raise ValueError(
            f"cannot match the model's labels {list(names)} to the card's labels "
            f"{list(card_labels)} (no model label for {missing}); add "
            f"label_map=MODEL_LABEL=CARD_LABEL,… e.g. label_map={names[0]}={card_labels[0]}")
    return out


# -- token-classification tags -----------------------------------------------------------------
def _tag_scheme(tag: str) -> str:
    """A model tag in IOB2 form: BIOES/IOBES become B-/I-, a bare type becomes I-TYPE."""
    text = tag.strip()
    if text.upper() in ("O", "OUTSIDE", "0"):
        return "O"
    prefix, sep, kind = text.partition("-")
    if not sep:
        prefix, sep, kind = text.partition("_")
    if sep and prefix.upper() in ("B", "I", "E", "S", "L", "U"):
        return ("B-" if prefix.upper() in ("B", "S", "U") else "I-") + kind
    return f"I-{text}"


def map_tags(names: Sequence[str], card_tags: Sequence[str] | None,
             explicit: Mapping[str, str] | None = None) -> list[str]:
    """For every model label (by index) the IOB2 tag it predicts on the card's tag set.

    ``explicit`` (option ``label_map``) maps model labels or indices to card tags.  Generic
    labels (``LABEL_3``) take the card's ``tag_names`` by index when the counts match.  Entity
    types the card does not know become ``O``.  Raises ``ValueError`` when nothing matches.
    """
    explicit = dict(explicit or {})
    generic = all(_GENERIC.match(n.strip()) for n in names)
    out: list[str] = []
    for index, name in enumerate(names):
        if name in explicit or str(index) in explicit:
            out.append(_tag_scheme(explicit.get(name, explicit.get(str(index), "O"))))
        elif generic:
            if not card_tags or len(card_tags) != len(names):
                raise ValueError(
                    f"the model's labels are generic ({names[0]}…{names[-1]}) and the card "
                    f"lists no tag_names of the same length; add label_map=LABEL_0=O,"
                    f"LABEL_1=B-PER,…")
            out.append(card_tags[index])
        else:
            out.append(_tag_scheme(name))
    if card_tags:
        known = {t[2:] for t in card_tags if t != "O"}
        types = {t[2:] for t in out if t != "O"}
        if types and not types & known:
            raise ValueError(
                f"none of the model's entity types {sorted(types)} is among the card's "
                f"{sorted(known)}; add label_map=MODEL_LABEL=CARD_TAG,…")
        out = [t if t == "O" or t[2:] in known else "O" for t in out]
    return out


def repair_iob2(tags: Sequence[str]) -> list[str]:
    """IOB2 repair: ``I-X`` after ``O`` or after another type becomes ``B-X``."""
    out: list[str] = []
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and (previous == "O" or previous[2:] != tag[2:]):
            tag = "B-" + tag[2:]
        out.append(tag)
        previous = tag
    return out
