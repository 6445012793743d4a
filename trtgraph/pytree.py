"""Inputs and outputs of any nesting: flatten them as a pytree for tracing, give the structure back.

``torch.jit.trace`` takes tensors (or tuples of them) and returns tensors, tuples, lists or dicts
of tensors only. A detection model takes a list of images (``model([img1, img2])``) and returns a
list of dicts, some of whose entries may be plain Python values. trtgraph flattens both sides with
``torch.utils._pytree``: the network has one input per input leaf tensor (``input_0``...) and one
output per output leaf tensor; :class:`Structure` records the two ``TreeSpec``s to rebuild the
model's own structure, and stores them as JSON (``treespec_dumps``, no pickle) in the engine
sidecar. Output leaves must be tensors (a Python value would be frozen at its traced value).

Models whose inputs are tensors and whose outputs the tracer accepts are traced as they are (the
wrapper below is only used when needed), so their names and graphs do not change.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch.utils import _pytree as pt

from .errors import InputError, TraceError

# attribute name of the user's model inside the tracing wrapper; frontend.scope_of strips it
MODEL_KEY = "_trtgraph_model"


def _is_tensor_like(x) -> bool:
    if isinstance(x, torch.Tensor):
        return True
    from .network_state import is_trt_tensor

    return is_trt_tensor(x)


def key_name(path) -> str:
    """``(SequenceKey(0), MappingKey('boxes'))`` -> ``"0.boxes"``."""
    parts = []
    for k in path:
        for attr in ("idx", "key", "name"):
            if hasattr(k, attr):
                parts.append(str(getattr(k, attr)))
                break
        else:
            parts.append(str(k))
    return ".".join(parts)


def flatten_inputs(inputs) -> tuple[list, pt.TreeSpec]:
    """The leaf tensors of the example inputs (a tensor, or a list/tuple of positional arguments
    each of which may nest lists/tuples/dicts of tensors) and the TreeSpec of the argument tuple."""
    if isinstance(inputs, torch.Tensor) or _is_tensor_like(inputs):
        inputs = [inputs]
    if not isinstance(inputs, (list, tuple)):
        raise InputError(f"inputs must be a tensor or a list/tuple of (nested lists/tuples/dicts of) tensors, "
                         f"got {type(inputs).__name__}")
    leaves, spec = pt.tree_flatten_with_path(tuple(inputs))
    for path, leaf in leaves:
        if not _is_tensor_like(leaf):
            where = key_name(path)
            raise InputError(f"input {where} is a {type(leaf).__name__}; trtgraph takes torch.Tensor inputs "
                             "(positional arguments that are tensors or lists/tuples/dicts of tensors)")
    return [leaf for _, leaf in leaves], spec


def _children(spec: pt.TreeSpec) -> list:
    return list(spec.children()) if hasattr(spec, "children") else list(spec.children_specs)


def is_flat_args(spec: pt.TreeSpec) -> bool:
    """True when the argument tuple holds only tensors (today's inputs)."""
    return all(c.is_leaf() for c in _children(spec))


def is_simple_output(spec: Optional[pt.TreeSpec]) -> bool:
    """A single tensor, or a flat tuple/list of tensors: callers get today's flat list/tuple."""
    if spec is None or spec.is_leaf():
        return True
    return spec.type in (tuple, list) and all(c.is_leaf() for c in _children(spec))


class Structure:
    """The input and output structure of a converted model.

    ``in_spec``: TreeSpec of the positional argument tuple; ``out_spec``: TreeSpec of what forward
    returns (None when unknown); ``wrapped``: the model was traced
    through :class:`FlatModule` (nested inputs, or outputs the tracer refuses)."""

    def __init__(self, in_spec: pt.TreeSpec, out_spec: Optional[pt.TreeSpec] = None,
                 wrapped: bool = False):
        self.in_spec = in_spec
        self.out_spec = out_spec
        self.wrapped = wrapped

    @property
    def num_output_tensors(self) -> Optional[int]:
        return None if self.out_spec is None else self.out_spec.num_leaves

    def is_simple(self) -> bool:
        """Flat tensor inputs and a single tensor / flat tuple or list of tensors out."""
        return is_flat_args(self.in_spec) and is_simple_output(self.out_spec)

    def output_names(self) -> Optional[list]:
        """One readable name per output tensor, from its path (``0.boxes``); None if two collide."""
        if self.out_spec is None:
            return None
        dummy = pt.tree_unflatten(list(range(self.out_spec.num_leaves)), self.out_spec)
        names = [key_name(p) for p, _ in pt.tree_flatten_with_path(dummy)[0]]
        if any(not n for n in names) or len(set(names)) != len(names):
            return None
        return names

    def flatten_args(self, args: tuple) -> Optional[list]:
        """The leaf tensors of ``args`` when they have this structure, else None."""
        try:
            leaves, spec = pt.tree_flatten(tuple(args))
        except Exception:  # noqa: BLE001 - an unflattenable argument is just "not this structure"
            return None
        return leaves if spec == self.in_spec else None

    def unflatten_args(self, leaves: list) -> tuple:
        return pt.tree_unflatten(list(leaves), self.in_spec)

    def unflatten_outputs(self, tensors: list):
        """The model's output structure, rebuilt from the output tensors (in network order)."""
        if self.out_spec is None:
            return list(tensors)
        tensors = list(tensors)
        if len(tensors) != self.num_output_tensors:
            raise InputError(f"{len(tensors)} output tensors given; the model's structure holds "
                             f"{self.num_output_tensors}")
        return pt.tree_unflatten(tensors, self.out_spec)

    # ------------------------------------------------------------ JSON (engine sidecar)

    def to_json_dict(self) -> dict:
        return {"inputs": pt.treespec_dumps(self.in_spec),
                "outputs": pt.treespec_dumps(self.out_spec) if self.out_spec is not None else None}

    @classmethod
    def from_json_dict(cls, d, num_inputs: int, num_outputs: int) -> "Structure":
        """Parse and check a sidecar's ``structure`` object; raises ``ValueError(field, why)``."""
        if not isinstance(d, dict) or set(d) != {"inputs", "outputs"}:
            raise ValueError("", "expected an object with the keys inputs and outputs")
        specs = {}
        for key in ("inputs", "outputs"):
            text = d.get(key)
            if text is None and key == "outputs":
                specs[key] = None
                continue
            if not isinstance(text, str):
                raise ValueError(key, f"expected a TreeSpec JSON string, got {type(text).__name__}")
            try:
                specs[key] = pt.treespec_loads(text)
            except (Exception, RecursionError) as exc:  # noqa: BLE001 - any failure is a malformed spec
                raise ValueError(key, f"not a valid TreeSpec ({type(exc).__name__}: {str(exc)[:200]})") from None
        if specs["inputs"].type is not tuple:
            raise ValueError("inputs", "the input spec must describe the tuple of positional arguments")
        if specs["inputs"].num_leaves != num_inputs:
            raise ValueError("inputs", f"the spec has {specs['inputs'].num_leaves} leaves, the engine "
                                       f"{num_inputs} inputs")
        if specs["outputs"] is not None and specs["outputs"].num_leaves != num_outputs:
            raise ValueError("outputs", f"the spec has {specs['outputs'].num_leaves} leaves, the engine "
                                        f"{num_outputs} outputs")
        return cls(specs["inputs"], specs["outputs"], wrapped=True)


def structure_of_outputs(in_spec: pt.TreeSpec, outputs: list, flat_count: int) -> Structure:
    """The structure of the walker's resolved outputs (one per graph output), when not wrapped."""
    value = outputs[0] if len(outputs) == 1 else tuple(outputs)
    try:
        leaves, spec = pt.tree_flatten(value)
    except Exception:  # noqa: BLE001 - unknown containers: no structure, the flat list as today
        return Structure(in_spec)
    if len(leaves) != flat_count:
        return Structure(in_spec)
    return Structure(in_spec, spec)


class FlatModule(torch.nn.Module):
    """What is traced for a nested model: forward takes the leaf tensors, rebuilds the arguments,
    calls the model and returns its output leaf tensors as a tuple. It holds the user's model as its
    only child (``MODEL_KEY``) and changes nothing in it; it records ``out_spec`` on each call. An
    output leaf that is not a tensor (an int, None, a string) is a :class:`TraceError`."""

    def __init__(self, model: torch.nn.Module, in_spec: pt.TreeSpec):
        super().__init__()
        self.add_module(MODEL_KEY, model)
        self.in_spec = in_spec
        self.out_spec: Optional[pt.TreeSpec] = None

    def forward(self, *leaves):
        args = pt.tree_unflatten(list(leaves), self.in_spec)
        out = getattr(self, MODEL_KEY)(*args)
        flat, spec = pt.tree_flatten_with_path(out)
        tensors = []
        for path, v in flat:
            if not isinstance(v, torch.Tensor):
                where = key_name(path) or "(the whole output)"
                raise TraceError(f"Only tensors can be model outputs: output {where} is a {type(v).__name__}. A Python "
                                 "value returned by forward would be frozen into the engine at its traced value; "
                                 "return a tensor (torch.tensor(v)) or drop it from the outputs")
            tensors.append(v)
        if not tensors:
            raise TraceError("the model returns no tensor: nothing for TensorRT to compute")
        self.out_spec = spec
        return tuple(tensors)

    def structure(self) -> Structure:
        return Structure(self.in_spec, self.out_spec, wrapped=True)


def tracer_refuses_outputs(exc: BaseException) -> bool:
    """Whether ``torch.jit.trace`` failed on the type of the model's outputs (worth a retry wrapped)."""
    text = str(exc)
    return "can be output from traced functions" in text or "Tracer cannot infer type" in text
