"""Write docs/ops.md: every op key trtgraph has a handler for, with the dtypes its test cases cover
and the argument combinations it refuses.

    python scripts/ops_doc.py                 # a few minutes on 2 cores
    python scripts/ops_doc.py --out /tmp/ops.md

How each column is found (nothing is typed in by hand):
- **key, family**: ``trtgraph.registered_keys()`` and the module the handler function lives in.
- **dtypes covered**: every case of the case tables (``CASES`` in ``tests/handlers/test_*.py``) is
  converted with ``trtgraph.convert``; for each node a handler converted (not constant-folded), the
  dtypes of the node's tensor inputs in the traced graph are recorded under the node's op key.
  A key no converted case reaches says "no case". Cases that fail to convert here are listed.
- **refused**: the reason strings in the source of the handler, of its validator (the up-front
  check) and of the same-module functions they call: ``ctx.error(...)`` messages and the strings
  validators return. ``{...}`` marks a value filled in at conversion time.
"""
from __future__ import annotations

import argparse
import ast
import inspect
import os
import sys
import textwrap
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

SHORT = {"float32": "f32", "float16": "f16", "bfloat16": "bf16", "float64": "f64", "int64": "i64",
         "int32": "i32", "int16": "i16", "int8": "i8", "uint8": "u8", "bool": "bool",
         "complex64": "c64", "float8_e4m3fn": "fp8"}


# ----------------------------------------------------------------------- dtypes from the case tables

def _case_inputs(module_name, values):
    """(model, inputs, convert kwargs) of one case; the dynamic table stores shapes, not inputs."""
    model, second = values[0], values[1]
    if module_name == "handlers.test_dynamic":
        from handlers.cases import make

        dims, ints = values[3], values[5]
        return model, [make(second, ints, 0)], {"input_names": ["x"], "dynamic_shapes": {"x": dims}}
    return model, list(second), {}


def _overload(node) -> str:
    """The overload name of a traced node (``dim`` of ``aten::max.dim``), '' when it has none."""
    try:
        name = node.schema().split("(", 1)[0]
    except RuntimeError:  # no schema (prim:: nodes)
        return ""
    return name.split(".", 1)[1] if "." in name else ""


def _node_dtypes(conv):
    """{op key: set of input dtypes} over the nodes a handler converted."""
    import torch

    from trtgraph.registry import lookup

    by_output = {}

    def walk(block):
        for node in block.nodes():
            for out in node.outputs():
                by_output[out.debugName()] = node
            for sub in node.blocks():
                walk(sub)

    walk(conv.graph.torch_graph)
    found = defaultdict(set)
    for rec in conv.graph.nodes:
        if rec.folded or not rec.value_names:
            continue
        node = by_output.get(rec.value_names[0])
        if node is None:
            continue
        entry = lookup(rec.kind, _overload(node))
        if entry is None:
            continue
        dtypes = set()
        for inp in node.inputs():
            t = inp.type()
            if isinstance(t, torch._C.TensorType) and t.dtype() is not None:
                dtypes.add(SHORT.get(str(t.dtype()).replace("torch.", ""), str(t.dtype()).replace("torch.", "")))
        found[entry.key].update(dtypes or {"(dtype not recorded)"})
    return found


def scan_cases(budget_s: float):
    import torch

    import trtgraph
    from trtgraph.handlers import nonzero as nonzero_module

    # the nonzero case is checked on the network (TensorRT-RTX refuses to build it): lift the refusal
    nonzero_module.rtx_cannot_build = lambda: False
    covered = defaultdict(set)
    cases = defaultdict(int)
    failures = []
    t0 = time.perf_counter()
    total = 0
    from handlers.cases import table_modules

    for module in table_modules():
        for param in module.CASES:
            total += 1
            name = f"{module.__name__}::{param.id}"
            if time.perf_counter() - t0 > budget_s:
                failures.append((name, "not run: time budget spent"))
                continue
            try:
                model, inputs, kwargs = _case_inputs(module.__name__, param.values)
                with torch.no_grad():
                    conv = trtgraph.convert(model.eval(), inputs, **kwargs)
            except Exception as exc:  # noqa: BLE001 - reported in the document
                failures.append((name, f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:160]}"))
                continue
            for key, dtypes in _node_dtypes(conv).items():
                covered[key].update(dtypes)
                cases[key] += 1
    return covered, cases, failures, total, time.perf_counter() - t0


# ----------------------------------------------------------------------- refusal strings from source

def _text(node):
    """A string expression as text, with ``{expr}`` for formatted values; None if not a string."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for v in node.values:
            if isinstance(v, ast.Constant):
                parts.append(str(v.value))
            else:
                parts.append("{" + ast.unparse(v.value) + "}")
        return "".join(parts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        a, b = _text(node.left), _text(node.right)
        if a is not None or b is not None:
            return (a if a is not None else "{" + ast.unparse(node.left) + "}") + \
                   (b if b is not None else "{" + ast.unparse(node.right) + "}")
    if isinstance(node, ast.IfExp):
        a, b = _text(node.body), _text(node.orelse)
        return " / ".join(t for t in (a, b) if t) or None
    return None


def _function_tree(fn):
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        return None
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


def _messages(fn, validator: bool):
    """Reason strings in ``fn``: ctx.error(...) arguments; for a validator, returned strings too.
    Also the names of functions it calls (to follow within the module)."""
    tree = _function_tree(fn)
    if tree is None:
        return [], set()
    found, called = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Attribute) and f.attr == "error" and node.args:
                t = _text(node.args[0])
                if t:
                    found.append(t)
            if isinstance(f, ast.Name):
                called.add(f.id)
        if validator and isinstance(node, ast.Return) and node.value is not None:
            t = _text(node.value)
            if t:
                found.append(t)
    return found, called


def refusals(entry, depth: int = 2):
    reasons = []
    seen = set()
    todo = [(entry.fn, False, 0)]
    if entry.validator is not None:
        todo.append((entry.validator, True, 0))
    while todo:
        fn, is_validator, level = todo.pop(0)
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        msgs, called = _messages(fn, is_validator)
        reasons.extend(m for m in msgs if m not in reasons)
        if level >= depth:
            continue
        module = sys.modules.get(getattr(fn, "__module__", ""), None)
        scope = dict(vars(module)) if module else {}
        if getattr(fn, "__closure__", None):
            scope.update({k: c.cell_contents for k, c in zip(fn.__code__.co_freevars, fn.__closure__)
                          if _cell_ok(c)})
        for name in sorted(called):
            g = scope.get(name)
            if inspect.isfunction(g) and g.__module__ == getattr(fn, "__module__", None):
                todo.append((g, is_validator, level + 1))
    return reasons


def _cell_ok(cell):
    try:
        cell.cell_contents  # noqa: B018
        return True
    except ValueError:
        return False


# ----------------------------------------------------------------------- the document

def _cell(text):
    return " ".join(str(text).split()).replace("|", "\\|")


def write(path: Path, budget_s: float):
    import torch

    import trtgraph
    from trtgraph import backend
    from trtgraph.registry import _HANDLERS

    covered, cases, failures, total, seconds = scan_cases(budget_s)
    keys = trtgraph.registered_keys()
    fam_of = {k: _HANDLERS[k].fn.__module__.rsplit(".", 1)[-1] for k in keys}
    no_case = [k for k in keys if k not in covered]
    lines = [
        "# Supported ops", "",
        "Generated by `python scripts/ops_doc.py`; do not edit by hand.", "",
        "How each column is found (nothing here is typed in by hand):",
        "",
        "- **family**: the handler module (`trtgraph/handlers/<family>.py`) of the key's handler.",
        "- **dtypes covered**: each case of the case tables (`CASES` in `tests/handlers/test_*.py`) is converted with "
        "`trtgraph.convert`; for every node a handler converted (not constant-folded) the dtypes of the node's tensor "
        "inputs in the traced graph are recorded under its op key. \"no case\" means no converted case reaches the "
        "key (it may still be tested elsewhere, e.g. by a model test). The nonzero case is converted with its "
        "TensorRT-RTX refusal lifted (checked on the network; see the refusal).",
        "- **refused**: reason strings from the source of the handler, of its validator (the up-front check) and of "
        "the same-module functions they call (two calls deep): `ctx.error(...)` messages and strings validators "
        "return. `{...}` is a value filled in at conversion time. Refusals raised by shared code (`ctx` helpers, "
        "the graph walker) are not listed.",
        "",
        f"Machine: {os.cpu_count()} cores; torch {torch.__version__}; TensorRT: {backend.flavour()} {backend.version()}. "
        f"{len(keys)} op keys; {len(keys) - len(no_case)} reached by a case; {total} cases, "
        f"{total - len(failures)} converted here, in {seconds:.0f} s.", "",
        "dtypes: f32 float32, f16 float16, bf16 bfloat16, f64 float64, i64 int64, i32 int32, i8 int8, u8 uint8, "
        "bool.", "",
        "| op key | family | cases | dtypes covered | refused |", "|---|---|---|---|---|",
    ]
    for k in keys:
        d = ", ".join(sorted(covered[k])) if k in covered else "no case"
        reasons = refusals(_HANDLERS[k])
        refused = "<br>".join(f"• {_cell(r)}" for r in reasons) if reasons else ""
        lines.append(f"| `{k}` | {fam_of[k]} | {cases.get(k, 0)} | {d} | {refused} |")
    if failures:
        lines += ["", "## Cases this script could not convert", "",
                  "(Their test may pass other arguments, e.g. a precision; they add nothing to the table.)", ""]
        lines += [f"- `{n}`: {_cell(e)}" for n, e in failures]
    path.write_text("\n".join(lines) + "\n")
    return len(keys), len(no_case), total, len(failures), seconds


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(ROOT / "docs" / "ops.md"))
    p.add_argument("--budget", type=float, default=600.0, help="seconds for converting the cases (default 600)")
    args = p.parse_args()
    import warnings

    warnings.filterwarnings("ignore")
    n, none, total, failed, seconds = write(Path(args.out), args.budget)
    print(f"wrote {args.out}: {n} op keys, {none} without a case; {total} cases ({failed} not converted) "
          f"in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
