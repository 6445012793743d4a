"""The user's hybrid options checked against the traced graph: ``param_exclude`` (refused when a
node uses an excluded parameter) and ``torch_executed_ops``/``torch_executed_modules`` (a warning
for an entry that matches nothing)."""
from __future__ import annotations

import re
import warnings

import torch

from .. import frontend
from ..errors import user_stacklevel
from ..pytree import MODEL_KEY
from ..walker.prims import excluded_use
from .module import HybridWarning


def refuse_excluded(graph, exclude, wrapped: bool) -> None:
    """``param_exclude`` names parameters the model does not use (the seed API's meaning): a node that
    uses one, in a TensorRT segment or in torch, is a :class:`ParameterError`, as without fallback.
    ``wrapped``: the graph was traced through a :class:`trtgraph.pytree.FlatModule` (paths start with
    its model attribute)."""
    prefix = MODEL_KEY + "." if wrapped else ""
    paths = {list(graph.inputs())[0]: ""}
    for node in graph.nodes():
        if node.kind() == "prim::GetAttr":
            base = paths.get(node.input())
            if base is not None:
                paths[node.output()] = f"{base}.{node.s('name')}".lstrip(".")
            continue
        for v in node.inputs():
            path = paths.get(v)
            if path and isinstance(v.type(), torch._C.TensorType) and path.startswith(prefix) and \
                    exclude.fullmatch(path[len(prefix):]):
                raise excluded_use(node, path[len(prefix):], exclude.pattern)


def warn_unmatched(graph, ops, modules) -> None:
    """A ``torch_executed_ops`` entry or ``torch_executed_modules`` pattern that matches nothing in the
    traced graph is most likely a mistake: say so (the conversion goes on)."""
    kinds = {n.kind() for n in graph.nodes()}
    kinds |= {k[:-1] for k in kinds if k.endswith("_") and not k.endswith("__")}  # relu_ counts as relu
    scopes = {frontend.scope_of(n) for n in graph.nodes()}
    paths = {".".join(s.split(".")[:k]) for s in scopes if s for k in range(1, len(s.split(".")) + 1)}
    for op in ops or ():
        if op not in kinds:
            warnings.warn(f"torch_executed_ops: the traced graph has no {op} node (it has "
                          f"{len(kinds)} op kinds; `trtgraph ops MODEL` lists them)", HybridWarning,
                          stacklevel=user_stacklevel())
    for pattern in modules or ():
        if not any(re.fullmatch(pattern, path) for path in paths):
            warnings.warn(f"torch_executed_modules: {pattern!r} matches no module path of the model (paths look "
                          f"like {sorted(paths, key=len)[-1] if paths else 'layer1.0.conv1'!r})", HybridWarning,
                          stacklevel=user_stacklevel())
