"""Issue 13's detection models run hybrid and match eager (slow: 1-2 minutes each on 2 cores;
``python scripts/hybrid_detection.py`` prints the same as a table)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import hybrid_detection  # noqa: E402


@pytest.mark.slow
@pytest.mark.parametrize("name", hybrid_detection.MODELS)
def test_detection_model_runs_hybrid_and_matches_eager(name):
    row = hybrid_detection.run(name, 320)
    assert row["ok"], row  # boxes/scores/masks within 1e-3 relative, labels exact, on two images
    assert row["trt_flops"] > 0.99  # backbone and heads in TensorRT
    assert row["detections"] and row["detections"][0] > 0
