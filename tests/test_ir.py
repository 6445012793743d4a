"""The frontend-neutral graph (trtgraph.ir): both frontends produce it and the walker reads it."""
import inspect

import pytest
import torch


from trtgraph import frontend, ir
from trtgraph.core import torch2trt, trt_network
from trtgraph.backend import create_builder_and_network  # the real TensorRT-RTX: real networks
from trtgraph.export_frontend import torch2trt_export


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x)


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()

    def forward(self, x):
        y = self.block(x)
        return torch.relu(y) + 1.0


CONV_LINE = inspect.getsourcelines(Block.forward)[1] + 1  # `return self.conv(x)`
X = torch.randn(2, 3, 8, 8)


def _convert(frontend_name):
    _, network = create_builder_and_network()
    with trt_network(network):
        if frontend_name == "torchscript":
            _, graph = torch2trt(Net().eval(), [X])
        else:
            _, graph = torch2trt_export(Net().eval(), [X])
    return graph


@pytest.mark.parametrize("frontend_name", ["torchscript", "export"])
def test_walker_reads_the_neutral_graph_from_both_frontends(frontend_name):
    graph = _convert(frontend_name)
    assert isinstance(graph.ir, ir.Graph)
    assert graph.ir.frontend == frontend_name
    convs = [n for n in graph.ir.nodes() if n.kind() == "aten::_convolution"]
    assert len(convs) == 1
    conv = convs[0]
    assert isinstance(conv, ir.Node)
    assert conv.op_key == "aten::_convolution"
    assert conv.scope == "block.conv"
    assert conv.source.startswith(__file__) or conv.source.startswith(__file__.rstrip("c"))
    # the innermost frame in user code is torch.nn.Conv2d's caller in Block.forward, or the conv itself
    assert f":{CONV_LINE} " in conv.source, conv.source
    args = conv.bind(list(conv.inputs()))
    assert list(args)[:3] == ["input", "weight", "bias"]
    assert set(args) >= {"stride", "padding", "dilation", "transposed", "groups"}
    out = conv.output()
    assert out.shape == (2, 4, 4, 4) and out.dtype == torch.float32
    # the records name the same module and line
    rec = [r for r in graph.nodes if r.kind == "aten::_convolution"][0]
    assert rec.scope == "block.conv" and rec.source == conv.source


def test_op_key_names_the_overload():
    graph = _convert("torchscript")
    adds = [n for n in graph.ir.nodes() if n.kind() == "aten::add"]
    assert [n.op_key for n in adds] == ["aten::add.Scalar"] or [n.op_key for n in adds] == ["aten::add.Tensor"]
    # what the schema says, not a guess: the overload name comes from the parsed schema
    assert adds[0].op_key == f"aten::add.{adds[0].schema_obj.overload_name}"


def test_to_ir_keeps_nodes_values_and_uses():
    traced = torch.jit.trace(Net().eval(), (X,))
    ts = traced.inlined_graph
    g = frontend.to_ir(ts)
    ts_nodes = list(ts.nodes())
    nodes = list(g.nodes())
    assert [n.kind() for n in nodes] == [n.kind() for n in ts_nodes]
    assert [n.origin for n in nodes] == ts_nodes
    for n, t in zip(nodes, ts_nodes):
        assert [v.debugName() for v in n.outputs()] == [v.debugName() for v in t.outputs()]
        assert [v.debugName() for v in n.inputs()] == [v.debugName() for v in t.inputs()]
        for v, tv in zip(n.outputs(), t.outputs()):
            assert g.value_of[tv] is v
            assert len(v.uses()) == len(tv.uses())
            for use in v.uses():
                assert use.user is None or use.user.inputsAt(use.offset) is v
            tt = frontend.traced_type(tv)
            assert (v.shape, v.dtype) == ((tt.shape, tt.dtype) if tt else (None, None))
    assert [v.debugName() for v in g.outputs()] == [v.debugName() for v in ts.outputs()]
    consts = [n for n in nodes if n.kind() == "prim::Constant"]
    for n in consts:
        got, want = n.output().toIValue(), frontend.constant_value(n.origin)
        assert type(got) is type(want)
        assert torch.equal(got, want) if isinstance(got, torch.Tensor) else got == want


def test_to_ir_keeps_control_flow_blocks():
    @torch.jit.script
    def pick(x: torch.Tensor, k: int) -> torch.Tensor:
        if k > 0:
            return x + 1
        return x - 1

    g = frontend.to_ir(pick.graph)
    ifs = [n for n in g.nodes() if n.kind() == "prim::If"]
    assert len(ifs) == 1
    blocks = list(ifs[0].blocks())
    assert len(blocks) == 2
    kinds = [[n.kind() for n in b.nodes()] for b in blocks]
    assert "aten::add" in kinds[0] and "aten::sub" in kinds[1]
    # a value read inside a block counts that use
    x = list(g.inputs())[0]
    assert any(u.user is not None and u.user.kind() in ("aten::add", "aten::sub") for u in x.uses())
