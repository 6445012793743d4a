"""Case table for trtgraph/handlers/core_aten.py: shape variants (tile, reshape_as, _reshape_copy,
tensor_split) and the core ATen names of torch.export / explicit torch.ops.aten calls. Same checks
as tests/test_handlers.py."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from conftest import check_module
from test_handlers import Fn, r
from trtgraph.registry import _normalize

CASES = []
aten = torch.ops.aten


def case(name, fn, inputs, ops):
    CASES.append(pytest.param(fn if isinstance(fn, nn.Module) else Fn(fn), inputs, ops, id=name))


def ints(*shape, low=0, high=10, seed=0, dtype=torch.int64):
    return torch.randint(low, high, shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# --- shape variants
case("tile", lambda m, x: (x.tile(2), x.tile((2, 1, 3)), torch.tile(x, (2, 1, 1, 2)), x.tile((1,))),
     [r(2, 3)], ["aten::tile"])
case("tile_int_bool_rank0", lambda m, x, s: (x.tile((3, 2)), (x > 4).tile((2,)), s.tile((3,))), [ints(2, 2), torch.tensor(1.5)],
     ["aten::tile"])
case("reshape_as", lambda m, x, y: (x.reshape_as(y), y.reshape_as(x.t())), [r(2, 6), r(3, 4, seed=1)],
     ["aten::reshape_as"])
case("_reshape_copy", lambda m, x: (aten._reshape_copy(x, [3, -1]), aten._reshape_copy(x.int(), [12])), [r(2, 6)],
     ["aten::_reshape_copy"])
case("tensor_split_sections", lambda m, x: (x.tensor_split(3, 1), torch.tensor_split(x, 2), x.tensor_split(4, -1)),
     [r(3, 7)], ["aten::tensor_split"])
case("tensor_split_indices", lambda m, x: (x.tensor_split([1, 4], 1), torch.tensor_split(x, (-2, 6), dim=1),
                                           torch.tensor_split(x, torch.tensor([2]), 0), torch.tensor_split(x, torch.tensor(2), 1)),
     [r(3, 7)], ["aten::tensor_split"])
case("tensor_split_unsorted_empty", lambda m, x: tuple(p * 2 for p in x.tensor_split([4, 2], 1)) + x.tensor_split(9, 1)[-2:],
     [r(3, 7)], ["aten::tensor_split"])


@pytest.mark.parametrize("module,inputs,ops", CASES)
def test_op(module, inputs, ops):
    conv = check_module(module, inputs, rtol=1e-4, atol=1e-5)
    used = {_normalize(rec.kind) for rec in conv.graph.nodes}
    for op in ops:
        assert op in used, f"the case is meant to cover {op}, but the graph converted {sorted(used)}"
