"""Did the model change after conversion?

Parameters reach TensorRT without a copy, so an in-place update of the model after ``convert``
(an optimizer step, ``load_state_dict``, ``p.data.mul_(2)``) would silently change the network.
A fingerprint taken at conversion records, per parameter and buffer, its storage address, version
counter, shape, dtype and a checksum of up to 4096 evenly spaced elements; comparing it later
costs microseconds per tensor (no full hash of the weights).
"""
from __future__ import annotations

import torch

_SAMPLES = 4096


def _checksum(t: torch.Tensor) -> float:
    flat = t.detach().reshape(-1)
    if flat.numel() == 0 or t.device.type == "meta":
        return 0.0
    step = max(1, flat.numel() // _SAMPLES)
    sample = flat[::step].double()
    weights = torch.arange(1, sample.numel() + 1, dtype=torch.float64)
    return float((torch.nan_to_num(sample) * weights).sum())


def _entries(model) -> dict:
    if not isinstance(model, torch.nn.Module):
        return {}
    out = {}
    tensors = list(model.named_parameters()) + [(n, b) for n, b in model.named_buffers() if b is not None]
    for name, t in tensors:
        data_ptr = t.data_ptr() if t.device.type != "meta" else 0
        out[name] = (data_ptr, t._version, tuple(t.shape), str(t.dtype), _checksum(t))
    return out


def take(model) -> dict:
    """The fingerprint of ``model``'s parameters and buffers now."""
    with torch.no_grad():
        return _entries(model)


def changed(model, fingerprint: dict) -> list[str]:
    """Names of the parameters/buffers that differ from ``fingerprint`` (added or removed included)."""
    now = take(model)
    names = [n for n in fingerprint if now.get(n) != fingerprint[n]]
    return names + [n for n in now if n not in fingerprint]
