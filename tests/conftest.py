"""Shared checks: every case goes through eager torch, the torch debug mode, the real TensorRT
network (built and serialized) and the reference evaluation of that network."""
from __future__ import annotations

import torch
import pytest

import trtgraph
from trtgraph.debug import errors


def randomize(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give batch-norm statistics and affine parameters non-trivial values (fresh ones are identity)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) * 0.5 + 0.75)
                if m.weight is not None:
                    m.weight.copy_(torch.rand(m.weight.shape, generator=g) * 0.5 + 0.75)
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    return model


def eager_outputs(model, inputs):
    with torch.no_grad():
        out = model(*inputs)
    from trtgraph.core import _flatten

    return [o for o in _flatten(out)]


def assert_close(got, want, rtol, atol, what):
    assert got.shape == want.shape, f"{what}: shape {tuple(got.shape)} != eager {tuple(want.shape)}"
    if want.dtype == torch.bool or not want.dtype.is_floating_point:
        assert torch.equal(got.to(want.dtype), want), f"{what}: integer/bool values differ"
        return 0.0
    a, r = errors(got.float(), want.float())
    assert a <= atol or r <= rtol, f"{what}: max abs error {a:.3g}, max rel error {r:.3g} (rtol {rtol}, atol {atol})"
    return a


def check_module(model, inputs, rtol=1e-4, atol=1e-5, precision="fp32", build=True, debug=True, **kwargs):
    """Convert ``model``; build and serialize the engine; compare the reference evaluation and the
    torch debug mode with eager torch. Returns the Conversion."""
    model = model.eval()
    inputs = list(inputs)
    want = eager_outputs(model, inputs)
    conv = trtgraph.convert(model, inputs, precision=precision, **kwargs)
    if build:
        engine = conv.build()
        assert isinstance(engine, bytes) and len(engine) > 0
    got = conv.evaluate(*inputs)
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert_close(g, w, rtol, atol, f"reference evaluation, output {i}")
    if debug:
        with trtgraph.torch_network():
            _, graph = trtgraph.torch2trt(model, inputs, precision=precision, **kwargs)
        values = trtgraph.debug.network_values(graph, inputs)
        for i, (o, w) in enumerate(zip(graph.outputs, want)):
            assert_close(values[o.name], w, rtol, atol, f"torch debug mode, output {i}")
    return conv


@pytest.fixture
def check():
    return check_module


def pytest_terminal_summary(terminalreporter):
    import sys

    mod = sys.modules.get("test_models")
    if mod is not None and getattr(mod, "RESULTS", None):
        terminalreporter.section("model verification (reference evaluator and torch debug mode vs eager)")
        for line in mod.pytest_terminal_summary_lines():
            terminalreporter.write_line(line)
    zoo = sys.modules.get("test_zoo")
    if zoo is not None and getattr(zoo, "RESULTS", None):
        terminalreporter.section("zoo subset: reference-evaluator error per precision (default precision policy)")
        for line in zoo.pytest_terminal_summary_lines():
            terminalreporter.write_line(line)
