"""Every evalsuite metric as a Hugging Face ``evaluate`` module, defined here (no hub).

>>> import evaluate
>>> from evalsuite.metrics.hf_evaluate import load
>>> clf = evaluate.combine([load("accuracy"), load("macro_f1")])
>>> clf.compute(predictions=["pos", "neg"], references=["pos", "pos"])  # doctest: +SKIP
{'accuracy': 0.5, 'accuracy_ci_low': ..., 'accuracy_ci_high': ..., 'macro_f1': ...}

``compute`` returns ``{name: value, name + "_ci_low": ..., name + "_ci_high": ...}``
(bootstrap 95% interval; ``resamples`` and ``seed`` keyword arguments are accepted, and
``labels`` for sentiment metrics).  References per family: translation/summarization a
string or a list of strings, sentiment a label (string or int), ner a list of IOB2 tags,
qa a list of answer strings (empty = unanswerable), similarity a float.  A name shared by
several families (``f1``) is loaded as ``load("f1", family="qa")`` or ``load("qa/f1")``.

Names of familiar ``evaluate`` modules resolve to ours with a note (an
:class:`EvaluateNameNote` warning saying what they map to and how ours differ):
``rouge`` (rouge1, rouge2, rougeL, rougeLsum combined), ``squad`` and ``squad_v2`` (SQuAD
exact match and F1), ``seqeval`` (entity precision, recall, F1), ``sacrebleu`` (bleu),
``chrf`` (ours is chrF++), ``matthews_correlation``, ``pearsonr``, ``spearmanr``.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import datasets
import evaluate

from evalsuite.families import Family
from evalsuite.metrics import registry
from evalsuite.metrics.base import DEFAULT_RESAMPLES, Metric, MetricContext, score

_CITATION = """\
@software{evalsuite,
  title = {evalsuite: evaluation of NLP models with confidence intervals},
  year = {2026}
}
"""

_CITATIONS: dict[Family, str] = {
    Family.TRANSLATION: """\
@inproceedings{post-2018-call,
  title = {A Call for Clarity in Reporting {BLEU} Scores},
  author = {Post, Matt},
  booktitle = {Proceedings of the Third Conference on Machine Translation},
  year = {2018},
  pages = {186--191}
}
""",
    Family.SUMMARIZATION: """\
@inproceedings{lin-2004-rouge,
  title = {{ROUGE}: A Package for Automatic Evaluation of Summaries},
  author = {Lin, Chin-Yew},
  booktitle = {Text Summarization Branches Out},
  year = {2004},
  pages = {74--81}
}
""",
    Family.NER: """\
@misc{seqeval,
  title = {{seqeval}: A Python framework for sequence labeling evaluation},
  author = {Nakayama, Hiroki},
  year = {2018},
  url = {https://github.com/chakki-works/seqeval}
}
""",
    Family.QA: """\
@inproceedings{rajpurkar-etal-2018-know,
  title = {Know What You Don't Know: Unanswerable Questions for {SQuAD}},
  author = {Rajpurkar, Pranav and Jia, Robin and Liang, Percy},
  booktitle = {Proceedings of ACL},
  year = {2018},
  pages = {784--789}
}
""",
}

_STRING = datasets.Value("string")
_STRINGS = datasets.Sequence(datasets.Value("string"))


def _features(family: Family) -> list[datasets.Features]:
    """Accepted input layouts, tried in order (scalar references before lists)."""
    def pair(pred: Any, ref: Any) -> datasets.Features:
        return datasets.Features({"predictions": pred, "references": ref})

    if family in (Family.TRANSLATION, Family.SUMMARIZATION):
        return [pair(_STRING, _STRING), pair(_STRING, _STRINGS)]
    if family is Family.SENTIMENT:
        return [pair(_STRING, _STRING), pair(datasets.Value("int64"), datasets.Value("int64"))]
    if family is Family.NER:
        return [pair(_STRINGS, _STRINGS)]
    if family is Family.QA:
        return [pair(_STRING, _STRINGS)]
    return [pair(datasets.Value("float64"), datasets.Value("float64"))]


_INPUTS = """
Args:
    predictions: one prediction per example (see the module description for the types).
    references: one reference per example.
    resamples: bootstrap resamples for the interval (default 1000; 0 for none).
    seed: bootstrap seed (default 0).
    labels: sentiment only, the label set (default: the labels seen in both inputs).
Returns:
    {name: value, name_ci_low: lower 95% bound, name_ci_high: upper 95% bound}
"""


def _examples(family: Family, references: list[Any]) -> list[dict]:
    field = {Family.TRANSLATION: "references", Family.SUMMARIZATION: "references",
             Family.SENTIMENT: "label", Family.NER: "tags", Family.QA: "answers",
             Family.SIMILARITY: "score"}[family]
    examples = []
    for i, ref in enumerate(references):
        if family in (Family.TRANSLATION, Family.SUMMARIZATION) and isinstance(ref, str):
            ref = [ref]
        elif family is Family.SENTIMENT:
            ref = str(ref)
        examples.append({"id": str(i), field: ref})
    return examples


class EvalsuiteModule(evaluate.Metric):
    """Base of the generated modules; ``metric`` and ``family`` are set per subclass."""

    metric: ClassVar[Metric]
    family: ClassVar[Family]

    def __init__(self, *args: Any, keep_in_memory: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, keep_in_memory=keep_in_memory, **kwargs)
        self._module_info.module_name = self.metric.name

    def _info(self) -> evaluate.MetricInfo:
        metric = self.metric
        return evaluate.MetricInfo(
            description=f"{metric.description} Scale {metric.scale}; "
            f"{'higher' if metric.higher_is_better else 'lower'} is better. "
            "With a bootstrap 95% confidence interval (evalsuite).",
            citation=_CITATIONS.get(self.family, _CITATION),
            inputs_description=_INPUTS,
            features=_features(self.family),
            codebase_urls=[],
            reference_urls=[],
        )

    def _compute(
        self,
        predictions: list[Any] | None = None,
        references: list[Any] | None = None,
        resamples: int = DEFAULT_RESAMPLES,
        seed: int = 0,
        labels: list[str] | None = None,
        **_: Any,
    ) -> dict[str, float | None]:
        predictions = list(predictions or [])
        references = list(references or [])
        if self.family is Family.SENTIMENT:
            predictions = [str(p) for p in predictions]
            if labels is None:
                labels = sorted({str(r) for r in references} | set(predictions))
            labels = [str(label) for label in labels]
        examples = _examples(self.family, references)
        context = MetricContext(labels=labels)
        result, _ = score(self.metric, predictions, examples, context,
                          resamples=resamples, seed=seed)
        name = self.metric.name
        return {name: result.value, f"{name}_ci_low": result.ci_low,
                f"{name}_ci_high": result.ci_high}


_CLASSES: dict[tuple[str, Family], type[EvalsuiteModule]] = {}


def module_class(name: str, family: Family | str | None = None) -> type[EvalsuiteModule]:
    """The ``evaluate.Metric`` subclass for one evalsuite metric (created once)."""
    if family is None and "/" in name:
        family, name = name.split("/", 1)
    metric = registry.get(name, family)
    fam = Family(family) if family is not None else metric.families[0]
    key = (metric.name, fam)
    if key not in _CLASSES:
        class_name = "Evalsuite" + "".join(p.capitalize() for p in f"{fam.value}_{name}".split("_"))
        _CLASSES[key] = type(class_name, (EvalsuiteModule,), {
            "metric": metric, "family": fam, "__module__": __name__,
            "__doc__": f"evalsuite's {metric.name!r} ({fam.value}) as an evaluate module.",
        })
    return _CLASSES[key]


class EvaluateNameNote(UserWarning):
    """A familiar ``evaluate`` name was mapped onto evalsuite's metrics: what it became."""


# evaluate module name -> (evalsuite metrics, family, how they compare)
ALIASES: dict[str, tuple[tuple[str, ...], str, str]] = {
    "rouge": (("rouge1", "rouge2", "rougeL", "rougeLsum"), "summarization",
              "ROUGE F1 with Porter stemming on the 0-1 scale, as evaluate's 'rouge' with "
              "use_stemmer=True (its default is without), each with a bootstrap interval"),
    "squad": (("exact_match", "f1"), "qa",
              "SQuAD v1.1 scoring on the 0-100 scale; predictions are answer strings and "
              "references lists of answer texts, not evaluate's {'id', 'prediction_text'} "
              "and {'id', 'answers'} dicts"),
    "squad_v2": (("exact_match", "f1", "has_ans_f1", "no_ans_f1", "has_ans_exact",
                  "no_ans_exact"), "qa",
                 "SQuAD v2 scoring on the 0-100 scale (an empty prediction or an empty "
                 "reference list means 'no answer'); answer strings, not evaluate's dicts, "
                 "and no no-answer probability threshold"),
    "seqeval": (("precision", "recall", "f1"), "ner",
                "entity-level scores in strict IOB2 mode (seqeval mode='strict', "
                "scheme=IOB2); evaluate's 'seqeval' defaults to the lenient mode"),
    "sacrebleu": (("bleu",), "translation",
                  "sacreBLEU corpus BLEU (0-100, default 13a tokenisation), as evaluate's "
                  "'sacrebleu'"),
    "matthews_correlation": (("mcc",), "sentiment", "the same coefficient (-1 to 1)"),
    "pearsonr": (("pearson",), "similarity", "the same coefficient (-1 to 1)"),
    "spearmanr": (("spearman",), "similarity", "the same coefficient (-1 to 1)"),
}
# evalsuite names that evaluate also has, with another meaning
SAME_NAME_NOTES = {
    "chrf": "evalsuite's 'chrf' is chrF++ (character 6-grams and word bigrams, "
            "word_order=2); evaluate's 'chrf' defaults to chrF (word_order=0)",
}


def load(name: str, family: Family | str | None = None, **kwargs: Any
         ) -> evaluate.Metric | evaluate.module.CombinedEvaluations:
    """An ``evaluate.Metric`` computing evalsuite's ``name``; no hub access.

    A familiar ``evaluate`` name (``rouge``, ``squad``, ``seqeval``, ``sacrebleu``…) gives
    the matching evalsuite metrics (combined when there are several) and an
    :class:`EvaluateNameNote` saying what they are.  ``kwargs`` go to ``evaluate.Metric``
    (``experiment_id``, ``cache_dir``…); inputs are kept in memory unless
    ``keep_in_memory=False``.
    """
    if family is None and name in ALIASES:
        ours, fam, how = ALIASES[name]
        warnings.warn(EvaluateNameNote(
            f"evaluate's {name!r} is evalsuite's {', '.join(ours)} ({fam}): {how}"),
            stacklevel=2)
        modules = [module_class(n, fam)(**kwargs) for n in ours]
        return modules[0] if len(modules) == 1 else evaluate.combine(modules)
    if name in SAME_NAME_NOTES:
        warnings.warn(EvaluateNameNote(SAME_NAME_NOTES[name]), stacklevel=2)
    return module_class(name, family)(**kwargs)


def names() -> list[str]:
    """Every name :func:`load` accepts (shared names qualified as ``family/name``)."""
    return list(registry.all_metrics())
