"""2-D max and average pooling, NHWC, forward and gradient, with TF's window rules.

Shapes: x [N, H, W, C] -> y [N, OH, OW, C]; ksize (KH, KW), strides (sh, sw), padding 'SAME',
'VALID' or ((pt, pb), (pl, pr)) as in conv.conv_output_shape. A window holds only the
positions inside the image: padding never takes part.

  max: y = the window's maximum, starting from the dtype's lowest finite value and taking a
    value only when strictly greater (so NaN never wins and an all -inf window gives the
    lowest finite value, as TF does). Its gradient goes to the first position, in row-major
    window order, holding that maximum (the window's first position if none beat the start).
  avg: y = window sum / number of positions in the window (SAME windows at the border are
    smaller); its gradient spreads dy / that number over the window.

Loops run over channels innermost (contiguous in NHWC), compiled with Numba's default flags.
Forward passes split output pixels over threads; gradients split images (windows overlap).
"""
import numpy as np
from numba import njit, prange

from ._tiled import threads_for
from .conv import check_float_dtypes, conv_output_shape

__all__ = [
    "max_pool_forward",
    "max_pool_backward",
    "avg_pool_forward",
    "avg_pool_backward",
]

U = np.uint64
# error_model="numpy": no zero-division checks, so the channel loops vectorise.
_KERNEL = dict(cache=True, error_model='numpy')
# Window element visits a thread must get before a second one pays off (~0.1 ms: pooling is
# memory-bound and both cores' bandwidth counts; 1 << 20 left [100, 28, 28, 16] on one thread).
THREAD_GRAIN = 1 << 17


@njit(nogil=True, **_KERNEL)
def _window(o, stride, pad, size, k):
    """[lo, hi) of input positions in window o along one axis (lo == hi if none)."""
    start = o * stride
    lo = max(start, pad) - pad
    hi = max(min(start + k, pad + size), pad) - pad
    return lo, max(hi, lo)


@njit(nogil=True, **_KERNEL)
def _pool_part(x, y, is_max, geo, part, parts):
    """Share part/parts of y's pixels (flattened over images): see max_pool_forward and
    avg_pool_forward."""
    kh, kw, sh, sw, pt, pl = geo[0], geo[1], geo[2], geo[3], geo[4], geo[5]
    height, width, chans = U(x.shape[1]), U(x.shape[2]), U(x.shape[3])
    oh_, ow_ = U(y.shape[1]), U(y.shape[2])
    total = U(y.shape[0]) * oh_ * ow_
    lo, hi = total * part // parts, total * (part + U(1)) // parts
    xf = x.reshape(x.size)
    yf = y.reshape(y.size)
    lowest = np.finfo(x.dtype).min
    for g in range(lo, hi):
        n = g // (oh_ * ow_)
        o = g - n * oh_ * ow_
        r = o // ow_
        h0, h1 = _window(r, sh, pt, height, kh)
        w0, w1 = _window(o - r * ow_, sw, pl, width, kw)
        out = g * chans
        for c in range(chans):
            yf[out + c] = lowest if is_max else 0.0
        for h in range(h0, h1):
            for w in range(w0, w1):
                s = ((n * height + h) * width + w) * chans
                if is_max:
                    for c in range(chans):
                        v = xf[s + c]
                        if v > yf[out + c]:
                            yf[out + c] = v
                else:
                    for c in range(chans):
                        yf[out + c] += xf[s + c]
        if not is_max:
            count = (h1 - h0) * (w1 - w0)
            for c in range(chans):
                yf[out + c] /= count


@njit(parallel=True, **_KERNEL)
def _pool_parallel(x, y, is_max, geo, parts):
    for t in prange(parts):
        _pool_part(x, y, is_max, geo, U(t), U(parts))


@njit(nogil=True, **_KERNEL)
def _pool_grad_part(x, dy, dx, is_max, geo, part, parts):
    """Images [part*N/parts, (part+1)*N/parts) of dx: see max_pool_backward, avg_pool_backward.

    x is only read for max pooling (avg passes dx itself as a stand-in). When max pooling's
    windows tile the image (geo[6]), every dx element is stored once, dy or zero, with no
    zeroing pass and no scattered adds.
    """
    kh, kw, sh, sw, pt, pl, tiles = geo[0], geo[1], geo[2], geo[3], geo[4], geo[5], geo[6]
    tiles = is_max and tiles != 0
    batch, height, width, chans = U(dx.shape[0]), U(dx.shape[1]), U(dx.shape[2]), U(dx.shape[3])
    oh_, ow_ = U(dy.shape[1]), U(dy.shape[2])
    xf = x.reshape(x.size)
    dyf = dy.reshape(dy.size)
    dxf = dx.reshape(dx.size)
    best = np.empty(chans, dx.dtype)
    where = np.empty(chans, np.uint64)
    coeff = np.empty(1, dx.dtype)
    lowest = np.finfo(dx.dtype).min
    zero = np.zeros(1, dx.dtype)[0]  # a float literal would make the select float64
    for n in range(batch * part // parts, batch * (part + U(1)) // parts):
        image = n * height * width
        if not tiles:
            dxf[image * chans:(image + height * width) * chans] = 0.0
        for r in range(oh_):
            h0, h1 = _window(r, sh, pt, height, kh)
            for col in range(ow_):
                w0, w1 = _window(col, sw, pl, width, kw)
                g = ((n * oh_ + r) * ow_ + col) * chans
                if is_max:
                    for c in range(chans):
                        best[c] = lowest
                        where[c] = image + h0 * width + w0
                    for h in range(h0, h1):
                        for w in range(w0, w1):
                            pos = image + h * width + w
                            for c in range(chans):  # selects, not branches: vectorises
                                v = xf[pos * chans + c]
                                b = best[c]
                                best[c] = v if v > b else b
                                where[c] = pos if v > b else where[c]
                    if tiles:
                        for h in range(h0, h1):
                            for w in range(w0, w1):
                                pos = image + h * width + w
                                for c in range(chans):
                                    dxf[pos * chans + c] = dyf[g + c] if where[c] == pos else zero
                    else:
                        for c in range(chans):
                            dxf[where[c] * chans + c] += dyf[g + c]
                else:
                    coeff[0] = 1.0 / ((h1 - h0) * (w1 - w0))  # in dx's dtype, as TF rounds it
                    for h in range(h0, h1):
                        for w in range(w0, w1):
                            s = (image + h * width + w) * chans
                            for c in range(chans):
                                dxf[s + c] += dyf[g + c] * coeff[0]


@njit(parallel=True, **_KERNEL)
def _pool_grad_parallel(x, dy, dx, is_max, geo, parts):
    for t in prange(parts):
        _pool_grad_part(x, dy, dx, is_max, geo, U(t), U(parts))


def pooled_shape(input_shape, ksize, strides, padding):
    """((OH, OW), (pt, pl)): the output size and top/left padding of pooling an input of
    ``input_shape`` [N, H, W, C], after the checks every pooling kernel (CPU and CUDA) relies
    on; ValueError names what is wrong."""
    if len(input_shape) != 4 or min(tuple(ksize) + tuple(strides)) < 1:
        raise ValueError(f'pooling takes a 4-D input and positive window sizes and strides, got '
                         f'input shape {tuple(input_shape)}, ksize {ksize}, strides {strides}')
    out_hw, ((pt, _), (pl, _)) = conv_output_shape(input_shape[1:3], ksize, strides, padding)
    return out_hw, (pt, pl)


def check_grad_shape(dy_shape, input_shape, out_hw):
    """ValueError unless a pooling gradient dy has the forward output's shape."""
    expected = (int(input_shape[0]), out_hw[0], out_hw[1], int(input_shape[3]))
    if tuple(dy_shape) != expected:
        raise ValueError(f'pooling gradient: dy has shape {tuple(dy_shape)}, the forward output '
                         f'shape is {expected}')


def _geometry(input_shape, ksize, strides, padding):
    """(OH, OW) and the uint64 vector (KH, KW, sh, sw, pt, pl, tiles) the kernels take;
    tiles = 1 when the windows partition the image (stride = window, covering it)."""
    (oh, ow), (pt, pl) = pooled_shape(input_shape, ksize, strides, padding)
    tiles = (tuple(strides) == tuple(ksize) and oh * strides[0] - pt >= input_shape[1]
             and ow * strides[1] - pl >= input_shape[2])
    return (oh, ow), np.array([ksize[0], ksize[1], strides[0], strides[1], pt, pl, tiles], U)


def _check_dtype(*arrays):
    check_float_dtypes('pooling', *arrays)
    return [np.ascontiguousarray(a) for a in arrays]


def _forward(x, ksize, strides, padding, is_max, alloc):
    (x,) = _check_dtype(x)
    (oh, ow), geo = _geometry(x.shape, ksize, strides, padding)
    y = (alloc or np.empty)((x.shape[0], oh, ow, x.shape[3]), x.dtype)
    _pool_parallel(x, y, is_max, geo, threads_for(y.size * ksize[0] * ksize[1], THREAD_GRAIN))
    return y


def _backward(x, dy, input_shape, ksize, strides, padding, is_max, alloc):
    out_hw, geo = _geometry(input_shape, ksize, strides, padding)
    check_grad_shape(dy.shape, input_shape, out_hw)
    dx = (alloc or np.empty)(tuple(int(s) for s in input_shape), dy.dtype)
    parts = min(threads_for(dy.size * ksize[0] * ksize[1], THREAD_GRAIN), max(dx.shape[0], 1))
    if x is None:
        x = dx
    _pool_grad_parallel(x, dy, dx, is_max, geo, parts)
    return dx


def max_pool_forward(x, ksize, strides, padding, alloc=None):
    """y[n, oh, ow, c] = max over the window at (oh*sh - pt, ow*sw - pl) of x[n, :, :, c]
    (tf.nn.max_pool). ``alloc(shape, dtype)``, if given, allocates y (as for each kernel
    here)."""
    return _forward(x, ksize, strides, padding, True, alloc)


def avg_pool_forward(x, ksize, strides, padding, alloc=None):
    """y[n, oh, ow, c] = mean over the window's in-image positions (tf.nn.avg_pool)."""
    return _forward(x, ksize, strides, padding, False, alloc)


def max_pool_backward(x, dy, ksize, strides, padding, alloc=None):
    """Gradient of max_pool_forward: dx [N, H, W, C] (tf.raw_ops.MaxPoolGrad).

    MaxPoolGrad also takes the forward output; TF recomputes the maxima from x and ignores it.
    """
    x, dy = _check_dtype(x, dy)
    return _backward(x, dy, x.shape, ksize, strides, padding, True, alloc)


def avg_pool_backward(dy, input_shape, ksize, strides, padding, alloc=None):
    """Gradient of avg_pool_forward: dx [N, H, W, C] = input_shape (tf.raw_ops.AvgPoolGrad)."""
    (dy,) = _check_dtype(dy)
    return _backward(None, dy, input_shape, ksize, strides, padding, False, alloc)
