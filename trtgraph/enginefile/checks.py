"""Checks of an engine against its metadata and its TensorRT: size and SHA-256, TensorRT family and
version, the plan header (RTX's ``get_engine_validity``, the recorded plan length), and a
deserialized engine's I/O tensors against the sidecar."""
from __future__ import annotations

import struct
from typing import Optional

from ..errors import EngineFormatError, EngineIntegrityError, EngineMismatchError, EngineVersionError, TrtGraphError
from .hashing import sha256_hex, tensorrt_identity
from .metadata import EngineMetadata, dtype_name
from .rawfiles import _buffer
from .record import _dims


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
    from .. import backend

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
    from .. import backend
    from ..dtypes import to_torch

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
