"""Softmax, log-softmax, TF's two softmax cross-entropy ops and the softmax gradients on
device arrays: the counterparts of kernels/cpu/softmax.py, with its signatures, shapes,
dtypes (float32, float64; sparse labels int32, int64) and formulas.

One block per row (blocks loop over rows): the block's threads stride along the row and
combine their partial max and sums in shared memory. Each row is shifted by its maximum
before ``exp``; row sums are accumulated in float64 and the element-wise formulas are the
CPU kernel's (``softmax = exp(x - max) * (1 / sum)``, ``log_softmax = (x - max) - log(sum)``,
``backprop = exp(x - max) / sum - labels``), so results agree with it to rounding (the sums
are added in another order, exp is libdevice's).

One difference, TF's own: a sparse label outside [0, classes) does not raise (that would
need the labels on the host) but gives NaN for that row's loss and backprop, as TF's GPU
kernel does.
"""
import math

import numpy as np
from numba import cuda

from graphflow.kernels.cuda.launch import simulated

__all__ = [
    "softmax",
    "log_softmax",
    "softmax_cross_entropy",
    "sparse_softmax_cross_entropy",
    "softmax_grad",
    "log_softmax_grad",
    "PTX_SIGNATURES",
]

# Threads per block at most (a power of two: the shared-memory reductions halve it).
BLOCK = 128
_MAX_BLOCKS = 4096
_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_LABEL_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))
# exp and log: the math module's on the GPU; under the simulator, which runs kernels as
# Python, numpy's, which give -inf and nan where math's raise (log(0) with no classes).
_libm = np if simulated() else math


# inline="always": Numba inlines the helper in its IR; a device function compiled on its own
# needs a GPU (even under compile_ptx), so the PTX check could not compile its callers.
@cuda.jit(device=True, inline="always")
def _block_combine(shared, value, maximum):
    """The max (or sum) of ``value`` over the block's threads, returned to every thread."""
    tid = cuda.threadIdx.x
    shared[tid] = value
    cuda.syncthreads()
    half = cuda.blockDim.x // 2
    while half > 0:
        if tid < half:
            other = shared[tid + half]
            if maximum:
                if other > shared[tid]:
                    shared[tid] = other
            else:
                shared[tid] += other
        cuda.syncthreads()
        half //= 2
    result = shared[0]
    cuda.syncthreads()
    return result


@cuda.jit(device=True, inline="always")
def _row_max(shared, x, r):
    m = -math.inf
    for j in range(cuda.threadIdx.x, x.shape[1], cuda.blockDim.x):
        if x[r, j] > m:
            m = x[r, j]
    return x.dtype.type(_block_combine(shared, m, True))


@cuda.jit(device=True, inline="always")
def _exp_shifted(shared, x, r, out, m):
    """out[r] = exp(x[r] - m); returns the row sum of out in float64."""
    s = 0.0
    for j in range(cuda.threadIdx.x, x.shape[1], cuda.blockDim.x):
        e = x.dtype.type(_libm.exp(x[r, j] - m))
        out[r, j] = e
        s += e
    return _block_combine(shared, s, False)


@cuda.jit(cache=True)
def _softmax(x, out):
    shared = cuda.shared.array(BLOCK, np.float64)
    t = x.dtype.type
    for r in range(cuda.blockIdx.x, x.shape[0], cuda.gridDim.x):
        inv = t(1.0 / _exp_shifted(shared, x, r, out, _row_max(shared, x, r)))
        for j in range(cuda.threadIdx.x, x.shape[1], cuda.blockDim.x):
            out[r, j] *= inv


@cuda.jit(cache=True)
def _log_softmax(x, out):
    shared = cuda.shared.array(BLOCK, np.float64)
    t = x.dtype.type
    for r in range(cuda.blockIdx.x, x.shape[0], cuda.gridDim.x):
        m = _row_max(shared, x, r)
        log_sum = t(_libm.log(_exp_shifted(shared, x, r, out, m)))
        for j in range(cuda.threadIdx.x, x.shape[1], cuda.blockDim.x):
            out[r, j] = (x[r, j] - m) - log_sum


@cuda.jit(cache=True)
def _xent(logits, labels, loss, backprop):
    shared = cuda.shared.array(BLOCK, np.float64)
    t = logits.dtype.type
    for r in range(cuda.blockIdx.x, logits.shape[0], cuda.gridDim.x):
        m = _row_max(shared, logits, r)
        s = _exp_shifted(shared, logits, r, backprop, m)
        log_sum = t(_libm.log(s))
        total = t(s)
        acc = 0.0
        for j in range(cuda.threadIdx.x, logits.shape[1], cuda.blockDim.x):
            acc += labels[r, j] * (log_sum - (logits[r, j] - m))
            backprop[r, j] = backprop[r, j] / total - labels[r, j]
        acc = _block_combine(shared, acc, False)
        if cuda.threadIdx.x == 0:
            loss[r] = acc


@cuda.jit(cache=True)
def _sparse_xent(logits, labels, loss, backprop):
    shared = cuda.shared.array(BLOCK, np.float64)
    t = logits.dtype.type
    n = logits.shape[1]
    for r in range(cuda.blockIdx.x, logits.shape[0], cuda.gridDim.x):
        k = labels[r]
        if k < 0 or k >= n:  # the whole block takes this branch: no barrier is skipped
            for j in range(cuda.threadIdx.x, n, cuda.blockDim.x):
                backprop[r, j] = t(math.nan)
            if cuda.threadIdx.x == 0:
                loss[r] = t(math.nan)
            continue
        m = _row_max(shared, logits, r)
        s = _exp_shifted(shared, logits, r, backprop, m)
        total = t(s)
        for j in range(cuda.threadIdx.x, n, cuda.blockDim.x):
            v = backprop[r, j] / total
            if j == k:
                v -= t(1)
            backprop[r, j] = v
        if cuda.threadIdx.x == 0:
            loss[r] = t(_libm.log(s)) - (logits[r, k] - m)


@cuda.jit(cache=True)
def _softmax_grad(y, dy, dx):
    shared = cuda.shared.array(BLOCK, np.float64)
    t = y.dtype.type
    for r in range(cuda.blockIdx.x, y.shape[0], cuda.gridDim.x):
        s = 0.0
        for j in range(cuda.threadIdx.x, y.shape[1], cuda.blockDim.x):
            s += dy[r, j] * y[r, j]
        dot = t(_block_combine(shared, s, False))
        for j in range(cuda.threadIdx.x, y.shape[1], cuda.blockDim.x):
            dx[r, j] = (dy[r, j] - dot) * y[r, j]


@cuda.jit(cache=True)
def _log_softmax_grad(out, dy, dx):
    shared = cuda.shared.array(BLOCK, np.float64)
    t = out.dtype.type
    for r in range(cuda.blockIdx.x, out.shape[0], cuda.gridDim.x):
        s = 0.0
        for j in range(cuda.threadIdx.x, out.shape[1], cuda.blockDim.x):
            s += dy[r, j]
        total = t(_block_combine(shared, s, False))
        for j in range(cuda.threadIdx.x, out.shape[1], cuda.blockDim.x):
            dx[r, j] = dy[r, j] - total * t(_libm.exp(out[r, j]))


def _launch(kernel, rows, classes, *args):
    """One block per row (looping when there are more rows than blocks)."""
    if simulated():  # two small blocks: every simulated thread is a Python thread
        grid, threads = min(rows, 2), 4
    else:
        grid, threads = min(rows, _MAX_BLOCKS), 32
        while threads < min(classes, BLOCK):
            threads *= 2
    kernel[grid, threads](*args)


def _rows_view(x, name, matrix=False):
    """x as a [rows, classes] device array (a reshape: x must be C-contiguous)."""
    if np.dtype(x.dtype) not in _FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got {x.dtype}")
    if matrix and len(x.shape) != 2:
        raise ValueError(f"{name} must be 2-dimensional [rows, classes], got shape "
                         f"{list(x.shape)}")
    if len(x.shape) == 0:
        raise ValueError(f"{name} must have rank at least 1, got a scalar")
    if not x.is_c_contiguous():
        raise ValueError(f"{name} must be a C-contiguous device array")
    shape = tuple(x.shape)  # the simulator's shapes refuse negative indices
    return x.reshape(math.prod(shape[:-1]), shape[-1])


def _same(a, b, a_name, b_name):
    if a.shape != b.shape or a.dtype != b.dtype:
        raise ValueError(f"{a_name} {a.dtype}{list(a.shape)} and {b_name} {b.dtype}"
                         f"{list(b.shape)} must have the same shape and dtype")


def _row_op(kernel, x, name):
    rows = _rows_view(x, name)
    out = cuda.device_array(rows.shape, rows.dtype)
    if rows.shape[0] and rows.shape[1]:
        _launch(kernel, *rows.shape, rows, out)
    return out.reshape(x.shape)


def softmax(logits):
    """``exp(logits) / sum(exp(logits), -1)`` along the last axis; shape and dtype of logits."""
    return _row_op(_softmax, logits, "logits")


def log_softmax(logits):
    """``logits - log(sum(exp(logits), -1))`` along the last axis; shape and dtype of logits."""
    return _row_op(_log_softmax, logits, "logits")


def softmax_cross_entropy(logits, labels):
    """TF's SoftmaxCrossEntropyWithLogits on ``logits, labels: [rows, classes]``: returns
    ``loss: [rows]`` = ``-sum(labels * log_softmax(logits), -1)`` and ``backprop`` =
    ``softmax(logits) - labels``."""
    _same(logits, labels, "logits", "labels")
    x = _rows_view(logits, "logits", matrix=True)
    loss = cuda.device_array(x.shape[0], x.dtype)
    backprop = cuda.device_array(x.shape, x.dtype)
    if x.shape[0]:  # with no classes the kernel still writes each loss (0)
        _launch(_xent, *x.shape, x, _rows_view(labels, "labels"), loss, backprop)
    return loss, backprop


def sparse_softmax_cross_entropy(logits, labels):
    """TF's SparseSoftmaxCrossEntropyWithLogits on ``logits: [rows, classes]`` and
    ``labels: [rows]`` int32 or int64 class indices: returns ``loss: [rows]`` =
    ``-log_softmax(logits)[r, labels[r]]`` and ``backprop`` = ``softmax(logits) -
    one_hot(labels)``; NaN rows where a label is outside [0, classes) (TF's GPU kernel)."""
    x = _rows_view(logits, "logits", matrix=True)
    if np.dtype(labels.dtype) not in _LABEL_DTYPES:
        raise TypeError(f"labels must be int32 or int64, got {labels.dtype}")
    if labels.shape != (x.shape[0],):
        raise ValueError(f"labels must be [rows] for logits of shape {list(x.shape)}, got "
                         f"shape {list(labels.shape)}")
    if x.shape[1] == 0 and x.shape[0]:
        raise ValueError("Must have at least one class, but got logits shape "
                         f"[{x.shape[0]},{x.shape[1]}]")
    loss = cuda.device_array(x.shape[0], x.dtype)
    backprop = cuda.device_array(x.shape, x.dtype)
    if x.shape[0]:
        _launch(_sparse_xent, *x.shape, x, labels, loss, backprop)
    return loss, backprop


def _grad_op(kernel, out, dy, out_name):
    _same(out, dy, out_name, "dy")
    rows = _rows_view(out, out_name)
    dx = cuda.device_array(rows.shape, rows.dtype)
    if rows.shape[0] and rows.shape[1]:
        _launch(kernel, *rows.shape, rows, _rows_view(dy, "dy"), dx)
    return dx.reshape(out.shape)


def softmax_grad(softmax_out, dy):
    """Gradient of ``y = softmax(x)``: ``dx = (dy - sum(dy * y, -1, keepdims)) * y``, given y."""
    return _grad_op(_softmax_grad, softmax_out, dy, "softmax_out")


def log_softmax_grad(log_softmax_out, dy):
    """Gradient of ``z = log_softmax(x)``: ``dx = dy - exp(z) * sum(dy, -1, keepdims)``, given z."""
    return _grad_op(_log_softmax_grad, log_softmax_out, dy, "log_softmax_out")


def _signatures(arrays):
    return tuple(f"void({', '.join(a.format(t=t) for a in arrays)})"
                 for t in ("float32", "float64"))


_MATRIX, _VECTOR = "{t}[:, ::1]", "{t}[::1]"
PTX_SIGNATURES = [
    (_softmax, _signatures([_MATRIX] * 2)),
    (_log_softmax, _signatures([_MATRIX] * 2)),
    (_xent, _signatures([_MATRIX, _MATRIX, _VECTOR, _MATRIX])),
    (_sparse_xent, tuple(f"void({t}[:, ::1], {i}[::1], {t}[::1], {t}[:, ::1])"
                         for t in ("float32", "float64") for i in ("int32", "int64"))),
    (_softmax_grad, _signatures([_MATRIX] * 3)),
    (_log_softmax_grad, _signatures([_MATRIX] * 3)),
]
