"""GATHER (DEFAULT, ELEMENT, ND), SCATTER (ELEMENT, ND) and ONE_HOT."""
from __future__ import annotations

import torch

from ..errors import EvaluationError
from ._core import attr, enum_name, layer_impl, normalize_axis, out_dtype, scalar


def _wrap(indices, size):
    """Negative indices count from the end; anything else out of range is an error."""
    indices = indices.long()
    if indices.numel() and (bool((indices < -size).any()) or bool((indices >= size).any())):
        raise EvaluationError(f"indices {indices.min().item()}..{indices.max().item()} out of range for a dim of {size}")
    return torch.where(indices < 0, indices + size, indices)


def _gather_default(data, indices, axis, batch):
    """out = data.shape[:axis] + indices.shape[batch:] + data.shape[axis+1:]; with one
    elementwise dim, data and indices share dim 0."""
    idx = _wrap(indices, data.shape[axis])
    if batch == 0:
        flat = data.index_select(axis, idx.reshape(-1))
        shape = tuple(data.shape[:axis]) + tuple(idx.shape) + tuple(data.shape[axis + 1:])
        return flat.reshape(shape)
    parts = [_gather_default(data[b], idx[b], axis - 1, 0) for b in range(data.shape[0])]
    return torch.stack(parts, 0)


def _gather_nd(data, indices, batch):
    k = indices.shape[-1]
    idx = indices.long()
    if batch:
        parts = [_gather_nd(data[b], idx[b], batch - 1) for b in range(data.shape[0])]
        return torch.stack(parts, 0)
    lead = tuple(idx.shape[:-1])
    flat = idx.reshape(-1, k)
    coords = [_wrap(flat[:, j], data.shape[j]) for j in range(k)]
    picked = data[tuple(coords)] if k else data.unsqueeze(0).expand((flat.shape[0],) + tuple(data.shape))
    return picked.reshape(lead + tuple(data.shape[k:]))


@layer_impl("GATHER")
def gather(layer, inputs):
    data, indices = inputs[0], inputs[1]
    mode = enum_name(attr(layer, "mode", "DEFAULT"))
    batch = int(attr(layer, "num_elementwise_dims", 0))
    if mode == "DEFAULT":
        axis = normalize_axis(int(attr(layer, "axis", 0)), data.dim())
        y = _gather_default(data, indices, axis, batch)
    elif mode == "ELEMENT":
        axis = normalize_axis(int(attr(layer, "axis", 0)), data.dim())
        y = torch.gather(data, axis, _wrap(indices, data.shape[axis]))
    elif mode == "ND":
        y = _gather_nd(data, indices, batch)
    else:
        raise EvaluationError(f"gather mode {mode} is not implemented")
    return [y.contiguous().to(out_dtype(layer))]


def _scatter_nd(data, indices, updates):
    out = data.clone()
    k = indices.shape[-1]
    flat = indices.long().reshape(-1, k)
    rows = updates.reshape((flat.shape[0],) + tuple(data.shape[k:]))
    for i in range(flat.shape[0]):
        coord = tuple(int(_wrap(flat[i, j], data.shape[j])) for j in range(k))
        out[coord] = rows[i]
    return out


@layer_impl("SCATTER")
def scatter(layer, inputs):
    data, indices, updates = inputs
    mode = enum_name(attr(layer, "mode", "ELEMENT"))
    if mode == "ELEMENT":
        axis = normalize_axis(int(attr(layer, "axis", 0)), data.dim())
        y = data.clone().scatter_(axis, _wrap(indices, data.shape[axis]), updates.to(data.dtype))
    else:
        y = _scatter_nd(data, indices, updates.to(data.dtype))
    return [y.to(out_dtype(layer))]


@layer_impl("ONE_HOT")
def one_hot(layer, inputs):
    """values = [off, on]; indices in [-depth, depth) (negative wrap); others give ``off``."""
    indices, values, depth_tensor = inputs
    depth = int(scalar(depth_tensor))
    idx = indices.long()
    idx = torch.where(idx < 0, idx + depth, idx)
    rank = indices.dim() + 1
    axis = normalize_axis(int(attr(layer, "axis", -1)), rank)
    positions = torch.arange(depth).reshape([depth] + [1] * indices.dim())
    hot = positions == idx.unsqueeze(0)
    hot = hot.movedim(0, axis)
    off, on = values.reshape(-1)[0], values.reshape(-1)[1]
    return [torch.where(hot, on, off).to(out_dtype(layer))]
