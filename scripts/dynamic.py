"""Dynamic-shape verification of the issue's reference models (writes docs/dynamic.md/.json).

ResNet-50 with a dynamic batch 1..32 and BERT-base with a dynamic batch 1..32 and sequence
8..128: convert, build and serialize the engine with its optimization profile, then compare the
reference evaluation of the network with eager torch at three shapes inside the profile.

    python scripts/dynamic.py            # both models, then 19 torchvision models with a dynamic batch
    python scripts/dynamic.py --quick    # ResNet-18 at 64x64 and a 2-layer BERT (what the tests run)
    python scripts/dynamic.py --only resnet50 --frontend export   # one model, one frontend; prints
                                         # its JSON row and writes nothing unless --out is given

Each model goes through both frontends (``--frontend`` picks one): TorchScript (``torch.jit.trace``
twice, the default of ``trtgraph.convert``) and torch.export (``frontend="export"``: the same
``dynamic_shapes`` become the profile from the symbolic sizes). A frontend that fails on a model
gives a row with its error instead of stopping the run.
"""
from __future__ import annotations

import argparse
import contextlib
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


def zoo_cases(wanted=()):
    """Torchvision models of the zoo with a dynamic batch 1..6 (example batch 2); ``wanted``: only these."""
    import zoo_models

    for zm in zoo_models.all_models("tiny"):
        if zm.name not in ZOO or (wanted and zm.name not in wanted):
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


@contextlib.contextmanager
def _stage_clock(seconds: list):
    """Adds to ``seconds[0]`` the time spent in the stages only a dynamic conversion has: the
    TorchScript frontend's second trace and size-check proof (``core.dynamic_facts``), the export
    frontend's check at size 1 (``api._check_pending_shape_guards``)."""
    from trtgraph import api, core

    saved = [(core, "dynamic_facts"), (api, "_check_pending_shape_guards")]
    saved = [(mod, name, getattr(mod, name)) for mod, name in saved]

    def timed(fn):
        def run(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                seconds[0] += time.perf_counter() - t0
        return run

    for mod, name, fn in saved:
        setattr(mod, name, timed(fn))
    try:
        yield
    finally:
        for mod, name, fn in saved:
            setattr(mod, name, fn)


def _timed_convert(c, precision, frontend, dynamic: bool):
    """One conversion as a first conversion of its shapes: torch's fake-tensor cache (filled by an
    earlier export of the same shapes) is emptied first. Returns (conversion, seconds, seconds in
    the dynamic-only stages)."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    FakeTensorMode.cache_clear()
    stages = [0.0]
    with _stage_clock(stages):
        t0 = time.perf_counter()
        conv = trtgraph.convert(c["model"], c["example"], input_names=c["names"], precision=precision,
                                frontend=frontend, dynamic_shapes=c["dynamic"] if dynamic else None,
                                **c.get("options", {}))
        seconds = time.perf_counter() - t0
    return conv, seconds, stages[0]


def run_case(c, precision="fp32", frontend="torchscript", keep_going=False, static=False, repeats: int = 3) -> dict:
    """One model through one frontend; ``keep_going``: an exception becomes the row's ``error``;
    ``static``: also time static conversions of the example (``static_s``, ``ratio``), both
    conversion times the fastest of ``repeats`` runs."""
    g = torch.Generator().manual_seed(1)
    row = dict(model=c["name"], frontend=frontend, precision=precision)
    stage = "convert"

    try:
        conv, t_convert, t_stages = _timed_convert(c, precision, frontend, True)
        if static:
            t_static = min(_timed_convert(c, precision, frontend, False)[1] for _ in range(repeats))
            for _ in range(repeats - 1):
                _, seconds, stages = _timed_convert(c, precision, frontend, True)
                if seconds < t_convert:
                    t_convert, t_stages = seconds, stages
        stage = "build engine"
        t0 = time.perf_counter()
        engine = conv.build()
        t_build = time.perf_counter() - t0
        if static:
            row.update(static_s=round(t_static, 2), ratio=round(t_convert / t_static, 2))
        row.update(layers=conv.num_layers, convert_s=round(t_convert, 2), dynamic_stages_s=round(t_stages, 2),
                   second_trace=getattr(conv.graph, "second_trace", None),
                   build_s=round(t_build, 1), engine_mb=round(len(engine) / 2 ** 20, 1),
                   network_inputs={conv.network.get_input(i).name: list(conv.network.get_input(i).shape)
                                   for i in range(conv.network.num_inputs)},
                   profile={k: [list(s) for s in v] for k, v in conv.profiles.items()}, shapes=[])
        del engine
        stage = "verify"
        for shapes in c["shapes"]:
            inputs = [make(s, x, g) for s, x in zip(shapes, c["example"])]
            got = conv.evaluate(*inputs)
            with torch.no_grad():
                want = _flatten(c["model"](*inputs))
            worst = max(errors(a.float(), b.float())[1] for a, b in zip(got, want))
            row["shapes"].append(dict(inputs=[list(s) for s in shapes], max_rel=worst))
    except Exception as exc:  # a failing frontend is a row of the table
        if not keep_going:
            raise
        lines = str(exc).strip().splitlines()
        row.update(stage=stage, error=f"{type(exc).__name__}: {' '.join(lines[:3])}"[:500])
    return row


FRONTENDS = {"torchscript": "TorchScript", "export": "export"}


def _bad(row, bound) -> bool:
    return "error" in row or any(s["max_rel"] >= bound for s in row["shapes"])


def _cell_error(row) -> str:
    words = row["error"].replace("|", "/").split()
    return f"failed at {row['stage']}: {' '.join(words[:10])}{' …' if len(words) > 10 else ''}"


def write_doc(out: pathlib.Path, rows: list, zoo_rows: list):
    out.with_suffix(".json").write_text(json.dumps(rows + zoo_rows, indent=1) + "\n")
    lines = ["# Dynamic shapes: reference evaluation vs eager at three shapes",
             "", "Generated by `python scripts/dynamic.py` (fp32, random weights; engine built and serialized "
             "with the optimization profile; the reference evaluator runs the network at each shape). Each model "
             "goes through both frontends: TorchScript (`torch.jit.trace`, traced twice) and torch.export "
             "(`frontend=\"export\"`, the profile from the symbolic sizes).", "",
             "`convert s` is the dynamic conversion; `static s` converts the same example without `dynamic_shapes`; "
             "`x` is their ratio. Each is the fastest of three runs, each run with torch's fake-tensor cache emptied "
             "first (an export of the same shapes earlier in the process would fill it), so that each is timed "
             "as a first conversion. `of which` is the time in the stages only a dynamic conversion has: the "
             "TorchScript frontend's second trace and the proof of its size checks, the export frontend's check "
             "at size 1 (a comparison with the model there: torch.export reasons about sizes >= 2 only); the "
             "rest of the export frontend's extra time is torch.export's tracing with symbolic sizes.", "",
             "| model | frontend | network inputs | profile (min / opt / max) | layers | convert s | of which | "
             "static s | x | build s | shape: max rel error vs eager |",
             "|---|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        fe = FRONTENDS[r["frontend"]]
        if "error" in r:
            lines.append(f"| {r['model']} | {fe} | | | | | | | | | {_cell_error(r)} |")
            continue
        prof = "; ".join(f"{k}: {' / '.join(str(tuple(s)) for s in v)}" for k, v in r["profile"].items())
        ins = ", ".join(f"{k} {tuple(v)}" for k, v in r["network_inputs"].items())
        errs = "<br>".join(f"{tuple(s['inputs'][0])}: {s['max_rel']:.2e}" for s in r["shapes"])
        lines.append(f"| {r['model']} | {fe} | {ins} | {prof} | {r['layers']} | {r['convert_s']} "
                     f"| {r['dynamic_stages_s']} | {r['static_s']} "
                     f"| {r['ratio']} | {r['build_s']} "
                     f"| {errs} |")
    if zoo_rows:
        by_model = {}
        for r in zoo_rows:
            by_model.setdefault(r["model"], {})[r["frontend"]] = r
        lines += ["", "## Torchvision models with a dynamic batch (1..6, example batch 2)", "",
                  "| model | layers | TorchScript: convert s (of which, static s, x) | TorchScript: max rel error at "
                  "batch 1 / 5 / 6 | export: convert s (of which, static s, x) | export: max rel error at batch "
                  "1 / 5 / 6 |",
                  "|---|---:|---:|---|---:|---|"]
        for name, fes in by_model.items():
            layers = next((r["layers"] for r in fes.values() if "layers" in r), "")
            cells = []
            for fe in FRONTENDS:
                r = fes.get(fe)
                if r is None:
                    cells += ["", "not run"]
                elif "error" in r:
                    cells += ["", _cell_error(r)]
                else:
                    cells += [f"{r['convert_s']} ({r['dynamic_stages_s']}, {r['static_s']}, {r['ratio']}x)",
                              " / ".join(f"{s['max_rel']:.1e}" for s in r["shapes"])]
            lines.append(f"| {name} | {layers} | {' | '.join(cells)} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out}.md and {out}.json")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", help="write OUT.md and OUT.json (default: docs/dynamic for a full run; "
                                 "nothing with --quick or --only)")
    p.add_argument("--no-zoo", action="store_true", help="skip the torchvision zoo with a dynamic batch")
    p.add_argument("--frontend", default="both", choices=["both", *FRONTENDS])
    p.add_argument("--only", nargs="+", metavar="MODEL",
                   help="run these models only (resnet50, bert_base, or names of the torchvision list; "
                        "resnet18 / bert_tiny with --quick)")
    args = p.parse_args(argv)
    frontends = list(FRONTENDS) if args.frontend == "both" else [args.frontend]
    out = args.out or (None if args.quick or args.only else "docs/dynamic")
    wanted = set(args.only or ())
    known = {"resnet18", "bert_tiny"} if args.quick else {"resnet50", "bert_base", *ZOO}
    if wanted - known:
        p.error(f"unknown models for --only: {sorted(wanted - known)} (known: {', '.join(sorted(known))})")

    def run(case_iter, rows):
        for c in case_iter:
            if wanted and c["name"] not in wanted:
                continue
            for fe in frontends:
                row = run_case(c, frontend=fe, keep_going=True, static=True)
                print(json.dumps(row), flush=True)
                rows.append(row)

    rows, zoo_rows = [], []
    if not wanted or wanted & {"resnet50", "bert_base", "resnet18", "bert_tiny"}:
        run(cases(args.quick), rows)
    if not args.quick and not args.no_zoo and (not wanted or wanted & set(ZOO)):
        run(zoo_cases(wanted), zoo_rows)
    if out:
        write_doc(pathlib.Path(out), rows, zoo_rows)
    bad = [r for r in rows if _bad(r, 1e-4)] + [r for r in zoo_rows if _bad(r, 1e-3)]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
