"""Conversion time of ResNet-50 (3x224x224) through torch.export and through TorchScript, static
and with a dynamic batch 1..32, both at the same example batch (8), and the dynamic/static ratio:

    OMP_NUM_THREADS=1 python -m trtgraph.export.measure [--model resnet50]

One warm-up conversion per frontend first (imports, the first export). Each case is the fastest
of ``repeats`` conversions (3), each with torch's fake-tensor cache emptied first, so that it is
timed as a first conversion of its shapes. Prints one line per case.
"""
from __future__ import annotations

import argparse
import time


def measure(model_name: str = "resnet50", size: int = 224, repeats: int = 3) -> list[tuple[str, float, float, int]]:
    import torch
    import torchvision
    from torch._subclasses.fake_tensor import FakeTensorMode

    from ..api import convert, convert_export

    torch.manual_seed(0)
    model = getattr(torchvision.models, model_name)(weights=None).eval()
    x1 = x2 = torch.randn(8, 3, size, size)
    dyn = {"input_0": {0: (1, 8, 32)}}
    small = torchvision.models.resnet18(weights=None).eval()
    convert_export(small, [torch.randn(1, 3, 32, 32)])
    convert(small, [torch.randn(1, 3, 32, 32)])
    rows = []
    for label, fn, inputs, ranges in (("torchscript static", convert, [x1], None),
                                      ("export static", convert_export, [x1], None),
                                      ("torchscript dynamic", convert, [x2], dyn),
                                      ("export dynamic", convert_export, [x2], dyn)):
        runs = []
        for _ in range(repeats):
            FakeTensorMode.cache_clear()
            t0 = time.perf_counter()
            conv = fn(model, inputs, dynamic_shapes=ranges)
            runs.append((label, time.perf_counter() - t0, conv.graph.trace_seconds, conv.num_layers))
        rows.append(min(runs, key=lambda r: r[1]))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet50", help="a torchvision.models classifier name")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--repeats", type=int, default=3, help="conversions per case; the fastest is printed")
    args = p.parse_args(argv)
    rows = measure(args.model, args.size, args.repeats)
    for label, total, trace, layers in rows:
        print(f"{args.model} {label:<20} {total:6.2f} s  (trace/export {trace:5.2f} s, {layers} layers)")
    seconds = {label: total for label, total, _, _ in rows}
    for frontend in ("torchscript", "export"):
        print(f"{args.model} {frontend} dynamic / static: {seconds[frontend + ' dynamic'] / seconds[frontend + ' static']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
