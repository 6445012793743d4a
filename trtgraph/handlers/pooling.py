"""Pooling. torch's ``ceil_mode`` is matched by extra post-padding with EXPLICIT_ROUND_DOWN
(TensorRT's EXPLICIT_ROUND_UP differs from torch when padding > 0). 1-D pooling runs as 2-D.
Adaptive pooling uses one pooling layer when the input divides evenly, else one slice+reduce
per output cell, dimension by dimension (average and max are separable).
"""
from __future__ import annotations

import math

from ..context import T
from ..registry import Traced, register_node_handler


def _pair(v, n):
    v = list(v) if isinstance(v, (list, tuple)) else [v]
    return v * n if len(v) == 1 else v


def _out_size(length, k, s, p, d, ceil_mode):
    span = length + 2 * p - d * (k - 1) - 1
    out = (math.ceil(span / s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= length + p:
        out -= 1
    return out


def _ceil_extra(shape, kernel, stride, padding, dilation, ceil_mode):
    """Post-padding that makes TensorRT's round-down output size equal torch's."""
    extra = []
    for L, k, s, p, d in zip(shape, kernel, stride, padding, dilation):
        out = _out_size(L, k, s, p, d, ceil_mode)
        extra.append(max(0, (out - 1) * s + d * (k - 1) + 1 - (L + 2 * p)))
    return extra


def _pool(ctx, x, kind, kernel, stride, padding, dilation=None, ceil_mode=False, count_include_pad=True):
    x = ctx.as_tensor(x)
    nd = len(kernel)
    dilation = dilation or [1] * nd
    if nd == 1:
        dims = ctx.dims(x)
        x = ctx.reshape(x, dims[:-1] + [1, dims[-1]])
        kernel, stride, padding, dilation = [1] + kernel, [1] + stride, [0] + padding, [1] + dilation
    spatial = ctx.shape(x)[-len(kernel):]
    if ceil_mode and any(L < 0 for L in spatial):
        ctx.require_static(x, "self", range(-len(kernel), 0), "ceil_mode padding depends on the size")
    # floor mode is TensorRT's own rounding; only ceil_mode needs extra post-padding (static sizes)
    extra = _ceil_extra(spatial, kernel, stride, padding, dilation, ceil_mode) if ceil_mode else [0] * len(kernel)
    pool_type = T().PoolingType.MAX if kind == "max" else T().PoolingType.AVERAGE
    layer = ctx.network.add_pooling_nd(x, pool_type, tuple(kernel))
    layer.stride_nd = tuple(stride)
    layer.pre_padding = tuple(padding)
    layer.post_padding = tuple(p + e for p, e in zip(padding, extra))
    if kind == "avg":
        # torch counts padding in the divisor only when count_include_pad and padding > 0
        layer.average_count_excludes_padding = not (count_include_pad and any(padding))
    y = layer.get_output(0)
    if nd == 1:
        dims = ctx.dims(y)
        y = ctx.reshape(y, dims[:-2] + dims[-1:])
    return y


def _validate_max(args):
    if any(d != 1 for d in _pair(args.get("dilation", 1), 1)):
        return "max pooling with dilation > 1 (TensorRT pooling has no dilation)"
    return None


def _validate_avg(args):
    if args.get("divisor_override") is not None:
        return "avg pooling with divisor_override"
    x = args.get("self")
    ks = args["kernel_size"]
    n = len(_pair(ks, 1)) if isinstance(ks, (list, tuple)) else 1
    if args.get("ceil_mode") and args.get("count_include_pad") and any(_pair(args.get("padding", 0), n)) \
            and isinstance(x, Traced) and x.shape is not None:
        kernel = _pair(ks, n)
        stride = _pair(args.get("stride") or ks, n)
        padding = _pair(args.get("padding", 0), n)
        spatial = x.shape[-n:]
        if any(_ceil_extra(spatial, kernel, stride, padding, [1] * n, True)):
            return ("avg pooling with ceil_mode, padding and count_include_pad whose last window overhangs "
                    "the padding (TensorRT's divisor differs from torch's there)")
    return None


def _max_pool(n):
    @register_node_handler(f"aten::max_pool{n}d", validator=_validate_max)
    def handler(ctx, self, kernel_size, stride, padding, dilation, ceil_mode):
        kernel = _pair(kernel_size, n)
        stride = _pair(stride, n) if stride else kernel
        return _pool(ctx, self, "max", kernel, stride, _pair(padding, n), _pair(dilation, n), ceil_mode)
    return handler


def _avg_pool(n):
    @register_node_handler(f"aten::avg_pool{n}d", validator=_validate_avg)
    def handler(ctx, self, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override=None):
        kernel = _pair(kernel_size, n)
        stride = _pair(stride, n) if stride else kernel
        return _pool(ctx, self, "avg", kernel, stride, _pair(padding, n), None, ceil_mode, count_include_pad)
    return handler


for _n in (1, 2, 3):
    _max_pool(_n)
    _avg_pool(_n)


def adaptive(ctx, x, output_size, kind):
    x = ctx.as_tensor(x)
    shape = ctx.shape(x)
    n = len(output_size)
    spatial = shape[-n:]
    out = [spatial[i] if o is None else o for i, o in enumerate(output_size)]
    if all(o == 1 for o in out) and any(L < 0 for L in spatial):
        return ctx.reduce(x, "AVG" if kind == "avg" else "MAX", list(range(len(shape) - n, len(shape))), True)
    ctx.require_static(x, "self", range(len(shape) - n, len(shape)), "adaptive pooling windows depend on the size")
    if all(L % o == 0 for L, o in zip(spatial, out)) and n in (2, 3):
        kernel = [L // o for L, o in zip(spatial, out)]
        if all(o == 1 for o in out):
            dims = list(range(len(shape) - n, len(shape)))
            return ctx.reduce(x, "AVG" if kind == "avg" else "MAX", dims, True)
        return _pool(ctx, x, kind, kernel, kernel, [0] * n)
    op = "AVG" if kind == "avg" else "MAX"
    rank = len(shape)
    for i, (L, o) in enumerate(zip(spatial, out)):
        axis = rank - n + i
        if L == o:
            continue
        pieces = []
        for j in range(o):
            start, end = (j * L) // o, -(-((j + 1) * L) // o)
            begin = [0] * rank
            begin[axis] = start
            size = ctx.dims(x)
            size[axis] = end - start
            piece = ctx.slice(x, begin, size, [1] * rank)
            pieces.append(ctx.reduce(piece, op, [axis], True))
        x = ctx.concat(pieces, axis) if len(pieces) > 1 else pieces[0]
    return x


def _adaptive(n, kind):
    @register_node_handler(f"aten::adaptive_{kind}_pool{n}d")
    def handler(ctx, self, output_size):
        y = adaptive(ctx, self, _pair(output_size, n), kind)
        if kind == "max":
            return y, None  # indices are not computed (rarely used in inference)
        return y
    return handler


for _n in (1, 2, 3):
    _adaptive(_n, "avg")
