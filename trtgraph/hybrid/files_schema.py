"""Validation of a ``hybrid.json`` document: :func:`validate_program` for its top level, and
``_Loader``, which checks and rebuilds its steps, references and constants."""
from __future__ import annotations

import datetime

import torch

from .. import serialization as ser
from ..errors import DisallowedOpError, TrtGraphError
from .files_format import (_DEVICE_RE, _DTYPES, _OP_RE, _OVERLOAD_RE, _PRIM_ARITY, _SEGMENT_KEYS, _TOP_OPTIONAL,
                           _TOP_REQUIRED, _TORCH_KEYS, _ALLOWED_OPS, ALLOWED_NAMESPACES, FORMAT, FORMAT_VERSION,
                           PROGRAM_FILE, _bad, _interpreted, _is_int, _kind, _list, _obj, _str)
from .partition import SegmentStep, TorchStep


class _Loader:
    """Validates a hybrid.json document and rebuilds its steps (tensors resolved by ``tensor(id)``)."""

    def __init__(self, doc, where: str, tensor):
        self.where, self.tensor = where, tensor
        self.doc = doc
        self.params: set = set()
        self.segments_seen: set = set()
        self.n_segments = 0
        self.segment_io: dict = {}

    def const(self, v, field, depth=0):
        if v is None or isinstance(v, (bool, int, float)):
            return v
        if isinstance(v, str):
            return _str(v, self.where, field, allow_empty=True)
        if isinstance(v, list):
            return [self.const(x, f"{field}[{i}]") for i, x in enumerate(v)]
        if isinstance(v, dict) and len(v) == 1:
            (key, value), = v.items()
            f = f"{field}.{key}"
            if key == "tensor":
                return self.tensor(_str(value, self.where, f), f)
            if key == "tuple":
                return tuple(self.const(x, f"{f}[{i}]") for i, x in enumerate(_list(value, self.where, f)))
            if key == "float":
                if value not in ("inf", "-inf", "nan"):
                    raise _bad(self.where, f, f"{ser._short(value)} is not one of inf, -inf, nan")
                return float(value)
            if key == "device":
                if not (isinstance(value, str) and _DEVICE_RE.fullmatch(value)):
                    raise _bad(self.where, f, f"{ser._short(value)} is not a device (cpu, cuda, cuda:N)")
                return torch.device(value)
            if key == "dtype":
                if not isinstance(value, str) or value not in _DTYPES:
                    raise _bad(self.where, f, f"unknown dtype {ser._short(value)}")
                return _DTYPES[value]
        raise _bad(self.where, field, f"{ser._short(v)} is not a constant (null, boolean, number, string, array, or "
                                      "an object with one key: tensor, tuple, float, device, dtype)")

    def ref(self, r, field, defined: set):
        if not (isinstance(r, list) and len(r) == 2 and isinstance(r[0], str)):
            raise _bad(self.where, field, f"expected a reference [tag, value], got {ser._short(r)}")
        tag, value = r
        if tag == "v":
            name = _str(value, self.where, f"{field}[1]", limit=1024)
            if name not in defined:
                raise _bad(self.where, field, f"refers to value {name!r}, which no earlier step or input defines")
            return ["v", name]
        if tag == "a":
            path = _str(value, self.where, f"{field}[1]", allow_empty=True, limit=1024)
            if path not in self.params:
                raise _bad(self.where, field, f"refers to module attribute {path!r}, which is not in params")
            return ["a", path]
        if tag == "c":
            return ["c", self.const(value, f"{field}[1]")]
        if tag in ("l", "t"):
            items = _list(value, self.where, f"{field}[1]")
            return [tag, [self.ref(x, f"{field}[1][{i}]", defined) for i, x in enumerate(items)]]
        raise _bad(self.where, f"{field}[0]", f"unknown reference tag {ser._short(tag)} (expected v, a, c, l, t)")

    def names(self, v, field) -> list:
        items = _list(v, self.where, field)
        return [_str(x, self.where, f"{field}[{i}]", limit=1024) for i, x in enumerate(items)]

    def op(self, op, overload, field):
        from .interp import torch_op

        if not (isinstance(op, str) and _OP_RE.fullmatch(op)):
            raise _bad(self.where, f"{field}.op", f"{ser._short(op)} is not an op name like aten::relu")
        if not (isinstance(overload, str) and _OVERLOAD_RE.fullmatch(overload) and len(overload) <= 128):
            raise _bad(self.where, f"{field}.overload", f"{ser._short(overload)} is not an overload name")
        ns = op.split("::")[0]
        if ns not in ALLOWED_NAMESPACES and op not in _ALLOWED_OPS:
            raise DisallowedOpError(f"{self.where}: {field}.op: {op} is outside the allowed op namespaces "
                                    f"({', '.join(sorted(ALLOWED_NAMESPACES))}); if you trust this folder, call "
                                    f"trtgraph.hybrid.files.allow_op_namespace({ns!r}) first", field=f"{field}.op")
        if op in _interpreted():
            return
        if ns == "torchvision":  # its ops exist in torch.ops once torchvision is imported
            try:
                import torchvision  # noqa: F401
            except ImportError:
                pass
        try:
            found = torch_op(op, overload)
        except TrtGraphError as exc:
            raise DisallowedOpError(f"{self.where}: {field}.op: {exc}", field=f"{field}.op") from None
        if not isinstance(found, torch._ops.OpOverload):
            raise DisallowedOpError(f"{self.where}: {field}.op: {op}.{overload or 'default'} is not a torch op",
                                    field=f"{field}.op")

    def steps(self, items, field, defined: set) -> list:
        out = []
        for i, s in enumerate(_list(items, self.where, field)):
            out.append(self.step(s, f"{field}[{i}]", defined))
        return out

    def step(self, s, field, defined: set):
        if not isinstance(s, dict) or s.get("kind") not in ("torch", "segment"):
            kind = s.get("kind") if isinstance(s, dict) else None
            raise _bad(self.where, f"{field}.kind" if isinstance(s, dict) else field,
                       f"unknown step kind {ser._short(kind)} (expected torch or segment)")
        if s["kind"] == "segment":
            _obj(s, self.where, field, _SEGMENT_KEYS)
            k = s["index"]
            if not _is_int(k) or not 0 <= k < self.n_segments:
                raise _bad(self.where, f"{field}.index", f"{ser._short(k)} is not a segment index "
                                                         f"(0..{self.n_segments - 1})")
            if k in self.segments_seen:
                raise _bad(self.where, f"{field}.index", f"segment {k} runs twice")
            self.segments_seen.add(k)
            ins = self.names(s["inputs"], f"{field}.inputs")
            for j, n in enumerate(ins):
                if n not in defined:
                    raise _bad(self.where, f"{field}.inputs[{j}]", f"value {n!r} is not defined before the segment")
            outs = self.names(s["outputs"], f"{field}.outputs")
            self.segment_io[k] = (len(ins), len(outs), field)
            defined.update(outs)
            return SegmentStep(k, ins, outs)
        _obj(s, self.where, field, _TORCH_KEYS)
        self.op(s["op"], s["overload"], field)
        args = [self.ref(r, f"{field}.args[{i}]", defined) for i, r in enumerate(_list(s["args"], self.where,
                                                                                       f"{field}.args"))]
        outs = self.names(s["outputs"], f"{field}.outputs")
        arity = _PRIM_ARITY.get(s["op"])
        if arity is not None and len(args) != arity:
            raise _bad(self.where, f"{field}.args", f"{s['op']} takes {arity} argument(s), got {len(args)}")
        if s["op"] == "prim::DictConstruct" and len(args) % 2:
            raise _bad(self.where, f"{field}.args", "prim::DictConstruct takes key/value pairs")
        where_text = _str(s["where"], self.where, f"{field}.where", allow_empty=True)
        reason = _str(s["reason"], self.where, f"{field}.reason", allow_empty=True)
        python = _str(s["python"], self.where, f"{field}.python", allow_empty=True, limit=1024)
        cconv = _str(s["cconv"], self.where, f"{field}.cconv", allow_empty=True, limit=1 << 16)
        if s["op"] == "prim::PythonOp":
            if not python:
                raise _bad(self.where, f"{field}.python", "a prim::PythonOp step needs the Function's name")
            if set(cconv) - {"c", "d"} or len(cconv) != len(args):
                raise _bad(self.where, f"{field}.cconv", f"{ser._short(cconv)} does not describe the "
                                                         f"{len(args)} argument(s) (one 'd' or 'c' each)")
        blocks_in = _list(s["blocks"], self.where, f"{field}.blocks")
        loop = s["op"] == "prim::Loop"
        if len(blocks_in) != {"prim::If": 2, "prim::Loop": 1}.get(s["op"], 0):
            raise _bad(self.where, f"{field}.blocks", f"{len(blocks_in)} block(s): prim::If has 2, prim::Loop 1, other "
                                                      "ops none")
        if loop and len(args) != 2 + len(outs):
            raise _bad(self.where, f"{field}.args", f"prim::Loop takes a trip count, a condition and one value per "
                                                    f"output ({len(outs)}), got {len(args)} argument(s)")
        blocks = []
        for j, b in enumerate(blocks_in):
            bf = f"{field}.blocks[{j}]"
            _obj(b, self.where, bf, ("inputs", "steps", "outputs"))
            inner = set(defined)
            b_in = self.names(b["inputs"], f"{bf}.inputs")
            if len(b_in) != (1 + len(outs) if loop else 0):
                raise _bad(self.where, f"{bf}.inputs", f"{len(b_in)} block input(s) for {s['op']} with "
                                                       f"{len(outs)} output(s)")
            inner.update(b_in)
            b_steps = self.steps(b["steps"], f"{bf}.steps", inner)
            if any(isinstance(x, SegmentStep) for x in b_steps):
                raise _bad(self.where, f"{bf}.steps", "a segment cannot run inside a prim::If block")
            b_out = [self.ref(r, f"{bf}.outputs[{i}]", inner) for i, r in enumerate(_list(b["outputs"], self.where,
                                                                                           f"{bf}.outputs"))]
            if len(b_out) != len(outs) + loop:
                raise _bad(self.where, f"{bf}.outputs", f"{len(b_out)} block output(s) for {s['op']} with "
                                                        f"{len(outs)} output(s)")
            blocks.append({"inputs": b_in, "steps": b_steps, "outputs": b_out})
        defined.update(outs)
        return TorchStep(s["op"], s["overload"], args, outs, where_text, reason, python, cconv, blocks)


def validate_program(doc, where: str = PROGRAM_FILE):
    """Check the document's shape (no files read); returns it."""
    d = _obj(doc, where, "", _TOP_REQUIRED, _TOP_OPTIONAL) if isinstance(doc, dict) else None
    if d is None:
        raise _bad(where, "", f"expected a JSON object, got {_kind(doc)}")
    if d["format"] != FORMAT:
        raise _bad(where, "format", f"not a trtgraph hybrid program (format {ser._short(d['format'])}, "
                                    f"expected {FORMAT!r})")
    v = d["format_version"]
    if not _is_int(v) or v < 1:
        raise _bad(where, "format_version", f"{ser._short(v)} is not an integer >= 1")
    if v > FORMAT_VERSION:
        from ..errors import EngineVersionError

        raise EngineVersionError(f"{where}: format_version {v} was written by a newer trtgraph; this trtgraph "
                                 f"reads format_version <= {FORMAT_VERSION}")
    _str(d["trtgraph_version"], where, "trtgraph_version", limit=128)
    from ..dtypes import PRECISIONS

    if not isinstance(d["precision"], str) or d["precision"] not in PRECISIONS:
        raise _bad(where, "precision", f"{ser._short(d['precision'])} is not one of {', '.join(PRECISIONS)}")
    if d.get("created") is not None:
        try:
            datetime.datetime.fromisoformat(_str(d["created"], where, "created", limit=64))
        except ValueError:
            raise _bad(where, "created", f"{ser._short(d['created'])} is not an ISO 8601 date") from None
    if d.get("report") is not None:
        _str(d["report"], where, "report", allow_empty=True, limit=1 << 22, multiline=True)
    extra = d.get("extra")
    if extra is not None:
        _obj(extra, where, "extra", (), tuple(k for k in extra if isinstance(k, str) and k.isprintable()))
    return d
