"""Explicit quantization (trtgraph/handlers/quant.py): torch fake-quant and quantize/dequantize
nodes become TensorRT int8 Q/DQ layers. Checks: ``cases.run_case`` (eager vs torch debug mode vs
the reference evaluation of the real network, whose engine is built and serialized), with exact
equality: TensorRT's Q (round(x / s), half to even, clamp to [-128, 127]) and DQ (q * s) give
torch's fake quantization bit for bit where x / s and torch's x * (1 / s) round alike (always for
power-of-two scales; see test_rounding_ties_and_the_reciprocal)."""
from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
import torch.ao.quantization as tq
from conftest import check_module
from torch import nn

import trtgraph

from .cases import Fn, case_table, r, run_case

pytestmark = [pytest.mark.filterwarnings("ignore:.*quantiz.*:UserWarning"),
              pytest.mark.filterwarnings("ignore:Please use quant_min:UserWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]

CASES, case = case_table()

FQ_T, FQ_C = "aten::fake_quantize_per_tensor_affine", "aten::fake_quantize_per_channel_affine"
FUSED, Q_T, Q_C, DQ = ("aten::fused_moving_avg_obs_fake_quant", "aten::quantize_per_tensor",
                       "aten::quantize_per_channel", "aten::dequantize")
S = 2.0 ** -4  # a power-of-two scale: torch's x * (1/s) and TensorRT's x / s are the same number


def i32(*values):
    return torch.tensor(values, dtype=torch.int32)


def calibrated(make, *shape, seed=1):
    """A torch.ao fake-quant module (``make()``) that has observed data, with its observer then disabled."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notices
        module = make().train()
        module(r(*shape, seed=seed) * 2)
    module.apply(tq.disable_observer)
    return module.eval()


SYM8 = dict(quant_min=-128, quant_max=127, dtype=torch.qint8)

# --- fake quantization, per tensor (scalar and tensor qparams)
x4 = r(2, 3, 6, 5) * 3
case("fq_per_tensor", Fn(lambda m, x: torch.fake_quantize_per_tensor_affine(x, S, 0, -128, 127)), [x4], [FQ_T])
case("fq_per_tensor_scale_0.1", Fn(lambda m, x: torch.fake_quantize_per_tensor_affine(x, 0.1, 0, -128, 127)),
     [x4], [FQ_T])
case("fq_tensor_qparams", Fn(lambda m, x: torch.fake_quantize_per_tensor_affine(
    x, torch.tensor([0.05]), i32(0), -128, 127)), [x4], [FQ_T])
case("fq_narrow_range", Fn(lambda m, x: torch.fake_quantize_per_tensor_affine(x, S / 2, 0, -127, 127)), [x4], [FQ_T])
case("fq_quint8_symmetric_zp128", Fn(lambda m, x: torch.fake_quantize_per_tensor_affine(x, S, 128, 0, 255)),
     [x4], [FQ_T])
case("fq_reduce_range_zp37", Fn(lambda m, x: torch.fake_quantize_per_tensor_affine(x, S, 37, 0, 127)), [x4], [FQ_T])
case("fq_int4_range", Fn(lambda m, x: torch.fake_quantize_per_tensor_affine(x, 0.5, 0, -8, 7)), [x4], [FQ_T])
case("fq_linear_fq", Fn(lambda m, x: torch.fake_quantize_per_tensor_affine(
    nn.functional.linear(torch.fake_quantize_per_tensor_affine(x, S, 0, -128, 127), m.w), 0.25, 0, -128, 127),
    w=r(6, 16, seed=2)), [r(3, 16)], [FQ_T])
case("FakeQuantize_per_tensor", calibrated(lambda: tq.FakeQuantize(
    observer=tq.MovingAverageMinMaxObserver, qscheme=torch.per_tensor_symmetric, **SYM8), 2, 3, 6, 5),
    [x4], [FQ_T])

# --- fake quantization, per channel
case("fq_per_channel", Fn(lambda m, x: torch.fake_quantize_per_channel_affine(
    x, torch.tensor([S, S / 2, 4 * S]), i32(0, 0, 0), 1, -128, 127)), [x4], [FQ_C])
case("fq_per_channel_zero_points_last_axis", Fn(lambda m, x: torch.fake_quantize_per_channel_affine(
    x, torch.tensor([S, 0.03, 0.1, S, 0.2]), i32(0, 5, -3, 0, 1), 3, -120, 120)), [x4], [FQ_C])
case("FakeQuantize_per_channel", calibrated(lambda: tq.FakeQuantize(
    observer=tq.MovingAveragePerChannelMinMaxObserver, qscheme=torch.per_channel_symmetric, ch_axis=1, **SYM8),
    2, 3, 6, 5), [x4], [FQ_C])

# --- torch.ao's FusedMovingAvgObsFakeQuantize (what the default QAT qconfigs use)
case("fused_per_tensor_reduce_range", calibrated(lambda: tq.FusedMovingAvgObsFakeQuantize(
    observer=tq.MovingAverageMinMaxObserver, quant_min=0, quant_max=127, dtype=torch.quint8), 2, 3, 6, 5),
    [x4], [FUSED])
case("fused_per_channel_axis0", calibrated(lambda: tq.FusedMovingAvgObsFakeQuantize(  # torch: axis 0 only
    observer=tq.MovingAveragePerChannelMinMaxObserver, qscheme=torch.per_channel_symmetric, ch_axis=0, **SYM8),
    5, 3, 4), [r(5, 3, 4) * 3], [FUSED])

# --- quantized tensors: quantize_per_tensor / quantize_per_channel, then dequantize
case("quantize_dequantize_qint8", Fn(lambda m, x: torch.quantize_per_tensor(x, S, 0, torch.qint8).dequantize()),
     [x4], [Q_T, DQ])
case("quantize_dequantize_quint8_zp128", Fn(lambda m, x: torch.dequantize(
    torch.quantize_per_tensor(x, 0.1, 128, torch.quint8))), [x4], [Q_T, DQ])
case("quantize_tensor_qparams", Fn(lambda m, x: torch.quantize_per_tensor(
    x, torch.tensor(S), torch.tensor(0), torch.qint8).dequantize() + x), [x4], [Q_T, DQ])
case("quantize_per_channel", Fn(lambda m, x: torch.quantize_per_channel(
    x, torch.tensor([S, 0.1, 0.3]), torch.zeros(3, dtype=torch.int64), 1, torch.qint8).dequantize()), [x4], [Q_C, DQ])


def test_quantize_per_channel_float64_scales():
    """torch keeps per-channel scales in float64 and dequantizes with them; TensorRT's scales are
    fp32. Scales that fp32 represents exactly give the same result (above); others differ by an ulp."""
    model = Fn(lambda m, x: torch.quantize_per_channel(x, torch.tensor([S, 0.1, 0.3], dtype=torch.float64),
                                                       torch.zeros(3, dtype=torch.int64), 1, torch.qint8).dequantize())
    check_module(model, [x4], rtol=2 ** -23, atol=0)


def _qdq_layers(network):
    """(type, input dtype, output dtype) of every QUANTIZE/DEQUANTIZE layer of a real network."""
    out = []
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if layer.type.name in ("QUANTIZE", "DEQUANTIZE"):
            out.append((layer.type.name, layer.get_input(0).dtype.name, layer.get_output(0).dtype.name))
    return out


@pytest.mark.parametrize("module,inputs,ops", CASES)
def test_op(module, inputs, ops):
    conv = run_case(module, inputs, ops, rtol=0, atol=0, converted_only=True)
    layers = _qdq_layers(conv.network)
    kinds = [k for k, _, _ in layers]
    assert "QUANTIZE" in kinds and "DEQUANTIZE" in kinds, f"no Q/DQ layers in the network: {kinds}"
    for kind, src, dst in layers:
        if kind == "QUANTIZE":
            assert (src, dst) == ("FLOAT", "INT8"), f"quantize {src} -> {dst}"
        else:
            assert (src, dst) == ("INT8", "FLOAT"), f"dequantize {src} -> {dst}"


# --------------------------------------------------------------------------- the layers TensorRT gets

def _constant_value(tensor, network):
    from trtgraph.reference._core import to_torch
    from trtgraph.reference.evaluator import downcast

    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if layer.get_output(0).name == tensor.name:
            layer, _ = downcast(layer)
            return to_torch(layer.weights).reshape(tuple(tensor.shape))
    raise AssertionError(f"no layer makes {tensor.name}")


def test_qdq_layers_carry_torch_scales_and_axis():
    """The scales and axis of the Q/DQ layers are the FakeQuantize module's (read from the network)."""
    from trtgraph.reference.evaluator import downcast

    fq = calibrated(lambda: tq.FakeQuantize(observer=tq.MovingAveragePerChannelMinMaxObserver,
                                    qscheme=torch.per_channel_symmetric, ch_axis=1, **SYM8), 2, 3, 6, 5)
    conv = trtgraph.convert(fq, [x4])
    layers = [downcast(conv.network.get_layer(i))[0] for i in range(conv.network.num_layers)]
    qdq = [lay for lay in layers if lay.type.name in ("QUANTIZE", "DEQUANTIZE")]
    assert [lay.type.name for lay in qdq] == ["QUANTIZE", "DEQUANTIZE"]
    for lay in qdq:
        assert lay.axis == 1
        scale = _constant_value(lay.get_input(1), conv.network)
        assert scale.dtype == torch.float32 and torch.equal(scale, fq.scale.float()), (scale, fq.scale)
    assert qdq[0].get_output(0).dtype.name == "INT8" and qdq[1].get_output(0).dtype.name == "FLOAT"


# --------------------------------------------------------------------------- torch.ao QAT models

class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = tq.QuantStub()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 5)
        self.dequant = tq.DeQuantStub()

    def forward(self, x):
        x = self.relu(self.conv(self.quant(x)))
        return self.dequant(self.fc(self.pool(x).flatten(1)))


def _fq(observer, qscheme, **kw):
    return tq.FakeQuantize.with_args(observer=observer, qscheme=qscheme, **SYM8, **kw)


QCONFIGS = {
    "per_tensor_symmetric": tq.QConfig(activation=_fq(tq.MovingAverageMinMaxObserver, torch.per_tensor_symmetric),
                                       weight=_fq(tq.MovingAverageMinMaxObserver, torch.per_tensor_symmetric)),
    "per_channel_weights": tq.QConfig(activation=_fq(tq.MovingAverageMinMaxObserver, torch.per_tensor_symmetric),
                                      weight=_fq(tq.MovingAveragePerChannelMinMaxObserver,
                                                 torch.per_channel_symmetric)),
    "default_fbgemm": tq.get_default_qat_qconfig("fbgemm"),  # fused fake quant, quint8 reduce_range
}


def _qat_model(qconfig, seed=0):
    torch.manual_seed(seed)
    model = _Net().train()
    model.qconfig = qconfig
    model = tq.prepare_qat(model)
    for i in range(3):
        model(r(4, 3, 8, 8, seed=10 + i))
    model.apply(tq.disable_observer)
    return model.eval()


def _output_step(model):
    """The quantization step of the model's last fake quantization (the fc output's)."""
    post = model.fc.activation_post_process
    if isinstance(post, tq.FusedMovingAvgObsFakeQuantize):
        obs = post.activation_post_process
        return float(obs.calculate_qparams()[0].max())
    return float(post.scale.max())


@pytest.mark.parametrize("name", sorted(QCONFIGS))
def test_qat_model(name):
    """prepare_qat models: every fake quant becomes Q/DQ, the weights' too (constant -> Q -> DQ ->
    conv/matmul, the pattern TensorRT fuses into int8 kernels). TensorRT quantizes with round(x / s),
    torch's fake quant with round(x * (1 / s)): a weight on a rounding tie can land one step apart,
    and the reference evaluator's conv/matmul may round the last bit differently from eager's. The
    tolerance is one step of the output quantizer, and most elements must match exactly."""
    model = _qat_model(QCONFIGS[name])
    x = r(2, 3, 8, 8, seed=3)
    step = _output_step(model)
    conv = check_module(model, [x], rtol=0, atol=step * 1.0001)
    with torch.no_grad():
        want = model(x)
    got = conv.evaluate(x)[0]
    assert (got == want).float().mean() >= 0.75
    kinds = [k for k, _, _ in _qdq_layers(conv.network)]
    # input, conv output, fc output, conv weight, fc weight
    assert kinds.count("QUANTIZE") == 5 and kinds.count("DEQUANTIZE") == 5, kinds
    kernel = conv.network.get_layer([i for i in range(conv.network.num_layers)
                                     if str(conv.network.get_layer(i).type).endswith("CONVOLUTION")][0]).get_input(1)
    assert kernel is not None, "the convolution's kernel should be a network tensor (the weight's DQ output)"


def test_qat_model_fp16():
    model = _qat_model(QCONFIGS["per_tensor_symmetric"])
    x = r(2, 3, 8, 8, seed=3)
    check_module(model, [x], rtol=0, atol=2 * _output_step(model) + 1e-3, precision="fp16", debug=False)


# --------------------------------------------------------------------------- refusals

def _qat_refusal(qconfig, observe):
    model = _Net().train()
    model.qconfig = qconfig
    model = tq.prepare_qat(model)
    model(r(4, 3, 8, 8, seed=10))
    if not observe:
        model.apply(tq.disable_observer)
    return model.eval()


@pytest.mark.parametrize("make,message", [
    (lambda: Fn(lambda m, x: torch.fake_quantize_per_tensor_affine(x, S, 3, -128, 127)),
     r"asymmetric zero_point 3: quant range \[-128, 127\] becomes \[-131, 124\]"),
    (lambda: Fn(lambda m, x: torch.fake_quantize_per_tensor_affine(x, S, 0, 0, 255)),
     r"quant range \[0, 255\] does not fit TensorRT's int8 range"),
    (lambda: Fn(lambda m, x: torch.fake_quantize_per_tensor_affine(x, S, 0, -200, 200)),
     r"quant range \[-200, 200\] does not fit"),
    (lambda: Fn(lambda m, x: torch.fake_quantize_per_channel_affine(
        x, torch.tensor([S, S, S]), i32(0, 0, 4), 1, -128, 127)), r"asymmetric zero_point \[0, 0, 4\]"),
    (lambda: Fn(lambda m, x: torch.fake_quantize_per_channel_affine(
        x, torch.tensor([S, S, S]), torch.tensor([0.0, 0.5, 0.0]), 1, -100, 100)), r"zero_point .* is not integral"),
    (lambda: Fn(lambda m, x: torch.fake_quantize_per_tensor_affine(
        x, x.abs().amax() / 127, i32(0), -128, 127)), "the scale is computed from the model inputs"),
    (lambda: Fn(lambda m, x: torch.quantize_per_tensor(x, S, 0, torch.quint8).dequantize()),
     r"quant range \[0, 255\] does not fit"),
    (lambda: Fn(lambda m, x: torch.quantize_per_tensor(x, S, 0, torch.qint32).dequantize()),
     r"quant range \[-2147483648, 2147483647\] does not fit"),
    (lambda: _qat_refusal(tq.get_default_qat_qconfig("qnnpack"), observe=False), r"asymmetric zero_point \d+"),
    (lambda: _qat_refusal(tq.get_default_qat_qconfig("fbgemm"), observe=True), "the observer is enabled"),
    (lambda: _qat_refusal(QCONFIGS["per_tensor_symmetric"], observe=True),
     "the scale is computed from the model inputs"),
], ids=["asymmetric_zero_point", "quint8_full_range_zp0", "range_beyond_int8", "per_channel_asymmetric",
        "fractional_zero_point", "input_dependent_scale", "quantize_quint8_zp0", "quantize_qint32",
        "qat_qnnpack_asymmetric", "qat_fused_observer_enabled", "qat_observer_enabled"])
def test_refused(make, message):
    """What TensorRT's symmetric int8 Q/DQ cannot express is refused with UnsupportedOpsError naming the
    node and its source line: in the up-front check when the qparams are Python numbers or module
    buffers, else (constants made inside forward) when the node is converted."""
    with pytest.raises(trtgraph.UnsupportedOpsError, match=message) as info:
        trtgraph.convert(make(), [r(2, 3, 8, 8)])
    assert Path(__file__).name in str(info.value)


def test_other_consumers_of_a_quantized_tensor_are_refused():
    model = Fn(lambda m, x: torch.relu(torch.quantize_per_tensor(x, S, 0, torch.qint8)).dequantize())
    with pytest.raises(trtgraph.UnsupportedOpsError, match=r"aten::relu .*uses the quantized tensor made by "
                                                          r"aten::quantize_per_tensor"):
        trtgraph.convert(model, [x4])


# --------------------------------------------------------------------------- rounding

def _fake_quant_network(scale, values, dtype=torch.int8, axis=None):
    """A network x -> Q -> DQ built with trtgraph's helper, built to an engine and evaluated."""
    from trtgraph.backend import create_builder_and_network, trt
    from trtgraph.context import ConversionContext
    from trtgraph.handlers.quant import fake_quantize
    from trtgraph.reference import evaluate

    builder, network = create_builder_and_network()
    x = network.add_input("x", trt().float32, tuple(values.shape))
    ctx = ConversionContext(network)
    y = fake_quantize(ctx, x, scale, dtype, axis)
    y.name = "y"
    network.mark_output(y)
    assert builder.build_serialized_network(network, builder.create_builder_config()) is not None
    return network, evaluate(network, {"x": values})["y"]


def test_rounding_ties_and_the_reciprocal():
    """Ties round half to even in torch and in TensorRT's Q. With a scale that is not a power of two,
    torch's x * (1/s) and TensorRT's x / s can differ in the last bit: then (only then) an element
    within one ulp of a tie comes out one step apart."""
    k = torch.tensor([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, 127.5, -127.5, -128.5, 300.0, -300.0])
    _, got = _fake_quant_network(S, k * S)
    assert torch.equal(got / S, torch.tensor([0.0, 2, 2, 0, -2, -2, 126, 127, -128, -128, 127, -128]))
    assert torch.equal(got, torch.fake_quantize_per_tensor_affine(k * S, S, 0, -128, 127))

    s = torch.tensor(0.1)
    ties = (torch.arange(-100, 100) + 0.5) * s
    x = torch.cat([ties, torch.nextafter(ties, ties + 1), torch.nextafter(ties, ties - 1)])
    _, got = _fake_quant_network(0.1, x)
    want = torch.fake_quantize_per_tensor_affine(x, 0.1, 0, -128, 127)
    differ = got != want
    by_division = torch.round(x / s) != torch.round(x * (1 / s))
    assert torch.equal(differ, by_division) and 0 < int(differ.sum()) < x.numel() // 10
    assert torch.allclose((got - want)[differ].abs(), s.expand(int(differ.sum())), rtol=1e-5, atol=0)


def test_fp8_qdq_network():
    """fp8 (E4M3) Q/DQ through the ConversionContext helper: per tensor and per axis, saturating at
    +-448 * scale, rounding half to even; expected values worked out by hand from the E4M3 grid, and
    torch's float8_e4m3fn conversion on random data."""
    values = torch.tensor([17.0, 19.0, 9.5, 10.5, 500.0, -500.0, 2.0 ** -10, 1.5 * 2.0 ** -10, 0.3, -0.3])
    network, got = _fake_quant_network(0.5, values * 0.5, torch.float8_e4m3fn)
    assert torch.equal(got / 0.5, torch.tensor([16.0, 20, 10, 10, 448, -448, 0, 2.0 ** -9, 0.3125, -0.3125]))
    kinds = [(network.get_layer(i).type.name, network.get_layer(i).get_output(0).dtype.name)
             for i in range(network.num_layers)]
    assert ("QUANTIZE", "FP8") in kinds and ("DEQUANTIZE", "FLOAT") in kinds

    x = r(3, 4, 33) * 2
    scales = torch.tensor([0.01, 0.05, 0.002, 0.3])
    _, got = _fake_quant_network(scales, x, torch.float8_e4m3fn, axis=1)
    view = scales.reshape(1, 4, 1)
    want = (x / view).to(torch.float8_e4m3fn).float() * view
    assert torch.equal(got, want)


def test_quantize_helper_refuses_other_dtypes_and_bad_scales():
    from trtgraph.backend import create_builder_and_network, trt
    from trtgraph.context import ConversionContext
    from trtgraph.handlers.quant import quantize

    _, network = create_builder_and_network()
    x = network.add_input("x", trt().float32, (2, 3))
    with pytest.raises(trtgraph.HandlerError, match="int8 or float8_e4m3fn"):
        quantize(ConversionContext(network), x, 0.1, torch.uint8)
    with pytest.raises(trtgraph.HandlerError, match="positive and finite"):
        quantize(ConversionContext(network), x, 0.0)


def test_weight_fake_quant_handler_takes_constants():
    """The walker folds the fake quantization of a parameter in torch (weights reach TensorRT already on
    the int8 grid). Called on a constant, the handler emits constant -> Q -> DQ, TensorRT's pattern for
    int8 weights, should the walker hand such nodes over."""
    from trtgraph.backend import create_builder_and_network
    from trtgraph.context import ConversionContext
    from trtgraph.handlers.quant import fake_quantize_per_channel_affine
    from trtgraph.reference import evaluate

    weight = r(4, 3, 3, 3, seed=5)
    scale, zero = weight.abs().amax((1, 2, 3)) / 127, torch.zeros(4, dtype=torch.int32)
    builder, network = create_builder_and_network()
    ctx = ConversionContext(network)
    ctx.node_info = "weight fake quant"
    y = fake_quantize_per_channel_affine(ctx, weight, scale, zero, 0, -127, 127)
    y.name = "y"
    network.mark_output(y)
    assert builder.build_serialized_network(network, builder.create_builder_config()) is not None
    assert torch.equal(evaluate(network, {})["y"], torch.fake_quantize_per_channel_affine(weight, scale, zero, 0,
                                                                                          -127, 127))


def test_fp8_cast_pattern():
    """``x.to(torch.float8_e4m3fn)`` keeps fp8's rounding (an FP8 Q/DQ pair with scale 1)."""
    model = Fn(lambda m, x: (x / 0.05).to(torch.float8_e4m3fn).to(torch.float32) * 0.05)
    conv = check_module(model, [r(4, 8) * 3], rtol=0, atol=0)
    assert "QUANTIZE" in [k for k, _, _ in _qdq_layers(conv.network)]


def test_fp8_e5m2_cast_is_refused():
    from trtgraph.errors import HandlerError

    with pytest.raises(HandlerError, match="float8_e4m3fn"):
        trtgraph.convert(Fn(lambda m, x: x.to(torch.float8_e5m2).float()), [r(4, 8)])
