"""Kinds of aten ops the walker treats specially, and small graph helpers."""
from __future__ import annotations





class TraceCheckWarning(UserWarning):
    """A value the trace baked in, accepted because ``strict=False``."""

# ops whose outputs do not depend on tensor values when shapes are static: folded in torch
# (size-like ops see a meta tensor; creation ops see zeros of the traced shape and dtype)
_SIZE_OPS = {"aten::size", "aten::dim", "aten::numel", "aten::len", "aten::_shape_as_tensor"}
_CREATION_OPS = {"aten::new_zeros", "aten::new_ones", "aten::new_full", "aten::new_empty", "aten::zeros_like",
                 "aten::ones_like", "aten::full_like", "aten::empty_like"}
_SHAPE_OPS = _SIZE_OPS | _CREATION_OPS

# ops kept in the network even on constants: fake-quantized weights must reach TensorRT as
# constant -> Q -> DQ so that the builder can pick int8/fp8 kernels for the layer that uses them
_NETWORK_CONSTANT_OPS = {"aten::fake_quantize_per_tensor_affine", "aten::fake_quantize_per_channel_affine",
                         "aten::fused_moving_avg_obs_fake_quant"}

# ops whose output is a view of their first input: an in-place write to the view is written
# back into the base tensor (slice assignment, masked_fill_ on a view, ...)
_VIEW_OPS = {"aten::slice", "aten::select", "aten::view", "aten::reshape", "aten::flatten", "aten::unsqueeze",
             "aten::squeeze", "aten::permute", "aten::transpose", "aten::t", "aten::contiguous", "aten::detach",
             "aten::alias", "aten::view_as", "aten::reshape_as", "aten::narrow", "aten::expand"}


def is_inplace(kind: str) -> bool:
    name = kind.split("::")[-1]
    return name.endswith("_") and not name.endswith("__")




def _flatten(value) -> list:
    if isinstance(value, (list, tuple)):
        out = []
        for v in value:
            out.extend(_flatten(v))
        return out
    if isinstance(value, dict):
        return _flatten(list(value.values()))
    return [value]
