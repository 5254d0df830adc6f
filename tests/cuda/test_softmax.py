"""CUDA softmax, log-softmax, cross-entropies and softmax gradients against the CPU kernels:
shapes of any rank, odd row widths on both sides of the block size, huge logits, both float
dtypes, both label dtypes, and TF's GPU answer (NaN rows) to out-of-range sparse labels."""
import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st
from numba import cuda

from graphflow.kernels.cpu import softmax as cpu
from graphflow.kernels.cuda import softmax as gpu

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def host(*arrays):
    return [a.copy_to_host() for a in arrays]


def assert_close(got, want):
    assert got.dtype == want.dtype and got.shape == want.shape
    rtol = 2e-6 if got.dtype == np.float32 else 1e-13
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


def logits(shape, dtype, seed, scale=3.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


shapes = st.lists(st.integers(1, 11), min_size=1, max_size=3).map(tuple)
dtypes = st.sampled_from(["float32", "float64"])


@settings(max_examples=15, deadline=None)
@example((1,), "float32", 0)
@example((2, 3, 9), "float64", 0)
@given(shape=shapes, dtype=dtypes, seed=st.integers(0, 2**31))
def test_softmax_and_its_gradient_match_the_cpu_kernels(shape, dtype, seed):
    x = logits(shape, dtype, seed)
    dy = logits(shape, dtype, seed + 1, 1.0)
    for name in ("softmax", "log_softmax"):
        (y,) = host(getattr(gpu, name)(cuda.to_device(x)))
        assert_close(y, getattr(cpu, name)(x))
        (dx,) = host(getattr(gpu, name + "_grad")(cuda.to_device(y), cuda.to_device(dy)))
        assert_close(dx, getattr(cpu, name + "_grad")(y, dy))


@settings(max_examples=15, deadline=None)
@example(1, 1, "float32", 0)
@given(rows=st.integers(1, 6), classes=st.integers(1, 13), dtype=dtypes,
       seed=st.integers(0, 2**31))
def test_cross_entropies_match_the_cpu_kernels(rows, classes, dtype, seed):
    x = logits((rows, classes), dtype, seed)
    labels = np.random.default_rng(seed).dirichlet(np.ones(classes), rows).astype(dtype)
    got = host(*gpu.softmax_cross_entropy(cuda.to_device(x), cuda.to_device(labels)))
    for g, w in zip(got, cpu.softmax_cross_entropy(x, labels)):
        assert_close(g, w)
    for label_dtype in (np.int32, np.int64):
        sparse = np.random.default_rng(seed).integers(0, classes, rows).astype(label_dtype)
        got = host(*gpu.sparse_softmax_cross_entropy(cuda.to_device(x), cuda.to_device(sparse)))
        for g, w in zip(got, cpu.sparse_softmax_cross_entropy(x, sparse)):
            assert_close(g, w)


def test_huge_logits_stay_finite():
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], np.float32)
    for name in ("softmax", "log_softmax"):
        (y,) = host(getattr(gpu, name)(cuda.to_device(x)))
        assert np.isfinite(y).all()
        assert_close(y, getattr(cpu, name)(x))


def test_out_of_range_sparse_labels_give_nan_rows():
    x = logits((4, 5), "float32", 0)
    labels = np.array([1, 5, -1, 4], np.int64)
    loss, backprop = host(*gpu.sparse_softmax_cross_entropy(cuda.to_device(x),
                                                           cuda.to_device(labels)))
    assert np.isnan(loss[1:3]).all() and np.isnan(backprop[1:3]).all()
    good = [0, 3]
    want_loss, want_backprop = cpu.sparse_softmax_cross_entropy(x[good], labels[good])
    assert_close(loss[good], want_loss)
    assert_close(backprop[good], want_backprop)


def test_no_classes():
    x = np.zeros((3, 0), np.float32)
    loss, backprop = host(*gpu.softmax_cross_entropy(cuda.to_device(x), cuda.to_device(x)))
    np.testing.assert_array_equal(loss, np.zeros(3, np.float32))
    assert backprop.shape == (3, 0)
    assert gpu.softmax(cuda.to_device(x)).shape == (3, 0)
    with pytest.raises(ValueError, match="at least one class"):
        gpu.sparse_softmax_cross_entropy(cuda.to_device(x), cuda.to_device(np.zeros(3, np.int32)))


def test_bad_arguments():
    x = cuda.to_device(np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError, match="int32"):
        gpu.softmax(cuda.to_device(np.zeros((2, 3), np.int32)))
    with pytest.raises(ValueError, match="same shape and dtype"):
        gpu.softmax_cross_entropy(x, cuda.to_device(np.zeros((2, 3), np.float64)))
    with pytest.raises(ValueError, match="2-dimensional"):
        gpu.softmax_cross_entropy(cuda.to_device(np.zeros(3, np.float32)),
                                  cuda.to_device(np.zeros(3, np.float32)))
    with pytest.raises(ValueError, match=r"labels must be \[rows\]"):
        gpu.sparse_softmax_cross_entropy(x, cuda.to_device(np.zeros(3, np.int32)))
