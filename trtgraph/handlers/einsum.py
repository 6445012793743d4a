"""einsum: IEinsumLayer for floats, broadcast products and sums for integer operands."""
from __future__ import annotations

from ..registry import register_node_handler
from .math_common import _expected_dtype


# ---------------------------------------------------------------------------- einsum

_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def parse_einsum(equation: str, ranks: list[int]):
    """Explicit subscripts of every operand and of the output, ellipses expanded, as lists of
    labels (torch accepts upper and lower case; TensorRT lower case only)."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise ValueError(f"einsum equation {equation!r} has {len(terms)} operands, got {len(ranks)} tensors")
    used = {c for c in eq if c.isalpha()}
    spare = iter(c for c in _LETTERS + _LETTERS.upper() if c not in used)
    ell_rank = max([r - len(t.replace("...", "")) for t, r in zip(terms, ranks) if "..." in t] or [0])
    ell = [next(spare) for _ in range(ell_rank)]
    subs = []
    for t, r in zip(terms, ranks):
        if "..." in t:
            head, _, tail = t.partition("...")
            n = r - len(head) - len(tail)
            subs.append(list(head) + ell[ell_rank - n:] + list(tail))
        else:
            subs.append(list(t))
    if arrow:
        if "..." in rhs:
            head, _, tail = rhs.partition("...")
            out = list(head) + ell + list(tail)
        else:
            out = list(rhs)
    else:
        counts = {}
        for s in subs:
            for c in s:
                counts[c] = counts.get(c, 0) + 1
        out = ell + sorted(c for c, n in counts.items() if n == 1 and c not in ell)
    return subs, out


def _einsum_layer(ctx, operands, subs, out):
    labels = {}
    for c in [c for s in subs for c in s] + out:
        if c not in labels:
            if len(labels) >= len(_LETTERS):
                raise ctx.error("einsum with more than 26 distinct subscripts")
            labels[c] = _LETTERS[len(labels)]
    eq = ",".join("".join(labels[c] for c in s) for s in subs) + "->" + "".join(labels[c] for c in out)
    return ctx.network.add_einsum(list(operands), eq).get_output(0)


def _einsum_products(ctx, operands, subs, out, sizes):
    """Broadcast product of the operands over all subscripts, summed over the contracted ones
    (for integer operands, which TensorRT's einsum and matrix multiply do not take)."""
    contracted = [c for c in sizes if c not in out]
    order = list(out) + contracted
    total = None
    for x, s in zip(operands, subs):
        if len(set(s)) != len(s):
            raise ctx.error(f"einsum of integer tensors with a repeated subscript in one operand ({''.join(s)})")
        present = [c for c in order if c in s]
        perm = [s.index(c) for c in present]
        if perm != list(range(len(perm))):
            x = ctx.permute(x, perm)
        x = ctx.reshape(x, [sizes[c] if c in s else 1 for c in order])
        total = x if total is None else ctx.elementwise(total, x, "PROD")
    if contracted:
        total = ctx.reduce(total, "SUM", list(range(len(out), len(order))), False)
    elif total is operands[0]:
        total = ctx.identity(total)
    return total


@register_node_handler("aten::einsum(str equation, Tensor[] tensors, *, int[]? path=None) -> Tensor")
def einsum(ctx, equation, tensors, path=None):
    dtype = _expected_dtype(ctx) or ctx.result_dtype(*tensors)
    operands = [ctx.as_tensor(t, dtype) for t in tensors]
    subs, out = parse_einsum(equation, [ctx.rank(t) for t in operands])
    sizes = {}
    for x, s in zip(operands, subs):
        for c, n in zip(s, ctx.shape(x)):
            sizes[c] = max(sizes.get(c, 1), n)
    if dtype.is_floating_point:
        return _einsum_layer(ctx, operands, subs, out)
    return _einsum_products(ctx, operands, subs, out, sizes)
