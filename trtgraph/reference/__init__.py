"""Reference evaluator: computes a TensorRT network's tensors on CPU with torch.

``evaluate(network, inputs)`` walks the layers in order; each layer type has one function in a
family module (``conv.py``, ``pooling.py``, ...) registered with ``@layer_impl("TYPE")``.
Works on real ``INetworkDefinition`` objects and on duck-typed fakes with the same attribute names.
"""
from __future__ import annotations

from . import (  # noqa: F401 - importing registers the layer implementations
    activation,
    attention,
    conv,
    elementwise,
    gather,
    matmul,
    misc,
    normalization,
    pooling,
    quantize,
    reduce,
    resize,
    shuffle,
    slice,
    tensor,
)
from ._core import IMPLS, layer_impl
from .evaluator import evaluate

__all__ = ["evaluate", "layer_impl", "IMPLS"]
