"""Hybrid execution: what TensorRT cannot take runs in PyTorch, between TensorRT segments.

    hc = trtgraph.convert(model, [x], fallback=True)      # a HybridConversion
    print(hc.report())                                     # segments, torch nodes and why, FLOP shares
    print(hc.verify(x))                                    # reference evaluator + torch vs eager, on CPU
    module = hc.module()                                   # HybridModule: builds the engines

The model is traced once; ``classify`` decides per node whether TensorRT takes it, ``partition``
forms maximal acyclic TensorRT segments and the torch program between them, ``segment`` converts
each segment into a normal :class:`trtgraph.Conversion`, ``module`` runs the whole. With
``dynamic_shapes``, ``shapes`` finds what follows the dynamic dims and each segment input's range.
"""
from __future__ import annotations

import time

import torch
from torch.utils import _pytree as pt

from .. import api as _api
from .. import frontend
from ..api import DEFAULT_ATOL, DEFAULT_RTOL, OutputError, VerifyReport
from ..debug import errors
from ..dtypes import PRECISIONS
from ..dynamic import ShapeFacts, compare_traces, parse_ranges, profile_shapes
from ..errors import DynamicShapeError, InputError, TrtGraphError, UnsupportedOpsError
from ..pytree import Structure, flatten_inputs, is_simple_output
from ..registry import op_exists
from ..serialization import metadata_from_conversion
from .classify import classify
from .files import save_hybrid
from .interp import run_torch_step
from .module import HybridModule, HybridWarning, reference_params
from .partition import INLINED, node_step, partition, python_op_name, ref_of
from .report import build_plan, format_plan
from .segment import SegmentNodeError, attr_getter, convert_segment
from .shapes import merged, profile_bounds, refuse_baked_sizes, user_shape_facts
from .user_options import refuse_excluded, warn_unmatched
from ..walker.prims import param_exclude_regex

DEFAULT_DYNAMIC_MAX = 4096
_MAX_RETRIES = 50  # nodes sent to torch because their segment's conversion failed

__all__ = ["HybridConversion", "HybridModule", "HybridWarning", "convert_hybrid"]


class HybridConversion:
    """TensorRT segments (``segments``: :class:`trtgraph.Conversion` each) and the torch program
    between them (``steps``); ``plan``/``report()`` say what runs where, why, and its share of FLOPs."""

    def __init__(self, model, part, segments, plan, precision, input_names, output_names, python_functions,
                 seconds):
        self.model = model
        self.partition = part
        self.steps = part.steps
        self.segments = segments
        self.plan = plan
        self.precision = precision
        self.input_names = list(input_names)
        self.output_names = list(output_names)
        self.python_functions = python_functions
        self.convert_seconds = seconds
        self._module: HybridModule | None = None
        self._engines: list | None = None
        self.structure: Structure | None = None  # the model's input/output nesting (trtgraph.pytree)
        self.traced_model = model  # what was traced (the pytree wrapper around model for nested models)
        self.profiles: dict = {}  # the user's dynamic_shapes: input name -> (min, opt, max) shapes

    def program(self) -> dict:
        """The hybrid program as plain data: model input value names, the steps in order (torch
        steps: op, overload, argument refs, outputs; segments: index, input and output value names)
        and the output refs. Refs: ``["v", name]`` a value, ``["c", constant]`` (Python scalars,
        None, lists, small tensors, dtypes as ints, devices), ``["a", "path.to.param"]`` a model
        tensor, ``["l"/"t", [refs]]`` a list/tuple. What a saved hybrid folder needs besides the
        segments' engines and the tensors the torch steps read (``HybridModule`` buffers)."""
        return {"inputs": list(self.partition.input_names), "steps": [s.to_dict() for s in self.steps],
                "outputs": self.partition.outputs,
                "segments": [{"input_names": c.input_names, "output_names": c.output_names,
                              "profiles": {k: [list(p) for p in v] for k, v in c.profiles.items()}}
                             for c in self.segments]}

    def report(self) -> str:
        return format_plan(self.plan, {k: c.profiles for k, c in enumerate(self.segments) if c.profiles})

    def __str__(self):
        return self.report()

    @property
    def trt_flops_share(self) -> float:
        return self.plan["trt_flops_share"]

    def build(self, workspace: int | None = None) -> list:
        """Build every segment's engine (serialized plans, in segment order)."""
        if self._engines is None:
            self._engines = [c.build(workspace) for c in self.segments]
        return self._engines

    def _hybrid(self, engines) -> HybridModule:
        from ..runtime import TRTModule
        from .segment import SegmentEager  # noqa: F401 (the segments' eager fallbacks are their .model)

        mods = [TRTModule(e, metadata_from_conversion(c, e), verify=False) for c, e in zip(self.segments, engines)] \
            if engines is not None else []
        eager = [c.model for c in self.segments]
        for e in eager:
            e.python_functions = self.python_functions
        module = HybridModule(self.steps, self.partition.outputs, self.partition.input_names, mods,
                              reference_params(self.partition, self.traced_model), self.segments,
                              self.python_functions, eager, self.structure)
        # what a saved folder records of the conversion (trtgraph.hybrid.files)
        module.user_input_names = list(self.input_names)
        module.output_names = list(self.output_names)
        module.precision = self.precision
        module.report_text = self.report()
        return module

    def save(self, folder, eager: str = "dynamic"):
        """Write the hybrid folder (engines built now if needed): ``trtgraph.load(folder)`` gives a
        :class:`HybridModule` back. See :func:`trtgraph.hybrid.files.save_hybrid`."""
        return save_hybrid(self, folder, eager=eager)

    def module(self) -> HybridModule:
        """A :class:`HybridModule` with every engine built (built now if needed)."""
        return self._hybrid(self.build())

    def evaluate(self, *inputs):
        """Reference evaluation of the segments + torch steps, on the CPU: the output tensors as a flat
        list, or the model's own structure (a list of dicts...) for models with nested outputs."""
        if self._module is None:
            self._module = self._hybrid(None)
        return self._module.evaluate(*inputs)

    def verify(self, *inputs, rtol: float | None = None, atol: float | None = None) -> VerifyReport:
        """Compare :meth:`evaluate` with the eager model (tolerances as :meth:`Conversion.verify`; integer
        and bool outputs must be equal)."""
        rtol = DEFAULT_RTOL.get(self.precision, 1e-4) if rtol is None else rtol
        atol = DEFAULT_ATOL if atol is None else atol
        if self._module is None:
            self._module = self._hybrid(None)
        got = self._module.evaluate_flat(*inputs)
        args = self._module.args_of(inputs)
        with frontend._preserved_module_state(self.model), torch.no_grad():
            want = [w for w in pt.tree_leaves(self.model(*pt.tree_map(
                lambda x: x.detach().cpu() if isinstance(x, torch.Tensor) else x, args)))
                if isinstance(w, torch.Tensor)]
        report = VerifyReport(self.precision, rtol=rtol, atol=atol)
        if len(got) != len(want):
            raise TrtGraphError(f"the hybrid module gives {len(got)} outputs, eager {len(want)}")
        for name, g, w in zip(self.output_names, got, want):
            if tuple(g.shape) != tuple(w.shape):
                report.outputs.append(OutputError(name, tuple(g.shape), float("inf"), float("inf")))
                continue
            if not g.dtype.is_floating_point or not w.dtype.is_floating_point:
                same = g.dtype == w.dtype and bool(torch.equal(g, w))
                report.outputs.append(OutputError(name, tuple(g.shape), 0.0 if same else float("inf"),
                                                  0.0 if same else float("inf")))
                continue
            if g.numel() == 0:
                report.outputs.append(OutputError(name, tuple(g.shape), 0.0, 0.0))
                continue
            a, r = errors(g.float(), w.float())
            report.outputs.append(OutputError(name, tuple(g.shape), a, r))
        return report


def python_functions_of(graph) -> dict:
    """{name: callable} of the custom autograd.Functions (prim::PythonOp) of a graph."""
    return {python_op_name(n): n.pyobj() for n in graph.nodes() if n.kind() == "prim::PythonOp"}


def _redraw(x: torch.Tensor, seed: int) -> torch.Tensor:
    """Other data of the same shape and dtype (values in the same range: ids stay valid ids)."""
    gen = torch.Generator().manual_seed(1000 + seed)
    if x.dtype.is_floating_point:
        std = float(x.float().std()) if x.numel() > 1 else 1.0
        return (torch.randn(x.shape, generator=gen) * (std or 1.0) + float(x.float().mean())).to(x.dtype)
    if x.dtype == torch.bool:
        return torch.rand(x.shape, generator=gen) > 0.5
    flat = x.reshape(-1)
    return flat[torch.randperm(flat.numel(), generator=gen)].reshape(x.shape)


def _graph_steps(graph) -> list:
    """(node, step) for every top-level node that is not inlined into its users' arguments."""
    return [(n, node_step(n, lambda v: None)) for n in graph.nodes()
            if n.kind() not in INLINED or ref_of(n.output(), lambda v: None)[0] == "v"]


def _grown(x):
    """``x`` with one more row of zeros (a data-dependent count that differs from the example's)."""
    if isinstance(x, torch.Tensor) and x.dim() > 0:
        return torch.cat([x, torch.zeros((1,) + tuple(x.shape[1:]), dtype=x.dtype)])
    if isinstance(x, (list, tuple)):
        return type(x)(_grown(e) for e in x)
    return x


def run_graph(model, graph, examples, grow=()) -> dict:
    """Run every node of ``graph`` with torch ops; the outputs of the nodes in ``grow`` get one more
    row. Returns {value name: value}."""
    env = dict(zip([v.debugName() for v in list(graph.inputs())[1:]], examples))
    attr = attr_getter(model)
    funcs = python_functions_of(graph)
    grow = set(grow)
    with frontend._preserved_module_state(model):
        for node, step in _graph_steps(graph):
            run_torch_step(step, env, attr, funcs)
            if node in grow:
                for name in step.outputs:
                    env[name] = _grown(env[name])
    return env


def fill_types(model, graph, examples) -> int:
    """Tensor values the trace left without a shape (outputs of scripted code, ``prim::If``) get the
    shape and dtype they have when the graph runs eagerly on ``examples``; returns how many."""
    shapeless = [v for n in graph.nodes() if n.kind() not in ("prim::GetAttr", "prim::Constant")
                 for v in n.outputs() if isinstance(v.type(), torch._C.TensorType) and
                 (frontend.traced_type(v).shape is None or frontend.traced_type(v).dtype is None)]
    if not shapeless:
        return 0
    env = run_graph(model, graph, examples)
    for v in shapeless:
        x = env.get(v.debugName())
        if isinstance(x, torch.Tensor):
            v.setType(torch._C.TensorType.get().with_sizes(list(x.shape)).with_dtype(x.dtype))
    return len(shapeless)


def _data_facts(model, graph, examples, cls) -> ShapeFacts:
    """Dimensions that follow the data. Two sources: a second trace with other input data (compared
    node by node; a different graph means Python control flow on data: refused), and two eager runs
    of the graph on the example, the second with one more row in every data-dependent op's output
    (so counts differ even where every draw gives the same, e.g. no detection at all). A dimension
    that differs in either is dynamic."""
    if not cls.data_dependent:
        return ShapeFacts()
    other = [_redraw(x, 0) for x in examples]
    g2 = frontend.trace_graph(model, other)
    fill_types(model, g2, other)
    try:
        facts = compare_traces(graph, g2)
    except DynamicShapeError as exc:
        raise DynamicShapeError(f"with other input data the model traces another graph ({exc}); its Python "
                                "control flow depends on the data, which a traced hybrid cannot follow") from exc
    try:
        base = run_graph(model, graph, examples)
        grown = run_graph(model, graph, examples, cls.data_dependent)
    except Exception:  # noqa: BLE001 - any failure: the graph cannot run
        return facts  # the graph cannot run with other counts (a count the trace baked in): second trace only
    for node in graph.nodes():
        for v in node.outputs():
            a, b = base.get(v.debugName()), grown.get(v.debugName())
            if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or a.dim() != b.dim():
                continue
            axes = frozenset(i for i, (p, q) in enumerate(zip(a.shape, b.shape)) if p != q)
            if axes:
                facts.dynamic[v] = facts.axes(v) | axes
                facts.second_shapes.setdefault(v, tuple(b.shape))
    return facts


def convert_hybrid(model, inputs, precision: str = "fp32", input_names=None, output_names=None,
                   fallback: bool = True, torch_executed_ops=None, torch_executed_modules=None,
                   min_block_size: int | None = None, dynamic_max: int | None = None,
                   precision_policy=None, fold_batch_norm: bool = True, strict: bool = True, verbose: bool = False,
                   python_functions: dict | None = None, param_exclude: str | None = None,
                   dynamic_shapes=None, **unknown) -> HybridConversion:
    """``trtgraph.convert(..., fallback=True)``: see the module docstring and the README."""
    if unknown:
        raise InputError(f"convert() got unknown option(s) {', '.join(sorted(unknown))}")
    if not fallback:
        raise InputError("torch_executed_ops, torch_executed_modules, min_block_size and dynamic_max need "
                         "fallback=True")
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    for what, v in (("torch_executed_ops", torch_executed_ops), ("torch_executed_modules", torch_executed_modules)):
        if v is not None and (isinstance(v, str) or not all(isinstance(s, str) for s in v)):
            raise InputError(f"{what} must be a list of strings, got {v!r}")
    for op in torch_executed_ops or ():
        if "::" not in op:
            raise InputError(f"torch_executed_ops: {op!r} is not an op name like 'aten::{op}'")
        if "." in op.partition("::")[2]:
            raise InputError(f"torch_executed_ops: give {op!r} without its overload ({op.split('.')[0]!r}): every "
                             "overload of the op runs in torch")
        if not op_exists(op):
            raise InputError(f"torch_executed_ops: {op!r} is not a torch op (a typo would keep the op in TensorRT "
                             "without a word)")
    min_block_size = 3 if min_block_size is None else min_block_size
    dynamic_max = DEFAULT_DYNAMIC_MAX if dynamic_max is None else dynamic_max
    if not isinstance(min_block_size, int) or min_block_size < 1:
        raise InputError(f"min_block_size must be an int >= 1, got {min_block_size!r}")
    if not isinstance(dynamic_max, int) or dynamic_max < 1:
        raise InputError(f"dynamic_max must be an int >= 1, got {dynamic_max!r}")
    if inputs is None:
        raise InputError("example inputs are needed to trace the model")
    exclude = param_exclude_regex(param_exclude)
    leaves, in_spec = flatten_inputs(inputs)
    examples = [x.detach().cpu() for x in leaves]
    names = list(input_names) if input_names else [f"input_{i}" for i in range(len(examples))]
    if len(names) != len(examples):
        raise InputError(f"{len(names)} input_names for {len(examples)} inputs")
    ranges = parse_ranges(dynamic_shapes, names, examples)
    if ranges and isinstance(model, torch.jit.ScriptModule):
        raise InputError("dynamic_shapes needs a traceable nn.Module (a ScriptModule records no shapes)")
    t0 = time.perf_counter()
    findings: list = []
    trace, graph, wrapper = frontend.trace_structured(model, examples, in_spec, findings)
    traced_model = wrapper if wrapper is not None else model
    fill_types(traced_model, graph, examples)
    if exclude is not None:
        refuse_excluded(graph, exclude, wrapper is not None)
    user_facts, user_bounds = user_shape_facts(traced_model, graph, examples, names, ranges, findings)
    cls = classify(trace, graph, findings, user_facts, strict, torch_executed_ops, torch_executed_modules)
    refuse_baked_sizes(graph, user_facts)
    warn_unmatched(graph, torch_executed_ops, torch_executed_modules)
    if cls.global_problems:
        raise UnsupportedOpsError([p + " (a value Python read during tracing is a constant in the trace; running "
                                   "that part in torch cannot bring the computation back)" for p in cls.global_problems])
    data = _data_facts(traced_model, graph, examples, cls)
    facts = merged(user_facts, data)
    if data.dynamic or data.baked:
        cls = classify(trace, graph, findings, facts, strict, torch_executed_ops, torch_executed_modules)
    bounds = profile_bounds(facts, user_bounds, data, dynamic_max)
    value_names = {v.debugName(): n for v, n in zip(list(graph.inputs())[1:], names)}
    order = {n: i for i, n in enumerate(graph.nodes())}
    for _ in range(_MAX_RETRIES + 1):
        part = partition(graph, cls, min_block_size, facts)
        try:
            segments = [convert_segment(traced_model, trace, graph, seg, facts, value_names, precision,
                                        precision_policy, fold_batch_norm, strict, dynamic_max, verbose,
                                        part.consts, bounds)
                        for seg in part.segments]
            break
        except SegmentNodeError as exc:  # that node runs in torch; partition again
            cls.force_torch(exc.node, f"TensorRT conversion failed: {str(exc.error).splitlines()[0]}", order)
    else:
        raise TrtGraphError(f"hybrid conversion: still failing after sending {_MAX_RETRIES} nodes to torch")
    n_out = len(_flatten_refs(part.outputs))
    if wrapper is not None:
        structure = wrapper.structure()
    else:
        structure = Structure(in_spec, pt.tree_flatten(_ref_tree(part.outputs[0] if len(part.outputs) == 1
                                                                 else ["t", part.outputs]))[1])
    default = structure.output_names() if structure.out_spec is not None and not is_simple_output(structure.out_spec) \
        else None
    onames = list(output_names) if output_names else (default or [f"output_{i}" for i in range(n_out)])
    if len(onames) != n_out:
        raise InputError(f"{len(onames)} output_names for {n_out} model outputs")
    pyfuncs = python_functions_of(graph)
    pyfuncs.update(python_functions or {})
    plan = build_plan(part, attr_getter(traced_model))
    hc = HybridConversion(model, part, segments, plan, precision, names, onames, pyfuncs, time.perf_counter() - t0)
    hc.structure = structure
    hc.traced_model = traced_model
    hc.profiles = profile_shapes(ranges, names, examples)
    return hc


if not _api.HYBRID_CONVERTER:
    _api.HYBRID_CONVERTER.append(convert_hybrid)


def _ref_tree(ref):
    """The nesting of an output ref, with its leaves as placeholders (for its TreeSpec)."""
    if ref[0] == "t":
        return tuple(_ref_tree(r) for r in ref[1])
    if ref[0] == "l":
        return [_ref_tree(r) for r in ref[1]]
    return 0


def _flatten_refs(refs) -> list:
    out = []
    for r in refs:
        if r[0] in ("l", "t"):
            out.extend(_flatten_refs(r[1]))
        else:
            out.append(r)
    return out
