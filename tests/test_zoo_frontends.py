"""scripts/zoo.py with both frontends: small zoo models convert, build and verify through TorchScript
and torch.export, and an export-only run merges into the TorchScript rows of docs/models.json."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import zoo  # noqa: E402


@pytest.mark.parametrize("name", ["squeezenet1_1", "bert"])
def test_small_zoo_model_verifies_through_both_frontends(name):
    row = zoo.run_one(name, "tiny", "both")
    assert row.get("ok"), row.get("error")
    assert row.get("export_ok"), row.get("export_error")
    assert row["verified"] and row["max_rel"] < zoo.TOLERANCE
    assert row["export_verified"] and row["export_max_rel"] < zoo.TOLERANCE
    assert row["export_layers"] > 0 and row["export_engine_mb"] > 0


def test_export_only_run_keeps_torchscript_fields_and_other_rows(tmp_path):
    old = [{"name": "a", "family": "f", "ok": True, "verified": True, "max_rel": 1e-7, "max_rel16": 1e-4,
            "convert_s": 1.0, "build_s": 1.0, "engine_mb": 1.0, "layers": 3, "export_ok": True,
            "export_verified": True, "export_max_rel": 0.5, "export_convert_s": 9.0},
           {"name": "b", "family": "f", "ok": True, "verified": True, "max_rel": 2e-7, "max_rel16": 1e-4,
            "convert_s": 2.0, "build_s": 1.0, "engine_mb": 1.0, "layers": 4}]
    new = [{"name": "a", "family": "f", "export_ok": False, "export_stage": "convert",
            "export_error": "UnsupportedOpsError: aten::foo | bar has no handler"}]
    rows = zoo._merge(old, new, "export", ["a", "b"])
    assert [r["name"] for r in rows] == ["a", "b"]
    a = rows[0]
    assert a["max_rel"] == 1e-7 and a["ok"] is True  # the TorchScript fields stay
    assert a["export_ok"] is False and "export_max_rel" not in a  # the stale export fields go
    md = tmp_path / "models.md"
    zoo.write_doc(rows, md, "header")
    text = md.read_text()
    assert "| **all** | **2 / 2** | **0 / 2** |" in text
    line = next(ln for ln in text.splitlines() if ln.startswith("| a |"))
    assert "no: UnsupportedOpsError: aten::foo / bar has no handler |" in line
    assert line.count("|") == 14  # 13 columns
    assert next(ln for ln in text.splitlines() if ln.startswith("| b |")).count("not run") == 1
    assert "- **a** (convert): UnsupportedOpsError" in text
