"""Identities and hashes recorded in a sidecar: the trtgraph and TensorRT versions, the engine's
SHA-256 and the model hash (traced graph and weights)."""
from __future__ import annotations

import hashlib
import re

import torch

from ..errors import TrtGraphError
from .metadata import dtype_name
from .rawfiles import _buffer


# --------------------------------------------------------------------------- identities and hashes

def trtgraph_version() -> str:
    from .. import __version__  # late: trtgraph/__init__ defines it after importing the submodules

    return __version__


def tensorrt_identity() -> dict:
    """``{"family", "flavour", "version"}`` of the TensorRT in use. ``family`` is what decides
    engine compatibility: "tensorrt" (standard) or "tensorrt_rtx" (front package or bindings wheel)."""
    from .. import backend

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
