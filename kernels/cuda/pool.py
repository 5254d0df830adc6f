"""2-D max and average pooling on the GPU, NHWC, forward and gradient.

The same functions, arguments, dtype rules, errors and results as kernels/cpu/pool.py, on
device arrays: x [N, H, W, C] -> y [N, OH, OW, C]; ksize (KH, KW), strides (sh, sw), padding
'SAME', 'VALID' or ((pt, pb), (pl, pr)). A window holds only its in-image positions.

  max: the window's maximum, starting from the dtype's lowest finite value and taking a value
    only when strictly greater (NaN never wins); the gradient goes to the first position in
    row-major window order holding it (the window's first position if none beat the start).
  avg: window sum / number of in-image positions; the gradient spreads dy times the reciprocal
    of that number, rounded to the dtype (as TF and the CPU kernel round it).

One thread per result element, grid-stride. The gradients gather rather than scatter: the
thread of input element (n, h, w, c) visits the windows containing (h, w) in row-major order
and adds their dy when (h, w) is the window's chosen position (max) or always (avg). So there
are no atomics and the sums run in the order of the CPU kernel's scatter: results repeat bit
for bit. Max-pool's gradient rescans each such window to find its argmax.
"""
import numpy as np
from numba import cuda, types

from ..cpu.conv import check_float_dtypes
from ..cpu.pool import check_grad_shape, pooled_shape
from .conv import as_dtype, unravel
from .launch import grid_1d

__all__ = [
    "max_pool_forward",
    "max_pool_backward",
    "avg_pool_forward",
    "avg_pool_backward",
]


@cuda.jit(device=True, inline="always")
def _window(o, stride, pad, k, size):
    """[lo, hi) of the input positions in window o along one axis (lo >= hi if none)."""
    start = o * stride - pad
    return max(start, 0), min(start + k, size)


@cuda.jit(device=True, inline="always")
def _covering(pos, stride, pad, k, count):
    """[lo, hi) of the windows (of `count`) that contain input position pos along one axis."""
    first = pos + pad - k + 1  # window o contains pos iff first <= o*stride <= pos + pad
    lo = (first + stride - 1) // stride if first > 0 else 0
    return lo, min((pos + pad) // stride + 1, count)


@cuda.jit(cache=True)
def _max_forward(x, y, kh, kw, sh, sw, pt, pl, lowest):
    """y[n, r, q, c] = max(lowest, the values of x[n, :, :, c] in window (r, q))."""
    for i in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        n, r, q, c = unravel(i, y.shape)
        h0, h1 = _window(r, sh, pt, kh, x.shape[1])
        w0, w1 = _window(q, sw, pl, kw, x.shape[2])
        best = lowest
        for h in range(h0, h1):
            for w in range(w0, w1):
                v = x[n, h, w, c]
                if v > best:
                    best = v
        y[n, r, q, c] = best


@cuda.jit(cache=True)
def _avg_forward(x, y, kh, kw, sh, sw, pt, pl):
    """y[n, r, q, c] = sum of x[n, :, :, c] over window (r, q) / its number of positions."""
    for i in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        n, r, q, c = unravel(i, y.shape)
        h0, h1 = _window(r, sh, pt, kh, x.shape[1])
        w0, w1 = _window(q, sw, pl, kw, x.shape[2])
        acc = as_dtype(0, y)
        for h in range(h0, h1):
            for w in range(w0, w1):
                acc += x[n, h, w, c]
        y[n, r, q, c] = acc / as_dtype((h1 - h0) * (w1 - w0), y)


@cuda.jit(cache=True)
def _max_backward(x, dy, dx, kh, kw, sh, sw, pt, pl, lowest):
    """dx[n, h, w, c] = sum of dy[n, r, q, c] over the windows (r, q) whose first maximum
    (see the module docstring) is at (h, w)."""
    for i in range(cuda.grid(1), dx.size, cuda.gridsize(1)):
        n, h, w, c = unravel(i, dx.shape)
        r0, r1 = _covering(h, sh, pt, kh, dy.shape[1])
        q0, q1 = _covering(w, sw, pl, kw, dy.shape[2])
        acc = as_dtype(0, dx)
        for r in range(r0, r1):
            h0, h1 = _window(r, sh, pt, kh, x.shape[1])
            for q in range(q0, q1):
                w0, w1 = _window(q, sw, pl, kw, x.shape[2])
                best, best_h, best_w = lowest, h0, w0
                for hh in range(h0, h1):
                    for ww in range(w0, w1):
                        v = x[n, hh, ww, c]
                        if v > best:
                            best, best_h, best_w = v, hh, ww
                if best_h == h and best_w == w:
                    acc += dy[n, r, q, c]
        dx[n, h, w, c] = acc


@cuda.jit(cache=True)
def _avg_backward(dy, dx, kh, kw, sh, sw, pt, pl):
    """dx[n, h, w, c] = sum over the windows (r, q) containing (h, w) of
    dy[n, r, q, c] * (1 / the window's number of positions, rounded to the dtype)."""
    for i in range(cuda.grid(1), dx.size, cuda.gridsize(1)):
        n, h, w, c = unravel(i, dx.shape)
        r0, r1 = _covering(h, sh, pt, kh, dy.shape[1])
        q0, q1 = _covering(w, sw, pl, kw, dy.shape[2])
        one = as_dtype(1, dx)
        acc = as_dtype(0, dx)
        for r in range(r0, r1):
            h0, h1 = _window(r, sh, pt, kh, dx.shape[1])
            for q in range(q0, q1):
                w0, w1 = _window(q, sw, pl, kw, dx.shape[2])
                acc += dy[n, r, q, c] * (one / as_dtype((h1 - h0) * (w1 - w0), dx))
        dx[n, h, w, c] = acc


def _signatures(arrays, scalar):
    """One signature per dtype: `arrays` 4-D arrays, six int64 geometry arguments and, if
    `scalar`, a scalar of the dtype."""
    result = []
    for dtype in (types.float32, types.float64):
        array = types.Array(dtype, 4, 'C')
        result.append(types.void(*[array] * arrays, *[types.int64] * 6, *[dtype] * scalar))
    return tuple(result)


PTX_SIGNATURES = [
    (_max_forward, _signatures(2, 1)),
    (_avg_forward, _signatures(2, 0)),
    (_max_backward, _signatures(3, 1)),
    (_avg_backward, _signatures(2, 0)),
]


def _geometry(input_shape, ksize, strides, padding):
    """(OH, OW) and the kernels' geometry arguments (KH, KW, sh, sw, pt, pl)."""
    out_hw, (pt, pl) = pooled_shape(input_shape, ksize, strides, padding)
    return out_hw, (int(ksize[0]), int(ksize[1]), int(strides[0]), int(strides[1]), pt, pl)


def _check_dtype(*arrays):
    check_float_dtypes('pooling', *arrays)


def _launch(kernel, out, args):
    """kernel(*args) over the elements of `out`; returns out."""
    if out.size:
        blocks, threads = grid_1d(out.size)
        kernel[blocks, threads](*args)
    return out


def _forward(x, ksize, strides, padding):
    _check_dtype(x)
    (oh, ow), geo = _geometry(x.shape, ksize, strides, padding)
    return cuda.device_array((x.shape[0], oh, ow, x.shape[3]), x.dtype), geo


def _gradient(dy, input_shape, ksize, strides, padding):
    out_hw, geo = _geometry(input_shape, ksize, strides, padding)
    check_grad_shape(dy.shape, input_shape, out_hw)
    return cuda.device_array(tuple(int(s) for s in input_shape), dy.dtype), geo


def max_pool_forward(x, ksize, strides, padding):
    """y[n, oh, ow, c] = max over the window at (oh*sh - pt, ow*sw - pl) of x[n, :, :, c]
    (tf.nn.max_pool)."""
    y, geo = _forward(x, ksize, strides, padding)
    return _launch(_max_forward, y, (x, y, *geo, np.finfo(x.dtype).min))


def avg_pool_forward(x, ksize, strides, padding):
    """y[n, oh, ow, c] = mean over the window's in-image positions (tf.nn.avg_pool)."""
    y, geo = _forward(x, ksize, strides, padding)
    return _launch(_avg_forward, y, (x, y, *geo))


def max_pool_backward(x, dy, ksize, strides, padding):
    """Gradient of max_pool_forward: dx [N, H, W, C] (tf.raw_ops.MaxPoolGrad)."""
    _check_dtype(x, dy)
    dx, geo = _gradient(dy, x.shape, ksize, strides, padding)
    return _launch(_max_backward, dx, (x, dy, dx, *geo, np.finfo(x.dtype).min))


def avg_pool_backward(dy, input_shape, ksize, strides, padding):
    """Gradient of avg_pool_forward: dx [N, H, W, C] = input_shape (tf.raw_ops.AvgPoolGrad)."""
    _check_dtype(dy)
    dx, geo = _gradient(dy, input_shape, ksize, strides, padding)
    return _launch(_avg_backward, dx, (dy, dx, *geo))
