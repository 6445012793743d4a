"""trtgraph/handlers/elementwise.py: arithmetic (add/sub with alpha, mul, div with rounding modes,
floor_divide, pow, maximum/minimum), unary math, clamp, comparisons, where, logical and bitwise
operators (``&``, ``|``, ``^`` on integer and bool tensors, in place too), isnan/isinf,
masked_fill, frac. Checks: ``cases.run_case``."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import check_module

from .cases import I32, POS, Fn, case_table, ints, r, run_case

CASES, case = case_table()

case("add_sub_alpha", Fn(lambda m, x, y: torch.add(x, y, alpha=2) - torch.sub(y, 1.5, alpha=3)), [r(2, 3), r(3, seed=1)],
     ["aten::add", "aten::sub"])
case("mul_div", Fn(lambda m, x, y: x * y / (y.abs() + 1)), [r(2, 3, 4), r(1, 4, seed=1)], ["aten::mul", "aten::div", "aten::abs"])
case("rsub", Fn(lambda m, x: 1 - x), [r(3, 3)], ["aten::rsub"])
case("div_floor", Fn(lambda m, x: torch.div(x, 0.7, rounding_mode="floor") + torch.div(x, 0.7, rounding_mode="trunc")),
     [r(4, 5) * 3], ["aten::div"])
case("floor_divide", Fn(lambda m, x: torch.floor_divide(x, 0.3)), [r(3, 4)], ["aten::floor_divide"])
case("pow_max_min", Fn(lambda m, x, y: torch.maximum(x, y) + torch.minimum(x, y) + x.abs().pow(1.5)),
     [r(2, 3), r(2, 3, seed=1)], ["aten::maximum", "aten::minimum", "aten::pow"])
case("unary_math", Fn(lambda m, x: x.exp() + (x.abs() + 1).log() + x.abs().sqrt() + x.neg() + x.sin() + x.cos()
                      + x.floor() + x.ceil() + torch.erf(x) + x.sign() + (x.abs() + 1).rsqrt() + x.square()
                      + (x.abs() + 1).reciprocal() + torch.atan(x) + torch.tan(x * 0.3) + x.round()),
     [r(3, 4)], ["aten::exp", "aten::log", "aten::sqrt", "aten::neg", "aten::sin", "aten::cos", "aten::floor",
                 "aten::ceil", "aten::erf", "aten::sign", "aten::rsqrt", "aten::square", "aten::reciprocal",
                 "aten::atan", "aten::tan", "aten::round"])
case("trig_more", Fn(lambda m, x: torch.asin(x * 0.5) + torch.acos(x * 0.5) + torch.sinh(x) + torch.cosh(x)),
     [r(3, 4).clamp(-1, 1)], ["aten::asin", "aten::acos", "aten::sinh", "aten::cosh"])
case("clamp", Fn(lambda m, x: x.clamp(-0.5, 0.5) + x.clamp(min=0.1) + x.clamp(max=0.2) + torch.clamp_min(x, 0)
                 + torch.clamp_max(x, 0)), [r(3, 4)], ["aten::clamp", "aten::clamp_min", "aten::clamp_max"])
case("compare_where", Fn(lambda m, x, y: torch.where((x > y) | (x < -1) & ~(x == 0.5) ^ (x != y), x, y)
                         + torch.where(x >= 0, 1.0, 0.0) + torch.where(x <= 0.1, x, 2.0)),
     [r(3, 4), r(3, 4, seed=1)], ["aten::gt", "aten::lt", "aten::eq", "aten::ne", "aten::ge", "aten::le",
                                  "aten::__or__", "aten::__and__", "aten::__xor__", "aten::bitwise_not", "aten::where"])
case("logical", Fn(lambda m, x: torch.logical_and(x > 0, x < 1).float() + torch.logical_or(x > 1, x < -1).float()
                   + torch.logical_xor(x > 0, x > 0.5).float() + torch.logical_not(x > 0).float()),
     [r(3, 4)], ["aten::logical_and", "aten::logical_or", "aten::logical_xor", "aten::logical_not", "aten::to"])
case("isnan_isinf", Fn(lambda m, x: torch.isnan(x).float() + torch.isinf(x / 0.0).float()), [r(2, 3)],
     ["aten::isnan", "aten::isinf"])
case("masked_fill", Fn(lambda m, x: x.masked_fill(x > 0.3, -2.0)), [r(3, 4)], ["aten::masked_fill"])
case("frac", Fn(lambda m, x: torch.frac(x)), [torch.tensor([[-2.75, -0.5, 0.0, 1.25], [3.5, -7.125, 9.0, 0.3]])],
     ["aten::frac"])


# --- the &, |, ^ operators on int32/int64 (their limits, negative values, Python scalars) and bool
def _limits(dtype, seed):
    x = ints(3, 4, low=-2 ** 30, high=2 ** 30, seed=seed, dtype=dtype)
    x[0, :3] = torch.tensor([torch.iinfo(dtype).max, torch.iinfo(dtype).min, -1] if seed == 0 else
                            [-1, torch.iinfo(dtype).max, torch.iinfo(dtype).min])
    return x


def _inplace(a, b):
    a = a.clone()
    a &= b
    a |= b.flip(-1)
    a ^= b
    return a


for _dt in (torch.int32, torch.int64):
    case(f"and_or_xor_{str(_dt)[6:]}", lambda m, a, b: (a & b, a | b, a ^ b, a & 6, b | -3, a ^ b[0]),
         [_limits(_dt, 0), _limits(_dt, 1)], ["aten::__and__", "aten::__or__", "aten::__xor__"])
    case(f"and_or_xor_inplace_{str(_dt)[6:]}", lambda m, a, b: _inplace(a, b), [_limits(_dt, 0), _limits(_dt, 1)],
         ["aten::__iand__", "aten::__ior__", "aten::__ixor__"])
case("and_or_xor_bool", lambda m, x, y: ((x > 0) & (y > 0), (x > 0) | (y < 0), (x > 0) ^ (y > 0), _inplace(x > 0, y > 0)),
     [torch.randn(4, 5, generator=torch.Generator().manual_seed(0)),
      torch.randn(5, generator=torch.Generator().manual_seed(1))],
     ["aten::__and__", "aten::__or__", "aten::__xor__", "aten::__iand__", "aten::__ior__", "aten::__ixor__"])

# --- regressions (issue 11). Wrong values before: ge/le were NOT(lt)/NOT(gt) (true against NaN);
# round's decimals and clamp's float bounds on an int tensor were ignored
case("ge_le_nan", Fn(lambda m, x, y: torch.stack([x >= y, x <= y, x >= 0.5, x <= 0.5])),
     [torch.tensor([1.0, float("nan"), 0.5, -2.0]), torch.tensor([1.0, 0.0, float("nan"), 3.0])],
     ["aten::ge", "aten::le"])
case("round_decimals", Fn(lambda m, x: torch.stack([torch.round(x, decimals=2), torch.round(x * 100, decimals=-1)])),
     [r(3, 4) * 3], ["aten::round"])
case("clamp_int_float_bound", Fn(lambda m, x: torch.clamp(x, min=0.5, max=4.5)), [I32], ["aten::clamp"])
# failed before: integer and bool inputs
for _op in ("ceil", "floor", "round"):
    for _t in (I32, I32.long()):
        case(f"{_op}_{str(_t.dtype)[6:]}", Fn(lambda m, x, op=_op: getattr(torch, op)(x)), [_t], [f"aten::{_op}"])
for _op in ("logical_and", "logical_or", "logical_xor"):
    case(f"{_op}_float_int", Fn(lambda m, x, y, op=_op: torch.stack([getattr(torch, op)(x, y), getattr(torch, op)(x, x),
                                                                     getattr(torch, op)(y, y.flip(0))])),
         [torch.tensor([[0.0, 1.5, -2.0, 0.0], [3.0, 0.0, float("nan"), 0.25]]), I32], [f"aten::{_op}"])
case("logical_not_float_int", Fn(lambda m, x, y: torch.stack([torch.logical_not(x), torch.logical_not(y)])),
     [torch.tensor([0.0, 1.5, float("nan"), -0.0]), torch.tensor([0, 3, -1, 0], dtype=torch.int64)],
     ["aten::logical_not"])
case("bitwise_not_int", Fn(lambda m, x: torch.bitwise_not(x)), [I32], ["aten::bitwise_not"])
for _op in ("rsqrt", "sqrt", "exp", "log", "sin", "cos", "atan", "erf", "reciprocal"):
    case(f"{_op}_of_int", Fn(lambda m, x, y, op=_op: getattr(torch, op)(x) + getattr(torch, op)(y).double()),
         [POS, POS.long() * 2], [f"aten::{_op}"])
case("sign_abs_neg_int", Fn(lambda m, x: torch.sign(x) * 100 + torch.abs(x) * 10 - x), [I32],
     ["aten::sign", "aten::abs"])
case("bool_arithmetic", Fn(lambda m, x: torch.stack([(x > 0) * (x < 1), (x > 0) + (x < -1), torch.maximum(x > 0, x < -1),
                                                     torch.minimum(x > 0, x < 1)])), [r(2, 6)],
     ["aten::mul", "aten::add", "aten::maximum", "aten::minimum"])
case("bool_plus_int_scalar", Fn(lambda m, x: (x > 0) + 3), [r(2, 6)], ["aten::add"])


@pytest.mark.parametrize("module,inputs,ops", CASES)
def test_op(module, inputs, ops):
    run_case(module, inputs, ops)


def test_fp16_clamp_keeps_tiny_positive_bound():
    """F.normalize clamps the norm at 1e-12, which rounds to 0 in fp16: a zero row must give 0, not NaN."""
    x = r(3, 8)
    x[1] = 0
    conv = check_module(Fn(lambda m, x: F.normalize(x, dim=-1)), [x], rtol=2e-2, atol=2e-3, precision="fp16",
                        debug=False)
    assert not torch.isnan(conv.evaluate(x)[0]).any()
