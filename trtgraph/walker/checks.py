"""Stage 3, per node: compare each output with the trace, and name the new layers.

:class:`NodeChecks` is a stage of its own: it holds the network, the layer-name counters, the
conversion context and the shape facts, and knows nothing of the walker. Emission calls
:meth:`NodeChecks.check` after each converted node and :meth:`NodeChecks.name_new_layers` after
every node."""
from __future__ import annotations

from .. import frontend
from ..dtypes import to_torch
from ..errors import (DynamicShapeError, HandlerError, ShapeMismatchError)
from ..dynamic import describe_shape
from ..network_state import is_trt_tensor


class NodeChecks:
    """Per-node checks and naming over one network (``names``: the counters of layer names used,
    shared by every conversion into that network)."""

    def __init__(self, network, names: dict, ctx, facts):
        self.network, self.names, self.ctx, self.facts = network, names, ctx, facts

    def name_new_layers(self, before: int, node) -> list:
        """Name the layers a node added after its module scope and op: 'layer1.0.conv1/convolution'."""
        names = []
        scope = frontend.scope_of(node) or "model"
        op = node.kind().split("::")[-1].strip("_") or node.kind()
        for i in range(before, self.network.num_layers):
            layer = self.network.get_layer(i)
            base = f"{scope}/{op}"
            n = self.names.get(base, 0)
            self.names[base] = n + 1
            name = base if n == 0 else f"{base}_{n}"
            layer.name = name
            for j in range(layer.num_outputs):
                t = layer.get_output(j)
                if not t.is_network_input:
                    t.name = name if layer.num_outputs == 1 else f"{name}:{j}"
            names.append(name)
        return names

    def check(self, node, outs, results, desc) -> list:
        """Compare each output with the trace: static dims equal, dynamic dims left -1 (a fixed
        size where the traces differ is a size baked into the network). A dim TensorRT lost track
        of (-1) that is the same in both traces is pinned with a reshape, so later handlers see it:
        returns the results, pinned ones replaced."""
        results = list(results)
        for k, (v, r) in enumerate(zip(outs, results)):
            tt = frontend.traced_type(v)
            if tt is None or not is_trt_tensor(r):
                continue
            try:
                got_shape = tuple(r.shape)
            except RuntimeError as exc:  # TensorRT's shape inference failed on what the handler built
                raise HandlerError(f"{desc}: TensorRT cannot infer the shape of output {k} ({exc}); "
                                   + ("the handler may not support dynamic dimensions here"
                                      if self.facts.dynamic else "the handler built an invalid layer")) from exc
            got_dtype = to_torch(r.dtype)
            want_dtype = self.ctx.logical_dtype(tt.dtype) if tt.dtype is not None else None
            axes = self.facts.axes(v)
            if tt.shape is not None and got_shape != tt.shape:
                if len(got_shape) != len(tt.shape):
                    raise ShapeMismatchError(f"{desc}: output {k} has TensorRT shape {got_shape}, "
                                             f"the trace recorded {tt.shape}")
                for i, (g, t) in enumerate(zip(got_shape, tt.shape)):
                    if i in axes and g >= 0:
                        other = self.facts.second_shapes[v][i]
                        raise DynamicShapeError(
                            f"{desc}: output {k} dimension {i} is fixed at {g} in the network, but it follows a "
                            f"dynamic input size (the traces give {t} and {other}): the trace baked a size "
                            "into this op's arguments; compute it from tensor.size() in forward, or make the "
                            "dimension static")
                    if i not in axes and g >= 0 and g != t:
                        raise ShapeMismatchError(f"{desc}: output {k} has TensorRT shape {got_shape}, "
                                                 f"the trace recorded {describe_shape(tt.shape, axes)}")
                if any(g < 0 and i not in axes for i, (g, t) in enumerate(zip(got_shape, tt.shape))):
                    dims = self.ctx.dims(r)
                    pinned = [t if i not in axes else d for i, (t, d) in enumerate(zip(tt.shape, dims))]
                    results[k] = self.ctx.reshape(r, pinned)
            if want_dtype is not None and got_dtype != want_dtype:
                raise ShapeMismatchError(f"{desc}: output {k} has TensorRT dtype {got_dtype}, "
                                         f"the trace recorded {tt.dtype} (expected {want_dtype} in this network)")
        return results
