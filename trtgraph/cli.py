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

Hybrid execution (``convert``, ``check``, ``ops``): ``--fallback`` runs what TensorRT cannot take in
torch between TensorRT segments (``trtgraph.convert(..., fallback=True)``); ``--torch-executed-ops
aten::x,aten::y`` and ``--torch-executed-modules REGEX`` (both repeatable) keep ops / modules in
torch, ``--min-block-size N`` sends smaller segments back to torch. ``convert --fallback -o FOLDER``
writes a hybrid folder (default ``<factory>.<precision>.hybrid``; load it with ``trtgraph.load``,
inspect it with ``trtgraph info FOLDER``); ``check --fallback`` compares the hybrid evaluation
(segments through the reference evaluator, the rest in torch) with eager; ``ops --fallback`` prints
the plan (segments, torch nodes and why, FLOP shares, boundary tensors) without building anything.

Exit codes: 0 success; 1 ``check`` found a mismatch (or ``ops`` a missing op); 2 a usage or
model error (one line ``trtgraph: error: <Error>: <cause>; <fix>``); 3 an internal error (a bug:
its traceback is printed with ``--debug``).

Engine cache: ``trtgraph cache list`` shows the entries of the cache folder (``--dir``, else the
default of :func:`trtgraph.compile`), least recently used first; ``trtgraph cache clear`` removes them
(only the files trtgraph's cache wrote).
"""
from __future__ import annotations

import argparse
import inspect
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Optional


from .errors import InputError, TrtGraphError

from .cli_args import (  # noqa: F401  (re-exported: tests and scripts use trtgraph.cli.<name>)
    random_input, _check_example_size, parse_input_spec, parse_input, parse_inputs, parse_kwargs, _short,
    parse_dynamic, dynamic_shapes_from, parse_regex, precision_policy_from, _control_flow, load_torchscript,
    _import_module, _call_factory, load_model, _DTYPES, MAX_INPUT_BYTES, DYNAMIC_FORM, _SCRIPT_SUFFIXES)


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

    kwargs = parse_kwargs(args.kwargs)
    inputs = parse_inputs(args.input)
    names = input_names(args)
    options = {}
    dynamic = dynamic_shapes_from(getattr(args, "dynamic", None), names)
    if dynamic:
        options["dynamic_shapes"] = dynamic
        if args.command == "check":  # check makes random inputs at the profile's max shape too
            _check_profile_size(dynamic, names, inputs)
    policy = precision_policy_from(args)
    if policy is not None:
        options["precision_policy"] = policy
    if getattr(args, "no_strict", False):
        from . import api

        if not _accepts(api.convert, "strict"):
            raise InputError("--no-strict: this trtgraph's convert() has no strict mode; "
                             "leave the flag out (conversion refuses what it cannot take)")
        options["strict"] = False
    if getattr(args, "frontend", "torchscript") != "torchscript":
        options["frontend"] = args.frontend
    options.update(hybrid_options(args))
    model = load_model(args.model, kwargs)
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


def hybrid_options(args) -> dict:
    """``convert(..., fallback=True, ...)`` options of ``--fallback`` and its companions."""
    ops = [o.strip() for text in (getattr(args, "torch_executed_ops", None) or []) for o in text.split(",")
           if o.strip()]
    modules = list(getattr(args, "torch_executed_modules", None) or [])
    min_block = getattr(args, "min_block_size", None)
    if not getattr(args, "fallback", False):
        given = [flag for flag, v in (("--torch-executed-ops", ops), ("--torch-executed-modules", modules),
                                      ("--min-block-size", min_block)) if v]
        if given:
            raise InputError(f"{', '.join(given)} {'needs' if len(given) == 1 else 'need'} --fallback (hybrid "
                             "execution: those parts run in torch)")
        return {}
    for o in ops:
        if "::" not in o:
            raise InputError(f"--torch-executed-ops: {o!r} is not an op kind like aten::relu")
    if min_block is not None and min_block < 1:
        raise InputError(f"--min-block-size {min_block}: give an integer >= 1")
    options = {"fallback": True}
    if ops:
        options["torch_executed_ops"] = ops
    if modules:
        options["torch_executed_modules"] = modules
    if min_block is not None:
        options["min_block_size"] = min_block
    return options


def _accepts(fn, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return True
    return name in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


def _check_profile_size(dynamic: dict, names: list, inputs: list):
    """The max shape of each profile, as check will allocate it, against the size limit."""
    shapes = []
    for name, x in zip(names, inputs):
        shape = list(x.shape)
        for dim, (_, _, hi) in (dynamic.get(name) or {}).items():
            if -len(shape) <= dim < len(shape):
                shape[dim] = hi
        shapes.append((tuple(shape), x.dtype))
    _check_example_size(shapes, "--dynamic's max shapes (check verifies there)")


def output_path(args) -> Path:
    """``-o`` (or the default name), checked writable before anything is converted."""
    hybrid = getattr(args, "fallback", False)
    suffix = "hybrid" if hybrid else "engine"
    out = Path(args.output or (args.model.split(":")[-1].replace("/", "_") + f".{args.precision}.{suffix}"))
    if hybrid:
        from .hybrid.files import is_hybrid_folder

        if out.exists() and not out.is_dir():
            raise InputError(f"-o {str(out)!r} is a file; --fallback writes a folder: give a folder name, e.g. "
                             f"-o {out.with_suffix('.hybrid')}")
        if out.is_dir() and any(out.iterdir()) and not is_hybrid_folder(out):
            raise InputError(f"-o {str(out)!r} is a non-empty folder that is not a hybrid folder; give a new "
                             "folder name (an existing hybrid folder is replaced)")
    elif out.is_dir():
        raise InputError(f"-o {str(out)!r} is a folder; give a file name, e.g. -o {out / 'model.engine'}")
    folder = out.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # the engine's missing folders are created under this one
    why = None
    if not folder.is_dir():
        why = f"{folder} is not a folder"
    else:
        try:
            fd, probe = tempfile.mkstemp(prefix=".trtgraph-probe-", suffix=".tmp", dir=folder)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            why = f"{type(exc).__name__}: {exc.strerror or exc}"
    if why is not None:
        raise InputError(f"-o {str(out)!r}: cannot write there ({why}); choose a writable file with -o")
    return out


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
    out = output_path(args)
    model, inputs, conv = _convert(args)
    if getattr(args, "fallback", False):
        return _convert_hybrid(args, out, inputs, conv)
    if not args.quiet:
        print(f"building engine ({conv.num_layers} layers, {args.precision})...", file=sys.stderr)
    engine = conv.build()
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
    if conv.trace_warnings:
        rows.append(("accepted (--no-strict)", _count(len(conv.trace_warnings), "value") + " baked in by the trace"))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    _print_trace_notes(conv)
    return 0


def _convert_hybrid(args, out: Path, inputs, hc) -> int:
    from .hybrid.files import save_hybrid

    if not args.quiet:
        print(f"building {_count(len(hc.segments), 'engine')} ({args.precision})...", file=sys.stderr)
    t0 = time.perf_counter()
    engines = hc.build()
    build = time.perf_counter() - t0
    save_hybrid(hc, out)
    plan = hc.plan
    rows = [
        ("model", args.model),
        ("inputs", ", ".join(f"{n} {tuple(x.shape)}" for n, x in zip(hc.input_names, inputs))),
        ("TensorRT segments", f"{len(hc.segments)} ({plan['trt_flops_share']:.1%} of the estimated FLOPs)"),
        ("torch nodes", str(len(plan["torch_nodes"]))),
        ("boundary tensors", str(plan["boundary_tensors"])),
        ("precision", args.precision),
        ("conversion time", f"{hc.convert_seconds:.2f} s"),
        ("build time", f"{build:.2f} s"),
        ("folder", f"{out} ({sum(len(e) for e in engines) / 1e6:.1f} MB of engines)"),
    ]
    if hc.python_functions:
        rows.append(("load with", "trtgraph.load(folder, python_functions={"
                     + ", ".join(f"{n!r}: ..." for n in sorted(hc.python_functions)) + "})"))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    if not args.quiet:
        print(hc.report())
    return 0


def _print_trace_notes(conv) -> None:
    """What --no-strict accepted, and range corners where the model takes another Python path."""
    for w in conv.trace_warnings:
        print(f"  accepted: {w}")
    for note in conv.graph.shape_guard_checks:
        print(f"  shape check: {note}")


def cmd_check(args) -> int:
    if getattr(args, "fallback", False) and args.node_by_node:
        raise InputError("--node-by-node is not available with --fallback; check a segment's model without "
                         "--fallback, or read the plan with trtgraph ops --fallback")
    model, inputs, conv = _convert(args)
    if getattr(args, "fallback", False):
        report = conv.verify(*inputs, rtol=args.rtol, atol=args.atol)
        if not args.quiet:
            print(conv.report())
        print(report)
        return 0 if report.ok else 1
    report = conv.verify(*inputs, rtol=args.rtol, atol=args.atol, node_by_node=args.node_by_node)
    print(report)
    ok = report.ok
    _print_trace_notes(conv)
    kept = _fp32_nodes(conv)
    if kept is not None:
        limit = len(kept) if args.verbose else 40
        print(f"kept in fp32 by the precision policy: {_count(len(kept), 'node')}")
        for desc in kept[:limit]:
            print(f"  {desc}")
        if len(kept) > limit:
            print(f"  ... and {len(kept) - limit} more (--verbose lists all)")
    if conv.profiles:
        print(f"profile shapes (rtol={report.rtol:g}, atol={report.atol:g}):")
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


_PYTHON_OP_HINT = ("trtgraph cannot see inside a custom torch.autograd.Function: write its forward with torch "
                   "ops in the model (a Function is only needed for a custom backward), then convert")


def cmd_ops(args) -> int:
    from collections import Counter

    from trtgraph import frontend
    from trtgraph.core import _PRIM_HANDLERS
    from trtgraph.registry import lookup

    if getattr(args, "fallback", False):  # the plan of a hybrid conversion (nothing is built)
        _, _, hc = _convert(args)
        print(hc.report())
        return 0
    hybrid_options(args)  # the hybrid flags without --fallback: a usage error
    kwargs = parse_kwargs(args.kwargs)
    inputs = parse_inputs(args.input)
    model = load_model(args.model, kwargs)
    _, graph = frontend.trace_module(model, inputs)
    counts = Counter()
    prim_problems: dict = {}
    for n in graph.nodes():
        kind = n.kind()
        if not kind.startswith("prim::"):
            counts[(kind, frontend.node_overload(n))] += 1
        elif kind not in _PRIM_HANDLERS:
            prim_problems.setdefault(kind, []).append(n)
    missing = 0
    for (kind, overload), n in sorted(counts.items()):
        ok = lookup(kind, overload) is not None
        missing += not ok
        print(f"{'ok ' if ok else 'MISSING'} {kind:<36} x{n}")
    for kind, nodes in sorted(prim_problems.items()):
        missing += 1
        print(f"MISSING {kind:<36} x{len(nodes)}")
        for node in nodes:
            where = frontend.source_line(node) or "unknown source line"
            if kind == "prim::PythonOp":
                name = node.pyname() if hasattr(node, "pyname") else "?"
                print(f"    {name} (custom autograd.Function) at {where}: {_PYTHON_OP_HINT}")
            else:
                print(f"    at {where}: trtgraph does not convert {kind} (trace a model without it)")
    return 1 if missing else 0


def cmd_cache(args) -> int:
    from . import cache

    folder = Path(args.dir).expanduser() if args.dir else cache.default_cache_dir()
    if folder.exists() and not folder.is_dir():
        raise InputError(f"cache folder {str(folder)!r} is not a folder; give the cache folder with --dir "
                         "(or set TRTGRAPH_CACHE_DIR)")
    if args.action == "clear":
        removed = cache.clear_cache(folder)
        print(f"removed {removed} cached engine{'' if removed == 1 else 's'} from {folder}")
        return 0
    entries = cache.cache_entries(folder)
    total = sum(e.size for e in entries)
    limit = cache.max_cache_bytes()
    print(f"cache folder {folder}: {_count(len(entries), 'engine')}, {total / 1e6:.1f} MB "
          f"(limit {limit / 1024 ** 3:.3g} GiB), least recently used first")
    for e in entries:
        used = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.last_used))
        print(f"  {e.key[:16]}  {e.size / 1e6:8.1f} MB  {used}  {e.precision:<5}  {e.inputs}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="trtgraph", description="Compile PyTorch models to TensorRT engines.")
    p.add_argument("--debug", action="store_true", help="print the traceback of an internal error")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp):
        sp.add_argument("model", help="package.module:factory (random weights) or a TorchScript file")
        sp.add_argument("--input", action="append", required=True,
                        help="example input shape, e.g. 1x3x224x224 or 1x128:int64 (repeat for several)")
        sp.add_argument("--kwargs", default="{}", help="JSON keyword arguments for the model factory")
        sp.add_argument("--precision", choices=["fp32", "fp16", "bf16"], default="fp32")
        sp.add_argument("--frontend", choices=["torchscript", "export"], default="torchscript",
                        help="torch.jit.trace (default) or torch.export; a .pt2 MODEL always uses export")
        sp.add_argument("--param-exclude", default=None, type=parse_regex,
                        help="regex of parameters the traced graph must not use")
        sp.add_argument("--verbose", action="store_true", help="print every node as it is converted")
        sp.add_argument("--quiet", action="store_true")
        sp.add_argument("--fallback", action="store_true",
                        help="hybrid execution: what TensorRT cannot take runs in torch between TensorRT segments")
        sp.add_argument("--torch-executed-ops", action="append", metavar="KINDS",
                        help="with --fallback: op kinds to run in torch, comma-separated (aten::x,aten::y; repeatable)")
        sp.add_argument("--torch-executed-modules", action="append", type=parse_regex, metavar="REGEX",
                        help="with --fallback: run the modules whose name matches REGEX in torch (repeatable)")
        sp.add_argument("--min-block-size", type=int, default=None, metavar="N",
                        help="with --fallback: TensorRT segments of fewer than N nodes run in torch (default 3)")
        debug_flag(sp)

    def debug_flag(sp):
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="print the traceback of an internal error")

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
        sp.add_argument("--no-strict", action="store_true",
                        help="turn trtgraph.convert's refusals of values baked in by the trace into warnings "
                             "(convert(..., strict=False))")

    c = sub.add_parser("convert", help="convert a model and write a serialized engine")
    common(c)
    shapes_and_policy(c)
    c.add_argument("-o", "--output", help="engine file (default: <factory>.<precision>.engine); with --fallback a "
                                         "folder (default: <factory>.<precision>.hybrid)")
    c.set_defaults(fn=cmd_convert)

    k = sub.add_parser("check", help="compare the network's reference evaluation with eager torch")
    common(k)
    shapes_and_policy(k)
    k.add_argument("--rtol", type=float, default=None,
                   help="max error relative to max |eager| (default by precision: fp32 1e-4, fp16 1e-2, bf16 6e-2)")
    k.add_argument("--atol", type=float, default=None, help="max absolute error (default 1e-5)")
    k.add_argument("--node-by-node", action="store_true", help="name the first node that diverges")
    k.set_defaults(fn=cmd_check)

    o = sub.add_parser("ops", help="list the aten ops a model uses and whether each has a handler")
    common(o)
    o.set_defaults(fn=cmd_ops)

    from .runtime import add_info_parser

    add_info_parser(sub)
    from .bench import add_bench_parser

    add_bench_parser(sub)

    cc = sub.add_parser("cache", help="list or clear the engine cache of trtgraph.compile")
    cc.add_argument("action", choices=["list", "clear"])
    cc.add_argument("--dir", help="cache folder (default: $TRTGRAPH_CACHE_DIR, else ~/.cache/trtgraph)")
    debug_flag(cc)
    cc.set_defaults(fn=cmd_cache)
    return p


def main(argv=None) -> int:
    """Run the command line; returns the exit code (argparse's usage errors exit 2 through SystemExit)."""
    args = build_parser().parse_args(argv)
    t0 = time.perf_counter()
    try:
        code = args.fn(args)
    except TrtGraphError as exc:
        print(f"trtgraph: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("trtgraph: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - an internal error: exit 3, traceback with --debug
        if getattr(args, "debug", False):
            traceback.print_exc()
        print(f"trtgraph: internal error: {type(exc).__name__}: {_short(exc, 300)} (a bug in trtgraph, or an "
              "error it should have named: rerun with --debug for the traceback and report it)", file=sys.stderr)
        return 3
    if getattr(args, "verbose", False):
        print(f"total {time.perf_counter() - t0:.2f} s", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
