"""``trtgraph.compile``: convert + build + wrap as a :class:`~trtgraph.TRTModule`, with an engine cache.

    module = trtgraph.compile(model, [x], precision="fp16")   # builds, or reuses a cached engine
    y = module(x.cuda())

The cache key is a SHA-256 over a canonical JSON document (sorted keys; sets sorted; dataclasses
such as :class:`~trtgraph.PrecisionPolicy` as sorted dicts; tensors by the hash of their bytes), so
the same conversion gives the same key in every process. The document holds

* the model hash (traced graph and weights, :func:`trtgraph.serialization.model_hash`),
* the input shapes and dtypes, the precision and the other conversion arguments
  (``input_names``, ``output_names``, ``param_exclude``, ...; not ``verbose``/``progress``) and
  the build's ``workspace``,
* the trtgraph version and a digest of trtgraph's own source files (so editing a handler
  invalidates the engines it built),
* the source (or, without source, the code object) of every handler and validator registered
  outside the trtgraph package that the traced graph uses, and the source file of its module, so
  editing your own handler, or a helper beside it, invalidates too (helpers imported from other
  modules are not followed),
* the TensorRT family, flavour and version.

Finding the key traces the model (``torch.jit.trace``), which is much cheaper than converting and
building; on a miss the model is traced again by ``convert``.

Entries are ``<cache_dir>/<key>.engine`` plus the sidecar ``<key>.engine.json`` (the format of
:mod:`trtgraph.serialization`, recording ``extra.cache_key``), each written atomically (temporary
file, then ``os.replace``), the sidecar last. Only files of that form whose sidecar records their
own key are entries: :func:`clear_cache`, eviction and ``trtgraph cache list|clear`` leave every
other file of the folder alone. An entry that fails its checks (truncated, corrupted, other
TensorRT) is rebuilt and replaced, with a warning.

Hybrid execution (``compile(model, inputs, fallback=True, ...)``): the entry is a hybrid folder
``<cache_dir>/<key>.hybrid`` (:mod:`trtgraph.hybrid.files`; its ``hybrid.json`` records
``extra.cache_key``), and the key covers the fallback options (``torch_executed_ops``,
``torch_executed_modules``, ``min_block_size``, ...). ``compile`` then returns a
:class:`~trtgraph.HybridModule`. Listing, eviction and clearing treat such a folder as one entry and
delete only the files trtgraph writes in it.

A folder that cannot be written is detected before the build: a ``RuntimeWarning``, and the engine
is built without caching (entries already there are still used).

Size limit: after each new entry, the least recently used entries are evicted until the folder's
entries fit in ``cache_max_bytes`` (argument), else ``$TRTGRAPH_CACHE_MAX_BYTES`` (bytes, or with a
K/M/G/T suffix, binary), else 10 GiB. A hit counts as a use (the engine file's access time is
set). The entry just written is never evicted, even when alone it exceeds the limit.

Cache folder: ``cache_dir`` argument, else ``$TRTGRAPH_CACHE_DIR``, else
``$XDG_CACHE_HOME/trtgraph``, else ``~/.cache/trtgraph``. Turn the cache off with
``use_cache=False`` or ``TRTGRAPH_NO_CACHE=1``.

The code: the key in :mod:`trtgraph.cache_key`, the folder and its entries in
:mod:`trtgraph.cache_store`, ``compile`` here (this module re-exports the other two).
"""
from __future__ import annotations

import warnings
from typing import Optional

from . import serialization as ser
from .errors import EngineLoadError, InputError, user_stacklevel
from .hybrid import files as _hybrid_files  # noqa: F401,E402 - hybrid folders for trtgraph.load and `trtgraph info`
from .cache_key import (KEY_VERSION, cache_key, canonical, key_document, source_digest,  # noqa: F401
                        user_handler_digests, _ADDRESS, _NOT_IN_KEY, _cache_key, _code_digest, _examples,
                        _is_user_code, _key_document)
from .cache_store import (CacheEntry, DEFAULT_MAX_BYTES, cache_disabled_by_env, cache_entries,  # noqa: F401
                          clear_cache, default_cache_dir, evict, max_cache_bytes, writable_reason,
                          _ENTRY_RE, _HYBRID_RE, _HYBRID_TMP_RE, _TMP_RE, _UNITS, _folder, _read_entry,
                          _read_hybrid_entry, _remove, _touch)


# --------------------------------------------------------------------------- compile


def _writable_or_none(folder, path):
    """``path`` when the cache folder can be written, else None (after a warning: the engine is
    built without caching)."""
    why = writable_reason(folder)
    if why is None:
        return path
    warnings.warn(f"trtgraph cache: cannot write to the cache folder {folder} ({why}); building "
                  "without caching. To fix: make it writable, or pass cache_dir= / set "
                  "TRTGRAPH_CACHE_DIR to a writable folder", RuntimeWarning, stacklevel=user_stacklevel())
    return None

def compile(model, inputs, precision: str = "fp32", cache_dir=None, use_cache: bool = True, device=None,  # noqa: A001
            workspace: Optional[int] = None, cache_max_bytes=None, **convert_kwargs):
    """Convert ``model`` (traced on ``inputs``), build the engine and return a :class:`~trtgraph.TRTModule`,
    reusing the engine cached under the same key. ``convert_kwargs`` go to :func:`trtgraph.convert`.
    The module's ``cache_hit`` is True when the engine came from the cache, False when it was built and
    cached, None when it was built without the cache; ``cache_path`` is the entry's file.
    ``cache_max_bytes``: the cache's size limit (see the module docstring)."""
    from .api import convert
    from .runtime import TRTModule

    use_cache = use_cache and not cache_disabled_by_env()
    limit = max_cache_bytes(cache_max_bytes) if use_cache else None
    key, mhash, graph = _cache_key(model, inputs, precision, workspace, convert_kwargs)
    if convert_kwargs.get("fallback") or any(k in convert_kwargs for k in _HYBRID_OPTIONS):
        return _compile_hybrid(model, inputs, precision, cache_dir if use_cache else None, use_cache, device,
                               workspace, limit, key, graph, convert_kwargs)
    path = None
    if use_cache:
        folder = _folder(cache_dir)
        path = folder / f"{key}.engine"
        if path.exists() and ser.sidecar_path(path).exists():
            try:
                engine, meta = ser.load_files(path)
                if meta.extra.get("cache_key") != key:
                    raise EngineLoadError(f"{path}: its sidecar records cache key {meta.extra.get('cache_key')!r}")
            except EngineLoadError as exc:
                warnings.warn(f"trtgraph cache: rebuilding a bad entry: {exc}", RuntimeWarning, stacklevel=user_stacklevel())
            else:
                _touch(path)
                module = TRTModule(engine, meta, device=device, verify=False)
                module.source_path, module.cache_hit, module.cache_path = str(path), True, str(path)
                return module
        path = _writable_or_none(folder, path)
    conv = convert(model, _examples(inputs)[2], precision=precision, **convert_kwargs)
    engine = conv.build(workspace)
    meta = ser.metadata_from_conversion(conv, engine, model_hash_hex=mhash, extra={"cache_key": key})
    if path is not None:
        try:
            ser.write_engine(path, engine, meta)
        except OSError as exc:
            warnings.warn(f"trtgraph cache: could not write {path} ({exc}); the engine is not cached",
                          RuntimeWarning, stacklevel=user_stacklevel())
            path = None
        else:
            evict(path.parent, limit, keep={key})
    module = TRTModule(engine, meta, device=device, verify=False)
    module.cache_hit = False if path is not None else None
    module.cache_path = str(path) if path is not None else None
    if path is not None:
        module.source_path = str(path)
    return module


_HYBRID_OPTIONS = ("torch_executed_ops", "torch_executed_modules", "min_block_size", "dynamic_max", "python_functions")


def _compile_hybrid(model, inputs, precision, cache_dir, use_cache, device, workspace, limit, key, graph,
                    convert_kwargs):
    """``compile(..., fallback=True)``: a :class:`~trtgraph.HybridModule`, its hybrid folder cached as
    ``<cache_dir>/<key>.hybrid`` (the key covers the fallback options). A hit loads the folder (its
    module has no ``evaluate``: the segments' networks are not stored); a miss converts, builds, writes
    the folder and returns ``HybridConversion.module()``."""
    from .api import convert
    from .hybrid import python_functions_of
    from .hybrid.files import load_hybrid, save_hybrid

    funcs = python_functions_of(graph)
    funcs.update(convert_kwargs.get("python_functions") or {})
    path = None
    if use_cache:
        folder = _folder(cache_dir)
        path = folder / f"{key}.hybrid"
        if _read_hybrid_entry(path) is not None:
            try:
                module = load_hybrid(path, device=device, python_functions=funcs)
            except EngineLoadError as exc:
                warnings.warn(f"trtgraph cache: rebuilding a bad entry: {exc}", RuntimeWarning,
                              stacklevel=user_stacklevel())
            else:
                _touch(path / "hybrid.json")
                module.cache_hit, module.cache_path = True, str(path)
                return module
        path = _writable_or_none(folder, path)
    hc = convert(model, _examples(inputs)[2], precision=precision, **convert_kwargs)
    hc.build(workspace)
    if path is not None:
        try:
            save_hybrid(hc, path, extra={"cache_key": key})
        except (OSError, InputError) as exc:
            warnings.warn(f"trtgraph cache: could not write {path} ({exc}); the engines are not cached",
                          RuntimeWarning, stacklevel=user_stacklevel())
            path = None
        else:
            evict(path.parent, limit, keep={key})
    module = hc.module()
    module.cache_hit = False if path is not None else None
    module.cache_path = str(path) if path is not None else None
    if path is not None:
        module.source_path = str(path)
    return module
