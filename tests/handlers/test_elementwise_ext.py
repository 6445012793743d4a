"""trtgraph/handlers/elementwise_ext.py: extra unary math, atan2 (bit for bit on signed zeros and
infinities), bitwise ops on ints and bools, clip, scalar_tensor, _to_copy, any/all and logsumexp.
Checks: ``cases.run_case``."""
from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from conftest import assert_close, check_module

import trtgraph

from . import cases
from .cases import (
    PRECISIONS,
    SPECIAL,
    Fn,
    case_table,
    check_dynamic,
    every_pair,
    network_values,
    r,
    run_case,
)

CASES, case = case_table()
aten = torch.ops.aten
ints = functools.partial(cases.ints, low=-50, high=50)


def tiny(*shape, seed=0):
    """Values from 1e-9 to 10 in magnitude, both signs: where log(1+x) / exp(x)-1 lose digits."""
    g = torch.Generator().manual_seed(seed)
    mag = 10.0 ** (torch.rand(shape, generator=g) * 10 - 9)
    return mag * torch.where(torch.rand(shape, generator=g) > 0.5, 1.0, -1.0)


# --- unary math (float and promoted integer inputs, rank 0 to 5)
case("log1p_expm1", lambda m, x: (torch.log1p(x.clamp(min=-0.9)), torch.expm1(x)), [tiny(3, 40)],
     ["aten::log1p", "aten::expm1"])
case("log1p_expm1_extremes", lambda m, x: (torch.log1p(x.clamp(min=-0.99)), torch.expm1(x * 20)),
     [torch.tensor([0.0, -0.5, 4.0, 3.0, -1e-30, -4.0, 1e-30])], ["aten::log1p", "aten::expm1"])
case("log1p_int_inplace", lambda m, x: (torch.log1p(x), x.float().log1p_()), [ints(2, 3, low=0)], ["aten::log1p"])
case("log2_log10", lambda m, x: (torch.log2(x.abs() + 0.1), torch.log10(x.abs() + 0.1), torch.log2(x.abs().int() + 1)),
     [r(2, 3, 4) * 10], ["aten::log2", "aten::log10"])
case("trunc", lambda m, x, i: (torch.trunc(x * 3), torch.fix(x * 3), torch.trunc(i), x.clone().trunc_()),
     [r(2, 1, 3, 1, 2), ints(4, dtype=torch.int32)], ["aten::trunc"])
case("asinh_acosh_atanh", lambda m, x: (torch.asinh(x * 5), torch.acosh(x.abs() + 1), torch.atanh(x.tanh() * 0.99)),
     [r(3, 5)], ["aten::asinh", "aten::acosh", "aten::atanh"])
case("asinh_rank0_int", lambda m, x, i: (torch.asinh(x), torch.asinh(i)), [torch.tensor(0.7), ints(3)], ["aten::asinh"])
case("log_sigmoid", lambda m, x: (F.logsigmoid(x * 30), F.logsigmoid(x)), [r(4, 6)], ["aten::log_sigmoid"])
case("atan2", lambda m, y, x: (torch.atan2(y, x), torch.atan2(y, x[0]), y.atan2(m.minus_one)),
     [r(3, 4), r(3, 4, seed=1)], ["aten::atan2"], minus_one=torch.tensor(-1.0))
case("atan2_axes_int", lambda m, y, x: torch.atan2(y, x),
     [torch.tensor([0.0, 1.0, -1.0, 0.0, 2.0, -2.0, 0.0]), torch.tensor([0.0, 0.0, 0.0, -1.0, -3.0, -3.0, 4.0])],
     ["aten::atan2"])
case("atan2_int_inplace", lambda m, y, x: (torch.atan2(y, x), y.float().atan2_(x.float())),
     [ints(2, 5), ints(2, 5, seed=1)], ["aten::atan2"])

# --- bitwise ops: int64, int32, negative values, bools, Python scalars
case("bitwise_int64", lambda m, a, b: (torch.bitwise_and(a, b), torch.bitwise_or(a, b), torch.bitwise_xor(a, b)),
     [ints(3, 4, low=-2 ** 40, high=2 ** 40), ints(3, 4, low=-2 ** 40, high=2 ** 40, seed=1)],
     ["aten::bitwise_and", "aten::bitwise_or", "aten::bitwise_xor"])
case("bitwise_int64_limits", lambda m, a, b: (torch.bitwise_and(a, b), torch.bitwise_or(a, b), torch.bitwise_xor(a, b)),
     [torch.tensor([2 ** 63 - 1, -2 ** 63, -1, 0, 5]), torch.tensor([-2 ** 63, -1, 2 ** 63 - 1, -1, -6])],
     ["aten::bitwise_and", "aten::bitwise_or", "aten::bitwise_xor"])
case("bitwise_int32_scalar_broadcast", lambda m, a, b: (torch.bitwise_and(a, 6), torch.bitwise_or(a, -3),
                                                        torch.bitwise_xor(a, b), a.clone().bitwise_and_(b)),
     [ints(2, 3, 4, dtype=torch.int32), ints(4, dtype=torch.int32, seed=1)],
     ["aten::bitwise_and", "aten::bitwise_or", "aten::bitwise_xor"])
case("bitwise_bool", lambda m, x, y: (torch.bitwise_and(x > 0, y > 0), torch.bitwise_or(x > 0, y > 0),
                                      torch.bitwise_xor(x > 0, m.true), (x > 0).bitwise_and_(y < 0)),
     [r(3, 4), r(4, seed=1)], ["aten::bitwise_and", "aten::bitwise_or", "aten::bitwise_xor"],
     true=torch.tensor(True))

# --- clip, scalar_tensor, _to_copy


def test_clip_and_fix_become_clamp_and_trunc():
    """TorchScript renames the aliases clip/fix (trace and script): their cases are clamp/trunc ones."""
    class M(torch.nn.Module):
        def forward(self, x):
            return torch.clip(x, -0.5, 0.5), torch.fix(x * 3), x.clone().clip_(max=0.2)

    check_module(torch.jit.script(M()), [r(2, 3)])
    kinds = {n.kind() for n in torch.jit.script(M()).graph.nodes()}
    assert "aten::clamp" in kinds and "aten::trunc" in kinds and "aten::clip" not in kinds


case("scalar_tensor_const", lambda m, x: x * torch.scalar_tensor(2.5) + torch.scalar_tensor(1, dtype=torch.int32),
     [r(3)], ["aten::scalar_tensor"])
case("to_copy", lambda m, x: (aten._to_copy(x, dtype=torch.int32), aten._to_copy(x > 0, dtype=torch.float32),
                              aten._to_copy(x), aten._to_copy(x.int(), dtype=torch.int64)),
     [r(2, 3) * 5], ["aten::_to_copy"])

# --- any / all (no dim, one dim, several dims, keepdim, negative dims, float / int / bool inputs)
case("any_all", lambda m, x: ((x > 0).any(), (x > 0).all(), (x > 0).any(1), (x > -1).all(-1, keepdim=True),
                              (x > 1).any((0, 2)), (x > -2).all((0, -1), keepdim=True)),
     [r(3, 4, 5)], ["aten::any", "aten::all"])
case("any_all_dims_empty_none", lambda m, x: (aten.any.dims(x > 0, [], False), aten.all.dims(x, None, True),
                                              aten.any.dims(x, [-1, 0], True)), [r(2, 3)], ["aten::any", "aten::all"])
case("any_all_float_int", lambda m, x, i: (x.any(), torch.all(x, 0), i.any(-1), i.all(), (i > 0).any(0, keepdim=True)),
     [torch.tensor([[0.0, 1.5], [0.0, 0.0], [2.0, -1.0]]), ints(2, 3, low=0, high=3)], ["aten::any", "aten::all"])
case("any_all_rank0_rank5", lambda m, x, y: ((x > 0).any(), (x > 0).all(0), (y > 0).any((1, 3)), (y > -3).all(4)),
     [torch.tensor(0.5), r(2, 1, 3, 2, 2)], ["aten::any", "aten::all"])

# --- logsumexp (stable for large values; -inf rows)
case("logsumexp", lambda m, x: (torch.logsumexp(x, 1), torch.logsumexp(x * 100, (0, -1)),
                                torch.logsumexp(x, -1, keepdim=True)), [r(3, 4, 5)], ["aten::logsumexp"])
case("logsumexp_inf_int", lambda m, x, i: (torch.logsumexp(x, 1), torch.logsumexp(i, 0)),
     [torch.tensor([[float("-inf"), 0.5], [1.0, float("-inf")], [1e4, 1e4]]), ints(3, 2)],
     ["aten::logsumexp"])


@pytest.mark.parametrize("module,inputs,ops", CASES)
def test_op(module, inputs, ops):
    run_case(module, inputs, ops)


def test_scalar_tensor_of_dynamic_size():
    """scalar_tensor of a size that follows a dynamic input dimension is computed in the network."""
    model = Fn(lambda m, x: x * torch.scalar_tensor(x.shape[0])).eval()
    conv = trtgraph.convert(model, [r(3, 2)], input_names=["x"], dynamic_shapes={"x": {0: (1, 3, 6)}})
    assert isinstance(conv.build(), bytes)
    for n in (1, 5):
        x = r(n, 2, seed=n)
        assert_close(conv.evaluate(x)[0], model(x), 1e-6, 1e-6, f"batch {n}")


def test_non_finite_values():
    """inf/-inf results (log1p(inf), expm1 overflow, logsumexp of an all -inf row) match torch."""
    model = Fn(lambda m, x, y: (torch.log1p(x), torch.expm1(x), torch.logsumexp(y, 1), F.logsigmoid(x))).eval()
    x = torch.tensor([float("inf"), 1e30, -1.0, float("-inf"), 100.0])
    y = torch.tensor([[float("-inf"), float("-inf")], [float("inf"), 1.0], [0.0, 1.0]])
    conv = trtgraph.convert(model, [x, y])
    for got, want in zip(conv.evaluate(x, y), model(x, y)):
        torch.testing.assert_close(got, want, equal_nan=True)


@pytest.mark.parametrize("precision,rtol", [("fp16", 2e-2), ("bf16", 5e-2)])
def test_reduced_precision(precision, rtol):
    """The composite formulas build and stay accurate in an fp16/bf16 network (constants in its dtype)."""
    model = Fn(lambda m, x, y, i: (torch.log1p(x.abs()), torch.expm1(x), torch.atan2(x, y), F.logsigmoid(x * 4),
                                   torch.logsumexp(x * 3, 1), (x > 0).any(1), torch.trunc(x * 5), torch.log2(y.abs() + 1),
                                   torch.bitwise_xor(i, 5), torch.asinh(x)))
    check_module(model, [r(3, 6), r(3, 6, seed=1), ints(3, 6)], rtol=rtol, atol=1e-2, precision=precision)


def test_dynamic_batch():
    model = Fn(lambda m, x: (torch.log1p(x.abs()), torch.logsumexp(x, 1), (x > 0).any(1), torch.atan2(x, x + 1),
                             torch.expm1(x), (x > 0).all(), aten._to_copy(x, dtype=torch.int32)))
    check_dynamic(model, [r(3, 5)], {"x": {0: (1, 3, 8)}}, [[(1, 5)], [(8, 5)]])


# silently wrong before (issue 11; the matrix's special cases)
@pytest.mark.parametrize("precision,dtype", PRECISIONS)
def test_atan2_signed_zeros_and_infinities(precision, dtype):
    """atan2(-0.0, x < 0) is -pi, atan2(+-0.0, -0.0) is +-pi, atan2(+-inf, +-inf) is +-pi/4 or
    +-3pi/4, NaN stays NaN; zeros keep torch's sign."""
    y, x = (t.to(dtype) for t in every_pair(SPECIAL))
    got = network_values(Fn(lambda m, y, x: torch.atan2(y, x)), [y, x], precision)[0]
    want = torch.atan2(y, x).float()
    tol = 1e-6 if precision == "fp32" else 1e-2
    assert torch.equal(got.isnan(), want.isnan())
    ok = ((got - want).abs() <= tol * (1 + want.abs())) | want.isnan()
    ok &= (want != 0) | (torch.signbit(got) == torch.signbit(want))
    bad = (~ok).nonzero().flatten()[:5].tolist()
    assert not bad, "; ".join(f"atan2({y[i].item()}, {x[i].item()}) = {got[i].item()}, torch {want[i].item()}"
                              for i in bad)
