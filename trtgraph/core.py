"""The graph walker: from a traced aten graph to layers of the current TensorRT network.

Public API (the seed's):

    with trt_network(net):
        trace, graph = torch2trt(model, inputs, input_names=["image"], verbose=True)
        outputs = graph.get_resolved_outputs()

The walker owns every ``prim::`` node (constants, lists, tuples, GetAttr chains, NumToTensor);
handlers see only ``aten::`` nodes, with arguments bound by name from the op schema. A node whose
inputs do not depend on the model inputs is evaluated in torch (constant folding), so shape math
on ``x.size()`` folds to Python ints for static shapes.
"""
from __future__ import annotations

import re
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from . import frontend
from .context import ConversionContext
from .dtypes import to_torch, to_trt
from .errors import (HandlerError, InputError, ParameterError, ShapeMismatchError, TraceError,
                     TrtGraphError, UnsupportedOpsError)
from .dynamic import (ShapeFacts, baked_message, compare_traces, describe_shape, network_shape, parse_ranges,
                      profile_shapes, resized, second_examples)
from .errors import DynamicShapeError
from .precision import as_policy, cast_down, reduced_elements, run_in_fp32
from .registry import Traced, lookup
from .trace_checks import NONDETERMINISTIC_OPS, TRAIN_RANDOM_OPS



class TraceCheckWarning(UserWarning):
    """A value the trace baked in, accepted because ``strict=False``."""

# ops whose outputs do not depend on tensor values when shapes are static: folded in torch
# (size-like ops see a meta tensor; creation ops see zeros of the traced shape and dtype)
_SIZE_OPS = {"aten::size", "aten::dim", "aten::numel", "aten::len"}
_CREATION_OPS = {"aten::new_zeros", "aten::new_ones", "aten::new_full", "aten::new_empty", "aten::zeros_like",
                 "aten::ones_like", "aten::full_like", "aten::empty_like"}
_SHAPE_OPS = _SIZE_OPS | _CREATION_OPS

# ops kept in the network even on constants: fake-quantized weights must reach TensorRT as
# constant -> Q -> DQ so that the builder can pick int8/fp8 kernels for the layer that uses them
_NETWORK_CONSTANT_OPS = {"aten::fake_quantize_per_tensor_affine", "aten::fake_quantize_per_channel_affine",
                         "aten::fused_moving_avg_obs_fake_quant"}

# ops whose output is a view of their first input: an in-place write to the view is written
# back into the base tensor (slice assignment, masked_fill_ on a view, ...)
_VIEW_OPS = {"aten::slice", "aten::select", "aten::view", "aten::reshape", "aten::flatten", "aten::unsqueeze",
             "aten::squeeze", "aten::permute", "aten::transpose", "aten::t", "aten::contiguous", "aten::detach",
             "aten::alias", "aten::view_as", "aten::reshape_as", "aten::narrow", "aten::expand"}


def is_inplace(kind: str) -> bool:
    name = kind.split("::")[-1]
    return name.endswith("_") and not name.endswith("__")


from .network_state import (_NetworkState, _current_state, _push_debug_network, _stack,  # noqa: E402,F401
                            current_network, has_trt_tensor, is_trt_tensor, trt_network)


# --------------------------------------------------------------------------- records

@dataclass
class NodeRecord:
    """What one aten node became: its outputs (network tensors or Python values)."""

    index: int
    kind: str
    scope: str
    source: str
    outputs: list  # resolved values, one per node output
    value_names: list  # jit debug names of the node outputs
    layers: list  # names of the layers the handler added
    folded: bool  # evaluated in torch (constant folding)
    fused: str = ""  # what else this node's layers compute (a batch norm folded into a convolution)

    def describe(self) -> str:
        where = f" in module '{self.scope}'" if self.scope else ""
        src = f" at {self.source}" if self.source else ""
        return f"node #{self.index} {self.kind}{where}{src}"


class Graph:
    """The result of ``torch2trt``: resolved outputs and a record of every node."""

    def __init__(self, network, torch_graph, input_tensors, keep, debug, float_dtype):
        self.network = network
        self.torch_graph = torch_graph
        self.input_tensors = input_tensors
        self.nodes: list[NodeRecord] = []
        self.outputs: list = []
        self.keep = keep  # numpy arrays TensorRT weights point to: alive until the engine is built
        self.debug = debug
        self.float_dtype = float_dtype
        self.example_inputs: list = []
        self.profile_shapes: dict = {}  # input name -> (min, opt, max) shapes
        self.fp32_nodes: list = []  # nodes the precision policy kept in float32 (fp16/bf16 networks)
        self.output_groups: list = []  # number of flattened tensors of each graph output
        self.output_keys: Optional[list] = None  # dict keys, when the model returns a dict of tensors
        self.trace_warnings: list = []  # what strict=False accepted
        self.trace_findings: list = []  # every value the trace baked in (trtgraph.trace_checks.TraceFinding)
        self.pending_shape_guards: list = []  # range corners where the trace differs (checked numerically)
        self.shape_guard_checks: list = []  # what that numerical check found

    def get_resolved_outputs(self) -> list:
        """One list per output node of the traced graph, holding that output's network tensors
        (flattened): ``results[0][0]`` is the first tensor the model returns. ``graph.outputs`` is
        the flat list."""
        groups, k = [], 0
        for n in self.output_groups or [len(self.outputs)]:
            groups.append(list(self.outputs[k:k + n]))
            k += n
        return groups

    def mark_outputs(self, names: Optional[list[str]] = None, dtype: Optional[torch.dtype] = torch.float32):
        """Name and mark every output; floating outputs are cast to ``dtype`` first."""
        ctx = ConversionContext(self.network, self.float_dtype, self.keep)
        marked = []
        for i, out in enumerate(self.outputs):
            name = names[i] if names else f"output_{i}"
            t = ctx.as_tensor(out)
            if dtype is not None and to_torch(t.dtype).is_floating_point and to_torch(t.dtype) != dtype:
                t = ctx.cast(t, dtype)
            elif t.is_network_input or t.is_network_output:
                t = ctx.identity(t)
            t.name = name
            self.network.mark_output(t)
            marked.append(t)
        return marked

    def add_profile(self, builder, config):
        """Add the optimization profile of the dynamic inputs (if any) to a builder config."""
        if not self.profile_shapes:
            return None
        profile = builder.create_optimization_profile()
        for name, (lo, opt, hi) in self.profile_shapes.items():
            profile.set_shape(name, lo, opt, hi)
        config.add_optimization_profile(profile)
        return profile

    @property
    def layer_count(self) -> int:
        return self.network.num_layers


# --------------------------------------------------------------------------- walker

def _flatten(value) -> list:
    if isinstance(value, (list, tuple)):
        out = []
        for v in value:
            out.extend(_flatten(v))
        return out
    if isinstance(value, dict):
        return _flatten(list(value.values()))
    return [value]


class _Walker:
    def __init__(self, state: _NetworkState, trace, torch_graph, verbose: bool, param_exclude: Optional[str],
                 float_dtype: torch.dtype, progress: Optional[Callable] = None, facts: Optional[ShapeFacts] = None,
                 policy=None, fold_batch_norm: bool = True, findings: Optional[list] = None,
                 strict: bool = True):
        self.state = state
        self.findings = list(findings or [])  # values the trace baked in (trtgraph.trace_checks)
        self.strict = strict
        self.relaxed: list = []  # refusals that strict=False turned into warnings
        self.network = state.network
        self.trace = trace
        self.g = torch_graph
        self.verbose = verbose
        try:
            self.exclude = re.compile(param_exclude) if param_exclude else None
        except re.error as exc:
            raise InputError(f"param_exclude={param_exclude!r} is not a valid regular expression: {exc}") from None
        self.ctx = ConversionContext(self.network, float_dtype, state.keep)
        self.env: dict = {}
        self.paths: dict = {}  # jit value -> dotted attribute path (GetAttr chains)
        self.needs_handler: dict = {}  # node -> depends on the model inputs (decided by analyse)
        self.view_of: dict = {}  # jit value -> (base value, view node) for views of network tensors
        self.param_storages: set = set()
        self.progress = progress
        self.facts = facts if facts is not None else ShapeFacts()
        self.policy = policy if float_dtype != torch.float32 else None
        self.ctx.policy = self.policy
        self.fp32_values: dict = {}  # jit value -> its float32 tensor from a float32 island
        self.fp32_nodes: list = []  # descriptions of the nodes the precision policy kept in float32
        self.ctx.fp32_log = self.fp32_nodes
        self.sized: set = set()  # values computed only from dynamic input sizes
        self.network_constants: set = set()  # network tensors that do not depend on the inputs (Q/DQ weights)
        self.fold_batch_norm = fold_batch_norm
        self.bn_into_conv: dict = {}  # convolution node -> (scale, shift, batch_norm node)
        self.bn_folded: set = set()  # batch_norm nodes folded into the convolution before them

    # ----------------------------------------------------------- up-front analysis
    def analyse(self):
        """Find which values depend on the inputs and check every such node has a handler."""
        tainted = set(list(self.g.inputs())[1:])
        problems = []
        baked_problems = [f.describe() + "; compute it with tensor ops, or pass strict=False to accept it"
                          for f in self.findings if f.refused]
        seen = set()
        base_of = {}
        elems: dict = {}  # tuple/list value -> its element values (tracked one by one through unpacking)
        facts = self.facts
        sized = self.sized
        for node in self.g.nodes():
            kind = node.kind()
            ins = list(node.inputs())
            if self._track_elements(node, kind, ins, elems, tainted):
                continue
            baked = [v for v in ins if v in facts.baked]
            if baked and kind in ("prim::ListConstruct", "prim::TupleConstruct", "prim::NumToTensor"):
                facts.baked[node.output()] = facts.baked[baked[0]]  # reported where an aten op uses it
            elif baked:
                problems.append(baked_message(frontend.describe(node), baked[0], facts.baked[baked[0]]))
            dep = any(v in tainted for v in ins)
            if kind in _SIZE_OPS:
                # a size is computed in the network only where the dimension is dynamic
                dep = self._reads_dynamic_size(node, ins)
                if dep:
                    sized.update(node.outputs())
            elif kind in _CREATION_OPS:
                # only the shape of `self` is used; a fill value computed from the inputs is data
                dep = any(v in tainted for v in ins[1:]) or bool(ins and facts.axes(ins[0]))
            elif kind in _NETWORK_CONSTANT_OPS and not dep:
                dep = True
                self.network_constants.update(node.outputs())
            elif dep and all(v in self.network_constants for v in ins if v in tainted):
                self.network_constants.update(node.outputs())  # computed from network constants only
            elif dep and all(v in sized for v in ins if v in tainted) and \
                    not any(frontend.traced_type(o) and frontend.traced_type(o).shape for o in node.outputs()):
                sized.update(node.outputs())  # arithmetic on sizes (ints and 0-d tensors) stays a size
            if kind in _VIEW_OPS and ins:
                base_of[node.output()] = ins[0]
            if dep:
                tainted.update(node.outputs())
                if is_inplace(kind) and ins:
                    # writing input-dependent data into a tensor (or into a view of one) makes it,
                    # and every tensor it is a view of, input-dependent from here on
                    v = ins[0]
                    while v is not None:
                        tainted.add(v)
                        v = base_of.get(v)
            if kind.startswith("prim::"):
                if kind not in _PRIM_HANDLERS and kind not in seen:
                    seen.add(kind)  # once per kind: a scripted model has dozens of prim::If
                    count = sum(1 for n in self.g.nodes() if n.kind() == kind)
                    problems.append(f"{frontend.describe(node)}: control flow/prim op {kind} is not supported "
                                    f"({count} in the graph; trace the model with torch.jit.trace instead of "
                                    "scripting it, without data-dependent Python control flow)")
                continue
            reason = self._random_reason(node, kind, tainted)
            if reason:
                baked_problems.append(f"{frontend.describe(node)}: {reason}")
            self.needs_handler[node] = dep
            if not dep:
                continue
            entry = lookup(kind, frontend.node_overload(node))
            if entry is None:
                key = (kind, frontend.source_line(node))
                if key not in seen:
                    seen.add(key)
                    problems.append(f"{frontend.describe(node)}: no handler for {kind}")
                continue
            if entry.validator is not None:
                args = self._static_args(node, tainted)
                if args is None:
                    continue
                reason = entry.validator(args)
                if reason:
                    problems.append(f"{frontend.describe(node)}: {reason}")
        if not self.strict:
            for p in baked_problems:
                warnings.warn(f"trtgraph (strict=False): {p}", TraceCheckWarning, stacklevel=2)
            self.relaxed = baked_problems
        else:
            problems = baked_problems + problems
        if problems:
            raise UnsupportedOpsError(problems)
        if self.fold_batch_norm:
            self._plan_batch_norm_folds(tainted)
        return tainted

    def _track_elements(self, node, kind, ins, elems, tainted) -> bool:
        """Follow tuples and lists element by element: unpacking a tuple that mixes data and sizes
        gives data where the element was data and sizes (folded, or shape tensors) where it was a
        size. Returns True when the node was an unpack handled here."""
        if kind in ("prim::TupleConstruct", "prim::ListConstruct"):
            elems[node.output()] = ins
            return False
        if kind not in ("prim::TupleUnpack", "prim::ListUnpack", "prim::TupleIndex") or not ins \
                or ins[0] not in elems:
            return False
        parts = elems[ins[0]]
        if kind == "prim::TupleIndex":
            idx = self._static_value(ins[1], tainted) if len(ins) > 1 else None
            if not isinstance(idx, int) or not -len(parts) <= idx < len(parts):
                return False
            parts = [parts[idx]]
        outs = list(node.outputs())
        if len(parts) != len(outs):
            return False
        for o, e in zip(outs, parts):
            for group in (tainted, self.sized, self.network_constants):
                if e in group:
                    group.add(o)
            if e in elems:
                elems[o] = elems[e]
            if e in self.facts.baked:
                self.facts.baked[o] = self.facts.baked[e]
        return True

    def _random_reason(self, node, kind, tainted) -> Optional[str]:
        """Why a random op cannot be converted (its draw at the example would be baked in)."""
        if kind in NONDETERMINISTIC_OPS:
            return (f"{kind} draws random numbers; the engine would repeat the example's draw for every input "
                    "(pass strict=False to accept that)")
        if kind in TRAIN_RANDOM_OPS:
            args = self._static_args(node, tainted) or {}
            train = args.get("train", args.get("training"))
            if train is True:
                return (f"{kind} with train=True is random; the model is traced in eval mode, so a module "
                        "or functional call forces training (pass strict=False to accept the example's mask)")
        return None

    def _plan_batch_norm_folds(self, tainted):
        """Inference batch norms right after a convolution that nothing else reads: folded into
        the convolution's weights and bias (one layer instead of three)."""
        from .handlers.norm import bn_affine

        for node in self.g.nodes():
            if node.kind() != "aten::batch_norm" or not self.needs_handler.get(node):
                continue
            x = node.inputsAt(0)
            conv = x.node()
            if conv.kind() != "aten::_convolution" or not self.needs_handler.get(conv) or len(x.uses()) != 1:
                continue
            cargs, bargs = self._static_args(conv, tainted), self._static_args(node, tainted)
            if cargs is None or bargs is None or cargs.get("transposed") is not False or bargs.get("training"):
                continue
            params = [cargs.get("weight"), bargs.get("running_mean"), bargs.get("running_var")]
            optional = [cargs.get("bias"), bargs.get("weight"), bargs.get("bias")]
            if not all(isinstance(p, torch.Tensor) for p in params) or \
                    not all(p is None or isinstance(p, torch.Tensor) for p in optional):
                continue
            if self.policy is not None and \
                    self.policy.node_in_fp32(conv.kind(), frontend.scope_of(conv)) != \
                    self.policy.node_in_fp32(node.kind(), frontend.scope_of(node)):
                continue  # one of them is a float32 island: keep them apart
            scale, shift = bn_affine(bargs.get("weight"), bargs.get("bias"), bargs["running_mean"],
                                     bargs["running_var"], float(bargs["eps"]))
            self.bn_into_conv[conv] = (scale, shift, node)
            self.bn_folded.add(node)

    def _static_args(self, node, tainted):
        schema = frontend.node_schema(node)
        if schema is None:
            return None
        values = [self._static_value(v, tainted) for v in node.inputs()]
        return frontend.bind_arguments(schema, values)

    def _static_value(self, v, tainted):
        """Constants, parameters and lists of them as values; anything else a Traced placeholder."""
        producer = v.node()
        kind = producer.kind()
        if v not in tainted:
            if kind == "prim::Constant":
                return frontend.constant_value(producer)
            if kind == "prim::GetAttr":
                owner = self._static_value(producer.input(), tainted)
                return getattr(owner, producer.s("name"), None) if owner is not None else None
            if kind == "prim::ListConstruct":
                return [self._static_value(i, tainted) for i in producer.inputs()]
            if kind == "prim::Param":
                return self.trace
        if kind == "prim::ListConstruct":
            return [self._static_value(i, tainted) for i in producer.inputs()]
        tt = frontend.traced_type(v)
        size = v in self.sized
        dyn = v in tainted and v not in self.network_constants
        return Traced(tt.shape, tt.dtype, dyn, size) if tt else Traced(None, None, dyn, size)

    def _reads_dynamic_size(self, node, ins) -> bool:
        """aten::size/numel/len of a value with dynamic axes, at a dynamic axis."""
        if not ins:
            return False
        axes = self.facts.axes(ins[0])
        if not axes:
            return False
        kind = node.kind()
        if kind == "aten::size" and len(ins) > 1:
            dim = self._static_value(ins[1], set())
            tt = frontend.traced_type(ins[0])
            if isinstance(dim, int) and tt is not None and tt.shape is not None:
                return dim % len(tt.shape) in axes
            return True
        if kind == "aten::dim":
            return False
        if kind == "aten::len":
            return 0 in axes
        return True

    # ----------------------------------------------------------- walking
    def run(self, inputs: list) -> tuple[list, list]:
        g_inputs = list(self.g.inputs())
        self.env[g_inputs[0]] = self.trace
        self.paths[g_inputs[0]] = ""
        for v, x in zip(g_inputs[1:], inputs):
            self.env[v] = x
        tainted = self.analyse()
        records = []
        nodes = list(self.g.nodes())
        for i, node in enumerate(nodes):
            if self.progress:
                self.progress(i, len(nodes))
            kind = node.kind()
            if kind.startswith("prim::"):
                _PRIM_HANDLERS[kind](self, node)
                continue
            records.append(self._convert(i, node, self.needs_handler.get(node, False)))
        outputs = [self.env[v] for v in self.g.outputs()]
        return outputs, records

    def _convert(self, index: int, node, needs_handler: bool) -> NodeRecord:
        values = [self.env[v] for v in node.inputs()]
        kind = node.kind()
        for v in _flatten(values):
            if isinstance(v, _Excluded):
                raise ParameterError(f"{frontend.describe(node)} uses parameter '{v.path}', which "
                                     f"param_exclude={v.pattern!r} excludes; narrow the pattern")
        before = self.network.num_layers
        desc = frontend.describe(node)
        if not needs_handler:
            out = self._fold(node, values, desc)
            folded = True
        else:
            out = self._handle(node, values, desc)
            folded = False
        outs = list(node.outputs())
        if len(outs) == 1:
            results = [out]
        else:
            if not isinstance(out, (list, tuple)) or len(out) != len(outs):
                raise HandlerError(f"{desc}: handler returned {type(out).__name__}, expected {len(outs)} outputs")
            results = list(out)
        for v, r in zip(outs, results):
            self.env[v] = r
        ins = list(node.inputs())
        if ins and kind in _VIEW_OPS:
            self.view_of[outs[0]] = (ins[0], node)
        if not folded and ins:
            if is_inplace(kind):
                self._write_back(ins[0], results[0], desc)
        if not folded:
            self._check(node, outs, results, desc)
        layers = self._name_new_layers(before, node)
        if self.verbose:
            print(f"[trtgraph] {index:5d} {kind:<28} {frontend.scope_of(node) or '-':<30} "
                  f"{'folded' if folded else str(len(layers)) + ' layer(s)'}"
                  f"{'  ' + str(self.ctx.shape(results[0])) if is_trt_tensor(results[0]) else ''}",
                  file=sys.stderr)
        fused = ""
        if node in self.bn_into_conv:
            fused = f"with {frontend.describe(self.bn_into_conv[node][2])} folded in"
        return NodeRecord(index, kind, frontend.scope_of(node), frontend.source_line(node), results,
                          [v.debugName() for v in outs], layers, folded, fused)

    def _fold(self, node, values, desc):
        kind = node.kind()
        if kind in _SHAPE_OPS:
            zeros = kind in _CREATION_OPS
            values = [_stand_in(x, v, zeros) for x, v in zip(values, node.inputs())]
        if is_inplace(kind) and values and isinstance(values[0], torch.Tensor) and \
                values[0].untyped_storage().data_ptr() in self.param_storages:
            raise HandlerError(f"{desc}: the model writes in place into one of its parameters or buffers "
                               "during forward; trtgraph does not convert models that modify their own state")
        try:
            return frontend.run_node_in_torch(node, values)
        except TrtGraphError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise HandlerError(f"{desc}: constant folding in torch failed: {type(exc).__name__}: {exc}") from exc

    def _handle(self, node, values, desc):
        schema = frontend.node_schema(node)
        entry = lookup(node.kind(), schema.overload_name if schema else "")
        args = frontend.bind_arguments(schema, values)
        self.ctx.node = node
        self.ctx.node_info = desc
        self.ctx.expected = [frontend.traced_type(v) for v in node.outputs()]
        self.ctx.expected_dynamic = [self.facts.axes(v) for v in node.outputs()]
        if node in self.bn_folded:
            x = node.inputsAt(0)
            if x in self.fp32_values:  # the folded convolution was a float32 island: pass its value on
                self.fp32_values[node.output()] = self.fp32_values[x]
            return args["input"]  # already applied by the convolution before it
        if node in self.bn_into_conv:
            scale, shift, _ = self.bn_into_conv[node]
            w = args["weight"]  # one new array per folded weight (in its dtype: no float64 copy)
            args["weight"] = w * scale.to(w.dtype).reshape((-1,) + (1,) * (w.dim() - 1))
            b = args["bias"].double() if args["bias"] is not None else torch.zeros_like(scale)
            args["bias"] = (b * scale + shift).to(w.dtype)
        reason = self._fp32_reason(node, args)
        try:
            if reason is None:
                return entry.fn(self.ctx, **args)
            return self._handle_in_fp32(node, entry, args, schema, desc, reason)
        except TrtGraphError:
            raise
        except Exception as exc:  # noqa: BLE001 - a handler bug or a TensorRT refusal, named
            raise HandlerError(f"{desc}: handler {entry.fn.__module__}.{entry.fn.__name__} failed: "
                               f"{type(exc).__name__}: {exc}") from exc

    def _fp32_reason(self, node, args) -> Optional[str]:
        """Why the precision policy keeps this node in float32 (None: compute in the network's dtype)."""
        if self.policy is None or self.ctx.float_dtype == torch.float32:
            return None
        ins = list(node.inputs())
        count = None
        if ins:
            tt = frontend.traced_type(ins[0])
            count = reduced_elements(tt.shape if tt else None, args.get("dim"), self.facts.axes(ins[0]))
        return self.policy.node_in_fp32(node.kind(), frontend.scope_of(node), count)

    def _handle_in_fp32(self, node, entry, args, schema, desc, reason):
        """A float32 island: inputs cast up (or their float32 values from a preceding island), the
        handler builds in float32, outputs cast down for the ops that follow. ``args`` are the bound
        arguments (with any folded weights)."""
        reduced = self.ctx.float_dtype
        args = dict(args)
        for arg, v in zip(schema.arguments, node.inputs()):
            if v in self.fp32_values:
                args[arg.name] = self.fp32_values[v]
        out32 = run_in_fp32(self.ctx, entry.fn, args)
        outs = list(node.outputs())
        for v, r in zip(outs, [out32] if len(outs) == 1 else list(out32)):
            if is_trt_tensor(r) and to_torch(r.dtype) == torch.float32:
                self.fp32_values[v] = r
        self.fp32_nodes.append(f"{desc} ({reason})")
        return cast_down(self.ctx, out32, reduced)

    def _write_back(self, target, new_value, desc):
        """An in-place op replaced ``target``'s value: rebind it, and write it into the tensors
        ``target`` is a view of (slice assignment ``x[:, 0] = v`` traces to select + copy_)."""
        from .handlers.shape import view_write_back

        self.env[target] = new_value
        self.fp32_values.pop(target, None)  # a float32 island's copy of the old value is stale now
        while target in self.view_of:
            base, node = self.view_of[target]
            schema = frontend.node_schema(node)
            args = frontend.bind_arguments(schema, [self.env.get(v) for v in node.inputs()])
            args["self"] = self.env[base]
            try:
                new_value = view_write_back(self.ctx, node.kind(), args, new_value)
            except TrtGraphError:
                raise
            except Exception as exc:  # noqa: BLE001
                raise HandlerError(f"{desc}: writing the in-place result back through "
                                   f"{frontend.describe(node)} failed: {type(exc).__name__}: {exc}") from exc
            self.env[base] = new_value
            self.fp32_values.pop(base, None)
            target = base

    def _name_new_layers(self, before: int, node) -> list:
        """Name the layers a node added after its module scope and op: 'layer1.0.conv1/convolution'."""
        names = []
        scope = frontend.scope_of(node) or "model"
        op = node.kind().split("::")[-1].strip("_") or node.kind()
        for i in range(before, self.network.num_layers):
            layer = self.network.get_layer(i)
            base = f"{scope}/{op}"
            n = self.state.names.get(base, 0)
            self.state.names[base] = n + 1
            name = base if n == 0 else f"{base}_{n}"
            layer.name = name
            for j in range(layer.num_outputs):
                t = layer.get_output(j)
                if not t.is_network_input:
                    t.name = name if layer.num_outputs == 1 else f"{name}:{j}"
            names.append(name)
        return names

    def _check(self, node, outs, results, desc):
        """Compare each output with the trace: static dims equal, dynamic dims left -1 (a fixed
        size where the traces differ is a size baked into the network). A dim TensorRT lost track
        of (-1) that is the same in both traces is pinned with a reshape, so later handlers see it."""
        for k, (v, r) in enumerate(zip(outs, results)):
            tt = frontend.traced_type(v)
            if tt is None or not is_trt_tensor(r):
                continue
            try:
                got_shape = tuple(r.shape)
            except RuntimeError as exc:  # TensorRT's shape inference failed on what the handler built
                raise HandlerError(f"{desc}: TensorRT cannot infer the shape of output {k} ({exc}); "
                                   + ("the handler may not support dynamic dimensions here"
                                      if self.facts.dynamic else "the handler built an invalid layer")) from exc
            got_dtype = to_torch(r.dtype)
            want_dtype = self.ctx.logical_dtype(tt.dtype) if tt.dtype is not None else None
            axes = self.facts.axes(v)
            if tt.shape is not None and got_shape != tt.shape:
                if len(got_shape) != len(tt.shape):
                    raise ShapeMismatchError(f"{desc}: output {k} has TensorRT shape {got_shape}, "
                                             f"the trace recorded {tt.shape}")
                for i, (g, t) in enumerate(zip(got_shape, tt.shape)):
                    if i in axes and g >= 0:
                        other = self.facts.second_shapes[v][i]
                        raise DynamicShapeError(
                            f"{desc}: output {k} dimension {i} is fixed at {g} in the network, but it follows a "
                            f"dynamic input size (the traces give {t} and {other}): the trace baked a size "
                            "into this op's arguments; compute it from tensor.size() in forward, or make the "
                            "dimension static")
                    if i not in axes and g >= 0 and g != t:
                        raise ShapeMismatchError(f"{desc}: output {k} has TensorRT shape {got_shape}, "
                                                 f"the trace recorded {describe_shape(tt.shape, axes)}")
                if any(g < 0 and i not in axes for i, (g, t) in enumerate(zip(got_shape, tt.shape))):
                    dims = self.ctx.dims(r)
                    pinned = [t if i not in axes else d for i, (t, d) in enumerate(zip(tt.shape, dims))]
                    results[k] = self.ctx.reshape(r, pinned)
                    self.env[v] = results[k]
            if want_dtype is not None and got_dtype != want_dtype:
                raise ShapeMismatchError(f"{desc}: output {k} has TensorRT dtype {got_dtype}, "
                                         f"the trace recorded {tt.dtype} (expected {want_dtype} in this network)")

    # ----------------------------------------------------------- parameters
    def attribute(self, node):
        owner = node.input()
        name = node.s("name")
        obj = self.env[owner]
        path = f"{self.paths.get(owner, '')}.{name}".lstrip(".")
        try:
            value = getattr(obj, name)
        except AttributeError as exc:
            raise TraceError(f"{frontend.describe(node)}: module attribute '{path}' not found") from exc
        if isinstance(value, torch.Tensor):
            if self.exclude is not None and self.exclude.fullmatch(path):
                value = _Excluded(path, self.exclude.pattern)
            else:
                value = value.detach()
                if value.device.type != "meta":
                    self.param_storages.add(value.untyped_storage().data_ptr())
        self.env[node.output()] = value
        self.paths[node.output()] = path


def _stand_in(x, jit_value, zeros: bool):
    """A torch tensor standing in for a network tensor in a shape-only op: meta, or zeros.
    Its shape is the traced one (the network's may have -1 in dynamic dims this op does not read)."""
    if not is_trt_tensor(x):
        return x
    tt = frontend.traced_type(jit_value)
    dtype = tt.dtype if tt is not None and tt.dtype is not None else to_torch(x.dtype)
    shape = tuple(tt.shape) if tt is not None and tt.shape is not None else tuple(x.shape)
    return torch.zeros(shape, dtype=dtype) if zeros else torch.empty(shape, dtype=dtype, device="meta")


class _Excluded:
    """A parameter dropped by ``param_exclude``; using it is an error."""

    def __init__(self, path, pattern):
        self.path, self.pattern = path, pattern


def _prim_constant(w: _Walker, node):
    w.env[node.output()] = frontend.constant_value(node)


def _prim_list(w: _Walker, node):
    w.env[node.output()] = [w.env[v] for v in node.inputs()]


def _prim_tuple(w: _Walker, node):
    w.env[node.output()] = tuple(w.env[v] for v in node.inputs())


def _prim_dict(w: _Walker, node):
    vals = [w.env[v] for v in node.inputs()]
    w.env[node.output()] = dict(zip(vals[0::2], vals[1::2]))


def _prim_unpack(w: _Walker, node):
    seq = w.env[node.input()]
    outs = list(node.outputs())
    if len(seq) != len(outs):
        raise TraceError(f"{frontend.describe(node)}: unpacking {len(seq)} values into {len(outs)}")
    for v, x in zip(outs, seq):
        w.env[v] = x


def _prim_num_to_tensor(w: _Walker, node):
    x = w.env[node.input()]
    w.env[node.output()] = x if is_trt_tensor(x) else torch.tensor(x)


def _prim_tuple_index(w: _Walker, node):
    seq, idx = (w.env[v] for v in node.inputs())
    w.env[node.output()] = seq[idx]


_PRIM_HANDLERS = {
    "prim::Constant": _prim_constant,
    "prim::ListConstruct": _prim_list,
    "prim::TupleConstruct": _prim_tuple,
    "prim::DictConstruct": _prim_dict,
    "prim::ListUnpack": _prim_unpack,
    "prim::TupleUnpack": _prim_unpack,
    "prim::GetAttr": _Walker.attribute,
    "prim::NumToTensor": _prim_num_to_tensor,
    "prim::TupleIndex": _prim_tuple_index,
}


# --------------------------------------------------------------------------- entry point

def _warn_if_training(model):
    if isinstance(model, torch.nn.Module) and not isinstance(model, torch.jit.ScriptModule) and \
            any(m.training for m in model.modules()):
        warnings.warn("the model is in training mode; trtgraph traces it in eval mode (dropout off, batch norm "
                      "with running statistics) and leaves its flags as they were; call model.eval() first to "
                      "silence this", UserWarning, stacklevel=3)


def _output_keys(outputs) -> Optional[list]:
    """Names of the flattened outputs when the model returns one dict of tensors, else None."""
    if len(outputs) == 1 and isinstance(outputs[0], dict) and all(isinstance(k, str) for k in outputs[0]):
        if all(not isinstance(v, (list, tuple, dict)) for v in outputs[0].values()):
            return list(outputs[0].keys())
    return None


def check_shape_guards(model, torch_graph, guards, ranges, names, examples, defer: bool = False) -> list:
    """A shape check computed from a dynamic size (``if x.shape[0] > 3``) must hold over the whole
    range: trace again at the range's min and max and require the same graph. A trace that fails
    there is a :class:`DynamicShapeError`. A different graph is one too, unless ``defer``: then
    the corners are returned as ``[(corner, example inputs, reason)]`` for the caller to check
    numerically (``trtgraph.convert`` evaluates the network there and compares it with eager).
    Checks that change value only strictly inside the range are not seen (see the README)."""
    where = "; ".join(f"{g.source} ({g.message})" for g in guards[:3])
    pending = []
    for corner, k in (("min", 0), ("max", 2)):
        sizes = [resized(x, {a: r[k] for a, r in ranges.get(n, {}).items()}) for n, x in zip(names, examples)]
        if all(tuple(a.shape) == tuple(b.shape) for a, b in zip(sizes, examples)):
            continue
        shapes = ", ".join(str(tuple(x.shape)) for x in sizes)
        try:
            _, g = frontend.trace_module(model, sizes)
        except TrtGraphError as exc:
            raise DynamicShapeError(f"the model checks a dynamic size in Python at {where}, and tracing at the "
                                    f"{corner} of the dynamic range ({shapes}) fails: {exc}") from exc
        try:
            compare_traces(torch_graph, g)
        except TrtGraphError as exc:
            reason = (f"the model checks a dynamic size in Python at {where}, and at the {corner} of the dynamic "
                      f"range ({shapes}) it takes another path: {exc}")
            if not defer:
                raise DynamicShapeError(reason + ". The engine would compute the example's path at every size; "
                                        "narrow the range or make the dimension static") from exc
            pending.append((corner, sizes, reason))
    return pending



def _example_for(x, index: int) -> torch.Tensor:
    """A torch tensor to trace with for a network-tensor input (chained conversion)."""
    shape = tuple(x.shape)
    if any(d < 0 for d in shape):
        raise InputError(f"input {index} is a TensorRT tensor with dynamic shape {shape}; "
                         "pass a torch tensor of the shape to trace with")
    dtype = to_torch(x.dtype)
    if dtype.is_floating_point:
        dtype = torch.float32
    return torch.zeros(shape, dtype=dtype)


def torch2trt(model, inputs, input_names: Optional[list[str]] = None, verbose: bool = False,
              param_exclude: Optional[str] = None, precision: str = "fp32", progress: Optional[Callable] = None,
              dynamic_shapes: Optional[dict] = None, precision_policy=None, fold_batch_norm: bool = True,
              strict: bool = True, _defer_shape_guards: bool = False):
    """Trace ``model`` and add its layers to the current network.

    ``inputs``: torch tensors (become network inputs named ``input_names``) or network tensors
    (chaining a second model onto a first). Returns ``(trace, graph)``.

    ``dynamic_shapes``: ``{"input_name": {dim: (min, opt, max)}}``. Those dims are -1 in the
    network; ``graph.profile_shapes`` holds the optimization profile to build with
    (``graph.add_profile(builder, config)``). The model is traced a second time at another shape
    to find what follows the dynamic sizes (see ``trtgraph.dynamic``). The torch debug network
    ignores it (it evaluates at the example shapes).

    ``precision_policy``: a :class:`trtgraph.PrecisionPolicy` (default: softmax, normalization
    statistics, exp/log, long reductions... stay float32 in fp16/bf16 networks), or ``"none"``.

    ``fold_batch_norm``: fold each inference batch norm that directly follows a convolution (and is
    its only reader) into the convolution's weights (the node-by-node comparison skips such
    convolutions: their output is the batch norm's).

    ``strict``: refuse (default) values the trace baked in from input data (``if x.sum() > 0``,
    ``.item()``, ``.tolist()``) and random ops; ``False`` accepts them with a
    :class:`TraceCheckWarning` each (listed in ``graph.trace_warnings``).
    """
    from .dtypes import PRECISIONS

    state = _current_state()
    if state is None:
        raise TrtGraphError("torch2trt must be called inside `with trt_network(net):` or `with torch_network():`")
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    float_dtype = PRECISIONS[precision]
    if isinstance(inputs, torch.Tensor) or is_trt_tensor(inputs):
        inputs = [inputs]
    if not isinstance(inputs, (list, tuple)):
        raise InputError(f"inputs must be a list of tensors, got {type(inputs).__name__}")
    inputs = list(inputs)
    if input_names is not None and len(input_names) != len(inputs):
        raise InputError(f"{len(input_names)} input_names for {len(inputs)} inputs")
    examples = []
    for i, x in enumerate(inputs):
        if is_trt_tensor(x):
            examples.append(_example_for(x, i))
        elif isinstance(x, torch.Tensor):
            if x.dtype == torch.float64:
                raise InputError(f"input {i} is float64, which TensorRT does not support; pass float32")
            if x.is_complex():
                raise InputError(f"input {i} is complex, which TensorRT does not support")
            examples.append(x.detach().cpu())
        else:
            raise InputError(f"input {i} is a {type(x).__name__}; expected a torch.Tensor or a TensorRT tensor")

    names = [input_names[i] if input_names else f"input_{i}" for i in range(len(inputs))]
    ranges = {} if state.debug else parse_ranges(dynamic_shapes, names, examples)
    for name in ranges:
        if is_trt_tensor(inputs[names.index(name)]):
            raise InputError(f"dynamic_shapes names input {name!r}, which is a TensorRT tensor: its "
                             "dimensions come from the network it belongs to")
    if ranges and isinstance(model, torch.jit.ScriptModule):
        raise InputError("dynamic_shapes needs a traceable nn.Module (a ScriptModule records no shapes)")

    t0 = time.perf_counter()
    _warn_if_training(model)
    findings: list = []
    pending_guards: list = []
    trace, torch_graph = frontend.trace_module(model, examples, findings)
    facts = ShapeFacts()
    if ranges:
        _, second_graph = frontend.trace_module(model, second_examples(ranges, names, examples))
        size_one = any(examples[names.index(n)].shape[a] == 1 for n, axes in ranges.items() for a in axes)
        facts = compare_traces(torch_graph, second_graph, size_one)
        dynamic_inputs = {names.index(n) for n in ranges}
        guards = [f for f in findings if f.origin == "size" and f.inputs & dynamic_inputs]
        if guards:
            pending_guards = check_shape_guards(model, torch_graph, guards, ranges, names, examples,
                                                defer=_defer_shape_guards)
    t_trace = time.perf_counter() - t0

    ctx = ConversionContext(state.network, float_dtype, state.keep)
    net_inputs = []
    for i, x in enumerate(inputs):
        if is_trt_tensor(x):
            net_inputs.append(x)
            continue
        name = names[i]
        tensor = state.network.add_input(name, to_trt(x.dtype), network_shape(x, ranges.get(name, {})))
        if state.debug:
            state.network.set_example(name, examples[i])
        if x.dtype.is_floating_point and float_dtype != x.dtype:
            tensor = ctx.cast(tensor, float_dtype)
        net_inputs.append(tensor)

    graph = Graph(state.network, torch_graph, net_inputs, state.keep, state.debug, float_dtype)
    graph.example_inputs = examples
    graph.trace = trace
    graph.profile_shapes = profile_shapes(ranges, names, examples)
    walker = _Walker(state, trace, torch_graph, verbose, param_exclude, float_dtype, progress, facts,
                     as_policy(precision_policy), fold_batch_norm, findings, strict)
    outputs, records = walker.run(net_inputs)
    graph.nodes = records
    graph.fp32_nodes = list(walker.fp32_nodes)
    graph.trace_warnings = list(walker.relaxed)
    graph.trace_findings = findings
    graph.pending_shape_guards = pending_guards
    graph.output_groups = [len(_flatten(o)) for o in outputs]
    graph.output_keys = _output_keys(outputs)
    flat = _flatten(outputs)
    for k, o in enumerate(flat):
        if isinstance(o, _Excluded):
            raise ParameterError(f"output {k} is parameter '{o.path}', excluded by param_exclude={o.pattern!r}")
        if not (is_trt_tensor(o) or isinstance(o, torch.Tensor)):
            raise TraceError(f"model output {k} is a {type(o).__name__}, not a tensor; "
                             "trtgraph converts models whose outputs are tensors (or tuples/lists/dicts of them)")
    graph.outputs = [o if is_trt_tensor(o) else ctx.constant(o) for o in flat]
    graph.trace_seconds = t_trace
    graph.convert_seconds = time.perf_counter() - t0
    return trace, graph
