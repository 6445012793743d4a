"""Sizes that follow dynamic input dimensions.

With static shapes the walker folds ``aten::size`` & co. to Python ints. When a dimension is
dynamic, its size is a 0-d int64 network tensor read from the shape (``ctx.dim_size``); the
arithmetic the trace recorded on it (``aten::add``/``mul``/``floor_divide`` on 0-d tensors from
``prim::NumToTensor``) runs in the network, and ``aten::Int`` hands it on to the shape handlers
(view, expand, slice, full, ...), which build shape tensors from such sizes.
"""
from __future__ import annotations

import torch

from ..registry import Traced, register_node_handler


@register_node_handler("aten::size.int(Tensor self, int dim) -> int")
def size_int(ctx, self, dim):
    return ctx.dim_size(self, dim)


@register_node_handler("aten::size(Tensor self) -> int[]")
def size(ctx, self):
    return ctx.dims(self)


@register_node_handler("aten::numel(Tensor self) -> int")
def numel(ctx, self):
    n = 1
    for d in ctx.dims(self):
        n = ctx.int_op(n, d, "mul")
    return n


def _only_sizes(args):
    a = args.get("a")
    if isinstance(a, Traced) and a.dynamic and not a.size:
        return ("a Python number read from tensor data (int()/.item() of a computed tensor): the traced value "
                "would be baked into the network; keep it a tensor")
    return None


@register_node_handler("aten::Int.Tensor(Tensor a) -> int", validator=_only_sizes)
def int_(ctx, a):
    """A size passed on as an int: it stays a 0-d int64 network tensor."""
    if ctx.rank(a) != 0:
        raise ctx.error(f"expected a 0-d tensor, got shape {ctx.shape(a)}", "a")
    return ctx.cast(a, torch.int64)


@register_node_handler("aten::_shape_as_tensor(Tensor self) -> Tensor")
def shape_as_tensor(ctx, self):
    """``torch._shape_as_tensor(x)`` (torchvision's tracing helpers): the shape as a 1-d int64
    tensor; folded to a constant where the shape is static."""
    return ctx.shape_tensor(ctx.dims(self))
