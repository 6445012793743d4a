"""trtgraph's exceptions: one hierarchy, every message names what went wrong and where."""
from __future__ import annotations


class TrtGraphError(Exception):
    """Base of every error trtgraph raises on purpose."""


class BackendUnavailableError(TrtGraphError):
    """No usable TensorRT module could be imported."""


class InputError(TrtGraphError):
    """The model inputs given to trtgraph are not usable (type, device, dtype)."""


class TraceError(TrtGraphError):
    """torch.jit.trace failed, or the traced model returns something trtgraph cannot represent."""


class UnsupportedOpsError(TrtGraphError):
    """The graph holds ops (or argument combinations) no handler supports; lists all of them."""

    def __init__(self, problems):
        self.problems = list(problems)
        lines = [f"{len(self.problems)} unsupported op(s) in the traced graph:"]
        for p in self.problems:
            lines.append(f"  - {p}")
        super().__init__("\n".join(lines))


class HandlerError(TrtGraphError):
    """A handler failed on a node; the message names the node, argument and source line."""


class ShapeMismatchError(HandlerError):
    """A handler produced a TensorRT tensor whose shape/dtype differs from what the trace recorded."""


class ParameterError(TrtGraphError):
    """A parameter is missing (e.g. excluded by param_exclude but still used)."""


class RegistrationError(TrtGraphError):
    """Handler registration problem (duplicate key, malformed schema)."""


class BuildError(TrtGraphError):
    """TensorRT refused to build the network into an engine."""


class EvaluationError(TrtGraphError):
    """The reference evaluator could not evaluate a layer, or its result disagrees with TensorRT's inferred shape/dtype."""
