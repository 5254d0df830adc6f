"""Max and average pooling kernels against window-by-window numpy references and TF's rules."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from graphflow.kernels.cpu import pool

SETTINGS = settings(max_examples=30, deadline=None)


def windows(shape, ksize, strides, padding):
    """Yield (oh, ow, rows, cols): each output pixel's in-image window, per TF's padding formula."""
    bounds = []
    for axis in range(2):
        size, k, s = shape[1 + axis], ksize[axis], strides[axis]
        if padding == 'SAME':
            out = -(-size // s)
            before = max((out - 1) * s + k - size, 0) // 2
        else:
            out, before = (size - k) // s + 1, 0
        bounds.append([(max(o * s - before, 0), min(o * s - before + k, size)) for o in range(out)])
    for oh, (r0, r1) in enumerate(bounds[0]):
        for ow, (c0, c1) in enumerate(bounds[1]):
            yield oh, ow, slice(r0, r1), slice(c0, c1)


def out_shape(shape, ksize, strides, padding):
    last = list(windows(shape, ksize, strides, padding))[-1]
    return (shape[0], last[0] + 1, last[1] + 1, shape[3])


def ref_max(x, ksize, strides, padding):
    y = np.empty(out_shape(x.shape, ksize, strides, padding), x.dtype)
    for oh, ow, rows, cols in windows(x.shape, ksize, strides, padding):
        y[:, oh, ow] = x[:, rows, cols].max(axis=(1, 2))
    return y


def ref_avg(x, ksize, strides, padding):
    y = np.empty(out_shape(x.shape, ksize, strides, padding))
    for oh, ow, rows, cols in windows(x.shape, ksize, strides, padding):
        y[:, oh, ow] = x[:, rows, cols].astype(np.float64).mean(axis=(1, 2))
    return y


def ref_max_grad(x, dy, ksize, strides, padding):
    dx = np.zeros(x.shape)
    for oh, ow, rows, cols in windows(x.shape, ksize, strides, padding):
        win = x[:, rows, cols]
        flat = win.reshape(x.shape[0], -1, x.shape[3])
        first = flat.argmax(axis=1)  # the first maximum in row-major window order
        r, c = np.unravel_index(first, win.shape[1:3])
        n, ch = np.meshgrid(np.arange(x.shape[0]), np.arange(x.shape[3]), indexing='ij')
        np.add.at(dx, (n, r + rows.start, c + cols.start, ch), dy[:, oh, ow])
    return dx


def ref_avg_grad(dy, shape, ksize, strides, padding):
    dx = np.zeros(shape)
    for oh, ow, rows, cols in windows(shape, ksize, strides, padding):
        count = (rows.stop - rows.start) * (cols.stop - cols.start)
        dx[:, rows, cols] += dy[:, oh, ow][:, None, None, :] / count
    return dx


@st.composite
def pool_cases(draw):
    ksize = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.sampled_from(['SAME', 'VALID']))
    low = ksize if padding == 'VALID' else (1, 1)
    shape = (draw(st.integers(1, 3)), draw(st.integers(low[0], 9)), draw(st.integers(low[1], 9)),
             draw(st.integers(1, 6)))
    return shape, ksize, strides, padding


def small_integers(shape, dtype, seed):
    """Values from a handful of integers, so that windows often hold tied maxima."""
    return np.random.default_rng(seed).integers(-3, 4, shape).astype(dtype)


@SETTINGS
@given(pool_cases(), st.sampled_from([np.float32, np.float64]))
def test_max_pool_matches_reference(case, dtype):
    shape, ksize, strides, padding = case
    x = small_integers(shape, dtype, 1)
    y = pool.max_pool_forward(x, ksize, strides, padding)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, ref_max(x, ksize, strides, padding))
    dy = np.random.default_rng(2).standard_normal(y.shape).astype(dtype)
    dx = pool.max_pool_backward(x, dy, ksize, strides, padding)
    assert dx.dtype == dtype
    np.testing.assert_allclose(dx, ref_max_grad(x, dy, ksize, strides, padding),
                               rtol=1e-6, atol=1e-6)


@SETTINGS
@given(pool_cases(), st.sampled_from([np.float32, np.float64]))
def test_avg_pool_matches_reference(case, dtype):
    shape, ksize, strides, padding = case
    x = np.random.default_rng(3).standard_normal(shape).astype(dtype)
    y = pool.avg_pool_forward(x, ksize, strides, padding)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, ref_avg(x, ksize, strides, padding), rtol=1e-5, atol=1e-6)
    dy = np.random.default_rng(4).standard_normal(y.shape).astype(dtype)
    dx = pool.avg_pool_backward(dy, shape, ksize, strides, padding)
    assert dx.dtype == dtype and dx.shape == shape
    np.testing.assert_allclose(dx, ref_avg_grad(dy, shape, ksize, strides, padding),
                               rtol=1e-5, atol=1e-6)


def test_max_pool_gradient_goes_to_the_first_maximum():
    """TF's MaxPoolGrad on these windows (checked against TF): one 1 per window, at its first
    maximum."""
    x = np.array([[1, 3, 3, 0],
                  [3, 2, 1, 3],
                  [0, 0, 0, 0],
                  [3, 3, 3, 3]], np.float32).reshape(1, 4, 4, 1)
    dx = pool.max_pool_backward(x, np.ones((1, 2, 2, 1), np.float32), (2, 2), (2, 2), 'VALID')
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0, 1, 1, 0],
                                                   [0, 0, 0, 0],
                                                   [0, 0, 0, 0],
                                                   [1, 0, 1, 0]])


def test_max_pool_overlapping_tied_windows_accumulate():
    x = np.full((1, 3, 3, 1), 5.0)
    dy = np.arange(1.0, 5.0).reshape(1, 2, 2, 1)
    dx = pool.max_pool_backward(x, dy, (2, 2), (1, 1), 'VALID')
    np.testing.assert_array_equal(dx[0, :, :, 0], [[1, 2, 0], [3, 4, 0], [0, 0, 0]])


def test_max_pool_ignores_nan_and_starts_from_the_lowest_finite_value():
    """TF: NaN never wins a window, an all -inf window gives -FLT_MAX and sends its gradient to
    the window's first position."""
    x = np.array([[np.nan, 1, -np.inf, -np.inf],
                  [2, 0, -np.inf, -np.inf]], np.float32).reshape(1, 2, 4, 1)
    y = pool.max_pool_forward(x, (2, 2), (2, 2), 'VALID')
    np.testing.assert_array_equal(y.ravel(), [2, np.finfo(np.float32).min])
    dx = pool.max_pool_backward(x, np.ones_like(y), (2, 2), (2, 2), 'VALID')
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0, 0, 1, 0], [1, 0, 0, 0]])


def test_avg_pool_same_divides_by_the_in_image_window_size():
    """TF's avg_pool(1..9 as 3x3, 2x2 window, stride 2, SAME) and AvgPoolGrad of ones."""
    x = np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3, 1)
    y = pool.avg_pool_forward(x, (2, 2), (2, 2), 'SAME')
    np.testing.assert_array_equal(y[0, :, :, 0], [[3, 4.5], [7.5, 9]])
    dx = pool.avg_pool_backward(np.ones_like(y), x.shape, (2, 2), (2, 2), 'SAME')
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0.25, 0.25, 0.5],
                                                   [0.25, 0.25, 0.5],
                                                   [0.5, 0.5, 1]])


@pytest.mark.parametrize('shape, padding', [((2, 5, 7, 3), 'SAME'), ((2, 5, 7, 3), 'VALID'),
                                            ((1, 4, 6, 17), 'VALID')])
def test_max_pool_gradient_of_windows_that_tile(shape, padding):
    """Stride = window: SAME windows cover the image and dx is stored once, position by
    position; VALID ones leave a last row and column to zero. dx starts as np.empty, so
    memory freed full of NaN first makes a missed element show."""
    x = small_integers(shape, np.float32, 7)
    dy_shape = out_shape(shape, (2, 2), (2, 2), padding)
    dy = np.random.default_rng(8).standard_normal(dy_shape).astype(np.float32)
    garbage = np.full(shape, np.nan, np.float32)
    del garbage
    np.testing.assert_array_equal(pool.max_pool_backward(x, dy, (2, 2), (2, 2), padding),
                                  ref_max_grad(x, dy, (2, 2), (2, 2), padding))


def test_gradient_rejects_dy_of_the_wrong_shape():
    with pytest.raises(ValueError, match='forward output shape'):
        pool.avg_pool_backward(np.ones((1, 3, 3, 1)), (1, 4, 4, 1), (2, 2), (2, 2), 'SAME')


@pytest.mark.parametrize('is_max', [True, False])
def test_threaded_path_matches_reference(monkeypatch, is_max):
    monkeypatch.setattr(pool, 'THREAD_GRAIN', 1)
    shape, ksize, strides = (3, 7, 8, 5), (3, 2), (2, 1)
    x = small_integers(shape, np.float32, 5)
    dy_shape = out_shape(shape, ksize, strides, 'SAME')
    dy = np.random.default_rng(6).standard_normal(dy_shape).astype(np.float32)
    if is_max:
        np.testing.assert_array_equal(pool.max_pool_forward(x, ksize, strides, 'SAME'),
                                      ref_max(x, ksize, strides, 'SAME'))
        np.testing.assert_allclose(pool.max_pool_backward(x, dy, ksize, strides, 'SAME'),
                                   ref_max_grad(x, dy, ksize, strides, 'SAME'),
                                   rtol=1e-6, atol=1e-6)
    else:
        np.testing.assert_allclose(pool.avg_pool_forward(x, ksize, strides, 'SAME'),
                                   ref_avg(x, ksize, strides, 'SAME'), rtol=1e-6)
        np.testing.assert_allclose(pool.avg_pool_backward(dy, shape, ksize, strides, 'SAME'),
                                   ref_avg_grad(dy, shape, ksize, strides, 'SAME'),
                                   rtol=1e-6, atol=1e-7)
