"""Writing a hybrid folder: the program document of a HybridConversion or HybridModule, its tensors
and engines, written beside the target and moved into place; and removing a folder's files."""
from __future__ import annotations

import datetime
import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch.utils import _pytree as pt

from .. import serialization as ser
from ..errors import HybridSaveError, InputError
from .files_format import (_DTYPE_NAMES, _DTYPES, _INT_VIEW, _RAW, FORMAT, FORMAT_VERSION, PROGRAM_FILE, TENSOR_DIR,
                           is_hybrid_folder, parse_document)
from .partition import SegmentStep, TorchStep


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
