"""ATen names beside the ones tracing a Python model usually gives: shape variants (tile,
reshape_as, _reshape_copy, tensor_split) and the core ATen ops ``torch.export`` and explicit
``torch.ops.aten`` calls produce (native_* norms with their statistics outputs, convolution,
_prelu_kernel, _adaptive_avg_pool, sym_size/sym_numel, _scaled_dot_product_*_attention).
Each delegates to the handler that already does the math.
"""
from __future__ import annotations

import torch

from ..registry import register_node_handler
from .shape import slice_


# ---------------------------------------------------------------------------- shape variants

@register_node_handler("aten::tile(Tensor self, SymInt[] dims) -> Tensor")
def tile(ctx, self, dims):
    """One WRAP-mode slice: reading ``reps * size`` elements from 0 along an axis repeats it.
    Fewer ``dims`` than the rank repeat the trailing axes; more add leading axes."""
    if any(ctx.is_tensor(d) for d in dims):
        raise ctx.error("repeat counts computed from the inputs are not supported", "dims")
    x = ctx.as_tensor(self)
    reps = [1] * max(0, ctx.rank(x) - len(dims)) + [int(d) for d in dims]
    x = ctx.unsqueeze_to_rank(x, len(reps))
    if any(r < 0 for r in reps):
        raise ctx.error(f"negative repeat count in {list(dims)}", "dims")
    if all(r == 1 for r in reps):
        return ctx.identity(x)
    sizes = [ctx.int_op(d, r, "mul") for d, r in zip(ctx.dims(x), reps)]
    if any(r == 0 for r in reps):
        raise ctx.error("a repeat count of 0 gives an empty tensor, which is not supported", "dims")
    return ctx.slice(x, [0] * len(reps), sizes, [1] * len(reps), mode="WRAP")


@register_node_handler("aten::reshape_as(Tensor(a) self, Tensor other) -> Tensor(a)")
def reshape_as(ctx, self, other):
    return ctx.reshape(self, ctx.dims(other))


@register_node_handler("aten::_reshape_copy(Tensor self, SymInt[] size) -> Tensor")
def _reshape_copy(ctx, self, size):
    return ctx.reshape(self, [s if ctx.is_tensor(s) else int(s) for s in size])


def _split_at(ctx, x, d, bounds):
    """Pieces ``x[b[k-1]:b[k]]`` along ``d`` (b[-1] = 0, then to the end), clamped like Python slices."""
    length = ctx.shape(x)[d]
    outs = []
    for start, stop in zip([0] + list(bounds), list(bounds) + [length]):
        start, stop = min(max(start, 0), length), min(max(stop, 0), length)
        outs.append(slice_(ctx, x, d, start, max(start, stop), 1))
    return outs


def _tensor_split(ctx, self, dim, sections=None, indices=None):
    x = ctx.as_tensor(self)
    d = ctx.axis(dim, ctx.rank(x))
    length = ctx.require_static(x, "self", [d], "tensor_split makes one output per piece")[d]
    if sections is not None:
        if sections <= 0:
            raise ctx.error(f"sections must be positive, got {sections}", "sections")
        small, extra = divmod(length, sections)
        bounds, pos = [], 0
        for k in range(sections - 1):
            pos += small + (1 if k < extra else 0)
            bounds.append(pos)
    else:
        bounds = [i + length if i < 0 else i for i in indices]
    return _split_at(ctx, x, d, bounds)


@register_node_handler("aten::tensor_split.sections(Tensor(a -> *) self, SymInt sections, int dim=0) -> Tensor(a)[]")
def tensor_split_sections(ctx, self, sections, dim=0):
    return _tensor_split(ctx, self, dim, sections=int(sections))


@register_node_handler("aten::tensor_split.indices(Tensor(a -> *) self, SymInt[] indices, int dim=0) -> Tensor(a)[]")
def tensor_split_indices(ctx, self, indices, dim=0):
    return _tensor_split(ctx, self, dim, indices=[int(i) for i in indices])


@register_node_handler("aten::tensor_split.tensor_indices_or_sections(Tensor(a -> *) self, "
                       "Tensor tensor_indices_or_sections, int dim=0) -> Tensor(a)[]")
def tensor_split_tensor(ctx, self, tensor_indices_or_sections, dim=0):
    spec = tensor_indices_or_sections
    if ctx.is_tensor(spec):
        raise ctx.error("split points computed from the inputs are not supported (the number of outputs "
                        "would depend on data)", "tensor_indices_or_sections")
    spec = torch.as_tensor(spec)
    if spec.dim() == 0:
        return _tensor_split(ctx, self, dim, sections=int(spec))
    return _tensor_split(ctx, self, dim, indices=[int(i) for i in spec.tolist()])
