"""The reference evaluator against independent torch expressions, one small real network per case.

Each case builds a strongly typed TensorRT network, evaluates it with
``trtgraph.reference.evaluate`` and compares with a torch expression written here (not the
evaluator's code); every network must also build (``build_serialized_network`` is not None).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
import torch
import torch.nn.functional as F

from trtgraph.backend import create_builder_and_network, is_rtx, trt
from trtgraph.errors import EvaluationError
from trtgraph.reference import IMPLS, evaluate

_TRT_DTYPES = {
    torch.float32: "float32", torch.float16: "float16", torch.int32: "int32",
    torch.int64: "int64", torch.bool: "bool", torch.bfloat16: "bfloat16",
}


class Net:
    """A network under construction plus the input values and expected outputs."""

    def __init__(self):
        self.t = trt()
        self.builder, self.net = create_builder_and_network()
        self.inputs, self.expected, self._keep = {}, [], []

    def input(self, name, value):
        self.inputs[name] = value
        return self.net.add_input(name, getattr(self.t, _TRT_DTYPES[value.dtype]), tuple(value.shape))

    def weights(self, value):
        array = np.ascontiguousarray(value.detach().numpy())
        self._keep.append(array)
        return self.t.Weights(array)

    def const(self, value):
        if value.dtype == torch.bool:
            array = np.ascontiguousarray(value.numpy())
            self._keep.append(array)
            weights = self.t.Weights(array)
        else:
            weights = self.weights(value)
        return self.net.add_constant(tuple(value.shape), weights).get_output(0)

    def out(self, tensor, expected):
        tensor.name = f"out{len(self.expected)}"
        self.net.mark_output(tensor)
        self.expected.append((tensor.name, expected))


# Networks TensorRT-RTX evaluates fine but cannot build: the test asserts the build still fails,
# so a TensorRT update that fixes it is noticed.
RTX_BUILD_FAILS = {"non_zero": "TensorRT-RTX 1.7.1: NonZero has no runners (any input dtype)"}


def check(case, atol=1e-5, rtol=1e-4, builds=True):
    n = Net()
    case(n, n.t)
    got = evaluate(n.net, n.inputs)
    for name, expected in n.expected:
        value = got[name]
        assert value.dtype == expected.dtype, (name, value.dtype, expected.dtype)
        assert tuple(value.shape) == tuple(expected.shape), (name, tuple(value.shape), tuple(expected.shape))
        if expected.dtype.is_floating_point:
            torch.testing.assert_close(value.float(), expected.float(), atol=atol, rtol=rtol, equal_nan=True)
        else:
            assert torch.equal(value, expected), (name, value, expected)
    engine = n.builder.build_serialized_network(n.net, n.builder.create_builder_config())
    assert (engine is not None) == builds


def rand(*shape, seed=0):
    g = torch.Generator().manual_seed(seed + len(shape) * 7 + sum(shape))
    return torch.randn(*shape, generator=g)


CASES = {}


def case(name):
    def register(fn):
        CASES[name] = fn
        return fn
    return register


# ---------------------------------------------------------------- convolution / deconvolution
@case("conv2d_stride_pad_bias")
def _(n, t):
    x, w, b = rand(2, 3, 9, 8), rand(4, 3, 3, 3), rand(4)
    layer = n.net.add_convolution_nd(n.input("x", x), 4, (3, 3), n.weights(w), n.weights(b))
    layer.stride_nd, layer.padding_nd = (2, 2), (1, 1)
    n.out(layer.get_output(0), F.conv2d(x, w, b, stride=2, padding=1))


@case("conv2d_groups_dilation_asymmetric")
def _(n, t):
    x, w = rand(1, 4, 10, 11), rand(6, 2, 3, 2)
    layer = n.net.add_convolution_nd(n.input("x", x), 6, (3, 2), n.weights(w))
    layer.num_groups, layer.dilation_nd = 2, (2, 1)
    layer.pre_padding, layer.post_padding = (1, 0), (0, 2)
    expected = F.conv2d(F.pad(x, (0, 2, 1, 0)), w, groups=2, dilation=(2, 1))
    n.out(layer.get_output(0), expected)


@case("conv2d_same_upper")
def _(n, t):
    x, w = rand(1, 2, 8, 8), rand(3, 2, 3, 3)
    layer = n.net.add_convolution_nd(n.input("x", x), 3, (3, 3), n.weights(w))
    layer.stride_nd, layer.padding_mode = (2, 2), t.PaddingMode.SAME_UPPER
    # out = ceil(8/2) = 4, total padding (4-1)*2+3-8 = 1, all of it after
    n.out(layer.get_output(0), F.conv2d(F.pad(x, (0, 1, 0, 1)), w, stride=2))


@case("conv2d_same_lower")
def _(n, t):
    x, w = rand(1, 2, 8, 8), rand(3, 2, 4, 4)
    layer = n.net.add_convolution_nd(n.input("x", x), 3, (4, 4), n.weights(w))
    layer.padding_mode = t.PaddingMode.SAME_LOWER
    # out = 8, total padding 3: 2 before, 1 after
    n.out(layer.get_output(0), F.conv2d(F.pad(x, (2, 1, 2, 1)), w))


@case("conv2d_half")
def _(n, t):
    x, w = rand(1, 3, 6, 6).half(), rand(2, 3, 3, 3).half()
    layer = n.net.add_convolution_nd(n.input("x", x), 2, (3, 3), n.weights(w))
    n.out(layer.get_output(0), F.conv2d(x.float(), w.float()).half())


@case("conv2d_bf16_weights")
def _(n, t):
    """BF16 weights come back from the layer as trt.Weights that numpy cannot hold."""
    x, w, b = rand(1, 2, 5, 5).bfloat16(), rand(3, 2, 3, 3).bfloat16(), rand(3).bfloat16()
    raw_w, raw_b = w.view(torch.int16).numpy().copy(), b.view(torch.int16).numpy().copy()
    n._keep += [raw_w, raw_b]
    kernel = t.Weights(t.bfloat16, raw_w.ctypes.data, raw_w.size)
    bias = t.Weights(t.bfloat16, raw_b.ctypes.data, raw_b.size)
    layer = n.net.add_convolution_nd(n.input("x", x), 3, (3, 3), kernel, bias)
    n.out(layer.get_output(0), F.conv2d(x.float(), w.float(), b.float()).bfloat16())


@case("conv3d")
def _(n, t):
    x, w, b = rand(1, 2, 5, 6, 7), rand(3, 2, 3, 3, 3), rand(3)
    layer = n.net.add_convolution_nd(n.input("x", x), 3, (3, 3, 3), n.weights(w), n.weights(b))
    layer.stride_nd, layer.padding_nd = (1, 2, 2), (1, 1, 0)
    n.out(layer.get_output(0), F.conv3d(x, w, b, stride=(1, 2, 2), padding=(1, 1, 0)))


@case("deconv2d_stride_pad")
def _(n, t):
    x, w, b = rand(1, 4, 5, 6), rand(4, 3, 3, 3), rand(3)
    layer = n.net.add_deconvolution_nd(n.input("x", x), 3, (3, 3), n.weights(w), n.weights(b))
    layer.stride_nd, layer.padding_nd = (2, 2), (1, 1)
    n.out(layer.get_output(0), F.conv_transpose2d(x, w, b, stride=2, padding=1))


@case("deconv2d_groups_asymmetric")
def _(n, t):
    x, w = rand(1, 4, 5, 5), rand(4, 2, 3, 2)
    layer = n.net.add_deconvolution_nd(n.input("x", x), 4, (3, 2), n.weights(w))
    layer.num_groups, layer.stride_nd = 2, (2, 3)
    layer.pre_padding, layer.post_padding = (1, 0), (0, 1)
    full = F.conv_transpose2d(x, w, groups=2, stride=(2, 3))
    n.out(layer.get_output(0), full[:, :, 1:, :-1])


@case("deconv2d_dilation")
def _(n, t):
    x, w = rand(1, 2, 4, 4), rand(2, 3, 3, 3)
    layer = n.net.add_deconvolution_nd(n.input("x", x), 3, (3, 3), n.weights(w))
    layer.dilation_nd = (2, 2)
    n.out(layer.get_output(0), F.conv_transpose2d(x, w, dilation=2))


@case("deconv3d")
def _(n, t):
    x, w = rand(1, 2, 3, 4, 4), rand(2, 2, 2, 2, 2)
    layer = n.net.add_deconvolution_nd(n.input("x", x), 2, (2, 2, 2), n.weights(w))
    layer.stride_nd = (2, 2, 2)
    n.out(layer.get_output(0), F.conv_transpose3d(x, w, stride=2))


# ---------------------------------------------------------------- pooling
@case("maxpool2d_pad")
def _(n, t):
    x = rand(2, 3, 9, 9)
    layer = n.net.add_pooling_nd(n.input("x", x), t.PoolingType.MAX, (3, 3))
    layer.stride_nd, layer.padding_nd = (2, 2), (1, 1)
    n.out(layer.get_output(0), F.max_pool2d(x, 3, 2, 1))


@case("avgpool2d_excludes_padding")
def _(n, t):
    x = rand(1, 2, 7, 8)
    layer = n.net.add_pooling_nd(n.input("x", x), t.PoolingType.AVERAGE, (3, 3))
    layer.stride_nd, layer.padding_nd = (2, 2), (1, 1)
    layer.average_count_excludes_padding = True
    n.out(layer.get_output(0), F.avg_pool2d(x, 3, 2, 1, count_include_pad=False))


@case("avgpool2d_includes_padding")
def _(n, t):
    x = rand(1, 2, 7, 8)
    layer = n.net.add_pooling_nd(n.input("x", x), t.PoolingType.AVERAGE, (3, 2))
    layer.stride_nd, layer.padding_nd = (1, 2), (1, 1)
    layer.average_count_excludes_padding = False
    n.out(layer.get_output(0), F.avg_pool2d(x, (3, 2), (1, 2), 1, count_include_pad=True))


@case("maxpool2d_round_up")
def _(n, t):
    x = rand(1, 1, 6, 7)
    layer = n.net.add_pooling_nd(n.input("x", x), t.PoolingType.MAX, (3, 3))
    layer.stride_nd, layer.padding_mode = (2, 2), t.PaddingMode.EXPLICIT_ROUND_UP
    n.out(layer.get_output(0), F.max_pool2d(x, 3, 2, ceil_mode=True))


@case("avgpool2d_round_up_excludes")
def _(n, t):
    x = rand(1, 1, 6, 6)
    layer = n.net.add_pooling_nd(n.input("x", x), t.PoolingType.AVERAGE, (3, 3))
    layer.stride_nd, layer.padding_mode = (2, 2), t.PaddingMode.EXPLICIT_ROUND_UP
    layer.average_count_excludes_padding = True
    n.out(layer.get_output(0), F.avg_pool2d(x, 3, 2, ceil_mode=True, count_include_pad=False))


@case("maxpool2d_same_upper")
def _(n, t):
    x = rand(1, 2, 7, 7)
    layer = n.net.add_pooling_nd(n.input("x", x), t.PoolingType.MAX, (2, 2))
    layer.stride_nd, layer.padding_mode = (2, 2), t.PaddingMode.SAME_UPPER
    # out = 4, total padding 1, after: pad with -inf
    n.out(layer.get_output(0), F.max_pool2d(F.pad(x, (0, 1, 0, 1), value=-math.inf), 2, 2))


@case("avgpool3d")
def _(n, t):
    x = rand(1, 2, 4, 6, 6)
    layer = n.net.add_pooling_nd(n.input("x", x), t.PoolingType.AVERAGE, (2, 2, 2))
    layer.stride_nd = (2, 2, 2)
    n.out(layer.get_output(0), F.avg_pool3d(x, 2, 2))


@case("maxpool_half")
def _(n, t):
    x = rand(1, 2, 6, 6).half()
    layer = n.net.add_pooling_nd(n.input("x", x), t.PoolingType.MAX, (2, 2))
    layer.stride_nd = (2, 2)
    n.out(layer.get_output(0), F.max_pool2d(x.float(), 2, 2).half())


# ---------------------------------------------------------------- activations
_ACT = {
    "RELU": (0, 0, torch.relu),
    "SIGMOID": (0, 0, torch.sigmoid),
    "TANH": (0, 0, torch.tanh),
    "LEAKY_RELU": (0.1, 0, lambda x: F.leaky_relu(x, 0.1)),
    "ELU": (0.7, 0, lambda x: F.elu(x, 0.7)),
    "SELU": (1.6732632423543772, 1.0507009873554805, torch.selu),
    "SOFTSIGN": (0, 0, F.softsign),
    "SOFTPLUS": (2.0, 3.0, lambda x: 2.0 * 3.0 * F.softplus(x, beta=3.0)),
    "CLIP": (-0.5, 0.8, lambda x: torch.clamp(x, -0.5, 0.8)),
    "HARD_SIGMOID": (1 / 6, 0.5, F.hardsigmoid),
    "SCALED_TANH": (1.5, 0.5, lambda x: 1.5 * torch.tanh(0.5 * x)),
    "THRESHOLDED_RELU": (0.3, 0, lambda x: F.threshold(x, 0.3, 0.0)),
    "GELU_ERF": (0, 0, F.gelu),
    "GELU_TANH": (0, 0, lambda x: F.gelu(x, approximate="tanh")),
}


def _activation_case(kind):
    def build(n, t):
        x = rand(2, 3, 5) * 3
        alpha, beta, fn = _ACT[kind]
        layer = n.net.add_activation(n.input("x", x), getattr(t.ActivationType, kind))
        layer.alpha, layer.beta = alpha, beta
        n.out(layer.get_output(0), fn(x))
    return build


for _kind in _ACT:
    CASES[f"activation_{_kind.lower()}"] = _activation_case(_kind)


@case("parametric_relu")
def _(n, t):
    x, slope = rand(2, 3, 4, 4), rand(1, 3, 1, 1)
    layer = n.net.add_parametric_relu(n.input("x", x), n.const(slope))
    n.out(layer.get_output(0), torch.where(x >= 0, x, x * slope))


@case("softmax_axis1")
def _(n, t):
    x = rand(2, 5, 3)
    layer = n.net.add_softmax(n.input("x", x))
    layer.axes = 1 << 1
    n.out(layer.get_output(0), torch.softmax(x, 1))


# ---------------------------------------------------------------- elementwise / unary / select
_BIN = {
    "SUM": torch.add, "PROD": torch.mul, "MAX": torch.maximum, "MIN": torch.minimum,
    "SUB": torch.sub, "DIV": torch.div, "POW": lambda a, b: torch.pow(a.abs() + 0.5, b),
    "FLOOR_DIV": lambda a, b: torch.floor(a / b),
}


def _binary_case(op):
    def build(n, t):
        a, b = rand(2, 1, 4), rand(1, 3, 4, seed=1) + 3
        if op == "POW":
            a = a.abs() + 0.5
        layer = n.net.add_elementwise(n.input("a", a), n.input("b", b), getattr(t.ElementWiseOperation, op))
        expected = torch.pow(a, b) if op == "POW" else _BIN[op](a, b)
        n.out(layer.get_output(0), expected)
    return build


for _op in _BIN:
    CASES[f"elementwise_{_op.lower()}"] = _binary_case(_op)


@case("elementwise_int_div_truncates")
def _(n, t):
    a = torch.tensor([7, -7, 7, -7, 6, -1], dtype=torch.int32)
    b = torch.tensor([2, 2, -2, -2, 4, 3], dtype=torch.int32)
    div = n.net.add_elementwise(n.input("a", a), n.input("b", b), t.ElementWiseOperation.DIV)
    n.out(div.get_output(0), torch.tensor([3, -3, -3, 3, 1, 0], dtype=torch.int32))
    fdiv = n.net.add_elementwise(div.get_input(0), div.get_input(1), t.ElementWiseOperation.FLOOR_DIV)
    n.out(fdiv.get_output(0), torch.tensor([3, -4, -4, 3, 1, -1], dtype=torch.int32))


@case("elementwise_comparisons")
def _(n, t):
    a, b = torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[2.0], [2.0]])
    ta, tb = n.input("a", a), n.input("b", b)
    for op, fn in (("EQUAL", torch.eq), ("GREATER", torch.gt), ("LESS", torch.lt)):
        n.out(n.net.add_elementwise(ta, tb, getattr(t.ElementWiseOperation, op)).get_output(0), fn(a, b))


@case("elementwise_logical")
def _(n, t):
    a, b = torch.tensor([True, True, False, False]), torch.tensor([True, False, True, False])
    ta, tb = n.input("a", a), n.input("b", b)
    for op, fn in (("AND", torch.logical_and), ("OR", torch.logical_or), ("XOR", torch.logical_xor)):
        n.out(n.net.add_elementwise(ta, tb, getattr(t.ElementWiseOperation, op)).get_output(0), fn(a, b))


@case("elementwise_half")
def _(n, t):
    a, b = rand(3, 4).half(), rand(3, 4, seed=2).half()
    layer = n.net.add_elementwise(n.input("a", a), n.input("b", b), t.ElementWiseOperation.PROD)
    n.out(layer.get_output(0), (a.float() * b.float()).half())


_UN = {
    "EXP": (torch.exp, 0), "LOG": (torch.log, 1), "SQRT": (torch.sqrt, 1), "RECIP": (torch.reciprocal, 1),
    "ABS": (torch.abs, 0), "NEG": (torch.neg, 0), "SIN": (torch.sin, 0), "COS": (torch.cos, 0),
    "TAN": (torch.tan, 0), "SINH": (torch.sinh, 0), "COSH": (torch.cosh, 0), "ASIN": (torch.asin, 2),
    "ACOS": (torch.acos, 2), "ATAN": (torch.atan, 0), "ASINH": (torch.asinh, 0),
    "ACOSH": (torch.acosh, 3), "ATANH": (torch.atanh, 2), "CEIL": (torch.ceil, 0),
    "FLOOR": (torch.floor, 0), "ERF": (torch.erf, 0), "SIGN": (torch.sign, 0),
}


def _unary_case(op):
    def build(n, t):
        x = rand(3, 4)
        domain = _UN[op][1]
        x = {0: x, 1: x.abs() + 0.1, 2: torch.tanh(x) * 0.9, 3: x.abs() + 1.1}[domain]
        layer = n.net.add_unary(n.input("x", x), getattr(t.UnaryOperation, op))
        n.out(layer.get_output(0), _UN[op][0](x))
    return build


for _op in _UN:
    CASES[f"unary_{_op.lower()}"] = _unary_case(_op)


@case("unary_round_half_even_isinf_isnan_not")
def _(n, t):
    x = torch.tensor([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, math.inf, math.nan])
    tx = n.input("x", x)
    n.out(n.net.add_unary(tx, t.UnaryOperation.ROUND).get_output(0),
          torch.tensor([0.0, 2.0, 2.0, -0.0, -2.0, 2.0, math.inf, math.nan]))
    n.out(n.net.add_unary(tx, t.UnaryOperation.ISINF).get_output(0), torch.isinf(x))
    isnan = n.net.add_unary(tx, t.UnaryOperation.ISNAN).get_output(0)
    n.out(isnan, torch.isnan(x))
    n.out(n.net.add_unary(isnan, t.UnaryOperation.NOT).get_output(0), ~torch.isnan(x))


@case("select_broadcast")
def _(n, t):
    cond = torch.tensor([[True], [False]])
    a, b = rand(2, 3), rand(1, 3, seed=3)
    layer = n.net.add_select(n.input("c", cond), n.input("a", a), n.input("b", b))
    n.out(layer.get_output(0), torch.where(cond, a, b))


# ---------------------------------------------------------------- shuffle and friends
@case("shuffle_transpose_reshape_transpose")
def _(n, t):
    x = rand(2, 3, 4, 5)
    layer = n.net.add_shuffle(n.input("x", x))
    layer.first_transpose = (0, 2, 1, 3)
    layer.reshape_dims = (0, 0, -1)
    layer.second_transpose = (2, 0, 1)
    n.out(layer.get_output(0), x.permute(0, 2, 1, 3).reshape(2, 4, 15).permute(2, 0, 1))


@case("shuffle_reshape_from_shape_tensor")
def _(n, t):
    x, y = rand(2, 3, 4), rand(6, 4)
    tx = n.input("x", x)
    layer = n.net.add_shuffle(n.input("y", y))
    layer.set_input(1, n.net.add_shape(tx).get_output(0))
    n.out(layer.get_output(0), y.reshape(2, 3, 4))


@case("shuffle_zero_is_not_placeholder")
def _(n, t):
    x = rand(2, 0, 3)
    layer = n.net.add_shuffle(n.input("x", x))
    layer.zero_is_placeholder = False
    layer.reshape_dims = (0, 5)
    n.out(layer.get_output(0), x.reshape(0, 5))


@case("concatenation_axis1")
def _(n, t):
    a, b, c = rand(2, 1, 3), rand(2, 4, 3), rand(2, 2, 3)
    layer = n.net.add_concatenation([n.input("a", a), n.input("b", b), n.input("c", c)])
    layer.axis = 1
    n.out(layer.get_output(0), torch.cat([a, b, c], 1))


@case("constant_dtypes")
def _(n, t):
    for value in (torch.arange(6, dtype=torch.int32).reshape(2, 3), rand(2, 2).half(),
                  torch.tensor([True, False]), torch.tensor([5, -3], dtype=torch.int64)):
        n.out(n.net.add_identity(n.const(value)).get_output(0), value)


@case("squeeze_unsqueeze")
def _(n, t):
    x = rand(2, 1, 3, 1)
    sq = n.net.add_squeeze(n.input("x", x), n.const(torch.tensor([1, -1], dtype=torch.int64)))
    n.out(sq.get_output(0), x.reshape(2, 3))
    unsq = n.net.add_unsqueeze(sq.get_output(0), n.const(torch.tensor([0, 3], dtype=torch.int64)))
    n.out(unsq.get_output(0), x.reshape(1, 2, 3, 1))


@case("shape_identity_cast")
def _(n, t):
    x = torch.tensor([[-1.7, 2.9, 0.0], [3.5, -0.2, 1.0]])
    tx = n.input("x", x)
    n.out(n.net.add_shape(tx).get_output(0), torch.tensor([2, 3], dtype=torch.int64))
    n.out(n.net.add_identity(tx).get_output(0), x)
    n.out(n.net.add_cast(tx, t.int32).get_output(0), torch.tensor([[-1, 2, 0], [3, 0, 1]], dtype=torch.int32))
    n.out(n.net.add_cast(tx, t.float16).get_output(0), x.half())
    n.out(n.net.add_cast(tx, t.bool).get_output(0), x != 0)


# ---------------------------------------------------------------- matrix multiply / einsum
def _matmul_case(op0, op1, sa, sb, fn):
    def build(n, t):
        a, b = rand(*sa), rand(*sb, seed=5)
        M = t.MatrixOperation
        layer = n.net.add_matrix_multiply(n.input("a", a), getattr(M, op0), n.input("b", b), getattr(M, op1))
        n.out(layer.get_output(0), fn(a, b))
    return build


CASES.update({
    "matmul_broadcast": _matmul_case("NONE", "NONE", (2, 1, 3, 4), (1, 5, 4, 6), torch.matmul),
    # a weight shared by every batch entry: the evaluator multiplies the rows as one matrix
    "matmul_shared_weight": _matmul_case("NONE", "NONE", (5, 2, 3, 4), (1, 1, 4, 6), torch.matmul),
    "matmul_shared_weight_transposed": _matmul_case("NONE", "TRANSPOSE", (7, 1, 4), (1, 6, 4),
                                                    lambda a, b: a @ b.transpose(-1, -2)),
    "matmul_transpose": _matmul_case("TRANSPOSE", "TRANSPOSE", (2, 4, 3), (2, 5, 4),
                                     lambda a, b: a.transpose(-1, -2) @ b.transpose(-1, -2)),
    "matmul_vector_left": _matmul_case("VECTOR", "NONE", (2, 4), (2, 4, 3),
                                       lambda a, b: torch.einsum("bk,bkn->bn", a, b)),
    "matmul_vector_right": _matmul_case("NONE", "VECTOR", (2, 3, 4), (2, 4),
                                        lambda a, b: torch.einsum("bmk,bk->bm", a, b)),
    "matmul_vector_both": _matmul_case("VECTOR", "VECTOR", (3, 4), (3, 4), lambda a, b: (a * b).sum(-1)),
})


@case("einsum")
def _(n, t):
    a, b = rand(2, 3, 4), rand(2, 4, 5)
    layer = n.net.add_einsum([n.input("a", a), n.input("b", b)], "bij,bjk->bik")
    n.out(layer.get_output(0), torch.bmm(a, b))
    n.out(n.net.add_einsum([layer.get_input(0)], "bij->bji").get_output(0), a.transpose(1, 2))


# ---------------------------------------------------------------- reductions
@case("reduce_all_ops")
def _(n, t):
    x = rand(2, 3, 4) + 2
    tx = n.input("x", x)
    R = t.ReduceOperation
    n.out(n.net.add_reduce(tx, R.SUM, 0b101, True).get_output(0), x.sum((0, 2), keepdim=True))
    n.out(n.net.add_reduce(tx, R.AVG, 0b010, False).get_output(0), x.mean(1))
    n.out(n.net.add_reduce(tx, R.MAX, 0b100, False).get_output(0), x.amax(2))
    n.out(n.net.add_reduce(tx, R.MIN, 0b011, True).get_output(0), x.amin((0, 1), keepdim=True))
    n.out(n.net.add_reduce(tx, R.PROD, 0b100, False).get_output(0), x.prod(2))


@case("reduce_int")
def _(n, t):
    x = torch.arange(12, dtype=torch.int32).reshape(3, 4)
    layer = n.net.add_reduce(n.input("x", x), t.ReduceOperation.SUM, 0b10, False)
    n.out(layer.get_output(0), x.sum(1, dtype=torch.int32))


@case("topk_max_min")
def _(n, t):
    x = rand(2, 6, 3)
    tx = n.input("x", x)
    top = n.net.add_topk(tx, t.TopKOperation.MAX, 2, 1 << 1)
    values, indices = torch.topk(x, 2, dim=1)
    n.out(top.get_output(0), values)
    n.out(top.get_output(1), indices.int())
    low = n.net.add_topk(tx, t.TopKOperation.MIN, 3, 1 << 2)
    values, indices = torch.topk(x, 3, dim=2, largest=False)
    n.out(low.get_output(0), values)
    n.out(low.get_output(1), indices.int())


def _cumsum_case(exclusive, reverse):
    def build(n, t):
        x = torch.tensor([[1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0]])
        axis = n.const(torch.tensor(1, dtype=torch.int32))
        layer = n.net.add_cumulative(n.input("x", x), axis, t.CumulativeOperation.SUM, exclusive, reverse)
        table = {
            (False, False): [[1, 3, 6, 10], [10, 30, 60, 100]],
            (True, False): [[0, 1, 3, 6], [0, 10, 30, 60]],
            (False, True): [[10, 9, 7, 4], [100, 90, 70, 40]],
            (True, True): [[9, 7, 4, 0], [90, 70, 40, 0]],
        }
        n.out(layer.get_output(0), torch.tensor(table[(exclusive, reverse)], dtype=torch.float32))
    return build


for _ex in (False, True):
    for _rev in (False, True):
        CASES[f"cumulative_exclusive{int(_ex)}_reverse{int(_rev)}"] = _cumsum_case(_ex, _rev)


# ---------------------------------------------------------------- slice / padding
@case("slice_static_strided")
def _(n, t):
    x = rand(4, 7, 6)
    layer = n.net.add_slice(n.input("x", x), (1, 0, 5), (2, 4, 3), (2, 2, -2))
    n.out(layer.get_output(0), x[1:4:2, 0:7:2, :][:, :, [5, 3, 1]])


def _slice_mode_case(mode, expected_idx):
    def build(n, t):
        x = torch.arange(5, dtype=torch.float32).reshape(1, 5) + 1
        layer = n.net.add_slice(n.input("x", x), (0, -3), (1, 11), (1, 1))
        layer.mode = getattr(t.SampleMode, mode)
        if mode == "FILL":
            layer.set_input(4, n.const(torch.tensor(-9.0)))
        values = [(-9.0 if i is None else float(i + 1)) for i in expected_idx]
        n.out(layer.get_output(0), torch.tensor([values]))
    return build


CASES.update({
    # coordinates -3 .. 7 of a length-5 axis
    "slice_wrap": _slice_mode_case("WRAP", [2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2]),
    "slice_clamp": _slice_mode_case("CLAMP", [0, 0, 0, 0, 1, 2, 3, 4, 4, 4, 4]),
    "slice_fill": _slice_mode_case("FILL", [None, None, None, 0, 1, 2, 3, 4, None, None, None]),
    "slice_reflect": _slice_mode_case("REFLECT", [3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1]),
})


@case("slice_dynamic_inputs")
def _(n, t):
    x = rand(3, 8)
    layer = n.net.add_slice(n.input("x", x), (0, 0), (1, 1), (1, 1))
    layer.set_input(1, n.const(torch.tensor([1, 6], dtype=torch.int64)))
    layer.set_input(2, n.const(torch.tensor([2, 3], dtype=torch.int64)))
    layer.set_input(3, n.const(torch.tensor([1, -2], dtype=torch.int64)))
    n.out(layer.get_output(0), x[1:3, [6, 4, 2]])


@case("padding")
def _(n, t):
    x = rand(1, 2, 4, 5)
    layer = n.net.add_padding_nd(n.input("x", x), (1, 2), (0, -1))
    n.out(layer.get_output(0), F.pad(x, (2, -1, 1, 0)))


# ---------------------------------------------------------------- gather / scatter / one-hot
@case("gather_default")
def _(n, t):
    x, idx = rand(3, 5, 2), torch.tensor([[4, 0], [1, 1], [2, 3]], dtype=torch.int32)
    layer = n.net.add_gather(n.input("x", x), n.input("i", idx), 1)
    n.out(layer.get_output(0), x[:, idx.long()])


@case("gather_default_elementwise_dim")
def _(n, t):
    x, idx = rand(3, 5, 2), torch.tensor([[4, 0], [1, 1], [2, 3]], dtype=torch.int32)
    layer = n.net.add_gather(n.input("x", x), n.input("i", idx), 1)
    layer.num_elementwise_dims = 1
    expected = torch.stack([x[b, idx[b].long()] for b in range(3)])
    n.out(layer.get_output(0), expected)


@case("gather_element")
def _(n, t):
    x = rand(3, 4)
    idx = torch.tensor([[0, 3], [2, 2], [1, 0]], dtype=torch.int32)
    layer = n.net.add_gather_v2(n.input("x", x), n.input("i", idx), t.GatherMode.ELEMENT)
    layer.axis = 1
    n.out(layer.get_output(0), torch.gather(x, 1, idx.long()))


@case("gather_nd")
def _(n, t):
    x = rand(3, 4, 2)
    idx = torch.tensor([[0, 3], [2, 1]], dtype=torch.int32)
    layer = n.net.add_gather_v2(n.input("x", x), n.input("i", idx), t.GatherMode.ND)
    n.out(layer.get_output(0), torch.stack([x[0, 3], x[2, 1]]))


@case("gather_nd_batch")
def _(n, t):
    x = rand(2, 4, 3)
    idx = torch.tensor([[[1], [3]], [[0], [0]]], dtype=torch.int32)
    layer = n.net.add_gather_v2(n.input("x", x), n.input("i", idx), t.GatherMode.ND)
    layer.num_elementwise_dims = 1
    n.out(layer.get_output(0), torch.stack([x[0, [1, 3]], x[1, [0, 0]]]))


@case("scatter_element")
def _(n, t):
    data, upd = rand(3, 4), rand(3, 2, seed=9)
    idx = torch.tensor([[1, 3], [0, 2], [3, 0]], dtype=torch.int32)
    layer = n.net.add_scatter(n.input("d", data), n.input("i", idx), n.input("u", upd), t.ScatterMode.ELEMENT)
    layer.axis = 1
    n.out(layer.get_output(0), data.scatter(1, idx.long(), upd))


@case("scatter_nd")
def _(n, t):
    data, upd = rand(4, 3), rand(2, 3, seed=4)
    idx = torch.tensor([[2], [0]], dtype=torch.int32)
    layer = n.net.add_scatter(n.input("d", data), n.input("i", idx), n.input("u", upd), t.ScatterMode.ND)
    expected = data.clone()
    expected[2], expected[0] = upd[0], upd[1]
    n.out(layer.get_output(0), expected)


@case("one_hot")
def _(n, t):
    idx = torch.tensor([[0, 3], [-1, 2]], dtype=torch.int32)
    values = torch.tensor([0.5, 2.0])
    depth = torch.tensor(4, dtype=torch.int32)
    layer = n.net.add_one_hot(n.input("i", idx), n.const(values), n.const(depth), -1)
    hot = F.one_hot(torch.remainder(idx.long(), 4), 4).float()
    n.out(layer.get_output(0), hot * 1.5 + 0.5)


@case("non_zero")
def _(n, t):
    x = torch.tensor([[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]])
    layer = n.net.add_non_zero(n.input("x", x))
    n.out(layer.get_output(0), torch.nonzero(x).t().int())


# ---------------------------------------------------------------- normalization / scale / fill
@case("normalization_layer_norm")
def _(n, t):
    x, w, b = rand(2, 3, 8), rand(1, 1, 8), rand(1, 1, 8, seed=3)
    layer = n.net.add_normalization(n.input("x", x), n.const(w), n.const(b), 1 << 2)
    layer.epsilon = 1e-5
    n.out(layer.get_output(0), F.layer_norm(x, (8,), w.reshape(8), b.reshape(8), 1e-5))


@case("normalization_instance_norm")
def _(n, t):
    x, w, b = rand(2, 3, 4, 5), rand(1, 3, 1, 1), rand(1, 3, 1, 1, seed=3)
    layer = n.net.add_normalization(n.input("x", x), n.const(w), n.const(b), 0b1100)
    n.out(layer.get_output(0), F.instance_norm(x, weight=w.reshape(3), bias=b.reshape(3), eps=1e-5))


@case("normalization_group_norm")
def _(n, t):
    x, w, b = rand(2, 4, 3, 3), rand(1, 4, 1, 1), rand(1, 4, 1, 1, seed=3)
    layer = n.net.add_normalization_v2(n.input("x", x), n.const(w), n.const(b), 0b1100)
    layer.num_groups = 2
    n.out(layer.get_output(0), F.group_norm(x, 2, w.reshape(4), b.reshape(4), 1e-5))


@case("scale_channel")
def _(n, t):
    x = rand(2, 3, 4, 4).abs() + 0.5
    shift, scale, power = rand(3), rand(3, seed=2).abs() + 0.5, torch.tensor([1.0, 2.0, 0.5])
    layer = n.net.add_scale_nd(n.input("x", x), t.ScaleMode.CHANNEL, n.weights(shift), n.weights(scale),
                               n.weights(power), 1)
    view = (1, 3, 1, 1)
    n.out(layer.get_output(0), torch.pow(x * scale.reshape(view) + shift.reshape(view) + 0.0, power.reshape(view)))


@case("scale_uniform_elementwise")
def _(n, t):
    x = rand(1, 2, 3, 3)
    tx = n.input("x", x)
    uni = n.net.add_scale(tx, t.ScaleMode.UNIFORM, n.weights(torch.tensor([0.5])), n.weights(torch.tensor([2.0])))
    n.out(uni.get_output(0), x * 2 + 0.5)
    s = rand(2, 3, 3, seed=8)
    elem = n.net.add_scale(tx, t.ScaleMode.ELEMENTWISE, None, n.weights(s))
    n.out(elem.get_output(0), x * s)


@case("fill_linspace")
def _(n, t):
    static = n.net.add_fill((5,), t.FillOperation.LINSPACE, t.float32)
    static.alpha, static.beta = 1.0, 0.5
    n.out(static.get_output(0), torch.arange(5, dtype=torch.float32) * 0.5 + 1)
    dynamic = n.net.add_fill((1, 1), t.FillOperation.LINSPACE, t.int32)
    dynamic.set_input(0, n.const(torch.tensor([2, 3], dtype=torch.int64)))
    dynamic.set_input(1, n.const(torch.tensor(10, dtype=torch.int32)))
    dynamic.set_input(2, n.const(torch.tensor([100, 1], dtype=torch.int32)))
    n.out(dynamic.get_output(0), torch.tensor([[10, 11, 12], [110, 111, 112]], dtype=torch.int32))


# ---------------------------------------------------------------- resize
def _resize_case(mode, transform, torch_fn, rounding=None, scales=None, shape=None, cubic=None):
    def build(n, t):
        x = rand(1, 2, 4, 5)
        layer = n.net.add_resize(n.input("x", x))
        layer.resize_mode = getattr(t.InterpolationMode, mode)
        layer.coordinate_transformation = getattr(t.ResizeCoordinateTransformation, transform)
        if rounding:
            layer.nearest_rounding = getattr(t.ResizeRoundMode, rounding)
        if cubic is not None:
            layer.cubic_coeff = cubic
        if scales:
            layer.scales = scales
        else:
            layer.shape = shape
        n.out(layer.get_output(0), torch_fn(x))
    return build


CASES.update({
    "resize_nearest_asymmetric_floor": _resize_case(
        "NEAREST", "ASYMMETRIC", lambda x: F.interpolate(x, scale_factor=2, mode="nearest"),
        rounding="FLOOR", scales=[1, 1, 2, 2]),
    "resize_nearest_half_pixel_half_up": _resize_case(
        "NEAREST", "HALF_PIXEL", lambda x: F.interpolate(x, size=(7, 3), mode="nearest-exact"),
        rounding="HALF_UP", shape=(1, 2, 7, 3)),
    "resize_linear_half_pixel": _resize_case(
        "LINEAR", "HALF_PIXEL", lambda x: F.interpolate(x, size=(7, 9), mode="bilinear", align_corners=False),
        shape=(1, 2, 7, 9)),
    "resize_linear_align_corners": _resize_case(
        "LINEAR", "ALIGN_CORNERS", lambda x: F.interpolate(x, size=(6, 3), mode="bilinear", align_corners=True),
        shape=(1, 2, 6, 3)),
    "resize_cubic_half_pixel": _resize_case(
        "CUBIC", "HALF_PIXEL", lambda x: F.interpolate(x, size=(8, 10), mode="bicubic", align_corners=False),
        shape=(1, 2, 8, 10), cubic=-0.75),
    "resize_cubic_align_corners": _resize_case(
        "CUBIC", "ALIGN_CORNERS", lambda x: F.interpolate(x, size=(7, 7), mode="bicubic", align_corners=True),
        shape=(1, 2, 7, 7), cubic=-0.75),
})


@case("resize_linear_dynamic_shape_input")
def _(n, t):
    x = rand(1, 1, 3, 4)
    layer = n.net.add_resize(n.input("x", x))
    layer.resize_mode = t.InterpolationMode.LINEAR
    layer.coordinate_transformation = t.ResizeCoordinateTransformation.HALF_PIXEL
    layer.set_input(1, n.const(torch.tensor([1, 1, 6, 2], dtype=torch.int64)))
    n.out(layer.get_output(0), F.interpolate(x, size=(6, 2), mode="bilinear", align_corners=False))


# ---------------------------------------------------------------- the tests
@pytest.mark.parametrize("name", sorted(CASES))
def test_layer(name):
    builds = not (is_rtx() and name in RTX_BUILD_FAILS)
    tol = 2e-2 if "bf16" in name else 2e-3 if "half" in name else None
    check(CASES[name], atol=tol or 1e-5, rtol=tol or 1e-4, builds=builds)


def test_every_compiler_layer_type_has_a_case():
    """The layer types the compiler emits all appear in at least one case network."""
    seen = set()
    for build in CASES.values():
        n = Net()
        build(n, n.t)
        seen |= {n.net.get_layer(i).type.name for i in range(n.net.num_layers)}
    wanted = {
        "CONVOLUTION", "DECONVOLUTION", "POOLING", "ACTIVATION", "ELEMENTWISE", "UNARY", "SHUFFLE",
        "CONCATENATION", "CONSTANT", "MATRIX_MULTIPLY", "REDUCE", "SOFTMAX", "CAST", "SLICE",
        "IDENTITY", "SELECT", "GATHER", "SHAPE", "NORMALIZATION", "RESIZE", "PADDING", "TOPK",
        "CUMULATIVE", "SQUEEZE", "UNSQUEEZE", "FILL", "ONE_HOT", "EINSUM", "SCALE",
        "PARAMETRIC_RELU", "SCATTER", "NON_ZERO",
    }
    assert wanted <= seen, wanted - seen
    assert wanted <= set(IMPLS)


def _unary_network():
    n = Net()
    x = torch.ones(2, 3)
    layer = n.net.add_unary(n.input("x", x), n.t.UnaryOperation.NEG)
    layer.name = "negate"
    n.out(layer.get_output(0), -x)
    return n


def test_self_check_rejects_wrong_shape(monkeypatch):
    n = _unary_network()
    monkeypatch.setitem(IMPLS, "UNARY", lambda layer, inputs: [torch.zeros(3, 2)])
    with pytest.raises(EvaluationError, match=r"'negate' \(UNARY\).*\(3, 2\).*\(2, 3\)"):
        evaluate(n.net, n.inputs)
    assert tuple(evaluate(n.net, n.inputs, check=False)["out0"].shape) == (3, 2)


def test_self_check_rejects_wrong_dtype(monkeypatch):
    n = _unary_network()
    monkeypatch.setitem(IMPLS, "UNARY", lambda layer, inputs: [torch.zeros(2, 3, dtype=torch.int32)])
    with pytest.raises(EvaluationError, match=r"'negate' \(UNARY\).*int32.*float32"):
        evaluate(n.net, n.inputs)


def test_input_errors_name_the_input():
    n = _unary_network()
    with pytest.raises(EvaluationError, match="'x' is missing"):
        evaluate(n.net, {})
    with pytest.raises(EvaluationError, match="'y'"):
        evaluate(n.net, {"x": torch.ones(2, 3), "y": torch.ones(1)})
    with pytest.raises(EvaluationError, match="'x' has rank 1"):
        evaluate(n.net, {"x": torch.ones(6)})


def test_all_tensors_includes_inputs_and_intermediates():
    n = Net()
    x = rand(2, 3)
    relu = n.net.add_activation(n.input("x", x), n.t.ActivationType.RELU)
    relu.get_output(0).name = "hidden"
    n.out(n.net.add_unary(relu.get_output(0), n.t.UnaryOperation.EXP).get_output(0), torch.exp(torch.relu(x)))
    values = evaluate(n.net, n.inputs, all_tensors=True)
    assert set(values) == {"x", "hidden", "out0"}
    torch.testing.assert_close(values["hidden"], torch.relu(x))


class _FakeTensor:
    def __init__(self, name, shape, dtype):
        self.name, self.shape, self.dtype = name, shape, dtype


class _FakeLayer:
    def __init__(self, type_, name, inputs, outputs, **attrs):
        self.type, self.name, self._in, self._out = type_, name, inputs, outputs
        self.num_inputs, self.num_outputs = len(inputs), len(outputs)
        self.__dict__.update(attrs)

    def get_input(self, i):
        return self._in[i]

    def get_output(self, i):
        return self._out[i]


class _FakeNetwork:
    def __init__(self, inputs, layers, outputs):
        self._inputs, self._layers, self._outputs = inputs, layers, outputs
        self.num_inputs, self.num_layers, self.num_outputs = len(inputs), len(layers), len(outputs)

    def get_input(self, i):
        return self._inputs[i]

    def get_layer(self, i):
        return self._layers[i]

    def get_output(self, i):
        return self._outputs[i]


def test_duck_typed_fake_network():
    """A pure-Python network with TensorRT's attribute names (tuples, numpy/torch weights)."""
    t = trt()
    f32 = t.float32
    x = _FakeTensor("x", (1, 2, 4, 4), f32)
    w = torch.randn(3, 2, 3, 3)
    conv_out = _FakeTensor("conv", (1, 3, 2, 2), f32)
    act_out = _FakeTensor("act", (1, 3, 2, 2), f32)
    pool_out = _FakeTensor("pool", (1, 3, 1, 1), f32)
    shuf_out = _FakeTensor("flat", (3,), f32)
    layers = [
        _FakeLayer(t.LayerType.CONVOLUTION, "conv", [x], [conv_out], kernel=w.numpy(), bias=torch.ones(3),
                   num_output_maps=3, kernel_size_nd=(3, 3), stride_nd=(2, 2), padding_nd=(1, 1),
                   pre_padding=(1, 1), post_padding=(0, 0), dilation_nd=(1, 1), num_groups=1,
                   padding_mode=t.PaddingMode.EXPLICIT_ROUND_DOWN),
        _FakeLayer(t.LayerType.ACTIVATION, "act", [conv_out], [act_out],
                   activation_type=t.ActivationType.LEAKY_RELU, alpha=0.2, beta=0.0),
        _FakeLayer(t.LayerType.POOLING, "pool", [act_out], [pool_out], pooling_type=t.PoolingType.MAX,
                   window_size_nd=[2, 2], stride_nd=[2, 2], padding_nd=[0, 0], pre_padding=[0, 0],
                   post_padding=[0, 0], padding_mode=t.PaddingMode.EXPLICIT_ROUND_DOWN,
                   average_count_excludes_padding=True, blend_factor=0.0),
        _FakeLayer(t.LayerType.SHUFFLE, "flat", [pool_out], [shuf_out], first_transpose=(0, 1, 2, 3),
                   reshape_dims=[-1], second_transpose=(0,), zero_is_placeholder=True),
    ]
    net = _FakeNetwork([x], layers, [shuf_out])
    value = torch.randn(1, 2, 4, 4)
    got = evaluate(net, {"x": value})["flat"]
    expected = F.max_pool2d(F.leaky_relu(F.conv2d(F.pad(value, (1, 0, 1, 0)), w, torch.ones(3), stride=2), 0.2), 2)
    torch.testing.assert_close(got, expected.reshape(-1))


def test_outputs_never_share_memory_with_the_weights_or_the_inputs():
    """Weights are read without copying (they can be the model's own parameters), and so is an
    input of the network's dtype: a network output that is a constant, a view of one, or an input
    comes back as a copy the caller may change freely."""
    n = Net()
    x = rand(2, 3)
    x_kept = x.clone()
    weights = rand(2, 3).numpy()
    kept = weights.copy()
    const = n.net.add_constant((2, 3), n.t.Weights(weights)).get_output(0)
    shuffle = n.net.add_shuffle(const)
    shuffle.reshape_dims = (3, 2)
    n.out(n.net.add_elementwise(n.input("x", x), const, n.t.ElementWiseOperation.SUM).get_output(0),
          x + torch.from_numpy(kept))
    n.out(const, torch.from_numpy(kept))
    n.out(shuffle.get_output(0), torch.from_numpy(kept).reshape(3, 2))
    n.out(n.net.add_identity(n.net.get_input(0)).get_output(0), x_kept)
    for values in (evaluate(n.net, n.inputs), evaluate(n.net, n.inputs, all_tensors=True)):
        for value in values.values():
            value.mul_(0)
        assert np.array_equal(weights, kept) and torch.equal(x, x_kept)
    torch.testing.assert_close(evaluate(n.net, n.inputs)["out1"], torch.from_numpy(kept))


@settings(max_examples=60, deadline=None)
@given(batch=st.lists(st.integers(0, 4), min_size=1, max_size=3), m=st.integers(0, 5), k=st.integers(0, 6),
       n=st.integers(0, 5), seed=st.integers(0, 2**16))
def test_shared_weight_product_equals_torch_matmul(batch, m, k, n, seed):
    """The evaluator multiplies a left operand by a right operand whose batch dims are all 1 as one
    matrix (``reference.matmul._matmul``): the same values as torch's broadcasting matmul, for any
    batch shape, empty dims included."""
    from trtgraph.reference.matmul import _matmul

    g = torch.Generator().manual_seed(seed)
    a = torch.randn(*batch, m, k, generator=g, dtype=torch.float64)
    b = torch.randn(*([1] * len(batch)), k, n, generator=g, dtype=torch.float64)
    got = _matmul(a, b)
    assert got.shape == (*batch, m, n)
    torch.testing.assert_close(got, torch.matmul(a, b), rtol=1e-12, atol=1e-12)
    # a transposed (non-contiguous) left operand too
    at = torch.randn(*batch, k, m, generator=g, dtype=torch.float64).transpose(-1, -2)
    torch.testing.assert_close(_matmul(at, b), torch.matmul(at, b), rtol=1e-12, atol=1e-12)
