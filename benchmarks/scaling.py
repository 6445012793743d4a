"""How trtgraph's conversion time and memory grow with the model: ResNet-18/34/50/101/152, BERT
with 2/4/8/12/24 layers (hidden 768), and GPT-2 large (774M parameters). Writes docs/scaling.md and
docs/scaling.png.

    python -m benchmarks.scaling                     # all models, conversion + engine build
    python -m benchmarks.scaling --repeats 5 --no-build
    python -m benchmarks.scaling --build-large       # also build GPT-2 large's engine (needs ~3x its weights free)

Each model runs in a fresh subprocess: imports, model construction and a warm-up conversion of a
tiny CNN happen first; then memory is measured from that baseline (see :mod:`benchmarks.common`)
through ``trtgraph.convert`` (and, unless ``--no-build``, ``build_serialized_network``). The
conversion is then repeated in the same process for the timing median.

Weight copies are checked directly, besides the memory figure: every numpy array that trtgraph
keeps alive for TensorRT's weights (``Conversion.graph.keep``) either lies inside a storage of the
model's parameters and buffers (a view: no copy) or is new memory; ``copied_bytes`` sums the new
ones.
"""
from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

from . import common
from .common import mb, md_table, secs

FAMILIES = {
    "ResNet": ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"],
    "BERT": ["bert_l2", "bert_l4", "bert_l8", "bert_l12", "bert_l24"],
}
LARGE = "gpt2_large"
TARGET_RATIO = 2.0  # peak conversion memory above baseline / weight bytes


def kept_copies(conv, model) -> tuple[int, int]:
    """(bytes of kept arrays that are views of the model's tensors, bytes of the other kept arrays)."""
    spans = []
    for t in list(model.parameters()) + list(model.buffers()):
        s = t.untyped_storage()
        spans.append((s.data_ptr(), s.data_ptr() + s.nbytes()))
    spans.sort()
    shared = copied = 0
    seen = set()
    for arr in getattr(conv.graph, "keep", []):
        ptr = getattr(getattr(arr, "ctypes", None), "data", None)
        if ptr is None or (ptr, arr.nbytes) in seen:
            continue
        seen.add((ptr, arr.nbytes))
        if any(a <= ptr < b for a, b in spans):
            shared += arr.nbytes
        else:
            copied += arr.nbytes
    return shared, copied


def measure(name: str, build: bool, repeats: int) -> dict:
    """In this (fresh) process: convert ``name`` once under the memory meter, optionally build,
    then repeat the conversion for timing."""
    import torch  # noqa: F401

    import trtgraph
    from trtgraph.backend import trt

    from .compare import build_engine, warm_up

    trt()
    t0 = time.perf_counter()
    model, inputs = common.build_model(name)
    res = {"model": name, "ok": False, "construct_s": time.perf_counter() - t0,
           "params": common.param_count(model), "weight_bytes": common.weight_bytes(model)}
    warm_up(["trtgraph"])
    meter = common.PeakMeter()
    res.update(baseline_bytes=meter.baseline, baseline_anon_bytes=meter.baseline_anon, method=meter.method)
    times = []
    try:
        t0 = time.perf_counter()
        conv = trtgraph.convert(model, inputs)
        times.append(time.perf_counter() - t0)
        res["peak_convert_bytes"] = meter.anon_peak_above_baseline()
        res["peak_convert_rss_bytes"] = meter.peak_above_baseline()
        res["trace_s"] = getattr(conv.graph, "trace_seconds", None)
        res["layers"], res["nodes"] = conv.num_layers, conv.num_nodes
        res["kept_shared_bytes"], res["copied_bytes"] = kept_copies(conv, model)
        if build:
            res["build_s"], res["engine_bytes"] = build_engine(conv.builder, conv.network)
            res["peak_total_bytes"] = meter.anon_peak_above_baseline()
            res["peak_total_rss_bytes"] = meter.peak_above_baseline()
        del conv
        gc.collect()
        meter.close()
        for _ in range(max(0, repeats - 1)):
            t0 = time.perf_counter()
            conv = trtgraph.convert(model, inputs)
            times.append(time.perf_counter() - t0)
            del conv
            gc.collect()
        res["ok"] = True
    except Exception as exc:  # noqa: BLE001 - a failing model is a row
        res["error"] = common.first_line(exc)
    finally:
        meter.close()
    res["convert_s_all"] = times
    if times:
        res["convert_s"] = statistics.median(times)
    return res


def fit(xs, ys) -> dict:
    """Least-squares line ``y = slope * x + intercept`` (numpy.polyfit) and its R²."""
    import numpy as np

    x, y = np.asarray(xs, float), np.asarray(ys, float)
    if len(x) < 2:
        return {"slope": None, "intercept": None, "r2": None, "n": len(x)}
    slope, intercept = np.polyfit(x, y, 1)
    pred = slope * x + intercept
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1 - float(((y - pred) ** 2).sum()) / ss_tot if ss_tot > 0 else 1.0
    return {"slope": float(slope), "intercept": float(intercept), "r2": r2, "n": len(x)}


def fits(rows) -> dict:
    out = {}
    for family, names in FAMILIES.items():
        ok = [r for r in rows if r["model"] in names and r.get("ok")]
        mparams = [r["params"] / 1e6 for r in ok]
        out[family] = {
            "time_vs_params": fit(mparams, [r["convert_s"] for r in ok]),
            "min_time_vs_params": fit(mparams, [min(r["convert_s_all"]) for r in ok]),
            "time_vs_nodes": fit([r["nodes"] for r in ok], [r["convert_s"] for r in ok]),
            "memory_vs_params": fit(mparams, [r["peak_convert_bytes"] / 1e6 for r in ok]),
        }
        if all("peak_total_bytes" in r for r in ok) and ok:
            out[family]["build_memory_vs_params"] = fit(mparams, [r["peak_total_bytes"] / 1e6 for r in ok])
    return out


def _ratio(r, key="peak_convert_bytes"):
    return r[key] / r["weight_bytes"] if r.get(key) is not None and r.get("weight_bytes") else None


def _plot(rows, path: Path, fit_result):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 4.8))
    colors = {"ResNet": "#1c7ed6", "BERT": "#2b8a3e", "GPT-2 large": "#c92a2a"}
    for family, names in FAMILIES.items():
        ok = [r for r in rows if r["model"] in names and r.get("ok")]
        if not ok:
            continue
        x = np.array([r["params"] / 1e6 for r in ok])
        y = np.array([r["convert_s"] for r in ok])
        lo = y - np.array([min(r["convert_s_all"]) for r in ok])
        hi = np.array([max(r["convert_s_all"]) for r in ok]) - y
        a1.errorbar(x, y, yerr=[lo, hi], fmt="o", color=colors[family], label=family, capsize=3)
        f = fit_result[family]["time_vs_params"]
        if f["slope"] is not None:
            xx = np.linspace(0, x.max() * 1.05, 50)
            a1.plot(xx, f["slope"] * xx + f["intercept"], "-", color=colors[family], alpha=0.5,
                    label=f"{family} fit: {f['slope'] * 100:.2f} s/100M params, R²={f['r2']:.2f}")
        for r in ok:
            a1.annotate(r["model"], (r["params"] / 1e6, r["convert_s"]), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
    a1.set_xlabel("parameters (M)")
    a1.set_ylabel("trtgraph.convert wall time (s)")
    a1.set_title("conversion time (median; bars: min–max)", fontsize=10)
    a1.grid(alpha=0.3)
    a1.legend(fontsize=7)
    allok = [r for r in rows if r.get("ok")]
    if allok:
        w = np.array([r["weight_bytes"] / 1e6 for r in allok])
        xx = np.geomspace(w.min() * 0.8, w.max() * 1.2, 20)
        a2.plot(xx, xx, ":", color="gray", label="1× weights (one copy)")
        a2.plot(xx, TARGET_RATIO * xx, "--", color="gray", label=f"{TARGET_RATIO:g}× weights (target bound)")
        groups = list(FAMILIES.items()) + [("GPT-2 large", [LARGE])]
        for family, names in groups:
            ok = [r for r in allok if r["model"] in names]
            if not ok:
                continue
            a2.scatter([r["weight_bytes"] / 1e6 for r in ok], [max(r["peak_convert_bytes"], 1e5) / 1e6 for r in ok],
                       color=colors[family], marker="o", label=f"{family}: convert")
            if all(r.get("peak_total_bytes") is not None for r in ok):
                a2.scatter([r["weight_bytes"] / 1e6 for r in ok], [r["peak_total_bytes"] / 1e6 for r in ok],
                           color=colors[family], marker="^", facecolors="none", label=f"{family}: convert + build")
        a2.set_xscale("log")
        a2.set_yscale("log")
        a2.set_xlabel("model weights (MB)")
        a2.set_ylabel("peak memory above baseline (MB)")
        a2.set_title("peak anonymous memory above the process baseline", fontsize=10)
        a2.grid(alpha=0.3, which="both")
        a2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(result: dict, md_path: Path, png_path):
    rows, info = result["rows"], result["machine"]
    f = fits(rows)
    cmd = result.get("command", "python -m benchmarks.scaling")
    lines = ["# How trtgraph's conversion scales with model size", "",
             "Generated by `python -m benchmarks.scaling`; do not edit by hand. Reproduce with the command below "
             "(after `pip install -e '.[rtx,bench]'`).", ""]
    lines += common.header_lines(info, cmd)
    lines += [f"- **Repeats:** {result['repeats']} conversions per model ({LARGE}: 1), median reported with the "
              "min–max range; each model in a fresh process, after an untimed warm-up conversion of a tiny CNN; "
              "memory, trace time and build are from the first conversion", "",
              "**Conversion** is `trtgraph.convert(model, inputs)` in fp32 (`torch.jit.trace` + building the "
              "TensorRT network), batch 1, 224×224 images or 128 tokens, random weights. **Peak memory** is the "
              "peak of the process's anonymous resident memory (sampled every 1 ms) above its value just "
              "before the conversion, when the model already exists: the model's weights are in the baseline, "
              "so a conversion that copies no weight stays far below 1× the weight bytes (see "
              "[benchmarks.md](benchmarks.md) for the method). **Copied (kept)** is measured directly: the "
              "bytes of the arrays trtgraph keeps alive for TensorRT's weights that are *not* views of the "
              "model's parameter/buffer storages.", ""]
    header = ["model", "params (M)", "weights (MB)", "graph nodes", "layers", "convert (s)", "trace, 1st conversion (s)",
              "peak convert (MB)", "peak / weights", "copied (kept) MB", "build (s)", "peak incl. build (MB)",
              "incl. build / weights"]
    table = []
    order = [n for names in FAMILIES.values() for n in names] + [LARGE]
    for name in order:
        r = next((x for x in rows if x["model"] == name), None)
        if r is None:
            continue
        if not r.get("ok"):
            table.append([f"`{name}`", f"{r.get('params', 0) / 1e6:.0f}", mb(r.get("weight_bytes")),
                          f"✗ {r.get('error', '')[:150]}"] + ["–"] * 9)
            continue
        ratio, ratio_b = _ratio(r), _ratio(r, "peak_total_bytes")
        conv = f"{secs(r['convert_s'])} ({secs(min(r['convert_s_all']))}–{secs(max(r['convert_s_all']))})"
        table.append([f"`{name}`", f"{r['params'] / 1e6:.1f}", mb(r["weight_bytes"]), r["nodes"], r["layers"], conv,
                      secs(r.get("trace_s")), mb(r["peak_convert_bytes"]), f"{ratio:.2f}×",
                      f"{r['copied_bytes'] / 1e6:.1f}", secs(r.get("build_s")), mb(r.get("peak_total_bytes")),
                      f"{ratio_b:.2f}×" if ratio_b is not None else "–"])
    lines += ["## Measurements", ""] + md_table(header, table) + [""]
    if png_path is not None:
        lines += [f"![conversion time and peak memory against model size]({Path(png_path).name})", ""]
    lines += ["## Linear fits (numpy.polyfit, degree 1)", "",
              "Slopes are per million parameters; R² is the coefficient of determination of the fit. The "
              "fastest repeat is the one least disturbed by the other work on the machine.", ""]
    ft = []
    for family, d in f.items():
        for key, what, unit in (("time_vs_params", "convert time (median) vs parameters", "s / M params"),
                                ("min_time_vs_params", "convert time (fastest repeat) vs parameters",
                                 "s / M params"),
                                ("time_vs_nodes", "convert time vs graph nodes", "ms / node"),
                                ("memory_vs_params", "peak convert memory vs parameters", "MB / M params"),
                                ("build_memory_vs_params", "peak memory incl. build vs parameters", "MB / M params")):
            if key not in d or d[key]["slope"] is None:
                continue
            s = d[key]
            scale = 1000 if key == "time_vs_nodes" else 1
            ft.append([family, what, f"{s['slope'] * scale:.4g} {unit}", f"{s['intercept']:.3g}", f"{s['r2']:.3f}",
                       s["n"]])
    lines += md_table(["family", "fit", "slope", "intercept", "R²", "points"], ft, align="llrrrr") + [""]
    # findings
    ok = [r for r in rows if r.get("ok")]
    worst = max(ok, key=lambda r: _ratio(r) or 0, default=None)
    lines += ["## Findings", ""]
    if worst is not None:
        verdict = "meets" if _ratio(worst) < TARGET_RATIO else "MISSES"
        lines.append(f"- **Peak conversion memory / weight bytes**: at most {_ratio(worst):.2f}× (`{worst['model']}`), "
                     f"which {verdict} the target of < {TARGET_RATIO:g}×.")
    copied = [r for r in ok if r["copied_bytes"] > 0.01 * r["weight_bytes"]]
    if copied:
        lines.append("- **Weight copies**: " + "; ".join(
            f"`{r['model']}` keeps {r['copied_bytes'] / 1e6:.1f} MB of new arrays "
            f"({r['copied_bytes'] / r['weight_bytes']:.1%} of its weights)" for r in copied) + ". These are the "
            "convolution weights that batch-norm folding rescales (new arrays; the model's parameters are not "
            "touched); `trtgraph.convert(..., fold_batch_norm=False)` keeps them as views of the model's storages "
            "at the cost of two more layers per batch norm. The other models' arrays are views of their parameters.")
    else:
        lines.append("- **Weight copies**: none. In every model, the arrays that trtgraph hands to TensorRT are views "
                     "of the model's own parameter storages (fp32); the new arrays it keeps (folded batch-norm "
                     "scales, masks, small constants) are below 1% of the weights "
                     f"(largest: {max(r['copied_bytes'] for r in ok) / 1e6:.1f} MB).")
    large = next((r for r in rows if r["model"] == LARGE), None)
    if large is not None:
        if large.get("ok"):
            lines.append(f"- **GPT-2 large** ({large['params'] / 1e6:.0f}M parameters, {mb(large['weight_bytes'])} MB "
                         f"of weights) converts in {secs(large['convert_s'])} s with a peak of "
                         f"{mb(large['peak_convert_bytes'])} MB above the process baseline "
                         f"({_ratio(large):.2f}× its weights; the process's baseline, with the model built, was "
                         f"{mb(large['baseline_bytes'])} MB RSS)"
                         + (f"; building its engine took {secs(large['build_s'])} s and peaked at "
                            f"{mb(large['peak_total_bytes'])} MB above the baseline ({_ratio(large, 'peak_total_bytes'):.2f}× "
                            "its weights)." if large.get("build_s") is not None else
                            "; its engine was not built in this run (`--build-large`)."))
        else:
            lines.append(f"- **GPT-2 large** failed: {large.get('error')}")
    with_build = [r for r in ok if r.get("peak_total_bytes") is not None]
    if with_build:
        lo = min(_ratio(r, "peak_total_bytes") for r in with_build)
        hi = max(_ratio(r, "peak_total_bytes") for r in with_build)
        lines.append(f"- **The engine build** (TensorRT's `build_serialized_network`, not trtgraph) needs "
                     f"{lo:.1f}–{hi:.1f}× the weight bytes above the baseline: TensorRT copies the weights into "
                     "its own buffers and the serialized engine. This, not conversion, bounds the model size a "
                     "machine can build.")
    biggest = max(ok, key=lambda r: r["peak_convert_bytes"], default=None)
    if biggest is not None:
        lines += [f"- **Where conversion memory goes** (largest: {mb(biggest['peak_convert_bytes'])} MB for "
                  f"`{biggest['model']}`): not into weights (apart from folded batch norms, see *copied* above) but "
                  "into `torch.jit.trace`, which "
                  "keeps every intermediate activation of the traced forward pass alive until tracing ends; it "
                  "grows with layers × tokens × hidden size, not with the weight bytes, and is handed back to "
                  "the allocator when the trace returns (GPT-2 124M at 128 tokens, measured separately: ~80–95 MB "
                  "held by the trace alone, gone after `malloc_trim`). The trace also runs the forward pass once, "
                  "which is most of the conversion time (column *trace*)."]
    lines.append("")
    lines += ["## Caveats", "",
              "- The machine has 2 cores and was shared with other work (load average in the header); times are "
              "noisy, the min–max ranges show by how much. Memory figures do not depend on the load.",
              "- Conversion walks the traced graph node by node, so its time is expected to follow the number of "
              "graph nodes at least as closely as the parameter count (the trace's forward pass is the part "
              "that follows the parameters); compare the R² of the two time fits.", ""]
    md_path.write_text("\n".join(lines))
    if png_path is not None:
        _plot(rows, Path(png_path), f)


def run(models, build: bool, build_large: bool, repeats: int, log=print) -> dict:
    info = common.machine_info()
    rows = []
    for name in models:
        args = ["--child", name, "--repeats", str(repeats if name != LARGE else 1)]
        if build and (name != LARGE or build_large):
            args.append("--build")
        log(f"{name}: converting in a fresh process ...")
        r = common.run_child("benchmarks.scaling", args, timeout=3600)
        r.setdefault("model", name)
        rows.append(r)
        if r.get("ok"):
            log(f"  {name:<12} {r['params'] / 1e6:7.1f} M params  convert {r['convert_s']:.2f} s  "
                f"peak {mb(r['peak_convert_bytes'])} MB ({_ratio(r):.2f}× weights)  copied {r['copied_bytes'] / 1e6:.1f} MB"
                + (f"  build {r['build_s']:.1f} s, peak incl. build {mb(r['peak_total_bytes'])} MB"
                   if r.get("build_s") is not None else ""))
        else:
            log(f"  {name}: FAILED: {r.get('error')}")
    info["loadavg_end"] = common.loadavg()
    return {"machine": info, "repeats": repeats, "rows": rows}


def main(argv=None) -> int:
    default = [n for names in FAMILIES.values() for n in names] + [LARGE]
    p = argparse.ArgumentParser(prog="python -m benchmarks.scaling", description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=default, help=f"default: {' '.join(default)}")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-build", action="store_true", help="convert only (no engine build)")
    p.add_argument("--build-large", action="store_true", help=f"also build {LARGE}'s engine")
    p.add_argument("--json", type=Path)
    p.add_argument("--from-json", type=Path)
    p.add_argument("--md", type=Path, default=common.DOCS / "scaling.md")
    p.add_argument("--png", type=Path, default=common.DOCS / "scaling.png")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--build", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        common.emit(measure(args.child, args.build, args.repeats))
        return 0
    unknown = [m for m in args.models if m not in common.MODELS]
    if unknown:
        p.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(common.MODELS)}")
    if args.from_json:
        result = json.loads(args.from_json.read_text())
    else:
        result = run(args.models, not args.no_build, args.build_large, args.repeats)
        result["command"] = "python -m benchmarks.scaling " + " ".join(argv if argv is not None else sys.argv[1:])
        if args.json:
            args.json.write_text(json.dumps(result, indent=1, default=str))
    write_report(result, args.md, args.png)
    print(f"wrote {args.md} and {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
