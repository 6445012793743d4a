"""The second trace of a dynamic conversion, recording shapes without doing the model's arithmetic.

A dynamic TorchScript conversion traces the model again at another size (``trtgraph.dynamic``),
and that size is often far from the example: BERT-base traced at 2x16 is traced again at 32x53,
which costs five times the first trace. The second trace only has to tell which sizes follow the
dynamic dims and which constants the trace baked in from sizes; the values it computes are thrown
away. So the heavy ops (matrix products, attention) are replaced, below the tracer, by zeros of
the shape they would return: the tracer still records every node with its shapes, and the shape
comes from the op's meta kernel (run in a worker thread, where no trace is active).

A replaced op returns zeros, so anything that depends on values could go another way. The
shortcut is taken only when nothing in the first trace does:

- no value was read from tensor data (a data or unknown finding of ``trtgraph.trace_checks``);
- no node has a data-dependent output shape (``nonzero``, ``unique``, boolean indexing...);
- every node is an ``aten::`` or ``prim::`` op (a custom op's meta kernel may not exist);
- no convolution or RNN cell: the tracer records those beneath the level where a dispatch mode
  runs, so their nodes would be lost.

And whatever the shortcut's trace says that does not agree with the first trace (another op
sequence, another baked constant) is checked again with a real trace before anything is refused.
"""
from __future__ import annotations

import concurrent.futures
import threading
from typing import Callable, Optional

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map

from . import frontend
from .errors import TrtGraphError

_aten = torch.ops.aten

# The ops whose arithmetic the shortcut skips: the matrix products and CPU attention kernels that
# the dispatcher reaches under linear, matmul, einsum and scaled_dot_product_attention.
SKIPPED = frozenset({
    _aten.mm.default, _aten.addmm.default, _aten.bmm.default, _aten.baddbmm.default,
    _aten._scaled_dot_product_flash_attention_for_cpu.default,
})

# Node kinds the tracer records below a dispatch mode's level (torchgen's DONT_RECORD_TRACE):
# under the shortcut their nodes would vanish from the graph.
_RECORDED_BELOW_MODE = frozenset({
    "aten::_convolution", "aten::_convolution_mode", "aten::lstm_cell", "aten::gru_cell",
    "aten::rnn_tanh_cell", "aten::rnn_relu_cell",
})

# Output shape depends on the values of an input.
_DATA_SHAPED = frozenset({
    "aten::nonzero", "aten::nonzero_numpy", "aten::argwhere", "aten::unique", "aten::_unique",
    "aten::_unique2", "aten::unique_dim", "aten::unique_consecutive", "aten::unique_dim_consecutive",
    "aten::masked_select", "aten::repeat_interleave", "aten::bincount", "aten::item",
    "aten::_local_scalar_dense", "aten::tolist", "aten::histc", "aten::multinomial",
})

_INDEXING = frozenset({"aten::index", "aten::index_put", "aten::index_put_"})


def _blocks_nodes(block):
    for node in block.nodes():
        yield node
        for sub in node.blocks():
            yield from _blocks_nodes(sub)


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
    for node in _blocks_nodes(first_graph):
        kind = node.kind()
        if not kind.startswith(("aten::", "prim::")):
            return f"{kind} is not an aten op"
        if kind in _RECORDED_BELOW_MODE:
            return f"{kind} is recorded beneath a dispatch mode"
        if kind in _DATA_SHAPED or (kind in _INDEXING and _bool_index(node)):
            return f"{kind} has an output shape that depends on values"
    return None


class _ZerosForSkipped(TorchDispatchMode):
    """Below the tracer: a skipped op returns zeros of its meta kernel's output shape and strides."""

    def __init__(self, worker: concurrent.futures.Executor):
        super().__init__()
        self.worker = worker
        self.skipped = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func not in SKIPPED:
            return func(*args, **kwargs)
        self.skipped += 1
        # The tracer's state is thread-local: in this thread, sizes read by the meta kernel would be
        # traced values. The worker thread has no trace and no dispatch mode.
        return self.worker.submit(_zeros_like_result, func, args, kwargs).result()


def _zeros_like_result(func, args, kwargs):
    def meta(t):
        return t.to("meta") if isinstance(t, torch.Tensor) else t

    def zeros(t):
        if not isinstance(t, torch.Tensor):
            return t
        return torch.empty_strided(t.shape, t.stride(), dtype=t.dtype).zero_()

    with torch.no_grad():
        return tree_map(zeros, func(*tree_map(meta, args), **tree_map(meta, kwargs)))


_WORKER: Optional[concurrent.futures.ThreadPoolExecutor] = None
_WORKER_LOCK = threading.Lock()


def _worker() -> concurrent.futures.ThreadPoolExecutor:
    global _WORKER
    with _WORKER_LOCK:
        if _WORKER is None:
            _WORKER = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="trtgraph-shapes")
        return _WORKER


def trace_shapes(model, examples: list, findings: list):
    """``frontend.trace_module`` with the heavy ops skipped; returns (inlined graph, ops skipped)."""
    mode = _ZerosForSkipped(_worker())
    with mode:
        traced, _ = frontend.trace_module(model, examples, findings, inlined=False)
    return traced.inlined_graph, mode.skipped


def retrace(model, examples: list, first_graph, first_findings, check: Callable,
            findings: Optional[list] = None, stats: Optional[dict] = None):
    """Trace ``model`` at ``examples`` and return ``check(graph)`` (which raises TrtGraphError when
    the graph disagrees with the first trace), taking the shortcut when :func:`why_not` allows.
    A shortcut trace that fails, or that ``check`` refuses, is redone for real and checked again,
    so only a real trace can refuse the model. ``findings`` receives the TracerWarnings of the
    trace whose result is returned; ``stats`` gets ``shortcut`` (the reason it was not taken, or
    "taken", or "redone: ...") for reports and tests."""
    reason = why_not(first_graph, first_findings)
    if reason is None:
        found: list = []
        try:
            graph, _ = trace_shapes(model, examples, found)
            result = check(graph)
        except TrtGraphError as exc:
            reason = f"redone: {exc}"
        else:
            if findings is not None:
                findings.extend(found)
            if stats is not None:
                stats["shortcut"] = "taken"
            return result
    if stats is not None:
        stats["shortcut"] = reason
    found = []
    _, graph = frontend.trace_module(model, examples, found)
    result = check(graph)
    if findings is not None:
        findings.extend(found)
    return result
