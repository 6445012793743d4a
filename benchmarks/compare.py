"""trtgraph against the ONNX route, model by model: time to a TensorRT network, build time, layers,
engine size and peak memory. Writes docs/benchmarks.md and docs/benchmarks.png.

    python -m benchmarks.compare                                   # the five models, 3 repeats
    python -m benchmarks.compare --models resnet50 gpt2 --repeats 5
    python -m benchmarks.compare --from-json results.json          # only rewrite the docs

Routes (all fp32, static shapes, batch 1, the builder's default config):

* ``trtgraph``: ``trtgraph.convert(model, inputs)`` -- ``torch.jit.trace`` plus trtgraph's handlers
  adding layers to a strongly typed network;
* ``onnx_ts``: ``torch.onnx.export(model, inputs, BytesIO(), dynamo=False)`` -- the TorchScript
  exporter, which traces with the same ``torch.jit.trace`` as trtgraph -- then NVIDIA's
  ``OnnxParser.parse(bytes)`` into a strongly typed network;
* ``onnx_dynamo``: ``torch.onnx.export(model, inputs, dynamo=True)`` -- the default exporter since
  torch 2.9 (``torch.export`` + onnxscript, ONNX graph optimisation on) -- serialized with
  ``model_proto.SerializeToString()``, then ``OnnxParser.parse``.

"Time to network" is the wall time from the model object to a complete ``INetworkDefinition``
(trace/export, serialization to bytes, parsing). "Build" is ``builder.build_serialized_network``
of that network with ``builder.create_builder_config()``. In one process, each repeat runs every
route once, the order rotating from repeat to repeat, so that all routes see the same machine
load; medians over repeats are reported. Before the first repeat, every route runs once on a tiny
CNN (untimed) so that one-off imports are not billed to the first model. Peak memory is measured
in a fresh subprocess per model and route (see :mod:`benchmarks.common`).
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from . import common
from .common import first_line, mb, md_table, secs

ROUTES = {
    "trtgraph": "trtgraph.convert (torch.jit.trace + trtgraph handlers)",
    "trtgraph_export": "trtgraph.convert(frontend='export') (torch.export + the same handlers)",
    "onnx_ts": "torch.onnx.export(dynamo=False) + OnnxParser",
    "onnx_dynamo": "torch.onnx.export(dynamo=True) + OnnxParser",
}
TRTGRAPH_ROUTES = {"trtgraph": "torchscript", "trtgraph_export": "export"}
ONNX_ROUTES = [r for r in ROUTES if r not in TRTGRAPH_ROUTES]


# --------------------------------------------------------------------------- the routes


@dataclass
class NetworkResult:
    builder: object
    network: object
    seconds: float
    parts: dict = field(default_factory=dict)  # seconds of the route's stages
    keep: object = None  # what must stay alive until the build (weights, parser)


class RouteError(Exception):
    def __init__(self, stage: str, message: str):
        super().__init__(message)
        self.stage = stage


@contextlib.contextmanager
def quiet_fds():
    """Send what C++ and Python print on file descriptors 1 and 2 to a temporary file (the
    TorchScript exporter prints the whole graph when an op is unsupported; onnxscript's optimizer
    prints evaluation notes)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as sink:
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _onnx_bytes(model, inputs, dynamo: bool) -> bytes:
    import torch

    with warnings.catch_warnings(), quiet_fds():
        warnings.simplefilter("ignore")
        if dynamo:
            program = torch.onnx.export(model, tuple(inputs), dynamo=True, verbose=False, external_data=False,
                                        input_names=[f"input_{i}" for i in range(len(inputs))])
            return program.model_proto.SerializeToString()
        buf = io.BytesIO()
        torch.onnx.export(model, tuple(inputs), buf, dynamo=False,
                          input_names=[f"input_{i}" for i in range(len(inputs))])
        return buf.getvalue()


def to_network(route: str, model, inputs) -> NetworkResult:
    """Model -> complete TensorRT network by ``route``; raises :class:`RouteError` naming the stage."""
    from trtgraph.backend import create_builder_and_network, logger, trt

    if route in TRTGRAPH_ROUTES:
        import trtgraph

        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                conv = trtgraph.convert(model, inputs, frontend=TRTGRAPH_ROUTES[route])
        except Exception as exc:  # noqa: BLE001 - a failing route is a row
            raise RouteError("convert", first_line(exc)) from exc
        seconds = time.perf_counter() - t0
        trace_s = getattr(conv.graph, "trace_seconds", None)
        return NetworkResult(conv.builder, conv.network, seconds,
                             {"trace_s": trace_s, "convert_s": seconds - trace_s if trace_s else None}, conv)
    if route not in ROUTES:
        raise ValueError(f"unknown route {route!r}; known: {', '.join(ROUTES)}")
    t0 = time.perf_counter()
    try:
        data = _onnx_bytes(model, inputs, dynamo=route == "onnx_dynamo")
    except Exception as exc:  # noqa: BLE001
        raise RouteError("export", first_line(exc)) from exc
    t1 = time.perf_counter()
    builder, network = create_builder_and_network()
    log = logger()
    log.clear()
    parser = trt().OnnxParser(network, log)
    ok = parser.parse(data)
    t2 = time.perf_counter()
    if not ok:
        errs = [str(parser.get_error(i).desc()) for i in range(parser.num_errors)] or log.errors() or ["(no message)"]
        raise RouteError("parse", "OnnxParser: " + errs[0][:240])
    return NetworkResult(builder, network, t2 - t0, {"export_s": t1 - t0, "parse_s": t2 - t1,
                                                     "onnx_bytes": len(data)}, (parser, data))


def build_engine(builder, network) -> tuple[float, int]:
    """``build_serialized_network`` with the default config: (seconds, engine bytes)."""
    from trtgraph.backend import logger

    config = builder.create_builder_config()
    log = logger()
    log.clear()
    t0 = time.perf_counter()
    plan = builder.build_serialized_network(network, config)
    seconds = time.perf_counter() - t0
    if plan is None:
        raise RouteError("build", "build_serialized_network returned None: " + "; ".join(log.errors()[:2])[:240])
    size = plan.nbytes
    del plan
    return seconds, size


def run_route(route: str, model, inputs, build: bool = True) -> dict:
    """One sample of one route: never raises for a failing route, returns ``ok: False`` instead."""
    sample = {"route": route, "ok": False}
    net = None
    try:
        net = to_network(route, model, inputs)
        sample.update(network_s=net.seconds, layers=net.network.num_layers, **net.parts)
        if build:
            sample["build_s"], sample["engine_bytes"] = build_engine(net.builder, net.network)
        sample["ok"] = True
    except RouteError as exc:
        sample.update(stage=exc.stage, error=str(exc))
    except Exception as exc:  # noqa: BLE001
        sample.update(stage="unexpected", error=first_line(exc))
    finally:
        del net
        gc.collect()
    return sample


_warmed: set = set()


def warm_up(routes) -> None:
    """Run each route once on the tiny CNN (untimed): imports and first-call set-up happen here."""
    for route in routes:
        if route in _warmed:
            continue
        model, inputs = common.build_model("tiny_cnn")
        run_route(route, model, inputs, build=True)
        _warmed.add(route)


def _median(samples, key):
    vals = [s[key] for s in samples if s.get(key) is not None]
    return statistics.median(vals) if vals else None


def compare_model(name: str, model, inputs, routes=tuple(ROUTES), repeats: int = 3, warm: bool = True,
                  log=None) -> list[dict]:
    """Time every route on one model (routes alternate within each repeat); one row per route.

    Row fields: model, route, ok, stage/error (on failure), repeats, network_s (median),
    network_s_min/max, build_s (median), build_s_min/max, layers, engine_bytes, params, weight_bytes
    and the route's stage times (trace_s/convert_s or export_s/parse_s, onnx_bytes)."""
    routes = list(routes)
    if warm:
        warm_up(routes)
    samples = {r: [] for r in routes}
    failed = {}
    for rep in range(max(1, repeats)):
        k = rep % len(routes)
        for route in routes[k:] + routes[:k]:
            if route in failed:
                continue
            s = run_route(route, model, inputs)
            if log:
                log(f"  {name:<14} {route:<12} repeat {rep + 1}: " + (
                    f"network {s['network_s']:.2f} s, build {s['build_s']:.2f} s, {s['layers']} layers"
                    if s["ok"] else f"FAILED at {s['stage']}: {s['error']}"))
            if not s["ok"]:
                failed[route] = s
            else:
                samples[route].append(s)
    rows = []
    for route in routes:
        row = {"model": name, "route": route, "params": common.param_count(model),
               "weight_bytes": common.weight_bytes(model)}
        ok = samples[route]
        if route in failed and not ok:
            row.update(ok=False, stage=failed[route]["stage"], error=failed[route]["error"], repeats=0)
        else:
            row.update(ok=True, repeats=len(ok), layers=ok[0]["layers"], engine_bytes=ok[0]["engine_bytes"])
            for key in ("network_s", "build_s"):
                vals = [s[key] for s in ok]
                row[key], row[key + "_min"], row[key + "_max"] = statistics.median(vals), min(vals), max(vals)
            for key in ("trace_s", "convert_s", "export_s", "parse_s", "onnx_bytes"):
                if any(key in s for s in ok):
                    row[key] = _median(ok, key)
            if route in failed:  # failed after succeeding: keep the samples, note the failure
                row["error"] = f"failed in a later repeat at {failed[route]['stage']}: {failed[route]['error']}"
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- memory (fresh subprocess)


def measure_memory(model_name: str, route: str) -> dict:
    """In this (fresh) process: peak RSS above the baseline while ``route`` makes the network, and
    while it makes the network and builds the engine. Meant for a child process (see ``memory``)."""
    import torch  # noqa: F401

    import trtgraph  # noqa: F401
    from trtgraph.backend import trt

    trt()
    model, inputs = common.build_model(model_name)
    warm_up([route])
    meter = common.PeakMeter()
    result = {"model": model_name, "route": route, "ok": False, "baseline_bytes": meter.baseline,
              "baseline_anon_bytes": meter.baseline_anon, "method": meter.method,
              "weight_bytes": common.weight_bytes(model)}
    try:
        net = to_network(route, model, inputs)
        result["peak_network_bytes"] = meter.anon_peak_above_baseline()
        result["peak_network_rss_bytes"] = meter.peak_above_baseline()
        build_engine(net.builder, net.network)
        result["peak_total_bytes"] = meter.anon_peak_above_baseline()
        result["peak_total_rss_bytes"] = meter.peak_above_baseline()
        result["ok"] = True
    except RouteError as exc:
        result.update(stage=exc.stage, error=str(exc), peak_bytes_at_failure=meter.anon_peak_above_baseline())
    finally:
        meter.close()
    return result


def memory(model_name: str, route: str, timeout: float = 1800) -> dict:
    """:func:`measure_memory` in a fresh subprocess (``python -m benchmarks.compare --memory-child``)."""
    res = common.run_child("benchmarks.compare", ["--memory-child", model_name, route], timeout=timeout)
    res.setdefault("model", model_name)
    res.setdefault("route", route)
    return res


# --------------------------------------------------------------------------- report


def _ratio(a, b) -> Optional[float]:
    return a / b if a is not None and b else None


def _fmt_ratio(r) -> str:
    return "–" if r is None else f"{r:.2f}×"


def _by(rows, model, route):
    for r in rows:
        if r["model"] == model and r["route"] == route:
            return r
    return None


METRICS = [  # (key, label, unit, formatter)
    ("network_s", "time to network", "s", secs),
    ("build_s", "build time", "s", secs),
    ("peak_network_bytes", "peak memory to network", "MB", mb),
    ("peak_total_bytes", "peak memory incl. build", "MB", mb),
]


def _value(row, key):
    if row is None or not row.get("ok"):
        return None
    return row.get(key)


def statements(rows, models) -> list[str]:
    """Sentences for every model and metric where trtgraph is slower or uses more memory, and the
    overall picture where it is not."""
    out, wins = [], []
    for model in models:
        t = _by(rows, model, "trtgraph")
        for route in ONNX_ROUTES:
            o = _by(rows, model, route)
            if t is None or o is None:
                continue
            if not t.get("ok") or not o.get("ok"):
                who = "trtgraph" if not t.get("ok") else route
                bad = t if not t.get("ok") else o
                out.append(f"**{model}**: the {who} route failed ({bad.get('stage')}: {bad.get('error')}).")
                continue
            for key, label, unit, fmt in METRICS:
                a, b = _value(t, key), _value(o, key)
                if a is None or b is None or b == 0:
                    continue
                r = a / b
                pair = f"{fmt(a)} {unit} vs {fmt(b)} {unit}"
                if r > 1.05:
                    out.append(f"**{model}**, {label}: trtgraph is {r:.2f}× the {route} route "
                               f"({'+' if r >= 1 else ''}{(r - 1) * 100:.0f}%; {pair}).")
                elif r < 0.95:
                    wins.append((model, route, label, r, pair))
    return out, wins


def _plot(rows, models, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    routes = list(ROUTES)
    colors = {"trtgraph": "#2b8a3e", "trtgraph_export": "#8ce99a", "onnx_ts": "#1c7ed6", "onnx_dynamo": "#f08c00"}
    fig, axes = plt.subplots(1, 4, figsize=(19, 4.6))
    panels = [("network_s", "time to network (s)", 1), ("build_s", "build_serialized_network (s)", 1),
              ("peak_network_bytes", "peak memory above baseline, to network (MB)", 1e6),
              ("peak_total_bytes", "peak memory above baseline, incl. build (MB)", 1e6)]
    width = 0.8 / len(routes)
    for ax, (key, title, scale) in zip(axes, panels):
        for i, route in enumerate(routes):
            xs, ys, lo, hi = [], [], [], []
            for j, model in enumerate(models):
                row = _by(rows, model, route)
                v = _value(row, key)
                if v is None:
                    continue
                xs.append(j + (i - (len(routes) - 1) / 2) * width)
                ys.append(v / scale)
                lo.append(v / scale - (row.get(key + "_min", v) / scale))
                hi.append(row.get(key + "_max", v) / scale - v / scale)
            ax.bar(xs, ys, width, label=route, color=colors.get(route), yerr=[lo, hi] if key.endswith("_s") else None,
                   capsize=2)
            for j, model in enumerate(models):  # a failed route is marked, not silently missing
                if _by(rows, model, route) is not None and _value(_by(rows, model, route), key) is None:
                    ax.text(j + (i - (len(routes) - 1) / 2) * width, 0, "✗", ha="center", va="bottom",
                            color=colors.get(route), fontsize=11)
        ax.set_xticks(range(len(models)))
        ax.set_xticklabels(models, rotation=20)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("trtgraph vs torch.onnx.export + OnnxParser (medians; bars: min–max over repeats; ✗: failed)",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(result: dict, md_path: Path, png_path: Optional[Path]):
    rows, info, models = result["rows"], result["machine"], result["models"]
    cmd = result.get("command", "python -m benchmarks.compare")
    lines = ["# trtgraph vs the ONNX route: conversion and build benchmarks", "",
             "Generated by `python -m benchmarks.compare`; do not edit by hand. Reproduce with the command "
             "below (after `pip install -e '.[rtx,bench]'`).", ""]
    lines += common.header_lines(info, cmd)
    lines += [f"- **Repeats:** {result['repeats']} per model and route, the route order rotating per repeat "
              "(medians reported); each route ran once on a tiny CNN before, untimed", ""]
    lines += ["## Summary", ""]
    for key, label, unit, fmt in METRICS:
        parts = []
        for route in ONNX_ROUTES:
            rs = [(m, _ratio(_value(_by(rows, m, "trtgraph"), key), _value(_by(rows, m, route), key))) for m in models]
            rs = [(m, r) for m, r in rs if r is not None]
            if rs:
                lo, hi = min(rs, key=lambda x: x[1]), max(rs, key=lambda x: x[1])
                parts.append(f"{lo[1]:.2f}× ({lo[0]}) to {hi[1]:.2f}× ({hi[0]}) of `{route}` "
                             f"over {len(rs)} model{'s' if len(rs) > 1 else ''}")
        if parts:
            lines.append(f"- **{label[0].upper() + label[1:]}**, trtgraph ÷ ONNX route: " + "; ".join(parts) + ".")
    failed = [(r["model"], r["route"], r.get("stage"), r.get("error")) for r in rows if not r.get("ok")]
    for m, route, stage, err in failed:
        lines.append(f"- `{route}` failed on `{m}` at {stage}: {err}")
    lines += [""]
    lines += ["## What is compared", "",
              "Every route goes from the same `torch.nn.Module` (random weights, eval mode, fp32) to a strongly "
              "typed TensorRT `INetworkDefinition`, then to a serialized engine with "
              "`builder.build_serialized_network(network, builder.create_builder_config())`.", "",
              "| route | what runs |", "| :--- | :--- |",
              "| `trtgraph` | `trtgraph.convert(model, inputs)`: `torch.jit.trace`, then trtgraph's handlers add "
              "the layers |",
              "| `trtgraph_export` | `trtgraph.convert(model, inputs, frontend=\"export\")`: `torch.export`, then "
              "the same walker and handlers |",
              "| `onnx_ts` | `torch.onnx.export(model, inputs, BytesIO(), dynamo=False)` (the TorchScript "
              "exporter: it traces with the same `torch.jit.trace`), then `OnnxParser.parse(bytes)` |",
              "| `onnx_dynamo` | `torch.onnx.export(model, inputs, dynamo=True)` (the default exporter since torch "
              "2.9: `torch.export` + onnxscript, graph optimisation on), `model_proto.SerializeToString()`, then "
              "`OnnxParser.parse(bytes)` |", "",
              "- **Time to network**: wall time from the module to the complete network (trace/export, "
              "serialization to bytes, parsing).",
              "- **Build**: wall time of `build_serialized_network`. Here TensorRT-RTX builds on the CPU (no GPU: "
              "an ahead-of-time build without kernel timing), so build times on a GPU machine will differ.",
              "- **Peak memory**: in a fresh subprocess per model and route. Baseline: after the imports, the "
              "model's construction and a warm-up of the route on a tiny CNN. The figure is the peak of the "
              "process's anonymous resident memory (`resident - shared` of `/proc/self/statm`: heap, tensors, "
              "numpy arrays, TensorRT's buffers; sampled every 1 ms by a helper process) minus its baseline. "
              "*To network*: the peak until the network is complete; *incl. build*: the peak until the engine "
              "is serialized as well. The model's own weights are in the baseline: a route that does not copy "
              "them needs ~0 MB to reach the network. The last column is the kernel's RSS high-water mark "
              "(`VmHWM`, reset through `/proc/self/clear_refs` at the baseline) minus the baseline RSS; it also "
              "counts file-backed pages (library code), which other processes' memory pressure can evict and "
              "the phase fault in again, so it is noisier. (`getrusage().ru_maxrss` is not used: it keeps the "
              "pre-reset peak of every thread that exited, and reported stale values here.)",
              ""]
    # ratio table
    lines += ["## Ratios trtgraph / ONNX route", "",
              "Each cell: trtgraph ÷ `onnx_ts` / trtgraph ÷ `onnx_dynamo`. Below 1 means trtgraph is faster or "
              "smaller.", ""]
    header = ["model", "time to network", "build time", "peak memory to network", "peak memory incl. build",
              "layers", "engine size"]
    table = []
    for model in models:
        t = _by(rows, model, "trtgraph")
        cells = [f"`{model}`"]
        for key in ("network_s", "build_s", "peak_network_bytes", "peak_total_bytes", "layers", "engine_bytes"):
            parts = [_fmt_ratio(_ratio(_value(t, key), _value(_by(rows, model, r), key))) for r in ONNX_ROUTES]
            cells.append(" / ".join(parts))
        table.append(cells)
    lines += md_table(header, table) + [""]
    # absolute figures
    lines += ["## Measurements", "",
              "Times are medians (min–max over the repeats). Memory is MB (10^6 bytes) above the baseline. "
              "\"onnx MB\" is the size of the serialized ONNX model.", ""]
    header = ["model", "params (M)", "route", "ok", "time to network (s)", "of which trace/export (s)",
              "build (s)", "layers", "engine (MB)", "onnx MB", "peak to network (MB)", "peak incl. build (MB)",
              "VmHWM incl. build (MB)"]
    table = []
    for model in models:
        for route in ROUTES:
            r = _by(rows, model, route)
            if r is None:
                continue
            if not r.get("ok"):
                table.append([f"`{model}`", f"{r.get('params', 0) / 1e6:.1f}", route,
                              f"✗ {r.get('stage')}: {str(r.get('error', ''))[:120]}"] + ["–"] * 9)
                continue
            part = r.get("trace_s") if route in TRTGRAPH_ROUTES else r.get("export_s")
            table.append([
                f"`{model}`", f"{r['params'] / 1e6:.1f}", route, "✓",
                f"{secs(r['network_s'])} ({secs(r['network_s_min'])}–{secs(r['network_s_max'])})", secs(part),
                f"{secs(r['build_s'])} ({secs(r['build_s_min'])}–{secs(r['build_s_max'])})", r["layers"],
                mb(r["engine_bytes"]), mb(r.get("onnx_bytes")) if r.get("onnx_bytes") else "–",
                mb(r.get("peak_network_bytes")) if r.get("mem_ok", True) else "✗",
                mb(r.get("peak_total_bytes")) if r.get("mem_ok", True) else "✗",
                mb(r.get("peak_total_rss_bytes")) if r.get("mem_ok", True) else "✗"])
    lines += md_table(header, table, align="lrlc" + "r" * 9) + [""]
    mem_fail = [r for r in rows if r.get("mem_error")]
    for r in mem_fail:
        lines.append(f"- memory measurement of `{r['model']}` / `{r['route']}` failed: {r['mem_error']}")
    if mem_fail:
        lines.append("")
    if png_path is not None:
        lines += [f"![time to network, build time and peak memory per model and route]({png_path.name})", ""]
    # honest statements
    worse, wins = statements(rows, models)
    lines += ["## Where trtgraph is slower or uses more memory", ""]
    if worse:
        lines += [f"- {s}" for s in worse]
    else:
        lines.append("- Nowhere in this run (no metric above 1.05× of an ONNX route).")
    lines += ["", "Differences within ±5% are treated as equal. Where trtgraph is faster or smaller by more than 5%:", ""]
    by_metric = {}
    for model, route, label, r, pair in wins:
        by_metric.setdefault(label, []).append(f"{model} vs {route} {r:.2f}×")
    for label, items in by_metric.items():
        lines.append(f"- {label}: " + "; ".join(items))
    lines += ["", "## Caveats", "",
              "- The machine has 2 cores and is shared with other work (load average in the header). Absolute "
              "times depend strongly on that load: a run at a load average of ~4.5 gave 3–7× longer times than a "
              "quiet one. The routes alternate within each repeat so that they see the same load, but the ratios "
              "still move by some 0.1–0.3 between runs for the fastest models; compare the min–max ranges, not "
              "single figures. Memory figures do not depend on the load.",
              "- Layer counts are not a quality measure: all three routes fold inference batch norm into the "
              "convolution weights (trtgraph since `fold_batch_norm`, its default), so CNN layer counts match; "
              "transformers differ in how attention and normalization are decomposed. Engine sizes show that the "
              "built engines hold the same weights.",
              "- Build times come from TensorRT-RTX's CPU-only ahead-of-time build; on a GPU machine (standard "
              "TensorRT with kernel timing) builds take longer and the build's share of the total grows.",
              "- Nothing here checks that the engines compute the same thing; trtgraph's numerical checks are in "
              "the test suite and `docs/conformance.md`.", ""]
    md_path.write_text("\n".join(lines))
    if png_path is not None:
        _plot(rows, models, png_path)


# --------------------------------------------------------------------------- main


def run(models, routes, repeats, with_memory=True, log=print) -> dict:
    info = common.machine_info()
    rows = []
    for name in models:
        log(f"{name}: building the model")
        model, inputs = common.build_model(name)
        rows += compare_model(name, model, inputs, routes, repeats, log=log)
        del model, inputs
        gc.collect()
        if with_memory:
            for route in routes:
                m = memory(name, route)
                row = _by(rows, name, route)
                if m.get("ok"):
                    row["peak_network_bytes"] = m["peak_network_bytes"]
                    row["peak_total_bytes"] = m["peak_total_bytes"]
                    row["peak_network_rss_bytes"] = m["peak_network_rss_bytes"]
                    row["peak_total_rss_bytes"] = m["peak_total_rss_bytes"]
                    row["baseline_bytes"] = m["baseline_bytes"]
                    row["memory_method"] = m["method"]
                else:
                    row["mem_ok"] = False
                    row["mem_error"] = m.get("error")
                log(f"  {name:<14} {route:<12} memory: " + (
                    f"to network {mb(m['peak_network_bytes'])} MB, incl. build {mb(m['peak_total_bytes'])} MB "
                    f"(VmHWM: {mb(m['peak_network_rss_bytes'])} / {mb(m['peak_total_rss_bytes'])} MB) "
                    f"(baseline {mb(m['baseline_bytes'])} MB, weights {mb(m['weight_bytes'])} MB)"
                    if m.get("ok") else f"FAILED: {m.get('error')}"))
    info["loadavg_end"] = common.loadavg()
    return {"machine": info, "models": list(models), "routes": list(routes), "repeats": repeats, "rows": rows}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=common.COMPARE_MODELS,
                   help=f"models (default: {' '.join(common.COMPARE_MODELS)}; known: {', '.join(common.MODELS)})")
    p.add_argument("--routes", nargs="+", default=list(ROUTES), choices=list(ROUTES))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    p.add_argument("--json", type=Path, help="also write the raw results here")
    p.add_argument("--from-json", type=Path, help="do not measure: rewrite the docs from saved results")
    p.add_argument("--md", type=Path, default=common.DOCS / "benchmarks.md")
    p.add_argument("--png", type=Path, default=common.DOCS / "benchmarks.png")
    p.add_argument("--memory-child", nargs=2, metavar=("MODEL", "ROUTE"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.memory_child:
        common.emit(measure_memory(*args.memory_child))
        return 0
    unknown = [m for m in args.models if m not in common.MODELS]
    if unknown:
        p.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(common.MODELS)}")
    if args.from_json:
        result = json.loads(args.from_json.read_text())
    else:
        result = run(args.models, args.routes, args.repeats, with_memory=not args.no_memory)
        result["command"] = "python -m benchmarks.compare " + " ".join(argv if argv is not None else sys.argv[1:])
        if args.json:
            args.json.write_text(json.dumps(result, indent=1, default=str))
    write_report(result, args.md, args.png)
    print(f"wrote {args.md}" + (f" and {args.png}" if args.png else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
