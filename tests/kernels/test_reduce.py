"""The leading-axes sum kernel against a float64 numpy reference."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from graphflow.kernels.cpu.reduce import LANES, sum_leading_axes


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(0, 9), min_size=2, max_size=4),
       count=st.integers(1, 3), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**16))
def test_matches_the_float64_sum(shape, count, dtype, seed):
    count = min(count, len(shape) - 1)
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    got = sum_leading_axes(x, count)
    expected = x.astype(np.float64).sum(axis=tuple(range(count)))
    assert got.dtype == dtype and got.shape == tuple(shape[count:])
    np.testing.assert_allclose(got, expected.astype(dtype), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("columns", [1, 3, 4, 7, LANES, LANES + 1, 200])
def test_every_column_gets_its_own_elements(columns):
    """Columns that do not divide the lane count, and a tail shorter than one lane row."""
    rows = 3 * LANES + 5
    x = np.arange(rows * columns, dtype=np.float64).reshape(rows, columns)
    np.testing.assert_array_equal(sum_leading_axes(x, 1), x.sum(axis=0))


def test_large_float32_sums_are_more_accurate_than_float32_accumulation():
    x = np.random.default_rng(0).random((100, 28, 28, 4), dtype=np.float32)
    exact = x.astype(np.float64).sum(axis=(0, 1, 2))
    assert np.abs(sum_leading_axes(x, 3) - exact).max() <= 1e-7 * exact.max() * 4


def test_rejects_what_it_cannot_sum():
    with pytest.raises(ValueError, match="C-contiguous"):
        sum_leading_axes(np.ones((4, 3), np.float32).T, 1)
    with pytest.raises(ValueError):
        sum_leading_axes(np.ones((4, 3), np.int32), 1)
