"""Nodes with blocks (``prim::If``, ``prim::Loop`` from scripted code): what they read from outside."""
from __future__ import annotations

from ..ir import all_nodes


def free_inputs(node) -> list:
    """A node's inputs and the outer values its blocks read (prim::If/Loop read them directly)."""
    out = list(node.inputs())
    blocks = list(node.blocks())
    if not blocks:
        return out
    inner = set()
    for b in blocks:
        inner.update(b.inputs())
        for n in all_nodes(b):
            inner.update(n.outputs())
    for b in blocks:
        for n in all_nodes(b):
            out.extend(v for v in n.inputs() if v not in inner)
        out.extend(v for v in b.outputs() if v not in inner)
    seen, uniq = set(), []
    for v in out:
        if v not in seen:
            seen.add(v)
            uniq.append(v)
    return uniq
