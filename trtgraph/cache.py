"""``trtgraph.compile``: convert + build + wrap as a :class:`~trtgraph.TRTModule`, with an engine cache.

    module = trtgraph.compile(model, [x], precision="fp16")   # builds, or reuses a cached engine
    y = module(x.cuda())

The cache key is a SHA-256 over

* the model hash (traced graph and weights, :func:`trtgraph.serialization.model_hash`),
* the input shapes and dtypes, the precision and the other conversion arguments
  (``input_names``, ``output_names``, ``param_exclude``, ...; not ``verbose``/``progress``) and
  the build's ``workspace``,
* the trtgraph version and a digest of trtgraph's own source files (so editing a handler
  invalidates the engines it built),
* the TensorRT family, flavour and version.

Finding the key traces the model (``torch.jit.trace``), which is much cheaper than converting and
building; on a miss the model is traced again by ``convert``.

Entries are ``<cache_dir>/<key>.engine`` plus the sidecar ``<key>.engine.json`` (the format of
:mod:`trtgraph.serialization`), each written atomically (temporary file, then ``os.replace``),
the sidecar last. An entry that fails its checks (truncated, corrupted, other TensorRT) is
rebuilt and replaced, with a warning. Nothing is ever evicted; :func:`clear_cache` empties it.

Cache folder: ``cache_dir`` argument, else ``$TRTGRAPH_CACHE_DIR``, else
``$XDG_CACHE_HOME/trtgraph``, else ``~/.cache/trtgraph``. Turn the cache off with
``use_cache=False`` or ``TRTGRAPH_NO_CACHE=1``.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Optional

import torch

from . import serialization as ser
from .errors import EngineLoadError, InputError

KEY_VERSION = 1
_NOT_IN_KEY = {"verbose", "progress"}


def default_cache_dir() -> Path:
    env = os.environ.get("TRTGRAPH_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "trtgraph"


def cache_disabled_by_env() -> bool:
    return os.environ.get("TRTGRAPH_NO_CACHE", "").strip().lower() not in ("", "0", "false", "no", "off")


@functools.lru_cache(maxsize=1)
def source_digest() -> str:
    """SHA-256 of trtgraph's Python sources (relative path + bytes of every ``*.py``)."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        h.update(str(p.relative_to(root)).encode() + b"\0")
        h.update(p.read_bytes())
    return h.hexdigest()


def _examples(inputs) -> list:
    if isinstance(inputs, torch.Tensor):
        inputs = [inputs]
    if not isinstance(inputs, (list, tuple)):
        raise InputError(f"inputs must be a tensor or a list/tuple of tensors, got {type(inputs).__name__}")
    out = []
    for i, x in enumerate(inputs):
        if not isinstance(x, torch.Tensor):
            raise InputError(f"input {i} is a {type(x).__name__}; trtgraph.compile takes torch tensors")
        out.append(x.detach().cpu())
    return out


def cache_key(model, inputs, precision: str = "fp32", workspace: Optional[int] = None, **convert_kwargs):
    """``(key, model_hash)`` for these arguments (traces the model once)."""
    from . import frontend

    examples = _examples(inputs)
    _, graph = frontend.trace_module(model, examples)
    mhash = ser.model_hash(model, graph)
    doc = {
        "key_version": KEY_VERSION,
        "model_hash": mhash,
        "inputs": [[list(x.shape), ser.dtype_name(x.dtype)] for x in examples],
        "precision": precision,
        "convert": {k: v for k, v in sorted(convert_kwargs.items()) if k not in _NOT_IN_KEY},
        "workspace": workspace,
        "trtgraph_version": ser.trtgraph_version(),
        "trtgraph_source": source_digest(),
        "tensorrt": ser.tensorrt_identity(),
    }
    text = json.dumps(doc, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest(), mhash


def compile(model, inputs, precision: str = "fp32", cache_dir=None, use_cache: bool = True, device=None,  # noqa: A001
            workspace: Optional[int] = None, **convert_kwargs):
    """Convert ``model`` (traced on ``inputs``), build the engine and return a :class:`~trtgraph.TRTModule`,
    reusing the engine cached under the same key. ``convert_kwargs`` go to :func:`trtgraph.convert`.
    The module's ``cache_hit`` is True when the engine came from the cache, ``cache_path`` its file."""
    from .api import convert
    from .runtime import TRTModule

    use_cache = use_cache and not cache_disabled_by_env()
    key, mhash = cache_key(model, inputs, precision, workspace, **convert_kwargs)
    path = None
    if use_cache:
        folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        path = folder / f"{key}.engine"
        if path.exists() and ser.sidecar_path(path).exists():
            try:
                engine, meta = ser.load_files(path)
                if meta.extra.get("cache_key") != key:
                    raise EngineLoadError(f"{path}: its sidecar records cache key {meta.extra.get('cache_key')!r}")
            except EngineLoadError as exc:
                warnings.warn(f"trtgraph cache: rebuilding a bad entry: {exc}", RuntimeWarning, stacklevel=2)
            else:
                module = TRTModule(engine, meta, device=device, verify=False)
                module.source_path, module.cache_hit, module.cache_path = str(path), True, str(path)
                return module
    conv = convert(model, _examples(inputs), precision=precision, **convert_kwargs)
    engine = conv.build(workspace)
    meta = ser.metadata_from_conversion(conv, engine, model_hash_hex=mhash, extra={"cache_key": key})
    if path is not None:
        ser.write_engine(path, engine, meta)
    module = TRTModule(engine, meta, device=device, verify=False)
    module.cache_hit = False if use_cache else None
    module.cache_path = str(path) if path is not None else None
    if path is not None:
        module.source_path = str(path)
    return module


def clear_cache(cache_dir=None) -> int:
    """Delete every cached engine (and sidecar) in ``cache_dir``; returns the number of engines removed."""
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    removed = 0
    if not folder.is_dir():
        return 0
    for p in folder.glob("*.engine"):
        ser.sidecar_path(p).unlink(missing_ok=True)
        p.unlink(missing_ok=True)
        removed += 1
    for p in folder.glob(".*.tmp"):
        p.unlink(missing_ok=True)
    return removed
