"""Which network ``torch2trt`` adds layers to, and what counts as a network tensor.

The lowest layer of the package: the seed API's ``trt_network``/``current_network``/
``has_trt_tensor`` live here so that the walker (core), the layer helpers (context) and the torch
debug mode (debug) all import it without importing each other. Each thread has its own stack of
networks (``with trt_network(net):`` blocks nest).
"""
from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from typing import Any, Optional

from .backend import trt
from .errors import TrtGraphError

_state = threading.local()
_TENSOR_TYPES: list = []  # network tensor classes besides TensorRT's ITensor (the debug mode's)


def register_tensor_type(cls) -> None:
    """Count ``cls`` as a network tensor (the torch debug mode registers its DebugTensor)."""
    if cls not in _TENSOR_TYPES:
        _TENSOR_TYPES.append(cls)


@dataclass
class _NetworkState:
    network: Any
    keep: list = field(default_factory=list)
    names: dict = field(default_factory=dict)
    debug: bool = False


def _stack() -> list:
    if not hasattr(_state, "stack"):
        _state.stack = []
    return _state.stack


@contextlib.contextmanager
def trt_network(network):
    """Make ``network`` (a TensorRT INetworkDefinition) the target of ``torch2trt`` calls."""
    state = _NetworkState(network)
    _stack().append(state)
    try:
        yield network
    finally:
        _stack().pop()


def _push_debug_network(network):
    state = _NetworkState(network, debug=True)
    _stack().append(state)
    return state


def _current_state() -> Optional[_NetworkState]:
    stack = _stack()
    return stack[-1] if stack else None


def current_network():
    """The network of the innermost ``trt_network``/``torch_network`` block, or None."""
    state = _current_state()
    return state.network if state else None


def is_trt_tensor(x) -> bool:
    """True for a TensorRT ITensor or a tensor of the torch debug network."""
    if _TENSOR_TYPES and isinstance(x, tuple(_TENSOR_TYPES)):
        return True
    try:
        return isinstance(x, trt().ITensor)
    except TrtGraphError:
        return False


def has_trt_tensor(inputs) -> bool:
    """True if ``inputs`` (possibly nested lists/tuples/dicts) holds any network tensor."""
    if isinstance(inputs, (list, tuple)):
        return any(has_trt_tensor(x) for x in inputs)
    if isinstance(inputs, dict):
        return any(has_trt_tensor(x) for x in inputs.values())
    return is_trt_tensor(inputs)


