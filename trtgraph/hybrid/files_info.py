"""``trtgraph info FOLDER`` for hybrid folders, and the hybrid folder format's registration in
``trtgraph.runtime.FOLDER_FORMATS`` (done when this module is imported)."""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import TrtGraphError
from .files_format import is_hybrid_folder
from .files_load import load_hybrid, read_program
from .partition import SegmentStep, TorchStep


# =========================================================================== trtgraph info

def describe_hybrid(folder) -> dict:
    """What ``trtgraph info FOLDER`` prints, as a dict; a failed check is reported, not raised."""
    folder = Path(folder)
    report = {"folder": str(folder), "checks": {}, "segments": [], "torch_steps": [], "notes": []}
    try:
        prog, params, engines, _ = read_program(folder)
    except TrtGraphError as exc:
        report["checks"]["program"] = f"FAILED: {type(exc).__name__}: {exc}"
        return report
    doc = prog["doc"]
    report["checks"]["program"] = (f"ok ({len(prog['steps'])} steps, {len(engines)} engines, {len(params)} "
                                   "module tensors, sizes and SHA-256 checked)")
    report.update(format_version=doc["format_version"], precision=doc["precision"],
                  trtgraph_version=doc["trtgraph_version"], created=doc.get("created"),
                  inputs=[f"{n} (%{v})" for n, v in zip(prog["input_names"], prog["values"])],
                  outputs=prog["output_names"], python_functions=prog["python_functions"],
                  plan=doc.get("report") or "")
    crossing = set()
    for s in prog["steps"]:
        if isinstance(s, SegmentStep):
            meta = engines[s.index][1]
            crossing.update(s.inputs)
            crossing.update(s.outputs)
            report["segments"].append({"index": s.index, "engine": doc["segments"][s.index]["engine"],
                                       "size": meta.engine_size,
                                       "inputs": [x.describe() for x in meta.inputs],
                                       "outputs": [x.describe() for x in meta.outputs]})
        elif s.reason:
            report["torch_steps"].append({"op": s.op, "where": s.where, "reason": s.reason})
    report["boundary_tensors"] = len(crossing)
    report["glue_steps"] = sum(1 for s in prog["steps"] if isinstance(s, TorchStep) and not s.reason)
    return report


def format_hybrid_report(r: dict) -> str:
    lines = [f"hybrid folder {r['folder']}"]
    if "precision" in r:
        lines += [f"  format       trtgraph-hybrid v{r['format_version']}, trtgraph {r['trtgraph_version']}, "
                  f"created {r['created']}",
                  f"  precision    {r['precision']}",
                  f"  inputs       {', '.join(r['inputs'])}",
                  f"  outputs      {', '.join(r['outputs'])}",
                  f"  boundary     {r['boundary_tensors']} tensor(s) cross between TensorRT and torch"]
        if r["python_functions"]:
            lines.append(f"  needs        python_functions for {', '.join(r['python_functions'])}")
        for s in r["segments"]:
            lines.append(f"  segment {s['index']}: {s['engine']} ({s['size']} bytes)")
            for kind in ("inputs", "outputs"):
                for i, text in enumerate(s[kind]):
                    lines.append(f"    {kind if i == 0 else '':<8} {text}")
        lines.append(f"  torch steps: {len(r['torch_steps'])} with a reason, {r['glue_steps']} glue (sizes, lists)")
        for t in r["torch_steps"]:
            lines.append(f"    {t['where'] or t['op']}: {t['reason']}")
    for k, v in r["checks"].items():
        lines.append(f"  check {k}: {v}")
    for n in r["notes"]:
        lines.append(f"  note: {n}")
    if r.get("plan"):
        lines += ["", "plan recorded at conversion:", r["plan"]]
    return "\n".join(lines)


def cmd_info(args) -> int:
    """``trtgraph info FOLDER``: the hybrid plan and every engine's checks; exit 1 when a check fails."""
    from .. import runtime

    report = describe_hybrid(args.engine)
    for seg in report["segments"]:
        sub = runtime.describe(os.path.join(args.engine, seg["engine"]), inspect=not args.no_inspect)
        for k, v in sub["checks"].items():
            report["checks"][f"segment {seg['index']} {k}"] = v
    print(json.dumps(report, indent=2) if args.json else format_hybrid_report(report))
    return 1 if any(str(v).startswith("FAILED") for v in report["checks"].values()) else 0


class HybridFolders:
    """The hybrid folder format, as ``trtgraph.runtime.FOLDER_FORMATS`` expects it."""

    @staticmethod
    def is_folder(path) -> bool:
        return is_hybrid_folder(path)  # a symlinked folder is refused by load_hybrid, by name

    load = staticmethod(load_hybrid)
    info = staticmethod(cmd_info)


def _register():
    from .. import runtime

    if HybridFolders not in runtime.FOLDER_FORMATS:
        runtime.FOLDER_FORMATS.append(HybridFolders)


_register()
