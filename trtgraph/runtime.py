"""``TRTModule``: run a serialized TensorRT engine as a ``torch.nn.Module`` on CUDA tensors.

    module = trtgraph.TRTModule("model.engine")      # or (engine_bytes, metadata), or trtgraph.load(path)
    y = module(x.cuda())                              # deserialized on first use, on the current device

Execution uses TensorRT's name-based API only (common to TensorRT 10/11 and TensorRT-RTX):
``set_input_shape`` and ``set_tensor_address`` for every input, then ``get_tensor_shape`` for
every output (outputs are allocated with the shapes the context reports and the dtype of
``ICudaEngine.get_tensor_dtype``), ``set_tensor_address`` for the outputs and
``execute_async_v3`` on the current torch CUDA stream. Outputs are returned without a
synchronization: torch orders later work on the same stream.

Construction does not need a GPU: the module can be built, inspected (``metadata``,
``input_names``, ...), saved with ``trtgraph.save_engine`` and round-tripped through
``state_dict`` on a CPU machine. Deserialization happens on the first ``forward`` or on
``load_engine()``; without a usable GPU it raises :class:`GpuUnavailableError` with TensorRT's
diagnostics.

``state_dict()`` holds two uint8 tensors, ``engine`` (the plan) and ``metadata`` (the UTF-8
JSON sidecar), so ``torch.save(m.state_dict())`` / ``torch.load(..., weights_only=True)`` work
without pickle; ``TRTModule().load_state_dict(sd)`` checks and restores both.

The code: ``TRTModule`` in :mod:`trtgraph.runtime_module`, running an engine and the GPU diagnostics
in :mod:`trtgraph.runtime_exec` (both re-exported here); loading and ``trtgraph info`` here.
"""
from __future__ import annotations

import argparse
import json

from . import serialization as ser
from .errors import EngineFormatError
from .runtime_module import ENGINE_KEY, METADATA_KEY, TRTModule, _as_metadata  # noqa: F401
from .runtime_exec import execute, _check_shape, _gpu_error, _log_tail, _supported_gpus, _trt  # noqa: F401


# --------------------------------------------------------------------------- loading and `trtgraph info`

# Folder formats that trtgraph.load and `trtgraph info` accept besides engine files. trtgraph.hybrid.files
# registers hybrid folders here when it is imported (it imports this module, not the reverse); each entry
# has is_folder(path) -> bool, load(path, device=None, python_functions=None) and info(args) -> exit code.
FOLDER_FORMATS: list = []


def _folder_format(path):
    return next((f for f in FOLDER_FORMATS if f.is_folder(path)), None)


def load(path, device=None, python_functions=None):
    """Load a saved engine as a :class:`~trtgraph.TRTModule` (deserialized lazily, on first use), or a
    hybrid folder (one holding ``hybrid.json``, written by ``trtgraph.hybrid.files.save_hybrid``) as a
    :class:`~trtgraph.HybridModule`; ``python_functions``: ``{"pkg.mod.MyFn": MyFn}`` for the custom
    autograd.Functions a hybrid program calls."""
    fmt = _folder_format(path)
    if fmt is not None:
        return fmt.load(path, device=device, python_functions=python_functions)
    if python_functions:
        raise EngineFormatError(f"{path}: python_functions is for hybrid folders; this is not one")
    engine, meta = ser.load_files(path)
    module = TRTModule(engine, meta, device=device, verify=False)
    module.source_path = str(path)
    return module


def _inspect(engine, meta) -> str:
    return TRTModule(engine, meta, verify=False).inspect()


def describe(path, inspect: bool = True) -> dict:
    """:func:`trtgraph.serialization.describe` with TensorRT's engine inspector (needs a GPU)."""
    return ser.describe(path, inspect=inspect, inspector=_inspect if inspect else None)


def cmd_info(args) -> int:
    """``trtgraph info ENGINE|FOLDER [--json] [--no-inspect]``: exit 0 when every check passes, else 1.
    A hybrid folder prints its plan: segments with their engines' inputs/outputs, the torch steps
    with their reasons, the count of tensors crossing the boundary, and each engine's checks."""
    fmt = _folder_format(args.engine)
    if fmt is not None:
        return fmt.info(args)
    report = describe(args.engine, inspect=not args.no_inspect)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(ser.format_report(report))
    failed = any(str(v).startswith("FAILED") for v in report["checks"].values())
    return 1 if failed else 0


def add_info_parser(subparsers):
    """Register ``trtgraph info`` on the CLI's subparsers."""
    p = subparsers.add_parser("info", help="print a saved engine's metadata, checks and (on a GPU) layers")
    p.add_argument("engine", help="engine file written by trtgraph.save_engine / trtgraph.compile, or a hybrid "
                                   "folder (trtgraph convert --fallback)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-inspect", action="store_true", help="skip TensorRT's engine inspector (needs a GPU)")
    p.add_argument("--verbose", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(fn=cmd_info)
    return p
