"""Sampling and bag ops: grid_sampler(_2d) on TensorRT's IGridSampleLayer, embedding_bag,
adaptive_max_pool1d/2d/3d, and _convolution_mode (string padding 'same'/'valid').

Outputs that inference models rarely read (the indices of adaptive max pooling, the bookkeeping
tensors of embedding_bag) are not computed: a graph that reads them is refused by name.
"""
from __future__ import annotations

import torch

from ..context import T
from ..registry import Traced, register_node_handler
from .conv import convolution
from .core_aten import refuse_if_used
from .index import _gather, pad_tensor
from .pooling import adaptive


# ---------------------------------------------------------------------------- grid sample

_INTERP = {0: "LINEAR", 1: "NEAREST", 2: "CUBIC"}  # torch's GridSamplerInterpolation
_PADDING = {0: "FILL", 1: "CLAMP", 2: "REFLECT"}  # torch's GridSamplerPadding: zeros, border, reflection


def _validate_grid(args):
    x = args.get("input")
    shape = x.shape if isinstance(x, (torch.Tensor, Traced)) else None
    if shape is not None and len(shape) != 4:
        return f"grid sampling of a {len(shape)}-D input (TensorRT's grid sample takes 4-D inputs: 2-D images only)"
    if args.get("interpolation_mode") not in _INTERP:
        return f"grid sampling interpolation mode {args.get('interpolation_mode')}"
    if args.get("padding_mode") not in _PADDING:
        return f"grid sampling padding mode {args.get('padding_mode')}"
    return None


def grid_sample(ctx, input, grid, interpolation_mode, padding_mode, align_corners):
    x = ctx.as_tensor(input)
    if ctx.rank(x) != 4:
        raise ctx.error("TensorRT's grid sample takes 4-D inputs (2-D images only)", "input")
    if not ctx.dtype(x).is_floating_point:
        raise ctx.error(f"grid sampling of {ctx.dtype(x)} tensors (torch takes floats)", "input")
    g = ctx.as_tensor(grid, ctx.dtype(x))
    layer = ctx.network.add_grid_sample(x, g)
    layer.interpolation_mode = getattr(T().InterpolationMode, _INTERP[int(interpolation_mode)])
    layer.sample_mode = getattr(T().SampleMode, _PADDING[int(padding_mode)])
    layer.align_corners = bool(align_corners)
    return layer.get_output(0)


@register_node_handler("aten::grid_sampler(Tensor input, Tensor grid, int interpolation_mode, int padding_mode, "
                       "bool align_corners) -> Tensor", validator=_validate_grid)
def grid_sampler(ctx, input, grid, interpolation_mode, padding_mode, align_corners):
    return grid_sample(ctx, input, grid, interpolation_mode, padding_mode, align_corners)


@register_node_handler("aten::grid_sampler_2d(Tensor input, Tensor grid, int interpolation_mode, int padding_mode, "
                       "bool align_corners) -> Tensor", validator=_validate_grid)
def grid_sampler_2d(ctx, input, grid, interpolation_mode, padding_mode, align_corners):
    return grid_sample(ctx, input, grid, interpolation_mode, padding_mode, align_corners)


# ---------------------------------------------------------------------------- embedding_bag

_BAG_MODES = {0: "sum", 1: "mean", 2: "max"}


def _validate_bag(args):
    # scale_grad_by_freq and sparse change gradients only, not the forward values
    mode = args.get("mode", 0)
    if mode not in _BAG_MODES:
        return f"embedding_bag mode {mode}"
    if args.get("per_sample_weights") is not None and mode != 0:
        return "per_sample_weights with a mode other than 'sum' (torch allows it only with 'sum')"
    return None


def embedding_bag_forward(ctx, weight, indices, offsets, mode=0, per_sample_weights=None, include_last_offset=False,
                          padding_idx=None):
    """Rows ``weight[indices]``; a (bags x positions) membership matrix from the offsets (static
    or computed) combines them: a matrix product for sum/mean, a masked max for max. Empty bags
    give zeros, as in torch; positions equal to ``padding_idx`` are left out of every bag."""
    table = ctx.as_tensor(weight)
    dtype = ctx.dtype(table)
    idx = ctx.cast(ctx.as_tensor(indices), torch.int64)
    ishape = ctx.require_static(idx, "indices", None, "the bags are formed at conversion time")
    if len(ishape) == 2:
        nbags, per = ishape
        idx = ctx.reshape(idx, [nbags * per])
        starts = torch.arange(nbags) * per
        ends = starts + per
        n = nbags * per
    elif len(ishape) == 1:
        n = ishape[0]
        if offsets is None:
            raise ctx.error("1-D indices need offsets", "offsets")
        off = offsets if ctx.is_tensor(offsets) else torch.as_tensor(offsets).long()
        count = ctx.require_static(off, "offsets")[0] if ctx.is_tensor(off) else off.numel()
        nbags = count - 1 if include_last_offset else count
        if ctx.is_tensor(off):
            off = ctx.cast(off, torch.int64)
            starts = ctx.slice(off, [0], [nbags], [1])
            tail = ctx.slice(off, [1], [count - 1], [1]) if count > 1 else None
            last = ctx.constant(torch.tensor([n]))
            if include_last_offset:
                ends = tail
            else:
                ends = ctx.concat([tail, last], 0) if tail is not None else last
        else:
            starts = off[:nbags]
            ends = off[1:] if include_last_offset else torch.cat([off[1:], torch.tensor([n])])
    else:
        raise ctx.error(f"indices must be 1-D or 2-D, got rank {len(ishape)}", "indices")
    rows = _gather(ctx, table, idx, 0)  # (n, D)
    pos = ctx.constant(torch.arange(n).reshape(1, n))
    starts = ctx.reshape(ctx.as_tensor(starts, torch.int64), [nbags, 1])
    ends = ctx.reshape(ctx.as_tensor(ends, torch.int64), [nbags, 1])
    member = ctx.elementwise(ctx.unary(ctx.elementwise(pos, starts, "LESS", dtype=torch.int64), "NOT"),
                             ctx.elementwise(pos, ends, "LESS", dtype=torch.int64), "AND", dtype=torch.bool)
    if padding_idx is not None and int(padding_idx) >= 0:
        keep = ctx.unary(ctx.elementwise(ctx.reshape(idx, [1, n]), int(padding_idx), "EQUAL", dtype=torch.int64), "NOT")
        member = ctx.elementwise(member, keep, "AND", dtype=torch.bool)
    kind = _BAG_MODES[int(mode)]
    if kind == "max":
        low = ctx.constant(torch.tensor(float("-inf"), dtype=torch.float32).reshape(1, 1, 1), dtype)
        picked = ctx.select(ctx.reshape(member, [nbags, n, 1]), ctx.reshape(rows, [1, n, -1]), low, dtype=dtype)
        best = ctx.reduce(picked, "MAX", [1], False)
        empty = ctx.elementwise(ctx.reduce(ctx.cast(member, torch.int32), "SUM", [1], True), 0, "EQUAL",
                                dtype=torch.int32)
        return ctx.select(empty, ctx.constant(torch.zeros((1, 1)), dtype), best, dtype=dtype)
    weights = ctx.cast(member, dtype)
    if per_sample_weights is not None:
        psw = ctx.reshape(ctx.as_tensor(per_sample_weights, dtype), [1, n])
        weights = ctx.elementwise(weights, psw, "PROD")
    total = ctx.matmul(weights, rows)  # (nbags, D)
    if kind == "sum":
        return total
    count = ctx.reduce(ctx.cast(member, dtype), "SUM", [1], True)
    return ctx.elementwise(total, ctx.elementwise(count, 1.0, "MAX"), "DIV")


def _bag_handler(ctx, weight, indices, offsets, mode, per_sample_weights, include_last_offset, padding_idx):
    refuse_if_used(ctx, (1, 2, 3), "embedding_bag's offset2bag, bag_size and max_indices")
    y = embedding_bag_forward(ctx, weight, indices, offsets, mode, per_sample_weights, include_last_offset,
                              padding_idx)
    return y, None, None, None


@register_node_handler("aten::embedding_bag(Tensor weight, Tensor indices, Tensor offsets, "
                       "bool scale_grad_by_freq=False, int mode=0, bool sparse=False, "
                       "Tensor? per_sample_weights=None, bool include_last_offset=False) "
                       "-> (Tensor, Tensor, Tensor, Tensor)", validator=_validate_bag)
def embedding_bag(ctx, weight, indices, offsets, scale_grad_by_freq=False, mode=0, sparse=False,
                  per_sample_weights=None, include_last_offset=False, padding_idx=None):
    """Both overloads (with and without padding_idx)."""
    return _bag_handler(ctx, weight, indices, offsets, mode, per_sample_weights, include_last_offset, padding_idx)


@register_node_handler("aten::_embedding_bag(Tensor weight, Tensor indices, Tensor offsets, "
                       "bool scale_grad_by_freq=False, int mode=0, bool sparse=False, "
                       "Tensor? per_sample_weights=None, bool include_last_offset=False, "
                       "int padding_idx=-1) -> (Tensor, Tensor, Tensor, Tensor)", validator=_validate_bag)
def _embedding_bag(ctx, weight, indices, offsets, scale_grad_by_freq=False, mode=0, sparse=False,
                   per_sample_weights=None, include_last_offset=False, padding_idx=-1):
    return _bag_handler(ctx, weight, indices, offsets, mode, per_sample_weights, include_last_offset, padding_idx)


# ---------------------------------------------------------------------------- adaptive max pooling

def _adaptive_max(n):
    @register_node_handler(f"aten::adaptive_max_pool{n}d(Tensor self, int[{n}] output_size) -> (Tensor, Tensor)")
    def handler(ctx, self, output_size):
        refuse_if_used(ctx, (1,), "return_indices=True: the argmax positions of adaptive max pooling")
        size = list(output_size) if isinstance(output_size, (list, tuple)) else [output_size] * n
        if len(size) == 1 and n > 1:
            size = size * n
        return adaptive(ctx, self, size, "max"), None
    handler.__name__ = f"adaptive_max_pool{n}d"
    return handler


for _n in (1, 2, 3):
    _adaptive_max(_n)


# ---------------------------------------------------------------------------- string padding

@register_node_handler("aten::_convolution_mode(Tensor input, Tensor weight, Tensor? bias, SymInt[] stride, "
                       "str padding, "
                       "SymInt[] dilation, SymInt groups) -> Tensor")
def _convolution_mode(ctx, input, weight, bias, stride, padding, dilation, groups):
    """'valid': no padding. 'same' (stride 1): dilation * (kernel - 1) per dim, split evenly, the odd
    element after (torch's rule), which TensorRT's symmetric padding gets from a zero pad first."""
    if ctx.is_tensor(weight):
        raise ctx.error("convolution weights computed from the inputs are not supported", "weight")
    nd = weight.dim() - 2
    stride = list(stride) * nd if len(stride) == 1 else list(stride)
    dilation = list(dilation) * nd if len(dilation) == 1 else list(dilation)
    x = ctx.as_tensor(input)
    if padding == "valid":
        pads = [0] * nd
    elif padding == "same":
        if any(s != 1 for s in stride):
            raise ctx.error("padding='same' with a stride other than 1 (torch refuses it too)", "padding")
        totals = [d * (k - 1) for d, k in zip(dilation, weight.shape[2:])]
        pads = [t // 2 for t in totals]
        extra = [t - 2 * (t // 2) for t in totals]
        if any(extra):
            pad_list = []
            for e in reversed(extra):
                pad_list += [0, e]
            x = pad_tensor(ctx, x, pad_list)
    else:
        raise ctx.error(f"padding {padding!r} (torch allows 'same' and 'valid')", "padding")
    return convolution(ctx, x, weight, bias, stride, pads, dilation, False, None, groups)
