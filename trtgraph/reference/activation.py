"""ACTIVATION, PARAMETRIC_RELU and SOFTMAX."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import EvaluationError
from ._core import as_compute, attr, bitmask_axes, enum_name, layer_impl, out_dtype


def _selu(x, a, b):
    """TensorRT's SELU is beta * (x if x > 0 else alpha * (exp(x) - 1))."""
    return b * torch.where(x > 0, x, a * (torch.exp(x) - 1))


def _gelu_tanh(x, a, b):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


_ACTIVATIONS = {
    "RELU": lambda x, a, b: torch.relu(x),
    "SIGMOID": lambda x, a, b: torch.sigmoid(x),
    "TANH": lambda x, a, b: torch.tanh(x),
    "LEAKY_RELU": lambda x, a, b: torch.where(x >= 0, x, a * x),
    "ELU": lambda x, a, b: torch.where(x >= 0, x, a * (torch.exp(x) - 1)),
    "SELU": _selu,
    "SOFTSIGN": lambda x, a, b: x / (1 + torch.abs(x)),
    # alpha * log(exp(beta * x) + 1)
    "SOFTPLUS": lambda x, a, b: a * F.softplus(b * x),
    # max(alpha, min(beta, x))
    "CLIP": lambda x, a, b: torch.clamp(torch.clamp(x, max=b), min=a),
    # max(0, min(1, alpha * x + beta))
    "HARD_SIGMOID": lambda x, a, b: torch.clamp(a * x + b, 0.0, 1.0),
    # alpha * tanh(beta * x)
    "SCALED_TANH": lambda x, a, b: a * torch.tanh(b * x),
    # x if x > alpha else 0
    "THRESHOLDED_RELU": lambda x, a, b: torch.where(x > a, x, torch.zeros_like(x)),
    "GELU_ERF": lambda x, a, b: 0.5 * x * (1 + torch.erf(x / math.sqrt(2))),
    "GELU_TANH": _gelu_tanh,
}


@layer_impl("ACTIVATION")
def activation(layer, inputs):
    (x,) = inputs
    kind = enum_name(activation_kind(layer))
    alpha, beta = float(attr(layer, "alpha", 0.0)), float(attr(layer, "beta", 0.0))
    if kind not in _ACTIVATIONS:
        raise EvaluationError(f"activation {kind} is not implemented")
    value = as_compute(x) if x.dtype.is_floating_point else x.float()
    return [_ACTIVATIONS[kind](value, alpha, beta).to(out_dtype(layer))]


def activation_kind(layer):
    """The ActivationType: a real IActivationLayer's ``type`` property returns it (shadowing
    ILayer.type); a fake layer, whose ``type`` is the LayerType, carries ``activation_type``."""
    kind = layer.type
    if type(kind).__name__ == "ActivationType" or enum_name(kind) != "ACTIVATION":
        return kind
    return layer.activation_type


@layer_impl("PARAMETRIC_RELU")
def parametric_relu(layer, inputs):
    x, slope = inputs
    xc, sc = as_compute(x), as_compute(slope)
    return [torch.where(xc >= 0, xc, xc * sc).to(out_dtype(layer))]


@layer_impl("SOFTMAX")
def softmax(layer, inputs):
    (x,) = inputs
    axes = bitmask_axes(layer.axes, x.dim())
    if len(axes) != 1:
        raise EvaluationError(f"SOFTMAX axes bitmask {layer.axes} must select one axis")
    return [torch.softmax(as_compute(x), dim=axes[0]).to(out_dtype(layer))]
