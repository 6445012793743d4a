"""Reference evaluator speed vs eager torch on the same CPU (issue: evaluation <= 3x eager).

    python scripts/bench_evaluator.py [--model resnet50] [--repeats 5]

Prints the median wall time of eager torch and of ``trtgraph.reference.evaluate`` on the
converted network at batch 1, and their ratio.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="resnet50")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    import torch
    import torchvision

    import trtgraph
    from trtgraph.reference import evaluate

    model = torchvision.models.get_model(args.model, weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
    conv = trtgraph.convert(model, [x])
    feed = {conv.input_names[0]: x}
    eager, ref = [], []
    with torch.no_grad():
        model(x)
        evaluate(conv.network, feed)  # warm-up both
        for _ in range(args.repeats):  # alternate so both see the same machine load
            t0 = time.perf_counter()
            model(x)
            eager.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            evaluate(conv.network, feed)
            ref.append(time.perf_counter() - t0)
    e, r = statistics.median(eager), statistics.median(ref)
    print(f"{args.model} batch 1, {torch.get_num_threads()} threads, load {os.getloadavg()[0]:.2f}: "
          f"eager {e * 1000:.1f} ms, reference evaluator {r * 1000:.1f} ms, ratio {r / e:.2f}x "
          f"({conv.num_layers} layers, median of {args.repeats})")


if __name__ == "__main__":
    main()
