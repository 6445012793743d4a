"""The ``torch.export`` frontend's half of the graph: an ExportedProgram's FX graph as
trtgraph's frontend-neutral graph (:mod:`trtgraph.ir`), the graph the TorchScript frontend also
produces and the walker converts:

- each ``call_function`` on an ``OpOverload`` becomes a node of kind ``aten::<name>`` whose
  ``schema()`` is the overload's schema text; its inputs are bound in schema order (missing
  arguments get their defaults, keyword arguments are placed by name);
- Python constants become ``prim::Constant`` nodes, lists holding graph values
  ``prim::ListConstruct`` nodes;
- parameters, buffers and lifted constants become ``prim::GetAttr`` chains from the graph's first
  input (the walker's "module"), which is an :class:`AttrTree` holding the real tensors: batch-norm
  folding, validators and ``param_exclude`` see them exactly as with TorchScript;
- ``getitem`` on an op with several results picks that node output; on an op returning a list,
  an output of a ``prim::ListUnpack`` node placed right after the op;
- ``sym_size.int`` becomes ``aten::size`` (the walker folds static sizes and follows dynamic ones);
  SymInt arithmetic (``operator.mul`` ...) becomes ``aten::mul`` & co. on 0-d int64 tensors, as
  TorchScript records it after ``prim::NumToTensor``;
- convolutions (``conv1d/2d/3d``, ``convolution``) become ``aten::_convolution`` as TorchScript
  records them, so batch-norm folding finds them;
- FX ``meta["val"]`` gives each value's type (symbolic sizes at the example's values; the dynamic
  axes are recorded for :class:`trtgraph.dynamic.ShapeFacts`), ``meta["stack_trace"]`` the source
  range, ``meta["nn_module_stack"]`` the module scope (``layer1.0.conv1``).

The reading of FX meta (types, source ranges, scopes, size symbols) is in
:mod:`trtgraph.export.fxmeta` (re-exported here).
"""
from __future__ import annotations

import operator
from typing import Any

import torch

from ..errors import TraceError
from ..ir import AttrTree, Graph, Node, Use, Value, _Type
from .fxmeta import (bounded, _FRAME_RE, _Sizes, _scope, _source_range, _symbol_values, _tensor_type,  # noqa: F401
                     _type_of)


# ops that only check things at run time (export's shape/metadata assertions): not part of the network
_ASSERT_PREFIXES = ("_assert", "sym_constrain_range")

# SymInt arithmetic recorded as Python operators -> what TorchScript records for it (the ops on the
# 0-d tensors of prim::NumToTensor): a dynamic size is a 0-d int64 network tensor
_SYM_OPS = {operator.add: "add.Tensor", operator.sub: "sub.Tensor", operator.mul: "mul.Tensor",
            operator.floordiv: "floor_divide.default"}

_SIZE_TYPE = torch._C.TensorType.create_from_tensor(torch.empty((), dtype=torch.int64, device="meta"))

_CONV_OPS = {"conv1d": 1, "conv2d": 2, "conv3d": 3}
_CONV_TRANSPOSE_OPS = {"conv_transpose1d": 1, "conv_transpose2d": 2, "conv_transpose3d": 3}


# --------------------------------------------------------------------------- the builder

class _Builder:
    def __init__(self, ep, sizes: _Sizes):
        self.ep = ep
        self.sizes = sizes
        self.g = Graph("export")
        self.env: dict = {}  # fx node -> Value, or list of Value (several results)
        self.unpacked: dict = {}  # fx node returning a list -> its ListUnpack outputs
        self.attrs: dict = {}  # dotted path -> Value of its GetAttr
        self.count = 0

    # ---- values and nodes
    def _name(self, base: str) -> str:
        self.count += 1
        return f"{base}.{self.count}" if not base[-1:].isdigit() else f"{base}_{self.count}"

    def _add(self, node: Node, n_out: int, types=None, names=None) -> list:
        for i in range(n_out):
            t = types[i] if types else None
            name = names[i] if names else self._name("v")
            node._outputs.append(Value(node, name, t))
        for k, v in enumerate(node._inputs):
            v._uses.append(Use(node, k))
        self.g._nodes.append(node)
        return node._outputs

    def _typed(self, value: Value, val):
        value._type = _type_of(val, self.sizes)
        if isinstance(val, torch.Tensor):
            axes = self.sizes.dynamic_axes(val.shape)
            if axes:
                self.g.dynamic[value] = axes
                self.g.second_shapes[value] = self.sizes.shape(val.shape, self.sizes.other)
        return value

    def constant(self, value) -> Value:
        node = Node("prim::Constant", [], attrs={"value": value})
        out = self._add(node, 1)[0]
        out._ivalue = value
        if value is None:
            out._type = torch._C.NoneType.get()
        elif isinstance(value, torch.Tensor):
            out._type = torch._C.TensorType.create_from_tensor(value)
        else:
            out._type = _Type(type(value).__name__)
        return out

    def attribute(self, path: str) -> Value:
        """The GetAttr chain from the root to ``path`` (shared prefixes)."""
        if path in self.attrs:
            return self.attrs[path]
        owner_path, _, name = path.rpartition(".")
        owner = self.attribute(owner_path) if owner_path else self.g._inputs[0]
        node = Node("prim::GetAttr", [owner], attrs={"name": name})
        out = self._add(node, 1, names=[path.replace(".", "_") or "self"])[0]
        self.attrs[path] = out
        return out

    def argument(self, a, scope: str, source: str) -> Value:
        """An FX argument as a value: graph values, constants, lists of either."""
        from torch import fx

        if isinstance(a, fx.Node):
            v = self.env.get(a)
            if v is None:
                raise TraceError(f"exported graph: {a.name} is used before it is computed")
            if isinstance(v, list):
                raise TraceError(f"exported graph: {a.name} has several results and is used whole")
            return v
        if isinstance(a, (list, tuple)) and any(isinstance(x, fx.Node) for x in a):
            items = [self.argument(x, scope, source) for x in a]
            node = Node("prim::ListConstruct", items, scope=scope, source=source)
            return self._add(node, 1, types=[_Type("List")])[0]
        if isinstance(a, tuple):
            a = list(a)
        return self.constant(a)

    # ---- FX nodes
    def placeholder(self, fx_node, spec):
        from torch.export.graph_signature import InputKind

        if spec is None or spec.kind == InputKind.USER_INPUT:
            v = Value(None, fx_node.name)
            self._typed(v, fx_node.meta.get("val"))
            v._node = Node("prim::Param", [])
            self.g._inputs.append(v)
            self.g.input_names.append(fx_node.name)
            self.env[fx_node] = v
            return
        if spec.kind in (InputKind.PARAMETER, InputKind.BUFFER, InputKind.CONSTANT_TENSOR):
            v = self.attribute(spec.target)
            self._typed(v, fx_node.meta.get("val"))
            self.env[fx_node] = v
            return
        raise TraceError(f"exported program input {fx_node.name} is a {spec.kind.name.lower()}; trtgraph "
                         "converts programs whose inputs are tensors, parameters, buffers and tensor constants")

    def call(self, fx_node):
        target = fx_node.target
        scope, source = _scope(fx_node), _source_range(fx_node)
        if target is operator.getitem:
            return self.getitem(fx_node)
        if target in _SYM_OPS:
            name, overload = _SYM_OPS[target].split(".")
            node = self.op(fx_node, getattr(getattr(torch.ops.aten, name), overload), scope, source)
            node._outputs[0]._type = _SIZE_TYPE
            return node
        if isinstance(target, torch._ops.OpOverload):
            name = target._schema.name.split("::")[-1]
            if name.startswith(_ASSERT_PREFIXES) and not fx_node.users:
                return None
            if target is torch.ops.aten.sym_size.int:
                return self.op(fx_node, torch.ops.aten.size.int, scope, source)
            if name in _CONV_OPS and target._overloadname == "default" or \
                    name in _CONV_TRANSPOSE_OPS and target._overloadname == "input" or \
                    target is torch.ops.aten.convolution.default:
                return self.convolution(fx_node, scope, source)
            return self.op(fx_node, target, scope, source)
        what = getattr(target, "__name__", str(target))
        node = Node(f"prim::{what}", [], scope=scope, source=source)
        outs = self._add(node, 1)
        self.env[fx_node] = self._typed(outs[0], fx_node.meta.get("val"))
        return None

    def _bind(self, schema, args, kwargs) -> list:
        values = []
        for i, arg in enumerate(schema.arguments):
            if i < len(args) and not arg.kwarg_only:
                values.append(args[i])
            elif arg.name in kwargs:
                values.append(kwargs[arg.name])
            elif arg.has_default_value():
                values.append(arg.default_value)
            else:
                values.append(None)
        return values

    def op(self, fx_node, op, scope, source, values=None):
        schema = op._schema
        if values is None:
            values = self._bind(schema, fx_node.args, fx_node.kwargs)
        ins = [self.argument(a, scope, source) for a in values]
        node = Node(f"{schema.name}", ins, str(schema), scope, source)
        node.fx_node = node.origin = fx_node
        val = fx_node.meta.get("val")
        n_ret = len(schema.returns)
        outs = self._add(node, n_ret, names=[fx_node.name] if n_ret == 1 else
                         [f"{fx_node.name}.{i}" for i in range(n_ret)])
        if n_ret == 1:
            self._typed(outs[0], val)
            self.env[fx_node] = outs[0]
            if isinstance(val, (list, tuple)) and any(u.target is operator.getitem for u in fx_node.users):
                unpack = Node("prim::ListUnpack", [outs[0]], scope=scope, source=source)
                parts = self._add(unpack, len(val), names=[f"{fx_node.name}.{i}" for i in range(len(val))])
                for p, v in zip(parts, val):
                    self._typed(p, v)
                self.unpacked[fx_node] = parts
        else:
            vals = list(val) if isinstance(val, (list, tuple)) else [None] * n_ret
            for o, v in zip(outs, vals):
                self._typed(o, v)
            self.env[fx_node] = list(outs)
        return node

    def convolution(self, fx_node, scope, source):
        """conv1d/2d/3d, conv_transpose1d/2d/3d and convolution as TorchScript's ``aten::_convolution``
        (all arguments)."""
        target = fx_node.target
        values = self._bind(target._schema, fx_node.args, fx_node.kwargs)
        if target is torch.ops.aten.convolution.default:
            x, w, b, stride, padding, dilation, transposed, output_padding, groups = values
            nd = len(stride)
        elif target._schema.name.split("::")[-1] in _CONV_TRANSPOSE_OPS:
            nd = _CONV_TRANSPOSE_OPS[target._schema.name.split("::")[-1]]
            x, w, b, stride, padding, output_padding, groups, dilation = values
            transposed = True
        else:
            nd = _CONV_OPS[target._schema.name.split("::")[-1]]
            x, w, b, stride, padding, dilation, groups = values
            if isinstance(padding, str):
                return self.op(fx_node, target, scope, source)
            transposed, output_padding = False, [0] * nd

        def full(v):
            v = list(v) if isinstance(v, (list, tuple)) else [v]
            return v * nd if len(v) == 1 else v

        values = [x, w, b, full(stride), full(padding), full(dilation), transposed, full(output_padding), groups,
                  False, False, True, True]
        return self.op(fx_node, torch.ops.aten._convolution.default, scope, source, values)

    def getitem(self, fx_node):
        src, index = fx_node.args
        if src in self.unpacked:
            self.env[fx_node] = self.unpacked[src][index]
            return
        v = self.env.get(src)
        if isinstance(v, list):
            self.env[fx_node] = v[index]
            return
        raise TraceError(f"exported graph: {fx_node.name} indexes {src.name}, which is not a multi-result op")

    def output(self, fx_node, out_spec):
        from torch.export.graph_signature import OutputKind

        specs = self.ep.graph_signature.output_specs
        leaves = [a for a, s in zip(fx_node.args[0], specs) if s.kind == OutputKind.USER_OUTPUT]
        values = [self.argument(a, "", "") for a in leaves]
        keys = _dict_keys(out_spec)
        if len(values) == 1 and keys is None:
            self.g._outputs = values
        elif keys is not None and len(keys) == len(values):
            ins = []
            for k, v in zip(keys, values):
                ins += [self.constant(k), v]
            node = Node("prim::DictConstruct", ins)
            self.g._outputs = self._add(node, 1, types=[_Type("Dict")])
        else:
            node = Node("prim::TupleConstruct", values)
            self.g._outputs = self._add(node, 1, types=[_Type("Tuple")])
        for k, v in enumerate(self.g._outputs):
            v._uses.append(Use(None, k))


def _dict_keys(spec) -> list | None:
    """String keys of a dict-like output (a dict, or transformers' ModelOutput) of tensor leaves."""
    if spec is None or not isinstance(spec.type, type) or not issubclass(spec.type, dict):
        return None
    keys = list(spec.context) if isinstance(spec.context, (list, tuple)) else None
    if keys is None or not all(isinstance(k, str) for k in keys) or spec.num_leaves != len(keys):
        return None
    return keys


def adapt(ep, example_inputs: list | None = None) -> tuple[Graph, AttrTree]:
    """The walker's view of ``ep``: ``(graph, attribute tree)``. ``example_inputs`` fix the values
    of the size symbols (else their hints)."""
    from torch.export.graph_signature import InputKind

    tensors = dict(ep.state_dict)
    tensors.update({k: v for k, v in ep.constants.items() if isinstance(v, torch.Tensor)})
    root = AttrTree.from_tensors(tensors)
    sizes = _symbol_values(ep, example_inputs)
    b = _Builder(ep, sizes)
    self_value = Value(Node("prim::Param", []), "self", _Type("Module"))
    b.g._inputs.append(self_value)
    specs = {s.arg.name: s for s in ep.graph_signature.input_specs if hasattr(s.arg, "name")}
    for fx_node in ep.graph.nodes:
        if fx_node.op == "placeholder":
            spec = specs.get(fx_node.name)
            if spec is not None and spec.kind == InputKind.USER_INPUT and \
                    not isinstance(fx_node.meta.get("val"), torch.Tensor):
                raise TraceError(f"exported program input {fx_node.name} is not a tensor; trtgraph converts "
                                 "programs whose inputs are tensors")
            b.placeholder(fx_node, spec)
        elif fx_node.op == "call_function":
            b.call(fx_node)
        elif fx_node.op == "output":
            b.output(fx_node, ep.call_spec.out_spec)
        elif fx_node.op == "get_attr":
            b.env[fx_node] = b.attribute(fx_node.target)
        else:
            raise TraceError(f"exported graph node {fx_node.name}: {fx_node.op} is not supported")
    return b.g, root


def fx_kinds(ep) -> list:
    """The op overloads an exported program calls (for the decomposition choice)."""
    return [n.target for n in ep.graph.nodes
            if n.op == "call_function" and isinstance(n.target, torch._ops.OpOverload)]


_ = Any
