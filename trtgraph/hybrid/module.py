"""``HybridModule``: TensorRT segments (``TRTModule``) and torch steps, as one ``nn.Module``."""
from __future__ import annotations

import warnings

import torch

from ..errors import InputError
from ..pytree import is_simple_output
from ..walker.kinds import _flatten
from .interp import run_program
from .segment import attr_getter


class HybridWarning(UserWarning):
    """A segment ran in torch because a run's shapes were outside its TensorRT profile."""


def _fits(profile: tuple | None, shape: tuple) -> bool:
    if profile is None:
        return True
    lo, _, hi = profile
    return len(lo) == len(shape) and all(a <= d <= b for a, d, b in zip(lo, shape, hi))


def outside_profile(conv, tensors) -> bool:
    return any(not _fits(conv.profiles.get(n), tuple(x.shape)) for n, x in zip(conv.input_names, tensors))


class HybridModule(torch.nn.Module):
    """Runs the hybrid program: ``forward`` on CUDA (segments as :class:`trtgraph.TRTModule`, torch
    steps as torch ops on the current stream); ``evaluate`` on the CPU with the reference
    evaluator for the segments. A run whose shapes fall outside a segment's dynamic profile (e.g.
    zero detections) computes that segment with torch ops instead, with a :class:`HybridWarning`.

    ``params`` are the model's tensors the torch steps read (buffers of this module, so that
    ``.to(device)`` and ``state_dict()`` carry them)."""

    def __init__(self, steps, outputs, input_names, engines, params: dict, conversions=None,
                 python_functions=None, eager_segments=None, structure=None):
        super().__init__()
        self.steps, self.outputs, self.input_names = steps, outputs, list(input_names)
        self.engines = torch.nn.ModuleList(engines)
        self._param_keys = {}
        for k, (path, t) in enumerate(sorted(params.items())):
            key = f"p{k}_" + path.replace(".", "_")
            self.register_buffer(key, t.detach().clone(), persistent=True)
            self._param_keys[path] = key
        self.conversions = list(conversions) if conversions is not None else None
        self.python_functions = dict(python_functions or {})
        self.eager_segments = list(eager_segments or [])
        self.structure = structure  # trtgraph.pytree.Structure: the model's input/output nesting

    def args_of(self, inputs) -> tuple:
        """The model's positional arguments for ``inputs`` (as given to forward/evaluate)."""
        return tuple(inputs)

    def _leaves(self, inputs) -> list:
        s = self.structure
        if s is None:
            return list(inputs)
        leaves = s.flatten_args(tuple(inputs))
        if leaves is None:
            if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)):
                leaves = s.flatten_args(tuple(inputs[0]))
            if leaves is None:
                raise InputError("the inputs do not have the structure the model was converted with "
                                 f"({s.in_spec.num_leaves} tensor(s) nested as in the example)")
        return leaves

    def _structured(self, flat: list):
        s = self.structure
        if s is not None and s.wrapped and not is_simple_output(s.out_spec):
            return s.unflatten_outputs(flat)
        return flat

    def _attr(self, path: str):
        key = self._param_keys.get(path)
        if key is None:
            raise InputError(f"the hybrid program reads {path!r}, which this module does not hold")
        return getattr(self, key)

    def _eager(self, step, tensors):
        if not self.eager_segments:
            raise InputError(f"segment {step.index}: the input shapes are outside its TensorRT profile")
        warnings.warn(f"segment {step.index}: input shapes {[tuple(x.shape) for x in tensors]} are outside its "
                      "TensorRT profile; computed with torch ops", HybridWarning, stacklevel=4)
        return self.eager_segments[step.index](*tensors)

    def _run(self, inputs, run_segment, device=None):
        if len(inputs) != len(self.input_names):
            raise InputError(f"{len(inputs)} input(s) given; the model takes {len(self.input_names)}")
        return run_program(self.steps, dict(zip(self.input_names, inputs)), self._attr, run_segment,
                           self.python_functions, self.outputs, device)

    def forward(self, *inputs):
        inputs = self._leaves(inputs)
        device = inputs[0].device if inputs and isinstance(inputs[0], torch.Tensor) else None

        def run_segment(step, tensors):
            engine = self.engines[step.index]
            specs = engine.metadata.inputs if engine.metadata is not None else []
            if specs and any(not _fits((s.min, None, s.max) if s.has_profile else None,
                                       tuple(x.shape)) for s, x in zip(specs, tensors)):
                return self._eager(step, tensors)
            out = engine(*tensors)
            return list(out) if isinstance(out, (list, tuple)) else [out]

        out = self._run(inputs, run_segment, device)
        s = self.structure
        if s is not None and s.wrapped and not is_simple_output(s.out_spec):
            return s.unflatten_outputs(_flatten(out))
        return out[0] if len(out) == 1 else tuple(out)

    def evaluate(self, *inputs):
        """Segments through the reference evaluator, torch steps in torch, on the CPU; the output
        tensors as a flat list, or the model's own structure for models with nested outputs."""
        return self._structured(self.evaluate_flat(*inputs))

    def evaluate_flat(self, *inputs) -> list:
        inputs = self._leaves(inputs)
        if self.conversions is None:
            raise InputError("evaluate needs the segments' networks (a HybridModule made by "
                             "HybridConversion.module())")
        inputs = [x.detach().cpu() if isinstance(x, torch.Tensor) else x for x in inputs]

        def run_segment(step, tensors):
            conv = self.conversions[step.index]
            if outside_profile(conv, tensors):
                return self._eager(step, tensors)
            return conv.evaluate(*tensors)

        return _flatten(self._run(inputs, run_segment))


def reference_params(part, model) -> dict:
    """{path: tensor} of every parameter/buffer the torch steps read."""
    paths = set()

    def walk(ref):
        tag, value = ref
        if tag == "a":
            paths.add(value)
        elif tag in ("l", "t"):
            for r in value:
                walk(r)

    for step in part.steps:
        for r in getattr(step, "args", []):
            walk(r)
    for r in part.outputs:
        walk(r)
    get = attr_getter(model)
    out = {}
    for p in paths:
        x = get(p)
        if isinstance(x, torch.Tensor):
            out[p] = x
        else:
            raise InputError(f"a torch step reads module attribute {p!r}, which is not a tensor")
    return out
