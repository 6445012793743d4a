"""trtgraph/handlers/remainder.py: remainder and fmod (float and int, Python scalars, negative
divisors), bit for bit on special values (infinite divisors, quotients rounding onto an integer,
signed zeros). Checks: ``cases.run_case``."""
from __future__ import annotations

import pytest
import torch

from .cases import (
    PRECISIONS,
    SPECIAL,
    Fn,
    assert_same_bits,
    case_table,
    every_pair,
    ints,
    network_values,
    r,
    run_case,
)

CASES, case = case_table()

case("remainder_fmod", Fn(lambda m, x, y: (torch.remainder(x, y), torch.fmod(x, y), x % 0.7, torch.fmod(x, -0.7),
                                           torch.remainder(2.5, y))),
     [r(3, 4) * 4, r(3, 4, seed=1).abs() + 0.5], ["aten::remainder", "aten::fmod"])
case("remainder_fmod_int", Fn(lambda m, x, y: (x % y, torch.fmod(x, y), x % 3, torch.fmod(x, -3))),
     [ints(3, 4, low=-20, high=20), ints(3, 4, low=1, high=7, seed=1) * torch.tensor([1, -1, 1, -1])],
     ["aten::remainder", "aten::fmod"])


@pytest.mark.parametrize("module,inputs,ops", CASES)
def test_op(module, inputs, ops):
    run_case(module, inputs, ops)


# silently wrong before (issue 11; the matrix's special cases): the reference evaluation of the built
# network must give eager torch's values bit for bit (NaN where torch has NaN, signed zeros with
# torch's sign)
@pytest.mark.parametrize("precision,dtype", PRECISIONS)
def test_remainder_fmod_match_torch_on_special_values(precision, dtype):
    """fmod(a, inf) is a; -1 % inf is inf; 1.0 % 0.1 is 0.0999999866 (not 0); fmod(-2, 1) is -0.0."""
    a, b = (t.to(dtype) for t in every_pair(SPECIAL))
    model = Fn(lambda m, a, b: torch.stack([torch.fmod(a, b), a % b, torch.remainder(b, a)]))
    got = network_values(model, [a, b], precision)[0]
    want = model(a, b)
    for i, name in enumerate(("fmod(a, b)", "a % b", "b % a")):
        assert_same_bits(got[i], want[i], (a, b) if i < 2 else (b, a), f"{precision} {name}")
