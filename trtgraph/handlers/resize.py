"""Interpolation: ``upsample_*`` (nearest, nearest-exact, linear, bilinear, bicubic, trilinear) as
one ``IResizeLayer``; both the plain overloads (output_size + optional per-axis scales) and the
``.vec`` overloads (output_size or scale_factors).

How torch maps an output coordinate ``d`` of an axis (input length ``n``, output length ``m``):

- ratio ``r`` = ``1 / scale`` when a scale is given for the axis, else ``n / m``;
- nearest: ``floor(d * r)`` (TensorRT ASYMMETRIC + FLOOR); nearest-exact: ``floor((d + 0.5) * r)``
  (HALF_PIXEL + HALF_UP);
- linear/cubic: ``(d + 0.5) * r - 0.5`` (HALF_PIXEL; linear clamps to the input), or with
  ``align_corners`` ``d * (n - 1) / (m - 1)`` whatever the scale (ALIGN_CORNERS);
- bicubic: Keys' kernel with a = -0.75 and border replication (``exclude_outside`` off).

TensorRT uses ``n / m`` when the layer has an output shape and ``1 / scale`` when it has scales
(its output length is then ``floor(n * scale)``). The layer gets the output shape whenever torch's
ratio equals ``n / m`` on every axis, and the scales otherwise (for example scale_factor 2.5 on a
length of 5: the output is 12, and torch samples at ``d / 2.5``, not ``d * 5 / 12``).
"""
from __future__ import annotations

import math

from ..context import T
from ..registry import Traced, register_node_handler

# op name -> (spatial dims, TensorRT mode, has align_corners, nearest variant)
_OPS = {
    "upsample_nearest1d": (1, "NEAREST", False, "floor"),
    "upsample_nearest2d": (2, "NEAREST", False, "floor"),
    "upsample_nearest3d": (3, "NEAREST", False, "floor"),
    "_upsample_nearest_exact1d": (1, "NEAREST", False, "exact"),
    "_upsample_nearest_exact2d": (2, "NEAREST", False, "exact"),
    "_upsample_nearest_exact3d": (3, "NEAREST", False, "exact"),
    "upsample_linear1d": (1, "LINEAR", True, None),
    "upsample_bilinear2d": (2, "LINEAR", True, None),
    "upsample_trilinear3d": (3, "LINEAR", True, None),
    "upsample_bicubic2d": (2, "CUBIC", True, None),
}


def _axis_scales(args, n):
    """Per spatial axis: the scale torch uses for the coordinate mapping, or None."""
    factors = args.get("scale_factors")
    if factors is not None:
        factors = list(factors)
        return factors * n if len(factors) == 1 else factors
    names = {1: ["scales"], 2: ["scales_h", "scales_w"], 3: ["scales_d", "scales_h", "scales_w"]}[n]
    return [args.get(k) for k in names]


def _plan(in_shape, out_shape, scales, align_corners):
    """('shape', None) or ('scales', [per-axis scale]) for the spatial axes, or (None, reason)."""
    n = len(scales)
    spatial_in, spatial_out = in_shape[-n:], out_shape[-n:]
    if align_corners:
        return "shape", None
    exact = True
    for L, M, s in zip(spatial_in, spatial_out, scales):
        if s is not None and s > 0 and not math.isclose(1.0 / s, L / M, rel_tol=1e-12, abs_tol=0.0):
            exact = False
    if exact:
        return "shape", None
    out = []
    for L, M, s in zip(spatial_in, spatial_out, scales):
        if s is None or s <= 0 or math.isclose(1.0 / s, L / M, rel_tol=1e-12, abs_tol=0.0):
            s = M / L
        if math.floor(L * s) != M:
            return None, (f"scale {s} maps a length of {L} to {math.floor(L * s)}, "
                          f"but the output length is {M}")
        out.append(float(s))
    return "scales", out


def _validator(name):
    n, mode, has_align, _ = _OPS[name]

    def validate(args):
        x = args.get("self", args.get("input"))
        if not isinstance(x, Traced) or x.shape is None:
            return None
        if len(x.shape) != n + 2:
            return f"{name} of a rank-{len(x.shape)} input (expected rank {n + 2})"
        size = args.get("output_size")
        scales = _axis_scales(args, n)
        if size is None:
            if any(s is None for s in scales):
                return f"{name} without output_size and scale_factors"
            size = [math.floor(L * s) for L, s in zip(x.shape[-n:], scales)]
        if not isinstance(size, (list, tuple)) or any(not isinstance(v, int) for v in size):
            return None  # computed from shapes at conversion time
        kind, reason = _plan(x.shape, tuple(x.shape[:2]) + tuple(size), scales,
                             bool(args.get("align_corners")) and has_align)
        return reason if kind is None else None

    return validate


def resize(ctx, x, out_shape, mode, align_corners=False, scales=None, nearest="floor"):
    """One IResizeLayer with torch's semantics (``scales``: per spatial axis, or None)."""
    x = ctx.as_tensor(x)
    in_shape = ctx.shape(x)
    rank = len(in_shape)
    n = len(scales) if scales is not None else rank - 2
    scales = scales if scales is not None else [None] * n
    if any(d < 0 for d in in_shape[-n:]):
        # dynamic spatial size: torch's scale factors apply at every size; a fixed output size stays fixed
        if all(s is not None and s > 0 for s in scales):
            kind, plan = "scales", [float(s) for s in scales]
        else:
            kind, plan = "shape", None
    else:
        kind, plan = _plan(in_shape, out_shape, scales, align_corners)
    if kind is None:
        raise ctx.error(plan)
    t = T()
    layer = ctx.network.add_resize(x)
    if kind == "shape":
        dims = ctx.dims(x)[:rank - n] + [int(d) for d in out_shape[-n:]]
        if any(ctx.is_tensor(d) for d in dims):
            layer.set_input(1, ctx.shape_tensor(dims))
        else:
            layer.shape = tuple(dims)
    else:
        layer.scales = [1.0] * (rank - n) + plan
    layer.resize_mode = getattr(t.InterpolationMode, mode)
    layer.selector_for_single_pixel = t.ResizeSelector.FORMULA
    if mode == "NEAREST":
        if nearest == "exact":
            layer.coordinate_transformation = t.ResizeCoordinateTransformation.HALF_PIXEL
            layer.nearest_rounding = t.ResizeRoundMode.HALF_UP
        else:
            layer.coordinate_transformation = t.ResizeCoordinateTransformation.ASYMMETRIC
            layer.nearest_rounding = t.ResizeRoundMode.FLOOR
    else:
        layer.coordinate_transformation = (t.ResizeCoordinateTransformation.ALIGN_CORNERS if align_corners
                                           else t.ResizeCoordinateTransformation.HALF_PIXEL)
        if mode == "CUBIC":
            layer.cubic_coeff = -0.75
            layer.exclude_outside = False
    return layer.get_output(0)


def _register(name):
    n, mode, has_align, nearest = _OPS[name]

    def handler(ctx, **args):
        x = args.get("self", args.get("input"))
        out_shape = ctx.expected[0].shape if ctx.expected and ctx.expected[0] is not None else None
        scales = _axis_scales(args, n)
        if out_shape is None:
            in_shape = ctx.shape(x)
            size = args.get("output_size")
            if size is None:
                size = [math.floor(L * s) for L, s in zip(in_shape[-n:], scales)]
            out_shape = tuple(in_shape[:-n]) + tuple(int(v) for v in size)
        align = bool(args.get("align_corners")) and has_align
        return resize(ctx, x, tuple(out_shape), mode, align, scales, nearest)

    handler.__name__ = name.lstrip("_")
    register_node_handler(f"aten::{name}", validator=_validator(name))(handler)


for _name in _OPS:
    _register(_name)
