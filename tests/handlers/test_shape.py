"""trtgraph/handlers/shape.py: view/reshape/flatten, permute/transpose/t, (un)squeeze, cat/stack,
slice/select, split/chunk/unbind, expand/repeat. Checks: ``cases.run_case``."""
from __future__ import annotations

import pytest
import torch

from .cases import Fn, case_table, r, run_case

CASES, case = case_table()

case("view_flatten", Fn(lambda m, x: x.view(x.size(0), -1) + torch.flatten(x, 1)), [r(2, 3, 4)],
     ["aten::view", "aten::flatten", "aten::size"])
case("reshape_permute", Fn(lambda m, x: x.reshape(2, 4, 3).permute(2, 0, 1).contiguous()), [r(2, 3, 4)],
     ["aten::reshape", "aten::permute", "aten::contiguous"])
case("transpose_t", Fn(lambda m, x: x.transpose(0, 1) + x.t() * 2), [r(3, 4)], ["aten::transpose", "aten::t"])
case("squeeze_unsqueeze", Fn(lambda m, x: x.unsqueeze(1).unsqueeze(-1).squeeze(1) + x.unsqueeze(-1) + x[:, None, :, None].squeeze(1)),
     [r(3, 4)], ["aten::unsqueeze", "aten::squeeze"])
case("cat_stack", Fn(lambda m, x, y: torch.cat([x, y, x], dim=-1).sum(-1) + torch.stack([x, y], dim=1).sum((1, 2))),
     [r(2, 3), r(2, 3, seed=1)], ["aten::cat", "aten::stack"])
case("slice_select", Fn(lambda m, x: x[:, 1:3, ::2] * 2 + x[:, -2:, 1:7:3].sum() + x[0, :, -1].sum() + x[..., 1].sum()),
     [r(2, 4, 8)], ["aten::slice", "aten::select"])
case("split_chunk_unbind", Fn(lambda m, x: sum(t.sum() for t in x.split(2, dim=1)) + x.chunk(3, -1)[1].sum()
                              + sum(t.mean() for t in x.unbind(0)) + x.split([1, 3], 1)[1].sum()),
     [r(2, 4, 6)], ["aten::split", "aten::chunk", "aten::unbind", "aten::split_with_sizes"])
case("expand_repeat", Fn(lambda m, x: x[:, :1].expand(-1, 4) + x.repeat(1, 2)[:, :4] + x[:1].expand_as(x)),
     [r(3, 4)], ["aten::expand", "aten::repeat", "aten::expand_as"])
# regressions (issue 11): failed before
case("repeat_more_dims", Fn(lambda m, x: x.repeat(2, 1, 3)), [r(2, 3)], ["aten::repeat"])
case("repeat_more_dims_1d", Fn(lambda m, x: x.repeat(3, 2, 1, 2)), [r(4)], ["aten::repeat"])


@pytest.mark.parametrize("module,inputs,ops", CASES)
def test_op(module, inputs, ops):
    run_case(module, inputs, ops)
