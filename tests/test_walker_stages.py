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
