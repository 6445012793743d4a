"""The ``torch.export`` frontend: the same walker and handlers as TorchScript, on an exported program.

    with trt_network(net):
        program, graph = torch2trt_export(model, [x], input_names=["image"],
                                          dynamic_shapes={"image": {0: (1, 4, 8)}})

    conv = convert_export(model, [x])          # a trtgraph.api.Conversion
    conv = convert_export(exported_program)    # example inputs from the program

``export_graph`` exports (or takes an ``ExportedProgram``), lowers only the ops trtgraph has no
handler for (``trtgraph.export.program.KEPT_OPS`` stay whole) and adapts the FX graph to the
graph interface ``trtgraph.core._Walker`` reads (``trtgraph.export.graph``). Dynamic sizes come
from the program's symbolic shapes: one export, no second trace, and a guard over a dynamic
dimension is a :class:`DynamicShapeError` with its source line.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from .context import ConversionContext
from .core import (
    Graph,
    _current_state,
    _Excluded,
    _flatten,
    _output_keys,
    _Walker,
    _warn_if_training,
    is_trt_tensor,
)
from .dtypes import PRECISIONS, to_trt
from .dynamic import ShapeFacts, network_shape, parse_ranges, profile_shapes, resized
from .errors import InputError, ParameterError, TraceError, TrtGraphError
from .export.graph import adapt
from . import ir
from .export.program import (
    KEPT_OPS,
    decompose_missing,
    example_inputs_of,
    examples_not_one,
    export_program,
    is_trtgraph_ranges,
    program_ranges,
    torch_spec,
)
from .precision import as_policy

__all__ = ["KEPT_OPS", "ExportedGraph", "ProgramModule", "export_graph", "key_graph", "load_program", "torch2trt_export"]


@dataclass
class ExportedGraph:
    """What the walker needs: the adapted graph, its attribute tree and shape facts; plus the
    program, the example inputs and the dynamic ranges ``{name: {axis: (min, opt, max)}}``."""

    graph: ir.Graph
    root: ir.AttrTree
    program: object
    examples: list
    ranges: dict = field(default_factory=dict)
    facts: ShapeFacts = field(default_factory=ShapeFacts)
    export_seconds: float = 0.0


def _check_examples(inputs) -> list:
    if isinstance(inputs, torch.Tensor):
        inputs = [inputs]
    if not isinstance(inputs, (list, tuple)):
        raise InputError(f"inputs must be a tensor or a list/tuple of tensors, got {type(inputs).__name__}")
    out = []
    for i, x in enumerate(inputs):
        if not isinstance(x, torch.Tensor):
            raise InputError(f"input {i} is a {type(x).__name__}; the export frontend takes torch.Tensor inputs")
        if x.dtype == torch.float64:
            raise InputError(f"input {i} is float64, which TensorRT does not support; pass float32")
        if x.is_complex():
            raise InputError(f"input {i} is complex, which TensorRT does not support")
        out.append(x.detach().cpu())
    return out


def export_graph(model_or_program, example_inputs=None, dynamic_shapes=None,
                 input_names: Sequence[str] | None = None, decompose: bool = True) -> ExportedGraph:
    """Export ``model_or_program`` (an ``nn.Module``, or an ``ExportedProgram`` as it is) and adapt it.

    ``dynamic_shapes``: trtgraph's ``{input_name: {dim: (min, opt, max)}}`` or torch.export's spec
    (``torch.export.Dim`` ranges; opt is then the example's size). ``decompose``: lower the ops
    without a trtgraph handler (``KEPT_OPS`` never)."""
    t0 = time.perf_counter()
    is_program = isinstance(model_or_program, torch.export.ExportedProgram)
    if is_program:
        if dynamic_shapes is not None:
            raise InputError("dynamic_shapes cannot be given with an ExportedProgram: its dynamic dimensions "
                             "were fixed by torch.export (pass the nn.Module, or export it with Dim ranges)")
        ep = model_or_program
        examples = _check_examples(example_inputs) if example_inputs is not None else example_inputs_of(ep)
    else:
        if example_inputs is None:
            raise InputError("example inputs are needed to export an nn.Module")
        examples = _check_examples(example_inputs)
    names = list(input_names) if input_names else [f"input_{i}" for i in range(len(examples))]
    if len(names) != len(examples):
        raise InputError(f"{len(names)} input_names for {len(examples)} inputs")
    user_ranges = None
    if not is_program:
        spec = dynamic_shapes
        to_export = examples
        if is_trtgraph_ranges(dynamic_shapes):
            user_ranges = parse_ranges(dynamic_shapes, names, examples)
            spec = torch_spec(user_ranges, names) if user_ranges else None
            to_export = examples_not_one(examples, names, user_ranges)
        _warn_if_training(model_or_program)
        ep = export_program(model_or_program, to_export, spec)
    if decompose:
        ep = decompose_missing(ep)
    graph, root = adapt(ep, examples)
    n_inputs = len(list(graph.inputs())) - 1
    if n_inputs != len(examples):
        raise InputError(f"the exported program takes {n_inputs} tensor inputs, {len(examples)} were given")
    ranges = program_ranges(ep, graph, examples, names)
    if is_program:
        _check_program_inputs(graph, examples, names, ranges)
    if user_ranges is not None:
        # trtgraph's form: the user's (min, opt, max); export may have made a range narrower only by failing
        ranges = {n: {a: user_ranges[n][a] for a in axes} for n, axes in ranges.items()}
    facts = ShapeFacts(dynamic=dict(graph.dynamic), second_shapes=dict(graph.second_shapes))
    return ExportedGraph(graph, root, ep, examples, ranges, facts, time.perf_counter() - t0)


def _check_program_inputs(graph: ir.Graph, examples: list, names: list, ranges: dict) -> None:
    """Example inputs given with an ExportedProgram must fit it: dtype, rank, static sizes, ranges."""
    from .frontend import traced_type

    for name, value, x in zip(names, list(graph.inputs())[1:], examples):
        tt = traced_type(value)
        dynamic = ranges.get(name, {})
        ok = tt is not None and tt.dtype == x.dtype and len(tt.shape) == x.dim() and all(
            (dynamic[i][0] <= d <= dynamic[i][2]) if i in dynamic else d == t
            for i, (d, t) in enumerate(zip(x.shape, tt.shape)))
        if not ok:
            want = "(" + ", ".join(f"{dynamic[i][0]}..{dynamic[i][2]}" if i in dynamic else str(t)
                                   for i, t in enumerate(tt.shape)) + ")" if tt is not None else "?"
            raise InputError(f"input {name!r} is {x.dtype} {tuple(x.shape)}; the exported program takes "
                             f"{tt.dtype if tt is not None else '?'} {want}")


def load_program(path):
    """An ExportedProgram saved with ``torch.export.save`` (a ``.pt2`` file), or a named InputError."""
    import os

    if not os.path.isfile(path):
        raise InputError(f"{path!r} is not a regular file; give a program saved with torch.export.save")
    try:
        return torch.export.load(path)
    except Exception as exc:  # noqa: BLE001 - any failure means the same to the user
        raise InputError(f"{path}: not a loadable torch.export program ({type(exc).__name__}: "
                         f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''})") from None


def torch2trt_export(model, inputs=None, input_names: list[str] | None = None, verbose: bool = False,
                     param_exclude: str | None = None, precision: str = "fp32",
                     progress: Callable | None = None, dynamic_shapes=None, precision_policy=None,
                     fold_batch_norm: bool = True, strict: bool = True):
    """``core.torch2trt`` through ``torch.export``: adds the model's layers to the current network
    (``trt_network``/``torch_network`` block). Returns ``(exported program, graph)``; the graph is a
    :class:`trtgraph.core.Graph` (``graph.profile_shapes`` holds the optimization profile)."""
    state = _current_state()
    if state is None:
        raise TrtGraphError("torch2trt_export must be called inside `with trt_network(net):` or "
                            "`with torch_network():`")
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if inputs is not None and (is_trt_tensor(inputs) or
                               isinstance(inputs, (list, tuple)) and any(is_trt_tensor(x) for x in inputs)):
        raise InputError("the export frontend takes torch tensors as inputs; chain networks with the TorchScript "
                         "frontend (trtgraph.torch2trt)")
    float_dtype = PRECISIONS[precision]
    t0 = time.perf_counter()
    ex = export_graph(model, inputs, None if state.debug else dynamic_shapes, input_names)
    names = list(input_names) if input_names else [f"input_{i}" for i in range(len(ex.examples))]
    t_trace = time.perf_counter() - t0

    ctx = ConversionContext(state.network, float_dtype, state.keep)
    net_inputs = []
    for name, x in zip(names, ex.examples):
        tensor = state.network.add_input(name, to_trt(x.dtype), network_shape(x, ex.ranges.get(name, {})))
        if state.debug:
            state.network.set_example(name, x)
        if x.dtype.is_floating_point and float_dtype != x.dtype:
            tensor = ctx.cast(tensor, float_dtype)
        net_inputs.append(tensor)

    graph = Graph(state.network, ex.graph, net_inputs, state.keep, state.debug, float_dtype)
    graph.example_inputs = ex.examples
    graph.trace = ex.root
    graph.exported_program = ex.program
    graph.profile_shapes = profile_shapes(ex.ranges, names, ex.examples)
    walker = _Walker(state, ex.root, ex.graph, verbose, param_exclude, float_dtype, progress, ex.facts,
                     as_policy(precision_policy), fold_batch_norm, [], strict)
    outputs, records = walker.run(net_inputs)
    graph.nodes = records
    graph.ir = walker.g
    graph.fp32_nodes = list(walker.fp32_nodes)
    graph.trace_warnings = list(walker.relaxed)
    graph.output_groups = [len(_flatten(o)) for o in outputs]
    graph.output_keys = _output_keys(outputs)
    flat = _flatten(outputs)
    for k, o in enumerate(flat):
        if isinstance(o, _Excluded):
            raise ParameterError(f"output {k} is parameter '{o.path}', excluded by param_exclude={o.pattern!r}")
        if not (is_trt_tensor(o) or isinstance(o, torch.Tensor)):
            raise TraceError(f"model output {k} is a {type(o).__name__}, not a tensor; trtgraph converts models "
                             "whose outputs are tensors (or tuples/lists/dicts of them)")
    graph.outputs = [o if is_trt_tensor(o) else ctx.constant(o) for o in flat]
    if isinstance(model, torch.nn.Module):
        graph.pending_shape_guards = size_one_corner(ex.ranges, names, ex.examples)
    graph.trace_seconds = t_trace
    graph.convert_seconds = time.perf_counter() - t0
    return ex.program, graph


def size_one_corner(ranges: dict, names: list, examples: list) -> list:
    """torch.export reasons about a dynamic size as at least 2 (its 0/1 specialization): a Python
    check of that size against 1 (``if x.shape[0] == 1``) takes the example's path without a guard.
    Where a range holds 1, the network must be checked against the model there: returns
    ``[("size 1", example inputs, reason)]`` for ``trtgraph.convert`` to evaluate (empty if no range
    holds 1)."""
    ones = {n: {a: 1 for a, (lo, _, hi) in axes.items() if lo <= 1 <= hi} for n, axes in ranges.items()}
    ones = {n: axes for n, axes in ones.items() if axes}
    if not ones:
        return []
    sizes = [resized(x, ones.get(n, {})) for n, x in zip(names, examples)]
    dims = ", ".join(f"{n} dim {a}" for n, axes in ones.items() for a in axes)
    reason = (f"torch.export assumes a dynamic size is at least 2, so a Python check of it against 1 is not "
              f"seen ({dims} can be 1)")
    return [("size 1", sizes, reason)]


class ProgramModule(torch.nn.Module):
    """An ExportedProgram as the eager model of a Conversion (``verify``): its module is kept
    unregistered, since an exported module refuses ``eval()``."""

    def __init__(self, program):
        super().__init__()
        object.__setattr__(self, "_program_module", program.module())
        # the program's weights as this module's buffers (shared, not copied): the model hash and the
        # change fingerprint see them
        tensors = dict(program.state_dict)
        tensors.update({k: v for k, v in program.constants.items() if isinstance(v, torch.Tensor)})
        for name, t in tensors.items():
            self.register_buffer(name.replace(".", "__"), t.detach(), persistent=False)

    def forward(self, *args):
        return self._program_module(*args)


def key_graph(model, inputs=None, dynamic_shapes=None):
    """For the engine cache's key: ``(adapted graph, example inputs, module owning the weights)``;
    ``serialization.model_hash(owner, graph)`` hashes it like a traced graph."""
    ex = export_graph(model, inputs, dynamic_shapes)
    owner = model if isinstance(model, torch.nn.Module) else ProgramModule(ex.program)
    return ex.graph, ex.examples, owner
