"""The seed's API, the walker's contracts and the named errors."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn

import trtgraph
from trtgraph import errors as E
from trtgraph.backend import create_builder_and_network, trt
from trtgraph.registry import register_node_handler, unregister_node_handler
from conftest import check_module


def r(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 2)
        self.unused = nn.Linear(100, 100)

    def forward(self, x):
        y = torch.relu(self.bn(self.conv(x)))
        return self.fc(y.mean((2, 3)))


def test_seed_api_trt_network_and_resolved_outputs():
    model = Small().eval()
    x = r(1, 3, 8, 8)
    builder, net = create_builder_and_network()
    with trtgraph.trt_network(net):
        assert trtgraph.current_network() is net
        trace, graph = trtgraph.torch2trt(model, [x], input_names=["image"], param_exclude=r"unused\..*")
        results = graph.get_resolved_outputs()
        assert len(results) == 1 and len(results[0]) == 1  # one list per output node
        assert trtgraph.has_trt_tensor(results) and not trtgraph.has_trt_tensor([x, 1])
        output_tensor = results[0][0]
        output_tensor.name = "logits"
        net.mark_output(tensor=output_tensor)
    assert trtgraph.current_network() is None
    assert isinstance(trace, torch.jit.ScriptModule)
    assert net.get_input(0).name == "image" and tuple(net.get_input(0).shape) == (1, 3, 8, 8)
    plan = builder.build_serialized_network(net, builder.create_builder_config())
    assert plan is not None and plan.nbytes > 0
    from trtgraph.reference import evaluate

    got = evaluate(net, {"image": x})["logits"]
    with torch.no_grad():
        assert torch.allclose(got, model(x), rtol=1e-4, atol=1e-5)


def test_layers_are_named_after_module_scope():
    conv = trtgraph.convert(Small().eval(), r(1, 3, 8, 8), fold_batch_norm=False)
    names = [conv.network.get_layer(i).name for i in range(conv.network.num_layers)]
    assert "conv/convolution" in names
    assert any(n.startswith("bn/batch_norm") for n in names)
    assert any(n.startswith("fc/linear") for n in names)
    assert len(set(names)) == len(names)


def test_chaining_a_second_model_on_a_network_tensor():
    a, b = nn.Sequential(nn.Linear(4, 6), nn.ReLU()).eval(), nn.Sequential(nn.Linear(6, 3), nn.Tanh()).eval()
    x = r(2, 4)
    builder, net = create_builder_and_network()
    with trtgraph.trt_network(net):
        _, g1 = trtgraph.torch2trt(a, [x], input_names=["x"])
        _, g2 = trtgraph.torch2trt(b, g1.get_resolved_outputs()[0][0])
        g2.mark_outputs(["y"])
    assert net.num_inputs == 1
    assert builder.build_serialized_network(net, builder.create_builder_config()) is not None
    from trtgraph.reference import evaluate

    with torch.no_grad():
        assert torch.allclose(evaluate(net, {"x": x})["y"], b(a(x)), atol=1e-6)


def test_user_model_is_left_unchanged():
    model = Small()
    model.train()
    model.bn.eval()  # a mixed state must survive too
    calls = []
    model.conv.register_forward_hook(lambda *a: calls.append(1))
    before = copy.deepcopy(model.state_dict())
    flags = {n: m.training for n, m in model.named_modules()}
    trtgraph.convert(model, r(2, 3, 8, 8))
    assert {n: m.training for n, m in model.named_modules()} == flags
    after = model.state_dict()
    assert before.keys() == after.keys()
    for k in before:
        assert torch.equal(before[k], after[k]), k
    assert len(model.conv._forward_hooks) == 1
    assert all(p.requires_grad for p in model.parameters())


def test_parameters_are_not_copied():
    model = nn.Linear(256, 256).eval()
    conv = trtgraph.convert(model, r(1, 256))
    ptr = model.weight.data_ptr()
    assert any(getattr(a, "ctypes", None) is not None and a.ctypes.data == ptr for a in conv.graph.keep), \
        "the linear weight should be handed to TensorRT without a copy"


def test_constant_folding_of_input_independent_nodes():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(r(4, 4))

        def forward(self, x):
            w = (self.w * 2).t().softmax(-1)  # depends only on parameters: folded in torch
            return x @ w

    conv = trtgraph.convert(M().eval(), r(2, 4))
    folded = [rec.kind for rec in conv.graph.nodes if rec.folded]
    assert "aten::softmax" in folded and "aten::mul" in folded
    assert conv.verify(r(2, 4)).ok


def test_torch_debug_mode_and_node_by_node_compare():
    model = Small().eval()
    x = r(1, 3, 8, 8)
    with trtgraph.torch_network() as net:
        _, graph = trtgraph.torch2trt(model, [x])
    assert net.num_layers > 0
    results = trtgraph.debug_call_graph(graph, [x])
    kinds = [rec.kind for rec, _ in results]
    assert "aten::_convolution" in kinds and "aten::linear" in kinds
    with torch.no_grad():
        want = model(x)
    final = [outs for rec, outs in results if rec.kind == "aten::linear"][-1][0]
    assert torch.allclose(final, want, atol=1e-6)
    diffs, first = trtgraph.compare_with_eager(graph, [x])
    assert first is None and len(diffs) >= 4


def test_node_by_node_names_the_first_divergent_node():
    @register_node_handler("aten::hardshrink")
    def wrong_hardshrink(ctx, self, lambd):
        return ctx.activation(self, "RELU")  # deliberately wrong math

    try:
        model = nn.Sequential(nn.Linear(3, 3), nn.Hardshrink(0.5), nn.ReLU()).eval()
        conv = trtgraph.convert(model, r(4, 3))
        report = conv.verify(r(4, 3), node_by_node=True)
        assert not report.ok
        assert report.first_divergent is not None and report.first_divergent.record.kind == "aten::hardshrink"
        assert "test_core.py" in str(report) or "activation.py" in str(report)
    finally:
        unregister_node_handler("aten::hardshrink")


def test_handler_registration_rules():
    from trtgraph.registry import lookup, unregister_node_handler

    builtin = lookup("aten::relu").fn
    with pytest.warns(UserWarning, match="replaces trtgraph's handler"):
        register_node_handler("aten::relu")(lambda ctx, self: self)  # a user's handler replaces the built-in
    try:
        assert lookup("aten::relu").fn is not builtin
        with pytest.raises(E.RegistrationError):
            register_node_handler("aten::relu_")(lambda ctx, self: self)  # maps to aten::relu: a duplicate
    finally:
        unregister_node_handler("aten::relu")
    assert lookup("aten::relu").fn is builtin  # restored
    with pytest.raises(E.RegistrationError):
        register_node_handler("prim::Constant")(lambda ctx: None)
    with pytest.raises(E.RegistrationError):
        register_node_handler("relu")(lambda ctx: None)


def test_custom_handler_with_schema_bound_arguments():
    seen = {}

    @register_node_handler("aten::softshrink(Tensor self, Scalar lambd=0.5) -> Tensor")
    def softshrink(ctx, self, lambd):
        seen["lambd"] = lambd
        # x - clamp(x, -l, l)
        return ctx.elementwise(self, ctx.activation(self, "CLIP", alpha=-lambd, beta=lambd), "SUB")

    try:
        model = nn.Softshrink(0.3).eval()
        conv = trtgraph.convert(model, r(3, 5))
        assert seen["lambd"] == pytest.approx(0.3)
        assert conv.verify(r(3, 5, seed=2)).ok
    finally:
        unregister_node_handler("aten::softshrink")


def test_unsupported_ops_are_all_listed_up_front():
    class M(nn.Module):
        def forward(self, x):
            y = torch.special.i0(x)
            z = torch.lgamma(x)
            return torch.special.i0(y) + z + torch.digamma(x)

    builder, net = create_builder_and_network()
    with pytest.raises(E.UnsupportedOpsError) as info, trtgraph.trt_network(net):
        trtgraph.torch2trt(M(), [r(2, 3)])
    msg = str(info.value)
    for op in ("aten::i0", "aten::lgamma", "aten::digamma"):
        assert op in msg
    assert "test_core.py" in msg  # the Python source line
    assert net.num_layers == 0, "nothing may be built before the check"


def test_unsupported_argument_combination_is_listed():
    model = nn.Sequential(nn.MaxPool2d(2, dilation=2), nn.AvgPool2d(3, 1, padding=1, ceil_mode=True, divisor_override=2))
    with pytest.raises(E.UnsupportedOpsError) as info:
        trtgraph.convert(model, r(1, 2, 9, 9))
    msg = str(info.value)
    assert "dilation" in msg and "divisor_override" in msg and len(info.value.problems) == 2


def test_bad_inputs_give_named_errors():
    model = Small().eval()
    with pytest.raises(E.InputError):
        trtgraph.convert(model, "not a tensor")
    with pytest.raises(E.InputError):
        trtgraph.convert(model, [r(1, 3, 8, 8).double()])
    with pytest.raises(E.InputError):
        trtgraph.convert(model, [r(1, 3, 8, 8)], precision="int4")
    with pytest.raises(E.InputError):
        trtgraph.convert(model, [r(1, 3, 8, 8)], input_names=["a", "b"])
    with pytest.raises(E.InputError):
        trtgraph.convert(lambda x: x, [r(1)])
    with pytest.raises(E.TraceError):
        trtgraph.convert(model, [r(1, 5, 8, 8)])  # wrong channel count: the trace itself fails
    with pytest.raises(E.TrtGraphError):
        trtgraph.torch2trt(model, [r(1, 3, 8, 8)])  # outside trt_network


def test_non_tensor_outputs_are_refused():
    class M(nn.Module):
        def forward(self, x):
            return x * 2, None

    with pytest.raises(E.TraceError, match="Only tensors"):
        trtgraph.convert(M(), [r(2, 3)])  # torch.jit.trace refuses it, named

    class S(nn.Module):
        def forward(self, x):
            return x * 2, x.size(0)

    with pytest.raises(E.TraceError, match="output 1 is a int"):
        trtgraph.convert(torch.jit.script(S()), [r(2, 3)])  # a TorchScript model returning an int


def test_param_exclude_of_a_used_parameter_is_an_error():
    with pytest.raises(E.ParameterError, match="conv.weight"):
        trtgraph.convert(Small().eval(), r(1, 3, 8, 8), param_exclude=r"conv\..*")


def test_traced_shape_mismatch_names_the_node():
    @register_node_handler("aten::hardshrink")
    def bad(ctx, self, lambd):
        return ctx.reshape(self, (-1,))  # wrong shape on purpose

    try:
        with pytest.raises(E.ShapeMismatchError, match="aten::hardshrink"):
            trtgraph.convert(nn.Hardshrink().eval(), r(2, 3))
    finally:
        unregister_node_handler("aten::hardshrink")


def test_handler_exception_names_node_and_source():
    @register_node_handler("aten::hardshrink")
    def broken(ctx, self, lambd):
        raise ValueError("boom")

    try:
        with pytest.raises(E.HandlerError, match=r"aten::hardshrink.*test_core.py.*boom|boom"):
            trtgraph.convert(nn.Sequential(nn.Hardshrink()).eval(), r(2, 3))
    finally:
        unregister_node_handler("aten::hardshrink")


def test_dict_and_tuple_outputs_are_flattened():
    class M(nn.Module):
        def forward(self, x):
            return x + 1, {"b": x * 2, "c": x.relu()}

    conv = trtgraph.convert(M(), r(2, 3), output_names=["a", "b0", "b1"])
    assert conv.output_names == ["a", "b0", "b1"]
    got = conv.evaluate(r(2, 3))
    x = r(2, 3)
    assert torch.allclose(got[0], x + 1) and torch.allclose(got[1], x * 2) and torch.allclose(got[2], x.relu())


def test_save_writes_the_engine(tmp_path):
    conv = trtgraph.convert(Small().eval(), r(1, 3, 8, 8))
    path = conv.save(tmp_path / "small.engine")
    assert path.stat().st_size > 1000


def test_backend_is_rtx_or_standard():
    t = trt()
    assert hasattr(t, "Builder")
    flag = t.NetworkDefinitionCreationFlag.STRONGLY_TYPED
    _, net = create_builder_and_network()
    assert net.get_flag(flag)


# --------------------------------------------------------------------------- batch norm folding

class _ConvBN(nn.Module):
    def __init__(self, reuse=False, transposed=False):
        super().__init__()
        torch.manual_seed(0)
        conv = nn.ConvTranspose2d if transposed else nn.Conv2d
        self.conv1, self.bn1 = conv(3, 8, 3), nn.BatchNorm2d(8)
        self.conv2, self.bn2 = nn.Conv2d(8, 4, 1, bias=False), nn.BatchNorm2d(4, affine=False)
        self.reuse = reuse

    def forward(self, x):
        y = self.conv1(x)
        z = self.bn1(y).relu()
        z = self.bn2(self.conv2(z))
        return z + y.mean() if self.reuse else z


def _layer_types(conv):
    return [str(conv.network.get_layer(i).type).split(".")[-1] for i in range(conv.network.num_layers)]


def _bn_model(**kw):
    from conftest import randomize

    return randomize(_ConvBN(**kw)).eval()


def test_batch_norm_folds_into_convolution():
    model, x = _bn_model(), torch.randn(2, 3, 10, 10)
    folded = check_module(model, [x])
    plain = trtgraph.convert(model, [x], fold_batch_norm=False)
    assert _layer_types(folded) == ["CONVOLUTION", "ACTIVATION", "CONVOLUTION"]
    assert _layer_types(plain).count("ELEMENTWISE") == 4        # x * scale + shift, twice
    assert [r.fused for r in folded.graph.nodes if r.kind == "aten::_convolution"][0].startswith("with aten::batch_norm")
    report = folded.verify(x, node_by_node=True)
    assert report.ok and report.first_divergent is None, str(report)
    assert report.nodes_compared > 0


def test_batch_norm_not_folded_when_the_convolution_output_is_read_elsewhere():
    model, x = _bn_model(reuse=True), torch.randn(2, 3, 10, 10)
    conv = check_module(model, [x])
    assert _layer_types(conv).count("ELEMENTWISE") >= 2          # bn1 stays (conv1's output is reused)
    assert sum(1 for r in conv.graph.nodes if r.fused) == 1      # bn2 still folds


def test_batch_norm_after_transposed_convolution_is_not_folded():
    model, x = _bn_model(transposed=True), torch.randn(2, 3, 6, 6)
    conv = check_module(model, [x])
    assert sum(1 for r in conv.graph.nodes if r.fused) == 1      # only conv2 (a plain convolution)


def test_batch_norm_fold_respects_fp32_islands():
    model, x = _bn_model(), torch.randn(2, 3, 10, 10)
    policy = trtgraph.PrecisionPolicy(fp32_modules=["bn1"])
    conv = trtgraph.convert(model, [x], precision="fp16", precision_policy=policy)
    assert sum(1 for r in conv.graph.nodes if r.fused) == 1      # conv1 fp16, bn1 fp32: kept apart
    assert conv.verify(x, rtol=1e-2).ok


def test_batch_norm_fold_inside_an_fp32_island():
    """conv1 and bn1 both kept in float32 by the policy: they fold, and the island computes the
    folded convolution (not the bare one)."""
    model, x = _bn_model(), torch.randn(2, 3, 10, 10)
    policy = trtgraph.PrecisionPolicy(fp32_modules=["conv1", "bn1"])
    conv = trtgraph.convert(model, [x], precision="fp16", precision_policy=policy)
    assert sum(1 for r in conv.graph.nodes if r.fused) == 2
    assert any("conv1" in n for n in conv.fp32_nodes)
    report = conv.verify(x, rtol=1e-2)
    assert report.ok, str(report)


class _ConstantWrittenAfterUse(nn.Module):
    def forward(self, x):
        off = torch.arange(3, dtype=torch.float32)  # folded in torch
        y = x + off  # a constant layer reads off's memory
        off += 10  # folded in place afterwards
        off[0] = -1.0
        return y, x * off


def test_an_in_place_write_folded_after_a_constant_leaves_that_constant_alone():
    # the constant layer of `x + off` used to point at off's memory, so the later in-place
    # write changed it silently (max abs error 10)
    x = torch.rand(2, 3)
    conv = trtgraph.convert(_ConstantWrittenAfterUse().eval(), [x])
    report = conv.verify(x)
    assert report.ok, str(report)
    y, z = conv.evaluate(x)
    assert torch.equal(y, x + torch.arange(3.0)) and torch.equal(z, x * torch.tensor([-1.0, 11.0, 12.0]))
