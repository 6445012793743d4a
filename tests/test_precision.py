"""The fp16/bf16 precision policy: which layers stay float32, configuration per op kind and per
module, and what it buys numerically. Every network is built; numbers come from the reference
evaluator, which computes each layer in the network's dtypes."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from handlers.cases import Fn

import trtgraph
from trtgraph.debug import errors
from trtgraph.dtypes import to_torch
from trtgraph.errors import InputError


def layer_dtypes(conv, prefix=""):
    """{layer type name: set of output dtypes} over the layers whose name starts with ``prefix``."""
    out = {}
    for i in range(conv.network.num_layers):
        layer = conv.network.get_layer(i)
        if not layer.name.startswith(prefix):
            continue
        kind = str(layer.type).split(".")[-1]
        out.setdefault(kind, set()).add(to_torch(layer.get_output(0).dtype))
    return out


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(16, 16)
        self.norm = nn.LayerNorm(16)

    def forward(self, x):
        return self.norm(self.lin(x)).softmax(-1)


class TwoBlocks(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.block1, self.block2 = Block(), Block()

    def forward(self, x):
        return self.block2(self.block1(x))


X = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_default_policy_keeps_softmax_and_norm_in_fp32(precision):
    reduced = trtgraph.dtypes.PRECISIONS[precision]
    conv = trtgraph.convert(TwoBlocks(), [X], precision=precision)
    assert len(conv.build()) > 0
    kinds = layer_dtypes(conv)
    assert kinds["SOFTMAX"] == {torch.float32}
    assert kinds["NORMALIZATION"] == {torch.float32}
    assert kinds["MATRIX_MULTIPLY"] == {reduced}
    assert len(conv.fp32_nodes) == 4 and all("(op)" in n for n in conv.fp32_nodes)
    report = conv.verify(X, rtol=1e-2 if precision == "fp16" else 6e-2)
    assert report.ok, str(report)


def test_policy_none_computes_everything_reduced():
    conv = trtgraph.convert(TwoBlocks(), [X], precision="fp16", precision_policy="none")
    kinds = layer_dtypes(conv)
    assert kinds["SOFTMAX"] == {torch.float16} and kinds["NORMALIZATION"] == {torch.float16}
    assert conv.fp32_nodes == []


def test_fp32_modules_keep_a_whole_module_in_fp32():
    policy = trtgraph.PrecisionPolicy(fp32_ops=(), fp32_modules=["block2"])
    conv = trtgraph.convert(TwoBlocks(), [X], precision="fp16", precision_policy=policy)
    assert len(conv.build()) > 0
    inside = layer_dtypes(conv, "block2")
    outside = layer_dtypes(conv, "block1")
    assert inside["MATRIX_MULTIPLY"] == {torch.float32} and inside["SOFTMAX"] == {torch.float32}
    assert outside["MATRIX_MULTIPLY"] == {torch.float16} and outside["SOFTMAX"] == {torch.float16}
    assert all("block2" in n and "(module)" in n for n in conv.fp32_nodes)


def test_extra_fp32_ops_by_kind():
    policy = trtgraph.PrecisionPolicy(fp32_ops=(), extra_fp32_ops=["linear"])
    conv = trtgraph.convert(TwoBlocks(), [X], precision="fp16", precision_policy=policy)
    kinds = layer_dtypes(conv)
    assert kinds["MATRIX_MULTIPLY"] == {torch.float32}
    assert kinds["SOFTMAX"] == {torch.float16}


def test_attention_softmax_stays_fp32_inside_composite_handler():
    layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True).eval()
    conv = trtgraph.convert(layer, [X], precision="fp16")
    assert len(conv.build()) > 0
    kinds = layer_dtypes(conv)
    assert kinds["SOFTMAX"] == {torch.float32} and kinds["NORMALIZATION"] == {torch.float32}
    assert any("inner aten::softmax" in n for n in conv.fp32_nodes)


def test_fp32_chain_keeps_values_that_overflow_fp16():
    """exp -> long sum -> log: exp(11.5) = 98715 overflows fp16 (max 65504). With the policy the
    chain passes float32 values from island to island; without it the result is inf."""
    x = torch.rand(2, 4096, generator=torch.Generator().manual_seed(0)) + 10.5
    model = Fn(lambda m, x: torch.log(torch.exp(x).sum(-1)))
    with torch.no_grad():
        want = model(x)
    kept = trtgraph.convert(model, [x], precision="fp16")
    assert len(kept.build()) > 0
    got = kept.evaluate(x)[0]
    assert errors(got, want)[1] < 1e-3
    assert any("long reduction" in n for n in kept.fp32_nodes)
    plain = trtgraph.convert(model, [x], precision="fp16", precision_policy="none")
    assert not torch.isfinite(plain.evaluate(x)[0]).all()


def test_short_sum_stays_reduced_and_long_sum_goes_fp32():
    model = Fn(lambda m, a, b: (a.sum(-1), b.sum(-1)))
    conv = trtgraph.convert(model, [torch.randn(2, 8), torch.randn(2, 2048)], precision="fp16")
    assert len(conv.fp32_nodes) == 1 and "long reduction" in conv.fp32_nodes[0]
    kinds = layer_dtypes(conv)
    assert kinds["REDUCE"] == {torch.float16, torch.float32}


@pytest.mark.parametrize("kwargs,message", [
    (dict(fp32_modules=["block(("]), "not a regular expression"),
    (dict(long_reduction=-1), "long_reduction"),
])
def test_bad_policy_is_refused(kwargs, message):
    with pytest.raises(InputError, match=message):
        trtgraph.PrecisionPolicy(**kwargs)


def test_unknown_policy_value_is_refused():
    with pytest.raises(InputError, match="precision_policy"):
        trtgraph.convert(TwoBlocks(), [X], precision="fp16", precision_policy="fast")


def test_fp32_network_ignores_the_policy():
    conv = trtgraph.convert(TwoBlocks(), [X], precision_policy=trtgraph.PrecisionPolicy(fp32_modules=["block1"]))
    assert conv.fp32_nodes == []
    assert all(d == {torch.float32} for k, d in layer_dtypes(conv).items() if k != "CONSTANT")


def test_in_place_write_after_an_fp32_island_is_not_lost():
    """exp (a float32 island) writes into a slice of its output in place; the log island after it
    must read the written value, not the island's float32 copy from before the write."""
    def forward(m, x):
        y = torch.exp(x)
        y[:, 0] = 1.0
        return torch.log(y)

    x = torch.randn(2, 5, generator=torch.Generator().manual_seed(0))
    conv = trtgraph.convert(Fn(forward), [x], precision="fp16")
    with torch.no_grad():
        want = forward(None, x)
    got = conv.evaluate(x)[0]
    assert errors(got, want)[1] < 1e-2
    assert torch.equal(got[:, 0], torch.zeros(2))
