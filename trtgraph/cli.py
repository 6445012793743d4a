"""``trtgraph`` command line.

    trtgraph convert torchvision.models:resnet50 --input 1x3x224x224 --precision fp16 -o resnet50.engine
    trtgraph check   torchvision.models:resnet50 --input 1x3x224x224 [--node-by-node]
    trtgraph ops     torchvision.models:resnet50 --input 1x3x224x224   # what the model uses, what is missing

MODEL is ``package.module:factory`` (called with no arguments: random weights, nothing is
downloaded; ``--kwargs '{"num_classes": 10}'`` passes arguments) or a TorchScript file.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from pathlib import Path

import torch

from .errors import InputError, TrtGraphError

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "int64": torch.int64, "int32": torch.int32,
           "bool": torch.bool}


def parse_input(spec: str) -> torch.Tensor:
    """``1x3x224x224`` or ``1x128:int64`` -> a random example tensor."""
    shape_text, _, dtype_name = spec.partition(":")
    try:
        shape = tuple(int(d) for d in shape_text.lower().split("x"))
    except ValueError as exc:
        raise InputError(f"--input {spec!r}: expected dimensions like 1x3x224x224[:dtype]") from exc
    if any(d <= 0 for d in shape):
        raise InputError(f"--input {spec!r}: dimensions must be positive")
    dtype = _DTYPES.get(dtype_name or "float32")
    if dtype is None:
        raise InputError(f"--input {spec!r}: dtype must be one of {', '.join(_DTYPES)}")
    gen = torch.Generator().manual_seed(0)
    if dtype.is_floating_point:
        return torch.randn(shape, generator=gen).to(dtype)
    if dtype == torch.bool:
        return torch.randint(0, 2, shape, generator=gen).bool()
    return torch.randint(0, 100, shape, generator=gen).to(dtype)


def load_model(spec: str, kwargs: dict) -> torch.nn.Module:
    """``package.module:factory`` or a TorchScript file path."""
    if os.path.exists(spec) and ":" not in spec:
        try:
            return torch.jit.load(spec, map_location="cpu")
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"{spec}: not a loadable TorchScript file ({exc})") from exc
    module_name, sep, attr = spec.partition(":")
    if not sep or not attr:
        raise InputError(f"MODEL {spec!r}: expected 'package.module:factory' or a TorchScript file")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(f"MODEL {spec!r}: cannot import {module_name} ({exc})") from exc
    factory = getattr(module, attr, None)
    if factory is None:
        raise InputError(f"MODEL {spec!r}: {module_name} has no attribute {attr!r}")
    model = factory(**kwargs)
    if not isinstance(model, torch.nn.Module):
        raise InputError(f"MODEL {spec!r}: the factory returned a {type(model).__name__}, not a torch.nn.Module")
    return model.eval()


class _Progress:
    """A progress bar over graph nodes (tqdm when installed, else a line on stderr)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None

    def __call__(self, i: int, total: int):
        if not self.enabled:
            return
        if self.bar is None and not sys.stderr.isatty():
            self.bar = False
        if self.bar is None:
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, desc="converting nodes", unit="node", file=sys.stderr, leave=False)
            except ImportError:
                self.bar = False
        if self.bar:
            self.bar.update(1)
        elif total >= 200 and (i + 1) % max(1, total // 4) == 0:
            print(f"  converted {i + 1}/{total} graph nodes", file=sys.stderr)

    def close(self):
        if self.bar:
            self.bar.close()


def _convert(args):
    import trtgraph

    model = load_model(args.model, json.loads(args.kwargs))
    inputs = [parse_input(s) for s in args.input]
    if not args.quiet:
        print(f"tracing and converting {args.model} ...", file=sys.stderr)
    progress = _Progress(not args.quiet)
    try:
        conv = trtgraph.convert(model, inputs, precision=args.precision, param_exclude=args.param_exclude,
                                verbose=args.verbose, progress=progress)
    finally:
        progress.close()
    return model, inputs, conv


def cmd_convert(args) -> int:
    model, inputs, conv = _convert(args)
    if not args.quiet:
        print(f"building engine ({conv.num_layers} layers, {args.precision})...", file=sys.stderr)
    engine = conv.build()
    out = Path(args.output or (args.model.split(":")[-1].replace("/", "_") + f".{args.precision}.engine"))
    from .serialization import save_engine

    save_engine(conv, out)  # the plan and its JSON sidecar (names, shapes, versions, hashes)
    rows = [
        ("model", args.model),
        ("inputs", ", ".join(f"{n} {tuple(x.shape)}" for n, x in zip(conv.input_names, inputs))),
        ("aten nodes", str(conv.num_nodes)),
        ("TensorRT layers", str(conv.num_layers)),
        ("precision", args.precision),
        ("conversion time", f"{conv.convert_seconds:.2f} s"),
        ("build time", f"{conv.build_seconds:.2f} s"),
        ("engine", f"{out} ({len(engine) / 1e6:.1f} MB)"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return 0


def cmd_check(args) -> int:
    model, inputs, conv = _convert(args)
    report = conv.verify(*inputs, rtol=args.rtol, atol=args.atol, node_by_node=args.node_by_node)
    print(report)
    return 0 if report.ok else 1


def cmd_ops(args) -> int:
    from collections import Counter

    import trtgraph
    from trtgraph import frontend
    from trtgraph.registry import lookup

    model = load_model(args.model, json.loads(args.kwargs))
    inputs = [parse_input(s) for s in args.input]
    _, graph = frontend.trace_module(model, inputs)
    counts = Counter((n.kind(), frontend.node_overload(n)) for n in graph.nodes() if not n.kind().startswith("prim::"))
    missing = 0
    for (kind, overload), n in sorted(counts.items()):
        ok = lookup(kind, overload) is not None
        missing += not ok
        print(f"{'ok ' if ok else 'MISSING'} {kind:<36} x{n}")
    _ = trtgraph
    return 1 if missing else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="trtgraph", description="Compile PyTorch models to TensorRT engines.")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp):
        sp.add_argument("model", help="package.module:factory (random weights) or a TorchScript file")
        sp.add_argument("--input", action="append", required=True,
                        help="example input shape, e.g. 1x3x224x224 or 1x128:int64 (repeat for several)")
        sp.add_argument("--kwargs", default="{}", help="JSON keyword arguments for the model factory")
        sp.add_argument("--precision", choices=["fp32", "fp16", "bf16"], default="fp32")
        sp.add_argument("--param-exclude", default=None, help="regex of parameters the traced graph must not use")
        sp.add_argument("--verbose", action="store_true", help="print every node as it is converted")
        sp.add_argument("--quiet", action="store_true")

    c = sub.add_parser("convert", help="convert a model and write a serialized engine")
    common(c)
    c.add_argument("-o", "--output", help="engine file (default: <factory>.<precision>.engine)")
    c.set_defaults(fn=cmd_convert)

    k = sub.add_parser("check", help="compare the network's reference evaluation with eager torch")
    common(k)
    k.add_argument("--rtol", type=float, default=1e-4)
    k.add_argument("--atol", type=float, default=1e-5)
    k.add_argument("--node-by-node", action="store_true", help="name the first node that diverges")
    k.set_defaults(fn=cmd_check)

    o = sub.add_parser("ops", help="list the aten ops a model uses and whether each has a handler")
    common(o)
    o.set_defaults(fn=cmd_ops)

    from .serialization import add_info_parser

    add_info_parser(sub)
    from .bench import add_bench_parser

    add_bench_parser(sub)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    t0 = time.perf_counter()
    try:
        code = args.fn(args)
    except TrtGraphError as exc:
        print(f"trtgraph: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if args.verbose:
        print(f"total {time.perf_counter() - t0:.2f} s", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
