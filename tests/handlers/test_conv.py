"""trtgraph/handlers/conv.py: _convolution (1d/2d/3d, transposed, groups, dilation), the
conv1d/2d/3d names of scripted graphs. Checks: ``cases.run_case``."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from .cases import Fn, case_table, r, run_case

CASES, case = case_table()

case("conv2d", nn.Conv2d(3, 8, 3, stride=2, padding=1), [r(2, 3, 17, 19)], ["aten::_convolution"])
case("conv2d_dil_groups_nobias", nn.Conv2d(4, 8, 3, padding=2, dilation=2, groups=2, bias=False), [r(1, 4, 12, 12)],
     ["aten::_convolution"])
case("conv1d", nn.Conv1d(3, 5, 4, stride=2, padding=1), [r(2, 3, 20)], ["aten::_convolution"])
case("conv3d", nn.Conv3d(2, 4, 3, padding=(1, 0, 1)), [r(1, 2, 6, 7, 8)], ["aten::_convolution"])
case("conv_transpose2d", nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1), [r(1, 4, 7, 9)],
     ["aten::_convolution"])
case("conv_transpose2d_groups", nn.ConvTranspose2d(4, 6, 2, stride=2, groups=2), [r(1, 4, 5, 5)], ["aten::_convolution"])
case("conv_transpose1d", nn.ConvTranspose1d(3, 2, 3, stride=1, padding=1), [r(2, 3, 9)], ["aten::_convolution"])


class _ScriptedConvs(nn.Module):
    """Scripted (not traced) graphs call aten::conv1d/2d/3d instead of aten::_convolution."""

    def __init__(self):
        super().__init__()
        self.w1, self.w2, self.w3 = r(4, 3, 3), r(4, 3, 3, 3), r(2, 3, 1, 3, 3)

    def forward(self, x1, x2, x3):
        return (F.conv1d(x1, self.w1, None, 1, 1), F.conv2d(x2, self.w2, None, 2, 1),
                F.conv3d(x3, self.w3, None, 1, 0))


case("scripted_convNd", torch.jit.script(_ScriptedConvs()), [r(1, 3, 8), r(1, 3, 8, 8), r(1, 3, 4, 5, 5)],
     ["aten::conv1d", "aten::conv2d", "aten::conv3d"])

# --- regressions (issue 11): argument combinations that failed before
case("conv2d_one_element_lists", Fn(lambda m, x: F.conv2d(x, m.w, None, [2], [1], [2]), w=r(4, 3, 3, 3, seed=3)),
     [r(1, 3, 11, 10)], ["aten::_convolution"])
case("conv3d_one_element_lists", Fn(lambda m, x: F.conv3d(x, m.w, None, [2], [1], [1]), w=r(2, 3, 3, 3, 3, seed=4)),
     [r(1, 3, 6, 7, 5)], ["aten::_convolution"])
case("conv_transpose_output_padding_over_padding",
     nn.ConvTranspose2d(2, 3, 3, stride=2, padding=(0, 1), output_padding=1), [r(1, 2, 4, 5)], ["aten::_convolution"])
case("conv_transpose1d_output_padding_over_padding", nn.ConvTranspose1d(2, 3, 1, stride=2, output_padding=1),
     [r(1, 2, 6)], ["aten::_convolution"])


@pytest.mark.parametrize("module,inputs,ops", CASES)
def test_op(module, inputs, ops):
    run_case(module, inputs, ops)
