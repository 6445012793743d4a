"""Writes into tensors (the scatter family).

- ``slice_scatter``/``select_scatter``: a concatenation for unit steps, else an element scatter
  with constant positions;
- ``index_copy``, ``scatter`` (src/value) and ``index_put`` without accumulation: TensorRT's
  IScatterLayer (ELEMENT / ND). With duplicate positions torch documents the result as undefined,
  and so does TensorRT; no case relies on an order;
- reductions into positions (``index_put(accumulate=True)``, ``scatter(reduce=add|multiply)``,
  ``scatter_add``, ``scatter_reduce``): never a scatter, whose writes to a duplicate position
  would race. A one-hot comparison of the positions with every target index selects the values
  that land on each target, which a reduction (or a matrix product for float sums) combines,
  so duplicates add up exactly as in torch;

``diagonal`` and ``as_strided`` (gathers at computed positions) are in
:mod:`trtgraph.handlers.strided` (re-exported here).
"""
from __future__ import annotations

import torch

from ..context import T
from ..registry import Traced, register_node_handler
from .index import _wrap_negative, broadcast_dims, expand_to
from .shape import _END, slice_
from .strided import as_strided, diagonal, _numel  # noqa: F401


ONE_HOT_LIMIT = 1 << 26  # elements of a one-hot intermediate before a reduction is refused


def _check_one_hot(ctx, elements, what):
    if elements > ONE_HOT_LIMIT:
        raise ctx.error(f"{what} needs a one-hot intermediate of {elements} elements (limit {ONE_HOT_LIMIT}): "
                        "duplicate positions are summed exactly through it, and TensorRT's scatter cannot "
                        "accumulate; reduce the tensor sizes", "index")


def _scatter(ctx, data, indices, updates, mode, axis=0):
    data = ctx.as_tensor(data)
    if not ctx.is_tensor(indices):
        indices = ctx.constant(indices.long())
    updates = ctx.as_tensor(updates, ctx.dtype(data))
    layer = ctx.network.add_scatter(data, indices, updates, getattr(T().ScatterMode, mode))
    if mode == "ELEMENT":
        layer.axis = ctx.axis(axis, ctx.rank(data))
    return layer.get_output(0)


def _full(ctx, shape, value, dtype):
    return ctx.constant(torch.full(tuple(shape), value, dtype=dtype))


def _fill_value(dtype, which):
    """Identity element of a reduction in ``dtype``."""
    if which in ("sum", "mean"):
        return 0
    if which == "prod":
        return 1
    if dtype.is_floating_point:
        return float("-inf") if which == "amax" else float("inf")
    if dtype == torch.bool:
        return which == "amin"
    info = torch.iinfo(dtype)
    return info.min if which == "amax" else info.max


# ---------------------------------------------------------------------------- slice / select scatter

@register_node_handler("aten::slice_scatter(Tensor self, Tensor src, int dim=0, SymInt? start=None, SymInt? end=None, "
                       "SymInt step=1) -> Tensor")
def slice_scatter(ctx, self, src, dim=0, start=None, end=None, step=1):
    x = ctx.as_tensor(self)
    shape = ctx.shape(x)
    d = ctx.axis(dim, len(shape))
    if any(ctx.is_tensor(v) for v in (start, end, step)):
        raise ctx.error("slice bounds computed from the inputs are not supported", "start")
    length = ctx.require_static(x, "self", [d], "the written positions are computed at conversion time")[d]
    s, e, step = slice(start, None if end is None or end >= _END else end, step).indices(length)
    count = max(0, -(-(e - s) // step))
    src = ctx.as_tensor(src, ctx.dtype(x))
    if count == 0:
        return ctx.identity(x)
    if step == 1:
        parts = []
        if s > 0:
            parts.append(slice_(ctx, x, d, 0, s, 1))
        parts.append(src)
        if s + count < length:
            parts.append(slice_(ctx, x, d, s + count, length, 1))
        return ctx.concat(parts, d) if len(parts) > 1 else ctx.identity(src)
    src_shape = ctx.require_static(src, "src", None, "an element scatter needs a constant index tensor")
    pos = (s + step * torch.arange(count)).reshape([count if k == d else 1 for k in range(len(shape))])
    return _scatter(ctx, x, pos.expand(src_shape).contiguous(), src, "ELEMENT", d)


@register_node_handler("aten::select_scatter(Tensor self, Tensor src, int dim, SymInt index) -> Tensor")
def select_scatter(ctx, self, src, dim, index):
    x = ctx.as_tensor(self)
    d = ctx.axis(dim, ctx.rank(x))
    length = ctx.require_static(x, "self", [d])[d]
    if ctx.is_tensor(index):
        raise ctx.error("an index computed from the inputs is not supported", "index")
    i = index + length if index < 0 else index
    if not 0 <= i < length:
        raise ctx.error(f"index {index} is out of range for dimension {dim} of size {length}", "index")
    src = ctx.as_tensor(src, ctx.dtype(x))
    dims = ctx.dims(src)
    src = ctx.reshape(src, dims[:d] + [1] + dims[d:])
    return slice_scatter(ctx, x, src, d, i, i + 1, 1)


# ---------------------------------------------------------------------------- one-hot reductions

def _onehot_reduce(ctx, x, d, index, src, which, include_self=True):
    """Reduce ``src`` (shaped like ``index``) into ``x`` along ``d`` at the positions in ``index``
    (torch's scatter_reduce), duplicates included. Returns the new tensor."""
    shape = ctx.require_static(x, "self", None, "the one-hot comparison covers every target position")
    rank = len(shape)
    dtype = ctx.dtype(x)
    ishape = list(ctx.require_static(index, "index"))
    n = shape[d]
    _check_one_hot(ctx, n * _numel(ishape), "a scatter reduction")
    idx = ctx.cast(ctx.as_tensor(index), torch.int64)
    idx = ctx.reshape(idx, ishape[:d] + [1] + ishape[d:])
    ks = ctx.constant(torch.arange(n).reshape([1] * d + [n] + [1] * (rank - d)))
    hit = ctx.elementwise(idx, ks, "EQUAL", dtype=torch.int64)  # I[:d] + [n] + I[d:]
    src = ctx.as_tensor(src, dtype)
    src_shape = ctx.shape(src)
    if list(src_shape) != ishape:
        src = ctx.slice(src, [0] * rank, ishape, [1] * rank)
    src = ctx.reshape(src, ishape[:d] + [1] + ishape[d:])
    empty = _fill_value(dtype, which)
    op = {"sum": "SUM", "mean": "SUM", "prod": "PROD", "amax": "MAX", "amin": "MIN"}[which]
    filler = _full(ctx, [1] * (rank + 1), empty, dtype)
    picked = ctx.select(hit, src, filler, dtype=dtype)
    if dtype == torch.bool:
        picked = ctx.cast(picked, torch.int32)
    red = ctx.reduce(picked, op, [d + 1], False)  # I[:d] + [n] + I[d+1:]
    count = ctx.reduce(ctx.cast(hit, torch.int32), "SUM", [d + 1], False)
    # place the block over the first index-sized corner of x; elsewhere nothing lands
    part = [n if k == d else ishape[k] for k in range(rank)]
    if part != list(shape):
        fill_c = ctx.constant(torch.tensor(empty, dtype=ctx.dtype(red)))
        red = ctx.slice(red, [0] * rank, list(shape), [1] * rank, mode="FILL", fill=fill_c)
        count = ctx.slice(count, [0] * rank, list(shape), [1] * rank, mode="FILL")
    if dtype == torch.bool:
        red = ctx.cast(red, torch.bool)
    landed = ctx.elementwise(count, 0, "GREATER", dtype=torch.int32)
    if which == "mean":
        if dtype == torch.bool:
            raise ctx.error("scatter_reduce 'mean' of bool tensors (torch refuses it too)", "reduce")
        total = ctx.elementwise(red, x, "SUM", dtype=dtype) if include_self else red
        cnt = ctx.cast(ctx.elementwise(count, 1 if include_self else 0, "SUM", dtype=torch.int32), dtype)
        safe = ctx.elementwise(cnt, 1, "MAX", dtype=dtype)
        # torch divides integer sums with floor rounding
        mean = ctx.elementwise(total, safe, "DIV" if dtype.is_floating_point else "FLOOR_DIV", dtype=dtype)
        return ctx.select(landed, mean, x, dtype=dtype)
    if dtype == torch.bool:  # sum/amax of bools is OR, prod/amin is AND
        combined = ctx.elementwise(x, red, "OR" if which in ("sum", "amax") else "AND", dtype=torch.bool)
    else:
        combined = ctx.elementwise(x, red, op, dtype=dtype)
    if include_self:
        return combined if which in ("sum", "prod") else ctx.select(landed, combined, x)
    return ctx.select(landed, red, x)


_LEGACY_REDUCE = {"add": "sum", "multiply": "prod"}


def _check_reduce(args):
    reduce = args.get("reduce")
    if reduce is not None and reduce not in _LEGACY_REDUCE and reduce not in ("sum", "prod", "mean", "amax", "amin"):
        return f"scatter reduce mode {reduce!r} (torch allows add/multiply, or sum/prod/mean/amax/amin)"
    return None


@register_node_handler("aten::scatter", validator=_check_reduce)
def scatter(ctx, self, dim, index, src=None, value=None, reduce=None):
    """Overloads src, value, reduce (src with add/multiply) and value_reduce."""
    x = ctx.as_tensor(self)
    rank = ctx.rank(x)
    d = ctx.axis(dim, max(rank, 1))
    dtype = ctx.dtype(x)
    ishape = ctx.require_static(index, "index", None, "the positions' shape selects the written block")
    if src is None:
        src = ctx.constant(torch.full(tuple(ishape), value, dtype=dtype))
    if reduce is not None:
        return _onehot_reduce(ctx, x, d, index, src, _LEGACY_REDUCE[reduce])
    src = ctx.as_tensor(src, dtype)
    if list(ctx.shape(src)) != list(ishape):
        src = ctx.slice(src, [0] * rank, list(ishape), [1] * rank)
    idx = index if not ctx.is_tensor(index) else ctx.cast(index, torch.int64)
    return _scatter(ctx, x, idx, src, "ELEMENT", d)


@register_node_handler("aten::scatter_add(Tensor self, int dim, Tensor index, Tensor src) -> Tensor")
def scatter_add(ctx, self, dim, index, src):
    x = ctx.as_tensor(self)
    return _onehot_reduce(ctx, x, ctx.axis(dim, max(ctx.rank(x), 1)), index, src, "sum")


@register_node_handler("aten::scatter_reduce.two(Tensor self, int dim, Tensor index, Tensor src, str reduce, *, "
                       "bool include_self=True) -> Tensor", validator=_check_reduce)
def scatter_reduce(ctx, self, dim, index, src, reduce, include_self=True):
    x = ctx.as_tensor(self)
    return _onehot_reduce(ctx, x, ctx.axis(dim, max(ctx.rank(x), 1)), index, src, reduce, include_self)


# ---------------------------------------------------------------------------- index_copy / index_put

@register_node_handler("aten::index_copy(Tensor self, int dim, Tensor index, Tensor source) -> Tensor")
def index_copy(ctx, self, dim, index, source):
    """``out.select(dim, index[i]) = source.select(dim, i)``: an element scatter with the 1-d index
    broadcast over ``source``."""
    x = ctx.as_tensor(self)
    rank = ctx.rank(x)
    d = ctx.axis(dim, max(rank, 1))
    src = ctx.as_tensor(source, ctx.dtype(x))
    if rank == 0:
        return ctx.identity(src)
    sdims = ctx.dims(src)
    if ctx.is_tensor(index):
        idx = _wrap_negative(ctx, ctx.cast(index, torch.int64), ctx.dim_size(x, d))
        idx = ctx.reshape(idx, [1] * d + [-1] + [1] * (rank - d - 1))
        idx = expand_to(ctx, idx, sdims)
    else:
        idx = _wrap_negative(ctx, index.reshape(-1), ctx.shape(x)[d])
        idx = idx.reshape([1] * d + [-1] + [1] * (rank - d - 1)).expand(ctx.require_static(src, "source")).contiguous()
    return _scatter(ctx, x, idx, src, "ELEMENT", d)


def _validate_index_put(args):
    indices = args.get("indices")
    for ind in indices if isinstance(indices, (list, tuple)) else []:
        if isinstance(ind, Traced) and ind.dynamic and ind.dtype in (torch.bool, torch.uint8) and len(indices) > 1:
            return ("index_put with a boolean mask computed from the inputs together with other indices (the "
                    "positions depend on the mask's values)")
    return None


def _mask_put(ctx, x, mask, values, accumulate):
    """``x[mask] = values`` for one boolean mask over the leading dims: a select, when the values
    broadcast over the masked elements (a scalar, or one row of the trailing dims)."""
    shape = ctx.shape(x)
    mshape = ctx.shape(mask)
    if tuple(shape[:len(mshape)]) != tuple(mshape):
        raise ctx.error(f"boolean mask of shape {tuple(mshape)} does not match the leading dims of {tuple(shape)}",
                        "indices")
    vals = ctx.as_tensor(values, ctx.dtype(x))
    vshape = ctx.shape(vals)
    trailing = tuple(shape[len(mshape):])
    row = bool(trailing) and tuple(vshape[-len(trailing):]) == trailing and _numel(vshape) == _numel(trailing)
    if _numel(vshape) != 1 and not row:
        raise ctx.error("index_put with a boolean mask computed from the inputs needs values that broadcast over "
                        "the selected elements (a scalar or one row): the number of selected elements depends "
                        "on data", "values")
    if _numel(vshape) == 1:
        vals = ctx.reshape(vals, [1] * len(shape))
    else:
        vals = ctx.reshape(vals, [1] * len(mshape) + list(trailing))
    m = ctx.reshape(ctx.cast(mask, torch.bool), list(mshape) + [1] * len(trailing))
    if accumulate:
        vals = ctx.elementwise(x, vals, "SUM")
    return ctx.select(m, vals, x, dtype=ctx.dtype(x))


@register_node_handler("aten::index_put(Tensor self, Tensor?[] indices, Tensor values, bool accumulate=False) "
                       "-> Tensor",
                       validator=_validate_index_put)
def index_put(ctx, self, indices, values, accumulate=False):
    """``x[indices] = values`` (``+=`` with ``accumulate``), numpy's placement rule for the indexed
    dims. Integer positions: a scatter ND over the indexed dims moved to the front; with
    ``accumulate``, a one-hot matrix of the flattened positions sums duplicates exactly."""
    x = ctx.as_tensor(self)
    shape = ctx.require_static(x, "self", None, "the written positions are checked at conversion time")
    rank = len(shape)
    dtype = ctx.dtype(x)
    real = [i for i in indices if i is not None]
    if len(indices) == 1 and ctx.is_tensor(real[0]) and ctx.dtype(real[0]) in (torch.bool, torch.uint8):
        return _mask_put(ctx, x, real[0], values, accumulate)
    per_dim = []
    for ind in indices:
        if ind is None:
            per_dim.append(None)
            continue
        if ctx.is_tensor(ind) and ctx.dtype(ind) in (torch.bool, torch.uint8):
            raise ctx.error("a boolean mask computed from the inputs can only be the first and only index "
                            "(elsewhere the positions depend on its values)", "indices")
        if not ctx.is_tensor(ind) and ind.dtype in (torch.bool, torch.uint8):
            per_dim.extend(ind.bool().nonzero(as_tuple=True))
            continue
        if len(per_dim) >= rank:
            raise ctx.error(f"too many indices for a tensor of rank {rank}", "indices")
        ind = ind if not ctx.is_tensor(ind) else ctx.cast(ind, torch.int64)
        per_dim.append(_wrap_negative(ctx, ind, shape[len(per_dim)]))
    per_dim += [None] * (rank - len(per_dim))
    positions = [k for k, v in enumerate(per_dim) if v is not None]
    if not positions:
        raise ctx.error("index_put without any index tensor", "indices")
    rest = [k for k in range(rank) if k not in positions]
    bshape = [int(b) for b in broadcast_dims(ctx, [per_dim[k] for k in positions])]
    rest_shape = [shape[k] for k in rest]
    # the shape of x[indices] (numpy's rule), to which values broadcast
    adjacent = positions == list(range(positions[0], positions[-1] + 1))
    p = positions[0] if adjacent else 0
    target = rest_shape[:p] + bshape + rest_shape[p:]
    vals = ctx.as_tensor(values, dtype)
    vals = expand_to(ctx, ctx.unsqueeze_to_rank(vals, len(target)), target)
    if p > 0:  # to B + rest order
        nb = len(bshape)
        vals = ctx.permute(vals, list(range(p, p + nb)) + list(range(p)) + list(range(p + nb, len(target))))
    perm = positions + rest
    xt = ctx.permute(x, perm) if perm != list(range(rank)) else x
    cols = []
    for k in positions:
        v = per_dim[k]
        v = expand_to(ctx, ctx.as_tensor(v, torch.int64), bshape) if ctx.is_tensor(v) else \
            ctx.constant(v.long().expand(bshape).contiguous())
        cols.append(v)
    if not accumulate:
        stacked = ctx.concat([ctx.reshape(c, bshape + [1]) for c in cols], len(bshape))
        yt = _scatter(ctx, xt, stacked, vals, "ND")
    else:
        yt = _accumulate(ctx, xt, [shape[k] for k in positions], cols, bshape, vals, rest_shape)
    if perm == list(range(rank)):
        return yt
    inverse = [perm.index(k) for k in range(rank)]
    return ctx.permute(yt, inverse)


def _accumulate(ctx, xt, sizes, cols, bshape, vals, rest_shape):
    """xt[pos_b] += vals[b] for every b, duplicates summed: flattened positions compared with every
    target row give a one-hot (rows x B) matrix; its product with the values is the sum per row."""
    dtype = ctx.dtype(xt)
    nrows, nb, nrest = _numel(sizes), _numel(bshape), _numel(rest_shape)
    _check_one_hot(ctx, nrows * nb * (1 if dtype.is_floating_point else nrest), "index_put with accumulate=True")
    lin = None
    for k, c in enumerate(cols):
        stride = _numel(sizes[k + 1:])
        term = ctx.elementwise(c, stride, "PROD", dtype=torch.int64) if stride != 1 else c
        lin = term if lin is None else ctx.elementwise(lin, term, "SUM", dtype=torch.int64)
    lin = ctx.reshape(lin, [1, nb])
    rows = ctx.constant(torch.arange(nrows).reshape(nrows, 1))
    hit = ctx.elementwise(rows, lin, "EQUAL", dtype=torch.int64)  # (nrows, nb)
    v = ctx.reshape(vals, [nb, nrest])
    if dtype.is_floating_point:
        added = ctx.matmul(ctx.cast(hit, dtype), v)  # (nrows, nrest)
    else:
        work = torch.int32 if dtype == torch.bool else dtype
        picked = ctx.select(ctx.reshape(hit, [nrows, nb, 1]), ctx.reshape(ctx.cast(v, work), [1, nb, nrest]),
                            ctx.constant(torch.zeros((1, 1, 1), dtype=work)), dtype=work)
        added = ctx.reduce(picked, "SUM", [1], False)
    added = ctx.reshape(added, list(sizes) + list(rest_shape))
    if dtype == torch.bool:
        return ctx.elementwise(xt, ctx.cast(added, torch.bool), "OR", dtype=torch.bool)
    return ctx.elementwise(xt, ctx.cast(added, dtype), "SUM", dtype=dtype)
