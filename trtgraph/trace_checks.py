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
* no node at that line -> ``"unknown"`` (treated as data).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch

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


def _classify(graph, file: str, lineno: int) -> tuple[str, set]:
    """Origin of the value computed by the last node recorded at ``file:lineno``."""
    target = (os.path.abspath(file), lineno)
    nodes = list(graph.nodes())
    last = None
    for node in reversed(nodes):
        if target in _frames(node):
            last = node
            break
    if last is None:
        return "unknown", set()
    model_inputs = {v: i - 1 for i, v in enumerate(graph.inputs()) if i > 0}
    data, sizes = False, set()
    seen = set()
    stack = [(v, False) for v in last.inputs()]
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
    if data:
        return "data", set()
    if sizes:
        return "size", sizes
    return "constant", set()


class WarningClassifier:
    """``warnings.showwarning`` replacement active during tracing: classifies TracerWarnings,
    passes every other warning to the previous handler."""

    def __init__(self, previous):
        self.previous = previous
        self.findings: list[TraceFinding] = []

    def __call__(self, message, category, filename, lineno, file=None, line=None):
        if not issubclass(category, torch.jit.TracerWarning):
            if self.previous is not None:
                self.previous(message, category, filename, lineno, file, line)
            return
        state = torch._C._get_tracing_state()
        origin, inputs = ("unknown", set()) if state is None else _classify(state.graph(), filename, lineno)
        text = str(message).split(". ")[0].strip().rstrip(".")
        source = f"{filename}:{lineno}"
        if any(f.source == source and f.message == text for f in self.findings):
            return
        self.findings.append(TraceFinding(source, text, origin, bool(inputs), inputs))
