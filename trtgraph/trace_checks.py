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
import sys
from dataclasses import dataclass, field

import torch

_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__)) + os.sep
_OWN_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_SIZE_READS = {"aten::size", "aten::dim", "aten::numel", "aten::len", "aten::sym_size", "aten::sym_numel"}

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

    @property
    def refused(self) -> bool:
        return self.origin in ("data", "unknown")

    def describe(self) -> str:
        what = {"data": "computed from input data", "unknown": "of unknown origin (treated as data)",
                "size": "computed from input sizes", "constant": "computed from parameters/constants"}[self.origin]
        return (f"at {self.source}: the trace baked in a value {what}: {self.message} -- the engine would "
                "repeat the example's value for every input")


def _frames(node) -> list[tuple[str, int]]:
    from .frontend import source_frames

    return [(os.path.abspath(file), line) for file, line, _ in source_frames(node)]


def _all_nodes(block):
    """Every node of a block and its sub-blocks, in creation order (while tracing, each module
    call is a ``prim::TracedModuleForward`` node whose block receives the module's nodes)."""
    for node in block.nodes():
        yield node
        for sub in node.blocks():
            yield from _all_nodes(sub)


def _last_node_at(nodes, targets):
    """The last node recorded at the first of ``targets`` (file, line) that has any."""
    frames = [(node, _frames(node)) for node in nodes]
    for target in targets:
        for node, where in reversed(frames):
            if target in where:
                return node, target
    return None, None


def _python_frames(file: str, lineno: int) -> list:
    """Where the value was read: the warning's location, then the Python frames calling it
    (``torch._assert(cond)`` warns inside torch; the condition was computed by its caller)."""
    out = [(os.path.abspath(file), lineno)]
    if not out[0][0].startswith(_TORCH_DIR):
        return out  # read in the user's own code: that line only
    frame, found = sys._getframe(1), False
    while frame is not None:
        where = (os.path.abspath(frame.f_code.co_filename), frame.f_lineno)
        if found and where not in out:
            out.append(where)
            if not where[0].startswith(_TORCH_DIR):
                break  # the first caller outside torch
        found = found or where == out[0]
        frame = frame.f_back
    return out


def _classify(graph, nodes, file: str, lineno: int) -> tuple[str, set, str]:
    """Origin of the value computed by the last of ``nodes`` (those recorded since the previous
    warning) at ``file:lineno`` (or at the Python line that called it, when that is inside torch);
    returns (origin, model inputs whose sizes it reads, location). A value computed before the
    previous warning cannot be told apart from others: "unknown"."""
    last, target = _last_node_at(nodes, _python_frames(file, lineno))
    if last is None:
        return "unknown", set(), f"{file}:{lineno}"
    model_inputs = {v: i - 1 for i, v in enumerate(graph.inputs()) if i > 0}
    data, sizes = False, set()
    seen = set()
    stack = [(v, last.kind() in _SIZE_READS) for v in last.inputs()]
    while stack:
        v, through_size = stack.pop()
        if (v, through_size) in seen:
            continue
        seen.add((v, through_size))
        if v in model_inputs:
            if through_size:
                sizes.add(model_inputs[v])
            else:
                data = True
            continue
        producer = v.node()
        reads_size = producer.kind() in _SIZE_READS
        for u in producer.inputs():
            stack.append((u, through_size or reads_size))
    where = f"{target[0]}:{target[1]}"
    if data:
        return "data", set(), where
    if sizes:
        return "size", sizes, where
    return "constant", set(), where


class WarningClassifier:
    """``warnings.showwarning`` replacement active during tracing: classifies TracerWarnings,
    passes every other warning to the previous handler."""

    def __init__(self, previous):
        self.previous = previous
        self.findings: list[TraceFinding] = []
        self.mark = 0  # nodes in the tracer's graph at the previous warning

    def __call__(self, message, category, filename, lineno, file=None, line=None):
        if not issubclass(category, torch.jit.TracerWarning):
            if self.previous is not None:
                self.previous(message, category, filename, lineno, file, line)
            return
        state = torch._C._get_tracing_state()
        origin, inputs, source = "unknown", set(), f"{filename}:{lineno}"
        if state is not None:
            graph = state.graph()
            nodes = list(_all_nodes(graph.block()))
            fresh, self.mark = nodes[self.mark:], len(nodes)
            origin, inputs, source = _classify(graph, fresh, filename, lineno)
        text = str(message).split(". ")[0].strip().rstrip(".")
        if text.startswith("torch.tensor results are registered as constants"):
            # torch.tensor(<Python data>) is a constant; torch.tensor(<a traced tensor>) is recorded
            # as a copy in the graph; Python numbers read from traced tensors warn on their own
            origin, inputs = "constant", set()
        if any(f.source == source and f.message == text and f.origin == origin for f in self.findings):
            return
        self.findings.append(TraceFinding(source, text, origin, bool(inputs), inputs))
