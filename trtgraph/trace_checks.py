"""What ``torch.jit.trace`` bakes in silently, found while it traces.

The tracer records tensor ops; when Python reads a tensor's *value* (``if x.sum() > 0``,
``x.item()``, ``x.tolist()``, ``torch.tensor(<a tensor>)``) it only warns (``TracerWarning``)
and records the value seen at the example as a constant. Such a warning is harmless when the
value was computed from **sizes** only (mask and shape checks: the sizes are fixed in a static
engine) or from parameters only (fixed too), and wrong for every other input when it was
computed from the **data** of a model input.

:class:`WarningClassifier` is installed as ``warnings.showwarning`` while tracing. At the moment
a warning is raised the tracer's graph still holds the nodes that computed the value (the trace
drops them later as dead code), so the classifier finds the last node recorded at the warning's
source line and walks its inputs back:

* reaching a model input through ``aten::size``/``dim``/``numel``/``len`` only -> ``"size"``;
* reaching a model input through any other op -> ``"data"``;
* reaching no model input (parameters, constants) -> ``"constant"``;
* no node recorded at that line since the previous warning -> ``"unknown"`` (treated as data:
  the value may have been computed anywhere before).
"""
from __future__ import annotations

import os
import re
import sys
import threading
from dataclasses import dataclass, field
from typing import Optional

import torch

from .ir import all_nodes, frames_of, tensor_sizes

_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__)) + os.sep
_OWN_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_JIT_TRACE_FILE = os.path.join(_TORCH_DIR, "jit", "_trace.py")
_SIZE_READS = {"aten::size", "aten::dim", "aten::numel", "aten::len", "aten::sym_size", "aten::sym_numel",
               "aten::_shape_as_tensor"}

# ops whose result is random: the trace would bake the example's draw into the engine
NONDETERMINISTIC_OPS = {
    "aten::rand", "aten::randn", "aten::rand_like", "aten::randn_like", "aten::randint", "aten::randint_like",
    "aten::randperm", "aten::bernoulli", "aten::bernoulli_", "aten::multinomial", "aten::normal", "aten::normal_",
    "aten::poisson", "aten::uniform_", "aten::exponential_", "aten::cauchy_", "aten::log_normal_",
    "aten::geometric_", "aten::random_", "aten::rrelu", "aten::rrelu_with_noise",
}
# dropout-like ops: random only when their `train` argument is true
TRAIN_RANDOM_OPS = {"aten::dropout", "aten::dropout_", "aten::feature_dropout", "aten::feature_dropout_",
                    "aten::alpha_dropout", "aten::alpha_dropout_", "aten::feature_alpha_dropout",
                    "aten::feature_alpha_dropout_", "aten::native_dropout"}


@dataclass
class TraceFinding:
    """One value the trace baked in: where, what Python did with it, and what it came from."""

    source: str  # file:line
    message: str  # the tracer's warning, first sentence
    origin: str  # "size", "data", "constant" or "unknown"
    dynamic: bool = False  # a size-derived value that reads a size of a model input (see trace_checks)
    inputs: set = field(default_factory=set)  # model input indices whose sizes it reads
    # the sizes the value was computed from, as read at each warning at this line (None: unknown);
    # equal in two traces at different input sizes means the check reads static sizes only
    size_reads: list = field(default_factory=list)

    @property
    def refused(self) -> bool:
        return self.origin in ("data", "unknown")

    def describe(self) -> str:
        what = {"data": "computed from input data", "unknown": "of unknown origin (treated as data)",
                "size": "computed from input sizes", "constant": "computed from parameters/constants"}[self.origin]
        return (f"at {self.source}: the trace baked in a value {what}: {self.message} -- the engine would "
                "repeat the example's value for every input")


def source_frames(node) -> list[tuple[str, int, str]]:
    """The Python frames a node's source range records: (file, line, function)."""
    return frames_of(node.sourceRange())


def _frames(node) -> list[tuple[str, int]]:
    return [(os.path.abspath(file), line) for file, line, _ in source_frames(node)]


def _last_node_at(nodes, targets):
    """The last node recorded at the first of ``targets`` (file, line) that has any."""
    frames = [(node, _frames(node)) for node in nodes]
    for target in targets:
        for node, where in reversed(frames):
            if target in where:
                return node, target
    return None, None


def _caller_outside_trtgraph() -> tuple[str, int]:
    """The innermost Python frame outside trtgraph and the warnings module."""
    frame = sys._getframe(1)
    while frame is not None:
        file = os.path.abspath(frame.f_code.co_filename)
        if not file.startswith(_OWN_DIR) and os.path.basename(file) != "warnings.py":
            return file, frame.f_lineno
        frame = frame.f_back
    return "<unknown>", 0


def _python_frames(file: str, lineno: int) -> list:
    """Where the value was read: the warning's location, then the Python frames calling it
    (``torch._assert(cond)`` warns inside torch; the condition was computed by its caller). The
    walk stops before trtgraph's and ``torch.jit.trace``'s own frames: a read inside torch modules
    only has the same location however the trace was started (see ``frontend.trace_graph``)."""
    out = [(os.path.abspath(file), lineno)]
    if not out[0][0].startswith(_TORCH_DIR):
        return out  # read in the user's own code: that line only
    frame, found = sys._getframe(1), False
    while frame is not None:
        where = (os.path.abspath(frame.f_code.co_filename), frame.f_lineno)
        if found and (where[0].startswith(_OWN_DIR) or where[0] == _JIT_TRACE_FILE):
            break
        if found and where not in out:
            out.append(where)
            if not where[0].startswith(_TORCH_DIR):
                break  # the first caller outside torch
        found = found or where == out[0]
        frame = frame.f_back
    return out


def _input_ancestors(v, model_inputs: dict, cache: dict) -> frozenset:
    """Indices of the model inputs ``v`` is computed from (memoised: the inputs of a recorded
    node never change while the trace grows)."""
    if v in cache:
        return cache[v]
    stack = [(v, False)]
    while stack:
        u, expanded = stack.pop()
        if u in cache:
            continue
        if u in model_inputs:
            cache[u] = frozenset((model_inputs[u],))
            continue
        parents = list(u.node().inputs())
        if expanded:
            found = set()
            for p in parents:
                found |= cache.get(p, frozenset())
            cache[u] = frozenset(found)
            continue
        stack.append((u, True))
        stack.extend((p, False) for p in parents if p not in cache)
    return cache[v]


def size_read_value(node):
    """What a size read (``aten::size(x, d)``, ``aten::size(x)``, ``numel``...) returned while
    tracing: ``x``'s size at ``d``, else its whole shape (None when the trace does not say)."""
    ins = list(node.inputs())
    if not ins:
        return None
    sizes = tensor_sizes(ins[0].type())
    if sizes is None:
        return None
    if node.kind() in ("aten::size", "aten::sym_size") and len(ins) == 2 and \
            ins[1].node().kind() == "prim::Constant":
        d = ins[1].toIValue()
        if isinstance(d, int) and -len(sizes) <= d < len(sizes):
            return ("dim", sizes[d])
    return ("shape", sizes)


# In a finding's ``size_reads``: the value was computed from a parameter's (or buffer's, or tensor
# constant's) values, not only from sizes.
VALUE_READ = ("value",)


def _origin_of(graph, starts, cache: Optional[dict] = None, reads: Optional[list] = None) -> tuple[str, set]:
    """Walk back from ``starts`` [(jit value, reached through a size read)] to the model inputs;
    ``reads`` (a list) receives what each size read on the way returned (:func:`size_read_value`)."""
    model_inputs = {v: i - 1 for i, v in enumerate(graph.inputs()) if i > 0}
    cache = {} if cache is None else cache
    sizes, seen = set(), set()
    stack = list(starts)
    while stack:
        v, through_size = stack.pop()
        if through_size:
            sizes |= _input_ancestors(v, model_inputs, cache)
            continue
        if v in seen:
            continue
        seen.add(v)
        if v in model_inputs:
            return "data", set()
        producer = v.node()
        reads_size = producer.kind() in _SIZE_READS
        if reads_size and reads is not None:
            reads.append(size_read_value(producer))
        if reads is not None and producer.kind() in ("prim::GetAttr", "prim::Constant") and \
                isinstance(v.type(), torch._C.TensorType):
            reads.append(VALUE_READ)  # the values of a parameter, buffer or tensor constant
        for u in producer.inputs():
            stack.append((u, reads_size))
    if sizes:
        return "size", sizes
    return "constant", set()


def _classify(graph, nodes, file: str, lineno: int, cache: Optional[dict] = None,
              reads: Optional[list] = None) -> tuple[str, set, str]:
    """Origin of the value computed by the last of ``nodes`` (those recorded since the previous
    warning) at ``file:lineno`` (or at the Python line that called it, when that is inside torch);
    returns (origin, model inputs whose sizes it reads, location). A value computed before the
    previous warning cannot be told apart from others: "unknown"."""
    last, target = _last_node_at(nodes, _python_frames(file, lineno))
    if last is None:
        return "unknown", set(), f"{file}:{lineno}"
    if last.kind() in _SIZE_READS and reads is not None:
        reads.append(size_read_value(last))
    origin, sizes = _origin_of(graph, [(v, last.kind() in _SIZE_READS) for v in last.inputs()], cache, reads)
    return origin, sizes, f"{target[0]}:{target[1]}"


# Tensor methods through which Python reads a traced value. While tracing, trtgraph wraps them to
# note which tensor is being read, so that the warning the tracer raises inside can be traced back
# exactly from that tensor (the source-line match above is the fallback).
_READ_METHODS = ("__bool__", "__int__", "__float__", "__index__", "__complex__", "item", "tolist", "numpy",
                 "__array__", "__iter__", "__len__")
_ITERATION = ("__iter__", "__len__")


class TensorReads:
    """Context manager: wrap the read methods of ``torch.Tensor`` for the calling thread."""

    def __init__(self):
        self.owner = threading.get_ident()
        self.stack: list = []  # (method name, tensor) being read, innermost last
        self.saved: dict = {}

    def _wrap(self, name, original):
        reads = self

        def read(tensor, *args, **kwargs):
            if threading.get_ident() != reads.owner:
                return original(tensor, *args, **kwargs)
            reads.stack.append((name, tensor))
            try:
                return original(tensor, *args, **kwargs)
            finally:
                reads.stack.pop()

        read.__name__ = name
        read.__wrapped__ = original
        return read

    def __enter__(self):
        for name in _READ_METHODS:
            original = getattr(torch.Tensor, name, None)
            if original is None:
                continue
            self.saved[name] = torch.Tensor.__dict__.get(name, _MISSING)
            setattr(torch.Tensor, name, self._wrap(name, original))
        return self

    def __exit__(self, *exc):
        for name, original in self.saved.items():
            if original is _MISSING:
                delattr(torch.Tensor, name)
            else:
                setattr(torch.Tensor, name, original)
        return False


_MISSING = object()
# "torch.tensor results are registered as constants in the trace", and the same for as_tensor & co.
CONSTANT_FACTORY = re.compile(r"^torch\.[\w.]+ results are registered as constants")


def _classify_read(graph, name, tensor, cache: Optional[dict] = None,
                   reads: Optional[list] = None) -> Optional[tuple[str, set]]:
    """Origin of the exact tensor Python read (None if the tracer does not know it)."""
    try:
        value = torch._C._get_value_trace(tensor)
    except RuntimeError:
        return None
    if value is None:
        return None
    if name in _ITERATION:
        # iterating bakes the number of iterations: a size of whatever the tensor came from
        if reads is not None:
            sizes = tensor_sizes(value.type())
            reads.append(("shape", sizes) if sizes is not None else None)
        origin, sizes = _origin_of(graph, [(value, True)], cache, reads)
        return origin, sizes
    return _origin_of(graph, [(value, False)], cache, reads)


class WarningClassifier:
    """``warnings.showwarning`` replacement active during tracing: classifies TracerWarnings,
    passes every other warning to the previous handler."""

    def __init__(self, previous, reads: Optional[TensorReads] = None):
        self.previous = previous
        self.reads = reads
        self.findings: list[TraceFinding] = []
        self.mark = 0  # nodes in the tracer's graph at the previous warning
        self.ancestors: dict = {}  # jit value -> model inputs it is computed from (see _input_ancestors)

    def __call__(self, message, category, filename, lineno, file=None, line=None):
        if not issubclass(category, torch.jit.TracerWarning):
            if self.previous is not None:
                self.previous(message, category, filename, lineno, file, line)
            return
        state = torch._C._get_tracing_state()
        origin, inputs, source = "unknown", set(), f"{filename}:{lineno}"
        reads: list = []
        if state is not None:
            graph = state.graph()
            exact = None
            if self.reads is not None and self.reads.stack:
                exact = _classify_read(graph, *self.reads.stack[-1], self.ancestors, reads)
                if exact is None:
                    reads = []
            if os.path.abspath(filename).startswith(_OWN_DIR):  # raised inside a TensorReads wrapper
                filename, lineno = _caller_outside_trtgraph()
            frames = _python_frames(filename, lineno)
            if exact is not None:
                (origin, inputs), source = exact, f"{frames[-1][0]}:{frames[-1][1]}"
            else:
                # the fallback matches source lines among the nodes recorded since the previous
                # unexplained warning (walking the growing graph only when it is needed)
                nodes = list(all_nodes(graph.block()))
                fresh, self.mark = nodes[self.mark:], len(nodes)
                origin, inputs, source = _classify(graph, fresh, filename, lineno, self.ancestors, reads)
        text = str(message).split(". ")[0].strip().rstrip(".")
        if CONSTANT_FACTORY.match(text):
            # torch.tensor / torch.as_tensor (...)(<Python data>) is a constant; of a traced tensor it is
            # recorded as a copy in the graph; Python numbers read from traced tensors warn on their own
            origin, inputs = "constant", set()
        read = tuple(reads) if reads and None not in reads else None
        for f in self.findings:
            if f.source == source and f.message == text and f.origin == origin:
                f.size_reads.append(read)
                return
        self.findings.append(TraceFinding(source, text, origin, bool(inputs), inputs, [read]))


def static_size_checks(findings: list, second: list) -> set:
    """Indices of the ``findings`` (size checks of one trace) that read the same sizes in ``second``
    (the findings of a trace at other dynamic sizes): they read static sizes only, so their value
    is the same over a dynamic range. A check whose reads are unknown, or that the second trace
    does not repeat the same number of times, is not among them."""
    def key(f):
        return (f.source, f.message, f.origin)

    other = {key(f): f.size_reads for f in second}
    return {i for i, f in enumerate(findings)
            if f.size_reads and None not in f.size_reads and other.get(key(f)) == f.size_reads}
