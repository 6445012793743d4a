"""trtgraph/handlers/reduce.py: mean, sum, amax/amin, prod (dims, keepdim, dtype=, integer and bool
inputs), softmax/log_softmax (dtype=), _softmax. Checks: ``cases.run_case``."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from .cases import I32, Fn, case_table, r, run_case

CASES, case = case_table()

case("mean_sum", Fn(lambda m, x: x.mean() + x.sum(dim=1, keepdim=True).mean(dim=(2, 3)).sum() + x.mean([-1, -2]).sum(-1)),
     [r(2, 3, 4, 5)], ["aten::mean", "aten::sum"])
case("amax_amin_prod", Fn(lambda m, x: x.amax(1) + x.amin(dim=1) + x.prod(1)), [r(2, 3, 4)],
     ["aten::amax", "aten::amin", "aten::prod"])
case("softmax", nn.Softmax(dim=-1), [r(2, 3, 7)], ["aten::softmax"])
case("softmax_dim1", Fn(lambda m, x: F.softmax(x, 1) + F.log_softmax(x, dim=-1)), [r(2, 3, 5) * 40],
     ["aten::softmax", "aten::log_softmax"])
# an op that tracing records only when called directly
case("aten_direct", Fn(lambda m, x: torch.ops.aten._softmax(x, 1, False)), [r(2, 3, 4)], ["aten::_softmax"])

# --- regressions (issue 11). dtype= arguments (ignored before: wrong dtype or values)
case("sum_dtype_truncates", Fn(lambda m, x: torch.sum(x, 1, dtype=torch.int32)), [r(3, 4) * 4], ["aten::sum"])
case("mean_int_dtype", Fn(lambda m, x: torch.mean(x, 1, dtype=torch.float32)), [I32], ["aten::mean"])
case("mean_all_dtype", Fn(lambda m, x: x.mean(dtype=torch.float32)), [I32], ["aten::mean"])
case("prod_dtype", Fn(lambda m, x: torch.prod(x, 1, dtype=torch.int64)), [r(2, 3) * 3], ["aten::prod"])
case("softmax_dtype", Fn(lambda m, x: torch.softmax(x, -1, dtype=torch.float32)), [I32], ["aten::softmax"])
case("log_softmax_dtype", Fn(lambda m, x: torch.log_softmax(x, 0, dtype=torch.float32)), [I32], ["aten::log_softmax"])
# failed before: integer and bool inputs
case("prod_int32", Fn(lambda m, x: torch.prod(x)), [I32], ["aten::prod"])
case("prod_int32_dim", Fn(lambda m, x: torch.prod(x, 1, keepdim=True)), [I32], ["aten::prod"])
case("prod_bool_dim", Fn(lambda m, x: torch.prod(x > 0, 0)), [I32], ["aten::prod"])


@pytest.mark.parametrize("module,inputs,ops", CASES)
def test_op(module, inputs, ops):
    run_case(module, inputs, ops)
