"""Activations: TensorRT ``IActivationLayer`` where one exists, else a short composition."""
from __future__ import annotations

import math

import torch

from ..registry import register_node_handler


def _simple(key: str, kind: str, float_only: bool = True):
    """``float_only``: integer and bool inputs are promoted to float, as torch does (relu keeps them)."""
    @register_node_handler(key)
    def handler(ctx, self):
        x = ctx.as_tensor(self)
        if not ctx.dtype(x).is_floating_point:
            if not float_only:
                return ctx.elementwise(x, 0, "MAX") if ctx.dtype(x) != torch.bool else ctx.identity(x)
            x = ctx.cast(x, ctx.float_dtype)
        return ctx.activation(x, kind)

    handler.__name__ = key.split("::")[1]
    return handler


_simple("aten::relu", "RELU", float_only=False)
_simple("aten::sigmoid", "SIGMOID")
_simple("aten::tanh", "TANH")


def _clip(ctx, x, lo, hi):
    """TensorRT's CLIP takes floats only: integer tensors are clamped with MAX/MIN (the bounds
    converted to the tensor's dtype, as torch does)."""
    x = ctx.as_tensor(x)
    dtype = ctx.dtype(x)
    if dtype.is_floating_point:
        return ctx.activation(x, "CLIP", alpha=lo, beta=hi)
    lo, hi = torch.tensor(lo).to(dtype), torch.tensor(hi).to(dtype)
    return ctx.elementwise(ctx.elementwise(x, lo, "MAX", dtype=dtype), hi, "MIN", dtype=dtype)


@register_node_handler("aten::hardtanh(Tensor self, Scalar min_val=-1, Scalar max_val=1) -> Tensor")
def hardtanh(ctx, self, min_val, max_val):
    return _clip(ctx, self, min_val, max_val)


@register_node_handler("aten::relu6(Tensor self) -> Tensor")
def relu6(ctx, self):
    return _clip(ctx, self, 0.0, 6.0)


@register_node_handler("aten::leaky_relu(Tensor self, Scalar negative_slope=0.01) -> Tensor")
def leaky_relu(ctx, self, negative_slope):
    return ctx.activation(self, "LEAKY_RELU", alpha=negative_slope)


@register_node_handler("aten::elu(Tensor self, Scalar alpha=1, Scalar scale=1, Scalar input_scale=1) -> Tensor")
def elu(ctx, self, alpha, scale, input_scale):
    """torch: ``scale * x`` for x > 0, ``scale * alpha * (exp(input_scale * x) - 1)`` otherwise
    (``input_scale`` scales only the negative branch's exponent)."""
    if input_scale == 1:
        y = ctx.activation(self, "ELU", alpha=alpha)
        return y if scale == 1 else ctx.elementwise(y, float(scale), "PROD")
    x = ctx.as_tensor(self)
    neg = ctx.elementwise(ctx.unary(ctx.elementwise(x, float(input_scale), "PROD"), "EXP"), 1.0, "SUB")
    neg = ctx.elementwise(neg, float(alpha) * float(scale), "PROD")
    pos = ctx.elementwise(x, float(scale), "PROD")
    return ctx.select(ctx.elementwise(x, 0.0, "GREATER"), pos, neg)


@register_node_handler("aten::selu(Tensor self) -> Tensor")
def selu(ctx, self):
    return ctx.activation(self, "SELU", alpha=1.6732632423543772, beta=1.0507009873554805)


@register_node_handler("aten::softplus(Tensor self, Scalar beta=1, Scalar threshold=20) -> Tensor")
def softplus(ctx, self, beta, threshold):
    """TensorRT's SOFTPLUS is alpha*log(exp(beta*x)+1) with no threshold; torch switches to x above it."""
    soft = ctx.activation(self, "SOFTPLUS", alpha=1.0 / beta, beta=beta)
    over = ctx.elementwise(ctx.elementwise(self, float(beta), "PROD"), float(threshold), "GREATER")
    return ctx.select(over, self, soft)


@register_node_handler("aten::gelu(Tensor self, *, str approximate='none') -> Tensor")
def gelu(ctx, self, approximate):
    return ctx.activation(self, "GELU_TANH" if approximate == "tanh" else "GELU_ERF")


@register_node_handler("aten::silu(Tensor self) -> Tensor")
def silu(ctx, self):
    return ctx.elementwise(self, ctx.activation(self, "SIGMOID"), "PROD")


@register_node_handler("aten::mish(Tensor self) -> Tensor")
def mish(ctx, self):
    sp = ctx.activation(self, "SOFTPLUS", alpha=1.0, beta=1.0)
    return ctx.elementwise(self, ctx.activation(sp, "TANH"), "PROD")


@register_node_handler("aten::hardsigmoid(Tensor self) -> Tensor")
def hardsigmoid(ctx, self):
    return ctx.activation(self, "HARD_SIGMOID", alpha=1.0 / 6.0, beta=0.5)


@register_node_handler("aten::hardswish(Tensor self) -> Tensor")
def hardswish(ctx, self):
    return ctx.elementwise(self, ctx.activation(self, "HARD_SIGMOID", alpha=1.0 / 6.0, beta=0.5), "PROD")


@register_node_handler("aten::prelu(Tensor self, Tensor weight) -> Tensor")
def prelu(ctx, self, weight):
    rank = ctx.rank(self)
    w = weight.reshape((1, -1) + (1,) * (rank - 2)) if weight.numel() > 1 and rank >= 2 else weight.reshape((1,) * rank)
    return ctx.network.add_parametric_relu(ctx.as_tensor(self), ctx.as_tensor(w)).get_output(0)


_ = math
