"""Every call the seed's README (../shared/seed-api.md) shows, in its shapes.

Only its TensorRT 5 builder calls (``builder.max_workspace_size``, ``build_cuda_engine``) are
replaced by today's (``create_builder_and_network``, ``build_serialized_network``).
"""
import torch
import torchvision
from torch import nn

from trtgraph.backend import create_builder_and_network, trt
from trtgraph.core import current_network, has_trt_tensor, torch2trt, trt_network
from trtgraph.debug import debug_call_graph, torch_network
from trtgraph.reference import evaluate
from trtgraph.registry import register_node_handler, unregister_node_handler


def _inception():
    torch.manual_seed(0)
    return torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False).eval()


def test_seed_readme_trt_mode_with_a_chained_second_model():
    net = _inception()
    other_net = nn.Sequential(nn.Linear(1000, 10), nn.Softmax(-1)).eval()
    inputs = torch.rand(1, 3, 299, 299)
    builder, trt_net = create_builder_and_network()
    with trt_network(trt_net):
        trace, graph_pth = torch2trt(net, inputs, input_names=["image"], verbose=True,
                                     param_exclude=".*AuxLogits.*")
    results = graph_pth.get_resolved_outputs()
    print(results)
    output_tensor = results[0][0]
    output_tensor.name = "output"
    with trt_network(trt_net):
        trace, graph_pth = torch2trt(other_net, output_tensor, input_names=["other_input"], verbose=True,
                                     param_exclude=".*AuxLogits.*")
    results = graph_pth.get_resolved_outputs()
    output_tensor = results[0][0]
    output_tensor.name = "output2"
    trt_net.mark_output(tensor=output_tensor)
    plan = builder.build_serialized_network(trt_net, builder.create_builder_config())
    assert plan is not None and plan.nbytes > 0
    got = evaluate(trt_net, {"image": inputs})["output2"]
    with torch.no_grad():
        want = other_net(net(inputs))
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-6)


def test_seed_readme_debug_mode():
    net = _inception()
    inputs = torch.rand(1, 3, 224, 224)
    with torch_network():
        trace, graph_pth = torch2trt(net, inputs, verbose=True, param_exclude=".*AuxLogits.*")
    results = debug_call_graph(graph_pth, inputs)
    record, outputs = results[-1]
    with torch.no_grad():
        want = net(inputs)
    assert record.kind == "aten::linear"
    assert torch.allclose(outputs[0], want, rtol=1e-4, atol=1e-5)


def _axes_to_trt_axis(axes, rank):
    mask = 0
    for a in axes:
        mask |= 1 << (a % rank)
    return mask


class _Pool(nn.Module):
    def forward(self, x):
        return torch.relu(x).sum((2, 3), keepdim=True) * 2


def test_seed_readme_handler_works_in_both_modes():
    calls = []

    @register_node_handler("aten::sum")
    def aten_sum(inputs, attributes):
        calls.append(len(inputs))
        inp, axes, keepdim = inputs
        net = current_network()
        if net is not None and has_trt_tensor(inputs):
            axis_trt = _axes_to_trt_axis(axes, len(inp.shape))
            layer = net.add_reduce(inp, trt().ReduceOperation.SUM, axis_trt,
                                   bool(keepdim))
            output = layer.get_output(0)
            return [output]
        return [inp.sum(tuple(axes), keepdim=bool(keepdim))]

    try:
        x = torch.randn(2, 3, 4, 5)
        want = _Pool()(x)
        builder, trt_net = create_builder_and_network()
        with trt_network(trt_net):
            _, graph = torch2trt(_Pool(), [x], input_names=["x"])
        out = graph.get_resolved_outputs()[0][0]
        out.name = "y"
        trt_net.mark_output(out)
        assert builder.build_serialized_network(trt_net, builder.create_builder_config()) is not None
        assert torch.allclose(evaluate(trt_net, {"x": x})["y"], want, atol=1e-5)
        with torch_network():
            _, graph = torch2trt(_Pool(), [x])
        record, outputs = debug_call_graph(graph, [x])[-1]
        assert torch.allclose(outputs[0], want, atol=1e-5)
        assert calls == [3, 3]  # the seed's handler ran in both modes (dtype=None left out)
    finally:
        unregister_node_handler("aten::sum")
    from trtgraph.registry import lookup

    assert lookup("aten::sum").fn.__module__.startswith("trtgraph.")  # the built-in handler is back
