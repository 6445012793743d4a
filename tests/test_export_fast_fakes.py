"""trtgraph.export.fast_fakes: torch.export with the cheaper shape rules must record the same
program (every node's fake sizes, strides and dtype, the same range constraints) as without them."""
from __future__ import annotations

import contextlib
import re
import sys
import threading
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import torchvision

from trtgraph.export.fast_fakes import fast_fakes

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmarks/ is not installed
from benchmarks.fast_fakes import program_signature  # noqa: E402


class Activations(torch.nn.Module):
    """Every covered op, in and out of place, on dense, channels-last and strided (non-dense) inputs,
    an integer input the rules leave to the decomposition, and an eval-mode batch norm (a whole
    model, mobilenet_v3_small, runs with ``pytest -m slow``)."""

    def __init__(self):
        super().__init__()
        self.bn = torch.nn.BatchNorm2d(4).eval()

    def forward(self, x, n):
        y = self.bn(x)
        outs = [F.hardtanh(y, -1.0, 2.0), F.hardswish(y), F.hardsigmoid(y), F.mish(y), F.elu(y), F.leaky_relu(y, 0.2),
                F.gelu(y), F.gelu(y, approximate="tanh"), F.celu(y), F.selu(y), F.softplus(y, 2.0), F.relu6(y),
                F.relu(y), torch.sigmoid(y), torch.tanh(y), F.silu(y), F.relu(y.mean((2, 3), keepdim=True)),
                F.layer_norm(y, y.shape[-1:]), F.layer_norm(y.permute(0, 2, 3, 1), (4,)), F.layer_norm(y, (6, 6))]
        z = y.to(memory_format=torch.channels_last) * 2
        strided = y[:, ::2, 1:, :] * 1
        for t in (z, strided):
            outs += [F.hardtanh(t.clone(), inplace=True), F.hardswish(t.clone(), inplace=True),
                     F.hardsigmoid(t.clone(), inplace=True), F.silu(t.clone(), inplace=True),
                     F.mish(t.clone(), inplace=True), F.elu(t.clone(), inplace=True),
                     F.leaky_relu(t.clone(), inplace=True), t.clone().sigmoid_(), t.clone().tanh_(), t.clone().relu_(),
                     F.hardswish(t.permute(0, 2, 3, 1))]
        outs.append(F.hardtanh(n, 0, 3))  # integer: the original decomposition
        return outs


def _program(model, inputs, spec, fast: bool):
    with fast_fakes() if fast else contextlib.nullcontext():
        return torch.export.export(model, tuple(inputs), dynamic_shapes=spec, strict=False)


@pytest.mark.parametrize("case", ["activations", pytest.param("mobilenet_v3_small", marks=pytest.mark.slow)])
def test_the_rules_record_the_program_the_decompositions_record(case):
    torch.manual_seed(0)
    batch = torch.export.Dim("batch", min=1, max=8)
    if case == "activations":
        model, inputs = Activations().eval(), [torch.randn(2, 4, 6, 6), torch.randint(-5, 5, (2, 3))]
        spec = ({0: batch}, {0: batch})
    else:
        model, inputs = torchvision.models.mobilenet_v3_small().eval(), [torch.randn(2, 3, 64, 64)]
        spec = ({0: batch},)
    plain = program_signature(_program(model, inputs, spec, False))
    fast = program_signature(_program(model, inputs, spec, True))
    assert "s" in str(plain[0]), "the batch must be symbolic, or the rules are never reached"
    assert fast == plain


def test_the_rules_are_used_and_put_back():
    from torch._decomp import decomposition_table

    op = torch.ops.aten.hardtanh_.default
    original = decomposition_table[op]
    with fast_fakes():
        with fast_fakes():
            assert decomposition_table[op] is not original
        assert decomposition_table[op] is not original  # the outer block still holds them
    assert decomposition_table[op] is original
    with pytest.raises(RuntimeError):
        with fast_fakes():
            raise RuntimeError("an export that fails")
    assert decomposition_table[op] is original


def _symbolic_fakes(dynamic=(0,)):
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import DimDynamic, ShapeEnv, StatelessSymbolicContext

    env = ShapeEnv()
    mode = FakeTensorMode(shape_env=env)

    def fake(t):
        dims = [DimDynamic.DYNAMIC if i in dynamic else DimDynamic.STATIC for i in range(t.dim())]
        return mode.from_tensor(t, symbolic_context=StatelessSymbolicContext(dynamic_sizes=dims))
    return mode, fake, env


def _described(out):
    outs = out if isinstance(out, (tuple, list)) else [out]
    return [(str(t.shape), str(t.stride()), t.dtype) for t in outs]


def _without_and_with_rules(run, dynamic=(0,)) -> list:
    """``run(fake, mode)`` without the rules, then with them, each on fresh symbolic fakes (the
    ``dynamic`` dims symbolic): ``[(outputs described, guards added)]`` for both."""
    results = []
    for fast in (False, True):
        mode, fake, env = _symbolic_fakes(dynamic)
        with fast_fakes() if fast else contextlib.nullcontext():
            out = run(fake, mode)
        results.append((_described(out), [str(g.expr) for g in env.guards]))
    return results


def _rule_ops():
    with fast_fakes():
        from trtgraph.export.fast_fakes import _saved
        return sorted(_saved, key=str)


def _layouts():
    base = torch.randn(3, 4, 6, 6)
    yield from (base, base.to(memory_format=torch.channels_last), base[:, :, ::2], base.permute(0, 2, 3, 1))
    # size-1 dims: contiguous and channels-last at once, where ops differ in the strides they give
    yield from (torch.randn(3, 1, 5, 5).to(memory_format=torch.channels_last), torch.randn(3, 4, 1, 6))
    # a squeeze-excitation block's (N, C, 1, 1), in both layouts; and a 4-d view with a size-1 dim
    pooled = torch.randn(3, 4, 1, 1)
    yield from (pooled, pooled.to(memory_format=torch.channels_last), torch.randn(3, 1, 1, 6))


def _apply(op, x, mode, channels=None):
    from torch._decomp import decomposition_table

    with mode:
        if "layer_norm" in str(op):  # over the last dim (static), or the last two
            norm = list(x.shape[-2:]) if channels == 2 else [x.shape[-1]]
            return decomposition_table[op](x, norm, torch.randn(norm), torch.randn(norm), 1e-5)
        if "batch_norm" in str(op):
            c = channels or x.shape[1]
            return decomposition_table[op](x, torch.randn(c), torch.randn(c), torch.randn(c), torch.rand(c) + 0.5,
                                           0.1, 1e-5)
        return decomposition_table[op](x)


@pytest.mark.parametrize("op", _rule_ops(), ids=str)
def test_each_rule_gives_what_its_decomposition_gives(op):
    in_place = op._schema.name.endswith("_")
    variants = (None, 2) if "layer_norm" in str(op) else (None,)  # layer norm: over one dim and over two
    for layout in _layouts():
        for variant in variants:
            def run(fake, mode):
                x = fake(layout.clone() if in_place else layout)
                out = _apply(op, x, mode, variant)
                if in_place:
                    assert out is x
                return out
            results = _without_and_with_rules(run)
            assert results[1] == results[0], (op, layout.shape, layout.stride(), variant)


def test_layer_norm_over_a_symbolic_size_is_left_to_its_decomposition():
    """A normalized dim that is dynamic: the rule does not apply, so the program is the decomposition's."""
    op = torch.ops.aten.native_layer_norm.default

    def run(fake, mode):
        x = fake(torch.randn(3, 4, 6))
        with mode:
            return op(x, [x.shape[-1]], None, None, 1e-5)
    results = _without_and_with_rules(run, dynamic=(0, 2))
    assert re.search(r"s[0-9]+\]\)$", results[0][0][0][0]), results[0]  # the normalized dim is symbolic
    assert results[1] == results[0]


def test_batch_norm_over_a_symbolic_channel_count_keeps_its_guard():
    op = torch.ops.aten._native_batch_norm_legit_no_training.default
    results = _without_and_with_rules(lambda fake, mode: _apply(op, fake(torch.randn(3, 4, 6, 6)), mode, channels=4),
                                      dynamic=(0, 1))
    guards = [found for _, found in results]
    assert guards[0], "the decomposition guards the channel count"
    assert guards[1] == guards[0]


def _traced_ops(op, x):
    from torch._decomp import decomposition_table
    from torch.fx.experimental.proxy_tensor import make_fx

    gm = make_fx(lambda t: op(t), decomposition_table={op: decomposition_table[op]}, tracing_mode="fake")(x)
    return {str(n.target) for n in gm.graph.nodes if n.op == "call_function"}


def test_the_rules_act_only_in_the_thread_that_exports():
    """Another thread that decomposes for real (``run_decompositions``, ``torch.compile``) while an
    export is running must get the decomposition's math, not a shape rule."""
    op = torch.ops.aten.celu.default
    x = torch.randn(2, 3)
    plain = _traced_ops(op, x)
    assert "aten.empty.memory_format" not in plain
    seen = {}
    inside, done = threading.Event(), threading.Event()

    def export_thread():
        with fast_fakes():
            seen["exporting thread"] = _traced_ops(op, x)
            inside.set()
            done.wait(60)

    t = threading.Thread(target=export_thread)
    t.start()
    assert inside.wait(60)
    try:
        seen["other thread"] = _traced_ops(op, x)
    finally:
        done.set()
        t.join()
    assert seen["exporting thread"] == {"aten.empty.memory_format"}  # the rule is in force there
    assert seen["other thread"] == plain


def test_the_swap_leaves_fake_tensor_caches_as_they_were():
    from torch._subclasses.fake_tensor import torch_decomp_decompositions

    ops = _rule_ops()
    torch_decomp_decompositions.cache_clear()
    with fast_fakes():
        during = [torch_decomp_decompositions(op) for op in ops]
    after = [torch_decomp_decompositions(op) for op in ops]
    torch_decomp_decompositions.cache_clear()
    fresh = [torch_decomp_decompositions(op) for op in ops]
    assert during == after == fresh
