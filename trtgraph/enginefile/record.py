"""Metadata for an engine: from the :class:`~trtgraph.Conversion` that built it, or read from a
deserialized engine (raw plans saved without a sidecar)."""
from __future__ import annotations

import datetime
from typing import Optional

from ..errors import SidecarSchemaError
from .hashing import model_hash, sha256_hex, tensorrt_identity, trtgraph_version
from .metadata import EngineMetadata, TensorSpec, dtype_name
from .rawfiles import _buffer


# --------------------------------------------------------------------------- metadata from a conversion / an engine

def _dims(d) -> tuple:
    return tuple(int(x) for x in d)


def metadata_from_conversion(conv, engine, model_hash_hex: Optional[str] = None, extra: Optional[dict] = None,
                             profiles: Optional[dict] = None) -> EngineMetadata:
    """Metadata for ``engine`` built from Conversion ``conv``. ``profiles``: {input name: (min, opt, max)}
    for dynamic inputs (also read from ``conv.profiles`` when the conversion has it)."""
    from ..dtypes import to_torch

    net = conv.network
    profiles = dict(profiles or getattr(conv, "profiles", None) or {})
    inputs = []
    for i in range(net.num_inputs):
        t = net.get_input(i)
        shape = _dims(t.shape)
        spec = TensorSpec(t.name, shape, dtype_name(to_torch(t.dtype)))
        if t.name in profiles:
            spec.min, spec.opt, spec.max = (tuple(int(x) for x in s) for s in profiles[t.name])
        elif all(d >= 0 for d in shape):
            spec.min = spec.opt = spec.max = shape
        inputs.append(spec)
    outputs = []
    for i in range(net.num_outputs):
        t = net.get_output(i)
        outputs.append(TensorSpec(t.name, _dims(t.shape), dtype_name(to_torch(t.dtype))))
    if model_hash_hex is None:
        model_hash_hex = model_hash(conv.model, conv.graph.torch_graph)
    buf = _buffer(engine)
    return EngineMetadata(
        inputs=inputs, outputs=outputs, precision=conv.precision, engine_sha256=sha256_hex(buf),
        engine_size=buf.nbytes, tensorrt=tensorrt_identity(), trtgraph_version=trtgraph_version(),
        model_hash=model_hash_hex, created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        extra=dict(extra or {}), structure=_structure_json(getattr(conv, "structure", None), len(outputs)))


def _structure_json(structure, num_outputs: int) -> Optional[dict]:
    """The sidecar's ``structure`` for a model with nested inputs, or outputs other than one tensor
    or a flat tuple/list of tensors (those keep today's sidecar: TRTModule returns a tensor/tuple)."""
    if structure is None or structure.out_spec is None or structure.is_simple():
        return None
    if structure.out_spec.num_leaves != num_outputs:
        return None
    try:
        return structure.to_json_dict()
    except Exception as exc:  # noqa: BLE001 - e.g. dict keys that are not JSON
        raise SidecarSchemaError(f"the model's output structure cannot be written as JSON ({type(exc).__name__}: "
                                 f"{exc}); return dicts with string keys", field="structure") from None


def metadata_from_engine(cuda_engine, engine_bytes) -> EngineMetadata:
    """Metadata read from a deserialized ICudaEngine (for raw plans saved without a sidecar)."""
    from .. import backend
    from ..dtypes import to_torch

    t = backend.trt()
    inputs, outputs = [], []
    for i in range(cuda_engine.num_io_tensors):
        name = cuda_engine.get_tensor_name(i)
        spec = TensorSpec(name, _dims(cuda_engine.get_tensor_shape(name)),
                          dtype_name(to_torch(cuda_engine.get_tensor_dtype(name))))
        if cuda_engine.get_tensor_mode(name) == t.TensorIOMode.INPUT:
            spec.min, spec.opt, spec.max = (_dims(s) for s in cuda_engine.get_tensor_profile_shape(name, 0))
            inputs.append(spec)
        else:
            outputs.append(spec)
    buf = _buffer(engine_bytes)
    meta = EngineMetadata(inputs=inputs, outputs=outputs, precision="unknown", engine_sha256=sha256_hex(buf),
                          engine_size=buf.nbytes, tensorrt=tensorrt_identity(), trtgraph_version=trtgraph_version(),
                          extra={"source": "read from the engine (no sidecar)"})
    return meta.validated("metadata read from the engine")
