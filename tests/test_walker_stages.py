"""The walker's analysis stage alone: no network, only the neutral graph and what it says."""
import pytest
import torch

from trtgraph import frontend
from trtgraph.dynamic import ShapeFacts
from trtgraph.errors import UnsupportedOpsError
from trtgraph.walker.analysis import Analysis


class Net(torch.nn.Module):
    def __init__(self, unknown_op=False):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(3, 3))
        self.unknown_op = unknown_op

    def forward(self, x):
        w2 = self.w * 2  # from a parameter only: folded in torch, no layer
        y = x @ w2
        if self.unknown_op:
            y = y + torch.linalg.det(y[:, :3, :3]).unsqueeze(-1).unsqueeze(-1)
        return torch.relu(y)


def _analysis(model, strict=True):
    traced, g = frontend.trace_module(model.eval(), [torch.randn(2, 3, 3)])
    return Analysis(frontend.to_ir(g), traced, ShapeFacts(), strict=strict)


def test_analysis_tells_folded_nodes_from_converted_ones():
    a = _analysis(Net())
    a.analyse()
    by_kind = {n.kind(): a.needs_handler[n] for n in a.g.nodes() if n.kind().startswith("aten::")}
    assert by_kind == {"aten::mul": False, "aten::matmul": True, "aten::relu": True}
    assert not a.node_problems and not a.relaxed


def test_analysis_reports_every_problem_at_once_or_per_node():
    with pytest.raises(UnsupportedOpsError, match="no handler for aten::linalg_det"):
        _analysis(Net(unknown_op=True)).analyse()
    a = _analysis(Net(unknown_op=True))
    a.analyse(collect=True)  # what the hybrid partitioner uses: no raise, a list per node
    [(node, reasons)] = a.node_problems.items()
    assert node.kind() == "aten::linalg_det" and reasons == ["no handler for aten::linalg_det"]
    assert node.source.endswith("(forward)") and "test_walker_stages.py" in node.source


class Act(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.act = torch.nn.ReLU()

    def forward(self, x):
        return self.act(x)


def test_node_checks_alone_compare_with_the_trace_and_name_layers():
    from trtgraph.backend import create_builder_and_network, trt
    from trtgraph.context import ConversionContext
    from trtgraph.errors import ShapeMismatchError
    from trtgraph.walker.checks import NodeChecks

    traced, g = frontend.trace_module(Act().eval(), [torch.randn(2, 3)])
    relu = [n for n in frontend.to_ir(g).nodes() if n.kind() == "aten::relu"][0]
    _, network = create_builder_and_network()
    names: dict = {}
    checks = NodeChecks(network, names, ConversionContext(network, torch.float32, []), ShapeFacts())
    for shape, ok in (((2, 3), True), ((2, 4), False)):
        x = network.add_input(f"x{shape[1]}", trt().float32, shape)
        before = network.num_layers
        y = network.add_activation(x, trt().ActivationType.RELU).get_output(0)
        if ok:
            assert checks.check(relu, list(relu.outputs()), [y], "relu") == [y]
        else:
            with pytest.raises(ShapeMismatchError, match=r"\(2, 4\).*recorded \(2, 3\)"):
                checks.check(relu, list(relu.outputs()), [y], "relu")
        layer_names = checks.name_new_layers(before, relu)
        assert layer_names == (["act/relu"] if ok else ["act/relu_1"])  # module scope, op, a count
    assert names == {"act/relu": 2}
