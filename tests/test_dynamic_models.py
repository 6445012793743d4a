"""Issue 5's dynamic-shape models: ResNet with a dynamic batch, BERT with a dynamic batch and
sequence length; engine built with the optimization profile, reference evaluation vs eager at
three shapes (min, an odd size inside, max). The default run takes ResNet-18 at 64x64 and a
2-layer BERT; ``-m slow`` (or ``python scripts/dynamic.py``) runs ResNet-50 and BERT-base."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import dynamic as dyn  # noqa: E402

TOLERANCE = 1e-4


def _run(c):
    row = dyn.run_case(c)
    assert all(d == -1 for name in c["dynamic"] for d in
               [row["network_inputs"][name][a] for a in c["dynamic"][name]]), row["network_inputs"]
    assert len(row["shapes"]) == 3
    for s in row["shapes"]:
        assert s["max_rel"] < TOLERANCE, f"{row['model']} at {s['inputs']}: max rel error {s['max_rel']:.3g}"


@pytest.mark.parametrize("c", list(dyn.cases(quick=True)), ids=lambda c: c["name"])
def test_dynamic_model_quick(c):
    _run(c)


@pytest.mark.slow
@pytest.mark.parametrize("c", list(dyn.cases(quick=False)), ids=lambda c: c["name"])
def test_dynamic_model_full(c):
    _run(c)


TEXT_MODELS = ["bert", "distilbert", "roberta", "gpt2", "t5_encoder", "llama"]


@pytest.mark.parametrize("name", TEXT_MODELS)
def test_tiny_transformer_dynamic_batch_and_sequence(name):
    import torch

    import zoo_models

    zm = [m for m in zoo_models.transformers_models("tiny") if m.name == name][0]
    model, _ = zm.build()
    g = torch.Generator().manual_seed(0)
    _run(dict(name=name, model=model, example=[torch.randint(0, 1000, (2, 16), generator=g)], names=["ids"],
              dynamic={"ids": {0: (1, 4, 8), 1: (8, 16, 32)}}, shapes=[[(1, 8)], [(3, 21)], [(8, 32)]]))
