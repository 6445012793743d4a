"""More elementwise math and boolean reductions, built from TensorRT's unary/elementwise/reduce
layers with the numerically careful formulas torch's kernels use:

- ``log1p``/``expm1``/``log_sigmoid``: compensated forms (log1p(x) = log(u)·x/(u-1) with u = 1+x),
  exact where ``log(1 + x)`` would round ``x`` away;
- ``atan2``: ``atan(|y|/|x|)`` put in its quadrant by selects (signed zeros and infinities as C's atan2);
- ``bitwise_and/or/xor``: TensorRT's AND/OR/XOR take bools only, so integers are split into
  their two's-complement bits along a new axis (floor division by powers of two), combined per
  bit and summed back with the bit weights (the sign bit weighs -2^(w-1));
- ``clip``/``fix`` need no handler: tracing and scripting both rename them to clamp/trunc;
- ``any``/``all``: MAX/MIN reductions of ``x != 0`` as int32; ``logsumexp`` is max-shifted.
"""
from __future__ import annotations

import math

import torch

from ..registry import register_node_handler


def expected_dtype(ctx, index=0):
    tt = ctx.expected[index] if ctx.expected and len(ctx.expected) > index else None
    return ctx.logical_dtype(tt.dtype) if tt is not None and tt.dtype is not None else None


def as_float(ctx, x):
    """``x`` as a network tensor of torch's result dtype for a float op (ints promote)."""
    x = ctx.as_tensor(x)
    return x if ctx.dtype(x).is_floating_point else ctx.cast(x, ctx.float_dtype)


def _full_like_scalar(ctx, x, value):
    return ctx.constant(torch.tensor(value, dtype=ctx.dtype(x)).reshape((1,) * ctx.rank(x)))


def compensated_log1p(ctx, x):
    """log1p(x) = log(u) * x / (u - 1) with u = 1 + x (x where u rounds to 1)."""
    x = as_float(ctx, x)
    u = ctx.elementwise(x, 1.0, "SUM")
    um1 = ctx.elementwise(u, 1.0, "SUB")
    is_one = ctx.elementwise(um1, 0.0, "EQUAL")
    safe = ctx.select(is_one, _full_like_scalar(ctx, um1, 1.0), um1)
    ratio = ctx.elementwise(x, safe, "DIV")
    y = ctx.elementwise(ctx.unary(u, "LOG"), ratio, "PROD")
    # u = +inf (x = +inf): log(u) * inf/inf would be nan; log1p(inf) = inf (log1p(-inf) stays nan)
    y = ctx.select(ctx.elementwise(u, float("inf"), "EQUAL"), u, y)
    return ctx.select(is_one, x, y)


def compensated_expm1(ctx, x):
    """expm1(x) = (u - 1) * x / log(u) with u = exp(x); x where u rounds to 1, -1 where u = 0."""
    x = as_float(ctx, x)
    u = ctx.unary(x, "EXP")
    um1 = ctx.elementwise(u, 1.0, "SUB")
    is_one = ctx.elementwise(um1, 0.0, "EQUAL")
    logu = ctx.unary(u, "LOG")
    bad = ctx.elementwise(is_one, ctx.elementwise(logu, 0.0, "EQUAL"), "OR")
    safe_log = ctx.select(bad, _full_like_scalar(ctx, logu, 1.0), logu)
    y = ctx.elementwise(um1, ctx.elementwise(x, safe_log, "DIV"), "PROD")
    underflow = ctx.elementwise(u, 0.0, "EQUAL")  # exp(x) = 0: expm1 = -1
    y = ctx.select(underflow, _full_like_scalar(ctx, um1, -1.0), y)
    y = ctx.select(ctx.elementwise(u, float("inf"), "EQUAL"), u, y)
    return ctx.select(is_one, x, y)


@register_node_handler("aten::log1p(Tensor self) -> Tensor")
def log1p(ctx, self):
    return compensated_log1p(ctx, self)


@register_node_handler("aten::expm1(Tensor self) -> Tensor")
def expm1(ctx, self):
    return compensated_expm1(ctx, self)


def _log_base(key, base):
    def handler(ctx, self):
        return ctx.elementwise(ctx.unary(as_float(ctx, self), "LOG"), 1.0 / math.log(base), "PROD")
    handler.__name__ = key.split("::")[1]
    register_node_handler(f"{key}(Tensor self) -> Tensor")(handler)


_log_base("aten::log2", 2.0)
_log_base("aten::log10", 10.0)


def _unary_float(key, op):
    def handler(ctx, self):
        return ctx.unary(as_float(ctx, self), op)
    handler.__name__ = key.split("::")[1]
    register_node_handler(f"{key}(Tensor self) -> Tensor")(handler)


for _name, _op in (("asinh", "ASINH"), ("acosh", "ACOSH"), ("atanh", "ATANH")):
    _unary_float(f"aten::{_name}", _op)


def trunc_layer(ctx, x):
    """Round toward zero; integers are returned unchanged (torch keeps their dtype)."""
    x = ctx.as_tensor(x)
    if not ctx.dtype(x).is_floating_point:
        return ctx.identity(x)
    return ctx.elementwise(ctx.unary(x, "SIGN"), ctx.unary(ctx.unary(x, "ABS"), "FLOOR"), "PROD")


@register_node_handler("aten::trunc(Tensor self) -> Tensor")
def trunc(ctx, self):
    return trunc_layer(ctx, self)


@register_node_handler("aten::log_sigmoid(Tensor self) -> Tensor")
def log_sigmoid(ctx, self):
    """min(x, 0) - log1p(exp(-|x|)): no overflow for large |x|."""
    x = as_float(ctx, self)
    tail = compensated_log1p(ctx, ctx.unary(ctx.unary(ctx.unary(x, "ABS"), "NEG"), "EXP"))
    return ctx.elementwise(ctx.elementwise(x, 0.0, "MIN"), tail, "SUB")


def sign_bit(ctx, x, dtype):
    """Bool: ``x`` is negative or -0.0 (1 / -0.0 is -inf); False for NaN."""
    recip_negative = ctx.elementwise(ctx.elementwise(1.0, x, "DIV", dtype=dtype), 0.0, "LESS", dtype=dtype)
    return ctx.elementwise(ctx.elementwise(x, 0.0, "LESS", dtype=dtype), recip_negative, "OR", dtype=torch.bool)


@register_node_handler("aten::atan2(Tensor self, Tensor other) -> Tensor")
def atan2(ctx, self, other):
    """C's atan2 from the first-quadrant angle t = atan(|y| / |x|): t is 0 for y = +-0 and pi/4 for
    two infinities; pi - t when x is negative or -0.0; negated when y is negative or -0.0; NaN
    when either operand is."""
    dtype = ctx.result_dtype(self, other)
    if not dtype.is_floating_point:
        dtype = ctx.float_dtype
    y, x = ctx.operands(self, other, dtype=dtype)

    def const(v):
        return _full_like_scalar(ctx, x, v)

    ay, ax = ctx.unary(y, "ABS"), ctx.unary(x, "ABS")
    t = ctx.unary(ctx.elementwise(ay, ax, "DIV", dtype=dtype), "ATAN")
    both_inf = ctx.elementwise(ctx.unary(ay, "ISINF"), ctx.unary(ax, "ISINF"), "AND", dtype=torch.bool)
    t = ctx.select(both_inf, const(math.pi / 4), t)
    t = ctx.select(ctx.elementwise(ay, 0.0, "EQUAL", dtype=dtype), const(0.0), t)
    t = ctx.select(sign_bit(ctx, x, dtype), ctx.elementwise(const(math.pi), t, "SUB", dtype=dtype), t)
    t = ctx.select(sign_bit(ctx, y, dtype), ctx.unary(t, "NEG"), t)
    nan = ctx.elementwise(ctx.unary(x, "ISNAN"), ctx.unary(y, "ISNAN"), "OR", dtype=torch.bool)
    return ctx.select(nan, ctx.elementwise(x, y, "SUM", dtype=dtype), t)


# ---------------------------------------------------------------------------- bitwise

def _int_bits(ctx, x, width):
    """The two's-complement bits of integer tensor ``x`` along a new last axis (0/1, x's dtype)."""
    dtype = ctx.dtype(x)
    rank = ctx.rank(x)
    powers = torch.tensor([1 << b for b in range(width - 1)], dtype=dtype).reshape((1,) * rank + (width - 1,))
    xe = ctx.reshape(x, list(ctx.dims(x)) + [1])
    shifted = ctx.elementwise(xe, ctx.constant(powers), "FLOOR_DIV", dtype=dtype)  # floor(x / 2^b)
    half = ctx.elementwise(shifted, 2, "FLOOR_DIV", dtype=dtype)
    low = ctx.elementwise(shifted, ctx.elementwise(half, 2, "PROD", dtype=dtype), "SUB", dtype=dtype)
    sign = ctx.cast(ctx.elementwise(xe, 0, "LESS", dtype=dtype), dtype)
    return ctx.concat([low, sign], rank)


def _from_bits(ctx, bits, width, dtype):
    rank = ctx.rank(bits) - 1
    weights = [1 << b for b in range(width - 1)] + [-(1 << (width - 1))]
    w = ctx.constant(torch.tensor(weights, dtype=dtype).reshape((1,) * rank + (width,)))
    return ctx.reduce(ctx.elementwise(bits, w, "PROD", dtype=dtype), "SUM", [rank], False)


_BOOL_OPS = {"and": "AND", "or": "OR", "xor": "XOR"}


def bitwise(ctx, a, b, op):
    """Bitwise and/or/xor with torch's type promotion: bools use the logical layers, integers
    are combined bit by bit."""
    dtype = expected_dtype(ctx) or ctx.result_dtype(a, b)
    if dtype == torch.bool:
        return ctx.elementwise(a, b, _BOOL_OPS[op], dtype=torch.bool)
    if dtype.is_floating_point or dtype not in (torch.int32, torch.int64):
        raise ctx.error(f"bitwise_{op} of {dtype} tensors is not supported (torch allows integers and bools)")
    a, b = ctx.operands(a, b, dtype=dtype)
    width = 64 if dtype == torch.int64 else 32
    ba, bb = _int_bits(ctx, a, width), _int_bits(ctx, b, width)
    if op == "and":
        bits = ctx.elementwise(ba, bb, "PROD", dtype=dtype)
    elif op == "or":
        bits = ctx.elementwise(ba, bb, "MAX", dtype=dtype)
    else:
        total = ctx.elementwise(ba, bb, "SUM", dtype=dtype)
        bits = ctx.elementwise(total, ctx.elementwise(ba, bb, "PROD", dtype=dtype), "SUB", dtype=dtype)
        bits = ctx.elementwise(bits, ctx.elementwise(ba, bb, "PROD", dtype=dtype), "SUB", dtype=dtype)
    return _from_bits(ctx, bits, width, dtype)


def _register_bitwise(op):
    def handler(ctx, self, other):
        return bitwise(ctx, self, other, op)
    handler.__name__ = f"bitwise_{op}"
    # every overload: Tensor, Scalar, Scalar_Tensor (a Python number first)
    register_node_handler(f"aten::bitwise_{op}")(handler)


for _op in ("and", "or", "xor"):
    _register_bitwise(_op)


# ---------------------------------------------------------------------------- creation and casts

@register_node_handler("aten::scalar_tensor(Scalar s, *, ScalarType? dtype=None, Layout? layout=None, "
                       "Device? device=None, bool? pin_memory=None) -> Tensor")
def scalar_tensor(ctx, s, dtype=None, layout=None, device=None, pin_memory=None):
    """A 0-d tensor of ``s``; ``s`` from the network (a dynamic size) is cast to the dtype."""
    want = expected_dtype(ctx) or ctx.logical_dtype(dtype or torch.get_default_dtype())
    if ctx.is_tensor(s):
        x = ctx.cast(s, want)
        return ctx.reshape(x, []) if ctx.rank(x) else x
    return ctx.constant(torch.tensor(s, dtype=want))


@register_node_handler("aten::_to_copy(Tensor self, *, ScalarType? dtype=None, Layout? layout=None, "
                       "Device? device=None, "
                       "bool? pin_memory=None, bool non_blocking=False, MemoryFormat? memory_format=None) -> Tensor")
def _to_copy(ctx, self, dtype=None, layout=None, device=None, pin_memory=None, non_blocking=False, memory_format=None):
    """A copy, cast to the traced output dtype; layout, device and memory format do not change values."""
    want = expected_dtype(ctx) or ctx.dtype(self)
    if want not in (torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.int64, torch.bool, torch.int8,
                    torch.uint8):
        raise ctx.error(f"cast to {want} has no TensorRT equivalent", "dtype")
    x = ctx.as_tensor(self)
    y = ctx.cast(x, want)
    return ctx.identity(y) if y is x else y


# ---------------------------------------------------------------------------- reductions

def _reduce_dims(ctx, x, dim):
    if dim is None:
        return list(range(ctx.rank(x)))
    dims = list(dim) if isinstance(dim, (list, tuple)) else [dim]
    return list(range(ctx.rank(x))) if not dims else dims


def _any_all(ctx, self, dim, keepdim, op):
    x = ctx.as_tensor(self)
    if ctx.dtype(x) != torch.bool:
        x = ctx.elementwise(x, 0, "EQUAL", dtype=ctx.dtype(x))
        x = ctx.unary(x, "NOT")
    if ctx.rank(x) == 0 or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return ctx.identity(x)  # any.dims/all.dims with dim=[] reduce nothing (dim=None reduces all)
    dims = _reduce_dims(ctx, x, dim)
    y = ctx.reduce(ctx.cast(x, torch.int32), op, dims, keepdim)
    return ctx.cast(y, torch.bool)


@register_node_handler("aten::any")
def any_(ctx, self, dim=None, keepdim=False):
    """Overloads: any(self), any.dim(self, int dim, keepdim), any.dims(self, int[]? dim, keepdim)."""
    return _any_all(ctx, self, dim, keepdim, "MAX")


@register_node_handler("aten::all")
def all_(ctx, self, dim=None, keepdim=False):
    return _any_all(ctx, self, dim, keepdim, "MIN")


@register_node_handler("aten::logsumexp(Tensor self, int[1] dim, bool keepdim=False) -> Tensor")
def logsumexp(ctx, self, dim, keepdim=False):
    """max + log(sum(exp(x - max))), the max replaced by 0 where it is infinite (all -inf rows
    give -inf, not nan)."""
    x = as_float(ctx, self)
    if ctx.rank(x) == 0:
        return ctx.identity(x)
    dims = _reduce_dims(ctx, x, dim)
    m = ctx.reduce(x, "MAX", dims, True)
    m = ctx.select(ctx.unary(m, "ISINF"), _full_like_scalar(ctx, m, 0.0), m)
    total = ctx.reduce(ctx.unary(ctx.elementwise(x, m, "SUB"), "EXP"), "SUM", dims, True)
    y = ctx.elementwise(ctx.unary(total, "LOG"), m, "SUM")
    if keepdim:
        return y
    rank = ctx.rank(x)
    axes = {ctx.axis(d, rank) for d in dims}
    dims_kept = [d for i, d in enumerate(ctx.dims(y)) if i not in axes]
    return ctx.reshape(y, dims_kept)
