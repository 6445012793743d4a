"""No handler ignores an argument silently.

For every registered handler and every overload of its op that the handler can be called with,
each schema argument must be read by the handler (or by its validator, which refuses what the
handler does not implement), or be listed below with the reason it cannot change the result.
A new handler that accepts an argument and drops it makes ``test_every_argument_is_used_or_harmless``
fail, naming the op, the overload and the argument.

What "read" means: the handler's code (and the code nested in it) loads the parameter; a handler
that takes ``**kwargs`` reads the argument by name (a string constant in its code, in the
functions it calls through globals/closures, or in its validator).

Overloads the handler cannot be bound to (a scalar ``aten::add.int(int a, int b)`` against a
handler taking ``self, other``) are not checked: calling the handler fails with a named
HandlerError, which is loud, not silent.
"""
from __future__ import annotations

import dis
import inspect
import types

import pytest
import torch

import trtgraph
from trtgraph.registry import _HANDLERS

# arguments that never change values: placement, memory layout, backend hints
HARMLESS_EVERYWHERE = {
    "layout": "strided is the only layout a traced tensor has here",
    "device": "placement; the engine runs where it is deployed",
    "pin_memory": "host memory pinning",
    "memory_format": "memory layout only (channels_last and contiguous hold the same values)",
    "non_blocking": "copy synchronization",
    "cudnn_enabled": "backend choice", "cudnn_enable": "backend choice",
    "benchmark": "cuDNN algorithm search", "deterministic": "cuDNN algorithm choice",
    "allow_tf32": "TensorRT's float32 kernels follow the build's precision, not torch's TF32 flag",
}

# (registered key, argument) -> why ignoring it cannot change the result
IGNORED = {
    ("aten::batch_norm", "momentum"): "only updates running statistics (a side effect on buffers), not the output",
    ("aten::instance_norm", "momentum"): "only updates running statistics (a side effect on buffers), not the output",
    ("aten::embedding", "padding_idx"): "affects only the gradient; the output is weight[indices]",
    ("aten::embedding", "scale_grad_by_freq"): "affects only the gradient",
    ("aten::embedding", "sparse"): "sparse gradient; the output is the same",
    ("aten::gather", "sparse_grad"): "sparse gradient; the output is the same",
    ("aten::expand", "implicit"): "marks an implicit broadcast for autograd; the values are the same",
    ("aten::einsum", "path"): "contraction order only; the sum is the same",
    ("aten::_softmax", "half_to_float"): "only makes a float16 input give a float32 output; floats compute in "
                                         "the network's float dtype",
    ("aten::topk", "sorted"): "sorted=False leaves the order to the implementation; TensorRT's sorted order is one",
    ("aten::sort", "stable"): "the values are the same; among equal values the indices follow TensorRT's TopK "
                              "order, as for sort without stable, argmax and max.dim (see handlers/sort.py)",
    ("aten::argsort", "stable"): "as for sort",
    ("aten::to", "copy"): "forces a copy; a network tensor is a new value anyway",
    ("aten::to", "dtype"): "the target dtype is the traced output dtype (ctx.expected)",
    ("aten::to", "other"): "the target dtype is the traced output dtype (ctx.expected)",
    **{(k, "momentum"): "only updates running statistics, not the output"
       for k in ("aten::native_batch_norm", "aten::_native_batch_norm_legit",
                 "aten::_native_batch_norm_legit_no_training")},
    **{("aten::native_group_norm", a): "sizes derived from the input" for a in ("N", "C", "HxW")},
    **{(k, a): "gradient only" for k in ("aten::embedding_bag", "aten::_embedding_bag")
       for a in ("scale_grad_by_freq", "sparse")},
    ("aten::cdist", "compute_mode"): "algorithm choice only",
    ("aten::_cdist_forward", "compute_mode"): "algorithm choice only",
    ("aten::_to_copy", "dtype"): "the traced output dtype",
    ("aten::_scaled_dot_product_flash_attention", "return_debug_mask"): "extra debug or backward outputs only",
    ("aten::_scaled_dot_product_cudnn_attention", "return_debug_mask"): "extra debug or backward outputs only",
    ("aten::_scaled_dot_product_cudnn_attention", "compute_log_sumexp"): "extra debug or backward outputs only",
    ("aten::_scaled_dot_product_efficient_attention", "compute_log_sumexp"): "extra debug or backward outputs only",
    **{(k, a): "random only with train=True, which the walker refuses up front (its random-op check on "
               "TRAIN_RANDOM_OPS); with train=False the op is the identity whatever p"
       for k in ("aten::dropout", "aten::feature_dropout", "aten::alpha_dropout", "aten::feature_alpha_dropout")
       for a in ("p", "train")},
}


def _code_objects(fn):
    """The code of ``fn`` and every function/lambda/comprehension nested in it."""
    out, stack = [], [fn.__code__]
    while stack:
        code = stack.pop()
        out.append(code)
        stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return out


def _loaded_names(fn) -> set:
    """Local and closure names the code reads (any Python: LOAD_FAST*, LOAD_DEREF, LOAD_CLOSURE)."""
    names = set()
    for code in _code_objects(fn):
        for ins in dis.get_instructions(code):
            if ins.opname.startswith(("LOAD_FAST", "LOAD_DEREF", "LOAD_CLOSURE")):
                v = ins.argval
                names.update(v if isinstance(v, tuple) else (v,))
    return names


def _flat_strings(consts) -> set:
    """Strings among constants, also inside tuple/frozenset constants (a folded list literal)."""
    out = set()
    for c in consts:
        if isinstance(c, str):
            out.add(c)
        elif isinstance(c, (tuple, frozenset)):
            out |= _flat_strings(c)
    return out


def _strings(fn, follow: bool) -> set:
    """String constants of ``fn``; with ``follow``, also of the functions it reaches through its
    globals and closure cells inside trtgraph (helpers that read a ``**kwargs`` dict by name)."""
    seen, out, todo = set(), set(), [fn]
    while todo:
        f = todo.pop()
        if f in seen or not isinstance(f, types.FunctionType):
            continue
        seen.add(f)
        for code in _code_objects(f):
            out.update(_flat_strings(code.co_consts))
            if follow:
                for name in code.co_names:
                    g = f.__globals__.get(name)
                    if isinstance(g, types.FunctionType) and g.__module__.startswith("trtgraph"):
                        todo.append(g)
        if follow:
            for cell in f.__closure__ or ():
                try:
                    todo.append(cell.cell_contents)
                except ValueError:  # an empty cell
                    pass
    return out


def used_arguments(fn, validator=None) -> set:
    """Argument names ``fn`` (a handler) or its validator read. An alias (``register_alias``) reads
    what its target reads, under the alias's own argument names."""
    alias = getattr(fn, "alias_of", None)
    if alias is not None:
        target, rename = alias
        inner = used_arguments(target, validator)
        return inner | {a for a, t in rename.items() if t in inner}
    params = inspect.signature(fn).parameters.values()
    kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    used = _loaded_names(fn) | (_strings(fn, follow=True) if kwargs else set())
    if validator is not None and isinstance(validator, types.FunctionType):
        used |= _strings(validator, follow=True)
    return used


def _bindable(fn, schema) -> bool:
    try:
        inspect.signature(fn).bind(None, **{a.name: None for a in schema.arguments})
        return True
    except TypeError:
        return False


def op_schemas(key: str):
    """The schemas a registered key handles: its overload, or every overload of the name (and of
    the in-place name) that no more specific key takes. Out= variants (an output buffer traced
    inference does not write) and Dimname overloads (named tensors cannot be traced) are skipped."""
    name = key.split("::")[1]
    base, _, overload = name.partition(".")
    found = []
    for op in (base, base + "_") if not base.endswith("__") else (base,):
        packet = getattr(torch.ops.aten, op, None)
        if packet is None:
            continue
        for ov in ([overload or "default"] if overload else packet.overloads()):
            if not overload and ov != "default" and f"aten::{base}.{ov}" in _HANDLERS:
                continue
            try:
                schema = getattr(packet, ov)._schema
            except (AttributeError, RuntimeError):
                continue
            if any(a.is_out for a in schema.arguments) or any("Dimname" in str(a.type) for a in schema.arguments):
                continue
            found.append(schema)
    return found


def ignored_arguments(key, entry):
    """[(overload, argument)] of ``key`` that its handler neither reads nor lists as harmless."""
    used = used_arguments(entry.fn, entry.validator)
    out = []
    for schema in op_schemas(key):
        if not _bindable(entry.fn, schema):
            continue
        for arg in schema.arguments:
            if arg.name in used or arg.name in HARMLESS_EVERYWHERE or (key, arg.name) in IGNORED:
                continue
            out.append((schema.overload_name or "default", arg.name))
    return out


def test_every_argument_is_used_or_harmless():
    problems, checked = [], 0
    for key in trtgraph.registered_keys():
        entry = _HANDLERS[key]
        checked += sum(1 for s in op_schemas(key) if _bindable(entry.fn, s))
        problems += [f"{key}.{ov}: argument '{arg}' is ignored by {entry.fn.__module__}.{entry.fn.__qualname__}"
                     for ov, arg in ignored_arguments(key, entry)]
    assert checked >= 250, f"only {checked} (op, overload) pairs were checked: the schema lookup is broken"
    assert not problems, ("handlers accept arguments they ignore; implement them, refuse them in the validator, "
                          "or list them in IGNORED with the reason they cannot change the result:\n  "
                          + "\n  ".join(problems))


def test_ignored_table_names_real_arguments():
    """Every IGNORED entry is a registered key and one of its schema's arguments (no stale entries)."""
    for key, arg in IGNORED:
        assert key in _HANDLERS, f"IGNORED names {key}, which has no handler"
        names = {a.name for s in op_schemas(key) for a in s.arguments}
        assert arg in names, f"IGNORED names {key} argument '{arg}', which none of its schemas has"


def test_the_audit_catches_an_ignored_argument():
    """The check itself: a leaky_relu handler that drops negative_slope is reported; one whose
    validator refuses it is not."""
    from trtgraph.registry import HandlerEntry

    def drops(ctx, self, negative_slope):
        return ctx.activation(self, "RELU")

    def reads(ctx, self, negative_slope):
        return ctx.activation(self, "LEAKY_RELU", alpha=negative_slope)

    def drops_kwargs(ctx, self, **kwargs):
        return ctx.activation(self, "RELU")

    def refuses(args):
        return "negative_slope" if args.get("negative_slope") != 0.01 else None

    # leaky_relu and leaky_relu_ (in place) both report it
    assert set(ignored_arguments("aten::leaky_relu", HandlerEntry("aten::leaky_relu", drops))) == \
        {("default", "negative_slope")}
    assert set(ignored_arguments("aten::leaky_relu", HandlerEntry("aten::leaky_relu", drops_kwargs))) == \
        {("default", "negative_slope")}
    assert ignored_arguments("aten::leaky_relu", HandlerEntry("aten::leaky_relu", reads)) == []
    assert ignored_arguments("aten::leaky_relu", HandlerEntry("aten::leaky_relu", drops, refuses)) == []


@pytest.mark.parametrize("key", ["aten::instance_norm", "aten::scaled_dot_product_attention", "aten::elu"])
def test_fixed_handlers_read_their_arguments(key):
    """The arguments these handlers ignored before (silently wrong results) are read now."""
    entry = _HANDLERS[key]
    names = {a.name for s in op_schemas(key) for a in s.arguments}
    used = used_arguments(entry.fn, entry.validator)
    want = {"aten::instance_norm": {"running_mean", "running_var", "use_input_stats"},
            "aten::scaled_dot_product_attention": {"dropout_p"}, "aten::elu": {"input_scale"}}[key]
    assert want <= names and want <= used
