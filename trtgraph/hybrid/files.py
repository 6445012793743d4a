"""Hybrid folders: a hybrid module's engines, torch program and tensors on disk, without pickle.

    trtgraph.hybrid.files.save_hybrid(hc, "model.hybrid")      # hc: HybridConversion or HybridModule
    module = trtgraph.load("model.hybrid", python_functions={"pkg.mod.MyFn": MyFn})

Folder layout::

    model.hybrid/
      hybrid.json                  the program (below)
      segment_0.engine             each TensorRT segment: its plan and sidecar
      segment_0.engine.json        (trtgraph.serialization's format, checked the same way)
      tensors/t0.bin ...           each tensor the torch steps read: raw little-endian bytes

``hybrid.json`` (UTF-8 JSON, at most 64 MiB, nested at most 96 deep, no NaN, no duplicate keys)::

    {"format": "trtgraph-hybrid", "format_version": 1, "trtgraph_version": "...", "precision": "fp32",
     "created": "<ISO 8601>",
     "inputs":  [{"name": "input_0", "value": "x.1"}],      user name, graph value name
     "outputs": ["output_0"],                                 user names of the flat output tensors
     "output_refs": [<ref>...],                               what the program returns
     "structure": {"inputs": "<treespec_dumps>", "outputs": "<...>"|null, "wrapped": false} | null,
     "segments": [{"engine": "segment_0.engine",
                   "eager": {"inputs": [...], "steps": [...], "outputs": [<ref>...]}}],   optional: the
                                  segment as torch steps, run when a call's shapes are outside its profile
     "steps": [{"kind": "segment", "index": 0, "inputs": [...], "outputs": [...]},
               {"kind": "torch", "op": "aten::index", "overload": "Tensor", "args": [<ref>...],
                "outputs": [...], "where": "...", "reason": "...", "python": "", "cconv": "",
                "blocks": [{"inputs": [...], "steps": [...], "outputs": [<ref>...]}]}],
     "params": {"block1.0.weight": "t0"},                    module attributes the torch steps read
     "tensors": {"t0": {"file": "tensors/t0.bin", "dtype": "float32", "shape": [8, 3, 3, 3],
                        "sha256": "<hex>"}},
     "python_functions": ["pkg.mod.MyFn"], "report": "<the plan, as text>", "extra": {}}

A ref is ``["v", value name]`` (computed earlier), ``["a", "attribute.path"]`` (a key of
``params``), ``["c", constant]``, ``["l", [refs]]`` or ``["t", [refs]]``. A constant is JSON
null/bool/int/float/string/array, or an object ``{"tensor": id}``, ``{"tuple": [...]}``,
``{"float": "inf"|"-inf"|"nan"}``, ``{"device": "cpu"}``, ``{"dtype": "float32"}``. Torch steps with
blocks (``prim::If``: two, ``prim::Loop``: one) hold them as nested step lists.

A folder holds no segment networks (engines cannot be evaluated on the CPU): a loaded module's
``evaluate`` needs :func:`attach_segments` with the conversions it was saved from.

Loading runs no Python from the folder: torch ops are looked up by schema name through ``torch.ops``
only, in the namespaces aten, prim and torchvision (more with :func:`allow_op_namespace`); a
``prim::PythonOp`` step (a custom ``autograd.Function``) runs only the callable the caller passes in
``python_functions``. Every violation is a named error (:class:`HybridSchemaError` naming the field,
:class:`DisallowedOpError`, :class:`MissingPythonFunctionError`, the engine errors of
:mod:`trtgraph.serialization`); symlinks, FIFOs and other non-regular files are refused unread.

The code lives beside this module, one module per concern: ``files_format`` (names, limits, allowed
ops, JSON checks), ``files_save`` (writing and removing folders), ``files_schema`` (validation of
``hybrid.json``), ``files_load`` (reading a folder back into a HybridModule) and ``files_info``
(``trtgraph info`` and the registration with ``trtgraph.load``). This module re-exports all of it.
"""
from .files_format import (ALLOWED_NAMESPACES, FORMAT, FORMAT_VERSION, MAX_DEPTH, MAX_PROGRAM_BYTES,  # noqa: F401
                           MAX_RANK, MAX_TEXT, PROGRAM_FILE, TENSOR_DIR, allow_op_namespace,
                           is_hybrid_folder, parse_document, _ALLOWED_OPS, _ATTR_RE, _DEVICE_RE, _DTYPES,
                           _DTYPE_NAMES, _FILE_RE, _ID_RE, _INTERPRETED, _INT_VIEW, _OP_RE, _OVERLOAD_RE,
                           _PRIM_ARITY, _RAW, _SEGMENT_KEYS, _TENSOR_FILE_RE, _TOP_OPTIONAL,
                           _TOP_REQUIRED, _TORCH_KEYS, _bad, _interpreted, _is_int, _kind, _list, _obj,
                           _str)
from .files_save import (program_document, remove_hybrid_folder, save_hybrid, tensor_bytes, write_folder,  # noqa: F401
                         _Writer, _attr_paths, _dir_mode, _is_dynamic, _leaf_count, _program_of,
                         _python_names, _step_attr_paths, _structure_json)
from .files_schema import validate_program, _Loader  # noqa: F401
from .files_load import (LoadedEager, attach_segments, load_hybrid, load_tensor, read_program, _no_link,  # noqa: F401
                         _resolve_functions)
from .files_info import HybridFolders, cmd_info, describe_hybrid, format_hybrid_report, _register  # noqa: F401
