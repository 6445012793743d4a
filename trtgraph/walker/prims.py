"""``prim::`` nodes belong to the walker: constants, lists, tuples, dicts, GetAttr chains."""
from __future__ import annotations

import re
from typing import Optional

import torch

from .. import frontend
from ..dtypes import to_torch
from ..errors import InputError, ParameterError, TraceError
from ..network_state import is_trt_tensor


def _prim_getattr(self, node):
    owner = node.input()
    name = node.s("name")
    obj = self.env[owner]
    path = f"{self.paths.get(owner, '')}.{name}".lstrip(".")
    try:
        value = getattr(obj, name)
    except AttributeError as exc:
        raise TraceError(f"{frontend.describe(node)}: module attribute '{path}' not found") from exc
    if isinstance(value, torch.Tensor):
        if self.exclude is not None and self.exclude.fullmatch(path):
            value = _Excluded(path, self.exclude.pattern)
        else:
            value = value.detach()
            if value.device.type != "meta":
                self.param_storages.add(value.untyped_storage().data_ptr())
    self.env[node.output()] = value
    self.paths[node.output()] = path


def _stand_in(x, jit_value, zeros: bool):
    """A torch tensor standing in for a network tensor in a shape-only op: meta, or zeros.
    Its shape is the traced one (the network's may have -1 in dynamic dims this op does not read)."""
    if not is_trt_tensor(x):
        return x
    tt = frontend.traced_type(jit_value)
    dtype = tt.dtype if tt is not None and tt.dtype is not None else to_torch(x.dtype)
    shape = tuple(tt.shape) if tt is not None and tt.shape is not None else tuple(x.shape)
    return torch.zeros(shape, dtype=dtype) if zeros else torch.empty(shape, dtype=dtype, device="meta")


class _Excluded:
    """A parameter dropped by ``param_exclude``; using it is an error."""

    def __init__(self, path, pattern):
        self.path, self.pattern = path, pattern


def param_exclude_regex(param_exclude: Optional[str]) -> Optional[re.Pattern]:
    """``param_exclude`` compiled (None when not given); a bad pattern is an :class:`InputError`."""
    try:
        return re.compile(param_exclude) if param_exclude else None
    except (re.error, TypeError) as exc:
        raise InputError(f"param_exclude={param_exclude!r} is not a valid regular expression: {exc}") from None


def excluded_use(node, path: str, pattern: str) -> ParameterError:
    """The error for ``node`` using parameter ``path``, which ``param_exclude`` (``pattern``) excludes."""
    return ParameterError(f"{frontend.describe(node)} uses parameter '{path}', which param_exclude={pattern!r} "
                          "excludes; narrow the pattern")


def _prim_constant(w, node):
    w.env[node.output()] = frontend.constant_value(node)


def _prim_list(w, node):
    w.env[node.output()] = [w.env[v] for v in node.inputs()]


def _prim_tuple(w, node):
    w.env[node.output()] = tuple(w.env[v] for v in node.inputs())


def _prim_dict(w, node):
    vals = [w.env[v] for v in node.inputs()]
    w.env[node.output()] = dict(zip(vals[0::2], vals[1::2]))


def _prim_unpack(w, node):
    seq = w.env[node.input()]
    outs = list(node.outputs())
    if len(seq) != len(outs):
        raise TraceError(f"{frontend.describe(node)}: unpacking {len(seq)} values into {len(outs)}")
    for v, x in zip(outs, seq):
        w.env[v] = x


def _prim_num_to_tensor(w, node):
    x = w.env[node.input()]
    w.env[node.output()] = x if is_trt_tensor(x) else torch.tensor(x)


def _prim_tuple_index(w, node):
    seq, idx = (w.env[v] for v in node.inputs())
    w.env[node.output()] = seq[idx]


_PRIM_HANDLERS = {
    "prim::Constant": _prim_constant,
    "prim::ListConstruct": _prim_list,
    "prim::TupleConstruct": _prim_tuple,
    "prim::DictConstruct": _prim_dict,
    "prim::ListUnpack": _prim_unpack,
    "prim::TupleUnpack": _prim_unpack,
    "prim::GetAttr": _prim_getattr,
    "prim::NumToTensor": _prim_num_to_tensor,
    "prim::TupleIndex": _prim_tuple_index,
}
