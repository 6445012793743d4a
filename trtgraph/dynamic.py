"""Dynamic input dimensions: the user's ranges, and what the trace says depends on them.

``torch.jit.trace`` records concrete sizes. To know which dimensions of which values follow a
dynamic input dimension -- and which constants the trace baked in from it -- trtgraph traces the
model a second time at another shape inside the ranges and compares the two graphs node by node:

- a tensor dimension that differs between the traces is dynamic: the network must leave it -1;
- a ``prim::Constant`` that differs was computed in Python from a size (``int(x.shape[0] / 2)``):
  the engine would use the example's value at every shape, so trtgraph refuses the node that
  consumes it, naming it and its source line;
- a different sequence of nodes means shape-dependent Python control flow: refused too.

``dynamic_shapes`` has the form ``{"input_name": {dim: (min, opt, max)}}``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import torch

from . import frontend
from .errors import DynamicShapeError, InputError


Range = tuple[int, int, int]


def parse_ranges(dynamic_shapes, names: list[str], examples: list[torch.Tensor]) -> dict[str, dict[int, Range]]:
    """Validate ``dynamic_shapes`` against the inputs; returns {name: {axis: (min, opt, max)}}."""
    if not dynamic_shapes:
        return {}
    if not isinstance(dynamic_shapes, dict):
        raise InputError("dynamic_shapes must be a dict {input_name: {dim: (min, opt, max)}}, "
                         f"got {type(dynamic_shapes).__name__}")
    result: dict[str, dict[int, Range]] = {}
    for name, dims in dynamic_shapes.items():
        if name not in names:
            raise InputError(f"dynamic_shapes names input {name!r}; the inputs are {names}")
        x = examples[names.index(name)]
        if not isinstance(dims, dict):
            raise InputError(f"dynamic_shapes[{name!r}] must be a dict {{dim: (min, opt, max)}}")
        ranges = {}
        for dim, rng in dims.items():
            if not isinstance(dim, int) or not -x.dim() <= dim < x.dim():
                raise InputError(f"dynamic_shapes[{name!r}]: dim {dim!r} is not a dimension of a "
                                 f"rank-{x.dim()} input")
            axis = dim % x.dim()
            try:
                lo, opt, hi = (int(v) for v in rng)
            except (TypeError, ValueError):
                raise InputError(f"dynamic_shapes[{name!r}][{dim}] must be (min, opt, max), got {rng!r}") from None
            if not 1 <= lo <= opt <= hi:
                raise InputError(f"dynamic_shapes[{name!r}][{dim}] = {(lo, opt, hi)}: need 1 <= min <= opt <= max")
            if not lo <= x.shape[axis] <= hi:
                raise InputError(f"input {name!r} has size {x.shape[axis]} in dim {axis}, outside its dynamic "
                                 f"range {lo}..{hi}; trace with an example inside the range")
            if lo < hi:
                ranges[axis] = (lo, opt, hi)
        if ranges:
            result[name] = ranges
    return result


def profile_shapes(ranges: dict[str, dict[int, Range]], names, examples) -> dict[str, tuple]:
    """{name: (min_shape, opt_shape, max_shape)} for every input with a dynamic dimension."""
    out = {}
    for name, axes in ranges.items():
        shape = list(examples[names.index(name)].shape)
        shapes = []
        for k in range(3):
            s = list(shape)
            for axis, rng in axes.items():
                s[axis] = rng[k]
            shapes.append(tuple(s))
        out[name] = tuple(shapes)
    return out


def network_shape(x: torch.Tensor, axes: dict[int, Range]) -> tuple:
    return tuple(-1 if i in axes else d for i, d in enumerate(x.shape))


def _other_size(current: int, rng: Range) -> int:
    """A second size inside the range, different from the example's and far from it: sizes that
    pass through strided layers must still differ afterwards (a stride-32 network maps 224 and 225
    to the same 7), so prefer a distance of at least 37; avoid 1 (a broadcast special case).
    Among the sizes far enough, the smallest (the second trace runs the model for real: a batch
    of 32 costs four times the example's 8); failing that, half the example's size or less, then
    the farthest end of the range."""
    lo, _, hi = rng
    candidates = [v for v in range(max(lo, 2), hi + 1) if v != current] if hi - lo < 4096 else \
        [v for v in (max(lo, 2), current - 37, current + 37, max(2, current // 2), hi) if lo <= v <= hi and v != current and v >= 2]
    far_enough = [v for v in candidates if abs(v - current) >= 37]
    if far_enough:
        return min(far_enough)
    halved = [v for v in candidates if v <= current // 2]
    if halved:
        return min(halved)
    if candidates:
        return max(candidates, key=lambda v: abs(v - current))
    for v in range(lo, hi + 1):
        if v != current:
            return v
    raise AssertionError("unreachable: range has two values")


def resized(x: torch.Tensor, axes: dict[int, int]) -> torch.Tensor:
    """``x`` cropped or tiled along ``axes`` to new sizes (values stay valid, e.g. token ids)."""
    for axis, size in axes.items():
        index = torch.arange(size) % x.shape[axis]
        x = x.index_select(axis, index)
    return x.contiguous()


def second_examples(ranges, names, examples) -> list[torch.Tensor]:
    out = []
    for name, x in zip(names, examples):
        axes = ranges.get(name, {})
        out.append(resized(x, {a: _other_size(x.shape[a], r) for a, r in axes.items()}))
    return out


@dataclass
class ShapeFacts:
    """What the two traces say: dynamic axes per jit value, and constants baked from sizes."""

    dynamic: dict = field(default_factory=dict)  # jit value (first trace) -> frozenset of axes
    baked: dict = field(default_factory=dict)  # jit value of a prim::Constant -> (value 1, value 2)
    second_shapes: dict = field(default_factory=dict)  # jit value -> traced shape in the second trace

    def axes(self, value) -> frozenset:
        return self.dynamic.get(value, frozenset())

    def remapped(self, value_of: dict) -> ShapeFacts:
        """The same facts keyed by other values (``value_of``: old value -> new value)."""
        def keyed(d):
            return {value_of[v]: x for v, x in d.items() if v in value_of}
        return ShapeFacts(keyed(self.dynamic), keyed(self.baked), keyed(self.second_shapes))


def _values_equal(a, b) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape \
            and a.dtype == b.dtype and bool(torch.equal(a, b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_values_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def compare_traces(g1, g2, size_one: bool = False) -> ShapeFacts:
    """Align two traces of one model node by node (see the module docstring). ``size_one``: the
    example has size 1 in a dynamic dimension (models often special-case it)."""
    facts = ShapeFacts()
    hint = ("; the example has size 1 in a dynamic dimension, and models often take a special path for "
            "size 1: trace with a larger example") if size_one else ""

    def pair(v1, v2, node=None):
        t1, t2 = frontend.traced_type(v1), frontend.traced_type(v2)
        if t1 is None or t2 is None or t1.shape is None or t2.shape is None:
            return
        if len(t1.shape) != len(t2.shape):
            where = frontend.describe(node) if node is not None else "a graph input"
            raise DynamicShapeError(
                f"{where}: its output has rank {len(t1.shape)} at one input shape and {len(t2.shape)} at "
                "another (the model squeezes or reshapes by a size the trace fixed); make that dimension "
                "static or avoid size-dependent rank changes")
        axes = frozenset(i for i, (a, b) in enumerate(zip(t1.shape, t2.shape)) if a != b)
        if axes:
            facts.dynamic[v1] = axes
            facts.second_shapes[v1] = t2.shape

    for v1, v2 in zip(list(g1.inputs())[1:], list(g2.inputs())[1:]):
        pair(v1, v2)
    n1, n2 = list(g1.nodes()), list(g2.nodes())
    for a, b in zip(n1, n2):
        size = a.outputsSize()  # (iterating a node's outputs costs as much as the rest of the loop)
        if a.kind() != b.kind() or size != b.outputsSize():
            raise DynamicShapeError(
                f"{frontend.describe(a)}: the traced graph changes with the input shape (tracing at another "
                f"shape gives {frontend.describe(b)} here): Python control flow depends on a dynamic "
                f"dimension; make it static{hint}")
        if a.kind() == "prim::Constant":
            va, vb = frontend.constant_value(a), frontend.constant_value(b)
            if not _values_equal(va, vb):
                facts.baked[a.output()] = (va, vb)
            continue
        for i in range(size):
            pair(a.outputsAt(i), b.outputsAt(i), a)
    if len(n1) != len(n2):
        extra = (n1 if len(n1) > len(n2) else n2)[min(len(n1), len(n2))]
        raise DynamicShapeError(f"{frontend.describe(extra)}: the traced graph has {len(n1)} nodes at one "
                                f"input shape and {len(n2)} at another: Python control flow depends on a "
                                f"dynamic dimension; make it static{hint}")
    return facts


def baked_message(consumer_desc: str, value, pair_: tuple) -> str:
    a, b = pair_
    show = (lambda v: f"tensor of shape {tuple(v.shape)}" if isinstance(v, torch.Tensor) else repr(v))
    return (f"{consumer_desc}: uses a constant the trace baked in from a dynamic input size "
            f"(%{value.debugName()} is {show(a)} at the example shape and {show(b)} at another); "
            "compute it from tensor.size()/tensor.shape inside forward without int()/float()/math, "
            "or make this dimension static")


def describe_shape(shape, axes) -> str:
    return "(" + ", ".join("?" if i in axes else str(d) for i, d in enumerate(shape)) + ")"

