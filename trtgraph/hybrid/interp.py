"""Run a hybrid program's steps: torch steps as torch ops, segments through a callback.

The program is plain data (``TorchStep``/``SegmentStep`` and refs); only ``prim::PythonOp`` steps
need a Python callable, given by name in ``python_functions``.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from ..errors import HandlerError, TrtGraphError
from .partition import SegmentStep, TorchStep


def resolve(ref, env: dict, attr: Callable, device=None):
    tag, value = ref
    if tag == "v":
        return env[value]
    if tag == "c":
        if device is not None and isinstance(value, torch.Tensor) and value.dim() > 0:
            return value.to(device)
        return value
    if tag == "a":
        return attr(value)
    if tag == "l":
        return [resolve(r, env, attr, device) for r in value]
    if tag == "t":
        return tuple(resolve(r, env, attr, device) for r in value)
    raise TrtGraphError(f"unknown reference {ref!r} in a hybrid program")


def torch_op(op: str, overload: str):
    ns, name = op.split("::")
    try:
        return getattr(getattr(getattr(torch.ops, ns), name), overload or "default")
    except (AttributeError, RuntimeError) as exc:
        raise HandlerError(f"torch has no op {op}.{overload or 'default'} ({exc}); is the library defining it "
                           "(e.g. torchvision) imported?") from exc


def run_torch_step(step: TorchStep, env: dict, attr: Callable, python_functions: dict, device=None):
    args = [resolve(r, env, attr, device) for r in step.args]
    op = step.op
    if op in ("prim::ListUnpack", "prim::TupleUnpack"):
        out = list(args[0])
    elif op == "prim::TupleIndex":
        out = args[0][args[1]]
    elif op == "prim::NumToTensor":
        out = args[0] if isinstance(args[0], torch.Tensor) else torch.tensor(args[0])
    elif op == "prim::DictConstruct":
        out = dict(zip(args[0::2], args[1::2]))
    elif op == "prim::ListConstruct":
        out = list(args)
    elif op == "prim::TupleConstruct":
        out = tuple(args)
    elif op == "prim::Uninitialized":  # a placeholder scripted code never reads
        out = None
    elif op == "prim::RaiseException":
        raise HandlerError(f"{step.where}: the model raised an exception: {args[0] if args else ''}")
    elif op == "prim::device":
        out = args[0].device
    elif op == "prim::dtype":
        out = args[0].dtype
    elif op == "prim::If":
        block = step.blocks[0] if bool(args[0]) else step.blocks[1]
        for inner in block["steps"]:
            run_torch_step(inner, env, attr, python_functions, device)
        out = [resolve(r, env, attr, device) for r in block["outputs"]]
        for name, x in zip(step.outputs, out):
            env[name] = x
        return
    elif op == "prim::Loop":  # args: trip count, condition, carried values; block: (i, *carried) -> (cond, *carried)
        trip, cond, carried = args[0], bool(args[1]), list(args[2:])
        block, i = step.blocks[0], 0
        while i < trip and cond:
            env[block["inputs"][0]] = i
            for name, x in zip(block["inputs"][1:], carried):
                env[name] = x
            for inner in block["steps"]:
                run_torch_step(inner, env, attr, python_functions, device)
            outs = [resolve(r, env, attr, device) for r in block["outputs"]]
            cond, carried, i = bool(outs[0]), outs[1:], i + 1
        for name, x in zip(step.outputs, carried):
            env[name] = x
        return
    elif op in _LIST_OPS and args and isinstance(args[0], list):
        out = _LIST_OPS[op](*args)
    elif op in _GENERIC_OPS:
        out = _GENERIC_OPS[op](*args)
    elif op == "prim::PythonOp":
        fn = python_functions.get(step.python)
        if fn is None:
            raise HandlerError(f"{step.where}: the custom autograd.Function {step.python} is not available; "
                               "pass it in python_functions={name: Function.apply}")
        with torch.no_grad():
            out = fn(*args)
    else:
        overload = torch_op(op, step.overload)
        pos, kw = [], {}
        for a, v in zip(overload._schema.arguments, args):
            if a.kwarg_only:
                kw[a.name] = v
            else:
                pos.append(v)
        try:
            with torch.no_grad():
                out = overload(*pos, **kw)
        except Exception as exc:
            raise HandlerError(f"{step.where}: running it in torch failed: {type(exc).__name__}: {exc}") from exc
    if len(step.outputs) == 1 and op not in ("prim::ListUnpack", "prim::TupleUnpack"):
        env[step.outputs[0]] = out
    else:
        for name, x in zip(step.outputs, out):
            env[name] = x


def _set_item(seq, i, x):
    seq[i] = x
    return seq


# list ops on Python lists (torch.ops would mutate a copy)
_LIST_OPS = {
    "aten::append": lambda seq, x: (seq.append(x), seq)[1],
    "aten::insert": lambda seq, i, x: seq.insert(i, x),
    "aten::_set_item": _set_item,
    "aten::__getitem__": lambda seq, i: seq[i],
    "aten::len": len,
    "aten::extend": lambda seq, other: seq.extend(other),
}


# TorchScript builtins over any type (schemas with type variables cannot be called through torch.ops)
_GENERIC_OPS = {
    "aten::__is__": lambda a, b: a is b,
    "aten::__isnot__": lambda a, b: a is not b,
    "aten::__not__": lambda a: not a,
    "aten::__contains__": lambda seq, x: x in seq,
    "aten::__getitem__": lambda seq, i: seq[i],
    "aten::len": len,
    "aten::dict": dict,
    "aten::keys": lambda d: list(d.keys()),
    "aten::values": lambda d: list(d.values()),
    "prim::unchecked_cast": lambda x: x,
    "aten::__range_length": lambda lo, hi, step: max(0, (hi - lo + step - (1 if step > 0 else -1)) // step),
    "aten::__derive_index": lambda index, start, step: start + index * step,
    "prim::min": lambda *a: min(a[0]) if len(a) == 1 else min(a),
    "prim::max": lambda *a: max(a[0]) if len(a) == 1 else max(a),
}


def run_program(steps, inputs: dict, attr: Callable, run_segment: Callable, python_functions: dict,
                outputs: list, device=None):
    """Execute ``steps``; ``run_segment(step, [tensors]) -> [tensors]``; returns the output refs resolved."""
    env = dict(inputs)
    for step in steps:
        if isinstance(step, SegmentStep):
            outs = run_segment(step, [env[n] for n in step.inputs])
            for name, x in zip(step.outputs, outs):
                env[name] = x
        else:
            run_torch_step(step, env, attr, python_functions, device)
    return [resolve(r, env, attr, device) for r in outputs]
