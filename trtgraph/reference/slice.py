"""SLICE (all sample modes, static or dynamic parameters) and PADDING."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import EvaluationError
from ._core import attr, dims, enum_name, layer_impl, normalize_axis, out_dtype
from ._window import torch_pad_list


def _param(layer, inputs, index, name):
    if len(inputs) > index and inputs[index] is not None:
        return dims(inputs[index])
    return dims(attr(layer, name))


def _map_indices(idx, size, mode):
    """Map (possibly out-of-range) coordinates to the input; returns (indices, in_bounds)."""
    inside = (idx >= 0) & (idx < size)
    if mode == "WRAP":
        return torch.remainder(idx, size), torch.ones_like(inside)
    if mode == "CLAMP":
        return idx.clamp(0, size - 1), torch.ones_like(inside)
    if mode == "REFLECT":
        if size == 1:
            return torch.zeros_like(idx), torch.ones_like(inside)
        period = 2 * (size - 1)
        folded = torch.remainder(idx, period)
        return torch.where(folded >= size, period - folded, folded), torch.ones_like(inside)
    if mode == "FILL":
        return idx.clamp(0, size - 1), inside
    if not bool(inside.all()):
        raise EvaluationError(f"STRICT_BOUNDS slice reads coordinates {idx.tolist()} outside [0, {size})")
    return idx, inside


def _full_params(layer, inputs, x):
    """start/size/stride for every axis (axes not listed in ``axes`` are taken whole)."""
    start = _param(layer, inputs, 1, "start")
    size = _param(layer, inputs, 2, "shape")
    stride = _param(layer, inputs, 3, "stride")
    axes = _param(layer, inputs, 5, "axes")
    if axes is None or len(axes) == 0:
        return start, size, stride
    full_start, full_size, full_stride = [0] * x.dim(), list(x.shape), [1] * x.dim()
    for j, axis in enumerate(axes):
        axis = normalize_axis(axis, x.dim())
        full_start[axis], full_size[axis], full_stride[axis] = start[j], size[j], stride[j]
    return tuple(full_start), tuple(full_size), tuple(full_stride)


@layer_impl("SLICE")
def slice_layer(layer, inputs):
    x = inputs[0]
    mode = enum_name(attr(layer, "mode", "STRICT_BOUNDS"))
    start, size, stride = _full_params(layer, inputs, x)
    if x.numel() == 0:
        return [torch.zeros(size, dtype=out_dtype(layer))]
    y = x
    valid = torch.ones((1,) * x.dim(), dtype=torch.bool)
    for axis in range(x.dim()):
        idx = start[axis] + torch.arange(size[axis], dtype=torch.int64) * stride[axis]
        idx, inside = _map_indices(idx, x.shape[axis], mode)
        y = y.index_select(axis, idx)
        view = [1] * x.dim()
        view[axis] = -1
        valid = valid & inside.reshape(view)
    if mode == "FILL":
        fill = inputs[4] if len(inputs) > 4 and inputs[4] is not None else torch.zeros((), dtype=x.dtype)
        y = torch.where(valid, y, fill.reshape(()).to(y.dtype))
    return [y.contiguous().to(out_dtype(layer))]


@layer_impl("PADDING")
def padding(layer, inputs):
    """Zero padding of the trailing dims; negative padding crops."""
    x = inputs[0]
    pre = dims(layer.pre_padding_nd)
    post = dims(layer.post_padding_nd)
    value = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    y = F.pad(value, torch_pad_list(list(zip(pre, post))))
    return [y.to(out_dtype(layer))]

