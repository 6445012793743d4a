"""Stage 2, emission: each aten node folded in torch or handed to its handler, float32 islands,
in-place write-back."""
from __future__ import annotations

import sys
from typing import Optional

import torch

from .. import frontend
from ..dtypes import to_torch
from ..errors import (HandlerError, TrtGraphError)
from ..network_state import is_trt_tensor
from ..precision import cast_down, reduced_elements, run_in_fp32
from ..registry import lookup

from ..handlers.shape import view_write_back
from .kinds import _CREATION_OPS, _SHAPE_OPS, _VIEW_OPS, _flatten, is_inplace
from .prims import _PRIM_HANDLERS, _Excluded, _stand_in, excluded_use
from .records import NodeRecord


class Emission:
    """Mixin of :class:`trtgraph.core._Walker`: building the layers of each node."""

    def run(self, inputs: list) -> tuple[list, list]:
        g_inputs = list(self.g.inputs())
        self.env[g_inputs[0]] = self.trace
        self.paths[g_inputs[0]] = ""
        for v, x in zip(g_inputs[1:], inputs):
            self.env[v] = x
        self.analyse()
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
                raise excluded_use(node, v.path, v.pattern)
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
            results = self.checks.check(node, outs, results, desc)
            for v, r in zip(outs, results):
                self.env[v] = r
        layers = self.checks.name_new_layers(before, node)
        if self.verbose:
            print(f"[trtgraph] {index:5d} {kind:<28} {frontend.scope_of(node) or '-':<30} "
                  f"{'folded' if folded else str(len(layers)) + ' layer(s)'}"
                  f"{'  ' + str(self.ctx.shape(results[0])) if is_trt_tensor(results[0]) else ''}",
                  file=sys.stderr)
        fused = ""
        bn = self.bn_folds.batch_norm_of(node)
        if bn is not None:
            fused = f"with {frontend.describe(bn)} folded in"
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
        if is_inplace(kind) and values and isinstance(values[0], torch.Tensor) and \
                values[0].untyped_storage().data_ptr() in self.ctx.constant_storages:
            # network weights already point at this memory (a layer used the value before the
            # write): write into a copy, which the written value names from here on
            values = [values[0].clone()] + list(values[1:])
            self.env[node.inputsAt(0)] = values[0]
        try:
            return frontend.run_node_in_torch(node, values)
        except TrtGraphError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise HandlerError(f"{desc}: constant folding in torch failed: {type(exc).__name__}: {exc}") from exc

    def _handle(self, node, values, desc):
        schema = frontend.node_schema(node)
        entry = lookup(node.kind(), schema.overload_name if schema else "", schema)
        args = frontend.bind_arguments(schema, values)
        self.ctx.node = node
        self.ctx.node_info = desc
        self.ctx.expected = [frontend.traced_type(v) for v in node.outputs()]
        self.ctx.expected_dynamic = [self.facts.axes(v) for v in node.outputs()]
        if self.bn_folds.is_folded(node):
            x = node.inputsAt(0)
            if x in self.fp32_values:  # the folded convolution was a float32 island: pass its value on
                self.fp32_values[node.output()] = self.fp32_values[x]
            return args["input"]  # already applied by the convolution before it
        args = self.bn_folds.fold_weights(node, args)
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
