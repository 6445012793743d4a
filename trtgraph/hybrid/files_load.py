"""Loading a hybrid folder: its tensor files and engines checked, the program rebuilt
(:func:`read_program`), and the :class:`HybridModule` made from it (:func:`load_hybrid`), with
``LoadedEager`` segments and :func:`attach_segments`."""
from __future__ import annotations

import math
import os
import stat
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from .. import serialization as ser
from ..errors import EngineFormatError, InputError, MissingPythonFunctionError, NotARegularFileError
from .files_format import (_ATTR_RE, _DTYPES, _FILE_RE, _ID_RE, _RAW, _TENSOR_FILE_RE, MAX_PROGRAM_BYTES, MAX_RANK,
                           PROGRAM_FILE, TENSOR_DIR, _bad, _is_int, _kind, _list, _obj, _str, parse_document)
from .files_save import _leaf_count, _python_names
from .files_schema import _Loader, validate_program
from .partition import SegmentStep


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
