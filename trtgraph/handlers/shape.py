"""Shape manipulation: reshape/view/flatten, permute/transpose, (un)squeeze, cat/stack,
slice/select, chunk/split/unbind, expand/repeat.

Sizes are Python ints where static. With dynamic input dimensions a size is a 0-d int64 network
tensor (from ``aten::size``); these handlers then build shape tensors (``ctx.dims``,
``ctx.int_op``, ``ctx.shape_tensor``) instead of baking the traced value in.
"""
from __future__ import annotations

from ..registry import register_node_handler

_END = 2 ** 62  # slice ends at or past this mean "to the end" (torch traces sys.maxsize)


def _sizes(ctx, sizes):
    return [s if ctx.is_tensor(s) else int(s) for s in sizes]


@register_node_handler("aten::view(Tensor(a) self, SymInt[] size) -> Tensor(a)")
def view(ctx, self, size):
    return ctx.reshape(self, _sizes(ctx, size))


@register_node_handler("aten::reshape(Tensor(a) self, SymInt[] shape) -> Tensor(a)")
def reshape(ctx, self, shape):
    return ctx.reshape(self, _sizes(ctx, shape))


@register_node_handler("aten::flatten.using_ints(Tensor(a) self, int start_dim=0, int end_dim=-1) -> Tensor(a)")
def flatten(ctx, self, start_dim, end_dim):
    shape = ctx.shape(self)
    if len(shape) == 0:
        return ctx.reshape(self, (1,))
    s, e = ctx.axis(start_dim, len(shape)), ctx.axis(end_dim, len(shape))
    dims = ctx.dims(self)
    merged = dims[s:e + 1]
    if any(ctx.is_tensor(d) for d in merged):
        n = -1  # the only inferred dim: every other one is given
    else:
        n = 1
        for d in merged:
            n *= d
    return ctx.reshape(self, dims[:s] + [n] + dims[e + 1:])


@register_node_handler("aten::permute(Tensor(a) self, int[] dims) -> Tensor(a)")
def permute(ctx, self, dims):
    rank = ctx.rank(self)
    return ctx.permute(self, [ctx.axis(d, rank) for d in dims])


@register_node_handler("aten::transpose.int(Tensor(a) self, int dim0, int dim1) -> Tensor(a)")
def transpose(ctx, self, dim0, dim1):
    rank = ctx.rank(self)
    if rank == 0:  # torch accepts dims 0 and -1 of a 0-d tensor: nothing moves
        ctx.axis(dim0, 1), ctx.axis(dim1, 1)
        return ctx.identity(self)
    perm = list(range(rank))
    a, b = ctx.axis(dim0, rank), ctx.axis(dim1, rank)
    perm[a], perm[b] = perm[b], perm[a]
    return ctx.permute(self, perm)


@register_node_handler("aten::t(Tensor(a) self) -> Tensor(a)")
def t(ctx, self):
    return ctx.permute(self, [1, 0]) if ctx.rank(self) == 2 else self


@register_node_handler("aten::unsqueeze(Tensor(a) self, int dim) -> Tensor(a)")
def unsqueeze(ctx, self, dim):
    dims = ctx.dims(self)
    d = ctx.axis(dim, len(dims) + 1)
    return ctx.reshape(self, dims[:d] + [1] + dims[d:])


@register_node_handler("aten::squeeze")
def squeeze(ctx, self, dim=None):
    shape = list(ctx.shape(self))
    if not shape:  # torch accepts dim 0 or -1 of a 0-d tensor
        for d in (dim if isinstance(dim, (list, tuple)) else [] if dim is None else [dim]):
            ctx.axis(d, 1)
        return ctx.identity(self)
    if dim is None:
        axes = [i for i, s in enumerate(shape) if s == 1]
    else:
        axes = [ctx.axis(d, len(shape)) for d in (dim if isinstance(dim, (list, tuple)) else [dim])]
        axes = [d for d in axes if shape[d] == 1]  # a dynamic dim is kept (the traces agree on the rank)
    return ctx.reshape(self, [s for i, s in enumerate(ctx.dims(self)) if i not in axes])


@register_node_handler("aten::cat(Tensor[] tensors, int dim=0) -> Tensor")
def cat(ctx, tensors, dim):
    tensors = [t for t in tensors if not (hasattr(t, "numel") and t.numel() == 0 and t.dim() == 1)]
    return ctx.concat(tensors, dim)


@register_node_handler("aten::stack(Tensor[] tensors, int dim=0) -> Tensor")
def stack(ctx, tensors, dim):
    rank = ctx.rank(tensors[0]) + 1
    d = ctx.axis(dim, rank)
    return ctx.concat([unsqueeze(ctx, t, d) for t in tensors], d)


def _bound(ctx, v, length, default):
    """A slice bound clamped to [0, length] (negative counts from the end), int or dynamic."""
    if v is None:
        return default
    if not ctx.is_tensor(v):
        v = int(v)
        if v >= _END:
            return length
        if v < 0:
            v = ctx.int_op(length, v, "add")
            return ctx.int_op(v, 0, "max")
        return ctx.int_op(v, length, "min")
    # a dynamic bound comes from a size: non-negative
    return ctx.int_op(v, length, "min")


@register_node_handler("aten::slice.Tensor(Tensor(a) self, int dim=0, SymInt? start=None, SymInt? end=None, "
                       "SymInt step=1) -> Tensor(a)")
def slice_node(ctx, self, dim, start, end, step):
    """``x[..., start:end:step]``; on a dynamic dim whose result the traces agree on (``x[:, :1]``,
    ``x[:, -1:]``), the result size is static."""
    d = ctx.axis(dim, ctx.rank(self))
    out_size = ctx.static_output_dim(d) if ctx.shape(self)[d] < 0 else None
    return slice_(ctx, self, dim, start, end, step, out_size)


def slice_(ctx, self, dim, start, end, step, out_size=None):
    shape = ctx.shape(self)
    d = ctx.axis(dim, len(shape))
    if ctx.is_tensor(step):
        raise ctx.error("a slice step computed from the inputs is not supported", "step")
    step = int(step)
    dynamic = ctx.is_tensor(start) or ctx.is_tensor(end) or shape[d] < 0
    if not dynamic:
        s, e, _ = slice(start, end, step).indices(shape[d])
        n = max(0, -(-(e - s) // step))
        if n == shape[d] and step == 1:
            return self
        begin, size = s, n
    else:
        if (start is None or (not ctx.is_tensor(start) and int(start) == 0)) and step == 1 and \
                (end is None or (not ctx.is_tensor(end) and int(end) >= _END)):
            return self
        length = ctx.dim_size(self, d)
        if out_size is not None and not ctx.is_tensor(start) and step > 0:
            start = 0 if start is None else int(start)
            begin = start if start >= 0 else ctx.int_op(length, start, "add")
            size = out_size
        else:
            begin = _bound(ctx, start, length, 0)
            stop = _bound(ctx, end, length, length)
            span = ctx.int_op(ctx.int_op(stop, begin, "sub"), step - 1, "add")
            size = ctx.int_op(ctx.int_op(span, step, "floordiv"), 0, "max")
    starts = [0] * len(shape)
    starts[d] = begin
    sizes = ctx.dims(self)
    sizes[d] = size
    strides = [1] * len(shape)
    strides[d] = step
    return ctx.slice(self, starts, sizes, strides)


@register_node_handler("aten::select.int(Tensor(a) self, int dim, SymInt index) -> Tensor(a)")
def select(ctx, self, dim, index):
    shape = ctx.shape(self)
    d = ctx.axis(dim, len(shape))
    if ctx.is_tensor(index) or shape[d] < 0:
        if ctx.is_tensor(index) or index >= 0:
            i = index
        else:
            i = ctx.int_op(ctx.dim_size(self, d), index, "add")
        piece = slice_(ctx, self, d, i, ctx.int_op(i, 1, "add"), 1)
    else:
        i = index + shape[d] if index < 0 else index
        if not 0 <= i < shape[d]:
            raise ctx.error(f"index {index} is out of range for dimension {dim} of size {shape[d]}", "index")
        piece = slice_(ctx, self, d, i, i + 1, 1)
    dims = ctx.dims(piece)
    return ctx.reshape(piece, dims[:d] + dims[d + 1:])


def _split_sizes(ctx, x, sizes, dim):
    shape = ctx.shape(x)
    d = ctx.axis(dim, len(shape))
    outs, start = [], 0
    for n in sizes:
        outs.append(slice_(ctx, x, d, start, start + n, 1))
        start += n
    return outs


def _static_length(ctx, x, dim, what):
    d = ctx.axis(dim, ctx.rank(x))
    return ctx.require_static(x, "self", [d], f"{what} makes one output per piece")[d]


@register_node_handler("aten::split.Tensor(Tensor(a -> *) self, SymInt split_size, int dim=0) -> Tensor(a)[]")
def split(ctx, self, split_size, dim):
    length = _static_length(ctx, self, dim, "split")
    sizes = [min(split_size, length - s) for s in range(0, length, split_size)]
    return _split_sizes(ctx, self, sizes, dim)


@register_node_handler("aten::split_with_sizes(Tensor(a -> *) self, SymInt[] split_sizes, int dim=0) -> Tensor(a)[]")
def split_with_sizes(ctx, self, split_sizes, dim):
    _static_length(ctx, self, dim, "split_with_sizes")
    return _split_sizes(ctx, self, split_sizes, dim)


@register_node_handler("aten::chunk(Tensor(a -> *) self, int chunks, int dim=0) -> Tensor(a)[]")
def chunk(ctx, self, chunks, dim):
    length = _static_length(ctx, self, dim, "chunk")
    size = -(-length // chunks)
    return split(ctx, self, size, dim)


@register_node_handler("aten::unbind.int(Tensor(a -> *) self, int dim=0) -> Tensor(a)[]")
def unbind(ctx, self, dim):
    length = _static_length(ctx, self, dim, "unbind")
    return [select(ctx, self, dim, i) for i in range(length)]


@register_node_handler("aten::expand(Tensor(a) self, SymInt[] size, *, bool implicit=False) -> Tensor(a)")
def expand(ctx, self, size, implicit=False):
    x = ctx.as_tensor(self)
    rank = len(size)
    x = ctx.unsqueeze_to_rank(x, rank)
    shape = ctx.shape(x)
    dims = ctx.dims(x) if ctx.is_dynamic(x) else list(shape)
    target = [dims[i] if (not ctx.is_tensor(s) and int(s) == -1) else s for i, s in enumerate(_sizes(ctx, size))]
    if all(not ctx.is_tensor(v) for v in target):
        if list(shape) == target:
            return x
        stride = [0 if (a == 1 and b != 1) else 1 for a, b in zip(shape, target)]
        return ctx.slice(x, [0] * rank, target, stride)
    # dynamic target: broadcast the dims that are 1 in the input, keep the others
    stride = [0 if a == 1 else 1 for a in shape]
    return ctx.slice(x, [0] * rank, target, stride)


@register_node_handler("aten::expand_as(Tensor(a) self, Tensor other) -> Tensor(a)")
def expand_as(ctx, self, other):
    return expand(ctx, self, ctx.dims(other) if ctx.is_dynamic(other) else list(ctx.shape(other)))


@register_node_handler("aten::repeat(Tensor self, SymInt[] repeats) -> Tensor")
def repeat(ctx, self, repeats):
    if any(ctx.is_tensor(r) for r in repeats):
        raise ctx.error("repeat counts computed from the inputs are not supported", "repeats")
    x = ctx.unsqueeze_to_rank(ctx.as_tensor(self), len(repeats))
    for d, r in enumerate(repeats):
        if r != 1:
            x = ctx.concat([x] * r, d)
    return x if x is not self else ctx.identity(x)


@register_node_handler("aten::narrow(Tensor(a) self, int dim, SymInt start, SymInt length) -> Tensor(a)")
def narrow(ctx, self, dim, start, length):
    d = ctx.axis(dim, ctx.rank(self))
    if not ctx.is_tensor(start) and start < 0:
        start = ctx.int_op(ctx.dim_size(self, d), start, "add")
    return slice_(ctx, self, dim, start, ctx.int_op(start, length, "add"), 1)


def _scatter_slice(ctx, base, src, dim, start, stop, step):
    """``base`` with positions start:stop:step along ``dim`` replaced by ``src``."""
    import torch

    from ..context import T

    shape = ctx.shape(base)
    d = ctx.axis(dim, len(shape))
    src = expand(ctx, ctx.as_tensor(src, ctx.dtype(base)), list(shape[:d]) + [len(range(start, stop, step))]
                 + list(shape[d + 1:]))
    if step == 1:
        pieces = []
        if start > 0:
            pieces.append(slice_(ctx, base, d, 0, start, 1))
        pieces.append(src)
        if stop < shape[d]:
            pieces.append(slice_(ctx, base, d, stop, shape[d], 1))
        return ctx.concat(pieces, d) if len(pieces) > 1 else ctx.identity(src)
    idx_shape = [1] * len(shape)
    idx_shape[d] = -1
    index = torch.arange(start, stop, step, dtype=torch.int64).reshape(idx_shape).expand(ctx.shape(src)).contiguous()
    layer = ctx.network.add_scatter(ctx.as_tensor(base), ctx.constant(index), src, T().ScatterMode.ELEMENT)
    layer.axis = d
    return layer.get_output(0)


def view_write_back(ctx, kind, args, new_view):
    """The base tensor after its view (made by ``kind`` with ``args``) was overwritten with ``new_view``."""
    base = args["self"]
    shape = ctx.shape(base)
    name = kind.split("::")[-1]
    if name == "slice":
        d = ctx.axis(args["dim"], len(shape))
        start, stop, step = slice(args["start"], args["end"], args["step"]).indices(shape[d])
        return _scatter_slice(ctx, base, new_view, d, start, stop, step)
    if name == "narrow":
        d = ctx.axis(args["dim"], len(shape))
        start = args["start"] + shape[d] if args["start"] < 0 else args["start"]
        return _scatter_slice(ctx, base, new_view, d, start, start + args["length"], 1)
    if name == "select":
        d = ctx.axis(args["dim"], len(shape))
        i = args["index"] + shape[d] if args["index"] < 0 else args["index"]
        return _scatter_slice(ctx, base, unsqueeze(ctx, ctx.as_tensor(new_view), d), d, i, i + 1, 1)
    if name in ("view", "reshape", "flatten", "unsqueeze", "squeeze", "view_as", "reshape_as"):
        return ctx.reshape(new_view, shape)
    if name == "permute":
        dims = [ctx.axis(p, len(shape)) for p in args["dims"]]
        inverse = [dims.index(i) for i in range(len(shape))]
        return ctx.permute(new_view, inverse)
    if name == "transpose":
        return transpose(ctx, new_view, args["dim0"], args["dim1"])
    if name == "t":
        return t(ctx, new_view)
    if name in ("contiguous", "detach", "alias"):
        return new_view
    raise ctx.error(f"an in-place write through aten::{name} cannot be written back to its base tensor")
