"""kernels/cpu/matmul.py against numpy: scipy's BLAS from a Numba kernel on one thread or on
blocks of the output split over Numba's threads, numpy's BLAS for large products and for
operands BLAS cannot read in place, and numpy's own threads left alone."""
import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphflow.kernels.cpu import matmul as kernel


def operands(m, k, n, ta, tb, dtype, layout, seed):
    """a, b stored for op(a) [m, k] and op(b) [k, n]; ``layout`` "padded" makes them views
    of wider arrays (row stride above the row length), "strided" views whose rows are not
    unit-stride."""
    rng = np.random.default_rng(seed)
    shapes = [(k, m) if ta else (m, k), (n, k) if tb else (k, n)]
    arrays = []
    for rows, cols in shapes:
        if layout == "padded":
            arrays.append(rng.standard_normal((rows, cols + 3)).astype(dtype)[:, 1:cols + 1])
        elif layout == "strided":
            arrays.append(rng.standard_normal((rows, 2 * cols)).astype(dtype)[:, ::2])
        else:
            arrays.append(rng.standard_normal((rows, cols)).astype(dtype))
    return arrays


def expected(a, b, ta, tb):
    return (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 9), k=st.integers(1, 9), n=st.integers(1, 9),
       ta=st.booleans(), tb=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]),
       layout=st.sampled_from(["contiguous", "padded", "strided"]), split=st.booleans())
def test_products_match_numpy(m, k, n, ta, tb, dtype, layout, split):
    a, b = operands(m, k, n, ta, tb, dtype, layout, m * 100 + k * 10 + n)
    with pytest.MonkeyPatch.context() as patch:
        if split:  # every product splits over the threads
            patch.setattr(kernel, "THREAD_GRAIN", 1.0)
        out = kernel.matmul(a, b, ta, tb)
    assert out.dtype == dtype and out.shape == (m, n) and out.flags.c_contiguous
    np.testing.assert_allclose(out, expected(a, b, ta, tb),
                               rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)


@pytest.mark.parametrize("m, n", [(37, 5), (5, 37)])  # split by rows, then by columns
def test_a_split_product_fills_every_block_of_a_given_buffer(monkeypatch, m, n):
    if numba.get_num_threads() < 2:
        pytest.skip("one Numba thread: products never split")
    monkeypatch.setattr(kernel, "THREAD_GRAIN", 1.0)
    assert kernel.gemm_plan(m, n, 11) == (2, m >= n)
    a, b = operands(m, 11, n, True, False, np.float32, "contiguous", 0)
    buffer = np.full((m, n), np.nan, np.float32)  # BLAS must not read what was there
    out = kernel.matmul(a, b, True, False, alloc=lambda shape, dtype: buffer)
    assert out is buffer
    np.testing.assert_allclose(out, expected(a, b, True, False), rtol=1e-5, atol=1e-5)


def test_only_products_worth_two_threads_split():
    assert kernel.gemm_plan(100, 100, 100)[0] == 1   # 2 MFLOP
    assert kernel.gemm_plan(100, 200, 784)[0] == min(2, numba.get_num_threads())  # 31 MFLOP


@pytest.mark.parametrize("shape", [(512, 512, 512), (3, 0, 4), (0, 5, 2)])
def test_large_and_empty_products_take_numpys_path(shape):
    m, k, n = shape
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    np.testing.assert_allclose(kernel.matmul(a, b), a @ b, rtol=1e-4, atol=1e-4)


def test_numpys_blas_threads_are_untouched():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    numpy_libs = [i for i in threadpoolctl.threadpool_info()
                  if i["user_api"] == "blas" and "numpy" in i["filepath"]]
    before = [i["num_threads"] for i in numpy_libs]
    kernel.matmul(np.ones((4, 4), np.float32), np.ones((4, 4), np.float32))
    after = [i["num_threads"] for i in threadpoolctl.threadpool_info()
             if i["user_api"] == "blas" and "numpy" in i["filepath"]]
    assert before == after
