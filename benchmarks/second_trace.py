"""The second trace of a dynamic TorchScript conversion, run for real and through the shapes-only
shortcut (``trtgraph.shape_trace``): seconds for each, and whether both tell the same (the dynamic
dims of every value, its shape in the second trace, the constants baked from sizes).

    OMP_NUM_THREADS=1 python -m benchmarks.second_trace [--models resnet50 bert ...]

Each model is traced once at its example (as ``convert`` does), then at the second size both
ways, the real one first; one line per model. Random weights.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))


def _vision(name):
    import torchvision

    def build():
        return getattr(torchvision.models, name)(weights=None).eval(), torch.randn(2, 3, 224, 224), \
            torch.randn(32, 3, 224, 224)
    return build


def _text(name):
    def build():
        import zoo_models

        from trtgraph.dynamic import resized

        model, _ = [m for m in zoo_models.transformers_models("base") if m.name == name][0].build()
        ids = torch.randint(0, 1000, (2, 16), generator=torch.Generator().manual_seed(0))
        return model, ids, resized(ids, {0: 32, 1: 53})
    return build


MODELS = {"resnet50": _vision("resnet50"), "convnext_tiny": _vision("convnext_tiny"), "swin_t": _vision("swin_t"),
          "bert": _text("bert"), "gpt2": _text("gpt2"), "llama": _text("llama"), "t5_encoder": _text("t5_encoder")}


def measure(name: str) -> dict:
    from trtgraph import frontend, shape_trace
    from trtgraph.dynamic import compare_traces

    torch.manual_seed(0)
    model, first, second = MODELS[name]()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        findings: list = []
        _, g1 = frontend.trace_module(model, [first], findings)
        t0 = time.perf_counter()
        _, g2 = frontend.trace_module(model, [second])
        real_s = time.perf_counter() - t0
        real = compare_traces(g1, g2)
        stats: dict = {}
        t0 = time.perf_counter()
        short = shape_trace.retrace(model, [second], g1, findings, lambda g: compare_traces(g1, g), stats=stats)
        short_s = time.perf_counter() - t0
    same = (short.dynamic == real.dynamic and short.second_shapes == real.second_shapes
            and {k: v for k, v in short.baked.items()} == {k: v for k, v in real.baked.items()})
    return dict(model=name, first=tuple(first.shape), second=tuple(second.shape), real_s=real_s, short_s=short_s,
                shortcut=stats["shortcut"], same=same)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    args = p.parse_args(argv)
    ok = True
    for name in args.models:
        r = measure(name)
        ok = ok and r["same"]
        print(f"{r['model']:<14} {r['first']} -> {r['second']}: real {r['real_s']:.2f} s, shortcut "
              f"{r['short_s']:.2f} s ({r['shortcut'][:60]}), same facts: {r['same']}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
