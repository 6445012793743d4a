"""trtgraph's frontend-neutral graph: what the walker reads, whichever frontend produced it.

Both frontends produce it: :func:`trtgraph.frontend.to_ir` from a TorchScript graph
(``torch.jit.trace``), :func:`trtgraph.export.graph.adapt` from a ``torch.export`` program. The
walker (``trtgraph.core._Walker``) converts only this graph.

A :class:`Node` carries

- its op key (:attr:`Node.op_key`, ``aten::add.Tensor``) and the op's parsed schema
  (:attr:`Node.schema_obj`); :meth:`Node.bind` binds argument values to the schema's names;
- its inputs and outputs (:class:`Value`), each output with the shape and dtype the frontend
  recorded at the example (:attr:`Value.shape`, :attr:`Value.dtype`);
- the module scope (:attr:`Node.scope`, ``layer1.0.conv1``) and the Python source line
  (:attr:`Node.source`, ``file.py:12 (forward)``);
- ``origin``: the frontend's own node (a ``torch._C.Node`` or an FX node), for error reports.

Values, ``prim::`` structure nodes (constants, lists, tuples, ``GetAttr`` chains from the graph's
first input, the module or an :class:`AttrTree`) and types (``torch._C`` types: they are torch's
vocabulary for values) follow TorchScript's conventions, so the same method names
(``kind()``, ``inputs()``, ``outputs()``, ``debugName()``...) work on both graphs.
"""
from __future__ import annotations

import os
import re
from typing import Any, Optional

import torch

_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__)) + os.sep
_OWN_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_FRAME_RE = re.compile(r"^(?P<file>.*)\((?P<line>\d+)\): (?P<func>.*)$")


def frames_of(source_range: str) -> list[tuple[str, int, str]]:
    """The Python frames of a source range, innermost first: (file, line, function)."""
    frames = []
    for line in source_range.splitlines():
        m = _FRAME_RE.match(line.strip())
        if m:
            frames.append((m.group("file"), int(m.group("line")), m.group("func")))
    return frames


def source_line_of(source_range: str) -> str:
    """The innermost frame outside torch and trtgraph, as ``file:line (func)``; '' if unknown."""
    frames = frames_of(source_range)
    for file, line, func in frames:
        if not file.startswith(_TORCH_DIR) and not file.startswith(_OWN_DIR):
            return f"{file}:{line} ({func})"
    if frames:
        file, line, func = frames[0]
        return f"{file}:{line} ({func})"
    return ""


def all_nodes(block):
    """Every node of a TorchScript block and of its nodes' sub-blocks, depth first, in order (while
    tracing, each module call is a ``prim::TracedModuleForward`` node whose block receives the
    module's nodes)."""
    for node in block.nodes():
        yield node
        for sub in node.blocks():
            yield from all_nodes(sub)


def tensor_sizes(jit_type) -> Optional[tuple]:
    """The sizes a ``torch._C.TensorType`` records (None: not a tensor type, or no sizes)."""
    if not isinstance(jit_type, torch._C.TensorType):
        return None
    try:
        sizes = jit_type.sizes()
    except RuntimeError:
        return None
    return tuple(sizes) if sizes is not None else None


class AttrTree:
    """The walker's "module" for a graph without one: tensors by dotted path, one level per part."""

    def __init__(self, path: str = ""):
        self._path = path

    def __repr__(self):
        return f"AttrTree({self._path or '<root>'})"

    @classmethod
    def from_tensors(cls, tensors: dict) -> AttrTree:
        root = cls()
        for fqn, value in tensors.items():
            obj = root
            parts = fqn.split(".")
            for i, part in enumerate(parts[:-1]):
                nxt = obj.__dict__.get(part)
                if nxt is None:
                    nxt = cls(".".join(parts[:i + 1]))
                    setattr(obj, part, nxt)
                obj = nxt
            setattr(obj, parts[-1], value)
        return root


class _Type:
    """A type torch has no ``torch._C`` object for here (a module, a list of unknown items...)."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self):
        return self.name


class Use:
    """One use of a value: the node reading it (None for a graph output) and the input position."""

    __slots__ = ("offset", "user")

    def __init__(self, user, offset: int):
        self.user, self.offset = user, offset


class Value:
    """One value: produced by one node, read by its uses."""

    __slots__ = ("__weakref__", "_ivalue", "_name", "_node", "_type", "_uses")

    def __init__(self, node: Optional[Node], name: str, jit_type=None, ivalue=None):
        self._node = node
        self._name = name
        self._type = jit_type if jit_type is not None else _Type("Any")
        self._uses: list = []
        self._ivalue = ivalue

    # ---- neutral accessors
    @property
    def is_tensor(self) -> bool:
        return isinstance(self._type, torch._C.TensorType)

    @property
    def shape(self) -> Optional[tuple]:
        """The shape recorded at the example (None: not a tensor, or not recorded)."""
        return tensor_sizes(self._type)

    @property
    def dtype(self) -> Optional[torch.dtype]:
        return self._type.dtype() if self.is_tensor else None

    # ---- TorchScript-style accessors
    def node(self):
        return self._node

    def type(self):
        return self._type

    def uses(self):
        return self._uses

    def debugName(self):
        return self._name

    def toIValue(self):
        return self._ivalue

    def __repr__(self):
        return f"%{self._name}"


class Block:
    """A sub-block of a control-flow node (``prim::If``/``prim::Loop``)."""

    def __init__(self):
        self._inputs: list = []
        self._nodes: list = []
        self._outputs: list = []

    def inputs(self):
        return iter(self._inputs)

    def nodes(self):
        return iter(self._nodes)

    def outputs(self):
        return iter(self._outputs)


class Node:
    """One node: an op call (``aten::...``) or a structure node (``prim::...``)."""

    def __init__(self, kind: str, inputs: list, schema: str = "(no schema)", scope: str = "",
                 source: str = "", attrs: Optional[dict] = None, origin=None):
        self._kind = kind
        self._inputs = list(inputs)
        self._outputs: list = []
        self._schema = schema
        self.scope = scope  # module path, '' for the top-level module
        self._source_range = source  # Python frames, innermost first ("file(line): func" per line)
        self._source: Optional[str] = None
        self._schema_obj: Any = False  # parsed lazily (False: not yet)
        self._attrs = attrs or {}
        self._blocks: list = []
        self.origin = origin  # the frontend's node (torch._C.Node or torch.fx.Node)
        self.fx_node = origin if origin is not None and not isinstance(origin, torch._C.Node) else None

    # ---- neutral accessors
    @property
    def schema_obj(self):
        """The op's parsed ``FunctionSchema`` (None for structure nodes)."""
        if self._schema_obj is False:
            self._schema_obj = None if self._schema == "(no schema)" else torch._C.parse_schema(self._schema)
        return self._schema_obj

    @property
    def op_key(self) -> str:
        """``aten::name.overload`` (``aten::name`` for a default overload and for structure nodes)."""
        s = self.schema_obj
        return f"{self._kind}.{s.overload_name}" if s is not None and s.overload_name else self._kind

    @property
    def overload(self) -> str:
        s = self.schema_obj
        return s.overload_name if s is not None else ""

    def bind(self, values: list) -> dict:
        """The argument values by the schema's names (schema order)."""
        s = self.schema_obj
        if s is None:
            raise ValueError(f"{self._kind} has no schema to bind arguments to")
        return {arg.name: v for arg, v in zip(s.arguments, values)}

    @property
    def source(self) -> str:
        """``file:line (func)`` of the innermost frame in the user's code; '' if unknown."""
        if self._source is None:
            self._source = source_line_of(self._source_range)
        return self._source

    # ---- TorchScript-style accessors
    def kind(self):
        return self._kind

    def inputs(self):
        return iter(self._inputs)

    def inputsAt(self, i: int):
        return self._inputs[i]

    def _only(self, values: list, what: str):
        if len(values) != 1:
            raise RuntimeError(f"{self._kind} has {len(values)} {what}, not 1")
        return values[0]

    def input(self):
        return self._only(self._inputs, "inputs")

    def outputs(self):
        return iter(self._outputs)

    def outputsSize(self) -> int:
        return len(self._outputs)

    def outputsAt(self, i: int):
        return self._outputs[i]

    def output(self):
        return self._only(self._outputs, "outputs")

    def schema(self) -> str:
        return self._schema

    def scopeName(self) -> str:
        return f"__module.{self.scope}" if self.scope else "__module"

    def sourceRange(self) -> str:
        return self._source_range

    def s(self, name: str):
        return self._attrs[name]

    def hasAttribute(self, name: str) -> bool:
        return name in self._attrs

    def kindOf(self, name: str) -> str:
        value = self._attrs[name]
        return "t" if isinstance(value, torch.Tensor) else "s" if isinstance(value, str) else "ival"

    def t(self, name: str):
        return self._attrs[name]

    def blocks(self):
        return iter(self._blocks)

    def __repr__(self):
        outs = ", ".join(f"{v!r} : {v.type()}" for v in self._outputs)
        ins = ", ".join(map(repr, self._inputs))
        attrs = ""
        if self._attrs:
            shown = {k: (f"tensor{tuple(v.shape)}" if isinstance(v, torch.Tensor) else repr(v))
                     for k, v in self._attrs.items()}
            attrs = "[" + ", ".join(f"{k}={v}" for k, v in shown.items()) + "]"
        return f"{outs} = {self._kind}{attrs}({ins})" + (f"  # {self.scope}" if self.scope else "")


class Graph:
    """The graph: ``inputs()`` (the module or attribute tree first, then the model inputs),
    ``nodes()`` in execution order, ``outputs()``."""

    def __init__(self, frontend: str = ""):
        self.frontend = frontend  # "torchscript" or "export"
        self._inputs: list = []
        self._nodes: list = []
        self._outputs: list = []
        self.dynamic: dict = {}  # Value -> frozenset of dynamic axes (when the frontend knows them)
        self.second_shapes: dict = {}  # Value -> its shape with every size symbol at another value
        self.input_names: list = []  # model input names the frontend gives, in order
        self.value_of: dict = {}  # the frontend's value -> its Value here (TorchScript)

    def inputs(self):
        return iter(self._inputs)

    def nodes(self):
        return iter(self._nodes)

    def outputs(self):
        return iter(self._outputs)

    def __str__(self):
        lines = [f"graph({', '.join(map(repr, self._inputs))}):"]
        lines += [f"  {n!r}" for n in self._nodes]
        lines.append(f"  return ({', '.join(map(repr, self._outputs))})")
        return "\n".join(lines)


def link_uses(nodes: list, outputs: list) -> None:
    """Record every value's uses (nodes reading it, then graph outputs)."""
    for node in nodes:
        for k, v in enumerate(node._inputs):
            v._uses.append(Use(node, k))
        for b in node._blocks:
            link_uses(b._nodes, [])
            for k, v in enumerate(b._outputs):
                v._uses.append(Use(None, k))
    for k, v in enumerate(outputs):
        v._uses.append(Use(None, k))
