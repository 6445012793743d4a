"""From command-line arguments to a conversion, shared by ``trtgraph convert``, ``check`` and ``ops``:
the progress bar, the ``convert`` call with its options (dynamic shapes, precision policy, hybrid
flags), input names, and the output path checked before anything is converted."""
from __future__ import annotations

import inspect
import os
import sys
import tempfile
from pathlib import Path
from typing import Optional

from .cli_args import (_check_example_size, dynamic_shapes_from, load_model, parse_inputs, parse_kwargs,
                       precision_policy_from)
from .errors import InputError


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
