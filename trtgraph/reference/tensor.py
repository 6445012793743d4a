"""CONSTANT, IDENTITY, CAST, SHAPE, FILL and NON_ZERO."""
from __future__ import annotations

import torch

from ..errors import EvaluationError
from ._core import attr, dims, enum_name, layer_impl, out_dtype, scalar, to_torch


@layer_impl("CONSTANT")
def constant(layer, inputs):
    shape = dims(layer.shape)
    value = to_torch(layer.weights)
    dtype = out_dtype(layer)
    if value is None:
        value = torch.zeros(0, dtype=dtype)
    return [value.reshape(shape).to(dtype)]


@layer_impl("IDENTITY")
def identity(layer, inputs):
    return [inputs[0].to(out_dtype(layer)).clone()]


@layer_impl("CAST")
def cast(layer, inputs):
    """Float -> int casts truncate toward zero, like C (and torch)."""
    x = inputs[0]
    dtype = out_dtype(layer)
    if x.dtype.is_floating_point and dtype == torch.bool:
        return [x != 0]
    if x.dtype in (torch.float16, torch.bfloat16, torch.float8_e4m3fn) and dtype.is_floating_point:
        return [x.float().to(dtype)]
    return [x.to(dtype)]


@layer_impl("SHAPE")
def shape(layer, inputs):
    return [torch.tensor(tuple(inputs[0].shape), dtype=out_dtype(layer))]


def _fill_shape(layer, inputs):
    if inputs and inputs[0] is not None:
        return dims(inputs[0])
    return dims(layer.shape)


def _fill_param(layer, inputs, index, name):
    if len(inputs) > index and inputs[index] is not None:
        return inputs[index].double()
    return torch.tensor(float(attr(layer, name, 0.0)), dtype=torch.float64)


@layer_impl("FILL")
def fill(layer, inputs):
    """LINSPACE: out[i0, .., ik] = alpha + sum_j beta[j] * i_j. RANDOM_* are random (alpha,
    beta = low, high or mean, std), so only their shape and range can be compared."""
    shape = _fill_shape(layer, inputs)
    dtype = out_dtype(layer)
    alpha = _fill_param(layer, inputs, 1, "alpha")
    beta = _fill_param(layer, inputs, 2, "beta")
    op = enum_name(layer.operation)
    if op == "LINSPACE":
        out = torch.full(shape, float(scalar(alpha)), dtype=torch.float64)
        steps = beta.reshape(-1)
        for axis, size in enumerate(shape):
            step = steps[axis] if steps.numel() > 1 else steps[0]
            view = [1] * len(shape)
            view[axis] = size
            out = out + step * torch.arange(size, dtype=torch.float64).reshape(view)
        return [out.to(dtype)]
    if op == "RANDOM_UNIFORM":
        low, high = float(scalar(alpha)), float(scalar(beta))
        return [(torch.rand(shape, dtype=torch.float64) * (high - low) + low).to(dtype)]
    if op == "RANDOM_NORMAL":
        mean, std = float(scalar(alpha)), float(scalar(beta))
        return [(torch.randn(shape, dtype=torch.float64) * std + mean).to(dtype)]
    raise EvaluationError(f"fill operation {op} is not implemented")


@layer_impl("NON_ZERO")
def non_zero(layer, inputs):
    """Output is [rank, count]: one column of indices per non-zero element, row-major order."""
    x = inputs[0]
    indices = torch.nonzero(x != 0).t().contiguous()
    return [indices.to(out_dtype(layer))]
