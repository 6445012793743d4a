"""Registry of layer implementations and the helpers they share.

Every implementation is ``fn(layer, inputs) -> list[torch.Tensor]``: ``inputs`` holds one torch
tensor per layer input (``None`` where an optional input is unset). Layers are duck typed: only
the attribute names of TensorRT's Python API are used, so a pure-Python fake network works too.
"""
from __future__ import annotations

import ctypes

import numpy as np
import torch

from ..errors import EvaluationError

IMPLS: dict = {}

# LayerType name -> TensorRT Python class, for downcasting the plain ILayer of a real network.
LAYER_CLASSES = {
    "CONVOLUTION": "IConvolutionLayer", "DECONVOLUTION": "IDeconvolutionLayer",
    "GRID_SAMPLE": "IGridSampleLayer", "NMS": "INMSLayer", "ACTIVATION": "IActivationLayer",
    "POOLING": "IPoolingLayer", "LRN": "ILRNLayer", "SCALE": "IScaleLayer",
    "SOFTMAX": "ISoftMaxLayer", "CONCATENATION": "IConcatenationLayer",
    "ELEMENTWISE": "IElementWiseLayer", "UNARY": "IUnaryLayer", "PADDING": "IPaddingLayer",
    "SHUFFLE": "IShuffleLayer", "REDUCE": "IReduceLayer", "TOPK": "ITopKLayer",
    "GATHER": "IGatherLayer", "MATRIX_MULTIPLY": "IMatrixMultiplyLayer",
    "RAGGED_SOFTMAX": "IRaggedSoftMaxLayer", "CONSTANT": "IConstantLayer",
    "IDENTITY": "IIdentityLayer", "CAST": "ICastLayer", "SLICE": "ISliceLayer",
    "SHAPE": "IShapeLayer", "PARAMETRIC_RELU": "IParametricReLULayer", "RESIZE": "IResizeLayer",
    "TRIP_LIMIT": "ITripLimitLayer", "RECURRENCE": "IRecurrenceLayer",
    "ITERATOR": "IIteratorLayer", "LOOP_OUTPUT": "ILoopOutputLayer", "SELECT": "ISelectLayer",
    "ASSERTION": "IAssertionLayer", "FILL": "IFillLayer", "QUANTIZE": "IQuantizeLayer",
    "DEQUANTIZE": "IDequantizeLayer", "CONDITION": "IConditionLayer",
    "CONDITIONAL_INPUT": "IIfConditionalInputLayer",
    "CONDITIONAL_OUTPUT": "IIfConditionalOutputLayer", "SCATTER": "IScatterLayer",
    "EINSUM": "IEinsumLayer", "ONE_HOT": "IOneHotLayer", "NON_ZERO": "INonZeroLayer",
    "REVERSE_SEQUENCE": "IReverseSequenceLayer", "NORMALIZATION": "INormalizationLayer",
    "SQUEEZE": "ISqueezeLayer", "UNSQUEEZE": "IUnsqueezeLayer", "CUMULATIVE": "ICumulativeLayer",
    "DYNAMIC_QUANTIZE": "IDynamicQuantizeLayer", "ATTENTION_INPUT": "IAttentionInputLayer",
    "ATTENTION_OUTPUT": "IAttentionOutputLayer", "ROTARY_EMBEDDING": "IRotaryEmbeddingLayer",
    "KV_CACHE_UPDATE": "IKVCacheUpdateLayer", "MOE": "IMoELayer",
}

_TORCH_DTYPES = {
    "FLOAT": torch.float32, "HALF": torch.float16, "BF16": torch.bfloat16,
    "INT8": torch.int8, "INT32": torch.int32, "INT64": torch.int64, "BOOL": torch.bool,
    "UINT8": torch.uint8, "FP8": torch.float8_e4m3fn,
}


def layer_impl(*type_names):
    """Register ``fn`` as the implementation of the given LayerType names."""
    def register(fn):
        for name in type_names:
            if name in IMPLS:
                raise ValueError(f"layer type {name} registered twice")
            IMPLS[name] = fn
        return fn
    return register


def enum_name(value) -> str:
    """'SUM' for ElementWiseOperation.SUM (also accepts plain strings)."""
    return value if isinstance(value, str) else value.name


def layer_type_name(layer) -> str:
    return enum_name(layer.type)


def torch_dtype(trt_dtype) -> torch.dtype:
    name = enum_name(trt_dtype)
    if name not in _TORCH_DTYPES:
        raise EvaluationError(f"TensorRT dtype {name} has no torch equivalent in the evaluator")
    return _TORCH_DTYPES[name]


def out_dtype(layer, i: int = 0) -> torch.dtype:
    """The torch dtype TensorRT inferred for output ``i``."""
    return torch_dtype(layer.get_output(i).dtype)


def dims(value) -> tuple:
    """trt.Dims / Permutation / tuple / list / torch tensor -> tuple of ints."""
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        return tuple(int(v) for v in value.reshape(-1).tolist())
    return tuple(int(v) for v in value)


_RAW_VIEWS = {"BF16": (torch.int16, torch.bfloat16), "FP8": (torch.uint8, torch.float8_e4m3fn),
              "HALF": (torch.int16, torch.float16)}


def _raw_weights(weights) -> torch.Tensor:
    """Copy the values of a trt.Weights whose dtype numpy lacks (BF16, FP8).

    ``Weights.numpy()`` returns the Weights object itself for these, and the Python API exposes
    no pointer, so the nvinfer1::Weights {DataType type; void const* values; int64_t count}
    held by the pybind11 instance (its value pointer follows the PyObject header) is read
    directly; its type and count are checked against the Python-visible ones first.
    """
    name = enum_name(weights.dtype)
    if name not in _RAW_VIEWS:
        raise EvaluationError(f"weights of dtype {name} cannot be read by the evaluator")
    holder = ctypes.c_void_p.from_address(id(weights) + 2 * ctypes.sizeof(ctypes.c_void_p)).value
    kind = ctypes.c_int32.from_address(holder).value
    values = ctypes.c_void_p.from_address(holder + 8).value
    count = ctypes.c_int64.from_address(holder + 16).value
    if kind != int(weights.dtype) or count != weights.size or not values:
        raise EvaluationError(f"cannot read {name} weights (unexpected Weights layout)")
    storage, dtype = _RAW_VIEWS[name]
    size = torch.empty((), dtype=storage).element_size()
    raw = ctypes.string_at(values, count * size)
    return torch.frombuffer(bytearray(raw), dtype=storage).view(dtype)


def to_torch(weights) -> torch.Tensor | None:
    """numpy array, trt.Weights or torch tensor -> torch tensor (None or empty -> None)."""
    if weights is None:
        return None
    if isinstance(weights, torch.Tensor):
        return weights
    if not isinstance(weights, np.ndarray) and hasattr(weights, "numpy"):
        if getattr(weights, "size", 1) == 0:
            return None
        array = weights.numpy()
        if array is weights or not isinstance(array, np.ndarray) or array.dtype == object:
            return _raw_weights(weights)
        weights = array
    array = np.ascontiguousarray(weights)
    if not array.flags.writeable:
        array = array.copy()  # torch.from_numpy warns on a read-only array
    # not copied: the tensor shares the weights' memory (often the model's parameters); layers never
    # write their inputs, and ``evaluate`` returns copies of the values that share a constant's memory
    if array.dtype.kind == "V" or str(array.dtype) == "bfloat16":
        return torch.from_numpy(array.view(np.uint16)).view(torch.bfloat16)
    return torch.from_numpy(array)


def weights_or_none(weights) -> torch.Tensor | None:
    tensor = to_torch(weights)
    if tensor is None or tensor.numel() == 0:
        return None
    return tensor


def bitmask_axes(mask: int, rank: int) -> list:
    return [i for i in range(rank) if (int(mask) >> i) & 1]


def compute_dtype(tensor: torch.Tensor) -> torch.dtype:
    """float32 for every floating dtype (half/bf16/fp8 are computed in float32 on CPU)."""
    return torch.float32 if tensor.dtype.is_floating_point else tensor.dtype


def as_compute(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.to(compute_dtype(tensor))


def scalar(tensor) -> float | int:
    if isinstance(tensor, torch.Tensor):
        return tensor.reshape(-1)[0].item()
    return tensor


def normalize_axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def attr(layer, name, default=None):
    """A layer attribute, or ``default`` when the (fake) layer lacks it or it is None."""
    value = getattr(layer, name, default)
    return default if value is None else value
