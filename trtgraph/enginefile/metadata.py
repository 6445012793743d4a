"""The engine sidecar's content: :class:`TensorSpec`, :class:`EngineMetadata`, the dtype names, and
the sidecar schema (:func:`validate_tensor`, :func:`validate_metadata`; the schema is described in
:mod:`trtgraph.serialization`)."""
from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass, field
from typing import Optional

import torch

from ..errors import EngineFormatError, EngineVersionError, SidecarSchemaError
from .jsonfields import (_HEX64, _INT64_MAX, MAX_JSON_DEPTH, MAX_TENSORS, _bad, _is_int, _join, _json_depth_ok, _kind,
                         _object, _shape_field, _short, _text, parse_sidecar_json)


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
        from ..pytree import Structure

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


_TOP_REQUIRED = ("format", "format_version", "inputs", "outputs", "precision", "trtgraph_version", "tensorrt",
                 "engine_size", "engine_sha256")
_TOP_OPTIONAL = ("model_hash", "created", "extra", "structure")
_FAMILIES = ("tensorrt", "tensorrt_rtx")


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
    from ..dtypes import PRECISIONS

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
        from ..pytree import Structure

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
