"""Against lm-evaluation-harness on the same causal LM, data and prompt.

A GPT-2-shaped model (4 layers, 256 wide, a byte-level BPE trained here on the starter data:
about five million parameters) is built and saved with ``save_pretrained``; both harnesses
then load it from that folder:

1. **log-likelihood**: ``--sentences`` reviews, labels ``negative``/``positive`` after the
   starter sentiment prompt — evalsuite's ``hf`` kind vs lm-eval's ``hf`` model on a
   ``multiple_choice`` task (a local task YAML read through ``TaskManager(include_path=…)``);
2. **generation**: ``--documents`` short documents, greedy, stopped at a blank line,
   ``--max-new-tokens`` at most — vs a ``generate_until`` task with ``until: ["\\n\\n"]``.

Each side runs in a fresh process per round (alternating, so drift of a shared machine falls
on both alike); a round times only the scoring loop (evalsuite: the runner's batched
prediction loop, without the untimed warm-up batch the runner does first, so both loops
start cold; lm-eval: its ``loglikelihood`` / ``generate_until`` call) and samples the
process's resident memory during it ("added": the peak minus the resident memory when the
loop started, i.e. what the loop itself needs beyond the loaded model).  The script asserts
identical per-example choices and generated text (and log-probabilities within 1e-4), then
prints the ratios of the medians.

    python benchmarks/lm_eval_peer.py [--sentences 872] [--documents 100] [--rounds 3]
        [--peer-batch-size 32] [--device cpu|cuda]

Targets (issue 16, on a 2-core CPU): log-likelihood loop ≥ 1.5× faster than lm-eval's at no
more peak memory; generation loop ≥ 1.0×.  Needs the ``bench`` extra (lm-eval).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from benchmarks.common import machine, print_table, starter_sentences

SENTIMENT_PROMPT = "Review: {text}\nIs the sentiment of this review negative or positive?\nAnswer:"
SUMMARY_PROMPT = "Summarize the following text.\n\n{document}\n\nSummary:"
LABELS = ["negative", "positive"]
SAMPLE_S = 0.002


# -- the workspace: model, data, cards, lm-eval task YAMLs --------------------------------------
def build_model(folder: Path, seed: int = 0) -> Path:
    """A GPT-2-shaped causal LM with a byte-level BPE trained on the starter data."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    from tests.hf_fixtures import corpus_lines

    torch.manual_seed(seed)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus_lines() + starter_sentences(), trainers.BpeTrainer(
        vocab_size=8192, special_tokens=["<|endoftext|>"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
        unk_token="<|endoftext|>", model_max_length=1024)
    config = GPT2Config(vocab_size=len(tokenizer), n_embd=256, n_layer=4, n_head=4,
                        n_positions=1024, bos_token_id=0, eos_token_id=0,
                        initializer_range=0.05)
    model = GPT2LMHeadModel(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def write_workspace(work: Path, sentences: int, documents: int, max_new_tokens: int
                    ) -> dict[str, str]:
    """Data files, evalsuite cards and lm-eval task YAMLs over the same rows."""
    import random

    import yaml

    rng = random.Random(0)
    pool = starter_sentences()
    if sentences > len(pool):
        raise SystemExit(f"--sentences: at most {len(pool)} distinct starter sentences")
    reviews = [{"id": f"s{i}", "text": pool[i], "label": rng.choice(LABELS)}
               for i in range(sentences)]
    docs = []
    for i in range(documents):
        picked = rng.sample(pool, 4)
        docs.append({"id": f"d{i}", "document": " ".join(picked), "references": [picked[0]]})
    for name, rows in (("reviews", reviews), ("docs", docs)):
        (work / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows),
                                            encoding="utf-8")
    cards = work / "cards"
    cards.mkdir()
    (cards / "sentiment.yaml").write_text(yaml.safe_dump({
        "name": "bench/sentiment", "family": "sentiment",
        "dataset": {"path": str(work / "reviews.jsonl")}, "labels": LABELS,
        "metrics": ["accuracy"], "prompt": SENTIMENT_PROMPT}), encoding="utf-8")
    (cards / "summaries.yaml").write_text(yaml.safe_dump({
        "name": "bench/summaries", "family": "summarization",
        "dataset": {"path": str(work / "docs.jsonl")}, "metrics": ["rougeL"],
        "prompt": SUMMARY_PROMPT, "stop": ["\n\n"]}), encoding="utf-8")
    peer = work / "lm_eval_tasks"
    peer.mkdir()
    jinja = {"text": "{{text}}", "document": "{{document}}"}
    (peer / "bench_sentiment.yaml").write_text(yaml.safe_dump({
        "task": "bench_sentiment", "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(work / "reviews.jsonl")}},
        "test_split": "test", "output_type": "multiple_choice",
        "doc_to_text": SENTIMENT_PROMPT.replace("{text}", jinja["text"]),
        "doc_to_choice": LABELS, "doc_to_target": "{{['negative', 'positive'].index(label)}}",
        "metric_list": [{"metric": "acc"}]}), encoding="utf-8")
    (peer / "bench_summaries.yaml").write_text(yaml.safe_dump({
        "task": "bench_summaries", "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(work / "docs.jsonl")}},
        "test_split": "test", "output_type": "generate_until",
        "doc_to_text": SUMMARY_PROMPT.replace("{document}", jinja["document"]),
        "doc_to_target": "{{references[0]}}",
        "generation_kwargs": {"until": ["\n\n"], "do_sample": False,
                              "max_gen_toks": max_new_tokens},
        "metric_list": [{"metric": "exact_match"}]}), encoding="utf-8")
    return {"loglik": str(cards / "sentiment.yaml"), "generate": str(cards / "summaries.yaml"),
            "peer_dir": str(peer)}


# -- measuring inside a worker ------------------------------------------------------------------
def rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Peak memory while the block runs: the process's resident memory sampled in a thread
    (CPU), or torch's peak allocated device memory (CUDA)."""

    def __init__(self, device: str = "cpu") -> None:
        self.cuda = device.startswith("cuda")

    def __enter__(self) -> PeakMemory:
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.start = self.peak = torch.cuda.memory_allocated()
            return self
        self.start = self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc: object) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            self.peak = max(self.peak, torch.cuda.max_memory_allocated())
            return
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def run_evalsuite(args: argparse.Namespace, paths: dict[str, str]) -> dict:
    from evalsuite.efficiency.meter import EfficiencyMeter
    from evalsuite.models import registry
    from evalsuite.models.spec import ModelSpec
    from evalsuite.runner.run import predict_all
    from evalsuite.tasks.cards import load_card
    from evalsuite.tasks.data import load_task_data

    card = load_card(paths[args.workload])
    examples = load_task_data(card).examples
    options = {"device": args.device, "store_prompt": "true"}
    if args.workload == "generate":
        options["max_new_tokens"] = str(args.max_new_tokens)
    adapter = registry.build(ModelSpec("hf", args.model, options))
    adapter.load()
    adapter.needs_warmup = False  # both loops start cold (the runner's warm-up is untimed)
    todo = [(ex["id"], ex) for ex in examples]
    with PeakMemory(args.device) as memory:
        started = time.perf_counter()
        outputs: dict[str, dict] = {}
        for keys, batch in predict_all(adapter, card, todo, EfficiencyMeter(args.device)):
            outputs.update(zip(keys, batch, strict=True))
        seconds = time.perf_counter() - started
    rows = []
    for ex in examples:
        out = outputs[ex["id"]]
        meta = out["meta"]
        rows.append({"id": ex["id"], "choice": out["prediction"],
                     "logprobs": [meta["logprobs"][label] for label in LABELS]}
                    if args.workload == "loglik" else
                    {"id": ex["id"], "text": meta["completion"]})
    return {"seconds": seconds, "start": memory.start, "peak": memory.peak, "rows": rows}


def run_lm_eval(args: argparse.Namespace, paths: dict[str, str]) -> dict:
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    lm = HFLM(pretrained=args.model, batch_size=args.peer_batch_size, device=args.device,
              dtype="float32")
    timed: dict[str, float] = {}
    memory = PeakMemory(args.device)
    method = "loglikelihood" if args.workload == "loglik" else "generate_until"
    original = getattr(lm, method)

    def loop(requests, *rest, **kwargs):
        with memory:
            started = time.perf_counter()
            result = original(requests, *rest, **kwargs)
            timed["seconds"] = time.perf_counter() - started
        return result

    setattr(lm, method, loop)
    task = "bench_sentiment" if args.workload == "loglik" else "bench_summaries"
    results = simple_evaluate(model=lm, tasks=[task], log_samples=True, bootstrap_iters=0,
                              task_manager=TaskManager(include_path=paths["peer_dir"]))
    rows = []
    for sample in sorted(results["samples"][task], key=lambda s: s["doc_id"]):
        doc = sample["doc"]
        if args.workload == "loglik":
            scores = [float(r[0]) for r in sample["filtered_resps"]]
            rows.append({"id": doc["id"], "choice": LABELS[scores.index(max(scores))],
                         "logprobs": scores})
        else:
            rows.append({"id": doc["id"], "text": sample["filtered_resps"][0]})
    return {"seconds": timed["seconds"], "start": memory.start, "peak": memory.peak,
            "rows": rows}


def worker(args: argparse.Namespace) -> None:
    paths = json.loads(Path(args.paths).read_text())
    result = (run_evalsuite if args.side == "evalsuite" else run_lm_eval)(args, paths)
    Path(args.out).write_text(json.dumps(result))


# -- the parent: alternating rounds, equality, the table -----------------------------------------
def one_round(args: argparse.Namespace, side: str, workload: str, model: Path, paths: Path,
              out: Path) -> dict:
    command = [sys.executable, __file__, "--worker", "--side", side, "--workload", workload,
               "--model", str(model), "--paths", str(paths), "--out", str(out),
               "--device", args.device, "--peer-batch-size", str(args.peer_batch_size),
               "--max-new-tokens", str(args.max_new_tokens)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


def check_equal(workload: str, ours: list[dict], peer: list[dict]) -> str:
    assert [r["id"] for r in ours] == [r["id"] for r in peer]
    if workload == "loglik":
        diff = max(abs(a - b) for o, p in zip(ours, peer, strict=True)
                   for a, b in zip(o["logprobs"], p["logprobs"], strict=True))
        assert diff < 1e-4, f"log-probabilities differ by {diff}"
        assert [r["choice"] for r in ours] == [r["choice"] for r in peer]
        return f"{len(ours)} choices equal (log-probs within {diff:.1e})"
    for o, p in zip(ours, peer, strict=True):
        assert o["text"] == p["text"], (o["id"], o["text"], p["text"])
    return f"{len(ours)} generations equal"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=872)
    parser.add_argument("--documents", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--peer-batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workloads", default="loglik,generate")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--side", help=argparse.SUPPRESS)
    parser.add_argument("--workload", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--paths", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    try:
        import lm_eval  # noqa: F401
    except ImportError:
        raise SystemExit("needs lm-evaluation-harness: pip install -e '.[bench]'") from None
    import lm_eval as peer_package
    import torch

    rows = []
    notes = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = build_model(work / "model")
        paths = work / "paths.json"
        paths.write_text(json.dumps(write_workspace(work, args.sentences, args.documents,
                                                     args.max_new_tokens)))
        for workload in args.workloads.split(","):
            runs: dict[str, list[dict]] = {"evalsuite": [], "lm-eval": []}
            for round_ in range(args.rounds):
                order = ["evalsuite", "lm-eval"] if round_ % 2 == 0 else ["lm-eval", "evalsuite"]
                for side in order:
                    result = one_round(args, side, workload, model, paths,
                                       work / f"{side}-{workload}-{round_}.json")
                    runs[side].append(result)
                    print(f"{workload} round {round_} {side}: {result['seconds']:.2f} s, "
                          f"+{(result['peak'] - result['start']) / 2**20:.0f} MiB",
                          file=sys.stderr, flush=True)
            notes.append(f"{workload}: " + check_equal(workload, runs["evalsuite"][-1]["rows"],
                                                       runs["lm-eval"][-1]["rows"]))
            ratios = [p["seconds"] / o["seconds"]
                      for o, p in zip(runs["evalsuite"], runs["lm-eval"], strict=True)]
            notes.append(f"{workload}: speed-up per round (same round, back to back) "
                         + ", ".join(f"{r:.2f}×" for r in ratios)
                         + f"; median {statistics.median(ratios):.2f}×")

            def med(side: str, key: str, runs=runs) -> float:
                if key == "added":
                    return statistics.median((r["peak"] - r["start"]) / 2**20
                                             for r in runs[side])
                if key == "peak":
                    return statistics.median(r["peak"] / 2**20 for r in runs[side])
                return statistics.median(r["seconds"] for r in runs[side])

            name = (f"log-likelihood, {args.sentences} reviews × 2 labels" if workload ==
                    "loglik" else f"generation, {args.documents} documents, ≤ "
                    f"{args.max_new_tokens} tokens, stop \\n\\n")
            rows.append((name, f"{med('lm-eval', 'seconds'):.2f}",
                         f"{med('evalsuite', 'seconds'):.2f}",
                         f"{med('lm-eval', 'seconds') / med('evalsuite', 'seconds'):.2f}×",
                         f"{med('lm-eval', 'added'):.0f} / {med('lm-eval', 'peak'):.0f}",
                         f"{med('evalsuite', 'added'):.0f} / {med('evalsuite', 'peak'):.0f}",
                         f"{med('evalsuite', 'added') / max(med('lm-eval', 'added'), 1):.2f}"))
    memory_kind = "allocated" if args.device.startswith("cuda") else "RSS"
    print_table(f"Against lm-evaluation-harness {peer_package.__version__} (hf model, batch "
                f"size {args.peer_batch_size}) — {machine()}, torch {torch.__version__}, "
                f"median of {args.rounds} alternating rounds", rows,
                ("workload", "lm-eval loop s", "evalsuite loop s", "speed-up",
                 f"lm-eval MiB added / peak {memory_kind}",
                 f"evalsuite MiB added / peak {memory_kind}",
                 "memory ratio (added)"))
    for note in notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
