"""Reductions and softmax (axes are bitmasks in TensorRT; softmax axes are always set)."""
from __future__ import annotations

import torch

from ..registry import register_node_handler


def _dims(ctx, x, dim):
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return list(range(ctx.rank(x)))
    return list(dim) if isinstance(dim, (list, tuple)) else [dim]


def _reduce(ctx, x, op, dim, keepdim):
    """TensorRT reduces numbers only: bools (amax/amin) go through int32."""
    x = ctx.as_tensor(x)
    if ctx.rank(x) == 0:
        for d in _dims(ctx, x, dim):
            ctx.axis(d, 1)  # torch accepts dim 0 or -1 of a 0-d tensor, and nothing else
        return ctx.identity(x)
    if ctx.dtype(x) == torch.bool:
        y = ctx.reduce(ctx.cast(x, torch.int32), op, _dims(ctx, x, dim), keepdim)
        return ctx.cast(y, torch.bool)
    return ctx.reduce(x, op, _dims(ctx, x, dim), keepdim)


def with_dtype(ctx, x, dtype):
    """The input cast to a ``dtype=`` argument first, as torch does (``sum(x, dtype=torch.int32)``
    truncates a float ``x`` before summing). The argument arrives as a ScalarType number; the op's
    result has that dtype, so the traced output dtype names it."""
    x = ctx.as_tensor(x)
    if dtype is None:
        return x
    tt = ctx.expected[0] if ctx.expected else None
    if tt is None or tt.dtype is None:
        raise ctx.error(f"dtype={dtype!r}: the trace recorded no output dtype", "dtype")
    return ctx.cast(x, ctx.logical_dtype(tt.dtype))


def _promoted(ctx, x):
    """torch's sum and prod of integers and bools accumulate and return int64."""
    want = ctx.expected[0].dtype if ctx.expected and ctx.expected[0] is not None else None
    if not ctx.dtype(x).is_floating_point and want is not None and ctx.dtype(x) != want:
        x = ctx.cast(x, want)
    return x


@register_node_handler("aten::mean")
def mean(ctx, self, dim=None, keepdim=False, dtype=None):
    return _reduce(ctx, with_dtype(ctx, self, dtype), "AVG", dim, keepdim)


@register_node_handler("aten::sum")
def sum_(ctx, self, dim=None, keepdim=False, dtype=None):
    return _reduce(ctx, _promoted(ctx, with_dtype(ctx, self, dtype)), "SUM", dim, keepdim)


@register_node_handler("aten::amax(Tensor self, int[1] dim=[], bool keepdim=False) -> Tensor")
def amax(ctx, self, dim, keepdim):
    return _reduce(ctx, self, "MAX", dim, keepdim)


@register_node_handler("aten::amin(Tensor self, int[1] dim=[], bool keepdim=False) -> Tensor")
def amin(ctx, self, dim, keepdim):
    return _reduce(ctx, self, "MIN", dim, keepdim)


@register_node_handler("aten::prod")
def prod(ctx, self, dim=None, keepdim=False, dtype=None):
    """``prod(x)`` and ``prod.dim_int(x, dim)`` (one dim); integers and bools give int64."""
    return _reduce(ctx, _promoted(ctx, with_dtype(ctx, self, dtype)), "PROD", dim, keepdim)


def softmax_layer(ctx, x, dim):
    """Softmax over ``dim``; float32 inside an fp16/bf16 network when the precision policy says so
    (this is also the softmax of the attention handlers)."""
    from ..precision import Fp32Island

    x = ctx.as_tensor(x)
    rank = ctx.rank(x)
    if rank < 2:  # TensorRT's softmax needs rank >= 2: over a (1, n) or (1, 1) view
        ctx.axis(dim, max(rank, 1))  # torch takes dim 0 or -1 here
        dims = ctx.dims(x)
        return ctx.reshape(softmax_layer(ctx, ctx.reshape(x, [1] * (2 - rank) + dims), 1), dims)
    island = Fp32Island(ctx, "aten::softmax", x)
    with island as x32:
        layer = ctx.network.add_softmax(x32)
        layer.axes = 1 << ctx.axis(dim, ctx.rank(x))
        y = layer.get_output(0)
    return island.result(y)


@register_node_handler("aten::softmax")
def softmax(ctx, self, dim, dtype=None, half_to_float=False):
    return softmax_layer(ctx, with_dtype(ctx, self, dtype), dim)


@register_node_handler("aten::_softmax")
def _softmax(ctx, self, dim, half_to_float):
    """``half_to_float`` only makes a float16 input give a float32 output (the network's float
    dtype here)."""
    return softmax_layer(ctx, self, dim)


@register_node_handler("aten::log_softmax")
def log_softmax(ctx, self, dim, dtype=None, half_to_float=False):
    """x - max - log(sum(exp(x - max))): log(softmax) would give -inf where softmax underflows."""
    x = with_dtype(ctx, self, dtype)
    if ctx.rank(x) == 0:  # the log-softmax of one element is 0
        ctx.axis(dim, 1)
        return ctx.elementwise(x, x, "SUB")
    d = ctx.axis(dim, ctx.rank(x))
    shifted = ctx.elementwise(x, ctx.reduce(x, "MAX", [d], True), "SUB")
    total = ctx.reduce(ctx.unary(shifted, "EXP"), "SUM", [d], True)
    return ctx.elementwise(shifted, ctx.unary(total, "LOG"), "SUB")
