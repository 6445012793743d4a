"""MATRIX_MULTIPLY and EINSUM."""
from __future__ import annotations

import torch

from ..errors import EvaluationError
from ._core import as_compute, attr, enum_name, layer_impl, out_dtype


def _operand(x, op, is_left):
    """VECTOR treats the last dim as a vector: a row for operand 0, a column for operand 1."""
    if op == "VECTOR":
        return x.unsqueeze(-2) if is_left else x.unsqueeze(-1)
    if x.dim() < 2:
        raise EvaluationError(f"operand of shape {tuple(x.shape)} needs rank >= 2 (or VECTOR)")
    return x.transpose(-1, -2) if op == "TRANSPOSE" else x


@layer_impl("MATRIX_MULTIPLY")
def matrix_multiply(layer, inputs):
    a, b = inputs
    op0, op1 = enum_name(attr(layer, "op0", "NONE")), enum_name(attr(layer, "op1", "NONE"))
    batch_a = a.dim() - (1 if op0 == "VECTOR" else 2)
    batch_b = b.dim() - (1 if op1 == "VECTOR" else 2)
    if batch_a != batch_b:
        raise EvaluationError(
            f"matrix multiply needs equal batch ranks, got {tuple(a.shape)} ({op0}) and {tuple(b.shape)} ({op1})")
    y = torch.matmul(_operand(as_compute(a), op0, True), _operand(as_compute(b), op1, False))
    if op1 == "VECTOR":
        y = y.squeeze(-1)
    if op0 == "VECTOR":
        y = y.squeeze(-1 if op1 == "VECTOR" else -2)
    return [y.to(out_dtype(layer))]


@layer_impl("EINSUM")
def einsum(layer, inputs):
    operands = [as_compute(x) for x in inputs]
    return [torch.einsum(layer.equation, *operands).to(out_dtype(layer))]
