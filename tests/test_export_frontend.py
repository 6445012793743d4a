"""The torch.export frontend: the walker and handlers on an exported program.

Every conversion builds a serialized engine and checks the reference evaluation against eager torch.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import randomize

import trtgraph
from trtgraph.errors import (
    DynamicShapeError,
    InputError,
    ParameterError,
    UnsupportedOpsError,
)
from trtgraph.export.program import missing_ops
from trtgraph.api import convert_export  # noqa: E402
from trtgraph.export_frontend import (
    KEPT_OPS,
    export_graph,
    load_program,
    torch2trt_export,
)
from trtgraph.precision import PrecisionPolicy


def _check(conv, *inputs, rtol=1e-4):
    engine = conv.build()
    assert isinstance(engine, bytes) and len(engine) > 0
    report = conv.verify(*inputs, rtol=rtol)
    assert report.max_rel < rtol, str(report)
    return report


def _layer_names(conv):
    return [conv.network.get_layer(i).name for i in range(conv.network.num_layers)]


@pytest.fixture(scope="module")
def resnet18():
    import torchvision

    torch.manual_seed(0)
    return randomize(torchvision.models.resnet18(weights=None)).eval()


def test_resnet18_static_matches_eager_with_torchscript_layer_names(resnet18):
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    conv = convert_export(resnet18, [x], input_names=["image"])
    _check(conv, x)
    ts = trtgraph.convert(resnet18, [x], input_names=["image"])
    # batch norms folded into the convolutions, one layer per op as with TorchScript, same names
    assert _layer_names(conv) == _layer_names(ts)
    assert "layer1.0.conv1/convolution" in _layer_names(conv)
    assert any(r.fused for r in conv.graph.nodes), "batch norm folding did not happen"


@pytest.mark.slow
def test_resnet18_dynamic_batch_at_min_opt_max(resnet18):
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    conv = convert_export(resnet18, [x], dynamic_shapes={"input_0": {0: (1, 2, 4)}})
    assert conv.profiles == {"input_0": ((1, 3, 64, 64), (2, 3, 64, 64), (4, 3, 64, 64))}
    assert tuple(conv.network.get_input(0).shape) == (-1, 3, 64, 64)
    conv.build()
    for b in (1, 2, 4):
        report = conv.verify(torch.randn(b, 3, 64, 64, generator=torch.Generator().manual_seed(b)))
        assert report.max_rel < 1e-4, f"batch {b}: {report}"


@pytest.mark.slow
def test_tiny_bert_matches_eager_and_keeps_attention_whole():
    import transformers  # in the test extra: a missing install fails, not skips
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=64, max_position_embeddings=64)
    model = transformers.BertModel(cfg).eval()
    ids = torch.randint(0, 100, (2, 16), generator=torch.Generator().manual_seed(3))
    conv = convert_export(model, [ids])
    assert conv.output_names == ["last_hidden_state", "pooler_output"]
    kinds = {r.kind for r in conv.graph.nodes}
    assert {"aten::scaled_dot_product_attention", "aten::layer_norm", "aten::linear"} <= kinds
    _check(conv, ids)
    # dynamic batch and sequence length: SymInt arithmetic on both sizes runs in the network
    dyn = convert_export(model, [ids], dynamic_shapes={"input_0": {0: (1, 2, 4), 1: (4, 16, 32)}})
    assert dyn.profiles == {"input_0": ((1, 4), (2, 16), (4, 32))}
    dyn.build()
    for b, s in ((1, 4), (4, 32), (3, 7)):
        report = dyn.verify(torch.randint(0, 100, (b, s), generator=torch.Generator().manual_seed(b)))
        assert report.max_rel < 1e-4, f"({b}, {s}): {report}"


class _ConvBn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)

    def forward(self, x):
        return self.bn(self.conv(x))


class _MaxDim(torch.nn.Module):
    def forward(self, x):
        values, indices = x.max(dim=1)  # two results: getitem on the node's outputs
        return values * 2, indices


class _Chunks(torch.nn.Module):
    def forward(self, x):
        a, b, c = x.chunk(3, dim=-1)  # a list result: ListUnpack
        return a * b + c


class _Upsample(torch.nn.Module):
    def forward(self, x):
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class _Dict(torch.nn.Module):
    def forward(self, x):
        return {"double": x * 2, "sum": x.sum(dim=0)}


class _Attention(torch.nn.Module):
    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v)


class _Deconv(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.up = torch.nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1)

    def forward(self, x):
        return self.up(x)


SINGLE_OPS = {
    "conv_transpose": (_Deconv, [(1, 4, 5, 5)]),
    "conv_bn": (_ConvBn, [(1, 3, 8, 8)]),
    "max_dim": (_MaxDim, [(2, 5, 3)]),
    "chunk": (_Chunks, [(2, 9)]),
    "upsample": (_Upsample, [(1, 2, 4, 4)]),
    "dict_output": (_Dict, [(3, 4)]),
    "sdpa": (_Attention, [(1, 2, 4, 8)] * 3),
}


@pytest.mark.parametrize("name", sorted(SINGLE_OPS))
def test_single_op_modules_match_eager(name):
    cls, shapes = SINGLE_OPS[name]
    torch.manual_seed(0)
    model = randomize(cls()).eval()
    g = torch.Generator().manual_seed(4)
    inputs = [torch.randn(s, generator=g) for s in shapes]
    conv = convert_export(model, inputs)
    got = conv.evaluate(*inputs)
    with torch.no_grad():
        want = model(*inputs)
    want = list(want.values()) if isinstance(want, dict) else list(want) if isinstance(want, tuple) else [want]
    assert len(got) == len(want)
    for k, (a, b) in enumerate(zip(got, want)):
        assert a.shape == b.shape, f"output {k}"
        if b.dtype.is_floating_point:
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-5), f"output {k}: max diff {(a - b).abs().max()}"
        else:
            assert torch.equal(a.to(b.dtype), b), f"output {k}"
    assert len(conv.build()) > 0
    if name == "dict_output":
        assert conv.output_names == ["double", "sum"]
    if name == "conv_bn":
        assert conv.num_layers == 1, _layer_names(conv)  # batch norm folded into the convolution


class _Shrink(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(6, 6)

    def forward(self, x):
        return F.hardshrink(self.fc(x), 0.3)


def test_ops_without_handler_are_decomposed_and_kept_ops_stay_whole():
    torch.manual_seed(0)
    model = _Shrink().eval()
    x = torch.randn(3, 6, generator=torch.Generator().manual_seed(5))
    with pytest.raises(UnsupportedOpsError, match="hardshrink"):
        trtgraph.convert(model, [x])  # TorchScript records hardshrink whole: no handler
    raw = torch.export.export(model, (x,))
    assert [str(op) for op in missing_ops(raw)] == ["aten.hardshrink.default"]
    ex = export_graph(model, [x])
    kinds = [n.kind() for n in ex.graph.nodes()]
    assert "aten::linear" in kinds and "aten::hardshrink" not in kinds
    assert "linear" in KEPT_OPS
    conv = convert_export(model, [x])
    _check(conv, x)


class _Branch(torch.nn.Module):
    def forward(self, x):
        y = x.relu()
        if x.shape[0] > 3:  # a shape check over the dynamic dim
            return y * 2
        return y + 1


def test_shape_branch_over_dynamic_dim_is_named_error_with_source_line():
    x = torch.randn(4, 3)
    with pytest.raises(DynamicShapeError) as info:
        convert_export(_Branch().eval(), [x], dynamic_shapes={"input_0": {0: (1, 4, 8)}})
    assert "test_export_frontend.py" in str(info.value)
    line = _Branch.forward.__code__.co_firstlineno + 2
    assert f"test_export_frontend.py:{line}" in str(info.value)
    # a range on one side of the check converts (and is right at both ends)
    conv = convert_export(_Branch().eval(), [x], dynamic_shapes={"input_0": {0: (4, 4, 8)}})
    for b in (4, 8):
        assert conv.verify(torch.randn(b, 3)).max_rel < 1e-6


class _Flat(torch.nn.Module):
    def forward(self, x):
        n = x.shape[0]
        return x.reshape(n * 2, -1) + 1  # SymInt arithmetic on the dynamic size


class _Half(torch.nn.Module):
    def forward(self, x):
        n = x.shape[0] // 2 + 2  # floor division and addition on the dynamic size
        return x.sum(dim=0, keepdim=True).expand(n, -1) - 1


def test_symint_floor_division_runs_in_the_network():
    conv = convert_export(_Half().eval(), [torch.randn(6, 3)], dynamic_shapes={"input_0": {0: (2, 6, 11)}})
    computed = {r.kind for r in conv.graph.nodes if not r.folded}
    assert {"aten::size", "aten::floor_divide", "aten::add"} <= computed, computed
    conv.build()
    for b in (2, 7, 11):
        y = torch.randn(b, 3)
        got = conv.evaluate(y)[0]
        assert got.shape == (b // 2 + 2, 3) and torch.allclose(got, _Half()(y))


def test_torch_export_dims_give_the_profile_and_symint_arithmetic_converts():
    x = torch.randn(3, 4, 6)
    batch = torch.export.Dim("batch", min=2, max=9)
    conv = convert_export(_Flat().eval(), [x], dynamic_shapes=({0: batch},))
    assert conv.profiles == {"input_0": ((2, 4, 6), (3, 4, 6), (9, 4, 6))}
    conv.build()
    for b in (2, 3, 9):
        y = torch.randn(b, 4, 6)
        assert torch.allclose(conv.evaluate(y)[0], _Flat()(y))


def test_exported_program_converts_alone_and_refuses_new_dynamic_shapes():
    torch.manual_seed(0)
    model = _ConvBn().eval()
    x = torch.randn(1, 3, 8, 8)
    ep = torch.export.export(model, (x,))
    conv = convert_export(ep)
    assert conv.input_names == ["input_0"]
    _check(conv, x)
    with pytest.raises(InputError, match="ExportedProgram"):
        export_graph(ep, [x], dynamic_shapes={"input_0": {0: (1, 1, 2)}})
    with pytest.raises(InputError, match=r"takes torch.float32 \(1, 3, 8, 8\)"):
        export_graph(ep, [torch.randn(2, 3, 8, 8)])


def test_saved_program_loads_and_converts(tmp_path):
    torch.manual_seed(0)
    model = _Flat().eval()
    x = torch.randn(3, 4, 6)
    path = tmp_path / "flat.pt2"
    torch.export.save(torch.export.export(model, (x,), dynamic_shapes=({0: torch.export.Dim("b", max=6)},)), path)
    conv = convert_export(load_program(str(path)), [torch.randn(5, 4, 6)])
    assert conv.profiles["input_0"][2] == (6, 4, 6)
    y = torch.randn(4, 4, 6)
    assert torch.allclose(conv.evaluate(y)[0], model(y))
    bad = tmp_path / "bad.pt2"
    bad.write_bytes(b"not a program")
    with pytest.raises(InputError, match="not a loadable"):
        load_program(str(bad))


def test_param_exclude_and_fp32_modules_follow_module_paths():
    torch.manual_seed(0)
    model = _Shrink().eval()
    x = torch.randn(3, 6)
    with pytest.raises(ParameterError, match="fc.weight"):
        convert_export(model, [x], param_exclude=r"fc\..*")
    policy = PrecisionPolicy(fp32_modules=["fc"])
    conv = convert_export(model, [x], precision="fp16", precision_policy=policy)
    assert any("aten::linear in module 'fc'" in n for n in conv.fp32_nodes), conv.fp32_nodes
    assert conv.verify(x, rtol=1e-2).ok


def test_debug_network_and_node_by_node_comparison_work_on_exported_graphs():
    torch.manual_seed(0)
    model = randomize(_ConvBn()).eval()
    x = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(6))
    with trtgraph.torch_network():
        _, graph = torch2trt_export(model, [x])
    values = trtgraph.debug.network_values(graph, [x])
    with torch.no_grad():
        want = model(x)
    assert torch.allclose(values[graph.outputs[0].name], want, rtol=1e-4, atol=1e-5)
    report = convert_export(model, [x]).verify(x, node_by_node=True)
    assert report.ok and report.nodes_compared >= 1 and report.first_divergent is None, str(report)


class _FixedView(torch.nn.Module):
    def forward(self, x):
        return x.view(4, -1) * 2  # bakes batch 4 in: a guard over the dynamic batch


def test_guard_that_specializes_a_dynamic_dim_is_a_named_error():
    with pytest.raises(DynamicShapeError, match="dynamic size at .*test_export_frontend.py"):
        convert_export(_FixedView().eval(), [torch.randn(4, 3)], dynamic_shapes={"input_0": {0: (2, 4, 8)}})


def test_example_of_size_one_in_a_dynamic_dim_converts():
    # torch.export alone would specialize the batch to 1; trtgraph's ranges export at size 2 instead
    x = torch.randn(1, 4, 6)
    conv = convert_export(_Flat().eval(), [x], dynamic_shapes={"input_0": {0: (1, 1, 5)}})
    assert conv.profiles == {"input_0": ((1, 4, 6), (1, 4, 6), (5, 4, 6))}
    for b in (1, 5):
        y = torch.randn(b, 4, 6)
        assert torch.allclose(conv.evaluate(y)[0], _Flat()(y))


def test_unbounded_torch_dim_is_refused_by_name():
    with pytest.raises(InputError, match="max"):
        convert_export(_Flat().eval(), [torch.randn(3, 4, 6)],
                       dynamic_shapes=({0: torch.export.Dim("b", min=2)},))


def test_every_kept_op_has_a_handler():
    from trtgraph.export.program import _handled

    missing = []
    for name in sorted(KEPT_OPS):
        packet = getattr(torch.ops.aten, name)
        ops = [getattr(packet, o) for o in packet.overloads()]
        if not any(_handled(op) for op in ops):
            missing.append(name)
    assert not missing, f"kept whole but no handler: {missing}"


class _Scale(torch.nn.Module):
    def __init__(self, k):
        super().__init__()
        self.k = k

    def forward(self, x):
        return x * self.k


def test_saved_engine_and_model_hash_see_the_exported_graph(tmp_path):
    from trtgraph.serialization import model_hash

    x = torch.randn(2, 3)
    a, b = export_graph(_Scale(2.0).eval(), [x]), export_graph(_Scale(3.0).eval(), [x])
    assert model_hash(None, a.graph) != model_hash(None, b.graph)  # constants are part of the graph text
    assert model_hash(None, a.graph) == model_hash(None, export_graph(_Scale(2.0).eval(), [x]).graph)
    ep = torch.export.export(_ConvBn().eval(), (torch.randn(1, 3, 8, 8),))
    path = convert_export(ep).save(tmp_path / "convbn.engine")
    meta = trtgraph.serialization.load_files(path)[1]
    assert meta.inputs[0].name == "input_0"


def test_key_graph_hashes_the_program_weights():
    from trtgraph.export_frontend import key_graph
    from trtgraph.serialization import model_hash

    torch.manual_seed(0)
    lin = torch.nn.Linear(3, 4).eval()
    x = torch.randn(2, 3)
    graph, examples, owner = key_graph(torch.export.export(lin, (x,)))
    before = model_hash(owner, graph)
    with torch.no_grad():
        lin.weight.add_(1.0)  # the program shares the module's weights
    graph2, _, owner2 = key_graph(torch.export.export(lin, (x,)))
    assert model_hash(owner2, graph2) != before
    assert [tuple(e.shape) for e in examples] == [(2, 3)]


class _DataBranch(torch.nn.Module):
    def forward(self, x):
        if x.sum() > 0:  # reads tensor data in Python
            return x * 2
        return x


def test_data_dependent_branch_is_a_named_trace_error_with_its_line():
    from trtgraph.errors import TraceError

    with pytest.raises(TraceError, match="tensor data") as info:
        convert_export(_DataBranch().eval(), [torch.randn(3)])
    line = _DataBranch.forward.__code__.co_firstlineno + 1
    assert f"test_export_frontend.py:{line}" in str(info.value)
