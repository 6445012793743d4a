"""trtgraph/handlers/nonzero.py: nonzero and nonzero_numpy (``as_tuple=True``) on float, bool and
int tensors.

Standard TensorRT builds the NonZero layer; TensorRT-RTX 1.7.1 adds it but its builder fails, so
on RTX the op is refused up front. The handler itself is checked on either TensorRT by converting
with the refusal lifted and evaluating the network with the reference evaluator.
"""
from __future__ import annotations

import pytest
import torch
from conftest import check_module

import trtgraph
from trtgraph import backend
from trtgraph.errors import BuildError, UnsupportedOpsError
from trtgraph.handlers import nonzero as nonzero_module

from .cases import Fn, case_table, ints, run_case


def _sparse(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g)
    return torch.where(torch.rand(shape, generator=g) < 0.4, torch.zeros(()), x)


NONZERO = Fn(lambda m, x, i: (torch.nonzero(x), (x > 0.5).nonzero(), i.nonzero(), torch.nonzero(x[0])))
NONZERO_INPUTS = [_sparse(3, 4, 5), ints(6, 2, low=-1, high=2, dtype=torch.int32)]


def test_nonzero_refused_on_rtx_or_built_on_tensorrt():
    if backend.is_rtx():
        with pytest.raises(UnsupportedOpsError) as info:
            trtgraph.convert(NONZERO.eval(), NONZERO_INPUTS)
        msg = str(info.value)
        assert "aten::nonzero" in msg and "TensorRT-RTX" in msg and "NonZero" in msg
    else:
        # standard TensorRT: built and compared with eager (the torch debug network has no NonZero)
        check_module(NONZERO, NONZERO_INPUTS, debug=False)


def test_nonzero_network_matches_eager(monkeypatch):
    """The NonZero network the handler builds (refusal lifted), evaluated by the reference
    evaluator: same indices, order, shape and int64 dtype as torch. The second inputs move the
    non-zeros around (flipped along the last axis) but keep their count: core pins the data-dependent count to the
    traced one (a reshape after the layer), so other counts cannot be evaluated yet."""
    monkeypatch.setattr(nonzero_module, "rtx_cannot_build", lambda: False)
    model = NONZERO.eval()
    conv = trtgraph.convert(model, NONZERO_INPUTS)
    kinds = {str(conv.graph.network.get_layer(i).type) for i in range(conv.graph.network.num_layers)}
    assert any("NON_ZERO" in k for k in kinds), kinds
    for inputs in (NONZERO_INPUTS, [t.flip(-1).contiguous() for t in NONZERO_INPUTS]):
        got, want = conv.evaluate(*inputs), model(*inputs)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.dtype == torch.int64 and torch.equal(g, w), (g, w)
    if backend.is_rtx():  # the reason for the refusal: still true of this TensorRT-RTX
        with pytest.raises(BuildError):
            conv.build()
    else:
        assert len(conv.build()) > 0


CASES, case = case_table()
case("nonzero_float_bool_int", NONZERO.fn, NONZERO_INPUTS, ["aten::nonzero"])
case("nonzero_as_tuple", lambda m, x, i: (*torch.nonzero(x, as_tuple=True), *(i != 0).nonzero(as_tuple=True)),
     NONZERO_INPUTS, ["aten::nonzero_numpy"])


@pytest.mark.parametrize("module,inputs,ops", CASES)
def test_op(module, inputs, ops, monkeypatch):
    """Exact against eager (integer outputs are compared with torch.equal)."""
    monkeypatch.setattr(nonzero_module, "rtx_cannot_build", lambda: False)
    # TensorRT-RTX cannot build it (see above); the torch debug network has no NonZero layer
    run_case(module, inputs, ops, build=not backend.is_rtx(), debug=False)
