"""``trtgraph info``'s report on an engine file: the sidecar, every check, and optionally TensorRT's
engine inspector output (:func:`describe`, :func:`format_report`)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import BackendUnavailableError, EngineFormatError, GpuUnavailableError, TrtGraphError
from .checks import check_compatibility, check_engine_bytes, check_plan_size, engine_validity
from .files import read_engine_file, read_metadata, sidecar_path
from .hashing import tensorrt_identity
from .metadata import TensorSpec
from .rawfiles import regular_file_stat


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
