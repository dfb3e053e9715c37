"""Languages as first-class: codes, sentence splitting and metrics in non-Latin scripts,
each against a case computed by hand (English stays equal to the reference libraries: see
test_metrics.py)."""

from __future__ import annotations

import math

import pytest
import sacrebleu
from rouge_score import rouge_scorer

from evalsuite.metrics import registry
from evalsuite.metrics.base import MetricContext, score
from evalsuite.metrics.qa import normalize_answer
from evalsuite.metrics.translation import bleu_tokenizer
from evalsuite.text.languages import parse_language
from evalsuite.text.sentences import one_sentence_per_line, split_sentences
from evalsuite.text.tokenize import UnicodeTokenizer, unicode_words


def run(name: str, predictions, examples, *, family=None, language=None, options=None):
    metric = registry.get(name, family)
    context = MetricContext(language=language, options=options or {})
    result, _ = score(metric, predictions, examples, context, resamples=0)
    return result


# -- language codes -----------------------------------------------------------------------------
@pytest.mark.parametrize(("code", "tag", "script", "unspaced"), [
    ("eng_Latn", "en", "Latn", False), ("zho_Hans", "zh-Hans", "Hans", True),
    ("hi", "hi", "Deva", False), ("khm_Khmr", "km", "Khmr", True), ("ja", "ja", "Jpan", True),
    ("pt-BR", "pt-BR", "Latn", False), ("npi_Deva", "npi-Deva", "Deva", False),
])
def test_language_codes_parse_to_tag_and_script(code, tag, script, unspaced):
    lang = parse_language(code)
    assert (lang.tag, lang.script, lang.unspaced) == (tag, script, unspaced)


@pytest.mark.parametrize("code", ["english", "en_US", "zho_hans", "xx-yyyy-zz", ""])
def test_bad_language_codes_are_refused(code):
    with pytest.raises(ValueError, match="BCP-47"):
        parse_language(code)


# -- sentence splitting -------------------------------------------------------------------------
def test_splitter_knows_full_width_and_danda_terminators():
    assert split_sentences("今天天气很好。我们去公园吧！你来吗？好。") == [
        "今天天气很好。", "我们去公园吧！", "你来吗？", "好。"]
    assert split_sentences("“我们走吧。”他说。") == ["“我们走吧。”", "他说。"]
    assert split_sentences("राम घर गया। सीता स्कूल गई॥ फिर?") == [
        "राम घर गया।", "सीता स्कूल गई॥", "फिर?"]
    assert split_sentences("ደህና ነህ? አዎ። ጥሩ ነው።") == ["ደህና ነህ?", "አዎ።", "ጥሩ ነው።"]
    # A caseless script after ". " starts a sentence; a lower-case word does not.
    assert split_sentences("Он пришёл. Потом ушёл. Это 5 p.m. now.") == [
        "Он пришёл.", "Потом ушёл.", "Это 5 p.m. now."]


def test_khmer_and_myanmar_sentences_end_without_a_space():
    """Khmer writes a zero-width space (not whitespace to ``\\s``) after ``។``, Myanmar
    often nothing after ``။``: both marks end a sentence like ``。`` (as in FLORES-200)."""
    zw = "\u200b"
    assert split_sentences(f"ខ្ញុំ{zw}ទៅ{zw}ផ្សារ។{zw} គាត់{zw}នៅ{zw}ផ្ទះ។") == [
        f"ខ្ញុំ{zw}ទៅ{zw}ផ្សារ។", f"គាត់{zw}នៅ{zw}ផ្ទះ។"]
    assert split_sentences(f"ខ្ញុំ{zw}ទៅ។{zw}គាត់{zw}នៅ។") == [f"ខ្ញុំ{zw}ទៅ។", f"គាត់{zw}នៅ។"]
    assert split_sentences("သူ သွားသည်။ပြန်လာသည်။") == ["သူ သွားသည်။", "ပြန်လာသည်။"]
    assert split_sentences(f"राम घर गया।{zw} सीता गई।") == ["राम घर गया।", "सीता गई।"]


def test_lead_k_joins_chinese_sentences_without_spaces():
    from evalsuite.models.registry import build
    from evalsuite.models.spec import parse_spec
    from evalsuite.tasks.cards import card_from_dict

    def card(language):
        return card_from_dict({"name": "x/sum", "family": "summarization", "language": language,
                               "dataset": {"path": "d.jsonl"}, "metrics": ["rougeL"]})

    doc = "今天天气很好。我们去公园吧！你来吗？好。"
    lead = build(parse_spec("baseline:lead?k=2"))
    assert lead.predict_batch(card("zh"), [{"id": "a", "document": doc}]) == [
        "今天天气很好。我们去公园吧！"]
    english = "It rained. We stayed in. Then it stopped."
    assert lead.predict_batch(card("en"), [{"id": "b", "document": english}]) == [
        "It rained. We stayed in."]


# -- BLEU ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("language", "tokenizer"), [
    ("zho_Hans", "zh"), ("zh", "zh"), ("yue_Hant", "zh"), ("khm_Khmr", "char"),
    ("mya_Mymr", "char"), ("th", "char"), ("ja", "ja-mecab"), ("ko", "ko-mecab"),
    ("hin_Deva", "13a"), ("arb_Arab", "13a"), ("cat_Latn", "13a"), (None, "13a"),
])
def test_bleu_tokenizer_per_target_language(language, tokenizer):
    assert bleu_tokenizer(language) == tokenizer


def test_bleu_on_chinese_counts_characters_by_hand():
    # zh tokenizer: one token per character.  Matches 6/7 unigrams, 4/6 bigrams, 2/5
    # trigrams, 1/4 four-grams; equal lengths, so no brevity penalty.
    examples = [{"id": "1", "references": ["我们明天去北京"], "target_lang": "zho_Hans"}]
    result = run("bleu", ["我们今天去北京"], examples)
    want = 100 * (6 / 7 * 4 / 6 * 2 / 5 * 1 / 4) ** 0.25
    assert result.value == pytest.approx(want, abs=1e-9)
    assert "tok:zh" in result.extra["signature"]
    assert result.value == pytest.approx(
        sacrebleu.corpus_bleu(["我们今天去北京"], [["我们明天去北京"]], tokenize="zh").score)
    # The card's language is used when the examples carry none; 13a sees one word: 0.
    plain = [{"id": "1", "references": ["我们明天去北京"]}]
    assert run("bleu", ["我们今天去北京"], plain, language="zh").value == pytest.approx(want)
    assert run("bleu", ["我们今天去北京"], plain).value == 0.0


def test_bleu_tokenizer_can_be_set_by_the_card_and_spm_fails_with_a_clear_line():
    examples = [{"id": "1", "references": ["a b c d"]}]
    result = run("bleu", ["a b c d"], examples, options={"bleu_tokenize": "char"})
    assert "tok:char" in result.extra["signature"]
    with pytest.raises(ValueError, match=r"flores200.*bleu_tokenize"):
        run("bleu", ["a"], examples, options={"bleu_tokenize": "flores200"})


def test_chrf_on_khmer_is_character_based_and_nonzero():
    ref, hyp = "ខ្ញុំស្រលាញ់អ្នក", "ខ្ញុំស្រលាញ់គាត់"
    examples = [{"id": "1", "references": [ref], "target_lang": "khm_Khmr"}]
    result = run("chrf", [hyp], examples)
    want = sacrebleu.corpus_chrf([hyp], [[ref]], word_order=2).score
    assert result.value == pytest.approx(want) and 0 < result.value < 100


# -- ROUGE --------------------------------------------------------------------------------------
def test_unicode_tokenizer_keeps_every_script():
    assert unicode_words("राम ने किताब पढ़ी।") == ["राम", "ने", "किताब", "पढ़ी"]
    assert unicode_words("今天, OK 3个") == ["今", "天", "ok", "3", "个"]
    assert unicode_words("สวัสดี") == ["ส", "วั", "ส", "ดี"]  # vowel signs stay on
    assert unicode_words("المكتبة، الوطنية") == ["المكتبة", "الوطنية"]
    # The default rouge-score tokenizer keeps nothing of these.
    assert rouge_scorer.RougeScorer(["rouge1"]).score("राम ने", "राम ने")["rouge1"].fmeasure == 0
    spanish = UnicodeTokenizer(parse_language("es"))
    assert spanish.tokenize("Las bibliotecas") == ["las", "bibliotec"]
    assert spanish.signature == "tok:unicode|stem:snowball-spanish"


def test_rouge_on_hindi_by_hand():
    # Two of four words shared: P = R = F1 = 0.5 for ROUGE-1 and ROUGE-L; ROUGE-2: the one
    # shared bigram "राम ने" of three.
    examples = [{"id": "1", "references": ["राम ने किताब पढ़ी"]}]
    r1 = run("rouge1", ["राम ने अखबार पढ़ा"], examples, language="hi")
    assert r1.value == pytest.approx(0.5)
    assert run("rouge2", ["राम ने अखबार पढ़ा"], examples, language="hi").value == \
        pytest.approx(1 / 3)
    assert r1.extra["signature"] == "tok:unicode|stem:none|lang:hi"
    # Without a language the card keeps rouge-score's own tokenizer: Hindi scores 0.
    english = run("rouge1", ["राम ने अखबार पढ़ा"], examples)
    assert english.value == 0.0 and english.extra["signature"] == "tok:rouge-score|stem:porter"


def test_rouge_on_chinese_is_character_level_and_lsum_splits_at_full_stops():
    examples = [{"id": "1", "references": ["今天天气很好"]}]
    # Characters: 5 of 6 shared; bigrams 今天 天天 天气 shared of 5.
    assert run("rouge1", ["今天天气不好"], examples, language="zh").value == pytest.approx(5 / 6)
    assert run("rouge2", ["今天天气不好"], examples, language="zh").value == pytest.approx(3 / 5)
    # Sentences in the other order: one line, the LCS is 6 of 11 characters; ROUGE-Lsum
    # matches each reference sentence to the prediction's sentences: 11 of 11.
    doc = [{"id": "1", "references": ["今天天气很好。我们去公园。"]}]
    swapped = ["我们去公园。今天天气很好。"]
    assert run("rougeL", swapped, doc, language="zh").value == pytest.approx(6 / 11)
    assert run("rougeLsum", swapped, doc, language="zh").value == pytest.approx(1.0)
    assert one_sentence_per_line(swapped[0]) == "我们去公园。\n今天天气很好。"


# -- SQuAD normalisation ------------------------------------------------------------------------
def test_squad_normalisation_follows_mlqa_per_language():
    assert normalize_answer("北京大学。", "zh") == "北 京 大 学"
    assert normalize_answer("नई दिल्ली।", "hi") == "नई दिल्ली"
    assert normalize_answer("El Museo del Prado.", "es") == "museo del prado"
    assert normalize_answer("die Berliner Mauer", "de") == "berliner mauer"
    assert normalize_answer("المكتبة", "ar") == "مكتبة"
    assert normalize_answer("«Le Monde»", "fr") == "le monde"  # French: MLQA lists no articles
    # English and no language: the official SQuAD normaliser (ASCII punctuation only).
    assert normalize_answer("The «Cat»!") == "«cat»"
    assert normalize_answer("The «Cat»!", "en") == "«cat»"


def test_squad_scores_in_chinese_and_hindi_by_hand():
    zh = [{"id": "1", "answers": ["北京大学"]}]
    # Characters 北 京 of 北 京 大 学: P = 1, R = 1/2, F1 = 2/3.
    assert run("f1", ["北京"], zh, family="qa", language="zh").value == pytest.approx(200 / 3)
    assert run("f1", ["北京"], zh, family="qa").value == 0.0  # one "word" each without zh
    hi = [{"id": "1", "answers": ["नई दिल्ली"]}]
    assert run("exact_match", ["नई दिल्ली।"], hi, family="qa", language="hi").value == 100.0
    assert run("exact_match", ["नई दिल्ली।"], hi, family="qa").value == 0.0


def test_hand_values_are_what_they_claim():
    assert math.isclose(100 * (6 / 7 * 4 / 6 * 2 / 5 * 1 / 4) ** 0.25, 48.89, abs_tol=0.01)
