"""Creation ops computed in the network.

- A fill value computed from the inputs: ``torch.full(size, x[0, 0])``, ``torch.full_like(x, v)``,
  ``x.new_full(size, v)`` (``v`` reaches them through ``aten::ScalarImplicit``, a 0-d tensor used
  as a Scalar): the value broadcast with a stride-0 slice.
- A size that follows a dynamic input dimension: ``zeros``/``ones``/``full``/``arange`` with
  sizes from ``x.size()``, and ``zeros_like``/``new_zeros``/... of a tensor with dynamic dims: the
  output shape is a shape tensor.

With static shapes and constant values the walker folds these ops in torch. Sizes read from tensor
*data* (``int(x.sum())``) are refused up front: that shape would be baked into the network.
"""
from __future__ import annotations

import torch

from ..registry import Traced, register_node_handler


def _out_dtype(ctx, dtype=None, like=None):
    """The dtype the trace recorded (a ``dtype=`` argument arrives as a ScalarType number)."""
    if isinstance(dtype, torch.dtype):
        return dtype
    tt = ctx.expected[0]
    if tt is not None and tt.dtype is not None:
        return tt.dtype
    return ctx.dtype(like) if like is not None else torch.float32


def _out_size(ctx, size=None, like=None):
    """The output size: an explicit list (ints and dynamic sizes), ``like``'s dims, or the trace's."""
    if size is not None:
        return [s if ctx.is_tensor(s) else int(s) for s in size]
    if like is not None and ctx.is_tensor(like):
        return ctx.dims(like)
    tt = ctx.expected[0]
    if tt is None or tt.shape is None:
        raise ctx.error("the trace recorded no shape for this creation op")
    return list(tt.shape)


def _broadcast(ctx, value, size):
    """A network tensor of ``size`` (ints and dynamic sizes) holding the one-element ``value``."""
    from .shape import expand

    value = ctx.as_tensor(value)
    if not size:
        return ctx.reshape(value, ()) if ctx.rank(value) else ctx.identity(value)
    return expand(ctx, ctx.reshape(value, [1] * len(size)), list(size))


def filled(ctx, value, size=None, like=None, dtype=None):
    """The output, every element ``value`` (Python number, torch scalar or network tensor)."""
    dtype = _out_dtype(ctx, dtype, like)
    logical = ctx.logical_dtype(dtype)
    if ctx.is_tensor(value):
        value = ctx.cast(value, logical)
    else:
        value = torch.as_tensor(value).reshape(()).to(dtype)
        value = ctx.constant(value, logical)
    return _broadcast(ctx, value, _out_size(ctx, size, like))


def _handler(key, value_of, validator=None):
    def handler(ctx, **args):
        like = args.get("self") if "size" not in args else None
        return filled(ctx, value_of(args), size=args.get("size"), like=like, dtype=args.get("dtype"))
    handler.__name__ = key.split("::")[1].split("(")[0]
    register_node_handler(key, validator=validator)(handler)


def _data_dependent(v) -> bool:
    return isinstance(v, Traced) and v.dynamic and not v.size


def _validate_size(args):
    size = args.get("size")
    if _data_dependent(size) or (isinstance(size, (list, tuple)) and any(_data_dependent(v) for v in size)):
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


_OPTS = "*, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None"
_handler(f"aten::zeros(SymInt[] size, {_OPTS}) -> Tensor", lambda a: 0, _validate_size)
_handler(f"aten::ones(SymInt[] size, {_OPTS}) -> Tensor", lambda a: 1, _validate_size)
_handler(f"aten::empty.memory_format(SymInt[] size, {_OPTS}, MemoryFormat? memory_format=None) -> Tensor",
         lambda a: 0, _validate_size)
_handler(f"aten::new_zeros(Tensor self, SymInt[] size, {_OPTS}) -> Tensor", lambda a: 0, _validate_size)
_handler(f"aten::new_ones(Tensor self, SymInt[] size, {_OPTS}) -> Tensor", lambda a: 1, _validate_size)
_handler(f"aten::new_empty(Tensor self, SymInt[] size, {_OPTS}) -> Tensor", lambda a: 0, _validate_size)
_LIKE = f"{_OPTS}, MemoryFormat? memory_format=None"
_handler(f"aten::zeros_like(Tensor self, {_LIKE}) -> Tensor", lambda a: 0)
_handler(f"aten::ones_like(Tensor self, {_LIKE}) -> Tensor", lambda a: 1)
_handler(f"aten::empty_like(Tensor self, {_LIKE}) -> Tensor", lambda a: 0)


def _arange(ctx, start, end, step, dtype):
    """``torch.arange`` with bounds that follow dynamic sizes: a LINSPACE fill of a dynamic length."""
    from ..context import T
    from ..dtypes import to_trt

    values = [v for v in (start, end, step) if not ctx.is_tensor(v)]
    out = _out_dtype(ctx, dtype)
    if out.is_floating_point or any(isinstance(v, float) for v in values):
        raise ctx.error("arange with floating bounds computed from the inputs is not supported; "
                        "use integer bounds", "end")
    if ctx.is_tensor(step) or int(step) == 0:
        raise ctx.error("arange needs a constant non-zero step", "step")
    step = int(step)
    span = ctx.int_op(ctx.int_op(end, start, "sub"), step - (1 if step > 0 else -1), "add")
    length = ctx.int_op(ctx.int_op(span, step, "floordiv"), 0, "max")
    layer = ctx.network.add_fill((0,), T().FillOperation.LINSPACE, to_trt(torch.int64))
    layer.set_input(0, ctx.shape_tensor([length]))
    layer.set_input(1, ctx.cast(start, torch.int64) if ctx.is_tensor(start) else
                    ctx.constant(torch.tensor(int(start), dtype=torch.int64)))
    layer.set_input(2, ctx.constant(torch.tensor([step], dtype=torch.int64)))
    return ctx.cast(layer.get_output(0), ctx.logical_dtype(out))


def _validate_bounds(args):
    if any(_data_dependent(args.get(k)) for k in ("start", "end", "step")):
        return "arange with bounds computed from tensor values (data-dependent shape)"
    return None


@register_node_handler(f"aten::arange(Scalar end, {_OPTS}) -> Tensor", validator=_validate_bounds)
def arange(ctx, end, dtype=None, layout=None, device=None, pin_memory=None):
    return _arange(ctx, 0, end, 1, dtype)


@register_node_handler(f"aten::arange.start(Scalar start, Scalar end, {_OPTS}) -> Tensor", validator=_validate_bounds)
def arange_start(ctx, start, end, dtype=None, layout=None, device=None, pin_memory=None):
    return _arange(ctx, start, end, 1, dtype)


@register_node_handler(f"aten::arange.start_step(Scalar start, Scalar end, Scalar step=1, {_OPTS}) -> Tensor",
                       validator=_validate_bounds)
def arange_start_step(ctx, start, end, step, dtype=None, layout=None, device=None, pin_memory=None):
    return _arange(ctx, start, end, step, dtype)
