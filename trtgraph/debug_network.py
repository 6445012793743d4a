"""The torch debug mode's network: :class:`TorchNetwork` (the part of ``INetworkDefinition`` the
handlers use), its :class:`DebugLayer` and :class:`DebugTensor` records with TensorRT's attribute
names, values computed lazily by the reference evaluator's layer functions, and the
:func:`torch_network` context that makes ``torch2trt`` record into one."""
from __future__ import annotations

import contextlib
from typing import Optional

import torch

from .backend import trt
from .dtypes import to_trt
from .errors import InputError, TrtGraphError
from .network_state import _push_debug_network, _stack, register_tensor_type


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
