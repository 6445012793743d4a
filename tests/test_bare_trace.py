"""frontend.trace_graph: a trace recorded into a bare script module must give the graph that
torch.jit.trace gives (the graph a second trace is compared with), node by node."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torchvision

from trtgraph import frontend
from trtgraph.pytree import FlatModule, flatten_inputs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))


class Shared(torch.nn.Module):
    """A submodule used twice, a buffer, nested containers, sizes read in Python."""

    def __init__(self):
        super().__init__()
        self.block = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 3, padding=1), torch.nn.ReLU())
        self.again = self.block
        self.head = torch.nn.ModuleDict({"fc": torch.nn.Linear(3, 4)})
        self.register_buffer("scale", torch.tensor(2.0))

    def forward(self, x):
        y = self.again(self.block(x)) * self.scale
        return self.head["fc"](y.mean((2, 3))).reshape(x.shape[0], 2, 2)


class WithScripted(torch.nn.Module):
    """A scripted submodule: torch.jit.trace's own module builder is used instead."""

    def __init__(self):
        super().__init__()
        self.inner = torch.jit.script(torch.nn.Linear(4, 4))
        self.outer = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.outer(torch.relu(self.inner(x)))


class WithExport(torch.nn.Module):
    """A method marked @torch.jit.export: torch.jit.trace scripts it, so its builder is used."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 4)

    @torch.jit.export
    def scale(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2

    def forward(self, x):
        return self.fc(x).relu()


def _signature(graph):
    def types(values):
        return [(t.shape, t.dtype) if (t := frontend.traced_type(v)) else None for v in values]

    nodes = []
    for n in graph.nodes():
        value = frontend.constant_value(n) if n.kind() == "prim::Constant" else None
        value = n.s("name") if n.kind() == "prim::GetAttr" else value
        nodes.append((n.kind(), n.scopeName(), repr(value), types(n.outputs()), [v.debugName() for v in n.outputs()]))
    return types(list(graph.inputs())[1:]), nodes


def _tiny_bert():
    import zoo_models

    model, _ = [m for m in zoo_models.transformers_models("tiny") if m.name == "bert"][0].build()
    ids = torch.randint(0, 1000, (2, 16), generator=torch.Generator().manual_seed(0))
    return FlatModule(model, flatten_inputs([ids])[1]), [ids]


@pytest.mark.parametrize("case", ["shared", "resnet18", "bert", "scripted", "exported"])
def test_a_bare_trace_records_what_torch_jit_trace_records(case):
    torch.manual_seed(0)
    if case == "shared":
        model, inputs = Shared().eval(), [torch.randn(2, 3, 8, 8)]
    elif case == "resnet18":
        model, inputs = torchvision.models.resnet18(num_classes=10).eval(), [torch.randn(1, 3, 32, 32)]
    elif case == "bert":
        model, inputs = _tiny_bert()
    elif case == "scripted":
        model, inputs = WithScripted().eval(), [torch.randn(3, 4)]
    else:
        model, inputs = WithExport().eval(), [torch.randn(3, 4)]
    _, full = frontend.trace_module(model, inputs)
    module, none = frontend.trace_module(model, inputs, graph_only=True)
    bare = frontend.inlined_graph(module)
    assert none is None
    assert _signature(bare) == _signature(full)
    self_type = list(bare.inputs())[0].type().qualified_name()
    # the bare module stands in for plain modules; scripted submodules and exported methods need
    # torch.jit.trace's builder
    assert ("trtgraph_trace" in self_type) == (case not in ("scripted", "exported")), self_type


def test_a_bare_trace_leaves_the_model_as_it_was():
    model = Shared().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    graph = frontend.trace_graph(model, [torch.randn(2, 3, 8, 8)])
    assert any(n.kind() == "aten::_convolution" for n in graph.nodes())
    assert model.training and all(m.training for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_a_bare_trace_finds_what_the_first_trace_finds_at_the_same_source():
    """Values torch modules read in Python (here a mask's size checked inside nn.MultiheadAttention,
    with no line of the user's own between) are keyed by source: both traces must give the same one,
    or a size read of static sizes would look like a check of a dynamic size (trace_checks)."""
    model = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 1,
                                        enable_nested_tensor=False).eval()
    inputs = [torch.randn(2, 5, 8), torch.nn.Transformer.generate_square_subsequent_mask(5)]
    first, bare = [], []
    frontend.trace_module(model, inputs, first)
    frontend.trace_graph(model, inputs, bare)

    def keys(findings):
        return [(f.source, f.message, f.origin, f.size_reads) for f in findings]

    assert any(f.origin == "size" for f in first)
    assert keys(bare) == keys(first)
    assert not any("trtgraph" in f.source for f in first)


class InheritsExport(WithExport):
    """The exported method comes from a base class."""


def test_the_exports_check_agrees_with_torch():
    """``frontend._has_exports`` (looked up per class) answers as torch's ``module_has_exports``: for
    every module of two models, a class with an exported method, a subclass of it, and a function
    marked for export stored on an instance."""
    stored = torch.nn.Linear(2, 2)
    stored.extra = torch.jit.export(lambda x: x)
    plain = torch.nn.Linear(2, 2)
    plain.helper = lambda x: x
    modules = [*torchvision.models.resnet18().modules(), *_tiny_bert()[0].modules(), WithExport(), InheritsExport(),
               stored, plain, WithScripted().outer]
    answers = [(type(m).__name__, frontend._has_exports(m), torch._jit_internal.module_has_exports(m)) for m in modules]
    assert all(ours == theirs for _, ours, theirs in answers), [a for a in answers if a[1] != a[2]]
    assert [ours for _, ours, _ in answers[-5:]] == [True, True, True, False, False]
