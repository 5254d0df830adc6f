"""The tiled CUDA matmul against the CPU kernel: odd sizes on both sides of a tile, all four
transpose combinations, float32 and float64, empty products and bad arguments."""
import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st
from numba import cuda

from graphflow.kernels.cpu import matmul as cpu_matmul
from graphflow.kernels.cuda.matmul import TILE, matmul


def operands(m, k, n, transpose_a, transpose_b, dtype, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((k, m) if transpose_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if transpose_b else (k, n)).astype(dtype)
    return a, b


@settings(max_examples=12, deadline=None)
@example(1, 1, 1, False, False, "float32", 0)
@example(TILE + 1, TILE - 1, 2 * TILE + 3, True, False, "float64", 0)
@example(3, 0, 4, False, True, "float32", 0)   # k = 0: zeros
@given(m=st.integers(1, 20), k=st.integers(1, 20), n=st.integers(1, 20),
       transpose_a=st.booleans(), transpose_b=st.booleans(),
       dtype=st.sampled_from(["float32", "float64"]), seed=st.integers(0, 2**31))
def test_matmul_matches_the_cpu_kernel(m, k, n, transpose_a, transpose_b, dtype, seed):
    a, b = operands(m, k, n, transpose_a, transpose_b, dtype, seed)
    got = matmul(cuda.to_device(a), cuda.to_device(b), transpose_a, transpose_b).copy_to_host()
    want = cpu_matmul.matmul(a, b, transpose_a, transpose_b)
    assert got.dtype == want.dtype == np.dtype(dtype) and got.shape == (m, n)
    rtol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * max(k, 1))


def test_empty_outputs():
    a = cuda.to_device(np.zeros((0, 3), np.float32))
    b = cuda.to_device(np.zeros((3, 2), np.float32))
    assert matmul(a, b).shape == (0, 2)


def test_bad_arguments():
    a = cuda.to_device(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"size-incompatible: In\[0\]: \[2, 3\], In\[1\]: "
                                         r"\[2, 3\]"):
        matmul(a, a)
    with pytest.raises(TypeError, match="float64"):
        matmul(a, cuda.to_device(np.zeros((3, 2), np.float64)))
    with pytest.raises(ValueError, match="2-D"):
        matmul(a, cuda.to_device(np.zeros(3, np.float32)))
