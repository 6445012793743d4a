"""trtgraph/handlers/strided.py: diagonal and as_strided (gathers at positions computed at
conversion time). Checks: ``cases.run_case``."""
from __future__ import annotations

import pytest
import torch

import trtgraph

from .cases import Fn, case_table, ints, r, run_case

CASES, case = case_table()

case("diagonal", lambda m, x: (x.diagonal(), x.diagonal(1, 1, 2), torch.diagonal(x, -1, -1, 0), x.diagonal(2, 2, 0)),
     [r(3, 4, 5)], ["aten::diagonal"])
case("diagonal_int_rank2", lambda m, x: x.diagonal(-2), [ints(4, 3)], ["aten::diagonal"])
case("as_strided", lambda m, x: (x.as_strided((2, 2), (1, 3)), x.as_strided((2, 3), (4, 1), 2),
                                 torch.as_strided(x, (2, 3, 2), (6, 1, 0))), [r(3, 4)], ["aten::as_strided"])


@pytest.mark.parametrize("module,inputs,ops", CASES)
def test_op(module, inputs, ops):
    run_case(module, inputs, ops)


def test_as_strided_of_transposed_input_is_refused():
    with pytest.raises(trtgraph.errors.TrtGraphError, match="not contiguous"):
        trtgraph.convert(Fn(lambda m, x: x.t().as_strided((2, 2), (1, 2))).eval(), [r(3, 4)])
