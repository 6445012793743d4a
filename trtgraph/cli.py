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

The code: argument parsing in :mod:`trtgraph.cli_args`, the conversion shared by the commands in
:mod:`trtgraph.cli_convert`, the commands in :mod:`trtgraph.cli_commands`; the parser and ``main``
here (this module re-exports the other three).
"""
from __future__ import annotations

import argparse
import sys
import time
import traceback

from .errors import TrtGraphError

from .cli_args import (  # noqa: F401  (re-exported: tests and scripts use trtgraph.cli.<name>)
    random_input, _check_example_size, parse_input_spec, parse_input, parse_inputs, parse_kwargs, _short,
    parse_dynamic, dynamic_shapes_from, parse_regex, precision_policy_from, _control_flow, load_torchscript,
    _import_module, _call_factory, load_model, _DTYPES, MAX_INPUT_BYTES, DYNAMIC_FORM, _SCRIPT_SUFFIXES)
from .cli_convert import (hybrid_options, input_names, output_path, _Progress, _accepts,  # noqa: F401
                          _check_profile_size, _convert, _count, _fp32_nodes)
from .cli_commands import (cmd_cache, cmd_check, cmd_convert, cmd_ops, _PYTHON_OP_HINT, _convert_hybrid,  # noqa: F401
                           _print_trace_notes)


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
