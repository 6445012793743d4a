"""A conversion leaves the objects that existed before it out of full garbage collections, and
puts them back after; a process that froze objects itself keeps its freeze."""
from __future__ import annotations

import gc

import pytest
import torch

import trtgraph


class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):
        return torch.relu(self.fc(x))


@pytest.mark.parametrize("frontend", ["torchscript", "export"])
def test_objects_are_frozen_during_a_conversion_and_put_back_after(frontend):
    assert gc.get_freeze_count() == 0
    seen = []
    trtgraph.convert(Small().eval(), [torch.randn(2, 4)], frontend=frontend,
                     progress=lambda done, total: seen.append(gc.get_freeze_count()))
    assert seen and min(seen) > 0  # frozen while the walker ran
    assert gc.get_freeze_count() == 0


def test_a_freeze_of_the_process_is_kept():
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        assert before > 0
        trtgraph.convert(Small().eval(), [torch.randn(2, 4)])
        assert gc.get_freeze_count() > 0  # not unfrozen by the conversion (some frozen objects may have been freed)
    finally:
        gc.unfreeze()


def test_an_error_puts_the_objects_back():
    with pytest.raises(trtgraph.TrtGraphError):
        trtgraph.convert(Small().eval(), [torch.randn(2, 5)])
    assert gc.get_freeze_count() == 0
