"""Partition a traced graph into TensorRT segments and torch steps (see ``trtgraph.hybrid``).

Work nodes (``classify``) form a DAG through the glue between them. TensorRT nodes are grouped into
segments that are **maximal and acyclic**: two segments merge (and each edge between TensorRT nodes
is tried first, in graph order) only when no path leaves one of them and reaches the other through
anything else, so the contracted graph stays a DAG and each segment runs once, all inputs ready.
Segments of fewer than ``min_block_size`` layer-emitting nodes go back to torch, as do nodes that
would pass a non-tensor value (a Python list or number) across the boundary; then segments are
formed again, until nothing changes.
"""
from __future__ import annotations

import networkx as nx

from ..errors import TraceError
from .blocks import free_inputs
from .classify import UNPACK_PRIMS, Classification, is_tensor_value
# the program's data types and references live in .program (re-exported here)
from .program import (INLINED, _LIST_MUTATIONS, _SIZE_READS, Partition, SegmentStep, TorchStep,  # noqa: F401
                      attr_path, node_step, python_op_name, ref_of, static_sizes)

# ops that emit no layer (identity in the network): not counted for min_block_size
_NO_LAYER_OPS = {"aten::contiguous", "aten::detach", "aten::alias", "aten::dropout", "aten::feature_dropout",
                 "aten::clone", "aten::to", "aten::type_as", "aten::view_as"}


# --------------------------------------------------------------------------- partitioning

class _Planner:
    def __init__(self, graph, cls: Classification, min_block_size: int, consts: dict):
        self.consts = consts
        self.g = graph
        self.cls = cls
        self.min_block_size = min_block_size
        self.order = {n: i for i, n in enumerate(graph.nodes())}
        self.work = list(cls.work)
        self.work_set = set(self.work)
        self.unit_of: dict = {}  # node (work or attached unpack) -> its work node
        for n in graph.nodes():
            if n in self.work_set:
                self.unit_of[n] = n
            elif n.kind() in UNPACK_PRIMS and n not in cls.glue:
                self.unit_of[n] = self.unit_of[n.inputsAt(0).node()]
        self.members: dict = {n: [] for n in self.work}
        for n, w in self.unit_of.items():
            self.members[w].append(n)
        self.params = list(graph.inputs())
        self._eff: dict = {}
        self.dag = nx.DiGraph()
        self.dag.add_nodes_from(self.work)
        for n in self.work:
            for m in self.members[n]:
                for v in free_inputs(m):
                    for p in self.producers(v):
                        if p is not n:
                            self.dag.add_edge(p, n)

    def producers(self, v) -> frozenset:
        """Work nodes a value depends on, through glue."""
        if v in self._eff:
            return self._eff[v]
        node = v.node()
        if v in self.consts:
            out = frozenset()
        elif node in self.unit_of:
            out = frozenset([self.unit_of[node]])
        elif node.kind() == "prim::Param":
            out = frozenset()
        else:
            acc: set = set()
            for u in free_inputs(node):
                acc |= self.producers(u)
            out = frozenset(acc)
        self._eff[v] = out
        return out

    # ------------------------------------------------------------ segments

    def form_segments(self, reasons: dict) -> list:
        """Maximal acyclic groups of TensorRT work nodes (lists in graph order)."""
        trt = [n for n in self.work if n not in reasons]
        seg_of = {n: ("s", i) for i, n in enumerate(trt)}
        c = nx.DiGraph()
        key = {n: seg_of.get(n, ("n", self.order[n])) for n in self.work}
        c.add_nodes_from(set(key.values()))
        for u, v in self.dag.edges():
            if key[u] != key[v]:
                c.add_edge(key[u], key[v])
        groups = {("s", i): [n] for i, n in enumerate(trt)}

        def merge(a, b) -> bool:
            if a == b:
                return False
            direct = [(x, y) for x, y in ((a, b), (b, a)) if c.has_edge(x, y)]
            c.remove_edges_from(direct)
            cyclic = nx.has_path(c, a, b) or nx.has_path(c, b, a)
            c.add_edges_from(direct)
            if cyclic:
                return False
            nx.contracted_nodes(c, a, b, self_loops=False, copy=False)
            groups[a].extend(groups.pop(b))
            for n in groups[a]:
                seg_of[n] = a
            return True

        for u, v in sorted(self.dag.edges(), key=lambda e: (self.order[e[1]], self.order[e[0]])):
            if u in seg_of and v in seg_of:
                merge(seg_of[u], seg_of[v])
        changed = True
        while changed:  # independent segments (parallel branches) merge too when no path forbids it
            changed = False
            ids = sorted(groups, key=lambda s: min(self.order[n] for n in groups[s]))
            for i, a in enumerate(ids):
                for b in ids[i + 1:]:
                    if a in groups and b in groups and merge(a, b):
                        changed = True
        return [sorted(g, key=self.order.get) for g in sorted(groups.values(), key=lambda g: min(map(self.order.get, g)))]

    def closure(self, units: set):
        """Nodes a segment clones (its units and the glue they read) and its boundary inputs."""
        nodes, inputs, seen = set(), [], set()

        def visit(v):
            if v in seen:
                return
            seen.add(v)
            node = v.node()
            if node.kind() == "prim::Param":
                if v is not self.params[0]:
                    inputs.append(v)
                return
            if node in self.unit_of:
                if self.unit_of[node] not in units:
                    inputs.append(v)
                return
            if v in self.consts:  # a static size: a constant in the segment
                nodes.add(node)
                return
            if node not in nodes:
                nodes.add(node)
                for u in free_inputs(node):
                    visit(u)

        for w in units:
            for m in self.members[w]:
                nodes.add(m)
        for w in units:
            for m in self.members[w]:
                for u in free_inputs(m):
                    visit(u)
        inputs.sort(key=lambda v: (v.node().kind() != "prim::Param", self.order.get(v.node(), -1),
                                   v.offset() if hasattr(v, "offset") else 0))
        return sorted(nodes, key=self.order.get), inputs

    def layer_nodes(self, group) -> int:
        return sum(1 for n in group if n.kind() not in _NO_LAYER_OPS)

    def plan(self) -> Partition:
        reasons = dict(self.cls.reasons)
        for _ in range(len(self.work) + 1):
            groups = self.form_segments(reasons)
            demote = {}
            for grp in groups:
                k = self.layer_nodes(grp)
                if k < self.min_block_size:
                    for n in grp:
                        demote[n] = (f"in a TensorRT segment of {k} node(s), fewer than "
                                     f"min_block_size={self.min_block_size}")
            if not demote:
                demote = self._non_tensor_crossings(groups, reasons)
            if not demote:
                part = self._program(groups, reasons)
                for seg in part.segments:  # a list or a number leaving a segment: its producer runs in torch
                    for v in seg["outputs"]:
                        if not is_tensor_value(v):
                            demote[self.unit_of[v.node()]] = (f"its output %{v.debugName()} is not a tensor "
                                                              "and is used outside its TensorRT segment")
                if not demote:
                    return part
            reasons.update(demote)
        raise TraceError("trtgraph.hybrid: partitioning did not settle")  # pragma: no cover

    def _non_tensor_crossings(self, groups, reasons) -> dict:
        """TensorRT nodes that would read or export a non-tensor value (a list, a Python number
        computed from data) across the boundary: they run in torch."""
        demote = {}
        for k, grp in enumerate(groups):
            _, inputs = self.closure(set(grp))
            for v in inputs:
                if not is_tensor_value(v):
                    for n in grp:  # the nodes reading it
                        if any(v in set(free_inputs(m)) or v in self._reads(m) for m in self.members[n]):
                            demote[n] = f"reads %{v.debugName()}, a non-tensor value computed in torch"
        return demote

    def _reads(self, node) -> set:
        """Values a node reads through glue (the boundary values its glue closure reaches)."""
        out, stack, seen = set(), list(free_inputs(node)), set()
        while stack:
            v = stack.pop()
            if v in seen:
                continue
            seen.add(v)
            out.add(v)
            p = v.node()
            if p in self.cls.glue:
                stack.extend(p.inputs())
        return out

    # ------------------------------------------------------------ the program

    def _program(self, groups, reasons) -> Partition:
        seg_key = {}
        segments = []
        for k, grp in enumerate(groups):
            nodes, inputs = self.closure(set(grp))
            step = SegmentStep(k, [v.debugName() for v in inputs])
            segments.append({"units": grp, "nodes": nodes, "inputs": inputs, "step": step})
            for n in grp:
                seg_key[n] = ("s", k)
        c = nx.DiGraph()
        key = {n: seg_key.get(n, ("n", self.order[n])) for n in self.work}
        first = {}
        for n in self.work:
            first[key[n]] = min(first.get(key[n], 1 << 60), self.order[n])
        c.add_nodes_from(first)
        for u, v in self.dag.edges():
            if key[u] != key[v]:
                c.add_edge(key[u], key[v])
        if not nx.is_directed_acyclic_graph(c):  # pragma: no cover - the merge keeps it acyclic
            raise TraceError("trtgraph.hybrid: the segments form a cycle (a bug in the partitioner)")
        steps: list = []
        done: set = set()  # glue nodes already emitted as torch steps
        needed: set = set()  # values read by torch steps (segment outputs among them)

        def need(v):
            needed.add(v)
            node = v.node()
            if node in self.cls.glue and node not in done:
                done.add(node)
                steps.append(node_step(node, need, "", self.consts))

        by_index = {("s", k): s for k, s in enumerate(segments)}
        for item in nx.lexicographical_topological_sort(c, key=lambda x: first[x]):
            if item[0] == "s":
                seg = by_index[item]
                needed.update(seg["inputs"])
                steps.append(seg["step"])
                continue
            node = next(n for n in self.work if self.order[n] == item[1])
            for m in self.members[node]:
                steps.append(node_step(m, need, reasons.get(node, "") if m is node else "", self.consts))
        outputs = [ref_of(v, need, self.consts) for v in self.g.outputs()]
        for seg in segments:
            units = seg["units"]
            produced = [v for n in seg["nodes"] if self.unit_of.get(n) in set(units) for v in n.outputs()]
            seg["outputs"] = [v for v in produced if v in needed]
            seg["step"].outputs = [v.debugName() for v in seg["outputs"]]
        torch_nodes = [n for n in self.work if n in reasons]
        return Partition(segments, steps, outputs, [v.debugName() for v in self.params[1:]], reasons, torch_nodes)

def partition(graph, cls: Classification, min_block_size: int, facts) -> Partition:
    consts = static_sizes(graph, cls.glue, facts)
    part = _Planner(graph, cls, min_block_size, consts).plan()
    part.consts = consts
    return part
