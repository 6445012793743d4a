"""trtgraph/handlers/einsum.py: einsum (batched matmul, transposes, spaces in the equation, implicit
output, full sums, diagonals, outer products, several operands, int inputs). Checks:
``cases.run_case``."""
from __future__ import annotations

import pytest
import torch

from .cases import Fn, case_table, ints, r, run_case

CASES, case = case_table()

case("einsum", Fn(lambda m, x, y: (torch.einsum("bij,bjk->bik", x, y), torch.einsum("B I J, B K J -> B I K", x, x),
                                   torch.einsum("...ij->...ji", x), torch.einsum("bij", x), torch.einsum("bij->", x))),
     [r(2, 3, 4), r(2, 4, 5, seed=1)], ["aten::einsum"])
case("einsum_maxvit_5d", Fn(lambda m, q, k: torch.einsum("B G H I D, B G H J D -> B G H I J", q, k)),
     [r(1, 2, 3, 4, 5), r(1, 2, 3, 6, 5, seed=1)], ["aten::einsum"])
case("einsum_misc", Fn(lambda m, x, a, b: (torch.einsum("ii->i", x), torch.einsum("i,j->ij", a, b),
                                           torch.einsum("ij,j,i->", x, a, a), torch.einsum("ij,kj", x, x))),
     [r(4, 4), r(4, seed=1), r(3, seed=2)], ["aten::einsum"])
case("einsum_int", Fn(lambda m, x, y: torch.einsum("ij,jk->ik", x, y) + torch.einsum("ij->j", x)[None]),
     [ints(3, 4, low=-5), ints(4, 4, low=-5, seed=1)], ["aten::einsum"])


@pytest.mark.parametrize("module,inputs,ops", CASES)
def test_op(module, inputs, ops):
    run_case(module, inputs, ops)
