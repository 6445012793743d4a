"""Run the model zoo and write docs/models.md.

    python scripts/zoo.py                      # every model, both frontends (about 80 min on 2 cores)
    python scripts/zoo.py --only resnet18 bert # some models
    python scripts/zoo.py --list
    python scripts/zoo.py --from-json "header" # rewrite docs/models.md from docs/models.json
    python scripts/zoo.py --from-json ""       # the same, keeping the header paragraphs of docs/models.md
    python scripts/zoo.py --frontend export --merge --timeout 600   # only the torch.export columns,
                                               # merged into the rows of docs/models.json

Each model runs in a fresh subprocess (isolated memory and crashes). For each, the TorchScript
frontend (the default): trtgraph.convert in fp32, build and serialize the engine, verify with the
reference evaluator against eager torch; then fp16: convert, build, verify. Then the torch.export
frontend: convert(frontend="export") in fp32, build, verify (its fields are prefixed ``export_``).
``--frontend`` runs one of the two only; ``--merge`` keeps the other frontend's fields (and the rows
of the models not run) from --json. The table is generated; do not edit docs/models.md by hand.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

TOLERANCE = 1e-3  # max relative error, fp32, reference evaluator vs eager


def _error(exc) -> str:
    first = str(exc).strip().splitlines()
    detail = " ".join(first[:4]) if first else ""
    return f"{type(exc).__name__}: {detail}"[:600]


def run_torchscript(zm, model, inputs, row: dict):
    """Today's columns: TorchScript fp32 (gated) and fp16 (reported)."""
    import trtgraph

    stage = "convert"
    try:
        t0 = time.perf_counter()
        conv = trtgraph.convert(model, inputs, **zm.options)
        row["convert_s"] = time.perf_counter() - t0
        row["layers"] = conv.num_layers
        row["nodes"] = conv.num_nodes
        stage = "build engine"
        engine = conv.build()
        row["build_s"] = conv.build_seconds
        row["engine_mb"] = len(engine) / 1e6
        del engine
        stage = "verify"
        report = conv.verify(*inputs)
        row["max_rel"] = report.max_rel
        row["verified"] = report.max_rel < TOLERANCE
        del conv
        stage = "fp16"
        conv16 = trtgraph.convert(model, inputs, precision="fp16", **zm.options)
        row["engine16_mb"] = len(conv16.build()) / 1e6
        row["max_rel16"] = conv16.verify(*inputs).max_rel
        row["ok"] = True
    except Exception as exc:  # noqa: BLE001 - every failure is a row of the table
        row["ok"] = False
        row["stage"] = stage
        row["error"] = _error(exc)


def run_export(zm, model, inputs, row: dict):
    """The torch.export columns (fp32): convert(frontend="export"), build, verify; fields export_*."""
    import trtgraph

    for k in [k for k in row if k.startswith("export_")]:
        del row[k]
    stage = "convert"
    try:
        t0 = time.perf_counter()
        conv = trtgraph.convert(model, inputs, frontend="export", **zm.options)
        row["export_convert_s"] = time.perf_counter() - t0
        row["export_layers"] = conv.num_layers
        stage = "build engine"
        engine = conv.build()
        row["export_build_s"] = conv.build_seconds
        row["export_engine_mb"] = len(engine) / 1e6
        del engine
        stage = "verify"
        report = conv.verify(*inputs)
        row["export_max_rel"] = report.max_rel
        row["export_verified"] = report.max_rel < TOLERANCE
        row["export_ok"] = True
    except Exception as exc:  # noqa: BLE001 - every failure is a row of the table
        row["export_ok"] = False
        row["export_stage"] = stage
        row["export_error"] = _error(exc)


def run_one(name: str, transformer_size: str, frontend: str = "both") -> dict:
    """Convert, build and verify one model in this process through one or both frontends; a result row."""
    from zoo_models import all_models

    zoo = {m.name: m for m in all_models(transformer_size)}
    zm = zoo[name]
    row = {"name": name, "family": zm.family}
    try:
        model, inputs = zm.build()
    except Exception as exc:  # noqa: BLE001
        for prefix in {"both": ("", "export_"), "torchscript": ("",), "export": ("export_",)}[frontend]:
            row.update({f"{prefix}ok": False, f"{prefix}stage": "build model", f"{prefix}error": _error(exc)})
        return row
    row["params_m"] = sum(p.numel() for p in model.parameters()) / 1e6
    if frontend in ("both", "torchscript"):
        run_torchscript(zm, model, inputs, row)
    if frontend in ("both", "export"):
        run_export(zm, model, inputs, row)
    return row


def _cell(v, fmt):
    return "" if v is None else format(v, fmt)


def _passed(r, prefix=""):
    return bool(r.get(f"{prefix}ok") and r.get(f"{prefix}verified"))


def _short(error: str) -> str:
    """The error class and a few words, for a table cell."""
    cls, _, rest = (error or "?").partition(":")
    ops = sorted(set(re.findall(r"no handler for (\S+)", rest)))
    if ops:
        return f"{cls}: no handler for {', '.join(ops)}"
    words = rest.replace("|", "/").split()
    return f"{cls}: {' '.join(words[:8])}{' …' if len(words) > 8 else ''}" if words else cls


def _export_cells(r) -> str:
    if "export_ok" not in r:
        return "| not run | | "
    if r["export_ok"]:
        fail = "" if r.get("export_verified") else " (FAIL)"
        return f"| yes | {r['export_max_rel']:.1e}{fail} | {r['export_convert_s']:.1f} "
    stage = r.get("export_stage")
    conv = "no" if stage in ("build model", "convert", "process") else f"yes, failed at {stage}"
    return f"| {conv}: {_short(r.get('export_error'))} | | {_cell(r.get('export_convert_s'), '.1f')} "


def write_doc(rows: list[dict], path: Path, header: str):
    ok = [r for r in rows if _passed(r)]
    ok_export = [r for r in rows if _passed(r, "export_")]
    fam = {}
    for r in rows:
        f = fam.setdefault(r["family"], [0, 0, 0])
        f[2] += 1
        f[0] += _passed(r)
        f[1] += _passed(r, "export_")
    lines = ["# Model zoo", "", "Generated by `python scripts/zoo.py`; do not edit by hand.", "", header, "",
             f"Verified: max relative error of the reference evaluation vs eager torch below {TOLERANCE:g} "
             "(fp32; random inputs, random weights, batch-norm statistics randomized). fp16 errors are reported, "
             "not gated. Two frontends: TorchScript (`torch.jit.trace`, the default; fp32 and fp16) and "
             "torch.export (`convert(..., frontend=\"export\")`; fp32).", "",
             "| family | TorchScript verified / total | export verified / total |", "|---|---|---|"]
    for k, (a, e, b) in fam.items():
        lines.append(f"| {k} | {a} / {b} | {e} / {b} |")
    lines.append(f"| **all** | **{len(ok)} / {len(rows)}** | **{len(ok_export)} / {len(rows)}** |")
    lines += ["", "| model | params (M) | TorchScript: converts | builds fp32 / fp16 | max rel err fp32 | "
              "max rel err fp16 | convert (s) | build (s) | engine fp32 (MB) | layers | "
              "export: converts | export: max rel err fp32 | export: convert (s) |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("ok"):
            ts = (f"| {r['name']} | {_cell(r.get('params_m'), '.1f')} | yes | yes / yes | {r['max_rel']:.1e}"
                  f"{'' if r.get('verified') else ' (FAIL)'} | {r['max_rel16']:.1e} | {r['convert_s']:.1f} | "
                  f"{r['build_s']:.1f} | {r['engine_mb']:.1f} | {r['layers']} ")
        else:
            conv = {"build model": "no", "convert": "no", "process": "?"}.get(r.get("stage"), "yes")
            ts = (f"| {r['name']} | {_cell(r.get('params_m'), '.1f')} | {conv} | failed at {r.get('stage')} | | | "
                  f"{_cell(r.get('convert_s'), '.1f')} | | | {r.get('layers', '')} ")
        lines.append(ts + _export_cells(r) + "|")
    if any(r.get("ok") and r.get("max_rel16") != r.get("max_rel16") for r in rows):
        lines += ["", "An fp16 error of `nan` means the fp16 network overflowed: with random weights and randomized "
                  "batch-norm statistics, some deep models' activations leave fp16's range (max 65504); resnet101's "
                  "largest fp32 activation is about 7.8e5, for example. A precision policy that keeps such layers in "
                  "fp32 is future work."]
    sections = [("TorchScript", ""), ("torch.export", "export_")]
    blocked = [(title, prefix, [r for r in rows if f"{prefix}ok" in r and not _passed(r, prefix)])
               for title, prefix in sections]
    if any(fails for _, _, fails in blocked):
        lines += ["", "## What blocks the others", ""]
        for title, prefix, fails in blocked:
            if not fails:
                continue
            lines += [f"{title}:", ""]
            for r in fails:
                reason = (r.get(f"{prefix}error") or
                          f"max rel error {r.get(f'{prefix}max_rel', 0):.2e} above {TOLERANCE:g}")
                lines.append(f"- **{r['name']}** ({r.get(f'{prefix}stage', 'verify')}): {reason.replace('|', '/')}")
            lines.append("")
        while lines[-1] == "":
            lines.pop()
    path.write_text("\n".join(lines) + "\n")


FRONTEND_PREFIX = {"torchscript": "TorchScript columns:", "export": "Export columns:"}


def _old_headers(md: Path) -> dict:
    """The header paragraphs of an existing docs/models.md by frontend (a header from before the
    export frontend is the TorchScript one)."""
    if not md.exists():
        return {}
    text = md.read_text().split("\n\n")
    paras = [t.strip() for t in text[2:] if t.strip() and not t.startswith(("Verified:", "|", "#"))]
    out = {}
    for para in paras:
        for fe, prefix in FRONTEND_PREFIX.items():
            if para.startswith(prefix):
                out[fe] = para
    if not out and paras:
        out["torchscript"] = f"{FRONTEND_PREFIX['torchscript']} {paras[0]}"
    return out


def _merge(old_rows: list[dict], new_rows: list[dict], frontend: str, order: list[str]) -> list[dict]:
    """Rows of ``old_rows`` updated with the fields ``frontend`` produced in ``new_rows``."""
    old = {r["name"]: r for r in old_rows}
    for r in new_rows:
        base = dict(old.get(r["name"], {}))
        if frontend == "export":
            base = {k: v for k, v in base.items() if not k.startswith("export_")}
            base.update({k: v for k, v in r.items() if k.startswith("export_") or k not in base})
        elif frontend == "torchscript":
            base = {k: v for k, v in base.items() if k.startswith("export_")}
            base.update(r)
        else:
            base = r
        old[r["name"]] = base
    return [old[n] for n in order if n in old]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="*", help="model names (default: all)")
    p.add_argument("--list", action="store_true")
    p.add_argument("--transformer-size", default="base", choices=["tiny", "base"])
    p.add_argument("--out", default=str(ROOT / "docs" / "models.md"))
    p.add_argument("--json", default=str(ROOT / "docs" / "models.json"))
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--frontend", default="both", choices=["both", "torchscript", "export"],
                   help="which frontend(s) to run (default: both)")
    p.add_argument("--merge", action="store_true",
                   help="keep the other frontend's fields and header, and the models not run, from --json/--out")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per model (its subprocess is killed)")
    p.add_argument("--note", default="", help="a sentence appended to the header (e.g. how the machine was loaded)")
    p.add_argument("--from-json", metavar="HEADER", help="rewrite --out from --json with this header (\"\": keep --out's header); run nothing")
    args = p.parse_args()
    if args.from_json is not None:
        header = f"{args.from_json} {args.note}".strip()
        if not header:  # --from-json "": keep the header paragraphs of --out
            old = _old_headers(Path(args.out))
            header = "\n\n".join(old[k] for k in ("torchscript", "export") if k in old)
        write_doc(json.loads(Path(args.json).read_text()), Path(args.out), header)
        print(f"wrote {args.out}")
        return 0

    if args.one:
        print("ZOO-RESULT " + json.dumps(run_one(args.one, args.transformer_size, args.frontend)), flush=True)
        return 0

    from zoo_models import all_models

    families = {m.name: m.family for m in all_models(args.transformer_size)}
    names = list(families)
    if args.list:
        print("\n".join(names))
        return 0
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            p.error(f"unknown models: {unknown}")
        names = [n for n in names if n in args.only]
    merged = args.merge or bool(args.only)
    old_headers = _old_headers(Path(args.out)) if merged else {}
    old_rows = json.loads(Path(args.json).read_text()) if merged and Path(args.json).exists() else None
    order = [m.name for m in all_models(args.transformer_size)]

    def save(rows, loads, seconds, done):
        """Write --json and --out after each model, so that a stopped run keeps what it measured."""
        import torch

        machine = (f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
                   f"torch {torch.__version__}; TensorRT: {_trt_version()}. Transformers: {args.transformer_size} "
                   f"configs.")
        partial = "" if done else f" (stopped or still running after {len(rows)} of {len(names)})"
        run = (f"Last run ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}): {len(rows)} model(s){partial} in "
               f"{seconds:.0f} s, load average (1 min, sampled after each model) mean "
               f"{sum(loads) / max(len(loads), 1):.1f}, max {max(loads, default=0):.1f}"
               f"{' (the other rows come from earlier runs, kept in docs/models.json)' if args.only else ''}. "
               f"{args.note}").strip()
        if args.frontend == "both":
            header = f"{machine} {run}"
        else:
            fe = args.frontend
            headers = {fe: f"{FRONTEND_PREFIX[fe]} {machine} {run}"}
            other = "export" if fe == "torchscript" else "torchscript"
            if other in old_headers:
                headers[other] = old_headers[other]
            header = "\n\n".join(headers[k] for k in ("torchscript", "export") if k in headers)
        out_rows = _merge(old_rows, rows, args.frontend, order) if old_rows is not None else rows
        Path(args.json).write_text(json.dumps(out_rows, indent=1))
        write_doc(out_rows, Path(args.out), header)

    rows = []
    loads = []
    t_all = time.perf_counter()
    fail_keys = {"both": ("",), "torchscript": ("",), "export": ("export_",)}[args.frontend]
    for i, name in enumerate(names):
        t0 = time.perf_counter()
        cmd = [sys.executable, __file__, "--one", name, "--transformer-size", args.transformer_size,
               "--frontend", args.frontend]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=os.environ.copy())
            line = [ln for ln in proc.stdout.splitlines() if ln.startswith("ZOO-RESULT ")]
            if line:
                row = json.loads(line[-1][len("ZOO-RESULT "):])
            else:
                tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                row = {"name": name}
                for k in fail_keys:
                    row.update({f"{k}ok": False, f"{k}stage": "process",
                                f"{k}error": f"exit code {proc.returncode}: {tail}"[:600]})
        except subprocess.TimeoutExpired:
            row = {"name": name}
            for k in fail_keys:
                row.update({f"{k}ok": False, f"{k}stage": "process", f"{k}error": f"timeout {args.timeout}s"})
        row["family"] = families[name]
        rows.append(row)
        loads.append(os.getloadavg()[0])
        status = " ".join(
            f"{label}:{'ok' if _passed(row, k) else 'FAIL(' + str(row.get(k + 'stage', 'verify')) + ')'}"
            for label, k in (("ts", ""), ("export", "export_")) if f"{k}ok" in row)
        print(f"[{i + 1}/{len(names)}] {name:<36} {status:<44} {time.perf_counter() - t0:6.1f}s "
              f"load {loads[-1]:.1f}", flush=True)
        save(rows, loads, time.perf_counter() - t_all, done=i + 1 == len(names))
    print(f"wrote {args.out}")
    return 0


def _trt_version():
    from trtgraph import backend

    return f"{backend.flavour()} {backend.version()}"


if __name__ == "__main__":
    sys.exit(main())
