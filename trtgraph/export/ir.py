"""The graph objects the walker reads, over an exported program: values, nodes, the graph, and the
attribute tree holding parameters, buffers and constants. They answer the methods of
``torch._C.Value`` / ``torch._C.Node`` / ``torch._C.Graph`` that ``trtgraph.core`` and
``trtgraph.frontend`` (and ``serialization.model_hash``) call."""
from __future__ import annotations

import torch


class AttrTree:
    """The walker's "module": parameters, buffers and constants by dotted path, one level per part."""

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
    """A non-tensor value type (int, list, None ...): ``frontend.traced_type`` sees no tensor."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self):
        return self.name


class ExValue:
    """One value of the adapted graph (a ``torch._C.Value`` look-alike)."""

    __slots__ = ("__weakref__", "_ivalue", "_name", "_node", "_type", "_uses")

    def __init__(self, node: ExNode, name: str, jit_type=None, ivalue=None):
        self._node = node
        self._name = name
        self._type = jit_type if jit_type is not None else _Type("Any")
        self._uses: list = []
        self._ivalue = ivalue

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


class ExNode:
    """One node of the adapted graph (a ``torch._C.Node`` look-alike)."""

    def __init__(self, kind: str, inputs: list, schema: str = "(no schema)", scope: str = "",
                 source: str = "", attrs: dict | None = None):
        self._kind = kind
        self._inputs = list(inputs)
        self._outputs: list = []
        self._schema = schema
        self._scope = scope
        self._source = source
        self._attrs = attrs or {}
        self.fx_node = None  # the FX node this came from, if any

    def kind(self):
        return self._kind

    def inputs(self):
        return iter(self._inputs)

    def inputsAt(self, i: int):
        return self._inputs[i]

    def input(self):
        if len(self._inputs) != 1:
            raise RuntimeError(f"{self._kind} has {len(self._inputs)} inputs, not 1")
        return self._inputs[0]

    def outputs(self):
        return iter(self._outputs)

    def output(self):
        if len(self._outputs) != 1:
            raise RuntimeError(f"{self._kind} has {len(self._outputs)} outputs, not 1")
        return self._outputs[0]

    def schema(self) -> str:
        return self._schema

    def scopeName(self) -> str:
        return f"__module.{self._scope}" if self._scope else "__module"

    def sourceRange(self) -> str:
        return self._source

    def s(self, name: str):
        return self._attrs[name]

    # attribute access as on a TorchScript node (``serialization.model_hash`` reads constants)
    def hasAttribute(self, name: str) -> bool:
        return name in self._attrs

    def kindOf(self, name: str) -> str:
        value = self._attrs[name]
        return "t" if isinstance(value, torch.Tensor) else "s" if isinstance(value, str) else "ival"

    def t(self, name: str):
        return self._attrs[name]

    def blocks(self):
        return iter(())

    def __repr__(self):
        outs = ", ".join(f"{v!r} : {v.type()}" for v in self._outputs)
        ins = ", ".join(map(repr, self._inputs))
        attrs = ""
        if self._attrs:
            shown = {k: (f"tensor{tuple(v.shape)}" if isinstance(v, torch.Tensor) else repr(v))
                     for k, v in self._attrs.items()}
            attrs = "[" + ", ".join(f"{k}={v}" for k, v in shown.items()) + "]"
        return f"{outs} = {self._kind}{attrs}({ins})" + (f"  # {self._scope}" if self._scope else "")


class ExportGraph:
    """The graph: ``inputs()`` (the attribute tree first, then the user inputs), ``nodes()``, ``outputs()``."""

    def __init__(self):
        self._inputs: list = []
        self._nodes: list = []
        self._outputs: list = []
        self.dynamic: dict = {}  # ExValue -> frozenset of dynamic axes
        self.second_shapes: dict = {}  # ExValue -> its shape with every size symbol at another value
        self.input_names: list = []  # user input placeholder names, in order

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
