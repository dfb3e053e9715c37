"""Prompting of language models, shared by the ``hf``, ``vllm`` and ``http`` backends.

* :mod:`.templates` — each family's default template, filling one with an example, stop texts;
* :mod:`.fewshot` — demonstrations: a fixed file, or sampled per example from a split;
* :mod:`.build` — one example's model input (shots, chat turns, label continuations) and the
  language-model options every such backend takes;
* :mod:`.seq2seq` — T5-style task prefixes and target-language tokens of seq2seq models;
* :mod:`.answers` — a continuation parsed into the family's prediction, label
  log-likelihoods compared.

Pure Python (numpy at most): a backend passes in what needs its model (the tokenizer's chat
template).
"""
