"""Exporting a model with ``torch.export``: dynamic-shape specs, guard errors, decompositions.

- ``dynamic_shapes`` is trtgraph's ``{input_name: {dim: (min, opt, max)}}`` (turned into named
  ``torch.export.Dim`` ranges) or anything ``torch.export.export`` takes (``Dim`` objects);
- a guard over a dynamic dim (``if x.shape[0] > 3`` with a range of 1..8) makes export fail with a
  constraint violation: re-raised as :class:`DynamicShapeError` naming the guard's source line;
- the program is not lowered to core ATen as a whole: only ops that have no trtgraph handler are
  decomposed, and never those in :data:`KEPT_OPS` (trtgraph builds them better whole).
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from typing import Optional

import torch

from ..dynamic import resized
from ..errors import DynamicShapeError, InputError, TraceError
from ..registry import lookup
from .fast_fakes import fast_fakes

# aten ops never decomposed: trtgraph has one handler (often one TensorRT layer) for each, numerically
# closer and faster than the pieces (convolutions reach the walker as aten::_convolution). Only ops
# without a handler are lowered (decompose_missing), so these stay whole even if a later table grows.
KEPT_OPS = frozenset({
    # matrix products and convolutions
    "linear", "matmul", "addmm", "bmm", "baddbmm", "einsum", "conv1d", "conv2d", "conv3d", "convolution",
    "_convolution", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    # normalization
    "batch_norm", "_native_batch_norm_legit_no_training", "layer_norm", "native_layer_norm", "group_norm",
    "native_group_norm", "instance_norm",
    # attention
    "scaled_dot_product_attention", "_scaled_dot_product_flash_attention_for_cpu",
    "_scaled_dot_product_efficient_attention", "_scaled_dot_product_flash_attention",
    # interpolation and sampling
    "upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d", "upsample_linear1d", "upsample_bilinear2d",
    "upsample_bicubic2d", "upsample_trilinear3d", "_upsample_nearest_exact2d", "grid_sampler", "grid_sampler_2d",
    "pixel_shuffle", "pixel_unshuffle",
    # activations and softmax
    "gelu", "silu", "mish", "hardswish", "hardsigmoid", "hardtanh", "softplus", "elu", "selu", "leaky_relu",
    "softmax", "_softmax", "log_softmax",
    # pooling and embedding
    "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d",
    "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool2d", "embedding",
})

_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
_OWN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_LOGGING_DIR = os.path.dirname(logging.__file__) + os.sep
_NAME_RE = re.compile(r"[^0-9A-Za-z_]")


def is_trtgraph_ranges(dynamic_shapes) -> bool:
    """True for ``{name: {dim: (min, opt, max)}}`` (trtgraph's form), False for torch.export's."""
    if not isinstance(dynamic_shapes, dict) or not dynamic_shapes:
        return False
    for dims in dynamic_shapes.values():
        if not isinstance(dims, dict):
            return False
        for rng in dims.values():
            if not (isinstance(rng, (list, tuple)) and len(rng) == 3):
                return False
    return True


def torch_spec(ranges: dict, names: list[str]) -> tuple:
    """trtgraph's parsed ranges as torch.export's positional spec: one named Dim per dynamic axis."""
    spec = []
    for name in names:
        axes = ranges.get(name)
        if not axes:
            spec.append(None)
            continue
        ident = _NAME_RE.sub("_", name)
        spec.append({axis: torch.export.Dim(f"{ident}_dim{axis}", min=lo, max=hi) for axis, (lo, _, hi) in axes.items()})
    return tuple(spec)


class _GuardLog(logging.Handler):
    """Collects the guards symbolic shapes adds while exporting, with the user frame of each."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.guards: list[tuple[str, str]] = []  # (expression, "file:line (func)")

    def emit(self, record):
        if "[guard added]" not in str(record.msg) or not record.args or len(record.args) < 3:
            return
        self.guards.append((str(record.args[1]), _user_frame()))


def _traceback_line(exc) -> str:
    """The innermost frame of an exception's traceback outside torch and trtgraph ('' if none)."""
    import traceback

    found = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if not frame.filename.startswith((_TORCH_DIR, _OWN_DIR, _LOGGING_DIR)) and not frame.filename.startswith("<"):
            found = f"{frame.filename}:{frame.lineno} ({frame.name})"
    return found


def _user_frame() -> str:
    """The innermost frame of the running stack outside torch, logging and trtgraph: the model's
    line that made torch.export add the guard being logged."""
    frame = sys._getframe(1)
    try:
        while frame is not None:
            filename = frame.f_code.co_filename
            if not filename.startswith((_TORCH_DIR, _OWN_DIR, _LOGGING_DIR)) and not filename.startswith("<"):
                return f"{filename}:{frame.f_lineno} ({frame.f_code.co_name})"
            frame = frame.f_back
        return ""
    finally:
        del frame


@contextlib.contextmanager
def _guard_log():
    log = logging.getLogger("torch.fx.experimental.symbolic_shapes")
    handler = _GuardLog()
    saved = (log.level, log.propagate, list(log.handlers))
    log.handlers = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        log.setLevel(saved[0])
        log.propagate = saved[1]
        log.handlers = saved[2]


def _is_constraint_violation(exc) -> bool:
    from torch.fx.experimental.symbolic_shapes import ConstraintViolationError

    if isinstance(exc, ConstraintViolationError):
        return True
    try:
        from torch._dynamo.exc import UserError, UserErrorType
    except ImportError:  # pragma: no cover - torch without dynamo
        return False
    return isinstance(exc, UserError) and getattr(exc, "error_type", None) == UserErrorType.CONSTRAINT_VIOLATION


def examples_not_one(examples: list, names: list, ranges: dict) -> list:
    """torch.export specializes a size-1 example dimension to 1: export with size 2 (or opt) there
    instead, inside the range (the network's example inputs stay the user's)."""
    out = []
    for name, x in zip(names, examples):
        axes = {a: min(max(2, opt), hi) for a, (lo, opt, hi) in ranges.get(name, {}).items() if x.shape[a] == 1}
        out.append(resized(x, axes) if axes else x)
    return out


def export_program(model, examples: list, dynamic_shapes=None):
    """``torch.export.export`` in eval mode (the module's training flags are restored after), with
    the cheaper shape rules of :mod:`trtgraph.export.fast_fakes`."""
    from ..frontend import TRACE_LOCK, _preserved_module_state

    if isinstance(model, torch.jit.ScriptModule) or not isinstance(model, torch.nn.Module):
        raise InputError(f"the export frontend converts torch.nn.Module objects or ExportedPrograms, got "
                         f"{type(model).__name__}")
    with TRACE_LOCK, _preserved_module_state(model), _guard_log() as guards, fast_fakes():
        try:
            return torch.export.export(model, tuple(examples), dynamic_shapes=dynamic_shapes, strict=False)
        except Exception as exc:
            if _is_constraint_violation(exc):
                raise DynamicShapeError(_violation_message(exc, guards.guards)) from exc
            where = _traceback_line(exc)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            hint = ""
            if "data-dependent" in first or type(exc).__name__.startswith("GuardOnDataDependent"):
                hint = ("; Python reads a value computed from tensor data (if x.sum() > 0, .item(), .tolist()): the "
                        "engine would follow the example's branch. Compute it with tensor ops (torch.where)")
            raise TraceError(f"torch.export.export failed{' at ' + where if where else ''}: "
                             f"{type(exc).__name__}: {first}{hint}") from exc


def _violation_message(exc, guards: list) -> str:
    """A constraint violation in trtgraph's words: what torch found, and the guards' source lines."""
    text = str(exc).strip().splitlines()
    found = [line.strip()[2:] for line in text if line.strip().startswith("- ")] or text[:1]
    detail = "; ".join(found)
    lines = sorted({w for _, w in guards if w})
    if lines:
        checks = "; ".join(f"{e} at {w}" for e, w in guards if w)
        return (f"the model checks a dynamic size at {lines[0]}: the check does not hold over the whole dynamic "
                f"range ({detail}); shape checks: {checks}. The engine would compute one path at every size: "
                "narrow the range or make the dimension static")
    return (f"torch.export cannot keep a dynamic dimension dynamic: {detail}. Narrow the range, make the "
            "dimension static, or give an example whose dynamic sizes are not 1")


def _op_key(op) -> tuple[str, str]:
    return op._schema.name, op._overloadname if op._overloadname != "default" else ""


def _handled(op) -> bool:
    from .graph import _ASSERT_PREFIXES, _CONV_OPS, _CONV_TRANSPOSE_OPS

    name, overload = _op_key(op)
    short = name.split("::")[-1]
    if short.startswith(_ASSERT_PREFIXES) or short in _CONV_OPS or short in _CONV_TRANSPOSE_OPS or \
            op is torch.ops.aten.sym_size.int:
        return True
    return lookup(name, overload) is not None


def missing_ops(ep, kept=KEPT_OPS) -> list:
    """Op overloads of ``ep`` that have no handler and are not kept whole."""
    from .graph import fx_kinds

    seen = []
    for op in fx_kinds(ep):
        if op not in seen and not _handled(op) and op._schema.name.split("::")[-1] not in kept:
            seen.append(op)
    return seen


def decompose_missing(ep, kept=KEPT_OPS, rounds: int = 4):
    """Lower the ops trtgraph has no handler for (one decomposition step at a time, until none is
    left or nothing more can be lowered); everything else stays as exported."""
    from torch._decomp import core_aten_decompositions

    defaults = None
    for _ in range(rounds):
        table = {}
        missing = missing_ops(ep, kept)
        if missing and defaults is None:
            defaults = core_aten_decompositions()
        for op in missing:
            fn = defaults[op] if op in defaults else None
            if fn is None and torch._C._dispatch_has_kernel_for_dispatch_key(op.name(), "CompositeImplicitAutograd"):
                fn = op.decompose
            if fn is not None:
                table[op] = fn
        if not table:
            return ep
        try:
            ep = ep.run_decompositions(table)
        except Exception as exc:
            names = ", ".join(str(op) for op in table)
            raise TraceError(f"decomposing {names} (no trtgraph handler) failed: {type(exc).__name__}: {exc}") from exc
    return ep


def program_ranges(ep, graph, examples: list, names: list[str]) -> dict:
    """{name: {axis: (min, opt, max)}} from the exported program's symbolic input sizes: the
    range of each size symbol, the example's size as opt."""
    import sympy

    from .graph import bounded

    out: dict = {}
    for name, value, x in zip(names, list(graph.inputs())[1:], examples):
        axes = graph.dynamic.get(value)
        if not axes:
            continue
        fx_val = _placeholder_val(ep, value.debugName())
        ranges = {}
        for axis in sorted(axes):
            expr = fx_val.shape[axis].node.expr
            rng = ep.range_constraints.get(expr) if isinstance(expr, sympy.Symbol) else None
            if rng is None:
                raise InputError(f"input {name!r} dim {axis} has the symbolic size {expr}, which is not a plain "
                                 "dimension: give it its own torch.export.Dim")
            if not bounded(rng.upper):
                raise InputError(f"input {name!r} dim {axis} has no maximum size: give its torch.export.Dim a max= "
                                 "(TensorRT's optimization profile needs one)")
            lo, hi = max(1, int(rng.lower)), int(rng.upper)
            ranges[axis] = (lo, int(x.shape[axis]), hi)
        out[name] = ranges
    return out


def _placeholder_val(ep, name: str):
    for n in ep.graph.nodes:
        if n.op == "placeholder" and n.name == name:
            return n.meta["val"]
    raise TraceError(f"exported program has no input {name!r}")


def example_inputs_of(ep) -> list:
    """Example tensors for an ExportedProgram given alone: zeros at each input's example size."""
    from torch.export.graph_signature import InputKind

    out = []
    for spec in ep.graph_signature.input_specs:
        if spec.kind != InputKind.USER_INPUT:
            continue
        val = _placeholder_val(ep, spec.arg.name)
        shape = []
        for s in val.shape:
            if isinstance(s, torch.SymInt):
                hint = s.node.hint
                if hint is None:
                    rng = ep.range_constraints.get(s.node.expr)
                    hint = int(rng.lower) if rng is not None else 1
                shape.append(int(hint))
            else:
                shape.append(int(s))
        out.append(torch.zeros(shape, dtype=val.dtype))
    return out


_ = Optional
