"""Helpers shared by the math handler modules (math, sort, remainder, einsum, variance): the traced
output dtype of the node and the element count of a static shape."""
from __future__ import annotations


def _expected_dtype(ctx, index=0):
    tt = ctx.expected[index] if ctx.expected and len(ctx.expected) > index else None
    return ctx.logical_dtype(tt.dtype) if tt is not None and tt.dtype is not None else None


def _numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n
