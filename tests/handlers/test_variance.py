"""trtgraph/handlers/variance.py: var, std (unbiased, correction, dims, keepdim), var_mean,
std_mean. Checks: ``cases.run_case``."""
from __future__ import annotations

import pytest
import torch

from .cases import Fn, case_table, r, run_case

CASES, case = case_table()

case("var_std", Fn(lambda m, x: (x.var(), x.std(), x.var(1, unbiased=False), x.std(-1, keepdim=True),
                                 torch.var(x, dim=(0, 2), correction=2, keepdim=True), torch.std(x, dim=0, correction=0))),
     [r(3, 4, 5)], ["aten::var", "aten::std"])
case("var_std_mean", Fn(lambda m, x: (torch.var_mean(x, 1), torch.std_mean(x, dim=(0, 1), keepdim=True),
                                      torch.var_mean(x))),
     [r(3, 4, 5)], ["aten::var_mean", "aten::std_mean"])


@pytest.mark.parametrize("module,inputs,ops", CASES)
def test_op(module, inputs, ops):
    run_case(module, inputs, ops)
