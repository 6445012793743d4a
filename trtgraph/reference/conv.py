"""CONVOLUTION and DECONVOLUTION (2-D and 3-D)."""
from __future__ import annotations

import torch.nn.functional as F

from ..errors import EvaluationError
from ._core import attr, dims, enum_name, layer_impl, out_dtype, weights_or_none
from ._window import explicit_pads, torch_pad_list, window_padding

_CONV = {2: F.conv2d, 3: F.conv3d}
_DECONV = {2: F.conv_transpose2d, 3: F.conv_transpose3d}


def _kernel_and_bias(layer, inputs, kernel_size, in_channels, transposed):
    groups = int(attr(layer, "num_groups", 1))
    maps = int(layer.num_output_maps)
    kernel = inputs[1] if len(inputs) > 1 and inputs[1] is not None else weights_or_none(layer.kernel)
    bias = inputs[2] if len(inputs) > 2 and inputs[2] is not None else weights_or_none(attr(layer, "bias"))
    if kernel is None:
        raise EvaluationError("the layer has no kernel weights")
    if transposed:
        shape = (in_channels, maps // groups) + kernel_size
    else:
        shape = (maps, in_channels // groups) + kernel_size
    kernel = kernel.float().reshape(shape)
    bias = None if bias is None else bias.float().reshape(maps)
    return kernel, bias, groups


def _spatial(layer, x):
    kernel_size = dims(layer.kernel_size_nd)
    n = len(kernel_size)
    if n not in _CONV:
        raise EvaluationError(f"kernel of {n} dims; TensorRT supports 2-D and 3-D")
    if x.dim() < n + 1:
        raise EvaluationError(f"input of shape {tuple(x.shape)} is too small for a {n}-D kernel")
    stride = dims(attr(layer, "stride_nd", (1,) * n))
    dilation = dims(attr(layer, "dilation_nd", (1,) * n))
    return kernel_size, n, stride, dilation


def _batched(x, n):
    """Flatten leading dims to one batch dim; returns the tensor and the leading shape."""
    lead = tuple(x.shape[: x.dim() - n - 1])
    return x.reshape((-1,) + tuple(x.shape[-n - 1:])), lead


@layer_impl("CONVOLUTION")
def convolution(layer, inputs):
    x = inputs[0]
    kernel_size, n, stride, dilation = _spatial(layer, x)
    xb, lead = _batched(x.float(), n)
    kernel, bias, groups = _kernel_and_bias(layer, inputs, kernel_size, xb.shape[1], False)
    effective = [(k - 1) * d + 1 for k, d in zip(kernel_size, dilation)]
    pads = window_padding(layer, tuple(xb.shape[2:]), effective, stride)
    sides = [(pre, post + extra) for pre, post, extra in pads]
    padding = [pre for pre, _ in sides]
    if any(pre != post or pre < 0 for pre, post in sides):  # uneven or cropping: padded (or cut) first
        xb, padding = F.pad(xb, torch_pad_list(sides)), 0
    y = _CONV[n](xb, kernel, bias, stride=stride, padding=padding, dilation=dilation, groups=groups)
    return [y.reshape(lead + tuple(y.shape[1:])).to(out_dtype(layer))]


def _deconv_crops(layer, sizes, effective, stride):
    """(pre, post) cropping of the full transposed-convolution output."""
    mode = enum_name(attr(layer, "padding_mode", "EXPLICIT_ROUND_DOWN"))
    n = len(sizes)
    if mode not in ("SAME_UPPER", "SAME_LOWER"):
        pre, post = explicit_pads(layer, n)
        return list(zip(pre, post))
    crops = []
    for size, k, s in zip(sizes, effective, stride):
        total = (size - 1) * s + k - size * s
        small, big = total // 2, total - total // 2
        crops.append((small, big) if mode == "SAME_UPPER" else (big, small))
    return crops


@layer_impl("DECONVOLUTION")
def deconvolution(layer, inputs):
    x = inputs[0]
    kernel_size, n, stride, dilation = _spatial(layer, x)
    xb, lead = _batched(x.float(), n)
    kernel, bias, groups = _kernel_and_bias(layer, inputs, kernel_size, xb.shape[1], True)
    y = _DECONV[n](xb, kernel, bias, stride=stride, dilation=dilation, groups=groups)
    effective = [(k - 1) * d + 1 for k, d in zip(kernel_size, dilation)]
    crops = _deconv_crops(layer, tuple(xb.shape[2:]), effective, stride)
    y = F.pad(y, torch_pad_list([(-pre, -post) for pre, post in crops]))
    return [y.reshape(lead + tuple(y.shape[1:])).to(out_dtype(layer))]

