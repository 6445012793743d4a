"""trtgraph/handlers/math.py: cumsum (float, int, bool, dtype=, channels-last input) and diff
(n, dim, prepend/append, bool). Checks: ``cases.run_case``."""
from __future__ import annotations

import pytest
import torch

from .cases import Fn, case_table, ints, r, run_case

CASES, case = case_table()

case("cumsum", Fn(lambda m, x: x.cumsum(-1) + torch.cumsum(x, 0)), [r(3, 4)], ["aten::cumsum"])
case("cumsum_int", Fn(lambda m, x, y: (x.cumsum(1), torch.cumsum(y, 0), torch.cumsum(y, 0, dtype=torch.float32))),
     [ints(2, 5, low=-5), ints(4, dtype=torch.int32)], ["aten::cumsum"])
case("cumsum_bool_channels_last", Fn(lambda m, x: ((x > 0).cumsum(-1), x.cumsum(1))),
     [r(1, 3, 4, 5).to(memory_format=torch.channels_last)], ["aten::cumsum"])
case("diff", Fn(lambda m, x, p: (torch.diff(x), torch.diff(x, n=2, dim=0), torch.diff(x, dim=1, prepend=p, append=p),
                                 torch.diff(x > 0, dim=-1))),
     [r(4, 5), r(4, 1, seed=1)], ["aten::diff"])
# regression (issue 11): dtype= was ignored (wrong dtype or values)
case("cumsum_dtype", Fn(lambda m, x: torch.cumsum(x, 1, dtype=torch.int32)), [r(2, 5) * 4], ["aten::cumsum"])


@pytest.mark.parametrize("module,inputs,ops", CASES)
def test_op(module, inputs, ops):
    run_case(module, inputs, ops)
