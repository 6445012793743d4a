"""Torch debug mode: the handlers' network calls, executed with plain torch.

``TorchNetwork`` implements the part of ``INetworkDefinition`` the handlers use. Each ``add_*``
records a layer with the same attribute names TensorRT's layers have; values are computed by the
reference evaluator's layer functions (``trtgraph.reference``), so the debug mode and the
evaluation of a real network share one meaning of every layer. Shapes are computed lazily from
the example inputs when a handler asks for ``tensor.shape``.

    with torch_network():
        trace, graph = torch2trt(model, [x])
    outputs = debug_call_graph(graph, [x])            # every node's output, in torch
    report = compare_with_eager(graph, [x])           # first diverging node, with its source line
"""
from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass
from typing import Optional

import torch

from . import frontend
from .backend import trt
from .dtypes import to_trt
from .errors import EvaluationError, InputError, TrtGraphError
from .network_state import _push_debug_network, _stack, is_trt_tensor, register_tensor_type


class DebugTensor:
    """A tensor of a :class:`TorchNetwork`; ``shape``/``dtype`` are computed on demand."""

    def __init__(self, network, producer: Optional["DebugLayer"], index: int, name: str):
        self._network = network
        self._producer = producer
        self._index = index
        self._name = name
        self.is_network_input = producer is None
        self.is_network_output = False

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, new: str):
        self._network._rename(self, new)

    def _value(self) -> torch.Tensor:
        return self._network._value_of(self)

    @property
    def shape(self) -> tuple:
        return tuple(self._value().shape)

    @property
    def dtype(self):
        """TensorRT's output-type rules (the evaluator reads this while computing the value)."""
        if self.is_network_input:
            return to_trt(self._network._examples[self._name].dtype)
        return _output_dtype(self._producer, self._index)

    def __repr__(self):
        return f"DebugTensor({self._name!r})"


_BOOL_OPS = {"EQUAL", "GREATER", "LESS", "AND", "OR", "XOR"}


def _output_dtype(layer, index: int):
    """The dtype TensorRT gives output ``index`` of ``layer`` (strongly typed rules)."""
    t = trt()
    kind = layer.type.name
    if kind == "CAST":
        return layer.to_type
    if kind == "CONSTANT":
        w = layer.weights
        return to_trt(w.dtype) if isinstance(w, torch.Tensor) else w.dtype if hasattr(w, "dtype") and \
            not hasattr(w, "ndim") else _numpy_trt_dtype(w)
    if kind == "SHAPE":
        return t.int64
    if kind == "ELEMENTWISE" and layer.op.name in _BOOL_OPS and layer.op.name not in ("AND", "OR", "XOR"):
        return t.bool
    if kind == "UNARY" and layer.op.name in ("ISINF", "ISNAN"):
        return t.bool
    if kind == "TOPK" and index == 1:
        return getattr(layer, "indices_type", None) or t.int32
    if kind == "SELECT":
        return layer.get_input(1).dtype
    if kind in ("FILL", "QUANTIZE", "DEQUANTIZE"):
        return layer.to_type
    return layer.get_input(0).dtype


def _numpy_trt_dtype(array):
    import numpy as np

    return to_trt(torch.from_numpy(np.zeros(0, dtype=array.dtype)).dtype)


register_tensor_type(DebugTensor)


class DebugLayer:
    """A recorded layer: its LayerType, inputs, outputs and TensorRT-named attributes."""

    def __init__(self, network, index: int, type_name: str, inputs: list, num_outputs: int = 1, **attrs):
        object.__setattr__(self, "_network", network)
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_inputs", list(inputs))
        object.__setattr__(self, "type", getattr(trt().LayerType, type_name))
        object.__setattr__(self, "name", f"({type_name.lower()} {index})")
        outs = [DebugTensor(network, self, i, f"({type_name.lower()} {index}):{i}") for i in range(num_outputs)]
        object.__setattr__(self, "_outputs", outs)
        for k, v in attrs.items():
            object.__setattr__(self, k, v)

    def __setattr__(self, key, value):
        object.__setattr__(self, key, value)
        if key != "name":
            self._network._invalidate(self._index)

    @property
    def num_inputs(self) -> int:
        return len(self._inputs)

    @property
    def num_outputs(self) -> int:
        return len(self._outputs)

    def get_input(self, i: int):
        return self._inputs[i] if i < len(self._inputs) else None

    def set_input(self, i: int, tensor):
        while len(self._inputs) <= i:
            self._inputs.append(None)
        self._inputs[i] = tensor
        self._network._invalidate(self._index)

    def get_output(self, i: int):
        return self._outputs[i]


class TorchNetwork:
    """The subset of ``INetworkDefinition`` that handlers call, recorded for torch execution."""

    def __init__(self):
        self._layers: list[DebugLayer] = []
        self._inputs: list[DebugTensor] = []
        self._outputs: list[DebugTensor] = []
        self._examples: dict[str, torch.Tensor] = {}
        self._values: dict[str, torch.Tensor] = {}
        self._done = -1  # index of the last layer whose outputs are in _values

    # ------------------------------------------------------------------ network API
    @property
    def num_layers(self) -> int:
        return len(self._layers)

    def get_layer(self, i: int) -> DebugLayer:
        return self._layers[i]

    @property
    def num_inputs(self) -> int:
        return len(self._inputs)

    def get_input(self, i: int) -> DebugTensor:
        return self._inputs[i]

    @property
    def num_outputs(self) -> int:
        return len(self._outputs)

    def get_output(self, i: int) -> DebugTensor:
        return self._outputs[i]

    def add_input(self, name, dtype, shape):
        t = DebugTensor(self, None, 0, name)
        self._inputs.append(t)
        from .dtypes import to_torch

        self._examples[name] = torch.zeros(tuple(shape), dtype=to_torch(dtype))
        return t

    def set_example(self, name: str, value: torch.Tensor):
        self._examples[name] = value
        self._invalidate(0)

    def mark_output(self, tensor):
        tensor.is_network_output = True
        self._outputs.append(tensor)

    def _add(self, type_name, inputs, num_outputs=1, **attrs):
        layer = DebugLayer(self, len(self._layers), type_name, inputs, num_outputs, **attrs)
        self._layers.append(layer)
        return layer

    def add_convolution_nd(self, input, num_output_maps, kernel_shape, kernel, bias=None):
        return self._add("CONVOLUTION", [input], num_output_maps=num_output_maps,
                         kernel_size_nd=tuple(kernel_shape), kernel=kernel, bias=bias)

    def add_deconvolution_nd(self, input, num_output_maps, kernel_shape, kernel, bias=None):
        return self._add("DECONVOLUTION", [input], num_output_maps=num_output_maps,
                         kernel_size_nd=tuple(kernel_shape), kernel=kernel, bias=bias)

    def add_pooling_nd(self, input, type, window_size):
        return self._add("POOLING", [input], pooling_type=type, window_size_nd=tuple(window_size))

    def add_activation(self, input, type):
        return self._add("ACTIVATION", [input], activation_type=type, alpha=0.0, beta=0.0)

    def add_elementwise(self, input1, input2, op):
        return self._add("ELEMENTWISE", [input1, input2], op=op)

    def add_unary(self, input, op):
        return self._add("UNARY", [input], op=op)

    def add_shuffle(self, input):
        return self._add("SHUFFLE", [input])

    def add_concatenation(self, inputs):
        return self._add("CONCATENATION", list(inputs), axis=0)

    def add_constant(self, shape, weights):
        return self._add("CONSTANT", [], shape=tuple(shape), weights=weights)

    def add_matrix_multiply(self, input0, op0, input1, op1):
        return self._add("MATRIX_MULTIPLY", [input0, input1], op0=op0, op1=op1)

    def add_reduce(self, input, op, axes, keep_dims):
        return self._add("REDUCE", [input], op=op, axes=axes, keep_dims=keep_dims)

    def add_softmax(self, input):
        return self._add("SOFTMAX", [input])

    def add_cast(self, input, to_type):
        return self._add("CAST", [input], to_type=to_type)

    def add_slice(self, input, start, shape, stride):
        return self._add("SLICE", [input], start=tuple(start), shape=tuple(shape), stride=tuple(stride))

    def add_identity(self, input):
        return self._add("IDENTITY", [input])

    def add_quantize(self, input, scale, output_type):
        return self._add("QUANTIZE", [input, scale], to_type=output_type, axis=0)

    def add_dequantize(self, input, scale, output_type):
        return self._add("DEQUANTIZE", [input, scale], to_type=output_type, axis=0)

    def add_select(self, condition, then_input, else_input):
        return self._add("SELECT", [condition, then_input, else_input])

    def add_gather(self, input, indices, axis):
        return self._add("GATHER", [input, indices], axis=axis, mode=trt().GatherMode.DEFAULT, num_elementwise_dims=0)

    def add_shape(self, input):
        return self._add("SHAPE", [input])

    def add_normalization(self, input, scale, bias, axesMask):
        return self._add("NORMALIZATION", [input, scale, bias], axes=axesMask, epsilon=1e-5, num_groups=1)

    def add_parametric_relu(self, input, slopes):
        return self._add("PARAMETRIC_RELU", [input, slopes])

    def add_padding_nd(self, input, pre_padding, post_padding):
        return self._add("PADDING", [input], pre_padding_nd=tuple(pre_padding), post_padding_nd=tuple(post_padding))

    def add_resize(self, input):
        return self._add("RESIZE", [input])

    def add_topk(self, input, op, k, axes):
        return self._add("TOPK", [input], 2, op=op, k=k, axes=axes)

    def add_cumulative(self, input, axis, op, exclusive, reverse):
        return self._add("CUMULATIVE", [input, axis], op=op, exclusive=exclusive, reverse=reverse)

    def add_einsum(self, inputs, equation):
        return self._add("EINSUM", list(inputs), equation=equation)

    def add_scatter(self, data, indices, updates, mode):
        return self._add("SCATTER", [data, indices, updates], mode=mode, axis=0)

    def add_one_hot(self, indices, values, depth, axis):
        return self._add("ONE_HOT", [indices, values, depth], axis=axis)

    def __getattr__(self, name):
        if name.startswith("add_"):
            raise TrtGraphError(f"the torch debug network does not implement {name}; "
                                "use trt_network with a real TensorRT network for this handler")
        raise AttributeError(name)

    # ------------------------------------------------------------------ evaluation
    def _invalidate(self, index: int):
        if index <= self._done:
            for layer in self._layers[index:self._done + 1]:
                for t in layer._outputs:
                    self._values.pop(t._name, None)
            self._done = index - 1

    def _rename(self, tensor: DebugTensor, new: str):
        if tensor._name in self._values:
            self._values[new] = self._values.pop(tensor._name)
        if tensor.is_network_input and tensor._name in self._examples:
            self._examples[new] = self._examples.pop(tensor._name)
        tensor._name = new

    def _value_of(self, tensor: DebugTensor) -> torch.Tensor:
        if tensor.is_network_input:
            return self._examples[tensor._name]
        if tensor._name not in self._values:
            self._run_to(tensor._producer._index)
        return self._values[tensor._name]

    def _run_to(self, index: int):
        from .reference.evaluator import run_layer

        for t in self._inputs:
            self._values[t._name] = self._examples[t._name]
        for layer in self._layers[self._done + 1:index + 1]:
            run_layer(layer, layer.type.name, self._values, check=False)
            self._done = layer._index

    def run(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Evaluate the whole recorded network on ``inputs``; every tensor's value by name."""
        from .reference.evaluator import run_layer

        values = {}
        for t in self._inputs:
            if t._name not in inputs:
                raise InputError(f"debug network input {t._name!r} is missing")
            values[t._name] = inputs[t._name]
        for layer in self._layers:
            run_layer(layer, layer.type.name, values, check=False)
        return values


@contextlib.contextmanager
def torch_network():
    """Run ``torch2trt`` against a :class:`TorchNetwork` instead of a TensorRT network."""

    network = TorchNetwork()
    _push_debug_network(network)
    try:
        yield network
    finally:
        _stack().pop()


# ---------------------------------------------------------------------- running and comparing

def _input_dict(graph, inputs) -> dict:
    if isinstance(inputs, torch.Tensor):
        inputs = [inputs]
    names = [graph.network.get_input(i).name for i in range(graph.network.num_inputs)]
    if len(inputs) != len(names):
        raise InputError(f"{len(inputs)} inputs given, the network takes {len(names)} ({', '.join(names)})")
    return dict(zip(names, inputs))


def network_values(graph, inputs) -> dict:
    """Every tensor's value (by name) of the graph's network, torch debug or real TensorRT."""
    feed = _input_dict(graph, inputs)
    if isinstance(graph.network, TorchNetwork):
        return graph.network.run(feed)
    from .reference import evaluate

    return evaluate(graph.network, feed, all_tensors=True)


def _resolve(value, values):
    if hasattr(value, "_network") or _is_real_tensor(value):
        return values.get(value.name)
    if isinstance(value, (list, tuple)):
        return type(value)(_resolve(v, values) for v in value)
    return value


def _is_real_tensor(value) -> bool:

    return is_trt_tensor(value)


def debug_call_graph(graph, inputs) -> list:
    """Run the converted network in torch on ``inputs``; returns ``[(NodeRecord, outputs)]``
    for every aten node, outputs as torch tensors (or the Python values folded at conversion)."""
    values = network_values(graph, inputs)
    return [(rec, [_resolve(o, values) for o in rec.outputs]) for rec in graph.nodes]


def eager_node_values(graph, inputs, model=None) -> dict:
    """Run the traced graph node by node with plain torch ops: jit value name -> torch value."""
    if isinstance(inputs, torch.Tensor):
        inputs = [inputs]
    g = graph.torch_graph
    env = {}
    g_inputs = list(g.inputs())
    env[g_inputs[0]] = graph.trace if hasattr(graph, "trace") else model
    for v, x in zip(g_inputs[1:], inputs):
        env[v] = x
    out = {}
    for node in g.nodes():
        kind = node.kind()
        if kind == "prim::Constant":
            env[node.output()] = frontend.constant_value(node)
        elif kind == "prim::GetAttr":
            env[node.output()] = getattr(env[node.input()], node.s("name"))
        elif kind == "prim::ListConstruct":
            env[node.output()] = [env[v] for v in node.inputs()]
        elif kind == "prim::TupleConstruct":
            env[node.output()] = tuple(env[v] for v in node.inputs())
        elif kind in ("prim::ListUnpack", "prim::TupleUnpack"):
            for v, x in zip(node.outputs(), env[node.input()]):
                env[v] = x
        elif kind == "prim::NumToTensor":
            env[node.output()] = torch.tensor(env[node.input()])
        elif kind == "prim::DictConstruct":
            vals = [env[v] for v in node.inputs()]
            env[node.output()] = dict(zip(vals[0::2], vals[1::2]))
        elif kind == "prim::TupleIndex":
            seq, idx = (env[v] for v in node.inputs())
            env[node.output()] = seq[idx]
        else:
            res = frontend.run_node_in_torch(node, [env[v] for v in node.inputs()])
            outs = list(node.outputs())
            res = [res] if len(outs) == 1 else list(res)
            for v, r in zip(outs, res):
                env[v] = r
                # in-place ops later in the graph would overwrite it: keep a snapshot
                out[v.debugName()] = r.clone() if isinstance(r, torch.Tensor) else r
    return out


@dataclass
class NodeDiff:
    record: object
    output: int
    max_abs: float
    max_rel: float

    def __str__(self):
        return (f"{self.record.describe()} output {self.output}: max abs error {self.max_abs:.3g}, "
                f"max rel error {self.max_rel:.3g}")


def errors(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """Max absolute error, and max absolute error relative to the reference's max magnitude.

    NaN and inf in ``a`` that match ``b`` (NaN at the same positions, inf of the same sign) count
    as equal; any other NaN/inf on either side is an infinite error.
    """
    a, b = a.detach().double(), b.detach().double()
    if a.shape != b.shape:
        return float("inf"), float("inf")  # a wrong shape is never within tolerance
    if a.numel() == 0:
        return 0.0, 0.0
    special_a, special_b = ~torch.isfinite(a), ~torch.isfinite(b)
    matched = (torch.isnan(a) & torch.isnan(b)) | (torch.isinf(a) & torch.isinf(b) & (torch.sign(a) == torch.sign(b)))
    if bool(((special_a | special_b) & ~matched).any()):
        return float("inf"), float("inf")
    finite = ~matched
    if not bool(finite.any()):
        return 0.0, 0.0
    a, b = a[finite], b[finite]
    abs_err = (a - b).abs().max().item()
    scale = b.abs().max().item()
    return abs_err, abs_err / scale if scale > 0 else abs_err


def compare_with_eager(graph, inputs, rtol: float = 1e-4, atol: float = 1e-5):
    """Compare every node's network output with the eager run of the traced graph.

    Returns ``(diffs, first_bad)``: one :class:`NodeDiff` per tensor output of a converted node,
    and the first whose error exceeds ``atol + rtol * max|eager|`` (None if all agree).
    """
    if isinstance(inputs, torch.Tensor):
        inputs = [inputs]
    net_values = network_values(graph, inputs)
    eager = eager_node_values(graph, inputs)
    diffs, first_bad = [], None
    for rec in graph.nodes:
        if rec.folded or rec.fused:
            continue
        for k, (name, val) in enumerate(zip(rec.value_names, rec.outputs)):
            got = _resolve(val, net_values)
            want = eager.get(name)
            if not isinstance(got, torch.Tensor) or not isinstance(want, torch.Tensor):
                continue
            if got.shape != want.shape:
                raise EvaluationError(f"{rec.describe()} output {k}: network shape {tuple(got.shape)} vs eager "
                                      f"{tuple(want.shape)}")
            a, r = errors(got, want.to(got.dtype) if not want.dtype.is_floating_point else want)
            d = NodeDiff(rec, k, a, r)
            diffs.append(d)
            scale = torch.nan_to_num(want.double(), nan=0.0, posinf=0.0, neginf=0.0).abs().max().item() \
                if want.numel() else 0.0
            if first_bad is None and a > atol + rtol * scale:
                first_bad = d
    return diffs, first_bad


_ = itertools
