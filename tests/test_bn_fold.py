"""The batch-norm fold pass alone (trtgraph.walker.bn_fold), on the neutral graph of a trace."""
import pytest
import torch
import torch.nn.functional as F

from trtgraph import frontend
from trtgraph.walker.bn_fold import plan_batch_norm_folds


class ConvBn(torch.nn.Module):
    def __init__(self, reuse=False):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 5, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(5)
        self.reuse = reuse
        with torch.no_grad():
            self.bn.running_mean.uniform_(-1, 1)
            self.bn.running_var.uniform_(0.5, 2)
            self.bn.weight.uniform_(0.5, 1.5)
            self.bn.bias.uniform_(-1, 1)

    def forward(self, x):
        y = self.conv(x)
        z = self.bn(y)
        return z + y if self.reuse else z


def _graph(model):
    traced = torch.jit.trace(model.eval(), (torch.randn(1, 3, 6, 6),))
    return traced, frontend.to_ir(traced.inlined_graph)


def _static_args(module):
    """Arguments by name: constants and parameters as values, network values as None."""
    def value(v):
        producer = v.node()
        kind = producer.kind()
        if kind == "prim::Constant":
            return v.toIValue()
        if kind == "prim::GetAttr":
            owner = value(producer.input())
            return getattr(owner, producer.s("name")) if owner is not None else None
        if kind == "prim::Param":
            return module
        if kind == "prim::ListConstruct":
            return [value(i) for i in producer.inputs()]
        return None

    return lambda node: node.bind([value(v) for v in node.inputs()])


def _converted(node):
    return node.kind().startswith("aten::")


def test_folded_convolution_computes_the_batch_norm():
    model = ConvBn()
    traced, g = _graph(model)
    static = _static_args(traced)
    folds = plan_batch_norm_folds(g.nodes(), _converted, static)
    convs = [n for n in g.nodes() if n.kind() == "aten::_convolution"]
    bns = [n for n in g.nodes() if n.kind() == "aten::batch_norm"]
    assert folds.batch_norm_of(convs[0]) is bns[0] and folds.is_folded(bns[0])
    args = folds.fold_weights(convs[0], static(convs[0]))
    x = torch.randn(2, 3, 6, 6)
    got = F.conv2d(x, args["weight"], args["bias"], padding=1)
    torch.testing.assert_close(got, model(x), rtol=1e-5, atol=1e-5)
    # the model's own weights are untouched
    assert not torch.equal(args["weight"], model.conv.weight)


def test_no_fold_when_the_convolution_output_has_another_reader():
    traced, g = _graph(ConvBn(reuse=True))
    folds = plan_batch_norm_folds(g.nodes(), _converted, _static_args(traced))
    assert not folds.into_conv and not folds.folded


@pytest.mark.parametrize("why", ["training", "precision", "folded in torch"])
def test_no_fold_when_it_would_change_the_result(why):
    model = ConvBn()
    traced, g = _graph(model)
    static = _static_args(traced)
    if why == "training":
        def args(node):
            bound = static(node)
            return {**bound, "training": True} if node.kind() == "aten::batch_norm" else bound
        folds = plan_batch_norm_folds(g.nodes(), _converted, args)
    elif why == "precision":
        folds = plan_batch_norm_folds(g.nodes(), _converted, static, lambda conv, bn: False)
    else:
        folds = plan_batch_norm_folds(g.nodes(), lambda n: n.kind() == "aten::batch_norm", static)
    assert not folds.into_conv and not folds.folded
