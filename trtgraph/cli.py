"""``trtgraph`` command line.

    trtgraph convert torchvision.models:resnet50 --input 1x3x224x224 --precision fp16 -o resnet50.engine
    trtgraph check   torchvision.models:resnet50 --input 1x3x224x224 [--node-by-node]
    trtgraph ops     torchvision.models:resnet50 --input 1x3x224x224   # what the model uses, what is missing

MODEL is ``package.module:factory`` (called with no arguments: random weights, nothing is
downloaded; ``--kwargs '{"num_classes": 10}'`` passes arguments) or a TorchScript file.

Inputs are named ``input_0``, ``input_1``, ... in ``--input`` order, or by ``--input-name``
(repeat it, one per ``--input``).

Dynamic shapes (``convert``, ``check``): ``--dynamic [NAME:]DIM=MIN,OPT,MAX[;DIM=MIN,OPT,MAX...]``,
repeatable. ``--dynamic input_0:0=1,8,32`` makes dim 0 of input_0 range over 1..32 (built for 8);
several dims of one input go in one spec separated by ``;`` (``input_0:2=64,224,512;3=64,224,512``)
or in several ``--dynamic`` options. ``NAME:`` may be left out when the model has one input. The
``--input`` example must lie inside the ranges. ``check`` verifies at the example shape and at the
profile's min, opt and max shapes.

Precision policy (``convert``, ``check``): ``--fp32-op aten::softmax`` (repeatable) keeps that op
kind in fp32 in addition to the default set, ``--fp32-module 'layer4.*'`` (repeatable regex on
module names) keeps every op of the matching modules in fp32, ``--no-default-fp32`` starts from an
empty set instead of the defaults.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Optional

import torch

from .errors import InputError, TrtGraphError

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "int64": torch.int64, "int32": torch.int32,
           "bool": torch.bool}


def random_input(shape, dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    """A random tensor as the CLI makes its inputs: normal floats, 0/1 bools, integers in [0, 100)."""
    gen = torch.Generator().manual_seed(seed)
    shape = tuple(shape)
    if dtype.is_floating_point:
        return torch.randn(shape, generator=gen).to(dtype)
    if dtype == torch.bool:
        return torch.randint(0, 2, shape, generator=gen).bool()
    return torch.randint(0, 100, shape, generator=gen).to(dtype)


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
    return random_input(shape, dtype)


DYNAMIC_FORM = "[NAME:]DIM=MIN,OPT,MAX[;DIM=MIN,OPT,MAX...]"


def parse_dynamic(spec: str) -> tuple:
    """``--dynamic`` value -> ``(name or None, {dim: (min, opt, max)})``.

    ``input_0:0=1,8,32``, ``input_0:0=1,8,32;1=8,64,128``, or ``0=1,8,32`` (no name: the model's
    only input). Raises argparse.ArgumentTypeError quoting the spec and the expected form."""
    def bad(why: str):
        return argparse.ArgumentTypeError(f"{spec!r}: {why}; expected {DYNAMIC_FORM}, e.g. input_0:0=1,8,32")

    head, sep, _ = spec.partition("=")
    if not sep:
        raise bad("no '='")
    cut = head.rfind(":")  # the name ends at the last ':' before the first '='
    name, body = (spec[:cut].strip(), spec[cut + 1:]) if cut >= 0 else (None, spec)
    if name == "":
        raise bad("empty input name before ':'")
    dims: dict = {}
    for part in body.split(";"):
        part = part.strip()
        if not part and dims:
            continue  # a trailing ';'
        dim_text, eq, rng_text = part.partition("=")
        if not eq:
            raise bad(f"{part!r} has no '='")
        try:
            dim = int(dim_text)
        except ValueError:
            raise bad(f"dimension {dim_text.strip()!r} is not an integer") from None
        values = [v.strip() for v in rng_text.split(",")]
        if len(values) != 3:
            raise bad(f"dim {dim} needs three sizes MIN,OPT,MAX, got {rng_text!r}")
        try:
            lo, opt, hi = (int(v) for v in values)
        except ValueError:
            raise bad(f"dim {dim}: sizes {rng_text!r} are not integers") from None
        if not 1 <= lo <= opt <= hi:
            raise bad(f"dim {dim}: need 1 <= MIN <= OPT <= MAX, got {lo},{opt},{hi}")
        if dim in dims:
            raise bad(f"dim {dim} given twice")
        dims[dim] = (lo, opt, hi)
    return name, dims


def dynamic_shapes_from(specs, names: list) -> dict:
    """Merge parsed ``--dynamic`` specs into ``{name: {dim: (min, opt, max)}}``. Unknown names and
    dims are left for trtgraph.convert to report; a spec without a name needs a one-input model."""
    result: dict = {}
    for name, dims in specs or ():
        if name is None:
            if len(names) != 1:
                raise InputError(f"--dynamic without an input name needs a model with one input; this one has "
                                 f"{len(names)} ({', '.join(names)}): write {DYNAMIC_FORM}")
            name = names[0]
        merged = result.setdefault(name, {})
        for dim, rng in dims.items():
            if dim in merged and merged[dim] != rng:
                raise InputError(f"--dynamic: dim {dim} of {name!r} given twice ({merged[dim]} and {rng})")
            merged[dim] = rng
    return result


def parse_regex(text: str) -> str:
    try:
        re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid regular expression ({exc})") from None
    return text


def precision_policy_from(args):
    """The ``trtgraph.PrecisionPolicy`` the flags ask for, or None when no policy flag is given (the
    converter's default policy)."""
    extra_ops = list(getattr(args, "fp32_op", None) or [])
    modules = list(getattr(args, "fp32_module", None) or [])
    no_default = bool(getattr(args, "no_default_fp32", False))
    if not (extra_ops or modules or no_default):
        return None
    import trtgraph

    policy_cls = trtgraph.PrecisionPolicy
    if no_default:  # nothing kept in float32 unless asked for: no default ops, no long-reduction rule
        return policy_cls(fp32_ops=set(), extra_fp32_ops=extra_ops, fp32_modules=modules, long_reduction=0)
    return policy_cls(extra_fp32_ops=extra_ops, fp32_modules=modules)


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
    names = input_names(args)
    options = {}
    dynamic = dynamic_shapes_from(args.dynamic, names)
    if dynamic:
        options["dynamic_shapes"] = dynamic
    policy = precision_policy_from(args)
    if policy is not None:
        options["precision_policy"] = policy
    if not args.quiet:
        print(f"tracing and converting {args.model} ...", file=sys.stderr)
    progress = _Progress(not args.quiet)
    try:
        conv = trtgraph.convert(model, inputs, precision=args.precision, input_names=names,
                                param_exclude=args.param_exclude, verbose=args.verbose, progress=progress,
                                **options)
    finally:
        progress.close()
    return model, inputs, conv


def input_names(args) -> list:
    """``--input-name`` values (one per ``--input``), else input_0, input_1, ..."""
    given = list(getattr(args, "input_name", None) or [])
    if not given:
        return [f"input_{i}" for i in range(len(args.input))]
    if len(given) != len(args.input):
        raise InputError(f"{len(given)} --input-name for {len(args.input)} --input; give one name per input")
    if len(set(given)) != len(given):
        raise InputError(f"--input-name: duplicate names {given}")
    return given


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _fp32_nodes(conv) -> Optional[list]:
    """The nodes the precision policy kept in fp32 (``conv.fp32_nodes``), when Conversion has it."""
    nodes = getattr(conv, "fp32_nodes", None)
    if nodes is None or conv.precision == "fp32":
        return None
    return [str(n) for n in nodes]


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
    ]
    for name, (lo, opt, hi) in conv.profiles.items():
        rows.append((f"profile {name}", f"min {tuple(lo)}  opt {tuple(opt)}  max {tuple(hi)}"))
    rows += [
        ("aten nodes", str(conv.num_nodes)),
        ("TensorRT layers", str(conv.num_layers)),
        ("precision", args.precision),
        ("conversion time", f"{conv.convert_seconds:.2f} s"),
        ("build time", f"{conv.build_seconds:.2f} s"),
        ("engine", f"{out} ({len(engine) / 1e6:.1f} MB)"),
    ]
    kept = _fp32_nodes(conv)
    if kept is not None:
        rows.insert(rows.index(("precision", args.precision)) + 1, ("kept in fp32", _count(len(kept), "node")))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return 0


def cmd_check(args) -> int:
    model, inputs, conv = _convert(args)
    report = conv.verify(*inputs, rtol=args.rtol, atol=args.atol, node_by_node=args.node_by_node)
    print(report)
    ok = report.ok
    kept = _fp32_nodes(conv)
    if kept is not None:
        limit = len(kept) if args.verbose else 40
        print(f"kept in fp32 by the precision policy: {_count(len(kept), 'node')}")
        for desc in kept[:limit]:
            print(f"  {desc}")
        if len(kept) > limit:
            print(f"  ... and {len(kept) - limit} more (--verbose lists all)")
    if conv.profiles:
        print(f"profile shapes (rtol={args.rtol:g}, atol={args.atol:g}):")
        rows = []
        for k, label in enumerate(("min", "opt", "max")):
            # random inputs made like the --input ones (same dtype and value range) at this profile shape
            feed = [random_input(conv.profiles[name][k], x.dtype, seed=1 + k) if name in conv.profiles else x
                    for name, x in zip(conv.input_names, inputs)]
            r = conv.verify(*feed, rtol=args.rtol, atol=args.atol)
            ok = ok and r.ok
            shapes = ", ".join(f"{n} {tuple(x.shape)}" for n, x in zip(conv.input_names, feed)
                               if n in conv.profiles)
            rows.append((label, shapes, r))
        width = max(len(shapes) for _, shapes, _ in rows)
        for label, shapes, r in rows:
            print(f"  {label:<3}  {shapes:<{width}}  max rel {r.max_rel:.3e}  max abs {r.max_abs:.3e}  "
                  f"{'OK' if r.ok else 'MISMATCH'}")
    return 0 if ok else 1


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

    def shapes_and_policy(sp):
        sp.add_argument("--input-name", action="append", metavar="NAME",
                        help="name of the next --input (repeat, one per --input; default input_0, input_1, ...)")
        sp.add_argument("--dynamic", action="append", type=parse_dynamic, metavar="SPEC",
                        help=f"dynamic dimensions {DYNAMIC_FORM} (repeatable): e.g. input_0:0=1,8,32 or "
                             "'input_0:0=1,8,32;2=64,224,512' (quote ';' for the shell); NAME: may be left out "
                             "when the model has one input; the --input example must lie inside the ranges; "
                             "a negative DIM needs the --dynamic=-1=... form")
        sp.add_argument("--fp32-op", action="append", metavar="KIND",
                        help="keep this op kind in fp32 under fp16/bf16, e.g. aten::softmax "
                             "(repeatable; adds to the default set)")
        sp.add_argument("--fp32-module", action="append", type=parse_regex, metavar="REGEX",
                        help="keep every op of the modules whose name matches REGEX (and their submodules) "
                             "in fp32, e.g. 'layer4.*' (repeatable)")
        sp.add_argument("--no-default-fp32", action="store_true",
                        help="keep nothing in fp32 by default (no default op kinds, no long-reduction rule); --fp32-op and --fp32-module still add")

    c = sub.add_parser("convert", help="convert a model and write a serialized engine")
    common(c)
    shapes_and_policy(c)
    c.add_argument("-o", "--output", help="engine file (default: <factory>.<precision>.engine)")
    c.set_defaults(fn=cmd_convert)

    k = sub.add_parser("check", help="compare the network's reference evaluation with eager torch")
    common(k)
    shapes_and_policy(k)
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
