"""TorchScript frontend: trace a module without touching it, and read what the trace recorded.

Everything that knows about ``torch._C`` graph objects lives here: tracing, schemas, scopes,
source lines, traced shapes/dtypes, and running a node with plain torch ops.
"""
from __future__ import annotations

import contextlib
import threading
import warnings
import weakref
from dataclasses import dataclass
from typing import Any, Optional

import torch

from . import ir
from .errors import InputError, TraceError
from .pytree import MODEL_KEY, FlatModule, is_flat_args, tracer_refuses_outputs
from .trace_checks import TensorReads, WarningClassifier


@contextlib.contextmanager
def _preserved_module_state(model: torch.nn.Module):
    """Put ``model`` in eval mode for tracing and restore every submodule's training flag."""
    flags = {m: m.training for m in model.modules()}
    try:
        model.eval()
        yield
    finally:
        for m, flag in flags.items():
            m.training = flag


def check_example_inputs(inputs) -> list:
    if isinstance(inputs, torch.Tensor):
        inputs = [inputs]
    if not isinstance(inputs, (list, tuple)):
        raise InputError(f"inputs must be a tensor or a list/tuple of tensors, got {type(inputs).__name__}")
    for i, x in enumerate(inputs):
        if not isinstance(x, torch.Tensor):
            raise InputError(f"input {i} is a {type(x).__name__}; trtgraph takes torch.Tensor inputs "
                             "(or TensorRT tensors inside trt_network)")
        if x.is_complex() or x.dtype in (torch.float64,):
            pass  # handled by the caller (float64 is converted with a warning-free cast to float32)
    return list(inputs)


# torch.jit.trace keeps global state (the tracing state, module scope names): two threads tracing
# at once lose each other's module scopes. Every trace in the process takes this lock.
TRACE_LOCK = threading.RLock()


@contextlib.contextmanager
def _restored_state(model: torch.nn.Module):
    """Snapshot every buffer and parameter; put them back after tracing, on every path.

    Buffers (running statistics, counters) are copied. Parameters are not copied (they can be
    large): a forward that writes into one in place is detected by its version counter and refused.
    """
    buffers = [(b, b._version, b.detach().clone()) for _, b in model.named_buffers() if b is not None]
    params = [(name, p, p._version) for name, p in model.named_parameters()]
    try:
        yield
    finally:
        with torch.no_grad():
            for b, version, saved in buffers:
                if b._version != version:  # written in place during the trace
                    b.copy_(saved)
    changed = [name.removeprefix(MODEL_KEY + ".") for name, p, v in params if p._version != v]
    if changed:
        raise TraceError(f"forward wrote in place into parameter(s) {', '.join(changed[:5])} while tracing; "
                         "trtgraph does not convert models that modify their own parameters (the parameters "
                         "now hold the values forward wrote)")


def trace_module(model, example_inputs: list[torch.Tensor], findings: Optional[list] = None,
                 graph_only=False):
    """``torch.jit.trace`` in eval mode under no_grad; returns (traced module, inlined graph).
    ``graph_only``: returns (module, None) and builds only a bare module where it can (see
    :func:`_trace_bare`); :func:`inlined_graph` reads its graph.

    The user's module keeps its training flags, parameters, buffers and hooks: buffers a forward
    mutates are restored. A ``torch.jit.ScriptModule`` is used as it is (its graph is inlined).
    ``findings`` (a list) receives a :class:`trtgraph.trace_checks.TraceFinding` for every value
    the tracer baked in (a ``TracerWarning``), classified by what it was computed from.
    """
    if isinstance(model, torch.jit.ScriptModule):
        return model, model.inlined_graph
    if not isinstance(model, torch.nn.Module):
        if callable(model):
            raise InputError("trtgraph converts torch.nn.Module objects; wrap the function in a Module")
        raise InputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    with TRACE_LOCK, _restored_state(model), _preserved_module_state(model), torch.no_grad(), \
            warnings.catch_warnings(), TensorReads() as reads:
        warnings.filterwarnings("ignore", category=FutureWarning, message=r".*torch\.jit\.trace.*deprecated.*")
        warnings.simplefilter("always", torch.jit.TracerWarning)
        classifier = WarningClassifier(warnings.showwarning, reads)
        warnings.showwarning = classifier
        try:
            traced = _trace_bare(model, tuple(example_inputs)) if graph_only else None
            if traced is None:
                traced = torch.jit.trace(model, tuple(example_inputs), check_trace=False, strict=False)
        except Exception as exc:  # noqa: BLE001 - re-raised with context
            raise TraceError(f"torch.jit.trace failed: {type(exc).__name__}: {exc}") from exc
    if findings is not None:
        findings.extend(classifier.findings)
    return traced, (None if graph_only else traced.inlined_graph)


_CLASS_EXPORTS: "weakref.WeakKeyDictionary[type, bool]" = weakref.WeakKeyDictionary()


def _exported(value) -> bool:
    fn = getattr(value, "__func__", value)
    return getattr(fn, "_torchscript_modifier", None) is torch._jit_internal.FunctionModifiers.EXPORT


def _has_exports(mod: torch.nn.Module) -> bool:
    """``torch._jit_internal.module_has_exports`` without its ``getattr`` of every name in ``dir(mod)``
    (a tenth of a second for a model of 300 modules): an ``@torch.jit.export`` method of the
    module's class (looked up once per class) or a function stored on the instance."""
    cls = type(mod)
    found = _CLASS_EXPORTS.get(cls)
    if found is None:
        found = _CLASS_EXPORTS[cls] = any(_exported(v) for klass in cls.__mro__ for v in vars(klass).values())
    return found or any(_exported(v) for v in vars(mod).values())


def _bare_module(mod: torch.nn.Module, qualname: str) -> Optional[torch._C.ScriptModule]:
    """A script module holding ``mod``'s parameters, buffers and submodules (the same tensors) and
    nothing else: what the tracer needs to record attribute reads (each module has a compilation
    unit of its own, so type names need not be unique). None when ``mod`` has what only
    ``torch.jit.trace``'s own module builder handles (script submodules, exported methods,
    script-object attributes) or refuses (backward hooks, one tensor under two names)."""
    if isinstance(mod, torch.jit.ScriptModule) or _has_exports(mod) or mod._backward_hooks:
        return None
    if any(torch._C._jit_is_script_object(v) for v in vars(mod).values()):
        return None
    tensors = [t for store in (mod._parameters, mod._buffers) for t in store.values() if t is not None]
    if len({id(t) for t in tensors}) != len(tensors):
        return None  # one tensor under two names: torch.jit.trace refuses it, and says so
    bare = torch._C.ScriptModule(f"__torch__.trtgraph_trace.{qualname}", torch._C.CompilationUnit(), True)
    for store in (mod._parameters, mod._buffers):
        for name, t in store.items():
            if t is not None:
                bare._register_attribute(name, torch._C.TensorType.get(), t)
    for name, sub in mod._modules.items():
        if sub is not None:
            child = _bare_module(sub, f"{qualname}_{name}")
            if child is None:
                return None
            bare._register_attribute(name, child._type(), child)
    return bare


def _trace_bare(model: torch.nn.Module, examples: tuple):
    """Trace into a bare script module (:func:`_bare_module`) instead of one built like
    ``torch.jit.trace`` builds it, which inspects every submodule and costs as much as the trace
    itself on a small CNN. The recorded graph is the same, node by node (only the module type
    names differ). None when the bare module can't stand in."""
    from torch.jit import _trace as jit_trace

    bare = _bare_module(model, "m")
    if bare is None:
        return None
    names: dict = {"__module": model}

    def scopes(mod, prefix):  # the scope names torch.jit.trace records, assigned as it assigns them
        for name, child in mod.named_children():
            names[child] = f"{prefix}.{name}"
            scopes(child, f"{prefix}.{name}")

    scopes(model, "__module")
    old = jit_trace._trace_module_map
    jit_trace._trace_module_map = names
    try:
        bare._create_method_from_trace("forward", model, examples, jit_trace._create_interpreter_name_lookup_fn(0),
                                       False, False, jit_trace.get_callable_argument_names(model.forward), False)
    finally:
        jit_trace._trace_module_map = old
    return bare


def inlined_graph(traced):
    """The inlined forward graph of what :func:`trace_module` returns (a traced or a bare module).
    Read it outside any dispatch mode: the inliner runs tensor ops on constants."""
    if isinstance(traced, torch._C.ScriptModule):
        graph = traced._get_method("forward").graph.copy()
        torch._C._jit_pass_inline(graph)
        return graph
    return traced.inlined_graph


def trace_graph(model, example_inputs: list[torch.Tensor], findings: Optional[list] = None):
    """The inlined graph of :func:`trace_module`, for a trace whose module is not needed (a second
    trace, compared with the first node by node): it skips building the traced module."""
    return inlined_graph(trace_module(model, example_inputs, findings, graph_only=True)[0])


def trace_structured(model, leaves: list, in_spec, findings: Optional[list] = None):
    """:func:`trace_module` for inputs and outputs of any nesting; returns (traced, graph, wrapper).

    ``leaves``/``in_spec``: the example inputs flattened by :func:`trtgraph.pytree.flatten_inputs`.
    Tensor inputs whose outputs the tracer accepts are traced as they are (``wrapper`` None: names
    and graphs as before). Nested inputs, or outputs the tracer refuses (a list of dicts, ints), are
    traced through a :class:`trtgraph.pytree.FlatModule` (``wrapper``), whose ``structure()`` gives
    the specs back; the user's module is not changed.
    """
    plain = isinstance(model, torch.nn.Module) and not isinstance(model, torch.jit.ScriptModule)
    if is_flat_args(in_spec) or not plain:
        if not is_flat_args(in_spec) and isinstance(model, torch.jit.ScriptModule):
            raise InputError("nested inputs need a torch.nn.Module to trace; a ScriptModule takes its tensors as "
                             "they are")
        try:
            traced, graph = trace_module(model, leaves, findings)
            return traced, graph, None
        except TraceError as exc:
            if not plain or not tracer_refuses_outputs(exc):
                raise
    wrapper = FlatModule(model, in_spec)
    traced, graph = trace_module(wrapper, leaves, findings)
    return traced, graph, wrapper


# ---------------------------------------------------------------- node information

def node_kind(node) -> str:
    return node.kind()


def node_overload(node) -> str:
    if isinstance(node, ir.Node):
        return node.overload
    schema = node_schema(node)
    if schema is None:
        return ""
    return schema.overload_name


def node_schema(node):
    if isinstance(node, ir.Node):
        return node.schema_obj
    try:
        text = node.schema()
    except RuntimeError:
        return None
    if text == "(no schema)":
        return None
    return torch._C.parse_schema(text)


def scope_of(node) -> str:
    """Module path of a node (``layer1.0.conv1``), '' for the top-level module."""
    if isinstance(node, ir.Node):
        return node.scope
    scope = node.scopeName()
    if not scope:
        return ""
    last = scope.split("/")[-1]
    if last.startswith("__module."):
        last = last[len("__module."):]
    elif last == "__module":
        return ""
    if last == MODEL_KEY:  # traced through trtgraph.pytree.FlatModule: the user's model is the root
        return ""
    if last.startswith(MODEL_KEY + "."):
        return last[len(MODEL_KEY) + 1:]
    return last


def source_line(node) -> str:
    """The innermost Python frame outside torch and trtgraph, as ``file:line (func)``; '' if unknown."""
    if isinstance(node, ir.Node):
        return node.source
    return ir.source_line_of(node.sourceRange())


def describe(node) -> str:
    """One line naming a node for error messages: kind, module scope and source line."""
    parts = [node.kind()]
    scope = scope_of(node)
    if scope:
        parts.append(f"in module '{scope}'")
    src = source_line(node)
    if src:
        parts.append(f"at {src}")
    return " ".join(parts)


@dataclass
class TracedType:
    shape: Optional[tuple]
    dtype: Optional[torch.dtype]


def traced_type(value) -> Optional[TracedType]:
    """Shape and dtype the trace recorded for a tensor value (None when not a tensor)."""
    if isinstance(value, ir.Value):
        return TracedType(value.shape, value.dtype) if value.is_tensor else None
    t = value.type()
    if not isinstance(t, torch._C.TensorType):
        return None
    return TracedType(ir.tensor_sizes(t), t.dtype())


def constant_value(node) -> Any:
    """Python value of a ``prim::Constant`` node."""
    out = node.output()
    if isinstance(out.type(), torch._C.NoneType):
        return None
    return out.toIValue()


# ---------------------------------------------------------------- eager execution of one node

def aten_overload(node):
    """The ``torch.ops`` overload a node calls."""
    schema = node_schema(node)
    if schema is None:
        raise TraceError(f"{describe(node)} has no schema and cannot be run in torch")
    ns, name = schema.name.split("::")
    packet = getattr(getattr(torch.ops, ns), name)
    return getattr(packet, schema.overload_name or "default"), schema


def bind_arguments(schema, values: list) -> dict[str, Any]:
    """Bind a node's input values to the schema's argument names (schema order)."""
    return {arg.name: v for arg, v in zip(schema.arguments, values)}


def run_node_in_torch(node, values: list):
    """Run an aten node with plain torch ops on already-evaluated input values."""
    op, schema = aten_overload(node)
    args, kwargs = [], {}
    for arg, v in zip(schema.arguments, values):
        if arg.kwarg_only:
            kwargs[arg.name] = v
        else:
            args.append(v)
    with torch.no_grad():
        out = op(*args, **kwargs)
    return out


# ---------------------------------------------------------------- the frontend-neutral graph

_ATTR_READERS = {"s": "s", "i": "i", "f": "f", "t": "t", "ss": "ss", "is": "is_", "fs": "fs", "ts": "ts",
                 "ival": "ival"}


def _attributes(node) -> dict:
    attrs = {}
    for name in node.attributeNames():
        reader = _ATTR_READERS.get(node.kindOf(name))
        if reader is not None:
            attrs[name] = getattr(node, reader)(name)
    return attrs


def to_ir(ts_graph) -> ir.Graph:
    """A TorchScript graph as trtgraph's frontend-neutral graph (:mod:`trtgraph.ir`): same nodes
    in the same order, values named as in TorchScript; ``graph.value_of`` maps each TorchScript
    value to its :class:`trtgraph.ir.Value`, and each node's ``origin`` is its TorchScript node."""
    g = ir.Graph("torchscript")
    value_of = g.value_of

    def value(v, node):
        nv = ir.Value(node, v.debugName(), v.type())
        value_of[v] = nv
        return nv

    def block(ts_block, nodes: list) -> None:
        for n in ts_block.nodes():
            kind = n.kind()
            schema = n.schema() if kind.startswith("aten::") else "(no schema)"
            node = ir.Node(kind, [value_of[v] for v in n.inputs()], schema, scope_of(n), n.sourceRange(),
                           _attributes(n) if kind.startswith("prim::") else None, origin=n)
            for b in n.blocks():
                sub = ir.Block()
                sub._inputs = [value(v, node) for v in b.inputs()]
                block(b, sub._nodes)
                sub._outputs = [value_of[v] for v in b.outputs()]
                node._blocks.append(sub)
            node._outputs = [value(v, node) for v in n.outputs()]
            if kind == "prim::Constant":
                node._outputs[0]._ivalue = constant_value(n)
            nodes.append(node)

    param = ir.Node("prim::Param", [])
    g._inputs = [value(v, param) for v in ts_graph.inputs()]
    param._outputs = list(g._inputs)
    block(ts_graph, g._nodes)
    g._outputs = [value_of[v] for v in ts_graph.outputs()]
    ir.link_uses(g._nodes, g._outputs)
    return g
