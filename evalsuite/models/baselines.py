"""``baseline`` models: simple reference systems every score can be read against.

=========  ============  ============================================================
target     family        what it does (options)
=========  ============  ============================================================
lead       summarization the first ``k`` sentences (``k``, default 3)
textrank   summarization TextRank extract with summa (``ratio`` default 0.2, or ``words``);
                         the first sentence when TextRank picks nothing (short texts)
vader      sentiment     VADER compound ≥ 0.05 → positive, ≤ -0.05 → negative, between →
                         neutral if the card has that label (else negative)
retrieval  qa            the context sentence most similar to the question under a sentence
                         encoder (``encoder``, default all-MiniLM-L6-v2; ``threshold``,
                         default 0.2: below it the answer is "" = no answer)
copy       translation   the source sentence unchanged
=========  ============  ============================================================

``baseline:vader`` returns probabilities for the card's labels from VADER's ``pos``/``neg``/
``neu`` proportions: with a neutral label they are used as they are; with a binary label set
the neutral share is split evenly (``p(positive) = pos + neu / 2``), so ``p(positive) > 0.5``
exactly when VADER found more positive than negative words.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from evalsuite.errors import BackendUnavailable, SpecError
from evalsuite.families import Family
from evalsuite.models.base import ModelAdapter, Output, positive_int
from evalsuite.models.registry import register
from evalsuite.tasks.cards import TaskCard
from evalsuite.text.languages import language_or_none
from evalsuite.text.sentences import split_sentences

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
VADER_THRESHOLD = 0.05


def sentence_joiner(card: TaskCard) -> str:
    """What joins extracted sentences: nothing in scripts without spaces (Chinese…)."""
    lang = language_or_none(card.output_language)
    return "" if lang is not None and lang.unspaced else " "


def lead(document: str, k: int = 3, join: str = " ") -> str:
    """The first ``k`` sentences of ``document`` (the lead-k summary), joined by ``join``
    (:func:`sentence_joiner`: nothing in scripts without spaces).

    >>> lead("One. Two. Three. Four.", 2)
    'One. Two.'
    """
    return join.join(split_sentences(document)[:k])


def _ratio(value: Any) -> float:
    number = float(value)
    if not 0 < number <= 1:
        raise ValueError("must be in (0, 1]")
    return number


# target -> (family, options it takes)
SYSTEMS: dict[str, tuple[Family, frozenset[str]]] = {
    "lead": (Family.SUMMARIZATION, frozenset({"k"})),
    "textrank": (Family.SUMMARIZATION, frozenset({"ratio", "words"})),
    "vader": (Family.SENTIMENT, frozenset({"label_map"})),
    "retrieval": (Family.QA, frozenset({"encoder", "threshold", "device", "batch_size",
                                        "dtype", "max_length", "revision"})),
    "copy": (Family.TRANSLATION, frozenset()),
}
_ALWAYS = frozenset({"batch_size"})


@register
class BaselineAdapter(ModelAdapter):
    """A reference system named by the target: lead, textrank, vader, retrieval or copy."""

    kind: ClassVar[str] = "baseline"
    families: ClassVar[frozenset[Family]] = frozenset(f for f, _ in SYSTEMS.values())
    extra_options: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "k": positive_int, "ratio": _ratio, "words": positive_int,
        "encoder": str, "threshold": float,
    }

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        where = f"model {spec.display_name}"
        self.system = spec.target.strip().lower()
        if self.system not in SYSTEMS:
            raise SpecError(f"unknown baseline {spec.target!r} "
                            f"(baselines: {', '.join(SYSTEMS)})", where=where)
        family, allowed = SYSTEMS[self.system]
        extra = sorted(set(self.options) - allowed - _ALWAYS)
        if extra:
            raise SpecError(f"baseline {self.system} takes no option {extra[0]!r} "
                            f"(options: {', '.join(sorted(allowed | _ALWAYS))})", where=where)
        if "ratio" in self.options and "words" in self.options:
            raise SpecError("give ratio or words, not both", where=where)
        self.family = family
        self._analyzer: Any = None
        self._encoder: Any = None
        self._encoder_adapter: Any = None

    def unsupported_reason(self, card: TaskCard) -> str | None:
        if card.family is not self.family:
            return (f"baseline {self.system} serves {self.family.value} tasks, "
                    f"not {card.family.value}")
        if self.system == "vader":
            try:
                self._vader_labels(card)
            except SpecError as exc:
                return str(exc)
        return None

    # -- lifecycle ------------------------------------------------------------------------
    def load(self) -> None:
        if self.system == "textrank":
            try:
                import summa.summarizer  # noqa: F401
            except ImportError:
                raise BackendUnavailable("baseline textrank needs the Python package summa "
                                         "(pip install summa)") from None
        elif self.system == "vader":
            try:
                from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
            except ImportError:
                raise BackendUnavailable("baseline vader needs the Python package "
                                         "vaderSentiment (pip install vadersentiment)") from None
            self._analyzer = SentimentIntensityAnalyzer()
        elif self.system == "retrieval":
            self._encoder_adapter = self._make_encoder()
            self._encoder_adapter.load()
            self._encoder = self._encoder_adapter.model
            self.device = self._encoder_adapter.device
            self.dtype = self._encoder_adapter.dtype
            self.params = self._encoder_adapter.params

    def _make_encoder(self) -> Any:
        """The ``st`` adapter of the retrieval encoder (not loaded)."""
        from evalsuite.models.sentence_transformers import SentenceTransformerAdapter
        from evalsuite.models.spec import ModelSpec

        options = {k: v for k, v in self.spec.options.items()
                   if k in ("device", "batch_size", "dtype", "max_length", "revision")}
        target = str(self.options.get("encoder", DEFAULT_ENCODER))
        return SentenceTransformerAdapter(ModelSpec("st", target, options))

    def close(self) -> None:
        self._encoder = self._encoder_adapter = self._analyzer = None

    # -- prediction -----------------------------------------------------------------------
    def predict_batch(self, card: TaskCard, examples: Sequence[dict]) -> list[Output | Any]:
        reason = self.unsupported_reason(card)
        if reason:
            raise SpecError(reason, where=f"model {self.spec.display_name}")
        if self.system == "lead":
            k = int(self.options.get("k", 3))
            join = sentence_joiner(card)
            return [lead(str(ex["document"]), k, join) for ex in examples]
        if self.system == "textrank":
            return [self._textrank(str(ex["document"])) for ex in examples]
        if self.system == "vader":
            return self._vader(card, examples)
        if self.system == "retrieval":
            return self._retrieve(examples)
        return [str(ex["source"]) for ex in examples]  # copy

    def _textrank(self, document: str) -> str:
        from summa.summarizer import summarize

        if "words" in self.options:
            summary = summarize(document, words=int(self.options["words"]), split=True)
        else:
            summary = summarize(document, ratio=float(self.options.get("ratio", 0.2)),
                                split=True)
        if not summary:
            return lead(document, 1)
        return " ".join(s.strip() for s in summary)

    def _vader_labels(self, card: TaskCard) -> dict[str, str]:
        """VADER class (negative/neutral/positive) → card label."""
        labels = card.labels or []
        user = self.options.get("label_map", {})
        out: dict[str, str] = {}
        for name in ("negative", "neutral", "positive"):
            if name in user:
                out[name] = user[name]
                continue
            match = [lab for lab in labels if lab.lower() in (name, name[:3])]
            if match:
                out[name] = match[0]
        unknown = sorted(set(labels) ^ set(out.values()))
        if "negative" not in out or "positive" not in out or unknown:
            raise SpecError(
                f"baseline vader serves label sets of negative, positive and optionally "
                f"neutral, not {labels} (map them with label_map=negative=…,positive=…)",
                where=f"model {self.spec.display_name}")
        return out

    def _vader(self, card: TaskCard, examples: Sequence[dict]) -> list[Output]:
        if self._analyzer is None:
            self.load()
        names = self._vader_labels(card)
        three = "neutral" in names
        out: list[Output] = []
        for ex in examples:
            polarity = self._analyzer.polarity_scores(str(ex["text"]))
            compound = polarity["compound"]
            if compound >= VADER_THRESHOLD:
                label = "positive"
            elif compound <= -VADER_THRESHOLD or not three:
                label = "negative"
            else:
                label = "neutral"
            pos, neg, neu = polarity["pos"], polarity["neg"], polarity["neu"]
            if three:
                raw = {"positive": pos, "negative": neg, "neutral": neu}
            else:
                raw = {"positive": pos + neu / 2, "negative": neg + neu / 2}
            total = sum(raw.values()) or 1.0
            scores = {names[k]: v / total for k, v in raw.items()}
            out.append(Output(names[label], scores=scores, meta={"compound": compound}))
        return out

    def _retrieve(self, examples: Sequence[dict]) -> list[str]:
        if self._encoder is None:
            self.load()
        threshold = float(self.options.get("threshold", 0.2))
        sentences = [split_sentences(str(ex["context"])) for ex in examples]
        index: dict[str, int] = {}
        for ex, sents in zip(examples, sentences, strict=True):
            for text in (str(ex["question"]), *sents):
                index.setdefault(text, len(index))
        emb = self._encoder.encode(list(index), batch_size=self.batch_size,
                                   convert_to_tensor=True, normalize_embeddings=True,
                                   show_progress_bar=False).float()
        answers: list[str] = []
        for ex, sents in zip(examples, sentences, strict=True):
            if not sents:
                answers.append("")
                continue
            question = emb[index[str(ex["question"])]]
            sims = emb[[index[s] for s in sents]] @ question
            best = int(sims.argmax())
            answers.append(sents[best] if float(sims[best]) >= threshold else "")
        return answers

    def count_tokens(self, card: TaskCard, examples: Sequence[dict]) -> int | None:
        if self._encoder_adapter is not None and card.family is Family.QA:
            tokenizer = self._encoder.tokenizer
            texts = [str(ex[f]) for ex in examples for f in ("question", "context")]
            return sum(len(ids) for ids in tokenizer(texts)["input_ids"])
        return super().count_tokens(card, examples)

    # -- identity -------------------------------------------------------------------------
    def fingerprint(self) -> str:
        """The system, its package version and, for retrieval, the encoder's weights."""
        parts = [self.spec.to_string()]
        package = {"textrank": "summa", "vader": "vaderSentiment"}.get(self.system)
        if package:
            try:
                parts.append(importlib.metadata.version(package))
            except importlib.metadata.PackageNotFoundError:
                parts.append("missing")
        if self.system == "retrieval":
            parts.append((self._encoder_adapter or self._make_encoder()).fingerprint())
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
