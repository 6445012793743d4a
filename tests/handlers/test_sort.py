"""trtgraph/handlers/sort.py: topk, sort, argsort, argmax/argmin, max/min (full, along a dim,
elementwise with another tensor) on float, int and bool inputs; NaN handling; the TopK limits.
Checks: ``cases.run_case``."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from .cases import (
    INF,
    NAN,
    PRECISIONS,
    Fn,
    assert_refused,
    assert_same_bits,
    case_table,
    network_values,
    r,
    run_case,
)

CASES, case = case_table()

case("topk", Fn(lambda m, x: torch.topk(x, 3)), [r(2, 3, 7)], ["aten::topk"])
case("topk_smallest_dim0", Fn(lambda m, x: torch.topk(x, 2, dim=0, largest=False)), [r(5, 3)], ["aten::topk"])
case("topk_1d_rank5", Fn(lambda m, x, y: (x.topk(4), y.topk(1, dim=0))), [r(9), r(3, 2, 2, 2, 3)], ["aten::topk"])
case("topk_int", Fn(lambda m, x: torch.topk(x, 2, dim=1)), [torch.randperm(12).reshape(3, 4)], ["aten::topk"])
case("sort", Fn(lambda m, x: (torch.sort(x), torch.sort(x, dim=0, descending=True), x.sort(stable=True, dim=-1))),
     [r(4, 6)], ["aten::sort"])
case("argmax_argmin", Fn(lambda m, x: (x.argmax(), x.argmax(1), x.argmin(-1, keepdim=True), torch.argmin(x),
                                       torch.argmax(x, keepdim=True))), [r(3, 4, 5)], ["aten::argmax", "aten::argmin"])
case("max_min_dim", Fn(lambda m, x: (x.max(1), x.min(-1, keepdim=True), torch.max(x, 0)[1])), [r(3, 4, 5)],
     ["aten::max", "aten::min"])
case("max_min_full_other", Fn(lambda m, x, y: (x.max(), x.min(), torch.max(x, y), torch.min(x, y))),
     [r(3, 4), r(4, seed=1)], ["aten::max", "aten::min"])
case("max_int_bool", Fn(lambda m, x: (x.max(), x.max(0), x.argmax(1), (x > 50).max(1), torch.sort(x > 50, dim=1)[0])),
     [torch.randperm(12, generator=torch.Generator().manual_seed(3)).reshape(3, 4) * 9],
     ["aten::max", "aten::argmax", "aten::sort"])
# regression (issue 11): failed before
case("argsort", Fn(lambda m, x: torch.argsort(x, dim=0, descending=True) * 10 + torch.argsort(x)),
     [torch.tensor([[3.0, 1.0, 2.0], [0.5, 4.0, -1.0]])], ["aten::argsort"])


@pytest.mark.parametrize("module,inputs,ops", CASES)
def test_op(module, inputs, ops):
    run_case(module, inputs, ops)


@pytest.mark.parametrize("fn,inputs,message", [
    (lambda m, x: torch.sort(x), [r(2, 4000)], "TopK takes at most"),
    (lambda m, x: torch.topk(x, 3900), [r(2, 4000)], "k <= 3840"),
], ids=["sort_too_long", "topk_k_too_large"])
def test_unsupported_combinations_are_reported(fn, inputs, message):
    """Argument combinations TensorRT cannot express are listed up front, with their source line."""
    assert_refused(Fn(fn), inputs, Path(__file__).name, match=message)


# silently wrong before (issue 11; the matrix's special cases): the reference evaluation of the built
# network must give eager torch's values bit for bit (NaN where torch has NaN, signed zeros with
# torch's sign)
@pytest.mark.parametrize("precision,dtype", PRECISIONS)
def test_argmin_argmax_min_max_dim_return_the_first_nan(precision, dtype):
    """torch's min/max along a dim (and argmin/argmax) give NaN and the first NaN's index when the
    slice holds one; TopK alone skipped NaN for the minimum."""
    x = torch.tensor([[1.0, NAN, -2.0, NAN], [3.0, -1.0, 0.0, 2.0], [-INF, NAN, NAN, 1.0]], dtype=dtype)

    def both_ways(m, x):
        mn, imn = torch.min(x, 1)
        mx, imx = torch.max(x, 0, keepdim=True)
        return (mn, imn, mx, imx, torch.argmin(x, 0), torch.argmax(x, 1), torch.argmin(x),
                torch.argmin(x[1:2, :]))

    model = Fn(both_ways)
    got = network_values(model, [x], precision)
    for i, (g, w) in enumerate(zip(got, model(x))):
        assert_same_bits(g, w, (), f"{precision} output {i}")
