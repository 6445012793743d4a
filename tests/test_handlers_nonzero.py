"""``nonzero`` (trtgraph/handlers/nonzero.py) and the ``&``, ``|``, ``^`` operators
(``aten::__and__/__or__/__xor__`` in trtgraph/handlers/elementwise.py) on integer and bool tensors.

nonzero: standard TensorRT builds the NonZero layer; TensorRT-RTX 1.7.1 adds it but its builder
fails, so on RTX the op is refused up front. The handler itself is checked on either TensorRT by
converting with the refusal lifted and evaluating the network with the reference evaluator.
"""
from __future__ import annotations

import pytest
import torch

import trtgraph
from conftest import check_module
from test_handlers import Fn
from trtgraph import backend
from trtgraph.errors import BuildError, UnsupportedOpsError
from trtgraph.handlers import nonzero as nonzero_module
from trtgraph.registry import _normalize


def _ints(*shape, low=-50, high=50, seed=0, dtype=torch.int64):
    return torch.randint(low, high, shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _sparse(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g)
    return torch.where(torch.rand(shape, generator=g) < 0.4, torch.zeros(()), x)


NONZERO = Fn(lambda m, x, i: (torch.nonzero(x), (x > 0.5).nonzero(), i.nonzero(), torch.nonzero(x[0])))
NONZERO_INPUTS = [_sparse(3, 4, 5), _ints(6, 2, low=-1, high=2, dtype=torch.int32)]


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


CASES = []  # (module, inputs, ops): also read by test_handlers.test_every_handler_has_a_case


def case(name, fn, inputs, ops):
    CASES.append(pytest.param(Fn(fn), inputs, ops, id=name))


def _limits(dtype, seed):
    x = _ints(3, 4, low=-2 ** 30, high=2 ** 30, seed=seed, dtype=dtype)
    x[0, :3] = torch.tensor([torch.iinfo(dtype).max, torch.iinfo(dtype).min, -1] if seed == 0 else
                            [-1, torch.iinfo(dtype).max, torch.iinfo(dtype).min])
    return x


def _inplace(a, b):
    a = a.clone()
    a &= b
    a |= b.flip(-1)
    a ^= b
    return a


for _dt in (torch.int32, torch.int64):
    case(f"and_or_xor_{str(_dt)[6:]}", lambda m, a, b: (a & b, a | b, a ^ b, a & 6, b | -3, a ^ b[0]),
         [_limits(_dt, 0), _limits(_dt, 1)], ["aten::__and__", "aten::__or__", "aten::__xor__"])
    case(f"and_or_xor_inplace_{str(_dt)[6:]}", lambda m, a, b: _inplace(a, b), [_limits(_dt, 0), _limits(_dt, 1)],
         ["aten::__iand__", "aten::__ior__", "aten::__ixor__"])
case("and_or_xor_bool", lambda m, x, y: ((x > 0) & (y > 0), (x > 0) | (y < 0), (x > 0) ^ (y > 0), _inplace(x > 0, y > 0)),
     [torch.randn(4, 5, generator=torch.Generator().manual_seed(0)),
      torch.randn(5, generator=torch.Generator().manual_seed(1))],
     ["aten::__and__", "aten::__or__", "aten::__xor__", "aten::__iand__", "aten::__ior__", "aten::__ixor__"])
case("nonzero_float_bool_int", NONZERO.fn, NONZERO_INPUTS, ["aten::nonzero"])
case("nonzero_as_tuple", lambda m, x, i: (*torch.nonzero(x, as_tuple=True), *(i != 0).nonzero(as_tuple=True)),
     NONZERO_INPUTS, ["aten::nonzero_numpy"])


@pytest.mark.parametrize("module,inputs,ops", CASES)
def test_op(module, inputs, ops, monkeypatch):
    """Exact against eager (integer and bool outputs are compared with torch.equal)."""
    if "aten::nonzero" in ops or "aten::nonzero_numpy" in ops:
        monkeypatch.setattr(nonzero_module, "rtx_cannot_build", lambda: False)
        # TensorRT-RTX cannot build it (see above); the torch debug network has no NonZero layer
        conv = check_module(module, inputs, build=not backend.is_rtx(), debug=False)
    else:
        conv = check_module(module, inputs)
    used = {_normalize(rec.kind) for rec in conv.graph.nodes}
    for op in ops:
        assert op in used, f"the case is meant to cover {op}, but the graph converted {sorted(used)}"
