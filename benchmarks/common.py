"""What the benchmarks share: the models (random weights, nothing downloaded), memory measurement,
the machine description for the docs' headers, fresh-subprocess runs and Markdown helpers.

Memory is measured as the **peak memory above a baseline**, in a fresh process:

1. import torch, trtgraph (and the exporter the route uses), build the model and its inputs, run the
   route once on a tiny CNN (so one-off lazy imports and first-call initialisation are not billed
   to the model), ``gc.collect()``;
2. the baseline: the process's anonymous resident memory (``resident - shared`` of
   ``/proc/self/statm``) and its RSS, after the kernel's RSS high-water mark was reset
   (``echo 5 > /proc/self/clear_refs``);
3. run the phase. The **main figure** is the peak of the anonymous memory (sampled every
   millisecond by a helper process) minus its baseline. The RSS high-water mark (``VmHWM``) minus
   the baseline RSS is recorded too: it also counts file-backed pages (the code of torch and
   TensorRT), which other processes' memory pressure evicts and the phase faults in again, so on
   a shared machine it adds noise of up to hundreds of MB (seen: +300 MB on a 3-layer CNN).
"""
from __future__ import annotations

import datetime
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
RESULT_TAG = "BENCH_RESULT "

# --------------------------------------------------------------------------- memory


def rss_bytes() -> int:
    """Current resident set size of this process."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return peak_rss_bytes()


def peak_rss_bytes() -> int:
    """The RSS high-water mark: ``VmHWM`` of /proc/self/status where it exists, else
    ``getrusage(RUSAGE_SELF).ru_maxrss``.

    After a reset through ``clear_refs`` only ``VmHWM`` is trustworthy: the kernel folds the
    high-water mark into the process's ``ru_maxrss`` whenever a thread exits (torch's and TensorRT's
    worker threads do), and the reset does not clear that copy, so ``ru_maxrss`` can keep reporting
    a peak from before the reset (seen here: 2.5 GB "above baseline" for a phase that used 0.1 GB).
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def reset_peak_rss() -> bool:
    """Reset the RSS high-water mark (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def anon_bytes(pid="self") -> int:
    """Anonymous (not file-backed) resident memory of a process: ``resident - shared`` of /proc/PID/statm."""
    with open(f"/proc/{pid}/statm") as f:
        fields = f.read().split()
    return (int(fields[1]) - int(fields[2])) * os.sysconf("SC_PAGE_SIZE")


def _sampler_main(pid: int):
    """Child of :class:`PeakMeter`: sample ``anon_bytes(pid)`` every millisecond; answer commands
    on stdin (``reset`` -> current value, becomes the peak; ``peak`` -> peak since the reset)."""
    import select

    cur = peak = anon_bytes(pid)
    while True:
        ready, _, _ = select.select([sys.stdin], [], [], 0.001)
        try:
            cur = anon_bytes(pid)
        except OSError:
            return
        peak = max(peak, cur)
        if ready:
            cmd = sys.stdin.readline().strip()
            if cmd == "reset":
                peak = cur
            elif cmd != "peak":
                return
            print(peak if cmd == "peak" else cur, flush=True)


class PeakMeter:
    """Peak memory of this process above a baseline taken at construction, measured two ways:

    * ``rss``: the RSS high-water mark (``VmHWM``, see :func:`peak_rss_bytes`) minus the RSS at the
      start, after the kernel's high-water mark was reset through ``/proc/self/clear_refs``. It counts file-backed pages
      (the code of torch, TensorRT, ...) too, so it jumps when pages that the kernel had evicted
      under memory pressure from other processes are touched again;
    * ``anon``: anonymous memory only (``resident - shared`` from ``/proc/PID/statm``: the heap,
      tensors, numpy arrays, TensorRT's buffers), sampled every millisecond by a small helper
      process (a process, so that it keeps sampling while a C++ call holds the GIL). Its peak minus
      its value at the start is the main figure of the docs.
    """

    def __init__(self):
        gc.collect()
        self._sampler = None
        if os.path.exists("/proc/self/statm"):
            self._sampler = subprocess.Popen(
                [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
                 f"from benchmarks.common import _sampler_main; _sampler_main({os.getpid()})"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            self.baseline_anon = self._ask("reset")
        else:
            self.baseline_anon = None
        if reset_peak_rss():
            self.rss_method = "VmHWM after a clear_refs reset, minus the RSS at the reset"
            self.baseline = rss_bytes()
        else:
            self.rss_method = "peak RSS minus peak RSS before the phase (no peak reset available)"
            self.baseline = peak_rss_bytes()
        self.method = ("anonymous RSS sampled every 1 ms" if self._sampler else "(no sampler)") + "; " + self.rss_method

    def _ask(self, cmd: str) -> int:
        self._sampler.stdin.write(cmd + "\n")
        self._sampler.stdin.flush()
        return int(self._sampler.stdout.readline())

    def peak_above_baseline(self) -> int:
        """RSS high-water mark above the baseline (file-backed pages included)."""
        return max(0, peak_rss_bytes() - self.baseline)

    def anon_peak_above_baseline(self) -> Optional[int]:
        """Peak anonymous memory above the baseline (None without /proc)."""
        if self._sampler is None:
            return None
        return max(0, self._ask("peak") - self.baseline_anon)

    def close(self):
        if self._sampler is not None:
            try:
                self._sampler.stdin.write("quit\n")
                self._sampler.stdin.flush()
            except OSError:
                pass
            self._sampler.wait(timeout=10)
            self._sampler = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def weight_bytes(model) -> int:
    """Bytes of the model's parameters and buffers (each storage counted once: tied weights once)."""
    storages = {}
    for t in list(model.parameters()) + list(model.buffers()):
        s = t.untyped_storage()
        storages[s.data_ptr()] = s.nbytes()
    return sum(storages.values())


def param_count(model) -> int:
    seen, n = set(), 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            n += p.numel()
    return n


# --------------------------------------------------------------------------- models


@dataclass
class BenchModel:
    name: str
    label: str
    build: Callable[[], tuple]  # -> (model, inputs)


def _seeded():
    import torch

    torch.manual_seed(0)
    return torch.Generator().manual_seed(1)


def _zoo():
    """scripts/zoo_models.py: the one place models are built with random weights."""
    import sys
    from pathlib import Path

    scripts = str(Path(__file__).resolve().parent.parent / "scripts")
    if scripts not in sys.path:
        sys.path.insert(0, scripts)
    import zoo_models

    return zoo_models


def _randomize_bn(model):
    return _zoo()._randomize_bn(model)


def _torchvision(name, size=224):
    def build():
        import torch
        import torchvision

        g = _seeded()
        model = _randomize_bn(torchvision.models.get_model(name, weights=None)).eval()
        return model, [torch.randn(1, 3, size, size, generator=g)]
    return build


def _last_hidden_module():
    return _zoo()._LastHidden


def _bert(layers=12, hidden=768, heads=12, seq=128):
    def build():
        import torch
        import transformers

        g = _seeded()
        config = transformers.BertConfig(num_hidden_layers=layers, hidden_size=hidden, num_attention_heads=heads,
                                         intermediate_size=4 * hidden)
        model = _last_hidden_module()(transformers.BertModel(config).eval()).eval()
        return model, [torch.randint(0, config.vocab_size, (1, seq), generator=g)]
    return build


def _gpt2(layers=12, hidden=768, heads=12, seq=128):
    def build():
        import torch
        import transformers

        g = _seeded()
        config = transformers.GPT2Config(n_layer=layers, n_embd=hidden, n_head=heads, use_cache=False)
        model = _last_hidden_module()(transformers.GPT2Model(config).eval()).eval()
        return model, [torch.randint(0, config.vocab_size, (1, seq), generator=g)]
    return build


def _tiny_cnn():
    import torch

    g = _seeded()
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 4),
    ).eval()
    return model, [torch.randn(1, 3, 16, 16, generator=g)]


MODELS = {m.name: m for m in [
    BenchModel("tiny_cnn", "3-layer CNN (test model)", _tiny_cnn),
    # compare.py
    BenchModel("mobilenet_v2", "MobileNetV2 (torchvision), 1x3x224x224", _torchvision("mobilenet_v2")),
    BenchModel("vit_b_16", "ViT-B/16 (torchvision), 1x3x224x224", _torchvision("vit_b_16")),
    BenchModel("bert_base", "BERT-base (transformers BertModel), 1x128 tokens", _bert()),
    BenchModel("gpt2", "GPT-2 124M (transformers GPT2Model), 1x128 tokens", _gpt2()),
    # scaling.py
    *[BenchModel(f"resnet{d}", f"ResNet-{d} (torchvision), 1x3x224x224", _torchvision(f"resnet{d}"))
      for d in (18, 34, 50, 101, 152)],
    *[BenchModel(f"bert_l{n}", f"BERT, {n} layers, hidden 768, 1x128 tokens", _bert(layers=n))
      for n in (2, 4, 8, 12, 24)],
    BenchModel("gpt2_large", "GPT-2 large 774M (transformers GPT2Model), 1x128 tokens",
               _gpt2(layers=36, hidden=1280, heads=20)),
]}

COMPARE_MODELS = ["resnet50", "mobilenet_v2", "vit_b_16", "bert_base", "gpt2"]


def build_model(name: str):
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    return MODELS[name].build()


# --------------------------------------------------------------------------- machine, versions


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_total() -> str:
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _version(module: str) -> str:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:  # noqa: BLE001
        return "not installed"


def _git_rev() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + (" + uncommitted changes" if dirty else "") if rev else "unknown"
    except Exception:  # noqa: BLE001
        return "unknown"


def loadavg() -> tuple:
    try:
        return tuple(round(x, 2) for x in os.getloadavg())
    except OSError:
        return ()


def machine_info() -> dict:
    from trtgraph import backend

    try:
        trt_desc = f"{backend.flavour()} {backend.version()}"
    except Exception as exc:  # noqa: BLE001
        trt_desc = f"unavailable ({type(exc).__name__})"
    import torch

    gpu = "none (torch.cuda.is_available() is False)"
    if torch.cuda.is_available():
        gpu = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory": _mem_total(),
        "gpu": gpu,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": _version("torchvision"),
        "transformers": _version("transformers"),
        "onnx": _version("onnx"),
        "onnxscript": _version("onnxscript"),
        "tensorrt": trt_desc,
        "trtgraph": _git_rev(),
        "loadavg_start": loadavg(),
    }


def clean_command(command: str) -> str:
    """The command line as a reader should rerun it: without ``--json PATH`` (a scratch file)."""
    words, out, skip = command.split(), [], False
    for w in words:
        if skip:
            skip = False
            continue
        if w == "--json":
            skip = True
            continue
        out.append(w)
    return " ".join(out)


def header_lines(info: dict, command: str) -> list[str]:
    command = clean_command(command)
    la0 = " / ".join(str(x) for x in info.get("loadavg_start", ())) or "n/a"
    la1 = " / ".join(str(x) for x in info.get("loadavg_end", ())) or "n/a"
    return [
        f"- **Date:** {info['date']}; command: `{command}`",
        f"- **Machine:** {info['cpu']}, {info['cores']} cores, {info['memory']} RAM, GPU: {info['gpu']}; "
        f"{info['os']}",
        f"- **Load:** 1/5/15-minute load average {la0} at the start and {la1} at the end, on "
        f"{info['cores']} cores (it includes this benchmark's own processes; the machine is shared with other "
        "work, which adds to it)",
        f"- **Versions:** Python {info['python']}, torch {info['torch']}, torchvision {info['torchvision']}, "
        f"transformers {info['transformers']}, onnx {info['onnx']}, onnxscript {info['onnxscript']}, "
        f"TensorRT {info['tensorrt']}, trtgraph at {info['trtgraph']}",
    ]


# --------------------------------------------------------------------------- subprocesses


def emit(result: dict):
    """Print a child's result for :func:`run_child` (one tagged JSON line on stdout)."""
    print(RESULT_TAG + json.dumps(result, default=str), flush=True)


def run_child(module: str, args: list[str], timeout: float = 1800) -> dict:
    """Run ``python -m module args`` from the repository root; return the JSON it emitted, or a
    dict with ``ok: False`` and the reason (crash, out-of-memory kill, timeout)."""
    cmd = [sys.executable, "-m", module, *args]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):])
    tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
    reason = f"exit code {proc.returncode}" + (" (killed: out of memory?)" if proc.returncode in (-9, 137) else "")
    return {"ok": False, "error": f"subprocess failed, {reason}: {tail[:300]}",
            "seconds": time.perf_counter() - t0}


def first_line(exc: BaseException, limit: int = 240) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 1] + "…"


# --------------------------------------------------------------------------- Markdown


def md_table(header: list[str], rows: list[list], align: Optional[str] = None) -> list[str]:
    align = align or "l" + "r" * (len(header) - 1)
    sep = ["---:" if a == "r" else ":---" if a == "l" else ":---:" for a in align]
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


def mb(n) -> str:
    return "–" if n is None else f"{n / 1e6:,.0f}"


def secs(x) -> str:
    if x is None:
        return "–"
    return f"{x:.2f}" if x < 10 else f"{x:.1f}"
