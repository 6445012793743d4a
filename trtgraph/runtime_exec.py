"""Running a deserialized engine: binding inputs and outputs by name and enqueueing it
(:func:`execute`), the input shape check against the metadata, and the diagnostics of a missing or
unsupported GPU."""
from __future__ import annotations

import torch

from .errors import EngineExecutionError, GpuUnavailableError, InputShapeError


def execute(cuda_engine, context, meta, inputs, stream_handle: int, device) -> list:
    """Bind ``inputs`` (tensors on ``device``, in ``meta.inputs`` order), allocate the outputs with the
    shapes the context reports, and enqueue the engine on ``stream_handle``. Returns the outputs."""
    from .dtypes import to_torch

    keep = []
    for spec, x in zip(meta.inputs, inputs):
        x = x.contiguous()
        keep.append(x)
        if not context.set_input_shape(spec.name, tuple(x.shape)):
            raise InputShapeError(f"TensorRT refused shape {tuple(x.shape)} for input {spec.name!r}"
                                  + _log_tail(), spec.name)
        if not context.set_tensor_address(spec.name, x.data_ptr()):
            raise EngineExecutionError(f"set_tensor_address failed for input {spec.name!r}" + _log_tail())
    outputs = []
    for spec in meta.outputs:
        shape = tuple(int(d) for d in context.get_tensor_shape(spec.name))
        if any(d < 0 for d in shape):
            raise EngineExecutionError(f"output {spec.name!r} has shape {shape} after the inputs were set: a "
                                       "data-dependent output shape, which TRTModule does not support")
        out = torch.empty(shape, dtype=to_torch(cuda_engine.get_tensor_dtype(spec.name)), device=device)
        if not context.set_tensor_address(spec.name, out.data_ptr()):
            raise EngineExecutionError(f"set_tensor_address failed for output {spec.name!r}" + _log_tail())
        outputs.append(out)
    if not context.execute_async_v3(stream_handle):
        raise EngineExecutionError("execute_async_v3 failed" + _log_tail())
    del keep  # the caching allocator orders their reuse after the work enqueued on this stream
    return outputs


def _check_shape(spec, shape: tuple):
    want = tuple(spec.shape)
    if len(shape) != len(want):
        raise InputShapeError(f"input {spec.name!r} has shape {shape} (rank {len(shape)}); the engine expects rank "
                              f"{len(want)}, shape {want}", spec.name)
    if spec.has_profile:
        lo, hi = tuple(spec.min), tuple(spec.max)
        if all(a <= d <= b for a, d, b in zip(lo, shape, hi)):
            return
        if lo == hi:
            raise InputShapeError(f"input {spec.name!r} has shape {shape}; the engine was built for the static shape "
                                  f"{lo}", spec.name)
        raise InputShapeError(f"input {spec.name!r} has shape {shape}, outside the engine's optimization profile "
                              f"(min {lo}, opt {tuple(spec.opt)}, max {hi})", spec.name)
    bad = [i for i, (d, w) in enumerate(zip(shape, want)) if w >= 0 and d != w]
    if bad:
        raise InputShapeError(f"input {spec.name!r} has shape {shape}; the engine expects {want} "
                              f"(dimension {bad[0]} differs)", spec.name)


def _trt():
    from . import backend

    return backend.trt()


def _log_tail() -> str:
    from . import backend

    msgs = backend.logger().errors()
    return "".join("\n  " + m for m in msgs[-5:])


def _supported_gpus(backend, before: str = "", after: str = "") -> str:
    """TensorRT-RTX 1.7's supported compute capabilities (as its own error message lists them)."""
    try:
        if backend.is_rtx() and backend.version().startswith("1.7"):
            return f"{before}TensorRT-RTX 1.7 engines run on compute capability 8.0, 8.6, 8.9, 12.0 or 12.1{after}"
    except Exception:  # noqa: BLE001 - only a hint
        pass
    return ""


def _gpu_error(what: str, device, flags: list, messages: list, backend) -> GpuUnavailableError:
    lines = [f"{what} (no usable GPU for this engine)."]
    try:
        name = torch.cuda.get_device_name(device)
        major, minor = torch.cuda.get_device_capability(device)
        lines.append(f"  device: {device} {name}, compute capability {major}.{minor}")
    except Exception as exc:  # noqa: BLE001 - diagnostics only
        lines.append(f"  device: {device} (properties unavailable: {type(exc).__name__}: {exc})")
    lines.append(f"  torch {torch.__version__}, CUDA {torch.version.cuda}; TensorRT {backend.flavour()} "
                 f"{backend.version()}")
    if flags:
        lines.append("  TensorRT diagnostics: " + ", ".join(flags))
    lines += ["  TensorRT: " + m for m in messages]
    hint = _supported_gpus(backend, "  ")
    if hint:
        lines.append(hint)
    return GpuUnavailableError("\n".join(lines))
