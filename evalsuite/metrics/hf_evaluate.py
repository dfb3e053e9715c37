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
"""

from __future__ import annotations

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


def load(name: str, family: Family | str | None = None, **kwargs: Any) -> evaluate.Metric:
    """An ``evaluate.Metric`` computing evalsuite's ``name``; no hub access.

    ``kwargs`` go to ``evaluate.Metric`` (``experiment_id``, ``cache_dir``…); inputs are kept
    in memory unless ``keep_in_memory=False``.
    """
    return module_class(name, family)(**kwargs)


def names() -> list[str]:
    """Every name :func:`load` accepts (shared names qualified as ``family/name``)."""
    return list(registry.all_metrics())
