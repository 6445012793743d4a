"""One parametrized table of op cases per family. Each case: eager vs torch debug mode vs the
reference evaluation of the real TensorRT network, whose engine is built and serialized (the
walker checks every node's TensorRT shape/dtype against the trace while converting)."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from conftest import check_module
from trtgraph.registry import _normalize


class Fn(nn.Module):
    """Wrap a function of the inputs (and optional parameters) as a module."""

    def __init__(self, fn, **params):
        super().__init__()
        self.fn = fn
        for k, v in params.items():
            self.register_parameter(k, nn.Parameter(v, requires_grad=False))

    def forward(self, *xs):
        return self.fn(self, *xs)


def r(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# (id, module, inputs, ops the case covers)
CASES = []


def case(name, module, inputs, ops):
    CASES.append(pytest.param(module, inputs, ops, id=name))


# --- convolution
case("conv2d", nn.Conv2d(3, 8, 3, stride=2, padding=1), [r(2, 3, 17, 19)], ["aten::_convolution"])
case("conv2d_dil_groups_nobias", nn.Conv2d(4, 8, 3, padding=2, dilation=2, groups=2, bias=False), [r(1, 4, 12, 12)],
     ["aten::_convolution"])
case("conv1d", nn.Conv1d(3, 5, 4, stride=2, padding=1), [r(2, 3, 20)], ["aten::_convolution"])
case("conv3d", nn.Conv3d(2, 4, 3, padding=(1, 0, 1)), [r(1, 2, 6, 7, 8)], ["aten::_convolution"])
case("conv_transpose2d", nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1), [r(1, 4, 7, 9)],
     ["aten::_convolution"])
case("conv_transpose2d_groups", nn.ConvTranspose2d(4, 6, 2, stride=2, groups=2), [r(1, 4, 5, 5)], ["aten::_convolution"])
case("conv_transpose1d", nn.ConvTranspose1d(3, 2, 3, stride=1, padding=1), [r(2, 3, 9)], ["aten::_convolution"])


class _ScriptedConvs(nn.Module):
    """Scripted (not traced) graphs call aten::conv1d/2d/3d instead of aten::_convolution."""

    def __init__(self):
        super().__init__()
        self.w1, self.w2, self.w3 = r(4, 3, 3), r(4, 3, 3, 3), r(2, 3, 1, 3, 3)

    def forward(self, x1, x2, x3):
        return (F.conv1d(x1, self.w1, None, 1, 1), F.conv2d(x2, self.w2, None, 2, 1),
                F.conv3d(x3, self.w3, None, 1, 0))


case("scripted_convNd", torch.jit.script(_ScriptedConvs()), [r(1, 3, 8), r(1, 3, 8, 8), r(1, 3, 4, 5, 5)],
     ["aten::conv1d", "aten::conv2d", "aten::conv3d"])

# --- pooling
case("max_pool2d", nn.MaxPool2d(3, 2, 1), [r(1, 3, 15, 15)], ["aten::max_pool2d"])
case("max_pool2d_ceil", nn.MaxPool2d(2, 2, ceil_mode=True), [r(1, 3, 15, 14)], ["aten::max_pool2d"])
case("max_pool2d_ceil_pad", nn.MaxPool2d(2, 2, padding=1, ceil_mode=True), [r(1, 2, 5, 5)], ["aten::max_pool2d"])
case("max_pool1d", nn.MaxPool1d(3, 2), [r(2, 3, 11)], ["aten::max_pool1d"])
case("max_pool3d", nn.MaxPool3d(2), [r(1, 2, 4, 6, 6)], ["aten::max_pool3d"])
case("avg_pool2d_pad", nn.AvgPool2d(3, 2, 1), [r(1, 3, 10, 10)], ["aten::avg_pool2d"])
case("avg_pool2d_pad_exclude", nn.AvgPool2d(3, 2, 1, count_include_pad=False), [r(1, 3, 10, 10)], ["aten::avg_pool2d"])
case("avg_pool2d_ceil", nn.AvgPool2d(2, 2, ceil_mode=True), [r(1, 3, 7, 9)], ["aten::avg_pool2d"])
case("avg_pool1d", nn.AvgPool1d(2), [r(1, 3, 8)], ["aten::avg_pool1d"])
case("avg_pool3d", nn.AvgPool3d(2), [r(1, 2, 4, 4, 4)], ["aten::avg_pool3d"])
case("adaptive_avg_pool2d_1", nn.AdaptiveAvgPool2d(1), [r(2, 4, 7, 7)], ["aten::adaptive_avg_pool2d"])
case("adaptive_avg_pool2d_div", nn.AdaptiveAvgPool2d((2, 3)), [r(1, 4, 8, 9)], ["aten::adaptive_avg_pool2d"])
case("adaptive_avg_pool2d_nondiv", nn.AdaptiveAvgPool2d((3, 4)), [r(1, 2, 7, 10)], ["aten::adaptive_avg_pool2d"])
case("adaptive_avg_pool1d", nn.AdaptiveAvgPool1d(3), [r(1, 2, 7)], ["aten::adaptive_avg_pool1d"])
case("adaptive_avg_pool3d", nn.AdaptiveAvgPool3d(1), [r(1, 2, 4, 4, 4)], ["aten::adaptive_avg_pool3d"])

# --- activations
for _name, _mod, _op in [
    ("relu", nn.ReLU(), "aten::relu"), ("relu_inplace", nn.ReLU(inplace=True), "aten::relu"),
    ("sigmoid", nn.Sigmoid(), "aten::sigmoid"), ("tanh", nn.Tanh(), "aten::tanh"),
    ("relu6", nn.ReLU6(), "aten::hardtanh"), ("hardtanh", nn.Hardtanh(-0.5, 0.7), "aten::hardtanh"),
    ("leaky_relu", nn.LeakyReLU(0.2), "aten::leaky_relu"), ("elu", nn.ELU(0.7), "aten::elu"),
    ("selu", nn.SELU(), "aten::selu"), ("softplus", nn.Softplus(beta=2.0, threshold=1.0), "aten::softplus"),
    ("gelu", nn.GELU(), "aten::gelu"), ("gelu_tanh", nn.GELU("tanh"), "aten::gelu"),
    ("silu", nn.SiLU(), "aten::silu"), ("mish", nn.Mish(), "aten::mish"),
    ("hardsigmoid", nn.Hardsigmoid(), "aten::hardsigmoid"), ("hardswish", nn.Hardswish(), "aten::hardswish"),
("prelu", nn.PReLU(3, 0.3), "aten::prelu"),
    ("F.relu6", Fn(lambda m, x: F.relu6(x)), "aten::relu6"),
]:
    case(_name, _mod, [r(2, 3, 5, 4) * 3], [_op])

# --- normalization
case("batch_norm2d", nn.BatchNorm2d(3), [r(2, 3, 5, 5)], ["aten::batch_norm"])
case("batch_norm1d", nn.BatchNorm1d(4), [r(3, 4)], ["aten::batch_norm"])
case("layer_norm", nn.LayerNorm(8), [r(2, 5, 8)], ["aten::layer_norm"])
case("layer_norm_2d", nn.LayerNorm([4, 6]), [r(2, 4, 6)], ["aten::layer_norm"])
case("group_norm", nn.GroupNorm(2, 6), [r(2, 6, 4, 5)], ["aten::group_norm"])
case("instance_norm", nn.InstanceNorm2d(3, affine=True), [r(2, 3, 5, 6)], ["aten::instance_norm"])

# --- linear algebra
case("linear", nn.Linear(8, 5), [r(3, 8)], ["aten::linear"])
case("linear_3d_nobias", nn.Linear(8, 5, bias=False), [r(2, 3, 8)], ["aten::linear"])
case("addmm", Fn(lambda m, x: torch.addmm(m.b, x, m.w, beta=0.5, alpha=2.0), b=r(5), w=r(8, 5)), [r(3, 8)], ["aten::addmm"])
case("matmul_3d_2d", Fn(lambda m, x, y: x @ y), [r(2, 3, 4), r(4, 5, seed=1)], ["aten::matmul"])
case("matmul_vec", Fn(lambda m, x, y: torch.matmul(x, y)), [r(3, 4), r(4, seed=1)], ["aten::matmul"])
case("mm", Fn(lambda m, x, y: torch.mm(x, y)), [r(3, 4), r(4, 2, seed=1)], ["aten::mm"])
case("bmm", Fn(lambda m, x, y: torch.bmm(x, y)), [r(2, 3, 4), r(2, 4, 2, seed=1)], ["aten::bmm"])
case("baddbmm", Fn(lambda m, b, x, y: torch.baddbmm(b, x, y, alpha=0.5)), [r(2, 3, 2), r(2, 3, 4, seed=1), r(2, 4, 2, seed=2)],
     ["aten::baddbmm"])

# --- elementwise
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

# --- reductions and softmax
case("mean_sum", Fn(lambda m, x: x.mean() + x.sum(dim=1, keepdim=True).mean(dim=(2, 3)).sum() + x.mean([-1, -2]).sum(-1)),
     [r(2, 3, 4, 5)], ["aten::mean", "aten::sum"])
case("amax_amin_prod", Fn(lambda m, x: x.amax(1) + x.amin(dim=1) + x.prod(1)), [r(2, 3, 4)],
     ["aten::amax", "aten::amin", "aten::prod"])
case("softmax", nn.Softmax(dim=-1), [r(2, 3, 7)], ["aten::softmax"])
case("softmax_dim1", Fn(lambda m, x: F.softmax(x, 1) + F.log_softmax(x, dim=-1)), [r(2, 3, 5) * 40],
     ["aten::softmax", "aten::log_softmax"])

# --- shape
case("view_flatten", Fn(lambda m, x: x.view(x.size(0), -1) + torch.flatten(x, 1)), [r(2, 3, 4)],
     ["aten::view", "aten::flatten", "aten::size"])
case("reshape_permute", Fn(lambda m, x: x.reshape(2, 4, 3).permute(2, 0, 1).contiguous()), [r(2, 3, 4)],
     ["aten::reshape", "aten::permute", "aten::contiguous"])
case("transpose_t", Fn(lambda m, x: x.transpose(0, 1) + x.t() * 2), [r(3, 4)], ["aten::transpose", "aten::t"])
case("squeeze_unsqueeze", Fn(lambda m, x: x.unsqueeze(1).unsqueeze(-1).squeeze(1) + x.unsqueeze(-1) + x[:, None, :, None].squeeze(1)),
     [r(3, 4)], ["aten::unsqueeze", "aten::squeeze"])
case("cat_stack", Fn(lambda m, x, y: torch.cat([x, y, x], dim=-1).sum(-1) + torch.stack([x, y], dim=1).sum((1, 2))),
     [r(2, 3), r(2, 3, seed=1)], ["aten::cat", "aten::stack"])
case("slice_select", Fn(lambda m, x: x[:, 1:3, ::2] * 2 + x[:, -2:, 1:7:3].sum() + x[0, :, -1].sum() + x[..., 1].sum()),
     [r(2, 4, 8)], ["aten::slice", "aten::select"])
case("split_chunk_unbind", Fn(lambda m, x: sum(t.sum() for t in x.split(2, dim=1)) + x.chunk(3, -1)[1].sum()
                              + sum(t.mean() for t in x.unbind(0)) + x.split([1, 3], 1)[1].sum()),
     [r(2, 4, 6)], ["aten::split", "aten::chunk", "aten::unbind", "aten::split_with_sizes"])
case("expand_repeat", Fn(lambda m, x: x[:, :1].expand(-1, 4) + x.repeat(1, 2)[:, :4] + x[:1].expand_as(x)),
     [r(3, 4)], ["aten::expand", "aten::repeat", "aten::expand_as"])

# --- ops that tracing records only when called directly
case("aten_direct", Fn(lambda m, x: torch.ops.aten._softmax(x, 1, False)
),
     [r(2, 3, 4)], ["aten::_softmax"])

# --- in-place writes: slice assignment traces to a view op + copy_/fill_, written back into the base


def _slice_assign(m, x):
    y = x * 2
    y[:, 0] = x[:, 1]          # select + copy_
    y[:, 2:4] = 0.5            # slice + fill_
    y[1, ::2] = -1.0           # strided slice: scatter
    z = y.view(4, 3)
    z[0].zero_()               # through a reshape view
    z.narrow(1, 1, 1).mul_(3)  # in-place arithmetic on a view
    mask = x.new_zeros(x.shape)  # depends on x only through its shape: folded to a constant
    mask[:, 1:] = x[:, :5]     # an input-dependent write into a constant
    return y + mask, z.relu_()


case("slice_assignment", Fn(_slice_assign), [r(2, 6)], ["aten::copy", "aten::fill", "aten::zero", "aten::narrow",
                                                          "aten::mul", "aten::new_zeros"])

# --- misc
case("dropout_identity", nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.Dropout(0.3, inplace=True),
                                       nn.Dropout2d(0.1), nn.AlphaDropout(0.2),
                                       nn.FeatureAlphaDropout(0.2)), [r(2, 4)],
     ["aten::dropout", "aten::feature_dropout", "aten::alpha_dropout", "aten::feature_alpha_dropout"])
case("to_type_as", Fn(lambda m, x: (x > 0).to(x.dtype) + (x > 0.5).type_as(x) + x.detach().clone()), [r(3, 4)],
     ["aten::to", "aten::type_as", "aten::detach", "aten::clone"])
case("alias", Fn(lambda m, x: torch.ops.aten.alias(x * 2) + 1), [r(3, 4)], ["aten::alias"])


@pytest.mark.parametrize("module,inputs,ops", CASES)
def test_op(module, inputs, ops):
    torch.manual_seed(0)
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            from conftest import randomize
            randomize(m)
    conv = check_module(module, inputs, rtol=1e-4, atol=1e-5)
    used = {_normalize(rec.kind) for rec in conv.graph.nodes}
    for op in ops:
        assert op in used, f"the case is meant to cover {op}, but the graph converted {sorted(used)}"


def test_every_handler_has_a_case():
    """Every registered handler appears in some case table (tests/test_handlers*.py: CASES)."""
    import importlib
    import pathlib

    import trtgraph

    covered = set()
    for path in sorted(pathlib.Path(__file__).parent.glob("test_handlers*.py")):
        module = importlib.import_module(path.stem)
        for p in getattr(module, "CASES", []):
            covered.update(p.values[2])
    keys = {k.split(".")[0] for k in trtgraph.registered_keys()}
    missing = sorted(keys - covered)
    assert not missing, f"handlers without a test case: {missing}"


@pytest.mark.parametrize("precision,rtol", [("fp16", 2e-2), ("bf16", 5e-2)])
def test_reduced_precision_small_cnn(precision, rtol):
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(8 * 4 * 4, 10))
    conv = check_module(model.eval(), [r(2, 3, 8, 8)], rtol=rtol, atol=1e-3, precision=precision, debug=False)
    import trtgraph.dtypes as dt
    # inputs and outputs stay float32 while the layers compute in the reduced dtype
    assert conv.network.get_input(0).dtype == dt.to_trt(torch.float32)
    assert conv.network.get_output(0).dtype == dt.to_trt(torch.float32)
    want = dt.to_trt(dt.PRECISIONS[precision])
    kinds = [conv.network.get_layer(i) for i in range(conv.network.num_layers)]
    assert any(layer.get_output(0).dtype == want for layer in kinds)


def test_fp16_clamp_keeps_tiny_positive_bound():
    """F.normalize clamps the norm at 1e-12, which rounds to 0 in fp16: a zero row must give 0, not NaN."""
    x = r(3, 8)
    x[1] = 0
    conv = check_module(Fn(lambda m, x: F.normalize(x, dim=-1)), [x], rtol=2e-2, atol=2e-3, precision="fp16",
                        debug=False)
    assert not torch.isnan(conv.evaluate(x)[0]).any()
