"""What the command line (and the benchmarks) parse: example-input specs, ``--kwargs``,
``--dynamic`` ranges, regexes, and ``package.module:factory`` / TorchScript model specs.

Kept apart from ``cli.py`` so that ``bench.py`` can use it without importing the CLI.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import json
import math
import os
import re
import sys
import warnings

import torch

from .errors import InputError
from .export_frontend import load_program


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


MAX_INPUT_BYTES = 2 * 1024 ** 3  # the CLI's random example inputs (all of them together) stay below this


def _check_example_size(shapes_dtypes, what: str):
    """Refuse example tensors larger than MAX_INPUT_BYTES before allocating them."""
    total = sum(math.prod(shape) * dtype.itemsize for shape, dtype in shapes_dtypes)
    if total > MAX_INPUT_BYTES:
        raise InputError(f"{what} would need {total / 1024 ** 3:.3g} GiB of random example data (the CLI's limit "
                         f"is {MAX_INPUT_BYTES // 1024 ** 3} GiB); give a smaller example shape, and --dynamic "
                         "for the range the engine must accept")


def parse_input_spec(spec: str) -> tuple:
    """``1x3x224x224`` or ``1x128:int64`` -> ``(shape, dtype)``, checked (nothing allocated)."""
    shape_text, _, dtype_name = spec.partition(":")
    try:
        shape = tuple(int(d) for d in shape_text.lower().split("x"))
    except ValueError:
        raise InputError(f"--input {spec!r}: expected dimensions like 1x3x224x224[:dtype]") from None
    if any(d <= 0 for d in shape):
        raise InputError(f"--input {spec!r}: dimensions must be positive, e.g. 1x3x224x224")
    dtype = _DTYPES.get(dtype_name or "float32")
    if dtype is None:
        raise InputError(f"--input {spec!r}: dtype must be one of {', '.join(_DTYPES)}, e.g. 1x128:int64")
    _check_example_size([(shape, dtype)], f"--input {spec!r}")
    return shape, dtype


def parse_input(spec: str) -> torch.Tensor:
    """``1x3x224x224`` or ``1x128:int64`` -> a random example tensor."""
    return random_input(*parse_input_spec(spec))


def parse_inputs(specs) -> list:
    """Every ``--input``, checked together against the size limit before any is allocated."""
    parsed = [parse_input_spec(s) for s in specs]
    _check_example_size(parsed, f"{len(parsed)} --input")
    return [random_input(shape, dtype) for shape, dtype in parsed]


def parse_kwargs(text: str) -> dict:
    """The ``--kwargs`` JSON object."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        why = f"{exc.msg} at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise InputError(f"--kwargs {_short(text)!r} is not valid JSON ({why}); write a JSON object, e.g. "
                         "--kwargs '{\"num_classes\": 10}' (double quotes inside single quotes)") from None
    if not isinstance(value, dict):
        raise InputError(f"--kwargs {_short(text)!r} is a JSON {type(value).__name__}, not an object; write "
                         "the factory's keyword arguments as an object, e.g. --kwargs '{\"num_classes\": 10}'")
    return value


def _short(text, limit: int = 120) -> str:
    """The first line of ``text``, cut to ``limit`` characters (error messages stay one line)."""
    text = str(text).strip()
    first = text.splitlines()[0] if text else ""
    return first if len(first) <= limit and first == text else first[:limit] + " ..."


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


_SCRIPT_SUFFIXES = (".pt", ".pth", ".ts", ".jit", ".torchscript", ".zip")


def _control_flow(graph) -> dict:
    """``{kind: count}`` of the prim::If / prim::Loop nodes of a TorchScript graph (nested blocks too)."""
    found: dict = {}
    stack = [graph]
    while stack:
        for node in stack.pop().nodes():
            if node.kind() in ("prim::If", "prim::Loop"):
                found[node.kind()] = found.get(node.kind(), 0) + 1
            stack.extend(node.blocks())
    return found


def load_torchscript(spec: str) -> torch.nn.Module:
    if not os.path.isfile(spec):
        raise InputError(f"MODEL {spec!r} is not a regular file; give a TorchScript file saved with "
                         "torch.jit.trace(model, example).save(path), or package.module:factory")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning, message=r".*torch\.jit\.load.*deprecated.*")
            module = torch.jit.load(spec, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - any failure of torch.jit.load means the same to the user
        raise InputError(f"{spec}: not a loadable TorchScript file ({type(exc).__name__}: {_short(exc)}); "
                         "save it with torch.jit.trace(model, example).save(path)") from None
    flow = _control_flow(module.inlined_graph)
    if flow:
        counts = ", ".join(f"{n} {kind}" for kind, n in sorted(flow.items()))
        raise InputError(f"{spec}: a scripted (torch.jit.script) model with control flow ({counts}); trtgraph does "
                         "not convert control flow yet: trace the model instead, "
                         "torch.jit.trace(model.eval(), example).save(path), or give package.module:factory")
    return module.eval()


def _import_module(spec: str, module_name: str):
    """Import ``module_name`` with the current folder importable (as ``python -m`` would)."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - ImportError, SyntaxError, or the module's own code failing
        hint = ("check the name, and run trtgraph from the folder that holds the package (or add it to "
                "PYTHONPATH)" if isinstance(exc, ImportError) else "fix the module")
        raise InputError(f"MODEL {spec!r}: cannot import {module_name} ({type(exc).__name__}: {_short(exc)}); "
                         f"{hint}") from None


def _call_factory(spec: str, attr: str, factory, kwargs: dict):
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        signature = None
    if signature is not None:
        try:
            signature.bind(**kwargs)
        except TypeError as exc:
            accepted = [n for n, p in signature.parameters.items()
                        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
            raise InputError(f"MODEL {spec!r}: --kwargs {sorted(kwargs)} do not fit {attr}{signature} ({exc}); "
                             f"pass only its keyword arguments: {', '.join(accepted) or 'none'}") from None
    try:
        return factory(**kwargs)
    except Exception as exc:  # noqa: BLE001 - the user's factory: any failure is reported as theirs
        call = f"{attr}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
        raise InputError(f"MODEL {spec!r}: the factory call {call} raised {type(exc).__name__}: "
                         f"{_short(exc)}; fix the factory or its --kwargs") from None


def load_model(spec: str, kwargs: dict) -> torch.nn.Module:
    """``package.module:factory`` (the current folder is importable), a TorchScript file path, or
    a ``torch.export.save`` program (``.pt2``)."""
    if ":" not in spec:
        if spec.lower().endswith(".pt2"):
            return load_program(spec)
        if os.path.exists(spec):
            return load_torchscript(spec)
        if spec.lower().endswith(_SCRIPT_SUFFIXES) or os.sep in spec:
            raise InputError(f"MODEL {spec!r}: no such TorchScript file; check the path (relative to "
                             f"{os.getcwd()}), or give package.module:factory")
    module_name, sep, attr = spec.partition(":")
    if not sep or not attr or not module_name:
        raise InputError(f"MODEL {spec!r}: expected 'package.module:factory' or a TorchScript file, "
                         "e.g. torchvision.models:resnet50")
    module = _import_module(spec, module_name)
    factory = getattr(module, attr, None)
    if factory is None:
        raise InputError(f"MODEL {spec!r}: {module_name} has no attribute {attr!r}; check the factory's name")
    if not callable(factory):
        raise InputError(f"MODEL {spec!r}: {module_name}.{attr} is a {type(factory).__name__}, not a callable "
                         "factory; name a function or class that returns the model")
    model = _call_factory(spec, attr, factory, kwargs)
    if not isinstance(model, torch.nn.Module):
        raise InputError(f"MODEL {spec!r}: the factory returned a {type(model).__name__}, not a torch.nn.Module; "
                         "name a factory that returns the model")
    return model.eval()
