"""trtgraph: compile PyTorch models to TensorRT networks and engines.

    import trtgraph
    conv = trtgraph.convert(model, [x], precision="fp16")
    engine = conv.build()
    print(conv.verify(x))

Lower level (the seed's API): ``trt_network``, ``torch2trt``, ``torch_network``,
``debug_call_graph``, ``register_node_handler``, ``current_network``, ``has_trt_tensor``.
"""
from . import handlers  # noqa: F401  (registers every handler)
from .api import Conversion, VerifyReport, convert
from .core import Graph, current_network, has_trt_tensor, is_trt_tensor, torch2trt, trt_network
from .debug import compare_with_eager, debug_call_graph, torch_network
from .errors import (BackendUnavailableError, BuildError, EvaluationError, HandlerError, InputError,
                     ParameterError, RegistrationError, ShapeMismatchError, TraceError, TrtGraphError,
                     UnsupportedOpsError)
from .registry import register_node_handler, registered_keys

__version__ = "0.1.0"

__all__ = [
    "convert", "Conversion", "VerifyReport", "Graph", "trt_network", "torch2trt", "torch_network",
    "debug_call_graph", "compare_with_eager", "register_node_handler", "registered_keys",
    "current_network", "has_trt_tensor", "is_trt_tensor",
    "TrtGraphError", "BackendUnavailableError", "BuildError", "EvaluationError", "HandlerError",
    "InputError", "ParameterError", "RegistrationError", "ShapeMismatchError", "TraceError",
    "UnsupportedOpsError",
]
