"""Creation ops whose fill value is computed from the inputs: ``torch.full(size, x[0, 0])``,
``torch.full_like(x, v)``, ``x.new_full(size, v)`` (``v`` reaches them through
``aten::ScalarImplicit``, a 0-d tensor used as a Scalar). Shapes are static, so the output has the
shape and dtype the trace recorded: the value broadcast with a stride-0 slice. The walker folds the
creation ops that depend on the inputs only through their shapes (``zeros_like``, ``new_zeros``...).

Not handled on purpose: ``zeros``/``ones``/``arange``/``full`` whose *size* (or arange's
start/end/step) is computed from tensor values: their shape depends on the data, and the traced
shape would be baked into the network. When those values come from input shapes only, the walker
folds the op.
"""
from __future__ import annotations

import torch

from ..registry import Traced, register_node_handler


def _out(ctx):
    tt = ctx.expected[0]
    if tt is None or tt.shape is None or tt.dtype is None:
        raise ctx.error("the trace recorded no static shape/dtype for this creation op")
    return tuple(tt.shape), tt.dtype


def _broadcast(ctx, value, shape):
    """A network tensor of ``shape`` holding ``value`` (a one-element network tensor/constant)."""
    value = ctx.as_tensor(value)
    rank = len(shape)
    if rank == 0:
        return ctx.reshape(value, ()) if ctx.rank(value) else ctx.identity(value)
    value = ctx.reshape(value, (1,) * rank)
    if all(s == 1 for s in shape):
        return value
    stride = [0 if s != 1 else 1 for s in shape]
    return ctx.network.add_slice(value, (0,) * rank, tuple(shape), tuple(stride)).get_output(0)


def filled(ctx, value):
    """The traced output, every element ``value`` (Python number, torch scalar or network tensor)."""
    shape, dtype = _out(ctx)
    logical = ctx.logical_dtype(dtype)
    if ctx.is_tensor(value):
        value = ctx.cast(value, logical)
    else:
        value = torch.as_tensor(value).reshape(()).to(dtype)
        value = ctx.constant(value, logical)
    return _broadcast(ctx, value, shape)


def _handler(key, value_of, validator=None):
    def handler(ctx, **args):
        return filled(ctx, value_of(args))
    handler.__name__ = key.split("::")[1].split("(")[0]
    register_node_handler(key, validator=validator)(handler)


def _validate_size(args):
    size = args.get("size")
    if isinstance(size, Traced) or (isinstance(size, (list, tuple)) and any(isinstance(v, Traced) for v in size)):
        return "a tensor whose size is computed from tensor values (data-dependent shape)"
    return None


_handler("aten::full(SymInt[] size, Scalar fill_value, *, ScalarType? dtype=None, Layout? layout=None, "
         "Device? device=None, bool? pin_memory=None) -> Tensor", lambda a: a["fill_value"], _validate_size)
_handler("aten::full_like(Tensor self, Scalar fill_value, *, ScalarType? dtype=None, Layout? layout=None, "
         "Device? device=None, bool? pin_memory=None, MemoryFormat? memory_format=None) -> Tensor",
         lambda a: a["fill_value"])
_handler("aten::new_full(Tensor self, SymInt[] size, Scalar fill_value, *, ScalarType? dtype=None, "
         "Layout? layout=None, Device? device=None, bool? pin_memory=None) -> Tensor", lambda a: a["fill_value"],
         _validate_size)


@register_node_handler("aten::ScalarImplicit(Tensor a) -> Scalar")
def scalar_implicit(ctx, a):
    """A 0-d tensor passed where torch takes a Scalar (``torch.full(size, x[0, 0])``): it stays a
    0-d network tensor, which the creation and elementwise handlers accept as a scalar."""
    return a
