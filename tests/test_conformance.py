"""The reference evaluator on NVIDIA's ONNX parser networks (see docs/conformance.md).

By default one recorded passing case per ONNX op runs (a few seconds); ``-m slow`` runs every
ONNX backend node case and fails if fewer pass than docs/conformance.json records.
"""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RECORD = json.loads((ROOT / "docs" / "conformance.json").read_text())


def _conformance():
    spec = importlib.util.spec_from_file_location("trtgraph_conformance", ROOT / "scripts" / "conformance.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _failures(results):
    return [f"{r.name} ({r.status}): {r.reason}" for r in results if r.status != "pass"]


def test_representative_cases_pass():
    """One case per ONNX op that passed when docs/conformance.json was written."""
    names = RECORD["representative"]
    assert len(names) > 100
    results = _conformance().run(names=names)
    assert len(results) == len(names), "some recorded cases are no longer in the onnx package"
    assert not _failures(results), "\n".join(_failures(results))


@pytest.mark.slow
def test_full_suite_pass_count_does_not_drop():
    conformance = _conformance()
    results = conformance.run()
    summary = conformance.summary(results)
    now = {r.name for r in results if r.status == "pass"}
    regressed = sorted(set(RECORD["passing"]) - now)
    assert summary["pass"] >= RECORD["pass"], (
        f"{summary['pass']} cases pass, {RECORD['pass']} recorded; no longer passing: {regressed}")
