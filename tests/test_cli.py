"""The trtgraph command line, run in-process through its main()."""
from __future__ import annotations

import inspect
import json
import os
import re
import sys
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn as nn

import trtgraph
from trtgraph.cli import main

HERE = Path(__file__).parent


def tiny_model(width: int = 4):
    """A factory the CLI can import as tests.test_cli:tiny_model."""
    return nn.Sequential(nn.Conv2d(3, width, 3), nn.BatchNorm2d(width), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(width, 2))


def test_convert_factory_writes_engine_and_summary(tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).parent))
    out = tmp_path / "tiny.engine"
    code = main(["convert", "test_cli:tiny_model", "--input", "1x3x16x16", "--kwargs", '{"width": 6}',
                 "--precision", "fp16", "-o", str(out), "--quiet"])
    assert code == 0
    assert out.stat().st_size > 0
    text = capsys.readouterr().out
    for field in ("aten nodes", "TensorRT layers", "conversion time", "build time", "engine"):
        assert field in text
    assert "fp16" in text


def test_convert_torchscript_file(tmp_path, capsys):
    path = tmp_path / "m.pt"
    torch.jit.trace(tiny_model().eval(), torch.randn(1, 3, 8, 8)).save(str(path))
    code = main(["convert", str(path), "--input", "1x3x8x8", "-o", str(tmp_path / "m.engine"), "--quiet"])
    assert code == 0 and (tmp_path / "m.engine").exists()


def test_check_prints_report(capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).parent))
    code = main(["check", "test_cli:tiny_model", "--input", "2x3x9x9", "--node-by-node", "--quiet"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "OK" in text and "node by node" in text


def test_ops_lists_missing(capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).parent))
    code = main(["ops", "test_cli:lgamma_model", "--input", "2x3"])
    text = capsys.readouterr().out
    assert code == 1 and "MISSING aten::lgamma" in text and "ok  aten::relu" in text


def lgamma_model():
    class M(nn.Module):
        def forward(self, x):
            return torch.lgamma(torch.relu(x))
    return M()


def test_bad_model_spec_is_a_clear_error(capsys):
    assert main(["convert", "no_such_pkg_xyz:f", "--input", "1x3"]) == 2
    assert "cannot import" in capsys.readouterr().err
    assert main(["convert", "torch.nn:NotThere", "--input", "1x3"]) == 2
    assert main(["convert", "torchvision.models:resnet18", "--input", "1xAx3"]) == 2
    assert "expected dimensions" in capsys.readouterr().err


def test_unsupported_op_exit_code(capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).parent))
    assert main(["convert", "test_cli:lgamma_model", "--input", "2x3", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "UnsupportedOpsError" in err and "aten::lgamma" in err and "test_cli.py" in err


def embed_model():
    """Two inputs: token ids (int64, values must stay < 100) and float features."""
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(100, 8)
            self.proj = nn.Linear(8, 3)

        def forward(self, ids, feats):
            return self.proj(self.emb(ids).mean(1) + feats)
    return M()


def headed_model():
    """Named submodules for --fp32-module: stem (conv), body (linear), head (linear + softmax)."""
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
            self.body = nn.Linear(4, 8)
            self.head = nn.Sequential(nn.Linear(8, 5), nn.Softmax(-1))

        def forward(self, x):
            return self.head(torch.relu(self.body(self.stem(x).mean((2, 3)))))
    return M()


# --------------------------------------------------------------------------- --dynamic

@pytest.fixture
def factories(monkeypatch):
    """The model factories of this file importable as test_cli:NAME."""
    monkeypatch.syspath_prepend(str(HERE))


_SHAPE_LINE = re.compile(r"^  (min|opt|max)\s+(.*?)\s+max rel (\S+)\s+max abs (\S+)\s+(OK|MISMATCH)$")


def _shape_lines(text: str) -> list:
    return [m.groups() for m in map(_SHAPE_LINE.match, text.splitlines()) if m]


def _fp32_section(text: str) -> tuple:
    """(count in the header, listed lines) of check's 'kept in fp32' section; (None, []) if absent."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"kept in fp32 by the precision policy: (\d+) nodes?$", line)
        if m:
            listed = []
            for more in lines[i + 1:]:
                if not more.startswith("  "):
                    break
                listed.append(more.strip())
            return int(m.group(1)), listed
    return None, []


def test_dynamic_convert_sidecar_records_profile(tmp_path, capsys, factories):
    out = tmp_path / "dyn.engine"
    # dims of one input given both ways: ';'-joined in one spec, and in a second --dynamic without a name
    code = main(["convert", "test_cli:tiny_model", "--input", "2x3x16x16", "-o", str(out), "--quiet",
                 "--dynamic", "input_0:0=1,2,8;2=9,16,32", "--dynamic", "3=10,16,24"])
    text = capsys.readouterr().out
    assert code == 0, text
    side = json.loads(Path(str(out) + ".json").read_text())
    (inp,) = side["inputs"]
    assert inp["name"] == "input_0"
    assert inp["shape"] == [-1, 3, -1, -1]
    assert inp["profile"] == {"min": [1, 3, 9, 10], "opt": [2, 3, 16, 16], "max": [8, 3, 32, 24]}
    line = next(l for l in text.splitlines() if l.startswith("profile input_0"))
    assert "min (1, 3, 9, 10)" in line and "opt (2, 3, 16, 16)" in line and "max (8, 3, 32, 24)" in line


def test_dynamic_convert_named_inputs(tmp_path, capsys, factories):
    out = tmp_path / "emb.engine"
    code = main(["convert", "test_cli:embed_model", "--input", "2x8:int64", "--input", "2x8",
                 "--input-name", "ids", "--input-name", "feats", "-o", str(out), "--quiet",
                 "--dynamic", "ids:0=1,2,4;1=4,8,16", "--dynamic", "feats:0=1,2,4"])
    text = capsys.readouterr().out
    assert code == 0, text
    side = json.loads(Path(str(out) + ".json").read_text())
    by_name = {i["name"]: i for i in side["inputs"]}
    assert list(by_name) == ["ids", "feats"]
    assert by_name["ids"]["dtype"] == "int64"
    assert by_name["ids"]["profile"] == {"min": [1, 4], "opt": [2, 8], "max": [4, 16]}
    assert by_name["feats"]["profile"] == {"min": [1, 8], "opt": [2, 8], "max": [4, 8]}
    assert re.search(r"^profile ids\s+min \(1, 4\)\s+opt \(2, 8\)\s+max \(4, 16\)$", text, re.M), text
    assert re.search(r"^profile feats\s+min \(1, 8\)\s+opt \(2, 8\)\s+max \(4, 8\)$", text, re.M), text


def test_unnamed_dynamic_means_the_only_input_whatever_its_name(tmp_path, capsys, factories):
    out = tmp_path / "img.engine"
    code = main(["convert", "test_cli:tiny_model", "--input", "2x3x16x16", "--input-name", "images",
                 "--dynamic", "0=1,2,6", "-o", str(out), "--quiet"])
    assert code == 0, capsys.readouterr()
    (inp,) = json.loads(Path(str(out) + ".json").read_text())["inputs"]
    assert inp["name"] == "images"
    assert inp["profile"] == {"min": [1, 3, 16, 16], "opt": [2, 3, 16, 16], "max": [6, 3, 16, 16]}


def test_static_convert_prints_no_profile(tmp_path, capsys, factories):
    assert main(["convert", "test_cli:tiny_model", "--input", "1x3x8x8", "-o", str(tmp_path / "s.engine"),
                 "--quiet"]) == 0
    assert "profile" not in capsys.readouterr().out


def test_check_dynamic_verifies_min_opt_max(capsys, factories):
    # int64 token ids index a 100-row embedding: values outside [0, 100) would make eager torch raise
    code = main(["check", "test_cli:embed_model", "--input", "2x8:int64", "--input", "2x8",
                 "--input-name", "ids", "--input-name", "feats", "--quiet",
                 "--dynamic", "ids:0=1,2,4;1=4,8,16", "--dynamic", "feats:0=1,2,4"])
    text = capsys.readouterr().out
    assert code == 0, text
    rows = _shape_lines(text)
    assert [r[0] for r in rows] == ["min", "opt", "max"], text
    assert [r[1] for r in rows] == ["ids (1, 4), feats (1, 8)", "ids (2, 8), feats (2, 8)",
                                    "ids (4, 16), feats (4, 8)"]
    for _, _, rel, _, status in rows:
        assert status == "OK" and float(rel) <= 1e-4


def test_check_dynamic_one_input_unnamed(capsys, factories):
    code = main(["check", "test_cli:tiny_model", "--input", "2x3x12x12", "--quiet", "--dynamic", "0=1,2,5"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert [r[1] for r in _shape_lines(text)] == ["input_0 (1, 3, 12, 12)", "input_0 (2, 3, 12, 12)",
                                                  "input_0 (5, 3, 12, 12)"]


def test_check_dynamic_fails_on_mismatch(capsys, factories):
    # fp16 against an exact tolerance: every shape mismatches
    code = main(["check", "test_cli:tiny_model", "--input", "2x3x12x12", "--quiet", "--precision", "fp16",
                 "--rtol", "1e-12", "--atol", "0", "--dynamic", "0=1,2,5"])
    text = capsys.readouterr().out
    assert code == 1, text
    rows = _shape_lines(text)
    assert len(rows) == 3 and all(r[4] == "MISMATCH" and float(r[2]) > 0 for r in rows), text


def test_check_dynamic_fails_if_only_max_shape_fails(capsys, factories, monkeypatch):
    # the example and min/opt shapes agree; the max shape (batch 7) is made to disagree
    real = trtgraph.Conversion.verify

    def verify(self, *inputs, **kw):
        report = real(self, *inputs, **kw)
        if inputs[0].shape[0] == 7:
            for o in report.outputs:
                o.max_abs = o.max_rel = 0.5
        return report

    monkeypatch.setattr(trtgraph.Conversion, "verify", verify)
    code = main(["check", "test_cli:tiny_model", "--input", "2x3x12x12", "--quiet", "--dynamic", "0=1,3,7"])
    text = capsys.readouterr().out
    assert code == 1, text
    rows = _shape_lines(text)
    assert [(r[0], r[4]) for r in rows] == [("min", "OK"), ("opt", "OK"), ("max", "MISMATCH")], text
    assert float(rows[2][2]) == 0.5


@pytest.mark.parametrize("spec", ["0=1,8", "input_0:0=1;8;32", "0=a,b,c", "x=1,8,32", "input_0:0", ":0=1,8,32",
                                  "0=8,4,2", "0=0,1,2", "0=1,8,32;0=2,8,32", "0=1,8,32,64"])
def test_malformed_dynamic_exits_2(spec, capsys, factories):
    with pytest.raises(SystemExit) as exc:
        main(["convert", "test_cli:tiny_model", "--input", "2x3x16x16", "--quiet", f"--dynamic={spec}"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    line = next((l for l in err.splitlines() if "--dynamic" in l and "error" in l), "")
    assert repr(spec) in line and "DIM=MIN,OPT,MAX" in line, err


@pytest.mark.parametrize("args, expected", [
    (["--dynamic", "nope:0=1,2,8"], "'nope'"),
    (["--dynamic", "input_0:7=1,2,8"], "dim 7"),
    (["--dynamic", "0=4,8,16"], "outside"),  # the 2x... example lies outside 4..16
    (["--input-name", "a", "--input-name", "b", "--dynamic", "a:0=1,2,8"], "--input-name"),
    (["--dynamic", "0=1,2,8", "--dynamic", "input_0:0=1,2,4"], "given twice"),
])
def test_dynamic_bad_name_or_dim_is_input_error(args, expected, capsys, factories):
    code = main(["convert", "test_cli:tiny_model", "--input", "2x3x16x16", "--quiet"] + args)
    err = capsys.readouterr().err
    assert code != 0
    assert "Traceback" not in err
    assert err.startswith("trtgraph: error: InputError:") and expected in err, err


def test_unnamed_dynamic_needs_one_input(capsys, factories):
    code = main(["check", "test_cli:embed_model", "--input", "2x8:int64", "--input", "2x8", "--quiet",
                 "--dynamic", "0=1,2,4"])
    err = capsys.readouterr().err
    assert code != 0 and "InputError" in err and "one input" in err and "Traceback" not in err


# --------------------------------------------------------------------------- precision policy flags

@pytest.fixture
def convert_spy(monkeypatch):
    """Record the keyword arguments and result of every trtgraph.convert the CLI makes."""
    calls = []
    real = trtgraph.convert

    def spy(*args, **kwargs):
        conv = real(*args, **kwargs)
        calls.append((kwargs, conv))
        return conv

    monkeypatch.setattr(trtgraph, "convert", spy)
    return calls


def test_no_policy_flags_leave_the_default(capsys, factories, convert_spy):
    assert main(["check", "test_cli:tiny_model", "--input", "1x3x8x8", "--quiet"]) == 0
    ((kwargs, _),) = convert_spy
    assert kwargs.get("precision_policy") is None


def test_policy_flags_reach_convert(capsys, factories, convert_spy):
    assert main(["check", "test_cli:headed_model", "--input", "2x3x8x8", "--quiet", "--precision", "fp16",
                 "--rtol", "1e-2", "--atol", "1e-3", "--fp32-op", "aten::relu", "--fp32-op", "aten::gelu",
                 "--fp32-module", "layer4.*", "--fp32-module", "head"]) == 0
    assert main(["check", "test_cli:headed_model", "--input", "2x3x8x8", "--quiet", "--precision", "bf16",
                 "--rtol", "5e-2", "--atol", "1e-2", "--no-default-fp32"]) == 0
    (first, _), (second, _) = convert_spy
    policy = first["precision_policy"]
    assert isinstance(policy, trtgraph.PrecisionPolicy)
    assert policy.fp32_ops is None  # the defaults, plus:
    assert list(policy.extra_fp32_ops) == ["aten::relu", "aten::gelu"]
    assert list(policy.fp32_modules) == ["layer4.*", "head"]
    policy = second["precision_policy"]
    assert isinstance(policy, trtgraph.PrecisionPolicy)
    assert policy.fp32_ops is not None and set(policy.fp32_ops) == set()
    assert list(policy.extra_fp32_ops) == [] and list(policy.fp32_modules) == []


def test_fp32_module_shows_in_check_output(capsys, factories, convert_spy):
    base = ["check", "test_cli:headed_model", "--input", "2x3x8x8", "--quiet", "--precision", "fp16",
            "--rtol", "1e-2", "--atol", "1e-3", "--no-default-fp32"]
    # nothing kept: no default ops, no modules
    assert main(base) == 0
    count, listed = _fp32_section(capsys.readouterr().out)
    assert count == 0 and listed == []
    # the head (a Linear and a Softmax) kept by module name; stem and body are not
    assert main(base + ["--fp32-module", "head"]) == 0
    text = capsys.readouterr().out
    count, listed = _fp32_section(text)
    assert count == 2 and len(listed) == 2, text
    assert all("'head." in line for line in listed), text
    assert any("aten::linear" in line for line in listed) and any("aten::softmax" in line for line in listed)
    nodes = convert_spy[-1][1].fp32_nodes
    assert len(nodes) == 2 and all("head" in str(n) for n in nodes)
    # an anchored pattern: only 'body'
    assert main(base + ["--fp32-module", "^body$"]) == 0
    count, listed = _fp32_section(capsys.readouterr().out)
    assert count == 1 and "aten::linear" in listed[0] and "'body'" in listed[0]
    # --fp32-op adds an op kind: both relus (stem.1 and the one in forward)
    assert main(base + ["--fp32-op", "aten::relu"]) == 0
    count, listed = _fp32_section(capsys.readouterr().out)
    assert count == 2 and all(line.startswith("aten::relu") for line in listed)


def test_fp32_section_only_for_reduced_precision(capsys, factories):
    assert main(["check", "test_cli:headed_model", "--input", "2x3x8x8", "--quiet", "--fp32-module", "head"]) == 0
    assert _fp32_section(capsys.readouterr().out) == (None, [])


def test_convert_summary_counts_fp32_nodes(tmp_path, capsys, factories):
    assert main(["convert", "test_cli:headed_model", "--input", "2x3x8x8", "--quiet", "--precision", "fp16",
                 "--no-default-fp32", "--fp32-module", "head", "-o", str(tmp_path / "h.engine")]) == 0
    assert re.search(r"^kept in fp32\s+2 nodes$", capsys.readouterr().out, re.M)


def test_bad_fp32_module_regex_exits_2(capsys, factories):
    with pytest.raises(SystemExit) as exc:
        main(["check", "test_cli:tiny_model", "--input", "1x3x8x8", "--fp32-module", "layer4.(["])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--fp32-module" in err and "'layer4.(['" in err and "regular expression" in err


# --------------------------------------------------------------------------- user errors, exit codes (issue 10, item 8)

def broken_factory():
    raise ValueError("the weights file is missing")


class _Triple(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 3

    @staticmethod
    def backward(ctx, grad):
        return grad * 3


def python_op_model():
    class M(nn.Module):
        def forward(self, x):
            return torch.relu(_Triple.apply(x))
    return M()


class _Flow(nn.Module):
    def forward(self, x):
        if bool(x.sum() > 0):
            x = x * 2
        for _ in range(3):
            x = x + 1
        return torch.relu(x)


def _one_error_line(err: str, *needles) -> str:
    """stderr holds exactly one line, a named trtgraph error containing every needle."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("trtgraph: error: ") and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], (needle, err)
    return lines[0]


@pytest.mark.parametrize("kwargs, needles", [
    ("{width: 3}", ["--kwargs", "not valid JSON", '"num_classes"']),
    ("[3]", ["--kwargs", "not an object"]),
    ('{"depth": 3}', ["depth", "width"]),          # the factory takes width only: named in the fix
])
def test_bad_kwargs_is_one_line_exit_2(kwargs, needles, capsys, factories):
    assert main(["ops", "test_cli:tiny_model", "--input", "1x3x8x8", "--kwargs", kwargs]) == 2
    _one_error_line(capsys.readouterr().err, *needles)


def test_factory_that_raises_is_one_line_exit_2(capsys, factories):
    assert main(["check", "test_cli:broken_factory", "--input", "1x3", "--quiet"]) == 2
    _one_error_line(capsys.readouterr().err, "broken_factory", "ValueError", "the weights file is missing",
                    "fix the factory")


def test_huge_dims_are_refused_before_allocating(capsys, factories, monkeypatch):
    def no_allocation(*args, **kwargs):
        raise AssertionError("an example input was allocated")

    monkeypatch.setattr(torch, "randn", no_allocation)
    monkeypatch.setattr(torch, "randint", no_allocation)
    assert main(["convert", "test_cli:tiny_model", "--input", "100000000x100000000", "--quiet"]) == 2
    _one_error_line(capsys.readouterr().err, "--input", "GiB", "smaller example shape")
    # several inputs together, each under the limit
    assert main(["ops", "test_cli:embed_model", "--input", "20000x20000:int64", "--input", "20000x20000"]) == 2
    _one_error_line(capsys.readouterr().err, "GiB")


def test_check_refuses_a_huge_dynamic_max_before_converting(capsys, factories, convert_spy):
    assert main(["check", "test_cli:tiny_model", "--input", "2x3x8x8", "--quiet",
                 "--dynamic", "0=1,2,100000000000"]) == 2
    _one_error_line(capsys.readouterr().err, "--dynamic", "GiB")
    assert convert_spy == []


def _unwritable_folder(tmp_path) -> Path:
    """A folder path that cannot be written, also for root (for whom chmod does not block writes)."""
    if os.geteuid() == 0:
        blocker = tmp_path / "a-file"
        blocker.write_text("x")
        return blocker / "sub"
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    return folder


def test_unwritable_output_is_refused_before_converting(tmp_path, capsys, factories, convert_spy):
    out = _unwritable_folder(tmp_path) / "m.engine"
    try:
        assert main(["convert", "test_cli:tiny_model", "--input", "1x3x8x8", "-o", str(out), "--quiet"]) == 2
        _one_error_line(capsys.readouterr().err, "-o", "cannot write", "writable")
        assert convert_spy == []
        assert main(["convert", "test_cli:tiny_model", "--input", "1x3x8x8", "-o", str(tmp_path), "--quiet"]) == 2
        _one_error_line(capsys.readouterr().err, "is a folder")
    finally:
        for p in tmp_path.iterdir():
            p.chmod(0o700) if p.is_dir() else None


def test_missing_torchscript_file_says_so(tmp_path, capsys):
    assert main(["convert", str(tmp_path / "missing.pt"), "--input", "1x3", "--quiet"]) == 2
    _one_error_line(capsys.readouterr().err, "missing.pt", "no such TorchScript file", "check the path")


def test_internal_error_exits_3_traceback_only_with_debug(capsys, factories, monkeypatch):
    def boom(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(trtgraph, "convert", boom)
    argv = ["check", "test_cli:tiny_model", "--input", "1x3x8x8", "--quiet"]
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert "internal error: ZeroDivisionError: a bug" in err and "--debug" in err and "Traceback" not in err
    for debug_argv in (argv + ["--debug"], ["--debug"] + argv):
        assert main(debug_argv) == 3
        err = capsys.readouterr().err
        assert "Traceback" in err and "ZeroDivisionError: a bug" in err, err


def test_check_mismatch_exits_1(capsys, factories):
    code = main(["check", "test_cli:tiny_model", "--input", "1x3x8x8", "--quiet", "--precision", "fp16",
                 "--rtol", "0", "--atol", "0"])
    assert code == 1 and "MISMATCH" in capsys.readouterr().out


def test_current_folder_is_importable(tmp_path, capsys, monkeypatch):
    pkg = tmp_path / "mypkg_cwd_probe"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "models.py").write_text("import torch\n\ndef build():\n    return torch.nn.ReLU()\n")
    monkeypatch.chdir(tmp_path)
    # as the installed `trtgraph` script runs: neither '' nor the current folder on sys.path
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path), ".")])
    for name in [m for m in sys.modules if m.startswith("mypkg_cwd_probe")]:
        monkeypatch.delitem(sys.modules, name)
    try:
        assert main(["ops", "mypkg_cwd_probe.models:build", "--input", "2x3"]) == 0, capsys.readouterr().err
        assert "ok  aten::relu" in capsys.readouterr().out
    finally:
        for name in [m for m in sys.modules if m.startswith("mypkg_cwd_probe")]:
            del sys.modules[name]


def test_ops_reports_python_op_with_source_line(capsys, factories):
    assert main(["ops", "test_cli:python_op_model", "--input", "2x3"]) == 1
    out = capsys.readouterr().out
    assert re.search(r"^MISSING prim::PythonOp\s+x1$", out, re.M), out
    detail = next(line for line in out.splitlines() if "_Triple" in line)
    assert "autograd.Function" in detail and re.search(r"test_cli\.py:\d+", detail), out
    assert "torch ops" in detail  # the hint


def test_scripted_file_gets_one_control_flow_error(tmp_path, capsys):
    path = tmp_path / "scripted.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script is deprecated
        torch.jit.script(_Flow()).save(str(path))
    for command in ("convert", "ops"):
        assert main([command, str(path), "--input", "2x3", "--quiet", "-o", str(tmp_path / "s.engine")][
                    : None if command == "convert" else 5]) == 2
        _one_error_line(capsys.readouterr().err, "scripted", "control flow", "prim::If", "prim::Loop",
                        "torch.jit.trace")


def test_forced_backend_names_the_variable(capsys, factories, monkeypatch):
    import importlib.util

    from trtgraph import backend

    if importlib.util.find_spec("tensorrt") is not None and hasattr(importlib.import_module("tensorrt"), "Builder"):
        pytest.skip("standard TensorRT is installed here: TRTGRAPH_BACKEND=tensorrt works")
    monkeypatch.setenv("TRTGRAPH_BACKEND", "tensorrt")
    monkeypatch.setattr(backend, "_trt", None)
    monkeypatch.setattr(backend, "_flavour", None)
    assert main(["check", "test_cli:tiny_model", "--input", "1x3x8x8", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "BackendUnavailableError" in err and "TRTGRAPH_BACKEND=tensorrt" in err and "unset" in err, err


def test_no_strict_reaches_convert(capsys, factories, convert_spy):
    code = main(["check", "test_cli:tiny_model", "--input", "1x3x8x8", "--quiet", "--no-strict"])
    if "strict" in inspect.signature(trtgraph.api.convert).parameters:
        assert code == 0
        ((kwargs, _),) = convert_spy
        assert kwargs["strict"] is False
    else:  # a trtgraph without a strict mode: the flag is refused by name, not ignored
        assert code == 2 and convert_spy == []
        _one_error_line(capsys.readouterr().err, "--no-strict")


def test_check_reduced_precision_passes_with_default_tolerances(capsys, factories):
    # fp16/bf16 default tolerances follow the precision (fp16 1e-2, bf16 6e-2), not fp32's 1e-4
    for precision, rtol in (("fp16", "0.01"), ("bf16", "0.06")):
        assert main(["check", "test_cli:headed_model", "--input", "2x3x8x8", "--quiet",
                     "--precision", precision]) == 0
        assert f"rtol={rtol}" in capsys.readouterr().out


def test_check_through_the_export_frontend_and_a_pt2_file(capsys, factories, tmp_path):
    assert main(["check", "test_cli:headed_model", "--input", "2x3x8x8", "--quiet", "--frontend", "export"]) == 0
    assert "OK" in capsys.readouterr().out
    model = headed_model().eval()
    program = torch.export.export(model, (torch.randn(2, 3, 8, 8),))
    path = tmp_path / "m.pt2"
    torch.export.save(program, str(path))
    assert main(["check", str(path), "--input", "2x3x8x8", "--quiet"]) == 0
    conv = trtgraph.convert(torch.export.load(str(path)))  # an ExportedProgram needs no inputs
    x = torch.randn(2, 3, 8, 8)
    assert conv.verify(x).ok
