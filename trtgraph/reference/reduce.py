"""REDUCE, TOPK and CUMULATIVE."""
from __future__ import annotations

import math

import torch

from ..errors import EvaluationError
from ._core import as_compute, attr, bitmask_axes, enum_name, layer_impl, normalize_axis, out_dtype, scalar


def _empty_extreme(op, x, axes, keep):
    """MAX / MIN over an empty set: the reduction's identity (-inf / +inf, or the int limits)."""
    shape = [1 if i in axes else d for i, d in enumerate(x.shape)]
    if not keep:
        shape = [d for i, d in enumerate(x.shape) if i not in axes]
    info = torch.finfo(x.dtype) if x.dtype.is_floating_point else torch.iinfo(x.dtype)
    low, high = (-math.inf, math.inf) if x.dtype.is_floating_point else (info.min, info.max)
    return torch.full(shape, low if op == "MAX" else high, dtype=x.dtype)


def _reduce(op, x, axes, keep):
    if not axes:
        return x
    if op in ("MAX", "MIN") and any(x.shape[a] == 0 for a in axes):
        return _empty_extreme(op, x, axes, keep)
    if op == "SUM":
        return torch.sum(x, dim=axes, keepdim=keep)
    if op == "AVG":
        return torch.mean(x.float() if not x.dtype.is_floating_point else x, dim=axes, keepdim=keep)
    if op == "MAX":
        return torch.amax(x, dim=axes, keepdim=keep)
    if op == "MIN":
        return torch.amin(x, dim=axes, keepdim=keep)
    if op == "PROD":
        for axis in sorted(axes, reverse=True):
            x = torch.prod(x, dim=axis, keepdim=keep)
        return x
    raise EvaluationError(f"reduce operation {op} is not implemented")


@layer_impl("REDUCE")
def reduce(layer, inputs):
    x = inputs[0]
    axes = bitmask_axes(layer.axes, x.dim())
    keep = bool(attr(layer, "keep_dims", False))
    y = _reduce(enum_name(layer.op), as_compute(x), axes, keep)
    return [y.to(out_dtype(layer))]


@layer_impl("TOPK")
def topk(layer, inputs):
    """Ties keep the lower index first (a stable sort)."""
    x = inputs[0]
    axes = bitmask_axes(layer.axes, x.dim())
    if len(axes) != 1:
        raise EvaluationError(f"TOPK axes bitmask {layer.axes} must select one axis")
    k = int(scalar(inputs[1])) if len(inputs) > 1 and inputs[1] is not None else int(layer.k)
    descending = enum_name(layer.op) == "MAX"
    values, indices = torch.sort(as_compute(x), dim=axes[0], descending=descending, stable=True)
    values = values.narrow(axes[0], 0, k)
    indices = indices.narrow(axes[0], 0, k)
    return [values.to(out_dtype(layer, 0)), indices.to(out_dtype(layer, 1))]


@layer_impl("CUMULATIVE")
def cumulative(layer, inputs):
    """``exclusive`` shifts the running sum by one (first element 0); ``reverse`` runs from the end."""
    x, axis_tensor = inputs[0], inputs[1]
    axis = normalize_axis(int(scalar(axis_tensor)), x.dim())
    op = enum_name(attr(layer, "op", "SUM"))
    if op != "SUM":
        raise EvaluationError(f"cumulative operation {op} is not implemented")
    value = as_compute(x)
    if bool(attr(layer, "reverse", False)):
        value = value.flip(axis)
    y = torch.cumsum(value, dim=axis)
    if bool(attr(layer, "exclusive", False)):
        y = y - value
    if bool(attr(layer, "reverse", False)):
        y = y.flip(axis)
    return [y.to(out_dtype(layer))]
