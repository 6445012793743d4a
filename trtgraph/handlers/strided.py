"""Gathers at positions computed at conversion time: ``diagonal`` and ``as_strided`` (a gather from
the row-major flattening of the input)."""
from __future__ import annotations

import torch

from ..registry import register_node_handler
from .index import _gather


def _numel(shape):
    n = 1
    for s in shape:
        n *= int(s)
    return n


# ---------------------------------------------------------------------------- computed gathers

@register_node_handler("aten::diagonal(Tensor(a) self, int offset=0, int dim1=0, int dim2=1) -> Tensor(a)")
def diagonal(ctx, self, offset=0, dim1=0, dim2=1):
    """dim1 and dim2 moved last and flattened; a gather of the diagonal's flat positions."""
    x = ctx.as_tensor(self)
    rank = ctx.rank(x)
    d1, d2 = ctx.axis(dim1, rank), ctx.axis(dim2, rank)
    if d1 == d2:
        raise ctx.error("dim1 and dim2 must differ", "dim2")
    shape = ctx.require_static(x, "self", [d1, d2], "the diagonal's positions are computed at conversion time")
    n1, n2 = shape[d1], shape[d2]
    r0, c0 = max(-offset, 0), max(offset, 0)
    length = max(0, min(n1 - r0, n2 - c0))
    if length == 0:
        raise ctx.error(f"offset {offset} leaves an empty diagonal, which is not supported", "offset")
    rest = [k for k in range(rank) if k not in (d1, d2)]
    xt = ctx.permute(x, rest + [d1, d2])
    dims = ctx.dims(xt)
    flat = ctx.reshape(xt, dims[:-2] + [n1 * n2])
    k = torch.arange(length)
    return _gather(ctx, flat, (k + r0) * n2 + (k + c0), rank - 2)


@register_node_handler("aten::as_strided(Tensor(a) self, SymInt[] size, SymInt[] stride, SymInt? storage_offset=None) "
                       "-> Tensor(a)")
def as_strided(ctx, self, size, stride, storage_offset=None):
    """A gather from the row-major flattening of ``self``. Offsets and strides count elements of
    ``self`` as a fresh contiguous tensor: a non-contiguous input (a transposed or strided view in
    eager torch, whose storage order differs from its logical order) is refused."""
    x = ctx.as_tensor(self)
    shape = ctx.require_static(x, "self", None, "the read positions are computed at conversion time")
    if any(ctx.is_tensor(v) for v in list(size) + list(stride)) or ctx.is_tensor(storage_offset):
        raise ctx.error("sizes, strides and offsets computed from the inputs are not supported", "size")
    jit_type = ctx.node.inputsAt(0).type() if ctx.node is not None else None
    strides = jit_type.strides() if jit_type is not None and hasattr(jit_type, "strides") else None
    contiguous = [_numel(shape[k + 1:]) for k in range(len(shape))]
    if strides is not None and any(s != c for s, c, n in zip(strides, contiguous, shape) if n > 1):
        raise ctx.error(f"the input is not contiguous in the trace (strides {tuple(strides)}): as_strided reads "
                        "its storage, whose order differs from the tensor's logical order", "self")
    if storage_offset is not None and int(storage_offset) != 0 and ctx.node is not None and \
            ctx.node.inputsAt(0).node().kind() not in ("prim::Param",):
        producer = ctx.node.inputsAt(0).node().kind()
        if producer in ("aten::slice", "aten::select", "aten::narrow", "aten::view", "aten::reshape",
                        "aten::diagonal", "aten::as_strided", "aten::unsqueeze", "aten::squeeze", "aten::expand"):
            raise ctx.error(f"an explicit storage_offset on a view ({producer}) is measured from the base tensor's "
                            "storage, which the network does not have", "storage_offset")
    offset = int(storage_offset or 0)
    pos = torch.full([int(s) for s in size], offset, dtype=torch.int64)
    for k, (n, st) in enumerate(zip(size, stride)):
        view = [1] * len(size)
        view[k] = int(n)
        pos = pos + torch.arange(int(n)).reshape(view) * int(st)
    total = _numel(shape)
    if pos.numel() and (int(pos.min()) < 0 or int(pos.max()) >= total):
        raise ctx.error(f"reads positions {int(pos.min())}..{int(pos.max())} outside the input's {total} elements",
                        "size")
    flat = ctx.reshape(x, [total])
    if len(size) == 0:
        return ctx.reshape(_gather(ctx, flat, pos.reshape(1), 0), [])
    return _gather(ctx, flat, pos, 0)
