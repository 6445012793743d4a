"""Cheaper shape rules for a few common ops while ``torch.export`` traces with symbolic sizes.

With a dynamic dimension, torch.export computes each op's output shape on fake tensors. Ops that
have no meta kernel for symbolic sizes (ReLU6's ``hardtanh_``, ``hardswish``, eval-mode batch
norm, layer norm, and ``relu`` or ``sigmoid`` where the fake-tensor cache misses, as in a
squeeze-excitation block) are computed through their Python decompositions, dozens of symbolic-size operations
each: a dynamic export of mobilenet_v2 took 2.0 s against 1.2 s static, 0.7 s of it in
``hardtanh_`` and batch norm. These ops give an output exactly like their input (an in-place op
returns its input), so :func:`fast_fakes` swaps their entries in torch's decomposition table for
rules that say so, for the duration of one export, and puts the originals back.

Only the shape computation changes: the exported graph records the op as it was called, and the
fake outputs carry the same sizes, strides and dtype as the decompositions give, and add no
guard (tested op by op, on several layouts, and node by node against exports without the swap in
``tests/test_export_fast_fakes.py``). Inputs the rules do not cover go to the original
decomposition: real tensors, other threads than the exporting one, not floating point, a tensor
among the scalar arguments, a layout that is not plainly contiguous or channels-last, batch norm
off the CPU or with a symbolic or mismatched channel count (whose decomposition adds a guard or
raises).
"""
from __future__ import annotations

import contextlib
import functools
import threading

import torch

# activations whose arguments after the input are scalars (or a string)
_OUT_OF_PLACE = ("hardtanh", "hardswish", "hardsigmoid", "mish", "elu", "leaky_relu", "gelu", "celu", "selu",
                 "softplus", "relu6", "relu", "sigmoid", "tanh", "silu")
_IN_PLACE = ("hardtanh_", "hardswish_", "hardsigmoid_", "silu_", "mish_", "elu_", "leaky_relu_", "gelu_",
             "sigmoid_", "tanh_", "relu_")

_LOCK = threading.Lock()
_users = 0
_saved: dict = {}
_here = threading.local()  # .depth: fast_fakes blocks open in this thread


def _covered(x, rest) -> bool:
    """The rules apply to fake tensors in the thread that opened the block: another thread's
    decompositions (``run_decompositions``, ``torch.compile``) see the originals."""
    from torch._subclasses.fake_tensor import FakeTensor

    return getattr(_here, "depth", 0) > 0 and isinstance(x, FakeTensor) and x.is_floating_point() and \
        not any(isinstance(a, torch.Tensor) for a in rest)


def _layout(x):
    """``torch.contiguous_format`` or ``torch.channels_last`` when ``x`` is laid out that way and
    not also the other (size-1 dims make both true, and ops then differ in the strides they give,
    unless the strides are exactly the contiguous ones), decided without adding a guard; None
    otherwise (the decomposition then decides)."""
    from torch._prims_common import is_channels_last_contiguous_or_false, is_contiguous_or_false

    plain = is_contiguous_or_false(x)
    last = x.dim() == 4 and is_channels_last_contiguous_or_false(x)
    if plain != last:
        return torch.contiguous_format if plain else torch.channels_last
    if plain and _has_contiguous_strides(x):
        # both, through size-1 dims (a squeeze-excitation block's (N, C, 1, 1)), but with exactly the
        # strides of the contiguous layout, which every covered op then gives too
        return torch.contiguous_format
    return None


def _has_contiguous_strides(x) -> bool:
    from torch._prims_common import make_contiguous_strides_for
    from torch.fx.experimental.symbolic_shapes import statically_known_true

    return all(statically_known_true(a == b) for a, b in zip(x.stride(), make_contiguous_strides_for(x.shape)))


def _like(x, layout):
    return torch.empty(x.shape, dtype=x.dtype, device=x.device, memory_format=layout)


def _in_place(original):
    @functools.wraps(original)
    def rule(self, *args, **kwargs):
        return self if _covered(self, (*args, *kwargs.values())) else original(self, *args, **kwargs)
    return rule


def _out_of_place(original):
    @functools.wraps(original)
    def rule(self, *args, **kwargs):
        layout = _layout(self) if _covered(self, (*args, *kwargs.values())) else None
        return original(self, *args, **kwargs) if layout is None else _like(self, layout)
    return rule


def _batch_norm_eval(original):
    # (output, save_mean, save_invstd); on the CPU the saved statistics are empty in eval mode. A
    # symbolic or mismatched channel count goes to the decomposition, which guards it or says why not.
    @functools.wraps(original)
    def rule(input, weight, bias, running_mean, running_var, momentum, eps):
        stats = [t for t in (weight, bias, running_mean, running_var) if t is not None]
        layout = _layout(input) if _covered(input, ()) and input.device.type == "cpu" and input.dim() >= 2 and \
            isinstance(input.shape[1], int) and all(tuple(t.shape) == (input.shape[1],) for t in stats) else None
        if layout is not None:
            return _like(input, layout), input.new_empty((0,)), input.new_empty((0,))
        return original(input, weight, bias, running_mean, running_var, momentum, eps)
    return rule


def _layer_norm(original):
    # (output, mean, rstd): float32 input with exactly contiguous strides, normalized over static trailing
    # dims that match the weight and bias; the decomposition then gives all three contiguous, without a guard
    @functools.wraps(original)
    def rule(input, normalized_shape, weight, bias, eps):
        n = len(normalized_shape)
        trailing = list(input.shape[input.dim() - n:]) if 0 < n <= input.dim() else None
        fits = _covered(input, ()) and input.dtype == torch.float32 and trailing is not None and \
            all(isinstance(d, int) for d in trailing) and trailing == [int(d) for d in normalized_shape] and \
            all(t is None or (t.dtype == torch.float32 and list(t.shape) == trailing) for t in (weight, bias)) and \
            _has_contiguous_strides(input)
        if not fits:
            return original(input, normalized_shape, weight, bias, eps)
        stats = list(input.shape[:input.dim() - n]) + [1] * n
        return _like(input, torch.contiguous_format), input.new_empty(stats), input.new_empty(stats)
    return rule


def _rules() -> dict:
    from torch._decomp import decomposition_table

    aten = torch.ops.aten
    wanted = [(name, _out_of_place) for name in _OUT_OF_PLACE] + [(name, _in_place) for name in _IN_PLACE]
    wanted.append(("_native_batch_norm_legit_no_training", _batch_norm_eval))
    wanted.append(("native_layer_norm", _layer_norm))
    rules = {}
    for name, make in wanted:
        op = getattr(getattr(aten, name, None), "default", None)
        if op is not None and op in decomposition_table:
            rules[op] = make(decomposition_table[op])
    return rules


def _settle_cache(ops) -> None:
    """Fake tensors cache, per op, whether its table entry is one of torch's own decompositions:
    fill that cache from the originals before the swap, so the swap never changes it."""
    try:
        from torch._subclasses.fake_tensor import torch_decomp_decompositions
    except ImportError:  # another torch: nothing cached there
        return
    for op in ops:
        torch_decomp_decompositions(op)


@contextlib.contextmanager
def fast_fakes():
    """Install the rules for the block (nested and concurrent blocks share one installation; the
    rules act only in threads inside a block)."""
    global _users
    from torch._decomp import decomposition_table

    with _LOCK:
        if _users == 0:
            rules = _rules()
            _settle_cache(rules)
            _saved.update({op: decomposition_table[op] for op in rules})
            decomposition_table.update(rules)
        _users += 1
    _here.depth = getattr(_here, "depth", 0) + 1
    try:
        yield
    finally:
        _here.depth -= 1
        with _LOCK:
            _users -= 1
            if _users == 0:
                decomposition_table.update(_saved)
                _saved.clear()
