"""The generated handler case matrix (matrix_cases.py, next to this file): unary and binary elementwise ops,
in-place variants, reductions and shape ops over dtypes fp32/fp16/bf16/int32/int64/bool, ranks
0-5, negative and multiple dims, keepdim, broadcasting and Python-scalar operands.

Each case: the real TensorRT network, its serialized engine, the walker's shape/dtype check
against the trace, and the reference evaluation compared with eager torch (exact for integers and
bools; dtype must match). The default run takes a deterministic representative subset; the whole
matrix (one test per op, listing every failing case) runs with ``-m slow``.

A case trtgraph refuses with an ``UnsupportedOpsError`` passes only if ``EXPECTED_REFUSALS`` names
it (with the reason); a listed refusal that starts to convert fails too, so the table stays true.
"""
from __future__ import annotations

import re
import warnings
from collections import defaultdict

import pytest

from trtgraph.errors import TraceError, UnsupportedOpsError
from trtgraph.registry import register_node_handler, unregister_node_handler

from . import matrix_cases as mc

# (regex over case ids, substring of the refusal message, why trtgraph refuses): refusals are an
# UnsupportedOpsError, or a TraceError where torch.jit.trace itself cannot record the call
EXPECTED_REFUSALS = [
    (r"scalar-(eq|where|bitwise_and|bitwise_or|bitwise_xor)-\w+-r\d-bool-(left|right)", "INTERNAL ASSERT FAILED",
     "torch.jit.trace cannot record these ops with a Python bool operand (its alias analysis asserts): a TraceError"),
]


# Bugs the matrix found outside the handler files this test's author could change, reported to
# the lead: (regex over case ids, substring of the error, where and what). A listed case must still
# fail that way (reported as xfail); once it passes the test fails until the entry is removed.
KNOWN_BUGS: list = []


def _match(table, case_id):
    for entry in table:
        if re.fullmatch(entry[0], case_id):
            return entry
    return None


class KnownBug(Exception):
    """A case failed the way KNOWN_BUGS says it does."""


def check(case):
    """Run one case; a refusal must be the expected one, and an expected refusal must happen."""
    expected = _match(EXPECTED_REFUSALS, case.id)
    bug = _match(KNOWN_BUGS, case.id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            mc.run_case(case)
        except (UnsupportedOpsError, TraceError) as e:
            if expected is None:
                raise AssertionError(f"{case.id}: new refusal (not in EXPECTED_REFUSALS): {e}") from e
            assert expected[1] in str(e), f"{case.id}: refused for another reason than {expected[1]!r}: {e}"
            return
        except Exception as e:
            if bug is not None and bug[1] in f"{type(e).__name__}: {e}":
                raise KnownBug(f"{case.id}: {bug[2]}") from e
            raise
    assert expected is None, f"{case.id}: converts now although EXPECTED_REFUSALS lists {expected[0]!r} " \
                             f"({expected[2]}): remove the entry"
    assert bug is None, f"{case.id}: passes now although KNOWN_BUGS lists {bug[0]!r} ({bug[2]}): remove the entry"


ALL = mc.generate()
DEFAULT = mc.default_subset(ALL)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in DEFAULT])
def test_matrix_subset(case):
    try:
        check(case)
    except KnownBug as e:
        pytest.xfail(str(e))


def _by_op():
    groups = defaultdict(list)
    for c in ALL:
        groups[(c.family, c.op)].append(c)
    return groups


@pytest.mark.slow
@pytest.mark.parametrize("family,op", list(_by_op()))
def test_matrix_full(family, op):
    """Every eager-accepted combination of one op; lists all failing cases at once."""
    failures, ran, known = [], 0, 0
    for case in _by_op()[(family, op)]:
        if not mc.eager_accepts(case):
            continue
        ran += 1
        try:
            check(case)
        except KnownBug:
            known += 1
        except Exception as e:  # collect, then fail with all of them
            failures.append(f"{case.id}: {type(e).__name__}: {str(e).splitlines()[0][:300]}")
    assert ran > 0, f"eager rejects every generated {op} case: the generator is wrong"
    assert not failures, f"{len(failures)} of {ran} cases fail:\n" + "\n".join(failures)


def test_subset_covers_every_op_dtype_and_rank():
    """The default subset keeps covering each op, and each family's dtypes, ranks and tags."""
    ops = {(c.family, c.op) for c in ALL}
    assert {(c.family, c.op) for c in DEFAULT} == ops
    for family in {c.family for c in ALL}:
        sub = [c for c in DEFAULT if c.family == family]
        assert {c.dtype for c in sub} == set(mc.DTYPES), family
        assert {c.rank for c in sub} == set(range(6)), family
    tags = {t for c in DEFAULT for t in c.tags}
    for t in ("bcast", "scalar_left", "scalar_right", "keepdim", "negdim", "inplace", "mixed", "lowrank_left"):
        assert t in tags, t


def test_refusal_table_entries_match_cases():
    """Every EXPECTED_REFUSALS pattern names at least one generated case (no stale entries)."""
    ids = [c.id for c in ALL]
    for pattern, _, why in EXPECTED_REFUSALS + KNOWN_BUGS:
        assert any(re.fullmatch(pattern, i) for i in ids), f"{pattern!r} ({why}) matches no case"


def _wrong_neg(ctx, self):
    return ctx.identity(self)


def _truncating_floor_divide(ctx, self, other):
    return ctx.elementwise(self, other, "DIV")  # TensorRT's integer DIV truncates: wrong for floor


@pytest.mark.parametrize("key,handler,case_id,message", [
    ("aten::neg", _wrong_neg, "unary-neg-f32-r2", "max abs error"),
    ("aten::floor_divide", _truncating_floor_divide, "binary-floor_divide-i64-r3-p1", "integer/bool values differ"),
])
def test_matrix_catches_a_wrong_handler(key, handler, case_id, message):
    """The comparison can fail: a user handler that replaces trtgraph's with a wrong one (the
    identity for neg; truncation for floor_divide of negative integers) fails its case."""
    case = next(c for c in ALL if c.id == case_id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        register_node_handler(key)(handler)
        try:
            with pytest.raises(AssertionError, match=message):
                mc.run_case(case)
        finally:
            unregister_node_handler(key)
    mc.run_case(case)  # trtgraph's own handler is back and right
