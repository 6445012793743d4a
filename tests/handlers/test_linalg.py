"""trtgraph/handlers/linalg.py: mv, dot/vdot, cross/linalg_cross, cdist (p = 0, 1, 2, inf, other;
batched and broadcast), pdist. Checks: ``cases.run_case``."""
from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from conftest import check_module

from . import cases
from .cases import Fn, case_table, check_dynamic, r, run_case

CASES, case = case_table()
ints = functools.partial(cases.ints, low=-5, high=6)


case("mv_dot_vdot", lambda m, a, v: (torch.mv(a, v), a.mv(v * 2), torch.dot(v, v), torch.vdot(a[0], v)),
     [r(3, 4), r(4, seed=1)], ["aten::mv", "aten::dot", "aten::vdot"])
case("mv_dot_int", lambda m, a, v: (torch.mv(a, v), torch.dot(v, v)), [ints(3, 4), ints(4, seed=1)],
     ["aten::mv", "aten::dot"])
case("cross", lambda m, a, b: (torch.linalg.cross(a, b), torch.linalg.cross(a, b[:1]), torch.cross(a.transpose(0, 1), b.transpose(0, 1), dim=0),
                               torch.linalg.cross(a.unsqueeze(1), b.unsqueeze(0), dim=-1)),
     [r(4, 3), r(4, 3, seed=1)], ["aten::linalg_cross", "aten::cross"])
case("cross_int_rank3", lambda m, a, b: torch.linalg.cross(a, b, dim=1), [ints(2, 3, 2), ints(2, 3, 2, seed=1)],
     ["aten::linalg_cross"])
case("cdist_p", lambda m, a, b: tuple(torch.cdist(a, b, p=p) for p in (0.0, 1.0, 2.0, float("inf"), 0.5, 3.0)),
     [r(2, 5, 3), r(2, 4, 3, seed=1)], ["aten::cdist"])
case("cdist_p0_ties_broadcast", lambda m, a, b: (torch.cdist(a.round(), b.round(), p=0), torch.cdist(a, b[0])),
     [r(2, 5, 3), r(1, 4, 3, seed=1)], ["aten::cdist"])
case("cdist_many_rows_mm_mode", lambda m, a, b: (torch.cdist(a, b), torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")),
     [r(30, 4), r(27, 4, seed=1)], ["aten::cdist"])
case("cdist_large_uses_products", lambda m, a, b: torch.cdist(a, b), [r(2, 300, 40), r(1, 200, 40, seed=1)], ["aten::cdist"])
case("pdist", lambda m, x: tuple(F.pdist(x, p) for p in (2.0, 1.0, 0.0, float("inf"), 1.5)), [r(5, 3)], ["aten::pdist"])


@pytest.mark.parametrize("module,inputs,ops", CASES)
def test_op(module, inputs, ops):
    run_case(module, inputs, ops)


@pytest.mark.parametrize("precision,rtol", [("fp16", 2e-2), ("bf16", 5e-2)])
def test_reduced_precision(precision, rtol):
    model = Fn(lambda m, a, b: (torch.cdist(a, b), torch.cdist(a, b, p=1.5), F.pdist(a[0]), torch.linalg.cross(a[..., :3], b[:, :5, :3]),
                                torch.mv(a[0], b[0, 0]), torch.dot(a[0, 0], b[0, 0])))
    check_module(model, [r(2, 5, 4), r(2, 6, 4, seed=1)], rtol=rtol, atol=1e-2, precision=precision)


def test_dynamic_rows():
    model = Fn(lambda m, x: (torch.cdist(x, x * 2), torch.cdist(x, x[:2], p=1.0), torch.linalg.cross(x[:, :3], x[:, 1:4])))
    check_dynamic(model, [r(3, 5)], {"x": {0: (2, 3, 8)}}, [[(2, 5)], [(7, 5)]])
