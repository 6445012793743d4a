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


def _matmul(a, b):
    """``torch.matmul``, except that a right operand whose batch dims are all 1 (a weight shared by
    every batch entry, as a linear layer's) multiplies the left operand's rows as one matrix: torch
    would expand the weight and run one small product per batch entry, each reading all of it (and
    a batched product even for one entry). An empty inner dim stays with torch (zeros)."""
    if b.dim() > 2 and a.dim() == b.dim() and a.shape[-1] > 0 and all(d == 1 for d in b.shape[:-2]):
        m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
        if k != b.shape[-2]:
            raise EvaluationError(f"matrix multiply of {tuple(a.shape)} and {tuple(b.shape)}: inner dims differ")
        return (a.reshape(-1, k) @ b.reshape(k, n)).reshape(*a.shape[:-2], m, n)
    return torch.matmul(a, b)


@layer_impl("MATRIX_MULTIPLY")
def matrix_multiply(layer, inputs):
    a, b = inputs
    op0, op1 = enum_name(attr(layer, "op0", "NONE")), enum_name(attr(layer, "op1", "NONE"))
    batch_a = a.dim() - (1 if op0 == "VECTOR" else 2)
    batch_b = b.dim() - (1 if op1 == "VECTOR" else 2)
    if batch_a != batch_b:
        raise EvaluationError(
            f"matrix multiply needs equal batch ranks, got {tuple(a.shape)} ({op0}) and {tuple(b.shape)} ({op1})")
    y = _matmul(_operand(as_compute(a), op0, True), _operand(as_compute(b), op1, False))
    if op1 == "VECTOR":
        y = y.squeeze(-1)
    if op0 == "VECTOR":
        y = y.squeeze(-1 if op1 == "VECTOR" else -2)
    return [y.to(out_dtype(layer))]


@layer_impl("EINSUM")
def einsum(layer, inputs):
    operands = [as_compute(x) for x in inputs]
    return [torch.einsum(layer.equation, *operands).to(out_dtype(layer))]
