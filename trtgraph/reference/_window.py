"""Padding of sliding-window layers (convolution, deconvolution, pooling)."""
from __future__ import annotations

import math

from ._core import attr, dims, enum_name


def explicit_pads(layer, n: int):
    """(pre, post) as set on the layer; ``padding_nd`` when pre/post are absent."""
    symmetric = dims(attr(layer, "padding_nd", (0,) * n))
    pre = dims(attr(layer, "pre_padding", symmetric))
    post = dims(attr(layer, "post_padding", symmetric))
    return list(pre[-n:] if len(pre) >= n else (0,) * n), list(post[-n:] if len(post) >= n else (0,) * n)


def window_padding(layer, sizes, kernels, strides):
    """Per spatial dim: (pre, post, extra) where ``extra`` is padding past ``post`` that
    EXPLICIT_ROUND_UP needs for its last, partially outside window.

    SAME_UPPER / SAME_LOWER ignore the explicit padding: output = ceil(in / stride) and the odd
    padding element goes after (UPPER) or before (LOWER).
    """
    n = len(sizes)
    mode = enum_name(attr(layer, "padding_mode", "EXPLICIT_ROUND_DOWN"))
    pre, post = explicit_pads(layer, n)
    result = []
    for i in range(n):
        size, k, s = sizes[i], kernels[i], strides[i]
        if mode in ("SAME_UPPER", "SAME_LOWER"):
            out = -(-size // s)
            total = max(0, (out - 1) * s + k - size)
            small, big = total // 2, total - total // 2
            result.append((small, big, 0) if mode == "SAME_UPPER" else (big, small, 0))
            continue
        span = size + pre[i] + post[i] - k
        extra = 0
        if mode == "EXPLICIT_ROUND_UP":
            out = math.ceil(span / s) + 1
            extra = max(0, (out - 1) * s + k - (size + pre[i] + post[i]))
        result.append((pre[i], post[i], extra))
    return result


def torch_pad_list(pads):
    """[(before, after), ...] over the trailing dims -> F.pad's reversed flat list."""
    flat = []
    for before, after in reversed(pads):
        flat += [before, after]
    return flat
