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


class DynamicShapeError(TrtGraphError):
    """A dynamic dimension cannot be followed: a constant the trace baked in from a size,
    shape-dependent control flow, or a handler that needs the dimension static."""


class ParameterError(TrtGraphError):
    """A parameter is missing (e.g. excluded by param_exclude but still used)."""


class ModelChangedError(TrtGraphError):
    """The model's parameters or buffers changed after conversion: the network (which shares the
    weights) no longer matches what was converted. Convert again."""


class RegistrationError(TrtGraphError):
    """Handler registration problem (duplicate key, malformed schema)."""


class BuildError(TrtGraphError):
    """TensorRT refused to build the network into an engine."""


class EvaluationError(TrtGraphError):
    """The reference evaluator could not evaluate a layer, or its result disagrees with TensorRT's inferred shape/dtype."""


# --------------------------------------------------------------------------- saved engines and the runtime
# (trtgraph/serialization.py, trtgraph/runtime.py, trtgraph/cache.py)

class EngineLoadError(TrtGraphError):
    """A saved engine (file + sidecar, or a TRTModule state_dict) cannot be used."""


class EngineFormatError(EngineLoadError):
    """Not a usable trtgraph engine: truncated, malformed or foreign file, or missing/unreadable sidecar."""


class EngineIntegrityError(EngineLoadError):
    """The engine bytes do not match the SHA-256 recorded in their metadata (corrupted or swapped file)."""


class EngineVersionError(EngineLoadError):
    """The engine was built by another TensorRT flavour/version, or written by a newer trtgraph format."""


class GpuUnavailableError(TrtGraphError):
    """No usable GPU: CUDA is unavailable, or TensorRT cannot deserialize the engine on this GPU (diagnostics in the message)."""


class EngineExecutionError(TrtGraphError):
    """TensorRT refused to run the engine (set_input_shape / set_tensor_address / execute_async_v3 failed)."""


class EngineInputError(InputError):
    """An input given to a TRTModule does not fit the engine; ``input_name`` names it (None for the count)."""

    def __init__(self, message: str, input_name=None):
        super().__init__(message)
        self.input_name = input_name


class InputCountError(EngineInputError):
    """A TRTModule got a different number of inputs than the engine takes."""


class InputShapeError(EngineInputError):
    """An input's shape is outside the engine's optimization profile (or differs from its static shape)."""


class InputDtypeError(EngineInputError):
    """An input's dtype differs from the engine's input dtype."""


class InputDeviceError(EngineInputError):
    """An input is not a CUDA tensor on the engine's device."""


class SidecarSchemaError(EngineFormatError):
    """A field of an engine's metadata (sidecar or state_dict) violates the schema; ``field`` names it
    (e.g. ``inputs[0].profile.min``; None when the whole document is at fault: too large, too deeply
    nested, not JSON)."""

    def __init__(self, message: str, field=None):
        super().__init__(message)
        self.field = field


class NotARegularFileError(EngineFormatError):
    """An engine or sidecar path names a FIFO, a device, a directory or another non-regular file: it is
    refused without being opened for reading (reading a FIFO would block forever)."""


class EngineMismatchError(EngineFormatError):
    """The deserialized engine's own inputs/outputs (names, input/output mode, dtypes, shapes, profile)
    differ from what its metadata records: the sidecar does not describe this engine."""


def user_stacklevel() -> int:
    """The ``stacklevel`` for ``warnings.warn`` called in trtgraph that points at the first frame
    outside trtgraph (the user's line), however deep inside trtgraph the warning is raised."""
    import os
    import sys

    own = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(own):
        frame, level = frame.f_back, level + 1
    return level


class HybridSchemaError(EngineFormatError):
    """A field of a hybrid folder's ``hybrid.json`` violates its schema (unknown step kind, a reference
    to a value no earlier step defines, a bad tensor entry...); ``field`` names it (``steps[3].args[0]``)."""

    def __init__(self, message: str, field=None):
        super().__init__(message)
        self.field = field


class DisallowedOpError(HybridSchemaError):
    """A hybrid program names an op outside the allowed namespaces (aten, prim, torchvision and those
    given to ``trtgraph.hybrid.files.allow_op_namespace``), or one torch does not have."""


class MissingPythonFunctionError(InputError):
    """A hybrid program calls custom ``autograd.Function``s (``prim::PythonOp``) that were not passed in
    ``python_functions``; ``missing`` lists their names."""

    def __init__(self, message: str, missing=()):
        super().__init__(message)
        self.missing = list(missing)


class HybridSaveError(TrtGraphError):
    """A hybrid module holds something a hybrid folder cannot store without pickle (a constant of an
    unsupported type, a tensor of an unsupported dtype, a structure that is not JSON)."""
