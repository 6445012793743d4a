"""Matrix products: linear, addmm, matmul, mm, bmm."""
from __future__ import annotations

import torch

from ..context import T
from ..registry import register_node_handler


@register_node_handler("aten::linear(Tensor input, Tensor weight, Tensor? bias=None) -> Tensor")
def linear(ctx, input, weight, bias):
    x = ctx.as_tensor(input)
    rank = ctx.rank(x)
    if isinstance(weight, torch.Tensor):
        # the constant is created directly at the input's rank: (1, ..., out, in), no copy
        w = ctx.as_tensor(weight.reshape((1,) * (rank - 2) + tuple(weight.shape)) if rank >= 2 else weight)
    else:
        w = ctx.unsqueeze_to_rank(ctx.as_tensor(weight), max(rank, 2))
    if rank == 1:
        y = ctx.network.add_matrix_multiply(w, T().MatrixOperation.NONE, x, T().MatrixOperation.VECTOR).get_output(0)
    else:
        y = ctx.network.add_matrix_multiply(x, T().MatrixOperation.NONE, w, T().MatrixOperation.TRANSPOSE).get_output(0)
    if bias is not None:
        y = ctx.elementwise(y, bias, "SUM")
    return y


@register_node_handler("aten::addmm(Tensor self, Tensor mat1, Tensor mat2, *, Scalar beta=1, Scalar alpha=1) -> Tensor")
def addmm(ctx, self, mat1, mat2, beta, alpha):
    y = ctx.matmul(mat1, mat2)
    if alpha != 1:
        y = ctx.elementwise(y, float(alpha), "PROD")
    if beta == 0:
        return y
    bias = self if beta == 1 else ctx.elementwise(self, float(beta), "PROD")
    return ctx.elementwise(y, bias, "SUM")


@register_node_handler("aten::matmul(Tensor self, Tensor other) -> Tensor")
def matmul(ctx, self, other):
    """A vector against a batch of matrices is a one-row (or one-column) matrix, dropped after."""
    ra, rb = ctx.rank(self), ctx.rank(other)
    if ra == 1 and rb > 2:
        y = ctx.matmul(ctx.reshape(self, [1, -1]), other)
        dims = ctx.dims(y)
        return ctx.reshape(y, dims[:-2] + dims[-1:])
    if rb == 1 and ra > 2:
        y = ctx.matmul(self, ctx.reshape(other, [-1, 1]))
        return ctx.reshape(y, ctx.dims(y)[:-1])
    return ctx.matmul(self, other)


@register_node_handler("aten::mm(Tensor self, Tensor mat2) -> Tensor")
def mm(ctx, self, mat2):
    return ctx.matmul(self, mat2)


@register_node_handler("aten::bmm(Tensor self, Tensor mat2) -> Tensor")
def bmm(ctx, self, mat2):
    return ctx.matmul(self, mat2)


@register_node_handler("aten::baddbmm(Tensor self, Tensor batch1, Tensor batch2, *, Scalar beta=1, Scalar alpha=1) -> Tensor")
def baddbmm(ctx, self, batch1, batch2, beta, alpha):
    return addmm(ctx, self, batch1, batch2, beta, alpha)
