"""Conformance of the reference evaluator against NVIDIA's ONNX parser.

Every ONNX backend node test case (``onnx.backend.test.case.node.collect_testcases()``) is parsed
by TensorRT's OnnxParser into a strongly typed network, evaluated with
``trtgraph.reference.evaluate`` on the case's inputs, and compared with the case's expected
outputs. Writes docs/conformance.md and docs/conformance.json.

    python scripts/conformance.py            # all cases (from the repository root)
    python scripts/conformance.py --only test_resize --no-write  # a subset
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trtgraph.backend import logger, trt  # noqa: E402
from trtgraph.errors import EvaluationError  # noqa: E402
from trtgraph.reference import evaluate  # noqa: E402

DOC = ROOT / "docs" / "conformance.md"
RECORD = ROOT / "docs" / "conformance.json"

# (atol, rtol) by the dtype of the expected output; integers and bools must match exactly.
TOLERANCES = {
    torch.float32: (1e-4, 1e-3),
    torch.float16: (1e-2, 1e-2),
    torch.bfloat16: (3e-2, 3e-2),
    torch.float8_e4m3fn: (0.0, 0.0),
}

# Ops whose output is random: TensorRT's values cannot be reproduced, only shapes/dtypes.
RANDOM_OPS = {"RandomUniform", "RandomUniformLike", "RandomNormal", "RandomNormalLike",
              "Bernoulli", "Multinomial"}

# ONNX dtypes TensorRT networks cannot take as inputs or outputs.
NUMPY_TO_TORCH = {
    np.dtype("float32"): torch.float32, np.dtype("float16"): torch.float16,
    np.dtype("int32"): torch.int32, np.dtype("int64"): torch.int64, np.dtype("bool"): torch.bool,
    np.dtype("int8"): torch.int8, np.dtype("uint8"): torch.uint8,
}


# Failures whose cause is in the network NVIDIA's parser built (or in what TensorRT can express),
# not in the evaluator: checked by reading the networks (see docs/conformance.md). They still
# count as failures; the report lists them apart.
KNOWN_CAUSES = [
    ("test_triu", "parser: Trilu without an `upper` attribute is built as tril (ONNX's default is "
                  "upper=1); the networks of test_triu* and test_tril* are identical"),
    ("test_spacetodepth_crd", "parser: SpaceToDepth mode=CRD is built with the DCR permutation"),
    ("test_simple_rnn_batchwise", "parser: RNN layout=1 ignored (the loop iterates axis 0, the batch)"),
    ("test_lstm_batchwise", "parser: LSTM layout=1 ignored (the loop iterates axis 0, the batch)"),
    ("test_gru_batchwise", "parser: GRU layout=1 ignored (the loop iterates axis 0, the batch)"),
    ("test_attention_4d_causal_nonpad", "parser: the nonpad_kv_seqlen input is left unconnected "
                                        "(no key_value_lengths on the IAttention)"),
    ("test_attention_4d_gqa_causal_nonpad", "parser: the nonpad_kv_seqlen input is left unconnected "
                                            "(no key_value_lengths on the IAttention)"),
    ("test_attention_local_window", "parser: left_window_size is ignored (no window mask is built)"),
    ("test_attention_bidirectional_window", "parser: left/right_window_size are ignored"),
    ("test_attention_23_boolmask_fullymasked_row", "TensorRT: the value of a fully masked attention "
                                                   "row is undocumented; the evaluator gives softmax's "
                                                   "NaN, ONNX expects 0"),
    ("test_maxpool_2d_ceil_output_size_reduce_by_one", "TensorRT: EXPLICIT_ROUND_UP sizes the output "
                                                       "ceil((in + pads - k) / s) + 1, keeping a last "
                                                       "window that starts in the padding (ONNX and "
                                                       "torch drop it)"),
    ("test_averagepool_2d_ceil_last_window_starts_on_pad", "TensorRT: EXPLICIT_ROUND_UP keeps a last "
                                                           "window that starts in the padding"),
    ("test_quantizelinear", "TensorRT: a uint8 zero point is quantized to INT8 (the network's output "
                            "is INT8, ONNX's is uint8)"),
    ("test_cast_no_saturate", "TensorRT: ICastLayer has no saturate flag, so saturate=0 (overflow to "
                              "NaN) cannot be expressed; the evaluator saturates like saturate=1"),
    ("test_castlike_no_saturate", "TensorRT: ICastLayer has no saturate flag (see test_cast_no_saturate)"),
]

# TensorRT dtypes with no torch equivalent: networks holding such tensors are not evaluable.
UNREPRESENTABLE = {"INT4", "FP4", "E8M0"}


def known_cause(name):
    for prefix, cause in KNOWN_CAUSES:
        if name.startswith(prefix):
            return cause
    return ""


@dataclass
class Result:
    name: str
    op: str
    status: str  # pass | fail | not_evaluable | parse_failed
    reason: str = ""
    layers: list = field(default_factory=list)
    cause: str = ""
    frozen: bool = False  # parsed only with graph inputs 2.. made initializers


def load_cases():
    from onnx.backend.test.case.node import collect_testcases  # noqa: PLC0415

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [c for c in collect_testcases(None) if c.kind == "node"]


def case_ops(cases) -> dict:
    """Case name -> ONNX op; an expanded (function body) case is named after its op."""
    single = {c.name: c.model.graph.node[0].op_type for c in cases if len(c.model.graph.node) == 1}
    ops = {}
    for c in cases:
        nodes = [n.op_type for n in c.model.graph.node]
        base = c.name.split("_expanded")[0]
        if base != c.name and base in single:
            ops[c.name] = single[base] + " (expanded)"
        elif c.name in single:
            ops[c.name] = single[c.name]
        else:
            ops[c.name] = nodes[-1] if nodes else "?"
    return ops


# Parser errors that mean "this input must be a build-time constant": such cases are retried
# with every graph input but the first turned into an initializer holding the case's value.
FREEZE_MARKERS = ("build-time constant", "is_weights", "must be an initializer",
                  "is a shape tensor and must have type")


def frozen_model(case):
    """The case's model with graph inputs 2.. made initializers (same values, same semantics)."""
    from onnx import numpy_helper  # noqa: PLC0415

    model = copy.deepcopy(case.model)
    graph = model.graph
    initialized = {i.name for i in graph.initializer}
    feeds = [i for i in graph.input if i.name not in initialized]
    for info, array in list(zip(feeds, case.data_sets[0][0]))[1:]:
        if hasattr(array, "data_type"):
            tensor = copy.deepcopy(array)
            tensor.name = info.name
        else:
            tensor = numpy_helper.from_array(np.asarray(array), info.name)
        graph.initializer.append(tensor)
        graph.input.remove(info)
    return model


def parse(case, strongly_typed=True, model=None):
    """(builder, network, parser, error) for the case's model (or ``model``)."""
    t = trt()
    builder = t.Builder(logger())
    flags = 1 << int(t.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if strongly_typed else 0
    network = builder.create_network(flags)
    parser = t.OnnxParser(network, logger())
    if parser.parse((model or case.model).SerializeToString()):
        return builder, network, parser, None
    errors = [_parser_error(parser.get_error(i)) for i in range(parser.num_errors)]
    return builder, network, parser, "; ".join(errors)[:300] or "parse failed"


def _parser_error(error):
    desc = str(error.desc())
    if desc == "false":
        return f"{error.node_operator()}: unsupported ({error.code().name})"
    return desc


def _to_torch(array):
    """numpy array or TensorProto -> torch tensor; None for dtypes torch/TensorRT lack."""
    if hasattr(array, "data_type"):
        from onnx import numpy_helper  # noqa: PLC0415

        array = numpy_helper.to_array(array)
    array = np.asarray(array)
    if array.dtype.name == "bfloat16":
        return torch.from_numpy(array.view(np.uint16).copy()).view(torch.bfloat16)
    if array.dtype.name == "float8_e4m3fn":
        return torch.from_numpy(array.view(np.uint8).copy()).view(torch.float8_e4m3fn)
    if array.dtype == np.float64:
        return torch.from_numpy(array.copy())
    if array.dtype not in NUMPY_TO_TORCH:
        return None
    return torch.from_numpy(array.copy())


def _inputs(case, network):
    onnx_inputs = [i.name for i in case.model.graph.input
                   if i.name not in {init.name for init in case.model.graph.initializer}]
    network_inputs = [network.get_input(i).name for i in range(network.num_inputs)]
    data = case.data_sets[0][0]
    if len(network_inputs) == len(onnx_inputs) and set(network_inputs) != set(onnx_inputs):
        onnx_inputs = network_inputs  # the parser renamed an input (seen with Loop): go by position
    inputs = {}
    for name, array in zip(onnx_inputs, data):
        if name not in network_inputs:
            continue
        value = _to_torch(array)
        if value is None:
            raise TypeError(f"input {name!r} has dtype {_dtype_name(array)}, which torch cannot represent")
        if value.dtype == torch.float64:
            value = value.float()  # the parser turns DOUBLE inputs into FLOAT ones
        inputs[name] = value
    return inputs


def _dtype_name(array):
    if hasattr(array, "data_type"):
        from onnx import helper  # noqa: PLC0415

        return helper.tensor_dtype_to_np_dtype(array.data_type).name if array.data_type not in (21, 22, 23) \
            else {21: "uint4", 22: "int4", 23: "float4e2m1"}[array.data_type]
    return np.asarray(array).dtype.name


def _compare(name, got, expected):
    exp = _to_torch(expected)
    if exp is None:
        return f"output {name!r}: expected dtype {_dtype_name(expected)} has no torch equivalent"
    if tuple(got.shape) != tuple(exp.shape):
        return f"output {name!r}: shape {tuple(got.shape)} != expected {tuple(exp.shape)}"
    if exp.dtype.is_floating_point or got.dtype.is_floating_point:
        atol, rtol = TOLERANCES.get(exp.dtype, (1e-4, 1e-3))
        g, e = got.double(), exp.double()
        finite = e[torch.isfinite(e)]
        atol *= max(1.0, finite.abs().max().item()) if finite.numel() else 1.0
        if not torch.allclose(g, e, atol=atol, rtol=rtol, equal_nan=True):
            diff = (g - e).abs().nan_to_num(float("inf"))
            worst = int(diff.reshape(-1).argmax()) if diff.numel() else 0
            return (f"output {name!r}: max abs diff {diff.max().item():.4g} at flat index {worst}"
                    f" (got {g.reshape(-1)[worst].item():.6g}, expected {e.reshape(-1)[worst].item():.6g})")
        return None
    if not torch.equal(got.to(torch.int64), exp.to(torch.int64)):
        mismatch = int((got.to(torch.int64) != exp.to(torch.int64)).sum())
        return f"output {name!r}: {mismatch} of {exp.numel()} integer elements differ"
    return None


def layer_types(network):
    return sorted({network.get_layer(i).type.name for i in range(network.num_layers)})


def _has_random_fill(network):
    t = trt()
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if layer.type == t.LayerType.FILL:
            layer.__class__ = t.IFillLayer
            if layer.operation != t.FillOperation.LINSPACE:
                return True
    return False


def _unrepresentable(network):
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        for j in range(layer.num_outputs):
            if layer.get_output(j).dtype.name in UNREPRESENTABLE:
                return layer.get_output(j).dtype.name
    return None


def run_case(case, op="?") -> Result:
    result = _run_case(case, op)
    if result.status == "fail":
        result.cause = known_cause(case.name)
    return result


def _parse_case(case):
    """(network, error, frozen): parse, retrying with constant inputs when the parser wants them."""
    _, network, parser, error = parse(case)
    if error and any(marker in error for marker in FREEZE_MARKERS) and len(case.model.graph.input) > 1:
        _, frozen_network, frozen_parser, frozen_error = parse(case, model=frozen_model(case))
        if not frozen_error:
            _PARSERS.append(frozen_parser)
            return frozen_network, None, True
    _PARSERS.append(parser)
    return network, error, False


_PARSERS = []  # the parser owns the weights of the network it built: keep it while evaluating


def _run_case(case, op) -> Result:
    _PARSERS.clear()
    try:
        network, error, frozen = _parse_case(case)
    except Exception as exc:  # noqa: BLE001 - parser crashes are recorded per case
        return Result(case.name, op, "parse_failed", f"{type(exc).__name__}: {exc}")
    if error:
        return Result(case.name, op, "parse_failed", error)
    result = _evaluate_case(case, op, network)
    result.frozen = frozen
    return result


def _evaluate_case(case, op, network) -> Result:
    layers = layer_types(network)
    if op.split()[0] in RANDOM_OPS or _has_random_fill(network):
        return Result(case.name, op, "not_evaluable", "random output", layers)
    odd = _unrepresentable(network)
    if odd:
        return Result(case.name, op, "not_evaluable", f"the network holds {odd} tensors (no torch dtype)", layers)
    try:
        inputs = _inputs(case, network)
    except TypeError as exc:
        return Result(case.name, op, "not_evaluable", str(exc), layers)
    try:
        outputs = evaluate(network, inputs)
    except EvaluationError as exc:
        return Result(case.name, op, "fail", f"EvaluationError: {exc}"[:400], layers)
    except Exception as exc:  # noqa: BLE001 - an evaluator bug is a failure, not a crash
        return Result(case.name, op, "fail", f"{type(exc).__name__}: {exc}"[:400], layers)
    onnx_outputs = [o.name for o in case.model.graph.output]
    for name, expected in zip(onnx_outputs, case.data_sets[0][1]):
        if name not in outputs:
            return Result(case.name, op, "fail", f"network has no output {name!r}", layers)
        problem = _compare(name, outputs[name], expected)
        if problem:
            return Result(case.name, op, "fail", problem, layers)
    return Result(case.name, op, "pass", "", layers)


def run(names=None, only=None, progress=False):
    cases = load_cases()
    ops = case_ops(cases)
    if names is not None:
        cases = [c for c in cases if c.name in set(names)]
    if only:
        cases = [c for c in cases if any(c.name.startswith(p) for p in only)]
    results = []
    for i, case in enumerate(cases):
        torch.manual_seed(0)
        results.append(run_case(case, ops[case.name]))
        if progress and i % 100 == 0:
            print(f"  {i}/{len(cases)}", file=sys.stderr, flush=True)
    return results


def strongly_typed_gap(results):
    """Cases that fail to parse strongly typed but parse in a default (weakly typed) network."""
    failed = {r.name for r in results if r.status == "parse_failed"}
    gap = []
    for case in load_cases():
        if case.name not in failed:
            continue
        try:
            _, _, _, error = parse(case, strongly_typed=False)
        except Exception:  # noqa: BLE001
            continue
        if not error:
            gap.append(case.name)
    return gap


def summary(results):
    counts = Counter(r.status for r in results)
    evaluable = counts["pass"] + counts["fail"]
    known = sum(1 for r in results if r.status == "fail" and r.cause)
    return {
        "cases": len(results),
        "parsed": len(results) - counts["parse_failed"],
        "pass": counts["pass"],
        "fail": counts["fail"],
        "fail_known_cause": known,
        "not_evaluable": counts["not_evaluable"],
        "parsed_with_frozen_inputs": sum(1 for r in results if r.frozen),
        "parse_failed": counts["parse_failed"],
        "pass_rate": round(100.0 * counts["pass"] / evaluable, 2) if evaluable else 0.0,
        "pass_rate_without_known_causes": round(100.0 * counts["pass"] / (evaluable - known), 2)
        if evaluable - known else 0.0,
    }


def _header(s, seconds, gap, version):
    return [
        "# Reference evaluator conformance (NVIDIA ONNX parser networks)",
        "",
        "Generated by `scripts/conformance.py`; do not edit by hand. Reproduce with",
        "",
        "    python scripts/conformance.py",
        "",
        f"Every ONNX backend node test case of the installed `onnx` package is parsed by TensorRT"
        f" {version}'s `OnnxParser` into a strongly typed network; `trtgraph.reference.evaluate`"
        " computes the network outputs from the case's inputs, and they are compared with the"
        " case's expected outputs. The networks were written by NVIDIA's parser, not by trtgraph:"
        " an independent check of the evaluator's layer semantics.",
        "",
        "Tolerances (by expected dtype): float32/float64 atol 1e-4, rtol 1e-3; float16 1e-2, 1e-2;"
        " bfloat16 3e-2, 3e-2; float8 exact; the atol is multiplied by the largest finite |expected|"
        " when that exceeds 1 (float32 sums of large terms); integers and bools exact; NaN equals"
        " NaN. Double inputs are given as float32 (the parser turns DOUBLE network inputs into FLOAT"
        " ones).",
        "",
        "*Not evaluable*: random ops (RandomUniform*, RandomNormal*, Bernoulli, Multinomial, and"
        " networks with a random FILL) whose values cannot be reproduced; cases whose inputs or"
        " network tensors are int4 / float4 (INT4 / FP4), which torch cannot represent. Every other"
        " parsed case is a pass or a fail.",
        "",
        "## Summary",
        "",
        "| cases | parsed | pass | fail | of which parser/TensorRT | not evaluable | pass % of evaluable"
        " | pass % without parser/TensorRT causes | seconds |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {s['cases']} | {s['parsed']} | {s['pass']} | {s['fail']} | {s['fail_known_cause']}"
        f" | {s['not_evaluable']} | {s['pass_rate']} | {s['pass_rate_without_known_causes']}"
        f" | {seconds:.0f} |",
        "",
        f"Constant inputs: {s['parsed_with_frozen_inputs']} of the parsed cases parse only once their"
        " graph inputs after the first are made initializers holding the case's values (the parser"
        " requires build-time constants for e.g. Resize scales/sizes, Slice/Pad/Reduce axes); they"
        " are marked *(frozen)* below and evaluated like the others.",
        "",
        f"Strongly typed parsing: {s['parse_failed']} cases do not parse (reasons below);"
        f" {len(gap)} of them parse into a default (weakly typed) network instead"
        + (f": {', '.join(gap)}." if gap else "."),
        "",
    ]


def _parse_failures(results):
    reasons = Counter(_reason_key(r.reason) for r in results if r.status == "parse_failed")
    lines = ["## Parse failures by the parser's first error", "", "| cases | error |", "|---|---|"]
    lines += [f"| {n} | {_md(reason)} |" for reason, n in reasons.most_common()]
    return lines + [""]


def _reason_key(reason):
    first = reason.split("; ")[0]
    if first.endswith("unsupported (UNSUPPORTED_NODE)"):
        return "op not supported by the parser (UNSUPPORTED_NODE)"
    for marker in ("Plugin not found", "Failed to convert ONNX date type", "Unsupported data type",
                   "No importer registered", "unsupported input type"):
        if marker in first:
            return first[first.index(marker) - 0:][:90]
    return first[:90]


def _op_table(results):
    lines = ["## By ONNX op", "", "| op | parsed cases | of which (frozen) | pass | fail | not evaluable |",
             "|---|---|---|---|---|---|"]
    by_op = defaultdict(Counter)
    for r in results:
        if r.status != "parse_failed":
            by_op[r.op][r.status] += 1
            by_op[r.op]["frozen"] += r.frozen
    for op in sorted(by_op, key=str.lower):
        c = by_op[op]
        total = c["pass"] + c["fail"] + c["not_evaluable"]
        lines.append(f"| {op} | {total} | {c['frozen']} | {c['pass']} | {c['fail']} | {c['not_evaluable']} |")
    return lines + [""]


def _layer_table(results):
    counts = Counter(layer for r in results if r.status == "pass" for layer in r.layers)
    lines = ["## TensorRT layer types in passing networks", "",
             "Passing cases whose network holds each layer type (so each type's semantics were"
             " checked by that many independent cases).", "", "| layer type | passing cases |", "|---|---|"]
    lines += [f"| {layer} | {n} |" for layer, n in sorted(counts.items())]
    return lines + [""]


def _failure_lists(results):
    failures = [r for r in results if r.status == "fail"]
    own = [r for r in failures if not r.cause]
    known = [r for r in failures if r.cause]
    lines = ["## Failures", "", "### Evaluator failures", ""]
    lines += [f"- `{r.name}`{_frozen(r)} ({r.op}; layers {', '.join(r.layers)}): {_md(r.reason)}"
              for r in own] or ["None."]
    lines += ["", "### Failures caused by the parser's network or by TensorRT", "",
              "Each was checked by reading the parsed network; the evaluator computes what the"
              " network says.", ""]
    lines += [f"- `{r.name}`{_frozen(r)} ({r.op}): {_md(r.cause)}. Observed: {_md(r.reason)}"
              for r in known] or ["None."]
    lines += ["", "## Not evaluable", ""]
    lines += [f"- `{r.name}` ({r.op}): {_md(r.reason)}" for r in results if r.status == "not_evaluable"]
    return lines + [""]


def write_report(results, seconds, gap):
    s = summary(results)
    version = getattr(trt(), "__version__", "?")
    lines = (_header(s, seconds, gap, version) + _layer_table(results) + _op_table(results)
             + _failure_lists(results) + _parse_failures(results))
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text("\n".join(lines))
    representative = {}
    for r in results:
        if r.status == "pass":
            representative.setdefault(r.op, r.name)
    record = dict(s, tensorrt=version, representative=sorted(representative.values()),
                  passing=sorted(r.name for r in results if r.status == "pass"))
    RECORD.write_text(json.dumps(record, indent=1) + "\n")


def _frozen(result):
    return " *(frozen)*" if result.frozen else ""


def _md(text):
    return text.replace("|", "\\|").replace("\n", " ")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="case name prefixes to run")
    ap.add_argument("--no-write", action="store_true", help="print results, do not write docs/")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every non-passing case")
    args = ap.parse_args(argv)
    start = time.time()
    results = run(only=args.only, progress=True)
    seconds = time.time() - start
    for r in results:
        if args.verbose or (args.no_write and r.status == "fail"):
            if r.status != "pass":
                print(f"{r.status:14} {r.name}: {r.reason}")
    print(json.dumps(summary(results)))
    if not args.no_write:
        write_report(results, seconds, strongly_typed_gap(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
