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

Both files are written atomically (a temporary file in the same folder, then ``os.replace``),
with the permissions a plain ``open(path, "wb")`` would give: 0o666 minus the umask for a new
file, the existing mode when a file is replaced. The engine is written before its sidecar, and the
metadata is validated before anything is written.

The sidecar schema (:func:`validate_metadata`; one validator for ``load``, ``TRTModule``,
``load_state_dict``, ``trtgraph info`` and the cache): the keys above and no others (``extra`` holds
any JSON object with printable string keys); ``format_version`` an integer >= 1 (a bool is not an
integer); shapes arrays of at most 8 integers >= -1; ``profile`` (inputs only, required when the
shape has a -1) three arrays of integers >= 0 of the shape's rank, min <= opt <= max elementwise and
equal to the shape on its static dimensions; dtypes from the known set; names non-empty, printable
(no control, format or surrogate characters) and unique across inputs and outputs; ``precision``
one of fp32, fp16, bf16 (or "unknown" for metadata read from an engine); ``engine_size`` an
integer > 0; ``engine_sha256`` and ``model_hash`` 64 lowercase hex digits; ``created`` ISO 8601.
An optional ``structure`` (models with nested inputs or outputs: :mod:`trtgraph.pytree`) holds
``inputs`` and ``outputs``, each a ``torch.utils._pytree.treespec_dumps`` JSON string, whose leaf
counts must equal the numbers of inputs and outputs; sidecars without it load as before.
The text must be UTF-8 standard JSON (no NaN, no duplicate keys), at most 1 MiB, nested at most
32 deep (checked before parsing). Each violation is a :class:`SidecarSchemaError` whose ``field``
names the field (``inputs[0].profile.min``) and whose message says why.

The SHA-256 is an integrity check, not authentication: anyone who can edit the engine can rewrite
its sidecar to match. Load engines only from sources you trust.

Checks on load (:func:`load`, ``TRTModule(path)``, ``TRTModule.load_state_dict``), each a
named error, never a crash:

* an engine or sidecar path that is a FIFO, device, directory or socket -> :class:`NotARegularFileError`,
  without opening it (``os.stat``, then a non-blocking open and ``fstat``);
* missing or unreadable sidecar -> :class:`EngineFormatError`; a schema violation (above) ->
  :class:`SidecarSchemaError`;
* engine file shorter/longer than ``engine_size`` (truncated) -> :class:`EngineFormatError`; without a
  sidecar, a TensorRT-RTX plan shorter/longer than the length its header records (:func:`check_plan_size`)
  -> :class:`EngineFormatError`;
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
* at deserialization (a GPU), the engine's own I/O tensors -- names, input/output mode, dtypes,
  shapes, the inputs' profile -- are compared with the metadata (:func:`check_engine_matches`);
  a difference (an edited or swapped sidecar) -> :class:`EngineMismatchError`.

``model_hash`` is a SHA-256 over the traced graph's text (TorchScript's per-process
``___torch_mangle_N`` class-name suffixes and the ``# file:line`` source comments removed), the
values of tensor constants in the graph, and every parameter and buffer of the model (name,
dtype, shape, bytes), streamed through hashlib one tensor at a time.

``trtgraph info ENGINE`` (:func:`cmd_info`) prints the sidecar, the checks above (``check plan size``
too, which is what catches a truncated engine that has no sidecar) and, when the engine can be
deserialized (a supported GPU), TensorRT's engine inspector output.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import stat
import struct
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from .errors import (BackendUnavailableError, EngineFormatError, EngineIntegrityError, EngineMismatchError,
                     EngineVersionError, GpuUnavailableError, NotARegularFileError, SidecarSchemaError,
                     TrtGraphError)

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
    def from_dict(cls, d, where: str, is_input: Optional[bool] = None) -> "TensorSpec":
        """A validated spec (see :func:`validate_tensor`); ``is_input`` None accepts either kind."""
        return validate_tensor(d, where, "", is_input)

    def describe(self) -> str:
        text = f"{self.name} {self.dtype} {tuple(self.shape)}"
        if self.has_profile and not (self.min == self.opt == self.max == tuple(self.shape)):
            text += f" profile min {tuple(self.min)} opt {tuple(self.opt)} max {tuple(self.max)}"
        return text


_INT_LIST_OR_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\[[-\d,\s]*\]', re.S)  # strings are matched to be skipped


def _one_line(m) -> str:
    text = m.group(0)
    return text if text.startswith('"') else json.dumps(json.loads(text))


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
    structure: Optional[dict] = None  # {"inputs", "outputs"}: TreeSpec JSON (trtgraph.pytree), nested models only

    def tree_structure(self):
        """The model's input/output nesting (:class:`trtgraph.pytree.Structure`), None when not recorded."""
        if self.structure is None:
            return None
        from .pytree import Structure

        return Structure.from_json_dict(self.structure, len(self.inputs), len(self.outputs))

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
        } | ({"structure": dict(self.structure)} if self.structure is not None else {})

    def to_json(self) -> str:
        text = json.dumps(self.to_dict(), indent=2)
        return _INT_LIST_OR_STRING.sub(_one_line, text) + "\n"  # shapes on one line, strings untouched

    def validated(self, where: str = "engine metadata") -> "EngineMetadata":
        """A copy checked against the sidecar schema (for metadata objects built in Python)."""
        try:
            d = self.to_dict()
        except (TypeError, ValueError, AttributeError) as exc:
            raise SidecarSchemaError(f"{where}: malformed metadata object ({type(exc).__name__}: {exc})") from None
        return validate_metadata(d, where)

    @classmethod
    def from_dict(cls, d, where: str = "engine metadata") -> "EngineMetadata":
        """Metadata from its dict form, validated strictly (:func:`validate_metadata`)."""
        return validate_metadata(d, where)

    @classmethod
    def from_json(cls, text, where: str = "engine metadata") -> "EngineMetadata":
        """Metadata from sidecar text or bytes: size, nesting depth, JSON syntax, then the schema."""
        return validate_metadata(parse_sidecar_json(text, where), where)


# --------------------------------------------------------------------------- the sidecar schema
# One validator for every way metadata comes in: trtgraph.load, TRTModule(path / metadata / state_dict),
# trtgraph info and the cache. Each violation is a SidecarSchemaError naming the field and the reason.

MAX_SIDECAR_BYTES = 1 << 20   # a real sidecar is about 1 KB; `extra` may hold a little more
MAX_JSON_DEPTH = 32           # the schema itself nests 5 deep (document, inputs, tensor, profile, min)
MAX_NAME_CHARS = 1024
MAX_TENSORS = 4096
MAX_RANK = 8                  # TensorRT's Dims::MAX_DIMS
_INT64_MAX = 2 ** 63 - 1
_HEX64 = re.compile(r"[0-9a-f]{64}")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_BRACKET = re.compile(r"[\[\]{}]")
_TOP_REQUIRED = ("format", "format_version", "inputs", "outputs", "precision", "trtgraph_version", "tensorrt",
                 "engine_size", "engine_sha256")
_TOP_OPTIONAL = ("model_hash", "created", "extra", "structure")
_FAMILIES = ("tensorrt", "tensorrt_rtx")


def _kind(v) -> str:
    """The JSON name of a value's type."""
    for t, name in ((bool, "a boolean"), (int, "an integer"), (float, "a number"), (str, "a string"),
                    (list, "an array"), (dict, "an object"), (type(None), "null")):
        if isinstance(v, t):
            return name
    return f"a Python {type(v).__name__}"


def _short(v, limit: int = 60) -> str:
    text = repr(v)
    return text if len(text) <= limit else text[:limit] + "...(" + str(len(text)) + " chars)"


def _bad(where: str, field: str, why: str) -> SidecarSchemaError:
    return SidecarSchemaError(f"{where}: {field}: {why}", field=field)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _text(v, where: str, field: str, max_chars: int = MAX_NAME_CHARS) -> str:
    """A non-empty, printable string (no control, format or surrogate characters) of bounded length."""
    if not isinstance(v, str):
        raise _bad(where, field, f"expected a string, got {_kind(v)} {_short(v)}")
    if not v:
        raise _bad(where, field, "is empty")
    if len(v) > max_chars:
        raise _bad(where, field, f"is {len(v)} characters long (at most {max_chars})")
    if not v.isprintable():
        i = next(i for i, c in enumerate(v) if not c.isprintable())
        raise _bad(where, field, f"{_short(v)} holds the non-printable character {v[i]!r} at position {i}")
    return v


def _shape_field(v, where: str, field: str, lowest: int, rank: Optional[int] = None) -> tuple:
    """A shape: a list of at most MAX_RANK integers, each >= ``lowest`` and fitting int64."""
    if not isinstance(v, list):
        raise _bad(where, field, f"expected an array of integers, got {_kind(v)} {_short(v)}")
    if len(v) > MAX_RANK:
        raise _bad(where, field, f"rank {len(v)}: TensorRT tensors have at most {MAX_RANK} dimensions")
    for i, d in enumerate(v):
        if not _is_int(d):
            raise _bad(where, f"{field}[{i}]", f"expected an integer, got {_kind(d)} {_short(d)}")
        if not lowest <= d <= _INT64_MAX:
            what = "-1 (dynamic) or a size >= 0" if lowest < 0 else "a size >= 0"
            raise _bad(where, f"{field}[{i}]", f"{_short(d)} is not {what}")
    if rank is not None and len(v) != rank:
        raise _bad(where, field, f"has rank {len(v)}, the tensor's shape has rank {rank}")
    return tuple(v)


def _object(v, where: str, field: str, required=(), optional=()) -> dict:
    if not isinstance(v, dict):
        raise _bad(where, field or "document", f"expected an object, got {_kind(v)} {_short(v)}")
    for k in v:
        if not isinstance(k, str):
            raise _bad(where, field or "document", f"key {_short(k)} is not a string")
    for k in required:
        if k not in v:
            raise _bad(where, field or "document", f"missing key {k!r}")
    unknown = [k for k in v if k not in required and k not in optional]
    if unknown:
        raise _bad(where, _join(field, unknown[0]), f"unknown key (expected {', '.join(required + optional)})")
    return v


def _join(field: str, key: str) -> str:
    return f"{field}.{key}" if field else key


def validate_tensor(d, where: str, field: str, is_input: Optional[bool]) -> "TensorSpec":
    """One ``inputs[i]`` / ``outputs[i]`` entry. Inputs may (dynamic ones must) carry a ``profile`` with
    min <= opt <= max of the shape's rank, equal to the shape on its static dimensions."""
    optional = ("profile",) if is_input is not False else ()
    d = _object(d, where, field, ("name", "shape", "dtype"), optional)
    name = _text(d["name"], where, _join(field, "name"))
    shape = _shape_field(d["shape"], where, _join(field, "shape"), -1)
    dtype = d["dtype"]
    if not isinstance(dtype, str) or dtype not in _DTYPES_BY_NAME:
        raise _bad(where, _join(field, "dtype"), f"unknown dtype {_short(dtype)} (known: {', '.join(_DTYPES_BY_NAME)})")
    spec = TensorSpec(name, shape, dtype)
    prof = d.get("profile")
    if prof is None:
        if is_input and any(x < 0 for x in shape):
            raise _bad(where, _join(field, "profile"), f"missing: the input has dynamic dimensions {list(shape)}, "
                                                       "so its optimization profile must be recorded")
        return spec
    pf = _join(field, "profile")
    prof = _object(prof, where, pf, ("min", "opt", "max"))
    lo, opt, hi = (_shape_field(prof[k], where, f"{pf}.{k}", 0, len(shape)) for k in ("min", "opt", "max"))
    for i, (s, a, o, b) in enumerate(zip(shape, lo, opt, hi)):
        if not a <= o <= b:
            raise _bad(where, pf, f"dimension {i}: min {a}, opt {o}, max {b} is not min <= opt <= max")
        if s >= 0 and not a == o == b == s:
            raise _bad(where, pf, f"dimension {i} is static ({s}) but the profile gives min {a}, opt {o}, max {b}")
    spec.min, spec.opt, spec.max = lo, opt, hi
    return spec


def _json_depth_ok(obj, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when ``obj`` nests at most ``limit`` arrays/objects deep (iterative: no recursion)."""
    stack = [(obj, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, (list, tuple, dict)):
            if depth > limit:
                return False
            stack.extend((x, depth + 1) for x in (v.values() if isinstance(v, dict) else v))
    return True


def validate_metadata(d, where: str = "engine metadata") -> EngineMetadata:
    """Check a metadata dict against the sidecar schema (module docstring) and build the metadata.
    Raises :class:`SidecarSchemaError` naming the field, :class:`EngineVersionError` for a newer
    ``format_version``."""
    if not isinstance(d, dict):
        raise _bad(where, "document", f"expected a JSON object, got {_kind(d)}")
    if d.get("format") != FORMAT:
        raise _bad(where, "format", f"not a trtgraph engine sidecar (format {_short(d.get('format'))}, "
                                    f"expected {FORMAT!r})")
    version = d.get("format_version")
    if not _is_int(version) or version < 1:
        raise _bad(where, "format_version", f"{_short(version)} is not an integer >= 1")
    if version > FORMAT_VERSION:
        raise EngineVersionError(f"{where}: format_version {version} was written by a newer trtgraph; "
                                 f"this trtgraph reads format_version <= {FORMAT_VERSION}")
    _object(d, where, "", _TOP_REQUIRED, _TOP_OPTIONAL)
    lists = {}
    for key, is_input in (("inputs", True), ("outputs", False)):
        entries = d[key]
        if not isinstance(entries, list):
            raise _bad(where, key, f"expected an array, got {_kind(entries)} {_short(entries)}")
        if len(entries) > MAX_TENSORS:
            raise _bad(where, key, f"{len(entries)} entries (at most {MAX_TENSORS})")
        lists[key] = [validate_tensor(s, where, f"{key}[{i}]", is_input) for i, s in enumerate(entries)]
    if not lists["outputs"]:
        raise _bad(where, "outputs", "is empty: an engine has at least one output")
    seen = {}
    for key in ("inputs", "outputs"):
        for i, s in enumerate(lists[key]):
            here = f"{key}[{i}]"
            if s.name in seen:
                raise _bad(where, f"{here}.name", f"{s.name!r} is also the name of {seen[s.name]}")
            seen[s.name] = here
    from .dtypes import PRECISIONS

    precision = d["precision"]
    if precision not in (*PRECISIONS, "unknown"):
        raise _bad(where, "precision", f"{_short(precision)} is not one of {', '.join((*PRECISIONS, 'unknown'))}")
    trt_version = _text(d["trtgraph_version"], where, "trtgraph_version", 128)
    trt_info = _object(d["tensorrt"], where, "tensorrt", ("family", "version"), ("flavour",))
    if trt_info["family"] not in _FAMILIES:
        raise _bad(where, "tensorrt.family", f"{_short(trt_info['family'])} is not one of {', '.join(_FAMILIES)}")
    for k in ("version", "flavour"):
        if k in trt_info:
            _text(trt_info[k], where, f"tensorrt.{k}", 128)
    size = d["engine_size"]
    if not _is_int(size) or not 0 < size <= _INT64_MAX:
        raise _bad(where, "engine_size", f"{_short(size)} is not a byte count (an integer > 0)")
    sha = d["engine_sha256"]
    if not (isinstance(sha, str) and _HEX64.fullmatch(sha)):
        raise _bad(where, "engine_sha256", f"{_short(sha)} is not a SHA-256 hex digest (64 lowercase hex digits)")
    mhash = d.get("model_hash")
    if mhash is not None and not (isinstance(mhash, str) and _HEX64.fullmatch(mhash)):
        raise _bad(where, "model_hash", f"{_short(mhash)} is neither null nor a SHA-256 hex digest")
    created = d.get("created")
    if created is not None:
        try:
            datetime.datetime.fromisoformat(_text(created, where, "created", 64))
        except ValueError:
            raise _bad(where, "created", f"{_short(created)} is not an ISO 8601 date and time") from None
    extra = d.get("extra")
    extra = {} if extra is None else extra
    if not isinstance(extra, dict):
        raise _bad(where, "extra", f"expected an object, got {_kind(extra)} {_short(extra)}")
    for k in extra:
        _text(k, where, f"extra key {_short(k)}")
    if not _json_depth_ok(extra, MAX_JSON_DEPTH - 1):
        raise _bad(where, "extra", f"nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        json.dumps(extra, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise _bad(where, "extra", f"is not JSON data ({exc})") from None
    structure = d.get("structure")
    if structure is not None:
        from .pytree import Structure

        try:
            Structure.from_json_dict(structure, len(lists["inputs"]), len(lists["outputs"]))
        except ValueError as exc:
            sub, why = exc.args if len(exc.args) == 2 else ("", str(exc))
            raise _bad(where, _join("structure", sub) if sub else "structure", why) from None
        structure = dict(structure)
    return EngineMetadata(
        inputs=lists["inputs"], outputs=lists["outputs"], precision=precision, engine_sha256=sha, engine_size=size,
        tensorrt=dict(trt_info), trtgraph_version=trt_version, model_hash=mhash, created=created,
        extra=dict(extra), format=FORMAT, format_version=version, structure=structure)


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def _no_duplicate_keys(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise ValueError(f"duplicate key {k!r}")
        d[k] = v
    return d


def parse_sidecar_json(text, where: str = "engine metadata"):
    """Parse sidecar text or bytes: at most MAX_SIDECAR_BYTES, UTF-8, nested at most MAX_JSON_DEPTH
    deep (checked before parsing: json.loads recurses once per level), standard JSON only (no NaN,
    no duplicate keys)."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        raw = bytes(text)
        if len(raw) > MAX_SIDECAR_BYTES:
            raise SidecarSchemaError(f"{where}: {len(raw)} bytes, more than a sidecar's limit of "
                                     f"{MAX_SIDECAR_BYTES}")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SidecarSchemaError(f"{where}: not UTF-8 text ({exc})") from None
    if not isinstance(text, str):
        raise SidecarSchemaError(f"{where}: metadata text must be str or bytes, got {type(text).__name__}")
    if len(text) > MAX_SIDECAR_BYTES:
        raise SidecarSchemaError(f"{where}: {len(text)} characters, more than a sidecar's limit of "
                                 f"{MAX_SIDECAR_BYTES}")
    depth = deepest = 0
    for m in _BRACKET.finditer(_JSON_STRING.sub('""', text)):
        depth += 1 if m.group(0) in "[{" else -1
        if depth > deepest:
            deepest = depth
            if deepest > MAX_JSON_DEPTH:
                raise SidecarSchemaError(f"{where}: JSON nested more than {MAX_JSON_DEPTH} levels deep (a sidecar "
                                         "nests 5): not a trtgraph sidecar")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant)
    except RecursionError:  # unreachable after the depth check; kept as a guard
        raise SidecarSchemaError(f"{where}: JSON nested too deeply") from None
    except ValueError as exc:
        raise SidecarSchemaError(f"{where}: not valid JSON ({exc})") from None


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


_FILE_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISDIR, "a directory"),
               (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _require_regular(st: os.stat_result, path, what: str):
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _FILE_KINDS if test(st.st_mode)), "not a regular file")
        raise NotARegularFileError(f"{path}: the {what} is {kind}, not a regular file; refused without reading it")


def regular_file_stat(path, what: str = "engine file") -> Optional[os.stat_result]:
    """``os.stat`` of ``path`` (None when it does not exist); a FIFO, device, directory or socket is
    refused with :class:`NotARegularFileError` before anything opens it."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError) as exc:
        raise EngineFormatError(f"{path}: cannot read the {what} ({exc})") from None
    _require_regular(st, path, what)
    return st


def _read_regular(path, what: str, limit: Optional[int] = None) -> np.ndarray:
    """The bytes of regular file ``path``: stat first (non-regular files are never opened), then a
    non-blocking open and an fstat of the descriptor (the path may have been swapped in between)."""
    if regular_file_stat(path, what) is None:
        raise EngineFormatError(f"{path}: no such {what}")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise EngineFormatError(f"{path}: cannot read the {what} ({exc})") from None
    with os.fdopen(fd, "rb", buffering=0) as f:
        st = os.fstat(fd)
        _require_regular(st, path, what)
        if limit is not None and st.st_size > limit:
            raise SidecarSchemaError(f"{path}: the {what} is {st.st_size} bytes, more than the limit of {limit}")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        arr = np.empty(st.st_size, dtype=np.uint8)
        view, got = memoryview(arr), 0
        try:
            while got < st.st_size:
                n = f.readinto(view[got:])
                if not n:
                    break
                got += n
            grew = f.read(1)
        except OSError as exc:
            raise EngineFormatError(f"{path}: cannot read the {what} ({exc})") from None
        if got != st.st_size or grew:
            raise EngineFormatError(f"{path}: the {what} changed while it was read ({st.st_size} bytes at open)")
    return arr


def read_engine_file(path) -> torch.Tensor:
    """The engine file's bytes as a 1-D uint8 tensor (regular files only)."""
    return torch.from_numpy(_read_regular(Path(path), "engine file"))


def sidecar_path(path) -> Path:
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def read_metadata(path) -> EngineMetadata:
    """The sidecar of engine file ``path`` (``path`` + ".json"), validated (:func:`validate_metadata`)."""
    side = sidecar_path(path)
    if regular_file_stat(side, "sidecar") is None:
        raise EngineFormatError(
            f"{path}: no sidecar {side.name} beside it, so this is not a trtgraph engine file (or the sidecar "
            "was lost). A raw TensorRT plan can be wrapped without metadata: trtgraph.TRTModule(path)")
    text = _read_regular(side, "sidecar", limit=MAX_SIDECAR_BYTES)
    return EngineMetadata.from_json(memoryview(text), where=str(side))


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
    check_plan_size(buf, where)
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


# TensorRT-RTX plan layout, as read from engines that RTX 1.7.1 serialized here (not documented by NVIDIA):
# bytes 0-3 the magic b"vtrt", 8-15 a little-endian u64 (2: the number of sections, ENGN and WGHT, listed
# from byte 64), 16-23 a little-endian u64 equal to the plan's total length in bytes; the file ends with
# the 4 bytes ~b"ftrt". get_engine_validity reads the header but does not compare that length with the
# buffer's (a plan cut to 64 bytes still passes it), so trtgraph does.
_RTX_PLAN_MAGIC = b"vtrt"
_RTX_PLAN_HEADER = struct.Struct("<4sIQQ")  # magic, reserved, sections, total length


def plan_recorded_size(engine) -> Optional[int]:
    """The total length a TensorRT-RTX plan records in its header, or None when ``engine`` does not
    start with the RTX plan magic (standard TensorRT plans, foreign files: not checked)."""
    buf = _buffer(engine)
    if buf.nbytes < _RTX_PLAN_HEADER.size or bytes(buf[:4]) != _RTX_PLAN_MAGIC:
        return None
    return int(_RTX_PLAN_HEADER.unpack_from(buf, 0)[3])


def check_plan_size(engine, where: str = "engine") -> Optional[str]:
    """Compare the length recorded in a TensorRT-RTX plan's header with the actual length, so a
    truncated (or extended) engine is caught without a sidecar. Returns a short "ok" note, or None
    when the layout is not recognized; raises :class:`EngineFormatError` on a difference."""
    recorded = plan_recorded_size(engine)
    if recorded is None:
        return None
    actual = _buffer(engine).nbytes
    if recorded != actual:
        kind = "truncated" if actual < recorded else "longer than its plan header records"
        raise EngineFormatError(f"{where}: {kind}: {actual} bytes, the TensorRT plan header records {recorded}")
    return f"ok ({actual} bytes, as the plan header records)"


def check_engine_matches(cuda_engine, meta: EngineMetadata, where: str = "engine"):
    """Refuse a deserialized engine whose own I/O tensors differ from ``meta``: names, input/output mode,
    dtypes, shapes (inputs exactly; outputs by rank and by the dimensions both call static) and, when
    the engine object offers ``get_tensor_profile_shape``, the inputs' profile 0. ``cuda_engine`` is an
    ``ICudaEngine`` (or anything with its read-only accessors). Raises :class:`EngineMismatchError`."""
    from . import backend
    from .dtypes import to_torch

    t = backend.trt()
    modes = {t.TensorIOMode.INPUT: "input", t.TensorIOMode.OUTPUT: "output"}
    listed = {s.name: ("input", s) for s in meta.inputs}
    listed.update({s.name: ("output", s) for s in meta.outputs})
    problems, seen = [], set()
    for i in range(int(cuda_engine.num_io_tensors)):
        name = cuda_engine.get_tensor_name(i)
        seen.add(name)
        mode = cuda_engine.get_tensor_mode(name)
        kind = modes.get(mode, f"tensor (mode {mode})")
        if name not in listed:
            problems.append(f"the engine has an {kind} {name!r} that the metadata does not list")
            continue
        want, spec = listed[name]
        if kind != want:
            problems.append(f"{name!r} is an {kind} of the engine; the metadata lists it as an {want}")
            continue
        try:
            dtype = dtype_name(to_torch(cuda_engine.get_tensor_dtype(name)))
        except TrtGraphError:
            dtype = str(cuda_engine.get_tensor_dtype(name))
        if dtype != spec.dtype:
            problems.append(f"{kind} {name!r} is {dtype} in the engine, {spec.dtype} in the metadata")
        shape, recorded = _dims(cuda_engine.get_tensor_shape(name)), tuple(spec.shape)
        if kind == "input":
            same = shape == recorded
        else:
            same = len(shape) == len(recorded) and all(a == b or a < 0 or b < 0 for a, b in zip(shape, recorded))
        if not same:
            problems.append(f"{kind} {name!r} has shape {shape} in the engine, {recorded} in the metadata")
        elif kind == "input" and spec.has_profile and hasattr(cuda_engine, "get_tensor_profile_shape"):
            got = tuple(_dims(s) for s in cuda_engine.get_tensor_profile_shape(name, 0))
            if got != (tuple(spec.min), tuple(spec.opt), tuple(spec.max)):
                problems.append(f"input {name!r} has profile min/opt/max {got} in the engine, "
                                f"{(tuple(spec.min), tuple(spec.opt), tuple(spec.max))} in the metadata")
    for name, (want, _) in listed.items():
        if name not in seen:
            problems.append(f"the metadata lists an {want} {name!r} that the engine does not have")
    if problems:
        raise EngineMismatchError(f"{where}: the engine does not match its metadata (the sidecar was edited, or "
                                  "belongs to another engine):\n  - " + "\n  - ".join(problems))


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
        extra=dict(extra or {}), structure=_structure_json(getattr(conv, "structure", None), len(outputs)))


def _structure_json(structure, num_outputs: int) -> Optional[dict]:
    """The sidecar's ``structure`` for a model with nested inputs, or outputs other than one tensor
    or a flat tuple/list of tensors (those keep today's sidecar: TRTModule returns a tensor/tuple)."""
    if structure is None or structure.out_spec is None or structure.is_simple():
        return None
    if structure.out_spec.num_leaves != num_outputs:
        return None
    try:
        return structure.to_json_dict()
    except Exception as exc:  # noqa: BLE001 - e.g. dict keys that are not JSON
        raise SidecarSchemaError(f"the model's output structure cannot be written as JSON ({type(exc).__name__}: "
                                 f"{exc}); return dicts with string keys", field="structure") from None


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
    meta = EngineMetadata(inputs=inputs, outputs=outputs, precision="unknown", engine_sha256=sha256_hex(buf),
                          engine_size=buf.nbytes, tensorrt=tensorrt_identity(), trtgraph_version=trtgraph_version(),
                          extra={"source": "read from the engine (no sidecar)"})
    return meta.validated("metadata read from the engine")


# --------------------------------------------------------------------------- files

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where Linux shows it (/proc/self/status)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:  # os.umask can only be read by setting it: restore it at once
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def _new_file_mode(path: Path) -> int:
    """The mode a plain ``open(path, "wb")`` would leave: an existing regular file keeps its permission
    bits, a new file gets 0o666 minus the umask."""
    try:
        st = os.stat(path)
        if stat.S_ISREG(st.st_mode):
            return stat.S_IMODE(st.st_mode)
    except OSError:
        pass
    return 0o666 & ~current_umask()


def atomic_write_bytes(path, data) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``,
    with the permissions a plain write would give (the umask; an existing file's mode is kept)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _new_file_mode(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, mode)
        else:
            os.chmod(tmp, mode)
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
    """Write the engine file, then its sidecar, each atomically (the metadata is validated first)."""
    path = Path(path)
    text = meta.validated(str(sidecar_path(path))).to_json()
    atomic_write_bytes(path, engine)
    atomic_write_bytes(sidecar_path(path), text)
    return path


def save_engine(obj, path, *, model_hash: Optional[str] = None, extra: Optional[dict] = None) -> Path:
    """Save a :class:`~trtgraph.Conversion` (built now if it was not) or a :class:`~trtgraph.TRTModule`
    as ``path`` (the TensorRT plan) + ``path.json`` (the sidecar). Returns ``path``."""
    if getattr(type(obj), "is_trt_module", False):
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
    if regular_file_stat(path, "engine file") is None:
        raise EngineFormatError(f"{path}: no such engine file")
    meta = read_metadata(path)
    engine = read_engine_file(path)
    verify_engine(engine, meta, where=str(path))
    return engine, meta


def describe(path, inspect: bool = True, inspector=None) -> dict:
    """Everything ``trtgraph info`` reports, as a dict (no exception for a bad file: see ``checks``)."""
    path = Path(path)
    report: dict[str, Any] = {"engine": str(path), "size": None, "sidecar": None, "metadata": None,
                              "checks": {}, "inspector": None, "notes": []}
    if regular_file_stat(path, "engine file") is None:
        raise EngineFormatError(f"{path}: no such engine file")
    engine = read_engine_file(path)
    report["size"] = int(engine.numel())
    checks = report["checks"]
    meta = None
    side = sidecar_path(path)
    if os.path.lexists(side):
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
        size_note = check_plan_size(engine, str(path))
        checks["plan size"] = size_note or "not checked (the plan's layout is not one trtgraph knows)"
    except TrtGraphError as exc:
        checks["plan size"] = f"FAILED: {type(exc).__name__}: {exc}"
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
    if inspector is None:
        report["notes"].append("engine inspector: not requested (trtgraph.runtime.describe inspects)")
        return report
    try:
        report["inspector"] = inspector(engine, meta)
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
            rows.append((f"extra.{k}", v if isinstance(v, str) and v.isprintable() else json.dumps(v)))
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


