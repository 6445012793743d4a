"""trtgraph/handlers/norm.py: batch_norm (running and batch statistics, statistics and affine
parameters that are network tensors), layer_norm, group_norm, instance_norm (with running
statistics). Checks: ``cases.run_case``."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import trtgraph

from .cases import Fn, case_table, r, run_case

CASES, case = case_table()


def _running_stats(m, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g))
        m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) * 1.5 + 0.25)
        if m.weight is not None:
            m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            m.bias.copy_(torch.randn(m.bias.shape, generator=g))
    return m


case("batch_norm2d", nn.BatchNorm2d(3), [r(2, 3, 5, 5)], ["aten::batch_norm"])
case("batch_norm1d", nn.BatchNorm1d(4), [r(3, 4)], ["aten::batch_norm"])
case("layer_norm", nn.LayerNorm(8), [r(2, 5, 8)], ["aten::layer_norm"])
case("layer_norm_2d", nn.LayerNorm([4, 6]), [r(2, 4, 6)], ["aten::layer_norm"])
case("group_norm", nn.GroupNorm(2, 6), [r(2, 6, 4, 5)], ["aten::group_norm"])
case("instance_norm", nn.InstanceNorm2d(3, affine=True), [r(2, 3, 5, 6)], ["aten::instance_norm"])

# --- regressions (issue 11). Silently wrong before: instance_norm ignored running_mean/running_var/use_input_stats
case("instance_norm2d_running_stats", _running_stats(nn.InstanceNorm2d(10, track_running_stats=True)),
     [r(1, 10, 3, 3)], ["aten::instance_norm"])
case("instance_norm1d_running_stats_affine", _running_stats(nn.InstanceNorm1d(4, affine=True,
                                                                              track_running_stats=True), 1),
     [r(2, 4, 7)], ["aten::instance_norm"])
case("instance_norm_fresh_running_stats", nn.InstanceNorm2d(3, track_running_stats=True), [r(2, 3, 4, 5) * 3 + 1],
     ["aten::instance_norm"])
# failed before: statistics and affine parameters that are network tensors, batch statistics
case("batch_norm_network_stats",
     Fn(lambda m, x, mean, var, w, b: F.batch_norm(x, mean, var.abs() + 0.1, w, b, False, 0.1, 1e-3)),
     [r(2, 3, 4, 4), r(3, seed=1), r(3, seed=2), r(3, seed=3), r(3, seed=4)], ["aten::batch_norm"])
case("batch_norm_network_weight_only",
     Fn(lambda m, x, w: F.batch_norm(x, m.mean, m.var, w * 2, None, False, 0.1, 1e-5),
        mean=r(4, seed=5), var=torch.rand(4) + 0.5), [r(3, 4), r(4, seed=6)], ["aten::batch_norm"])
case("layer_norm_network_affine", Fn(lambda m, x, w, b: F.layer_norm(x, (2, 5), w * 2, b)),
     [r(3, 2, 5), r(2, 5, seed=1), r(2, 5, seed=2)], ["aten::layer_norm"])
case("group_norm_network_affine", Fn(lambda m, x, w, b: F.group_norm(x, 2, w + 1, b)),
     [r(2, 4, 3, 3), r(4, seed=1), r(4, seed=2)], ["aten::group_norm"])
case("batch_norm_batch_statistics", nn.BatchNorm2d(3, track_running_stats=False), [r(4, 3, 5, 5) * 2 + 1],
     ["aten::batch_norm"])


@pytest.mark.parametrize("module,inputs,ops", CASES)
def test_op(module, inputs, ops):
    run_case(module, inputs, ops)


def test_instance_norm_running_stats_verify():
    """The issue's example through Conversion.verify (it gave max abs error 1.1 before)."""
    m = _running_stats(nn.InstanceNorm2d(10, track_running_stats=True)).eval()
    x = r(1, 10, 3, 3)
    conv = trtgraph.convert(m, [x])
    report = conv.verify(x)
    assert all(o.max_rel < 1e-4 or o.max_abs < 1e-5 for o in report.outputs), report
