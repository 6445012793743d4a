"""remainder and fmod: integer paths with TensorRT's division, and an exact float path (Dekker's
product) in float32."""
from __future__ import annotations

import torch

from ..registry import register_node_handler
from .math_common import _expected_dtype


# ---------------------------------------------------------------------------- remainder, fmod
# Float fmod is exact in IEEE arithmetic (the result is representable), but ``a - trunc(a/b)*b``
# is not: a/b can round up onto an integer (1.0 / 0.1 is 10 in float32, fmod is 0.0999999866)
# and q*b rounds. The float path computes in float32 (fp16/bf16 operands are cast up; torch
# computes them in float32 too), takes q = floor(|a| / |b|), gets |a| - q*|b| exactly with
# Dekker's product (Veltkamp splits into 12-bit halves) and adds |b| back when the rounded
# quotient was one too large. Exact while |a / b| < 2^24.

_SPLIT = 4097.0  # 2^12 + 1: Veltkamp's splitter for float32's 24-bit significand
_HUGE = 2.0 ** 100  # larger divisors are scaled by 2^-60 first (4097 * b must not overflow)


def _f32(ctx, a, b, op):
    return ctx.elementwise(a, b, op, dtype=torch.float32)


def _split(ctx, x):
    """(hi, lo), x = hi + lo exactly, each with at most 12 significant bits."""
    c = _f32(ctx, x, _SPLIT, "PROD")
    hi = _f32(ctx, c, _f32(ctx, c, x, "SUB"), "SUB")
    return hi, _f32(ctx, x, hi, "SUB")


def _exact_residual(ctx, a, q, b):
    """``a - q*b`` without rounding when q is the rounded quotient a/b (|q| < 2^24)."""
    p = _f32(ctx, q, b, "PROD")
    qh, ql = _split(ctx, q)
    bh, bl = _split(ctx, b)
    err = _f32(ctx, _f32(ctx, qh, bh, "PROD"), p, "SUB")  # q*b - p, exactly
    for u, v in ((qh, bl), (ql, bh), (ql, bl)):
        err = _f32(ctx, err, _f32(ctx, u, v, "PROD"), "SUM")
    return _f32(ctx, _f32(ctx, a, p, "SUB"), err, "SUB")


def _is_negative(ctx, x):
    """x < 0 or x is -0.0 (1/-0.0 is -inf)."""
    recip_neg = _f32(ctx, _f32(ctx, 1.0, x, "DIV"), 0.0, "LESS")
    return ctx.elementwise(_f32(ctx, x, 0.0, "LESS"), recip_neg, "OR", dtype=torch.bool)


def _float_fmod(ctx, a, b):
    """C's fmod of two float32 tensors of equal rank: NaN for a = +-inf, b = 0 or a NaN operand;
    ``a`` itself for |a| < |b| (infinite divisors included); the sign of ``a`` (zeros too)."""
    ua, ub = ctx.unary(a, "ABS"), ctx.unary(b, "ABS")
    huge = _f32(ctx, ub, _HUGE, "GREATER")
    down = ctx.select(huge, 2.0 ** -60, 1.0, dtype=torch.float32)
    sa, sb = _f32(ctx, ua, down, "PROD"), _f32(ctx, ub, down, "PROD")
    q = ctx.unary(_f32(ctx, sa, sb, "DIV"), "FLOOR")
    r = _exact_residual(ctx, sa, q, sb)
    r = ctx.select(_f32(ctx, r, 0.0, "LESS"), _f32(ctx, r, sb, "SUM"), r, dtype=torch.float32)
    r = _f32(ctx, r, ctx.select(huge, 2.0 ** 60, 1.0, dtype=torch.float32), "PROD")
    r = ctx.select(_f32(ctx, ua, ub, "LESS"), ua, r, dtype=torch.float32)
    return ctx.select(_is_negative(ctx, a), ctx.unary(r, "NEG"), r, dtype=torch.float32)


def _float_operands(ctx, self, other, dtype):
    """Both operands in torch's result dtype (a Python scalar rounds to it, as in eager), then
    float32 at equal rank."""
    a, b = ctx.operands(self, other, dtype=dtype)
    return ctx.cast(a, torch.float32), ctx.cast(b, torch.float32)


@register_node_handler("aten::remainder(Tensor self, Tensor other) -> Tensor")
def remainder(ctx, self, other):
    """Python's modulo (the result has the divisor's sign): fmod, plus ``b`` when a nonzero fmod
    has the other sign (as torch computes it: -1 % inf is inf)."""
    dtype = _expected_dtype(ctx) or ctx.result_dtype(self, other)
    if not dtype.is_floating_point:
        q = ctx.elementwise(self, other, "FLOOR_DIV", dtype=dtype)
        return ctx.elementwise(self, ctx.elementwise(q, other, "PROD", dtype=dtype), "SUB", dtype=dtype)
    a, b = _float_operands(ctx, self, other, dtype)
    m = _float_fmod(ctx, a, b)
    nonzero = ctx.unary(_f32(ctx, m, 0.0, "EQUAL"), "NOT")
    signs_differ = ctx.elementwise(_f32(ctx, m, 0.0, "LESS"), _f32(ctx, b, 0.0, "LESS"), "XOR", dtype=torch.bool)
    fix = ctx.elementwise(nonzero, signs_differ, "AND", dtype=torch.bool)
    return ctx.cast(ctx.select(fix, _f32(ctx, m, b, "SUM"), m, dtype=torch.float32), dtype)


@register_node_handler("aten::fmod(Tensor self, Tensor other) -> Tensor")
def fmod(ctx, self, other):
    """C's fmod (the result has the dividend's sign); integers: ``a - (a / b) * b`` with
    TensorRT's truncating integer DIV."""
    dtype = _expected_dtype(ctx) or ctx.result_dtype(self, other)
    if not dtype.is_floating_point:
        q = ctx.elementwise(self, other, "DIV", dtype=dtype)
        return ctx.elementwise(self, ctx.elementwise(q, other, "PROD", dtype=dtype), "SUB", dtype=dtype)
    return ctx.cast(_float_fmod(ctx, *_float_operands(ctx, self, other, dtype)), dtype)
