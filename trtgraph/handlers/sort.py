"""Selections with TensorRT's ITopKLayer (torch's indices are int64): topk, sort, argsort,
argmax/argmin, max/min (along a dim, of two tensors, of every element)."""
from __future__ import annotations

import torch

from ..context import T
from ..registry import Traced, register_node_handler
from .math_common import _expected_dtype, _numel


TOPK_MAX_K = 3840  # TensorRT's limit on k


# ---------------------------------------------------------------------------- topk family

def topk(ctx, x, k, dim, largest=True):
    """(values, int64 indices) of the k largest/smallest along ``dim``, sorted. TensorRT's TopK
    needs rank >= 2 and (in TensorRT 10) one of the last four axes: rank-1 inputs gain a leading
    1, and an axis before the last four is swapped with the last one; bools go through int32.
    Among equal values, torch returns the first index; the reference evaluator orders ties by
    index too (TensorRT documents no order)."""
    x = ctx.as_tensor(x)
    is_bool = ctx.dtype(x) == torch.bool
    if is_bool:
        x = ctx.cast(x, torch.int32)
    shape = ctx.shape(x)
    rank = len(shape)
    if rank == 0:
        x, rank, d, squeeze = ctx.reshape(x, (1, 1)), 2, 1, ()
    else:
        d = ctx.axis(dim, rank)
        squeeze = None
    if rank == 1:
        x = ctx.reshape(x, (1,) + tuple(shape))
        rank, d, squeeze = 2, 1, (k,)
    swap = None
    if d < rank - 4:
        swap = list(range(rank))
        swap[d], swap[-1] = swap[-1], swap[d]
        x = ctx.permute(x, swap)
        d = rank - 1
    op = T().TopKOperation.MAX if largest else T().TopKOperation.MIN
    layer = ctx.network.add_topk(x, op, int(k), 1 << d)
    values, indices = layer.get_output(0), layer.get_output(1)
    indices = ctx.cast(indices, torch.int64)
    if swap is not None:
        values, indices = ctx.permute(values, swap), ctx.permute(indices, swap)
    if squeeze is not None:
        values, indices = ctx.reshape(values, squeeze), ctx.reshape(indices, squeeze)
    if is_bool:
        values = ctx.cast(values, torch.bool)
    return values, indices


def _axis_length(x, dim):
    if not isinstance(x, Traced) or x.shape is None:
        return None
    if len(x.shape) == 0:
        return 1
    d = dim + len(x.shape) if dim < 0 else dim
    return x.shape[d] if 0 <= d < len(x.shape) else None


def _validate_topk(args):
    k = args.get("k")
    if isinstance(k, int) and k > TOPK_MAX_K:
        return f"topk with k={k} (TensorRT's TopK takes k <= {TOPK_MAX_K})"
    return None


@register_node_handler("aten::topk(Tensor self, SymInt k, int dim=-1, bool largest=True, bool sorted=True) "
                       "-> (Tensor values, Tensor indices)", validator=_validate_topk)
def topk_(ctx, self, k, dim=-1, largest=True, sorted=True):
    """``sorted=False`` leaves the order to the implementation: TensorRT's is sorted."""
    return topk(ctx, self, k, dim, largest)


def _validate_sort(args):
    n = _axis_length(args.get("self"), args.get("dim", -1))
    if n is not None and n > TOPK_MAX_K:
        return f"sort along an axis of {n} elements (TensorRT's TopK takes at most {TOPK_MAX_K})"
    return None


@register_node_handler("aten::sort(Tensor self, int dim=-1, bool descending=False) -> (Tensor values, Tensor indices)",
                       validator=_validate_sort)
def sort(ctx, self, dim=-1, descending=False, stable=None):
    """Also ``sort.stable``. Equal values may come in another order than torch's stable sort."""
    shape = ctx.shape(self)
    n = shape[ctx.axis(dim, len(shape))] if shape else 1
    return topk(ctx, self, n, dim, bool(descending))


def _extreme(ctx, x, dim, largest):
    """(values, indices) of the max/min along ``dim`` kept as a size-1 axis. As in torch, a NaN
    wins both ways: a slice holding one gives NaN and the first NaN's index (TensorRT documents
    no NaN order for TopK, so NaNs are located with a TopK of ``isnan`` instead)."""
    values, idx = topk(ctx, x, 1, dim, largest)
    x = ctx.as_tensor(x)
    if not ctx.dtype(x).is_floating_point:
        return values, idx
    nan_count, nan_idx = topk(ctx, ctx.cast(ctx.unary(x, "ISNAN"), torch.int32), 1, dim, True)
    has_nan = ctx.elementwise(nan_count, 0, "GREATER", dtype=torch.int32)
    dtype = ctx.dtype(values)
    return ctx.select(has_nan, float("nan"), values, dtype=dtype), ctx.select(has_nan, nan_idx, idx, dtype=torch.int64)


def _arg(ctx, self, dim, keepdim, largest):
    x = ctx.as_tensor(self)
    shape = ctx.shape(x)
    if dim is None:
        flat = ctx.reshape(x, (1, _numel(shape)))
        _, idx = _extreme(ctx, flat, 1, largest)
        return ctx.reshape(idx, (1,) * len(shape) if keepdim else ())
    _, idx = _extreme(ctx, x, dim, largest)
    if keepdim or not shape:
        return idx
    d = ctx.axis(dim, len(shape))
    return ctx.reshape(idx, shape[:d] + shape[d + 1:])


@register_node_handler("aten::argsort(Tensor self, int dim=-1, bool descending=False) -> Tensor",
                       validator=_validate_sort)
def argsort(ctx, self, dim=-1, descending=False, stable=None):
    """Also ``argsort.stable``: the indices of ``sort`` (same tie order)."""
    return sort(ctx, self, dim, descending, stable)[1]


@register_node_handler("aten::argmax(Tensor self, int? dim=None, bool keepdim=False) -> Tensor")
def argmax(ctx, self, dim=None, keepdim=False):
    return _arg(ctx, self, dim, keepdim, True)


@register_node_handler("aten::argmin(Tensor self, int? dim=None, bool keepdim=False) -> Tensor")
def argmin(ctx, self, dim=None, keepdim=False):
    return _arg(ctx, self, dim, keepdim, False)


def _minmax_dim(ctx, self, dim, keepdim, largest):
    shape = ctx.shape(self)
    values, idx = _extreme(ctx, self, dim, largest)
    if keepdim or not shape:
        return values, idx
    d = ctx.axis(dim, len(shape))
    out = shape[:d] + shape[d + 1:]
    return ctx.reshape(values, out), ctx.reshape(idx, out)


def _full_reduce(ctx, self, op):
    """max()/min() of every element; bools through int32 (TensorRT's MAX/MIN take numbers)."""
    x = ctx.as_tensor(self)
    if ctx.rank(x) == 0:
        return ctx.identity(x)
    if ctx.dtype(x) == torch.bool:
        return ctx.cast(ctx.reduce(ctx.cast(x, torch.int32), op, list(range(ctx.rank(x))), False), torch.bool)
    return ctx.reduce(x, op, list(range(ctx.rank(x))), False)


def _pairwise(ctx, self, other, op):
    """max.other/min.other in the traced result dtype (torch ranks a 0-d tensor operand below one
    with dimensions: int32 with a 0-d int64 is int32); two bools are OR (max) / AND (min)."""
    dtype = _expected_dtype(ctx) or ctx.result_dtype(self, other)
    if dtype == torch.bool:
        op = {"MAX": "OR", "MIN": "AND"}[op]
    return ctx.elementwise(self, other, op, dtype=dtype)


@register_node_handler("aten::max.dim(Tensor self, int dim, bool keepdim=False) -> (Tensor values, Tensor indices)")
def max_dim(ctx, self, dim, keepdim=False):
    return _minmax_dim(ctx, self, dim, keepdim, True)


@register_node_handler("aten::min.dim(Tensor self, int dim, bool keepdim=False) -> (Tensor values, Tensor indices)")
def min_dim(ctx, self, dim, keepdim=False):
    return _minmax_dim(ctx, self, dim, keepdim, False)


@register_node_handler("aten::max.other(Tensor self, Tensor other) -> Tensor")
def max_other(ctx, self, other):
    return _pairwise(ctx, self, other, "MAX")


@register_node_handler("aten::min.other(Tensor self, Tensor other) -> Tensor")
def min_other(ctx, self, other):
    return _pairwise(ctx, self, other, "MIN")


@register_node_handler("aten::max(Tensor self) -> Tensor")
def max_(ctx, self):
    return _full_reduce(ctx, self, "MAX")


@register_node_handler("aten::min(Tensor self) -> Tensor")
def min_(ctx, self):
    return _full_reduce(ctx, self, "MIN")
