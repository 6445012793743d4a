"""Saving and loading engines without pickle: an engine file plus a JSON sidecar.

File format
-----------
``save_engine(conv, "model.engine")`` writes two files:

* ``model.engine`` -- the serialized TensorRT plan, byte for byte what
  ``build_serialized_network`` returned. It stays a plain TensorRT engine that other TensorRT
  tools can read.
* ``model.engine.json`` -- the sidecar, UTF-8 JSON (see :class:`EngineMetadata`)::

    {
      "format": "trtgraph-engine", "format_version": 1,
      "inputs":  [{"name": "input_0", "shape": [2, 4], "dtype": "float32",
                   "profile": {"min": [2, 4], "opt": [2, 4], "max": [2, 4]}}],
      "outputs": [{"name": "output_0", "shape": [2, 3], "dtype": "float32"}],
      "precision": "fp16",
      "trtgraph_version": "0.1.0",
      "tensorrt": {"family": "tensorrt_rtx", "flavour": "rtx_bindings", "version": "1.7.1.116"},
      "engine_size": 138348, "engine_sha256": "<hex>",
      "model_hash": "<hex sha256 of the traced graph and the weights>",
      "created": "2026-11-02T10:00:00+00:00", "extra": {}
    }

  Shapes use -1 for dynamic dimensions. ``profile`` is the input's min/opt/max shape of
  optimization profile 0 (all three equal the shape while trtgraph builds static engines).

Both files are written atomically (a temporary file in the same folder, then ``os.replace``),
with the permissions a plain ``open(path, "wb")`` would give: 0o666 minus the umask for a new
file, the existing mode when a file is replaced. The engine is written before its sidecar, and the
metadata is validated before anything is written.

The sidecar schema (:func:`validate_metadata`; one validator for ``load``, ``TRTModule``,
``load_state_dict``, ``trtgraph info`` and the cache): the keys above and no others (``extra`` holds
any JSON object with printable string keys); ``format_version`` an integer >= 1 (a bool is not an
integer); shapes arrays of at most 8 integers >= -1; ``profile`` (inputs only, required when the
shape has a -1) three arrays of integers >= 0 of the shape's rank, min <= opt <= max elementwise and
equal to the shape on its static dimensions; dtypes from the known set; names non-empty, printable
(no control, format or surrogate characters) and unique across inputs and outputs; ``precision``
one of fp32, fp16, bf16 (or "unknown" for metadata read from an engine); ``engine_size`` an
integer > 0; ``engine_sha256`` and ``model_hash`` 64 lowercase hex digits; ``created`` ISO 8601.
An optional ``structure`` (models with nested inputs or outputs: :mod:`trtgraph.pytree`) holds
``inputs`` and ``outputs``, each a ``torch.utils._pytree.treespec_dumps`` JSON string, whose leaf
counts must equal the numbers of inputs and outputs; sidecars without it load as before.
The text must be UTF-8 standard JSON (no NaN, no duplicate keys), at most 1 MiB, nested at most
32 deep (checked before parsing). Each violation is a :class:`SidecarSchemaError` whose ``field``
names the field (``inputs[0].profile.min``) and whose message says why.

The SHA-256 is an integrity check, not authentication: anyone who can edit the engine can rewrite
its sidecar to match. Load engines only from sources you trust.

Checks on load (:func:`load`, ``TRTModule(path)``, ``TRTModule.load_state_dict``), each a
named error, never a crash:

* an engine or sidecar path that is a FIFO, device, directory or socket -> :class:`NotARegularFileError`,
  without opening it (``os.stat``, then a non-blocking open and ``fstat``);
* missing or unreadable sidecar -> :class:`EngineFormatError`; a schema violation (above) ->
  :class:`SidecarSchemaError`;
* engine file shorter/longer than ``engine_size`` (truncated) -> :class:`EngineFormatError`; without a
  sidecar, a TensorRT-RTX plan shorter/longer than the length its header records (:func:`check_plan_size`)
  -> :class:`EngineFormatError`;
* SHA-256 of the engine differs from ``engine_sha256`` -> :class:`EngineIntegrityError`;
* built by another TensorRT family (standard vs RTX) or version, or a newer ``format_version``
  -> :class:`EngineVersionError`;
* TensorRT-RTX only: ``Runtime.get_engine_validity`` reads the plan header. Measured with RTX
  1.7.1 on a machine without a GPU: a foreign file, an empty file or a damaged 4-byte plan magic
  is reported as ``MALFORMED_ENGINE`` -> :class:`EngineFormatError`; a well-formed header gets
  INVALID with no flag (it cannot read the GPU's properties), and damage past the magic (even
  the version bytes) is not seen -- the SHA-256 check covers that. With a GPU,
  ``VERSION_MISMATCH`` -> :class:`EngineVersionError`; the GPU-related flags are reported by
  deserialization as :class:`GpuUnavailableError`. Standard TensorRT has no such call.
* at deserialization (a GPU), the engine's own I/O tensors -- names, input/output mode, dtypes,
  shapes, the inputs' profile -- are compared with the metadata (:func:`check_engine_matches`);
  a difference (an edited or swapped sidecar) -> :class:`EngineMismatchError`.

``model_hash`` is a SHA-256 over the traced graph's text (TorchScript's per-process
``___torch_mangle_N`` class-name suffixes and the ``# file:line`` source comments removed), the
values of tensor constants in the graph, and every parameter and buffer of the model (name,
dtype, shape, bytes), streamed through hashlib one tensor at a time.

``trtgraph info ENGINE`` (:func:`cmd_info`) prints the sidecar, the checks above (``check plan size``
too, which is what catches a truncated engine that has no sidecar) and, when the engine can be
deserialized (a supported GPU), TensorRT's engine inspector output.

The code lives in :mod:`trtgraph.enginefile`, one module per concern: ``metadata`` (TensorSpec,
EngineMetadata, the schema), ``jsonfields`` (JSON limits and field checks), ``rawfiles`` (byte views,
regular-file reads, atomic writes), ``hashing`` (versions, SHA-256, model hash), ``record`` (metadata from
a conversion or an engine), ``checks`` (engine against metadata and TensorRT), ``files`` (read, write,
save, load) and ``describe`` (``trtgraph info``). This module re-exports all of it.
"""
from .enginefile.jsonfields import (MAX_JSON_DEPTH, MAX_NAME_CHARS, MAX_RANK, MAX_SIDECAR_BYTES,  # noqa: F401
                                    MAX_TENSORS, parse_sidecar_json, _BRACKET, _HEX64, _INT64_MAX,
                                    _JSON_STRING, _bad, _is_int, _join, _json_depth_ok, _kind,
                                    _no_duplicate_keys, _object, _reject_constant, _shape_field, _short,
                                    _text)
from .enginefile.metadata import (EngineMetadata, FORMAT, FORMAT_VERSION, SIDECAR_SUFFIX, TensorSpec,  # noqa: F401
                                  dtype_from_name, dtype_name, validate_metadata, validate_tensor,
                                  _DTYPES_BY_NAME, _DTYPE_NAMES, _FAMILIES, _INT_LIST_OR_STRING,
                                  _TOP_OPTIONAL, _TOP_REQUIRED, _one_line)
from .enginefile.rawfiles import (atomic_write_bytes, current_umask, engine_tensor, regular_file_stat,  # noqa: F401
                                  _FILE_KINDS, _UMASK_LOCK, _buffer, _new_file_mode, _read_regular,
                                  _require_regular)
from .enginefile.hashing import (model_hash, normalized_graph_text, sha256_hex, tensorrt_identity,  # noqa: F401
                                 trtgraph_version, _MANGLE, _SOURCE_COMMENT, _graph_constants,
                                 _hash_tensor)
from .enginefile.record import metadata_from_conversion, metadata_from_engine, _dims, _structure_json  # noqa: F401
from .enginefile.checks import (check_compatibility, check_engine_bytes, check_engine_header,  # noqa: F401
                                check_engine_matches, check_plan_size, engine_validity,
                                plan_recorded_size, verify_engine, _RTX_PLAN_HEADER, _RTX_PLAN_MAGIC,
                                _validity_flags)
from .enginefile.files import (load_files, read_engine_file, read_metadata, save_engine, sidecar_path,  # noqa: F401
                               write_engine)
from .enginefile.describe import describe, format_report, _check  # noqa: F401
