"""Ops that are identities in an inference network, and dtype conversions."""
from __future__ import annotations

import torch

from ..registry import register_node_handler


def _identity_dropout(ctx, p, train, input=None, self=None):
    """Inference: dropout is the identity. The in-place schemas name the tensor ``self``."""
    return input if input is not None else self


for _key in ("aten::dropout", "aten::feature_dropout", "aten::alpha_dropout", "aten::feature_alpha_dropout"):
    register_node_handler(_key)(_identity_dropout)


@register_node_handler("aten::contiguous(Tensor(a) self, *, MemoryFormat memory_format=contiguous_format) -> Tensor(a)")
def contiguous(ctx, self, memory_format=None):
    return self


@register_node_handler("aten::detach(Tensor(a) self) -> Tensor(a)")
def detach(ctx, self):
    return self


@register_node_handler("aten::alias(Tensor(a) self) -> Tensor(a)")
def alias(ctx, self):
    """``torch.export`` decompositions leave ``alias`` between views (torchvision's Swin): the same tensor."""
    return self


@register_node_handler("aten::clone(Tensor self, *, MemoryFormat? memory_format=None) -> Tensor")
def clone(ctx, self, memory_format=None):
    return self


def _target_dtype(ctx):
    tt = ctx.expected[0]
    return ctx.logical_dtype(tt.dtype) if tt is not None and tt.dtype is not None else None


_FP8 = {getattr(torch, n) for n in ("float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz",
                                      "float8_e8m0fnu") if hasattr(torch, n)}


@register_node_handler("aten::to")
def to(ctx, self, **kwargs):
    """Every overload of aten::to: the traced output dtype says what the cast is. Float dtypes map
    to the network's compute dtype, except fp8: ``x.to(torch.float8_e4m3fn)`` keeps its rounding as
    an FP8 Q/DQ pair with scale 1 (TensorRT's FP8 is E4M3; the other fp8 formats are refused)."""
    tt = ctx.expected[0]
    if tt is not None and tt.dtype in _FP8:
        if tt.dtype != torch.float8_e4m3fn:
            raise ctx.error(f"a cast to {tt.dtype}: TensorRT's only fp8 format is float8_e4m3fn")
        from .quant import fake_quantize

        return fake_quantize(ctx, ctx.cast(self, ctx.float_dtype), 1.0, torch.float8_e4m3fn)
    dtype = _target_dtype(ctx)
    return self if dtype is None else ctx.cast(self, dtype)


@register_node_handler("aten::type_as(Tensor self, Tensor other) -> Tensor")
def type_as(ctx, self, other):
    return ctx.cast(self, ctx.dtype(other))


def _like(ctx, self, value):
    """``value`` broadcast to ``self``'s shape, in ``self``'s dtype (what an in-place write stores)."""
    from .shape import expand

    dtype = ctx.dtype(self)
    v = ctx.as_tensor(value if ctx.is_tensor(value) or isinstance(value, __import__("torch").Tensor)
                      else __import__("torch").tensor(value, dtype=dtype), dtype)
    if ctx.shape(v) == ctx.shape(self) and not ctx.is_dynamic(self):
        return ctx.identity(v)
    return expand(ctx, v, ctx.dims(self))


@register_node_handler("aten::copy_(Tensor(a!) self, Tensor src, bool non_blocking=False) -> Tensor(a!)")
def copy(ctx, self, src, non_blocking=False):
    return _like(ctx, self, src)


@register_node_handler("aten::fill_")
def fill(ctx, self, value):
    return _like(ctx, self, value)


@register_node_handler("aten::zero_(Tensor(a!) self) -> Tensor(a!)")
def zero(ctx, self):
    return _like(ctx, self, 0)
