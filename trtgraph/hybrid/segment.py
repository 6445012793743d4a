"""One TensorRT segment: its nodes cloned into a graph of their own, converted by the walker into a
normal :class:`trtgraph.Conversion`.

The segment graph's first input is the traced module (``self``), so GetAttr chains, scopes,
source lines and the walker work as for a whole model; the other inputs are the values the
segment reads from outside (model inputs, torch results, other segments' outputs); its outputs
are the values used outside. Dimensions that change with the data (after ``nonzero``, NMS, mask
indexing) come from comparing two traces made with different input data: those inputs get a
dynamic profile (min 0: a count may be zero; opt the example, max ``dynamic_max``).
"""
from __future__ import annotations

import functools
import re
import time

import torch

from .. import backend, frontend
from ..api import Conversion, check_names
from ..context import ConversionContext
from ..core import _Walker
from ..dtypes import to_trt
from ..dynamic import ShapeFacts
from ..errors import InputError, TrtGraphError
from ..network_state import _current_state, is_trt_tensor, trt_network
from ..precision import as_policy
from ..walker.records import Graph
from .interp import run_program
from .partition import INLINED, node_step, ref_of


def tensor_name(value_name: str) -> str:
    """A TensorRT tensor name for a graph value (debug names may hold dots)."""
    return "v_" + re.sub(r"[^0-9A-Za-z_]", "_", value_name)


def attr_getter(root):
    @functools.cache
    def get(path: str):
        obj = root
        for part in path.split(".") if path else []:
            obj = getattr(obj, part)
        return obj.detach() if isinstance(obj, torch.Tensor) else obj
    return get


class SegmentEager(torch.nn.Module):
    """A segment computed with torch ops (``Conversion.verify``'s reference, and the fallback when
    a run's shapes are outside the segment's profile)."""

    def __init__(self, model, steps, input_names, outputs):
        super().__init__()
        self.model = model
        self.steps, self.input_names, self.outputs = steps, list(input_names), outputs
        self.python_functions: dict = {}

    def forward(self, *inputs):
        attr = attr_getter(self.model)
        return run_program(self.steps, dict(zip(self.input_names, inputs)), attr, None, self.python_functions,
                           self.outputs)


def eager_steps(nodes, need_outputs, consts) -> tuple:
    steps = []
    for node in nodes:
        if any(o in consts for o in node.outputs()):
            continue  # a static size: a constant in the steps that read it
        if node.kind() in INLINED and ref_of(node.output(), lambda v: None)[0] != "v":
            continue
        steps.append(node_step(node, lambda v: None, "", consts))
    return steps, [["v", v.debugName()] for v in need_outputs]


def segment_graph(graph, nodes, inputs, outputs, consts=None):
    """Clone ``nodes`` into a new graph: inputs (self, then ``inputs``), outputs ``outputs``."""
    sg = torch._C.Graph()
    params = list(graph.inputs())
    vmap = {}
    s = sg.addInput("self")
    s.setType(params[0].type())
    vmap[params[0]] = s
    for v in inputs:
        nv = sg.addInput("in_" + re.sub(r"\W", "_", v.debugName()))
        nv.setType(v.type())
        vmap[v] = nv
    for node in nodes:
        if consts and node.outputsSize() == 1 and node.output() in consts:
            vmap[node.output()] = sg.insertConstant(consts[node.output()])
            continue
        new = sg.createClone(node, lambda v: vmap[v])
        sg.insertNode(new)
        for a, b in zip(node.outputs(), new.outputs()):
            b.setType(a.type())
            vmap[a] = b
    for v in outputs:
        sg.registerOutput(vmap[v])
    return sg, vmap


class SegmentNodeError(TrtGraphError):
    """A node of a TensorRT segment could not be converted (``node``: the node of the model's graph)."""

    def __init__(self, node, exc):
        super().__init__(str(exc))
        self.node, self.error = node, exc


class _SegmentWalker(_Walker):
    """The walker, naming the node being converted (a segment whose node fails is split again)."""

    current = None  # the node being converted (named when a conversion fails)

    def _convert(self, index, node, needs_handler):
        self.current = node
        return super()._convert(index, node, needs_handler)


def convert_segment(model, trace, graph, seg: dict, facts: ShapeFacts, names: dict, precision: str,
                    precision_policy, fold_batch_norm: bool, strict: bool, dynamic_max: int,
                    verbose: bool = False, consts=None, bounds=None) -> Conversion:
    """Build the segment's network; ``names`` maps model-input value names to the user's names.
    ``bounds``: (lowest, highest) shape of values with dynamic dims, for the profiles (see
    :func:`trtgraph.hybrid.shapes.profile_bounds`); a dynamic dim without one ranges from 0 to
    ``dynamic_max``."""
    from ..dtypes import PRECISIONS

    t0 = time.perf_counter()
    inputs, outputs = seg["inputs"], seg["outputs"]
    consts = consts or {}
    sg, vmap = segment_graph(graph, seg["nodes"], inputs, outputs, consts)
    sfacts = ShapeFacts()
    for v, nv in vmap.items():
        if v in facts.dynamic:
            sfacts.dynamic[nv] = facts.dynamic[v]
            sfacts.second_shapes[nv] = facts.second_shapes[v]
        if v in facts.baked:
            sfacts.baked[nv] = facts.baked[v]
    in_names = [names.get(v.debugName(), tensor_name(v.debugName())) for v in inputs]
    out_names = [tensor_name(v.debugName()) for v in outputs]
    check_names(in_names, out_names)
    float_dtype = PRECISIONS[precision]
    builder, network = backend.create_builder_and_network()
    profiles = {}
    with trt_network(network):
        state = _current_state()
        ctx = ConversionContext(network, float_dtype, state.keep)
        net_inputs, examples = [], []
        for v, name in zip(inputs, in_names):
            tt = frontend.traced_type(v)
            if tt is None or tt.shape is None or tt.dtype is None:
                raise InputError(f"segment input %{v.debugName()} has no traced shape/dtype")
            axes = facts.axes(v)
            shape = tuple(-1 if i in axes else d for i, d in enumerate(tt.shape))
            if axes:
                lo = tuple(0 if i in axes else d for i, d in enumerate(tt.shape))  # a count may be zero
                hi = tuple(max(dynamic_max, d) if i in axes else d for i, d in enumerate(tt.shape))
                lo, hi = (bounds or {}).get(v, (lo, hi))
                opt = tuple(min(max(d, 1, a), b) for d, a, b in zip(tt.shape, lo, hi))
                profiles[name] = (lo, opt, hi)
            t = network.add_input(name, to_trt(tt.dtype), shape)
            if tt.dtype.is_floating_point and float_dtype != tt.dtype:
                t = ctx.cast(t, float_dtype)
            net_inputs.append(t)
            examples.append(torch.zeros(tt.shape, dtype=tt.dtype))
        g = Graph(network, sg, net_inputs, state.keep, state.debug, float_dtype)
        g.example_inputs = examples
        g.trace = trace
        g.profile_shapes = profiles
        walker = _SegmentWalker(state, trace, sg, verbose, None, float_dtype, None, sfacts, as_policy(precision_policy),
                         fold_batch_norm, [], strict)
        try:
            outs, records = walker.run(net_inputs)
        except TrtGraphError as exc:
            back = {vmap[o].node(): o.node() for o in vmap if o.node() in set(seg["nodes"])}
            node = back.get(getattr(walker.current, "origin", walker.current))
            if node is None:
                raise
            raise SegmentNodeError(node, exc) from exc
        g.nodes = records
        g.fp32_nodes = list(walker.fp32_nodes)
        g.outputs = [o if is_trt_tensor(o) else ctx.constant(o) for o in outs]
        g.output_groups = [1] * len(outs)
        g.mark_outputs(out_names)  # float outputs in float32, as the torch ops after them expect
    steps, out_refs = eager_steps(seg["nodes"], outputs, consts)
    eager = SegmentEager(model, steps, [v.debugName() for v in inputs], out_refs)
    conv = Conversion(eager, builder, network, g, precision, in_names, out_names, time.perf_counter() - t0)
    conv.segment_inputs = [v.debugName() for v in inputs]
    conv.segment_outputs = [v.debugName() for v in outputs]
    return conv
