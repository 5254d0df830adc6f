"""The fused product's epilogue (bias add, then relu) against numpy."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from graphflow.kernels.cpu.bias import LANES, bias_add_inplace


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(0, 7), min_size=1, max_size=4),
       columns=st.sampled_from([1, 3, 4, 12, LANES, LANES + 3, 200]),
       relu=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**16))
def test_matches_numpy(shape, columns, relu, dtype, seed):
    rng = np.random.default_rng(seed)
    y = rng.standard_normal(shape + [columns]).astype(dtype)
    bias = rng.standard_normal(columns).astype(dtype)
    expected = y + bias
    if relu:
        expected = np.maximum(expected, 0)
    out = bias_add_inplace(y, bias, relu)
    assert out is y and out.dtype == dtype
    np.testing.assert_array_equal(out, expected)


def test_relu_keeps_nan_and_bias_reaches_every_column():
    y = np.array([[np.nan, -1.0, 2.0]] * 50, np.float32)
    out = bias_add_inplace(y, np.array([0.0, 0.5, -3.0], np.float32), relu=True)
    assert np.isnan(out[:, 0]).all() and (out[:, 1] == 0).all() and (out[:, 2] == 0).all()


def test_rejects_what_it_cannot_update_in_place():
    with pytest.raises(ValueError, match="writable C-contiguous"):
        bias_add_inplace(np.ones((3, 4), np.float32).T, np.ones(3, np.float32))
    with pytest.raises(ValueError):
        bias_add_inplace(np.ones((3, 4), np.float32), np.ones(3, np.float32))
