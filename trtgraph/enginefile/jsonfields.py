"""Checks of JSON documents read from disk: size and nesting limits, strict parsing (no NaN, no
duplicate keys), and field checks (strings, shapes, objects) that raise a
:class:`~trtgraph.errors.SidecarSchemaError` naming the field. Used by the engine sidecar schema
(:mod:`trtgraph.enginefile.metadata`) and by the hybrid program files."""
from __future__ import annotations

import json
import re
from typing import Optional

from ..errors import SidecarSchemaError


MAX_SIDECAR_BYTES = 1 << 20   # a real sidecar is about 1 KB; `extra` may hold a little more
MAX_JSON_DEPTH = 32           # the schema itself nests 5 deep (document, inputs, tensor, profile, min)
MAX_NAME_CHARS = 1024
MAX_TENSORS = 4096
MAX_RANK = 8                  # TensorRT's Dims::MAX_DIMS
_INT64_MAX = 2 ** 63 - 1
_HEX64 = re.compile(r"[0-9a-f]{64}")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_BRACKET = re.compile(r"[\[\]{}]")


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
