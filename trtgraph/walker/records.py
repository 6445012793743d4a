"""What the walker produces: a record per node, and the Graph the seed API returns."""
from __future__ import annotations

from dataclasses import dataclass

from typing import Optional

import torch

from ..dtypes import to_torch

from ..context import ConversionContext


@dataclass
class NodeRecord:
    """What one aten node became: its outputs (network tensors or Python values)."""

    index: int
    kind: str
    scope: str
    source: str
    outputs: list  # resolved values, one per node output
    value_names: list  # jit debug names of the node outputs
    layers: list  # names of the layers the handler added
    folded: bool  # evaluated in torch (constant folding)
    fused: str = ""  # what else this node's layers compute (a batch norm folded into a convolution)

    def describe(self) -> str:
        where = f" in module '{self.scope}'" if self.scope else ""
        src = f" at {self.source}" if self.source else ""
        return f"node #{self.index} {self.kind}{where}{src}"


class Graph:
    """The result of ``torch2trt``: resolved outputs and a record of every node."""

    def __init__(self, network, torch_graph, input_tensors, keep, debug, float_dtype):
        self.network = network
        self.torch_graph = torch_graph  # the frontend's graph (TorchScript, or trtgraph.ir for export)
        self.ir = None  # the trtgraph.ir.Graph the walker converted
        self.input_tensors = input_tensors
        self.nodes: list[NodeRecord] = []
        self.outputs: list = []
        self.keep = keep  # numpy arrays TensorRT weights point to: alive until the engine is built
        self.debug = debug
        self.float_dtype = float_dtype
        self.example_inputs: list = []
        self.profile_shapes: dict = {}  # input name -> (min, opt, max) shapes
        self.fp32_nodes: list = []  # nodes the precision policy kept in float32 (fp16/bf16 networks)
        self.output_groups: list = []  # number of flattened tensors of each graph output
        self.output_keys: Optional[list] = None  # dict keys, when the model returns a dict of tensors
        self.structure = None  # trtgraph.pytree.Structure: the model's input/output nesting
        self.trace_warnings: list = []  # what strict=False accepted
        self.trace_findings: list = []  # every value the trace baked in (trtgraph.trace_checks.TraceFinding)
        self.pending_shape_guards: list = []  # range corners where the trace differs (checked numerically)
        self.shape_guard_checks: list = []  # what that numerical check found

    def get_resolved_outputs(self) -> list:
        """One list per output node of the traced graph, holding that output's network tensors
        (flattened): ``results[0][0]`` is the first tensor the model returns. ``graph.outputs`` is
        the flat list."""
        groups, k = [], 0
        for n in self.output_groups or [len(self.outputs)]:
            groups.append(list(self.outputs[k:k + n]))
            k += n
        return groups

    def mark_outputs(self, names: Optional[list[str]] = None, dtype: Optional[torch.dtype] = torch.float32):
        """Name and mark every output; floating outputs are cast to ``dtype`` first."""
        ctx = ConversionContext(self.network, self.float_dtype, self.keep)
        marked = []
        for i, out in enumerate(self.outputs):
            name = names[i] if names else f"output_{i}"
            t = ctx.as_tensor(out)
            if dtype is not None and to_torch(t.dtype).is_floating_point and to_torch(t.dtype) != dtype:
                t = ctx.cast(t, dtype)
            elif t.is_network_input or t.is_network_output:
                t = ctx.identity(t)
            t.name = name
            self.network.mark_output(t)
            marked.append(t)
        return marked

    def add_profile(self, builder, config):
        """Add the optimization profile of the dynamic inputs (if any) to a builder config."""
        if not self.profile_shapes:
            return None
        profile = builder.create_optimization_profile()
        for name, (lo, opt, hi) in self.profile_shapes.items():
            profile.set_shape(name, lo, opt, hi)
        config.add_optimization_profile(profile)
        return profile

    @property
    def layer_count(self) -> int:
        return self.network.num_layers
