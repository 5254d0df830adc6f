"""CUDA pooling kernels (under the simulator) against the CPU kernels they stand in for.

Max pooling only compares and adds, in the CPU kernel's order, so its results must be equal,
not close: inputs drawn from a few integers make tied maxima common, and the gradient must
pick the same position of each tie as the CPU kernel.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from numba import cuda

from graphflow.kernels.cpu import pool as cpu
from graphflow.kernels.cpu.conv import conv_output_shape
from graphflow.kernels.cuda import pool as gpu

SETTINGS = settings(max_examples=15, deadline=None)
DTYPES = st.sampled_from([np.float32, np.float64])


@st.composite
def pool_cases(draw):
    """(x shape, ksize, strides, padding); explicit pads stay below the window size, so that
    every window holds an in-image position."""
    ksize = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    explicit = st.tuples(*(st.tuples(st.integers(0, k - 1), st.integers(0, k - 1))
                           for k in ksize))
    padding = draw(st.sampled_from(['SAME', 'VALID']) | explicit)
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 9)), draw(st.integers(1, 9)),
             draw(st.integers(1, 3)))
    try:
        conv_output_shape(shape[1:3], ksize, strides, padding)
    except ValueError:  # the padded input is smaller than the window
        padding = 'SAME'
    return shape, ksize, strides, padding


def small_integers(shape, dtype, seed):
    return np.random.default_rng(seed).integers(-3, 4, shape).astype(dtype)


def random(shape, dtype, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def on_device(fn, *args):
    """fn with its numpy arguments copied to the device, its result copied back."""
    result = fn(*(cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in args))
    return result.copy_to_host()


def both(name, *args):
    """(CPU result, CUDA result) of kernel `name`."""
    expected = getattr(cpu, name)(*args)
    got = on_device(getattr(gpu, name), *args)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    return expected, got


@SETTINGS
@given(pool_cases(), DTYPES)
def test_max_pool_and_its_gradient_equal_cpu_with_ties(case, dtype):
    shape, ksize, strides, padding = case
    x = small_integers(shape, dtype, 1)
    expected, y = both('max_pool_forward', x, ksize, strides, padding)
    np.testing.assert_array_equal(y, expected)
    dy = random(y.shape, dtype, 2)
    np.testing.assert_array_equal(*both('max_pool_backward', x, dy, ksize, strides, padding))


@SETTINGS
@given(pool_cases(), DTYPES)
def test_avg_pool_and_its_gradient_match_cpu(case, dtype):
    shape, ksize, strides, padding = case
    eps = 1e-6 if dtype == np.float32 else 1e-14
    x = random(shape, dtype, 1)
    expected, y = both('avg_pool_forward', x, ksize, strides, padding)
    np.testing.assert_allclose(y, expected, rtol=eps, atol=eps)
    dy = random(y.shape, dtype, 2)
    np.testing.assert_allclose(*both('avg_pool_backward', dy, shape, ksize, strides, padding),
                               rtol=eps, atol=eps)


def test_max_pool_ignores_nan_and_routes_all_minus_inf_windows_to_the_first_position():
    x = np.array([np.nan, 1, -np.inf, -np.inf, 2, 2], np.float32).reshape(1, 1, 6, 1)
    expected, y = both('max_pool_forward', x, (1, 2), (1, 2), 'VALID')
    np.testing.assert_array_equal(y.ravel(), [1, np.finfo(np.float32).min, 2])
    np.testing.assert_array_equal(y, expected)
    dy = np.array([1, 2, 3], np.float32).reshape(y.shape)
    expected, dx = both('max_pool_backward', x, dy, (1, 2), (1, 2), 'VALID')
    np.testing.assert_array_equal(dx.ravel(), [0, 1, 2, 0, 3, 0])
    np.testing.assert_array_equal(dx, expected)


def test_overlapping_windows_add_their_gradients_at_a_shared_maximum():
    x = np.zeros((1, 3, 3, 1), np.float64)
    x[0, 1, 1, 0] = 5
    dy = np.arange(1, 5, dtype=np.float64).reshape(1, 2, 2, 1)
    expected, dx = both('max_pool_backward', x, dy, (2, 2), (1, 1), 'VALID')
    assert dx[0, 1, 1, 0] == 10 and dx.sum() == 10
    np.testing.assert_array_equal(dx, expected)


def zeros(*shape, dtype=np.float32):
    return np.zeros(shape, dtype)


BAD_CALLS = [
    ('max_pool_forward', (zeros(4, 4, 1), (2, 2), (2, 2), 'VALID')),
    ('max_pool_forward', (zeros(1, 4, 4, 1), (0, 2), (2, 2), 'VALID')),
    ('avg_pool_forward', (zeros(1, 4, 4, 1), (2, 2), (2, 0), 'SAME')),
    ('avg_pool_forward', (zeros(1, 1, 4, 1), (2, 2), (1, 1), 'VALID')),
    ('max_pool_forward', (zeros(1, 4, 4, 1, dtype=np.int32), (2, 2), (2, 2), 'VALID')),
    ('max_pool_backward', (zeros(1, 4, 4, 1), zeros(1, 2, 2, 1, dtype=np.float64), (2, 2),
                           (2, 2), 'VALID')),
    ('max_pool_backward', (zeros(1, 4, 4, 1), zeros(1, 2, 3, 1), (2, 2), (2, 2), 'VALID')),
    ('avg_pool_backward', (zeros(1, 2, 2, 2), (1, 4, 4, 1), (2, 2), (2, 2), 'VALID')),
    ('avg_pool_backward', (zeros(1, 2, 2, 1, dtype=np.float16), (1, 4, 4, 1), (2, 2), (2, 2),
                           'VALID')),
]


@pytest.mark.parametrize('name, args', BAD_CALLS)
def test_bad_arguments_raise_the_cpu_kernels_error(name, args):
    with pytest.raises((TypeError, ValueError)) as expected:
        getattr(cpu, name)(*args)
    with pytest.raises(expected.type) as got:
        on_device(getattr(gpu, name), *args)
    assert str(got.value) == str(expected.value)
