"""``TRTModule`` (:mod:`trtgraph.runtime` describes it): an engine and its metadata as a
``torch.nn.Module``, its ``state_dict`` without pickle, lazy deserialization, input checks and
``forward``."""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Optional

import torch

from . import serialization as ser
from .errors import EngineFormatError, GpuUnavailableError, InputCountError, InputDeviceError, InputDtypeError
from .runtime_exec import _check_shape, _gpu_error, _supported_gpus, _trt, execute


ENGINE_KEY = "engine"
METADATA_KEY = "metadata"


class TRTModule(torch.nn.Module):

    """A TensorRT engine as a module.

    ``engine``: bytes-like (bytes, bytearray, memoryview, IHostMemory), a 1-D uint8 tensor, a path
    to a plan file, or None (an empty module to fill with ``load_state_dict``).
    ``metadata``: :class:`~trtgraph.serialization.EngineMetadata`, its dict/JSON form, or None. For
    a path without metadata, the sidecar ``<path>.json`` is used when it exists; a raw plan without
    any metadata is accepted, and its names, shapes and dtypes are then read from the engine when
    it is deserialized.
    ``device``: the CUDA device to deserialize on (default: the current device at first use).
    ``verify``: run the checks that need no GPU (size, SHA-256, TensorRT family/version, header).
    """

    is_trt_module = True  # how serialization.save_engine recognises one (it does not import this module)

    def __init__(self, engine=None, metadata=None, device=None, verify: bool = True):
        super().__init__()
        self._engine_data: Optional[torch.Tensor] = None
        self._metadata: Optional[ser.EngineMetadata] = None
        self._structure = None  # trtgraph.pytree.Structure from the sidecar
        self._device = torch.device(device) if device is not None else None
        self._reset_runtime()
        self.source_path: Optional[str] = None
        self.cache_hit: Optional[bool] = None  # set by trtgraph.compile
        self.cache_path: Optional[str] = None
        if engine is None:
            if metadata is not None:
                raise EngineFormatError("metadata given without an engine")
            return
        if isinstance(engine, (str, Path)):
            path = Path(engine)
            if ser.regular_file_stat(path, "engine file") is None:  # a FIFO or device: refused, never opened
                raise EngineFormatError(f"{path}: no such engine file")
            if metadata is None and os.path.lexists(ser.sidecar_path(path)):
                metadata = ser.read_metadata(path)
            self.source_path = str(path)
            data = ser.read_engine_file(path)
        else:
            data = ser.engine_tensor(engine)
        self._set(data, _as_metadata(metadata), verify, where=self.source_path or "engine")

    # ------------------------------------------------------------------ state

    def _reset_runtime(self):
        self._runtime = None
        self._cuda_engine = None
        self._context = None
        self._lock = threading.Lock()

    def _set(self, data: torch.Tensor, meta: Optional[ser.EngineMetadata], verify: bool, where: str):
        if verify:
            ser.verify_engine(data, meta, where)
        self._engine_data = data
        self._metadata = meta
        self._structure = meta.tree_structure() if meta is not None else None  # nested models only
        self._reset_runtime()

    @property
    def metadata(self) -> Optional[ser.EngineMetadata]:
        return self._metadata

    @property
    def engine_bytes(self) -> memoryview:
        self._require_engine()
        return ser._buffer(self._engine_data)

    @property
    def input_names(self) -> list:
        return self._meta_or_engine().input_names

    @property
    def output_names(self) -> list:
        return self._meta_or_engine().output_names

    @property
    def is_loaded(self) -> bool:
        """True once the engine has been deserialized."""
        return self._cuda_engine is not None

    @property
    def device(self) -> Optional[torch.device]:
        return self._device

    def _require_engine(self):
        if self._engine_data is None:
            raise EngineFormatError("this TRTModule holds no engine (construct it with one, or load_state_dict)")

    def _meta_or_engine(self) -> ser.EngineMetadata:
        if self._metadata is None:
            self.load_engine()  # a raw plan: the metadata comes from the engine
        return self._metadata

    def extra_repr(self) -> str:
        if self._engine_data is None:
            return "empty"
        if self._metadata is None:
            return f"raw plan, {self._engine_data.numel()} bytes (metadata read on first use)"
        m = self._metadata
        ins = ", ".join(s.describe() for s in m.inputs)
        outs = ", ".join(s.describe() for s in m.outputs)
        return (f"inputs=[{ins}], outputs=[{outs}], precision={m.precision}, "
                f"{m.tensorrt.get('family')} {m.tensorrt.get('version')}, {m.engine_size} bytes")

    def __getstate__(self):
        state = self.__dict__.copy()
        for k in ("_runtime", "_cuda_engine", "_context", "_lock"):
            state[k] = None
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ state_dict without pickle

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        super()._save_to_state_dict(destination, prefix, keep_vars)
        if self._engine_data is None:
            return
        if self._metadata is None:
            raise EngineFormatError("cannot save the state of a raw plan without metadata; call .load_engine() "
                                    "on a GPU first (it reads the metadata from the engine)")
        destination[prefix + ENGINE_KEY] = self._engine_data
        text = self._metadata.to_json().encode("utf-8")
        destination[prefix + METADATA_KEY] = torch.frombuffer(bytearray(text), dtype=torch.uint8)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        engine_key, meta_key = prefix + ENGINE_KEY, prefix + METADATA_KEY
        present = [k for k in (engine_key, meta_key) if k in state_dict]
        if len(present) < 2:
            missing_keys.extend(k for k in (engine_key, meta_key) if k not in state_dict)
        else:
            engine, meta_bytes = state_dict[engine_key], state_dict[meta_key]
            for key, t in ((engine_key, engine), (meta_key, meta_bytes)):
                if not isinstance(t, torch.Tensor) or t.dtype != torch.uint8 or t.dim() != 1:
                    raise EngineFormatError(f"state_dict[{key!r}] must be a 1-D uint8 tensor, got "
                                            f"{type(t).__name__} {getattr(t, 'dtype', '')} {tuple(getattr(t, 'shape', ()))}")
            meta = ser.EngineMetadata.from_json(bytes(ser._buffer(meta_bytes)), where=f"state_dict[{meta_key!r}]")
            self._set(engine.detach().cpu().contiguous().clone(), meta, True, where=f"state_dict[{engine_key!r}]")
        if strict:  # a TRTModule has no children: any other key under its prefix is unexpected
            unexpected_keys.extend(k for k in state_dict if k.startswith(prefix) and k not in (engine_key, meta_key))

    @classmethod
    def from_state_dict(cls, state_dict) -> "TRTModule":
        module = cls()
        module.load_state_dict(state_dict)
        return module

    # ------------------------------------------------------------------ deserialization

    def load_engine(self):
        """Deserialize the engine (once) and create its execution context; returns the ICudaEngine."""
        if self._cuda_engine is not None:
            return self._cuda_engine
        self._require_engine()
        from . import backend

        if not torch.cuda.is_available():
            raise GpuUnavailableError(
                "cannot run a TensorRT engine: CUDA is not available to torch (torch.cuda.is_available() is False; "
                f"torch {torch.__version__}, built with CUDA {torch.version.cuda}). TensorRT engines run only on a "
                "supported NVIDIA GPU" + _supported_gpus(backend, " (", ")") + ".")
        device = self._device if self._device is not None else torch.device("cuda", torch.cuda.current_device())
        if device.type != "cuda":
            raise GpuUnavailableError(f"TRTModule device must be a CUDA device, got {device}")
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        t = backend.trt()
        log = backend.logger()
        data = ser._buffer(self._engine_data)
        with torch.cuda.device(device):
            runtime = t.Runtime(log)
            if hasattr(runtime, "get_engine_validity"):
                log.clear()
                validity, flags = runtime.get_engine_validity(data)
                if getattr(validity, "name", str(validity)) == "INVALID":
                    names, messages = ser._validity_flags(t, int(flags)), log.errors()
                    if "MALFORMED_ENGINE" in names or "VERSION_MISMATCH" in names:
                        ser.check_engine_header(data, self.source_path or "engine")  # raises the named error
                    raise _gpu_error("TensorRT's get_engine_validity says the engine cannot run here", device,
                                     names, messages, backend)
            log.clear()
            engine = runtime.deserialize_cuda_engine(data)
            if engine is None:
                raise _gpu_error("TensorRT could not deserialize the engine", device, [], log.errors(), backend)
            self.check_engine(engine)
            context = engine.create_execution_context()
            if context is None:
                raise _gpu_error("TensorRT could not create an execution context", device, [], log.errors(), backend)
        self._runtime, self._cuda_engine, self._context, self._device = runtime, engine, context, device
        if self._metadata is None:
            self._metadata = ser.metadata_from_engine(engine, data)
        return engine

    def check_engine(self, cuda_engine):
        """Refuse a deserialized engine whose own inputs/outputs (names, modes, dtypes, shapes, profile)
        differ from this module's metadata, with :class:`EngineMismatchError`: an edited or swapped
        sidecar must not make TensorRT read or write buffers of the wrong size."""
        if self._metadata is not None:
            ser.check_engine_matches(cuda_engine, self._metadata, self.source_path or "engine")

    def inspect(self, fmt: str = "ONELINE") -> str:
        """TensorRT's engine inspector output (``fmt``: ONELINE or JSON); deserializes the engine."""
        engine = self.load_engine()
        t = _trt()
        inspector = engine.create_engine_inspector()
        if hasattr(inspector, "execution_context"):
            inspector.execution_context = self._context
        return inspector.get_engine_information(getattr(t.LayerInformationFormat, fmt))

    # ------------------------------------------------------------------ forward

    def validate_inputs(self, inputs) -> list:
        """Check count, type, dtype and shape against the metadata (no GPU needed); returns the tensors."""
        meta = self._meta_or_engine()
        specs = meta.inputs
        structure = self._structure
        if structure is not None:  # the model's own nesting (a list of images...) -> the engine's leaves
            leaves = structure.flatten_args(inputs)
            if leaves is not None:
                inputs = tuple(leaves)
        if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)) and len(specs) != 1:
            inputs = tuple(inputs[0])
        if len(inputs) != len(specs):
            raise InputCountError(f"{len(inputs)} input(s) given; the engine takes {len(specs)}: "
                                  + ", ".join(s.describe() for s in specs))
        for spec, x in zip(specs, inputs):
            if not isinstance(x, torch.Tensor):
                raise InputDtypeError(f"input {spec.name!r} is a {type(x).__name__}, expected a torch.Tensor",
                                      spec.name)
            if x.dtype != spec.torch_dtype:
                raise InputDtypeError(f"input {spec.name!r} has dtype {ser.dtype_name(x.dtype)}; the engine expects "
                                      f"{spec.dtype} (convert it with .to(torch.{spec.dtype}))", spec.name)
            _check_shape(spec, tuple(x.shape))
        return list(inputs)

    def forward(self, *inputs):
        inputs = self.validate_inputs(inputs)
        self.load_engine()
        device = self._device
        for spec, x in zip(self._metadata.inputs, inputs):
            if x.device != device:
                raise InputDeviceError(f"input {spec.name!r} is on {x.device}; the engine runs on {device} "
                                       f"(move it with .to({str(device)!r}))", spec.name)
        with self._lock, torch.cuda.device(device):
            stream = torch.cuda.current_stream(device)
            outputs = execute(self._cuda_engine, self._context, self._metadata, inputs, stream.cuda_stream, device)
        return self.unflatten_outputs(outputs)

    def unflatten_outputs(self, outputs: list):
        """The model's output structure (recorded in the sidecar: tuple, dict, list of dicts...) from the
        engine's outputs; without a recorded structure a single tensor, or a tuple, as before."""
        if self._structure is not None and self._structure.out_spec is not None:
            return self._structure.unflatten_outputs(outputs)
        return outputs[0] if len(outputs) == 1 else tuple(outputs)


def _as_metadata(metadata) -> Optional[ser.EngineMetadata]:
    if metadata is None:
        return None
    if isinstance(metadata, ser.EngineMetadata):
        metadata.validated()  # checked like a sidecar; the caller's object is kept
        return metadata
    if isinstance(metadata, dict):
        return ser.EngineMetadata.from_dict(metadata)
    if isinstance(metadata, (str, bytes, bytearray)):
        return ser.EngineMetadata.from_json(metadata)
    raise EngineFormatError(f"metadata must be EngineMetadata, a dict or JSON, got {type(metadata).__name__}")
