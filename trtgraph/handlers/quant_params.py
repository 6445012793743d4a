"""The quantization parameters of torch's fake-quant and quantize ops, checked against what
TensorRT's symmetric int8 Q/DQ can represent (:mod:`trtgraph.handlers.quant` explains the rules):
constant scales and zero points, the clamp range in int8 units, and the registry validators."""
from __future__ import annotations

import torch

from ..registry import Traced


_INT8_MIN, _INT8_MAX = -128, 127


class _Refused(Exception):
    """A reason why a quantization node cannot become TensorRT Q/DQ layers."""


# --------------------------------------------------------------------------- quantization parameters

def _is_dynamic(value) -> bool:
    return isinstance(value, Traced) and value.dynamic


def _known(value) -> bool:
    """A value the up-front check can inspect (not a placeholder of a tensor)."""
    return not isinstance(value, Traced)


def _dynamic_reason(what):
    return (f"the {what} is computed from the model inputs; TensorRT's Q/DQ layers need a build-time "
            "constant (disable the observer before converting: model.apply(torch.ao.quantization.disable_observer))")


def _constant(ctx, value, what):
    """A constant quantization parameter as a 1-D tensor; refuses network tensors."""
    if _is_dynamic(value) or (ctx is not None and ctx.is_tensor(value)):
        raise _Refused(_dynamic_reason(what))
    return torch.as_tensor(value).detach().reshape(-1)


def _qparams(scale, zero_point, quant_min, quant_max, channels=None, ctx=None):
    """Check the parameters of a fake quantization; return (fp32 scale, low, high) with the
    clamp range [low, high] = [quant_min - zero_point, quant_max - zero_point] in int8 units.

    ``channels``: None for per-tensor; the size of the channel axis for per-channel (-1: unknown,
    a dynamic dimension)."""
    s = _constant(ctx, scale, "scale").to(torch.float32)
    z = _constant(ctx, zero_point, "zero_point")
    if channels is None and (s.numel() != 1 or z.numel() != 1):
        raise _Refused(f"per-tensor quantization with {s.numel()} scales and {z.numel()} zero points")
    if channels is not None and (s.numel() != z.numel() or (channels >= 0 and s.numel() != channels)):
        raise _Refused(f"per-channel quantization over {channels} channels with {s.numel()} scales and "
                       f"{z.numel()} zero points")
    if not bool(torch.isfinite(s).all()) or not bool((s > 0).all()):
        raise _Refused(f"scale {_show(s)}: TensorRT needs positive, finite scales")
    if z.dtype.is_floating_point:
        if not bool((z == torch.round(z)).all()):
            raise _Refused(f"zero_point {_show(z)} is not integral: the quantization grid is shifted off "
                           "zero, which TensorRT's symmetric int8 cannot represent")
    z = z.to(torch.int64)
    low, high = int(quant_min) - z, int(quant_max) - z
    if bool((low < _INT8_MIN).any()) or bool((high > _INT8_MAX).any()):
        if bool((z != 0).any()):
            raise _Refused(f"asymmetric zero_point {_show(z)}: quant range [{quant_min}, {quant_max}] becomes "
                           f"[{_show(low)}, {_show(high)}] around the zero point, outside TensorRT's int8 range "
                           f"[{_INT8_MIN}, {_INT8_MAX}] (TensorRT's Q/DQ are symmetric: zero point 0)")
        raise _Refused(f"quant range [{quant_min}, {quant_max}] does not fit TensorRT's int8 range "
                       f"[{_INT8_MIN}, {_INT8_MAX}] (TensorRT's Q/DQ are symmetric int8 with zero point 0)")
    return s, low, high


def _show(t: torch.Tensor):
    values = t.reshape(-1).tolist()
    if len(values) == 1:
        return values[0]
    return values if len(values) <= 6 else values[:6] + ["..."]


def _channels(value, axis) -> int:
    """The traced size of ``value``'s channel axis (-1 when unknown)."""
    shape = value.shape if isinstance(value, Traced) else None
    if shape is None or not -len(shape) <= axis < len(shape) or shape[axis] is None:
        return -1
    return int(shape[axis])


def _validator(per_channel_axis=None, qrange=None):
    """A registry validator around :func:`_qparams`: checks what is known before conversion (constants
    known only at conversion are checked by the handler)."""
    def validate(args):
        if "tensors" in args:
            return "the list overload (a list of tensors) is not supported"
        scale, zero_point = args.get("scale", args.get("scales")), args.get("zero_point", args.get("zero_points"))
        try:
            low, high = qrange(args) if qrange is not None else (args["quant_min"], args["quant_max"])
            if not (_is_dynamic(scale) or _is_dynamic(zero_point)) and not (_known(scale) and _known(zero_point)):
                return None
            channels = None
            if per_channel_axis is not None:
                channels = _channels(args["self"], per_channel_axis(args))
            _qparams(scale, zero_point, low, high, channels)
        except _Refused as exc:
            return str(exc)
        return None
    return validate
