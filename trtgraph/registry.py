"""The handler registry: one decorator, keyed by aten op name (optionally with overload).

``@register_node_handler("aten::relu")`` or with a full schema string
``@register_node_handler("aten::hardtanh(Tensor self, Scalar min_val=-1, Scalar max_val=1) -> Tensor")``
(only the name before ``(`` is the key; the schema documents the bound argument names).

In-place variants (``aten::relu_``) are looked up under their out-of-place key automatically.
A key may carry an overload (``aten::add.Tensor``); lookup tries ``name.overload`` then ``name``.
Handlers are called as ``handler(ctx, **args)`` with the node's arguments bound by schema name.

A ``validator(args) -> str | None`` registered with the handler runs in the up-front check on the
node's arguments (constants as Python values, other values as :class:`Traced` placeholders) and
returns a reason when the argument combination is unsupported.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Optional

from .errors import RegistrationError

_KEY_RE = re.compile(r"^[a-z_]+::[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)?$")


@dataclass
class HandlerEntry:
    key: str
    fn: Callable
    validator: Optional[Callable] = None
    schema: Optional[str] = None


_HANDLERS: dict[str, HandlerEntry] = {}


def _normalize(key: str) -> str:
    """Map an in-place kind ``aten::relu_`` to ``aten::relu``; dunders (``aten::__and__``) stay."""
    ns, _, name = key.partition("::")
    base, dot, overload = name.partition(".")
    if base.endswith("_") and not base.endswith("__") and base != "_":
        base = base[:-1]
    return f"{ns}::{base}{dot}{overload}"


def register_node_handler(key_or_schema: str, validator: Optional[Callable] = None):
    """Register ``fn(ctx, **args)`` as the handler of an aten op. Duplicates are an error."""
    schema = None
    key = key_or_schema.strip()
    if "(" in key:
        schema = key
        key = key[: key.index("(")].strip()
    if not _KEY_RE.match(key):
        raise RegistrationError(f"handler key {key_or_schema!r} is not of the form 'aten::name[.overload]'")
    if key.startswith("prim::"):
        raise RegistrationError(f"{key}: prim:: nodes belong to the graph walker, not to handlers")
    key = _normalize(key)

    def decorator(fn):
        if key in _HANDLERS:
            prev = _HANDLERS[key].fn
            raise RegistrationError(
                f"a handler for {key} is already registered ({prev.__module__}.{prev.__qualname__})")
        _HANDLERS[key] = HandlerEntry(key, fn, validator, schema)
        return fn

    return decorator


def unregister_node_handler(key: str) -> None:
    _HANDLERS.pop(_normalize(key), None)


def lookup(kind: str, overload: str = "") -> Optional[HandlerEntry]:
    """The handler for a node kind (``aten::relu_``) and overload name (``Tensor``), or None."""
    base = _normalize(kind)
    if overload:
        entry = _HANDLERS.get(f"{base}.{overload}")
        if entry is not None:
            return entry
    return _HANDLERS.get(base)


def registered_keys() -> list[str]:
    return sorted(_HANDLERS)


@dataclass
class Traced:
    """Placeholder for a non-constant value in the up-front check: what the trace recorded."""

    shape: Optional[tuple]
    dtype: object  # torch.dtype or None
    dynamic: bool = True  # computed from the model inputs (False: a constant known only at conversion)
    size: bool = False  # computed only from dynamic input sizes (aten::size chains), not from data

    def __repr__(self):
        return f"Traced(shape={self.shape}, dtype={self.dtype})"
