"""Scheduling: layers run in dependency order (TensorRT's layer list need not be topological,
e.g. after ``set_input``), loops run as one unit, if-conditionals evaluate both branches.

Loop semantics (ILoop): TRIP_LIMIT COUNT gives the iteration count, WHILE a boolean computed
from the loop state at the start of each iteration; RECURRENCE outputs input 0 in the first
iteration and the previous iteration's input 1 afterwards; ITERATOR outputs slice i of its input
along ``axis`` (from the end with ``reverse``); LOOP_OUTPUT LAST_VALUE gives its input's value in
the last iteration (for a recurrence output: the value after the last update, the initial value
after zero iterations), CONCATENATE / REVERSE stack the per-iteration values along ``axis``
(length = input 1, zero padded).
"""
from __future__ import annotations

import heapq

import torch

from ..errors import EvaluationError
from ._core import enum_name, normalize_axis, scalar

_LOOP_BOUNDARY = {"TRIP_LIMIT", "RECURRENCE", "ITERATOR", "LOOP_OUTPUT"}


def _input_names(layer):
    names = []
    for j in range(layer.num_inputs):
        tensor = layer.get_input(j)
        names.append(None if tensor is None else tensor.name)
    return names


def _output_names(layer):
    return [layer.get_output(i).name for i in range(layer.num_outputs)]


class _Node:
    """A schedulable unit: one layer, or one whole loop."""

    def __init__(self, index, members):
        self.index = index
        self.members = members  # [(layer, type_name)]
        produced = {name for layer, _ in members for name in _output_names(layer)}
        self.needs = {n for layer, _ in members for n in _input_names(layer) if n and n not in produced}
        self.outputs = produced


def _loop_key(layer):
    return layer.loop.name


def _loop_members(layers):
    """{loop name: set of layer indices} for every loop (boundary layers plus the body layers
    that depend on its recurrences or iterators)."""
    loops = {}
    for i, (layer, type_name) in enumerate(layers):
        if type_name in _LOOP_BOUNDARY:
            loops.setdefault(_loop_key(layer), set()).add(i)
    consumers = {}
    for i, (layer, _) in enumerate(layers):
        for name in _input_names(layer):
            if name:
                consumers.setdefault(name, []).append(i)
    for members in loops.values():
        stack = [i for i in members if layers[i][1] in ("RECURRENCE", "ITERATOR")]
        while stack:
            i = stack.pop()
            if layers[i][1] == "LOOP_OUTPUT":
                continue
            for name in _output_names(layers[i][0]):
                for j in consumers.get(name, []):
                    if j not in members:
                        members.add(j)
                        stack.append(j)
    return loops


def _nodes(layers):
    loops = _loop_members(layers)
    in_loop = {}
    for key, members in loops.items():
        for i in members:
            if i in in_loop:
                raise EvaluationError("nested loops are not supported by the reference evaluator")
            in_loop[i] = key
    nodes, seen = [], set()
    for i, entry in enumerate(layers):
        key = in_loop.get(i)
        if key is None:
            nodes.append(_Node(i, [entry]))
        elif key not in seen:
            seen.add(key)
            nodes.append(_LoopNode(i, [layers[j] for j in sorted(loops[key])]))
    return nodes


def _schedule(nodes, available):
    """Kahn's algorithm, ties broken by position in the network."""
    producer = {name: k for k, node in enumerate(nodes) for name in node.outputs}
    deps = {k: {producer[n] for n in node.needs if n in producer and n not in available} for k, node in enumerate(nodes)}
    users = {}
    for k, ds in deps.items():
        for d in ds:
            users.setdefault(d, []).append(k)
    ready = [k for k, ds in deps.items() if not ds]
    heapq.heapify(ready)
    order = []
    while ready:
        k = heapq.heappop(ready)
        order.append(nodes[k])
        for u in users.get(k, []):
            deps[u].discard(k)
            if not deps[u]:
                heapq.heappush(ready, u)
    if len(order) != len(nodes):
        stuck = [nodes[k].members[0][0].name for k, ds in deps.items() if ds][:5]
        raise EvaluationError(f"the network has a cycle or unproduced inputs around layers {stuck}")
    return order


def run_layers(layers, values, check, run_layer):
    conditions = {}
    for node in _schedule(_nodes(layers), set(values)):
        if isinstance(node, _LoopNode):
            node.run(values, check, run_layer)
            continue
        layer, type_name = node.members[0]
        if type_name == "CONDITION":
            conditions[layer.conditional.name] = bool(scalar(values[layer.get_input(0).name]))
        elif type_name == "CONDITIONAL_INPUT":
            values[layer.get_output(0).name] = values[layer.get_input(0).name]
        elif type_name == "CONDITIONAL_OUTPUT":
            taken = 0 if conditions[layer.conditional.name] else 1
            values[layer.get_output(0).name] = values[layer.get_input(taken).name]
        else:
            run_layer(layer, type_name, values, check)


class _LoopNode(_Node):
    def __init__(self, index, members):
        super().__init__(index, members)
        self.by_type = {}
        for layer, type_name in members:
            self.by_type.setdefault(type_name, []).append(layer)
        self.body = [(layer, t) for layer, t in members if t not in _LOOP_BOUNDARY]
        self.outputs = {layer.get_output(0).name for layer in self.by_type.get("LOOP_OUTPUT", [])}

    def _trip_count(self, values):
        counts, condition = [], None
        for layer in self.by_type.get("TRIP_LIMIT", []):
            if enum_name(layer.kind) == "COUNT":
                counts.append(int(scalar(values[layer.get_input(0).name])))
            else:
                condition = layer.get_input(0).name
        for layer in self.by_type.get("ITERATOR", []):
            x = values[layer.get_input(0).name]
            counts.append(x.shape[normalize_axis(int(layer.axis), x.dim())])
        return (min(counts) if counts else None), condition

    def run(self, values, check, run_layer):
        count, condition = self._trip_count(values)
        if count is None and condition is None:
            raise EvaluationError("loop has no trip limit")
        recurrences = self.by_type.get("RECURRENCE", [])
        state = {r.get_output(0).name: values[r.get_input(0).name] for r in recurrences}
        history = {out.get_input(0).name: [] for out in self.by_type.get("LOOP_OUTPUT", [])}
        local = dict(values)
        iteration = 0
        body = _schedule([_Node(k, [m]) for k, m in enumerate(self.body)],
                         set(local) | set(state) | self._iterator_names())
        while count is None or iteration < count:
            local.update(state)
            self._set_iterators(local, iteration)
            if condition is not None and not self._condition(condition, local, body, check, run_layer):
                break
            for node in body:
                layer, type_name = node.members[0]
                if not all(n is None or n in local for n in _input_names(layer)):
                    continue
                run_layer(layer, type_name, local, check)
            for name in history:
                history[name].append(local[name])
            state = {r.get_output(0).name: local[r.get_input(1).name] for r in recurrences}
            iteration += 1
        self._outputs(values, local, state, history, iteration)

    def _iterator_names(self):
        return {layer.get_output(0).name for layer in self.by_type.get("ITERATOR", [])}

    def _set_iterators(self, local, i):
        for layer in self.by_type.get("ITERATOR", []):
            x = local[layer.get_input(0).name]
            axis = normalize_axis(int(layer.axis), x.dim())
            index = x.shape[axis] - 1 - i if bool(layer.reverse) else i
            local[layer.get_output(0).name] = x.select(axis, index)

    def _condition(self, name, local, body, check, run_layer):
        if name not in local:
            for node in body:
                layer, type_name = node.members[0]
                if all(n is None or n in local for n in _input_names(layer)):
                    run_layer(layer, type_name, local, check)
                if name in local:
                    break
        return bool(scalar(local[name]))

    def _outputs(self, values, local, state, history, iterations):
        for layer in self.by_type.get("LOOP_OUTPUT", []):
            source = layer.get_input(0).name
            kind = enum_name(layer.kind)
            if kind == "LAST_VALUE":
                value = state.get(source) if source in state else (history[source][-1] if history[source] else None)
                if value is None:
                    raise EvaluationError(f"loop output {layer.name!r}: zero iterations and no initial value")
                values[layer.get_output(0).name] = value
                continue
            steps = history[source] if kind == "CONCATENATE" else history[source][::-1]
            length = int(scalar(local[layer.get_input(1).name])) if layer.num_inputs > 1 and layer.get_input(1) is not None else len(steps)
            axis = int(layer.axis)
            if steps:
                stacked = torch.stack(steps, dim=normalize_axis(axis, steps[0].dim() + 1))
            else:
                raise EvaluationError(f"loop output {layer.name!r}: zero iterations")
            pad = length - stacked.shape[axis]
            if pad > 0:
                shape = list(stacked.shape)
                shape[axis] = pad
                stacked = torch.cat([stacked, torch.zeros(shape, dtype=stacked.dtype)], dim=axis)
            values[layer.get_output(0).name] = stacked
