"""trtgraph/handlers/vector_norm.py: linalg_vector_norm (p = 0, 1, 2, 3, inf; dims, keepdim,
dtype=), norm, frobenius_norm. Checks: ``cases.run_case``."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from .cases import Fn, case_table, r, run_case

CASES, case = case_table()
aten = torch.ops.aten

case("vector_norm", Fn(lambda m, x: (torch.linalg.vector_norm(x), torch.linalg.vector_norm(x, 1, dim=-1),
                                     torch.linalg.vector_norm(x, float("inf"), dim=(0, 2), keepdim=True),
                                     torch.linalg.vector_norm(x, 3, dim=1), torch.linalg.vector_norm(x, 0, dim=1),
                                     F.normalize(x, dim=-1))),
     [r(2, 3, 4)], ["aten::linalg_vector_norm"])
case("norm", Fn(lambda m, x: (aten.norm(x), aten.norm(x, 1), aten.norm(x, 2, [1], True), aten.norm(x, None, [0, 2]),
                              aten.frobenius_norm(x, [1, 2]), aten.frobenius_norm(x, [0], True))),
     [r(2, 3, 4)], ["aten::norm", "aten::frobenius_norm"])
# regression (issue 11): dtype= was ignored (wrong dtype or values)
case("vector_norm_dtype", Fn(lambda m, x: torch.linalg.vector_norm(x, 3, dim=1, dtype=torch.float32)), [r(2, 5)],
     ["aten::linalg_vector_norm"])


@pytest.mark.parametrize("module,inputs,ops", CASES)
def test_op(module, inputs, ops):
    run_case(module, inputs, ops)
