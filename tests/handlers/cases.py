"""Shared logic of the handler tests (``tests/handlers/test_<family>.py``).

Each family module has a ``CASES`` table of ``pytest.param(module, inputs, ops, id=name)``, built
with the ``case`` function of ``case_table()``, and runs every case through ``run_case``: eager
torch vs the torch debug mode vs the reference evaluation of the real TensorRT network, whose
engine is built and serialized (the walker checks every node's TensorRT shape/dtype against the
trace while converting); then the graph must have converted every op the case names.
``test_coverage.py`` checks that every registered handler appears in some table
(``table_modules()``); ``scripts/ops_doc.py`` reads the same tables.
"""
from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import torch
from conftest import assert_close, check_module, randomize
from torch import nn

import trtgraph
from trtgraph.errors import UnsupportedOpsError
from trtgraph.registry import _normalize

HERE = Path(__file__).resolve().parent


class Fn(nn.Module):
    """Wrap a function of the inputs (and optional parameters) as a module."""

    def __init__(self, fn, **params):
        super().__init__()
        self.fn = fn
        for k, v in params.items():
            self.register_parameter(k, nn.Parameter(v, requires_grad=False))

    def forward(self, *xs):
        return self.fn(self, *xs)


def r(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def ints(*shape, low=0, high=10, seed=0, dtype=torch.int64):
    return torch.randint(low, high, shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# negative, zero and positive int32 values, and positive ones (integer inputs of the issue 11 regressions)
I32 = torch.tensor([[1, -2, 3, 0], [4, 5, -6, 7]], dtype=torch.int32)
POS = I32.abs() + 1


# ----------------------------------------------------------------------- case tables

def case_table():
    """``(CASES, case)``: an empty table and the function that adds a case to it.

    ``case(name, fn, inputs, ops, **consts)``: ``fn`` is a module or a function ``fn(m, *inputs)``
    (wrapped in ``Fn``); ``ops`` are the op keys the case covers; ``consts`` become buffers of the
    module (``m.name``): a tensor created inside forward would be a value the trace bakes in.
    Returns the module."""
    table = []

    def case(name, fn, inputs, ops, **consts):
        module = fn if isinstance(fn, nn.Module) else Fn(fn)
        for k, v in consts.items():
            module.register_buffer(k, v)
        table.append(pytest.param(module, inputs, ops, id=name))
        return module

    return table, case


def table_modules():
    """The modules of tests/handlers/ that have a ``CASES`` table, imported (the op keys of a case
    are its third value, in the dynamic table too)."""
    modules = []
    for path in sorted(HERE.glob("test_*.py")):
        module = importlib.import_module(f"{__package__}.{path.stem}")
        if hasattr(module, "CASES"):
            modules.append(module)
    return modules


def assert_covers(conv, ops, converted_only=False):
    """The graph converted every op in ``ops`` (``converted_only``: by a handler, not folded)."""
    used = {_normalize(rec.kind) for rec in conv.graph.nodes if not (converted_only and rec.folded)}
    for op in ops:
        assert _normalize(op) in used, f"the case is meant to cover {op}, but the graph converted {sorted(used)}"


def run_case(module, inputs, ops, rtol=1e-4, atol=1e-5, converted_only=False, **kwargs):
    """One case: batch-norm statistics made non-trivial, ``check_module`` (eager vs debug mode vs
    the reference evaluation of the built network), then ``assert_covers``. Returns the Conversion."""
    torch.manual_seed(0)
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            randomize(m)
    conv = check_module(module, inputs, rtol=rtol, atol=atol, **kwargs)
    assert_covers(conv, ops, converted_only)
    return conv


def assert_refused(model, inputs, *names, match=None):
    """Converting ``model`` raises UnsupportedOpsError (matching ``match``) naming each of ``names``."""
    with pytest.raises(UnsupportedOpsError, match=match) as info:
        trtgraph.convert(model.eval(), inputs)
    for name in names:
        assert name in str(info.value), f"the refusal does not name {name!r}: {info.value}"


# ----------------------------------------------------------------------- dynamic input dimensions

def make(shape, ints=False, seed=0):
    """An input of ``shape``: float normal values, or integers in [0, 50)."""
    g = torch.Generator().manual_seed(seed)
    if ints:
        return torch.randint(0, 50, shape, generator=g)
    return torch.randn(shape, generator=g)


def check_dynamic(model, example, dynamic, shapes, rtol=1e-4, atol=1e-5, ints=False, names=("x",)):
    """Convert with ``dynamic_shapes``, check the network inputs really have -1 dims, build and
    serialize the engine with its optimization profile, and compare the reference evaluation with
    eager torch at each set of input shapes in ``shapes``."""
    model = model.eval()
    conv = trtgraph.convert(model, example, input_names=list(names), dynamic_shapes=dynamic)
    for i, name in enumerate(names):
        net_shape = tuple(conv.network.get_input(i).shape)
        for axis in dynamic.get(name, {}):
            assert net_shape[axis] == -1, f"input {name} dim {axis} should be dynamic, network has {net_shape}"
    engine = conv.build()
    assert isinstance(engine, bytes) and len(engine) > 0
    for k, shape_set in enumerate(shapes):
        inputs = [make(s, ints, seed=k + 1) for s in shape_set]
        got = conv.evaluate(*inputs)
        with torch.no_grad():
            want = model(*inputs)
        want = list(want) if isinstance(want, (list, tuple)) else [want]
        assert len(got) == len(want)
        for j, (g, w) in enumerate(zip(got, want)):
            assert_close(g, w, rtol, atol, f"shapes {shape_set}, output {j}")
    return conv


# ----------------------------------------------------------------------- special values, bit for bit
# The reference evaluation of the built network must give eager torch's values bit for bit (NaN
# where torch has NaN, signed zeros with torch's sign), in each precision.

INF, NAN = float("inf"), float("nan")
SPECIAL = torch.tensor([NAN, INF, -INF, 0.0, -0.0, 1.0, -1.0, 0.1, -0.1, 0.7, 2.5, -7.0, 3.3, 1e-3])
PRECISIONS = [pytest.param(p, d, id=p) for p, d in (("fp32", torch.float32), ("fp16", torch.float16),
                                                   ("bf16", torch.bfloat16))]


def every_pair(values):
    return values.repeat_interleave(len(values)), values.repeat(len(values))


def network_values(module, inputs, precision):
    """The reference evaluation of ``module``'s network, whose engine is built and serialized."""
    conv = trtgraph.convert(module.eval(), inputs, precision=precision)
    engine = conv.build()
    assert isinstance(engine, bytes) and len(engine) > 0
    return conv.evaluate(*inputs)


def assert_same_bits(got, want, inputs, what):
    got = got.to(want.dtype)
    same = (got == want) & (torch.signbit(got) == torch.signbit(want)) | (got.isnan() & want.isnan())
    bad = (~same).nonzero().flatten()[:5].tolist()
    assert not bad, f"{what}: " + "; ".join(
        f"{tuple(x[i].item() for x in inputs)} -> {got[i].item()}, torch {want[i].item()}" for i in bad)
