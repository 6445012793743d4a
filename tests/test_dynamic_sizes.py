"""The size the second trace of a dynamic conversion runs at (trtgraph.dynamic._other_size)."""
from hypothesis import given, settings, strategies as st

from trtgraph.dynamic import _other_size


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 600), st.integers(0, 600), st.integers(0, 600))
def test_second_size_is_inside_the_range_and_differs(lo, a, b):
    hi = lo + a + 1  # at least two values
    current = min(hi, lo + b)
    v = _other_size(current, (lo, current, hi))
    assert lo <= v <= hi and v != current
    if any(c >= 2 and c != current for c in range(lo, hi + 1)):
        assert v != 1  # size 1 broadcasts: a special case the comparison must not rest on
    far = [c for c in range(max(lo, 2), hi + 1) if abs(c - current) >= 37]
    if far:
        assert abs(v - current) >= 37  # strided layers still see different sizes


def test_second_trace_is_cheaper_than_the_largest_size():
    # a dynamic batch 1..32 with example 8 used to trace again at 32 (4x the example's work)
    assert _other_size(8, (1, 8, 32)) <= 4
    assert _other_size(224, (128, 224, 512)) == 128
