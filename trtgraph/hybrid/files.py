"""Hybrid folders: a hybrid module's engines, torch program and tensors on disk, without pickle.

    trtgraph.hybrid.files.save_hybrid(hc, "model.hybrid")      # hc: HybridConversion or HybridModule
    module = trtgraph.load("model.hybrid", python_functions={"pkg.mod.MyFn": MyFn})

Folder layout::

    model.hybrid/
      hybrid.json                  the program (below)
      segment_0.engine             each TensorRT segment: its plan and sidecar
      segment_0.engine.json        (trtgraph.serialization's format, checked the same way)
      tensors/t0.bin ...           each tensor the torch steps read: raw little-endian bytes

``hybrid.json`` (UTF-8 JSON, at most 64 MiB, nested at most 96 deep, no NaN, no duplicate keys)::

    {"format": "trtgraph-hybrid", "format_version": 1, "trtgraph_version": "...", "precision": "fp32",
     "created": "<ISO 8601>",
     "inputs":  [{"name": "input_0", "value": "x.1"}],      user name, graph value name
     "outputs": ["output_0"],                                 user names of the flat output tensors
     "output_refs": [<ref>...],                               what the program returns
     "structure": {"inputs": "<treespec_dumps>", "outputs": "<...>"|null, "wrapped": false} | null,
     "segments": [{"engine": "segment_0.engine",
                   "eager": {"inputs": [...], "steps": [...], "outputs": [<ref>...]}}],   optional: the
                                  segment as torch steps, run when a call's shapes are outside its profile
     "steps": [{"kind": "segment", "index": 0, "inputs": [...], "outputs": [...]},
               {"kind": "torch", "op": "aten::index", "overload": "Tensor", "args": [<ref>...],
                "outputs": [...], "where": "...", "reason": "...", "python": "", "cconv": "",
                "blocks": [{"inputs": [...], "steps": [...], "outputs": [<ref>...]}]}],
     "params": {"block1.0.weight": "t0"},                    module attributes the torch steps read
     "tensors": {"t0": {"file": "tensors/t0.bin", "dtype": "float32", "shape": [8, 3, 3, 3],
                        "sha256": "<hex>"}},
     "python_functions": ["pkg.mod.MyFn"], "report": "<the plan, as text>", "extra": {}}

A ref is ``["v", value name]`` (computed earlier), ``["a", "attribute.path"]`` (a key of
``params``), ``["c", constant]``, ``["l", [refs]]`` or ``["t", [refs]]``. A constant is JSON
null/bool/int/float/string/array, or an object ``{"tensor": id}``, ``{"tuple": [...]}``,
``{"float": "inf"|"-inf"|"nan"}``, ``{"device": "cpu"}``, ``{"dtype": "float32"}``. Torch steps with
blocks (``prim::If``: two, ``prim::Loop``: one) hold them as nested step lists.

A folder holds no segment networks (engines cannot be evaluated on the CPU): a loaded module's
``evaluate`` needs :func:`attach_segments` with the conversions it was saved from.

Loading runs no Python from the folder: torch ops are looked up by schema name through ``torch.ops``
only, in the namespaces aten, prim and torchvision (more with :func:`allow_op_namespace`); a
``prim::PythonOp`` step (a custom ``autograd.Function``) runs only the callable the caller passes in
``python_functions``. Every violation is a named error (:class:`HybridSchemaError` naming the field,
:class:`DisallowedOpError`, :class:`MissingPythonFunctionError`, the engine errors of
:mod:`trtgraph.serialization`); symlinks, FIFOs and other non-regular files are refused unread.
"""
from __future__ import annotations

import datetime
import json
import math
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch.utils import _pytree as pt

from .. import serialization as ser
from ..errors import (DisallowedOpError, EngineFormatError, HybridSaveError, HybridSchemaError, InputError,
                      MissingPythonFunctionError, NotARegularFileError, TrtGraphError)
from .partition import SegmentStep, TorchStep

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


# =========================================================================== saving

class _Writer:
    """Collects the tensors a program needs (constants by identity, params by path)."""

    def __init__(self):
        self.tensors: dict = {}  # id -> tensor
        self._by_obj: dict = {}

    def add(self, t: torch.Tensor) -> str:
        key = id(t)
        if key in self._by_obj:
            return self._by_obj[key][0]
        if t.layout != torch.strided or t.is_quantized or t.device.type == "meta":
            raise HybridSaveError(f"a {t.layout} {'quantized ' if t.is_quantized else ''}tensor on {t.device} cannot "
                                  "be saved in a hybrid folder (dense tensors with data only)")
        if t.dtype not in _DTYPE_NAMES:
            raise HybridSaveError(f"a tensor of dtype {t.dtype} cannot be saved in a hybrid folder "
                                  f"(supported: {', '.join(_DTYPES)})")
        tid = f"t{len(self.tensors)}"
        self.tensors[tid] = t
        self._by_obj[key] = (tid, t)  # keep t alive so its id is not reused
        return tid

    def const(self, v, where: str):
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, int):
            return v
        if isinstance(v, float):
            return v if math.isfinite(v) else {"float": repr(v)}
        if isinstance(v, list):
            return [self.const(x, where) for x in v]
        if isinstance(v, tuple):
            return {"tuple": [self.const(x, where) for x in v]}
        if isinstance(v, torch.Tensor):
            return {"tensor": self.add(v)}
        if isinstance(v, torch.device):
            return {"device": str(v)}
        if isinstance(v, torch.dtype) and v in _DTYPE_NAMES:
            return {"dtype": _DTYPE_NAMES[v]}
        raise HybridSaveError(f"{where}: a constant of type {type(v).__name__} ({ser._short(v)}) cannot be "
                              "written to a hybrid folder")

    def ref(self, r, where: str):
        tag, value = r
        if tag == "c":
            return ["c", self.const(value, where)]
        if tag in ("l", "t"):
            return [tag, [self.ref(x, where) for x in value]]
        return [tag, value]

    def step(self, s) -> dict:
        if isinstance(s, SegmentStep):
            return s.to_dict()
        where = s.where or s.op
        return {"kind": "torch", "op": s.op, "overload": s.overload, "args": [self.ref(r, where) for r in s.args],
                "outputs": list(s.outputs), "where": s.where, "reason": s.reason, "python": s.python,
                "cconv": s.cconv,
                "blocks": [{"inputs": list(b["inputs"]), "steps": [self.step(x) for x in b["steps"]],
                            "outputs": [self.ref(r, where) for r in b["outputs"]]} for b in s.blocks]}


def tensor_bytes(t: torch.Tensor) -> bytes:
    """The tensor's elements, C order, little-endian (bfloat16 and bool included)."""
    t = t.detach().cpu().contiguous()
    if t.numel() == 0:
        return b""
    raw = t.reshape(-1).view(_INT_VIEW[t.element_size()]).numpy()
    return raw.astype(np.dtype(_RAW[t.element_size()]).newbyteorder("<"), copy=False).tobytes()


def _attr_paths(refs, out: set) -> set:
    for r in refs:
        if r[0] == "a":
            out.add(r[1])
        elif r[0] in ("l", "t"):
            _attr_paths(r[1], out)
    return out


def _step_attr_paths(steps, out: set):
    for s in steps:
        if isinstance(s, TorchStep):
            _attr_paths(s.args, out)
            for b in s.blocks:
                _step_attr_paths(b["steps"], out)
                _attr_paths(b["outputs"], out)
    return out


def _is_dynamic(meta) -> bool:
    return any(not (s.min == s.max) or any(d < 0 for d in s.shape) for s in meta.inputs)


def _program_of(obj, eager: str = "dynamic") -> dict:
    """What a folder holds, from a HybridConversion (engines built now if needed) or a HybridModule.
    ``eager``: which segments also get their torch program (the fallback for a run whose shapes are
    outside the segment's profile): "dynamic" (segments with a dynamic input), "all" or "none"."""
    from . import HybridConversion, HybridModule
    from .segment import attr_getter

    if eager not in ("dynamic", "all", "none"):
        raise InputError(f"eager must be 'dynamic', 'all' or 'none', got {eager!r}")
    if isinstance(obj, HybridConversion):
        from .module import reference_params

        engines = obj.build()
        metas = [ser.metadata_from_conversion(c, e) for c, e in zip(obj.segments, engines)]
        params = dict(reference_params(obj.partition, obj.traced_model))
        programs = []
        get = attr_getter(obj.traced_model)
        for conv, meta in zip(obj.segments, metas):
            m = conv.model  # SegmentEager: the segment's nodes as torch steps
            if eager == "none" or (eager == "dynamic" and not _is_dynamic(meta)) or not hasattr(m, "steps"):
                programs.append(None)
                continue
            for path in sorted(_step_attr_paths(m.steps, set()) | _attr_paths(m.outputs, set()) or set()):
                x = get(path)
                if not isinstance(x, torch.Tensor):
                    raise HybridSaveError(f"a segment reads module attribute {path!r}, which is not a tensor")
                params.setdefault(path, x)
            programs.append({"inputs": list(m.input_names), "steps": m.steps, "outputs": m.outputs})
        return {"steps": obj.steps, "outputs": obj.partition.outputs, "values": list(obj.partition.input_names),
                "input_names": list(obj.input_names), "output_names": list(obj.output_names),
                "structure": obj.structure, "engines": list(zip(engines, metas)), "eager": programs,
                "params": params, "precision": obj.precision, "report": obj.report()}
    if isinstance(obj, HybridModule):
        engines = []
        for e in obj.engines:
            if e.metadata is None:
                raise HybridSaveError("a segment of this HybridModule has no engine metadata")
            engines.append((e.engine_bytes, e.metadata))
        values = list(obj.input_names)
        return {"steps": obj.steps, "outputs": obj.outputs, "values": values,
                "input_names": list(getattr(obj, "user_input_names", None) or values),
                "output_names": list(getattr(obj, "output_names", None) or []),
                "structure": obj.structure, "engines": engines,
                "params": {p: getattr(obj, k) for p, k in obj._param_keys.items()},
                "eager": [getattr(e, "program", None) if eager == "all" or (eager == "dynamic" and _is_dynamic(m))
                          else None for e, (_, m) in zip(obj.eager_segments or [None] * len(engines), engines)],
                "precision": getattr(obj, "precision", None) or (engines[0][1].precision if engines else "fp32"),
                "report": getattr(obj, "report_text", "")}
    raise InputError(f"save_hybrid takes a HybridConversion or a HybridModule, got {type(obj).__name__}")


def _python_names(steps) -> list:
    out = []
    for s in steps:
        if isinstance(s, TorchStep):
            if s.op == "prim::PythonOp" and s.python not in out:
                out.append(s.python)
            for b in s.blocks:
                out.extend(n for n in _python_names(b["steps"]) if n not in out)
    return out


def _structure_json(structure) -> Optional[dict]:
    if structure is None:
        return None
    try:
        return {"inputs": pt.treespec_dumps(structure.in_spec),
                "outputs": pt.treespec_dumps(structure.out_spec) if structure.out_spec is not None else None,
                "wrapped": bool(structure.wrapped)}
    except Exception as exc:  # noqa: BLE001 - e.g. dict keys that are not JSON
        raise HybridSaveError(f"the model's input/output structure cannot be written as JSON "
                              f"({type(exc).__name__}: {exc}); use dicts with string keys") from None


def program_document(obj, extra: Optional[dict] = None, eager: str = "dynamic") -> tuple:
    """``(hybrid.json document, {tensor id: tensor}, [(engine, metadata)])`` of ``obj``."""
    prog = _program_of(obj, eager)
    w = _Writer()
    steps = [w.step(s) for s in prog["steps"]]
    output_refs = [w.ref(r, "the outputs") for r in prog["outputs"]]
    segments = []
    for k, e in enumerate(prog["eager"]):
        seg = {"engine": f"segment_{k}.engine"}
        if e is not None:
            seg["eager"] = {"inputs": list(e["inputs"]), "steps": [w.step(x) for x in e["steps"]],
                            "outputs": [w.ref(r, f"segment {k}") for r in e["outputs"]]}
        segments.append(seg)
    params = {}
    for path, t in sorted(prog["params"].items()):
        params[path] = w.add(t)
    tensors = {}
    for tid, t in w.tensors.items():
        tensors[tid] = {"file": f"{TENSOR_DIR}/{tid}.bin", "dtype": _DTYPE_NAMES[t.dtype], "shape": list(t.shape)}
    n_out = len(prog["output_names"])
    doc = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "trtgraph_version": ser.trtgraph_version(),
        "precision": prog["precision"],
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "inputs": [{"name": n, "value": v} for n, v in zip(prog["input_names"], prog["values"])],
        "outputs": prog["output_names"] if n_out else [f"output_{i}" for i in range(_leaf_count(output_refs))],
        "output_refs": output_refs, "structure": _structure_json(prog["structure"]),
        "segments": segments,
        "steps": steps, "params": params, "tensors": tensors, "python_functions": _python_names(prog["steps"]),
        "report": prog["report"] or "", "extra": dict(extra or {}),
    }
    return doc, w.tensors, prog["engines"]


def _leaf_count(refs) -> int:
    return sum(_leaf_count(r[1]) if r[0] in ("l", "t") else 1 for r in refs)


def _dir_mode() -> int:
    return 0o777 & ~ser.current_umask()


def write_folder(tmp: Path, doc: dict, tensors: dict, engines: list):
    """Write a hybrid folder's files into the (new, empty) folder ``tmp``."""
    (tmp / TENSOR_DIR).mkdir(mode=_dir_mode())
    for tid, t in tensors.items():
        data = tensor_bytes(t)
        doc["tensors"][tid]["sha256"] = ser.sha256_hex(data)
        ser.atomic_write_bytes(tmp / doc["tensors"][tid]["file"], data)
    for seg, (engine, meta) in zip(doc["segments"], engines):
        ser.write_engine(tmp / seg["engine"], engine, meta)
    text = json.dumps(doc, indent=1, allow_nan=False, ensure_ascii=False)
    parse_document(text.encode(), str(tmp / PROGRAM_FILE))  # what is written must load
    ser.atomic_write_bytes(tmp / PROGRAM_FILE, text)


def save_hybrid(obj, folder, extra: Optional[dict] = None, eager: str = "dynamic") -> Path:
    """Write ``obj`` (a :class:`HybridConversion`, its engines built now if needed, or a
    :class:`HybridModule`) as a hybrid folder. ``eager``: which segments also get their torch program,
    run when a call's shapes are outside the segment's profile (e.g. zero detections): "dynamic"
    (default: segments with a dynamic input), "all", "none". The folder is written beside its target and moved into
    place; an existing hybrid folder there is replaced, any other existing non-empty folder or file is
    refused (:class:`InputError`)."""
    folder = Path(folder)
    if os.path.lexists(folder):
        if folder.is_symlink() or not folder.is_dir():
            raise InputError(f"{folder}: exists and is not a folder; give a new folder name")
        if any(folder.iterdir()) and not is_hybrid_folder(folder):
            raise InputError(f"{folder}: a non-empty folder that is not a hybrid folder (no {PROGRAM_FILE}); "
                             "refusing to overwrite it: give a new or empty folder")
    doc, tensors, engines = program_document(obj, extra, eager)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        os.chmod(tmp, _dir_mode())
        write_folder(tmp, doc, tensors, engines)
        if os.path.lexists(folder):
            if is_hybrid_folder(folder):
                old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old.", suffix=".tmp", dir=folder.parent))
                os.rmdir(old)
                os.rename(folder, old)
                os.rename(tmp, folder)
                remove_hybrid_folder(old)
            else:
                os.rmdir(folder)  # empty
                os.rename(tmp, folder)
        else:
            os.rename(tmp, folder)
    except BaseException:
        remove_hybrid_folder(tmp, any_state=True)
        raise
    return folder


def remove_hybrid_folder(folder, any_state: bool = False) -> bool:
    """Delete the files trtgraph writes in a hybrid folder (hybrid.json, segment_N.engine(.json),
    tensors/*.bin, their temporary files), then the folder if it is empty. Other files stay.
    Returns True when the folder is gone."""
    folder = Path(folder)
    if folder.is_symlink() or not folder.is_dir():
        return False
    ours = re.compile(r"(\.?(hybrid\.json|segment_[0-9]+\.engine(\.json)?)(\..*\.tmp)?)")
    tdir = folder / TENSOR_DIR
    if tdir.is_dir() and not tdir.is_symlink():
        for p in tdir.iterdir():
            if re.fullmatch(r"\.?[A-Za-z0-9_]+\.bin(\..*\.tmp)?", p.name) and (p.is_symlink() or p.is_file()):
                p.unlink(missing_ok=True)
        try:
            tdir.rmdir()
        except OSError:
            pass
    for p in folder.iterdir():
        if p.name != PROGRAM_FILE and ours.fullmatch(p.name) and (p.is_symlink() or p.is_file()):
            p.unlink(missing_ok=True)
    (folder / PROGRAM_FILE).unlink(missing_ok=True)  # the marker last
    try:
        folder.rmdir()
    except OSError:
        return False
    return True


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


class _Loader:
    """Validates a hybrid.json document and rebuilds its steps (tensors resolved by ``tensor(id)``)."""

    def __init__(self, doc, where: str, tensor):
        self.where, self.tensor = where, tensor
        self.doc = doc
        self.params: set = set()
        self.segments_seen: set = set()
        self.n_segments = 0
        self.segment_io: dict = {}

    def const(self, v, field, depth=0):
        if v is None or isinstance(v, (bool, int, float)):
            return v
        if isinstance(v, str):
            return _str(v, self.where, field, allow_empty=True)
        if isinstance(v, list):
            return [self.const(x, f"{field}[{i}]") for i, x in enumerate(v)]
        if isinstance(v, dict) and len(v) == 1:
            (key, value), = v.items()
            f = f"{field}.{key}"
            if key == "tensor":
                return self.tensor(_str(value, self.where, f), f)
            if key == "tuple":
                return tuple(self.const(x, f"{f}[{i}]") for i, x in enumerate(_list(value, self.where, f)))
            if key == "float":
                if value not in ("inf", "-inf", "nan"):
                    raise _bad(self.where, f, f"{ser._short(value)} is not one of inf, -inf, nan")
                return float(value)
            if key == "device":
                if not (isinstance(value, str) and _DEVICE_RE.fullmatch(value)):
                    raise _bad(self.where, f, f"{ser._short(value)} is not a device (cpu, cuda, cuda:N)")
                return torch.device(value)
            if key == "dtype":
                if not isinstance(value, str) or value not in _DTYPES:
                    raise _bad(self.where, f, f"unknown dtype {ser._short(value)}")
                return _DTYPES[value]
        raise _bad(self.where, field, f"{ser._short(v)} is not a constant (null, boolean, number, string, array, or "
                                      "an object with one key: tensor, tuple, float, device, dtype)")

    def ref(self, r, field, defined: set):
        if not (isinstance(r, list) and len(r) == 2 and isinstance(r[0], str)):
            raise _bad(self.where, field, f"expected a reference [tag, value], got {ser._short(r)}")
        tag, value = r
        if tag == "v":
            name = _str(value, self.where, f"{field}[1]", limit=1024)
            if name not in defined:
                raise _bad(self.where, field, f"refers to value {name!r}, which no earlier step or input defines")
            return ["v", name]
        if tag == "a":
            path = _str(value, self.where, f"{field}[1]", allow_empty=True, limit=1024)
            if path not in self.params:
                raise _bad(self.where, field, f"refers to module attribute {path!r}, which is not in params")
            return ["a", path]
        if tag == "c":
            return ["c", self.const(value, f"{field}[1]")]
        if tag in ("l", "t"):
            items = _list(value, self.where, f"{field}[1]")
            return [tag, [self.ref(x, f"{field}[1][{i}]", defined) for i, x in enumerate(items)]]
        raise _bad(self.where, f"{field}[0]", f"unknown reference tag {ser._short(tag)} (expected v, a, c, l, t)")

    def names(self, v, field) -> list:
        items = _list(v, self.where, field)
        return [_str(x, self.where, f"{field}[{i}]", limit=1024) for i, x in enumerate(items)]

    def op(self, op, overload, field):
        from .interp import torch_op

        if not (isinstance(op, str) and _OP_RE.fullmatch(op)):
            raise _bad(self.where, f"{field}.op", f"{ser._short(op)} is not an op name like aten::relu")
        if not (isinstance(overload, str) and _OVERLOAD_RE.fullmatch(overload) and len(overload) <= 128):
            raise _bad(self.where, f"{field}.overload", f"{ser._short(overload)} is not an overload name")
        ns = op.split("::")[0]
        if ns not in ALLOWED_NAMESPACES and op not in _ALLOWED_OPS:
            raise DisallowedOpError(f"{self.where}: {field}.op: {op} is outside the allowed op namespaces "
                                    f"({', '.join(sorted(ALLOWED_NAMESPACES))}); if you trust this folder, call "
                                    f"trtgraph.hybrid.files.allow_op_namespace({ns!r}) first", field=f"{field}.op")
        if op in _interpreted():
            return
        if ns == "torchvision":  # its ops exist in torch.ops once torchvision is imported
            try:
                import torchvision  # noqa: F401
            except ImportError:
                pass
        try:
            found = torch_op(op, overload)
        except TrtGraphError as exc:
            raise DisallowedOpError(f"{self.where}: {field}.op: {exc}", field=f"{field}.op") from None
        if not isinstance(found, torch._ops.OpOverload):
            raise DisallowedOpError(f"{self.where}: {field}.op: {op}.{overload or 'default'} is not a torch op",
                                    field=f"{field}.op")

    def steps(self, items, field, defined: set) -> list:
        out = []
        for i, s in enumerate(_list(items, self.where, field)):
            out.append(self.step(s, f"{field}[{i}]", defined))
        return out

    def step(self, s, field, defined: set):
        if not isinstance(s, dict) or s.get("kind") not in ("torch", "segment"):
            kind = s.get("kind") if isinstance(s, dict) else None
            raise _bad(self.where, f"{field}.kind" if isinstance(s, dict) else field,
                       f"unknown step kind {ser._short(kind)} (expected torch or segment)")
        if s["kind"] == "segment":
            _obj(s, self.where, field, _SEGMENT_KEYS)
            k = s["index"]
            if not _is_int(k) or not 0 <= k < self.n_segments:
                raise _bad(self.where, f"{field}.index", f"{ser._short(k)} is not a segment index "
                                                         f"(0..{self.n_segments - 1})")
            if k in self.segments_seen:
                raise _bad(self.where, f"{field}.index", f"segment {k} runs twice")
            self.segments_seen.add(k)
            ins = self.names(s["inputs"], f"{field}.inputs")
            for j, n in enumerate(ins):
                if n not in defined:
                    raise _bad(self.where, f"{field}.inputs[{j}]", f"value {n!r} is not defined before the segment")
            outs = self.names(s["outputs"], f"{field}.outputs")
            self.segment_io[k] = (len(ins), len(outs), field)
            defined.update(outs)
            return SegmentStep(k, ins, outs)
        _obj(s, self.where, field, _TORCH_KEYS)
        self.op(s["op"], s["overload"], field)
        args = [self.ref(r, f"{field}.args[{i}]", defined) for i, r in enumerate(_list(s["args"], self.where,
                                                                                       f"{field}.args"))]
        outs = self.names(s["outputs"], f"{field}.outputs")
        arity = _PRIM_ARITY.get(s["op"])
        if arity is not None and len(args) != arity:
            raise _bad(self.where, f"{field}.args", f"{s['op']} takes {arity} argument(s), got {len(args)}")
        if s["op"] == "prim::DictConstruct" and len(args) % 2:
            raise _bad(self.where, f"{field}.args", "prim::DictConstruct takes key/value pairs")
        where_text = _str(s["where"], self.where, f"{field}.where", allow_empty=True)
        reason = _str(s["reason"], self.where, f"{field}.reason", allow_empty=True)
        python = _str(s["python"], self.where, f"{field}.python", allow_empty=True, limit=1024)
        cconv = _str(s["cconv"], self.where, f"{field}.cconv", allow_empty=True, limit=1 << 16)
        if s["op"] == "prim::PythonOp":
            if not python:
                raise _bad(self.where, f"{field}.python", "a prim::PythonOp step needs the Function's name")
            if set(cconv) - {"c", "d"} or len(cconv) != len(args):
                raise _bad(self.where, f"{field}.cconv", f"{ser._short(cconv)} does not describe the "
                                                         f"{len(args)} argument(s) (one 'd' or 'c' each)")
        blocks_in = _list(s["blocks"], self.where, f"{field}.blocks")
        loop = s["op"] == "prim::Loop"
        if len(blocks_in) != {"prim::If": 2, "prim::Loop": 1}.get(s["op"], 0):
            raise _bad(self.where, f"{field}.blocks", f"{len(blocks_in)} block(s): prim::If has 2, prim::Loop 1, other "
                                                      "ops none")
        if loop and len(args) != 2 + len(outs):
            raise _bad(self.where, f"{field}.args", f"prim::Loop takes a trip count, a condition and one value per "
                                                    f"output ({len(outs)}), got {len(args)} argument(s)")
        blocks = []
        for j, b in enumerate(blocks_in):
            bf = f"{field}.blocks[{j}]"
            _obj(b, self.where, bf, ("inputs", "steps", "outputs"))
            inner = set(defined)
            b_in = self.names(b["inputs"], f"{bf}.inputs")
            if len(b_in) != (1 + len(outs) if loop else 0):
                raise _bad(self.where, f"{bf}.inputs", f"{len(b_in)} block input(s) for {s['op']} with "
                                                       f"{len(outs)} output(s)")
            inner.update(b_in)
            b_steps = self.steps(b["steps"], f"{bf}.steps", inner)
            if any(isinstance(x, SegmentStep) for x in b_steps):
                raise _bad(self.where, f"{bf}.steps", "a segment cannot run inside a prim::If block")
            b_out = [self.ref(r, f"{bf}.outputs[{i}]", inner) for i, r in enumerate(_list(b["outputs"], self.where,
                                                                                           f"{bf}.outputs"))]
            if len(b_out) != len(outs) + loop:
                raise _bad(self.where, f"{bf}.outputs", f"{len(b_out)} block output(s) for {s['op']} with "
                                                        f"{len(outs)} output(s)")
            blocks.append({"inputs": b_in, "steps": b_steps, "outputs": b_out})
        defined.update(outs)
        return TorchStep(s["op"], s["overload"], args, outs, where_text, reason, python, cconv, blocks)


def validate_program(doc, where: str = PROGRAM_FILE):
    """Check the document's shape (no files read); returns it."""
    d = _obj(doc, where, "", _TOP_REQUIRED, _TOP_OPTIONAL) if isinstance(doc, dict) else None
    if d is None:
        raise _bad(where, "", f"expected a JSON object, got {_kind(doc)}")
    if d["format"] != FORMAT:
        raise _bad(where, "format", f"not a trtgraph hybrid program (format {ser._short(d['format'])}, "
                                    f"expected {FORMAT!r})")
    v = d["format_version"]
    if not _is_int(v) or v < 1:
        raise _bad(where, "format_version", f"{ser._short(v)} is not an integer >= 1")
    if v > FORMAT_VERSION:
        from ..errors import EngineVersionError

        raise EngineVersionError(f"{where}: format_version {v} was written by a newer trtgraph; this trtgraph "
                                 f"reads format_version <= {FORMAT_VERSION}")
    _str(d["trtgraph_version"], where, "trtgraph_version", limit=128)
    from ..dtypes import PRECISIONS

    if not isinstance(d["precision"], str) or d["precision"] not in PRECISIONS:
        raise _bad(where, "precision", f"{ser._short(d['precision'])} is not one of {', '.join(PRECISIONS)}")
    if d.get("created") is not None:
        try:
            datetime.datetime.fromisoformat(_str(d["created"], where, "created", limit=64))
        except ValueError:
            raise _bad(where, "created", f"{ser._short(d['created'])} is not an ISO 8601 date") from None
    if d.get("report") is not None:
        _str(d["report"], where, "report", allow_empty=True, limit=1 << 22, multiline=True)
    extra = d.get("extra")
    if extra is not None:
        _obj(extra, where, "extra", (), tuple(k for k in extra if isinstance(k, str) and k.isprintable()))
    return d


def load_tensor(folder: Path, entry, tid: str, where: str) -> torch.Tensor:
    """One tensor file, checked: a regular file (not a symlink) of exactly the recorded size and SHA-256."""
    field = f"tensors.{tid}"
    e = _obj(entry, where, field, ("file", "dtype", "shape", "sha256"))
    name = e["file"]
    if not (isinstance(name, str) and _TENSOR_FILE_RE.fullmatch(name)):
        raise _bad(where, f"{field}.file", f"{ser._short(name)} is not a file name tensors/NAME.bin")
    if not isinstance(e["dtype"], str) or e["dtype"] not in _DTYPES:
        raise _bad(where, f"{field}.dtype", f"unknown dtype {ser._short(e['dtype'])} (known: {', '.join(_DTYPES)})")
    dtype = _DTYPES[e["dtype"]]
    shape = _list(e["shape"], where, f"{field}.shape", MAX_RANK)
    for i, n in enumerate(shape):
        if not _is_int(n) or not 0 <= n < 2 ** 48:
            raise _bad(where, f"{field}.shape[{i}]", f"{ser._short(n)} is not a size >= 0")
    sha = e["sha256"]
    if not (isinstance(sha, str) and ser._HEX64.fullmatch(sha)):
        raise _bad(where, f"{field}.sha256", f"{ser._short(sha)} is not a SHA-256 hex digest")
    path = folder / name
    _no_link(folder / TENSOR_DIR, "tensor folder", directory=True)
    _no_link(path, "tensor file")
    itemsize = torch.empty((), dtype=dtype).element_size()
    want = math.prod(shape) * itemsize
    st = ser.regular_file_stat(path, "tensor file")
    if st is None:
        raise EngineFormatError(f"{path}: no such tensor file ({field})")
    if st.st_size != want:
        raise EngineFormatError(f"{path}: {st.st_size} bytes; {e['dtype']} of shape {list(shape)} needs {want}")
    data = ser._read_regular(path, "tensor file", limit=want)
    if ser.sha256_hex(data) != sha:
        from ..errors import EngineIntegrityError

        raise EngineIntegrityError(f"{path}: its SHA-256 differs from the one {where} records (damaged or edited)")
    if want == 0:
        return torch.empty(shape, dtype=dtype)
    arr = np.frombuffer(data, dtype=np.dtype(_RAW[itemsize]))
    arr = arr.astype(arr.dtype.newbyteorder("="))  # native byte order, a writable copy
    if dtype == torch.bool and int(arr.max()) > 1:
        raise EngineFormatError(f"{path}: a bool tensor holds bytes other than 0 and 1")
    t = torch.from_numpy(arr.view({1: np.uint8, 2: np.int16, 4: np.int32, 8: np.int64}[itemsize]))
    return t.view(dtype).reshape(shape)


def _no_link(path: Path, what: str, directory: bool = False):
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise EngineFormatError(f"{path}: cannot read the {what} ({exc})") from None
    if stat.S_ISLNK(st.st_mode):
        raise NotARegularFileError(f"{path}: the {what} is a symbolic link; a hybrid folder holds regular files "
                                   "only (refused without following it)")
    if directory and not stat.S_ISDIR(st.st_mode):
        raise NotARegularFileError(f"{path}: the {what} is not a folder")


def read_program(folder) -> tuple:
    """``(validated document, steps, params {path: tensor}, [(engine, metadata)], structure or None)``
    of a hybrid folder, after every check that needs no GPU."""
    from ..pytree import Structure

    folder = Path(folder)
    _no_link(folder, "hybrid folder", directory=True)
    path = folder / PROGRAM_FILE
    where = str(path)
    _no_link(path, "program file")
    if ser.regular_file_stat(path, "program file") is None:
        raise EngineFormatError(f"{folder}: no {PROGRAM_FILE}: not a hybrid folder written by trtgraph")
    doc = validate_program(parse_document(ser._read_regular(path, "program file", limit=MAX_PROGRAM_BYTES).tobytes(),
                                          where), where)
    tensors_json = _obj(doc["tensors"], where, "tensors", (), tuple(doc["tensors"]) if isinstance(doc["tensors"], dict)
                        else ())
    cache: dict = {}

    def tensor(tid, field):
        if tid not in tensors_json:
            raise _bad(where, field, f"refers to tensor {tid!r}, which is not in tensors")
        if tid not in cache:
            if not _ID_RE.fullmatch(tid):
                raise _bad(where, f"tensors.{tid}", "a tensor id is 1-64 letters, digits or _")
            cache[tid] = load_tensor(folder, tensors_json[tid], tid, where)
        return cache[tid]

    loader = _Loader(doc, where, tensor)
    params_json = _obj(doc["params"], where, "params", (), tuple(doc["params"]) if isinstance(doc["params"], dict)
                       else ())
    params = {}
    for p, tid in params_json.items():
        if not (p == "" or _ATTR_RE.fullmatch(p)) or len(p) > 1024:
            raise _bad(where, "params", f"{ser._short(p)} is not an attribute path like block.0.weight")
        params[p] = tensor(_str(tid, where, f"params.{p}"), f"params.{p}")
    loader.params = set(params)
    inputs = _list(doc["inputs"], where, "inputs", 4096)
    user_names, values = [], []
    for i, e in enumerate(inputs):
        _obj(e, where, f"inputs[{i}]", ("name", "value"))
        user_names.append(_str(e["name"], where, f"inputs[{i}].name", limit=1024))
        values.append(_str(e["value"], where, f"inputs[{i}].value", limit=1024))
    if len(set(values)) != len(values):
        raise _bad(where, "inputs", "two inputs bind the same value name")
    out_names = loader.names(doc["outputs"], "outputs")
    segs = _list(doc["segments"], where, "segments", 4096)
    loader.n_segments = len(segs)
    engines = []
    for k, s in enumerate(segs):
        _obj(s, where, f"segments[{k}]", ("engine",), ("eager",))
        name = s["engine"]
        if not (isinstance(name, str) and _FILE_RE.fullmatch(name) and name.endswith(".engine")):
            raise _bad(where, f"segments[{k}].engine", f"{ser._short(name)} is not an engine file name NAME.engine")
        epath = folder / name
        _no_link(epath, "engine file")
        _no_link(ser.sidecar_path(epath), "sidecar")
        if ser.regular_file_stat(epath, "engine file") is None:
            raise EngineFormatError(f"{epath}: no such engine file (segments[{k}])")
        engines.append(ser.load_files(epath))
    eager = []
    for k, s in enumerate(segs):
        e = s.get("eager")
        if e is None:
            eager.append(None)
            continue
        f = f"segments[{k}].eager"
        _obj(e, where, f, ("inputs", "steps", "outputs"))
        names = loader.names(e["inputs"], f"{f}.inputs")
        inner = set(names)
        e_steps = loader.steps(e["steps"], f"{f}.steps", inner)
        if any(isinstance(x, SegmentStep) or x.op == "prim::PythonOp" for x in e_steps):
            raise _bad(where, f"{f}.steps", "a segment's torch program holds only torch ops")
        e_out = [loader.ref(r, f"{f}.outputs[{i}]", inner) for i, r in enumerate(_list(e["outputs"], where,
                                                                                         f"{f}.outputs"))]
        meta = engines[k][1]
        if (len(names), len(e_out)) != (len(meta.inputs), len(meta.outputs)):
            raise _bad(where, f, f"{len(names)} input(s) and {len(e_out)} output(s); its engine has "
                                 f"{len(meta.inputs)} and {len(meta.outputs)}")
        eager.append({"inputs": names, "steps": e_steps, "outputs": e_out})
    loader.segments_seen = set()
    defined = set(values)
    steps = loader.steps(doc["steps"], "steps", defined)
    for k in range(len(segs)):
        if k not in loader.segments_seen:
            raise _bad(where, "steps", f"segment {k} never runs")
        n_in, n_out, field = loader.segment_io[k]
        meta = engines[k][1]
        if (n_in, n_out) != (len(meta.inputs), len(meta.outputs)):
            raise _bad(where, field, f"{n_in} input(s) and {n_out} output(s); its engine has "
                                     f"{len(meta.inputs)} and {len(meta.outputs)}")
    refs = [loader.ref(r, f"output_refs[{i}]", defined) for i, r in enumerate(_list(doc["output_refs"], where,
                                                                                    "output_refs"))]
    if _leaf_count(refs) != len(out_names):
        raise _bad(where, "outputs", f"{len(out_names)} names for {_leaf_count(refs)} output tensors")
    names_py = loader.names(doc["python_functions"], "python_functions")
    used = _python_names(steps)
    if sorted(set(names_py)) != sorted(set(used)):
        raise _bad(where, "python_functions", f"lists {sorted(set(names_py))}, the steps use {sorted(set(used))}")
    structure = None
    sj = doc["structure"]
    if sj is not None:
        _obj(sj, where, "structure", ("inputs", "outputs", "wrapped"))
        if not isinstance(sj["wrapped"], bool):
            raise _bad(where, "structure.wrapped", f"expected a boolean, got {_kind(sj['wrapped'])}")
        try:
            parsed = Structure.from_json_dict({"inputs": sj["inputs"], "outputs": sj["outputs"]}, len(values),
                                              len(out_names))
        except ValueError as exc:
            sub, why = exc.args if len(exc.args) == 2 else ("", str(exc))
            raise _bad(where, f"structure.{sub}" if sub else "structure", why) from None
        structure = Structure(parsed.in_spec, parsed.out_spec, wrapped=sj["wrapped"])
    program = {"doc": doc, "steps": steps, "outputs": refs, "values": values, "input_names": user_names,
               "output_names": out_names, "python_functions": names_py, "eager": eager}
    return program, params, engines, structure


def _resolve_functions(needed: list, given: Optional[dict], where) -> dict:
    given = dict(given or {})
    missing = [n for n in needed if n not in given]
    if missing:
        raise MissingPythonFunctionError(
            f"{where}: the program calls custom autograd.Function(s) {', '.join(missing)}; a hybrid folder holds no "
            "Python code, so pass them: trtgraph.load(folder, python_functions={"
            + ", ".join(f"{n!r}: {n.rsplit('.', 1)[-1]}" for n in missing) + "})", missing=missing)
    out = {}
    for n in needed:
        fn = given[n]
        if isinstance(fn, type) and issubclass(fn, torch.autograd.Function):
            fn = fn.apply
        if not callable(fn):
            raise InputError(f"python_functions[{n!r}] is a {type(fn).__name__}, not an autograd.Function or callable")
        out[n] = fn
    return out


def load_hybrid(folder, device=None, python_functions: Optional[dict] = None):
    """Rebuild the :class:`HybridModule` of a hybrid folder (its segments as lazily deserialized
    :class:`trtgraph.TRTModule`s). ``python_functions``: ``{"pkg.mod.MyFn": MyFn}`` for every custom
    autograd.Function the program calls (else :class:`MissingPythonFunctionError` naming them)."""
    from ..runtime import TRTModule
    from .module import HybridModule

    folder = Path(folder)
    prog, params, engines, structure = read_program(folder)
    funcs = _resolve_functions(prog["python_functions"], python_functions, folder)
    mods = [TRTModule(e, m, device=device, verify=False) for e, m in engines]
    module = HybridModule(prog["steps"], prog["outputs"], prog["values"], mods, params, None, funcs, None, structure)
    module.eager_segments = [LoadedEager(module, k, p) for k, p in enumerate(prog["eager"])]
    module.user_input_names = prog["input_names"]
    module.output_names = prog["output_names"]
    module.precision = prog["doc"]["precision"]
    module.report_text = prog["doc"].get("report") or ""
    module.source_path = str(folder)
    module.extra = dict(prog["doc"].get("extra") or {})
    if device is not None:
        module.to(device)
    return module


class LoadedEager:
    """A segment computed with torch ops from its saved torch program (``program``; None when the folder
    holds none): what a :class:`HybridModule` runs when a call's shapes are outside the segment's profile.
    It reads the module tensors through the HybridModule (not an ``nn.Module``: no second copy)."""

    def __init__(self, module, index: int, program: Optional[dict]):
        self._module, self.index, self.program = module, index, program

    def __call__(self, *tensors):
        from .interp import run_program

        if self.program is None:
            raise InputError(f"segment {self.index}: the input shapes {[tuple(x.shape) for x in tensors]} are outside "
                             "its TensorRT profile, and its hybrid folder holds no torch program for it (saved with "
                             "eager='none', or a static segment with eager='dynamic')")
        device = next((x.device for x in tensors if isinstance(x, torch.Tensor)), None)
        return run_program(self.program["steps"], dict(zip(self.program["inputs"], tensors)), self._module._attr,
                           None, self._module.python_functions, self.program["outputs"], device)


def attach_segments(module, conversions) -> None:
    """Give a loaded :class:`HybridModule` the segments' networks (the ``Conversion``s of the
    :class:`HybridConversion` it was saved from), so that ``module.evaluate`` runs them through the
    reference evaluator. Each conversion must match its engine's recorded inputs and outputs (names,
    dtypes, static shapes); else :class:`InputError`."""
    conversions = list(conversions)
    if len(conversions) != len(module.engines):
        raise InputError(f"{len(conversions)} conversions for {len(module.engines)} segments")
    for k, (conv, eng) in enumerate(zip(conversions, module.engines)):
        meta = ser.metadata_from_conversion(conv, b"\0", model_hash_hex="0" * 64)
        got = [(s.name, s.shape, s.dtype) for s in meta.inputs + meta.outputs]
        want = [(s.name, s.shape, s.dtype) for s in eng.metadata.inputs + eng.metadata.outputs]
        if got != want:
            raise InputError(f"segment {k}: the conversion's inputs/outputs {got} differ from its engine's {want}")
    module.conversions = conversions


# =========================================================================== trtgraph info

def describe_hybrid(folder) -> dict:
    """What ``trtgraph info FOLDER`` prints, as a dict; a failed check is reported, not raised."""
    folder = Path(folder)
    report = {"folder": str(folder), "checks": {}, "segments": [], "torch_steps": [], "notes": []}
    try:
        prog, params, engines, _ = read_program(folder)
    except TrtGraphError as exc:
        report["checks"]["program"] = f"FAILED: {type(exc).__name__}: {exc}"
        return report
    doc = prog["doc"]
    report["checks"]["program"] = (f"ok ({len(prog['steps'])} steps, {len(engines)} engines, {len(params)} "
                                   "module tensors, sizes and SHA-256 checked)")
    report.update(format_version=doc["format_version"], precision=doc["precision"],
                  trtgraph_version=doc["trtgraph_version"], created=doc.get("created"),
                  inputs=[f"{n} (%{v})" for n, v in zip(prog["input_names"], prog["values"])],
                  outputs=prog["output_names"], python_functions=prog["python_functions"],
                  plan=doc.get("report") or "")
    crossing = set()
    for s in prog["steps"]:
        if isinstance(s, SegmentStep):
            meta = engines[s.index][1]
            crossing.update(s.inputs)
            crossing.update(s.outputs)
            report["segments"].append({"index": s.index, "engine": doc["segments"][s.index]["engine"],
                                       "size": meta.engine_size,
                                       "inputs": [x.describe() for x in meta.inputs],
                                       "outputs": [x.describe() for x in meta.outputs]})
        elif s.reason:
            report["torch_steps"].append({"op": s.op, "where": s.where, "reason": s.reason})
    report["boundary_tensors"] = len(crossing)
    report["glue_steps"] = sum(1 for s in prog["steps"] if isinstance(s, TorchStep) and not s.reason)
    return report


def format_hybrid_report(r: dict) -> str:
    lines = [f"hybrid folder {r['folder']}"]
    if "precision" in r:
        lines += [f"  format       trtgraph-hybrid v{r['format_version']}, trtgraph {r['trtgraph_version']}, "
                  f"created {r['created']}",
                  f"  precision    {r['precision']}",
                  f"  inputs       {', '.join(r['inputs'])}",
                  f"  outputs      {', '.join(r['outputs'])}",
                  f"  boundary     {r['boundary_tensors']} tensor(s) cross between TensorRT and torch"]
        if r["python_functions"]:
            lines.append(f"  needs        python_functions for {', '.join(r['python_functions'])}")
        for s in r["segments"]:
            lines.append(f"  segment {s['index']}: {s['engine']} ({s['size']} bytes)")
            for kind in ("inputs", "outputs"):
                for i, text in enumerate(s[kind]):
                    lines.append(f"    {kind if i == 0 else '':<8} {text}")
        lines.append(f"  torch steps: {len(r['torch_steps'])} with a reason, {r['glue_steps']} glue (sizes, lists)")
        for t in r["torch_steps"]:
            lines.append(f"    {t['where'] or t['op']}: {t['reason']}")
    for k, v in r["checks"].items():
        lines.append(f"  check {k}: {v}")
    for n in r["notes"]:
        lines.append(f"  note: {n}")
    if r.get("plan"):
        lines += ["", "plan recorded at conversion:", r["plan"]]
    return "\n".join(lines)


def cmd_info(args) -> int:
    """``trtgraph info FOLDER``: the hybrid plan and every engine's checks; exit 1 when a check fails."""
    from .. import runtime

    report = describe_hybrid(args.engine)
    for seg in report["segments"]:
        sub = runtime.describe(os.path.join(args.engine, seg["engine"]), inspect=not args.no_inspect)
        for k, v in sub["checks"].items():
            report["checks"][f"segment {seg['index']} {k}"] = v
    print(json.dumps(report, indent=2) if args.json else format_hybrid_report(report))
    return 1 if any(str(v).startswith("FAILED") for v in report["checks"].values()) else 0


class HybridFolders:
    """The hybrid folder format, as ``trtgraph.runtime.FOLDER_FORMATS`` expects it."""

    @staticmethod
    def is_folder(path) -> bool:
        return is_hybrid_folder(path)  # a symlinked folder is refused by load_hybrid, by name

    load = staticmethod(load_hybrid)
    info = staticmethod(cmd_info)


def _register():
    from .. import runtime

    if HybridFolders not in runtime.FOLDER_FORMATS:
        runtime.FOLDER_FORMATS.append(HybridFolders)


_register()
