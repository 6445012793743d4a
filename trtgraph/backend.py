"""The one place trtgraph imports TensorRT.

Order of preference (override with ``TRTGRAPH_BACKEND=tensorrt|tensorrt_rtx|rtx_bindings``):

1. ``tensorrt`` -- standard TensorRT 10.x/11.x;
2. ``tensorrt_rtx`` -- the TensorRT-RTX front package;
3. ``tensorrt_rtx_bindings`` -- the RTX bindings wheel, with ``libtensorrt_rtx.so.1`` and
   ``libtensorrt_onnxparser_rtx.so.1`` preloaded from the ``onnxruntime-ep-nv-tensorrt-rtx-cu13``
   wheel (no ``LD_LIBRARY_PATH`` needed).

Only the API shared by TensorRT 10/11 and TensorRT-RTX is used anywhere in trtgraph; optional
features are probed with ``hasattr``.
"""
from __future__ import annotations

import ctypes
import importlib
import importlib.util
import os
from pathlib import Path

from .errors import BackendUnavailableError

_INSTALL_HINT = (
    "install TensorRT-RTX with `pip install 'trtgraph[rtx]'` (tensorrt-rtx-cu13-bindings==1.7.1.116 "
    "and onnxruntime-ep-nv-tensorrt-rtx-cu13==0.5.0) or standard TensorRT with `pip install 'trtgraph[trt]'`"
)

_trt = None
_flavour = None


def _load_tensorrt():
    import tensorrt  # noqa: PLC0415

    return tensorrt


def _load_tensorrt_rtx():
    import tensorrt_rtx  # noqa: PLC0415

    return tensorrt_rtx


def _load_rtx_bindings():
    spec = importlib.util.find_spec("onnxruntime_ep_nv_tensorrt_rtx")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("onnxruntime-ep-nv-tensorrt-rtx-cu13 (which ships libtensorrt_rtx.so) is not installed")
    folder = Path(list(spec.submodule_search_locations)[0])
    for stem in ("libtensorrt_rtx.so", "libtensorrt_onnxparser_rtx.so"):
        candidates = sorted(folder.glob(stem + ".*"), key=lambda p: len(p.name), reverse=True)
        if not candidates:
            raise ImportError(f"{stem}.* not found in {folder}")
        ctypes.CDLL(str(candidates[0]), mode=ctypes.RTLD_GLOBAL)
    mod = importlib.import_module("tensorrt_rtx_bindings")
    # the package re-exports the module under .tensorrt_rtx in some layouts
    return getattr(mod, "tensorrt_rtx", mod) if not hasattr(mod, "Builder") else mod


_LOADERS = {
    "tensorrt": _load_tensorrt,
    "tensorrt_rtx": _load_tensorrt_rtx,
    "rtx_bindings": _load_rtx_bindings,
}


def trt():
    """Return the TensorRT Python module (imported once)."""
    global _trt, _flavour
    if _trt is not None:
        return _trt
    forced = os.environ.get("TRTGRAPH_BACKEND")
    if forced and forced not in _LOADERS:
        raise BackendUnavailableError(
            f"TRTGRAPH_BACKEND={forced!r} is not one of {', '.join(_LOADERS)}; set one of them, or unset it "
            "to use whichever TensorRT is installed")
    order = [forced] if forced else list(_LOADERS)
    failures = []
    for name in order:
        try:
            module = _LOADERS[name]()
            if not hasattr(module, "Builder"):
                raise ImportError("module has no Builder (a download stub?)")
        except Exception as exc:  # noqa: BLE001 - every failure is reported below
            failures.append(f"  {name}: {type(exc).__name__}: {exc}")
            continue
        _trt, _flavour = module, name
        return module
    if forced:
        raise BackendUnavailableError(
            f"TRTGRAPH_BACKEND={forced} asks for {forced}, which cannot be imported ({failures[0].strip()}); "
            f"unset TRTGRAPH_BACKEND to use whichever TensorRT is installed, or {_INSTALL_HINT}")
    raise BackendUnavailableError(
        "no usable TensorRT found:\n" + "\n".join(failures) + "\nTo fix: " + _INSTALL_HINT)


def flavour() -> str:
    """'tensorrt', 'tensorrt_rtx' or 'rtx_bindings'."""
    trt()
    return _flavour


def is_rtx() -> bool:
    return flavour() != "tensorrt"


def version() -> str:
    return getattr(trt(), "__version__", "unknown")


_logger = None


def logger():
    """The process-wide TensorRT logger; it keeps the error messages of the last build."""
    global _logger
    if _logger is None:
        t = trt()

        class CollectingLogger(t.ILogger):
            def __init__(self):
                t.ILogger.__init__(self)
                self.messages = []

            def log(self, severity, msg):
                if severity in (t.ILogger.ERROR, t.ILogger.INTERNAL_ERROR):
                    self.messages.append(str(msg))

            def clear(self):
                self.messages = []

            def errors(self):
                return list(self.messages)

        _logger = CollectingLogger()
    return _logger


def create_builder_and_network():
    """A builder and an empty strongly typed network."""
    t = trt()
    builder = t.Builder(logger())
    flags = 1 << int(t.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    return builder, network
