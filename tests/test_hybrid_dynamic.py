"""Hybrid execution with the user's dynamic shapes (``convert(..., fallback=True, dynamic_shapes=...)``):
every TensorRT segment's profile covers the sizes its inputs take over the ranges, and the hybrid
evaluation matches eager at the corners and inside, with no segment falling back to torch."""
import warnings

import pytest
import torch

import trtgraph
from trtgraph.errors import DynamicShapeError
from trtgraph.registry import lookup

from test_hybrid import Masked  # rows kept by a data-dependent mask: a count that follows the batch and the data


class Strided(torch.nn.Module):
    """A stride-2 convolution, an op without a handler (it runs in torch), then TensorRT again."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2, padding=1), torch.nn.ReLU())
        self.b = torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 1))

    def forward(self, x):
        return self.b(torch.lgamma(self.a(x) + 1.5)).flatten(2).mean(-1)


class Checked(Strided):
    """A Python check of the dynamic batch: the engine would take the example's branch everywhere."""

    def forward(self, x):
        y = super().forward(x)
        return y * 2 if x.shape[0] > 3 else y


class CheckedInside(Strided):
    """A check that only one size inside the range fails: neither trace sees the other branch."""

    def forward(self, x):
        y = super().forward(x)
        return y * 2 if x.shape[0] == 7 else y


def _model(cls):
    torch.manual_seed(0)
    return cls().eval()


def _matches(hc, model, x):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a HybridWarning (a segment outside its profile ran in torch) fails
        report = hc.verify(x)
    assert report.ok, str(report)


def test_segment_profiles_follow_the_ranges_through_a_strided_convolution():
    assert lookup("aten::lgamma") is None, "aten::lgamma has a handler now: pick another op without one"
    m = _model(Strided)
    x = torch.randn(2, 3, 16, 16)
    hc = trtgraph.convert(m, [x], fallback=True, dynamic_shapes={"input_0": {0: (1, 2, 6), 2: (8, 16, 24)}})
    assert len(hc.segments) == 2
    first, second = hc.segments
    assert first.profiles == {"input_0": ((1, 3, 8, 16), (2, 3, 16, 16), (6, 3, 24, 16))}
    (lo, opt, hi), = second.profiles.values()
    # the stride-2 convolution halves the height: 8..24 becomes 4..12, and the batch is 1..6
    assert (lo, opt, hi) == ((1, 8, 4, 8), (2, 8, 8, 8), (6, 8, 12, 8))
    for shape in ((1, 3, 8, 16), (5, 3, 20, 16), (6, 3, 24, 16), (3, 3, 9, 16)):
        _matches(hc, m, torch.randn(*shape))
    assert len(hc.module().engines) == 2  # both engines build with their profiles


@pytest.mark.parametrize("cls", [Checked, CheckedInside])
def test_a_python_check_of_a_dynamic_size_is_refused(cls):
    m = _model(cls)
    with pytest.raises(DynamicShapeError, match="control flow depends on a dynamic dimension|checks a dynamic size"):
        trtgraph.convert(m, [torch.randn(2, 3, 16, 16)], fallback=True, dynamic_shapes={"input_0": {0: (1, 2, 8)}})


def test_a_count_that_follows_the_batch_and_the_data():
    m = _model(Masked)
    x = torch.randn(2, 3, 12, 12)
    hc = trtgraph.convert(m, [x], fallback=True, dynamic_shapes={"input_0": {0: (1, 2, 6)}})
    first, last = hc.segments[0], hc.segments[-1]
    assert first.profiles == {"input_0": ((1, 3, 12, 12), (2, 3, 12, 12), (6, 3, 12, 12))}
    (lo, opt, hi), = last.profiles.values()
    rows_at_max = 6 * 10 * 10  # every row of the largest batch kept
    assert lo[0] == 0 and hi[0] >= rows_at_max and lo[1:] == hi[1:]
    for batch in (1, 4, 6):
        _matches(hc, m, torch.randn(batch, 3, 12, 12) * 3)


def strided_model():
    return _model(Strided)


def test_cli_check_with_fallback_verifies_the_profile_corners(capsys):
    from trtgraph.cli import main

    assert main(["check", "test_hybrid_dynamic:strided_model", "--input", "2x3x16x16", "--fallback",
                 "--dynamic", "0=1,2,6;2=8,16,24", "--quiet"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.strip().startswith(("min ", "opt ", "max "))]
    assert len(rows) == 3 and all(line.rstrip().endswith("OK") for line in rows), out
    assert "input_0 (1, 3, 8, 16)" in rows[0] and "input_0 (6, 3, 24, 16)" in rows[2], out


class Baked(Strided):
    """A size read into a Python int: the trace keeps the example's value, in torch as in TensorRT."""

    def forward(self, x):
        y = super().forward(x)
        return y.reshape(int(x.shape[0]), -1) * 2


@pytest.mark.parametrize("exports", [True, False])
def test_a_size_baked_into_a_constant_is_refused_not_sent_to_torch(exports, monkeypatch):
    """torch.export refuses the int() (a specialized size); a model that does not export gets its
    corners traced instead, and the constant the two traces disagree on must still be refused: run
    in torch, it would keep the example's value at every size."""
    from trtgraph import core

    if not exports:
        monkeypatch.setattr(core, "_export_holds_over", lambda *args: False)
    m = _model(Baked)
    with pytest.raises(DynamicShapeError, match="specialized|baked in from a dynamic input size"):
        trtgraph.convert(m, [torch.randn(2, 3, 16, 16)], fallback=True, dynamic_shapes={"input_0": {0: (1, 2, 6)}})
