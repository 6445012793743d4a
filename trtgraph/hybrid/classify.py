"""Which nodes of a traced graph TensorRT can take, and why the others run in torch.

Every node of the (inlined, traced) graph is one of:

- **glue**: ``prim::`` constants, lists, tuples, GetAttr chains; aten ops that do not depend on the
  model inputs (folded at conversion); and size arithmetic (``aten::size``, ``aten::Int``, int math).
  Glue is copied to whichever side needs it (each TensorRT segment, the torch program).
- **work**: every other node. It runs in TensorRT unless a reason sends it to torch: no handler, a
  handler's validator refuses its arguments, a random op, a custom ``autograd.Function``
  (``prim::PythonOp``), an op whose output shape depends on data (``nonzero``, boolean-mask
  indexing, ``unique``, ``torchvision::nms``, ...), ``torch_executed_ops``/``torch_executed_modules``.
"""
from __future__ import annotations

import re

import torch

from .. import frontend
from ..dynamic import ShapeFacts
from ..errors import InputError
from ..walker.analysis import Analysis
from ..walker.kinds import _SIZE_OPS, is_inplace
from ..walker.prims import _PRIM_HANDLERS
from .blocks import free_inputs

# ops whose output shape depends on the values of their inputs: always in torch
DATA_DEPENDENT_OPS = {
    "aten::nonzero", "aten::nonzero_numpy", "aten::argwhere", "aten::masked_select", "aten::unique",
    "aten::_unique", "aten::_unique2", "aten::unique_dim", "aten::unique_consecutive", "aten::bincount",
    "aten::repeat_interleave", "torchvision::nms", "torchvision::batched_nms",
}
# unpacking prims: they belong to the node that produced what they unpack
UNPACK_PRIMS = {"prim::ListUnpack", "prim::TupleUnpack", "prim::TupleIndex"}


def is_tensor_value(v) -> bool:
    return isinstance(v.type(), torch._C.TensorType)


def _bool_mask_index(node) -> bool:
    if node.kind() != "aten::index":
        return False
    ins = list(node.inputs())
    if len(ins) < 2 or ins[1].node().kind() != "prim::ListConstruct":
        return False
    for v in ins[1].node().inputs():
        tt = frontend.traced_type(v)
        if tt is not None and tt.dtype in (torch.bool, torch.uint8):
            return True
    return False


def data_dependent(node) -> bool:
    """Does this node's output shape depend on the values of its inputs?"""
    if list(node.blocks()):
        return True  # control flow: what it computes is known when it runs
    if node.kind() == "aten::where" and len(list(node.inputs())) == 1:
        return True  # torch.where(cond): the indices of the true elements
    return node.kind() in DATA_DEPENDENT_OPS or _bool_mask_index(node)


class Classification:
    """The result: ``glue`` nodes, ``reasons`` {work node: why it runs in torch} (TensorRT work
    nodes are absent), ``work`` (work nodes in graph order), ``global_problems``."""

    def __init__(self):
        self.glue: set = set()
        self.work: list = []
        self.reasons: dict = {}
        self.tainted: set = set()
        self.global_problems: list = []
        self.data_dependent: list = []

    def force_torch(self, node, reason: str, order: dict) -> None:
        """Send ``node`` to torch (a TensorRT segment could not convert it)."""
        if node not in self.work:
            self.glue.discard(node)
            self.work.append(node)
            self.work.sort(key=order.get)
        self.reasons[node] = reason


def classify(trace, graph, findings, facts: ShapeFacts, strict: bool, torch_executed_ops=(),
             torch_executed_modules=()) -> Classification:
    analyser = Analysis(graph, trace, facts, findings, strict)
    tainted = analyser.analyse(collect=True)
    out = Classification()
    out.tainted = tainted
    out.global_problems = list(analyser.global_problems) if strict else []
    ops = set(torch_executed_ops or ())
    modules = []
    for p in torch_executed_modules or ():
        try:
            modules.append(re.compile(p))
        except (re.error, TypeError) as exc:
            raise InputError(f"torch_executed_modules: {p!r} is not a valid regular expression: {exc}") from None
    sizes: set = set()  # values computed from sizes only (replicable glue)
    work: set = set()
    late: set = set()  # input-dependent values the analysis does not see (read inside prim::If/Loop blocks)
    for node in graph.nodes():
        kind = node.kind()
        ins, outs = list(node.inputs()), list(node.outputs())
        if list(node.blocks()) and any(v in tainted or v in late for v in free_inputs(node)) or any(v in late for v in ins):
            late.update(outs)
        if kind in _PRIM_HANDLERS:
            if kind in UNPACK_PRIMS and ins and ins[0].node() in work:
                continue  # part of the work node that produced the sequence
            out.glue.add(node)
            if all(v in sizes or (v not in tainted and v not in late) for v in ins):
                sizes.update(outs)
            continue
        reason = _torch_reason(node, kind, analyser, ops, modules)
        if reason is None and not analyser.needs_handler.get(node, True) and not any(v in late for v in ins):
            out.glue.add(node)  # folded constant
            continue
        if reason is None and _is_size_math(node, kind, ins, outs, sizes, tainted | late):
            out.glue.add(node)
            sizes.update(outs)
            continue
        out.work.append(node)
        work.add(node)
        if reason is not None:
            out.reasons[node] = reason
        if data_dependent(node):
            out.data_dependent.append(node)
    return out


def _is_size_math(node, kind, ins, outs, sizes, tainted) -> bool:
    if kind in _SIZE_OPS:
        return True
    small = all(not is_tensor_value(o) or (frontend.traced_type(o) and frontend.traced_type(o).shape == ())
                for o in outs)
    return small and all(v in sizes or v not in tainted for v in ins)


def _torch_reason(node, kind, analyser, ops, modules) -> str | None:
    if kind == "prim::PythonOp":
        return f"custom autograd.Function {node.pyname()} (Python code TensorRT cannot see)"
    if kind.startswith("prim::"):
        return f"{kind}: Python control flow in scripted code (TorchScript blocks have no TensorRT form here)"
    if data_dependent(node):
        what = "indexing with a boolean mask" if kind == "aten::index" else kind
        return f"{what}: its output shape depends on the input data"
    if kind in ops or (is_inplace(kind) and kind[:-1] in ops):
        return f"{kind} is in torch_executed_ops"
    scope = frontend.scope_of(node)
    parts = scope.split(".") if scope else []
    for p in modules:  # the module or one of the modules it is inside
        for k in range(len(parts), 0, -1):
            if p.fullmatch(".".join(parts[:k])):
                return f"module '{scope}' is in torch_executed_modules ({p.pattern!r})"
    problems = analyser.node_problems.get(node)
    if problems:
        return "; ".join(problems)
    return None
