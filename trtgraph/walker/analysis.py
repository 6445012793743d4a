"""Stage 1, analysis (before any layer is built): which values depend on the inputs, which
nodes need a handler, every problem at once (UnsupportedOpsError), batch-norm folds."""
from __future__ import annotations

import warnings
from typing import Optional

from .. import frontend
from ..errors import UnsupportedOpsError, user_stacklevel
from ..dynamic import baked_message
from ..registry import Traced, lookup
from ..trace_checks import NONDETERMINISTIC_OPS, TRAIN_RANDOM_OPS

from .kinds import (TraceCheckWarning, _CREATION_OPS, _NETWORK_CONSTANT_OPS, _SIZE_OPS, _VIEW_OPS, is_inplace)
from .bn_fold import BatchNormFolds, plan_batch_norm_folds
from .prims import _PRIM_HANDLERS


class Analysis:
    """Stage 1 on its own: reads the graph and what the frontend found, builds nothing.

    Inputs: the graph (:mod:`trtgraph.ir`, or a TorchScript graph for the hybrid partitioner), the
    module or attribute tree of its first input, the shape facts and trace findings, ``strict``,
    the precision policy (None in float32) and whether to fold batch norms. Results, after
    :meth:`analyse`: ``needs_handler`` (node -> depends on the model inputs), ``sized`` (values
    computed only from dynamic sizes), ``network_constants``, ``relaxed`` (what strict=False
    accepted), ``bn_folds`` (:class:`trtgraph.walker.bn_fold.BatchNormFolds`), and with
    ``collect`` ``node_problems`` / ``global_problems``."""

    def __init__(self, graph, trace, facts, findings=(), strict: bool = True, policy=None,
                 fold_batch_norm: bool = False):
        self.g, self.trace, self.facts = graph, trace, facts
        self.findings, self.strict = list(findings), strict
        self.policy, self.fold_batch_norm = policy, fold_batch_norm
        self.needs_handler: dict = {}
        self.sized: set = set()
        self.network_constants: set = set()
        self.relaxed: list = []
        self.node_problems: dict = {}
        self.global_problems: list = []
        self.bn_folds = BatchNormFolds()

    def analyse(self, collect: bool = False):
        """Find which values depend on the inputs and check every such node has a handler.

        ``collect``: do not raise; record every problem per node in ``self.node_problems``
        ({node: [reason, ...]}) and the problems no node can be blamed for (values the trace baked
        in) in ``self.global_problems``, for the hybrid partitioner (``trtgraph.hybrid``)."""
        tainted = set(list(self.g.inputs())[1:])
        self.node_problems = node_problems = {}
        self.global_problems = [f.describe() + "; compute it with tensor ops, or pass strict=False to accept it"
                                for f in self.findings if f.refused]
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
                node_problems.setdefault(node, []).append(problems[-1])
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
                if kind not in _PRIM_HANDLERS:
                    node_problems.setdefault(node, []).append(f"prim op {kind} (no TensorRT equivalent)")
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
                node_problems.setdefault(node, []).append(reason)
            self.needs_handler[node] = dep
            if not dep:
                continue
            entry = lookup(kind, frontend.node_overload(node), frontend.node_schema(node))
            if entry is None:
                node_problems.setdefault(node, []).append(f"no handler for {kind}")
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
                    node_problems.setdefault(node, []).append(reason)
        if collect:
            return tainted
        if not self.strict:
            for p in baked_problems:
                warnings.warn(f"trtgraph (strict=False): {p}", TraceCheckWarning, stacklevel=user_stacklevel())
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
        """The batch-norm fold pass (:mod:`trtgraph.walker.bn_fold`) on this graph."""
        def same_precision(conv, bn):
            return self.policy is None or self.policy.node_in_fp32(conv.kind(), frontend.scope_of(conv)) == \
                self.policy.node_in_fp32(bn.kind(), frontend.scope_of(bn))

        self.bn_folds = plan_batch_norm_folds(self.g.nodes(), lambda n: bool(self.needs_handler.get(n)),
                                              lambda n: self._static_args(n, tainted), same_precision)

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
