"""QUANTIZE and DEQUANTIZE (per-tensor, per-axis and block scales)."""
from __future__ import annotations

import torch

from ..errors import EvaluationError
from ._core import attr, layer_impl, normalize_axis, out_dtype

_RANGES = {torch.int8: (-128, 127), torch.uint8: (0, 255)}


def _expand(param, x, layer):
    """Broadcast a scale / zero point to x: scalar, 1-D along ``axis``, or block-wise."""
    if param.numel() == 1:
        return param.reshape(())
    if param.dim() == 1 and x.dim() > 1:
        axis = normalize_axis(int(attr(layer, "axis", 0)), x.dim())
        view = [1] * x.dim()
        view[axis] = -1
        return param.reshape(view)
    if param.dim() == x.dim():
        for axis in range(x.dim()):
            if param.shape[axis] != x.shape[axis]:
                param = param.repeat_interleave(x.shape[axis] // param.shape[axis], dim=axis)
        return param
    return param


@layer_impl("QUANTIZE")
def quantize(layer, inputs):
    """round-half-even(x / scale) + zero_point, saturated to the output type."""
    x, scale = inputs[0].float(), inputs[1].float()
    zero = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
    dtype = out_dtype(layer)
    q = x / _expand(scale, x, layer)
    if dtype == torch.float8_e4m3fn:
        return [q.clamp(-448.0, 448.0).to(dtype)]
    if dtype not in _RANGES:
        raise EvaluationError(f"quantize to {dtype} is not implemented")
    q = torch.round(q)
    if zero is not None:
        q = q + _expand(zero.float(), x, layer)
    low, high = _RANGES[dtype]
    return [q.clamp(low, high).to(dtype)]


@layer_impl("DEQUANTIZE")
def dequantize(layer, inputs):
    x, scale = inputs[0].float(), inputs[1].float()
    zero = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
    if zero is not None:
        x = x - _expand(zero.float(), x, layer)
    return [(x * _expand(scale, x, layer)).to(out_dtype(layer))]
