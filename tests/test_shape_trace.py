"""The shapes-only second trace (trtgraph.shape_trace): it must tell exactly what a real second
trace tells, be taken only where it can, and never be the reason a model is refused."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from trtgraph import frontend, shape_trace
from trtgraph.dynamic import compare_traces, resized

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))


class Heads(torch.nn.Module):
    """Matrix products whose shapes follow the batch, sizes read in Python, a baked-looking reshape."""

    def __init__(self):
        super().__init__()
        self.q = torch.nn.Linear(8, 16)
        self.k = torch.nn.Linear(8, 16)

    def forward(self, x):  # x: (batch, seq, 8)
        b, s, _ = x.shape
        q = self.q(x).reshape(b, s, 2, 8).transpose(1, 2)
        k = self.k(x).reshape(b, s, 2, 8).transpose(1, 2)
        att = torch.softmax(q @ k.transpose(-1, -2) / 8 ** 0.5, -1)
        out = torch.nn.functional.scaled_dot_product_attention(q, k, att @ k)
        extra = torch.baddbmm(torch.zeros(b, s, s), x, x.transpose(1, 2)).sum(-1).repeat(1, 16)
        return out.transpose(1, 2).reshape(b, s * 16) + extra


def _tiny(name):
    import zoo_models

    model, _ = [m for m in zoo_models.transformers_models("tiny") if m.name == name][0].build()
    return model, [torch.randint(0, 1000, (2, 16), generator=torch.Generator().manual_seed(0))]


def _both(model, first, second):
    findings: list = []
    _, g1 = frontend.trace_module(model, first, findings)
    _, g2 = frontend.trace_module(model, second)
    real = compare_traces(g1, g2)
    stats: dict = {}
    short = shape_trace.retrace(model, second, g1, findings, lambda g: compare_traces(g1, g), stats=stats)
    return real, short, stats


@pytest.mark.parametrize("case", ["heads", "bert", "gpt2", "llama"])
def test_the_shortcut_finds_what_a_real_second_trace_finds(case):
    if case == "heads":
        model, first = Heads().eval(), [torch.randn(2, 5, 8)]
        second = [torch.randn(7, 9, 8)]
    else:
        model, first = _tiny(case)
        second = [resized(first[0], {0: 5, 1: 53})]
    real, short, stats = _both(model, first, second)
    assert stats["shortcut"] == "taken"
    assert real.dynamic, "the case must have dynamic values to compare"
    assert short.dynamic == real.dynamic
    assert short.second_shapes == real.second_shapes
    assert short.baked == real.baked


def test_the_shortcut_skips_large_ops_and_runs_small_ones():
    model = Heads().eval()
    findings: list = []
    _, g1 = frontend.trace_module(model, [torch.randn(2, 5, 8)], findings)
    assert shape_trace.why_not(g1, findings) is None
    _, skipped_small = shape_trace.trace_shapes(model, [torch.randn(3, 4, 8)], [])
    assert skipped_small == 0  # every op below shape_trace.SMALL elements runs for real
    g, skipped = shape_trace.trace_shapes(model, [torch.randn(3, 300, 8)], [])
    assert skipped >= 6  # linears, matmuls, softmax, attention, baddbmm, the sums and adds
    assert [n.kind() for n in g.nodes()] == [n.kind() for n in g1.nodes()]


class ReadsWeights(torch.nn.Module):
    """Python reads a value computed from a large parameter: under the shortcut it would be garbage."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(64, 64))

    def forward(self, x):
        return x @ self.w * (2 if self.w.abs().sum() > 0 else 3)


class ReadsWeightSizes(torch.nn.Module):
    """Python reads a parameter's size only (as embeddings check their padding index)."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(64, 64))

    def forward(self, x):
        return x @ self.w * (2 if torch.tensor(self.w.shape[0]) > 3 else 3)


@pytest.mark.parametrize("model,taken", [(ReadsWeights(), False), (ReadsWeightSizes(), True)],
                         ids=["values", "sizes"])
def test_python_reading_parameter_values_rules_out_the_shortcut_and_reading_their_sizes_does_not(model, taken):
    import warnings

    findings: list = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, g1 = frontend.trace_module(model, [torch.randn(2, 64)], findings)
    assert [f.origin for f in findings] == ["constant"] * len(findings) and findings
    reason = shape_trace.why_not(g1, findings)
    assert (reason is None) == taken, reason
    if not taken:
        assert "computed from parameters" in reason


class Select(torch.nn.Module):
    def forward(self, x):
        return x[x > 0].reshape(-1, 1) * x.shape[0]


class Nonzero(torch.nn.Module):
    def forward(self, x):
        return torch.nonzero(x @ x.t())


class Reads(torch.nn.Module):
    def forward(self, x):
        return x * float(x.sum())


class Convolutions(torch.nn.Module):
    """Every convolution the shortcut calls as ``aten::_convolution`` itself, with int and tuple
    arguments, groups (one and two input channels per group), dilation, uneven stride and padding,
    1-D, 2-D and 3-D, transposed with output padding, and no bias; large enough (from (n, 3, 48,
    48)) for the shortcut to skip them."""

    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv1d(3, 6, 3, stride=2, padding=1, groups=3)
        self.c2 = torch.nn.Conv2d(3, 4, (3, 1), stride=(2, 1), dilation=(1, 2), bias=False)
        self.c3 = torch.nn.Conv3d(3, 2, (1, 3, 2), stride=(1, 2, 3), padding=(0, 2, 1), dilation=(1, 3, 1))
        self.g = torch.nn.Conv2d(4, 6, 3, stride=(3, 2), padding=(2, 0), groups=2)
        self.t2 = torch.nn.ConvTranspose2d(4, 2, 3, stride=2, output_padding=1)
        self.t1 = torch.nn.ConvTranspose1d(6, 2, 2, stride=2)

    def forward(self, x):  # (n, 3, 48, 48)
        a = self.t1(self.c1(x.flatten(2))).flatten(1)
        b = self.t2(self.c2(x)).flatten(1)
        c = torch.nn.functional.conv2d(x, self.c2.weight, None, 1, 0, 1, 1).flatten(1)
        d = self.g(self.c2(x)).flatten(1)
        return torch.cat([a, b, c, d, self.c3(x.unsqueeze(2)).flatten(1)], 1)


class Layouts(torch.nn.Module):
    """Convolutions large enough for the shortcut, whose output layout follows from their tensors'
    strides: depthwise (C, 1, k, k) and 1x1 (O, I, 1, 1) weights, which are channels-last contiguous
    too, and a strided view; with ``channels_last``, also a channels-last input and weight (the
    meta kernel then gives another layout than the CPU kernel, and the trace is redone). Each
    output is viewed flat, which fails on another layout than the one torch gives."""

    def __init__(self, channels_last: bool = False):
        super().__init__()
        self.channels_last = channels_last
        self.depthwise = torch.nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.pointwise = torch.nn.Conv2d(16, 24, 1)
        self.last = torch.nn.Conv2d(16, 8, 3).to(memory_format=torch.channels_last)

    def forward(self, x):  # (n, 16, 32, 32)
        hidden = self.depthwise(x)
        outs = [hidden, self.pointwise(hidden), self.depthwise(x[:, :, ::2])]
        if self.channels_last:
            outs += [self.pointwise(x.contiguous(memory_format=torch.channels_last)), self.last(x)]
        return [t.view(t.shape[0], -1) if t.is_contiguous() else t.permute(0, 2, 3, 1).reshape(t.shape[0], -1)
                for t in outs]


@pytest.mark.parametrize("case", ["convolutions", "layouts", "channels-last", "resnet18"])
def test_convolutions_through_the_shortcut_find_what_a_real_trace_finds(case, monkeypatch):
    if case == "resnet18":
        import torchvision

        model, first, second = torchvision.models.resnet18().eval(), torch.randn(1, 3, 64, 64), torch.randn(9, 3, 72, 64)
    elif case in ("layouts", "channels-last"):
        model = Layouts(channels_last=case == "channels-last").eval()
        first, second = torch.randn(2, 16, 32, 32), torch.randn(5, 16, 32, 32)
    else:
        model, first, second = Convolutions().eval(), torch.randn(2, 3, 48, 48), torch.randn(9, 3, 48, 48)
    shapes = []
    formula = shape_trace._convolution_shape

    def spy(*args):
        shapes.append(formula(*args))
        return shapes[-1]

    monkeypatch.setattr(shape_trace, "_convolution_shape", spy)
    real, short, stats = _both(model, [first], [second])
    # channels-last tensors keep the meta kernel, whose layout differs from the CPU kernel's: redone
    assert stats["shortcut"] == "taken" or case == "channels-last", stats
    if case == "convolutions":  # every non-transposed convolution by the formula (6 of the 8)
        assert sum(s is not None for s in shapes) == 6 and len(shapes) == 8, shapes
    assert short.dynamic == real.dynamic and short.second_shapes == real.second_shapes and short.baked == real.baked


@pytest.mark.parametrize("model,x,reason", [
    (Select(), torch.randn(4, 3), "aten::index"),
    (Nonzero(), torch.randn(4, 3), "aten::nonzero"),
    (Reads(), torch.randn(4, 3), "tensor data"),
], ids=["bool-index", "nonzero", "data-read"])
def test_the_shortcut_is_not_taken_where_values_or_recording_matter(model, x, reason):
    findings: list = []
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, g1 = frontend.trace_module(model.eval(), [x], findings)
    assert reason in (shape_trace.why_not(g1, findings) or "")
    stats: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shape_trace.retrace(model, [resized(x, {0: 32})], g1, findings, lambda g: g, stats=stats)
    assert reason in stats["shortcut"]


def test_a_shortcut_trace_that_disagrees_is_redone_for_real():
    model = Heads().eval()
    findings: list = []
    _, g1 = frontend.trace_module(model, [torch.randn(2, 5, 8)], findings)
    seen = []

    def check(g):
        seen.append(g)
        if len(seen) == 1:
            raise shape_trace.TrtGraphError("disagrees")
        return compare_traces(g1, g)

    stats: dict = {}
    facts = shape_trace.retrace(model, [torch.randn(8, 9, 8)], g1, findings, check, stats=stats)
    assert len(seen) == 2 and stats["shortcut"] == "redone: disagrees"
    assert facts.dynamic


def test_dynamic_conversion_of_a_transformer_takes_the_shortcut_and_matches_eager():
    import trtgraph

    model, (x,) = _tiny("bert")
    conv = trtgraph.convert(model, [x], input_names=["ids"], dynamic_shapes={"ids": {0: (1, 2, 8), 1: (4, 16, 64)}})
    assert conv.graph.second_trace == "taken"
    for shape in ((1, 4), (3, 37), (8, 64)):
        report = conv.verify(resized(x, {0: shape[0], 1: shape[1]}))
        assert report.ok, (shape, report)
