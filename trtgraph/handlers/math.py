"""Scans, selections and reductions that are not plain ``IReduceLayer``s: cumsum
(ICumulativeLayer), topk/sort/argmax/argmin/max/min (ITopKLayer; torch's indices are int64),
remainder/fmod, einsum (IEinsumLayer, or products and sums for integer operands), vector norms,
var/std (with correction) and diff.
"""
from __future__ import annotations

import math

import torch

from ..context import T
from ..registry import Traced, register_node_handler
from .reduce import with_dtype

TOPK_MAX_K = 3840  # TensorRT's limit on k


def _expected_dtype(ctx, index=0):
    tt = ctx.expected[index] if ctx.expected and len(ctx.expected) > index else None
    return ctx.logical_dtype(tt.dtype) if tt is not None and tt.dtype is not None else None


def _numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


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


# ---------------------------------------------------------------------------- topk family

def topk(ctx, x, k, dim, largest=True):
    """(values, int64 indices) of the k largest/smallest along ``dim``, sorted. TensorRT's TopK
    needs rank >= 2 and (in TensorRT 10) one of the last four axes: rank-1 inputs gain a leading
    1, and an axis before the last four is swapped with the last one; bools go through int32.
    Among equal values, torch returns the first index; the reference evaluator orders ties by
    index too (TensorRT documents no order)."""
    x = ctx.as_tensor(x)
    is_bool = ctx.dtype(x) == torch.bool
    if is_bool:
        x = ctx.cast(x, torch.int32)
    shape = ctx.shape(x)
    rank = len(shape)
    if rank == 0:
        x, rank, d, squeeze = ctx.reshape(x, (1, 1)), 2, 1, ()
    else:
        d = ctx.axis(dim, rank)
        squeeze = None
    if rank == 1:
        x = ctx.reshape(x, (1,) + tuple(shape))
        rank, d, squeeze = 2, 1, (k,)
    swap = None
    if d < rank - 4:
        swap = list(range(rank))
        swap[d], swap[-1] = swap[-1], swap[d]
        x = ctx.permute(x, swap)
        d = rank - 1
    op = T().TopKOperation.MAX if largest else T().TopKOperation.MIN
    layer = ctx.network.add_topk(x, op, int(k), 1 << d)
    values, indices = layer.get_output(0), layer.get_output(1)
    indices = ctx.cast(indices, torch.int64)
    if swap is not None:
        values, indices = ctx.permute(values, swap), ctx.permute(indices, swap)
    if squeeze is not None:
        values, indices = ctx.reshape(values, squeeze), ctx.reshape(indices, squeeze)
    if is_bool:
        values = ctx.cast(values, torch.bool)
    return values, indices


def _axis_length(x, dim):
    if not isinstance(x, Traced) or x.shape is None:
        return None
    if len(x.shape) == 0:
        return 1
    d = dim + len(x.shape) if dim < 0 else dim
    return x.shape[d] if 0 <= d < len(x.shape) else None


def _validate_topk(args):
    k = args.get("k")
    if isinstance(k, int) and k > TOPK_MAX_K:
        return f"topk with k={k} (TensorRT's TopK takes k <= {TOPK_MAX_K})"
    return None


@register_node_handler("aten::topk(Tensor self, SymInt k, int dim=-1, bool largest=True, bool sorted=True) "
                       "-> (Tensor values, Tensor indices)", validator=_validate_topk)
def topk_(ctx, self, k, dim=-1, largest=True, sorted=True):
    """``sorted=False`` leaves the order to the implementation: TensorRT's is sorted."""
    return topk(ctx, self, k, dim, largest)


def _validate_sort(args):
    n = _axis_length(args.get("self"), args.get("dim", -1))
    if n is not None and n > TOPK_MAX_K:
        return f"sort along an axis of {n} elements (TensorRT's TopK takes at most {TOPK_MAX_K})"
    return None


@register_node_handler("aten::sort(Tensor self, int dim=-1, bool descending=False) -> (Tensor values, Tensor indices)",
                       validator=_validate_sort)
def sort(ctx, self, dim=-1, descending=False, stable=None):
    """Also ``sort.stable``. Equal values may come in another order than torch's stable sort."""
    shape = ctx.shape(self)
    n = shape[ctx.axis(dim, len(shape))] if shape else 1
    return topk(ctx, self, n, dim, bool(descending))


def _extreme(ctx, x, dim, largest):
    """(values, indices) of the max/min along ``dim`` kept as a size-1 axis. As in torch, a NaN
    wins both ways: a slice holding one gives NaN and the first NaN's index (TensorRT documents
    no NaN order for TopK, so NaNs are located with a TopK of ``isnan`` instead)."""
    values, idx = topk(ctx, x, 1, dim, largest)
    x = ctx.as_tensor(x)
    if not ctx.dtype(x).is_floating_point:
        return values, idx
    nan_count, nan_idx = topk(ctx, ctx.cast(ctx.unary(x, "ISNAN"), torch.int32), 1, dim, True)
    has_nan = ctx.elementwise(nan_count, 0, "GREATER", dtype=torch.int32)
    dtype = ctx.dtype(values)
    return ctx.select(has_nan, float("nan"), values, dtype=dtype), ctx.select(has_nan, nan_idx, idx, dtype=torch.int64)


def _arg(ctx, self, dim, keepdim, largest):
    x = ctx.as_tensor(self)
    shape = ctx.shape(x)
    if dim is None:
        flat = ctx.reshape(x, (1, _numel(shape)))
        _, idx = _extreme(ctx, flat, 1, largest)
        return ctx.reshape(idx, (1,) * len(shape) if keepdim else ())
    _, idx = _extreme(ctx, x, dim, largest)
    if keepdim or not shape:
        return idx
    d = ctx.axis(dim, len(shape))
    return ctx.reshape(idx, shape[:d] + shape[d + 1:])


@register_node_handler("aten::argsort(Tensor self, int dim=-1, bool descending=False) -> Tensor",
                       validator=_validate_sort)
def argsort(ctx, self, dim=-1, descending=False, stable=None):
    """Also ``argsort.stable``: the indices of ``sort`` (same tie order)."""
    return sort(ctx, self, dim, descending, stable)[1]


@register_node_handler("aten::argmax(Tensor self, int? dim=None, bool keepdim=False) -> Tensor")
def argmax(ctx, self, dim=None, keepdim=False):
    return _arg(ctx, self, dim, keepdim, True)


@register_node_handler("aten::argmin(Tensor self, int? dim=None, bool keepdim=False) -> Tensor")
def argmin(ctx, self, dim=None, keepdim=False):
    return _arg(ctx, self, dim, keepdim, False)


def _minmax_dim(ctx, self, dim, keepdim, largest):
    shape = ctx.shape(self)
    values, idx = _extreme(ctx, self, dim, largest)
    if keepdim or not shape:
        return values, idx
    d = ctx.axis(dim, len(shape))
    out = shape[:d] + shape[d + 1:]
    return ctx.reshape(values, out), ctx.reshape(idx, out)


def _full_reduce(ctx, self, op):
    """max()/min() of every element; bools through int32 (TensorRT's MAX/MIN take numbers)."""
    x = ctx.as_tensor(self)
    if ctx.rank(x) == 0:
        return ctx.identity(x)
    if ctx.dtype(x) == torch.bool:
        return ctx.cast(ctx.reduce(ctx.cast(x, torch.int32), op, list(range(ctx.rank(x))), False), torch.bool)
    return ctx.reduce(x, op, list(range(ctx.rank(x))), False)


def _pairwise(ctx, self, other, op):
    """max.other/min.other in the traced result dtype (torch ranks a 0-d tensor operand below one
    with dimensions: int32 with a 0-d int64 is int32); two bools are OR (max) / AND (min)."""
    dtype = _expected_dtype(ctx) or ctx.result_dtype(self, other)
    if dtype == torch.bool:
        op = {"MAX": "OR", "MIN": "AND"}[op]
    return ctx.elementwise(self, other, op, dtype=dtype)


@register_node_handler("aten::max.dim(Tensor self, int dim, bool keepdim=False) -> (Tensor values, Tensor indices)")
def max_dim(ctx, self, dim, keepdim=False):
    return _minmax_dim(ctx, self, dim, keepdim, True)


@register_node_handler("aten::min.dim(Tensor self, int dim, bool keepdim=False) -> (Tensor values, Tensor indices)")
def min_dim(ctx, self, dim, keepdim=False):
    return _minmax_dim(ctx, self, dim, keepdim, False)


@register_node_handler("aten::max.other(Tensor self, Tensor other) -> Tensor")
def max_other(ctx, self, other):
    return _pairwise(ctx, self, other, "MAX")


@register_node_handler("aten::min.other(Tensor self, Tensor other) -> Tensor")
def min_other(ctx, self, other):
    return _pairwise(ctx, self, other, "MIN")


@register_node_handler("aten::max(Tensor self) -> Tensor")
def max_(ctx, self):
    return _full_reduce(ctx, self, "MAX")


@register_node_handler("aten::min(Tensor self) -> Tensor")
def min_(ctx, self):
    return _full_reduce(ctx, self, "MIN")


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


# ---------------------------------------------------------------------------- einsum

_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def parse_einsum(equation: str, ranks: list[int]):
    """Explicit subscripts of every operand and of the output, ellipses expanded, as lists of
    labels (torch accepts upper and lower case; TensorRT lower case only)."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise ValueError(f"einsum equation {equation!r} has {len(terms)} operands, got {len(ranks)} tensors")
    used = {c for c in eq if c.isalpha()}
    spare = iter(c for c in _LETTERS + _LETTERS.upper() if c not in used)
    ell_rank = max([r - len(t.replace("...", "")) for t, r in zip(terms, ranks) if "..." in t] or [0])
    ell = [next(spare) for _ in range(ell_rank)]
    subs = []
    for t, r in zip(terms, ranks):
        if "..." in t:
            head, _, tail = t.partition("...")
            n = r - len(head) - len(tail)
            subs.append(list(head) + ell[ell_rank - n:] + list(tail))
        else:
            subs.append(list(t))
    if arrow:
        if "..." in rhs:
            head, _, tail = rhs.partition("...")
            out = list(head) + ell + list(tail)
        else:
            out = list(rhs)
    else:
        counts = {}
        for s in subs:
            for c in s:
                counts[c] = counts.get(c, 0) + 1
        out = ell + sorted(c for c, n in counts.items() if n == 1 and c not in ell)
    return subs, out


def _einsum_layer(ctx, operands, subs, out):
    labels = {}
    for c in [c for s in subs for c in s] + out:
        if c not in labels:
            if len(labels) >= len(_LETTERS):
                raise ctx.error("einsum with more than 26 distinct subscripts")
            labels[c] = _LETTERS[len(labels)]
    eq = ",".join("".join(labels[c] for c in s) for s in subs) + "->" + "".join(labels[c] for c in out)
    return ctx.network.add_einsum(list(operands), eq).get_output(0)


def _einsum_products(ctx, operands, subs, out, sizes):
    """Broadcast product of the operands over all subscripts, summed over the contracted ones
    (for integer operands, which TensorRT's einsum and matrix multiply do not take)."""
    contracted = [c for c in sizes if c not in out]
    order = list(out) + contracted
    total = None
    for x, s in zip(operands, subs):
        if len(set(s)) != len(s):
            raise ctx.error(f"einsum of integer tensors with a repeated subscript in one operand ({''.join(s)})")
        present = [c for c in order if c in s]
        perm = [s.index(c) for c in present]
        if perm != list(range(len(perm))):
            x = ctx.permute(x, perm)
        x = ctx.reshape(x, [sizes[c] if c in s else 1 for c in order])
        total = x if total is None else ctx.elementwise(total, x, "PROD")
    if contracted:
        total = ctx.reduce(total, "SUM", list(range(len(out), len(order))), False)
    elif total is operands[0]:
        total = ctx.identity(total)
    return total


@register_node_handler("aten::einsum(str equation, Tensor[] tensors, *, int[]? path=None) -> Tensor")
def einsum(ctx, equation, tensors, path=None):
    dtype = _expected_dtype(ctx) or ctx.result_dtype(*tensors)
    operands = [ctx.as_tensor(t, dtype) for t in tensors]
    subs, out = parse_einsum(equation, [ctx.rank(t) for t in operands])
    sizes = {}
    for x, s in zip(operands, subs):
        for c, n in zip(s, ctx.shape(x)):
            sizes[c] = max(sizes.get(c, 1), n)
    if dtype.is_floating_point:
        return _einsum_layer(ctx, operands, subs, out)
    return _einsum_products(ctx, operands, subs, out, sizes)


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


# ---------------------------------------------------------------------------- var, std

def _correction(unbiased, correction):
    if correction is not None:
        return float(correction)
    return 1.0 if unbiased is None or unbiased else 0.0


def variance(ctx, x, dim, correction, keepdim):
    """(variance, mean): ``sum((x - mean)^2) / (N - correction)`` over ``dim`` (float32 in fp16/bf16
    networks through the precision policy's default, like the norms)."""
    x, dims, squeeze = _reduction_input(ctx, x, dim, keepdim)
    shape = ctx.shape(x)
    n = _numel([shape[ctx.axis(d, len(shape))] for d in dims])
    dt = ctx.dtype(x)  # explicit: ctx.elementwise would map fp32 to the network's float dtype
    mean = ctx.reduce(x, "AVG", dims, True)
    centered = ctx.elementwise(x, mean, "SUB", dtype=dt)
    total = ctx.reduce(ctx.elementwise(centered, centered, "PROD", dtype=dt), "SUM", dims, keepdim)
    var = ctx.elementwise(total, float(max(n - correction, 0.0)), "DIV", dtype=dt)
    if not keepdim:
        mean = ctx.reduce(x, "AVG", dims, False)
    if squeeze:
        var, mean = ctx.reshape(var, ()), ctx.reshape(mean, ())
    return var, mean


def _var_args(args):
    dim = args.get("dim")
    return dim, _correction(args.get("unbiased"), args.get("correction")), bool(args.get("keepdim", False))


@register_node_handler("aten::var(Tensor self, int[1]? dim=None, *, Scalar? correction=None, bool keepdim=False) -> Tensor")
def var(ctx, self, **args):
    """Every overload: var(self, unbiased), var.dim(self, dim, unbiased, keepdim), var.correction."""
    dim, corr, keepdim = _var_args(args)
    return variance(ctx, self, dim, corr, keepdim)[0]


@register_node_handler("aten::std(Tensor self, int[1]? dim=None, *, Scalar? correction=None, bool keepdim=False) -> Tensor")
def std(ctx, self, **args):
    dim, corr, keepdim = _var_args(args)
    return ctx.unary(variance(ctx, self, dim, corr, keepdim)[0], "SQRT")


@register_node_handler("aten::var_mean(Tensor self, int[1]? dim=None, *, Scalar? correction=None, bool keepdim=False) "
                       "-> (Tensor, Tensor)")
def var_mean(ctx, self, **args):
    dim, corr, keepdim = _var_args(args)
    return variance(ctx, self, dim, corr, keepdim)


@register_node_handler("aten::std_mean(Tensor self, int[1]? dim=None, *, Scalar? correction=None, bool keepdim=False) "
                       "-> (Tensor, Tensor)")
def std_mean(ctx, self, **args):
    dim, corr, keepdim = _var_args(args)
    v, m = variance(ctx, self, dim, corr, keepdim)
    return ctx.unary(v, "SQRT"), m


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
