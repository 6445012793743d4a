"""The trtgraph command line, run in-process through its main()."""
from __future__ import annotations

import torch
import torch.nn as nn

from trtgraph.cli import main


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
