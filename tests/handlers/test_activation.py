"""trtgraph/handlers/activation.py: relu, sigmoid, tanh, hardtanh/relu6, leaky_relu, elu, selu,
softplus, gelu, silu, mish, hardsigmoid, hardswish, prelu (float and integer inputs). Checks:
``cases.run_case``."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from .cases import I32, POS, Fn, case_table, r, run_case

CASES, case = case_table()

for _name, _mod, _op in [
    ("relu", nn.ReLU(), "aten::relu"), ("relu_inplace", nn.ReLU(inplace=True), "aten::relu"),
    ("sigmoid", nn.Sigmoid(), "aten::sigmoid"), ("tanh", nn.Tanh(), "aten::tanh"),
    ("relu6", nn.ReLU6(), "aten::hardtanh"), ("hardtanh", nn.Hardtanh(-0.5, 0.7), "aten::hardtanh"),
    ("leaky_relu", nn.LeakyReLU(0.2), "aten::leaky_relu"), ("elu", nn.ELU(0.7), "aten::elu"),
    ("selu", nn.SELU(), "aten::selu"), ("softplus", nn.Softplus(beta=2.0, threshold=1.0), "aten::softplus"),
    ("gelu", nn.GELU(), "aten::gelu"), ("gelu_tanh", nn.GELU("tanh"), "aten::gelu"),
    ("silu", nn.SiLU(), "aten::silu"), ("mish", nn.Mish(), "aten::mish"),
    ("hardsigmoid", nn.Hardsigmoid(), "aten::hardsigmoid"), ("hardswish", nn.Hardswish(), "aten::hardswish"),
    ("prelu", nn.PReLU(3, 0.3), "aten::prelu"),
    ("F.relu6", Fn(lambda m, x: F.relu6(x)), "aten::relu6"),
]:
    case(_name, _mod, [r(2, 3, 5, 4) * 3], [_op])

# --- regressions (issue 11): elu ignored that input_scale scales only the exponent of the negative
# branch (silently wrong); integer inputs failed
case("elu_input_scale", Fn(lambda m, x: torch.ops.aten.elu(x, 0.7, 1.3, 2.0)), [r(2, 3, 5) * 2], ["aten::elu"])
for _op in ("sigmoid", "tanh"):
    case(f"{_op}_of_int", Fn(lambda m, x, y, op=_op: getattr(torch, op)(x) + getattr(torch, op)(y).double()),
         [POS, POS.long() * 2], [f"aten::{_op}"])
case("relu_int", Fn(lambda m, x: torch.relu(x)), [I32], ["aten::relu"])


@pytest.mark.parametrize("module,inputs,ops", CASES)
def test_op(module, inputs, ops):
    run_case(module, inputs, ops)
