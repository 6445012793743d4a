"""trtgraph/handlers/pooling.py: max/avg pooling (1d/2d/3d, ceil mode, padding) and adaptive
average pooling (dividing, non-dividing, larger output than input). Checks: ``cases.run_case``."""
from __future__ import annotations

import pytest
from torch import nn

from .cases import case_table, r, run_case

CASES, case = case_table()

case("max_pool2d", nn.MaxPool2d(3, 2, 1), [r(1, 3, 15, 15)], ["aten::max_pool2d"])
case("max_pool2d_ceil", nn.MaxPool2d(2, 2, ceil_mode=True), [r(1, 3, 15, 14)], ["aten::max_pool2d"])
case("max_pool2d_ceil_pad", nn.MaxPool2d(2, 2, padding=1, ceil_mode=True), [r(1, 2, 5, 5)], ["aten::max_pool2d"])
case("max_pool1d", nn.MaxPool1d(3, 2), [r(2, 3, 11)], ["aten::max_pool1d"])
case("max_pool3d", nn.MaxPool3d(2), [r(1, 2, 4, 6, 6)], ["aten::max_pool3d"])
case("avg_pool2d_pad", nn.AvgPool2d(3, 2, 1), [r(1, 3, 10, 10)], ["aten::avg_pool2d"])
case("avg_pool2d_pad_exclude", nn.AvgPool2d(3, 2, 1, count_include_pad=False), [r(1, 3, 10, 10)], ["aten::avg_pool2d"])
case("avg_pool2d_ceil", nn.AvgPool2d(2, 2, ceil_mode=True), [r(1, 3, 7, 9)], ["aten::avg_pool2d"])
case("avg_pool1d", nn.AvgPool1d(2), [r(1, 3, 8)], ["aten::avg_pool1d"])
case("avg_pool3d", nn.AvgPool3d(2), [r(1, 2, 4, 4, 4)], ["aten::avg_pool3d"])
case("adaptive_avg_pool2d_1", nn.AdaptiveAvgPool2d(1), [r(2, 4, 7, 7)], ["aten::adaptive_avg_pool2d"])
case("adaptive_avg_pool2d_div", nn.AdaptiveAvgPool2d((2, 3)), [r(1, 4, 8, 9)], ["aten::adaptive_avg_pool2d"])
case("adaptive_avg_pool2d_nondiv", nn.AdaptiveAvgPool2d((3, 4)), [r(1, 2, 7, 10)], ["aten::adaptive_avg_pool2d"])
case("adaptive_avg_pool1d", nn.AdaptiveAvgPool1d(3), [r(1, 2, 7)], ["aten::adaptive_avg_pool1d"])
case("adaptive_avg_pool3d", nn.AdaptiveAvgPool3d(1), [r(1, 2, 4, 4, 4)], ["aten::adaptive_avg_pool3d"])
# regressions (issue 11): argument combinations that failed before
case("adaptive_avg_pool2d_up_3x3_6x4", nn.AdaptiveAvgPool2d((6, 4)), [r(1, 2, 3, 3)], ["aten::adaptive_avg_pool2d"])
case("adaptive_avg_pool2d_2x8_5x2", nn.AdaptiveAvgPool2d((5, 2)), [r(2, 3, 2, 8)], ["aten::adaptive_avg_pool2d"])
case("adaptive_avg_pool1d_up", nn.AdaptiveAvgPool1d(7), [r(1, 2, 3)], ["aten::adaptive_avg_pool1d"])
case("adaptive_avg_pool3d_mixed", nn.AdaptiveAvgPool3d((3, 5, 2)), [r(1, 2, 2, 3, 4)], ["aten::adaptive_avg_pool3d"])


@pytest.mark.parametrize("module,inputs,ops", CASES)
def test_op(module, inputs, ops):
    run_case(module, inputs, ops)
