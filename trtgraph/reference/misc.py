"""REVERSE_SEQUENCE and ASSERTION."""
from __future__ import annotations

import torch

from ..errors import EvaluationError
from ._core import attr, layer_impl, out_dtype


@layer_impl("REVERSE_SEQUENCE")
def reverse_sequence(layer, inputs):
    """For each batch entry b, reverse the first lengths[b] elements along sequence_axis."""
    x, lengths = inputs
    batch_axis = int(attr(layer, "batch_axis", 1))
    seq_axis = int(attr(layer, "sequence_axis", 0))
    y = x.clone()
    for b in range(x.shape[batch_axis]):
        n = int(lengths[b])
        entry = x.select(batch_axis, b)
        axis = seq_axis if seq_axis < batch_axis else seq_axis - 1
        head = entry.narrow(axis, 0, n).flip(axis)
        y.select(batch_axis, b).narrow(axis, 0, n).copy_(head)
    return [y.to(out_dtype(layer))]


@layer_impl("ASSERTION")
def assertion(layer, inputs):
    if not bool(torch.as_tensor(inputs[0]).bool().all()):
        raise EvaluationError(f"assertion failed: {attr(layer, 'message', '')}")
    return []
