"""The benchmarks produce their fields (never timing assertions: speed is reported by the benchmark
scripts, not tested), and ``trtgraph bench`` handles its arguments and machines without a GPU."""
from __future__ import annotations

import os
import sys

from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmarks/ is not installed; also for bare `pytest`
from benchmarks import common, compare, scaling  # noqa: E402
from trtgraph import bench as runtime_bench  # noqa: E402


# --------------------------------------------------------------------------- compare


def test_compare_rows_for_a_tiny_cnn():
    model, inputs = common.build_model("tiny_cnn")
    rows = compare.compare_model("tiny_cnn", model, inputs, routes=("trtgraph", "onnx_ts"), repeats=1, warm=False)
    assert [r["route"] for r in rows] == ["trtgraph", "onnx_ts"]
    t = rows[0]
    assert t["ok"], t.get("error")
    assert t["model"] == "tiny_cnn" and t["repeats"] == 1
    assert t["network_s"] > 0 and t["build_s"] > 0
    assert t["network_s_min"] <= t["network_s"] <= t["network_s_max"]
    assert t["layers"] >= 5  # 2 convs, 2 relus, pooling, linear
    assert t["engine_bytes"] > 0
    assert t["params"] == sum(p.numel() for p in model.parameters())
    assert t["weight_bytes"] == 4 * t["params"]
    assert t["trace_s"] is not None and 0 < t["trace_s"] <= t["network_s"]
    o = rows[1]
    if o["ok"]:  # the ONNX route needs torch.onnx's TorchScript exporter
        assert o["network_s"] > 0 and o["build_s"] > 0 and o["layers"] > 0 and o["engine_bytes"] > 0
        assert o["onnx_bytes"] > o["weight_bytes"]  # the ONNX file holds the weights
    else:
        assert o["stage"] in ("export", "parse", "build") and o["error"]


def test_the_export_route_converts_with_the_export_frontend():
    model, inputs = common.build_model("tiny_cnn")
    rows = compare.compare_model("tiny_cnn", model, inputs, routes=("trtgraph", "trtgraph_export"), repeats=1,
                                 warm=False)
    jit, export = rows
    assert jit["ok"] and export["ok"], (jit.get("error"), export.get("error"))
    assert export["route"] == "trtgraph_export" and export["layers"] == jit["layers"]
    assert export["trace_s"] is not None and 0 < export["trace_s"] <= export["network_s"]


def test_a_failing_route_is_a_row(monkeypatch):
    import trtgraph

    def broken(*args, **kwargs):
        raise trtgraph.UnsupportedOpsError(["node #1 aten::frobnicate: no handler"])

    monkeypatch.setattr(trtgraph, "convert", broken)
    model, inputs = common.build_model("tiny_cnn")
    rows = compare.compare_model("tiny_cnn", model, inputs, routes=("trtgraph",), repeats=2, warm=False)
    assert rows[0]["ok"] is False and rows[0]["stage"] == "convert"
    assert "UnsupportedOpsError" in rows[0]["error"] and rows[0]["repeats"] == 0


def test_report_states_where_trtgraph_is_slower(tmp_path):
    base = {"model": "m", "ok": True, "params": 10, "weight_bytes": 40, "layers": 3, "engine_bytes": 100,
            "network_s_min": 1, "network_s_max": 1, "build_s_min": 1, "build_s_max": 1, "repeats": 1}
    rows = [dict(base, route="trtgraph", network_s=2.0, build_s=1.0, peak_network_bytes=10e6, peak_total_bytes=50e6,
                 peak_total_rss_bytes=60e6),
            dict(base, route="onnx_ts", network_s=1.0, build_s=1.0, peak_network_bytes=100e6, peak_total_bytes=150e6,
                 peak_total_rss_bytes=160e6),
            {"model": "m", "route": "onnx_dynamo", "ok": False, "stage": "export", "error": "boom", "params": 10}]
    info = {"date": "d", "cpu": "c", "cores": 2, "memory": "m", "gpu": "none", "os": "o", "python": "p",
            "torch": "t", "torchvision": "tv", "transformers": "tr", "onnx": "on", "onnxscript": "os",
            "tensorrt": "trt", "trtgraph": "rev", "loadavg_start": (1.0, 1.0, 1.0)}
    md = tmp_path / "b.md"
    compare.write_report({"rows": rows, "machine": info, "models": ["m"], "repeats": 1}, md, None)
    text = md.read_text()
    assert "trtgraph is 2.00× the onnx_ts route" in text  # time to network
    assert "| `m` | 2.00× / –" in text
    assert "the onnx_dynamo route failed (export: boom)" in text


# --------------------------------------------------------------------------- memory and scaling


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_peak_meter_sees_an_allocation():
    with common.PeakMeter() as meter:
        block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
        del block
        peak = meter.anon_peak_above_baseline()
        assert meter.peak_above_baseline() >= 0
    assert 48 * 2**20 <= peak <= 256 * 2**20


def test_conversion_keeps_views_of_the_weights():
    import trtgraph

    model, inputs = common.build_model("tiny_cnn")
    conv = trtgraph.convert(model, inputs)
    shared, copied = scaling.kept_copies(conv, model)
    assert shared == common.weight_bytes(model)  # every weight reaches TensorRT without a copy
    assert copied < 1024


def test_fit_of_a_line():
    f = scaling.fit([1, 2, 3, 4], [3, 5, 7, 9])
    assert f["slope"] == pytest.approx(2) and f["intercept"] == pytest.approx(1) and f["r2"] == pytest.approx(1)


# --------------------------------------------------------------------------- trtgraph bench


def test_percentiles():
    values = list(range(1, 101))
    assert runtime_bench.percentile(values, 50) == pytest.approx(50.5)
    assert runtime_bench.percentile(values, 99) == pytest.approx(np.percentile(values, 99))
    s = runtime_bench.summarize([1.0, 2.0, 3.0], throughput=10.0)
    assert s["p50_ms"] == 2.0 and s["mean_ms"] == 2.0 and s["iters"] == 3 and s["throughput"] == 10.0


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_bench_without_gpu_exits_2_with_a_named_error(no_gpu, capsys):
    code = runtime_bench.main(["torchvision.models:resnet18", "--input", "1x3x224x224"])
    err = capsys.readouterr().err
    assert code == 2
    assert "GpuUnavailableError" in err and "torch.cuda.is_available() is False" in err


def test_bench_without_gpu_on_an_engine_file(no_gpu, capsys, tmp_path):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"not checked before the GPU is")
    assert runtime_bench.main([str(engine)]) == 2
    assert "GpuUnavailableError" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["torchvision.models:resnet18"], "a model needs --input"),
    (["missing.engine"], "no such engine file"),
    (["torchvision.models:resnet18", "--input", "1xq"], "expected dimensions"),
    (["torchvision.models:resnet18", "--input", "1x3", "--iters", "0"], "--iters must be positive"),
    (["torchvision.models:resnet18", "--input", "1x3", "--warmup", "-1"], "--warmup must be >= 0"),
    (["torchvision.models:resnet18", "--input", "1x3", "--kwargs", "[1]"], "must be a JSON object"),
])
def test_bench_argument_errors(argv, message, no_gpu, capsys):
    assert runtime_bench.main(argv) == 2
    err = capsys.readouterr().err
    assert "InputError" in err and message in err


def test_bench_rejects_unknown_options(capsys):
    with pytest.raises(SystemExit) as exc:
        runtime_bench.main(["m.engine", "--frobnicate"])
    assert exc.value.code == 2


def test_bench_via_the_trtgraph_cli(no_gpu, capsys):
    from trtgraph import cli

    parser = cli.build_parser()
    subcommands = next(a for a in parser._actions if a.dest == "command").choices
    assert "bench" in subcommands
    assert cli.main(["bench", "torchvision.models:resnet18", "--input", "1x3x224x224"]) == 2
    assert "GpuUnavailableError" in capsys.readouterr().err


def test_benchmarks_package_is_importable_from_the_repo():
    assert "benchmarks" in sys.modules and common.ROOT.joinpath("benchmarks", "__init__.py").exists()
