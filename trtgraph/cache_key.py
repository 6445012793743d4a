"""The engine cache's key (:mod:`trtgraph.cache` describes what it covers): the canonical JSON
document of a conversion's arguments, the model hash, the digests of trtgraph's sources and of the
user handlers the graph uses, and its SHA-256."""
from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import inspect
import json
import marshal
import math
import pickle
import re
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from . import serialization as ser
from .errors import InputError
from .export_frontend import key_graph
from .ir import all_nodes


KEY_VERSION = 2
_NOT_IN_KEY = {"verbose", "progress"}


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


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


def user_handler_digests(graph) -> dict:
    """``{handler key: digest}`` of the handlers registered outside trtgraph that ``graph`` uses."""
    from . import frontend
    from .registry import lookup

    out = {}
    for node in all_nodes(graph):
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
