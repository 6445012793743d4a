"""torch.export with a dynamic batch, with and without trtgraph's cheaper shape rules
(``trtgraph.export.fast_fakes``): seconds for a static export, a dynamic one as torch does it, a
dynamic one with the rules, and whether the two dynamic programs are the same node by node (every
node's fake sizes, strides and dtype, and the range constraints).

    OMP_NUM_THREADS=1 python -m benchmarks.fast_fakes [--models mobilenet_v2 resnet50 ...]

Example batch 2 at 224x224, dynamic batch 1..6 (the torchvision rows of docs/dynamic.md). After a
static and a dynamic warm-up export, each kind runs twice, alternating, each run with torch's
fake-tensor cache emptied first (so a static export does not reuse the previous one's entries);
the faster run is printed.
Random weights; old objects frozen for the garbage collector, as in ``convert``.
"""
from __future__ import annotations

import argparse
import contextlib
import time
import warnings

import torch

MODELS = ["mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "resnet50", "densenet121", "vit_b_16"]


def program_signature(ep) -> tuple:
    """What two exports must share to be the same program: every node's op, target and fake
    sizes, strides and dtype, and the range constraints."""
    nodes = []
    for n in ep.graph.nodes:
        v = n.meta.get("val")
        vals = v if isinstance(v, (tuple, list)) else [v]
        nodes.append((n.op, str(n.target), [(str(t.shape), str(t.stride()), t.dtype) if isinstance(t, torch.Tensor)
                                            else repr(t) for t in vals]))
    return nodes, str(ep.range_constraints)


def measure(name: str) -> dict:
    import torchvision

    from trtgraph.export.fast_fakes import fast_fakes
    from trtgraph.gc_pause import old_objects_frozen

    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    x = (torch.randn(2, 3, 224, 224),)
    spec = ({0: torch.export.Dim("batch", min=1, max=6)},)

    def timed(fast: bool, dynamic: bool):
        from torch._subclasses.fake_tensor import FakeTensorMode

        FakeTensorMode.cache_clear()  # each export as the first of its shapes
        with warnings.catch_warnings(), old_objects_frozen(), fast_fakes() if fast else contextlib.nullcontext():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            ep = torch.export.export(model, x, dynamic_shapes=spec if dynamic else None, strict=False)
            return time.perf_counter() - t0, ep

    timed(False, False)
    timed(False, True)  # warm-up, static and dynamic
    static_s, plain_s, fast_s = [], [], []
    for _ in range(2):
        static_s.append(timed(False, False)[0])
        t, plain = timed(False, True)
        plain_s.append(t)
        t, fast = timed(True, True)
        fast_s.append(t)
    return dict(model=name, static_s=min(static_s), plain_s=min(plain_s), fast_s=min(fast_s),
                same=program_signature(plain) == program_signature(fast))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=MODELS)
    args = p.parse_args(argv)
    for name in args.models:
        r = measure(name)
        print(f"{r['model']:<20} static {r['static_s']:.2f} s, dynamic {r['plain_s']:.2f} s "
              f"({r['plain_s'] / r['static_s']:.2f}x), dynamic with the rules {r['fast_s']:.2f} s "
              f"({r['fast_s'] / r['static_s']:.2f}x), same program: {r['same']}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
