"""Elementwise arithmetic, comparisons, logic and unary math.

TensorRT needs equal ranks and dtypes: ``ctx.elementwise`` unsqueezes and applies torch's type
promotion. Integer ``div`` follows torch (true division to float; floor/trunc modes).
"""
from __future__ import annotations

import torch

from ..registry import register_node_handler
from .elementwise_ext import bitwise


_BOOL_OPS = {"SUM": "OR", "PROD": "AND", "MAX": "OR", "MIN": "AND"}  # torch's arithmetic on two bools


def as_traced(ctx, y):
    """``y`` cast to the dtype the trace recorded for the node's output, when they differ: an
    in-place op keeps its target's dtype (``a.lt_(b)`` on floats gives floats, ``i32.add_(i64)``
    int32)."""
    tt = ctx.expected[0] if ctx.expected else None
    if tt is None or tt.dtype is None:
        return y
    want = ctx.logical_dtype(tt.dtype)
    return y if ctx.dtype(y) == want else ctx.cast(y, want)


def _binary(key, op, alpha=False):
    def apply(ctx, self, other):
        dtype = ctx.result_dtype(self, other)
        y = ctx.elementwise(self, other, _BOOL_OPS.get(op, op) if dtype == torch.bool else op, dtype=dtype)
        return as_traced(ctx, y)

    if alpha:
        def handler(ctx, self, other, alpha=1):
            if alpha != 1:
                dtype = ctx.result_dtype(self, other)
                if dtype == torch.bool:  # a bool tensor times a (nonzero) alpha stays itself
                    other = ctx.elementwise(other, bool(alpha), "AND", dtype=dtype)
                else:
                    other = ctx.elementwise(other, alpha, "PROD", dtype=dtype)
            return apply(ctx, self, other)
    else:
        def handler(ctx, self, other):
            return apply(ctx, self, other)
    handler.__name__ = key.split("::")[1]
    register_node_handler(key)(handler)


_binary("aten::add", "SUM", alpha=True)
_binary("aten::sub", "SUB", alpha=True)
_binary("aten::mul", "PROD")
_binary("aten::maximum", "MAX")
_binary("aten::minimum", "MIN")


def _operator(key, op):
    """``a & b``, ``a | b``, ``a ^ b`` (and their in-place forms): bitwise on integers, logical on
    bools, with torch's type promotion (elementwise_ext.bitwise)."""
    def handler(ctx, self, other):
        return bitwise(ctx, self, other, op)
    handler.__name__ = key.split("::")[1]
    register_node_handler(key)(handler)


for _op in ("and", "or", "xor"):
    _operator(f"aten::__{_op}__", _op)
    _operator(f"aten::__i{_op}__", _op)


def truth(ctx, x):
    """``x != 0`` as bool (NaN is true, as in torch); bools pass through."""
    x = ctx.as_tensor(x)
    if ctx.dtype(x) == torch.bool:
        return x
    zero = 0.0 if ctx.dtype(x).is_floating_point else torch.tensor(0, dtype=ctx.dtype(x))
    return ctx.unary(ctx.elementwise(x, zero, "EQUAL", dtype=ctx.dtype(x)), "NOT")


def _logical(key, op):
    """torch's logical ops take any dtype (nonzero is true) and give bool."""
    def handler(ctx, self, other):
        return as_traced(ctx, ctx.elementwise(truth(ctx, self), truth(ctx, other), op, dtype=torch.bool))
    handler.__name__ = key.split("::")[1]
    register_node_handler(key)(handler)


_logical("aten::logical_and", "AND")
_logical("aten::logical_or", "OR")
_logical("aten::logical_xor", "XOR")


@register_node_handler("aten::logical_not(Tensor self) -> Tensor")
def logical_not(ctx, self):
    return as_traced(ctx, ctx.unary(truth(ctx, self), "NOT"))


@register_node_handler("aten::bitwise_not(Tensor self) -> Tensor")
def bitwise_not(ctx, self):
    """bool: NOT; integers: two's complement ``~x = -1 - x``."""
    x = ctx.as_tensor(self)
    dtype = ctx.dtype(x)
    if dtype == torch.bool:
        return ctx.unary(x, "NOT")
    return ctx.elementwise(torch.tensor(-1, dtype=dtype), x, "SUB", dtype=dtype)


@register_node_handler("aten::pow")
def pow_(ctx, self, exponent):
    """All overloads: Tensor_Tensor, Tensor_Scalar and Scalar (a Python number raised to a tensor)."""
    dtype = ctx.expected[0].dtype if ctx.expected and ctx.expected[0] is not None else None
    return ctx.elementwise(self, exponent, "POW", dtype=ctx.logical_dtype(dtype) if dtype else None)


@register_node_handler("aten::rsub(Tensor self, Tensor other, Scalar alpha=1) -> Tensor")
def rsub(ctx, self, other, alpha=1):
    if alpha != 1:
        self = ctx.elementwise(self, alpha, "PROD", dtype=ctx.result_dtype(self, other))
    return as_traced(ctx, ctx.elementwise(other, self, "SUB"))


@register_node_handler("aten::div(Tensor self, Tensor other, *, str? rounding_mode=None) -> Tensor")
def div(ctx, self, other, rounding_mode=None):
    """The result takes the traced dtype: torch's promotion ranks a 0-d tensor operand below one
    with dimensions (int32 // int64 0-d tensor is int32), and in-place division keeps the target's."""
    return as_traced(ctx, _div(ctx, self, other, rounding_mode))


def _div(ctx, self, other, rounding_mode):
    dtype = ctx.result_dtype(self, other)
    if rounding_mode is None:
        if not dtype.is_floating_point:
            dtype = ctx.float_dtype
        return ctx.elementwise(self, other, "DIV", dtype=dtype)
    if rounding_mode == "floor":
        if dtype.is_floating_point:
            return floor_divide_float(ctx, self, other, dtype)
        return ctx.elementwise(self, other, "FLOOR_DIV", dtype=dtype)
    if dtype.is_floating_point:
        q = ctx.elementwise(self, other, "DIV", dtype=dtype)
        # trunc(q) = sign(q) * floor(|q|)
        return ctx.elementwise(ctx.unary(q, "SIGN"), ctx.unary(ctx.unary(q, "ABS"), "FLOOR"), "PROD")
    return ctx.elementwise(self, other, "DIV", dtype=dtype)  # TensorRT integer DIV truncates


def _exact_product_error(ctx, x, y, p):
    """``x*y - p`` exactly, for ``p = x*y`` rounded (Dekker's product: float32 operands split into
    12-bit halves with Veltkamp's constant 2^12 + 1)."""
    f = torch.float32

    def split(v):
        c = ctx.elementwise(v, 4097.0, "PROD", dtype=f)
        hi = ctx.elementwise(c, ctx.elementwise(c, v, "SUB", dtype=f), "SUB", dtype=f)
        return hi, ctx.elementwise(v, hi, "SUB", dtype=f)

    (xh, xl), (yh, yl) = split(x), split(y)
    e = ctx.elementwise(ctx.elementwise(xh, yh, "PROD", dtype=f), p, "SUB", dtype=f)
    for u, v in ((xh, yl), (xl, yh), (xl, yl)):
        e = ctx.elementwise(e, ctx.elementwise(u, v, "PROD", dtype=f), "SUM", dtype=f)
    return e


def floor_divide_float(ctx, a, b, dtype):
    """torch's (and Python's) floor division of floats, computed in float32: ``floor(a / b)``,
    less one where ``a / b`` rounded up onto an integer (``1.0 // 0.1`` is 9: the exact remainder
    ``a - q*b`` then has the other sign than ``b``); ``a / b`` where ``b`` is 0; NaN where ``a``
    is infinite; for an infinite ``b``, -1 where ``a`` is nonzero of the other sign, else 0."""
    f = torch.float32
    a, b = (ctx.cast(t, f) for t in ctx.operands(a, b, dtype=dtype))
    quotient = ctx.elementwise(a, b, "DIV", dtype=f)
    q0 = ctx.unary(quotient, "FLOOR")
    p = ctx.elementwise(q0, b, "PROD", dtype=f)
    r = ctx.elementwise(ctx.elementwise(a, p, "SUB", dtype=f), _exact_product_error(ctx, q0, b, p), "SUB", dtype=f)
    b_neg = ctx.elementwise(b, 0.0, "LESS", dtype=f)
    other_sign = ctx.elementwise(ctx.elementwise(r, 0.0, "LESS", dtype=f), b_neg, "XOR", dtype=torch.bool)
    nonzero = ctx.unary(ctx.elementwise(r, 0.0, "EQUAL", dtype=f), "NOT")
    over = ctx.elementwise(nonzero, other_sign, "AND", dtype=torch.bool)
    q = ctx.elementwise(q0, ctx.cast(over, f), "SUB", dtype=f)
    # b infinite (a finite): a nonzero a of the other sign gives -1, else floor(+-0) = +-0
    a_other = ctx.elementwise(ctx.elementwise(a, 0.0, "LESS", dtype=f), b_neg, "XOR", dtype=torch.bool)
    a_nonzero = ctx.unary(ctx.elementwise(a, 0.0, "EQUAL", dtype=f), "NOT")
    by_inf = ctx.select(ctx.elementwise(a_other, a_nonzero, "AND", dtype=torch.bool), -1.0, q0, dtype=f)
    a_inf, b_inf = ctx.unary(a, "ISINF"), ctx.unary(b, "ISINF")
    q = ctx.select(b_inf, by_inf, q, dtype=f)
    q = ctx.select(a_inf, float("nan"), q, dtype=f)
    q = ctx.select(ctx.elementwise(b, 0.0, "EQUAL", dtype=f), quotient, q, dtype=f)
    return ctx.cast(q, dtype)


@register_node_handler("aten::floor_divide(Tensor self, Tensor other) -> Tensor")
def floor_divide(ctx, self, other):
    return div(ctx, self, other, "floor")


def _compare(key, op, or_equal=False, negate=False):
    """``ge``/``le`` are ``GREATER``/``LESS`` or ``EQUAL`` (not ``NOT LESS``: a NaN compares false)."""
    def handler(ctx, self, other):
        dtype = ctx.result_dtype(self, other)
        if dtype == torch.bool:  # TensorRT compares numbers only
            dtype = torch.int32
        y = ctx.elementwise(self, other, op, dtype=dtype)
        if or_equal:
            y = ctx.elementwise(y, ctx.elementwise(self, other, "EQUAL", dtype=dtype), "OR", dtype=torch.bool)
        return as_traced(ctx, ctx.unary(y, "NOT") if negate else y)
    handler.__name__ = key.split("::")[1]
    register_node_handler(key)(handler)


_compare("aten::eq", "EQUAL")
_compare("aten::ne", "EQUAL", negate=True)
_compare("aten::gt", "GREATER")
_compare("aten::lt", "LESS")
_compare("aten::ge", "GREATER", or_equal=True)
_compare("aten::le", "LESS", or_equal=True)


_KEEPS_INTEGERS = ("ABS", "NEG", "SIGN")  # integer in, integer out
_IDENTITY_ON_INTEGERS = ("CEIL", "FLOOR", "ROUND")  # torch returns integer inputs unchanged


def float_input(ctx, x):
    """An integer or bool input of a float op, promoted to float as torch does."""
    x = ctx.as_tensor(x)
    return x if ctx.dtype(x).is_floating_point else ctx.cast(x, ctx.float_dtype)


def _unary(key, op):
    def handler(ctx, self):
        x = ctx.as_tensor(self)
        if not ctx.dtype(x).is_floating_point:
            if op in _IDENTITY_ON_INTEGERS or (op == "SIGN" and ctx.dtype(x) == torch.bool):
                return ctx.identity(x)
            if op not in _KEEPS_INTEGERS:
                x = ctx.cast(x, ctx.float_dtype)
        return ctx.unary(x, op)
    handler.__name__ = key.split("::")[1]
    register_node_handler(key)(handler)


for _name, _op in (("exp", "EXP"), ("log", "LOG"), ("sqrt", "SQRT"), ("reciprocal", "RECIP"), ("abs", "ABS"),
                   ("neg", "NEG"), ("sin", "SIN"), ("cos", "COS"), ("tan", "TAN"), ("asin", "ASIN"),
                   ("acos", "ACOS"), ("atan", "ATAN"), ("sinh", "SINH"), ("cosh", "COSH"), ("ceil", "CEIL"),
                   ("floor", "FLOOR"), ("erf", "ERF"), ("sign", "SIGN"), ("isinf", "ISINF"), ("isnan", "ISNAN")):
    _unary(f"aten::{_name}", _op)


@register_node_handler("aten::round(Tensor self) -> Tensor")
def round_(ctx, self, decimals=0):
    """Also ``round.decimals``: ``round(x * 10^d) / 10^d`` (``round(x / 10^-d) * 10^-d`` for d < 0),
    half to even like torch; integer inputs are returned unchanged."""
    x = ctx.as_tensor(self)
    dtype = ctx.dtype(x)
    if not dtype.is_floating_point:
        return ctx.identity(x)
    if not decimals:
        return ctx.unary(x, "ROUND")
    ten = float(10 ** abs(int(decimals)))
    up, down = ("PROD", "DIV") if decimals > 0 else ("DIV", "PROD")
    return ctx.elementwise(ctx.unary(ctx.elementwise(x, ten, up, dtype=dtype), "ROUND"), ten, down, dtype=dtype)


@register_node_handler("aten::rsqrt(Tensor self) -> Tensor")
def rsqrt(ctx, self):
    return ctx.unary(ctx.unary(float_input(ctx, self), "SQRT"), "RECIP")


@register_node_handler("aten::square(Tensor self) -> Tensor")
def square(ctx, self):
    """A bool input gives int64 (the traced dtype), as in torch."""
    x = as_traced(ctx, self)
    return ctx.elementwise(x, x, "PROD")


@register_node_handler("aten::frac(Tensor self) -> Tensor")
def frac(ctx, self):
    """``x - trunc(x)`` (the sign of x; float inputs only, as in torch)."""
    from .elementwise_ext import trunc_layer

    x = ctx.as_tensor(self)
    return ctx.elementwise(x, trunc_layer(ctx, x), "SUB")


def _bound(value, dtype):
    """A clamp bound in ``dtype``; a nonzero bound that would round to 0 (1e-12 in fp16) keeps its sign."""
    if isinstance(value, (int, float)) and dtype.is_floating_point and value != 0:
        if torch.tensor(value, dtype=dtype).item() == 0:
            return torch.finfo(dtype).tiny * (1 if value > 0 else -1)
    return value


@register_node_handler("aten::clamp(Tensor self, Scalar? min=None, Scalar? max=None) -> Tensor")
def clamp(ctx, self, min=None, max=None):
    """The result dtype is torch's promotion of the input and the bounds (an integer tensor clamped
    to a float bound is float)."""
    y = self
    tt = ctx.expected[0] if ctx.expected else None
    dtype = ctx.logical_dtype(tt.dtype) if tt is not None and tt.dtype is not None else \
        ctx.result_dtype(self, *(b for b in (min, max) if b is not None))
    min, max = _bound(min, dtype), _bound(max, dtype)
    lo, hi = ("OR", "AND") if dtype == torch.bool else ("MAX", "MIN")  # TensorRT has no MAX/MIN of bools
    if min is not None:
        y = ctx.elementwise(y, min, lo, dtype=dtype)
    if max is not None:
        y = ctx.elementwise(y, max, hi, dtype=dtype)
    return y if (min is not None or max is not None) else ctx.identity(self)


@register_node_handler("aten::clamp_min(Tensor self, Scalar min) -> Tensor")
def clamp_min(ctx, self, min):
    return clamp(ctx, self, min, None)


@register_node_handler("aten::clamp_max(Tensor self, Scalar max) -> Tensor")
def clamp_max(ctx, self, max):
    return clamp(ctx, self, None, max)


@register_node_handler("aten::where(Tensor condition, Tensor self, Tensor other) -> Tensor")
def where(ctx, condition, self, other):
    """All overloads (tensor or scalar branches); the result dtype is what the trace recorded."""
    tt = ctx.expected[0]
    dtype = ctx.logical_dtype(tt.dtype) if tt is not None and tt.dtype is not None else None
    return ctx.select(condition, self, other, dtype=dtype)


@register_node_handler("aten::masked_fill(Tensor self, Tensor mask, Scalar value) -> Tensor")
def masked_fill(ctx, self, mask, value):
    dtype = ctx.dtype(self)
    fill = value if not isinstance(value, torch.Tensor) else value.to(dtype)
    return ctx.select(mask, ctx.as_tensor(fill, dtype) if ctx.is_tensor(fill) else torch.tensor(fill, dtype=dtype), self)
