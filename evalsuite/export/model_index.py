"""A model's results as Hugging Face model-card metadata (the ``model-index`` block).

One entry per (task, metric) of the model's finished records: the hub task type of the
family, the dataset (hub id, config, split, revision; a local file is named by its task),
the metric (a hub metric id, a readable name, the config or arguments that pin it down, the
value on the scale the record quotes) and ``verified: false``.  ``huggingface_hub`` builds
the YAML (:class:`~huggingface_hub.ModelCardData`) and parses it back before anything is
written, so what comes out is what the hub reads.  Into an existing README only the metadata
block changes: results for other datasets or metrics stay, ours replace theirs, and the body
is kept as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalsuite.errors import UserError
from evalsuite.results.files import RunResults
from evalsuite.results.records import DatasetInfo

# family -> (hub task type, readable task name)
HUB_TASKS = {
    "translation": ("translation", "Translation"),
    "summarization": ("summarization", "Summarization"),
    "sentiment": ("text-classification", "Sentiment Analysis"),
    "ner": ("token-classification", "Named Entity Recognition"),
    "qa": ("question-answering", "Question Answering"),
    "similarity": ("sentence-similarity", "Semantic Textual Similarity"),
}

# evalsuite metric -> (hub metric id, readable name, config); per family where names clash
HUB_METRICS: dict[str, tuple[str, str, str | None]] = {
    "accuracy": ("accuracy", "Accuracy", None),
    "macro_f1": ("f1", "Macro F1", "macro"),
    "mcc": ("matthews_correlation", "Matthews Correlation", None),
    "bleu": ("sacrebleu", "BLEU", None),
    "chrf": ("chrf", "chrF++", None),
    "rouge1": ("rouge", "ROUGE-1", "rouge1"),
    "rouge2": ("rouge", "ROUGE-2", "rouge2"),
    "rougeL": ("rouge", "ROUGE-L", "rougeL"),
    "rougeLsum": ("rouge", "ROUGE-Lsum", "rougeLsum"),
    "ner/f1": ("f1", "Entity F1 (strict IOB2)", "seqeval"),
    "ner/precision": ("precision", "Entity Precision (strict IOB2)", "seqeval"),
    "ner/recall": ("recall", "Entity Recall (strict IOB2)", "seqeval"),
    "qa/f1": ("f1", "F1", "squad"),
    "exact_match": ("exact_match", "Exact Match", "squad"),
    "has_ans_f1": ("f1", "F1 (answerable)", "HasAns"),
    "no_ans_f1": ("f1", "F1 (unanswerable)", "NoAns"),
    "has_ans_exact": ("exact_match", "Exact Match (answerable)", "HasAns"),
    "no_ans_exact": ("exact_match", "Exact Match (unanswerable)", "NoAns"),
    "pearson": ("pearsonr", "Pearson Correlation", None),
    "spearman": ("spearmanr", "Spearman Correlation", None),
}


@dataclass
class ModelIndex:
    """The metadata of one model, and notes on what readers should know about it."""

    model_name: str
    results: list[Any]  # huggingface_hub.EvalResult
    notes: list[str] = field(default_factory=list)


def build(results: RunResults, model: str) -> ModelIndex:
    """The ``model-index`` entries of ``model``'s finished records in ``results``."""
    from huggingface_hub import EvalResult

    records = [r for r in results.records if model in (r.model, r.model_spec)]
    if not records:
        known = ", ".join(sorted({r.model for r in results.records}))
        raise UserError(f"no model {model!r} in {results.path} (models: {known})",
                        where="--model")
    index = ModelIndex(model_name=records[0].model, results=[])
    for rec in records:
        if not rec.ok:
            index.notes.append(f"{rec.task}: left out ({rec.status}: {rec.reason or ''})")
            continue
        family = rec.family.value
        task_type, task_name = HUB_TASKS.get(family, (family, family))
        data = rec.dataset or DatasetInfo()
        on_hub = data.source == "hub" or (  # or a local mirror of a hub dataset
            data.source == "local" and not data.content_sha256
            and _looks_like_hub_id(data.path))
        if not on_hub:
            index.notes.append(f"{rec.task}: a local dataset, named by its task "
                               f"(not a hub dataset id)")
        if rec.smoke_set:
            index.notes.append(f"{rec.task}: a smoke set, not a benchmark")
        if data.n_total and (data.n_selected or data.n_total) < data.n_total:
            index.notes.append(f"{rec.task}: {data.n_selected} of {data.n_total} examples "
                               f"(--limit/--sample): not the full benchmark")
        for name, metric in rec.metrics.items():
            if metric.value is None:
                continue
            hub_type, pretty, config = HUB_METRICS.get(
                f"{family}/{name}", HUB_METRICS.get(name, (name, name, None)))
            index.results.append(EvalResult(
                task_type=task_type, task_name=task_name,
                dataset_type=str(data.path) if on_hub else rec.task,
                dataset_name=rec.task, dataset_config=data.name if on_hub else None,
                dataset_split=data.split,
                dataset_revision=data.revision if on_hub else None,
                metric_type=hub_type, metric_name=pretty, metric_config=config,
                metric_value=_rounded(metric.value),
                metric_args={"signature": metric.signature} if metric.signature else None,
                verified=False))
    if not index.results:
        raise UserError(f"model {model!r} has no finished results to export", where="--model")
    return index


def render(index: ModelIndex, readme: Path | None = None) -> str:
    """The README text: ``readme``'s own with its metadata block updated (other results and
    the body kept), or just the metadata block; checked by parsing it back."""
    from huggingface_hub import ModelCardData

    if readme is not None and readme.is_file():
        card = _load_card(readme)
        data = card.data
        kept = [old for old in (data.eval_results or [])
                if not any(old.is_equal_except_value(new) for new in index.results)]
        data.eval_results = kept + index.results
        data.model_name = data.model_name or index.model_name
        text = str(card)
    else:
        data = ModelCardData(model_name=index.model_name, eval_results=index.results)
        text = f"---\n{data.to_yaml()}\n---\n"
    check(text, len(index.results))
    return text


def check(text: str, at_least: int) -> None:
    """Parse ``text`` as a model card the way the hub library does, and refuse it unless its
    model-index holds at least ``at_least`` results."""
    from huggingface_hub import ModelCard

    try:
        parsed = ModelCard(text, ignore_metadata_errors=False)
    except ValueError as exc:
        raise UserError(f"the model card does not parse: {exc}", where="--output") from None
    found = parsed.data.eval_results or []
    if len(found) < at_least:
        raise UserError(f"the model card holds {len(found)} results, expected {at_least}",
                        where="--output")


def _load_card(readme: Path) -> Any:
    """An existing README as a model card; one that is not UTF-8 or whose metadata block
    does not parse is refused (left as it is), naming the file."""
    import yaml
    from huggingface_hub import ModelCard

    from evalsuite.inputs import read_text

    text = read_text(readme, where=f"--output {readme}")
    try:
        return ModelCard(text, ignore_metadata_errors=False)
    except (ValueError, TypeError, yaml.YAMLError) as exc:
        reason = " ".join(str(exc).split()).split(" Pass `")[0][:200]
        raise UserError(f"its metadata block does not parse ({reason}); fix it or write to "
                        "another file (it was left as it is)", where=f"--output {readme}"
                        ) from None


def _looks_like_hub_id(path: Any) -> bool:
    text = str(path or "")
    return text.count("/") <= 1 and not text.startswith((".", "/", "~")) and \
        Path(text).suffix == ""


def _rounded(value: float) -> float:
    return round(float(value), 4)
