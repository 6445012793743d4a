"""SHUFFLE, CONCATENATION, SQUEEZE and UNSQUEEZE."""
from __future__ import annotations

import torch

from ..errors import EvaluationError
from ._core import attr, dims, layer_impl, normalize_axis, out_dtype


def _permutation(value, rank):
    perm = dims(value)
    if perm is None:
        return tuple(range(rank))
    return perm[:rank]


def _reshape_target(layer, inputs, current):
    """The reshape dims (input 1 shape tensor, else reshape_dims), 0 placeholders resolved."""
    if len(inputs) > 1 and inputs[1] is not None:
        target = dims(inputs[1])
    else:
        target = dims(attr(layer, "reshape_dims"))
    if target is None:
        return None
    if bool(attr(layer, "zero_is_placeholder", True)):
        target = tuple(current[i] if d == 0 else d for i, d in enumerate(target))
    return target


@layer_impl("SHUFFLE")
def shuffle(layer, inputs):
    x = inputs[0]
    y = x.permute(_permutation(attr(layer, "first_transpose"), x.dim()))
    target = _reshape_target(layer, inputs, tuple(y.shape))
    if target is not None:
        if target.count(-1) > 1:
            raise EvaluationError(f"reshape dims {target} have more than one -1")
        y = y.reshape(target)
    y = y.permute(_permutation(attr(layer, "second_transpose"), y.dim()))
    return [y.contiguous().to(out_dtype(layer))]


@layer_impl("CONCATENATION")
def concatenation(layer, inputs):
    rank = inputs[0].dim()
    axis = normalize_axis(int(attr(layer, "axis", 0)), rank)
    return [torch.cat(inputs, dim=axis).to(out_dtype(layer))]


def _raw_axes(layer, inputs):
    if len(inputs) > 1 and inputs[1] is not None:
        return dims(inputs[1])
    return dims(attr(layer, "axes", ()))


@layer_impl("SQUEEZE")
def squeeze(layer, inputs):
    """Without an axes input, TensorRT removes the dims that are 1 in the input's build-time
    shape (a dynamic dim is kept even if it is 1 at run time)."""
    x = inputs[0]
    if (len(inputs) < 2 or inputs[1] is None) and attr(layer, "axes") is None:
        static = tuple(layer.get_input(0).shape)
        axes = {i for i, d in enumerate(static) if d == 1}
    else:
        axes = {normalize_axis(a, x.dim()) for a in _raw_axes(layer, inputs)}
    for axis in axes:
        if x.shape[axis] != 1:
            raise EvaluationError(f"SQUEEZE axis {axis} of shape {tuple(x.shape)} is not 1")
    keep = [d for i, d in enumerate(x.shape) if i not in axes]
    return [x.reshape(keep).to(out_dtype(layer))]


@layer_impl("UNSQUEEZE")
def unsqueeze(layer, inputs):
    """Axes index the output (rank = input rank + number of axes), like ONNX."""
    x = inputs[0]
    raw = _raw_axes(layer, inputs)
    axes = sorted(normalize_axis(a, x.dim() + len(raw)) for a in raw)
    shape = list(x.shape)
    for axis in axes:
        shape.insert(axis, 1)
    return [x.reshape(shape).to(out_dtype(layer))]
