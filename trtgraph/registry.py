"""The handler registry: one decorator, keyed by aten op name (optionally with overload).

``@register_node_handler("aten::relu")`` or with a full schema string
``@register_node_handler("aten::hardtanh(Tensor self, Scalar min_val=-1, Scalar max_val=1) -> Tensor")``
(only the name before ``(`` is the key; the schema documents the bound argument names).

In-place variants (``aten::relu_``) are looked up under their out-of-place key automatically.
A key may carry an overload (``aten::add.Tensor``); lookup tries ``name.overload`` then ``name``.
Handlers are called as ``handler(ctx, **args)`` with the node's arguments bound by schema name.
A handler written as in the seed's README, ``def h(inputs, attributes)`` using ``current_network()``
and returning a list, is called with the argument values in schema order. A user's handler may
replace one of trtgraph's own (with a warning); ``unregister_node_handler`` restores it.

A ``validator(args) -> str | None`` registered with the handler runs in the up-front check on the
node's arguments (constants as Python values, other values as :class:`Traced` placeholders) and
returns a reason when the argument combination is unsupported.
"""
from __future__ import annotations

import inspect
import re
import warnings
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from .errors import RegistrationError

_KEY_RE = re.compile(r"^[a-z_]+::[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)?$")


@dataclass
class HandlerEntry:
    key: str
    fn: Callable
    validator: Optional[Callable] = None
    schema: Optional[str] = None


_HANDLERS: dict[str, HandlerEntry] = {}
_OVERRIDDEN: dict[str, HandlerEntry] = {}  # built-in handlers a user handler replaced (restored on unregister)


def _is_builtin(fn) -> bool:
    return (getattr(fn, "__module__", "") or "").startswith("trtgraph.")


def _seed_style(fn) -> bool:
    """A handler written as in the seed's README: ``def h(inputs, attributes)`` returning a list."""
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return False
    return params == ["inputs", "attributes"]


def _node_schema(ctx):
    node = getattr(ctx, "node", None)
    if node is None:
        return None
    from .frontend import node_schema

    return node_schema(node)


def _is_default(value, default) -> bool:
    if value is None or default is None:
        return value is None and default is None
    if isinstance(value, (bool, int, float, str)) and isinstance(default, (bool, int, float, str)):
        return type(value) is type(default) and value == default
    return False


def _adapt_seed_handler(fn):
    """Call a seed-style handler with the node's argument values in schema order (``inputs``) and
    the same values by name (``attributes``); unwrap the list it returns for one-output nodes.
    Trailing arguments left at their schema default (``dtype=None`` of ``aten::sum``) are not
    passed in ``inputs``, as the TorchScript of the seed's day recorded them."""

    def handler(ctx, **args):
        values = list(args.values())
        schema = _node_schema(ctx)
        if schema is not None:
            for arg in reversed(schema.arguments[:len(values)]):
                v = values[-1]
                if not arg.has_default_value() or not _is_default(v, arg.default_value):
                    break
                values.pop()
        out = fn(values, dict(args))
        if not isinstance(out, (list, tuple)):
            raise RegistrationError(f"handler {fn.__qualname__} (seed style) must return a list of outputs, "
                                    f"got {type(out).__name__}")
        return out[0] if len(out) == 1 else tuple(out)

    handler.__wrapped__ = fn
    handler.__qualname__ = fn.__qualname__
    handler.__module__ = fn.__module__
    return handler


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
        seed = _seed_style(fn)
        _check_binding(key, fn, seed)
        call = _adapt_seed_handler(fn) if seed else fn
        if key in _HANDLERS:
            prev = _HANDLERS[key].fn
            if _is_builtin(prev) and not _is_builtin(fn) and key not in _OVERRIDDEN:
                # a user's handler replaces trtgraph's own (unregister_node_handler restores it)
                warnings.warn(f"register_node_handler: {fn.__module__}.{fn.__qualname__} replaces trtgraph's "
                              f"handler for {key}", UserWarning, stacklevel=2)
                _OVERRIDDEN[key] = _HANDLERS[key]
            else:
                raise RegistrationError(
                    f"a handler for {key} is already registered ({prev.__module__}.{prev.__qualname__})")
        _HANDLERS[key] = HandlerEntry(key, call, validator, schema)
        return fn

    return decorator


def _op_packet(key: str):
    ns, _, name = key.partition("::")
    base = name.partition(".")[0]
    try:
        return getattr(getattr(torch.ops, ns), base)
    except (AttributeError, RuntimeError):
        return None


def op_exists(key: str) -> bool:
    """Whether ``ns::name`` names an op of ``torch.ops`` (any overload)."""
    return _op_packet(key) is not None


def _check_binding(key: str, fn, seed: bool) -> None:
    """The key names a real torch op (overload included), and the handler can take the arguments
    of at least one of its overloads by name (``**kwargs`` takes any)."""
    packet = _op_packet(key)
    if packet is None:
        raise RegistrationError(f"{key}: no such torch op (torch.ops.{key.replace('::', '.').split('.')[0]}."
                                f"{key.partition('::')[2].split('.')[0]} does not exist)")
    overload = key.partition("::")[2].partition(".")[2]
    overloads = [overload] if overload else list(packet.overloads())
    if overload and overload not in packet.overloads():
        raise RegistrationError(f"{key}: {key.split('.')[0]} has no overload {overload!r} "
                                f"(it has {', '.join(packet.overloads()) or 'none'})")
    if seed:
        return
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return
    names = set(params)
    schemas = [getattr(packet, o)._schema for o in overloads]
    if not any({a.name for a in sch.arguments} <= names for sch in schemas):
        need = min(({a.name for a in sch.arguments} - names for sch in schemas), key=len)
        raise RegistrationError(f"{key}: handler {getattr(fn, '__qualname__', fn)} does not take the op's "
                                f"argument(s) {', '.join(sorted(need))} (handlers are called as "
                                "handler(ctx, **arguments bound by schema name))")


def register_alias(alias: str, target: str, rename: Optional[dict] = None) -> None:
    """Register ``alias`` with the handler of ``target`` in one line (``aten::swapdims`` ->
    ``aten::transpose``); ``rename`` maps the alias's argument names to the target's."""
    base, _, overload = target.partition(".")
    entry = lookup(base, overload)
    if entry is None:
        raise RegistrationError(f"register_alias: {target} has no handler")
    fn = entry.fn
    if rename:
        def fn(ctx, _fn=entry.fn, _rename=dict(rename), **args):
            return _fn(ctx, **{_rename.get(k, k): v for k, v in args.items()})
        fn.__qualname__ = f"{entry.fn.__qualname__} (as {alias})"
        fn.__module__ = entry.fn.__module__
        fn.alias_of = (entry.fn, dict(rename))
    register_node_handler(alias, validator=entry.validator)(fn)


def unregister_node_handler(key: str) -> None:
    """Remove a handler; a built-in handler it replaced comes back."""
    key = _normalize(key)
    _HANDLERS.pop(key, None)
    if key in _OVERRIDDEN:
        _HANDLERS[key] = _OVERRIDDEN.pop(key)


def _parameter_names(fn) -> Optional[tuple]:
    """``(names, required)``: the argument names a handler takes by name, and those it needs
    (None: any, for ``**kwargs`` and seed-style handlers). ``ctx`` is not an op argument."""
    cached = getattr(fn, "_trtgraph_params", False)
    if cached is not False:
        return cached
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        out = None
    else:
        if _seed_style(fn) or any(p.kind == p.VAR_KEYWORD for p in params.values()):
            out = None
        else:
            named = [p for n, p in params.items() if n != "ctx" and p.kind != p.VAR_POSITIONAL]
            out = (frozenset(p.name for p in named), frozenset(p.name for p in named if p.default is p.empty))
    try:
        fn._trtgraph_params = out
    except (AttributeError, TypeError):
        pass
    return out


def lookup(kind: str, overload: str = "", schema=None) -> Optional[HandlerEntry]:
    """The handler for a node kind (``aten::relu_``) and overload name (``Tensor``), or None.
    With the node's ``schema``, a handler that cannot take its arguments by name (one registered
    for another overload of the op: ``where(cond, a, b)`` for ``where(cond)``) is no handler."""
    base = _normalize(kind)
    entry = _HANDLERS.get(f"{base}.{overload}") if overload else None
    if entry is None:
        entry = _HANDLERS.get(base)
    if entry is not None and schema is not None:
        params = _parameter_names(entry.fn)
        args = {a.name for a in schema.arguments}
        if params is not None and not (args <= params[0] and params[1] <= args):
            return None
    return entry


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
