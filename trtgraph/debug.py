"""Torch debug mode: the handlers' network calls, executed with plain torch.

``TorchNetwork`` implements the part of ``INetworkDefinition`` the handlers use. Each ``add_*``
records a layer with the same attribute names TensorRT's layers have; values are computed by the
reference evaluator's layer functions (``trtgraph.reference``), so the debug mode and the
evaluation of a real network share one meaning of every layer. Shapes are computed lazily from
the example inputs when a handler asks for ``tensor.shape``.

    with torch_network():
        trace, graph = torch2trt(model, [x])
    outputs = debug_call_graph(graph, [x])            # every node's output, in torch
    report = compare_with_eager(graph, [x])           # first diverging node, with its source line

The network and its records are in :mod:`trtgraph.debug_network` (re-exported here); this module
runs a converted graph and compares it with eager torch node by node.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch

from . import frontend
from .errors import EvaluationError, InputError
from .network_state import is_trt_tensor
from .debug_network import (DebugLayer, DebugTensor, TorchNetwork, torch_network, _BOOL_OPS,  # noqa: F401
                            _numpy_trt_dtype, _output_dtype)


# ---------------------------------------------------------------------- running and comparing

def _input_dict(graph, inputs) -> dict:
    if isinstance(inputs, torch.Tensor):
        inputs = [inputs]
    names = [graph.network.get_input(i).name for i in range(graph.network.num_inputs)]
    if len(inputs) != len(names):
        raise InputError(f"{len(inputs)} inputs given, the network takes {len(names)} ({', '.join(names)})")
    return dict(zip(names, inputs))


def network_values(graph, inputs) -> dict:
    """Every tensor's value (by name) of the graph's network, torch debug or real TensorRT."""
    feed = _input_dict(graph, inputs)
    if isinstance(graph.network, TorchNetwork):
        return graph.network.run(feed)
    from .reference import evaluate

    return evaluate(graph.network, feed, all_tensors=True)


def _resolve(value, values):
    if hasattr(value, "_network") or _is_real_tensor(value):
        return values.get(value.name)
    if isinstance(value, (list, tuple)):
        return type(value)(_resolve(v, values) for v in value)
    return value


def _is_real_tensor(value) -> bool:

    return is_trt_tensor(value)


def debug_call_graph(graph, inputs) -> list:
    """Run the converted network in torch on ``inputs``; returns ``[(NodeRecord, outputs)]``
    for every aten node, outputs as torch tensors (or the Python values folded at conversion)."""
    values = network_values(graph, inputs)
    return [(rec, [_resolve(o, values) for o in rec.outputs]) for rec in graph.nodes]


def eager_node_values(graph, inputs, model=None) -> dict:
    """Run the traced graph node by node with plain torch ops: jit value name -> torch value."""
    if isinstance(inputs, torch.Tensor):
        inputs = [inputs]
    g = graph.torch_graph
    env = {}
    g_inputs = list(g.inputs())
    env[g_inputs[0]] = graph.trace if hasattr(graph, "trace") else model
    for v, x in zip(g_inputs[1:], inputs):
        env[v] = x
    out = {}
    for node in g.nodes():
        kind = node.kind()
        if kind == "prim::Constant":
            env[node.output()] = frontend.constant_value(node)
        elif kind == "prim::GetAttr":
            env[node.output()] = getattr(env[node.input()], node.s("name"))
        elif kind == "prim::ListConstruct":
            env[node.output()] = [env[v] for v in node.inputs()]
        elif kind == "prim::TupleConstruct":
            env[node.output()] = tuple(env[v] for v in node.inputs())
        elif kind in ("prim::ListUnpack", "prim::TupleUnpack"):
            for v, x in zip(node.outputs(), env[node.input()]):
                env[v] = x
        elif kind == "prim::NumToTensor":
            env[node.output()] = torch.tensor(env[node.input()])
        elif kind == "prim::DictConstruct":
            vals = [env[v] for v in node.inputs()]
            env[node.output()] = dict(zip(vals[0::2], vals[1::2]))
        elif kind == "prim::TupleIndex":
            seq, idx = (env[v] for v in node.inputs())
            env[node.output()] = seq[idx]
        else:
            res = frontend.run_node_in_torch(node, [env[v] for v in node.inputs()])
            outs = list(node.outputs())
            res = [res] if len(outs) == 1 else list(res)
            for v, r in zip(outs, res):
                env[v] = r
                # in-place ops later in the graph would overwrite it: keep a snapshot
                out[v.debugName()] = r.clone() if isinstance(r, torch.Tensor) else r
    return out


@dataclass
class NodeDiff:
    record: object
    output: int
    max_abs: float
    max_rel: float

    def __str__(self):
        return (f"{self.record.describe()} output {self.output}: max abs error {self.max_abs:.3g}, "
                f"max rel error {self.max_rel:.3g}")


def errors(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """Max absolute error, and max absolute error relative to the reference's max magnitude.

    NaN and inf in ``a`` that match ``b`` (NaN at the same positions, inf of the same sign) count
    as equal; any other NaN/inf on either side is an infinite error.
    """
    a, b = a.detach().double(), b.detach().double()
    if a.shape != b.shape:
        return float("inf"), float("inf")  # a wrong shape is never within tolerance
    if a.numel() == 0:
        return 0.0, 0.0
    special_a, special_b = ~torch.isfinite(a), ~torch.isfinite(b)
    matched = (torch.isnan(a) & torch.isnan(b)) | (torch.isinf(a) & torch.isinf(b) & (torch.sign(a) == torch.sign(b)))
    if bool(((special_a | special_b) & ~matched).any()):
        return float("inf"), float("inf")
    finite = ~matched
    if not bool(finite.any()):
        return 0.0, 0.0
    a, b = a[finite], b[finite]
    abs_err = (a - b).abs().max().item()
    scale = b.abs().max().item()
    return abs_err, abs_err / scale if scale > 0 else abs_err


def compare_with_eager(graph, inputs, rtol: float = 1e-4, atol: float = 1e-5):
    """Compare every node's network output with the eager run of the traced graph.

    Returns ``(diffs, first_bad)``: one :class:`NodeDiff` per tensor output of a converted node,
    and the first whose error exceeds ``atol + rtol * max|eager|`` (None if all agree).
    """
    if isinstance(inputs, torch.Tensor):
        inputs = [inputs]
    net_values = network_values(graph, inputs)
    eager = eager_node_values(graph, inputs)
    diffs, first_bad = [], None
    for rec in graph.nodes:
        if rec.folded or rec.fused:
            continue
        for k, (name, val) in enumerate(zip(rec.value_names, rec.outputs)):
            got = _resolve(val, net_values)
            want = eager.get(name)
            if not isinstance(got, torch.Tensor) or not isinstance(want, torch.Tensor):
                continue
            if got.shape != want.shape:
                raise EvaluationError(f"{rec.describe()} output {k}: network shape {tuple(got.shape)} vs eager "
                                      f"{tuple(want.shape)}")
            a, r = errors(got, want.to(got.dtype) if not want.dtype.is_floating_point else want)
            d = NodeDiff(rec, k, a, r)
            diffs.append(d)
            scale = torch.nan_to_num(want.double(), nan=0.0, posinf=0.0, neginf=0.0).abs().max().item() \
                if want.numel() else 0.0
            if first_bad is None and a > atol + rtol * scale:
                first_bad = d
    return diffs, first_bad


_ = itertools
