"""The graph walker: from a traced aten graph to layers of the current TensorRT network.

Public API (the seed's):

    with trt_network(net):
        trace, graph = torch2trt(model, inputs, input_names=["image"], verbose=True)
        outputs = graph.get_resolved_outputs()

The walker owns every ``prim::`` node (constants, lists, tuples, GetAttr chains, NumToTensor);
handlers see only ``aten::`` nodes, with arguments bound by name from the op schema. A node whose
inputs do not depend on the model inputs is evaluated in torch (constant folding), so shape math
on ``x.size()`` folds to Python ints for static shapes.
"""
from __future__ import annotations

import re
import time
import warnings
from typing import Callable, Optional

import torch

from . import frontend, ir, shape_trace
from .context import ConversionContext
from .dtypes import to_torch, to_trt
from .dynamic import (ShapeFacts, compare_traces, network_shape, parse_ranges, profile_shapes, resized,
                      second_examples)
from .errors import DynamicShapeError, InputError, ParameterError, TraceError, TrtGraphError, user_stacklevel
from .precision import as_policy
from .trace_checks import static_size_checks
from .pytree import MODEL_KEY, flatten_inputs, is_simple_output, structure_of_outputs
from .network_state import (_NetworkState, _current_state, _push_debug_network, _stack,  # noqa: E402,F401
                            current_network, has_trt_tensor, is_trt_tensor, trt_network)
from .walker.analysis import Analysis
from .walker.bn_fold import BatchNormFolds
from .walker.checks import NodeChecks
from .walker.emit import Emission
from .walker.kinds import (_CREATION_OPS, _NETWORK_CONSTANT_OPS, _SHAPE_OPS, _SIZE_OPS, _VIEW_OPS,  # noqa: F401
                           TraceCheckWarning, _flatten, is_inplace)
from .walker.prims import _PRIM_HANDLERS, _Excluded, _stand_in, param_exclude_regex  # noqa: F401
from .walker.records import Graph, NodeRecord  # noqa: F401


# --------------------------------------------------------------------------- walker

class _Walker(Emission):
    """Walks a graph: the analysis stage (``self.analysis``), then emission node by node (see
    ``trtgraph.walker``)."""

    def __init__(self, state: _NetworkState, trace, torch_graph, verbose: bool, param_exclude: Optional[str],
                 float_dtype: torch.dtype, progress: Optional[Callable] = None, facts: Optional[ShapeFacts] = None,
                 policy=None, fold_batch_norm: bool = True, findings: Optional[list] = None,
                 strict: bool = True):
        self.state = state
        self.findings = list(findings or [])  # values the trace baked in (trtgraph.trace_checks)
        self.strict = strict
        self.relaxed: list = []  # refusals that strict=False turned into warnings (from the analysis)
        self.network = state.network
        self.trace = trace
        if not isinstance(torch_graph, ir.Graph):  # a TorchScript graph: the walker reads only trtgraph.ir
            torch_graph = frontend.to_ir(torch_graph)
            if facts is not None:
                facts = facts.remapped(torch_graph.value_of)
        self.g = torch_graph
        self.verbose = verbose
        self.exclude = param_exclude_regex(param_exclude)
        self.ctx = ConversionContext(self.network, float_dtype, state.keep)
        self.env: dict = {}
        self.paths: dict = {}  # jit value -> dotted attribute path (GetAttr chains)
        self.needs_handler: dict = {}  # node -> depends on the model inputs (from the analysis)
        self.view_of: dict = {}  # jit value -> (base value, view node) for views of network tensors
        self.param_storages: set = set()
        self.progress = progress
        self.facts = facts if facts is not None else ShapeFacts()
        self.policy = policy if float_dtype != torch.float32 else None
        self.ctx.policy = self.policy
        self.fp32_values: dict = {}  # jit value -> its float32 tensor from a float32 island
        self.fp32_nodes: list = []  # descriptions of the nodes the precision policy kept in float32
        self.ctx.fp32_log = self.fp32_nodes
        self.bn_folds = BatchNormFolds()  # planned by the analysis when fold_batch_norm (walker/bn_fold.py)
        self.analysis = Analysis(self.g, trace, self.facts, self.findings, strict, self.policy, fold_batch_norm)
        self.checks = NodeChecks(self.network, state.names, self.ctx, self.facts)

    def analyse(self) -> None:
        """Run the analysis stage and take its results (all problems at once: UnsupportedOpsError)."""
        self.analysis.analyse()
        self.needs_handler = self.analysis.needs_handler
        self.bn_folds = self.analysis.bn_folds
        self.relaxed = self.analysis.relaxed


# --------------------------------------------------------------------------- entry point

def _warn_if_training(model):
    if isinstance(model, torch.nn.Module) and not isinstance(model, torch.jit.ScriptModule) and \
            any(m.training for m in model.modules()):
        warnings.warn("the model is in training mode; trtgraph traces it in eval mode (dropout off, batch norm "
                      "with running statistics) and leaves its flags as they were; call model.eval() first to "
                      "silence this", UserWarning, stacklevel=user_stacklevel())


def _output_keys(outputs) -> Optional[list]:
    """Names of the flattened outputs when the model returns one dict of tensors, else None."""
    if len(outputs) == 1 and isinstance(outputs[0], dict) and all(isinstance(k, str) for k in outputs[0]):
        if all(not isinstance(v, (list, tuple, dict)) for v in outputs[0].values()):
            return list(outputs[0].keys())
    return None


def check_shape_guards(model, torch_graph, guards, ranges, names, examples, defer: bool = False,
                       traced: tuple = (), known_baked=(), first_findings=()) -> list:
    """A shape check computed from a dynamic size (``if x.shape[0] > 3``) must hold over the whole
    range. ``torch.export`` proves it for the sizes >= 2 (:func:`_export_holds_over`); the min
    corner (and the max, when the model does not export) is traced again and must give the same
    graph. A trace that fails there is a :class:`DynamicShapeError`. A different graph is one too,
    unless ``defer``: then the corners are returned as ``[(corner, example inputs, reason)]`` for
    the caller to check numerically (``trtgraph.convert`` evaluates the network there and compares
    it with eager). Without the export, checks that change value only strictly inside the range
    are not seen.
    ``traced``: input lists already traced and found to give the same graph (the second trace).
    A constant that differs at a corner (and not already between the two traces: ``known_baked``)
    is another path too: the same ops computing with another value. ``first_findings``: every
    finding of the first trace (whether the corners can be traced for shapes only, see
    ``trtgraph.shape_trace``)."""
    where = "; ".join(f"{g.source} ({g.message})" for g in guards[:3])
    pending = []
    corners = (("min", 0), ("max", 2))
    if _export_holds_over(model, ranges, names, examples):
        corners = (("min", 0),)  # the max and every size in between (>= 2) are proven; 1 is the min's trace
    for corner, k in corners:
        sizes = [resized(x, {a: r[k] for a, r in ranges.get(n, {}).items()}) for n, x in zip(names, examples)]
        if any(all(tuple(a.shape) == tuple(b.shape) for a, b in zip(sizes, seen)) for seen in (examples, *traced)):
            continue  # that corner is the example or was traced already
        shapes = ", ".join(str(tuple(x.shape)) for x in sizes)

        def same_path(g):
            corner_facts = compare_traces(torch_graph, g)
            other = [v for v in corner_facts.baked if v not in known_baked]
            if other:  # same ops, but a value the trace baked in differs there (``x * 3 if n == 1 else x * 2``)
                a, b = corner_facts.baked[other[0]]
                readers = [u.user for u in other[0].uses() if u.user is not None]
                raise DynamicShapeError(f"{frontend.describe(readers[0] if readers else other[0].node())} "
                                        f"reads a constant that is {a!r} at the example and {b!r} there")
        try:
            shape_trace.retrace(model, sizes, torch_graph, first_findings, same_path)
        except TraceError as exc:
            raise DynamicShapeError(f"the model checks a dynamic size in Python at {where}, and tracing at the "
                                    f"{corner} of the dynamic range ({shapes}) fails: {exc}") from exc
        except TrtGraphError as exc:
            reason = (f"the model checks a dynamic size in Python at {where}, and at the {corner} of the dynamic "
                      f"range ({shapes}) it takes another path: {exc}")
            if not defer:
                raise DynamicShapeError(reason + ". The engine would compute the example's path at every size; "
                                        "narrow the range or make the dimension static") from exc
            pending.append((corner, sizes, reason))
    return pending


def dynamic_facts(model, torch_graph, examples: list, names: list, ranges: dict, findings: list,
                  defer: bool = False, stats: Optional[dict] = None) -> tuple:
    """What a second trace at other sizes in ``ranges`` tells (:func:`trtgraph.dynamic.compare_traces`),
    with the model's Python checks of dynamic sizes proven over the ranges (:func:`check_shape_guards`,
    ``defer`` as there). ``findings``: the first trace's. Returns (facts, second examples, pending
    corners); ``stats`` gets the shortcut's outcome (``trtgraph.shape_trace.retrace``)."""
    second = second_examples(ranges, names, examples)
    second_findings: list = []
    size_one = any(examples[names.index(n)].shape[a] == 1 for n, axes in ranges.items() for a in axes)
    facts = shape_trace.retrace(model, second, torch_graph, findings, lambda g: compare_traces(torch_graph, g, size_one),
                                second_findings, stats=stats)
    dynamic_inputs = {names.index(n) for n in ranges}
    static = static_size_checks(findings, second_findings)  # reading static sizes only (H, W under a dynamic batch)
    guards = [f for i, f in enumerate(findings) if f.origin == "size" and f.inputs & dynamic_inputs and i not in static]
    pending = []
    if guards:
        pending = check_shape_guards(model, torch_graph, guards, ranges, names, examples, defer=defer,
                                     traced=(second,), known_baked=set(facts.baked), first_findings=findings)
    return facts, second, pending


def _export_holds_over(model, ranges, names, examples) -> bool:
    """Whether torch.export, tracing with symbolic sizes, finds the model's Python checks of its
    sizes true over the whole range (it reasons about sizes >= 2 only: the min corner's trace
    covers 1). A check that fails inside the range is a :class:`DynamicShapeError` (a corner trace
    would not see ``if n == 5``). False when the model does not export: the corners are traced."""
    from .export.program import examples_not_one, export_program, torch_spec

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            export_program(model, examples_not_one(examples, names, ranges), torch_spec(ranges, names))
    except DynamicShapeError:
        raise  # names the check's source line and what does not hold
    except Exception:  # noqa: BLE001 - the model does not export: trace the corners instead
        return False
    return True


def _valid_regex(pattern: str) -> bool:
    try:
        re.compile(pattern)
        return True
    except (re.error, TypeError):
        return False


def _example_for(x, index: int) -> torch.Tensor:
    """A torch tensor to trace with for a network-tensor input (chained conversion)."""
    shape = tuple(x.shape)
    if any(d < 0 for d in shape):
        raise InputError(f"input {index} is a TensorRT tensor with dynamic shape {shape}; "
                         "pass a torch tensor of the shape to trace with")
    dtype = to_torch(x.dtype)
    if dtype.is_floating_point:
        dtype = torch.float32
    return torch.zeros(shape, dtype=dtype)


def torch2trt(model, inputs, input_names: Optional[list[str]] = None, verbose: bool = False,
              param_exclude: Optional[str] = None, precision: str = "fp32", progress: Optional[Callable] = None,
              dynamic_shapes: Optional[dict] = None, precision_policy=None, fold_batch_norm: bool = True,
              strict: bool = True, _defer_shape_guards: bool = False):
    """Trace ``model`` and add its layers to the current network.

    ``inputs``: torch tensors (become network inputs named ``input_names``) or network tensors
    (chaining a second model onto a first). Returns ``(trace, graph)``.

    ``dynamic_shapes``: ``{"input_name": {dim: (min, opt, max)}}``. Those dims are -1 in the
    network; ``graph.profile_shapes`` holds the optimization profile to build with
    (``graph.add_profile(builder, config)``). The model is traced a second time at another shape
    to find what follows the dynamic sizes (see ``trtgraph.dynamic``). The torch debug network
    ignores it (it evaluates at the example shapes).

    ``precision_policy``: a :class:`trtgraph.PrecisionPolicy` (default: softmax, normalization
    statistics, exp/log, long reductions... stay float32 in fp16/bf16 networks), or ``"none"``.

    ``fold_batch_norm``: fold each inference batch norm that directly follows a convolution (and is
    its only reader) into the convolution's weights (the node-by-node comparison skips such
    convolutions: their output is the batch norm's).

    ``strict``: refuse (default) values the trace baked in from input data (``if x.sum() > 0``,
    ``.item()``, ``.tolist()``) and random ops; ``False`` accepts them with a
    :class:`TraceCheckWarning` each (listed in ``graph.trace_warnings``).
    """
    from .dtypes import PRECISIONS

    state = _current_state()
    if state is None:
        raise TrtGraphError("torch2trt must be called inside `with trt_network(net):` or `with torch_network():`")
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    float_dtype = PRECISIONS[precision]
    inputs, in_spec = flatten_inputs(inputs)  # one network input per leaf tensor of nested arguments
    if input_names is not None and len(input_names) != len(inputs):
        raise InputError(f"{len(input_names)} input_names for {len(inputs)} inputs")
    examples = []
    for i, x in enumerate(inputs):
        if is_trt_tensor(x):
            examples.append(_example_for(x, i))
        elif isinstance(x, torch.Tensor):
            if x.dtype == torch.float64:
                raise InputError(f"input {i} is float64, which TensorRT does not support; pass float32")
            if x.is_complex():
                raise InputError(f"input {i} is complex, which TensorRT does not support")
            examples.append(x.detach().cpu())
        else:
            raise InputError(f"input {i} is a {type(x).__name__}; expected a torch.Tensor or a TensorRT tensor")

    names = [input_names[i] if input_names else f"input_{i}" for i in range(len(inputs))]
    ranges = {} if state.debug else parse_ranges(dynamic_shapes, names, examples)
    for name in ranges:
        if is_trt_tensor(inputs[names.index(name)]):
            raise InputError(f"dynamic_shapes names input {name!r}, which is a TensorRT tensor: its "
                             "dimensions come from the network it belongs to")
    if ranges and isinstance(model, torch.jit.ScriptModule):
        raise InputError("dynamic_shapes needs a traceable nn.Module (a ScriptModule records no shapes)")

    t0 = time.perf_counter()
    _warn_if_training(model)
    findings: list = []
    pending_guards: list = []
    trace, torch_graph, wrapper = frontend.trace_structured(model, examples, in_spec, findings)
    structure = wrapper.structure() if wrapper is not None else None
    if wrapper is not None:
        model = wrapper  # traced again below (dynamic shapes) the same way
        if param_exclude and _valid_regex(param_exclude):  # attribute paths start at the wrapper: match the user's paths below it
            param_exclude = f"{re.escape(MODEL_KEY)}\\.(?:{param_exclude})"
    facts = ShapeFacts()
    second_trace: dict = {}
    if ranges:
        facts, _, pending_guards = dynamic_facts(model, torch_graph, examples, names, ranges, findings,
                                                 _defer_shape_guards, second_trace)
    t_trace = time.perf_counter() - t0

    ctx = ConversionContext(state.network, float_dtype, state.keep)
    net_inputs = []
    for i, x in enumerate(inputs):
        if is_trt_tensor(x):
            net_inputs.append(x)
            continue
        name = names[i]
        tensor = state.network.add_input(name, to_trt(x.dtype), network_shape(x, ranges.get(name, {})))
        if state.debug:
            state.network.set_example(name, examples[i])
        if x.dtype.is_floating_point and float_dtype != x.dtype:
            tensor = ctx.cast(tensor, float_dtype)
        net_inputs.append(tensor)

    graph = Graph(state.network, torch_graph, net_inputs, state.keep, state.debug, float_dtype)
    graph.example_inputs = examples
    graph.trace = trace
    graph.profile_shapes = profile_shapes(ranges, names, examples)
    walker = _Walker(state, trace, torch_graph, verbose, param_exclude, float_dtype, progress, facts,
                     as_policy(precision_policy), fold_batch_norm, findings, strict)
    outputs, records = walker.run(net_inputs)
    graph.nodes = records
    graph.ir = walker.g
    graph.fp32_nodes = list(walker.fp32_nodes)
    graph.trace_warnings = list(walker.relaxed)
    graph.trace_findings = findings
    graph.pending_shape_guards = pending_guards
    graph.output_groups = [len(_flatten(o)) for o in outputs]
    graph.output_keys = _output_keys(outputs)
    flat = _flatten(outputs)
    if structure is None:
        structure = structure_of_outputs(in_spec, outputs, len(flat))
    elif not is_simple_output(structure.out_spec):
        graph.output_keys = structure.output_names()  # "0.boxes": from the path in the model's output
    graph.structure = structure
    for k, o in enumerate(flat):
        if isinstance(o, _Excluded):
            raise ParameterError(f"output {k} is parameter '{o.path}', excluded by param_exclude={o.pattern!r}")
        if not (is_trt_tensor(o) or isinstance(o, torch.Tensor)):
            raise TraceError(f"model output {k} is a {type(o).__name__}, not a tensor; "
                             "trtgraph converts models whose outputs are tensors (or tuples/lists/dicts of them)")
    graph.outputs = [o if is_trt_tensor(o) else ctx.constant(o) for o in flat]
    graph.trace_seconds = t_trace
    graph.second_trace = second_trace.get("shortcut")  # see trtgraph.shape_trace (None: static)
    graph.convert_seconds = time.perf_counter() - t0
    return trace, graph
