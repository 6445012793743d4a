"""Reductions and softmax (axes are bitmasks in TensorRT; softmax axes are always set)."""
from __future__ import annotations

from ..registry import register_node_handler


def _dims(ctx, x, dim):
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return list(range(ctx.rank(x)))
    return list(dim) if isinstance(dim, (list, tuple)) else [dim]


def _reduce(ctx, x, op, dim, keepdim):
    x = ctx.as_tensor(x)
    if ctx.rank(x) == 0:
        return ctx.identity(x)
    return ctx.reduce(x, op, _dims(ctx, x, dim), keepdim)


@register_node_handler("aten::mean")
def mean(ctx, self, dim=None, keepdim=False, dtype=None):
    return _reduce(ctx, self, "AVG", dim, keepdim)


@register_node_handler("aten::sum")
def sum_(ctx, self, dim=None, keepdim=False, dtype=None):
    x = ctx.as_tensor(self)
    if not ctx.dtype(x).is_floating_point and ctx.dtype(x) != ctx.expected[0].dtype:
        x = ctx.cast(x, ctx.expected[0].dtype)
    return _reduce(ctx, x, "SUM", dim, keepdim)


@register_node_handler("aten::amax(Tensor self, int[1] dim=[], bool keepdim=False) -> Tensor")
def amax(ctx, self, dim, keepdim):
    return _reduce(ctx, self, "MAX", dim, keepdim)


@register_node_handler("aten::amin(Tensor self, int[1] dim=[], bool keepdim=False) -> Tensor")
def amin(ctx, self, dim, keepdim):
    return _reduce(ctx, self, "MIN", dim, keepdim)


@register_node_handler("aten::prod")
def prod(ctx, self, dim=None, keepdim=False, dtype=None):
    return _reduce(ctx, self, "PROD", dim, keepdim)


def softmax_layer(ctx, x, dim):
    """Softmax over ``dim``; float32 inside an fp16/bf16 network when the precision policy says so
    (this is also the softmax of the attention handlers)."""
    from ..precision import Fp32Island

    x = ctx.as_tensor(x)
    island = Fp32Island(ctx, "aten::softmax", x)
    with island as x32:
        layer = ctx.network.add_softmax(x32)
        layer.axes = 1 << ctx.axis(dim, ctx.rank(x))
        y = layer.get_output(0)
    return island.result(y)


@register_node_handler("aten::softmax")
def softmax(ctx, self, dim, dtype=None, half_to_float=False):
    return softmax_layer(ctx, self, dim)


@register_node_handler("aten::_softmax")
def _softmax(ctx, self, dim, half_to_float):
    return softmax_layer(ctx, self, dim)


@register_node_handler("aten::log_softmax")
def log_softmax(ctx, self, dim, dtype=None, half_to_float=False):
    """x - max - log(sum(exp(x - max))): log(softmax) would give -inf where softmax underflows."""
    x = ctx.as_tensor(self)
    d = ctx.axis(dim, ctx.rank(x))
    shifted = ctx.elementwise(x, ctx.reduce(x, "MAX", [d], True), "SUB")
    total = ctx.reduce(ctx.unary(shifted, "EXP"), "SUM", [d], True)
    return ctx.elementwise(shifted, ctx.unary(total, "LOG"), "SUB")
