"""trtgraph/handlers/misc.py: in-place writes through views (copy_, fill_, zero_), dropout (the
identity in eval mode; refused in training mode), to/type_as casts, detach, clone, alias.
Checks: ``cases.run_case``."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from .cases import Fn, assert_refused, case_table, r, run_case

CASES, case = case_table()


# --- in-place writes: slice assignment traces to a view op + copy_/fill_, written back into the base
def _slice_assign(m, x):
    y = x * 2
    y[:, 0] = x[:, 1]          # select + copy_
    y[:, 2:4] = 0.5            # slice + fill_
    y[1, ::2] = -1.0           # strided slice: scatter
    z = y.view(4, 3)
    z[0].zero_()               # through a reshape view
    z.narrow(1, 1, 1).mul_(3)  # in-place arithmetic on a view
    mask = x.new_zeros(x.shape)  # depends on x only through its shape: folded to a constant
    mask[:, 1:] = x[:, :5]     # an input-dependent write into a constant
    return y + mask, z.relu_()


case("slice_assignment", Fn(_slice_assign), [r(2, 6)], ["aten::copy", "aten::fill", "aten::zero", "aten::narrow",
                                                          "aten::mul", "aten::new_zeros"])

# --- dropout (identity), casts, aliases
case("dropout_identity", nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.Dropout(0.3, inplace=True),
                                       nn.Dropout2d(0.1), nn.AlphaDropout(0.2),
                                       nn.FeatureAlphaDropout(0.2)), [r(2, 4)],
     ["aten::dropout", "aten::feature_dropout", "aten::alpha_dropout", "aten::feature_alpha_dropout"])
case("to_type_as", Fn(lambda m, x: (x > 0).to(x.dtype) + (x > 0.5).type_as(x) + x.detach().clone()), [r(3, 4)],
     ["aten::to", "aten::type_as", "aten::detach", "aten::clone"])
case("alias", Fn(lambda m, x: torch.ops.aten.alias(x * 2) + 1), [r(3, 4)], ["aten::alias"])


@pytest.mark.parametrize("module,inputs,ops", CASES)
def test_op(module, inputs, ops):
    run_case(module, inputs, ops)


def test_dropout_in_training_is_refused():
    """dropout with train=True is random: the walker's random-op check refuses it, naming train."""
    assert_refused(Fn(lambda m, x: F.dropout(x, 0.5, training=True)), [r(2, 8)], "train=True")
