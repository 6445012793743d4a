"""Model zoo (issue: model coverage). The default run takes a representative subset; the whole
zoo is marked slow (``pytest -m slow``) and ``scripts/zoo.py`` writes docs/models.md from it."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

import trtgraph

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from zoo_models import all_models, transformers_models  # noqa: E402

SUBSET = {
    "shufflenet_v2_x0_5", "mnasnet0_5", "efficientnet_b0", "regnet_x_400mf", "mobilenet_v3_small",
    "swin_t", "vit_b_16", "lraspp_mobilenet_v3_large", "fasterrcnn_resnet50_fpn.backbone",
}
TOLERANCE = 1e-3


def _check(zm):
    model, inputs = zm.build()
    conv = trtgraph.convert(model, inputs, **zm.options)
    assert len(conv.build()) > 0
    report = conv.verify(*inputs)
    assert report.max_rel < TOLERANCE, str(report)
    conv16 = trtgraph.convert(model, inputs, precision="fp16", **zm.options)
    assert len(conv16.build()) > 0
    return report


@pytest.mark.parametrize("zm", [m for m in all_models("tiny") if m.name in SUBSET], ids=lambda m: m.name)
def test_zoo_subset(zm):
    _check(zm)


@pytest.mark.parametrize("zm", transformers_models("tiny"), ids=lambda m: m.name)
def test_transformer_tiny(zm):
    _check(zm)


@pytest.mark.slow
@pytest.mark.parametrize("zm", [m for m in all_models("base") if m.name not in SUBSET], ids=lambda m: m.name)
def test_zoo_full(zm):
    _check(zm)
