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
"""
from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import inspect
import json
import marshal
import math
import os
import pickle
import re
import tempfile
import time
import warnings
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np
import torch

from . import serialization as ser
from .export_frontend import key_graph
from .errors import EngineLoadError, InputError, user_stacklevel
from .hybrid import files as _hybrid_files  # noqa: F401,E402 - hybrid folders for trtgraph.load and `trtgraph info`

KEY_VERSION = 2
_NOT_IN_KEY = {"verbose", "progress"}
DEFAULT_MAX_BYTES = 10 * 1024 ** 3
_ENTRY_RE = re.compile(r"^[0-9a-f]{64}\.engine$")
_HYBRID_RE = re.compile(r"^[0-9a-f]{64}\.hybrid$")
_HYBRID_TMP_RE = re.compile(r"^\.[0-9a-f]{64}\.hybrid\..*\.tmp$")
_TMP_RE = re.compile(r"^\.([0-9a-f]{64}\.engine(\.json)?\.|trtgraph-probe-).*\.tmp$")
_UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def default_cache_dir() -> Path:
    env = os.environ.get("TRTGRAPH_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "trtgraph"


def _folder(cache_dir) -> Path:
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def cache_disabled_by_env() -> bool:
    return os.environ.get("TRTGRAPH_NO_CACHE", "").strip().lower() not in ("", "0", "false", "no", "off")


def max_cache_bytes(value=None) -> int:
    """The size limit: ``value``, else ``$TRTGRAPH_CACHE_MAX_BYTES``, else 10 GiB."""
    where = "cache_max_bytes"
    if value is None:
        value = os.environ.get("TRTGRAPH_CACHE_MAX_BYTES", "").strip() or DEFAULT_MAX_BYTES
        where = "TRTGRAPH_CACHE_MAX_BYTES"
    if isinstance(value, str):
        m = re.fullmatch(r"(\d+)\s*([KMGT]?)(?:i?B)?", value.strip(), re.IGNORECASE)
        if not m:
            raise InputError(f"{where}={value!r} is not a size: write a number of bytes, optionally with a "
                             "K/M/G/T suffix, e.g. 20G")
        value = int(m.group(1)) * _UNITS[m.group(2).upper()]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"{where}={value!r}: the cache size limit must be an integer >= 0 (bytes)")
    return value


@functools.lru_cache(maxsize=1)
def source_digest() -> str:
    """SHA-256 of trtgraph's Python sources (relative path + bytes of every ``*.py``)."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        h.update(str(p.relative_to(root)).encode() + b"\0")
        h.update(p.read_bytes())
    return h.hexdigest()


# --------------------------------------------------------------------------- canonical key document

def canonical(obj):
    """``obj`` as plain JSON data that is the same in every process: dict keys as strings (sorted
    when dumped), sets sorted, dataclasses as dicts of their init fields, tensors by the SHA-256 of
    their bytes, functions by their source; other objects by the hash of their pickle, else by their
    repr without memory addresses."""
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else {"float": repr(obj)}
    if isinstance(obj, enum.Enum):
        return {"enum": f"{type(obj).__qualname__}.{obj.name}"}
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out[k if isinstance(k, str) else "\0" + json.dumps(canonical(k), sort_keys=True)] = canonical(v)
        return out
    if isinstance(obj, (list, tuple)):
        return [canonical(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        items = [canonical(v) for v in obj]
        return {"set": sorted(items, key=lambda v: json.dumps(v, sort_keys=True))}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {f.name: canonical(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init}
        return {"dataclass": f"{type(obj).__module__}.{type(obj).__qualname__}", "fields": fields}
    if isinstance(obj, torch.Tensor):
        h = hashlib.sha256()
        ser._hash_tensor(h, "t", obj)
        return {"tensor": h.hexdigest()}
    if isinstance(obj, (torch.dtype, torch.device, torch.Size)):
        return {type(obj).__name__: str(obj)}
    if isinstance(obj, re.Pattern):
        return {"regex": obj.pattern, "flags": int(obj.flags)}
    if isinstance(obj, np.generic):
        return canonical(obj.item())
    if isinstance(obj, np.ndarray):
        return {"ndarray": canonical(torch.from_numpy(np.ascontiguousarray(obj))) if obj.dtype != object
                else canonical(obj.tolist())}
    if callable(obj):
        return {"callable": _code_digest(obj)}
    try:  # content, not a repr that may elide it: at worst a miss in another process, never a wrong hit
        return {"pickle": hashlib.sha256(pickle.dumps(obj, protocol=4)).hexdigest()}
    except Exception:  # noqa: BLE001 - not picklable: its repr, without memory addresses
        return {"repr": _ADDRESS.sub("", repr(obj))}


def _code_digest(fn) -> str:
    """SHA-256 of a function's source (or of its code object when there is no source) and of the
    whole source file of its module, which covers the helpers it calls from there."""
    target = fn
    while isinstance(target, functools.partial):
        target = target.func
    target = inspect.unwrap(target)
    h = hashlib.sha256(f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', '')}\0".encode())
    try:
        h.update(inspect.getsource(target).encode())
    except (OSError, TypeError):
        code = getattr(target, "__code__", None)
        if code is not None:
            h.update(marshal.dumps(code))
        else:
            h.update(_ADDRESS.sub("", repr(target)).encode())
    try:
        h.update(Path(inspect.getsourcefile(target)).read_bytes())
    except (OSError, TypeError):
        pass
    for cell in getattr(target, "__closure__", None) or ():  # handlers made by a factory differ by these
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        plain = value is None or isinstance(value, (bool, int, float, str, bytes, tuple))
        h.update(repr(value if plain else type(value).__qualname__).encode() + b"\0")
    if isinstance(fn, functools.partial):
        h.update(json.dumps(canonical([list(fn.args), fn.keywords]), sort_keys=True).encode())
    return h.hexdigest()


def _is_user_code(fn) -> bool:
    module = getattr(inspect.unwrap(getattr(fn, "func", fn)), "__module__", None) or ""
    return not (module == "trtgraph" or module.startswith("trtgraph."))


def _graph_nodes(block):
    for node in block.nodes():
        yield node
        for sub in node.blocks():
            yield from _graph_nodes(sub)


def user_handler_digests(graph) -> dict:
    """``{handler key: digest}`` of the handlers registered outside trtgraph that ``graph`` uses."""
    from . import frontend
    from .registry import lookup

    out = {}
    for node in _graph_nodes(graph):
        kind = node.kind()
        if kind.startswith("prim::"):
            continue
        entry = lookup(kind, frontend.node_overload(node))
        if entry is None or entry.key in out:
            continue
        parts = [_code_digest(f) for f in (entry.fn, entry.validator) if f is not None and _is_user_code(f)]
        if parts:
            out[entry.key] = parts
    return out


def _examples(inputs) -> tuple[list, object, object]:
    """``(leaf tensors, their TreeSpec, the inputs with every tensor detached on the CPU)``:
    inputs may nest lists/tuples/dicts of tensors (see :mod:`trtgraph.pytree`)."""
    from torch.utils import _pytree as pt

    from .pytree import flatten_inputs

    leaves, spec = flatten_inputs(inputs)
    for i, x in enumerate(leaves):
        if not isinstance(x, torch.Tensor):
            raise InputError(f"input {i} is a {type(x).__name__}; trtgraph.compile takes torch tensors")
    leaves = [x.detach().cpu() for x in leaves]
    return leaves, spec, list(pt.tree_unflatten(leaves, spec))


def key_document(model, inputs, precision: str = "fp32", workspace: Optional[int] = None, **convert_kwargs):
    """``(document, model_hash)``: the canonical JSON data the cache key hashes (traces the model once)."""
    doc, mhash, _ = _key_document(model, inputs, precision, workspace, convert_kwargs)
    return doc, mhash


def _key_document(model, inputs, precision, workspace, convert_kwargs):
    from . import frontend

    structure = None
    if convert_kwargs.get("frontend") == "export" or isinstance(model, torch.export.ExportedProgram):
        graph, examples, owner = key_graph(model, inputs, convert_kwargs.get("dynamic_shapes"))
        mhash = ser.model_hash(owner, graph)
    else:
        from .pytree import is_flat_args

        examples, spec, _ = _examples(inputs)
        _, graph, _ = frontend.trace_structured(model, examples, spec)
        mhash = ser.model_hash(model, graph)
        structure = None if is_flat_args(spec) else torch.utils._pytree.treespec_dumps(spec)
    doc = {
        "key_version": KEY_VERSION,
        "model_hash": mhash,
        "inputs": [[list(x.shape), ser.dtype_name(x.dtype)] for x in examples],
        "precision": precision,
        "convert": canonical({k: v for k, v in convert_kwargs.items() if k not in _NOT_IN_KEY}),
        "workspace": workspace,
        "trtgraph_version": ser.trtgraph_version(),
        "trtgraph_source": source_digest(),
        "user_handlers": user_handler_digests(graph),
        "tensorrt": canonical(ser.tensorrt_identity()),
    }
    if structure is not None:  # nested inputs (flat ones keep the keys they always had)
        doc["input_structure"] = structure
    return doc, mhash, graph


def cache_key(model, inputs, precision: str = "fp32", workspace: Optional[int] = None, **convert_kwargs):
    """``(key, model_hash)`` for these arguments (traces the model once)."""
    key, mhash, _ = _cache_key(model, inputs, precision, workspace, convert_kwargs)
    return key, mhash


def _cache_key(model, inputs, precision, workspace, convert_kwargs):
    doc, mhash, graph = _key_document(model, inputs, precision, workspace, convert_kwargs)
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest(), mhash, graph


# --------------------------------------------------------------------------- entries

class CacheEntry(NamedTuple):
    key: str
    path: Path
    size: int          # engine + sidecar bytes
    last_used: float   # the engine file's access time (seconds since the epoch)
    precision: str
    inputs: str        # "name dtype shape, ..."


def _read_hybrid_entry(path: Path) -> Optional[CacheEntry]:
    """The entry of hybrid folder ``path`` when trtgraph's cache wrote it (its hybrid.json records its
    own key), else None."""
    from .hybrid.files import PROGRAM_FILE

    if not _HYBRID_RE.match(path.name) or path.is_symlink() or not path.is_dir():
        return None
    program = path / PROGRAM_FILE
    try:
        st = program.lstat()
        if not program.is_file() or program.is_symlink() or st.st_size > (64 << 20):
            return None
        doc = json.loads(program.read_bytes())
        if not isinstance(doc, dict) or (doc.get("extra") or {}).get("cache_key") != path.name[:-len(".hybrid")]:
            return None
        size = 0
        for p in path.rglob("*"):
            if p.is_file() and not p.is_symlink():
                size += p.stat().st_size
        names = [str(e.get("name")) for e in doc.get("inputs") or [] if isinstance(e, dict)]
        segments = len(doc.get("segments") or [])
    except (OSError, ValueError, AttributeError, TypeError, RecursionError):
        return None
    return CacheEntry(path.name[:-len(".hybrid")], path, size, st.st_atime, str(doc.get("precision")),
                      f"hybrid, {segments} segment(s); inputs {', '.join(names)}")


def _read_entry(path: Path) -> Optional[CacheEntry]:
    """The entry of ``path`` when trtgraph's cache wrote it (its sidecar records its own key), else None."""
    if _HYBRID_RE.match(path.name):
        return _read_hybrid_entry(path)
    if not _ENTRY_RE.match(path.name):
        return None
    side = ser.sidecar_path(path)
    try:
        st, side_st = path.stat(), side.stat()
        if side_st.st_size > (1 << 22):  # far larger than any sidecar trtgraph writes
            return None
        doc = json.loads(side.read_bytes())
        if not isinstance(doc, dict) or (doc.get("extra") or {}).get("cache_key") != path.name[:-len(".engine")]:
            return None
    except (OSError, ValueError, AttributeError, RecursionError):
        return None
    inputs = []
    for spec in doc.get("inputs") or []:
        if isinstance(spec, dict):
            inputs.append(f"{spec.get('name')} {spec.get('dtype')} {tuple(spec.get('shape') or ())}")
    return CacheEntry(path.name[:-len(".engine")], path, st.st_size + side_st.st_size, st.st_atime,
                      str(doc.get("precision")), ", ".join(inputs))


def cache_entries(cache_dir=None) -> list:
    """The entries trtgraph wrote in ``cache_dir``, least recently used first."""
    folder = _folder(cache_dir)
    if not folder.is_dir():
        return []
    found = [e for e in map(_read_entry, list(folder.glob("*.engine")) + list(folder.glob("*.hybrid")))
             if e is not None]
    return sorted(found, key=lambda e: (e.last_used, e.key))


def _remove(entry: CacheEntry):
    if entry.path.name.endswith(".hybrid"):
        from .hybrid.files import remove_hybrid_folder

        remove_hybrid_folder(entry.path)  # only the files trtgraph writes there; hybrid.json (the marker) last
        return
    ser.sidecar_path(entry.path).unlink(missing_ok=True)  # the marker first: a half-removed entry is no entry
    entry.path.unlink(missing_ok=True)


def evict(cache_dir=None, max_bytes=None, keep=()) -> list:
    """Remove least recently used entries until the entries of ``cache_dir`` total at most
    ``max_bytes`` (see :func:`max_cache_bytes`); keys in ``keep`` stay. Returns the removed entries."""
    limit = max_cache_bytes(max_bytes)
    entries = cache_entries(cache_dir)
    total = sum(e.size for e in entries)
    removed = []
    for e in entries:
        if total <= limit:
            break
        if e.key in keep:
            continue
        try:
            _remove(e)
        except OSError:
            continue
        total -= e.size
        removed.append(e)
    return removed


def _touch(path: Path):
    """Record a use: set the access time to now, keep the modification time."""
    try:
        st = path.stat()
        os.utime(path, ns=(time.time_ns(), st.st_mtime_ns))
    except OSError:
        pass


def writable_reason(folder: Path) -> Optional[str]:
    """None when entries can be written in ``folder`` (created if needed), else why not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".trtgraph-probe-", suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc.strerror or exc}"
    return None


# --------------------------------------------------------------------------- compile

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
        why = writable_reason(folder)
        if why is not None:
            warnings.warn(f"trtgraph cache: cannot write to the cache folder {folder} ({why}); building "
                          "without caching. To fix: make it writable, or pass cache_dir= / set "
                          "TRTGRAPH_CACHE_DIR to a writable folder", RuntimeWarning, stacklevel=user_stacklevel())
            path = None
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
        why = writable_reason(folder)
        if why is not None:
            warnings.warn(f"trtgraph cache: cannot write to the cache folder {folder} ({why}); building "
                          "without caching. To fix: make it writable, or pass cache_dir= / set "
                          "TRTGRAPH_CACHE_DIR to a writable folder", RuntimeWarning, stacklevel=user_stacklevel())
            path = None
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


def clear_cache(cache_dir=None) -> int:
    """Delete the entries trtgraph's cache wrote in ``cache_dir`` (engine + sidecar) and its leftover
    temporary files; any other file stays. Returns the number of entries removed."""
    folder = _folder(cache_dir)
    if not folder.is_dir():
        return 0
    removed = 0
    for e in cache_entries(folder):
        _remove(e)
        removed += 1
    for p in folder.iterdir():
        if _TMP_RE.match(p.name):
            p.unlink(missing_ok=True)
        elif _HYBRID_TMP_RE.match(p.name) and p.is_dir() and not p.is_symlink():
            from .hybrid.files import remove_hybrid_folder

            remove_hybrid_folder(p)  # a hybrid entry being written or replaced when a process died
    return removed
