"""Tiny random-weight transformers checkpoints with locally trained tokenizers.

Every builder writes a folder that ``hf:<folder>`` loads like a hub checkpoint: ``config.json``,
``model.safetensors`` and a fast tokenizer trained here with the ``tokenizers`` library on the
starter data sets (a few thousand words), so words split into several sub-tokens.  Nothing
is downloaded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)
from transformers import PreTrainedTokenizerFast

REPO = Path(__file__).resolve().parent.parent
TINY = {"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 37}


def corpus_lines() -> list[str]:
    """Plain text of the original starter sets (``starter_*.jsonl``: reviews, NER, QA, STS),
    one per line; later data sets are left out so the tiny vocabulary stays the same."""
    lines: list[str] = []
    for path in sorted((REPO / "tasks").glob("*/data/starter_*.jsonl")):
        for raw in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(raw)
            for key in ("text", "context", "question", "sentence1", "sentence2", "source"):
                if isinstance(row.get(key), str):
                    lines.append(row[key])
            if isinstance(row.get("tokens"), list):
                lines.append(" ".join(row["tokens"]))
    return lines


def wordpiece_tokenizer(vocab_size: int = 220, model_max_length: int = 128
                        ) -> PreTrainedTokenizerFast:
    """A lower-casing BERT-style WordPiece tokenizer with a deliberately small vocabulary."""
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(corpus_lines(), trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=specials, show_progress=False))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tok.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=model_max_length)


def seq2seq_tokenizer(extra_tokens: Sequence[str] = (), vocab_size: int = 300,
                      model_max_length: int = 128) -> PreTrainedTokenizerFast:
    """A T5-like BPE tokenizer (``<pad>``=0, ``</s>``=1 appended, ``<unk>``=2, ``<s>``=3)."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    specials = ["<pad>", "</s>", "<unk>", "<s>", *extra_tokens]
    tok.train_from_iterator(corpus_lines(), trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, show_progress=False))
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
        bos_token="<s>", model_max_length=model_max_length,
        extra_special_tokens=list(extra_tokens) or None)


def causal_tokenizer(vocab_size: int = 1000, model_max_length: int = 1024
                     ) -> PreTrainedTokenizerFast:
    """A GPT-2-like byte-level BPE tokenizer; ``<|endoftext|>`` is BOS/EOS, no pad token."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus_lines(), trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<|endoftext|>"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
        unk_token="<|endoftext|>", model_max_length=model_max_length)


def _save(folder: Path, model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _bert_config(tokenizer: PreTrainedTokenizerFast, **extra):
    from transformers import BertConfig

    return BertConfig(vocab_size=len(tokenizer), num_hidden_layers=extra.pop("layers", 1),
                      max_position_embeddings=128, pad_token_id=tokenizer.pad_token_id,
                      **TINY, **extra)


def build_seq_cls(folder: Path, id2label: dict[int, str], *,
                  bias: Iterable[float] | None = None, seed: int = 0) -> Path:
    """A BERT sequence classifier; ``bias`` (one value per label) can make a label dominate."""
    from transformers import BertForSequenceClassification

    torch.manual_seed(seed)
    tokenizer = wordpiece_tokenizer()
    config = _bert_config(tokenizer, id2label=id2label,
                          label2id={v: k for k, v in id2label.items()})
    model = BertForSequenceClassification(config).eval()
    if bias is not None:
        with torch.no_grad():
            model.classifier.bias.copy_(torch.tensor(list(bias)))
    return _save(folder, model, tokenizer)


def build_token_cls(folder: Path, id2label: dict[int, str], *, seed: int = 0) -> Path:
    """A random one-layer BERT token classifier."""
    from transformers import BertForTokenClassification

    torch.manual_seed(seed)
    tokenizer = wordpiece_tokenizer(model_max_length=64)
    config = _bert_config(tokenizer, id2label=id2label,
                          label2id={v: k for k, v in id2label.items()})
    return _save(folder, BertForTokenClassification(config).eval(), tokenizer)


def build_first_piece_tagger(folder: Path) -> Path:
    """A token classifier that tags word-initial pieces B-PER and ``##`` pieces I-MISC.

    It has no attention layer; the embedding of every piece is ``±(1, -1, 0, …)`` by whether
    it continues a word, so a word's tag is B-PER exactly when it is read from its first
    sub-token (a last-piece alignment would give B-MISC to split words).
    """
    from transformers import BertForTokenClassification

    tokenizer = wordpiece_tokenizer(model_max_length=64)
    id2label = {0: "O", 1: "B-PER", 2: "I-MISC"}
    config = _bert_config(tokenizer, layers=0, id2label=id2label,
                          label2id={v: k for k, v in id2label.items()})
    model = BertForTokenClassification(config).eval()
    emb = model.bert.embeddings
    with torch.no_grad():
        emb.position_embeddings.weight.zero_()
        emb.token_type_embeddings.weight.zero_()
        emb.LayerNorm.weight.fill_(1.0)
        emb.LayerNorm.bias.zero_()
        weight = torch.zeros_like(emb.word_embeddings.weight)
        for token, index in tokenizer.get_vocab().items():
            sign = 1.0 if token.startswith("##") else -1.0
            weight[index, 0], weight[index, 1] = sign, -sign
        emb.word_embeddings.weight.copy_(weight)
        model.classifier.weight.zero_()
        model.classifier.bias.zero_()
        model.classifier.weight[1, 0] = -5.0
        model.classifier.weight[2, 0] = 5.0
    return _save(folder, model, tokenizer)


def build_qa(folder: Path, *, seed: int = 0) -> Path:
    """A random one-layer BERT extractive QA model."""
    from transformers import BertForQuestionAnswering

    torch.manual_seed(seed)
    tokenizer = wordpiece_tokenizer(model_max_length=128)
    return _save(folder, BertForQuestionAnswering(_bert_config(tokenizer)).eval(), tokenizer)


def build_encoder(folder: Path, *, seed: int = 0) -> Path:
    """A random one-layer bare BERT encoder (``BertModel``)."""
    from transformers import BertModel

    torch.manual_seed(seed)
    tokenizer = wordpiece_tokenizer()
    return _save(folder, BertModel(_bert_config(tokenizer)).eval(), tokenizer)


def build_t5(folder: Path, *, task_specific_params: dict | None = None, seed: int = 0) -> Path:
    """A random one-layer T5 with T5-like special tokens."""
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(seed)
    tokenizer = seq2seq_tokenizer()
    config = T5Config(vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=37, num_layers=1,
                      num_heads=2, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
                      task_specific_params=task_specific_params)
    return _save(folder, T5ForConditionalGeneration(config).eval(), tokenizer)


def build_marian(folder: Path, *, lang_tokens: Sequence[str] = (">>de<<", ">>fr<<"),
                 seed: int = 0) -> Path:
    """A random Marian MT model whose vocabulary has ``>>xx<<`` target-language tokens."""
    from transformers import MarianConfig, MarianMTModel

    torch.manual_seed(seed)
    tokenizer = seq2seq_tokenizer(extra_tokens=lang_tokens)
    config = MarianConfig(vocab_size=len(tokenizer), d_model=32, encoder_layers=1,
                          decoder_layers=1, encoder_attention_heads=2,
                          decoder_attention_heads=2, encoder_ffn_dim=37, decoder_ffn_dim=37,
                          max_position_embeddings=128, pad_token_id=0, eos_token_id=1,
                          decoder_start_token_id=0, forced_eos_token_id=1)
    return _save(folder, MarianMTModel(config).eval(), tokenizer)


def build_m2m(folder: Path, *, lang_tokens: Sequence[str] = ("__en__", "__de__"),
              seed: int = 0) -> Path:
    """A random M2M100 model whose tokenizer has ``__xx__`` language codes (forced BOS)."""
    from transformers import M2M100Config, M2M100ForConditionalGeneration

    torch.manual_seed(seed)
    tokenizer = seq2seq_tokenizer(extra_tokens=lang_tokens)
    config = M2M100Config(vocab_size=len(tokenizer), d_model=32, encoder_layers=1,
                          decoder_layers=1, encoder_attention_heads=2,
                          decoder_attention_heads=2, encoder_ffn_dim=37, decoder_ffn_dim=37,
                          max_position_embeddings=128, pad_token_id=0, eos_token_id=1,
                          bos_token_id=3, decoder_start_token_id=1, init_std=0.5)
    return _save(folder, M2M100ForConditionalGeneration(config).eval(), tokenizer)


def build_gpt2(folder: Path, *, seed: int = 0, init: float = 0.5) -> Path:
    """A random two-layer GPT-2 with a byte-level BPE tokenizer that has no pad token
    (``init``: the weights' standard deviation; 0.5 gives peaked, varied continuations)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    tokenizer = causal_tokenizer()
    config = GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=2,
                        n_positions=1024, bos_token_id=0, eos_token_id=0,
                        initializer_range=init)
    return _save(folder, GPT2LMHeadModel(config).eval(), tokenizer)


def metaspace_tokenizer(vocab_size: int = 400, model_max_length: int = 512
                        ) -> PreTrainedTokenizerFast:
    """A SentencePiece-like BPE (``▁`` marks word starts, ``<s>`` prepended, ``</s>`` EOS,
    no pad token): the other common causal-LM tokenizer family (Llama, Mistral)."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(corpus_lines(), trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False))
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        model_max_length=model_max_length)


def build_llama(folder: Path, *, seed: int = 0, init: float = 0.5) -> Path:
    """A random two-layer Llama (rotary positions, grouped-query attention) with a
    SentencePiece-like tokenizer, so most words and labels are several tokens."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    tokenizer = metaspace_tokenizer()
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=48,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=512, bos_token_id=1, eos_token_id=2,
                         initializer_range=init)
    return _save(folder, LlamaForCausalLM(config).eval(), tokenizer)


def with_chat_template(source: Path, folder: Path, template: str) -> Path:
    """A copy of the checkpoint in ``source`` whose tokenizer has ``template`` as its chat
    template."""
    import shutil

    shutil.copytree(source, folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["chat_template"] = template
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder
