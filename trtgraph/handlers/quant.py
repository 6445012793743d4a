"""Explicit quantization: torch fake-quant and quantize/dequantize nodes as TensorRT Q/DQ layers.

What the torch flows trace to (torch 2.14, ``torch.jit.trace``):

- ``torch.fake_quantize_per_tensor_affine(x, 0.1, 0, -128, 127)``: ``aten::fake_quantize_per_tensor_affine``;
  with tensor qparams, and ``torch.ao.quantization.FakeQuantize`` with a per-tensor observer:
  ``aten::fake_quantize_per_tensor_affine.tensor_qparams``;
- ``torch.fake_quantize_per_channel_affine``, ``FakeQuantize`` with a per-channel observer:
  ``aten::fake_quantize_per_channel_affine``;
- ``prepare_qat`` with the default QAT qconfigs (``FusedMovingAvgObsFakeQuantize``):
  ``aten::fused_moving_avg_obs_fake_quant``;
- ``torch.quantize_per_tensor(...)`` / ``torch.quantize_per_channel(...)`` then ``.dequantize()``:
  ``aten::quantize_per_tensor`` (``.tensor_qparams``) / ``aten::quantize_per_channel``, then
  ``aten::dequantize.self``.

A fake quantization becomes an IQuantizeLayer to int8 followed by an IDequantizeLayer. A
quantized torch tensor has no TensorRT dtype: ``quantize_per_tensor``/``quantize_per_channel``
become an IQuantizeLayer whose int8 output is held in a :class:`QuantizedTensor`, and
``aten::dequantize`` turns it into an IDequantizeLayer. Any other consumer of a quantized tensor
is refused with :class:`~trtgraph.UnsupportedOpsError`, naming the consumer.

Fake quantization of a parameter (the ``weight_fake_quant`` of QAT conv/linear modules) is not
folded in torch: the walker keeps these ops in the network (``core._NETWORK_CONSTANT_OPS``), so the
weight reaches TensorRT as constant -> Q -> DQ -> convolution/matmul (the convolution takes its
kernel as input 1), the pattern TensorRT fuses into int8 kernels.

**Semantics.** torch computes ``fq(x) = (clamp(round(x * (1/s)) + z, qmin, qmax) - z) * s``;
TensorRT computes ``Q(x) = clamp(round(x / s), -128, 127)`` (int8, symmetric: zero point 0) and
``DQ(q) = q * s``; both round half to even. As ``z`` is an integer,
``fq(x) = clamp(round(x / s), qmin - z, qmax - z) * s``: the zero point only moves the clamp
range. Hence:

- ``[qmin - z, qmax - z] == [-128, 127]`` (qint8 with ``z = 0``; quint8 symmetric, ``z = 128``): Q, DQ.
- a strict sub-range of ``[-128, 127]`` (the narrow range ``(-127, 127)``, ``reduce_range``'s
  ``(-64, 63)`` and ``(0, 127)``, 4-bit ranges, quint8 with ``reduce_range`` and any zero point):
  the input is first clamped to ``[(qmin - z) * s, (qmax - z) * s]`` (elementwise MAX/MIN layers),
  then Q and DQ. This is exact: rounding is monotone and the bounds are integers.
- a range reaching outside ``[-128, 127]`` (an asymmetric zero point over a full 8-bit range,
  quint8 ``(0, 255)`` with ``z = 0``, qint32, ...) is refused: TensorRT's int8 cannot represent it.

The scale must be a build-time constant (positive and finite); one computed from the inputs (an
observer left enabled) is refused. It is given to TensorRT as an fp32 constant, for fp32, fp16
and bf16 networks alike (TensorRT-RTX 1.7 accepts that, and NVIDIA's ONNX parser builds the same
for fp16 inputs with fp32 scales); DQ outputs the network's float dtype.

**Rounding, honestly.** torch multiplies by the fp32 reciprocal ``1/s``; TensorRT's documented
formula (and trtgraph's reference evaluator) divides by ``s``. The two agree bit for bit when ``s``
is a power of two. Otherwise, an input within one ulp of a rounding tie (``(k + 0.5) * s``) can
round the other way, which changes that element by exactly one step ``s``; random data almost
never hits this (no element of 2 million normal samples with ``s = 0.1``). torch keeps the scales
of ``quantize_per_channel`` in float64 and dequantizes with them: scales that fp32 cannot represent
exactly give results an ulp apart. In fp16/bf16 networks the input of Q is already rounded to
16 bits, so elements near a tie may land one step apart from fp32 torch.

**fp8.** torch has no fp8 fake-quant op. :func:`quantize`, :func:`dequantize` and
:func:`fake_quantize` below emit fp8 (``torch.float8_e4m3fn``) or int8 Q/DQ layers from a custom
handler or any code holding a :class:`~trtgraph.context.ConversionContext`::

    from trtgraph.handlers.quant import fake_quantize
    y = fake_quantize(ctx, x, scale=0.05, dtype=torch.float8_e4m3fn)   # saturates to +-448 * scale

A model's own ``x.to(torch.float8_e4m3fn)`` is not converted to Q/DQ here: ``aten::to`` belongs to
``handlers.misc``, which (as of this module) casts every float dtype to the network's float dtype.

The checks of the quantization parameters are in :mod:`trtgraph.handlers.quant_params` (re-exported
here).
"""
from __future__ import annotations

from typing import Optional

import torch

from ..dtypes import to_trt
from ..errors import UnsupportedOpsError
from ..registry import Traced, register_node_handler
from .quant_params import (_INT8_MAX, _INT8_MIN, _Refused, _channels, _constant, _dynamic_reason,  # noqa: F401
                           _is_dynamic, _known, _qparams, _show, _validator)


_Q_TYPES = (torch.int8, torch.float8_e4m3fn)

# torch's quantized dtypes: value range, by dtype and by ScalarType code (JIT constants are ints)
_QRANGES = {torch.qint8: (-128, 127), torch.quint8: (0, 255), torch.qint32: (-2 ** 31, 2 ** 31 - 1)}
_SCALAR_TYPES = {12: torch.qint8, 13: torch.quint8, 14: torch.qint32, 16: torch.quint4x2, 17: torch.quint2x4}


# --------------------------------------------------------------------------- public helpers

def quantize(ctx, x, scale, dtype: torch.dtype = torch.int8, axis: Optional[int] = None):
    """An IQuantizeLayer: ``x`` to int8 or fp8 (``torch.float8_e4m3fn``) with a constant ``scale``.

    ``scale`` is a Python number or a one-element tensor (per-tensor), or a 1-D tensor whose length
    is ``x.shape[axis]`` (per-axis). TensorRT saturates int8 to [-128, 127] and fp8 to [-448, 448].
    """
    if dtype not in _Q_TYPES:
        raise ctx.error(f"TensorRT Q/DQ layers quantize to int8 or float8_e4m3fn, not {dtype}")
    x = ctx.as_tensor(x)
    if not ctx.dtype(x).is_floating_point:
        x = ctx.cast(x, ctx.float_dtype)
    s, axis = _scale_tensor(ctx, scale, x, axis)
    return _add_qdq(ctx, "QUANTIZE", x, s, dtype, axis)


def dequantize(ctx, q, scale, axis: Optional[int] = None, dtype: Optional[torch.dtype] = None):
    """An IDequantizeLayer: the int8/fp8 tensor ``q`` times ``scale``, in ``dtype`` (the network's
    float dtype by default)."""
    q = q.tensor if isinstance(q, QuantizedTensor) else ctx.as_tensor(q)
    s, axis = _scale_tensor(ctx, scale, q, axis)
    return _add_qdq(ctx, "DEQUANTIZE", q, s, dtype or ctx.float_dtype, axis)


def fake_quantize(ctx, x, scale, dtype: torch.dtype = torch.int8, axis: Optional[int] = None):
    """Q then DQ (TensorRT's representation of a fake quantization), output in ``x``'s float dtype."""
    x = ctx.as_tensor(x)
    out = ctx.dtype(x) if ctx.dtype(x).is_floating_point else ctx.float_dtype
    return dequantize(ctx, quantize(ctx, x, scale, dtype, axis), scale, axis, out)


class QuantizedTensor:
    """What ``aten::quantize_per_tensor``/``quantize_per_channel`` become: TensorRT's int8 tensor
    (an IQuantizeLayer output, in TensorRT's symmetric convention: torch's value minus the zero
    point) with its scale and axis. TensorRT has no quantized dtype, so only ``aten::dequantize``
    consumes it; every other use raises :class:`~trtgraph.UnsupportedOpsError` naming the consumer.
    """

    def __init__(self, ctx, tensor, scale: torch.Tensor, axis: Optional[int], producer: str):
        self._ctx = ctx
        self.tensor = tensor
        self.scale = scale
        self.axis = axis
        self.producer = producer

    def _refuse(self, *args, **kwargs):
        consumer = self._ctx.node_info or "a consumer"
        raise UnsupportedOpsError([
            f"{consumer}: uses the quantized tensor made by {self.producer}; TensorRT has no quantized "
            "tensor type, so trtgraph converts a quantized tensor only into aten::dequantize "
            "(x.dequantize() right after quantize_per_tensor/quantize_per_channel)"])

    shape = property(_refuse)
    dtype = property(_refuse)
    __array__ = __len__ = __iter__ = __getitem__ = __float__ = __int__ = __index__ = _refuse

    def __repr__(self):
        return f"QuantizedTensor(from {self.producer})"


# --------------------------------------------------------------------------- layers

def _scale_tensor(ctx, scale, x, axis):
    """The scale as an fp32 constant: 0-d for per-tensor, 1-D along a normalized ``axis``."""
    if ctx.is_tensor(scale):
        raise ctx.error("the scale of a Q/DQ layer must be a build-time constant, not a network tensor")
    s = torch.as_tensor(scale, dtype=torch.float32).detach().reshape(-1)
    if s.numel() == 0 or not bool(torch.isfinite(s).all()) or not bool((s > 0).all()):
        raise ctx.error(f"Q/DQ scales must be positive and finite, got {s.tolist()[:8]}")
    if s.numel() == 1:
        return s.reshape(()), None
    rank = ctx.rank(x)
    if axis is None:
        raise ctx.error(f"a scale of {s.numel()} values needs the axis it runs along")
    axis = ctx.axis(axis, rank)
    if ctx.shape(x)[axis] not in (-1, s.numel()):
        raise ctx.error(f"{s.numel()} scales for axis {axis} of a tensor of shape {ctx.shape(x)}")
    return s, axis


def _add_qdq(ctx, kind, x, scale, dtype, axis):
    """Add an IQuantizeLayer/IDequantizeLayer (``kind``) with output type ``dtype``."""
    scale_t = ctx.constant(scale, torch.float32)
    network = ctx.network
    add = network.add_quantize if kind == "QUANTIZE" else network.add_dequantize
    layer = add(x, scale_t, to_trt(dtype))
    if layer is None:
        raise ctx.error(f"TensorRT refused the {kind.lower()} layer ({dtype}, scale shape {tuple(scale.shape)})")
    if axis is not None:
        layer.axis = int(axis)
    return layer.get_output(0)


def _clamp_and_quantize(ctx, x, scale, low, high, axis):
    """An int8 IQuantizeLayer computing ``clamp(round(x / s), low, high)``: ``x`` is clamped to
    ``[low * s, high * s]`` first where [low, high] is narrower than int8's [-128, 127]. Returns the
    int8 tensor and the float dtype the dequantization goes back to."""
    x = ctx.as_tensor(x)
    dtype = ctx.dtype(x) if ctx.dtype(x).is_floating_point else ctx.float_dtype
    x = ctx.cast(x, dtype)
    rank = ctx.rank(x)

    def bound(values):
        b = values.to(torch.float32) * scale
        if b.numel() > 1:
            view = [1] * rank
            view[axis] = -1
            b = b.reshape(view)
        return ctx.constant(b.reshape(()) if b.numel() == 1 and axis is None else b, dtype)

    if bool((low > _INT8_MIN).any()):
        x = ctx.elementwise(x, bound(low), "MAX", dtype=dtype)
    if bool((high < _INT8_MAX).any()):
        x = ctx.elementwise(x, bound(high), "MIN", dtype=dtype)
    q = _add_qdq(ctx, "QUANTIZE", x, scale, torch.int8, axis)
    return q, dtype


def _refuse(ctx, reason: str):
    return UnsupportedOpsError([f"{ctx.node_info}: {reason}"])


def _quantized(ctx, self, scale, zero_point, quant_min, quant_max, axis=None):
    """The Q layer of a fake quantization or a quantize op: ``(q, q dtype, scale, axis)``."""
    channels = None
    if axis is not None:
        axis = ctx.axis(axis, ctx.rank(self))
        channels = ctx.shape(self)[axis]
    try:
        s, low, high = _qparams(scale, zero_point, quant_min, quant_max, channels, ctx)
    except _Refused as exc:
        raise _refuse(ctx, str(exc)) from None
    if axis is None:
        s = s.reshape(())
    q, dtype = _clamp_and_quantize(ctx, self, s, low, high, axis)
    return q, dtype, s, axis


def _fake_quant(ctx, self, scale, zero_point, quant_min, quant_max, axis=None):
    q, dtype, s, axis = _quantized(ctx, self, scale, zero_point, quant_min, quant_max, axis)
    return _add_qdq(ctx, "DEQUANTIZE", q, s, dtype, axis)


# --------------------------------------------------------------------------- fake quantization

@register_node_handler("aten::fake_quantize_per_tensor_affine(Tensor self, float scale, int zero_point, "
                       "int quant_min, int quant_max) -> Tensor", validator=_validator())
def fake_quantize_per_tensor_affine(ctx, self, scale, zero_point, quant_min, quant_max):
    """Both overloads: Python-number qparams, and ``.tensor_qparams`` (torch.ao's FakeQuantize)."""
    return _fake_quant(ctx, self, scale, zero_point, quant_min, quant_max)


@register_node_handler("aten::fake_quantize_per_channel_affine(Tensor self, Tensor scale, Tensor zero_point, "
                       "int axis, int quant_min, int quant_max) -> Tensor",
                       validator=_validator(per_channel_axis=lambda a: a["axis"]))
def fake_quantize_per_channel_affine(ctx, self, scale, zero_point, axis, quant_min, quant_max):
    return _fake_quant(ctx, self, scale, zero_point, quant_min, quant_max, axis)


_FUSED_BUFFERS = ("observer_on", "fake_quant_on", "running_min", "running_max", "scale", "zero_point")


def _fused_qparams(args, shape, ctx=None):
    """(enabled, scale, zero_point) of a fused_moving_avg_obs_fake_quant node with constant buffers.

    torch recomputes the qparams from the running min/max on every call: they are recomputed the same
    way, by running the op in torch on copies of the buffers (the model is left untouched)."""
    values = {}
    for name in _FUSED_BUFFERS:
        value = args[name]
        if _is_dynamic(value) or (ctx is not None and ctx.is_tensor(value)):
            raise _Refused(f"{name} is computed from the model inputs; it must be a module buffer")
        values[name] = torch.as_tensor(value).detach().clone()
    if bool(values["observer_on"].reshape(-1)[0] != 0):
        raise _Refused("the observer is enabled, so every call recomputes the scale from the input; disable it "
                       "before converting: model.apply(torch.ao.quantization.disable_observer)")
    if not bool(values["fake_quant_on"].reshape(-1)[0] != 0):
        return False, None, None
    torch.fused_moving_avg_obs_fake_quant(
        torch.zeros([d if d >= 0 else 1 for d in shape]), values["observer_on"], values["fake_quant_on"],
        values["running_min"], values["running_max"], values["scale"], values["zero_point"],
        args["averaging_const"], args["quant_min"], args["quant_max"], args["ch_axis"],
        args["per_row_fake_quant"], args["symmetric_quant"])
    return True, values["scale"], values["zero_point"]


def _validate_fused(args):
    if not all(_known(args[name]) or _is_dynamic(args[name]) for name in _FUSED_BUFFERS):
        return None  # constants known only at conversion: the handler checks them
    shape = args["self"].shape if isinstance(args["self"], Traced) else None
    try:
        enabled, scale, zero_point = _fused_qparams(args, shape or ())
        if enabled:
            channels = scale.numel() if args["per_row_fake_quant"] else None
            _qparams(scale, zero_point, args["quant_min"], args["quant_max"], channels)
    except _Refused as exc:
        return str(exc)
    except Exception:  # noqa: BLE001 - torch refused the buffers: the handler reports it, named
        return None
    return None


@register_node_handler(
    "aten::fused_moving_avg_obs_fake_quant(Tensor self, Tensor observer_on, Tensor fake_quant_on, "
    "Tensor(a!) running_min, Tensor(b!) running_max, Tensor(c!) scale, Tensor(d!) zero_point, "
    "float averaging_const, int quant_min, int quant_max, int ch_axis, bool per_row_fake_quant=False, "
    "bool symmetric_quant=False) -> Tensor", validator=_validate_fused)
def fused_moving_avg_obs_fake_quant(ctx, self, observer_on, fake_quant_on, running_min, running_max, scale,
                                    zero_point, averaging_const, quant_min, quant_max, ch_axis,
                                    per_row_fake_quant=False, symmetric_quant=False):
    """torch.ao's FusedMovingAvgObsFakeQuantize (the default QAT qconfigs) with its observer disabled:
    a fake quantization with the qparams torch derives from the running min/max."""
    args = dict(observer_on=observer_on, fake_quant_on=fake_quant_on, running_min=running_min,
                running_max=running_max, scale=scale, zero_point=zero_point, averaging_const=averaging_const,
                quant_min=quant_min, quant_max=quant_max, ch_axis=ch_axis,
                per_row_fake_quant=per_row_fake_quant, symmetric_quant=symmetric_quant)
    try:
        enabled, scale, zero_point = _fused_qparams(args, ctx.shape(self), ctx)
    except _Refused as exc:
        raise _refuse(ctx, str(exc)) from None
    if not enabled:
        return ctx.identity(self)
    return _fake_quant(ctx, self, scale, zero_point, quant_min, quant_max,
                       ch_axis if per_row_fake_quant else None)


# --------------------------------------------------------------------------- quantized tensors

def _quantized_range(args):
    dtype = args.get("dtype")
    dtype = _SCALAR_TYPES.get(dtype, dtype) if isinstance(dtype, int) else dtype
    if dtype not in _QRANGES:
        raise _Refused(f"quantized dtype {dtype} has no TensorRT Q/DQ equivalent (int8 only)")
    return _QRANGES[dtype]


def _quantize(ctx, self, scale, zero_point, dtype, axis=None):
    try:
        quant_min, quant_max = _quantized_range({"dtype": dtype})
    except _Refused as exc:
        raise _refuse(ctx, str(exc)) from None
    q, _, s, axis = _quantized(ctx, self, scale, zero_point, quant_min, quant_max, axis)
    return QuantizedTensor(ctx, q, s, axis, ctx.node_info)


@register_node_handler("aten::quantize_per_tensor(Tensor self, float scale, int zero_point, ScalarType dtype) "
                       "-> Tensor", validator=_validator(qrange=_quantized_range))
def quantize_per_tensor(ctx, self, scale, zero_point, dtype):
    """Both overloads (Python-number and tensor qparams): an IQuantizeLayer to int8."""
    return _quantize(ctx, self, scale, zero_point, dtype)


@register_node_handler("aten::quantize_per_channel(Tensor self, Tensor scales, Tensor zero_points, int axis, "
                       "ScalarType dtype) -> Tensor",
                       validator=_validator(per_channel_axis=lambda a: a["axis"], qrange=_quantized_range))
def quantize_per_channel(ctx, self, scales, zero_points, axis, dtype):
    return _quantize(ctx, self, scales, zero_points, dtype, axis)


def _validate_dequantize(args):
    if "tensors" in args:
        return "the list overload (a list of tensors) is not supported"
    return None


@register_node_handler("aten::dequantize(Tensor self) -> Tensor", validator=_validate_dequantize)
def dequantize_(ctx, self):
    """``aten::dequantize.self`` of a tensor that quantize_per_tensor/quantize_per_channel made."""
    if isinstance(self, QuantizedTensor):
        return _add_qdq(ctx, "DEQUANTIZE", self.tensor, self.scale, ctx.float_dtype, self.axis)
    if ctx.is_tensor(self) and ctx.dtype(self).is_floating_point:
        return ctx.identity(self)  # dequantize of a float tensor is the identity in torch
    raise _refuse(ctx, "dequantize of a tensor that is not the output of quantize_per_tensor or "
                       "quantize_per_channel in this graph")
