"""An engine file and its sidecar on disk: read, write (atomically, metadata validated first),
save a Conversion or TRTModule, load with every check that runs without a GPU."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from ..errors import EngineFormatError, TrtGraphError
from .checks import verify_engine
from .jsonfields import MAX_SIDECAR_BYTES
from .metadata import SIDECAR_SUFFIX, EngineMetadata
from .rawfiles import _read_regular, atomic_write_bytes, regular_file_stat
from .record import metadata_from_conversion


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
