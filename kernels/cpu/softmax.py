"""Softmax, log-softmax, TF's two softmax cross-entropy ops and the softmax gradients.

Rows are the last axis: ``softmax``, ``log_softmax`` and the two gradients take any rank >= 1
(the leading axes are rows); the cross-entropy ops take 2-D ``logits: [rows, classes]``, as TF's
kernels do. Inputs are float32 or float64 (sparse labels int32 or int64); outputs are new
C-contiguous arrays of the input's dtype.

Numerics: each row is shifted by its maximum before ``exp``, so logits of any finite size (e.g.
+-1e4) give finite results; the row sums of ``exp`` are accumulated in float64 and the
element-wise formulas follow TF's kernels (``softmax = exp(x - max) * (1 / sum)``,
``log_softmax = (x - max) - log(sum)``, ``backprop = exp(x - max) / sum - labels``).

Each kernel is a ``_<name>_span(lo, hi, ...)`` over the row range [lo, hi) that handles a row
entirely before the next (one pass while the row is in cache); the serial path calls it once,
the parallel path once per thread from a ``prange``.
"""
import math

import numba
import numpy as np
from numba import njit, prange

__all__ = [
    "softmax",
    "log_softmax",
    "softmax_cross_entropy",
    "sparse_softmax_cross_entropy",
    "softmax_grad",
    "log_softmax_grad",
]

# Element count from which a kernel splits its rows across Numba's threads; None keeps every
# call serial. Off by default: a training step's logits ([100, 10] in the seed models) take
# ~5 us serially, less than waking a sleeping Numba worker (40-70 us here).
PARALLEL_MIN_SIZE = None

# error_model="numpy": no zero-division checks, so the element loops vectorise.
_KERNEL = dict(cache=True, error_model="numpy")

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_LABEL_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))


def _rows_view(x, name, matrix=False):
    """x as a C-contiguous [rows, classes] array (a view when x already is contiguous)."""
    if x.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got {x.dtype}")
    if matrix and x.ndim != 2:
        raise ValueError(f"{name} must be 2-dimensional [rows, classes], got shape {list(x.shape)}")
    if x.ndim == 0:
        raise ValueError(f"{name} must have rank at least 1, got a scalar")
    return np.ascontiguousarray(x).reshape(math.prod(x.shape[:-1]), x.shape[-1])


def _same(a, b, a_name, b_name):
    if a.shape != b.shape or a.dtype != b.dtype:
        raise ValueError(f"{a_name} {a.dtype}{list(a.shape)} and {b_name} {b.dtype}{list(b.shape)} "
                         "must have the same shape and dtype")


def _parallel_chunks(size):
    """Number of row chunks for the parallel path, or 0 to run serially."""
    if PARALLEL_MIN_SIZE is not None and size >= PARALLEL_MIN_SIZE:
        return numba.get_num_threads()
    return 0


@njit(**_KERNEL)
def _row_max(row):
    m = row[0]
    for j in range(1, row.size):
        if row[j] > m:
            m = row[j]
    return m


# Plain sums may be reassociated, which lets them vectorise (6x on 1000-wide rows); the float64
# accumulator keeps them at least as accurate as TF's float32 tree sums.
@njit(fastmath={"reassoc"}, **_KERNEL)
def _sum(a):
    s = 0.0
    for j in range(a.size):
        s += a[j]
    return s


@njit(fastmath={"reassoc"}, **_KERNEL)
def _dot(a, b):
    s = 0.0
    for j in range(a.size):
        s += a[j] * b[j]
    return s


@njit(**_KERNEL)
def _exp_shifted(row, out, m):
    """out = exp(row - m); returns the sum of out in float64."""
    s = 0.0
    for j in range(row.size):
        e = np.exp(row[j] - m)
        out[j] = e
        s += e
    return s


# --- softmax and log_softmax ----------------------------------------------------------------

@njit(**_KERNEL)
def _softmax_span(lo, hi, x, out):
    for r in range(lo, hi):
        o = out[r]
        inv = x.dtype.type(1.0 / _exp_shifted(x[r], o, _row_max(x[r])))
        for j in range(o.size):
            o[j] *= inv


@njit(parallel=True, **_KERNEL)
def _softmax_parallel(chunks, x, out):
    n = x.shape[0]
    for c in prange(chunks):
        _softmax_span(c * n // chunks, (c + 1) * n // chunks, x, out)


@njit(**_KERNEL)
def _log_softmax_span(lo, hi, x, out):
    for r in range(lo, hi):
        row = x[r]
        o = out[r]
        m = _row_max(row)
        log_sum = x.dtype.type(np.log(_exp_shifted(row, o, m)))
        for j in range(row.size):
            o[j] = (row[j] - m) - log_sum


@njit(parallel=True, **_KERNEL)
def _log_softmax_parallel(chunks, x, out):
    n = x.shape[0]
    for c in prange(chunks):
        _log_softmax_span(c * n // chunks, (c + 1) * n // chunks, x, out)


def _row_op(span, parallel, x, name, alloc):
    rows = _rows_view(x, name)
    out = (alloc or np.empty)(x.shape, rows.dtype).reshape(rows.shape)
    if rows.size:
        chunks = _parallel_chunks(rows.size)
        if chunks:
            parallel(chunks, rows, out)
        else:
            span(0, rows.shape[0], rows, out)
    return out.reshape(x.shape)


def softmax(logits, alloc=None):
    """``exp(logits) / sum(exp(logits), -1)`` along the last axis; shape and dtype of logits.
    ``alloc(shape, dtype)``, if given, allocates the result (as for each kernel here)."""
    return _row_op(_softmax_span, _softmax_parallel, logits, "logits", alloc)


def log_softmax(logits, alloc=None):
    """``logits - log(sum(exp(logits), -1))`` along the last axis; shape and dtype of logits."""
    return _row_op(_log_softmax_span, _log_softmax_parallel, logits, "logits", alloc)


# --- SoftmaxCrossEntropyWithLogits ------------------------------------------------------------

@njit(**_KERNEL)
def _xent_span(lo, hi, logits, labels, loss, backprop):
    t = logits.dtype.type
    for r in range(lo, hi):
        row = logits[r]
        lab = labels[r]
        bp = backprop[r]
        m = _row_max(row)
        s = _exp_shifted(row, bp, m)
        log_sum = t(np.log(s))
        total = t(s)
        acc = 0.0
        for j in range(row.size):
            acc += lab[j] * (log_sum - (row[j] - m))
            bp[j] = bp[j] / total - lab[j]
        loss[r] = acc


@njit(parallel=True, **_KERNEL)
def _xent_parallel(chunks, logits, labels, loss, backprop):
    n = logits.shape[0]
    for c in prange(chunks):
        _xent_span(c * n // chunks, (c + 1) * n // chunks, logits, labels, loss, backprop)


def softmax_cross_entropy(logits, labels, alloc=None):
    """TF's SoftmaxCrossEntropyWithLogits on ``logits, labels: [rows, classes]``.

    Returns ``loss: [rows]`` = ``-sum(labels * log_softmax(logits), -1)`` and
    ``backprop: [rows, classes]`` = ``softmax(logits) - labels``, both in one pass per row.
    Labels need not be one-hot; backprop is the gradient of the loss when each label row sums
    to 1 (TF computes it the same way regardless). ``alloc``, if given, is a pair of
    ``alloc(shape, dtype)`` callables that allocate loss and backprop.
    """
    _same(logits, labels, "logits", "labels")
    x = _rows_view(logits, "logits", matrix=True)
    y = np.ascontiguousarray(labels)
    loss_alloc, backprop_alloc = alloc or (np.empty, np.empty)
    loss = loss_alloc(x.shape[:1], x.dtype)
    backprop = backprop_alloc(x.shape, x.dtype)
    if not x.size:
        loss.fill(0)  # rows of no classes
    else:
        chunks = _parallel_chunks(x.size)
        if chunks:
            _xent_parallel(chunks, x, y, loss, backprop)
        else:
            _xent_span(0, x.shape[0], x, y, loss, backprop)
    return loss, backprop


# --- SparseSoftmaxCrossEntropyWithLogits ------------------------------------------------------

@njit(**_KERNEL)
def _sparse_xent_span(lo, hi, logits, labels, loss, backprop):
    """Returns the first row in [lo, hi) whose label is out of range, or -1."""
    t = logits.dtype.type
    n = logits.shape[1]
    for r in range(lo, hi):
        k = labels[r]
        if k < 0 or k >= n:
            return r
        row = logits[r]
        bp = backprop[r]
        m = _row_max(row)
        s = _exp_shifted(row, bp, m)
        loss[r] = t(np.log(s)) - (row[k] - m)
        total = t(s)
        for j in range(n):
            bp[j] = bp[j] / total
        bp[k] -= t(1)
    return -1


@njit(parallel=True, **_KERNEL)
def _sparse_xent_parallel(chunks, logits, labels, loss, backprop):
    n = logits.shape[0]
    bad = np.empty(chunks, np.int64)
    for c in prange(chunks):
        bad[c] = _sparse_xent_span(c * n // chunks, (c + 1) * n // chunks, logits, labels, loss,
                                   backprop)
    for c in range(chunks):
        if bad[c] >= 0:
            return bad[c]
    return -1


def sparse_softmax_cross_entropy(logits, labels):
    """TF's SparseSoftmaxCrossEntropyWithLogits on ``logits: [rows, classes]`` and
    ``labels: [rows]`` int32 or int64 class indices.

    Returns ``loss: [rows]`` = ``-log_softmax(logits)[r, labels[r]]`` and
    ``backprop: [rows, classes]`` = ``softmax(logits) - one_hot(labels)``. Raises ValueError,
    worded as TF's InvalidArgumentError, when a label is outside [0, classes) or there are no
    classes.
    """
    x = _rows_view(logits, "logits", matrix=True)
    if labels.dtype not in _LABEL_DTYPES:
        raise TypeError(f"labels must be int32 or int64, got {labels.dtype}")
    if labels.shape != (x.shape[0],):
        raise ValueError(f"labels must be [rows] for logits of shape {list(x.shape)}, got shape "
                         f"{list(labels.shape)}")
    if x.shape[1] == 0 and x.shape[0]:
        raise ValueError("Must have at least one class, but got logits shape "
                         f"[{x.shape[0]},{x.shape[1]}]")
    y = np.ascontiguousarray(labels)
    loss = np.empty(x.shape[0], x.dtype)
    backprop = np.empty(x.shape, x.dtype)
    chunks = _parallel_chunks(x.size)
    if chunks:
        bad = _sparse_xent_parallel(chunks, x, y, loss, backprop)
    else:
        bad = _sparse_xent_span(0, x.shape[0], x, y, loss, backprop)
    if bad >= 0:
        raise ValueError(f"Received a label value of {y[bad]} which is outside the valid range of "
                         f"[0, {x.shape[1]}).  Label values: {' '.join(map(str, y.tolist()))}")
    return loss, backprop


# --- gradients ------------------------------------------------------------------------------

@njit(**_KERNEL)
def _softmax_grad_span(lo, hi, y, dy, dx):
    for r in range(lo, hi):
        yr = y[r]
        dyr = dy[r]
        dxr = dx[r]
        dot = y.dtype.type(_dot(dyr, yr))
        for j in range(yr.size):
            dxr[j] = (dyr[j] - dot) * yr[j]


@njit(parallel=True, **_KERNEL)
def _softmax_grad_parallel(chunks, y, dy, dx):
    n = y.shape[0]
    for c in prange(chunks):
        _softmax_grad_span(c * n // chunks, (c + 1) * n // chunks, y, dy, dx)


@njit(**_KERNEL)
def _log_softmax_grad_span(lo, hi, out, dy, dx):
    for r in range(lo, hi):
        o = out[r]
        dyr = dy[r]
        dxr = dx[r]
        total = out.dtype.type(_sum(dyr))
        for j in range(o.size):
            dxr[j] = dyr[j] - total * np.exp(o[j])


@njit(parallel=True, **_KERNEL)
def _log_softmax_grad_parallel(chunks, out, dy, dx):
    n = out.shape[0]
    for c in prange(chunks):
        _log_softmax_grad_span(c * n // chunks, (c + 1) * n // chunks, out, dy, dx)


def _grad_op(span, parallel, out, dy, out_name, alloc):
    _same(out, dy, out_name, "dy")
    rows = _rows_view(out, out_name)
    dyr = np.ascontiguousarray(dy).reshape(rows.shape)
    dx = (alloc or np.empty)(out.shape, rows.dtype).reshape(rows.shape)
    if rows.size:
        chunks = _parallel_chunks(rows.size)
        if chunks:
            parallel(chunks, rows, dyr, dx)
        else:
            span(0, rows.shape[0], rows, dyr, dx)
    return dx.reshape(out.shape)


def softmax_grad(softmax_out, dy, alloc=None):
    """Gradient of ``y = softmax(x)``: ``dx = (dy - sum(dy * y, -1, keepdims)) * y``, given y."""
    return _grad_op(_softmax_grad_span, _softmax_grad_parallel, softmax_out, dy, "softmax_out",
                    alloc)


def log_softmax_grad(log_softmax_out, dy, alloc=None):
    """Gradient of ``z = log_softmax(x)``: ``dx = dy - exp(z) * sum(dy, -1, keepdims)``, given z."""
    return _grad_op(_log_softmax_grad_span, _log_softmax_grad_parallel, log_softmax_out, dy,
                    "log_softmax_out", alloc)
