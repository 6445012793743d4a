"""trtgraph/handlers/creation.py: full, full_like and new_full with a fill value from the inputs
(ScalarImplicit). Checks: ``cases.run_case``; creation ops with sizes from dynamic input dimensions
are in test_dynamic.py."""
from __future__ import annotations

import pytest
import torch

from .cases import Fn, case_table, r, run_case

CASES, case = case_table()

case("full_from_tensor", Fn(lambda m, x: torch.full((2, 3), x[0, 0]) + x[:2]), [r(3, 3)],
     ["aten::full", "aten::ScalarImplicit"])
case("full_like_new_full_from_tensor", Fn(lambda m, x: torch.full_like(x, x[1, 1]) + x.new_full((3,), x[0, 2])),
     [r(3, 3)], ["aten::full_like", "aten::new_full"])


@pytest.mark.parametrize("module,inputs,ops", CASES)
def test_op(module, inputs, ops):
    run_case(module, inputs, ops)
