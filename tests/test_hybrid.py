"""Hybrid execution (``convert(..., fallback=True)``): partitioning, the plan, reference evaluation."""
import math

import pytest
import torch

import trtgraph
from trtgraph.errors import InputError, UnsupportedOpsError
from trtgraph.hybrid import HybridConversion, HybridModule, HybridWarning
from trtgraph.registry import lookup


class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, k):
        return x * x * k

    @staticmethod
    def backward(ctx, g):  # pragma: no cover - never trained here
        return g, None


def block(cin, cout):
    return torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 3, padding=1), torch.nn.BatchNorm2d(cout),
                               torch.nn.ReLU(), torch.nn.Conv2d(cout, cout, 3, padding=1), torch.nn.ReLU())


class CustomFn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.block1, self.block2 = block(3, 8), block(8, 8)

    def forward(self, x):
        return self.block2(Square.apply(self.block1(x), 0.5))


class NoHandler(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.block1, self.block2 = block(3, 8), block(8, 8)

    def forward(self, x):
        return self.block2(torch.lgamma(self.block1(x) + 1.5))


class Diamond(torch.nn.Module):
    """a -> torch op -> b and a -> b directly: a and b in one segment would be a cycle."""

    def __init__(self):
        super().__init__()
        self.a, self.b = block(3, 8), torch.nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x):
        a = self.a(x)
        t = torch.lgamma(a + 1.5)
        return torch.relu(self.b(t) + a) * 2 - a


class Masked(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.l1, self.l2 = torch.nn.Linear(4, 8), torch.nn.Linear(8, 3)

    def forward(self, x):
        y = torch.relu(self.conv(x)) - 0.2
        rows = y.permute(0, 2, 3, 1).reshape(-1, 4)
        keep = rows[rows[:, 0] > 0]
        return torch.sigmoid(self.l2(torch.relu(self.l1(keep)))), y.mean()


def _model(cls):
    torch.manual_seed(0)
    m = cls().eval()
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
    return m


def _rel(a, b):
    a, b = a.detach(), b.detach()
    if b.numel() == 0:
        return 0.0 if a.shape == b.shape else float("inf")
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


def _check_matches(hc, model, x):
    got = hc.evaluate(x)
    with torch.no_grad():
        want = model(x)
    want = list(want) if isinstance(want, (tuple, list)) else [want]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        assert _rel(g, w) < 1e-3


def _acyclic(hc):
    """No path leaves a segment and comes back into it through nodes outside it."""
    part = hc.partition
    owner = {}
    for k, seg in enumerate(part.segments):
        for n in seg["units"]:
            owner[n] = ("s", k)
    for n in part.torch_nodes:
        owner[n] = ("t", n)
    for k, seg in enumerate(part.segments):
        mine = set(seg["units"])
        stack, seen, left = [], set(), False
        for n in mine:
            for o in n.outputs():
                stack.extend((u.user, False) for u in o.uses())
        while stack:
            node, outside = stack.pop()
            if (node, outside) in seen:
                continue
            seen.add((node, outside))
            if node in mine:
                if outside:
                    return False
                continue
            out2 = outside or owner.get(node, ("glue",))[0] in ("s", "t")
            left = left or out2
            for o in node.outputs():
                stack.extend((u.user, out2) for u in o.uses())
    return True


def test_custom_function_two_segments_and_engines_build():
    m = _model(CustomFn)
    x = torch.randn(1, 3, 16, 16)
    hc = trtgraph.convert(m, [x], fallback=True)
    assert isinstance(hc, HybridConversion)
    assert len(hc.segments) == 2
    assert [n.kind() for n in hc.partition.torch_nodes] == ["prim::PythonOp"]
    _check_matches(hc, m, x)
    _check_matches(hc, m, torch.randn(1, 3, 16, 16) * 3)
    # each segment really goes through the reference evaluator: feed it something else than eager
    seg0 = hc.segments[0]
    assert _rel(seg0.evaluate(x)[0], m.block1(x)) < 1e-4
    module = hc.module()
    assert isinstance(module, HybridModule) and len(module.engines) == 2
    assert all(len(bytes(e.engine_bytes)) > 0 for e in module.engines)
    assert len(module.evaluate(x)) == 1


def test_op_without_handler_between_blocks():
    assert lookup("aten::lgamma") is None, "aten::lgamma has a handler now: pick another op without one"
    m = _model(NoHandler)
    x = torch.randn(2, 3, 12, 12)
    hc = trtgraph.convert(m, [x], fallback=True)
    assert len(hc.segments) == 2
    assert [n.kind() for n in hc.partition.torch_nodes] == ["aten::lgamma"]
    assert "no handler for aten::lgamma" in hc.partition.reasons[hc.partition.torch_nodes[0]]
    _check_matches(hc, m, x)
    report = hc.verify(torch.randn(2, 3, 12, 12))
    assert report.ok, str(report)


def test_torch_executed_modules_keeps_block_in_torch():
    m = _model(CustomFn)
    x = torch.randn(1, 3, 16, 16)
    hc = trtgraph.convert(m, [x], fallback=True, torch_executed_modules=[r"block2"])
    scopes = {trtgraph.frontend.scope_of(n) for n in hc.partition.torch_nodes}
    assert scopes >= {"block2.0", "block2.3"}
    assert all(not trtgraph.frontend.scope_of(n).startswith("block2") for s in hc.partition.segments
               for n in s["units"])
    assert len(hc.segments) == 1
    _check_matches(hc, m, x)
    hc2 = trtgraph.convert(m, [x], fallback=True, torch_executed_ops=["aten::relu"])
    assert {n.kind() for n in hc2.partition.torch_nodes} >= {"aten::relu", "prim::PythonOp"}
    _check_matches(hc2, m, x)


def test_segments_are_acyclic():
    m = _model(Diamond)
    x = torch.randn(1, 3, 10, 10)
    hc = trtgraph.convert(m, [x], fallback=True, min_block_size=1)
    assert len(hc.segments) == 2  # a, then b with the ops after it: merging them would need a cycle
    assert _acyclic(hc)
    _check_matches(hc, m, x)
    # the checker itself sees the cycle of a naive merge of the two segments
    a, b = hc.partition.segments
    a["units"] = a["units"] + b["units"]
    hc.partition.segments = [a]
    assert not _acyclic(hc)


def test_report_reason_source_line_and_flops():
    m = _model(NoHandler)
    x = torch.randn(2, 3, 12, 12)
    hc = trtgraph.convert(m, [x], fallback=True)
    text = hc.report()
    assert "aten::lgamma" in text and "no handler for aten::lgamma" in text
    assert f"{__file__}:{NoHandler.forward.__code__.co_firstlineno + 1}" in text
    plan = hc.plan
    shares = [s["flops_share"] for s in plan["segments"]] + [t["flops_share"] for t in plan["torch_nodes"]]
    assert math.isclose(sum(shares), 1.0, rel_tol=1e-9)
    # block1's first convolution: 2 * (2*8*12*12 outputs) * (3*3*3 multiply-adds each); with the
    # three other convolutions this dominates every elementwise op
    conv = 2 * (2 * 8 * 12 * 12) * (3 * 3 * 3)
    conv8 = 2 * (2 * 8 * 12 * 12) * (8 * 3 * 3)
    assert plan["total_flops"] >= conv + 3 * conv8
    assert plan["segments"][0]["flops"] >= conv + conv8
    assert plan["trt_flops_share"] > 0.95
    assert "boundary" in text and f"{plan['boundary_tensors']} tensor(s) crossing" in text


def test_without_fallback_still_raises():
    m = _model(NoHandler)
    with pytest.raises(UnsupportedOpsError, match="lgamma"):
        trtgraph.convert(m, [torch.randn(1, 3, 8, 8)])


def test_hybrid_options_need_fallback():
    m = _model(NoHandler)
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(InputError, match="fallback=True"):
        trtgraph.convert(m, [x], torch_executed_ops=["aten::relu"])
    with pytest.raises(InputError, match="min_block_size"):
        trtgraph.convert(m, [x], fallback=True, min_block_size=0)
    with pytest.raises(InputError, match="regular expression"):
        trtgraph.convert(m, [x], fallback=True, torch_executed_modules=["("])
    with pytest.raises(InputError, match="aten::relu"):
        trtgraph.convert(m, [x], fallback=True, torch_executed_ops=["relu"])
    with pytest.raises(InputError, match="unknown option"):
        trtgraph.convert(m, [x], fallback=True, torch_exec_ops=["aten::relu"])


def test_nothing_to_fall_back_is_one_segment():
    m = _model(lambda: block(3, 4))
    x = torch.randn(1, 3, 8, 8)
    hc = trtgraph.convert(m, [x], fallback=True)
    assert len(hc.segments) == 1 and not hc.partition.torch_nodes
    assert hc.trt_flops_share == 1.0
    _check_matches(hc, m, x)


def test_data_dependent_op_in_torch_and_dynamic_segment():
    m = _model(Masked)
    x = torch.randn(1, 3, 12, 12)
    hc = trtgraph.convert(m, [x], fallback=True)
    kinds = [n.kind() for n in hc.partition.torch_nodes]
    assert kinds == ["aten::index"]
    assert "depends on the input data" in hc.report()
    after = hc.segments[-1]
    assert after.profiles, "the segment after the mask gets a dynamic profile"
    (lo, opt, hi), = after.profiles.values()
    assert lo[0] == 0 and hi[0] >= opt[0] and lo[1:] == opt[1:] == hi[1:]  # a count may be zero
    count = m(x)[0].shape[0]
    for scale in (3.0, 0.3):
        x2 = torch.randn(1, 3, 12, 12) * scale
        n2 = m(x2)[0].shape[0]
        if n2 != count:
            break
    assert n2 != count
    _check_matches(hc, m, x2)
    assert hc.evaluate(x2)[0].shape[0] == n2
    # no row kept at all: the segment runs on an empty batch (inside its profile, no torch fallback)
    x0 = torch.zeros(1, 3, 12, 12)  # relu(conv bias) - 0.2 < 0 everywhere (|bias| < 1/sqrt(27))
    assert m(x0)[0].shape[0] == 0
    import warnings as _w
    with _w.catch_warnings():
        _w.simplefilter("error")  # a HybridWarning (segment computed with torch ops) would fail here
        _check_matches(hc, m, x0)


@torch.jit.script_if_tracing
def _keep_top(scores: torch.Tensor, k: int) -> torch.Tensor:
    if scores.numel() == 0:
        return scores
    total = torch.zeros_like(scores)
    for i in range(k):
        total = total + scores * float(i)
    return total


class Scripted(torch.nn.Module):
    """Scripted code (prim::If, prim::Loop) in the middle: it runs in torch."""

    def __init__(self):
        super().__init__()
        self.a, self.b = block(3, 4), block(4, 4)

    def forward(self, x):
        return self.b(_keep_top(self.a(x), 3))


def test_scripted_control_flow_runs_in_torch():
    m = _model(Scripted)
    x = torch.randn(1, 3, 10, 10)
    hc = trtgraph.convert(m, [x], fallback=True)
    assert [n.kind() for n in hc.partition.torch_nodes] == ["prim::If"]
    assert len(hc.segments) == 2
    _check_matches(hc, m, x)
    _check_matches(hc, m, torch.randn(1, 3, 10, 10))


class Detections(torch.nn.Module):
    """Returns a list of dicts whose sizes depend on the data (what detection models return)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.head = torch.nn.Linear(4, 2)

    def forward(self, images):
        out = []
        for img in images:
            f = torch.relu(self.conv(img[None]))[0].flatten(1).t()
            keep = torch.nonzero(f[:, 0] > 0.3).squeeze(1)
            picked = f[keep]
            out.append({"scores": torch.sigmoid(self.head(picked))[:, 0] * 2, "index": keep})
        return out


def test_nested_outputs_and_data_dependent_counts():
    m = _model(Detections)
    x = [torch.randn(3, 8, 8), torch.randn(3, 8, 8)]
    hc = trtgraph.convert(m, [x], fallback=True, min_block_size=1)
    got = hc.evaluate(x)
    assert isinstance(got, list) and set(got[0]) == {"scores", "index"}
    for y in (x, [torch.randn(3, 8, 8) * 2, torch.randn(3, 8, 8) * 0.5]):
        got, want = hc.evaluate(y), m(y)
        for g, w in zip(got, want):
            assert torch.equal(g["index"], w["index"])
            assert g["scores"].shape == w["scores"].shape
            if w["scores"].numel():
                assert _rel(g["scores"], w["scores"]) < 1e-4
        report = hc.verify(y)
        assert report.ok, str(report)
    assert any(c.profiles for c in hc.segments)


def _calibrated(model):
    """Random weights with batch-norm statistics of random images: features neither vanish nor
    explode, so scores do not all tie (ties would make the detections' order arbitrary)."""
    mean = torch.tensor(model.transform.image_mean).view(1, 3, 1, 1)
    std = torch.tensor(model.transform.image_std).view(1, 3, 1, 1)
    for b in model.modules():
        if isinstance(b, torch.nn.BatchNorm2d):
            b.momentum = 1.0
    model.backbone.train()
    with torch.no_grad():
        model.backbone((torch.rand(2, 3, 320, 320) - mean) / std)
        for p in model.roi_heads.box_predictor.parameters():
            p.normal_(0, 0.02)
    return model.eval()


@pytest.mark.slow
def test_fasterrcnn_mobilenet_hybrid():
    import torchvision  # in the test extra: a missing install fails, not skips
    torch.manual_seed(0)
    m = _calibrated(torchvision.models.detection.fasterrcnn_mobilenet_v3_large_320_fpn(
        weights=None, weights_backbone=None, box_score_thresh=0.0))
    x = [torch.rand(3, 320, 320)]
    hc = trtgraph.convert(m, [x], fallback=True, strict=False)
    assert hc.trt_flops_share > 0.99
    scopes = {trtgraph.frontend.scope_of(n).split(".")[0] for s in hc.partition.segments for n in s["units"]}
    assert {"backbone", "rpn", "roi_heads"} <= scopes
    for y in (x, [torch.rand(3, 320, 320)]):
        got = hc.evaluate(y)
        assert isinstance(got, list) and set(got[0]) == {"boxes", "labels", "scores"}
        assert got[0]["boxes"].shape[0] > 0
        report = hc.verify(y, rtol=1e-3)
        assert report.ok, str(report)
    assert len(hc.module().engines) == len(hc.segments)  # every segment's engine builds


def test_fp16_segments_hand_float32_to_torch():
    m = _model(CustomFn)
    x = torch.randn(1, 3, 16, 16)
    hc = trtgraph.convert(m, [x], fallback=True, precision="fp16")
    assert hc.segments[0].evaluate(x)[0].dtype == torch.float32  # the custom Function gets float32
    report = hc.verify(x)
    assert report.ok and report.max_rel > 0, str(report)  # fp16 really computed (not exactly eager)


class SizeOnly(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2 = torch.nn.Conv2d(3, 4, 3), torch.nn.Conv2d(4, 4, 3)

    def forward(self, x):
        a = self.c1(x)
        t = torch.lgamma(a + 2)
        y = torch.relu(self.c2(a)) * 2 + 1
        return y.view(t.size(0), -1), t


def test_reading_a_static_size_is_no_dependency():
    """y.view(t.size(0), -1) with t from torch: the size is fixed by the trace, so the view stays in
    the segment before t (no second segment waiting for t)."""
    m = _model(SizeOnly)
    x = torch.randn(1, 3, 10, 10)
    hc = trtgraph.convert(m, [x], fallback=True, min_block_size=1)
    assert len(hc.segments) == 1
    assert [n.kind() for n in hc.partition.torch_nodes] == ["aten::lgamma"]
    _check_matches(hc, m, x)


class _LoopOfUnsupported(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 4, 3))

    def forward(self, x):
        y = self.a(x)
        parts = [torch.lgamma(y[:, i:i + 1] + 2.0) for i in range(4)]  # one source line, four nodes
        return torch.cat(parts, 1)


def test_report_groups_a_loop_of_torch_nodes():
    x = torch.rand(1, 3, 10, 10)
    hc = trtgraph.convert(_LoopOfUnsupported().eval(), [x], fallback=True)
    assert sum(1 for n in hc.partition.torch_nodes if n.kind() == "aten::lgamma") == 4
    lines = [line for line in hc.report().splitlines() if "aten::lgamma" in line]
    assert len(lines) == 1 and "(x4)" in lines[0] and "no handler" in lines[0]
    assert hc.verify(x).ok


def test_torch_executed_ops_are_checked():
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(inplace=True), torch.nn.Conv2d(4, 4, 3),
                            torch.nn.ReLU(), torch.nn.Conv2d(4, 4, 1)).eval()
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(InputError, match="not a torch op"):
        trtgraph.convert(m, [x], fallback=True, torch_executed_ops=["aten::rleu"])  # a typo
    with pytest.raises(InputError, match="without its overload"):
        trtgraph.convert(m, [x], fallback=True, torch_executed_ops=["aten::relu.default"])
    with pytest.warns(HybridWarning, match="no aten::gelu node"):
        trtgraph.convert(m, [x], fallback=True, torch_executed_ops=["aten::gelu"])
    with pytest.warns(HybridWarning, match="matches no module path"):
        trtgraph.convert(m, [x], fallback=True, torch_executed_modules=["layer9"])
    # aten::relu covers the in-place relu_ too
    hc = trtgraph.convert(m, [x], fallback=True, torch_executed_ops=["aten::relu"], min_block_size=1)
    assert sorted(n.kind() for n in hc.partition.torch_nodes) == ["aten::relu", "aten::relu_"]
    assert hc.verify(x).ok


class WithUnused(torch.nn.Module):
    """An auxiliary head the forward never uses (the seed API's AuxLogits case), around a torch op."""

    def __init__(self):
        super().__init__()
        self.block1, self.block2 = block(3, 8), block(8, 8)
        self.aux = torch.nn.Linear(8, 2)

    def forward(self, x):
        return self.block2(torch.lgamma(self.block1(x) + 1.5))


def test_param_exclude_with_fallback_drops_unused_weights_and_refuses_used_ones():
    from trtgraph.errors import ParameterError

    m = _model(WithUnused)
    x = torch.randn(1, 3, 8, 8)
    hc = trtgraph.convert(m, [x], fallback=True, param_exclude=r"aux\..*")
    assert len(hc.segments) == 2
    _check_matches(hc, m, x)
    # a parameter a TensorRT segment uses is refused, as without fallback (the node is not sent to
    # torch instead)
    with pytest.raises(ParameterError, match=r"block2\.0\.weight.*param_exclude"):
        trtgraph.convert(m, [x], fallback=True, param_exclude=r"block2\.0\.weight")
    with pytest.raises(InputError, match="regular expression"):
        trtgraph.convert(m, [x], fallback=True, param_exclude="(")
