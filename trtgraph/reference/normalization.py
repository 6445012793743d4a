"""NORMALIZATION, SCALE and LRN."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import EvaluationError
from ._core import attr, bitmask_axes, enum_name, layer_impl, out_dtype, weights_or_none


def _moments_normalize(x, axes, eps):
    mean = x.mean(dim=axes, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=axes, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps)


@layer_impl("NORMALIZATION")
def normalization(layer, inputs):
    """With num_groups > 1 the channels (axis 1) are split into groups and the statistics
    cover each group's channels plus ``axes``; scale/bias are per channel ([1, C, 1..]) or,
    in older TensorRT, per group ([1, G, 1..])."""
    x, scale, bias = (t.float() for t in inputs[:3])
    eps = float(attr(layer, "epsilon", 1e-5))
    axes = bitmask_axes(layer.axes, x.dim())
    groups = int(attr(layer, "num_groups", 1))
    if groups <= 1:
        y = _moments_normalize(x, axes, eps)
        return [(y * scale + bias).to(out_dtype(layer))]
    n, c = x.shape[0], x.shape[1]
    if c % groups:
        raise EvaluationError(f"{c} channels do not split into {groups} groups")
    grouped = x.reshape((n, groups, c // groups) + tuple(x.shape[2:]))
    group_axes = [2] + [a + 1 for a in axes if a >= 2]
    y = _moments_normalize(grouped, group_axes, eps)
    if scale.dim() > 1 and scale.shape[1] == groups and groups != c:
        y = y * scale.unsqueeze(2) + bias.unsqueeze(2)
        return [y.reshape(x.shape).to(out_dtype(layer))]
    return [(y.reshape(x.shape) * scale + bias).to(out_dtype(layer))]


def _scale_coefficient(weights, mode, x, channel_axis):
    if weights is None:
        return None
    weights = weights.float()
    if mode == "UNIFORM":
        return weights.reshape(())
    if mode == "CHANNEL":
        view = [1] * x.dim()
        view[channel_axis] = -1
        return weights.reshape(view)
    return weights.reshape(tuple(x.shape[channel_axis:]))


@layer_impl("SCALE")
def scale(layer, inputs):
    """out = (x * scale + shift) ** power; missing weights mean scale 1, shift 0, power 1.
    CHANNEL weights follow channel_axis; ELEMENTWISE weights cover the dims from channel_axis on."""
    x = inputs[0].float()
    mode = enum_name(layer.mode)
    channel_axis = int(attr(layer, "channel_axis", 1))
    channel_axis = channel_axis + x.dim() if channel_axis < 0 else channel_axis
    y = x
    s = _scale_coefficient(weights_or_none(attr(layer, "scale")), mode, x, channel_axis)
    shift = _scale_coefficient(weights_or_none(attr(layer, "shift")), mode, x, channel_axis)
    power = _scale_coefficient(weights_or_none(attr(layer, "power")), mode, x, channel_axis)
    if s is not None:
        y = y * s
    if shift is not None:
        y = y + shift
    if power is not None:
        y = torch.pow(y, power)
    return [y.to(out_dtype(layer))]


@layer_impl("LRN")
def lrn(layer, inputs):
    """Cross-channel (axis 1): x / (k + alpha / window * sum(x^2 over window)) ** beta."""
    x = inputs[0].float()
    size = int(layer.window_size)
    sq = (x * x).unsqueeze(1)
    flat = sq.reshape(sq.shape[0], 1, sq.shape[2], -1)
    before, after = (size - 1) // 2, size - 1 - (size - 1) // 2
    padded = F.pad(flat, (0, 0, before, after))
    summed = F.avg_pool2d(padded, (size, 1), stride=1) * size
    summed = summed.reshape(x.shape)
    y = x / torch.pow(float(layer.k) + float(layer.alpha) / size * summed, float(layer.beta))
    return [y.to(out_dtype(layer))]
