"""Shape manipulation: reshape/view/flatten, permute/transpose, (un)squeeze, cat/stack,
slice/select, chunk/split/unbind, expand/repeat. Shapes are static: sizes are Python ints.
"""
from __future__ import annotations

from ..registry import register_node_handler


def _resolve_shape(ctx, x, shape):
    shape = [int(s) for s in shape]
    return tuple(shape)


@register_node_handler("aten::view(Tensor(a) self, SymInt[] size) -> Tensor(a)")
def view(ctx, self, size):
    return ctx.reshape(self, _resolve_shape(ctx, self, size))


@register_node_handler("aten::reshape(Tensor(a) self, SymInt[] shape) -> Tensor(a)")
def reshape(ctx, self, shape):
    return ctx.reshape(self, _resolve_shape(ctx, self, shape))


@register_node_handler("aten::flatten.using_ints(Tensor(a) self, int start_dim=0, int end_dim=-1) -> Tensor(a)")
def flatten(ctx, self, start_dim, end_dim):
    shape = ctx.shape(self)
    if len(shape) == 0:
        return ctx.reshape(self, (1,))
    s, e = ctx.axis(start_dim, len(shape)), ctx.axis(end_dim, len(shape))
    n = 1
    for d in shape[s:e + 1]:
        n *= d
    return ctx.reshape(self, shape[:s] + (n,) + shape[e + 1:])


@register_node_handler("aten::permute(Tensor(a) self, int[] dims) -> Tensor(a)")
def permute(ctx, self, dims):
    rank = ctx.rank(self)
    return ctx.permute(self, [ctx.axis(d, rank) for d in dims])


@register_node_handler("aten::transpose.int(Tensor(a) self, int dim0, int dim1) -> Tensor(a)")
def transpose(ctx, self, dim0, dim1):
    rank = ctx.rank(self)
    perm = list(range(rank))
    a, b = ctx.axis(dim0, rank), ctx.axis(dim1, rank)
    perm[a], perm[b] = perm[b], perm[a]
    return ctx.permute(self, perm)


@register_node_handler("aten::t(Tensor(a) self) -> Tensor(a)")
def t(ctx, self):
    return ctx.permute(self, [1, 0]) if ctx.rank(self) == 2 else self


@register_node_handler("aten::unsqueeze(Tensor(a) self, int dim) -> Tensor(a)")
def unsqueeze(ctx, self, dim):
    shape = list(ctx.shape(self))
    d = ctx.axis(dim, len(shape) + 1)
    return ctx.reshape(self, shape[:d] + [1] + shape[d:])


@register_node_handler("aten::squeeze")
def squeeze(ctx, self, dim=None):
    shape = list(ctx.shape(self))
    if dim is None:
        dims = [i for i, s in enumerate(shape) if s == 1]
    else:
        dims = [ctx.axis(d, len(shape)) for d in (dim if isinstance(dim, (list, tuple)) else [dim])]
        dims = [d for d in dims if shape[d] == 1]
    return ctx.reshape(self, [s for i, s in enumerate(shape) if i not in dims])


@register_node_handler("aten::cat(Tensor[] tensors, int dim=0) -> Tensor")
def cat(ctx, tensors, dim):
    tensors = [t for t in tensors if not (hasattr(t, "numel") and t.numel() == 0 and t.dim() == 1)]
    return ctx.concat(tensors, dim)


@register_node_handler("aten::stack(Tensor[] tensors, int dim=0) -> Tensor")
def stack(ctx, tensors, dim):
    rank = ctx.rank(tensors[0]) + 1
    d = ctx.axis(dim, rank)
    return ctx.concat([unsqueeze(ctx, t, d) for t in tensors], d)


@register_node_handler("aten::slice.Tensor(Tensor(a) self, int dim=0, SymInt? start=None, SymInt? end=None, "
                       "SymInt step=1) -> Tensor(a)")
def slice_(ctx, self, dim, start, end, step):
    shape = ctx.shape(self)
    d = ctx.axis(dim, len(shape))
    length = shape[d]
    s, e, _ = slice(start, end, step).indices(length)
    n = max(0, -(-(e - s) // step))
    begin = [0] * len(shape)
    begin[d] = s
    size = list(shape)
    size[d] = n
    stride = [1] * len(shape)
    stride[d] = step
    if n == length and step == 1:
        return self
    return ctx.slice(self, begin, size, stride)


@register_node_handler("aten::select.int(Tensor(a) self, int dim, SymInt index) -> Tensor(a)")
def select(ctx, self, dim, index):
    shape = ctx.shape(self)
    d = ctx.axis(dim, len(shape))
    i = index + shape[d] if index < 0 else index
    if not 0 <= i < shape[d]:
        raise ctx.error(f"index {index} is out of range for dimension {dim} of size {shape[d]}", "index")
    piece = slice_(ctx, self, d, i, i + 1, 1)
    return ctx.reshape(piece, shape[:d] + shape[d + 1:])


def _split_sizes(ctx, x, sizes, dim):
    shape = ctx.shape(x)
    d = ctx.axis(dim, len(shape))
    outs, start = [], 0
    for n in sizes:
        outs.append(slice_(ctx, x, d, start, start + n, 1))
        start += n
    return outs


@register_node_handler("aten::split.Tensor(Tensor(a -> *) self, SymInt split_size, int dim=0) -> Tensor(a)[]")
def split(ctx, self, split_size, dim):
    length = ctx.shape(self)[ctx.axis(dim, ctx.rank(self))]
    sizes = [min(split_size, length - s) for s in range(0, length, split_size)]
    return _split_sizes(ctx, self, sizes, dim)


@register_node_handler("aten::split_with_sizes(Tensor(a -> *) self, SymInt[] split_sizes, int dim=0) -> Tensor(a)[]")
def split_with_sizes(ctx, self, split_sizes, dim):
    return _split_sizes(ctx, self, split_sizes, dim)


@register_node_handler("aten::chunk(Tensor(a -> *) self, int chunks, int dim=0) -> Tensor(a)[]")
def chunk(ctx, self, chunks, dim):
    length = ctx.shape(self)[ctx.axis(dim, ctx.rank(self))]
    size = -(-length // chunks)
    return split(ctx, self, size, dim)


@register_node_handler("aten::unbind.int(Tensor(a -> *) self, int dim=0) -> Tensor(a)[]")
def unbind(ctx, self, dim):
    length = ctx.shape(self)[ctx.axis(dim, ctx.rank(self))]
    return [select(ctx, self, dim, i) for i in range(length)]


@register_node_handler("aten::expand(Tensor(a) self, SymInt[] size, *, bool implicit=False) -> Tensor(a)")
def expand(ctx, self, size, implicit=False):
    x = ctx.as_tensor(self)
    rank = len(size)
    x = ctx.unsqueeze_to_rank(x, rank)
    shape = ctx.shape(x)
    target = [shape[i] if s == -1 else int(s) for i, s in enumerate(size)]
    if list(shape) == target:
        return x
    stride = [0 if (a == 1 and b != 1) else 1 for a, b in zip(shape, target)]
    layer = ctx.network.add_slice(x, (0,) * rank, tuple(target), tuple(stride))
    return layer.get_output(0)


@register_node_handler("aten::expand_as(Tensor(a) self, Tensor other) -> Tensor(a)")
def expand_as(ctx, self, other):
    return expand(ctx, self, list(ctx.shape(other)))


@register_node_handler("aten::repeat(Tensor self, SymInt[] repeats) -> Tensor")
def repeat(ctx, self, repeats):
    x = ctx.unsqueeze_to_rank(ctx.as_tensor(self), len(repeats))
    for d, r in enumerate(repeats):
        if r != 1:
            x = ctx.concat([x] * r, d)
    return x if x is not self else ctx.identity(x)


@register_node_handler("aten::narrow(Tensor(a) self, int dim, SymInt start, SymInt length) -> Tensor(a)")
def narrow(ctx, self, dim, start, length):
    size = ctx.shape(self)[ctx.axis(dim, ctx.rank(self))]
    start = start + size if start < 0 else start
    return slice_(ctx, self, dim, start, start + length, 1)


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
