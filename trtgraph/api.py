"""High-level API: ``trtgraph.convert(model, inputs)`` -> :class:`Conversion`."""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch

from . import backend
from .core import trt_network, torch2trt
from .debug import compare_with_eager, errors
from .dtypes import PRECISIONS
from .errors import BuildError, InputError


@dataclass
class OutputError:
    name: str
    shape: tuple
    max_abs: float
    max_rel: float


@dataclass
class VerifyReport:
    """Reference evaluation of the network vs the eager module."""

    precision: str
    outputs: list = field(default_factory=list)  # OutputError per output
    first_divergent: Optional[object] = None  # NodeDiff, when node-by-node was requested
    nodes_compared: int = 0
    rtol: float = 1e-4
    atol: float = 1e-5

    @property
    def max_rel(self) -> float:
        return max((o.max_rel for o in self.outputs), default=0.0)

    @property
    def max_abs(self) -> float:
        return max((o.max_abs for o in self.outputs), default=0.0)

    @property
    def ok(self) -> bool:
        return all(o.max_abs <= self.atol or o.max_rel <= self.rtol for o in self.outputs)

    def __str__(self):
        lines = [f"verify ({self.precision}, reference evaluator vs eager torch): "
                 f"{'OK' if self.ok else 'MISMATCH'} (rtol={self.rtol:g}, atol={self.atol:g})"]
        for o in self.outputs:
            lines.append(f"  {o.name:<16} shape {str(o.shape):<20} max abs {o.max_abs:.3e}  max rel {o.max_rel:.3e}")
        if self.nodes_compared:
            if self.first_divergent is None:
                lines.append(f"  node by node: all {self.nodes_compared} node outputs agree")
            else:
                lines.append(f"  first divergent node: {self.first_divergent}")
        return "\n".join(lines)


class Conversion:
    """A converted model: the real TensorRT network and what is needed to build, check and save it."""

    def __init__(self, model, builder, network, graph, precision, input_names, output_names, seconds):
        self.model = model
        self.builder = builder
        self.network = network
        self.graph = graph
        self.precision = precision
        self.input_names = list(input_names)
        self.output_names = list(output_names)
        self.convert_seconds = seconds
        self.build_seconds = None
        self._engine = None

    @property
    def num_layers(self) -> int:
        return self.network.num_layers

    @property
    def num_nodes(self) -> int:
        return len(self.graph.nodes)

    def build(self, workspace: Optional[int] = None) -> bytes:
        """Serialize an engine (strongly typed: precision lives in the network's dtypes)."""
        config = self.builder.create_builder_config()
        if workspace is not None:
            config.set_memory_pool_limit(backend.trt().MemoryPoolType.WORKSPACE, int(workspace))
        self.graph.add_profile(self.builder, config)
        log = backend.logger()
        log.clear()
        t0 = time.perf_counter()
        plan = self.builder.build_serialized_network(self.network, config)
        self.build_seconds = time.perf_counter() - t0
        if plan is None:
            raise BuildError("TensorRT could not build the network:\n  " + "\n  ".join(log.errors() or ["(no message)"]))
        self._engine = bytes(memoryview(plan))
        return self._engine

    def save(self, path) -> Path:
        """Write the engine (built now if needed) and its JSON sidecar; ``trtgraph.load`` reads them."""
        from .serialization import save_engine

        return save_engine(self, Path(path))

    def _feed(self, inputs) -> dict:
        if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)):
            inputs = inputs[0]
        if len(inputs) != len(self.input_names):
            raise InputError(f"{len(inputs)} inputs given; the network takes {len(self.input_names)} "
                             f"({', '.join(self.input_names)})")
        feed = {}
        for name, x in zip(self.input_names, inputs):
            if not isinstance(x, torch.Tensor):
                raise InputError(f"input {name!r} is a {type(x).__name__}, expected a torch.Tensor")
            if name in self.profiles:
                lo, _, hi = self.profiles[name]
                if x.dim() != len(lo) or any(not a <= d <= b for a, d, b in zip(lo, x.shape, hi)):
                    raise InputError(f"input {name!r} has shape {tuple(x.shape)}, outside the optimization "
                                     f"profile {tuple(lo)}..{tuple(hi)}")
            feed[name] = x.detach().cpu()
        return feed

    @property
    def fp32_nodes(self) -> list:
        """The nodes the precision policy kept in float32 (empty for fp32 networks)."""
        return list(self.graph.fp32_nodes)

    @property
    def profiles(self) -> dict:
        """{input name: (min shape, opt shape, max shape)} of the dynamic inputs."""
        return self.graph.profile_shapes

    def evaluate(self, *inputs) -> list[torch.Tensor]:
        """The network's outputs computed by the reference evaluator (CPU, torch)."""
        from .reference import evaluate

        out = evaluate(self.network, self._feed(inputs))
        return [out[n] for n in self.output_names]

    def verify(self, *inputs, rtol: float = 1e-4, atol: float = 1e-5, node_by_node: bool = False) -> VerifyReport:
        """Compare the reference evaluation with the eager module; optionally node by node."""
        feed = self._feed(inputs)
        got = self.evaluate(*feed.values())
        from .frontend import _preserved_module_state

        with _preserved_module_state(self.model), torch.no_grad():
            want = self.model(*feed.values())
        from .core import _flatten

        want = [w for w in _flatten(want)]
        report = VerifyReport(self.precision, rtol=rtol, atol=atol)
        for name, g, w in zip(self.output_names, got, want):
            a, r = errors(g.float(), w.float())
            report.outputs.append(OutputError(name, tuple(g.shape), a, r))
        if node_by_node:
            diffs, first = compare_with_eager(self.graph, list(feed.values()), rtol=rtol, atol=atol)
            report.nodes_compared = len(diffs)
            report.first_divergent = first
        return report


def convert(model, inputs, precision: str = "fp32", input_names: Optional[Sequence[str]] = None,
            output_names: Optional[Sequence[str]] = None, param_exclude: Optional[str] = None,
            verbose: bool = False, progress: Optional[Callable[[int, int], None]] = None,
            dynamic_shapes: Optional[dict] = None, precision_policy=None,
            fold_batch_norm: bool = True) -> Conversion:
    """Convert ``model`` (traced on ``inputs``) into a strongly typed TensorRT network.

    ``precision``: "fp32", "fp16" or "bf16" -- float layers compute in that dtype (casts after
    the inputs and before the outputs; inputs and outputs stay float32).
    ``dynamic_shapes``: ``{"input_name": {dim: (min, opt, max)}}`` -- those dims are dynamic in the
    network and the engine is built with that optimization profile; ``inputs`` must lie inside it.
    ``precision_policy``: which ops stay float32 in an fp16/bf16 network (:class:`trtgraph.PrecisionPolicy`;
    default keeps softmax, normalization statistics, exp/log and long reductions in float32; ``"none"``
    computes everything in the reduced dtype). ``Conversion.fp32_nodes`` lists what it kept.
    ``fold_batch_norm``: fold inference batch norms into the convolutions before them (default).
    """
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if isinstance(inputs, torch.Tensor):
        inputs = [inputs]
    if not isinstance(inputs, (list, tuple)):
        raise InputError(f"inputs must be a tensor or a list/tuple of tensors, got {type(inputs).__name__}")
    names = list(input_names) if input_names else [f"input_{i}" for i in range(len(inputs))]
    if len(names) != len(inputs):
        raise InputError(f"{len(names)} input_names for {len(inputs)} inputs")
    t0 = time.perf_counter()
    builder, network = backend.create_builder_and_network()
    with trt_network(network):
        _, graph = torch2trt(model, list(inputs), input_names=names, verbose=verbose,
                             param_exclude=param_exclude, precision=precision, progress=progress,
                             dynamic_shapes=dynamic_shapes, precision_policy=precision_policy,
                             fold_batch_norm=fold_batch_norm)
        outs = graph.get_resolved_outputs()
        onames = list(output_names) if output_names else [f"output_{i}" for i in range(len(outs))]
        if len(onames) != len(outs):
            raise InputError(f"{len(onames)} output_names for {len(outs)} model outputs")
        graph.mark_outputs(onames)
    return Conversion(model, builder, network, graph, precision, names, onames, time.perf_counter() - t0)


_ = contextlib
