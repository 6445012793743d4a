"""Attention as matrix multiplies and a softmax: ``scaled_dot_product_attention`` and
``_native_multi_head_attention`` (what ``nn.MultiheadAttention`` traces to in inference).

- sdpa: ``softmax(q k^T * scale + mask) v``; a boolean mask keeps its True positions, a float mask
  is added, ``is_causal`` keeps keys ``j <= i`` (top-left aligned). Rows whose every key is masked
  give 0, as torch's safe softmax does. ``dropout_p`` > 0 is refused (random). ``enable_gqa``
  repeats each key/value head for its group of query heads.
- native MHA: in-projection (one packed weight), ``H`` heads with q scaled by ``1/sqrt(d_head)``,
  out-projection. Its mask is converted to bool (True = masked out, whatever the dtype) and
  reshaped by ``mask_type`` (0: [L, S], 1: key padding [B, S], 2: broadcastable to [B, H, L, S]);
  a fully masked row gives NaN, as in torch. With ``need_weights`` the second output is the
  attention (averaged over heads if ``average_attn_weights``), else None.
- ``_transformer_encoder_layer_fwd`` (``nn.TransformerEncoderLayer`` in inference): native MHA,
  residuals, layer norms and the ReLU/GELU feed-forward block.
"""
from __future__ import annotations

import math

import torch

from ..context import T
from ..registry import register_node_handler
from .linear import linear as _linear
from .norm import layer_norm as _layer_norm
from .reduce import softmax_layer


def _bmm(ctx, a, b, transpose_b=False):
    """Batched matmul at equal ranks (batch dims broadcast), optionally with ``b`` transposed."""
    a, b = ctx.as_tensor(a), ctx.as_tensor(b)
    rank = max(ctx.rank(a), ctx.rank(b))
    a, b = ctx.unsqueeze_to_rank(a, rank), ctx.unsqueeze_to_rank(b, rank)
    op_b = T().MatrixOperation.TRANSPOSE if transpose_b else T().MatrixOperation.NONE
    return ctx.network.add_matrix_multiply(a, T().MatrixOperation.NONE, b, op_b).get_output(0)


def _neg_inf(ctx, dtype):
    return torch.tensor(float("-inf"), dtype=torch.float32).to(dtype)


def repeat_heads(ctx, x, groups, axis=-3):
    """``repeat_interleave(groups, dim=axis)``: [.., H, ..] -> [.., H * groups, ..] (stride-0 slice)."""
    if groups == 1:
        return x
    dims = ctx.dims(x)
    a = ctx.axis(axis, len(dims))
    y = ctx.reshape(x, dims[:a + 1] + [1] + dims[a + 1:])
    target = dims[:a + 1] + [groups] + dims[a + 1:]
    stride = [1] * len(target)
    stride[a + 1] = 0
    y = ctx.slice(y, [0] * len(target), target, stride)
    return ctx.reshape(y, dims[:a] + [ctx.int_op(dims[a], groups, "mul")] + dims[a + 1:])


def _causal_keep(ctx, q, k):
    """[L, S] bool, True where key j <= query i (torch's top-left aligned causal mask)."""
    L, S = ctx.dim_size(q, -2), ctx.dim_size(k, -2)
    if not ctx.is_tensor(L) and not ctx.is_tensor(S):
        return torch.ones(L, S, dtype=torch.bool).tril()
    from .creation import _arange

    rows = ctx.reshape(_arange(ctx, 0, L, 1, torch.int64), [L, 1])
    cols = ctx.reshape(_arange(ctx, 0, S, 1, torch.int64), [1, S])
    return ctx.unary(ctx.elementwise(cols, rows, "GREATER", dtype=torch.int64), "NOT")


def _keeps_everything(mask, scores_shape) -> bool:
    """A constant mask that changes nothing: all True (boolean) or all zero (additive), and
    broadcasting to the scores without enlarging them."""
    if not isinstance(mask, torch.Tensor) or mask.dim() > len(scores_shape):
        return False
    for m, s in zip(reversed(mask.shape), reversed(scores_shape)):
        if m != 1 and m != s:
            return False
    return bool(mask.all()) if mask.dtype == torch.bool else bool((mask == 0).all())


def _validate_sdpa(args):
    p = args.get("dropout_p")
    if not isinstance(p, (int, float)) or p != 0:
        return (f"scaled_dot_product_attention with dropout_p={p!r}: the op drops attention weights at random "
                "whatever the module's mode; pass dropout_p=0.0 in inference "
                "(e.g. dropout_p=self.p if self.training else 0.0)")
    return None


@register_node_handler("aten::scaled_dot_product_attention(Tensor query, Tensor key, Tensor value, "
                       "Tensor? attn_mask=None, float dropout_p=0., bool is_causal=False, *, float? scale=None, "
                       "bool enable_gqa=False) -> Tensor", validator=_validate_sdpa)
def scaled_dot_product_attention(ctx, query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                                 scale=None, enable_gqa=False):
    dtype = ctx.result_dtype(query, key, value)
    q, k, v = (ctx.as_tensor(t, dtype) for t in (query, key, value))
    E = ctx.require_static(q, "query", [-1], "the head size sets the scale")[-1] if scale is None \
        else ctx.shape(q)[-1]
    if enable_gqa and ctx.rank(q) >= 3:
        hq, hk = ctx.shape(q)[-3], ctx.shape(k)[-3]
        if hq != hk:
            k, v = repeat_heads(ctx, k, hq // hk), repeat_heads(ctx, v, hq // ctx.shape(v)[-3])
    factor = scale if scale is not None else 1.0 / math.sqrt(E)
    if factor != 1.0:
        q = ctx.elementwise(q, float(factor), "PROD")
    scores = _bmm(ctx, q, k, transpose_b=True)
    masked = False
    if is_causal:
        keep = _causal_keep(ctx, q, k)
        scores = ctx.select(keep, scores, _neg_inf(ctx, dtype), dtype=dtype)
        masked = True
    if attn_mask is not None and _keeps_everything(attn_mask, ctx.shape(scores)):
        masked = True  # a constant mask that masks nothing (export's all-true masks): no layers for it
    elif attn_mask is not None:
        if ctx.dtype(attn_mask) == torch.bool:
            scores = ctx.select(attn_mask, scores, _neg_inf(ctx, dtype), dtype=dtype)
        else:
            scores = ctx.elementwise(scores, attn_mask, "SUM", dtype=dtype)
        masked = True
    probs = softmax_layer(ctx, scores, -1)
    if masked:
        # torch's safe softmax: a row whose scores are all -inf gives zeros, not NaN
        row_max = ctx.reduce(scores, "MAX", [-1], True)
        dead = ctx.elementwise(row_max, _neg_inf(ctx, dtype), "EQUAL", dtype=dtype)
        probs = ctx.select(dead, torch.tensor(0.0).to(dtype), probs, dtype=dtype)
    return _bmm(ctx, probs, v)


def _validate_mha(args):
    mask_type = args.get("mask_type")
    if args.get("mask") is not None and mask_type not in (0, 1, 2, None):
        return f"_native_multi_head_attention with mask_type={mask_type}"
    return None


@register_node_handler("aten::_native_multi_head_attention(Tensor query, Tensor key, Tensor value, int embed_dim, "
                       "int num_head, Tensor qkv_weight, Tensor qkv_bias, Tensor proj_weight, Tensor proj_bias, "
                       "Tensor? mask=None, bool need_weights=True, bool average_attn_weights=True, "
                       "int? mask_type=None) -> (Tensor, Tensor)", validator=_validate_mha)
def native_multi_head_attention(ctx, query, key, value, embed_dim, num_head, qkv_weight, qkv_bias, proj_weight,
                                proj_bias, mask=None, need_weights=True, average_attn_weights=True, mask_type=None):
    D, H = int(embed_dim), int(num_head)
    dh = D // H

    def part(i, t):
        return None if t is None else t[i * D:(i + 1) * D]

    if query is key and key is value and isinstance(qkv_weight, torch.Tensor):
        qkv = _linear(ctx, query, qkv_weight, qkv_bias)
        dims = ctx.dims(qkv)
        rank = len(dims)
        pieces = []
        for i in range(3):
            start = [0] * rank
            start[-1] = i * D
            pieces.append(ctx.slice(qkv, start, dims[:-1] + [D], [1] * rank))
        q, k, v = pieces
    else:
        q = _linear(ctx, query, part(0, qkv_weight), part(0, qkv_bias))
        k = _linear(ctx, key, part(1, qkv_weight), part(1, qkv_bias))
        v = _linear(ctx, value, part(2, qkv_weight), part(2, qkv_bias))

    def heads(t):  # [B, T, D] -> [B, H, T, dh]
        b, n = ctx.dim_size(t, 0), ctx.dim_size(t, 1)
        return ctx.permute(ctx.reshape(t, [b, n, H, dh]), (0, 2, 1, 3))

    q, k, v = heads(q), heads(k), heads(v)
    B, L, S = ctx.dim_size(q, 0), ctx.dim_size(q, 2), ctx.dim_size(k, 2)
    q = ctx.elementwise(q, 1.0 / math.sqrt(dh), "PROD")
    scores = _bmm(ctx, q, k, transpose_b=True)
    if mask is not None:
        m = mask if ctx.dtype(mask) == torch.bool else ctx.unary(ctx.elementwise(mask, 0.0, "EQUAL"), "NOT")
        if not ctx.is_tensor(m) and not isinstance(m, torch.Tensor):
            m = ctx.as_tensor(m)
        if mask_type == 0:
            m = ctx.reshape(m, [1, 1, L, S]) if ctx.is_tensor(m) else m.reshape(1, 1, L, S)
        elif mask_type == 1:
            m = ctx.reshape(m, [B, 1, 1, S]) if ctx.is_tensor(m) else m.reshape(B, 1, 1, S)
        dtype = ctx.dtype(scores)
        scores = ctx.select(m, _neg_inf(ctx, dtype), scores, dtype=dtype)
    probs = softmax_layer(ctx, scores, -1)
    out = _bmm(ctx, probs, v)
    out = ctx.reshape(ctx.permute(out, (0, 2, 1, 3)), [B, L, D])
    out = _linear(ctx, out, proj_weight, proj_bias)
    if not need_weights:
        return out, None
    weights = ctx.reduce(probs, "AVG", [1], False) if average_attn_weights else probs
    return out, weights


@register_node_handler("aten::_transformer_encoder_layer_fwd(Tensor src, int embed_dim, int num_heads, "
                       "Tensor qkv_weight, Tensor qkv_bias, Tensor proj_weight, Tensor proj_bias, bool use_gelu, "
                       "bool norm_first, float eps, Tensor norm_weight_1, Tensor norm_bias_1, Tensor norm_weight_2, "
                       "Tensor norm_bias_2, Tensor ffn_weight_1, Tensor ffn_bias_1, Tensor ffn_weight_2, "
                       "Tensor ffn_bias_2, Tensor? mask=None, int? mask_type=None) -> Tensor",
                       validator=_validate_mha)
def transformer_encoder_layer(ctx, src, embed_dim, num_heads, qkv_weight, qkv_bias, proj_weight, proj_bias,
                              use_gelu, norm_first, eps, norm_weight_1, norm_bias_1, norm_weight_2, norm_bias_2,
                              ffn_weight_1, ffn_bias_1, ffn_weight_2, ffn_bias_2, mask=None, mask_type=None):
    """``nn.TransformerEncoderLayer``'s inference fast path: self-attention (native MHA) and a
    ReLU/GELU feed-forward block, each with a residual, layer norms before (norm_first) or after."""
    D = int(embed_dim)

    def norm(x, w, b):
        return _layer_norm(ctx, x, [D], w, b, eps)

    x = norm(src, norm_weight_1, norm_bias_1) if norm_first else src
    x, _ = native_multi_head_attention(ctx, x, x, x, D, num_heads, qkv_weight, qkv_bias, proj_weight, proj_bias,
                                       mask, False, True, mask_type)
    x = ctx.elementwise(x, src, "SUM")
    if not norm_first:
        x = norm(x, norm_weight_1, norm_bias_1)
    residual = x
    if norm_first:
        x = norm(x, norm_weight_2, norm_bias_2)
    x = _linear(ctx, x, ffn_weight_1, ffn_bias_1)
    x = ctx.activation(x, "GELU_ERF" if use_gelu else "RELU")
    x = _linear(ctx, x, ffn_weight_2, ffn_bias_2)
    x = ctx.elementwise(x, residual, "SUM")
    if not norm_first:
        x = norm(x, norm_weight_2, norm_bias_2)
    return x
