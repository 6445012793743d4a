"""The hybrid folder format (:mod:`trtgraph.hybrid.files`): its names and limits, the ops a folder
may name (:func:`allow_op_namespace`), and the checks of ``hybrid.json``'s JSON text and fields."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch

from .. import serialization as ser
from ..errors import HybridSchemaError, InputError


FORMAT = "trtgraph-hybrid"
FORMAT_VERSION = 1
PROGRAM_FILE = "hybrid.json"
TENSOR_DIR = "tensors"
MAX_PROGRAM_BYTES = 64 << 20
MAX_DEPTH = 96
MAX_TEXT = 4096
MAX_RANK = 16
ALLOWED_NAMESPACES = {"aten", "prim", "torchvision"}
_ALLOWED_OPS: set = set()
# prim ops the interpreter runs itself (trtgraph.hybrid.interp.run_torch_step)
_INTERPRETED = {"prim::ListUnpack", "prim::TupleUnpack", "prim::TupleIndex", "prim::NumToTensor",
                "prim::DictConstruct", "prim::ListConstruct", "prim::TupleConstruct", "prim::device",
                "prim::dtype", "prim::If", "prim::Loop", "prim::PythonOp", "prim::Uninitialized",
                "prim::RaiseException"}


def _interpreted() -> set:
    """Op names the interpreter runs itself (not through torch.ops): the prims above and its generic
    TorchScript builtins (``aten::__is__``, ``aten::len``...)."""
    from . import interp

    return _INTERPRETED | set(getattr(interp, "_GENERIC_OPS", {})) | set(getattr(interp, "_LIST_OPS", {}))
# argument counts the interpreter relies on (None: any)
_PRIM_ARITY = {"prim::ListUnpack": 1, "prim::TupleUnpack": 1, "prim::TupleIndex": 2, "prim::NumToTensor": 1,
               "prim::device": 1, "prim::dtype": 1, "prim::If": 1}
_OP_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*::[A-Za-z_][A-Za-z0-9_]*")
_OVERLOAD_RE = re.compile(r"[A-Za-z0-9_]*")
_FILE_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_TENSOR_FILE_RE = re.compile(TENSOR_DIR + r"/[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\.bin")
_ID_RE = re.compile(r"[A-Za-z0-9_]{1,64}")
_ATTR_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*")
_DEVICE_RE = re.compile(r"(cpu|meta|cuda(:[0-9]{1,3})?)")
_TOP_REQUIRED = ("format", "format_version", "trtgraph_version", "precision", "inputs", "outputs", "output_refs",
                 "structure", "segments", "steps", "params", "tensors", "python_functions")
_TOP_OPTIONAL = ("created", "report", "extra")
_TORCH_KEYS = ("kind", "op", "overload", "args", "outputs", "where", "reason", "python", "cconv", "blocks")
_SEGMENT_KEYS = ("kind", "index", "inputs", "outputs")
_DTYPES = {"float64": torch.float64, "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
           "int64": torch.int64, "int32": torch.int32, "int16": torch.int16, "int8": torch.int8,
           "uint8": torch.uint8, "bool": torch.bool}
_DTYPE_NAMES = {v: k for k, v in _DTYPES.items()}
_RAW = {1: "<u1", 2: "<u2", 4: "<u4", 8: "<u8"}
_INT_VIEW = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def allow_op_namespace(name: str):
    """Let hybrid folders name ops of namespace ``name`` ("mylib") or one op ("mylib::op")."""
    if "::" in name:
        if not _OP_RE.fullmatch(name):
            raise InputError(f"{name!r} is not an op name like mylib::op")
        _ALLOWED_OPS.add(name)
    else:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise InputError(f"{name!r} is not an op namespace like mylib")
        ALLOWED_NAMESPACES.add(name)


def is_hybrid_folder(path) -> bool:
    path = Path(path)
    return path.is_dir() and os.path.lexists(path / PROGRAM_FILE)


# =========================================================================== validation

def _bad(where: str, field: str, why: str) -> HybridSchemaError:
    return HybridSchemaError(f"{where}: {field or 'document'}: {why}", field=field)


def _kind(v) -> str:
    return ser._kind(v)


def _str(v, where, field, allow_empty=False, limit=MAX_TEXT, multiline=False) -> str:
    if not isinstance(v, str):
        raise _bad(where, field, f"expected a string, got {_kind(v)} {ser._short(v)}")
    if not v and not allow_empty:
        raise _bad(where, field, "is empty")
    if len(v) > limit:
        raise _bad(where, field, f"is {len(v)} characters long (at most {limit})")
    text = v.replace("\n", "") if multiline else v
    if not text.isprintable():
        raise _bad(where, field, f"{ser._short(v)} holds non-printable characters")
    return v


def _list(v, where, field, limit=1 << 20) -> list:
    if not isinstance(v, list):
        raise _bad(where, field, f"expected an array, got {_kind(v)} {ser._short(v)}")
    if len(v) > limit:
        raise _bad(where, field, f"{len(v)} entries (at most {limit})")
    return v


def _obj(v, where, field, required=(), optional=()) -> dict:
    if not isinstance(v, dict):
        raise _bad(where, field, f"expected an object, got {_kind(v)} {ser._short(v)}")
    for k in required:
        if k not in v:
            raise _bad(where, field, f"missing key {k!r}")
    unknown = [k for k in v if k not in required and k not in optional]
    if unknown:
        raise _bad(where, f"{field}.{unknown[0]}" if field else unknown[0],
                   f"unknown key (expected {', '.join(required + optional)})")
    return v


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def parse_document(raw: bytes, where: str):
    """JSON text -> data, with the limits of the module docstring (depth checked before parsing)."""
    if len(raw) > MAX_PROGRAM_BYTES:
        raise HybridSchemaError(f"{where}: {len(raw)} bytes, more than the limit of {MAX_PROGRAM_BYTES}")
    try:
        text = bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HybridSchemaError(f"{where}: not UTF-8 text ({exc})") from None
    depth = 0
    for m in ser._BRACKET.finditer(ser._JSON_STRING.sub('""', text)):
        depth += 1 if m.group(0) in "[{" else -1
        if depth > MAX_DEPTH:
            raise HybridSchemaError(f"{where}: JSON nested more than {MAX_DEPTH} levels deep")
    try:
        return json.loads(text, object_pairs_hook=ser._no_duplicate_keys, parse_constant=ser._reject_constant)
    except RecursionError:
        raise HybridSchemaError(f"{where}: JSON nested too deeply") from None
    except ValueError as exc:
        raise HybridSchemaError(f"{where}: not valid JSON ({exc})") from None
