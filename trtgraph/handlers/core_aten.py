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


# ---------------------------------------------------------------------------- core ATen names

def output_used(ctx, k: int) -> bool:
    """True when output ``k`` of the node being converted is read by a later node (or is a graph output)."""
    node = ctx.node
    return node is not None and k < node.outputsSize() and bool(node.outputsAt(k).uses())


def refuse_if_used(ctx, outputs, why):
    for k in outputs:
        if output_used(ctx, k):
            raise ctx.error(f"output {k} of this op is read by the model, and it is not computed ({why})")


def _moments(ctx, x, axes, eps):
    """(mean, 1/sqrt(biased var + eps)) over ``axes``, kept as size-1 dims."""
    mean = ctx.reduce(x, "AVG", axes, True)
    centered = ctx.elementwise(x, mean, "SUB")
    var = ctx.reduce(ctx.elementwise(centered, centered, "PROD"), "AVG", axes, True)
    rstd = ctx.unary(ctx.unary(ctx.elementwise(var, float(eps), "SUM"), "SQRT"), "RECIP")
    return mean, rstd


@register_node_handler("aten::native_layer_norm(Tensor input, SymInt[] normalized_shape, Tensor? weight, Tensor? bias, "
                       "float eps) -> (Tensor, Tensor, Tensor)")
def native_layer_norm(ctx, input, normalized_shape, weight, bias, eps):
    """(output, mean, rstd); the statistics have the input's shape with the normalized dims set to 1."""
    from .norm import layer_norm

    y = layer_norm(ctx, input, normalized_shape, weight, bias, eps)
    if not (output_used(ctx, 1) or output_used(ctx, 2)):
        return y, None, None
    x = as_float_input(ctx, input)
    rank = ctx.rank(x)
    mean, rstd = _moments(ctx, x, list(range(rank - len(normalized_shape), rank)), eps)
    return y, mean, rstd


def as_float_input(ctx, x):
    x = ctx.as_tensor(x)
    return x if ctx.dtype(x).is_floating_point else ctx.cast(x, ctx.float_dtype)


@register_node_handler("aten::native_group_norm(Tensor input, Tensor? weight, Tensor? bias, SymInt N, SymInt C, "
                       "SymInt HxW, int group, float eps) -> (Tensor, Tensor, Tensor)")
def native_group_norm(ctx, input, weight, bias, N, C, HxW, group, eps):
    """(output, mean, rstd), the statistics of shape (N, group)."""
    from .norm import group_norm

    y = group_norm(ctx, input, group, weight, bias, eps)
    if not (output_used(ctx, 1) or output_used(ctx, 2)):
        return y, None, None
    x = as_float_input(ctx, input)
    n = ctx.dim_size(x, 0)
    grouped = ctx.reshape(x, [n, int(group), -1])
    mean, rstd = _moments(ctx, grouped, [2], eps)
    return y, ctx.reshape(mean, [n, int(group)]), ctx.reshape(rstd, [n, int(group)])


def _batch_norm_outputs(ctx, input, weight, bias, running_mean, running_var, training, eps):
    """Eval: running statistics (torch returns empty save_mean/save_invstd, refused if read).
    Training: the batch's statistics, with save_mean/save_invstd of shape (C,)."""
    from .norm import batch_norm

    if not training:
        if running_mean is None or running_var is None:
            raise ctx.error("batch norm in eval mode without running statistics", "running_mean")
        refuse_if_used(ctx, (1, 2), "torch returns empty statistics in eval mode")
        return batch_norm(ctx, input, weight, bias, running_mean, running_var, False, 0.0, eps, True), None, None
    x = as_float_input(ctx, input)
    rank = ctx.rank(x)
    axes = [0] + list(range(2, rank))
    mean, rstd = _moments(ctx, x, axes, eps)
    y = ctx.elementwise(ctx.elementwise(x, mean, "SUB"), rstd, "PROD")
    shape = [1, -1] + [1] * (rank - 2)
    if weight is not None:
        y = ctx.elementwise(y, ctx.reshape(ctx.as_tensor(weight, ctx.dtype(x)), shape), "PROD")
    if bias is not None:
        y = ctx.elementwise(y, ctx.reshape(ctx.as_tensor(bias, ctx.dtype(x)), shape), "SUM")
    c = ctx.dim_size(x, 1)
    return y, ctx.reshape(mean, [c]), ctx.reshape(rstd, [c])


@register_node_handler("aten::native_batch_norm(Tensor input, Tensor? weight, Tensor? bias, Tensor? running_mean, "
                       "Tensor? running_var, bool training, float momentum, float eps) -> (Tensor, Tensor, Tensor)")
def native_batch_norm(ctx, input, weight, bias, running_mean, running_var, training, momentum, eps):
    return _batch_norm_outputs(ctx, input, weight, bias, running_mean, running_var, training, eps)


@register_node_handler("aten::_native_batch_norm_legit")
def _native_batch_norm_legit(ctx, input, weight, bias, running_mean=None, running_var=None, training=True,
                             momentum=0.1, eps=1e-5):
    """Both overloads: with running statistics, and ``no_stats`` (always the batch's statistics).
    Training mode's update of the running statistics is a side effect the network does not keep."""
    return _batch_norm_outputs(ctx, input, weight, bias, running_mean, running_var, training, eps)


@register_node_handler("aten::_native_batch_norm_legit_no_training(Tensor input, Tensor? weight, Tensor? bias, "
                       "Tensor running_mean, Tensor running_var, float momentum, float eps) "
                       "-> (Tensor, Tensor, Tensor)")
def _native_batch_norm_legit_no_training(ctx, input, weight, bias, running_mean, running_var, momentum, eps):
    return _batch_norm_outputs(ctx, input, weight, bias, running_mean, running_var, False, eps)


def _validate_native_dropout(args):
    if args.get("train") is not False and args.get("p", 0) != 0:
        return ("native_dropout with train=True/None (random masks; trace the model in eval mode, which "
                "passes train=False)")
    return None


@register_node_handler("aten::native_dropout(Tensor input, float p, bool? train) -> (Tensor, Tensor)",
                       validator=_validate_native_dropout)
def native_dropout(ctx, input, p, train):
    """Inference: the input unchanged and an all-True keep mask."""
    x = ctx.as_tensor(input)
    mask = None
    if output_used(ctx, 1):
        from .shape import expand

        mask = expand(ctx, ctx.constant(torch.ones((1,) * ctx.rank(x), dtype=torch.bool)), ctx.dims(x))
    return ctx.identity(x), mask


@register_node_handler("aten::convolution(Tensor input, Tensor weight, Tensor? bias, SymInt[] stride, "
                       "SymInt[] padding, "
                       "SymInt[] dilation, bool transposed, SymInt[] output_padding, SymInt groups) -> Tensor")
def convolution(ctx, input, weight, bias, stride, padding, dilation, transposed, output_padding, groups):
    from .conv import _validate, convolution as conv

    reason = _validate({"weight": weight, "transposed": transposed, "stride": stride, "dilation": dilation})
    if reason:
        raise ctx.error(reason, "weight")
    return conv(ctx, input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)


@register_node_handler("aten::_prelu_kernel(Tensor self, Tensor weight) -> Tensor")
def _prelu_kernel(ctx, self, weight):
    """``where(x > 0, x, weight * x)`` with ``weight`` broadcast as given (prelu has reshaped it)."""
    x = ctx.as_tensor(self)
    dtype = ctx.result_dtype(x, weight)
    scaled = ctx.elementwise(x, weight, "PROD", dtype=dtype)
    x, scaled = ctx.operands(x, scaled, dtype=dtype)
    return ctx.select(ctx.elementwise(x, 0.0, "GREATER", dtype=dtype), x, scaled, dtype=dtype)


def _adaptive_avg(n):
    @register_node_handler(f"aten::_adaptive_avg_pool{n}d(Tensor self, SymInt[{n}] output_size) -> Tensor")
    def handler(ctx, self, output_size):
        from .pooling import adaptive

        size = list(output_size)
        return adaptive(ctx, self, size * n if len(size) == 1 else size, "avg")
    handler.__name__ = f"_adaptive_avg_pool{n}d"
    return handler


for _n in (2, 3):
    _adaptive_avg(_n)


@register_node_handler("aten::sym_size.int(Tensor self, int dim) -> SymInt")
def sym_size_int(ctx, self, dim):
    return ctx.dim_size(self, dim)


@register_node_handler("aten::sym_size(Tensor self) -> SymInt[]")
def sym_size(ctx, self):
    return ctx.dims(self)


@register_node_handler("aten::sym_numel(Tensor self) -> SymInt")
def sym_numel(ctx, self):
    n = 1
    for d in ctx.dims(self):
        n = ctx.int_op(n, d, "mul")
    return n


def _sdpa_variant(name, n_outputs, mask_arg):
    def handler(ctx, query, key, value, attn_bias=None, compute_log_sumexp=False, dropout_p=0.0, is_causal=False,
                return_debug_mask=False, scale=None, attn_mask=None, q_descale=None, k_descale=None,
                v_descale=None, **_):
        from .attention import scaled_dot_product_attention

        descales = {"q_descale": q_descale, "k_descale": k_descale, "v_descale": v_descale}
        for arg, v in descales.items():  # the quantized overload scales its inputs: not converted
            if v is not None:
                raise ctx.error(f"{arg} is given (quantized attention); trtgraph does not convert it", arg)
        refuse_if_used(ctx, range(1, n_outputs), "the kernel's log-sum-exp, RNG and sequence bookkeeping")
        if dropout_p:
            raise ctx.error(f"dropout_p={dropout_p} (random; inference uses 0)", "dropout_p")
        mask = attn_bias if mask_arg == "attn_bias" else attn_mask
        y = scaled_dot_product_attention(ctx, query, key, value, mask, 0.0, is_causal, scale)
        return (y,) + (None,) * (n_outputs - 1)
    handler.__name__ = name
    register_node_handler(f"aten::{name}")(handler)


_sdpa_variant("_scaled_dot_product_flash_attention", 9, None)
_sdpa_variant("_scaled_dot_product_efficient_attention", 4, "attn_bias")
_sdpa_variant("_scaled_dot_product_cudnn_attention", 9, "attn_bias")
_sdpa_variant("_scaled_dot_product_flash_attention_for_cpu", 2, "attn_mask")


@register_node_handler("aten::_cdist_forward(Tensor x1, Tensor x2, float p, int? compute_mode) -> Tensor")
def _cdist_forward(ctx, x1, x2, p, compute_mode):
    from .linalg import pairwise_distances

    return pairwise_distances(ctx, x1, x2, p)


@register_node_handler("aten::_pdist_forward(Tensor self, float p=2) -> Tensor")
def _pdist_forward(ctx, self, p=2.0):
    from .linalg import condensed_distances

    return condensed_distances(ctx, self, p)
