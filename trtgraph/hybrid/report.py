"""The plan of a hybrid conversion, before anything is built: segments, torch nodes, FLOPs.

FLOPs are an estimate from the traced shapes: convolutions, linear layers and matrix products
(``_convolution``, ``conv*``, ``linear``, ``addmm``, ``mm``, ``bmm``, ``baddbmm``, ``matmul``,
``einsum`` is not counted specially) count 2 x multiply-accumulates; scaled dot-product attention
counts its two matrix products; every other op counts one FLOP per output element. Glue (sizes,
lists, constants) counts nothing.
"""
from __future__ import annotations

import re

import math

from .. import frontend

_MATMUL_OPS = {"aten::linear", "aten::addmm", "aten::mm", "aten::bmm", "aten::baddbmm", "aten::matmul"}
_CONV_OPS = {"aten::_convolution", "aten::conv1d", "aten::conv2d", "aten::conv3d", "aten::convolution"}


def _shape(v, attr):
    tt = frontend.traced_type(v)
    if tt is not None and tt.shape is not None:
        return tt.shape
    node = v.node()
    if node.kind() == "prim::GetAttr":
        from .partition import attr_path

        path = attr_path(v)
        try:
            x = attr(path) if path is not None else None
        except AttributeError:
            x = None
        if hasattr(x, "shape"):
            return tuple(x.shape)
    return None


def node_flops(node, attr) -> int:
    outs = [frontend.traced_type(o) for o in node.outputs()]
    out = next((t.shape for t in outs if t is not None and t.shape is not None), None)
    numel = math.prod(out) if out is not None else 0
    kind = node.kind()
    ins = list(node.inputs())
    if kind in _CONV_OPS and len(ins) > 1:
        w = _shape(ins[1], attr)
        transposed = kind == "aten::_convolution" and ins[6].node().kind() == "prim::Constant" and \
            bool(frontend.constant_value(ins[6].node()))
        if w is not None:
            if transposed:
                x = _shape(ins[0], attr)
                return 2 * (math.prod(x) if x else 0) * math.prod(w[1:])
            return 2 * numel * math.prod(w[1:])
    if kind in _MATMUL_OPS and ins:
        a = _shape(ins[1] if kind in ("aten::addmm", "aten::baddbmm") else ins[0], attr)
        if a:
            return 2 * numel * a[-1]
    if kind == "aten::scaled_dot_product_attention" and len(ins) > 2:
        q, k = _shape(ins[0], attr), _shape(ins[1], attr)
        if q and k:
            return 2 * math.prod(q) * k[-2] + 2 * numel * k[-2]
    return numel


def build_plan(part, attr, conversions=None) -> dict:
    """Structured plan: ``segments`` and ``torch_nodes`` with FLOP shares, and boundary counts."""
    flops = {n: node_flops(n, attr) for n in part.reasons.keys() | {n for s in part.segments for n in s["units"]}}
    total = sum(flops.values()) or 1
    segs = []
    for k, seg in enumerate(part.segments):
        f = sum(flops[n] for n in seg["units"])
        segs.append({"index": k, "nodes": len(seg["units"]), "flops": f, "flops_share": f / total,
                     "inputs": [_io(v) for v in seg["inputs"]], "outputs": [_io(v) for v in seg["outputs"]],
                     "first": frontend.describe(seg["units"][0]), "last": frontend.describe(seg["units"][-1])})
    torch_nodes = []
    for n in part.torch_nodes:
        torch_nodes.append({"kind": n.kind(), "scope": frontend.scope_of(n), "source": frontend.source_line(n),
                            "reason": part.reasons[n], "flops": flops[n], "flops_share": flops[n] / total})
    crossing = {v for s in part.segments for v in s["inputs"] + s["outputs"]}
    return {"segments": segs, "torch_nodes": torch_nodes, "total_flops": sum(flops.values()),
            "trt_flops_share": sum(s["flops"] for s in segs) / total,
            "boundary_tensors": len(crossing),
            "boundary_tensors_per_run": sum(len(s["inputs"]) + len(s["outputs"]) for s in part.segments)}


def _io(v) -> dict:
    tt = frontend.traced_type(v)
    return {"name": v.debugName(), "shape": list(tt.shape) if tt and tt.shape is not None else None,
            "dtype": str(tt.dtype).replace("torch.", "") if tt and tt.dtype is not None else None}


def _fmt_flops(f: int) -> str:
    for unit, scale in (("GFLOP", 1e9), ("MFLOP", 1e6), ("kFLOP", 1e3)):
        if f >= scale:
            return f"{f / scale:.3g} {unit}"
    return f"{f} FLOP"


def format_plan(plan: dict, dynamic: dict = None) -> str:
    dynamic = dynamic or {}
    lines = [f"hybrid plan: {len(plan['segments'])} TensorRT segment(s) with {plan['trt_flops_share']:.1%} of "
             f"the estimated FLOPs ({_fmt_flops(plan['total_flops'])} in all), {len(plan['torch_nodes'])} torch "
             f"node(s), {plan['boundary_tensors']} tensor(s) crossing the boundary "
             f"({plan['boundary_tensors_per_run']} copies in and out of segments per run)"]
    for s in plan["segments"]:
        lines.append(f"  segment {s['index']}: {s['nodes']} node(s), {s['flops_share']:.1%} of FLOPs "
                     f"({_fmt_flops(s['flops'])})")
        lines.append(f"    from {s['first']}")
        lines.append(f"    to   {s['last']}")
        for what in ("inputs", "outputs"):
            shown = ", ".join(f"%{io['name']} {tuple(io['shape']) if io['shape'] is not None else '?'} {io['dtype']}"
                              for io in s[what])
            lines.append(f"    {what}: {shown or '-'}")
        for name, prof in dynamic.get(s["index"], {}).items():
            lines.append(f"    dynamic profile {name}: min {prof[0]} opt {prof[1]} max {prof[2]}")
    if plan["torch_nodes"]:
        lines.append("  torch nodes:")
        # the same op at the same line for the same reason (a Python loop) is one line, with its count
        groups: dict = {}
        for t in plan["torch_nodes"]:
            key = (t["kind"], t["scope"], t["source"], re.sub(r"%[\w.]+", "%...", t["reason"]))
            count, share, first = groups.get(key, (0, 0.0, t["reason"]))
            groups[key] = (count + 1, share + t["flops_share"], first)
        for (kind, scope, source, general), (count, share, first) in groups.items():
            reason = general if count > 1 else first
            where = f" in module '{scope}'" if scope else ""
            src = f" at {source}" if source else ""
            times = f" (x{count})" if count > 1 else ""
            lines.append(f"    {kind}{times}{where}{src}: {reason} ({share:.1%} of FLOPs)")
    return "\n".join(lines)
