"""The conversion context handlers receive, and the shared layer helpers they call.

Handlers are written once against the TensorRT network API through these helpers; in the torch
debug mode the same calls go to :class:`trtgraph.debug.TorchNetwork`, which records the same
layers for the reference evaluator.

Conventions every helper keeps (TensorRT's strongly typed networks demand them):
- every floating tensor in the network has the context's float dtype (fp32/fp16/bf16 precision);
- elementwise/select/matmul operands are brought to equal rank (leading 1s) and equal dtype;
- axes are normalized to non-negative before they are set.

``DynamicDim`` (a dynamic dimension in ``shape``) is in :mod:`trtgraph.dynamic_dim` (re-exported here).
"""
from __future__ import annotations

import contextlib

from typing import Iterable, Optional, Sequence

import numpy as np
import torch

from .backend import trt
from .dtypes import CONSTANT_DTYPES, is_float, to_torch, to_trt
from .errors import HandlerError
from .dynamic_dim import DynamicDim  # noqa: F401


def T():
    """Shorthand for the TensorRT module inside handlers."""
    return trt()


class ConversionContext:
    """Network, precision, current node and the arrays TensorRT weights point to."""

    def __init__(self, network, float_dtype: torch.dtype = torch.float32, keep: Optional[list] = None):
        self.network = network
        self.float_dtype = float_dtype
        self.keep = keep if keep is not None else []
        self.node = None  # the jit node being converted (set by the walker)
        self.node_info = ""  # its description for error messages
        self.expected = []  # TracedType of each output of the node
        self.expected_dynamic = []  # per output, the axes that follow dynamic input sizes
        self.policy = None  # PrecisionPolicy of an fp16/bf16 network (set by the walker)
        self.constant_storages: set = set()  # storages of torch tensors that network weights point to

    @contextlib.contextmanager
    def computing_in(self, dtype: torch.dtype):
        """``with ctx.computing_in(torch.float32):`` -- float layers built inside compute in ``dtype``
        (float32 islands of an fp16/bf16 network); the previous dtype comes back on exit."""
        previous = self.float_dtype
        self.float_dtype = dtype
        try:
            yield self
        finally:
            self.float_dtype = previous

    def keeps_fp32(self, kind: str) -> bool:
        """True when the precision policy keeps op ``kind`` in float32 and this network computes
        in a reduced dtype (composite handlers use it through ``precision.Fp32Island``)."""
        return self.policy is not None and self.float_dtype != torch.float32 and self.policy.op_in_fp32(kind)

    def static_output_dim(self, axis: int, output: int = 0):
        """The traced size of an output dim that does not follow any dynamic input size, else None."""
        tt = self.expected[output] if output < len(self.expected) else None
        if tt is None or tt.shape is None:
            return None
        dyn = self.expected_dynamic[output] if output < len(self.expected_dynamic) else frozenset()
        axis = self.axis(axis, len(tt.shape))
        return None if axis in dyn else int(tt.shape[axis])

    # ------------------------------------------------------------------ predicates, errors
    def is_tensor(self, x) -> bool:
        from .network_state import is_trt_tensor

        return is_trt_tensor(x)

    def error(self, message: str, arg: Optional[str] = None) -> HandlerError:
        where = f"argument '{arg}' of " if arg else ""
        return HandlerError(f"{where}{self.node_info}: {message}")

    # ------------------------------------------------------------------ dtypes
    def logical_dtype(self, dtype: torch.dtype) -> torch.dtype:
        """The dtype a traced torch dtype has in this network (floats use the compute dtype)."""
        if dtype is not None and dtype.is_floating_point:
            return self.float_dtype
        return dtype

    def dtype(self, x) -> torch.dtype:
        if self.is_tensor(x):
            return to_torch(x.dtype)
        if isinstance(x, torch.Tensor):
            return self.logical_dtype(x.dtype)
        if isinstance(x, bool):
            return torch.bool
        if isinstance(x, int):
            return torch.int64
        return self.float_dtype

    # ------------------------------------------------------------------ constants and weights
    def array(self, value, dtype: Optional[torch.dtype] = None) -> np.ndarray:
        """A numpy array (kept alive until build) of a tensor or scalar, in the network's dtype."""
        t = value if isinstance(value, torch.Tensor) else torch.tensor(value)
        t = t.detach()
        target = dtype or self.logical_dtype(t.dtype)
        if target == torch.float64:
            target = self.float_dtype
        if target not in CONSTANT_DTYPES:
            raise self.error(f"constant of dtype {target} cannot be a TensorRT weight")
        if t.dtype != target:
            t = t.to(target)
        t = t.contiguous()
        if target == torch.bfloat16:
            # numpy has no bfloat16: keep the raw 16-bit pattern
            arr = t.view(torch.int16).numpy()
        else:
            arr = t.numpy()
        self.keep.append(arr)
        if t.numel():
            # the network now reads this memory: an in-place op folded later must not write into it
            self.constant_storages.add(t.untyped_storage().data_ptr())
        return arr

    def weights(self, value, dtype: Optional[torch.dtype] = None):
        """``trt.Weights`` pointing at (not copying) the tensor's memory when dtypes agree."""
        t = value if isinstance(value, torch.Tensor) else torch.tensor(value)
        target = dtype or self.logical_dtype(t.dtype)
        arr = self.array(t, target)
        if target == torch.bfloat16:
            return T().Weights(T().bfloat16, arr.ctypes.data, arr.size)
        return T().Weights(arr)

    def constant(self, value, dtype: Optional[torch.dtype] = None):
        """A constant layer holding a tensor or scalar (0-d for scalars)."""
        t = value if isinstance(value, torch.Tensor) else torch.tensor(value)
        w = self.weights(t, dtype)
        layer = self.network.add_constant(tuple(t.shape), w)
        return layer.get_output(0)

    def as_tensor(self, value, dtype: Optional[torch.dtype] = None):
        """A TensorRT tensor for a TensorRT tensor, torch tensor or Python scalar."""
        if self.is_tensor(value):
            if dtype is not None and to_torch(value.dtype) != dtype:
                return self.cast(value, dtype)
            return value
        if value is None:
            raise self.error("expected a tensor, got None")
        if isinstance(value, (list, tuple)):
            value = torch.tensor(value)
        return self.constant(value, dtype)

    # ------------------------------------------------------------------ shapes
    def shape(self, x) -> tuple:
        """The static shape; a dynamic dim is a :class:`DynamicDim` (-1), which refuses arithmetic
        and ordering, so a handler that needs the size fails with a named error, not a wrong engine."""
        if isinstance(x, torch.Tensor):
            return tuple(x.shape)
        if not hasattr(x, "shape"):
            return ()
        shape = tuple(x.shape)
        if any(d < 0 for d in shape):
            return tuple(DynamicDim(self.node_info) if d < 0 else d for d in shape)
        return shape

    def rank(self, x) -> int:
        return len(self.shape(x))

    @staticmethod
    def axis(dim: int, rank: int) -> int:
        """Normalize a possibly negative dim (TensorRT ignores negative axes silently). A 0-d
        tensor takes dim 0 and -1, like torch (both give 0)."""
        d = dim + max(rank, 1) if dim < 0 else dim
        if not 0 <= d < max(rank, 1):
            raise HandlerError(f"dimension {dim} is out of range for a tensor of rank {rank}")
        return d

    # dynamic dimensions: a dim is an int when static, a 0-d int64 network tensor when dynamic
    def is_dynamic(self, x) -> bool:
        return self.is_tensor(x) and any(d < 0 for d in self.shape(x))

    def dim_size(self, x, axis: int):
        """Size of ``axis``: a Python int when static, else a 0-d int64 tensor read from the shape."""
        x = self.as_tensor(x)
        shape = self.shape(x)
        axis = self.axis(axis, len(shape))
        if shape[axis] >= 0:
            return int(shape[axis])
        full = self.network.add_shape(x).get_output(0)
        if to_torch(full.dtype) != torch.int64:
            full = self.cast(full, torch.int64)
        index = self.constant(torch.tensor(axis, dtype=torch.int32))
        return self.network.add_gather(full, index, 0).get_output(0)

    def dims(self, x) -> list:
        """Every dim of ``x``: ints, with 0-d int64 tensors for the dynamic ones."""
        return [self.dim_size(x, i) if d < 0 else int(d) for i, d in enumerate(self.shape(x))]

    _INT_OPS = {"add": (lambda a, b: a + b, "SUM"), "sub": (lambda a, b: a - b, "SUB"),
                "mul": (lambda a, b: a * b, "PROD"), "floordiv": (lambda a, b: a // b, "FLOOR_DIV"),
                "min": (min, "MIN"), "max": (max, "MAX")}

    def int_op(self, a, b, op: str):
        """Integer arithmetic on sizes: Python ints fold, a dynamic size gives a 0-d int64 tensor."""
        fn, trt_op = self._INT_OPS[op]
        if not self.is_tensor(a) and not self.is_tensor(b):
            return fn(int(a), int(b))
        a, b = (self.cast(v, torch.int64) if self.is_tensor(v) else self.constant(torch.tensor(int(v))) for v in (a, b))
        return self.elementwise(a, b, trt_op, dtype=torch.int64)

    def require_static(self, x, arg: str, axes=None, why: str = ""):
        """Raise DynamicShapeError naming the node and argument if any of ``axes`` of ``x`` is dynamic."""
        from .errors import DynamicShapeError

        shape = self.shape(x)
        axes = range(len(shape)) if axes is None else [self.axis(a, len(shape)) for a in axes]
        bad = [a for a in axes if shape[a] < 0]
        if bad:
            raise DynamicShapeError(f"argument '{arg}' of {self.node_info}: dimension(s) {bad} of shape {shape} are "
                                    f"dynamic, and this op needs them static{' (' + why + ')' if why else ''}; "
                                    "make them static in dynamic_shapes")
        return shape

    def shape_tensor(self, dims: Sequence) -> object:
        """A 1-d int64 shape tensor from ints and 0-d/1-element int tensors."""
        parts, run = [], []
        for d in dims:
            if self.is_tensor(d):
                if run:
                    parts.append(self.constant(torch.tensor(run, dtype=torch.int64)))
                    run = []
                d = self.cast(d, torch.int64)
                if self.rank(d) != 1:
                    layer = self.network.add_shuffle(d)
                    layer.reshape_dims = (1,)
                    d = layer.get_output(0)
                parts.append(d)
            else:
                run.append(int(d))
        if run or not parts:
            parts.append(self.constant(torch.tensor(run, dtype=torch.int64)))
        if len(parts) == 1:
            return parts[0]
        layer = self.network.add_concatenation(parts)
        layer.axis = 0
        return layer.get_output(0)

    def reshape(self, x, shape: Sequence):
        """Reshape with torch's meaning of ``shape`` (one -1 inferred); entries may be dynamic sizes."""
        layer = self.network.add_shuffle(self.as_tensor(x))
        layer.zero_is_placeholder = False  # torch never copies a dim for 0
        if any(self.is_tensor(s) for s in shape):
            layer.set_input(1, self.shape_tensor(shape))
        else:
            layer.reshape_dims = tuple(int(s) for s in shape)
        return layer.get_output(0)

    def permute(self, x, perm: Sequence[int]):
        layer = self.network.add_shuffle(self.as_tensor(x))
        layer.first_transpose = tuple(int(p) for p in perm)
        return layer.get_output(0)

    def unsqueeze_to_rank(self, x, rank: int):
        shape = self.shape(x)
        if len(shape) >= rank:
            return x
        return self.reshape(x, [1] * (rank - len(shape)) + self.dims(x))

    def cast(self, x, dtype: torch.dtype):
        x = self.as_tensor(x)
        if to_torch(x.dtype) == dtype:
            return x
        return self.network.add_cast(x, to_trt(dtype)).get_output(0)

    def identity(self, x):
        return self.network.add_identity(self.as_tensor(x)).get_output(0)

    # ------------------------------------------------------------------ operand preparation
    def result_dtype(self, *values) -> torch.dtype:
        """torch's type promotion of the operands, mapped to the network's dtypes."""
        tensors = [v for v in values if self.is_tensor(v) or isinstance(v, torch.Tensor)]
        scalars = [v for v in values if not (self.is_tensor(v) or isinstance(v, torch.Tensor))]
        dtype = None
        for v in tensors:
            d = self.dtype(v)
            dtype = d if dtype is None else torch.promote_types(dtype, d)
        for s in scalars:
            if dtype is None:
                dtype = self.dtype(s)
            elif isinstance(s, float) and not dtype.is_floating_point:
                dtype = self.float_dtype
            elif isinstance(s, int) and not isinstance(s, bool) and dtype == torch.bool:
                dtype = torch.int64  # a bool tensor and a Python int give int64
        return self.logical_dtype(dtype)

    def operands(self, *values, dtype: Optional[torch.dtype] = None):
        """TensorRT tensors of equal rank and dtype for an elementwise/select op."""
        dtype = dtype or self.result_dtype(*values)
        tensors = [self.as_tensor(v, dtype) for v in values]
        rank = max(self.rank(t) for t in tensors)
        return [self.unsqueeze_to_rank(t, rank) for t in tensors]

    # ------------------------------------------------------------------ layer helpers
    def elementwise(self, a, b, op: str, dtype: Optional[torch.dtype] = None):
        a, b = self.operands(a, b, dtype=dtype)
        return self.network.add_elementwise(a, b, getattr(T().ElementWiseOperation, op)).get_output(0)

    def unary(self, x, op: str):
        x = self.as_tensor(x)
        return self.network.add_unary(x, getattr(T().UnaryOperation, op)).get_output(0)

    def activation(self, x, kind: str, alpha: Optional[float] = None, beta: Optional[float] = None):
        layer = self.network.add_activation(self.as_tensor(x), getattr(T().ActivationType, kind))
        if alpha is not None:
            layer.alpha = float(alpha)
        if beta is not None:
            layer.beta = float(beta)
        return layer.get_output(0)

    def reduce(self, x, op: str, dims: Iterable[int], keepdim: bool):
        x = self.as_tensor(x)
        rank = self.rank(x)
        mask = 0
        for d in dims:
            mask |= 1 << self.axis(d, rank)
        return self.network.add_reduce(x, getattr(T().ReduceOperation, op), mask, bool(keepdim)).get_output(0)

    def concat(self, tensors, dim: int):
        dtype = self.result_dtype(*tensors)
        tensors = [self.as_tensor(t, dtype) for t in tensors]
        layer = self.network.add_concatenation(tensors)
        layer.axis = self.axis(dim, self.rank(tensors[0]))
        return layer.get_output(0)

    def slice(self, x, start: Sequence, size: Sequence, stride: Sequence, mode: Optional[str] = None, fill=None):
        """A slice; any of ``start``/``size``/``stride`` may hold dynamic sizes (0-d int tensors).
        ``mode``: a SampleMode name (FILL/REFLECT/CLAMP/WRAP) for out-of-bounds reads, ``fill`` its value."""
        static = [all(not self.is_tensor(v) for v in seq) for seq in (start, size, stride)]
        layer = self.network.add_slice(self.as_tensor(x), *(tuple(int(v) for v in seq) if ok else (0,) * len(seq)
                                                           for seq, ok in zip((start, size, stride), static)))
        for k, (seq, ok) in enumerate(zip((start, size, stride), static)):
            if not ok:
                layer.set_input(k + 1, self.shape_tensor(seq))
        if mode is not None:
            layer.mode = getattr(T().SampleMode, mode)
        if fill is not None:
            layer.set_input(4, fill)
        return layer.get_output(0)

    def matmul(self, a, b):
        """torch.matmul semantics: vectors promoted, batch dims broadcast at equal rank."""
        dtype = self.result_dtype(a, b)
        a, b = self.as_tensor(a, dtype), self.as_tensor(b, dtype)
        op_a = T().MatrixOperation.VECTOR if self.rank(a) == 1 else T().MatrixOperation.NONE
        op_b = T().MatrixOperation.VECTOR if self.rank(b) == 1 else T().MatrixOperation.NONE
        if self.rank(a) > 1 and self.rank(b) > 1:
            rank = max(self.rank(a), self.rank(b))
            a, b = self.unsqueeze_to_rank(a, rank), self.unsqueeze_to_rank(b, rank)
        elif self.rank(a) == 1 and self.rank(b) > 2:
            pass
        return self.network.add_matrix_multiply(a, op_a, b, op_b).get_output(0)

    def select(self, cond, a, b, dtype: Optional[torch.dtype] = None):
        dtype = dtype or self.result_dtype(a, b)
        cond = self.as_tensor(cond, torch.bool)
        cond, a, b = [self.unsqueeze_to_rank(t, max(self.rank(cond), self.rank(self.as_tensor(a, dtype)),
                                                     self.rank(self.as_tensor(b, dtype))))
                      for t in (cond, self.as_tensor(a, dtype), self.as_tensor(b, dtype))]
        return self.network.add_select(cond, a, b).get_output(0)

    def is_float_tensor(self, x) -> bool:
        return is_float(x.dtype) if self.is_tensor(x) else isinstance(x, float)
