"""The hybrid program as plain data: ``TorchStep`` / ``SegmentStep`` / ``Partition``, and how a
traced value becomes a reference in it (``ref_of``: a value name, a constant, a module attribute
path, a list or tuple of references). :mod:`trtgraph.hybrid.partition` builds the program;
:mod:`trtgraph.hybrid.interp` runs it and :mod:`trtgraph.hybrid.files` stores it."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .. import frontend


@dataclass
class TorchStep:
    """One node run in torch: ``op`` (``ns::name``) with ``overload``, ``args`` as refs (see
    :func:`ref_of`), results bound to ``outputs`` (value names). Plain data (no closures)."""

    op: str
    overload: str
    args: list
    outputs: list
    where: str = ""  # frontend.describe(node)
    reason: str = ""  # why it is not in TensorRT ("" for glue: sizes, unpacking)
    python: str = ""  # prim::PythonOp: the autograd.Function ("module.Name")
    cconv: str = ""  # prim::PythonOp: argument order ("d" tensor input, "c" scalar constant)
    blocks: list = field(default_factory=list)  # prim::If: [{"inputs": [names], "steps": [...], "outputs": [refs]}]

    def to_dict(self) -> dict:
        return {"kind": "torch", "op": self.op, "overload": self.overload, "args": self.args,
                "outputs": list(self.outputs), "where": self.where, "reason": self.reason,
                "python": self.python, "cconv": self.cconv,
                "blocks": [{"inputs": b["inputs"], "steps": [s.to_dict() for s in b["steps"]],
                            "outputs": b["outputs"]} for b in self.blocks]}


@dataclass
class SegmentStep:
    """A TensorRT segment: its input and output value names (in the order of its network's I/O)."""

    index: int
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"kind": "segment", "index": self.index, "inputs": list(self.inputs), "outputs": list(self.outputs)}


@dataclass
class Partition:
    """Segments (lists of graph nodes to clone), the step program, and the output refs."""

    segments: list  # [{"units": [nodes], "nodes": [nodes incl. glue, graph order], "step": SegmentStep}]
    steps: list  # TorchStep | SegmentStep, in execution order
    outputs: list  # refs of the graph outputs
    input_names: list  # value names of the model inputs (graph inputs after self)
    reasons: dict  # work node -> reason it runs in torch
    torch_nodes: list  # work nodes run in torch (graph order)


# --------------------------------------------------------------------------- refs

_LIST_MUTATIONS = {"aten::append", "aten::insert", "aten::_set_item", "aten::extend", "aten::pop", "aten::clear",
                   "aten::remove", "aten::reverse", "aten::sort"}
INLINED = ("prim::Constant", "prim::GetAttr", "prim::ListConstruct", "prim::TupleConstruct")


_SIZE_READS = ("aten::size", "aten::dim", "aten::numel")


def static_sizes(graph, glue, facts) -> dict:
    """{value: int or list} of the size reads (``x.size(1)``, ``x.dim()``, ``x.numel()``) of tensors
    whose traced shape is static there: constants, so reading a size is no dependency on ``x``."""
    out = {}
    for node in graph.nodes():
        if node.kind() not in _SIZE_READS or node not in glue:
            continue
        ins = list(node.inputs())
        tt = frontend.traced_type(ins[0])
        if tt is None or tt.shape is None or facts.axes(ins[0]):
            continue
        if node.kind() == "aten::dim":
            out[node.output()] = len(tt.shape)
        elif node.kind() == "aten::numel":
            out[node.output()] = math.prod(tt.shape)
        elif len(ins) == 1:
            out[node.output()] = list(tt.shape)
        elif ins[1].node().kind() == "prim::Constant" and len(tt.shape):
            out[node.output()] = tt.shape[frontend.constant_value(ins[1].node()) % len(tt.shape)]
    return out


def node_step(node, need, reason: str = "", consts=None) -> TorchStep:
    """One node as a torch step (blocks of prim::If as nested step lists)."""
    kind = node.kind()
    outputs = [v.debugName() for v in node.outputs()]
    where = frontend.describe(node)
    if kind == "prim::PythonOp":  # arguments in call order: tensors ("d") and scalar constants ("c")
        tensors, scalars = list(node.inputs()), list(node.scalar_args())
        args = [ref_of(tensors.pop(0), need, consts) if c == "d" else ["c", scalars.pop(0)] for c in node.cconv()]
        return TorchStep(kind, "", args, outputs, where, reason, python=python_op_name(node), cconv=node.cconv())
    args = [ref_of(u, need, consts) for u in node.inputs()]
    if kind in INLINED:  # not inlined here (a list that is mutated, or a step requested explicitly)
        return TorchStep(kind, "", args, outputs, where, reason)
    if kind.startswith("prim::"):
        blocks = []
        for b in node.blocks():
            steps = [node_step(n, need, "", consts) for n in b.nodes() if n.kind() not in INLINED or
                     (n.kind() == "prim::ListConstruct" and ref_of(n.output(), lambda v: None)[0] == "v")]
            blocks.append({"inputs": [v.debugName() for v in b.inputs()], "steps": steps,
                           "outputs": [ref_of(v, need, consts) for v in b.outputs()]})
        return TorchStep(kind, "", args, outputs, where, reason, blocks=blocks)
    schema = frontend.node_schema(node)
    return TorchStep(kind, schema.overload_name if schema is not None else "", args, outputs, where, reason)

def attr_path(v) -> str | None:
    """Dotted attribute path of a GetAttr chain from ``self`` ('' for self), else None."""
    node = v.node()
    if node.kind() == "prim::Param":
        return ""
    if node.kind() != "prim::GetAttr":
        return None
    owner = attr_path(node.input())
    if owner is None:
        return None
    return f"{owner}.{node.s('name')}".lstrip(".")


def ref_of(v, need, consts=None) -> list:
    """A value as data: ``["c", const]``, ``["a", "path.to.param"]``, ``["l", [refs]]``,
    ``["t", [refs]]`` or ``["v", name]`` (computed by a step; ``need(v)`` is called for those)."""
    if consts and v in consts:
        return ["c", consts[v]]
    node = v.node()
    kind = node.kind()
    if kind == "prim::Constant":
        return ["c", frontend.constant_value(node)]
    if kind == "prim::GetAttr":
        path = attr_path(v)
        if path is not None:
            return ["a", path]
    if kind == "prim::ListConstruct" and not any(u.user.kind() in _LIST_MUTATIONS or list(u.user.blocks())
                                                   for u in v.uses()):
        return ["l", [ref_of(u, need, consts) for u in node.inputs()]]
    if kind == "prim::TupleConstruct":
        return ["t", [ref_of(u, need, consts) for u in node.inputs()]]
    need(v)
    return ["v", v.debugName()]


def python_op_name(node) -> str:
    try:
        module = node.s("module")
    except RuntimeError:
        module = ""
    return f"{module}.{node.pyname()}" if module else node.pyname()
