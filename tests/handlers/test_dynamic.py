"""Dynamic input dimensions: every case converts with ``dynamic_shapes``, checks the network
inputs really have -1 dims, builds and serializes the engine with its optimization profile, and
compares the reference evaluation of the network with eager torch at several shapes inside the
profile (``cases.check_dynamic``). Refusals (baked sizes, shape-dependent control flow, ops that
need a static dim) expect the named error. This table is where trtgraph/handlers/sizes.py (size,
numel, Int, _shape_as_tensor) and the creation ops sized by them (zeros, ones, empty, arange, ...)
get their cases."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import trtgraph
from trtgraph.errors import DynamicShapeError, InputError, UnsupportedOpsError

from .cases import Fn, assert_covers, check_dynamic, make

CASES = []


class Mod(Fn):
    """``Fn`` that also takes submodules."""

    def __init__(self, fn, **parts):
        super().__init__(fn, **{k: v for k, v in parts.items() if isinstance(v, torch.Tensor)})
        for k, v in parts.items():
            if isinstance(v, nn.Module):
                self.add_module(k, v)


def case(name, module, example_shape, dims, shapes, ops, ints=False):
    """``dims``: {axis: (min, opt, max)} of the single input ``x``; ``shapes``: evaluation shapes."""
    CASES.append(pytest.param(module, example_shape, ops, dims, shapes, ints, id=name))


B = {0: (1, 3, 8)}  # dynamic batch
BS = [[(1, 5)], [(4, 5)], [(8, 5)]]

# sizes read in the network and passed on
case("view_size0", Fn(lambda m, x: x.view(x.size(0), -1) * 2), (3, 4, 5), B,
     [[(1, 4, 5)], [(6, 4, 5)], [(8, 4, 5)]], ["aten::size", "aten::view"])
case("reshape_shape_list", Fn(lambda m, x: x.reshape(x.shape[0] * x.shape[1], x.shape[2]) + 1), (3, 4, 5),
     {0: (1, 3, 8), 1: (2, 4, 6)}, [[(1, 2, 5)], [(5, 6, 5)], [(8, 3, 5)]], ["aten::size", "aten::reshape", "aten::mul",
                                                                           "aten::Int"])
case("size_list_overload", Fn(lambda m, x: x.new_zeros(x.size()) + x), (3, 4), B,
     [[(1, 4)], [(7, 4)]], ["aten::size", "aten::new_zeros"])
case("numel", Fn(lambda m, x: x.reshape(x.numel()) * 3), (3, 4), B, [[(1, 4)], [(8, 4)]], ["aten::numel"])
case("shape_as_tensor", Fn(lambda m, x: x.reshape(torch._shape_as_tensor(x)[0], -1) * 2), (3, 4, 5), B,
     [[(1, 4, 5)], [(6, 4, 5)]], ["aten::_shape_as_tensor", "aten::Int"])
case("flatten_dynamic_merge", Fn(lambda m, x: torch.flatten(x, 0, 1) - 1), (3, 4, 2), B,
     [[(1, 4, 2)], [(8, 4, 2)]], ["aten::flatten"])
case("unsqueeze_squeeze", Fn(lambda m, x: x.unsqueeze(1).squeeze(1).unsqueeze(-1) * 2), (3, 4), B, [[(1, 4)], [(8, 4)]],
     ["aten::unsqueeze", "aten::squeeze"])
case("expand_to_size", Fn(lambda m, x: m.w.expand(x.size(0), -1) + x, w=torch.randn(1, 5)), (3, 5), B, BS,
     ["aten::expand"])
case("expand_as", Fn(lambda m, x: m.w.expand_as(x) * x, w=torch.randn(1, 5)), (3, 5), B, BS, ["aten::expand_as"])
case("slice_tail", Fn(lambda m, x: x[1:] + 0), (3, 5), {0: (2, 3, 8)}, [[(2, 5)], [(8, 5)]], ["aten::slice"])
case("slice_dynamic_dim", Fn(lambda m, x: (x[:, 1:], x[:, :-1], x[:, ::2], x[:, :1], x[:, -2:])), (2, 6),
     {1: (3, 6, 12)}, [[(2, 3)], [(2, 7)], [(2, 12)]], ["aten::slice"])
case("slice_to_size", Fn(lambda m, x: m.pos[:, : x.size(1)] + x, pos=torch.randn(1, 16)), (2, 6),
     {1: (3, 6, 16)}, [[(2, 3)], [(2, 16)]], ["aten::slice", "aten::add"])
case("select_dynamic", Fn(lambda m, x: (x[-1], x[:, -1], x[0])), (3, 4), {0: (1, 3, 8), 1: (2, 4, 8)},
     [[(1, 2)], [(8, 8)]], ["aten::select"])
case("narrow_dynamic", Fn(lambda m, x: x.narrow(1, 1, 2) * 1), (2, 6), {1: (3, 6, 12)}, [[(2, 3)], [(2, 12)]],
     ["aten::narrow"])
case("cat_dynamic", Fn(lambda m, x: torch.cat([x, x * 2], 0)), (3, 4), B, [[(1, 4)], [(8, 4)]], ["aten::cat"])
case("diff_dynamic", Fn(lambda m, x: torch.diff(x, dim=1)), (2, 6), {1: (2, 6, 12)}, [[(2, 2)], [(2, 12)]],
     ["aten::diff"])
case("zeros_ones_full", Fn(lambda m, x: (torch.zeros(x.size(0), 3) + 1, torch.ones(x.shape[0], x.shape[1]),
                                         torch.full((x.size(0), 2), 7.0))), (3, 4), B, [[(1, 4)], [(8, 4)]],
     ["aten::zeros", "aten::ones", "aten::full"])
case("empty_filled", Fn(lambda m, x: torch.empty(x.size(0), 2).fill_(3.0)), (3, 4), B, [[(1, 4)], [(8, 4)]],
     ["aten::empty"])
case("new_ones_empty", Fn(lambda m, x: (x.new_ones(x.size(0), 2), x.new_empty(x.size(0), 2).zero_())), (3, 4), B,
     [[(1, 4)], [(8, 4)]], ["aten::new_ones", "aten::new_empty"])
case("like_ops", Fn(lambda m, x: (torch.zeros_like(x) + 2, torch.ones_like(x), torch.empty_like(x).fill_(1.5))),
     (3, 4), B, [[(1, 4)], [(8, 4)]], ["aten::zeros_like", "aten::ones_like", "aten::empty_like"])
case("arange_variants", Fn(lambda m, x: (torch.arange(x.size(1)), torch.arange(1, x.size(1) + 1),
                                         torch.arange(0, x.size(1), 2), torch.arange(x.size(1)) * x)), (2, 6),
     {1: (2, 6, 11)}, [[(2, 2)], [(2, 7)], [(2, 11)]], ["aten::arange"], ints=True)
case("position_embedding", Mod(lambda m, x: m.emb(torch.arange(x.size(1)).unsqueeze(0).expand(x.size(0), -1)) + x[..., None],
                              emb=nn.Embedding(32, 4)), (2, 6), {0: (1, 2, 4), 1: (2, 6, 16)},
     [[(1, 2)], [(3, 9)], [(4, 16)]], ["aten::embedding", "aten::arange"])

# layers with dynamic batch and spatial sizes
case("conv_pool_dynamic_hw", nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                           nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)),
     (2, 3, 8, 8), {0: (1, 2, 4), 2: (4, 8, 16), 3: (4, 8, 16)},
     [[(1, 3, 4, 4)], [(3, 3, 10, 6)], [(4, 3, 16, 16)]], ["aten::_convolution", "aten::adaptive_avg_pool2d"])
case("interpolate_scale_dynamic_hw", Fn(lambda m, x: F.interpolate(x, scale_factor=2, mode="nearest")),
     (1, 2, 4, 4), {2: (2, 4, 8), 3: (2, 4, 8)}, [[(1, 2, 2, 3)], [(1, 2, 7, 8)]], ["aten::upsample_nearest2d"])
case("interpolate_size_dynamic_batch", Fn(lambda m, x: F.interpolate(x, size=(6, 5), mode="bilinear")),
     (2, 2, 4, 4), {0: (1, 2, 4)}, [[(1, 2, 4, 4)], [(4, 2, 4, 4)]], ["aten::upsample_bilinear2d"])
case("conv1d_groupnorm", nn.Sequential(nn.Conv1d(2, 4, 3), nn.GroupNorm(2, 4), nn.AvgPool1d(2)), (2, 2, 10),
     {0: (1, 2, 4), 2: (6, 10, 20)}, [[(1, 2, 6)], [(4, 2, 17)]], ["aten::_convolution", "aten::group_norm"])
case("attention_dynamic_seq", nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True), (2, 5, 16),
     {0: (1, 2, 4), 1: (2, 5, 9)}, [[(1, 2, 16)], [(3, 9, 16)]], ["aten::_transformer_encoder_layer_fwd"])
case("sdpa_causal_gqa_dynamic", Fn(lambda m, x: F.scaled_dot_product_attention(
    x.view(x.size(0), x.size(1), 4, 4).transpose(1, 2), x.view(x.size(0), x.size(1), 4, 4).transpose(1, 2)[:, :2],
    x.view(x.size(0), x.size(1), 4, 4).transpose(1, 2)[:, 2:], is_causal=True, enable_gqa=True)),
     (2, 5, 16), {0: (1, 2, 4), 1: (2, 5, 9)}, [[(1, 2, 16)], [(3, 9, 16)]], ["aten::scaled_dot_product_attention"])
case("mha_key_padding_dynamic", Mod(lambda m, x: m.mha(x, x, x, key_padding_mask=x[..., 0] > 1.0,
                                                        need_weights=False)[0],
                                    mha=nn.MultiheadAttention(16, 2, batch_first=True)),
     (2, 5, 16), {0: (1, 2, 4), 1: (2, 5, 9)}, [[(1, 2, 16)], [(3, 9, 16)]], ["aten::_native_multi_head_attention"])
case("index_dynamic_broadcast", Fn(lambda m, x: x[torch.arange(x.size(0))[:, None], torch.arange(x.size(1))[None, :]]
                                   * x[:, -1][x[0].long().clamp(0, 1)]), (3, 4), {0: (1, 3, 8), 1: (2, 4, 8)},
     [[(1, 2)], [(8, 8)]], ["aten::index"])
case("pad_flip_roll_dynamic", Fn(lambda m, x: (F.pad(x, (1, 2, 0, 1), value=0.5), F.pad(x, (2, 1), mode="reflect"),
                                                torch.flip(x, [0, 1]), torch.roll(x, 2, 1))), (3, 5), {0: (1, 3, 8)},
     [[(1, 5)], [(8, 5)]], ["aten::pad", "aten::flip", "aten::roll"])
case("masked_fill_dynamic", Fn(lambda m, x: x.masked_fill(x > 0, 0.5)), (3, 4), B, [[(1, 4)], [(8, 4)]],
     ["aten::masked_fill"])


@pytest.mark.parametrize("module,example_shape,ops,dims,shapes,ints", CASES)  # ops third, as in every CASES table
def test_dynamic(module, example_shape, ops, dims, shapes, ints):
    example = [make(example_shape, ints, 0)]
    conv = check_dynamic(module, example, {"x": dims}, shapes, ints=ints)
    assert_covers(conv, ops, converted_only=True)


def test_profile_in_engine_metadata(tmp_path):
    model = Fn(lambda m, x: x.view(x.size(0), -1) * 2)
    conv = trtgraph.convert(model, [torch.randn(2, 3, 4)], input_names=["x"],
                            dynamic_shapes={"x": {0: (1, 4, 16)}})
    assert conv.profiles == {"x": ((1, 3, 4), (4, 3, 4), (16, 3, 4))}
    path = conv.save(tmp_path / "m.engine")
    from trtgraph.serialization import read_metadata

    spec = [t for t in read_metadata(path).inputs if t.name == "x"][0]
    assert tuple(spec.shape) == (-1, 3, 4)
    assert (tuple(spec.min), tuple(spec.opt), tuple(spec.max)) == ((1, 3, 4), (4, 3, 4), (16, 3, 4))


def test_evaluate_outside_profile_is_refused():
    conv = trtgraph.convert(Fn(lambda m, x: x + 1), [torch.randn(2, 3)], input_names=["x"],
                            dynamic_shapes={"x": {0: (1, 2, 4)}})
    with pytest.raises(InputError, match="outside the optimization profile"):
        conv.evaluate(torch.randn(5, 3))


@pytest.mark.parametrize("spec,message", [
    ({"y": {0: (1, 2, 4)}}, "names input 'y'"),
    ({"x": {2: (1, 2, 4)}}, "not a dimension"),
    ({"x": {0: (4, 2, 1)}}, "min <= opt <= max"),
    ({"x": {0: (3, 4, 8)}}, "outside its dynamic range"),
    ({"x": {0: 5}}, r"must be \(min, opt, max\)"),
])
def test_bad_dynamic_shapes(spec, message):
    with pytest.raises(InputError, match=message):
        trtgraph.convert(Fn(lambda m, x: x + 1), [torch.randn(2, 3)], input_names=["x"], dynamic_shapes=spec)


def test_baked_size_is_refused_with_node_and_line():
    def forward(m, x):
        n = int(x.shape[0])  # a Python int: the trace records the example's value
        return x.reshape(n, -1)

    with pytest.raises(UnsupportedOpsError, match=rf"aten::reshape.*{Path(__file__).name}:\d+.*baked"):
        trtgraph.convert(Fn(forward), [torch.randn(3, 4, 2)], input_names=["x"], dynamic_shapes={"x": {0: (1, 3, 8)}})


def test_baked_size_in_tensor_constant_is_refused():
    def forward(m, x):
        return x + torch.ones(x.shape[0] * 1, 1).sum().item()  # .item() on a constant is folded... then baked

    with pytest.raises((UnsupportedOpsError, DynamicShapeError)):
        trtgraph.convert(Fn(lambda m, x: x * torch.tensor(float(x.shape[0]))), [torch.randn(3, 4)],
                         input_names=["x"], dynamic_shapes={"x": {0: (1, 3, 8)}})
    del forward


def test_shape_dependent_control_flow_is_refused():
    def forward(m, x):
        if x.shape[0] > 3:
            return x * 2
        return x.relu()

    with pytest.raises(DynamicShapeError, match="control flow depends on a dynamic dimension"):
        trtgraph.convert(Fn(forward), [torch.randn(3, 4)], input_names=["x"], dynamic_shapes={"x": {0: (1, 3, 8)}})


def test_size_one_example_gets_a_hint():
    def forward(m, x):
        return x.squeeze(0) if x.shape[0] == 1 else x.sum(0)

    with pytest.raises(DynamicShapeError, match="size 1"):
        trtgraph.convert(Fn(forward), [torch.randn(1, 4)], input_names=["x"], dynamic_shapes={"x": {0: (1, 1, 8)}})


def test_op_that_needs_a_static_dim_names_the_argument():
    with pytest.raises(DynamicShapeError, match=r"argument 'self' of aten::chunk.*dynamic"):
        trtgraph.convert(Fn(lambda m, x: x.chunk(2, 0)[0] + 1), [torch.randn(4, 3)], input_names=["x"],
                         dynamic_shapes={"x": {0: (2, 4, 8)}})


def test_handler_reading_a_dynamic_size_fails_with_a_named_error():
    """pixel_shuffle computes its output size from the input's: with that dim dynamic the handler
    must not build anything with a wrong (-1) size; the error names the node."""
    with pytest.raises(DynamicShapeError, match=r"aten::pixel_shuffle.*dynamic dimension"):
        trtgraph.convert(Fn(lambda m, x: F.pixel_shuffle(x, 2)), [torch.randn(1, 8, 4, 4)], input_names=["x"],
                         dynamic_shapes={"x": {2: (2, 4, 8)}})


def test_dynamic_input_does_not_change_the_model():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU()).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trtgraph.convert(model, [torch.randn(2, 4)], input_names=["x"], dynamic_shapes={"x": {0: (1, 2, 4)}})
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_two_dynamic_inputs():
    model = Fn(lambda m, a, b: torch.matmul(a, b.transpose(1, 2)).softmax(-1))
    dyn = {"a": {0: (1, 2, 4), 1: (2, 3, 8)}, "b": {0: (1, 2, 4), 1: (2, 5, 8)}}
    check_dynamic(model, [torch.randn(2, 3, 4), torch.randn(2, 5, 4)], dyn,
                  [[(1, 2, 4), (1, 2, 4)], [(4, 8, 4), (4, 6, 4)]], names=("a", "b"))
