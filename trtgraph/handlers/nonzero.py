"""``nonzero`` (and ``nonzero(as_tuple=True)``, traced as ``nonzero_numpy``): the coordinates of the non-zero elements, one row per element in row-major order.

TensorRT's NonZero layer gives them transposed (``[rank, count]``; asked for int64), so the handler transposes
the result to torch's ``[count, rank]``. ``count`` depends on the input data: the output has a
data-dependent dimension, which standard TensorRT builds (and sizes at run time with an output
allocator). TensorRT-RTX 1.7.1 adds the layer but fails to build any network that contains it, so
on RTX the op is refused up front, before anything is converted.
"""
from __future__ import annotations

import torch

from .. import backend
from ..registry import register_node_handler


def rtx_cannot_build() -> bool:
    """True when the TensorRT in use is TensorRT-RTX, whose builder rejects the NonZero layer."""
    return backend.is_rtx()


def _validate(args):
    if rtx_cannot_build():
        return (f"nonzero: TensorRT-RTX ({backend.flavour()} {backend.version()}) cannot build the NonZero "
                "layer (the network is accepted, the engine build fails); standard TensorRT 10/11 builds it. "
                "Compute the indices outside the converted model, or use a mask instead of indices "
                "(e.g. torch.where(mask, x, 0) instead of x[mask.nonzero(as_tuple=True)])")
    return None


def _indices(ctx, self):
    """The NonZero layer's ``[rank, count]`` int64 indices of ``self``."""
    x = ctx.as_tensor(self)
    if ctx.rank(x) == 0:
        # torch treats a 0-d tensor as one element: [1, 0] or [0, 0] indices; TensorRT needs rank >= 1
        raise ctx.error("nonzero of a 0-d tensor is not supported (its result has no index columns); "
                        "reshape it to one element first", arg="self")
    if ctx.dtype(x) != torch.bool and not ctx.dtype(x).is_floating_point and ctx.dtype(x) not in (torch.int32, torch.int64):
        x = ctx.cast(x, torch.int32)
    layer = ctx.network.add_non_zero(x)
    if hasattr(layer, "indices_type"):  # int32 by default; torch's indices are int64
        layer.indices_type = backend.trt().DataType.INT64
    return ctx.cast(layer.get_output(0), torch.int64)  # a no-op when already int64


@register_node_handler("aten::nonzero(Tensor self) -> Tensor", validator=_validate)
def nonzero(ctx, self):
    return ctx.permute(_indices(ctx, self), [1, 0])


@register_node_handler("aten::nonzero_numpy(Tensor self) -> Tensor[]", validator=_validate)
def nonzero_numpy(ctx, self):
    """``nonzero(as_tuple=True)``: one 1-D index tensor per dimension (the rows of the layer's output)."""
    indices = _indices(ctx, self)
    rows = []
    for d in range(ctx.rank(self)):
        axis = ctx.constant(torch.tensor(d, dtype=torch.int32))
        rows.append(ctx.network.add_gather(indices, axis, 0).get_output(0))
    return rows
