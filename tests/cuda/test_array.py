"""CUDA tile and transpose against np.tile / np.transpose: ranks 0 to 6, every supported
dtype, zero multiples and empty inputs, and the CPU lowerings' errors."""
import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st
from numba import cuda

from graphflow.kernels.cuda import array

DTYPES = ["float32", "float64", "int32", "int64", "bool"]


def values(shape, dtype, seed):
    x = np.random.default_rng(seed).standard_normal(shape) * 100
    return (x > 0) if dtype == "bool" else x.astype(dtype)


def check(got, want):
    got = got.copy_to_host()
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@settings(max_examples=20, deadline=None)
@example((2, 3, 1, 2, 2, 3), "bool", 0)
@example((), "float32", 0)
@given(shape=st.lists(st.integers(0, 3), max_size=array.MAX_RANK).map(tuple),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**31))
def test_transpose_matches_numpy(shape, dtype, seed):
    x = values(shape, dtype, seed)
    perm = np.random.default_rng(seed).permutation(len(shape)).tolist()
    check(array.transpose(cuda.to_device(x), perm), np.transpose(x, perm))


@st.composite
def tilings(draw):
    shape = tuple(draw(st.lists(st.integers(0, 3), max_size=4)))
    return shape, tuple(draw(st.lists(st.integers(0, 3), min_size=len(shape),
                                      max_size=len(shape))))


@settings(max_examples=20, deadline=None)
@example(((2, 1, 2, 1, 2, 1), (1, 2, 1, 3, 1, 2)), "int64", 0)
@example(((3, 2), (0, 2)), "float32", 0)
@example(((0, 2), (2, 2)), "float64", 0)
@given(tiling=tilings(), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**31))
def test_tile_matches_numpy(tiling, dtype, seed):
    shape, multiples = tiling
    x = values(shape, dtype, seed)
    check(array.tile(cuda.to_device(x), multiples), np.tile(x, multiples))


def test_bad_arguments():
    x = cuda.to_device(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="vector of size 2. But input.1. is a vector of size 3"):
        array.transpose(x, [0, 1, 2])
    with pytest.raises(ValueError, match=r"0 is missing from \{1,1\}"):
        array.transpose(x, [1, 1])
    with pytest.raises(ValueError, match="perm dim 2 is out of range"):
        array.transpose(x, [2, 0])
    with pytest.raises(ValueError, match=r"multiples\[1\] >= 0, but got -1"):
        array.tile(x, [1, -1])
    with pytest.raises(ValueError, match="vector of length 2 but got length 1"):
        array.tile(x, [2])
    with pytest.raises(ValueError, match="rank at most 6"):
        array.tile(cuda.to_device(np.zeros((1,) * 7, np.float32)), [1] * 7)
