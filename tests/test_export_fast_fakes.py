"""trtgraph.export.fast_fakes: torch.export with the cheaper shape rules must record the same
program (every node's fake sizes, strides and dtype, the same range constraints) as without them."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision

from trtgraph.export.fast_fakes import fast_fakes


class Activations(torch.nn.Module):
    """Every covered op, in and out of place, on dense, channels-last and strided (non-dense) inputs,
    an integer input the rules leave to the decomposition, and an eval-mode batch norm."""

    def __init__(self):
        super().__init__()
        self.bn = torch.nn.BatchNorm2d(4).eval()

    def forward(self, x, n):
        y = self.bn(x)
        outs = [F.hardtanh(y, -1.0, 2.0), F.hardswish(y), F.hardsigmoid(y), F.mish(y), F.elu(y), F.leaky_relu(y, 0.2),
                F.gelu(y), F.gelu(y, approximate="tanh"), F.celu(y), F.selu(y), F.softplus(y, 2.0), F.relu6(y)]
        z = y.to(memory_format=torch.channels_last) * 2
        strided = y[:, ::2, 1:, :] * 1
        for t in (z, strided):
            outs += [F.hardtanh(t.clone(), inplace=True), F.hardswish(t.clone(), inplace=True),
                     F.hardsigmoid(t.clone(), inplace=True), F.silu(t.clone(), inplace=True),
                     F.mish(t.clone(), inplace=True), F.elu(t.clone(), inplace=True),
                     F.leaky_relu(t.clone(), inplace=True), t.clone().sigmoid_(), t.clone().tanh_(),
                     F.hardswish(t.permute(0, 2, 3, 1))]
        outs.append(F.hardtanh(n, 0, 3))  # integer: the original decomposition
        return outs


def _program(model, inputs, spec, fast: bool):
    with fast_fakes() if fast else torch.no_grad():
        return torch.export.export(model, tuple(inputs), dynamic_shapes=spec, strict=False)


def _signature(ep):
    out = []
    for n in ep.graph.nodes:
        v = n.meta.get("val")
        vals = v if isinstance(v, (tuple, list)) else [v]
        out.append((n.op, str(n.target), [(str(t.shape), str(t.stride()), t.dtype) if isinstance(t, torch.Tensor)
                                          else repr(t) for t in vals]))
    return out, str(ep.range_constraints)


@pytest.mark.parametrize("case", ["activations", "mobilenet_v3_small"])
def test_the_rules_record_the_program_the_decompositions_record(case):
    torch.manual_seed(0)
    batch = torch.export.Dim("batch", min=1, max=8)
    if case == "activations":
        model, inputs = Activations().eval(), [torch.randn(2, 4, 6, 6), torch.randint(-5, 5, (2, 3))]
        spec = ({0: batch}, {0: batch})
    else:
        model, inputs = torchvision.models.mobilenet_v3_small().eval(), [torch.randn(2, 3, 64, 64)]
        spec = ({0: batch},)
    plain, fast = _signature(_program(model, inputs, spec, False)), _signature(_program(model, inputs, spec, True))
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


def _symbolic_fakes():
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import DimDynamic, ShapeEnv, StatelessSymbolicContext

    mode = FakeTensorMode(shape_env=ShapeEnv())

    def fake(t):
        dims = [DimDynamic.DYNAMIC] + [DimDynamic.STATIC] * (t.dim() - 1)
        return mode.from_tensor(t, symbolic_context=StatelessSymbolicContext(dynamic_sizes=dims))
    return mode, fake


def _described(out):
    outs = out if isinstance(out, (tuple, list)) else [out]
    return [(str(t.shape), str(t.stride()), t.dtype) for t in outs]


def _rule_ops():
    with fast_fakes():
        from trtgraph.export.fast_fakes import _saved
        return sorted(_saved, key=str)


@pytest.mark.parametrize("op", _rule_ops(), ids=str)
def test_each_rule_gives_what_its_decomposition_gives(op):
    from torch._decomp import decomposition_table

    base = torch.randn(3, 4, 6, 6)
    layouts = [base, base.to(memory_format=torch.channels_last), base[:, ::2, 1:], base.permute(0, 2, 3, 1)]
    for layout in layouts:
        results = []
        for fast in (False, True):
            mode, fake = _symbolic_fakes()
            with fast_fakes() if fast else torch.no_grad():
                rule = decomposition_table[op]
                src = layout.clone() if op._schema.name.endswith("_") else layout
                with mode:
                    x = fake(src)
                    if "batch_norm" in str(op):
                        c = x.shape[1]
                        stats = [torch.randn(c), torch.randn(c), torch.randn(c), torch.rand(c) + 0.5]
                        out = rule(x, *stats, 0.1, 1e-5)
                    else:
                        out = rule(x)
            results.append(_described(out))
        assert results[1] == results[0], (op, layout.stride())
