"""trtgraph/handlers/linear.py: linear, addmm, matmul (batched, vector operands), mm, bmm, baddbmm.
Checks: ``cases.run_case``."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from .cases import Fn, case_table, r, run_case

CASES, case = case_table()

case("linear", nn.Linear(8, 5), [r(3, 8)], ["aten::linear"])
case("linear_3d_nobias", nn.Linear(8, 5, bias=False), [r(2, 3, 8)], ["aten::linear"])
case("addmm", Fn(lambda m, x: torch.addmm(m.b, x, m.w, beta=0.5, alpha=2.0), b=r(5), w=r(8, 5)), [r(3, 8)], ["aten::addmm"])
case("matmul_3d_2d", Fn(lambda m, x, y: x @ y), [r(2, 3, 4), r(4, 5, seed=1)], ["aten::matmul"])
case("matmul_vec", Fn(lambda m, x, y: torch.matmul(x, y)), [r(3, 4), r(4, seed=1)], ["aten::matmul"])
case("mm", Fn(lambda m, x, y: torch.mm(x, y)), [r(3, 4), r(4, 2, seed=1)], ["aten::mm"])
case("bmm", Fn(lambda m, x, y: torch.bmm(x, y)), [r(2, 3, 4), r(2, 4, 2, seed=1)], ["aten::bmm"])
case("baddbmm", Fn(lambda m, b, x, y: torch.baddbmm(b, x, y, alpha=0.5)), [r(2, 3, 2), r(2, 3, 4, seed=1), r(2, 4, 2, seed=2)],
     ["aten::baddbmm"])
# regression (issue 11): failed before
case("matmul_vector_batch", Fn(lambda m, v, b: torch.stack([v @ b, b.transpose(-1, -2) @ v])), [r(3), r(2, 3, 3, seed=1)],
     ["aten::matmul"])


@pytest.mark.parametrize("module,inputs,ops", CASES)
def test_op(module, inputs, ops):
    run_case(module, inputs, ops)
