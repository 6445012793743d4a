"""RESIZE (nearest, linear, cubic; every coordinate transformation) and GRID_SAMPLE.

Resize is separable: each resized axis is interpolated in turn with index/weight pairs.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import EvaluationError
from ._core import attr, dims, enum_name, layer_impl, out_dtype


def _out_size_and_scales(layer, inputs, x):
    """Output shape and per-axis scale (None where only the shape is known)."""
    given = inputs[1] if len(inputs) > 1 and inputs[1] is not None else None
    if given is not None and given.dtype.is_floating_point:
        scales = [float(s) for s in given.reshape(-1).tolist()]
    elif given is not None:
        return dims(given), [None] * x.dim()
    else:
        scales = [float(s) for s in (attr(layer, "scales", ()) or ())]
    if scales:
        return tuple(int(math.floor(n * s)) for n, s in zip(x.shape, scales)), scales
    shape = dims(attr(layer, "shape"))
    if shape is None or len(shape) != x.dim():
        raise EvaluationError("resize has neither scales nor an output shape")
    return shape, [None] * x.dim()


def _source_coords(out_len, in_len, scale, transform, selector):
    """Map output coordinates to input coordinates (float64)."""
    x = torch.arange(out_len, dtype=torch.float64)
    if out_len == 1 and selector == "UPPER":
        return torch.zeros(1, dtype=torch.float64)
    resized = in_len * scale if scale else out_len  # with scales: the unfloored length
    if transform == "ALIGN_CORNERS":
        return x * ((in_len - 1) / (resized - 1)) if resized != 1 else torch.zeros_like(x)
    ratio = in_len / resized
    if transform == "ASYMMETRIC":
        return x * ratio
    if transform == "HALF_PIXEL":
        return (x + 0.5) * ratio - 0.5
    raise EvaluationError(f"coordinate transformation {transform} is not implemented")


def _round(coords, mode):
    if mode == "HALF_UP":
        return torch.floor(coords + 0.5)
    if mode == "HALF_DOWN":
        return torch.ceil(coords - 0.5)
    if mode == "FLOOR":
        return torch.floor(coords)
    if mode == "CEIL":
        return torch.ceil(coords)
    raise EvaluationError(f"nearest rounding {mode} is not implemented")


def _cubic_weight(s, a):
    s = s.abs()
    near = ((a + 2) * s - (a + 3)) * s * s + 1
    far = ((a * s - 5 * a) * s + 8 * a) * s - 4 * a
    return torch.where(s <= 1, near, torch.where(s < 2, far, torch.zeros_like(s)))


def _taps(coords, in_len, layer, mode):
    """[(indices, weights)] whose weighted sum gives each output coordinate."""
    if mode == "NEAREST":
        rounding = enum_name(attr(layer, "nearest_rounding", "FLOOR"))
        idx = _round(coords, rounding).clamp(0, in_len - 1).long()
        return [(idx, torch.ones_like(coords))]
    if mode == "LINEAR":
        c = coords.clamp(0, in_len - 1)
        low = torch.floor(c)
        frac = c - low
        low = low.long()
        return [(low, 1 - frac), ((low + 1).clamp(max=in_len - 1), frac)]
    if mode == "CUBIC":
        a = float(attr(layer, "cubic_coeff", -0.75))
        low = torch.floor(coords)
        frac = coords - low
        taps = []
        for offset in (-1, 0, 1, 2):
            idx = low.long() + offset
            taps.append((idx, _cubic_weight(frac - offset, a)))
        if bool(attr(layer, "exclude_outside", False)):
            taps = [(i, torch.where((i >= 0) & (i < in_len), w, torch.zeros_like(w))) for i, w in taps]
            total = sum(w for _, w in taps)
            taps = [(i, w / total) for i, w in taps]
        return [(i.clamp(0, in_len - 1), w) for i, w in taps]
    raise EvaluationError(f"resize mode {mode} is not implemented")


def _interpolate_axis(x, axis, taps):
    if len(taps) == 1:
        return x.index_select(axis, taps[0][0])
    view = [1] * x.dim()
    view[axis] = -1
    result = None
    for idx, weight in taps:
        term = x.index_select(axis, idx) * weight.to(x.dtype).reshape(view)
        result = term if result is None else result + term
    return result


@layer_impl("RESIZE")
def resize(layer, inputs):
    """With scales, the coordinate formulas use the unfloored resized length in * scale
    (so 1 / scale for HALF_PIXEL and ASYMMETRIC), with an output shape the in/out lengths; the
    two differ when in * scale is not an integer. TensorRT's operator page writes the formulas
    with lengths only; the scales reading is inferred from NVIDIA's ONNX parser, which maps ONNX
    Resize scales (defined this way) straight onto IResizeLayer.scales."""
    x = inputs[0]
    out_shape, scales = _out_size_and_scales(layer, inputs, x)
    mode = enum_name(attr(layer, "resize_mode", "NEAREST"))
    transform = enum_name(attr(layer, "coordinate_transformation", "ASYMMETRIC"))
    selector = enum_name(attr(layer, "selector_for_single_pixel", "FORMULA"))
    y = x.double() if x.dtype.is_floating_point else x
    for axis in range(x.dim()):
        in_len, out_len, scale = x.shape[axis], out_shape[axis], scales[axis]
        if in_len == out_len and (scale is None or scale == 1.0):
            continue
        coords = _source_coords(out_len, in_len, scale, transform, selector)
        y = _interpolate_axis(y if mode == "NEAREST" else y.double(), axis, _taps(coords, in_len, layer, mode))
    return [y.to(out_dtype(layer))]


_GRID_PADDING = {"FILL": "zeros", "CLAMP": "border", "REFLECT": "reflection"}
_GRID_MODES = {"NEAREST": "nearest", "LINEAR": "bilinear", "CUBIC": "bicubic"}


@layer_impl("GRID_SAMPLE")
def grid_sample(layer, inputs):
    x, grid = inputs
    mode = _GRID_MODES[enum_name(attr(layer, "interpolation_mode", "LINEAR"))]
    padding = _GRID_PADDING.get(enum_name(attr(layer, "sample_mode", "FILL")))
    if padding is None:
        raise EvaluationError(f"grid sample mode {enum_name(layer.sample_mode)} is not implemented")
    y = F.grid_sample(x.double(), grid.double(), mode=mode, padding_mode=padding,
                      align_corners=bool(attr(layer, "align_corners", False)))
    return [y.to(out_dtype(layer))]
