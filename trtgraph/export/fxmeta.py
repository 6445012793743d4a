"""What the FX nodes of an exported program say about their values (:mod:`trtgraph.export.graph`
uses it): source ranges from ``meta["stack_trace"]``, module scopes from ``meta["nn_module_stack"]``,
TorchScript types from ``meta["val"]``, and the values of the size symbols at the example inputs
and at a second point of their range."""
from __future__ import annotations

import re

import torch

from ..errors import TraceError
from ..ir import _Type


_FRAME_RE = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>.*)$')


# --------------------------------------------------------------------------- FX meta -> types

def _source_range(fx_node) -> str:
    """FX's stack trace (outermost frame first) as TorchScript's source range (innermost first)."""
    trace = fx_node.meta.get("stack_trace") or ""
    frames = []
    for line in trace.splitlines():
        m = _FRAME_RE.match(line)
        if m:
            frames.append(f"{m.group('file')}({m.group('line')}): {m.group('func')}")
    return "\n".join(reversed(frames))


def _scope(fx_node) -> str:
    stack = fx_node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    path = list(stack.values())[-1][0]
    return path if isinstance(path, str) else ""


class _Sizes:
    """Concrete values of the size symbols: at the example, and at another point of their range."""

    def __init__(self, example: dict, other: dict):
        self.example = example
        self.other = other
        self._cache: dict = {}  # (expr, which) -> int: many values share one size expression

    def _eval(self, s, values: dict) -> int:
        if isinstance(s, int):
            return s
        expr = s.node.expr
        if expr.is_number:
            return int(expr)
        key = (expr, values is self.example)
        if key not in self._cache:
            try:
                self._cache[key] = int(expr.xreplace(values))
            except (TypeError, ValueError):
                hint = s.node.hint
                if hint is None:
                    raise TraceError(f"cannot evaluate the symbolic size {expr} at the example inputs") from None
                self._cache[key] = int(hint)
        return self._cache[key]

    def shape(self, shape, values=None) -> tuple:
        return tuple(self._eval(s, values if values is not None else self.example) for s in shape)

    def dynamic_axes(self, shape) -> frozenset:
        return frozenset(i for i, s in enumerate(shape) if isinstance(s, torch.SymInt)
                         and not s.node.expr.is_number)


def _tensor_type(val: torch.Tensor, sizes: _Sizes):
    meta = torch.empty(sizes.shape(val.shape), dtype=val.dtype, device="meta")
    return torch._C.TensorType.create_from_tensor(meta)


def _type_of(val, sizes: _Sizes):
    if isinstance(val, torch.Tensor):
        return _tensor_type(val, sizes)
    if isinstance(val, (torch.SymInt, int)) and not isinstance(val, bool):
        return torch._C.IntType.get()
    if val is None:
        return torch._C.NoneType.get()
    if isinstance(val, (list, tuple)):
        return _Type("List")
    return _Type(type(val).__name__)


def _symbol_values(ep, example_inputs) -> _Sizes:
    """The value of each size symbol at the example inputs, and a second value inside its range."""
    import sympy
    from torch.export.graph_signature import InputKind

    example: dict = {}
    user = [n for n in ep.graph.nodes if n.op == "placeholder"]
    specs = {s.arg.name: s for s in ep.graph_signature.input_specs if hasattr(s.arg, "name")}
    user = [n for n in user if specs.get(n.name) is None or specs[n.name].kind == InputKind.USER_INPUT]
    if example_inputs is not None:
        for n, x in zip(user, example_inputs):
            val = n.meta.get("val")
            if isinstance(val, torch.Tensor) and isinstance(x, torch.Tensor) and val.dim() == x.dim():
                for s, d in zip(val.shape, x.shape):
                    if isinstance(s, torch.SymInt) and isinstance(s.node.expr, sympy.Symbol):
                        example[s.node.expr] = sympy.Integer(int(d))
    other = {}
    for sym, rng in ep.range_constraints.items():
        if not isinstance(sym, sympy.Symbol):
            continue
        if sym not in example:
            hint = None
            for n in user:
                val = n.meta.get("val")
                if isinstance(val, torch.Tensor):
                    for s in val.shape:
                        if isinstance(s, torch.SymInt) and s.node.expr == sym and s.node.hint is not None:
                            hint = s.node.hint
            if hint is None:
                hint = int(rng.lower)
            example[sym] = sympy.Integer(int(hint))
        cur = int(example[sym])
        lo = int(rng.lower)
        hi = int(rng.upper) if bounded(rng.upper) else cur + 37
        choice = next((v for v in (hi, lo, cur + 1, cur - 1) if lo <= v <= hi and v != cur), cur)
        other[sym] = sympy.Integer(choice)
    return _Sizes(example, other)


def bounded(bound) -> bool:
    """True for a finite integer range bound (torch's ``int_oo`` and sympy's ``oo`` are not)."""
    return bool(getattr(bound, "is_Integer", False))
