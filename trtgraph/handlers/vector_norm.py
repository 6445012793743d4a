"""Vector norms (linalg_vector_norm, norm, frobenius_norm) and the float reduction input they
share with var/std (:mod:`trtgraph.handlers.variance`)."""
from __future__ import annotations

import math

from ..registry import register_node_handler
from .reduce import with_dtype


# ---------------------------------------------------------------------------- norms

def _float(ctx, x):
    x = ctx.as_tensor(x)
    return x if ctx.dtype(x).is_floating_point else ctx.cast(x, ctx.float_dtype)


def _dims(ctx, x, dim):
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return list(range(ctx.rank(x)))
    return list(dim) if isinstance(dim, (list, tuple)) else [dim]


def _reduction_input(ctx, x, dim, keepdim):
    """``(x, dims, squeeze)``: a float ``x`` (a 0-d one as shape (1,), squeezed back to () at the
    end, keepdim or not, as in torch) and its normalized reduction dims."""
    x = _float(ctx, x)
    if ctx.rank(x) == 0:
        return ctx.reshape(x, (1,)), [0], True
    return x, _dims(ctx, x, dim), False


def vector_norm(ctx, x, ord, dim, keepdim):
    """Sums of squares and powers overflow fp16: in fp16/bf16 networks the precision policy runs
    the norm ops as float32 islands by default (trtgraph.precision.DEFAULT_FP32_OPS)."""
    x, dims, squeeze = _reduction_input(ctx, x, dim, keepdim)
    ord = float(ord)
    dt = ctx.dtype(x)  # explicit: ctx.elementwise would map fp32 to the network's float dtype
    absx = ctx.unary(x, "ABS")
    if ord == 2:
        y = ctx.unary(ctx.reduce(ctx.elementwise(x, x, "PROD", dtype=dt), "SUM", dims, keepdim), "SQRT")
    elif ord == 1:
        y = ctx.reduce(absx, "SUM", dims, keepdim)
    elif ord == math.inf:
        y = ctx.reduce(absx, "MAX", dims, keepdim)
    elif ord == -math.inf:
        y = ctx.reduce(absx, "MIN", dims, keepdim)
    elif ord == 0:
        nonzero = ctx.cast(ctx.unary(ctx.elementwise(x, 0.0, "EQUAL", dtype=dt), "NOT"), ctx.dtype(x))
        y = ctx.reduce(nonzero, "SUM", dims, keepdim)
    else:
        powered = ctx.elementwise(absx, ord, "POW", dtype=dt)
        y = ctx.elementwise(ctx.reduce(powered, "SUM", dims, keepdim), 1.0 / ord, "POW", dtype=dt)
    if squeeze:
        y = ctx.reshape(y, ())
    return y


@register_node_handler("aten::linalg_vector_norm(Tensor self, Scalar ord=2, int[1]? dim=None, bool keepdim=False, "
                       "*, ScalarType? dtype=None) -> Tensor")
def linalg_vector_norm(ctx, self, ord=2, dim=None, keepdim=False, dtype=None):
    return vector_norm(ctx, with_dtype(ctx, self, dtype), ord, dim, keepdim)


def _validate_norm(args):
    p = args.get("p", 2)
    if isinstance(p, str):
        return f"norm with p={p!r} (matrix norms)"
    return None


@register_node_handler("aten::norm(Tensor self, Scalar? p, int[1] dim, bool keepdim=False) -> Tensor",
                       validator=_validate_norm)
def norm(ctx, self, p=2, dim=None, keepdim=False, dtype=None):
    """Every tensor overload of aten::norm (p=None is 2)."""
    return vector_norm(ctx, with_dtype(ctx, self, dtype), 2 if p is None else p, dim, keepdim)


@register_node_handler("aten::frobenius_norm(Tensor self, int[1] dim, bool keepdim=False) -> Tensor")
def frobenius_norm(ctx, self, dim=None, keepdim=False):
    return vector_norm(ctx, self, 2, dim, keepdim)
