"""Regressions of handler bugs (issue 11): arguments that were ignored (silently wrong results)
and argument/dtype combinations that failed. Each case converts a small module, builds and
serializes the engine, and compares the reference evaluation (and the torch debug mode) with
eager torch (fp32: max rel error < 1e-4; integer and bool results exactly)."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import trtgraph
from conftest import check_module
from test_handlers import Fn, r
from trtgraph.errors import UnsupportedOpsError
from trtgraph.registry import _normalize

CASES = []


def case(name, module, inputs, ops):
    CASES.append(pytest.param(module, inputs, ops, id=name))


def _running_stats(m, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g))
        m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) * 1.5 + 0.25)
        if m.weight is not None:
            m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            m.bias.copy_(torch.randn(m.bias.shape, generator=g))
    return m


I32 = torch.tensor([[1, -2, 3, 0], [4, 5, -6, 7]], dtype=torch.int32)
POS = I32.abs() + 1

# --- silently wrong before: instance_norm ignored running_mean/running_var/use_input_stats
case("instance_norm2d_running_stats", _running_stats(nn.InstanceNorm2d(10, track_running_stats=True)),
     [r(1, 10, 3, 3)], ["aten::instance_norm"])
case("instance_norm1d_running_stats_affine", _running_stats(nn.InstanceNorm1d(4, affine=True,
                                                                              track_running_stats=True), 1),
     [r(2, 4, 7)], ["aten::instance_norm"])
case("instance_norm_fresh_running_stats", nn.InstanceNorm2d(3, track_running_stats=True), [r(2, 3, 4, 5) * 3 + 1],
     ["aten::instance_norm"])
# elu ignored that input_scale scales only the exponent of the negative branch
case("elu_input_scale", Fn(lambda m, x: torch.ops.aten.elu(x, 0.7, 1.3, 2.0)), [r(2, 3, 5) * 2], ["aten::elu"])
# ge/le were NOT(lt)/NOT(gt): true against NaN
case("ge_le_nan", Fn(lambda m, x, y: torch.stack([x >= y, x <= y, x >= 0.5, x <= 0.5])),
     [torch.tensor([1.0, float("nan"), 0.5, -2.0]), torch.tensor([1.0, 0.0, float("nan"), 3.0])],
     ["aten::ge", "aten::le"])

# circular padding cropped and wrapped in one slice: torch crops first, then wraps what is left
case("pad_circular_crop_and_wrap", Fn(lambda m, x: F.pad(x, (1, -1, 2, -1), mode="circular")), [r(1, 2, 5, 6)],
     ["aten::pad"])
case("pad_circular_crop_and_wrap_1d", Fn(lambda m, x: F.pad(x, (-2, 3), mode="circular")), [r(2, 3, 7)], ["aten::pad"])

# --- dtype= arguments (ignored before: wrong dtype or values)
case("sum_dtype_truncates", Fn(lambda m, x: torch.sum(x, 1, dtype=torch.int32)), [r(3, 4) * 4], ["aten::sum"])
case("mean_int_dtype", Fn(lambda m, x: torch.mean(x, 1, dtype=torch.float32)), [I32], ["aten::mean"])
case("mean_all_dtype", Fn(lambda m, x: x.mean(dtype=torch.float32)), [I32], ["aten::mean"])
case("prod_dtype", Fn(lambda m, x: torch.prod(x, 1, dtype=torch.int64)), [r(2, 3) * 3], ["aten::prod"])
case("softmax_dtype", Fn(lambda m, x: torch.softmax(x, -1, dtype=torch.float32)), [I32], ["aten::softmax"])
case("log_softmax_dtype", Fn(lambda m, x: torch.log_softmax(x, 0, dtype=torch.float32)), [I32], ["aten::log_softmax"])
case("cumsum_dtype", Fn(lambda m, x: torch.cumsum(x, 1, dtype=torch.int32)), [r(2, 5) * 4], ["aten::cumsum"])
case("vector_norm_dtype", Fn(lambda m, x: torch.linalg.vector_norm(x, 3, dim=1, dtype=torch.float32)), [r(2, 5)],
     ["aten::linalg_vector_norm"])
case("round_decimals", Fn(lambda m, x: torch.stack([torch.round(x, decimals=2), torch.round(x * 100, decimals=-1)])),
     [r(3, 4) * 3], ["aten::round"])
case("clamp_int_float_bound", Fn(lambda m, x: torch.clamp(x, min=0.5, max=4.5)), [I32], ["aten::clamp"])

# --- failed before (issue 11, item 2)
_W2 = r(4, 3, 3, 3, seed=3)
case("conv2d_one_element_lists", Fn(lambda m, x: F.conv2d(x, m.w, None, [2], [1], [2]), w=_W2), [r(1, 3, 11, 10)],
     ["aten::_convolution"])
case("conv3d_one_element_lists", Fn(lambda m, x: F.conv3d(x, m.w, None, [2], [1], [1]), w=r(2, 3, 3, 3, 3, seed=4)),
     [r(1, 3, 6, 7, 5)], ["aten::_convolution"])
for _op in ("ceil", "floor", "round"):
    for _t in (I32, I32.long()):
        case(f"{_op}_{str(_t.dtype)[6:]}", Fn(lambda m, x, op=_op: getattr(torch, op)(x)), [_t], [f"aten::{_op}"])
case("prod_int32", Fn(lambda m, x: torch.prod(x)), [I32], ["aten::prod"])
case("prod_int32_dim", Fn(lambda m, x: torch.prod(x, 1, keepdim=True)), [I32], ["aten::prod"])
case("prod_bool_dim", Fn(lambda m, x: torch.prod(x > 0, 0)), [I32], ["aten::prod"])
for _op in ("logical_and", "logical_or", "logical_xor"):
    case(f"{_op}_float_int", Fn(lambda m, x, y, op=_op: torch.stack([getattr(torch, op)(x, y), getattr(torch, op)(x, x),
                                                                     getattr(torch, op)(y, y.flip(0))])),
         [torch.tensor([[0.0, 1.5, -2.0, 0.0], [3.0, 0.0, float("nan"), 0.25]]), I32], [f"aten::{_op}"])
case("logical_not_float_int", Fn(lambda m, x, y: torch.stack([torch.logical_not(x), torch.logical_not(y)])),
     [torch.tensor([0.0, 1.5, float("nan"), -0.0]), torch.tensor([0, 3, -1, 0], dtype=torch.int64)],
     ["aten::logical_not"])
case("bitwise_not_int", Fn(lambda m, x: torch.bitwise_not(x)), [I32], ["aten::bitwise_not"])
for _op in ("rsqrt", "sqrt", "exp", "log", "sin", "cos", "atan", "erf", "reciprocal", "sigmoid", "tanh"):
    case(f"{_op}_of_int", Fn(lambda m, x, y, op=_op: getattr(torch, op)(x) + getattr(torch, op)(y).double()),
         [POS, POS.long() * 2], [f"aten::{_op}"])
case("sign_abs_neg_int", Fn(lambda m, x: torch.sign(x) * 100 + torch.abs(x) * 10 - x), [I32],
     ["aten::sign", "aten::abs"])
case("relu_int", Fn(lambda m, x: torch.relu(x)), [I32], ["aten::relu"])
case("repeat_more_dims", Fn(lambda m, x: x.repeat(2, 1, 3)), [r(2, 3)], ["aten::repeat"])
case("repeat_more_dims_1d", Fn(lambda m, x: x.repeat(3, 2, 1, 2)), [r(4)], ["aten::repeat"])
case("adaptive_avg_pool2d_up_3x3_6x4", nn.AdaptiveAvgPool2d((6, 4)), [r(1, 2, 3, 3)], ["aten::adaptive_avg_pool2d"])
case("adaptive_avg_pool2d_2x8_5x2", nn.AdaptiveAvgPool2d((5, 2)), [r(2, 3, 2, 8)], ["aten::adaptive_avg_pool2d"])
case("adaptive_avg_pool1d_up", nn.AdaptiveAvgPool1d(7), [r(1, 2, 3)], ["aten::adaptive_avg_pool1d"])
case("adaptive_avg_pool3d_mixed", nn.AdaptiveAvgPool3d((3, 5, 2)), [r(1, 2, 2, 3, 4)], ["aten::adaptive_avg_pool3d"])
case("batch_norm_network_stats",
     Fn(lambda m, x, mean, var, w, b: F.batch_norm(x, mean, var.abs() + 0.1, w, b, False, 0.1, 1e-3)),
     [r(2, 3, 4, 4), r(3, seed=1), r(3, seed=2), r(3, seed=3), r(3, seed=4)], ["aten::batch_norm"])
case("batch_norm_network_weight_only",
     Fn(lambda m, x, w: F.batch_norm(x, m.mean, m.var, w * 2, None, False, 0.1, 1e-5),
        mean=r(4, seed=5), var=torch.rand(4) + 0.5), [r(3, 4), r(4, seed=6)], ["aten::batch_norm"])
case("layer_norm_network_affine", Fn(lambda m, x, w, b: F.layer_norm(x, (2, 5), w * 2, b)),
     [r(3, 2, 5), r(2, 5, seed=1), r(2, 5, seed=2)], ["aten::layer_norm"])
case("group_norm_network_affine", Fn(lambda m, x, w, b: F.group_norm(x, 2, w + 1, b)),
     [r(2, 4, 3, 3), r(4, seed=1), r(4, seed=2)], ["aten::group_norm"])
case("conv_transpose_output_padding_over_padding",
     nn.ConvTranspose2d(2, 3, 3, stride=2, padding=(0, 1), output_padding=1), [r(1, 2, 4, 5)], ["aten::_convolution"])
case("conv_transpose1d_output_padding_over_padding", nn.ConvTranspose1d(2, 3, 1, stride=2, output_padding=1),
     [r(1, 2, 6)], ["aten::_convolution"])
case("bool_arithmetic", Fn(lambda m, x: torch.stack([(x > 0) * (x < 1), (x > 0) + (x < -1), torch.maximum(x > 0, x < -1),
                                                     torch.minimum(x > 0, x < 1)])), [r(2, 6)],
     ["aten::mul", "aten::add", "aten::maximum", "aten::minimum"])
case("bool_plus_int_scalar", Fn(lambda m, x: (x > 0) + 3), [r(2, 6)], ["aten::add"])
case("matmul_vector_batch", Fn(lambda m, v, b: torch.stack([v @ b, b.transpose(-1, -2) @ v])), [r(3), r(2, 3, 3, seed=1)],
     ["aten::matmul"])
case("argsort", Fn(lambda m, x: torch.argsort(x, dim=0, descending=True) * 10 + torch.argsort(x)),
     [torch.tensor([[3.0, 1.0, 2.0], [0.5, 4.0, -1.0]])], ["aten::argsort"])
case("batch_norm_batch_statistics", nn.BatchNorm2d(3, track_running_stats=False), [r(4, 3, 5, 5) * 2 + 1],
     ["aten::batch_norm"])


@pytest.mark.parametrize("module,inputs,ops", CASES)
def test_fix(module, inputs, ops):
    conv = check_module(module, inputs, rtol=1e-4, atol=1e-5)
    used = {_normalize(rec.kind) for rec in conv.graph.nodes}
    for op in ops:
        assert op in used, f"the case is meant to cover {op}, but the graph converted {sorted(used)}"


def test_instance_norm_running_stats_verify():
    """The issue's example through Conversion.verify (it gave max abs error 1.1 before)."""
    m = _running_stats(nn.InstanceNorm2d(10, track_running_stats=True)).eval()
    x = r(1, 10, 3, 3)
    conv = trtgraph.convert(m, [x])
    report = conv.verify(x)
    assert all(o.max_rel < 1e-4 or o.max_abs < 1e-5 for o in report.outputs), report


def _refused(model, inputs, *names):
    with pytest.raises(UnsupportedOpsError) as info:
        trtgraph.convert(model.eval(), inputs)
    for name in names:
        assert name in str(info.value), f"the refusal does not name {name!r}: {info.value}"


def test_sdpa_dropout_is_refused():
    """scaled_dot_product_attention drops at random whatever the module's mode: refused, named."""
    q = r(1, 2, 4, 8)
    _refused(Fn(lambda m, q: F.scaled_dot_product_attention(q, q, q, dropout_p=0.25)), [q], "dropout_p=0.25")
    check_module(Fn(lambda m, q: F.scaled_dot_product_attention(q, q, q, dropout_p=0.0)), [q])


def test_dropout_in_training_is_refused():
    """dropout with train=True is random: the walker's random-op check refuses it, naming train."""
    _refused(Fn(lambda m, x: F.dropout(x, 0.5, training=True)), [r(2, 8)], "train=True")


# --- silently wrong before (the matrix's special cases): remainder/fmod with infinite divisors or a
# quotient rounding onto an integer, argmin/min.dim skipping NaN, atan2 of signed zeros and infinities.
# The reference evaluation of the built network must give eager torch's values bit for bit
# (NaN where torch has NaN, signed zeros with torch's sign).
_INF, _NAN = float("inf"), float("nan")
_SPECIAL = torch.tensor([_NAN, _INF, -_INF, 0.0, -0.0, 1.0, -1.0, 0.1, -0.1, 0.7, 2.5, -7.0, 3.3, 1e-3])
_PRECISIONS = [pytest.param(p, d, id=p) for p, d in (("fp32", torch.float32), ("fp16", torch.float16),
                                                    ("bf16", torch.bfloat16))]


def _every_pair(values):
    return values.repeat_interleave(len(values)), values.repeat(len(values))


def _network_values(module, inputs, precision):
    conv = trtgraph.convert(module.eval(), inputs, precision=precision)
    engine = conv.build()
    assert isinstance(engine, bytes) and len(engine) > 0
    return conv.evaluate(*inputs)


def _assert_same_bits(got, want, inputs, what):
    got = got.to(want.dtype)
    same = (got == want) & (torch.signbit(got) == torch.signbit(want)) | (got.isnan() & want.isnan())
    bad = (~same).nonzero().flatten()[:5].tolist()
    assert not bad, f"{what}: " + "; ".join(
        f"{tuple(x[i].item() for x in inputs)} -> {got[i].item()}, torch {want[i].item()}" for i in bad)


@pytest.mark.parametrize("precision,dtype", _PRECISIONS)
def test_remainder_fmod_match_torch_on_special_values(precision, dtype):
    """fmod(a, inf) is a; -1 % inf is inf; 1.0 % 0.1 is 0.0999999866 (not 0); fmod(-2, 1) is -0.0."""
    a, b = (t.to(dtype) for t in _every_pair(_SPECIAL))
    model = Fn(lambda m, a, b: torch.stack([torch.fmod(a, b), a % b, torch.remainder(b, a)]))
    got = _network_values(model, [a, b], precision)[0]
    want = model(a, b)
    for i, name in enumerate(("fmod(a, b)", "a % b", "b % a")):
        _assert_same_bits(got[i], want[i], (a, b) if i < 2 else (b, a), f"{precision} {name}")


@pytest.mark.parametrize("precision,dtype", _PRECISIONS)
def test_argmin_argmax_min_max_dim_return_the_first_nan(precision, dtype):
    """torch's min/max along a dim (and argmin/argmax) give NaN and the first NaN's index when the
    slice holds one; TopK alone skipped NaN for the minimum."""
    x = torch.tensor([[1.0, _NAN, -2.0, _NAN], [3.0, -1.0, 0.0, 2.0], [-_INF, _NAN, _NAN, 1.0]], dtype=dtype)

    def both_ways(m, x):
        mn, imn = torch.min(x, 1)
        mx, imx = torch.max(x, 0, keepdim=True)
        return (mn, imn, mx, imx, torch.argmin(x, 0), torch.argmax(x, 1), torch.argmin(x),
                torch.argmin(x[1:2, :]))

    model = Fn(both_ways)
    got = _network_values(model, [x], precision)
    for i, (g, w) in enumerate(zip(got, model(x))):
        _assert_same_bits(g, w, (), f"{precision} output {i}")


@pytest.mark.parametrize("precision,dtype", _PRECISIONS)
def test_atan2_signed_zeros_and_infinities(precision, dtype):
    """atan2(-0.0, x < 0) is -pi, atan2(+-0.0, -0.0) is +-pi, atan2(+-inf, +-inf) is +-pi/4 or
    +-3pi/4, NaN stays NaN; zeros keep torch's sign."""
    y, x = (t.to(dtype) for t in _every_pair(_SPECIAL))
    got = _network_values(Fn(lambda m, y, x: torch.atan2(y, x)), [y, x], precision)[0]
    want = torch.atan2(y, x).float()
    tol = 1e-6 if precision == "fp32" else 1e-2
    assert torch.equal(got.isnan(), want.isnan())
    ok = ((got - want).abs() <= tol * (1 + want.abs())) | want.isnan()
    ok &= (want != 0) | (torch.signbit(got) == torch.signbit(want))
    bad = (~ok).nonzero().flatten()[:5].tolist()
    assert not bad, "; ".join(f"atan2({y[i].item()}, {x[i].item()}) = {got[i].item()}, torch {want[i].item()}"
                              for i in bad)
