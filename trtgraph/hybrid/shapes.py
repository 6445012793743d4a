"""The user's dynamic shapes in a hybrid conversion (``convert(..., fallback=True, dynamic_shapes=...)``).

As ``trtgraph.convert`` does (:func:`trtgraph.core.dynamic_facts`), the model is traced a second
time at another size in the ranges and the two graphs are compared: the values that follow a
dynamic input dim, and the constants Python computed from sizes; a Python check of a dynamic size
is proven over the range.

A TensorRT segment's inputs are values inside the model, whose sizes are functions of the input
sizes (a stride-2 convolution halves them). Their profiles come from traces at both corners of
the ranges: each dim's minimum and maximum over the example, the second size and the corners. A
corner that takes another path than the example is a :class:`DynamicShapeError`.
"""
from __future__ import annotations

from .. import frontend, shape_trace
from ..dynamic import ShapeFacts, baked_message, compare_traces, resized
from ..errors import DynamicShapeError


def user_shape_facts(model, graph, examples: list, names: list, ranges: dict, findings: list):
    """``(facts, bounds)`` for the user's ``ranges`` (parsed, see :func:`trtgraph.dynamic.parse_ranges`):
    ``facts`` as ``convert`` finds them; ``bounds`` maps every value with a dynamic dim to its
    (lowest, highest) shape over the ranges. Both empty without ranges."""
    if not ranges:
        return ShapeFacts(), {}
    from ..core import dynamic_facts

    size_one = any(examples[names.index(n)].shape[a] == 1 for n, axes in ranges.items() for a in axes)
    facts, second, _ = dynamic_facts(model, graph, examples, names, ranges, findings)
    seen = [facts.second_shapes]
    traced = [[tuple(x.shape) for x in examples], [tuple(x.shape) for x in second]]
    for corner, k in (("min", 0), ("max", 2)):
        sizes = [resized(x, {a: r[k] for a, r in ranges.get(n, {}).items()}) for n, x in zip(names, examples)]
        if [tuple(x.shape) for x in sizes] in traced:
            continue
        traced.append([tuple(x.shape) for x in sizes])
        try:
            at = shape_trace.retrace(model, sizes, graph, findings, lambda g: compare_traces(graph, g, size_one))
        except DynamicShapeError as exc:
            shapes = ", ".join(str(tuple(x.shape)) for x in sizes)
            raise DynamicShapeError(f"at the {corner} of the dynamic range ({shapes}): {exc}") from exc
        other = [v for v in at.baked if v not in facts.baked]
        if other:
            a, b = at.baked[other[0]]
            raise DynamicShapeError(f"{frontend.describe(other[0].node())}: a constant the trace computed from a "
                                    f"size is {a!r} at the example and {b!r} at the {corner} of the dynamic range")
        for v, axes in at.dynamic.items():  # a dim equal at the second size may still move at a corner
            facts.dynamic[v] = facts.axes(v) | axes
            facts.second_shapes.setdefault(v, at.second_shapes[v])
        seen.append(at.second_shapes)
    bounds = {}
    for v in facts.dynamic:
        shape = frontend.traced_type(v).shape
        shapes = [tuple(shape)] + [tuple(s[v]) for s in seen if v in s]
        bounds[v] = (tuple(min(dims) for dims in zip(*shapes)), tuple(max(dims) for dims in zip(*shapes)))
    return facts, bounds


def merged(user: ShapeFacts, data: ShapeFacts) -> ShapeFacts:
    """The facts of both sources: a dim is dynamic if either says so."""
    out = ShapeFacts(dynamic=dict(user.dynamic), baked={**data.baked, **user.baked},
                     second_shapes={**data.second_shapes, **user.second_shapes})
    for v, axes in data.dynamic.items():
        out.dynamic[v] = out.axes(v) | axes
    return out


def profile_bounds(facts: ShapeFacts, user_bounds: dict, data: ShapeFacts, dynamic_max: int) -> dict:
    """Every dynamic value's (lowest, highest) shape for a segment profile: the user's bounds, and
    for a dim that follows the data, 0 (a count may be zero) up to ``dynamic_max`` at least."""
    out = {}
    for v in facts.dynamic:
        shape = tuple(frontend.traced_type(v).shape)
        lo, hi = (list(b) for b in user_bounds.get(v, (shape, shape)))
        for i in data.axes(v):
            lo[i], hi[i] = 0, max(dynamic_max, hi[i])
        out[v] = (tuple(lo), tuple(hi))
    return out


def refuse_baked_sizes(graph, facts: ShapeFacts) -> None:
    """A constant the trace computed from a dynamic size (``int(x.shape[0])``) is wrong at every other
    size, in torch as in TensorRT: a node that reads one is a :class:`DynamicShapeError` (without
    fallback it is refused too; here it must not be sent to torch instead). Call after
    :func:`trtgraph.hybrid.classify.classify`, which follows them through lists and tuples."""
    for node in graph.nodes():
        if node.kind().startswith("prim::"):
            continue
        baked = [v for v in node.inputs() if v in facts.baked]
        if baked:
            raise DynamicShapeError(baked_message(frontend.describe(node), baked[0], facts.baked[baked[0]]))
