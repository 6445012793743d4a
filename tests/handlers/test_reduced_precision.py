"""Networks that mix several handler families, built in fp16 and bf16: the layers compute in the
reduced dtype while inputs and outputs stay float32, and the results stay close to eager torch.
(Each family module has its own reduced-precision test where its handlers need one.)"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import check_module
from torch import nn

import trtgraph.dtypes as dt

from .cases import ints, r


@pytest.mark.parametrize("precision,rtol", [("fp16", 2e-2), ("bf16", 5e-2)])
def test_reduced_precision_small_cnn(precision, rtol):
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(8 * 4 * 4, 10))
    conv = check_module(model.eval(), [r(2, 3, 8, 8)], rtol=rtol, atol=1e-3, precision=precision, debug=False)
    # inputs and outputs stay float32 while the layers compute in the reduced dtype
    assert conv.network.get_input(0).dtype == dt.to_trt(torch.float32)
    assert conv.network.get_output(0).dtype == dt.to_trt(torch.float32)
    want = dt.to_trt(dt.PRECISIONS[precision])
    kinds = [conv.network.get_layer(i) for i in range(conv.network.num_layers)]
    assert any(layer.get_output(0).dtype == want for layer in kinds)


class _MixedOps(nn.Module):
    """The model zoo's ops: embedding, multi-head attention, resize, normalize, var, topk, cumsum, pad."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(20, 16)
        self.mha = nn.MultiheadAttention(16, 2, batch_first=True)

    def forward(self, x, ids, y):
        h = self.emb(ids) + x
        h = self.mha(h, h, h, need_weights=False)[0]
        img = F.interpolate(h.reshape(1, 2, 4, 16), scale_factor=1.5, mode="bilinear")
        big = y * 60.0  # sums of squares (2e5) overflow fp16, the norm and var do not: they reduce in fp32
        return (img, F.normalize(big, dim=-1), big.var(-1), torch.topk(h, 3)[0], torch.cumsum(h, 1),
                F.pad(h, (1, 1), mode="reflect"))


@pytest.mark.parametrize("precision,rtol", [("fp16", 2e-2), ("bf16", 5e-2)])
def test_reduced_precision_zoo_ops(precision, rtol):
    x, ids, y = r(2, 4, 16), ints(2, 4, high=20), r(2, 64, seed=1)
    check_module(_MixedOps().eval(), [x, ids, y], rtol=rtol, atol=1e-2, precision=precision, debug=False)
