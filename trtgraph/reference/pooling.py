"""POOLING (max, average, max-average blend; 2-D and 3-D)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import EvaluationError
from ._core import attr, dims, enum_name, layer_impl, out_dtype
from ._window import torch_pad_list, window_padding


def pooling_kind(layer) -> str:
    """The PoolingType: a real IPoolingLayer's ``type`` property returns it (shadowing
    ILayer.type); a fake layer, whose ``type`` is the LayerType, carries ``pooling_type``."""
    kind = enum_name(layer.type)
    return enum_name(layer.pooling_type) if kind == "POOLING" else kind


def _windows(value, n, kernel, stride):
    rank = value.dim()
    for i in range(n):
        value = value.unfold(rank - n + i, kernel[i], stride[i])
    return value


@layer_impl("POOLING")
def pooling(layer, inputs):
    """Padding never counts for max; for average it counts unless average_count_excludes_padding.
    Windows that EXPLICIT_ROUND_UP adds past the explicit padding count only real elements
    (and the explicit padding if it is included)."""
    (x,) = inputs
    kernel = dims(layer.window_size_nd)
    n = len(kernel)
    if x.dim() < n + 1:
        raise EvaluationError(f"input of shape {tuple(x.shape)} is too small for a {n}-D window")
    stride = dims(attr(layer, "stride_nd", kernel))
    spatial = tuple(x.shape[-n:])
    pads = window_padding(layer, spatial, kernel, stride)
    full = torch_pad_list([(pre, post + extra) for pre, post, extra in pads])
    region = torch_pad_list([(0, extra) for _, _, extra in pads])
    real = F.pad(torch.ones(spatial), full)
    in_region = F.pad(F.pad(torch.ones(spatial), torch_pad_list([(p, q) for p, q, _ in pads]), value=1.0), region)
    kind = pooling_kind(layer)
    xf = x.float()
    results = {}
    if kind in ("MAX", "MAX_AVERAGE_BLEND"):
        padded = F.pad(xf, full, value=float("-inf"))
        results["MAX"] = _windows(padded, n, kernel, stride).amax(dim=tuple(range(-n, 0)))
    if kind in ("AVERAGE", "MAX_AVERAGE_BLEND"):
        total = _windows(F.pad(xf, full), n, kernel, stride).sum(dim=tuple(range(-n, 0)))
        excludes = bool(attr(layer, "average_count_excludes_padding", True))
        mask = real if excludes else in_region
        count = _windows(mask, n, kernel, stride).sum(dim=tuple(range(-n, 0)))
        results["AVERAGE"] = total / count
    if kind == "MAX_AVERAGE_BLEND":
        blend = float(attr(layer, "blend_factor", 0.0))
        y = blend * results["MAX"] + (1 - blend) * results["AVERAGE"]
    else:
        y = results[kind]
    return [y.to(out_dtype(layer))]
