"""Vector products and pairwise distances: mv, dot/vdot, cross/linalg_cross, cdist, pdist.

Distances are computed from the differences (x1_i - x2_j): no cancellation, at the cost of a
(P, R, M) intermediate. For p = 2 with an intermediate above ``DIFF_LIMIT`` elements the matrix
product form sqrt(max(|x|^2 + |y|^2 - 2 x.y, 0)) is used instead (what torch itself uses for
p = 2 with more than 25 rows); other p with such sizes are refused by name. Integer operands of
products go through elementwise products and sums (TensorRT's
matrix multiply takes floats only).
"""
from __future__ import annotations

import torch

from ..context import T
from ..registry import register_node_handler
from .index import _gather


def _sum_of_products(ctx, a, b, axis):
    dtype = ctx.result_dtype(a, b)
    return ctx.reduce(ctx.elementwise(a, b, "PROD", dtype=dtype), "SUM", [axis], False)


@register_node_handler("aten::mv(Tensor self, Tensor vec) -> Tensor")
def mv(ctx, self, vec):
    if ctx.result_dtype(self, vec).is_floating_point:
        return ctx.matmul(self, vec)
    return _sum_of_products(ctx, self, ctx.reshape(ctx.as_tensor(vec), [1, -1]), 1)


@register_node_handler("aten::dot(Tensor self, Tensor tensor) -> Tensor")
def dot(ctx, self, tensor):
    if ctx.result_dtype(self, tensor).is_floating_point:
        return ctx.matmul(self, tensor)
    return _sum_of_products(ctx, self, tensor, 0)


@register_node_handler("aten::vdot(Tensor self, Tensor other) -> Tensor")
def vdot(ctx, self, other):
    """Real tensors only (the network has no complex dtype): the plain dot product."""
    return dot(ctx, self, other)


def cross_product(ctx, a, b, dim):
    """a x b along ``dim`` (size 3), operands broadcast: rolled copies give the three terms."""
    dtype = ctx.result_dtype(a, b)
    a, b = ctx.operands(a, b, dtype=dtype)
    rank = ctx.rank(a)
    d = ctx.axis(dim, rank)
    for name, t in (("self", a), ("other", b)):
        if ctx.shape(t)[d] != 3:
            raise ctx.error(f"dimension {dim} must have size 3, got {ctx.shape(t)[d]}", name)
    yzx = torch.tensor([1, 2, 0])
    zxy = torch.tensor([2, 0, 1])
    left = ctx.elementwise(_gather(ctx, a, yzx, d), _gather(ctx, b, zxy, d), "PROD", dtype=dtype)
    right = ctx.elementwise(_gather(ctx, a, zxy, d), _gather(ctx, b, yzx, d), "PROD", dtype=dtype)
    return ctx.elementwise(left, right, "SUB", dtype=dtype)


@register_node_handler("aten::linalg_cross(Tensor self, Tensor other, *, int dim=-1) -> Tensor")
def linalg_cross(ctx, self, other, dim=-1):
    return cross_product(ctx, self, other, dim)


@register_node_handler("aten::cross(Tensor self, Tensor other, int? dim=None) -> Tensor")
def cross(ctx, self, other, dim=None):
    """``dim=None``: the first dimension of size 3 (torch's deprecated default)."""
    if dim is None:
        shape = ctx.shape(self) if ctx.is_tensor(self) else tuple(self.shape)
        sizes = [k for k, n in enumerate(shape) if n == 3]
        if not sizes:
            raise ctx.error("no dimension of size 3", "self")
        dim = sizes[0]
    return cross_product(ctx, self, other, dim)


# ---------------------------------------------------------------------------- distances

def _p_norm(ctx, diff, p, axis):
    """The p-norm of ``diff`` over ``axis`` (p = 0 counts nonzeros, p = inf takes the max)."""
    mag = ctx.unary(diff, "ABS")
    if p == 0:
        nonzero = ctx.unary(ctx.elementwise(mag, 0.0, "EQUAL"), "NOT")
        return ctx.reduce(ctx.cast(nonzero, ctx.dtype(diff)), "SUM", [axis], False)
    if p == float("inf"):
        return ctx.reduce(mag, "MAX", [axis], False)
    if p == 1:
        return ctx.reduce(mag, "SUM", [axis], False)
    if p == 2:
        return ctx.unary(ctx.reduce(ctx.elementwise(diff, diff, "PROD"), "SUM", [axis], False), "SQRT")
    total = ctx.reduce(ctx.elementwise(mag, float(p), "POW"), "SUM", [axis], False)
    return ctx.elementwise(total, 1.0 / float(p), "POW")


def _check_p(ctx, p):
    if ctx.is_tensor(p):
        raise ctx.error("p computed from the inputs is not supported", "p")
    p = float(p)
    if p < 0:
        raise ctx.error(f"p must be non-negative, got {p}", "p")
    return p


DIFF_LIMIT = 1 << 22


def _euclid_by_products(ctx, a, b):
    """sqrt(max(|a_i|^2 + |b_j|^2 - 2 a_i.b_j, 0)) for (..., P, M) and (..., R, M)."""
    rank = max(ctx.rank(a), ctx.rank(b))
    a, b = ctx.unsqueeze_to_rank(a, rank), ctx.unsqueeze_to_rank(b, rank)
    aa = ctx.reduce(ctx.elementwise(a, a, "PROD"), "SUM", [rank - 1], True)  # (..., P, 1)
    bb = ctx.reduce(ctx.elementwise(b, b, "PROD"), "SUM", [rank - 1], True)  # (..., R, 1)
    perm = list(range(rank - 2)) + [rank - 1, rank - 2]
    ab = ctx.network.add_matrix_multiply(a, T().MatrixOperation.NONE, b, T().MatrixOperation.TRANSPOSE).get_output(0)
    sq = ctx.elementwise(ctx.elementwise(aa, ctx.permute(bb, perm), "SUM"), ctx.elementwise(ab, 2.0, "PROD"), "SUB")
    return ctx.unary(ctx.elementwise(sq, 0.0, "MAX"), "SQRT")


def pairwise_distances(ctx, x1, x2, p):
    """(..., P, M) and (..., R, M) -> (..., P, R), batch dims broadcast."""
    p = _check_p(ctx, p)
    dtype = ctx.result_dtype(x1, x2)
    if not dtype.is_floating_point:
        raise ctx.error(f"cdist takes floating point inputs, got {dtype}", "x1")
    a, b = ctx.as_tensor(x1, dtype), ctx.as_tensor(x2, dtype)
    if ctx.rank(a) < 2 or ctx.rank(b) < 2:
        raise ctx.error("cdist needs inputs of rank >= 2", "x1")
    sa, sb = ctx.shape(a), ctx.shape(b)
    if all(d >= 0 for d in tuple(sa) + tuple(sb)):
        batch = torch.broadcast_shapes(tuple(sa[:-2]), tuple(sb[:-2]))
        elements = int(torch.Size(batch).numel()) * sa[-2] * sb[-2] * sa[-1]
        if elements > DIFF_LIMIT:
            if p == 2:
                return _euclid_by_products(ctx, a, b)
            raise ctx.error(f"p={p} distances need a ({elements}-element) difference tensor above the limit "
                            f"{DIFF_LIMIT}; p=2 uses matrix products instead", "p")
    da, db = ctx.dims(a), ctx.dims(b)
    a = ctx.reshape(a, da[:-1] + [1, da[-1]])  # (..., P, 1, M)
    b = ctx.reshape(b, db[:-2] + [1] + db[-2:])  # (..., 1, R, M)
    a, b = ctx.operands(a, b, dtype=dtype)
    diff = ctx.elementwise(a, b, "SUB")
    return _p_norm(ctx, diff, p, ctx.rank(diff) - 1)


@register_node_handler("aten::cdist(Tensor x1, Tensor x2, float p=2, int? compute_mode=None) -> Tensor")
def cdist(ctx, x1, x2, p=2.0, compute_mode=None):
    """``compute_mode`` only picks torch's algorithm (matrix product or differences), not the result."""
    return pairwise_distances(ctx, x1, x2, p)


def condensed_distances(ctx, x, p):
    """pdist: the upper triangle (i < j, row-major) of the (N, N) distance matrix."""
    x = ctx.as_tensor(x)
    if ctx.rank(x) != 2:
        raise ctx.error(f"pdist takes a 2-D input, got rank {ctx.rank(x)}", "input")
    n = ctx.require_static(x, "input", [0], "the number of pairs sets the output size")[0]
    if n < 2:
        raise ctx.error("pdist of fewer than 2 rows is empty, which is not supported", "input")
    full = pairwise_distances(ctx, x, x, p)
    flat = ctx.reshape(full, [n * n])
    rows, cols = torch.triu_indices(n, n, 1)
    return _gather(ctx, flat, rows * n + cols, 0)


@register_node_handler("aten::pdist(Tensor self, float p=2) -> Tensor")
def pdist(ctx, self, p=2.0):
    return condensed_distances(ctx, self, p)
