"""A generated case matrix for the op families where dtype, rank, dim and operand-kind coverage
matters most (issue 11, item 5): unary and binary elementwise ops, their in-place variants,
reductions and shape ops.

Every combination is generated, then run through EAGER torch (CPU) once: the combinations eager
itself rejects are dropped (``EAGER_REJECTED`` counts them); that, not trtgraph's behaviour,
decides what is tested. ``default_subset`` picks a deterministic representative subset for the
default test run; the whole matrix runs under ``-m slow``.
"""
from __future__ import annotations

import math
import random
import warnings
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

F32, F16, BF16, I32, I64, BOOL = torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.int64, torch.bool
DTYPES = (F32, F16, BF16, I32, I64, BOOL)
DNAME = {F32: "f32", F16: "f16", BF16: "bf16", I32: "i32", I64: "i64", BOOL: "bool"}

# one small shape per rank, and for each a broadcasting partner of the same or a lower rank
SHAPES = {0: (), 1: (3,), 2: (2, 3), 3: (2, 3, 4), 4: (2, 1, 3, 2), 5: (1, 2, 3, 1, 2)}
PARTNERS = {0: [(), (3,)], 1: [(3,), (1,), ()], 2: [(2, 3), (1, 3), (2, 1), (3,)],
            3: [(2, 3, 4), (2, 1, 4), (3, 1), ()], 4: [(2, 1, 3, 2), (1, 4, 1, 2), (3, 1)],
            5: [(1, 2, 3, 1, 2), (2, 1, 1, 3, 1), (1, 2)]}

# relative tolerance (max error / max |eager|) and absolute tolerance per input float dtype
TOL = {F32: (1e-4, 1e-5), F16: (1e-2, 1e-3), BF16: (6e-2, 1e-2)}


class Fn(nn.Module):
    """A function of the inputs, as a module (torch.jit.trace traces its forward)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(*xs)


@dataclass
class Case:
    id: str
    op: str  # the family's op name ("add", "sum", "add_", ...)
    family: str  # unary, binary, inplace, reduce, shape
    fn: Callable
    specs: list  # (shape, dtype, domain, seed) of each input, made on first use
    dtype: torch.dtype  # the first input's dtype
    rank: int  # the first input's rank
    tags: tuple = field(default=())  # "scalar_left", "keepdim", "negdim", "bcast", ...
    # a wider tolerance for ops whose fp16/bf16 result is ill-conditioned (set per op below)
    tol_scale: float = 1.0

    @property
    def inputs(self):
        if not hasattr(self, "_inputs"):
            self._inputs = [values(*s) for s in self.specs]
        return [t.clone() for t in self._inputs]

    @property
    def float_dtype(self):
        """The network's float dtype: torch's promotion of the float inputs (float32 without any)."""
        floats = [s[1] for s in self.specs if s[1].is_floating_point]
        dtype = floats[0] if floats else F32
        for f in floats[1:]:
            dtype = torch.promote_types(dtype, f)
        return dtype

    @property
    def precision(self):
        return {F32: "fp32", F16: "fp16", BF16: "bf16"}[self.float_dtype]

    @property
    def tolerance(self):
        rtol, atol = TOL[self.float_dtype]
        return rtol * self.tol_scale, atol * self.tol_scale


# --------------------------------------------------------------------------- input values

def values(shape, dtype, domain="any", seed=0):
    """Deterministic values for ``domain``: any, pos (> 0), nonzero, pow2 (+-2^k, exact divisors),
    unit (|x| < 1), exponent (small, >= 0)."""
    g = torch.Generator().manual_seed(seed)
    if dtype == BOOL:
        if domain in ("pos", "nonzero", "pow2"):
            return torch.ones(shape, dtype=BOOL)
        return torch.randint(0, 2, shape, generator=g).to(BOOL)
    if dtype.is_floating_point:
        if domain in SPECIAL:  # fixed values of shape (3, 4)
            return torch.tensor(SPECIAL[domain], dtype=dtype)
        if domain == "any":
            x = torch.randn(shape, generator=g) * 2
        elif domain == "pos":
            x = torch.rand(shape, generator=g) * 2 + 0.25
        elif domain == "nonzero":
            x = (torch.rand(shape, generator=g) + 0.5) * torch.where(torch.rand(shape, generator=g) < 0.5, -1.0, 1.0)
        elif domain == "pow2":  # exact divisors: floor/trunc of a quotient agree in every precision
            x = 2.0 ** torch.randint(-1, 3, shape, generator=g).float()
            x = x * torch.where(torch.rand(shape, generator=g) < 0.5, -1.0, 1.0)
        elif domain == "unit":
            x = torch.rand(shape, generator=g) * 1.8 - 0.9
        else:  # exponent
            x = torch.rand(shape, generator=g) * 2
        return x.to(dtype)
    lo, hi = {"any": (-4, 5), "pos": (1, 5), "unit": (-1, 2), "exponent": (0, 3), "nonzero": (1, 5), "pow2": (1, 5)}[domain]
    x = torch.randint(lo, hi, shape, generator=g)
    if domain in ("nonzero", "pow2"):
        x = x * torch.where(torch.rand(shape, generator=g) < 0.5, -1, 1)
    return x.to(dtype)


_INF, _NAN = float("inf"), float("nan")
SPECIAL = {
    # row 0 NaN, row 1 infinities and signed zeros, row 2 halfway values (round half to even)
    "special": [[_NAN, 1.0, -2.0, 0.5], [_INF, -_INF, -0.0, 0.0], [2.5, -0.5, 1.5, -2.5]],
    # the same without infinities: eager's gelu(inf) is NaN in its vectorized kernel, inf otherwise
    "special_finite": [[_NAN, 1.0, -2.0, 0.5], [60000.0, -60000.0, -0.0, 0.0], [2.5, -0.5, 1.5, -2.5]],
    # quotients that round up onto an integer (1.0 / 0.1 is 10 in float, 1.0 // 0.1 is 9)
    "tenths_a": [[1.0, 7.0, -1.0, 0.3], [2.1, -0.7, 0.9, 0.5], [-0.3, 1.1, 3.3, -2.2]],
    "tenths_b": [[0.1, 0.7, 0.1, 0.1], [0.7, 0.1, 0.3, -0.1], [0.1, 0.1, 1.1, 0.2]],
}
UNARY_FINITE_SPECIALS = ("gelu",)
REDUCE_FINITE_SPECIALS = ("var_mean",)  # eager's var_mean gives a NaN mean where torch.mean gives -inf
QUOTIENT_OPS = ("div", "div_floor", "div_trunc", "floor_divide", "remainder", "fmod")


def spec(shape, dtype, domain="any", seed=0):
    return (tuple(shape), dtype, domain, seed)


# --------------------------------------------------------------------------- unary ops

def _t(name):
    return getattr(torch, name)


# name -> (function, input domain, tolerance scale)
UNARY = {
    "abs": (torch.abs, "any", 1), "neg": (torch.neg, "any", 1), "exp": (torch.exp, "any", 1),
    "expm1": (torch.expm1, "any", 1), "log": (torch.log, "pos", 1), "log2": (torch.log2, "pos", 1),
    "log10": (torch.log10, "pos", 1), "log1p": (torch.log1p, "pos", 1), "sqrt": (torch.sqrt, "pos", 1),
    "rsqrt": (torch.rsqrt, "pos", 1), "sin": (torch.sin, "any", 1), "cos": (torch.cos, "any", 1),
    "tan": (torch.tan, "unit", 1), "asin": (torch.asin, "unit", 1), "acos": (torch.acos, "unit", 1),
    "atan": (torch.atan, "any", 1), "sinh": (torch.sinh, "any", 1), "cosh": (torch.cosh, "any", 1),
    "tanh": (torch.tanh, "any", 1), "sigmoid": (torch.sigmoid, "any", 1), "relu": (torch.relu, "any", 1),
    "gelu": (torch.nn.functional.gelu, "any", 1),
    "gelu_tanh": (lambda x: torch.nn.functional.gelu(x, approximate="tanh"), "any", 1),
    "silu": (torch.nn.functional.silu, "any", 1), "floor": (torch.floor, "any", 1),
    "ceil": (torch.ceil, "any", 1), "round": (torch.round, "any", 1),
    "round_dec": (lambda x: torch.round(x, decimals=1), "any", 1), "trunc": (torch.trunc, "any", 1),
    "frac": (torch.frac, "any", 1), "sign": (torch.sign, "any", 1), "reciprocal": (torch.reciprocal, "nonzero", 1),
    "erf": (torch.erf, "any", 1), "square": (torch.square, "any", 1), "bitwise_not": (torch.bitwise_not, "any", 1),
    "logical_not": (torch.logical_not, "any", 1), "isnan": (torch.isnan, "any", 1),
    "isinf": (torch.isinf, "any", 1), "clamp": (lambda x: torch.clamp(x, -1, 2), "any", 1),
    "clamp_float": (lambda x: torch.clamp(x, min=-0.5), "any", 1),
    "hardtanh": (torch.nn.functional.hardtanh, "any", 1), "relu6": (torch.nn.functional.relu6, "any", 1),
    "leaky_relu": (torch.nn.functional.leaky_relu, "any", 1), "elu": (torch.nn.functional.elu, "any", 1),
    "softplus": (torch.nn.functional.softplus, "any", 1), "hardswish": (torch.nn.functional.hardswish, "any", 1),
    "hardsigmoid": (torch.nn.functional.hardsigmoid, "any", 1), "mish": (torch.nn.functional.mish, "any", 1),
    "softmax": (lambda x: torch.softmax(x, -1), "any", 1), "log_softmax": (lambda x: torch.log_softmax(x, -1), "any", 1),
}


def unary_cases():
    out = []
    for name, (fn, domain, scale) in UNARY.items():
        for dtype in DTYPES:
            for rank in range(6):
                x = spec(SHAPES[rank], dtype, domain, seed=rank)
                out.append(Case(f"unary-{name}-{DNAME[dtype]}-r{rank}", name, "unary", fn, [x], dtype, rank,
                                tol_scale=scale))
    return out


# --------------------------------------------------------------------------- binary ops

def _where(a, b):
    return torch.where(a > b, a, b) if a.dtype != BOOL else torch.where(a, a, b)


# name -> (function of (a, b), domain of a, domain of b, scalar forms)
# scalar forms: functions of (tensor, python scalar) -> (left, right) callables
BINARY = {
    "add": (lambda a, b: a + b, "any", "any"),
    "add_alpha": (lambda a, b: torch.add(a, b, alpha=2), "any", "any"),
    "sub": (lambda a, b: a - b, "any", "any"),
    "sub_alpha": (lambda a, b: torch.sub(a, b, alpha=2), "any", "any"),
    "mul": (lambda a, b: a * b, "any", "any"),
    "div": (lambda a, b: a / b, "any", "nonzero"),
    "div_floor": (lambda a, b: torch.div(a, b, rounding_mode="floor"), "any", "pow2"),
    "div_trunc": (lambda a, b: torch.div(a, b, rounding_mode="trunc"), "any", "pow2"),
    "floor_divide": (lambda a, b: a // b, "any", "pow2"),
    "remainder": (lambda a, b: a % b, "any", "pow2"),
    "fmod": (torch.fmod, "any", "pow2"),
    "pow": (lambda a, b: a ** b, "pos", "exponent"),
    "maximum": (torch.maximum, "any", "any"),
    "minimum": (torch.minimum, "any", "any"),
    "max_other": (torch.max, "any", "any"),
    "min_other": (torch.min, "any", "any"),
    "eq": (lambda a, b: a == b, "any", "any"),
    "ne": (lambda a, b: a != b, "any", "any"),
    "lt": (lambda a, b: a < b, "any", "any"),
    "le": (lambda a, b: a <= b, "any", "any"),
    "gt": (lambda a, b: a > b, "any", "any"),
    "ge": (lambda a, b: a >= b, "any", "any"),
    "logical_and": (torch.logical_and, "any", "any"),
    "logical_or": (torch.logical_or, "any", "any"),
    "logical_xor": (torch.logical_xor, "any", "any"),
    "bitwise_and": (lambda a, b: a & b, "any", "any"),
    "bitwise_or": (lambda a, b: a | b, "any", "any"),
    "bitwise_xor": (lambda a, b: a ^ b, "any", "any"),
    "where": (_where, "any", "any"),
    "atan2": (torch.atan2, "any", "nonzero"),
}

# Python-scalar operand forms: op -> function(tensor, scalar) for each side ("left": scalar op tensor)
SCALAR_FORMS = {
    "add": (lambda x, s: x + s, lambda x, s: s + x),
    "sub": (lambda x, s: x - s, lambda x, s: s - x),
    "mul": (lambda x, s: x * s, lambda x, s: s * x),
    "div": (lambda x, s: x / s, lambda x, s: s / x),
    "div_floor": (lambda x, s: torch.div(x, s, rounding_mode="floor"), None),
    "div_trunc": (lambda x, s: torch.div(x, s, rounding_mode="trunc"), None),
    "floor_divide": (lambda x, s: x // s, lambda x, s: s // x),
    "remainder": (lambda x, s: x % s, lambda x, s: s % x),
    "fmod": (lambda x, s: torch.fmod(x, s), None),
    "pow": (lambda x, s: x ** s, lambda x, s: s ** x),
    "eq": (lambda x, s: x == s, lambda x, s: s == x),
    "ne": (lambda x, s: x != s, None),
    "lt": (lambda x, s: x < s, lambda x, s: s < x),
    "le": (lambda x, s: x <= s, None),
    "gt": (lambda x, s: x > s, None),
    "ge": (lambda x, s: x >= s, lambda x, s: s >= x),
    "bitwise_and": (lambda x, s: x & s, lambda x, s: s & x),
    "bitwise_or": (lambda x, s: x | s, None),
    "bitwise_xor": (lambda x, s: x ^ s, None),
    "logical_and": (lambda x, s: torch.logical_and(x, torch.tensor(s)), None),
    "where": (lambda x, s: torch.where(x > 0, x, s), lambda x, s: torch.where(x > 0, s, x)),
    "maximum": (lambda x, s: torch.clamp_min(x, s), None),
}
# the scalars tried: an int (negative for the right side of shifts of sign), a float, a bool
SCALARS = (("int", 3), ("negint", -2), ("float", 2.5), ("bool", True))
# a few mixed-dtype pairs (torch's type promotion)
MIXED = ((I32, F32), (BOOL, I64), (F16, F32), (BF16, F16), (I64, F16), (BOOL, F32), (I32, I64), (F32, BF16))
MIXED_0D = ((I32, I64), (F16, F32), (BF16, F32), (I64, I32), (BOOL, BOOL))


def _scalar_ok(op, kind):
    if kind == "bool":
        return op in ("add", "mul", "eq", "bitwise_and", "bitwise_or", "bitwise_xor", "logical_and", "where")
    if kind == "negint":
        return op in ("add", "sub", "mul", "div", "floor_divide", "remainder", "fmod", "lt", "where", "maximum",
                      "div_floor", "div_trunc", "pow", "bitwise_and")
    return True


def binary_cases():
    out = []
    for name, (fn, da, db) in BINARY.items():
        for dtype in DTYPES:
            for rank in range(6):
                for j, pshape in enumerate(PARTNERS[rank]):
                    a = spec(SHAPES[rank], dtype, da, seed=rank)
                    b = spec(pshape, dtype, db, seed=10 + j)
                    tags = ("bcast",) if pshape != SHAPES[rank] else ()
                    out.append(Case(f"binary-{name}-{DNAME[dtype]}-r{rank}-p{j}", name, "binary", fn, [a, b], dtype,
                                    rank, tags))
                    if j == len(PARTNERS[rank]) - 1 and len(pshape) < rank:  # lower rank on the left too
                        out.append(Case(f"binary-{name}-{DNAME[dtype]}-r{rank}-p{j}-swap", name, "binary", fn,
                                        [spec(pshape, dtype, da, seed=20), spec(SHAPES[rank], dtype, db, seed=21)],
                                        dtype, len(pshape), ("bcast", "lowrank_left")))
        for d1, d2 in MIXED:
            a = spec(SHAPES[2], d1, da, seed=3)
            b = spec(PARTNERS[2][1], d2, db, seed=4)
            out.append(Case(f"binary-{name}-{DNAME[d1]}x{DNAME[d2]}-r2", name, "binary", fn, [a, b], d1, 2,
                            ("mixed", "bcast")))
        for d1, d2 in MIXED_0D:  # a 0-d tensor operand does not raise the category's dtype
            a = spec(SHAPES[3], d1, da, seed=3)
            b = spec((), d2, db, seed=4)
            out.append(Case(f"binary-{name}-{DNAME[d1]}x{DNAME[d2]}0d-r3", name, "binary", fn, [a, b], d1, 3,
                            ("mixed", "mixed_0d", "bcast")))
    for name, (right, left) in SCALAR_FORMS.items():
        da, db = BINARY[name][1], BINARY[name][2]
        for dtype in DTYPES:
            for rank in (0, 1, 3, 5):
                for kind, s in SCALARS:
                    if not _scalar_ok(name, kind):
                        continue
                    for side, form in (("right", right), ("left", left)):
                        if form is None:
                            continue
                        # the scalar takes the role of the operand whose domain it must respect
                        dom = da if side == "right" else db
                        if name == "pow" and side == "left":
                            dom = "exponent"
                        x = spec(SHAPES[rank], dtype, dom, seed=rank)
                        out.append(Case(f"scalar-{name}-{DNAME[dtype]}-r{rank}-{kind}-{side}", name, "binary",
                                        (lambda f, v: lambda t: f(t, v))(form, s), [x], dtype, rank,
                                        (f"scalar_{side}", f"scalar_{kind}")))
    return out


# --------------------------------------------------------------------------- in-place variants

# name -> (function of (a, b) mutating a clone of a, domain a, domain b); unary ones take b=None
INPLACE = {
    "add_": (lambda a, b: a.add_(b), "any", "any"),
    "add_alpha_": (lambda a, b: a.add_(b, alpha=3), "any", "any"),
    "sub_": (lambda a, b: a.sub_(b), "any", "any"),
    "mul_": (lambda a, b: a.mul_(b), "any", "any"),
    "div_": (lambda a, b: a.div_(b), "any", "nonzero"),
    "div_floor_": (lambda a, b: a.div_(b, rounding_mode="floor"), "any", "pow2"),
    "pow_": (lambda a, b: a.pow_(b), "pos", "exponent"),
    "remainder_": (lambda a, b: a.remainder_(b), "any", "pow2"),
    "fmod_": (lambda a, b: a.fmod_(b), "any", "pow2"),
    "floor_divide_": (lambda a, b: a.floor_divide_(b), "any", "pow2"),
    "clamp_min_": (lambda a, b: a.clamp_min_(b), "any", "any"),
    "maximum_t": (lambda a, b: a.copy_(torch.maximum(a, b)), "any", "any"),
    "lt_": (lambda a, b: a.lt_(b), "any", "any"),
    "logical_and_": (lambda a, b: a.logical_and_(b), "any", "any"),
    "bitwise_or_": (lambda a, b: a.bitwise_or_(b), "any", "any"),
    "masked_fill_": (lambda a, b: a.masked_fill_(b > 0 if b.dtype != BOOL else b, 1), "any", "any"),
    "relu_": (lambda a, b: a.relu_(), "any", None),
    "exp_": (lambda a, b: a.exp_(), "any", None),
    "abs_": (lambda a, b: a.abs_(), "any", None),
    "neg_": (lambda a, b: a.neg_(), "any", None),
    "sigmoid_": (lambda a, b: a.sigmoid_(), "any", None),
    "tanh_": (lambda a, b: a.tanh_(), "any", None),
    "clamp_": (lambda a, b: a.clamp_(-1, 1), "any", None),
    "floor_": (lambda a, b: a.floor_(), "any", None),
    "sqrt_": (lambda a, b: a.sqrt_(), "pos", None),
    "add_scalar_": (lambda a, b: a.add_(2), "any", None),
    "mul_scalar_": (lambda a, b: a.mul_(0.5), "any", None),
}


def _inplace_fn(f):
    def fn(*xs):
        a = xs[0].clone()
        f(a, xs[1] if len(xs) > 1 else None)
        return a * 1 if a.dtype != BOOL else a.logical_not().logical_not()  # use the mutated value
    return fn


def _inplace_input_fn(f):
    def fn(*xs):  # writes into the model's input tensor itself, and returns it
        f(xs[0], xs[1] if len(xs) > 1 else None)
        return xs[0]
    return fn


INPLACE_ON_INPUT = ("add_", "mul_", "div_", "relu_", "clamp_", "lt_", "masked_fill_", "sigmoid_")


def inplace_cases():
    out = []
    for name in INPLACE_ON_INPUT:
        f, da, db = INPLACE[name]
        for dtype in DTYPES:
            for rank in (0, 2, 5):
                ins = [spec(SHAPES[rank], dtype, da, seed=rank)]
                if db is not None:
                    ins.append(spec(PARTNERS[rank][-1], dtype, db, seed=40))
                out.append(Case(f"inplace-input-{name}-{DNAME[dtype]}-r{rank}", name, "inplace", _inplace_input_fn(f),
                                ins, dtype, rank, ("inplace", "on_input")))
    for name, (f, da, db) in INPLACE.items():
        for dtype in DTYPES:
            for rank in range(6):
                shapes = [SHAPES[rank]] if db is None else [PARTNERS[rank][0], PARTNERS[rank][-1]]
                for j, pshape in enumerate(shapes):
                    a = spec(SHAPES[rank], dtype, da, seed=rank)
                    ins = [a] if db is None else [a, spec(pshape, dtype, db, seed=30 + j)]
                    tags = ("inplace",) + (("bcast",) if db is not None and pshape != SHAPES[rank] else ())
                    out.append(Case(f"inplace-{name}-{DNAME[dtype]}-r{rank}-p{j}", name, "inplace", _inplace_fn(f),
                                    ins, dtype, rank, tags))
        if db is not None:
            for d1, d2 in ((F32, I32), (F32, BOOL), (I64, I32), (I32, I64), (F16, F32), (BF16, F32)):
                a = spec(SHAPES[2], d1, da, seed=5)
                b = spec(PARTNERS[2][1], d2, db, seed=6)
                out.append(Case(f"inplace-{name}-{DNAME[d1]}x{DNAME[d2]}-r2", name, "inplace", _inplace_fn(f), [a, b],
                                d1, 2, ("inplace", "mixed", "bcast")))
    return out


# --------------------------------------------------------------------------- reductions

DIM_FORMS = (("none", None), ("d0", 0), ("dneg1", -1), ("dneg2", -2), ("d0neg1", (0, -1)), ("dneg1neg3", (-1, -3)))

REDUCE = {
    # name -> (function(x, dim, keepdim), domain, takes several dims, takes dim=None)
    "sum": (lambda x, d, k: torch.sum(x, d, keepdim=k) if d is not None else torch.sum(x, dim=None, keepdim=k), "any"),
    "mean": (lambda x, d, k: torch.mean(x, d, keepdim=k) if d is not None else torch.mean(x, dim=None, keepdim=k), "any"),
    "amax": (lambda x, d, k: torch.amax(x, d if d is not None else (), keepdim=k), "any"),
    "amin": (lambda x, d, k: torch.amin(x, d if d is not None else (), keepdim=k), "any"),
    "prod": (lambda x, d, k: torch.prod(x, d, keepdim=k) if d is not None else torch.prod(x), "any"),
    "any": (lambda x, d, k: torch.any(x, d, keepdim=k) if d is not None else torch.any(x), "any"),
    "all": (lambda x, d, k: torch.all(x, d, keepdim=k) if d is not None else torch.all(x), "any"),
    "max_dim": (lambda x, d, k: torch.max(x, d, keepdim=k) if d is not None else torch.max(x), "any"),
    "min_dim": (lambda x, d, k: torch.min(x, d, keepdim=k) if d is not None else torch.min(x), "any"),
    "argmax": (lambda x, d, k: torch.argmax(x, d, keepdim=k), "any"),
    "argmin": (lambda x, d, k: torch.argmin(x, d, keepdim=k), "any"),
    "var": (lambda x, d, k: torch.var(x, d, keepdim=k), "any"),
    "var_c0": (lambda x, d, k: torch.var(x, d, correction=0, keepdim=k), "any"),
    "std": (lambda x, d, k: torch.std(x, d, keepdim=k), "any"),
    "var_mean": (lambda x, d, k: torch.var_mean(x, d, keepdim=k), "any"),
    "norm": (lambda x, d, k: torch.norm(x, dim=d, keepdim=k), "any"),
    "norm_p1": (lambda x, d, k: torch.norm(x, p=1, dim=d, keepdim=k), "any"),
    "vector_norm_inf": (lambda x, d, k: torch.linalg.vector_norm(x, math.inf, dim=d, keepdim=k), "any"),
    "logsumexp": (lambda x, d, k: torch.logsumexp(x, d if d is not None else (), keepdim=k), "any"),
    "cumsum": (lambda x, d, k: torch.cumsum(x, d if d is not None else 0), "any"),
    "softmax_dim": (lambda x, d, k: torch.softmax(x, d if d is not None else 0), "any"),
}


def reduce_cases():
    out = []
    for name, (fn, domain) in REDUCE.items():
        for dtype in DTYPES:
            for rank in range(6):
                for dname, d in DIM_FORMS:
                    for keep in (False, True):
                        if name in ("cumsum", "softmax_dim") and keep:
                            continue
                        x = spec(SHAPES[rank], dtype, domain, seed=rank)
                        tags = [f"dim_{dname}"] + (["keepdim"] if keep else [])
                        if (isinstance(d, int) and d < 0) or (isinstance(d, tuple) and any(v < 0 for v in d)):
                            tags.append("negdim")
                        out.append(Case(f"reduce-{name}-{DNAME[dtype]}-r{rank}-{dname}-k{int(keep)}", name, "reduce",
                                        (lambda f, dd, kk: lambda t: f(t, dd, kk))(fn, d, keep), [x], dtype, rank,
                                        tuple(tags)))
    return out


# --------------------------------------------------------------------------- shape ops

def _perm(rank):
    return list(range(rank))[::-1]


SHAPE_OPS = {
    "permute_rev": lambda x: x.permute(*_perm(x.dim())),
    "permute_neg": lambda x: x.permute(*([-1] + list(range(x.dim() - 1)))) if x.dim() else x.permute(),
    "transpose_0_neg1": lambda x: x.transpose(0, -1),
    "transpose_neg2_neg1": lambda x: x.transpose(-2, -1),
    "flatten": lambda x: x.flatten(),
    "flatten_1_neg1": lambda x: x.flatten(1, -1),
    "flatten_neg2": lambda x: x.flatten(-2),
    "squeeze": lambda x: x.squeeze(),
    "squeeze_neg1": lambda x: x.squeeze(-1),
    "squeeze_dims": lambda x: x.squeeze((0, -2)),
    "unsqueeze_0": lambda x: x.unsqueeze(0),
    "unsqueeze_neg1": lambda x: x.unsqueeze(-1),
    "unsqueeze_neg_first": lambda x: x.unsqueeze(-x.dim() - 1),
    "cat_0": lambda x: torch.cat([x, x * 2, x], 0),
    "cat_neg1": lambda x: torch.cat([x, x + x], -1),
    "cat_neg2": lambda x: torch.cat([x, x], -2),
    "stack_0": lambda x: torch.stack([x, x * 2], 0),
    "stack_neg1": lambda x: torch.stack([x, x, x * 2], -1),
    "stack_neg_first": lambda x: torch.stack([x, x], -x.dim() - 1),
    "expand_lead": lambda x: x.expand(2, *x.shape),
    "expand_ones": lambda x: x.unsqueeze(-1).expand(*x.shape, 3),
    "expand_minus1": lambda x: x.unsqueeze(0).expand(3, *([-1] * x.dim())),
    "repeat": lambda x: x.repeat(*([2] * x.dim())) if x.dim() else x.repeat(()),
    "repeat_more": lambda x: x.repeat(*([2, 1] + [1] * x.dim())),
    "reshape_neg1": lambda x: x.reshape(-1, 1),
    "view_as_flat": lambda x: x.view(x.numel()),
    "movedim_neg": lambda x: torch.movedim(x, -1, 0),
    "split_neg1": lambda x: torch.split(x, 1, -1),
    "chunk_0": lambda x: torch.chunk(x, 2, 0),
    "unbind_neg1": lambda x: torch.unbind(x, -1),
    "select_neg": lambda x: x.select(-1, -1),
    "narrow_neg": lambda x: x.narrow(-1, 1, 1) if x.shape[-1] > 1 else x.narrow(-1, 0, 1),
    "slice_neg": lambda x: x[..., -2:],
    "flip_neg": lambda x: torch.flip(x, (-1,)),
    "roll_neg": lambda x: torch.roll(x, -1, -1),
}


def shape_cases():
    out = []
    for name, fn in SHAPE_OPS.items():
        for dtype in DTYPES:
            for rank in range(6):
                x = spec(SHAPES[rank], dtype, "any", seed=rank)
                tags = ("negdim",) if "neg" in name else ()
                out.append(Case(f"shape-{name}-{DNAME[dtype]}-r{rank}", name, "shape", fn, [x], dtype, rank, tags))
    return out


# --------------------------------------------------------------------------- NaN, inf, -0.0, ties

FLOATS = (F32, F16, BF16)


def special_cases():
    """Float inputs holding NaN (row 0), +-inf and +-0.0 (row 1) and halfway values (row 2), for
    every unary, binary and reduction op: torch's NaN propagation, inf arithmetic, signed zeros and
    round-half-to-even."""
    out = []
    for name, (fn, _, _) in UNARY.items():
        for dtype in FLOATS:
            dom = "special_finite" if name in UNARY_FINITE_SPECIALS else "special"
            out.append(Case(f"special-{name}-{DNAME[dtype]}", name, "unary", fn, [spec((3, 4), dtype, dom)],
                            dtype, 2, ("special",)))
    for name, (fn, _, _) in BINARY.items():
        for dtype in FLOATS:
            ins = [spec((3, 4), dtype, "special"), spec((3, 4), dtype, "any", seed=1)]
            out.append(Case(f"special-{name}-{DNAME[dtype]}-left", name, "binary", fn, ins, dtype, 2, ("special",)))
            out.append(Case(f"special-{name}-{DNAME[dtype]}-right", name, "binary", fn, ins[::-1], dtype, 2,
                            ("special",)))
            ins = [spec((3, 4), dtype, "special"), spec((1, 4), dtype, "special")]
            out.append(Case(f"special-{name}-{DNAME[dtype]}-both", name, "binary", fn, ins, dtype, 2,
                            ("special", "bcast")))
            if name in QUOTIENT_OPS:
                ins = [spec((3, 4), dtype, "tenths_a"), spec((3, 4), dtype, "tenths_b")]
                out.append(Case(f"special-{name}-{DNAME[dtype]}-tenths", name, "binary", fn, ins, dtype, 2,
                                ("special",)))
    for name, (fn, _) in REDUCE.items():
        for dtype in FLOATS:
            for dname, d in (("none", None), ("dneg1", -1), ("d0", 0)):
                out.append(Case(f"special-{name}-{DNAME[dtype]}-{dname}", name, "reduce",
                                (lambda f, dd: lambda t: f(t, dd, False))(fn, d),
                                [spec((3, 4), dtype, "special_finite" if name in REDUCE_FINITE_SPECIALS else "special")],
                                dtype, 2, ("special",)))
    return out


# --------------------------------------------------------------------------- the matrix

def eager_accepts(case) -> bool:
    """Whether eager torch (CPU) runs the case (inputs left untouched)."""
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            Fn(case.fn)(*[t.clone() for t in case.inputs])
        return True
    except (RuntimeError, TypeError, ValueError, IndexError, NotImplementedError, ZeroDivisionError):
        return False


def generate():
    """Every generated combination (eager acceptance not yet decided)."""
    return unary_cases() + binary_cases() + inplace_cases() + reduce_cases() + shape_cases() + special_cases()


def default_subset(cases, limit=160):
    """A deterministic subset of the cases eager accepts: every op once, every (family, dtype),
    (family, rank) and (family, tag) pair, then more in a fixed pseudo-random order up to ``limit``."""
    order = list(cases)
    random.Random(11).shuffle(order)
    chosen, seen, ids = [], set(), set()
    for c in order:
        keys = {("op", c.family, c.op), ("dtype", c.family, c.dtype), ("rank", c.family, c.rank)}
        keys |= {("tag", c.family, t) for t in c.tags}
        if keys - seen and eager_accepts(c):
            chosen.append(c)
            seen |= keys
            ids.add(c.id)
    for c in order:
        if len(chosen) >= limit:
            break
        if c.id not in ids and eager_accepts(c):
            chosen.append(c)
            ids.add(c.id)
    return sorted(chosen, key=lambda c: c.id)


# --------------------------------------------------------------------------- running a case

def run_case(case):
    """Convert the case's module, build and serialize the engine, evaluate the network with the
    reference evaluator and compare every output with eager torch: same shape, same dtype (float
    outputs are float32 by trtgraph's convention), values
    within the case's tolerance (exact for integers and bools; NaN/inf must match)."""
    from conftest import assert_close, eager_outputs

    import trtgraph

    model = Fn(case.fn).eval()
    want = eager_outputs(model, case.inputs)
    conv = trtgraph.convert(model, case.inputs, precision=case.precision)
    engine = conv.build()
    assert isinstance(engine, bytes) and len(engine) > 0, "no serialized engine"
    got = conv.evaluate(*case.inputs)
    assert len(got) == len(want), f"{len(got)} outputs, eager has {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        # an fp16/bf16 eager output (an in-place op on a half tensor) is itself rounded to that dtype
        rtol, atol = max(case.tolerance, TOL.get(w.dtype, TOL[F32]))
        # float outputs leave the network as float32 (trtgraph's convention); others keep their dtype
        dtype = F32 if w.dtype.is_floating_point else w.dtype
        assert g.dtype == dtype, f"output {i}: dtype {g.dtype}, expected {dtype} (eager {w.dtype})"
        assert_close(g, w, rtol, atol, f"output {i}")
