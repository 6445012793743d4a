"""trtgraph/handlers/resize.py: upsample nearest / nearest-exact / linear / bilinear / bicubic /
trilinear, torch's coordinate mappings (nearest floor, nearest-exact, half pixel, align corners),
sizes and scale factors, explicit aten calls. Checks: ``cases.run_case``."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from .cases import Fn, case_table, r, run_case

CASES, case = case_table()
aten = torch.ops.aten

# --- resize: torch's coordinate mappings (nearest floor, nearest-exact, half pixel, align corners)
NEAR, NEAR_X = "aten::upsample_nearest2d", "aten::_upsample_nearest_exact2d"
BIL, BIC = "aten::upsample_bilinear2d", "aten::upsample_bicubic2d"
case("nearest2d_size", Fn(lambda m, x: F.interpolate(x, size=(7, 9))), [r(1, 2, 4, 5)], [NEAR])
case("nearest2d_scale2", Fn(lambda m, x: F.interpolate(x, scale_factor=2)), [r(1, 3, 4, 5)], [NEAR])
case("nearest2d_scale_fraction", Fn(lambda m, x: F.interpolate(x, scale_factor=(2.5, 1.7))), [r(1, 2, 5, 3)], [NEAR])
case("nearest2d_down", Fn(lambda m, x: F.interpolate(x, size=(3, 4))), [r(2, 2, 7, 9)], [NEAR])
case("nearest2d_plain_scales", Fn(lambda m, x: aten.upsample_nearest2d(x, [12, 12], 2.5, None)), [r(1, 2, 5, 5)], [NEAR])
case("nearest1d", Fn(lambda m, x: F.interpolate(x, scale_factor=3)), [r(2, 3, 5)], ["aten::upsample_nearest1d"])
case("nearest3d", Fn(lambda m, x: F.interpolate(x, size=(3, 5, 4))), [r(1, 2, 2, 3, 4)], ["aten::upsample_nearest3d"])
case("nearest_exact2d", Fn(lambda m, x: F.interpolate(x, size=(7, 3), mode="nearest-exact")), [r(1, 2, 4, 5)], [NEAR_X])
case("nearest_exact1d_3d", Fn(lambda m, x, y: (F.interpolate(x, scale_factor=1.5, mode="nearest-exact"),
                                               F.interpolate(y, size=(3, 3, 5), mode="nearest-exact"))),
     [r(1, 2, 5), r(1, 1, 2, 2, 3)], ["aten::_upsample_nearest_exact1d", "aten::_upsample_nearest_exact3d"])
case("bilinear_size", Fn(lambda m, x: F.interpolate(x, size=(7, 11), mode="bilinear")), [r(1, 3, 4, 5)], [BIL])
case("bilinear_align", Fn(lambda m, x: F.interpolate(x, size=(7, 11), mode="bilinear", align_corners=True)),
     [r(1, 3, 4, 5)], [BIL])
case("bilinear_scale_fraction", Fn(lambda m, x: F.interpolate(x, scale_factor=1.7, mode="bilinear")),
     [r(1, 2, 5, 6)], [BIL])
case("bilinear_down_align_1px", Fn(lambda m, x: F.interpolate(x, size=(3, 1), mode="bilinear", align_corners=True)
                                  + F.interpolate(x, size=(3, 1), mode="bilinear")), [r(1, 2, 8, 9)], [BIL])
case("bilinear_upsample_module", nn.Upsample(scale_factor=2, mode="bilinear"), [r(2, 3, 6, 4)], [BIL])
case("bilinear_channels_last", nn.Upsample(size=(5, 7), mode="bilinear"),
     [r(1, 3, 4, 6).to(memory_format=torch.channels_last)], [BIL])
case("bilinear_plain", Fn(lambda m, x: aten.upsample_bilinear2d(x, [6, 9], False, None, None)
                          + aten.upsample_bilinear2d(x, [6, 9], True, 1.5, 1.8)), [r(1, 2, 4, 5)], [BIL])
case("bicubic", Fn(lambda m, x: F.interpolate(x, size=(9, 7), mode="bicubic")), [r(1, 2, 5, 4)], [BIC])
case("bicubic_align", Fn(lambda m, x: F.interpolate(x, scale_factor=(1.6, 2.0), mode="bicubic", align_corners=True)),
     [r(1, 2, 5, 4)], [BIC])
case("bicubic_down", Fn(lambda m, x: F.interpolate(x, scale_factor=0.6, mode="bicubic")), [r(1, 2, 9, 8)], [BIC])
case("linear1d", Fn(lambda m, x: F.interpolate(x, size=11, mode="linear")
                   + F.interpolate(x, size=11, mode="linear", align_corners=True)), [r(2, 3, 5)],
     ["aten::upsample_linear1d"])
case("linear1d_scale", Fn(lambda m, x: F.interpolate(x, scale_factor=2.3, mode="linear")), [r(1, 2, 5)],
     ["aten::upsample_linear1d"])
case("trilinear", Fn(lambda m, x: F.interpolate(x, size=(3, 5, 6), mode="trilinear")
                    + F.interpolate(x, size=(3, 5, 6), mode="trilinear", align_corners=True)), [r(1, 2, 2, 3, 4)],
     ["aten::upsample_trilinear3d"])


@pytest.mark.parametrize("module,inputs,ops", CASES)
def test_op(module, inputs, ops):
    run_case(module, inputs, ops)
