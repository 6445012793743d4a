"""High-level API: ``trtgraph.convert(model, inputs)`` -> :class:`Conversion`.

:class:`VerifyReport`, :class:`OutputError` and the default tolerances are in
:mod:`trtgraph.verify_report` (re-exported here)."""
from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch

from . import backend
from .core import trt_network, torch2trt
from .export_frontend import ProgramModule, torch2trt_export
from .debug import compare_with_eager, errors
from .dtypes import PRECISIONS
from .gc_pause import with_old_objects_frozen
from .errors import BuildError, InputError, ModelChangedError
from . import fingerprint as _fingerprint
from .pytree import flatten_inputs, is_flat_args, is_simple_output
from .verify_report import DEFAULT_ATOL, DEFAULT_RTOL, OutputError, VerifyReport  # noqa: F401


# TensorRT's logger is one object per process: builds take turns so that each one reads its own errors
_BUILD_LOCK = threading.Lock()


def check_names(input_names, output_names) -> None:
    """Refuse names that would make inputs/outputs ambiguous: empty, control characters,
    duplicates, or an input named like an output (raises :class:`InputError`)."""
    for kind, names in (("input", input_names), ("output", output_names)):
        if names is None:
            continue
        seen = set()
        for n in names:
            if not isinstance(n, str):
                raise InputError(f"{kind} name {n!r} is a {type(n).__name__}, expected a string")
            if not n:
                raise InputError(f"an {kind} name is empty; give every {kind} a non-empty name")
            if any(not c.isprintable() for c in n):
                raise InputError(f"{kind} name {n!r} contains a control character; use printable names")
            if n in seen:
                raise InputError(f"{kind} name {n!r} is given twice; {kind} names must be unique")
            seen.add(n)
    both = set(input_names or ()) & set(output_names or ())
    if both:
        raise InputError(f"{sorted(both)[0]!r} names both an input and an output; TensorRT tensor names must "
                         "be unique across inputs and outputs")

class Conversion:
    """A converted model: the real TensorRT network and what is needed to build, check and save it."""

    def __init__(self, model, builder, network, graph, precision, input_names, output_names, seconds):
        self.model = model
        self.builder = builder
        self.network = network
        self.graph = graph
        self.precision = precision
        self.input_names = list(input_names)
        self.output_names = list(output_names)
        self.convert_seconds = seconds
        self.build_seconds = None
        self._engine = None
        self.fingerprint = _fingerprint.take(model)
        self.structure = getattr(graph, "structure", None)  # trtgraph.pytree.Structure (None: export frontend)

    @property
    def input_spec(self):
        """``torch.utils._pytree.TreeSpec`` of the model's positional arguments (one leaf per network input)."""
        return self.structure.in_spec if self.structure is not None else None

    @property
    def output_spec(self):
        """``TreeSpec`` of what the model returns (one leaf per network output), None if unknown."""
        return self.structure.out_spec if self.structure is not None else None

    def unflatten_outputs(self, flat: list):
        """The model's own output structure (a list of dicts...) from the network's outputs in order."""
        if self.structure is None:
            return list(flat)
        return self.structure.unflatten_outputs(flat)

    @property
    def _returns_structure(self) -> bool:
        """evaluate() returns the model's structure for models traced through the pytree wrapper
        (nested inputs, or outputs the tracer refuses) unless that output is a single tensor or a
        flat tuple/list; other models keep today's flat list (``unflatten_outputs`` gives theirs)."""
        s = self.structure
        return s is not None and s.wrapped and not is_simple_output(s.out_spec)

    def check_model_unchanged(self) -> None:
        """Raise :class:`ModelChangedError` if the model's weights changed since conversion (the
        network shares them, so it would silently compute with the new values)."""
        names = _fingerprint.changed(self.model, self.fingerprint)
        if names:
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            raise ModelChangedError(f"the model's parameters/buffers changed after convert ({shown}); the network "
                                    "shares the model's weights, so convert the model again")

    @property
    def trace_warnings(self) -> list:
        """What ``strict=False`` accepted (values baked in by the trace, random ops)."""
        return list(self.graph.trace_warnings)

    @property
    def num_layers(self) -> int:
        return self.network.num_layers

    @property
    def num_nodes(self) -> int:
        return len(self.graph.nodes)

    def build(self, workspace: Optional[int] = None) -> bytes:
        """Serialize an engine (strongly typed: precision lives in the network's dtypes)."""
        self.check_model_unchanged()
        config = self.builder.create_builder_config()
        if workspace is not None:
            config.set_memory_pool_limit(backend.trt().MemoryPoolType.WORKSPACE, int(workspace))
        self.graph.add_profile(self.builder, config)
        log = backend.logger()
        with _BUILD_LOCK:
            log.clear()
            t0 = time.perf_counter()
            plan = self.builder.build_serialized_network(self.network, config)
            self.build_seconds = time.perf_counter() - t0
            errors_ = log.errors()
        if plan is None:
            raise BuildError("TensorRT could not build the network:\n  " + "\n  ".join(errors_ or ["(no message)"]))
        self._engine = bytes(memoryview(plan))
        return self._engine

    def save(self, path) -> Path:
        """Write the engine (built now if needed) and its JSON sidecar; ``trtgraph.load`` reads them."""
        from .serialization import save_engine

        self.check_model_unchanged()
        return save_engine(self, Path(path))

    def _feed(self, inputs) -> dict:
        s = self.structure
        if s is not None and not is_flat_args(s.in_spec):  # the model's own nested arguments, or the leaves
            leaves = s.flatten_args(inputs)
            if leaves is None and not (len(inputs) == len(self.input_names)
                                       and all(isinstance(x, torch.Tensor) for x in inputs)):
                raise InputError(f"the inputs do not have the structure the model was converted with "
                                 f"({s.in_spec.num_leaves} tensors as {_spec_text(s.in_spec)}); pass the same "
                                 "nesting (or the flat list of leaf tensors)")
            inputs = leaves if leaves is not None else inputs
        elif len(inputs) == 1 and isinstance(inputs[0], (list, tuple)):
            inputs = inputs[0]
        if len(inputs) != len(self.input_names):
            raise InputError(f"{len(inputs)} inputs given; the network takes {len(self.input_names)} "
                             f"({', '.join(self.input_names)})")
        feed = {}
        for name, x in zip(self.input_names, inputs):
            if not isinstance(x, torch.Tensor):
                raise InputError(f"input {name!r} is a {type(x).__name__}, expected a torch.Tensor")
            if name in self.profiles:
                lo, _, hi = self.profiles[name]
                if x.dim() != len(lo) or any(not a <= d <= b for a, d, b in zip(lo, x.shape, hi)):
                    raise InputError(f"input {name!r} has shape {tuple(x.shape)}, outside the optimization "
                                     f"profile {tuple(lo)}..{tuple(hi)}")
            feed[name] = x.detach().cpu()
        return feed

    @property
    def fp32_nodes(self) -> list:
        """The nodes the precision policy kept in float32 (empty for fp32 networks)."""
        return list(self.graph.fp32_nodes)

    @property
    def profiles(self) -> dict:
        """{input name: (min shape, opt shape, max shape)} of the dynamic inputs."""
        return self.graph.profile_shapes

    def evaluate(self, *inputs):
        """The network's outputs computed by the reference evaluator (CPU, torch): a flat list, or
        the model's own structure for nested models (see ``unflatten_outputs``). Takes the model's
        own (nested) arguments."""
        flat = self._evaluate_flat(self._feed(inputs))
        return self.unflatten_outputs(flat) if self._returns_structure else flat

    def _evaluate_flat(self, feed: dict) -> list:
        from .reference import evaluate

        self.check_model_unchanged()
        out = evaluate(self.network, feed)
        return [out[n] for n in self.output_names]

    def verify(self, *inputs, rtol: Optional[float] = None, atol: Optional[float] = None,
               node_by_node: bool = False) -> VerifyReport:
        """Compare the reference evaluation with the eager module; optionally node by node.
        Default tolerances follow the precision (``DEFAULT_RTOL``: fp32 1e-4, fp16 1e-2, bf16 6e-2).
        NaN and inf count as equal where eager has them at the same positions (same sign)."""
        rtol = DEFAULT_RTOL.get(self.precision, 1e-4) if rtol is None else rtol
        atol = DEFAULT_ATOL if atol is None else atol
        feed = self._feed(inputs)
        got = self._evaluate_flat(feed)
        from .frontend import _preserved_module_state

        args = list(feed.values())
        if self.structure is not None:
            args = self.structure.unflatten_args(args)  # the model's own nesting
        with _preserved_module_state(self.model), torch.no_grad():
            want = self.model(*args)
        from .core import _flatten

        want = [w for w in _flatten(want)]  # leaf by leaf, in the order the network's outputs have
        report = VerifyReport(self.precision, rtol=rtol, atol=atol)
        for name, g, w in zip(self.output_names, got, want):
            a, r = errors(g.float(), w.float())
            exact = not (w.is_floating_point() or w.is_complex())
            if exact and tuple(g.shape) == tuple(w.shape) and not torch.equal(g.to(w.dtype), w):
                a = max(a, float((g.double() - w.double()).abs().max()))  # 1 off in a large index is still off
            report.outputs.append(OutputError(name, tuple(g.shape), a, r, exact))
        if node_by_node:
            diffs, first = compare_with_eager(self.graph, list(feed.values()), rtol=rtol, atol=atol)
            report.nodes_compared = len(diffs)
            report.first_divergent = first
        return report


HYBRID_CONVERTER: list = []  # [trtgraph.hybrid.convert_hybrid], set when trtgraph.hybrid is imported


@with_old_objects_frozen
def convert(model, inputs=None, precision: str = "fp32", input_names: Optional[Sequence[str]] = None,
            output_names: Optional[Sequence[str]] = None, param_exclude: Optional[str] = None,
            verbose: bool = False, progress: Optional[Callable[[int, int], None]] = None,
            dynamic_shapes=None, precision_policy=None,
            fold_batch_norm: bool = True, strict: bool = True, frontend: str = "torchscript",
            fallback: bool = False, **hybrid) -> Conversion:
    """Convert ``model`` (traced on ``inputs``) into a strongly typed TensorRT network.

    ``precision``: "fp32", "fp16" or "bf16" -- float layers compute in that dtype (casts after
    the inputs and before the outputs; inputs and outputs stay float32).
    ``dynamic_shapes``: ``{"input_name": {dim: (min, opt, max)}}`` -- those dims are dynamic in the
    network and the engine is built with that optimization profile; ``inputs`` must lie inside it.
    ``precision_policy``: which ops stay float32 in an fp16/bf16 network (:class:`trtgraph.PrecisionPolicy`;
    default keeps softmax, normalization statistics, exp/log and long reductions in float32; ``"none"``
    computes everything in the reduced dtype). ``Conversion.fp32_nodes`` lists what it kept.
    ``fold_batch_norm``: fold inference batch norms into the convolutions before them (default).
    ``strict``: refuse what the trace would bake in silently -- values computed from input data and read
    by Python (``if x.sum() > 0``, ``.item()``, ``.tolist()``) and random ops (default); ``False`` accepts
    them with a warning each (``Conversion.trace_warnings``).
    Names must be unique, non-empty and printable; a model returning a dict names its outputs by its keys.
    ``frontend``: "torchscript" (``torch.jit.trace``, the default) or "export" (``torch.export``; then
    ``dynamic_shapes`` may also be ``torch.export.Dim`` ranges). An ``ExportedProgram`` as ``model``
    always goes through the export frontend (``inputs`` optional).
    ``fallback=True``: what TensorRT cannot take runs in torch between TensorRT segments; returns a
    :class:`trtgraph.hybrid.HybridConversion` (options ``torch_executed_ops``, ``torch_executed_modules``,
    ``min_block_size``, ``dynamic_max``, ``python_functions``; see ``trtgraph.hybrid``).
    """
    if fallback or hybrid:  # trtgraph.hybrid registers itself here (it imports this module, not the reverse)
        if frontend != "torchscript":
            raise InputError("fallback=True supports the torchscript frontend")
        return HYBRID_CONVERTER[0](model, inputs, precision=precision, input_names=input_names,
                                   param_exclude=param_exclude, dynamic_shapes=dynamic_shapes,
                                   output_names=output_names, fallback=fallback, precision_policy=precision_policy,
                                   fold_batch_norm=fold_batch_norm, strict=strict, verbose=verbose, **hybrid)
    if frontend not in ("torchscript", "export"):
        raise InputError(f"frontend must be 'torchscript' or 'export', got {frontend!r}")
    if frontend == "export" or isinstance(model, torch.export.ExportedProgram):
        return convert_export(model, inputs, precision=precision, input_names=input_names,
                              output_names=output_names, param_exclude=param_exclude, verbose=verbose,
                              progress=progress, dynamic_shapes=dynamic_shapes, precision_policy=precision_policy,
                              fold_batch_norm=fold_batch_norm, strict=strict)
    if inputs is None:
        raise InputError("example inputs are needed to trace the model")
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if isinstance(inputs, torch.Tensor):
        inputs = [inputs]
    leaves, _ = flatten_inputs(inputs)  # arguments may nest lists/tuples/dicts: one network input per tensor
    names = list(input_names) if input_names else [f"input_{i}" for i in range(len(leaves))]
    if len(names) != len(leaves):
        raise InputError(f"{len(names)} input_names for {len(leaves)} input tensors")
    check_names(names, list(output_names) if output_names else None)
    t0 = time.perf_counter()
    builder, network = backend.create_builder_and_network()
    with trt_network(network):
        _, graph = torch2trt(model, list(inputs), input_names=names, verbose=verbose,
                             param_exclude=param_exclude, precision=precision, progress=progress,
                             dynamic_shapes=dynamic_shapes, precision_policy=precision_policy,
                             fold_batch_norm=fold_batch_norm, strict=strict, _defer_shape_guards=True)
        onames = _mark_outputs(graph, names, output_names)
    conv = Conversion(model, builder, network, graph, precision, names, onames, time.perf_counter() - t0)
    _check_pending_shape_guards(conv)
    return conv


def _mark_outputs(graph, input_names: list, output_names) -> list:
    """Name (``output_names``, else the model's dict keys, else ``output_i``), check and mark the
    graph's outputs; returns the names."""
    outs = graph.outputs
    default = graph.output_keys or [f"output_{i}" for i in range(len(outs))]
    onames = list(output_names) if output_names else default
    if len(onames) != len(outs):
        raise InputError(f"{len(onames)} output_names for {len(outs)} model outputs")
    check_names(input_names, onames)
    graph.mark_outputs(onames)
    return onames


def _check_pending_shape_guards(conv: "Conversion") -> None:
    """Where the model takes another Python path at a corner of the dynamic range, the network
    (built from the example's path) must still compute what the model computes there."""
    from .errors import DynamicShapeError

    rtol = DEFAULT_RTOL.get(conv.precision, 1e-4)
    for corner, sizes, reason in conv.graph.pending_shape_guards:
        report = conv.verify(*sizes, rtol=rtol)
        if not report.ok:
            raise DynamicShapeError(f"{reason}; and there the network differs from the model (max rel error "
                                    f"{report.max_rel:.3g}): the engine would be wrong at that size. Narrow the "
                                    "range or make the dimension static")
        conv.graph.shape_guard_checks.append(
            f"{corner} of the range ({reason}): the network matches the model there "
            f"(max rel error {report.max_rel:.2g})")


_ = contextlib


def _spec_text(spec) -> str:
    from torch.utils import _pytree as pt

    shape = pt.tree_unflatten(["T"] * spec.num_leaves, spec)
    return repr(shape[0] if len(shape) == 1 else shape).replace("'T'", "T")


@with_old_objects_frozen
def convert_export(model, inputs=None, precision: str = "fp32", input_names: Optional[Sequence[str]] = None,
                   output_names: Optional[Sequence[str]] = None, param_exclude: Optional[str] = None,
                   verbose: bool = False, progress: Optional[Callable[[int, int], None]] = None,
                   dynamic_shapes=None, precision_policy=None, fold_batch_norm: bool = True,
                   strict: bool = True) -> Conversion:
    """``convert(..., frontend="export")``: the model goes through ``torch.export`` (or is already an
    ``ExportedProgram``; ``inputs`` then optional) and the same walker and handlers."""
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if isinstance(inputs, torch.Tensor):
        inputs = [inputs]
    check_names(list(input_names) if input_names else None, list(output_names) if output_names else None)
    t0 = time.perf_counter()
    builder, network = backend.create_builder_and_network()
    with trt_network(network):
        program, graph = torch2trt_export(model, inputs, input_names=list(input_names) if input_names else None,
                                          verbose=verbose, param_exclude=param_exclude, precision=precision,
                                          progress=progress, dynamic_shapes=dynamic_shapes,
                                          precision_policy=precision_policy, fold_batch_norm=fold_batch_norm,
                                          strict=strict)
        names = list(input_names) if input_names else [f"input_{i}" for i in range(len(graph.example_inputs))]
        onames = _mark_outputs(graph, names, output_names)
    eager = model if isinstance(model, torch.nn.Module) else ProgramModule(program)
    conv = Conversion(eager, builder, network, graph, precision, names, onames, time.perf_counter() - t0)
    _check_pending_shape_guards(conv)
    return conv
