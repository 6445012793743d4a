"""Dynamic-shape verification of the issue's reference models (writes docs/dynamic.md/.json).

ResNet-50 with a dynamic batch 1..32 and BERT-base with a dynamic batch 1..32 and sequence
8..128: convert, build and serialize the engine with its optimization profile, then compare the
reference evaluation of the network with eager torch at three shapes inside the profile.

    python scripts/dynamic.py            # both models, then 19 torchvision models with a dynamic batch
    python scripts/dynamic.py --quick    # ResNet-18 at 64x64 and a 2-layer BERT (what the tests run)
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import trtgraph  # noqa: E402
from trtgraph.core import _flatten  # noqa: E402
from trtgraph.debug import errors  # noqa: E402


def cases(quick: bool):
    import torchvision
    import zoo_models

    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)  # the models' random weights
    size = 64 if quick else 224
    resnet = zoo_models._randomize_bn((torchvision.models.resnet18 if quick else torchvision.models.resnet50)())
    yield dict(name="resnet18" if quick else "resnet50", model=resnet.eval(),
               example=[torch.randn(2, 3, size, size, generator=g)], names=["image"],
               dynamic={"image": {0: (1, 8, 32)}},
               shapes=[[(1, 3, size, size)], [(7, 3, size, size)], [(32, 3, size, size)]])
    bert = [m for m in zoo_models.transformers_models("tiny" if quick else "base") if m.name == "bert"][0]
    model, _ = bert.build()
    yield dict(name="bert_tiny" if quick else "bert_base", model=model,
               example=[torch.randint(0, 1000, (2, 16), generator=g)], names=["input_ids"],
               dynamic={"input_ids": {0: (1, 8, 32), 1: (8, 64, 128)}},
               shapes=[[(1, 8)], [(5, 77)], [(32, 128)]])


ZOO = ["alexnet", "vgg11_bn", "resnet18", "squeezenet1_1", "densenet121", "mobilenet_v2", "googlenet", "inception_v3",
       "shufflenet_v2_x0_5", "mnasnet0_5", "efficientnet_b0", "regnet_x_400mf", "mobilenet_v3_small", "swin_t",
       "vit_b_16", "fcn_resnet50", "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large",
       "fasterrcnn_resnet50_fpn.backbone"]


def zoo_cases():
    """Torchvision models of the zoo with a dynamic batch 1..6 (example batch 2)."""
    import zoo_models

    for zm in zoo_models.all_models("tiny"):
        if zm.name not in ZOO:
            continue
        model, inputs = zm.build()
        x = inputs[0]
        rest = tuple(x.shape[1:])
        yield dict(name=zm.name, model=model, example=[torch.cat([x, x * 0.5], 0)], names=["x"],
                   dynamic={"x": {0: (1, 2, 6)}}, shapes=[[(1,) + rest], [(5,) + rest], [(6,) + rest]],
                   options=zm.options)


def make(shape, like, g):
    if like.dtype.is_floating_point:
        return torch.randn(shape, generator=g)
    return torch.randint(0, 1000, shape, generator=g)


def run_case(c, precision="fp32") -> dict:
    g = torch.Generator().manual_seed(1)
    t0 = time.perf_counter()
    conv = trtgraph.convert(c["model"], c["example"], input_names=c["names"], dynamic_shapes=c["dynamic"],
                            precision=precision, **c.get("options", {}))
    t_convert = time.perf_counter() - t0
    t0 = time.perf_counter()
    engine = conv.build()
    t_build = time.perf_counter() - t0
    row = dict(model=c["name"], precision=precision, layers=conv.num_layers, convert_s=round(t_convert, 2),
               build_s=round(t_build, 1), engine_mb=round(len(engine) / 2 ** 20, 1),
               network_inputs={conv.network.get_input(i).name: list(conv.network.get_input(i).shape)
                               for i in range(conv.network.num_inputs)},
               profile={k: [list(s) for s in v] for k, v in conv.profiles.items()}, shapes=[])
    for shapes in c["shapes"]:
        inputs = [make(s, x, g) for s, x in zip(shapes, c["example"])]
        got = conv.evaluate(*inputs)
        with torch.no_grad():
            want = _flatten(c["model"](*inputs))
        worst = max(errors(a.float(), b.float())[1] for a, b in zip(got, want))
        row["shapes"].append(dict(inputs=[list(s) for s in shapes], max_rel=worst))
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default="docs/dynamic")
    p.add_argument("--no-zoo", action="store_true", help="skip the torchvision zoo with a dynamic batch")
    args = p.parse_args(argv)
    rows = []
    for c in cases(args.quick):
        row = run_case(c)
        print(json.dumps(row), flush=True)
        rows.append(row)
    zoo_rows = []
    if not args.quick and not args.no_zoo:
        for c in zoo_cases():
            row = run_case(c)
            print(json.dumps(row), flush=True)
            zoo_rows.append(row)
    if not args.quick:
        out = pathlib.Path(args.out)
        out.with_suffix(".json").write_text(json.dumps(rows + zoo_rows, indent=1) + "\n")
        lines = ["# Dynamic shapes: reference evaluation vs eager at three shapes",
                 "", "Generated by `python scripts/dynamic.py` (fp32, random weights; engine built and serialized "
                 "with the optimization profile; the reference evaluator runs the network at each shape).", "",
                 "| model | network inputs | profile (min / opt / max) | layers | convert s | build s | "
                 "shape: max rel error vs eager |", "|---|---|---|---:|---:|---:|---|"]
        for r in rows:
            prof = "; ".join(f"{k}: {' / '.join(str(tuple(s)) for s in v)}" for k, v in r["profile"].items())
            ins = ", ".join(f"{k} {tuple(v)}" for k, v in r["network_inputs"].items())
            errs = "<br>".join(f"{tuple(s['inputs'][0])}: {s['max_rel']:.2e}" for s in r["shapes"])
            lines.append(f"| {r['model']} | {ins} | {prof} | {r['layers']} | {r['convert_s']} | {r['build_s']} | {errs} |")
        if zoo_rows:
            lines += ["", "## Torchvision models with a dynamic batch (1..6, example batch 2)", "",
                      "| model | layers | convert s | max rel error at batch 1 / 5 / 6 |", "|---|---:|---:|---|"]
            for r in zoo_rows:
                errs = " / ".join(f"{s['max_rel']:.1e}" for s in r["shapes"])
                lines.append(f"| {r['model']} | {r['layers']} | {r['convert_s']} | {errs} |")
        out.with_suffix(".md").write_text("\n".join(lines) + "\n")
        print(f"wrote {out}.md and {out}.json")
    bad = [r for r in rows + zoo_rows if any(s["max_rel"] >= 1e-3 if r in zoo_rows else s["max_rel"] >= 1e-4
                                             for s in r["shapes"])]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
