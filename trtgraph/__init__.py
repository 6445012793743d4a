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
from .errors import DynamicShapeError, ModelChangedError  # noqa: E402
from .errors import EngineMismatchError, NotARegularFileError, SidecarSchemaError  # noqa: E402
from .precision import DEFAULT_FP32_OPS, PrecisionPolicy
from .registry import register_node_handler, registered_keys

__version__ = "0.1.0"

__all__ = [
    "convert", "Conversion", "PrecisionPolicy", "DEFAULT_FP32_OPS", "VerifyReport", "Graph", "trt_network", "torch2trt", "torch_network",
    "debug_call_graph", "compare_with_eager", "register_node_handler", "registered_keys",
    "current_network", "has_trt_tensor", "is_trt_tensor",
    "TrtGraphError", "BackendUnavailableError", "BuildError", "EvaluationError", "HandlerError",
    "InputError", "ParameterError", "RegistrationError", "ShapeMismatchError", "TraceError",
    "UnsupportedOpsError", "DynamicShapeError", "ModelChangedError", "EngineMismatchError",
    "NotARegularFileError", "SidecarSchemaError",
]

# runtime, saving/loading and the engine cache (issue 5)
from .cache import clear_cache, compile  # noqa: E402,A004
from .errors import (EngineExecutionError, EngineFormatError, EngineInputError, EngineIntegrityError,  # noqa: E402
                     EngineLoadError, EngineVersionError, GpuUnavailableError, InputCountError, InputDeviceError,
                     InputDtypeError, InputShapeError)
from .runtime import TRTModule  # noqa: E402
from .runtime import load  # noqa: E402
from .hybrid import HybridConversion, HybridModule  # noqa: E402  (also enables convert(..., fallback=True))
from .serialization import EngineMetadata, save_engine  # noqa: E402

__all__ += [
    "TRTModule", "compile", "clear_cache", "load", "save_engine", "EngineMetadata",
    "EngineLoadError", "EngineFormatError", "EngineIntegrityError", "EngineVersionError", "GpuUnavailableError",
    "EngineExecutionError", "EngineInputError", "InputCountError", "InputShapeError", "InputDtypeError",
    "InputDeviceError", "HybridConversion", "HybridModule",
]
