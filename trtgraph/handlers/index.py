"""Indexing and data movement: embedding, gather, index.Tensor (advanced indexing), index_select,
take_along_dim; padding (constant, reflect, replicate, circular: one ISliceLayer with the FILL,
REFLECT, CLAMP or WRAP sample mode and a negative start); flip, roll, pixel_(un)shuffle,
movedim/swapaxes.

TensorRT's gather needs indices in ``[0, size)``: torch's advanced indexing also takes negative
ones, so they are wrapped (at conversion time for constant indices, with a select otherwise).
"""
from __future__ import annotations

import torch

from ..context import T
from ..registry import Traced, register_alias, register_node_handler


# ---------------------------------------------------------------------------- helpers

def _numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def _gather(ctx, data, indices, axis, mode="DEFAULT"):
    data = ctx.as_tensor(data)
    if not ctx.is_tensor(indices):
        indices = ctx.constant(indices.long() if indices.dtype not in (torch.int32, torch.int64) else indices)
    layer = ctx.network.add_gather(data, indices, ctx.axis(axis, ctx.rank(data)))
    if mode != "DEFAULT":
        layer.mode = getattr(T().GatherMode, mode)
    return layer.get_output(0)


def expand_to(ctx, x, shape):
    """Broadcast a network tensor to ``shape`` (ints and dynamic sizes; leading 1s added)."""
    from .shape import expand

    return expand(ctx, x, list(shape))


def broadcast_dims(ctx, values) -> list:
    """torch's broadcast of the shapes of ``values`` (network tensors or torch tensors), with
    dynamic sizes as 0-d tensors: each dim is the max over the operands (1 or the common size)."""
    dims = [ctx.dims(v) if ctx.is_tensor(v) else list(v.shape) for v in values]
    rank = max(len(d) for d in dims)
    dims = [[1] * (rank - len(d)) + list(d) for d in dims]
    out = []
    for axis in range(rank):
        sizes = [d[axis] for d in dims]
        static = [s for s in sizes if not ctx.is_tensor(s)]
        if all(not ctx.is_tensor(s) for s in sizes):
            out.append(max(static))
        elif any(s != 1 for s in static):
            out.append(max(s for s in static if s != 1))  # a static non-1 size is the broadcast size
        else:
            size = sizes[0]
            for s in sizes[1:]:
                size = ctx.int_op(size, s, "max")
            out.append(size)
    return out


def _wrap_negative(ctx, idx, size):
    """Torch's negative indices count from the end; TensorRT's gather needs [0, size)."""
    if ctx.is_tensor(size):
        idx = ctx.as_tensor(idx) if not isinstance(idx, torch.Tensor) else ctx.constant(idx.long())
        dtype = ctx.dtype(idx)
        negative = ctx.elementwise(idx, torch.tensor(0, dtype=dtype), "LESS", dtype=dtype)
        shifted = ctx.elementwise(idx, ctx.cast(size, dtype), "SUM", dtype=dtype)
        return ctx.select(negative, shifted, idx, dtype=dtype)
    if not ctx.is_tensor(idx):
        idx = idx.long()
        return torch.where(idx < 0, idx + size, idx)
    dtype = ctx.dtype(idx)
    negative = ctx.elementwise(idx, torch.tensor(0, dtype=dtype), "LESS", dtype=dtype)
    shifted = ctx.elementwise(idx, torch.tensor(size, dtype=dtype), "SUM", dtype=dtype)
    return ctx.select(negative, shifted, idx, dtype=dtype)


def _sample_slice(ctx, x, start, size, mode, fill=None):
    """An ISliceLayer of stride 1 with a sample mode (FILL/REFLECT/CLAMP/WRAP); sizes may be dynamic."""
    return ctx.slice(ctx.as_tensor(x), start, size, [1] * len(start), mode=mode, fill=fill)


# ---------------------------------------------------------------------------- gathers

@register_node_handler("aten::embedding(Tensor weight, Tensor indices, SymInt padding_idx=-1, "
                       "bool scale_grad_by_freq=False, bool sparse=False) -> Tensor")
def embedding(ctx, weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
    return _gather(ctx, weight, indices, 0)


@register_node_handler("aten::index_select(Tensor self, int dim, Tensor index) -> Tensor")
def index_select(ctx, self, dim, index):
    """A gather on ``dim``; a 0-d index keeps the axis (of length 1), as in torch."""
    if ctx.rank(index) != 1:
        index = ctx.reshape(index, (max(1, _numel(ctx.shape(index))),)) if ctx.is_tensor(index) else index.reshape(-1)
    return _gather(ctx, self, index, dim)


def gather_elements(ctx, x, dim, index):
    """torch.gather: ``out[i][j][k] = x[i][index[i][j][k]][k]``; ``index`` may be smaller than
    ``x`` on the other axes (``x`` is cut to its size there first)."""
    x = ctx.as_tensor(x)
    shape = ctx.shape(x)
    d = ctx.axis(dim, len(shape))
    ishape = ctx.shape(index)
    if any(i != s for k, (i, s) in enumerate(zip(ishape, shape)) if k != d):
        size = [s if k == d else i for k, (i, s) in enumerate(zip(ishape, shape))]
        x = ctx.slice(x, [0] * len(shape), size, [1] * len(shape))
    return _gather(ctx, x, index, d, "ELEMENT")


@register_node_handler("aten::gather(Tensor self, int dim, Tensor index, *, bool sparse_grad=False) -> Tensor")
def gather(ctx, self, dim, index, sparse_grad=False):
    if ctx.rank(self) == 0:
        return ctx.identity(self)
    return gather_elements(ctx, self, dim, index)


@register_node_handler("aten::take_along_dim(Tensor self, Tensor indices, int? dim=None) -> Tensor")
def take_along_dim(ctx, self, indices, dim=None):
    x = ctx.as_tensor(self)
    if dim is None:
        x = ctx.reshape(x, (_numel(ctx.shape(x)),))
        idx = ctx.reshape(indices, (_numel(ctx.shape(indices)),)) if ctx.is_tensor(indices) else indices.reshape(-1)
        return _gather(ctx, x, idx, 0, "ELEMENT")
    rank = max(ctx.rank(x), ctx.rank(indices))
    d = ctx.axis(dim, rank)
    x = ctx.unsqueeze_to_rank(x, rank)
    xs = ctx.shape(x)
    ishape = (1,) * (rank - ctx.rank(indices)) + tuple(ctx.shape(indices))
    common = [max(a, b) for a, b in zip(xs, ishape)]
    xt = expand_to(ctx, x, [xs[k] if k == d else common[k] for k in range(rank)])
    target = [ishape[k] if k == d else common[k] for k in range(rank)]
    if ctx.is_tensor(indices):
        idx = expand_to(ctx, indices, target)
    else:
        idx = indices.reshape(ishape).expand(target).contiguous()
    return _gather(ctx, xt, idx, d, "ELEMENT")


def _validate_index(args):
    indices = args.get("indices")
    for ind in indices if isinstance(indices, (list, tuple)) else []:
        if isinstance(ind, Traced) and ind.dynamic and ind.dtype in (torch.bool, torch.uint8):
            return ("indexing with a boolean mask computed from the inputs (the output shape depends on "
                    "the mask's values)")
    return None


@register_node_handler("aten::index.Tensor(Tensor self, Tensor?[] indices) -> Tensor", validator=_validate_index)
def index(ctx, self, indices):
    """Advanced indexing ``x[..., i, j, ...]``: index tensors broadcast together to a shape B. One
    index: a gather on its axis. Several: a gather ND over the indexed axes moved to the front; B
    takes the place of the indexed axes when they are adjacent, else it leads (numpy's rule)."""
    x = ctx.as_tensor(self)
    shape = ctx.shape(x)
    rank = len(shape)
    per_dim = []
    for ind in indices:
        if ind is None:
            per_dim.append(None)
            continue
        if ctx.is_tensor(ind) and ctx.dtype(ind) in (torch.bool, torch.uint8):
            raise ctx.error("indexing with a boolean mask computed from the inputs (the output shape depends "
                            "on the mask's values)", "indices")
        if not ctx.is_tensor(ind) and ind.dtype in (torch.bool, torch.uint8):
            per_dim.extend(ind.bool().nonzero(as_tuple=True))  # a constant mask: its coordinates
            continue
        pos = len(per_dim)
        if pos >= rank:
            raise ctx.error(f"too many indices for a tensor of rank {rank}", "indices")
        per_dim.append(_wrap_negative(ctx, ind, ctx.dim_size(x, pos)))
    per_dim += [None] * (rank - len(per_dim))
    positions = [k for k, v in enumerate(per_dim) if v is not None]
    if not positions:
        return ctx.identity(x)
    dynamic = any(ctx.is_dynamic(per_dim[k]) for k in positions)
    if dynamic:
        bshape = broadcast_dims(ctx, [per_dim[k] for k in positions])
    else:
        bshape = tuple(torch.broadcast_shapes(*[tuple(ctx.shape(per_dim[k])) for k in positions]))
    if len(positions) == 1:
        return _gather(ctx, x, per_dim[positions[0]], positions[0])
    rest = [k for k in range(rank) if k not in positions]
    xt = ctx.permute(x, positions + rest) if positions + rest != list(range(rank)) else x
    if all(not ctx.is_tensor(per_dim[k]) for k in positions):
        stacked = torch.stack([per_dim[k].long().expand(bshape) for k in positions], -1).contiguous()
        stacked = ctx.constant(stacked)
    else:
        cols = []
        for k in positions:
            v = per_dim[k]
            v = ctx.cast(v, torch.int64) if ctx.is_tensor(v) else v.long()
            v = expand_to(ctx, v, bshape)
            cols.append(ctx.reshape(v, list(bshape) + [1]))
        stacked = ctx.concat(cols, len(bshape))
    y = _gather(ctx, xt, stacked, 0, "ND")
    adjacent = positions == list(range(positions[0], positions[-1] + 1))
    p = positions[0]
    if adjacent and p > 0:
        nb = len(bshape)
        perm = [nb + j for j in range(p)] + list(range(nb)) + [nb + j for j in range(p, len(rest))]
        y = ctx.permute(y, perm)
    return y


# ---------------------------------------------------------------------------- padding

_PAD_MODES = {"constant": "FILL", "reflect": "REFLECT", "replicate": "CLAMP", "circular": "WRAP"}


def pad_tensor(ctx, x, pads, mode="constant", value=None):
    """torch's pad list (last axis first, before/after pairs; negative crops) as one slice."""
    x = ctx.as_tensor(x)
    rank = ctx.rank(x)
    start, size = [0] * rank, ctx.dims(x)
    if all(int(p) == 0 for p in pads):
        return ctx.identity(x)
    if mode == "circular" and any(int(p) < 0 for p in pads) and any(int(p) > 0 for p in pads):
        # torch crops first and wraps around what is left: (1, -1) on [0..5] gives [4, 0, .., 4]
        cropped = pad_tensor(ctx, x, [min(int(p), 0) for p in pads], "constant")
        return pad_tensor(ctx, cropped, [max(int(p), 0) for p in pads], "circular")
    for i in range(len(pads) // 2):
        d = rank - 1 - i
        before, after = int(pads[2 * i]), int(pads[2 * i + 1])
        start[d] = -before
        size[d] = ctx.int_op(size[d], before + after, "add")
    kind = _PAD_MODES[mode]
    fill = None
    if kind == "FILL" and value is not None and value != 0:
        dtype = ctx.dtype(x)
        fill = ctx.constant(torch.tensor(value).to(dtype), dtype)
    return _sample_slice(ctx, x, start, size, kind, fill)


def _validate_pad(args):
    mode = args.get("mode", "constant")
    if mode not in _PAD_MODES:
        return f"padding mode {mode!r}"
    return None


@register_node_handler("aten::pad(Tensor self, SymInt[] pad, str mode=\"constant\", float? value=None) -> Tensor",
                       validator=_validate_pad)
def pad_(ctx, self, pad, mode="constant", value=None):
    return pad_tensor(ctx, self, pad, mode, value)


@register_node_handler("aten::constant_pad_nd(Tensor self, SymInt[] pad, Scalar value=0) -> Tensor")
def constant_pad_nd(ctx, self, pad, value=0):
    return pad_tensor(ctx, self, pad, "constant", value)


_ENUM_MODES = {0: "reflect", 1: "replicate", 2: "circular", 3: "constant"}  # at::padding_mode


@register_node_handler("aten::_pad_enum(Tensor self, SymInt[] pad, int mode, float? value=None) -> Tensor",
                       validator=lambda a: None if a.get("mode") in _ENUM_MODES else f"padding mode {a.get('mode')}")
def _pad_enum(ctx, self, pad, mode, value=None):
    return pad_tensor(ctx, self, pad, _ENUM_MODES[mode], value)


@register_node_handler("aten::_pad_circular(Tensor self, SymInt[] pad) -> Tensor")
def _pad_circular(ctx, self, pad):
    return pad_tensor(ctx, self, pad, "circular")


def _pad_family(name, mode):
    def handler(ctx, self, padding):
        return pad_tensor(ctx, self, padding, mode)
    handler.__name__ = name
    register_node_handler(f"aten::{name}")(handler)


for _n in (1, 2, 3):
    _pad_family(f"reflection_pad{_n}d", "reflect")
    _pad_family(f"replication_pad{_n}d", "replicate")


# ---------------------------------------------------------------------------- flip, roll

@register_node_handler("aten::flip(Tensor self, int[] dims) -> Tensor")
def flip(ctx, self, dims):
    x = ctx.as_tensor(self)
    shape = ctx.shape(x)
    rank = len(shape)
    axes = {ctx.axis(d, rank) for d in dims}
    axes = {d for d in axes if rank and shape[d] != 1}
    if not axes:
        return ctx.identity(x)
    start = [ctx.int_op(ctx.dim_size(x, d), 1, "sub") if d in axes else 0 for d in range(rank)]
    stride = [-1 if d in axes else 1 for d in range(rank)]
    return ctx.slice(x, start, ctx.dims(x), stride)


@register_node_handler("aten::roll(Tensor self, SymInt[1] shifts, int[1] dims=[]) -> Tensor")
def roll(ctx, self, shifts, dims=()):
    """``out[i] = x[(i - shift) mod n]``: one slice in WRAP mode starting at ``n - shift``."""
    x = ctx.as_tensor(self)
    shape = ctx.shape(x)
    shifts = list(shifts) if isinstance(shifts, (list, tuple)) else [shifts]
    dims = list(dims) if isinstance(dims, (list, tuple)) else [dims]
    if not dims:
        shape = ctx.require_static(x, "self", None, "roll without dims shifts the flattened tensor")
        n = _numel(shape)
        flat = ctx.reshape(x, (n,))
        return ctx.reshape(_sample_slice(ctx, flat, [(-shifts[0]) % n if n else 0], [n], "WRAP"), shape)
    rank = len(shape)
    start = [0] * rank
    for s, d in zip(shifts, dims):
        d = ctx.axis(d, rank)
        length = ctx.require_static(x, "self", [d], "the shift wraps around the dimension's size")[d]
        start[d] = (start[d] - s) % length if length else 0
    if all(s == 0 for s in start):
        return ctx.identity(x)
    return _sample_slice(ctx, x, start, ctx.dims(x), "WRAP")


# ---------------------------------------------------------------------------- pixel shuffle

@register_node_handler("aten::pixel_shuffle(Tensor self, int upscale_factor) -> Tensor")
def pixel_shuffle(ctx, self, upscale_factor):
    r = int(upscale_factor)
    shape = ctx.shape(self)
    lead, (c, h, w) = tuple(shape[:-3]), shape[-3:]
    n = _numel(lead)
    oc = c // (r * r)
    y = ctx.reshape(self, (n, oc, r, r, h, w))
    y = ctx.permute(y, (0, 1, 4, 2, 5, 3))
    return ctx.reshape(y, lead + (oc, h * r, w * r))


@register_node_handler("aten::pixel_unshuffle(Tensor self, int downscale_factor) -> Tensor")
def pixel_unshuffle(ctx, self, downscale_factor):
    r = int(downscale_factor)
    shape = ctx.shape(self)
    lead, (c, h, w) = tuple(shape[:-3]), shape[-3:]
    n = _numel(lead)
    y = ctx.reshape(self, (n, c, h // r, r, w // r, r))
    y = ctx.permute(y, (0, 1, 3, 5, 2, 4))
    return ctx.reshape(y, lead + (c * r * r, h // r, w // r))


# ---------------------------------------------------------------------------- axis moves

# aliases of transpose, one line each (shape.py registers aten::transpose before this module)
register_alias("aten::swapdims", "aten::transpose.int")
register_alias("aten::swapaxes", "aten::transpose.int", rename={"axis0": "dim0", "axis1": "dim1"})


def _movedim(ctx, self, source, destination):
    rank = ctx.rank(self)
    src = [ctx.axis(s, rank) for s in (source if isinstance(source, (list, tuple)) else [source])]
    dst = [ctx.axis(d, rank) for d in (destination if isinstance(destination, (list, tuple)) else [destination])]
    if rank == 0:
        return ctx.identity(self)
    perm = [-1] * rank
    for s, d in zip(src, dst):
        perm[d] = s
    rest = iter(k for k in range(rank) if k not in src)
    perm = [p if p >= 0 else next(rest) for p in perm]
    return ctx.permute(self, perm)


@register_node_handler("aten::movedim(Tensor(a) self, int[] source, int[] destination) -> Tensor(a)")
def movedim(ctx, self, source, destination):
    return _movedim(ctx, self, source, destination)


@register_node_handler("aten::moveaxis(Tensor(a) self, int[] source, int[] destination) -> Tensor(a)")
def moveaxis(ctx, self, source, destination):
    return _movedim(ctx, self, source, destination)


@register_node_handler("aten::unflatten.int(Tensor(a) self, int dim, SymInt[] sizes) -> Tensor(a)")
def unflatten(ctx, self, dim, sizes):
    """(A shape op, here because nn.MultiheadAttention's general path needs it.)"""
    shape = list(ctx.shape(self))
    d = ctx.axis(dim, len(shape))
    sizes = [int(s) for s in sizes]
    if -1 in sizes:
        known = _numel([s for s in sizes if s != -1])
        sizes[sizes.index(-1)] = shape[d] // known
    return ctx.reshape(self, shape[:d] + sizes + shape[d + 1:])
