"""The subcommands ``trtgraph convert``, ``check``, ``ops`` and ``cache`` (``info`` is in
:mod:`trtgraph.runtime`, ``bench`` in :mod:`trtgraph.bench`)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from .cli_args import load_model, parse_inputs, parse_kwargs, random_input
from .cli_convert import _convert, _count, _fp32_nodes, hybrid_options, output_path
from .errors import InputError


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
        return 0 if report.ok and _check_profiles(args, conv, inputs, report) else 1
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
    return 0 if _check_profiles(args, conv, inputs, report) and ok else 1


def _check_profiles(args, conv, inputs, report) -> bool:
    """With dynamic shapes: verify at the min, opt and max shapes too; prints a row for each."""
    if not conv.profiles:
        return True
    print(f"profile shapes (rtol={report.rtol:g}, atol={report.atol:g}):")
    rows, ok = [], True
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
    return ok


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
    graph = frontend.trace_graph(model, inputs)
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
