"""``trtgraph bench``: latency percentiles and throughput of a TensorRT engine on a GPU, against the
eager model and ``torch.compile``.

    trtgraph bench resnet50.fp16.engine                       # a saved engine (inputs from its sidecar)
    trtgraph bench torchvision.models:resnet50 --input 1x3x224x224 --precision fp16
    python -m trtgraph.bench ...                    # the same without the CLI entry point

For ``package.module:factory`` the model is compiled with ``trtgraph.compile`` (engine cache on,
``--no-cache`` to rebuild) and compared with the eager model on the GPU (under ``torch.autocast`` in
the engine's precision for fp16/bf16) and ``torch.compile(model)`` (unless ``--no-torch-compile``; a
failure there is a row, not a crash). A saved engine is measured alone.

Every candidate runs ``--warmup`` untimed calls, then ``--iters`` calls, each between two CUDA
events on the current stream (latency: p50/p90/p99/mean in ms), then ``--iters`` calls back to
back between one pair of events (throughput: samples/s, the batch being the first dimension of the
first input). Without a usable GPU the command stops before loading anything, with
``GpuUnavailableError`` and exit code 2.

This module depends only on torch and trtgraph, so it can move into the package as it is.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Callable, Optional

from trtgraph.errors import GpuUnavailableError, InputError, TrtGraphError


def percentile(values, q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation (numpy's default)."""
    xs = sorted(values)
    if not xs:
        raise ValueError("no values")
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summarize(latencies_ms, throughput: Optional[float] = None) -> dict:
    return {"p50_ms": percentile(latencies_ms, 50), "p90_ms": percentile(latencies_ms, 90),
            "p99_ms": percentile(latencies_ms, 99), "mean_ms": sum(latencies_ms) / len(latencies_ms),
            "iters": len(latencies_ms), "throughput": throughput}


def require_gpu() -> None:
    """Raise :class:`GpuUnavailableError` unless torch sees a CUDA device."""
    import torch

    if not torch.cuda.is_available():
        raise GpuUnavailableError(
            "trtgraph bench measures engines on a GPU, and this machine has no usable one "
            f"(torch.cuda.is_available() is False; torch {torch.__version__}, built with CUDA "
            f"{torch.version.cuda or 'none'}). Build engines here with `trtgraph convert`; run `trtgraph bench` "
            "where a supported NVIDIA GPU and driver are present. Conversion benchmarks that need no GPU: "
            "`python -m benchmarks.compare`.")


def time_cuda(fn: Callable, inputs, warmup: int, iters: int) -> dict:
    """Latency (events around each call) and throughput (events around ``iters`` back-to-back calls)."""
    import torch

    with torch.inference_mode():
        for _ in range(warmup):
            fn(*inputs)
        torch.cuda.synchronize()
        events = []
        for _ in range(iters):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn(*inputs)
            end.record()
            events.append((start, end))
        torch.cuda.synchronize()
        latencies = [s.elapsed_time(e) for s, e in events]
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            fn(*inputs)
        end.record()
        torch.cuda.synchronize()
        total_ms = start.elapsed_time(end)
    batch = int(inputs[0].shape[0]) if inputs and getattr(inputs[0], "dim", lambda: 0)() > 0 else 1
    return summarize(latencies, batch * iters / (total_ms / 1000.0) if total_ms > 0 else None)


# --------------------------------------------------------------------------- arguments


def _is_engine_path(target: str) -> bool:
    return ":" not in target or os.path.exists(target)


def validate(args) -> None:
    """Checks that need neither a GPU nor the model; raise InputError with what to fix."""
    if args.iters <= 0:
        raise InputError(f"--iters must be positive, got {args.iters}")
    if args.warmup < 0:
        raise InputError(f"--warmup must be >= 0, got {args.warmup}")
    try:
        kwargs = json.loads(args.kwargs)
    except json.JSONDecodeError as exc:
        raise InputError(f"--kwargs is not valid JSON: {exc}") from exc
    if not isinstance(kwargs, dict):
        raise InputError(f"--kwargs must be a JSON object, got {type(kwargs).__name__}")
    from trtgraph.cli_args import parse_input

    for spec in args.input or []:
        parse_input(spec)  # raises InputError naming the bad --input
    if _is_engine_path(args.target):
        if not Path(args.target).is_file():
            raise InputError(f"{args.target}: no such engine file (give a saved engine, or a model as "
                             "package.module:factory with --input)")
    elif not args.input:
        raise InputError(f"{args.target}: a model needs --input (e.g. --input 1x3x224x224)")


def _engine_inputs(module, specs) -> list:
    """Inputs for a saved engine: from --input, else from the engine's input shapes (opt of a profile)."""
    import torch

    from trtgraph.cli_args import parse_input

    if specs:
        return [parse_input(s) for s in specs]
    meta = module.metadata
    if meta is None:
        raise InputError("the engine has no sidecar metadata: give its inputs with --input")
    out = []
    gen = torch.Generator().manual_seed(0)
    for spec in meta.inputs:
        shape = tuple(spec.opt) if spec.has_profile else tuple(spec.shape)
        if any(d < 0 for d in shape):
            raise InputError(f"input {spec.name!r} has a dynamic shape {shape}: give it with --input")
        dtype = spec.torch_dtype
        if dtype.is_floating_point:
            out.append(torch.randn(shape, generator=gen).to(dtype))
        elif dtype == torch.bool:
            out.append(torch.randint(0, 2, shape, generator=gen).bool())
        else:
            out.append(torch.randint(0, 100, shape, generator=gen).to(dtype))
    return out


def candidates(args):
    """``[(name, callable, inputs_on_gpu)]`` for the target; candidates that fail to set up are
    returned as ``(name, None, error message)``."""
    import torch

    import trtgraph
    from trtgraph.cli_args import load_model, parse_input

    device = torch.device("cuda")
    if _is_engine_path(args.target):
        module = trtgraph.TRTModule(args.target)
        inputs = [x.to(device) for x in _engine_inputs(module, args.input)]
        return [("trtgraph engine", module, inputs)]
    model = load_model(args.target, json.loads(args.kwargs))
    cpu_inputs = [parse_input(s) for s in args.input]
    engine = trtgraph.compile(model, cpu_inputs, precision=args.precision, use_cache=not args.no_cache)
    inputs = [x.to(device) for x in cpu_inputs]
    out = [(f"trtgraph engine ({args.precision})", engine, inputs)]
    gpu_model = model.to(device).eval()
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(args.precision)

    def with_autocast(fn):
        if dtype is None:
            return fn

        def run(*xs):
            with torch.autocast("cuda", dtype=dtype):
                return fn(*xs)
        return run

    suffix = f" (autocast {args.precision})" if dtype is not None else ""
    if not args.no_eager:
        out.append(("eager torch" + suffix, with_autocast(gpu_model), inputs))
    if not args.no_torch_compile:
        if not hasattr(torch, "compile"):
            out.append(("torch.compile", None, "not available in this torch"))
        else:
            out.append(("torch.compile" + suffix, with_autocast(torch.compile(gpu_model)), inputs))
    return out


def run_bench(args) -> list[dict]:
    validate(args)
    require_gpu()
    rows = []
    for name, fn, inputs in candidates(args):
        if fn is None:
            rows.append({"name": name, "ok": False, "error": inputs})
            continue
        try:
            rows.append({"name": name, "ok": True, **time_cuda(fn, inputs, args.warmup, args.iters)})
        except TrtGraphError:
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. torch.compile without a working compiler
            rows.append({"name": name, "ok": False, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"})
    return rows


def format_rows(rows, device_name: str = "") -> str:
    base = next((r for r in rows if r["ok"] and r["name"].startswith("eager")), None)
    lines = [f"{'':<34}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'samples/s':>12}{'vs eager':>10}"]
    for r in rows:
        if not r["ok"]:
            lines.append(f"{r['name']:<34}failed: {r['error']}")
            continue
        speed = f"{base['p50_ms'] / r['p50_ms']:.2f}x" if base and r["p50_ms"] > 0 else "-"
        thr = f"{r['throughput']:.1f}" if r.get("throughput") else "-"
        lines.append(f"{r['name']:<34}{r['p50_ms']:>9.3f}{r['p90_ms']:>9.3f}{r['p99_ms']:>9.3f}{r['mean_ms']:>9.3f}"
                     f"{thr:>12}{speed:>10}")
    if device_name:
        lines.insert(0, f"device: {device_name}")
    return "\n".join(lines)


def cmd_bench(args) -> int:
    rows = run_bench(args)
    import torch

    print(format_rows(rows, torch.cuda.get_device_name()))
    if args.json:
        Path(args.json).write_text(json.dumps({"target": args.target, "precision": args.precision,
                                               "warmup": args.warmup, "iters": args.iters, "rows": rows}, indent=1))
    return 0 if any(r["ok"] for r in rows) else 1


def add_bench_parser(subparsers):
    """Register ``trtgraph bench`` on the CLI's subparsers."""
    p = subparsers.add_parser("bench", help="latency and throughput of an engine on a GPU (vs eager, torch.compile)")
    p.add_argument("target", metavar="ENGINE_OR_MODEL",
                   help="a saved engine file, or package.module:factory (compiled with trtgraph.compile)")
    p.add_argument("--input", action="append",
                   help="input shape, e.g. 1x3x224x224 or 1x128:int64 (repeat per input; an engine's default: "
                        "its sidecar's shapes)")
    p.add_argument("--kwargs", default="{}", help="JSON keyword arguments for the model factory")
    p.add_argument("--precision", choices=["fp32", "fp16", "bf16"], default="fp32")
    p.add_argument("--warmup", type=int, default=20, help="untimed calls first (default 20)")
    p.add_argument("--iters", type=int, default=200, help="timed calls (default 200)")
    p.add_argument("--no-eager", action="store_true", help="do not measure the eager model")
    p.add_argument("--no-torch-compile", action="store_true", help="do not measure torch.compile(model)")
    p.add_argument("--no-cache", action="store_true", help="rebuild the engine instead of using the engine cache")
    p.add_argument("--json", help="also write the figures to this JSON file")
    p.add_argument("--verbose", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(fn=cmd_bench)
    return p


def main(argv=None) -> int:
    """``python -m trtgraph.bench ENGINE_OR_MODEL ...``: as ``trtgraph bench``, with the same
    error handling as the CLI (a trtgraph error: its name and message on stderr, exit code 2)."""
    parser = argparse.ArgumentParser(prog="python -m trtgraph.bench")
    sub = parser.add_subparsers(dest="command", required=True)
    add_bench_parser(sub)
    args = parser.parse_args(["bench", *(sys.argv[1:] if argv is None else argv)])
    try:
        return args.fn(args)
    except TrtGraphError as exc:
        print(f"trtgraph: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
