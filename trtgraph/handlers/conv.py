"""Convolutions (``aten::_convolution`` is what tracing records for every nn.Conv*).

1-D convolutions run as 2-D ones over a unit height (TensorRT kernels must be 2-D or 3-D).
Transposed convolutions with both stride > 1 and dilation > 1 are refused up front (TensorRT
fails to build them).
"""
from __future__ import annotations

import torch

from ..registry import Traced, register_node_handler


def _validate(args):
    w = args.get("weight")
    if isinstance(w, Traced) and w.dynamic:
        return "convolution weights computed from the inputs are not supported (weight must be a parameter)"
    if args.get("transposed"):
        if any(s > 1 for s in _per_axis(args["stride"], 1)) and any(d > 1 for d in _per_axis(args["dilation"], 1)):
            return "transposed convolution with both stride > 1 and dilation > 1 (TensorRT cannot build it)"
    if isinstance(w, torch.Tensor) and w.dim() not in (3, 4, 5):
        return f"{w.dim() - 2}-D convolution (1-D, 2-D and 3-D are supported)"
    return None


def _per_axis(value, nd):
    """One value per spatial axis: torch repeats a one-element list (``stride=[2]``) or an int."""
    value = list(value) if isinstance(value, (list, tuple)) else [value]
    return [int(v) for v in value] * nd if len(value) == 1 else [int(v) for v in value]


def convolution(ctx, input, weight, bias, stride, padding, dilation, transposed, output_padding, groups):
    """``weight`` is a parameter, or a network tensor that does not depend on the inputs (a
    fake-quantized weight: constant -> Q -> DQ, which TensorRT fuses into an int8/fp8 kernel);
    that one is set as the layer's input 1, with empty kernel weights."""
    from ..context import T

    tensor_kernel = ctx.is_tensor(weight)
    wshape = tuple(ctx.require_static(weight, "weight")) if tensor_kernel else tuple(weight.shape)
    nd = len(wshape) - 2
    x = ctx.as_tensor(input)
    stride, padding, dilation = (_per_axis(v, nd) for v in (stride, padding, dilation))
    output_padding = _per_axis(output_padding or [0], nd)
    if nd == 1:
        # (N, C, L) -> (N, C, 1, L); kernel (O, I, K) -> (O, I, 1, K)
        dims = ctx.dims(x)
        x = ctx.reshape(x, dims[:2] + [1] + dims[2:])
        weight = ctx.reshape(weight, [wshape[0], wshape[1], 1, wshape[2]]) if tensor_kernel else weight.unsqueeze(2)
        wshape = wshape[:2] + (1,) + wshape[2:]
        stride, padding, dilation, output_padding = [1] + stride, [0] + padding, [1] + dilation, [0] + output_padding
    kernel_shape = wshape[2:]
    kernel = T().Weights() if tensor_kernel else ctx.weights(weight)
    # output_padding beyond padding: positions no input reaches (only the bias); TensorRT takes no
    # negative post-padding, so they are appended as zeros and the bias is added after
    extra = [max(0, op - p) for p, op in zip(padding, output_padding)] if transposed else []
    late_bias = bias if any(extra) else None
    bias_w = ctx.weights(bias) if bias is not None and late_bias is None else None
    if transposed:
        out_maps = wshape[1] * groups
        layer = ctx.network.add_deconvolution_nd(x, out_maps, kernel_shape, kernel, bias_w) if bias_w is not None \
            else ctx.network.add_deconvolution_nd(x, out_maps, kernel_shape, kernel)
        layer.pre_padding = tuple(padding)
        layer.post_padding = tuple(max(0, p - op) for p, op in zip(padding, output_padding))
    else:
        out_maps = wshape[0]
        layer = ctx.network.add_convolution_nd(x, out_maps, kernel_shape, kernel, bias_w) if bias_w is not None \
            else ctx.network.add_convolution_nd(x, out_maps, kernel_shape, kernel)
        layer.pre_padding = tuple(padding)
        layer.post_padding = tuple(padding)
    layer.stride_nd = tuple(stride)
    layer.dilation_nd = tuple(dilation)
    layer.num_groups = int(groups)
    if tensor_kernel:
        layer.set_input(1, ctx.cast(weight, ctx.dtype(x)))
    y = layer.get_output(0)
    if any(extra):
        dims = ctx.dims(y)
        size = dims[:2] + [ctx.int_op(d, e, "add") for d, e in zip(dims[2:], extra)]
        y = ctx.slice(y, [0] * len(dims), size, [1] * len(dims), mode="FILL")
        if late_bias is not None:
            y = ctx.elementwise(y, late_bias.reshape((1, -1) + (1,) * (len(dims) - 2)), "SUM")
    if nd == 1:
        dims = ctx.dims(y)
        y = ctx.reshape(y, dims[:2] + dims[3:])
    return y


@register_node_handler(
    "aten::_convolution(Tensor input, Tensor weight, Tensor? bias, SymInt[] stride, SymInt[] padding, "
    "SymInt[] dilation, bool transposed, SymInt[] output_padding, SymInt groups, bool benchmark, "
    "bool deterministic, bool cudnn_enabled, bool allow_tf32) -> Tensor", validator=_validate)
def _convolution(ctx, input, weight, bias, stride, padding, dilation, transposed, output_padding, groups, **_):
    return convolution(ctx, input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)


def _conv_nd(key):
    def _validate_nd(args):
        if isinstance(args.get("padding"), str):
            return "string padding ('same'/'valid') in a traced conv call"
        return _validate({**args, "transposed": False})

    @register_node_handler(key, validator=_validate_nd)
    def handler(ctx, input, weight, bias, stride, padding, dilation, groups):
        return convolution(ctx, input, weight, bias, stride, padding, dilation, False, None, groups)

    return handler


for _k in ("aten::conv1d", "aten::conv2d", "aten::conv3d"):
    _conv_nd(_k)
