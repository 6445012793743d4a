"""trtgraph/handlers/sampling.py: grid sampling (every interpolation x padding x align_corners
combination), embedding_bag (sum/mean/max, offsets, per_sample_weights, padding_idx), adaptive max
pooling, string-padded convolution. Checks: ``cases.run_case``.

The reference evaluator computes TensorRT's grid sample layer with torch's grid_sample, mapping the
layer's enums by name (LINEAR/NEAREST/CUBIC, FILL/CLAMP/REFLECT): these cases check that the
handler maps torch's integer modes onto the right TensorRT modes."""
from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from conftest import check_module
from torch import nn

import trtgraph

from .cases import Fn, case_table, check_dynamic, ints, r, run_case

CASES, case = case_table()
aten = torch.ops.aten


def grid(*shape, seed=0):
    """Sample points in [-1.3, 1.3]: inside and outside the image."""
    return (torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * 2.6 - 1.3)


for _mode, _pad, _align in itertools.product(("bilinear", "nearest", "bicubic"), ("zeros", "border", "reflection"),
                                             (False, True)):
    case(f"grid_sample_{_mode}_{_pad}_{'align' if _align else 'noalign'}",
         lambda m, x, g, mode=_mode, pad=_pad, align=_align: F.grid_sample(x, g, mode=mode, padding_mode=pad,
                                                                           align_corners=align),
         [r(2, 3, 5, 6), grid(2, 4, 7, 2)], ["aten::grid_sampler"])
case("grid_sampler_2d_direct", lambda m, x, g: aten.grid_sampler_2d(x, g, 0, 1, False), [r(1, 2, 4, 4), grid(1, 3, 3, 2)],
     ["aten::grid_sampler_2d"])

# --- embedding_bag
case("embedding_bag_modes", lambda m, i, o: (F.embedding_bag(i, m.w, o, mode="sum"), F.embedding_bag(i, m.w, o, mode="mean"),
                                             F.embedding_bag(i, m.w, o, mode="max")),
     [ints(7), torch.tensor([0, 2, 2, 5])], ["aten::embedding_bag"])
case("embedding_bag_2d_psw", lambda m, i, p: (F.embedding_bag(i, m.w, per_sample_weights=p, mode="sum"),
                                              F.embedding_bag(i, m.w, mode="max")),
     [ints(3, 4), r(3, 4, seed=1)], ["aten::embedding_bag"])
case("embedding_bag_last_offset_padding", lambda m, i: (F.embedding_bag(i, m.w, m.o4, mode="mean",
                                                                        include_last_offset=True, padding_idx=2),
                                                        F.embedding_bag(i, m.w, m.o2, padding_idx=0)),
     [torch.tensor([2, 2, 1, 0, 2, 3])], ["aten::embedding_bag"], o4=torch.tensor([0, 3, 3, 6]), o2=torch.tensor([0, 1]))
case("embedding_bag_module", nn.EmbeddingBag(10, 3, mode="mean"), [ints(8), torch.tensor([0, 4, 6])],
     ["aten::embedding_bag"])
case("_embedding_bag_direct", lambda m, i: aten._embedding_bag(m.w, i, m.o, False, 0)[0], [ints(5)],
     ["aten::_embedding_bag"], o=torch.tensor([0, 2]))
for _c in CASES[-5:]:
    _c.values[0].register_parameter("w", nn.Parameter(r(10, 3, seed=5), requires_grad=False)) \
        if isinstance(_c.values[0], Fn) else None

# --- adaptive max pooling (dividing and non-dividing, larger output than input)
case("adaptive_max_pool", lambda m, x, y, z: (F.adaptive_max_pool1d(x, 3), F.adaptive_max_pool2d(y, (2, 3)),
                                              F.adaptive_max_pool2d(y, (4, 7)), F.adaptive_max_pool3d(z, 2),
                                              F.adaptive_max_pool1d(x, 4)),
     [r(2, 3, 7), r(1, 2, 5, 6), r(1, 2, 4, 4, 5)],
     ["aten::adaptive_max_pool1d", "aten::adaptive_max_pool2d", "aten::adaptive_max_pool3d"])
case("adaptive_max_pool_module", nn.AdaptiveMaxPool2d((3, None)), [r(1, 2, 7, 5)], ["aten::adaptive_max_pool2d"])

# --- string padding
case("conv_same_valid", lambda m, x, y: (F.conv1d(x, m.w1, padding="same"), F.conv2d(y, m.w2, m.b2, padding="same", dilation=(1, 2)),
                                         F.conv2d(y, m.w2, padding="valid"), F.conv1d(x, m.w1, padding="same", dilation=3)),
     [r(1, 3, 9), r(2, 3, 6, 7)], ["aten::_convolution_mode"])
CASES[-1].values[0].register_parameter("w1", nn.Parameter(r(4, 3, 4, seed=2), requires_grad=False))
CASES[-1].values[0].register_parameter("w2", nn.Parameter(r(5, 3, 2, 3, seed=3), requires_grad=False))
CASES[-1].values[0].register_parameter("b2", nn.Parameter(r(5, seed=4), requires_grad=False))
case("conv_same_module", nn.Conv2d(2, 4, (4, 3), padding="same", groups=2), [r(1, 2, 6, 6)], ["aten::_convolution_mode"])


@pytest.mark.parametrize("module,inputs,ops", CASES)
def test_op(module, inputs, ops):
    # trtgraph.debug's torch network has no add_grid_sample: grid cases check the real network only
    debug = not any(op.startswith("aten::grid_sampler") for op in ops)
    run_case(module, inputs, ops, debug=debug)


def test_grid_sample_3d_is_refused():
    with pytest.raises(trtgraph.UnsupportedOpsError, match="4-D inputs"):
        trtgraph.convert(Fn(lambda m, x, g: F.grid_sample(x, g, align_corners=False)).eval(),
                         [r(1, 2, 3, 4, 4), grid(1, 2, 2, 2, 3)])


def test_adaptive_max_pool_indices_are_refused():
    with pytest.raises(trtgraph.errors.TrtGraphError, match="return_indices"):
        trtgraph.convert(Fn(lambda m, x: F.adaptive_max_pool2d(x, 2, return_indices=True)).eval(), [r(1, 2, 5, 5)])


@pytest.mark.parametrize("precision,rtol", [("fp16", 2e-2), ("bf16", 5e-2)])
def test_reduced_precision(precision, rtol):
    model = Fn(lambda m, x, g, i: (F.grid_sample(x, g, mode="bicubic", padding_mode="reflection", align_corners=False),
                                   F.embedding_bag(i, m.w, m.o, mode="max"),
                                   F.embedding_bag(i, m.w, m.o, mode="mean"),
                                   F.adaptive_max_pool2d(x, (3, 4)), F.conv2d(x, m.k, padding="same")),
               w=r(10, 3, seed=5), k=r(2, 3, 2, 2, seed=6))
    model.register_buffer("o", torch.tensor([0, 3]))
    check_module(model, [r(1, 3, 5, 6), grid(1, 4, 4, 2), ints(6)], rtol=rtol, atol=2e-2, precision=precision, debug=False)


def test_dynamic_batch_grid_sample():
    model = Fn(lambda m, x: F.grid_sample(x, x[:, :2].permute(0, 2, 3, 1).tanh() * 1.2, mode="bilinear",
                                          padding_mode="border", align_corners=True))
    check_dynamic(model, [r(2, 3, 4, 5)], {"x": {0: (1, 2, 4)}}, [[(1, 3, 4, 5)], [(4, 3, 4, 5)]])
