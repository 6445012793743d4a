"""Benchmarks of trtgraph (not part of the installed package; run from the repository root).

    python -m benchmarks.compare    # trtgraph vs torch.onnx.export + NVIDIA's OnnxParser -> docs/benchmarks.md
    python -m benchmarks.scaling    # conversion time and memory against model size       -> docs/scaling.md
    trtgraph bench ENGINE_OR_MODEL --input ...   # engine latency on a GPU (trtgraph/bench.py)

Speed and memory figures are printed and written to docs/ by these scripts; the tests
(tests/test_benchmarks.py) only check that the fields are produced and sane, never timings.
Extra dependencies: ``pip install -e '.[bench]'`` (matplotlib, onnx, onnxscript).
"""
