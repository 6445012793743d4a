"""trtgraph/handlers/index.py: embedding, gather, index_select, advanced indexing (index: int64 and
int32 indices, negative indices and dims, boolean masks), take_along_dim, pad (constant with value
and cropping, reflect, replicate, circular), flip, roll, pixel_(un)shuffle, swapaxes/movedim.
Checks: ``cases.run_case``."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from .cases import Fn, assert_refused, case_table, ints, r, run_case

CASES, case = case_table()
aten = torch.ops.aten

# --- gathers and advanced indexing (int64 and int32 indices, negative indices and dims)
case("embedding", nn.Embedding(10, 4), [ints(2, 5)], ["aten::embedding"])
case("embedding_int32_padding", nn.Embedding(12, 3, padding_idx=0), [ints(3, 4, dtype=torch.int32, high=12)],
     ["aten::embedding"])
case("gather", Fn(lambda m, x, i: (torch.gather(x, 1, i), torch.gather(x, -1, i[:, :2, :3]))),
     [r(2, 4, 5), ints(2, 3, 5, high=4)], ["aten::gather"])
case("gather_const_index", Fn(lambda m, x: torch.gather(x, 0, torch.tensor([[1, 0, 1], [0, 0, 1]]))), [r(2, 4)],
     ["aten::gather"])
case("index_select", Fn(lambda m, x, i: (torch.index_select(x, -1, i), x.index_select(1, torch.tensor([3, 0, 0])))),
     [r(2, 4, 5), ints(2, high=5)], ["aten::index_select"])
case("index_const", Fn(lambda m, x: x[:, torch.tensor([2, -1, 0])] + x[torch.tensor([1]), :, 1:4].sum()),
     [r(2, 4, 3)], ["aten::index"])
case("index_dynamic_negative", Fn(lambda m, x, i: x[i]), [r(5, 3), ints(2, 3, low=-5, high=5)], ["aten::index"])
case("index_two_adjacent", Fn(lambda m, x, i, j: x[:, i, j]), [r(2, 4, 5, 3), ints(3, high=4), ints(2, 1, high=5, seed=1)],
     ["aten::index"])
case("index_two_separated", Fn(lambda m, x, i: x[i, :, torch.tensor([0, 2, 1])]), [r(3, 2, 4), ints(3, high=3)],
     ["aten::index"])
case("index_ellipsis", Fn(lambda m, x, i: x[..., i] * 2), [r(2, 3, 5), ints(2, 2, low=-5, high=5)], ["aten::index"])
case("index_bool_const_mask", Fn(lambda m, x: x[:, torch.tensor([True, False, True, True])]), [r(2, 4, 3)],
     ["aten::index"])
case("index_param_table", Fn(lambda m, i: m.table[i], table=r(6, 4)), [ints(3, 3, high=6)], ["aten::index"])
case("index_0d_and_noncontiguous", Fn(lambda m, x, i: (x[torch.tensor(1)], x[:, i], x[i.t()])),
     [r(4, 5, 3).transpose(0, 1), ints(3, 2, high=4).t()], ["aten::index"])
case("embedding_noncontiguous_idx", nn.Embedding(10, 4), [ints(5, 2).t()], ["aten::embedding"])
case("take_along_dim", Fn(lambda m, x, i: torch.take_along_dim(x, i, dim=1) + torch.take_along_dim(x, i[:1], dim=1)),
     [r(2, 5, 3), ints(2, 4, 3, high=5)], ["aten::take_along_dim"])
case("take_along_dim_flat", Fn(lambda m, x, i: torch.take_along_dim(x, i)), [r(3, 4), ints(5, high=12)],
     ["aten::take_along_dim"])

# --- padding (constant with value and cropping, reflect, replicate, circular), flips and rolls
case("pad_constant", Fn(lambda m, x: F.pad(x, (1, 2, 0, 1)) + F.pad(x, (1, 2, 0, 1), value=1.5)), [r(1, 2, 4, 5)],
     ["aten::pad"])
case("pad_crop_int", Fn(lambda m, x: F.pad(x, (-1, 2, 1, -1), value=7)), [ints(2, 4, 5)], ["aten::pad"])
case("pad_reflect", Fn(lambda m, x, y: (F.pad(x, (2, 3), mode="reflect"), F.pad(y, (1, 2, 3, 0), mode="reflect"))),
     [r(2, 3, 6), r(1, 2, 5, 4)], ["aten::pad"])
case("pad_replicate", Fn(lambda m, x, y: (F.pad(x, (2, 3), mode="replicate"), F.pad(y, (1, 2, 3, 0), mode="replicate"))),
     [r(2, 3, 6), r(1, 2, 5, 4)], ["aten::pad"])
case("pad_circular", Fn(lambda m, x: F.pad(x, (1, 2, 2, 1), mode="circular")), [r(1, 2, 4, 5)], ["aten::pad"])
case("pad_modules", nn.Sequential(nn.ReflectionPad2d((1, 0, 2, 1)), nn.ReplicationPad2d(1), nn.ZeroPad2d((0, 1, 1, 0)),
                                  nn.ConstantPad2d(1, -0.5)), [r(1, 2, 4, 5)], ["aten::pad"])
case("pad_aten_direct", Fn(lambda m, x, y: (aten.reflection_pad1d(y, [2, 1]), aten.replication_pad1d(y, [0, 3]),
                                            aten.reflection_pad2d(x, [1, 1, 2, 0]), aten.replication_pad2d(x, [2, 0, 1, 1]),
                                            aten.reflection_pad3d(x.unsqueeze(0), [1, 1, 1, 1, 1, 0]),
                                            aten.replication_pad3d(x.unsqueeze(0), [1, 0, 0, 1, 1, 1]),
                                            aten.constant_pad_nd(x, [1, 1], 2.0), aten._pad_circular(y, [1, 2]),
                                            aten._pad_enum(y, [1, 1], 1, None))),
     [r(1, 2, 4, 5), r(2, 3, 6)],
     ["aten::reflection_pad1d", "aten::replication_pad1d", "aten::reflection_pad2d", "aten::replication_pad2d",
      "aten::reflection_pad3d", "aten::replication_pad3d", "aten::constant_pad_nd", "aten::_pad_circular",
      "aten::_pad_enum"])
case("flip", Fn(lambda m, x: x.flip(0, -1) + torch.flip(x, [1])), [r(2, 3, 4)], ["aten::flip"])
case("roll", Fn(lambda m, x: torch.roll(x, 2, 1) + torch.roll(x, (-1, 3), (0, -1)) + torch.roll(x, 5)), [r(2, 3, 4)],
     ["aten::roll"])
case("pixel_shuffle", nn.Sequential(nn.PixelShuffle(2), nn.PixelUnshuffle(3)), [r(1, 36, 3, 3)],
     ["aten::pixel_shuffle", "aten::pixel_unshuffle"])
case("pixel_shuffle_batched", Fn(lambda m, x: F.pixel_shuffle(x, 3)), [r(2, 2, 9, 2, 3)], ["aten::pixel_shuffle"])
# inside a submodule, the tracer records swapaxes/swapdims/moveaxis (maxvit's SwapAxes module)
case("swap_move", nn.Sequential(Fn(lambda m, x: torch.swapaxes(x, 0, -1)), Fn(lambda m, x: torch.swapdims(x, 1, 2)),
                                Fn(lambda m, x: torch.movedim(x, 0, -1)), Fn(lambda m, x: torch.movedim(x, (0, 2), (2, 0))),
                                Fn(lambda m, x: torch.moveaxis(x, -1, 0))),
     [r(3, 4, 5)], ["aten::swapaxes", "aten::swapdims", "aten::movedim", "aten::moveaxis"])
# regressions (issue 11): circular padding cropped and wrapped in one slice (torch crops first,
# then wraps what is left)
case("pad_circular_crop_and_wrap", Fn(lambda m, x: F.pad(x, (1, -1, 2, -1), mode="circular")), [r(1, 2, 5, 6)],
     ["aten::pad"])
case("pad_circular_crop_and_wrap_1d", Fn(lambda m, x: F.pad(x, (-2, 3), mode="circular")), [r(2, 3, 7)], ["aten::pad"])


@pytest.mark.parametrize("module,inputs,ops", CASES)
def test_op(module, inputs, ops):
    run_case(module, inputs, ops)


@pytest.mark.parametrize("fn,inputs,message", [
    (lambda m, x: x[x > 0], [r(3, 4)], "boolean mask computed from the inputs"),
], ids=["index_dynamic_bool_mask"])
def test_unsupported_combinations_are_reported(fn, inputs, message):
    """Argument combinations TensorRT cannot express are listed up front, with their source line."""
    assert_refused(Fn(fn), inputs, Path(__file__).name, match=message)
