"""ATTENTION_INPUT / ATTENTION_OUTPUT (IAttention), ROTARY_EMBEDDING and KV_CACHE_UPDATE."""
from __future__ import annotations

import torch

from ..errors import EvaluationError
from ._core import attr, enum_name, layer_impl, out_dtype


def _attention_inputs(layer, inputs):
    """q, k, v plus the optional mask / query_lengths / key_value_lengths, matched by name."""
    attention = layer.attention
    roles = {}
    for role in ("mask", "query_lengths", "key_value_lengths"):
        tensor = getattr(attention, role, None)
        if tensor is not None:
            roles[tensor.name] = role
    found = {}
    for j in range(3, layer.num_inputs):
        tensor = layer.get_input(j)
        if tensor is not None and inputs[j] is not None:
            found[roles.get(tensor.name, "mask")] = inputs[j]
    return inputs[0], inputs[1], inputs[2], found


def _causal_mask(kind, sq, skv):
    """UPPER_LEFT: query i sees keys j <= i; LOWER_RIGHT aligns the diagonal to the last key."""
    rows = torch.arange(sq).unsqueeze(1)
    cols = torch.arange(skv).unsqueeze(0)
    shift = skv - sq if kind == "LOWER_RIGHT" else 0
    return cols <= rows + shift


@layer_impl("ATTENTION_INPUT")
def attention_input(layer, inputs):
    """softmax(Q K^T + mask) V on [batch, heads, seq, dim] (no scaling: TensorRT's attention
    does not scale; callers scale Q/K). Key/value heads are shared by groups of query heads.
    A boolean mask keeps True positions; a float mask is added to the scores."""
    q, k, v, extra = _attention_inputs(layer, inputs)
    attention = layer.attention
    if enum_name(attr(attention, "query_form", "PADDED_BHND")) != "PADDED_BHND":
        raise EvaluationError("only the PADDED_BHND attention layout is implemented")
    qf, kf, vf = q.float(), k.float(), v.float()
    groups = qf.shape[1] // kf.shape[1]
    if groups > 1:
        kf, vf = kf.repeat_interleave(groups, dim=1), vf.repeat_interleave(groups, dim=1)
    scores = qf @ kf.transpose(-1, -2)
    keep = torch.ones(scores.shape, dtype=torch.bool)
    if bool(attr(attention, "causal", False)):
        keep = keep & _causal_mask(enum_name(attention.causal_kind), scores.shape[-2], scores.shape[-1])
    mask = extra.get("mask")
    if mask is not None and mask.dtype == torch.bool:
        keep = keep & mask
    elif mask is not None:
        scores = scores + mask.float()
    if "key_value_lengths" in extra:
        lengths = extra["key_value_lengths"].long().reshape(-1, 1, 1, 1)
        keep = keep & (torch.arange(scores.shape[-1]).reshape(1, 1, 1, -1) < lengths)
    scores = scores.masked_fill(~keep, float("-inf"))
    if enum_name(attr(attention, "norm_op", "SOFTMAX")) == "SOFTMAX":
        scores = torch.softmax(scores, dim=-1)
    return [(scores @ vf).to(out_dtype(layer))]


@layer_impl("ATTENTION_OUTPUT")
def attention_output(layer, inputs):
    return [inputs[0].to(out_dtype(layer))]


@layer_impl("ROTARY_EMBEDDING")
def rotary_embedding(layer, inputs):
    """x: [batch, heads, seq, dim]; cos/sin: [max_pos, rd/2] indexed by position_ids [batch, seq]
    (or already [batch, seq, rd/2]). Rotates the first ``rotary_embedding_dim`` (0: all) channels,
    as halves or, with ``interleaved``, as even/odd pairs."""
    x, cos, sin = inputs[0].float(), inputs[1].float(), inputs[2].float()
    positions = inputs[3] if len(inputs) > 3 else None
    if positions is not None:
        cos, sin = cos[positions.long()], sin[positions.long()]
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)  # [batch, 1, seq, rd/2]
    dim = int(attr(layer, "rotary_embedding_dim", 0)) or x.shape[-1]
    rot, rest = x[..., :dim], x[..., dim:]
    if bool(attr(layer, "interleaved", False)):
        a, b = rot[..., 0::2], rot[..., 1::2]
        rotated = torch.stack([a * cos - b * sin, b * cos + a * sin], dim=-1).flatten(-2)
    else:
        a, b = rot[..., : dim // 2], rot[..., dim // 2:]
        rotated = torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)
    return [torch.cat([rotated, rest], dim=-1).to(out_dtype(layer))]


@layer_impl("KV_CACHE_UPDATE")
def kv_cache_update(layer, inputs):
    """cache [batch, heads, max_seq, dim]; update [batch, heads, n, dim] is written at
    sequence position write_indices[b] of batch entry b."""
    cache, update, indices = inputs[0], inputs[1], inputs[2]
    out = cache.clone()
    n = update.shape[2]
    for b in range(cache.shape[0]):
        start = int(indices.reshape(-1)[b])
        out[b, :, start:start + n] = update[b].to(out.dtype)
    return [out.to(out_dtype(layer))]
