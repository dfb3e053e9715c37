"""Every metric against its reference library called directly, plus hand-computed cases."""

from __future__ import annotations

import re
import string
import warnings
from collections import Counter

import evaluate
import numpy as np
import pytest
import sacrebleu
from rouge_score import rouge_scorer
from scipy import stats as sps
from seqeval.metrics import classification_report
from seqeval.metrics import f1_score as seq_f1
from seqeval.metrics import precision_score as seq_precision
from seqeval.metrics import recall_score as seq_recall
from seqeval.scheme import IOB2
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from evalsuite.families import Family
from evalsuite.metrics import registry
from evalsuite.metrics.base import MetricContext, resample_counts, score
from evalsuite.metrics.hf_evaluate import load
from evalsuite.text.sentences import one_sentence_per_line as split_sentences

WORDS = ["the", "cat", "dog", "sat", "on", "mat", "a", "red", "big", "house", "runs", "ran",
         "running", "quickly", "river", "bank", "money", "tree", "green", "is", "was", "of",
         "and", "to"]


def run(name: str, predictions, examples, *, family=None, labels=None, resamples=0):
    """Value, per-example scores, stats and result of one metric."""
    metric = registry.get(name, family)
    context = MetricContext(labels=labels)
    result, stats = score(metric, predictions, examples, context, resamples=resamples)
    return result.value, metric.example_scores(stats), stats, result


def sentence(rng: np.random.Generator, low: int = 1, high: int = 12) -> str:
    words = rng.choice(WORDS, size=rng.integers(low, high + 1)).tolist()
    return " ".join(words).capitalize() + rng.choice([".", "!", "?", ""])


# -- registry -----------------------------------------------------------------------------------
def test_registry_names_per_family_and_shared_name():
    assert registry.names_for(Family.TRANSLATION) == ["bertscore", "bleu", "chrf", "comet"]
    assert registry.names_for(Family.SUMMARIZATION) == ["bertscore", "rouge1", "rouge2", "rougeL",
                                                        "rougeLsum"]
    assert registry.names_for(Family.NER) == ["f1", "precision", "recall"]
    assert registry.names_for(Family.QA) == ["exact_match", "f1", "has_ans_exact", "has_ans_f1",
                                             "no_ans_exact", "no_ans_f1"]
    assert registry.names_for(Family.SIMILARITY) == ["pearson", "spearman"]
    assert registry.get("f1", "qa").scale == "0-100"
    assert registry.get("ner/f1").scale == "0-1"
    with pytest.raises(KeyError, match="several families"):
        registry.get("f1")
    with pytest.raises(KeyError, match="unknown metric 'nope'"):
        registry.get("nope")


# -- sentiment ----------------------------------------------------------------------------------
def _sentiment(gold, pred, labels):
    examples = [{"id": str(i), "label": g} for i, g in enumerate(gold)]
    return {n: run(n, pred, examples, labels=labels)[0] for n in ("accuracy", "macro_f1", "mcc")}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classification_matches_sklearn_random(seed):
    rng = np.random.default_rng(seed)
    labels = ["neg", "neu", "pos"]
    gold = rng.choice(labels, 300).tolist()
    pred = [g if rng.random() < 0.6 else rng.choice(labels) for g in gold]
    got = _sentiment(gold, pred, labels)
    assert got["accuracy"] == pytest.approx(accuracy_score(gold, pred), abs=1e-12)
    assert got["macro_f1"] == pytest.approx(f1_score(gold, pred, average="macro"), abs=1e-12)
    assert got["mcc"] == pytest.approx(matthews_corrcoef(gold, pred), abs=1e-12)


def test_classification_labels_out_of_set():
    labels = ["neg", "neu", "pos"]
    gold = ["neg", "pos", "pos", "neu", "neg", "pos", "neg"]
    pred = ["neg", "pos", "zzz", "neu", "pos", "yyy", "neg"]
    got = _sentiment(gold, pred, labels)
    assert got["accuracy"] == pytest.approx(accuracy_score(gold, pred))
    # Out-of-set predictions are errors, not extra classes: sklearn restricted to the card's
    # labels that occur; MCC sees every out-of-set prediction as one 'invalid' class.
    present = [x for x in labels if x in set(gold) | set(pred)]
    assert got["macro_f1"] == pytest.approx(f1_score(gold, pred, labels=present, average="macro"))
    lumped = [p if p in labels else "<invalid>" for p in pred]
    assert got["mcc"] == pytest.approx(matthews_corrcoef(gold, lumped))
    # A card label that nobody uses does not dilute the macro average (sklearn default).
    got = _sentiment(["neg", "pos", "pos"], ["neg", "pos", "neg"], labels)
    assert got["macro_f1"] == pytest.approx(f1_score(["neg", "pos", "pos"], ["neg", "pos", "neg"],
                                                     average="macro"))


# -- translation --------------------------------------------------------------------------------
def _translation_data(seed: int, n: int = 60):
    rng = np.random.default_rng(seed)
    refs = [[sentence(rng, 2, 15) for _ in range(rng.integers(1, 4))] for _ in range(n)]
    hyps = []
    for r in refs:
        u = rng.random()
        if u < 0.1:
            hyps.append("")
        elif u < 0.3:
            hyps.append(r[0])  # exact
        else:
            hyps.append(sentence(rng, 1, 15))
    return hyps, refs


def _streams(refs):
    width = max(len(r) for r in refs)
    return [[r[j] if j < len(r) else None for r in refs] for j in range(width)]


@pytest.mark.parametrize("seed", [0, 1])
def test_bleu_chrf_match_sacrebleu_with_unequal_reference_counts(seed):
    hyps, refs = _translation_data(seed)
    examples = [{"id": str(i), "references": r} for i, r in enumerate(refs)]
    bleu, bleu_ex, bleu_stats, bleu_res = run("bleu", hyps, examples)
    chrf, chrf_ex, chrf_stats, chrf_res = run("chrf", hyps, examples)

    expected = sacrebleu.corpus_bleu(hyps, _streams(refs))
    assert bleu == pytest.approx(expected.score, abs=1e-9)
    assert chrf == pytest.approx(sacrebleu.corpus_chrf(hyps, _streams(refs), word_order=2).score,
                                 abs=1e-9)
    assert bleu_ex == pytest.approx([sacrebleu.sentence_bleu(h, r).score
                                     for h, r in zip(hyps, refs, strict=True)], abs=1e-9)
    assert chrf_ex == pytest.approx([sacrebleu.sentence_chrf(h, r, word_order=2).score
                                     for h, r in zip(hyps, refs, strict=True)], abs=1e-9)
    assert bleu_res.extra["signature"].startswith("nrefs:var|case:mixed|eff:no|tok:13a|smooth:exp")
    assert "nw:2" in chrf_res.extra["signature"]

    # Resampled corpus values are sacrebleu's own score of the summed resampled statistics.
    counts = resample_counts(len(hyps), 5, seed=3)
    for name, stats, scorer in (("bleu", bleu_stats, sacrebleu.BLEU()),
                                ("chrf", chrf_stats, sacrebleu.CHRF(word_order=2))):
        got = registry.get(name).resampled_values(stats, counts)
        want = [scorer._compute_score_from_stats(list(row)).score for row in counts @ stats]
        assert got == pytest.approx(want, abs=1e-9)


def test_bleu_hand_cases():
    examples = [{"id": "a", "references": ["The cat sat on the mat."]},
                {"id": "b", "references": ["A dog barked loudly at night.", "The dog barked."]}]
    value, per_example, _, _ = run("bleu", ["The cat sat on the mat.", "The dog barked."],
                                   examples)
    assert value == pytest.approx(100.0)
    assert per_example == pytest.approx([100.0, 100.0])
    value, per_example, _, _ = run("bleu", ["", ""], examples)
    assert value == 0.0 and per_example.tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="'x' has no references"):
        run("bleu", ["hi"], [{"id": "x", "references": []}])


# -- summarization ------------------------------------------------------------------------------
def test_rouge_matches_rouge_score_with_multiple_references():
    rng = np.random.default_rng(0)
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True)
    preds, refs, examples = [], [], []
    for i in range(40):
        ref_sents = [[sentence(rng, 3, 10).rstrip(".!?") + "." for _ in range(rng.integers(1, 4))]
                     for _ in range(rng.integers(1, 4))]
        pred_sents = [sentence(rng, 3, 10).rstrip(".!?") + "." for _ in range(rng.integers(1, 4))]
        pred = "" if i % 9 == 0 else " ".join(pred_sents)
        preds.append((pred, "\n".join(pred_sents) if pred else ""))
        refs.append(ref_sents)
        examples.append({"id": str(i), "references": [" ".join(s) for s in ref_sents]})
    values = {n: run(n, [p for p, _ in preds], examples) for n in
              ("rouge1", "rouge2", "rougeL", "rougeLsum")}
    for n in ("rouge1", "rouge2", "rougeL"):
        want = [scorer.score_multi([" ".join(s) for s in r], p)[n].fmeasure
                for (p, _), r in zip(preds, refs, strict=True)]
        assert values[n][1] == pytest.approx(want, abs=1e-12)
        assert values[n][0] == pytest.approx(np.mean(want), abs=1e-12)
    # rougeLsum: one sentence per line, as rouge-score expects.
    want = [scorer.score_multi(["\n".join(s) for s in r], p_lines)["rougeLsum"].fmeasure
            for (_, p_lines), r in zip(preds, refs, strict=True)]
    assert values["rougeLsum"][1] == pytest.approx(want, abs=1e-12)
    assert values["rougeLsum"][1][0] == 0.0  # empty prediction


def test_sentence_splitter():
    text = 'He left at 5 p.m. on Friday. Dr. Smith and J. K. Rowling met! "Why?" she asked.\nEnd'
    assert split_sentences(text).split("\n") == [
        "He left at 5 p.m. on Friday.", "Dr. Smith and J. K. Rowling met!", '"Why?" she asked.',
        "End"]
    assert split_sentences("") == ""


# -- NER ----------------------------------------------------------------------------------------
def _random_tags(rng: np.random.Generator, length: int) -> list[str]:
    tags = []
    for _ in range(length):
        u = rng.random()
        if u < 0.5:
            tags.append("O")
        else:
            prefix = "B" if u < 0.75 else "I"  # stray I- tags exercise strict IOB2
            tags.append(f"{prefix}-{rng.choice(['PER', 'LOC', 'ORG'])}")
    return tags


def _perturb(rng: np.random.Generator, tags: list[str]) -> list[str]:
    out = list(tags)
    for i in range(len(out)):
        if rng.random() < 0.2:
            out[i] = _random_tags(rng, 1)[0]
    if rng.random() < 0.1 and out:
        out[0] = "B-MISC"  # a type that only the predictions use
    return out


def test_ner_matches_seqeval_strict():
    rng = np.random.default_rng(0)
    gold = [_random_tags(rng, int(rng.integers(0, 15))) for _ in range(80)]
    pred = [_perturb(rng, g) for g in gold]
    examples = [{"id": str(i), "tags": g} for i, g in enumerate(gold)]
    kw = {"mode": "strict", "scheme": IOB2}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = classification_report(gold, pred, output_dict=True, **kw)
        expected = {"precision": seq_precision(gold, pred, **kw),
                    "recall": seq_recall(gold, pred, **kw), "f1": seq_f1(gold, pred, **kw)}
    widths = set()
    for name, want in expected.items():
        value, _, stats, result = run(name, pred, examples, family="ner")
        assert value == pytest.approx(want, abs=1e-12)
        widths.add(stats.shape[1])
        per_type = result.extra["per_type"]
        assert "MISC" in per_type
        assert set(per_type) == {k for k in report if not k.endswith("avg")}
        for kind, row in per_type.items():
            assert row["precision"] == pytest.approx(report[kind]["precision"])
            assert row["recall"] == pytest.approx(report[kind]["recall"])
            assert row["f1"] == pytest.approx(report[kind]["f1-score"])
            assert row["support"] == report[kind]["support"]
    # Columns cover gold (and card) types only, so another system's stats align.
    _, _, other, _ = run("f1", gold, examples, family="ner")
    assert widths == {other.shape[1]} == {3 + 3 * 3}


def test_ner_hand_case_boundary_error():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "O"]]
    pred = [["B-PER", "O", "O", "B-LOC"], ["O", "O"]]  # PER boundary wrong, LOC right
    examples = [{"id": "s1", "tags": gold[0]}, {"id": "s2", "tags": gold[1]}]
    precision, _, _, _ = run("precision", pred, examples, family="ner")
    recall, _, _, _ = run("recall", pred, examples, family="ner")
    f1, f_ex, _, result = run("f1", pred, examples, family="ner")
    assert (precision, recall, f1) == (0.5, 0.5, 0.5)
    assert f_ex.tolist() == [0.5, 1.0]  # an empty sentence with no predictions is perfect
    assert result.extra["per_type"]["PER"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0,
                                               "support": 1}
    # I- after O does not open an entity in strict IOB2.
    value, _, _, _ = run("recall", [["O", "I-PER", "O", "B-LOC"]], examples[:1], family="ner")
    assert value == 0.5


def test_ner_errors_name_the_example():
    examples = [{"id": "ok", "tags": ["O", "B-PER"]}, {"id": "short-one", "tags": ["O", "O"]}]
    with pytest.raises(ValueError, match=r"'short-one'.*1 predicted tags for 2 tokens"):
        run("f1", [["O", "B-PER"], ["O"]], examples, family="ner")
    with pytest.raises(ValueError, match=r"'ok'.*not valid IOB2"):
        run("f1", [["O", "X-PER"], ["O", "O"]], examples, family="ner")


# -- QA -----------------------------------------------------------------------------------------
# The official SQuAD v2.0 evaluation functions, verbatim in substance, as the reference.
def _official_normalize(s):
    def remove_articles(text):
        return re.sub(re.compile(r"\b(a|an|the)\b", re.UNICODE), " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def _official_tokens(s):
    return _official_normalize(s).split() if s else []


def _official_f1(a_gold, a_pred):
    gold_toks, pred_toks = _official_tokens(a_gold), _official_tokens(a_pred)
    common = Counter(gold_toks) & Counter(pred_toks)
    num_same = sum(common.values())
    if len(gold_toks) == 0 or len(pred_toks) == 0:
        return int(gold_toks == pred_toks)
    if num_same == 0:
        return 0
    precision, recall = num_same / len(pred_toks), num_same / len(gold_toks)
    return (2 * precision * recall) / (precision + recall)


def _official_scores(answers, pred):
    gold = [a for a in answers if _official_normalize(a)] or [""]
    exact = max(int(_official_normalize(a) == _official_normalize(pred)) for a in gold)
    return exact, max(_official_f1(a, pred) for a in gold)


def test_qa_matches_official_squad_v2_script():
    rng = np.random.default_rng(0)
    examples, preds = [], []
    for i in range(150):
        answers = [] if rng.random() < 0.3 else [
            " ".join(rng.choice([*WORDS, "An", "The", "dog!"], size=rng.integers(1, 5)))
            for _ in range(rng.integers(1, 4))]
        u = rng.random()
        pred = "" if u < 0.25 else (answers[0].upper() + "." if answers and u < 0.5 else
                                   " ".join(rng.choice(WORDS, size=rng.integers(1, 5))))
        examples.append({"id": str(i), "answers": answers})
        preds.append(pred)
    official = np.array([_official_scores(ex["answers"], p)
                         for ex, p in zip(examples, preds, strict=True)])
    has = np.array([bool(ex["answers"]) for ex in examples])
    expected = {
        "exact_match": 100 * official[:, 0].mean(), "f1": 100 * official[:, 1].mean(),
        "has_ans_exact": 100 * official[has, 0].mean(), "has_ans_f1": 100 * official[has, 1].mean(),
        "no_ans_exact": 100 * official[~has, 0].mean(), "no_ans_f1": 100 * official[~has, 1].mean(),
    }
    for name, want in expected.items():
        value, per_example, _, _ = run(name, preds, examples, family="qa")
        assert value == pytest.approx(want, abs=1e-9), name
    _, per_example, _, _ = run("f1", preds, examples, family="qa")
    assert per_example == pytest.approx(100 * official[:, 1])


def test_qa_hand_cases():
    examples = [{"id": "1", "answers": ["The  Cat!"]},
                {"id": "2", "answers": ["the big red dog", "a hound"]},
                {"id": "3", "answers": []},
                {"id": "4", "answers": []}]
    preds = ["cat", "red dog barked", "", "somewhere"]
    _, em, _, _ = run("exact_match", preds, examples, family="qa")
    _, f1, _, _ = run("f1", preds, examples, family="qa")
    assert em.tolist() == [100.0, 0.0, 100.0, 0.0]
    assert f1 == pytest.approx([100.0, 200 / 3, 100.0, 0.0])  # P = R = 2/3 for example 2
    assert run("no_ans_f1", preds, examples, family="qa")[0] == 50.0
    assert run("has_ans_exact", preds, examples, family="qa")[0] == 50.0
    # An empty split is nan, not zero.
    assert np.isnan(run("no_ans_exact", preds[:2], examples[:2], family="qa")[0])


# -- similarity ---------------------------------------------------------------------------------
@pytest.mark.parametrize("offset", [0.0, 1e6])
def test_correlations_match_scipy(offset):
    rng = np.random.default_rng(0)
    gold = np.round(rng.uniform(0, 5, 200), 1) + offset  # rounding makes ties
    pred = np.round(gold + rng.normal(0, 1, 200), 1)
    examples = [{"id": str(i), "score": float(g)} for i, g in enumerate(gold)]
    pearson, p_ex, p_stats, _ = run("pearson", pred.tolist(), examples)
    spearman, s_ex, s_stats, _ = run("spearman", pred.tolist(), examples)
    assert pearson == pytest.approx(sps.pearsonr(pred, gold).statistic, abs=1e-9)
    assert spearman == pytest.approx(sps.spearmanr(pred, gold).statistic, abs=1e-12)
    assert p_ex == pytest.approx(-np.abs(pred - gold), abs=1e-6)
    assert s_ex == pytest.approx(-np.abs(pred - gold))
    # Resampled values equal scipy on the explicitly resampled arrays.
    counts = resample_counts(len(gold), 6, seed=1)
    got_p = registry.get("pearson").resampled_values(p_stats, counts)
    got_s = registry.get("spearman").resampled_values(s_stats, counts)
    for b, row in enumerate(counts.astype(int)):
        idx = np.repeat(np.arange(len(gold)), row)
        assert got_p[b] == pytest.approx(sps.pearsonr(pred[idx], gold[idx]).statistic, abs=1e-9)
        assert got_s[b] == pytest.approx(sps.spearmanr(pred[idx], gold[idx]).statistic,
                                         abs=1e-12)


def test_similarity_edge_cases():
    examples = [{"id": str(i), "score": float(i)} for i in range(4)]
    value, *_ = run("pearson", [1.0, 1.0, 1.0, 1.0], examples, resamples=50)
    assert np.isnan(value)  # constant predictions: undefined, as scipy
    with pytest.raises(ValueError, match=r"'2'.*not a number"):
        run("spearman", [1.0, 2.0, "high", 3.0], examples)
    with pytest.raises(ValueError, match=r"'1'.*non-finite"):
        run("pearson", [1.0, float("nan"), 2.0, 3.0], examples)


# -- evaluate modules ---------------------------------------------------------------------------
def test_evaluate_modules_load_compute_combine_offline():
    combo = evaluate.combine([load("accuracy"), load("macro_f1")])
    out = combo.compute(predictions=["pos", "neg", "pos", "pos"],
                        references=["pos", "neg", "neg", "pos"], resamples=200)
    assert out["accuracy"] == 0.75
    assert out["macro_f1"] == pytest.approx(f1_score(["pos", "neg", "neg", "pos"],
                                                     ["pos", "neg", "pos", "pos"],
                                                     average="macro"))
    assert out["accuracy_ci_low"] <= out["accuracy"] <= out["accuracy_ci_high"]
    assert set(out) == {"accuracy", "accuracy_ci_low", "accuracy_ci_high",
                        "macro_f1", "macro_f1_ci_low", "macro_f1_ci_high"}
    # Integer labels work too.
    ints = load("mcc").compute(predictions=[0, 1, 1, 0], references=[0, 1, 0, 0])
    assert ints["mcc"] == pytest.approx(matthews_corrcoef([0, 1, 0, 0], [0, 1, 1, 0]))


def test_evaluate_modules_every_family():
    bleu = load("bleu")
    assert bleu.name == "bleu" and "BLEU" in bleu.info.citation
    hyps = ["the cat sat on the mat", "a dog"]
    refs = [["the cat sat on a mat", "a cat sat on the mat"], ["a dog barks"]]
    out = bleu.compute(predictions=hyps, references=refs, resamples=0)
    assert out["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, _streams(refs)).score)
    assert out["bleu_ci_low"] is None
    single = load("chrf").compute(predictions=hyps, references=["the cat sat", "a dog"])
    assert single["chrf"] == pytest.approx(
        sacrebleu.corpus_chrf(hyps, [["the cat sat", "a dog"]], word_order=2).score)
    assert load("rougeL").compute(predictions=["a b c"], references=[["a b c"]])["rougeL"] == 1.0
    ner = load("f1", family="ner").compute(predictions=[["B-PER", "O"]],
                                           references=[["B-PER", "O"]])
    assert ner["f1"] == 1.0
    qa = load("qa/f1").compute(predictions=["The cat", ""], references=[["cat"], []])
    assert qa["f1"] == 100.0
    sim = load("spearman").compute(predictions=[0.1, 0.5, 0.3], references=[1.0, 4.0, 2.0])
    assert sim["spearman"] == pytest.approx(1.0)
    with pytest.raises(KeyError, match="several families"):
        load("f1")
