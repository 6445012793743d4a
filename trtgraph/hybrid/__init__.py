"""Hybrid execution: what TensorRT cannot take runs in PyTorch, between TensorRT segments.

    hc = trtgraph.convert(model, [x], fallback=True)      # a HybridConversion
    print(hc.report())                                     # segments, torch nodes and why, FLOP shares
    print(hc.verify(x))                                    # reference evaluator + torch vs eager, on CPU
    module = hc.module()                                   # HybridModule: builds the engines

The model is traced once; ``classify`` decides per node whether TensorRT takes it, ``partition``
forms maximal acyclic TensorRT segments and the torch program between them, ``segment`` converts
each segment into a normal :class:`trtgraph.Conversion`, ``module`` runs the whole.
"""
from __future__ import annotations

import time
from typing import Optional

import torch

from .. import api as _api
from .. import frontend
from ..api import DEFAULT_ATOL, DEFAULT_RTOL, OutputError, VerifyReport
from ..debug import errors
from ..dtypes import PRECISIONS
from ..dynamic import ShapeFacts, compare_traces
from ..errors import DynamicShapeError, InputError, TrtGraphError, UnsupportedOpsError
from ..serialization import metadata_from_conversion
from ..walker.kinds import _flatten
from .classify import classify
from .module import HybridModule, HybridWarning, reference_params
from .interp import run_torch_step
from .partition import INLINED, node_step, partition, python_op_name, ref_of
from .report import build_plan, format_plan
from .segment import attr_getter, convert_segment

DEFAULT_DYNAMIC_MAX = 4096
_REDRAWS = 3

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
        self._module: Optional[HybridModule] = None
        self._engines: Optional[list] = None

    def report(self) -> str:
        return format_plan(self.plan, {k: c.profiles for k, c in enumerate(self.segments) if c.profiles})

    def __str__(self):
        return self.report()

    @property
    def trt_flops_share(self) -> float:
        return self.plan["trt_flops_share"]

    def build(self, workspace: Optional[int] = None) -> list:
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
        return HybridModule(self.steps, self.partition.outputs, self.partition.input_names, mods,
                            reference_params(self.partition, self.model), self.segments, self.python_functions,
                            eager)

    def module(self) -> HybridModule:
        """A :class:`HybridModule` with every engine built (built now if needed)."""
        return self._hybrid(self.build())

    def evaluate(self, *inputs) -> list:
        """Reference evaluation of the segments + torch steps, on the CPU (outputs flattened)."""
        if self._module is None:
            self._module = self._hybrid(None)
        if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)):
            inputs = tuple(inputs[0])
        for name, x in zip(self.input_names, inputs):
            if not isinstance(x, torch.Tensor):
                raise InputError(f"input {name!r} is a {type(x).__name__}, expected a torch.Tensor")
        return self._module.evaluate(*inputs)

    def verify(self, *inputs, rtol: Optional[float] = None, atol: Optional[float] = None) -> VerifyReport:
        """Compare :meth:`evaluate` with the eager model (tolerances as :meth:`Conversion.verify`)."""
        rtol = DEFAULT_RTOL.get(self.precision, 1e-4) if rtol is None else rtol
        atol = DEFAULT_ATOL if atol is None else atol
        if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)):
            inputs = tuple(inputs[0])
        got = self.evaluate(*inputs)
        with frontend._preserved_module_state(self.model), torch.no_grad():
            want = _flatten(self.model(*[x.detach().cpu() for x in inputs]))
        report = VerifyReport(self.precision, rtol=rtol, atol=atol)
        if len(got) != len(want):
            raise TrtGraphError(f"the hybrid module gives {len(got)} outputs, eager {len(want)}")
        for name, g, w in zip(self.output_names, got, want):
            if tuple(g.shape) != tuple(w.shape):
                report.outputs.append(OutputError(name, tuple(g.shape), float("inf"), float("inf")))
                continue
            if not g.dtype.is_floating_point and not w.dtype.is_floating_point:
                same = bool(torch.equal(g, w.to(g.dtype)))
                report.outputs.append(OutputError(name, tuple(g.shape), 0.0 if same else float("inf"),
                                                  0.0 if same else float("inf")))
                continue
            a, r = errors(g.float(), w.float())
            report.outputs.append(OutputError(name, tuple(g.shape), a, r))
        return report


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


def python_functions_of(graph) -> dict:
    """{name: callable} of the custom autograd.Functions (prim::PythonOp) of a graph."""
    return {python_op_name(n): n.pyobj() for n in graph.nodes() if n.kind() == "prim::PythonOp"}


def fill_types(model, graph, examples) -> int:
    """Tensor values the trace left without a shape (outputs of scripted code, ``prim::If``) get the
    shape and dtype they have when the graph runs eagerly on ``examples``; returns how many."""
    shapeless = [v for n in graph.nodes() if n.kind() not in ("prim::GetAttr", "prim::Constant")
                 for v in n.outputs() if isinstance(v.type(), torch._C.TensorType) and
                 (frontend.traced_type(v).shape is None or frontend.traced_type(v).dtype is None)]
    if not shapeless:
        return 0
    steps = [node_step(n, lambda v: None) for n in graph.nodes()
             if n.kind() not in INLINED or ref_of(n.output(), lambda v: None)[0] == "v"]
    env = dict(zip([v.debugName() for v in list(graph.inputs())[1:]], examples))
    attr = attr_getter(model)
    with frontend._preserved_module_state(model):
        for step in steps:
            run_torch_step(step, env, attr, python_functions_of(graph))
    for v in shapeless:
        x = env.get(v.debugName())
        if isinstance(x, torch.Tensor):
            v.setType(torch._C.TensorType.get().with_sizes(list(x.shape)).with_dtype(x.dtype))
    return len(shapeless)


def _data_facts(model, graph, examples, cls) -> ShapeFacts:
    """Dimensions that follow the data: trace again with other data and compare the traces. Up to
    ``_REDRAWS`` draws until every data-dependent op's output shape differs from the example's."""
    if not cls.data_dependent:
        return ShapeFacts()
    best = ShapeFacts()
    for k in range(_REDRAWS):
        other = [_redraw(x, k) for x in examples]
        _, g2 = frontend.trace_module(model, other)
        fill_types(model, g2, other)
        try:
            facts = compare_traces(graph, g2)
        except DynamicShapeError as exc:
            raise DynamicShapeError(f"with other input data the model traces another graph ({exc}); its Python "
                                    "control flow depends on the data, which a traced hybrid cannot follow") from exc
        best = facts
        if all(any(o in facts.dynamic for o in n.outputs() if frontend.traced_type(o) is not None)
               for n in cls.data_dependent):
            break
    return best


def convert_hybrid(model, inputs, precision: str = "fp32", input_names=None, output_names=None,
                   fallback: bool = True, torch_executed_ops=None, torch_executed_modules=None,
                   min_block_size: Optional[int] = None, dynamic_max: Optional[int] = None,
                   precision_policy=None, fold_batch_norm: bool = True, strict: bool = True, verbose: bool = False,
                   python_functions: Optional[dict] = None, **unknown) -> HybridConversion:
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
    min_block_size = 3 if min_block_size is None else min_block_size
    dynamic_max = DEFAULT_DYNAMIC_MAX if dynamic_max is None else dynamic_max
    if not isinstance(min_block_size, int) or min_block_size < 1:
        raise InputError(f"min_block_size must be an int >= 1, got {min_block_size!r}")
    if not isinstance(dynamic_max, int) or dynamic_max < 1:
        raise InputError(f"dynamic_max must be an int >= 1, got {dynamic_max!r}")
    if isinstance(inputs, torch.Tensor):
        inputs = [inputs]
    examples = frontend.check_example_inputs(inputs)
    examples = [x.detach().cpu() for x in examples]
    names = list(input_names) if input_names else [f"input_{i}" for i in range(len(examples))]
    if len(names) != len(examples):
        raise InputError(f"{len(names)} input_names for {len(examples)} inputs")
    t0 = time.perf_counter()
    findings: list = []
    trace, graph = frontend.trace_module(model, examples, findings)
    fill_types(model, graph, examples)
    cls = classify(trace, graph, findings, ShapeFacts(), strict, torch_executed_ops, torch_executed_modules)
    if cls.global_problems:
        raise UnsupportedOpsError([p + " (a value Python read during tracing is a constant in the trace; running "
                                   "that part in torch cannot bring the computation back)" for p in cls.global_problems])
    facts = _data_facts(model, graph, examples, cls)
    if facts.dynamic or facts.baked:
        cls = classify(trace, graph, findings, facts, strict, torch_executed_ops, torch_executed_modules)
    part = partition(graph, cls, min_block_size)
    value_names = {v: n for v, n in zip(part.input_names, names)}
    segments = [convert_segment(model, trace, graph, seg, facts, value_names, precision, precision_policy,
                                fold_batch_norm, strict, dynamic_max, verbose) for seg in part.segments]
    n_out = len(_flatten_refs(part.outputs))
    onames = list(output_names) if output_names else [f"output_{i}" for i in range(n_out)]
    if len(onames) != n_out:
        raise InputError(f"{len(onames)} output_names for {n_out} model outputs")
    pyfuncs = python_functions_of(graph)
    pyfuncs.update(python_functions or {})
    plan = build_plan(part, attr_getter(model))
    return HybridConversion(model, part, segments, plan, precision, names, onames, pyfuncs, time.perf_counter() - t0)


if not _api.HYBRID_CONVERTER:
    _api.HYBRID_CONVERTER.append(convert_hybrid)


def _flatten_refs(refs) -> list:
    out = []
    for r in refs:
        if r[0] in ("l", "t"):
            out.extend(_flatten_refs(r[1]))
        else:
            out.append(r)
    return out
