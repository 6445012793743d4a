"""var, std, var_mean, std_mean (with torch's correction/unbiased arguments)."""
from __future__ import annotations

from ..registry import register_node_handler
from .math_common import _numel
from .vector_norm import _reduction_input


# ---------------------------------------------------------------------------- var, std

def _correction(unbiased, correction):
    if correction is not None:
        return float(correction)
    return 1.0 if unbiased is None or unbiased else 0.0


def variance(ctx, x, dim, correction, keepdim):
    """(variance, mean): ``sum((x - mean)^2) / (N - correction)`` over ``dim`` (float32 in fp16/bf16
    networks through the precision policy's default, like the norms)."""
    x, dims, squeeze = _reduction_input(ctx, x, dim, keepdim)
    shape = ctx.shape(x)
    n = _numel([shape[ctx.axis(d, len(shape))] for d in dims])
    dt = ctx.dtype(x)  # explicit: ctx.elementwise would map fp32 to the network's float dtype
    mean = ctx.reduce(x, "AVG", dims, True)
    centered = ctx.elementwise(x, mean, "SUB", dtype=dt)
    total = ctx.reduce(ctx.elementwise(centered, centered, "PROD", dtype=dt), "SUM", dims, keepdim)
    var = ctx.elementwise(total, float(max(n - correction, 0.0)), "DIV", dtype=dt)
    if not keepdim:
        mean = ctx.reduce(x, "AVG", dims, False)
    if squeeze:
        var, mean = ctx.reshape(var, ()), ctx.reshape(mean, ())
    return var, mean


def _var_args(args):
    dim = args.get("dim")
    return dim, _correction(args.get("unbiased"), args.get("correction")), bool(args.get("keepdim", False))


@register_node_handler("aten::var(Tensor self, int[1]? dim=None, *, Scalar? correction=None, bool keepdim=False) -> Tensor")
def var(ctx, self, **args):
    """Every overload: var(self, unbiased), var.dim(self, dim, unbiased, keepdim), var.correction."""
    dim, corr, keepdim = _var_args(args)
    return variance(ctx, self, dim, corr, keepdim)[0]


@register_node_handler("aten::std(Tensor self, int[1]? dim=None, *, Scalar? correction=None, bool keepdim=False) -> Tensor")
def std(ctx, self, **args):
    dim, corr, keepdim = _var_args(args)
    return ctx.unary(variance(ctx, self, dim, corr, keepdim)[0], "SQRT")


@register_node_handler("aten::var_mean(Tensor self, int[1]? dim=None, *, Scalar? correction=None, bool keepdim=False) "
                       "-> (Tensor, Tensor)")
def var_mean(ctx, self, **args):
    dim, corr, keepdim = _var_args(args)
    return variance(ctx, self, dim, corr, keepdim)


@register_node_handler("aten::std_mean(Tensor self, int[1]? dim=None, *, Scalar? correction=None, bool keepdim=False) "
                       "-> (Tensor, Tensor)")
def std_mean(ctx, self, **args):
    dim, corr, keepdim = _var_args(args)
    v, m = variance(ctx, self, dim, corr, keepdim)
    return ctx.unary(v, "SQRT"), m
