"""Which ops keep float32 in a reduced-precision (fp16/bf16) network.

Networks are strongly typed, so precision is a property of each layer's tensors. With
``precision="fp16"``/``"bf16"`` every float layer computes in that dtype except the ops this
policy selects, which run as *float32 islands*: their float inputs are cast up, the handler
builds its layers in float32 (weights included), and the outputs are cast back down for the
ops that follow. A chain of island ops (``exp`` then ``log``) passes the float32 values along
without the round trip.

Selected by default (numerically sensitive, cheap next to the matmuls and convolutions):
softmax/log_softmax, the normalizations (their mean/variance statistics), exp/log and friends,
variance/std/norms, cumulative sums and products, and ``sum``/``mean`` over at least
``long_reduction`` elements (or over a dynamic axis). Composite handlers (attention, the
transformer encoder layer) keep their inner softmax and layer norms in float32 the same way.

Configure per op kind (``fp32_ops``, ``extra_fp32_ops``) or per module name
(``fp32_modules``: regular expressions matched against the module path, a match also covering
its submodules, e.g. ``"layer4"`` or ``r"encoder\\.layer\\.1[01]"``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Optional

import torch

from .errors import InputError

DEFAULT_FP32_OPS = frozenset({
    "aten::softmax", "aten::_softmax", "aten::log_softmax", "aten::_log_softmax",
    "aten::layer_norm", "aten::native_layer_norm", "aten::group_norm", "aten::instance_norm", "aten::rms_norm",
    "aten::exp", "aten::exp2", "aten::expm1", "aten::log", "aten::log2", "aten::log10", "aten::log1p",
    "aten::logsumexp", "aten::var", "aten::std", "aten::var_mean", "aten::std_mean", "aten::norm",
    "aten::linalg_vector_norm", "aten::frobenius_norm", "aten::cumsum", "aten::cumprod", "aten::prod",
})

# reductions that are cheap in fp16 over a few elements but lose accuracy over many
LONG_REDUCTION_OPS = frozenset({"aten::sum", "aten::mean"})


def _kind(op: str) -> str:
    op = op.strip()
    if "::" not in op:
        op = "aten::" + op
    return op.split(".")[0].rstrip("_") if not op.endswith("__") else op


@dataclass
class PrecisionPolicy:
    """Ops and modules that stay float32 in an fp16/bf16 network (see the module docstring).

    ``fp32_ops``: the op kinds kept in float32 (None: ``DEFAULT_FP32_OPS``; an empty set: none);
    ``extra_fp32_ops``: added to them; ``fp32_modules``: module-path regexes whose every op stays
    float32; ``long_reduction``: sum/mean over at least this many elements stay float32 (0: never).
    """

    fp32_ops: Optional[Iterable[str]] = None
    extra_fp32_ops: Iterable[str] = ()
    fp32_modules: Iterable[str] = ()
    long_reduction: int = 1024
    _ops: frozenset = field(init=False, repr=False)
    _modules: list = field(init=False, repr=False)

    def __post_init__(self):
        base = DEFAULT_FP32_OPS if self.fp32_ops is None else frozenset(_kind(o) for o in self.fp32_ops)
        self._ops = frozenset(base) | frozenset(_kind(o) for o in self.extra_fp32_ops)
        self._modules = []
        for pattern in self.fp32_modules:
            try:
                self._modules.append(re.compile(rf"(?:{pattern})(?:\..*)?"))
            except re.error as exc:
                raise InputError(f"fp32_modules pattern {pattern!r} is not a regular expression: {exc}") from None
        if int(self.long_reduction) < 0:
            raise InputError(f"long_reduction must be >= 0, got {self.long_reduction}")

    @property
    def ops(self) -> frozenset:
        return self._ops

    def op_in_fp32(self, kind: str) -> bool:
        return _kind(kind) in self._ops

    def module_in_fp32(self, scope: str) -> bool:
        return bool(scope) and any(p.fullmatch(scope) for p in self._modules)

    def node_in_fp32(self, kind: str, scope: str, reduced_elements: Optional[int] = None) -> Optional[str]:
        """Why a node runs in float32 ('op', 'module', 'long reduction'), or None."""
        if self.module_in_fp32(scope):
            return "module"
        if self.op_in_fp32(kind):
            return "op"
        if _kind(kind) in LONG_REDUCTION_OPS and self.long_reduction and reduced_elements is not None \
                and (reduced_elements < 0 or reduced_elements >= self.long_reduction):
            return "long reduction"
        return None


def reduced_elements(shape: Optional[tuple], dims, dynamic_axes) -> Optional[int]:
    """How many elements a reduction over ``dims`` of a tensor of ``shape`` combines; -1 when a
    reduced axis is dynamic; None when unknown."""
    if shape is None:
        return None
    rank = len(shape)
    if rank == 0:
        return 1  # dim 0 / -1 of a 0-d tensor (torch accepts them) reduce its one element
    if dims is None or (isinstance(dims, (list, tuple)) and len(dims) == 0):
        axes = list(range(rank))
    elif isinstance(dims, int):
        axes = [dims % max(rank, 1)]
    elif isinstance(dims, (list, tuple)) and all(isinstance(d, int) for d in dims):
        axes = [d % max(rank, 1) for d in dims]
    else:
        return None
    if any(a in dynamic_axes for a in axes):
        return -1
    n = 1
    for a in axes:
        n *= int(shape[a])
    return n


def as_policy(policy) -> PrecisionPolicy:
    if policy is None:
        return PrecisionPolicy()
    if isinstance(policy, PrecisionPolicy):
        return policy
    if policy is False or policy == "none":
        return PrecisionPolicy(fp32_ops=(), long_reduction=0)
    raise InputError(f"precision_policy must be a trtgraph.PrecisionPolicy, None or 'none', got {policy!r}")


def _map(value, fn):
    if isinstance(value, list):
        return [_map(v, fn) for v in value]
    if isinstance(value, tuple):
        return tuple(_map(v, fn) for v in value)
    return fn(value)


def run_in_fp32(ctx, fn, args: dict, shadows: Optional[dict] = None):
    """Run handler ``fn`` with ``ctx`` computing in float32; float network tensors in the
    reduced dtype are cast up on the way in. Returns the handler's outputs, still float32."""
    reduced = ctx.float_dtype

    def up(v):
        if ctx.is_tensor(v) and ctx.dtype(v) == reduced:
            return ctx.cast(v, torch.float32)
        return v

    args = {k: _map(v, up) for k, v in args.items()}
    with ctx.computing_in(torch.float32):
        return fn(ctx, **args)


def cast_down(ctx, out, reduced: torch.dtype):
    """``out`` with its float32 network tensors cast to ``reduced``."""
    def down(v):
        if ctx.is_tensor(v) and ctx.dtype(v) == torch.float32:
            return ctx.cast(v, reduced)
        return v

    return _map(out, down)


class Fp32Island:
    """``with Fp32Island(ctx, "aten::softmax", x) as x32:`` inside a composite handler: compute
    a sensitive piece in float32 when the policy asks for it (no-op otherwise)."""

    def __init__(self, ctx, kind: str, x):
        self.ctx, self.kind, self.x = ctx, kind, x
        self.active = ctx.keeps_fp32(kind) and ctx.is_tensor(x) and ctx.dtype(x) == ctx.float_dtype
        self.reduced = ctx.float_dtype
        self._scope = None

    def __enter__(self):
        if not self.active:
            return self.x
        log = getattr(self.ctx, "fp32_log", None)
        note = f"{self.ctx.node_info} (inner {self.kind})"
        if log is not None and note not in log:
            log.append(note)
        self._scope = self.ctx.computing_in(torch.float32)
        self._scope.__enter__()
        return self.ctx.cast(self.x, torch.float32)

    def __exit__(self, *exc):
        if self._scope is not None:
            self._scope.__exit__(*exc)
            self._scope = None
        return False

    def result(self, y):
        return self.ctx.cast(y, self.reduced) if self.active else y
