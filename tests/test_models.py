"""The nine classic torchvision CNNs: convert, build an engine in each precision, and verify
(reference evaluation and torch debug mode vs eager). Batch-norm statistics are randomized so
that normalization is not the identity of a freshly initialized model."""
from __future__ import annotations

import pytest
import torch
import torchvision

import trtgraph
from conftest import randomize
from trtgraph.debug import errors, network_values

MODELS = ["alexnet", "vgg11_bn", "resnet18", "resnet50", "squeezenet1_1", "densenet121", "mobilenet_v2",
          "googlenet", "inception_v3"]

RESULTS = []
# the three slowest to build: their fp16 engines are built and checked by scripts/zoo.py (docs/models.md,
# every model in fp16) and `pytest -m slow tests/test_zoo.py`; here fp32 and the debug mode only
LOW_PRECISION_ELSEWHERE = {"vgg11_bn", "densenet121", "inception_v3"}


def build_model(name):
    kwargs = {"init_weights": True, "aux_logits": True} if name in ("googlenet", "inception_v3") else {}
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None, **kwargs)
    return randomize(model).eval()


@pytest.mark.parametrize("name", MODELS)
def test_model_converts_builds_and_verifies(name):
    model = build_model(name)
    size = 299 if name == "inception_v3" else 224
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    exclude = ".*AuxLogits.*" if name == "inception_v3" else None

    conv = trtgraph.convert(model, [x], param_exclude=exclude, input_names=["image"])
    engine = conv.build()
    assert len(engine) > 0
    report = conv.verify(x)
    assert report.max_rel < 1e-4, str(report)

    with trtgraph.torch_network():
        _, graph = trtgraph.torch2trt(model, [x], param_exclude=exclude)
    values = network_values(graph, [x])
    with torch.no_grad():
        want = model(x)
    debug_abs, debug_rel = errors(values[graph.get_resolved_outputs()[0][0].name], want)
    assert debug_rel < 1e-4

    if name in LOW_PRECISION_ELSEWHERE:
        return
    sizes = {}
    for precision in ("fp16", "bf16"):
        low = trtgraph.convert(model, [x], precision=precision, param_exclude=exclude)
        sizes[precision] = len(low.build())
    assert sizes["fp16"] < 0.75 * len(engine), "fp16 weights should halve the engine"
    RESULTS.append((name, conv.num_nodes, conv.num_layers, report.max_abs, report.max_rel, debug_abs,
                    len(engine), sizes["fp16"], sizes["bf16"]))


def test_inception_aux_logits_excluded_parameters_are_not_needed():
    model = build_model("inception_v3")
    x = torch.randn(1, 3, 299, 299)
    conv = trtgraph.convert(model, [x], param_exclude=".*AuxLogits.*")
    names = [conv.network.get_layer(i).name for i in range(conv.network.num_layers)]
    assert not any("AuxLogits" in n for n in names)


def pytest_terminal_summary_lines():
    lines = ["model              nodes layers  ref max abs  ref max rel  debug max abs   fp32 MB  fp16 MB  bf16 MB"]
    for name, nodes, layers, a, r, d, e32, e16, eb16 in RESULTS:
        lines.append(f"{name:<18} {nodes:5d} {layers:6d}  {a:11.3e}  {r:11.3e}  {d:13.3e}  {e32 / 1e6:8.1f} "
                     f"{e16 / 1e6:8.1f} {eb16 / 1e6:8.1f}")
    return lines
