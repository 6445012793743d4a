"""Scans: cumsum (ICumulativeLayer) and diff.

The other math ops live in their own modules, re-exported here: topk/sort/argmax/argmin/max/min
(:mod:`~trtgraph.handlers.sort`), remainder/fmod (:mod:`~trtgraph.handlers.remainder`), einsum
(:mod:`~trtgraph.handlers.einsum`), vector norms (:mod:`~trtgraph.handlers.vector_norm`) and
var/std (:mod:`~trtgraph.handlers.variance`).
"""
from __future__ import annotations

import torch

from ..context import T
from ..registry import register_node_handler
from .reduce import with_dtype
from .math_common import _expected_dtype, _numel  # noqa: F401
from .sort import (TOPK_MAX_K, argmax, argmin, argsort, max_, max_dim, max_other, min_, min_dim,  # noqa: F401
                   min_other, sort, topk, topk_, _arg, _axis_length, _extreme, _full_reduce, _minmax_dim,
                   _pairwise, _validate_sort, _validate_topk)
from .remainder import (fmod, remainder, _HUGE, _SPLIT, _exact_residual, _f32, _float_fmod,  # noqa: F401
                        _float_operands, _is_negative, _split)
from .einsum import einsum, parse_einsum, _LETTERS, _einsum_layer, _einsum_products  # noqa: F401
from .vector_norm import (frobenius_norm, linalg_vector_norm, norm, vector_norm, _dims, _float,  # noqa: F401
                          _reduction_input, _validate_norm)
from .variance import std, std_mean, var, var_mean, variance, _correction, _var_args  # noqa: F401


# ---------------------------------------------------------------------------- cumsum

@register_node_handler("aten::cumsum(Tensor self, int dim, *, ScalarType? dtype=None) -> Tensor")
def cumsum(ctx, self, dim, dtype=None):
    """``dtype`` casts the input first; without it integers and bools accumulate in int64 (the
    traced output dtype says which)."""
    x = with_dtype(ctx, self, dtype)
    want = _expected_dtype(ctx) or ctx.dtype(x)
    x = ctx.cast(x, want)
    rank = ctx.rank(x)
    if rank == 0:
        return ctx.identity(x)
    axis = ctx.constant(torch.tensor(ctx.axis(dim, rank), dtype=torch.int32))
    layer = ctx.network.add_cumulative(x, axis, T().CumulativeOperation.SUM, False, False)
    return layer.get_output(0)


# ---------------------------------------------------------------------------- diff

@register_node_handler("aten::diff(Tensor self, int n=1, int dim=-1, Tensor? prepend=None, Tensor? append=None) -> Tensor")
def diff(ctx, self, n=1, dim=-1, prepend=None, append=None):
    x = ctx.as_tensor(self)
    rank = ctx.rank(x)
    d = ctx.axis(dim, rank)
    dtype = ctx.dtype(x)
    parts = [p for p in (prepend, x, append) if p is not None]
    if len(parts) > 1:
        x = ctx.concat([ctx.as_tensor(p, dtype) for p in parts], d)
    from .shape import slice_

    for _ in range(int(n)):
        length = ctx.shape(x)[d]
        if 0 <= length <= 1:
            return slice_(ctx, x, d, 0, 0, 1)
        hi = slice_(ctx, x, d, 1, None, 1)
        lo = slice_(ctx, x, d, 0, -1, 1)
        x = ctx.elementwise(hi, lo, "XOR" if dtype == torch.bool else "SUB")
    return x
