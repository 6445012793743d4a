"""torch <-> TensorRT data types, in one place."""
from __future__ import annotations

import torch

from .backend import trt
from .errors import TrtGraphError

_PAIRS = [
    (torch.float32, "float32"),
    (torch.float16, "float16"),
    (torch.bfloat16, "bfloat16"),
    (torch.int32, "int32"),
    (torch.int64, "int64"),
    (torch.bool, "bool"),
    (torch.int8, "int8"),
    (torch.uint8, "uint8"),
    (torch.float8_e4m3fn, "fp8"),
]

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}

# dtypes TensorRT constants (add_constant weights) accept
CONSTANT_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.int64, torch.bool)


def to_trt(dtype: torch.dtype):
    for td, name in _PAIRS:
        if td == dtype:
            return getattr(trt(), name)
    raise TrtGraphError(f"torch dtype {dtype} has no TensorRT equivalent")


def to_torch(dtype) -> torch.dtype:
    t = trt()
    for td, name in _PAIRS:
        if getattr(t, name) == dtype:
            return td
    raise TrtGraphError(f"TensorRT dtype {dtype} has no torch equivalent")


def is_float(dtype) -> bool:
    """True for a floating TensorRT dtype."""
    t = trt()
    return dtype in (t.float32, t.float16, t.bfloat16)
