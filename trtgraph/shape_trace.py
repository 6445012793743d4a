"""The second trace of a dynamic conversion, recording shapes without doing the model's arithmetic.

A dynamic TorchScript conversion traces the model again at another size (``trtgraph.dynamic``),
and that size is often far from the example: ResNet-50 traced at batch 2 in a range of 1..32 is
traced again at 32, BERT-base traced at 2x16 again at 32x53. The second trace only has to tell
which sizes follow the dynamic dims and which constants the trace baked in from sizes; the
values it computes are thrown away. So below the tracer, every large op that computes new
tensors returns an uncomputed tensor of the shape and strides its meta kernel gives (the meta
kernel runs in a worker thread, where no trace is active), and a large in-place op returns its
argument. The tracer still records every node with its shapes.

Values are then garbage, so anything that depends on values could go another way. The shortcut
is taken only when nothing in the first trace does:

- no value was read from tensor data (a data or unknown finding of ``trtgraph.trace_checks``),
  nor computed from parameters and read by Python (a constant finding other than
  ``torch.tensor(<Python data>)``);
- no node has a data-dependent output shape (``nonzero``, ``unique``, boolean indexing...);
  such ops have no meta kernel either, so a trace reaching one fails and is redone for real;
- every node is an ``aten::`` or ``prim::`` op (a custom op's meta kernel may not exist);
- no RNN cell: the tracer records those beneath the level where a dispatch mode runs, so their
  nodes would be lost. Convolutions are the same, so ``conv2d`` & co. are called as the
  ``aten::_convolution`` the tracer records for them, with the first trace's backend flags.

And whatever the shortcut's trace says that does not agree with the first trace (another op
sequence, another baked constant) is checked again with a real trace before anything is refused.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import threading
from typing import Callable, Optional

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map

from . import frontend
from .ir import all_nodes
from .trace_checks import CONSTANT_FACTORY, VALUE_READ
from .errors import TrtGraphError

_aten = torch.ops.aten

# Which ops the shortcut skips: every op that computes new tensors (no output aliases an input)
# or writes into its first argument only, when its tensor arguments hold at least SMALL elements.
# Views and small ops run for real (their values stay exact: positions, masks, sizes). A skipped
# op returns an uninitialised tensor of its meta kernel's shape and strides; an in-place op
# returns its first argument. Ops whose output shape depends on values have no meta kernel: the
# trace fails there and is redone for real.
SMALL = 4096


def _kind_of(func) -> str:
    """"new" (returns new tensors only), "inplace" (writes its first argument and returns it) or
    "run" (views, several written arguments, non-tensor results: run for real)."""
    schema = func._schema
    returns = schema.returns
    if not returns or any(str(r.type) != "Tensor" for r in returns):
        return "run"
    written = [a for a in schema.arguments if a.alias_info is not None and a.alias_info.is_write]
    if not schema.is_mutable and all(r.alias_info is None for r in returns):
        return "new"
    if len(returns) == 1 and returns[0].alias_info is not None and returns[0].alias_info.is_write and \
            len(written) == 1 and schema.arguments and written[0] is schema.arguments[0] and \
            not func.__name__.startswith(("resize", "set_", "as_strided")):
        return "inplace"
    return "run"


# Node kinds the tracer records below a dispatch mode's level (torchgen's DONT_RECORD_TRACE):
# under the shortcut their nodes would vanish from the graph. Convolutions are called as
# ``aten::_convolution`` directly instead (:func:`_convolutions_as_recorded`), which the tracer records.
_RECORDED_BELOW_MODE = frozenset({
    "aten::_convolution_mode", "aten::lstm_cell", "aten::gru_cell", "aten::rnn_tanh_cell",
    "aten::rnn_relu_cell",
})

# Output shape depends on the values of an input.
_DATA_SHAPED = frozenset({
    "aten::nonzero", "aten::nonzero_numpy", "aten::argwhere", "aten::unique", "aten::_unique",
    "aten::_unique2", "aten::unique_dim", "aten::unique_consecutive", "aten::unique_dim_consecutive",
    "aten::masked_select", "aten::repeat_interleave", "aten::bincount", "aten::item",
    "aten::_local_scalar_dense", "aten::tolist", "aten::histc", "aten::multinomial",
})

_INDEXING = frozenset({"aten::index", "aten::index_put", "aten::index_put_"})


def _bool_index(node) -> bool:
    """An ``aten::index`` whose index list holds a bool tensor (``x[mask]``: shape from values)."""
    for value in node.inputs():
        producer = value.node()
        parts = list(producer.inputs()) if producer.kind() == "prim::ListConstruct" else [value]
        for part in parts:
            t = part.type()
            if isinstance(t, torch._C.TensorType) and t.scalarType() in ("Bool", "Byte"):
                return True
    return False


def why_not(first_graph, findings) -> Optional[str]:
    """Why the shortcut cannot stand in for a real second trace of this model, or None."""
    for f in findings:
        if f.refused:
            return f"the trace read a value from tensor data at {f.source}"
        if f.origin == "constant" and not CONSTANT_FACTORY.match(f.message) and \
                any(r is None or VALUE_READ in r for r in f.size_reads):
            return f"the trace read a value computed from parameters at {f.source}"
    for node in all_nodes(first_graph):
        kind = node.kind()
        if not kind.startswith(("aten::", "prim::")):
            return f"{kind} is not an aten op"
        if kind in _RECORDED_BELOW_MODE:
            return f"{kind} is recorded beneath a dispatch mode"
        if kind in _DATA_SHAPED or (kind in _INDEXING and _bool_index(node)):
            return f"{kind} has an output shape that depends on values"
    return None


class _ShapesOnly(TorchDispatchMode):
    """Below the tracer: large ops return tensors of their meta kernel's output shape, uncomputed."""

    def __init__(self, worker: concurrent.futures.Executor):
        super().__init__()
        self.worker = worker
        self.kinds: dict = {}
        self.skipped = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        kind = self.kinds.get(func)
        if kind is None:
            kind = self.kinds[func] = _kind_of(func)
        tensors = list(_tensors(args, kwargs))
        if kind == "run" or sum(t.numel() for t in tensors) < SMALL:
            return func(*args, **kwargs)
        self.skipped += 1
        if kind == "inplace" and len(tensors) == 1:
            return args[0]  # a one-tensor in-place op (relu_) keeps its argument's shape: nothing to check
        if func in _BATCH_NORMS:  # its meta kernel costs milliseconds; the output has the input's layout
            x = args[0]
            return (torch.empty_strided(_ints(x.shape), _ints(x.stride()), dtype=x.dtype),
                    torch.empty(0, dtype=x.dtype), torch.empty(0, dtype=x.dtype))
        if func is _aten._convolution.default:
            shape = _convolution_shape(*args[:9])
            if shape is not None:  # a plain convolution of contiguous tensors: its output is contiguous
                return torch.empty(shape, dtype=args[0].dtype)
        # The tracer's state is thread-local: in this thread, sizes read by the meta kernel would be
        # traced values. The worker thread has no trace and no dispatch mode.
        out = self.worker.submit(_meta_result, func, args, kwargs).result()
        if kind == "inplace":
            return args[0]  # the meta kernel checked the shapes; nothing to compute
        return tree_map(lambda t: torch.empty_strided(t.shape, t.stride(), dtype=t.dtype)
                        if isinstance(t, torch.Tensor) else t, out)


# Only the first output appears in a trace (as aten::batch_norm's); the saved statistics do not.
_BATCH_NORMS = frozenset({_aten.native_batch_norm.default, _aten._native_batch_norm_legit_no_training.default})


def _contiguous_strides(t) -> bool:
    """Exactly the strides of the contiguous layout (size-1 dims included: a (C, 1, k, k) or
    (O, I, 1, 1) weight is also channels-last contiguous, but torch then lays out by the strides)."""
    from torch._prims_common import make_contiguous_strides_for

    return _ints(t.stride()) == list(make_contiguous_strides_for(_ints(t.shape)))


def _convolution_shape(x, weight, bias, stride, padding, dilation, transposed, output_padding, groups):
    """The output shape of a batched, non-transposed ``aten::_convolution`` of float tensors with
    exactly contiguous strides, whose output is then contiguous; None for anything else (the meta
    kernel decides)."""
    n = weight.dim() - 2
    if transposed or n not in (1, 2, 3) or x.dim() != n + 2 or x.dtype != weight.dtype or \
            not x.is_floating_point() or not (_contiguous_strides(x) and _contiguous_strides(weight)) or \
            len(stride) != n or len(padding) != n or len(dilation) != n or \
            int(x.shape[1]) != int(weight.shape[1]) * int(groups):
        return None
    if min(_ints(stride)) < 1 or min(_ints(dilation)) < 1 or min(_ints(padding)) < 0:
        return None
    kernel = _ints(weight.shape[2:])
    spatial = [(size + 2 * p - d * (k - 1) - 1) // s + 1
               for size, p, d, k, s in zip(_ints(x.shape[2:]), _ints(padding), _ints(dilation), kernel, _ints(stride))]
    if min(spatial) < 1:
        return None
    return [int(x.shape[0]), int(weight.shape[0]), *spatial]


def _ints(sizes) -> list:
    return [int(d) for d in sizes]  # while tracing, Python sees sizes as traced values


def _tensors(args, kwargs):
    for a in (*args, *kwargs.values()):
        if isinstance(a, torch.Tensor):
            yield a
        elif isinstance(a, (list, tuple)):
            yield from (t for t in a if isinstance(t, torch.Tensor))


def _meta_result(func, args, kwargs):
    def meta(t):
        return t.to("meta") if isinstance(t, torch.Tensor) else t

    with torch.no_grad():
        return func(*tree_map(meta, args), **tree_map(meta, kwargs))


def _expand(v, n: int) -> list:
    return [int(x) for x in v] if isinstance(v, (list, tuple)) else [int(v)] * n


_CONVOLUTIONS = {"conv1d": (1, False), "conv2d": (2, False), "conv3d": (3, False),
                 "conv_transpose1d": (1, True), "conv_transpose2d": (2, True), "conv_transpose3d": (3, True)}


def _as_recorded(n: int, transposed: bool, flags: tuple, original):
    """``original`` (``torch.conv2d`` & co.) as the ``aten::_convolution`` call the tracer records for
    it: ``convolution`` itself is never recorded, and under a dispatch mode the ``_convolution`` it
    calls would not be either."""
    names = (("input", "weight", "bias", "stride", "padding", "output_padding", "groups", "dilation")
             if transposed else ("input", "weight", "bias", "stride", "padding", "dilation", "groups"))
    owner = threading.get_ident()

    def conv(*args, **kwargs):
        if threading.get_ident() != owner or any(isinstance(v, str) for v in (*args, *kwargs.values())):
            return original(*args, **kwargs)  # padding="same" is not recorded as _convolution: redone for real
        a = dict(zip(names, args), **kwargs)
        return _aten._convolution(a["input"], a["weight"], a.get("bias"), _expand(a.get("stride", 1), n),
                                  _expand(a.get("padding", 0), n), _expand(a.get("dilation", 1), n), transposed,
                                  _expand(a.get("output_padding", 0), n), int(a.get("groups", 1)), *flags)
    return conv


@contextlib.contextmanager
def _convolutions_as_recorded(flags: tuple):
    """In this thread, ``torch.nn.functional.conv2d``/``torch.conv2d`` & co. call ``aten::_convolution``
    directly (with ``flags``, the four backend flags the first trace recorded). Patched functions,
    not a TorchFunctionMode: under a mode, ``nn.MultiheadAttention`` leaves its fast path and the
    trace would differ from the real one."""
    saved = []
    try:
        for name, (n, transposed) in _CONVOLUTIONS.items():
            for owner in (torch, torch.nn.functional):
                original = getattr(owner, name)
                saved.append((owner, name, original))
                setattr(owner, name, _as_recorded(n, transposed, flags, original))
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


# aten::_convolution's benchmark, deterministic, cudnn_enabled and allow_tf32 as torch's defaults set them
_DEFAULT_FLAGS = (False, False, True, True)


def _convolution_flags(first_graph) -> Optional[tuple]:
    """The backend flags the first trace's convolutions recorded (None: not constants)."""
    for node in all_nodes(first_graph):
        if node.kind() == "aten::_convolution":
            values = [v.toIValue() for v in list(node.inputs())[9:13]]
            return tuple(values) if all(isinstance(v, bool) for v in values) else None
    return _DEFAULT_FLAGS


def trace_shapes(model, examples: list, findings: list, flags=_DEFAULT_FLAGS):
    """``frontend.trace_module`` with the heavy ops skipped; returns (inlined graph, ops skipped).
    ``flags``: the convolution backend flags to record (see :func:`_convolution_flags`)."""
    # a worker thread of its own per trace: nothing lingers, and a forked process starts afresh
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="trtgraph-shapes") as worker:
        mode = _ShapesOnly(worker)
        with _convolutions_as_recorded(flags), mode:
            traced, _ = frontend.trace_module(model, examples, findings, graph_only=True)
    return frontend.inlined_graph(traced), mode.skipped


def retrace(model, examples: list, first_graph, first_findings, check: Callable,
            findings: Optional[list] = None, stats: Optional[dict] = None):
    """Trace ``model`` at ``examples`` and return ``check(graph)`` (which raises TrtGraphError when
    the graph disagrees with the first trace), taking the shortcut when :func:`why_not` allows.
    A shortcut trace that fails, or that ``check`` refuses, is redone for real and checked again,
    so only a real trace can refuse the model. ``findings`` receives the TracerWarnings of the
    trace whose result is returned; ``stats`` gets ``shortcut`` (the reason it was not taken, or
    "taken", or "redone: ...") for reports and tests."""
    reason = why_not(first_graph, first_findings)
    flags = _convolution_flags(first_graph)
    if reason is None and flags is None:
        reason = "a convolution's backend flags are not constants"
    found: list = []
    if reason is None:
        try:
            result = check(trace_shapes(model, examples, found, flags)[0])
            reason = "taken"
        except TrtGraphError as exc:
            reason, found = f"redone: {exc}", []
    if reason != "taken":
        result = check(frontend.trace_graph(model, examples, found))
    if findings is not None:
        findings.extend(found)
    if stats is not None:
        stats["shortcut"] = reason
    return result
