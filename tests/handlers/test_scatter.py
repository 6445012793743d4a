"""trtgraph/handlers/scatter.py: slice/select scatter, scatter (src, value, reduce),
scatter_add/scatter_reduce, index_copy, index_put (accumulate with duplicate positions, broadcast
values, boolean masks). Checks: ``cases.run_case``."""
from __future__ import annotations

import pytest
import torch
from conftest import check_module

import trtgraph

from .cases import Fn, case_table, ints, r, run_case

CASES, case = case_table()
aten = torch.ops.aten


def put(x, idx, v, acc=False):
    y = x.clone()
    y.index_put_(idx, v, accumulate=acc)
    return y


T = torch.tensor

# --- slice_scatter / select_scatter
case("slice_scatter", lambda m, x, s: (torch.slice_scatter(x, s, 1, 1, 3), torch.slice_scatter(x, s[:, :1], -2, 4),
                                       torch.slice_scatter(x, s, 1, 0, 4, 2), torch.slice_scatter(x, s, 1, -4, -2)),
     [r(2, 5, 3), r(2, 2, 3, seed=1)], ["aten::slice_scatter"])
case("slice_scatter_int_dim0", lambda m, x, s: torch.slice_scatter(x, s, 0, 1, 2), [ints(3, 4), ints(1, 4, seed=1)],
     ["aten::slice_scatter"])
case("select_scatter", lambda m, x, s: (torch.select_scatter(x, s, 0, 1), torch.select_scatter(x, s.t(), -1, -1)),
     [r(3, 3), r(3, seed=1)], ["aten::select_scatter"])
case("slice_assign_inplace", lambda m, x, s: x.clone().slice_scatter(s, 0, 0, 1), [r(2, 2), r(1, 2)],
     ["aten::slice_scatter"])

# --- scatter (src / value / legacy reduce), scatter_add, scatter_reduce: duplicates in the index
IDX = T([[0, 1, 0], [2, 0, 0]])
case("scatter_src_value", lambda m, x, s: (torch.scatter(x, 1, m.i1, s), torch.scatter(x, 0, m.i2, 2.5),
                                           x.clone().scatter_(-1, m.i3, s)),
     [r(2, 4), r(3, 5, seed=1)], ["aten::scatter"], i1=T([[3, 1, 0], [2, 0, 1]]), i2=T([[1, 0, 1, 0]]),
     i3=T([[0], [3]]))
case("scatter_dynamic_index", lambda m, x, i, s: torch.scatter(x, 1, i, s),
     [r(3, 6), torch.stack([torch.randperm(6, generator=torch.Generator().manual_seed(k))[:4] for k in range(3)]),
      r(3, 4, seed=1)], ["aten::scatter"])
case("scatter_reduce_legacy", lambda m, x, s: (torch.scatter(x, 1, m.idx, s, reduce="add"),
                                               torch.scatter(x, 1, m.idx, s, reduce="multiply"),
                                               torch.scatter(x, 0, m.idx[:1], 2.0, reduce="add")),
     [r(3, 4), r(2, 3, seed=1)], ["aten::scatter"], idx=IDX)
case("scatter_add", lambda m, x, i, s: (torch.scatter_add(x, 0, i, s), x.clone().scatter_add_(1, m.idx, s[:2, :3])),
     [r(3, 4), ints(5, 4, high=3), r(5, 4, seed=1)], ["aten::scatter_add"], idx=IDX)
case("scatter_add_int", lambda m, x, i, s: torch.scatter_add(x, 1, i, s),
     [ints(2, 5), ints(2, 7, high=5), ints(2, 7, seed=1)], ["aten::scatter_add"])
case("scatter_reduce", lambda m, x, s: tuple(torch.scatter_reduce(x, 1, m.idx, s, red, include_self=inc)
                                             for red in ("sum", "prod", "mean", "amax", "amin") for inc in (True, False)),
     [r(2, 4), r(2, 3, seed=1)], ["aten::scatter_reduce"], idx=IDX)
case("scatter_reduce_int_bool",
     lambda m, x, s, b: tuple(torch.scatter_reduce(x, 0, m.i5, s, red, include_self=inc)
                              for red in ("mean", "sum", "amax", "prod") for inc in (True, False))
     + (torch.scatter_reduce(b, 0, m.i3, b.flip(0), "sum"), torch.scatter_reduce(b, 0, m.i3, b, "amin")),
     [T([5, 7, -7]), T([2, 3, 2, 3, -4]), T([True, False, True])], ["aten::scatter_reduce"],
     i5=T([0, 0, 2, 2, 1]), i3=T([1, 1, 0]))
case("index_put_bool_accumulate", lambda m, x: put(x, (m.i,), m.v, True), [T([True, False, False, False])],
     ["aten::index_put"], i=T([1, 1, 2]), v=T(True))

# --- index_copy
case("index_copy", lambda m, x, s: (x.index_copy(1, m.i1, s), torch.index_copy(x, 0, m.i2, s[:1, :1].expand(1, 4))),
     [r(2, 4), r(2, 2, seed=1)], ["aten::index_copy"], i1=T([3, 0]), i2=T([1]))
case("index_copy_dynamic_index", lambda m, x, i, s: x.clone().index_copy_(0, i, s),
     [r(5, 3), torch.randperm(5, generator=torch.Generator().manual_seed(0))[:3], r(3, 3, seed=1)],
     ["aten::index_copy"])

# --- index_put: one/several index tensors, None slots, broadcast values, accumulate with duplicates
case("index_put", lambda m, x, v: (put(x, (m.i1,), v[0]), put(x, (m.neg,), m.three),
                                   put(x, (m.r2, m.c2), v[0, :2])),
     [r(3, 4), r(2, 4, seed=1)], ["aten::index_put"], i1=T([0, 2]), neg=T([-1]), three=T(3.0), r2=T([0, 1]),
     c2=T([2, 0]))
case("index_put_accumulate_duplicates", lambda m, x, v: (put(x, (m.i4,), v, True), put(x, (m.r2, m.c2), v[0, :2], True)),
     [r(3, 4), r(4, 4, seed=1)], ["aten::index_put"], i4=T([0, 2, 0, 0]), r2=T([1, 1]), c2=T([3, 3]))
case("index_put_dynamic_index_acc", lambda m, x, i, v: (put(x, (i,), v, True), _add_cols(m, x, i.clamp(max=3), v)),
     [r(5, 4), ints(4, high=5), r(4, 4, seed=1)], ["aten::index_put"], zeros=T([0, 0]))
case("index_put_int_accumulate", lambda m, x, i: put(x, (i,), m.five, True), [ints(4, 2), ints(6, high=4)],
     ["aten::index_put"], five=T(5))
case("index_put_none_slot", lambda m, x, v: (_set_adjacent(m, x, v), _set_separated(m, x, v[0, :1])),
     [r(2, 3, 4), r(2, 2, seed=1)], ["aten::index_put"], a=T([0, 2]), b=T([1, 1]), c=T([1]))
case("setitem_traced", lambda m, x, v: _setitem(m, x, v), [r(4, 3), r(3, seed=1)], ["aten::index_put"], i=T([1, 3]))
case("index_put_bool_mask_input", lambda m, x: (put(x, (x > 0,), m.zero), put(x, (x[:, 0] > 0,), x[0], True)),
     [r(4, 3)], ["aten::index_put"], zero=T(0.0))
case("index_put_const_bool_mask", lambda m, x, v: put(x, (m.mask,), v), [r(3, 2), r(2, 2, seed=1)],
     ["aten::index_put"], mask=T([True, False, True]))


def _add_cols(m, x, i, v):
    y = x.clone()
    y[:, i] += 1.5  # accumulate=False: traced as index + add + index_put (duplicates: last write)
    y.index_put_((m.zeros, i[:2]), v[0, :2], accumulate=True)
    return y


def _set_adjacent(m, x, v):
    y = x.clone()
    y[:, m.a, m.b] = v
    return y


def _set_separated(m, x, v):
    y = x.clone()
    y[m.c, :, m.a] = v
    return y


def _setitem(m, x, v):
    y = x.clone()
    y[m.i] = v
    y[y < -1] = 7.0
    return y


@pytest.mark.parametrize("module,inputs,ops", CASES)
def test_op(module, inputs, ops):
    run_case(module, inputs, ops)


@pytest.mark.parametrize("precision,rtol", [("fp16", 2e-2), ("bf16", 5e-2)])
def test_reduced_precision(precision, rtol):
    model = Fn(lambda m, x, v: (put(x, (m.i3,), v[:3], True), torch.scatter_reduce(x, 1, m.idx, v[:2, :3], "amax"),
                                torch.scatter(x, 1, m.idx, v[:2, :3], reduce="add"), x.diagonal(1),
                                torch.slice_scatter(x, v[:3], 0, 0, None, 1), x.index_copy(0, m.i2, v[:2])))
    for k, v in (("i3", T([0, 2, 0])), ("idx", IDX), ("i2", T([2, 1]))):
        model.register_buffer(k, v)
    check_module(model, [r(3, 4), r(4, 4, seed=1)], rtol=rtol, atol=1e-2, precision=precision)


def test_dynamic_dims_are_refused_by_name():
    """The scatter family computes its positions at conversion time: a dynamic dim is a named error."""
    model = Fn(lambda m, x: put(x, (m.i,), m.one, True)).eval()
    model.register_buffer("i", T([0, 1]))
    model.register_buffer("one", T(1.0))
    with pytest.raises(trtgraph.errors.DynamicShapeError, match="index_put"):
        trtgraph.convert(model, [r(3, 4)], input_names=["x"], dynamic_shapes={"x": {0: (2, 3, 8)}})
