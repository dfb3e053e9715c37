"""Label log-likelihood with one forward pass per prompt, log-probabilities only where scored.

Causal LMs: the prompts of a batch run once, left-padded with explicit position ids; every
label's first token is read at the prompt's last position.  Labels longer than one token are
packed behind the prompt in the same row — ``prompt | label₁[:-1] | label₂[:-1] | …`` — with
a 4-D attention mask that lets each label see the prompt and its own earlier tokens only, and
position ids that continue the prompt's; the logits are kept only for the last prompt
position and the label segments (``logits_to_keep``).  So each prompt is encoded once and
each label token once, in one forward pass, with no key/value cache to copy.  Attention
implementations that take no 4-D mask (flash attention) continue the labels from the
prompts' cached keys/values instead; models that take no position ids (ALiBi) fall back to
one right-padded row per (prompt, label).  Encoder-decoder models run the encoder once per
prompt and the decoder once per (prompt, label) on the shared encoder states.  The
log-softmax is taken only at the scored positions.

:func:`evalsuite.prompts.answers.normalized` turns the sums into the scores a label is
chosen by (``normalize=sum|token|char|calibrated``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from evalsuite.errors import RunError
from evalsuite.models.hf.runtime import Runtime
from evalsuite.prompts.answers import LabelScores


def _cache_of(output: Any) -> Any:
    cache = getattr(output, "cache", None)
    return cache if cache is not None else getattr(output, "past_key_values", None)


def causal_label_logprobs(rt: Runtime, contexts: Sequence[Sequence[int]],
                          continuations: Sequence[Sequence[Sequence[int]]]) -> LabelScores:
    """Summed log-probabilities of ``continuations[i][j]`` (token ids, at least one each)
    after ``contexts[i]`` (token ids, at least one each)."""
    if not rt.accepts("position_ids"):  # e.g. ALiBi models: positions come from the mask
        return _row_per_label(rt, contexts, continuations)
    n, n_labels = len(contexts), len(continuations[0])
    width = max(len(c) for c in contexts)
    ids = np.full((n, width), rt.tokenizer.pad_token_id, dtype=np.int64)
    mask = np.zeros((n, width), dtype=np.int64)
    for i, ctx in enumerate(contexts):
        ids[i, width - len(ctx):] = ctx
        mask[i, width - len(ctx):] = 1
    firsts = np.asarray([[cont[0] for cont in row] for row in continuations], dtype=np.int64)
    multi = [(i, j) for i, row in enumerate(continuations) for j, cont in enumerate(row)
             if len(cont) > 1]
    tokens = np.asarray([[len(cont) for cont in row] for row in continuations])
    if multi and packable(rt):
        return _packed(rt, ids, mask, continuations, tokens)
    with rt.phase("transfer"):
        input_ids, attention, first_ids = rt.to_device(ids), rt.to_device(mask), \
            rt.to_device(firsts)
    positions = (attention.cumsum(dim=1) - 1).clamp(min=0)
    kwargs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention,
                              "position_ids": positions, "use_cache": bool(multi)}
    if rt.accepts("logits_to_keep"):
        kwargs["logits_to_keep"] = 1
    with rt.phase("forward"):
        out = rt.model(**kwargs)
        last = torch.log_softmax(out.logits[:, -1].float(), dim=-1)
        totals = last.gather(1, first_ids).double()  # sums accumulate in float64
        del last
        if multi:
            totals = totals + _continue(rt, _cache_of(out), attention, continuations, multi,
                                        n, n_labels)
    with rt.phase("decode"):
        return LabelScores(totals.double().cpu().numpy(), tokens)


def _row_per_label(rt: Runtime, contexts: Sequence[Sequence[int]],
                   continuations: Sequence[Sequence[Sequence[int]]]) -> LabelScores:
    """For models that take no position ids: one right-padded row per (prompt, label), so
    every token keeps its unpadded position; log-softmax only at the label positions."""
    rows = [(i, [*ctx, *cont[:-1]], len(ctx), cont)
            for i, (ctx, row) in enumerate(zip(contexts, continuations, strict=True))
            for cont in row]
    width = max(len(r[1]) for r in rows)
    k = max(len(r[3]) for r in rows)
    ids = np.full((len(rows), width), rt.tokenizer.pad_token_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    where = np.zeros((len(rows), k), dtype=np.int64)  # position predicting each label token
    targets = np.zeros((len(rows), k), dtype=np.int64)
    scored = np.zeros((len(rows), k), dtype=np.float64)
    for r, (_, tokens, start, cont) in enumerate(rows):
        ids[r, :len(tokens)] = tokens
        mask[r, :len(tokens)] = 1
        where[r, :len(cont)] = np.arange(start - 1, start - 1 + len(cont))
        targets[r, :len(cont)] = cont
        scored[r, :len(cont)] = 1.0
    with rt.phase("forward"):
        logits = rt.model(input_ids=rt.to_device(ids), attention_mask=rt.to_device(mask)).logits
        picked = logits.gather(1, rt.to_device(where)[:, :, None].expand(-1, -1,
                                                                          logits.shape[-1]))
        logp = torch.log_softmax(picked.float(), dim=-1)
        token = logp.gather(2, rt.to_device(targets)[:, :, None]).squeeze(-1).double()
        sums = (token * rt.to_device(scored)).sum(dim=1)
    n_labels = len(continuations[0])
    tokens = np.asarray([[len(cont) for cont in row] for row in continuations])
    with rt.phase("decode"):
        return LabelScores(sums.cpu().numpy().reshape(len(contexts), n_labels), tokens)


def packable(rt: Runtime) -> bool:
    """Whether the model takes a 4-D (additive) attention mask: eager and SDPA attention."""
    implementation = getattr(rt.model.config, "_attn_implementation", None) or "eager"
    return str(implementation) in ("eager", "sdpa")


def _packed(rt: Runtime, ids: np.ndarray, mask: np.ndarray,
            continuations: Sequence[Sequence[Sequence[int]]], tokens: np.ndarray
            ) -> LabelScores:
    """Prompts and every label's tokens but the last in one row each (module docstring)."""
    n, width = ids.shape
    n_labels = len(continuations[0])
    spans = [max(len(row[j]) for row in continuations) - 1 for j in range(n_labels)]
    starts = np.concatenate([[0], np.cumsum(spans)])[:-1]
    packed = int(sum(spans))
    seg_ids = np.zeros((n, packed), dtype=np.int64)
    targets = np.zeros((n, 1 + packed), dtype=np.int64)  # what each kept position predicts
    weight = np.zeros((n, n_labels, 1 + packed), dtype=np.float64)  # position -> label sum
    for i, row in enumerate(continuations):
        for j, cont in enumerate(row):
            start = int(starts[j])
            seg_ids[i, start:start + len(cont) - 1] = cont[:-1]
            targets[i, 1 + start:1 + start + len(cont) - 1] = cont[1:]
            weight[i, j, 1 + start:1 + start + len(cont) - 1] = 1.0
    segment = np.repeat(np.arange(n_labels), spans)
    offsets = np.concatenate([np.arange(span) for span in spans]) if packed else \
        np.zeros(0, dtype=np.int64)
    total = width + packed
    allowed = np.zeros((n, total, total), dtype=bool)
    causal = np.tril(np.ones((total, total), dtype=bool))
    allowed[:, :, :width] = causal[None, :, :width] & (mask[:, None, :] > 0)
    allowed[:, width:, width:] = causal[width:, width:] & (segment[:, None] == segment[None, :])
    allowed[:, np.arange(total), np.arange(total)] = True  # padding rows attend to themselves
    dtype = next(rt.model.parameters()).dtype
    lengths = mask.sum(axis=1, keepdims=True)
    positions = np.concatenate([np.clip(np.cumsum(mask, axis=1) - 1, 0, None),
                                lengths + offsets[None, :]], axis=1)
    with rt.phase("transfer"):
        input_ids = rt.to_device(np.concatenate([ids, seg_ids], axis=1))
        additive = torch.zeros(allowed.shape, dtype=dtype).masked_fill_(
            torch.from_numpy(~allowed), torch.finfo(dtype).min)[:, None]
        attention = rt.to_device(additive)
        position_ids, wanted = rt.to_device(positions), rt.to_device(targets)
        firsts = rt.to_device(np.asarray([[cont[0] for cont in row] for row in continuations],
                                         dtype=np.int64))
    kwargs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention,
                              "position_ids": position_ids, "use_cache": False}
    if rt.accepts("logits_to_keep"):
        kwargs["logits_to_keep"] = 1 + packed
    with rt.phase("forward"):
        logits = rt.model(**kwargs).logits[:, -(1 + packed):]
        logp = torch.log_softmax(logits.float(), dim=-1)
        first = logp[:, 0].gather(1, firsts).double()
        later = logp.gather(2, wanted[:, :, None]).squeeze(-1).double()
        sums = first + torch.einsum("np,nlp->nl", later, rt.to_device(weight))
    with rt.phase("decode"):
        return LabelScores(sums.cpu().numpy(), tokens)


def _continue(rt: Runtime, cache: Any, attention: torch.Tensor,
              continuations: Sequence[Sequence[Sequence[int]]],
              multi: list[tuple[int, int]], n: int, n_labels: int) -> torch.Tensor:
    """Log-probabilities of the second and later tokens of the multi-token labels, run on
    the prompts' cached keys/values (gathered once per label)."""
    if cache is None:
        raise RunError(f"model {rt.name}: returned no key/value cache for multi-token labels")
    k = max(len(continuations[i][j]) for i, j in multi) - 1
    inputs = np.zeros((len(multi), k), dtype=np.int64)
    targets = np.zeros((len(multi), k), dtype=np.int64)
    scored = np.zeros((len(multi), k), dtype=np.float32)
    for p, (i, j) in enumerate(multi):
        cont = continuations[i][j]
        inputs[p, :len(cont) - 1] = cont[:-1]
        targets[p, :len(cont) - 1] = cont[1:]
        scored[p, :len(cont) - 1] = 1.0
    device = attention.device
    rows = torch.as_tensor([i for i, _ in multi], device=device)
    cache.reorder_cache(rows)
    prompt_mask = attention.index_select(0, rows)
    full_mask = torch.cat([prompt_mask, torch.ones((len(multi), k), dtype=prompt_mask.dtype,
                                                   device=device)], dim=1)
    positions = prompt_mask.sum(dim=1, keepdim=True) + torch.arange(k, device=device)[None, :]
    cache_key = "cache" if "cache" in rt.forward_params else "past_key_values"
    out = rt.model(input_ids=rt.to_device(inputs), attention_mask=full_mask,
                   position_ids=positions, **{cache_key: cache})
    logp = torch.log_softmax(out.logits.float(), dim=-1)
    picked = logp.gather(2, rt.to_device(targets)[:, :, None]).squeeze(-1)
    extra = (picked.double() * rt.to_device(scored)).sum(dim=1)
    totals = torch.zeros((n, n_labels), dtype=extra.dtype, device=device)
    totals[rows, torch.as_tensor([j for _, j in multi], device=device)] = extra
    return totals


def seq2seq_label_logprobs(rt: Runtime, enc: Any, labels: Sequence[Sequence[int]]
                           ) -> LabelScores:
    """Summed log-probabilities of each label (token ids) as the decoder's output for each
    encoded input: the encoder runs once per input."""
    from transformers.modeling_outputs import BaseModelOutput

    model = rt.model
    inputs = rt.inputs(enc, ("input_ids", "attention_mask"))
    n, n_labels = inputs["input_ids"].shape[0], len(labels)
    k = max(len(ids) for ids in labels)
    tgt = np.zeros((n_labels, k), dtype=np.int64)
    tmask = np.zeros((n_labels, k), dtype=np.float32)
    for j, ids in enumerate(labels):
        tgt[j, :len(ids)] = ids
        tmask[j, :len(ids)] = 1.0
    with rt.phase("transfer"):
        targets = rt.to_device(np.tile(tgt, (n, 1)))
        weights = rt.to_device(np.tile(tmask, (n, 1)))
    with rt.phase("forward"):
        hidden = model.get_encoder()(**inputs).last_hidden_state
        rows = torch.arange(n, device=hidden.device).repeat_interleave(n_labels)
        masked = torch.where(weights > 0, targets, torch.full_like(targets, -100))
        kwargs: dict[str, Any] = {
            "encoder_outputs": BaseModelOutput(last_hidden_state=hidden.index_select(0, rows)),
            "attention_mask": inputs["attention_mask"].index_select(0, rows)}
        prepare = getattr(model, "prepare_decoder_input_ids_from_labels", None)
        if prepare is not None:
            kwargs["decoder_input_ids"] = prepare(labels=masked)
        else:
            kwargs["labels"] = masked
        logits = model(**kwargs).logits
        logp = torch.log_softmax(logits.float(), dim=-1)
        picked = logp.gather(2, targets[:, :, None]).squeeze(-1).double() * weights
    with rt.phase("decode"):
        sums = picked.sum(dim=1).view(n, n_labels).double().cpu().numpy()
        return LabelScores(sums, np.tile(tmask.sum(axis=1).astype(int), (n, 1)))
