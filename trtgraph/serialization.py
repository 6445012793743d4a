"""Saving and loading engines without pickle: an engine file plus a JSON sidecar.

File format
-----------
``save_engine(conv, "model.engine")`` writes two files:

* ``model.engine`` -- the serialized TensorRT plan, byte for byte what
  ``build_serialized_network`` returned. It stays a plain TensorRT engine that other TensorRT
  tools can read.
* ``model.engine.json`` -- the sidecar, UTF-8 JSON (see :class:`EngineMetadata`)::

    {
      "format": "trtgraph-engine", "format_version": 1,
      "inputs":  [{"name": "input_0", "shape": [2, 4], "dtype": "float32",
                   "profile": {"min": [2, 4], "opt": [2, 4], "max": [2, 4]}}],
      "outputs": [{"name": "output_0", "shape": [2, 3], "dtype": "float32"}],
      "precision": "fp16",
      "trtgraph_version": "0.1.0",
      "tensorrt": {"family": "tensorrt_rtx", "flavour": "rtx_bindings", "version": "1.7.1.116"},
      "engine_size": 138348, "engine_sha256": "<hex>",
      "model_hash": "<hex sha256 of the traced graph and the weights>",
      "created": "2026-11-02T10:00:00+00:00", "extra": {}
    }

  Shapes use -1 for dynamic dimensions. ``profile`` is the input's min/opt/max shape of
  optimization profile 0 (all three equal the shape while trtgraph builds static engines).

Both files are written atomically (a temporary file in the same folder, then ``os.replace``);
the engine is written before its sidecar.

Checks on load (:func:`load`, ``TRTModule(path)``, ``TRTModule.load_state_dict``), each a
named error, never a crash:

* missing or unreadable sidecar, wrong ``format``, missing keys -> :class:`EngineFormatError`;
* engine file shorter/longer than ``engine_size`` (truncated) -> :class:`EngineFormatError`;
* SHA-256 of the engine differs from ``engine_sha256`` -> :class:`EngineIntegrityError`;
* built by another TensorRT family (standard vs RTX) or version, or a newer ``format_version``
  -> :class:`EngineVersionError`;
* TensorRT-RTX only: ``Runtime.get_engine_validity`` reads the plan header. Measured with RTX
  1.7.1 on a machine without a GPU: a foreign file, an empty file or a damaged 4-byte plan magic
  is reported as ``MALFORMED_ENGINE`` -> :class:`EngineFormatError`; a well-formed header gets
  INVALID with no flag (it cannot read the GPU's properties), and damage past the magic (even
  the version bytes) is not seen -- the SHA-256 check covers that. With a GPU,
  ``VERSION_MISMATCH`` -> :class:`EngineVersionError`; the GPU-related flags are reported by
  deserialization as :class:`GpuUnavailableError`. Standard TensorRT has no such call.

``model_hash`` is a SHA-256 over the traced graph's text (TorchScript's per-process
``___torch_mangle_N`` class-name suffixes and the ``# file:line`` source comments removed), the
values of tensor constants in the graph, and every parameter and buffer of the model (name,
dtype, shape, bytes), streamed through hashlib one tensor at a time.

``trtgraph info ENGINE`` (:func:`cmd_info`) prints the sidecar, the checks above and, when the
engine can be deserialized (a supported GPU), TensorRT's engine inspector output.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from .errors import (BackendUnavailableError, EngineFormatError, EngineIntegrityError, EngineVersionError,
                     GpuUnavailableError, TrtGraphError)

FORMAT = "trtgraph-engine"
FORMAT_VERSION = 1
SIDECAR_SUFFIX = ".json"

_DTYPE_NAMES = {
    torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16", torch.int32: "int32",
    torch.int64: "int64", torch.bool: "bool", torch.int8: "int8", torch.uint8: "uint8",
    torch.float8_e4m3fn: "float8_e4m3fn",
}
_DTYPES_BY_NAME = {v: k for k, v in _DTYPE_NAMES.items()}


def dtype_name(dtype: torch.dtype) -> str:
    return _DTYPE_NAMES.get(dtype, str(dtype).replace("torch.", ""))


def dtype_from_name(name: str) -> torch.dtype:
    try:
        return _DTYPES_BY_NAME[name]
    except KeyError:
        raise EngineFormatError(f"unknown dtype {name!r} in engine metadata") from None


# --------------------------------------------------------------------------- metadata

@dataclass
class TensorSpec:
    """One engine input or output: name, shape (-1 = dynamic), dtype name, profile (inputs)."""

    name: str
    shape: tuple
    dtype: str
    min: Optional[tuple] = None
    opt: Optional[tuple] = None
    max: Optional[tuple] = None

    @property
    def torch_dtype(self) -> torch.dtype:
        return dtype_from_name(self.dtype)

    @property
    def has_profile(self) -> bool:
        return self.min is not None and self.max is not None

    def to_dict(self) -> dict:
        d = {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}
        if self.has_profile:
            d["profile"] = {"min": list(self.min), "opt": list(self.opt or self.max), "max": list(self.max)}
        return d

    @classmethod
    def from_dict(cls, d, where: str) -> "TensorSpec":
        if not isinstance(d, dict):
            raise EngineFormatError(f"{where}: expected an object, got {type(d).__name__}")
        try:
            name, shape, dtype = d["name"], d["shape"], d["dtype"]
        except KeyError as exc:
            raise EngineFormatError(f"{where}: missing key {exc.args[0]!r}") from None
        if not isinstance(name, str) or not _is_shape(shape) or not isinstance(dtype, str):
            raise EngineFormatError(f"{where}: malformed tensor entry {d!r}")
        dtype_from_name(dtype)
        spec = cls(name, tuple(shape), dtype)
        prof = d.get("profile")
        if prof is not None:
            if not isinstance(prof, dict) or not all(_is_shape(prof.get(k)) and len(prof[k]) == len(shape)
                                                     for k in ("min", "opt", "max")):
                raise EngineFormatError(f"{where}: malformed profile {prof!r}")
            spec.min, spec.opt, spec.max = (tuple(prof[k]) for k in ("min", "opt", "max"))
        return spec

    def describe(self) -> str:
        text = f"{self.name} {self.dtype} {tuple(self.shape)}"
        if self.has_profile and not (self.min == self.opt == self.max == tuple(self.shape)):
            text += f" profile min {tuple(self.min)} opt {tuple(self.opt)} max {tuple(self.max)}"
        return text


_INT_LIST = re.compile(r"\[[-\d,\s]*\]")


def _is_shape(s) -> bool:
    return isinstance(s, list) and all(isinstance(d, int) and not isinstance(d, bool) for d in s)


@dataclass
class EngineMetadata:
    """What the sidecar (and a TRTModule's state_dict) records about an engine."""

    inputs: list
    outputs: list
    precision: str
    engine_sha256: str
    engine_size: int
    tensorrt: dict  # {"family", "flavour", "version"}
    trtgraph_version: str
    model_hash: Optional[str] = None
    created: Optional[str] = None
    extra: dict = field(default_factory=dict)
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    @property
    def input_names(self) -> list:
        return [s.name for s in self.inputs]

    @property
    def output_names(self) -> list:
        return [s.name for s in self.outputs]

    def to_dict(self) -> dict:
        return {
            "format": self.format, "format_version": self.format_version,
            "inputs": [s.to_dict() for s in self.inputs], "outputs": [s.to_dict() for s in self.outputs],
            "precision": self.precision, "trtgraph_version": self.trtgraph_version, "tensorrt": dict(self.tensorrt),
            "engine_size": self.engine_size, "engine_sha256": self.engine_sha256, "model_hash": self.model_hash,
            "created": self.created, "extra": dict(self.extra),
        }

    def to_json(self) -> str:
        text = json.dumps(self.to_dict(), indent=2)
        return _INT_LIST.sub(lambda m: json.dumps(json.loads(m.group(0))), text) + "\n"  # shapes on one line

    @classmethod
    def from_dict(cls, d, where: str = "engine metadata") -> "EngineMetadata":
        if not isinstance(d, dict):
            raise EngineFormatError(f"{where}: expected a JSON object, got {type(d).__name__}")
        if d.get("format") != FORMAT:
            raise EngineFormatError(f"{where}: not a trtgraph engine sidecar (format {d.get('format')!r}, "
                                    f"expected {FORMAT!r})")
        version = d.get("format_version")
        if not isinstance(version, int):
            raise EngineFormatError(f"{where}: format_version {version!r} is not an integer")
        if version > FORMAT_VERSION:
            raise EngineVersionError(f"{where}: format_version {version} was written by a newer trtgraph; "
                                     f"this trtgraph reads format_version <= {FORMAT_VERSION}")
        for key in ("inputs", "outputs", "precision", "engine_sha256", "engine_size", "tensorrt",
                    "trtgraph_version"):
            if key not in d:
                raise EngineFormatError(f"{where}: missing key {key!r}")
        if not isinstance(d["inputs"], list) or not isinstance(d["outputs"], list):
            raise EngineFormatError(f"{where}: 'inputs' and 'outputs' must be lists")
        trt_info = d["tensorrt"]
        if not isinstance(trt_info, dict) or not all(isinstance(trt_info.get(k), str) for k in ("family", "version")):
            raise EngineFormatError(f"{where}: 'tensorrt' must hold 'family' and 'version' strings, got {trt_info!r}")
        sha, size = d["engine_sha256"], d["engine_size"]
        if not (isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha)):
            raise EngineFormatError(f"{where}: engine_sha256 {sha!r} is not a SHA-256 hex digest")
        if not isinstance(size, int) or size < 0:
            raise EngineFormatError(f"{where}: engine_size {size!r} is not a byte count")
        extra = d.get("extra") or {}
        if not isinstance(extra, dict):
            raise EngineFormatError(f"{where}: 'extra' must be an object")
        return cls(
            inputs=[TensorSpec.from_dict(s, f"{where}: inputs[{i}]") for i, s in enumerate(d["inputs"])],
            outputs=[TensorSpec.from_dict(s, f"{where}: outputs[{i}]") for i, s in enumerate(d["outputs"])],
            precision=str(d["precision"]), engine_sha256=sha, engine_size=size, tensorrt=dict(trt_info),
            trtgraph_version=str(d["trtgraph_version"]), model_hash=d.get("model_hash"), created=d.get("created"),
            extra=extra, format=FORMAT, format_version=version)

    @classmethod
    def from_json(cls, text, where: str = "engine metadata") -> "EngineMetadata":
        if isinstance(text, (bytes, bytearray, memoryview)):
            try:
                text = bytes(text).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise EngineFormatError(f"{where}: not UTF-8 text ({exc})") from None
        try:
            d = json.loads(text)
        except ValueError as exc:
            raise EngineFormatError(f"{where}: not valid JSON ({exc})") from None
        return cls.from_dict(d, where)


# --------------------------------------------------------------------------- identities and hashes

def trtgraph_version() -> str:
    from . import __version__  # late: trtgraph/__init__ defines it after importing the submodules

    return __version__


def tensorrt_identity() -> dict:
    """``{"family", "flavour", "version"}`` of the TensorRT in use. ``family`` is what decides
    engine compatibility: "tensorrt" (standard) or "tensorrt_rtx" (front package or bindings wheel)."""
    from . import backend

    flav = backend.flavour()
    return {"family": "tensorrt" if flav == "tensorrt" else "tensorrt_rtx", "flavour": flav,
            "version": backend.version()}


def sha256_hex(data) -> str:
    return hashlib.sha256(_buffer(data)).hexdigest()


_MANGLE = re.compile(r"___torch_mangle_\d+\.")
_SOURCE_COMMENT = re.compile(r" # [^\n]*")


def normalized_graph_text(torch_graph) -> str:
    """The graph's text without per-process class-name mangling and source-location comments."""
    return _SOURCE_COMMENT.sub("", _MANGLE.sub("", str(torch_graph)))


def _hash_tensor(h, name: str, t: torch.Tensor):
    t = t.detach()
    h.update(f"\0{name}\0{dtype_name(t.dtype)}\0{tuple(t.shape)}\0".encode())
    if t.is_meta:
        raise TrtGraphError(f"cannot hash {name!r}: it is a meta tensor (no data)")
    if t.numel() == 0:
        return
    flat = t.cpu().contiguous().reshape(-1)
    h.update(flat.view(torch.uint8).numpy())  # a view: no copy of a contiguous CPU tensor


def _graph_constants(block):
    for node in block.nodes():
        if node.kind() == "prim::Constant" and node.hasAttribute("value") and node.kindOf("value") == "t":
            yield node.t("value")
        for sub in node.blocks():
            yield from _graph_constants(sub)


def model_hash(model: torch.nn.Module, torch_graph) -> str:
    """SHA-256 of the traced graph (normalized text and tensor constants) and every parameter and
    buffer of ``model`` -- streamed, one tensor at a time."""
    h = hashlib.sha256()
    h.update(b"trtgraph-model-hash-v1\0")
    h.update(normalized_graph_text(torch_graph).encode())
    for i, c in enumerate(_graph_constants(torch_graph)):
        _hash_tensor(h, f"constant{i}", c)
    if model is not None:
        for name, p in model.named_parameters():
            _hash_tensor(h, "param:" + name, p)
        for name, b in model.named_buffers():
            _hash_tensor(h, "buffer:" + name, b)
    return h.hexdigest()


# --------------------------------------------------------------------------- engine bytes

def _buffer(data) -> memoryview:
    """A byte view of bytes / bytearray / memoryview / IHostMemory / uint8 tensor, without copying."""
    if isinstance(data, torch.Tensor):
        return memoryview(data.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    if isinstance(data, np.ndarray):
        return memoryview(np.ascontiguousarray(data).reshape(-1).view(np.uint8))
    return memoryview(data).cast("B")


def engine_tensor(data) -> torch.Tensor:
    """The engine as a 1-D CPU uint8 tensor (one copy at most)."""
    if isinstance(data, torch.Tensor):
        if data.dtype != torch.uint8 or data.dim() != 1:
            raise EngineFormatError(f"an engine tensor must be 1-D uint8, got {data.dtype} of shape {tuple(data.shape)}")
        return data.detach().cpu().contiguous()
    buf = bytearray(_buffer(data))
    return torch.frombuffer(buf, dtype=torch.uint8) if buf else torch.empty(0, dtype=torch.uint8)


def read_engine_file(path) -> torch.Tensor:
    path = Path(path)
    try:
        arr = np.fromfile(path, dtype=np.uint8)
    except (OSError, ValueError) as exc:
        raise EngineFormatError(f"{path}: cannot read the engine file ({exc})") from None
    return torch.from_numpy(arr)


def sidecar_path(path) -> Path:
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def read_metadata(path) -> EngineMetadata:
    """The sidecar of engine file ``path`` (``path`` + ".json")."""
    side = sidecar_path(path)
    if not side.exists():
        raise EngineFormatError(
            f"{path}: no sidecar {side.name} beside it, so this is not a trtgraph engine file (or the sidecar "
            "was lost). A raw TensorRT plan can be wrapped without metadata: trtgraph.TRTModule(path)")
    try:
        text = side.read_bytes()
    except OSError as exc:
        raise EngineFormatError(f"{side}: cannot read the sidecar ({exc})") from None
    return EngineMetadata.from_json(text, where=str(side))


def check_engine_bytes(engine, meta: EngineMetadata, where: str = "engine"):
    """Size (truncation) and SHA-256 of ``engine`` against ``meta``."""
    buf = _buffer(engine)
    if buf.nbytes != meta.engine_size:
        kind = "truncated" if buf.nbytes < meta.engine_size else "longer than recorded"
        raise EngineFormatError(f"{where}: {kind}: {buf.nbytes} bytes, its metadata records {meta.engine_size}")
    digest = sha256_hex(buf)
    if digest != meta.engine_sha256:
        raise EngineIntegrityError(f"{where}: SHA-256 {digest} does not match {meta.engine_sha256} recorded in "
                                   "its metadata: the engine is corrupted or belongs to another sidecar")


def check_compatibility(meta: EngineMetadata, where: str = "engine"):
    """Refuse an engine built by another TensorRT family or version (engines are not portable)."""
    here = tensorrt_identity()
    built = meta.tensorrt
    if built.get("family") != here["family"] or built.get("version") != here["version"]:
        raise EngineVersionError(
            f"{where} was built by {built.get('family')} {built.get('version')} (via {built.get('flavour', '?')}); "
            f"this process uses {here['family']} {here['version']} (via {here['flavour']}). TensorRT engines only "
            "load in the TensorRT they were built with: rebuild the engine here (trtgraph.compile rebuilds on a miss).")


def _validity_flags(t, flags: int) -> list:
    enum = getattr(t, "EngineInvalidityDiagnostics", None)
    if enum is None:
        return [f"0x{flags:x}"] if flags else []
    return [name for name, v in enum.__members__.items() if flags & int(v)]


def engine_validity(engine):
    """``(validity_name, [flag names], [log errors])`` from RTX's ``Runtime.get_engine_validity``,
    or None when this TensorRT lacks it. Works without a GPU (see the module docstring)."""
    from . import backend

    t = backend.trt()
    log = backend.logger()
    runtime = t.Runtime(log)
    if not hasattr(runtime, "get_engine_validity"):
        return None
    log.clear()
    validity, flags = runtime.get_engine_validity(_buffer(engine))
    messages = log.errors()
    log.clear()
    name = getattr(validity, "name", str(validity))
    return name, _validity_flags(t, int(flags)), messages


def check_engine_header(engine, where: str = "engine"):
    """Refuse a malformed/foreign or other-version plan where TensorRT can tell from its header."""
    buf = _buffer(engine)
    if buf.nbytes == 0:
        raise EngineFormatError(f"{where}: empty engine")
    result = engine_validity(buf)
    if result is None:
        return
    _, flags, messages = result
    if "MALFORMED_ENGINE" in flags:
        raise EngineFormatError(f"{where}: TensorRT reports a malformed engine (not a TensorRT plan, or a corrupted "
                                "header)" + "".join("\n  " + m for m in messages))
    if "VERSION_MISMATCH" in flags:
        raise EngineVersionError(f"{where}: TensorRT reports the engine was built by another TensorRT version"
                                 + "".join("\n  " + m for m in messages))


def verify_engine(engine, meta: Optional[EngineMetadata], where: str = "engine"):
    """Every check that runs without a GPU: size, SHA-256, TensorRT family/version, plan header."""
    if meta is not None:
        check_engine_bytes(engine, meta, where)
        check_compatibility(meta, where)
    check_engine_header(engine, where)


# --------------------------------------------------------------------------- metadata from a conversion / an engine

def _dims(d) -> tuple:
    return tuple(int(x) for x in d)


def metadata_from_conversion(conv, engine, model_hash_hex: Optional[str] = None, extra: Optional[dict] = None,
                             profiles: Optional[dict] = None) -> EngineMetadata:
    """Metadata for ``engine`` built from Conversion ``conv``. ``profiles``: {input name: (min, opt, max)}
    for dynamic inputs (also read from ``conv.profiles`` when the conversion has it)."""
    from .dtypes import to_torch

    net = conv.network
    profiles = dict(profiles or getattr(conv, "profiles", None) or {})
    inputs = []
    for i in range(net.num_inputs):
        t = net.get_input(i)
        shape = _dims(t.shape)
        spec = TensorSpec(t.name, shape, dtype_name(to_torch(t.dtype)))
        if t.name in profiles:
            spec.min, spec.opt, spec.max = (tuple(int(x) for x in s) for s in profiles[t.name])
        elif all(d >= 0 for d in shape):
            spec.min = spec.opt = spec.max = shape
        inputs.append(spec)
    outputs = []
    for i in range(net.num_outputs):
        t = net.get_output(i)
        outputs.append(TensorSpec(t.name, _dims(t.shape), dtype_name(to_torch(t.dtype))))
    if model_hash_hex is None:
        model_hash_hex = model_hash(conv.model, conv.graph.torch_graph)
    buf = _buffer(engine)
    return EngineMetadata(
        inputs=inputs, outputs=outputs, precision=conv.precision, engine_sha256=sha256_hex(buf),
        engine_size=buf.nbytes, tensorrt=tensorrt_identity(), trtgraph_version=trtgraph_version(),
        model_hash=model_hash_hex, created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        extra=dict(extra or {}))


def metadata_from_engine(cuda_engine, engine_bytes) -> EngineMetadata:
    """Metadata read from a deserialized ICudaEngine (for raw plans saved without a sidecar)."""
    from . import backend
    from .dtypes import to_torch

    t = backend.trt()
    inputs, outputs = [], []
    for i in range(cuda_engine.num_io_tensors):
        name = cuda_engine.get_tensor_name(i)
        spec = TensorSpec(name, _dims(cuda_engine.get_tensor_shape(name)),
                          dtype_name(to_torch(cuda_engine.get_tensor_dtype(name))))
        if cuda_engine.get_tensor_mode(name) == t.TensorIOMode.INPUT:
            spec.min, spec.opt, spec.max = (_dims(s) for s in cuda_engine.get_tensor_profile_shape(name, 0))
            inputs.append(spec)
        else:
            outputs.append(spec)
    buf = _buffer(engine_bytes)
    return EngineMetadata(inputs=inputs, outputs=outputs, precision="unknown", engine_sha256=sha256_hex(buf),
                          engine_size=buf.nbytes, tensorrt=tensorrt_identity(), trtgraph_version=trtgraph_version(),
                          extra={"source": "read from the engine (no sidecar)"})


# --------------------------------------------------------------------------- files

def atomic_write_bytes(path, data) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_buffer(data) if not isinstance(data, str) else data.encode())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def write_engine(path, engine, meta: EngineMetadata) -> Path:
    """Write the engine file, then its sidecar, each atomically."""
    path = Path(path)
    atomic_write_bytes(path, engine)
    atomic_write_bytes(sidecar_path(path), meta.to_json())
    return path


def save_engine(obj, path, *, model_hash: Optional[str] = None, extra: Optional[dict] = None) -> Path:
    """Save a :class:`~trtgraph.Conversion` (built now if it was not) or a :class:`~trtgraph.TRTModule`
    as ``path`` (the TensorRT plan) + ``path.json`` (the sidecar). Returns ``path``."""
    from .runtime import TRTModule

    if isinstance(obj, TRTModule):
        if obj.metadata is None:
            raise EngineFormatError("this TRTModule has no metadata (a raw plan not yet deserialized); "
                                    "call .load_engine() on a GPU first, or save the plan bytes yourself")
        return write_engine(path, obj.engine_bytes, obj.metadata)
    if not (hasattr(obj, "network") and hasattr(obj, "build")):
        raise TrtGraphError(f"save_engine takes a Conversion or a TRTModule, got {type(obj).__name__}")
    engine = getattr(obj, "_engine", None)
    if engine is None:
        engine = obj.build()
    meta = metadata_from_conversion(obj, engine, model_hash_hex=model_hash, extra=extra)
    return write_engine(path, engine, meta)


def load_files(path):
    """``(engine tensor, metadata)`` of a saved engine, after every check that runs without a GPU."""
    path = Path(path)
    if path.suffix == SIDECAR_SUFFIX and not sidecar_path(path).exists() and path.with_suffix("").is_file():
        path = path.with_suffix("")  # given the sidecar: use the engine beside it
    if not path.exists():
        raise EngineFormatError(f"{path}: no such engine file")
    meta = read_metadata(path)
    engine = read_engine_file(path)
    verify_engine(engine, meta, where=str(path))
    return engine, meta


def load(path, device=None):
    """Load a saved engine as a :class:`~trtgraph.TRTModule` (deserialized lazily, on first use)."""
    from .runtime import TRTModule

    engine, meta = load_files(path)
    module = TRTModule(engine, meta, device=device, verify=False)
    module.source_path = str(path)
    return module


# --------------------------------------------------------------------------- trtgraph info ENGINE

def describe(path, inspect: bool = True) -> dict:
    """Everything ``trtgraph info`` reports, as a dict (no exception for a bad file: see ``checks``)."""
    path = Path(path)
    report: dict[str, Any] = {"engine": str(path), "size": None, "sidecar": None, "metadata": None,
                              "checks": {}, "inspector": None, "notes": []}
    if not path.exists():
        raise EngineFormatError(f"{path}: no such engine file")
    engine = read_engine_file(path)
    report["size"] = int(engine.numel())
    checks = report["checks"]
    meta = None
    side = sidecar_path(path)
    if side.exists():
        report["sidecar"] = str(side)
        try:
            meta = read_metadata(path)
            report["metadata"] = meta.to_dict()
            checks["sidecar"] = "ok"
        except TrtGraphError as exc:
            checks["sidecar"] = f"FAILED: {type(exc).__name__}: {exc}"
    else:
        report["notes"].append(f"no sidecar {side.name}: not saved by trtgraph.save_engine, so no metadata")
    if meta is not None:
        checks["integrity"] = _check(lambda: check_engine_bytes(engine, meta, str(path)),
                                     f"ok (sha256 {meta.engine_sha256[:16]}..., {meta.engine_size} bytes)")
    try:
        here = tensorrt_identity()
        report["tensorrt_here"] = here
    except BackendUnavailableError as exc:
        report["notes"].append(f"TensorRT is not available, so the engine itself is not checked: {exc}")
        return report
    if meta is not None:
        checks["tensorrt"] = _check(lambda: check_compatibility(meta, str(path)),
                                    f"ok ({here['family']} {here['version']})")
    validity = engine_validity(engine) if engine.numel() else ("INVALID", ["MALFORMED_ENGINE"], [])
    if validity is not None:
        name, flags, _ = validity
        if "MALFORMED_ENGINE" in flags or "VERSION_MISMATCH" in flags:
            checks["header"] = f"FAILED (get_engine_validity: {name}, {'|'.join(flags)})"
        elif name == "INVALID" and not flags:
            checks["header"] = "ok (well-formed; TensorRT cannot check it further without a usable GPU)"
        else:
            checks["header"] = f"ok (get_engine_validity: {name}" + (f", {'|'.join(flags)}" if flags else "") + ")"
    if not inspect:
        return report
    if any(str(v).startswith("FAILED") for v in checks.values()):
        report["notes"].append("engine inspector: skipped, the checks above failed")
        return report
    from .runtime import TRTModule

    try:
        module = TRTModule(engine, meta, verify=False)
        report["inspector"] = module.inspect()
    except GpuUnavailableError as exc:
        report["notes"].append("engine inspector: not available without a usable GPU (TensorRT must deserialize "
                               f"the engine to inspect it): {exc}")
    except TrtGraphError as exc:
        report["notes"].append(f"engine inspector: failed: {type(exc).__name__}: {exc}")
    return report


def _check(fn, ok: str) -> str:
    try:
        fn()
        return ok
    except TrtGraphError as exc:
        return f"FAILED: {type(exc).__name__}: {exc}"


def format_report(report: dict) -> str:
    rows = [("engine", f"{report['engine']} ({report['size']} bytes)"),
            ("sidecar", report["sidecar"] or "(none)")]
    meta = report.get("metadata")
    if meta:
        trt_info = meta["tensorrt"]
        rows += [
            ("format", f"{meta['format']} v{meta['format_version']}"),
            ("precision", meta["precision"]),
            ("built with", f"{trt_info.get('family')} {trt_info.get('version')} (via {trt_info.get('flavour', '?')}), "
                           f"trtgraph {meta['trtgraph_version']}"),
            ("created", str(meta.get("created"))),
            ("model hash", str(meta.get("model_hash"))),
            ("engine sha256", meta["engine_sha256"]),
        ]
        for kind in ("inputs", "outputs"):
            for i, s in enumerate(meta[kind]):
                rows.append((kind if i == 0 else "", TensorSpec.from_dict(s, kind).describe()))
        for k, v in (meta.get("extra") or {}).items():
            rows.append((f"extra.{k}", str(v)))
    here = report.get("tensorrt_here")
    if here:
        rows.append(("TensorRT here", f"{here['family']} {here['version']} (via {here['flavour']})"))
    for k, v in report["checks"].items():
        rows.append((f"check {k}", v))
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    for note in report["notes"]:
        lines.append(f"note: {note}")
    if report.get("inspector"):
        lines += ["", "engine inspector:", report["inspector"].rstrip()]
    return "\n".join(lines)


def cmd_info(args) -> int:
    """``trtgraph info ENGINE [--json] [--no-inspect]``: exit 0 when every check passes, else 1."""
    report = describe(args.engine, inspect=not args.no_inspect)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report))
    failed = any(str(v).startswith("FAILED") for v in report["checks"].values())
    return 1 if failed else 0


def add_info_parser(subparsers):
    """Register ``trtgraph info`` on the CLI's subparsers."""
    p = subparsers.add_parser("info", help="print a saved engine's metadata, checks and (on a GPU) layers")
    p.add_argument("engine", help="engine file written by trtgraph.save_engine / trtgraph.compile")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-inspect", action="store_true", help="skip TensorRT's engine inspector (needs a GPU)")
    p.add_argument("--verbose", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(fn=cmd_info)
    return p
