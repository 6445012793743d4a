"""Normalizations. Inference batch norm folds to one multiply-add with per-channel constants."""
from __future__ import annotations

import torch

from ..registry import register_node_handler


def _validate_bn(args):
    if not args.get("training") and args.get("running_mean") is None:
        return "batch_norm in inference mode without running statistics (running_mean=None)"
    return None


@register_node_handler(
    "aten::batch_norm(Tensor input, Tensor? weight, Tensor? bias, Tensor? running_mean, Tensor? running_var, "
    "bool training, float momentum, float eps, bool cudnn_enabled) -> Tensor", validator=_validate_bn)
def batch_norm(ctx, input, weight, bias, running_mean, running_var, training, momentum, eps, cudnn_enabled):
    """Inference: the running statistics. ``training=True`` (a BatchNorm without running statistics,
    or an explicit call): the batch statistics, as torch's output (``momentum`` only updates the
    running statistics, a side effect that does not change the output)."""
    if training:
        return _batch_stats_norm(ctx, input, weight, bias, eps)
    return stats_norm(ctx, input, weight, bias, running_mean, running_var, eps)


def stats_norm(ctx, input, weight, bias, mean, var, eps):
    """``(x - mean) / sqrt(var + eps) * weight + bias`` per channel (axis 1). Parameters fold into
    one multiply-add with constants; statistics or affine parameters that are network tensors are
    combined in the network."""
    rank = ctx.rank(input)
    bshape = (1, -1) + (1,) * (rank - 2)
    params = (weight, bias, mean, var)
    if all(p is None or isinstance(p, torch.Tensor) for p in params):
        scale, shift = bn_affine(weight, bias, mean, var, eps)
        y = ctx.elementwise(input, scale.float().reshape(bshape), "PROD")
        return ctx.elementwise(y, shift.float().reshape(bshape), "SUM")
    dtype = ctx.dtype(input)

    def channel(p):
        return ctx.reshape(ctx.as_tensor(p, dtype), [1, -1] + [1] * (rank - 2))

    scale = ctx.unary(ctx.unary(ctx.elementwise(channel(var), float(eps), "SUM", dtype=dtype), "SQRT"), "RECIP")
    if weight is not None:
        scale = ctx.elementwise(scale, channel(weight), "PROD", dtype=dtype)
    y = ctx.elementwise(ctx.elementwise(input, channel(mean), "SUB", dtype=dtype), scale, "PROD", dtype=dtype)
    if bias is not None:
        y = ctx.elementwise(y, channel(bias), "SUM", dtype=dtype)
    return y


def _batch_stats_norm(ctx, input, weight, bias, eps):
    """Normalization with the batch's statistics per channel (biased variance over N and space)."""
    x = ctx.as_tensor(input)
    rank = ctx.rank(x)
    axes = [0] + list(range(2, rank))
    mean = ctx.reduce(x, "AVG", axes, True)
    centered = ctx.elementwise(x, mean, "SUB")
    var = ctx.reduce(ctx.elementwise(centered, centered, "PROD"), "AVG", axes, True)
    y = ctx.elementwise(centered, ctx.unary(ctx.elementwise(var, float(eps), "SUM"), "SQRT"), "DIV")
    return _affine(ctx, y, weight, bias, (1, -1) + (1,) * (rank - 2))


def bn_affine(weight, bias, running_mean, running_var, eps):
    """Inference batch norm as ``y = x * scale + shift`` per channel (float64)."""
    scale = torch.rsqrt(running_var.double() + eps)
    if weight is not None:
        scale = scale * weight.double()
    shift = -running_mean.double() * scale
    if bias is not None:
        shift = shift + bias.double()
    return scale, shift


def _affine(ctx, y, weight, bias, shape):
    """Per-channel ``y * weight + bias``; weight and bias may be parameters or network tensors."""
    for p, op in ((weight, "PROD"), (bias, "SUM")):
        if p is not None:
            y = ctx.elementwise(y, p.reshape(shape) if isinstance(p, torch.Tensor) else ctx.reshape(p, list(shape)), op)
    return y


@register_node_handler("aten::layer_norm(Tensor input, SymInt[] normalized_shape, Tensor? weight=None, "
                       "Tensor? bias=None, float eps=1e-05, bool cudnn_enable=True) -> Tensor")
def layer_norm(ctx, input, normalized_shape, weight, bias, eps, cudnn_enable=True):
    """One normalization layer; float32 statistics in an fp16/bf16 network when the precision
    policy says so (also for the transformer encoder layer handler, which calls this)."""
    from ..precision import Fp32Island

    island = Fp32Island(ctx, "aten::layer_norm", ctx.as_tensor(input))
    with island as x:
        y = _layer_norm(ctx, x, normalized_shape, weight, bias, eps)
    return island.result(y)


def _layer_norm(ctx, x, normalized_shape, weight, bias, eps):
    rank = ctx.rank(x)
    n = len(normalized_shape)
    axes = 0
    for d in range(rank - n, rank):
        axes |= 1 << d
    ones = tuple(1 for _ in range(rank - n)) + tuple(normalized_shape)
    dtype = ctx.dtype(x)

    def affine(p, default):  # a parameter, or a network tensor (reshaped in the network)
        if p is None:
            return ctx.as_tensor(default(ones), dtype)
        return ctx.as_tensor(p.reshape(ones), dtype) if isinstance(p, torch.Tensor) else \
            ctx.reshape(ctx.as_tensor(p, dtype), list(ones))

    scale, shift = affine(weight, torch.ones), affine(bias, torch.zeros)
    layer = ctx.network.add_normalization(x, scale, shift, axes)
    layer.epsilon = float(eps)
    return layer.get_output(0)


@register_node_handler("aten::group_norm(Tensor input, int num_groups, Tensor? weight=None, Tensor? bias=None, "
                       "float eps=1e-05, bool cudnn_enabled=True) -> Tensor")
def group_norm(ctx, input, num_groups, weight, bias, eps, cudnn_enabled=True):
    x = ctx.as_tensor(input)
    shape = ctx.shape(x)
    rank = len(shape)
    # normalize over each group: (N, G, C/G * spatial) then affine per channel
    dims = ctx.dims(x)
    grouped = ctx.reshape(x, [dims[0], num_groups, -1])
    mean = ctx.reduce(grouped, "AVG", [2], True)
    centered = ctx.elementwise(grouped, mean, "SUB")
    var = ctx.reduce(ctx.elementwise(centered, centered, "PROD"), "AVG", [2], True)
    denom = ctx.unary(ctx.elementwise(var, float(eps), "SUM"), "SQRT")
    y = ctx.reshape(ctx.elementwise(centered, denom, "DIV"), dims)
    return _affine(ctx, y, weight, bias, (1, -1) + (1,) * (rank - 2))


def _validate_instance(args):
    if args.get("use_input_stats") is False and args.get("running_mean") is None:
        return "instance_norm with use_input_stats=False and no running statistics (running_mean=None)"
    return None


@register_node_handler("aten::instance_norm(Tensor input, Tensor? weight, Tensor? bias, Tensor? running_mean, "
                       "Tensor? running_var, bool use_input_stats, float momentum, float eps, bool cudnn_enabled) -> Tensor",
                       validator=_validate_instance)
def instance_norm(ctx, input, weight, bias, running_mean, running_var, use_input_stats, momentum, eps,
                  cudnn_enabled):
    """``use_input_stats`` (training, or no running statistics): each instance's statistics;
    else (``track_running_stats=True`` in eval mode) the running statistics, as batch norm does.
    ``momentum`` only updates the running statistics (a side effect, not the output)."""
    if not use_input_stats:
        return stats_norm(ctx, input, weight, bias, running_mean, running_var, eps)
    shape = ctx.shape(input)
    return group_norm(ctx, input, shape[1], weight, bias, eps)
