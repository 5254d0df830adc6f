"""Reductions (Sum, Mean, Prod, Max, Min, All, Any) and ArgMax/ArgMin on device arrays.

``reduce(x, axes, kind, keepdims=False)`` gives what the CPU lowering of the op gives
(graphflow/ops/math_ops.py): the input's dtype; integer sums and products wrap in that dtype;
an integer mean is the wrapped sum divided with truncation toward zero (C++'s integer
division, as TF); a float mean is the sum divided by the count in the input's dtype (0/0 is
nan for an empty mean); max and min propagate NaN (numpy's ``np.max``); an empty reduction
gives the identity (0, 1, the lowest or highest value, False for any, True for all). Float
sums are accumulated in the input's dtype in a different order from numpy's pairwise sums:
results agree to rounding, not bit for bit.

Layout: the dims of ``x`` (C-contiguous) are grouped into runs of kept and reduced dims (size-1
dims dropped, neighbours of one kind merged), so one reduced run is ``x: [outer, red, inner]``
-> ``[outer, inner]``. ``_fold`` gives each output element ``slices`` threads, thread s folding
r = s, s + slices, ... serially; adjacent threads read adjacent addresses (along ``inner``, or
along ``red`` when inner is 1). With more than one slice the [slices, outer * inner] partial
results are folded again the same way, so a sum over all elements or over the leading axis
of [N, C] (a bias gradient) runs on many threads however few outputs there are. Several
reduced runs are reduced one after another, last run first (each pass a [outer, red, inner]
fold; integer wrapping makes the passes agree with one fold).

``argmax(x, axis, output_dtype)`` / ``argmin``: one thread per output; NaN counts as -inf
(+inf for argmin), the first of equal extremes wins, so a row of NaNs gives 0 (TF's CPU
kernel and the CPU lowering).
"""
import math

import numpy as np
from numba import cuda

from graphflow.kernels.cuda.launch import grid_1d, simulated

__all__ = ["reduce", "argmax", "argmin", "KINDS", "PTX_SIGNATURES"]

KINDS = ("sum", "mean", "prod", "max", "min", "all", "any")
_SUM, _PROD, _MAX, _MIN = 0, 1, 2, 3
# how each kind folds (mean: a sum, then divided; all and any: min and max over bools)
_FOLD = {"sum": _SUM, "mean": _SUM, "prod": _PROD, "max": _MAX, "min": _MIN, "all": _MIN,
         "any": _MAX}
_NUMERIC = frozenset(np.dtype(d) for d in ("float32", "float64", "int32", "int64"))
_BOOL = np.dtype(np.bool_)
_INDEX = frozenset(np.dtype(d) for d in ("int32", "int64"))


def _min_slice():
    """Elements one thread folds at least before a reduction is split across more threads."""
    return 4 if simulated() else 64


def _target_threads():
    """Work items a reduction is split into at most (the simulator runs one small block)."""
    return 8 if simulated() else 1 << 15


# inline="always": Numba inlines the helper in its IR; a device function compiled on its own
# needs a GPU (even under compile_ptx), so the PTX check could not compile its callers.
@cuda.jit(device=True, inline="always")
def _combine(kind, a, b):
    if kind == _SUM:
        return a + b
    if kind == _PROD:
        return a * b
    if a != a:
        return a
    if b != b:
        return b
    if kind == _MAX:
        return a if a >= b else b
    return a if a <= b else b


@cuda.jit(cache=True)
def _fold(x, out, kind, identity, outer, red, inner, slices):
    """out[s * outer * inner + o * inner + i] = fold of x[o, r, i] over r = s, s + slices, ..."""
    m_total = outer * inner
    for w in range(cuda.grid(1), m_total * slices, cuda.gridsize(1)):
        if inner == 1:
            s = w % slices
            m = w // slices
        else:
            m = w % m_total
            s = w // m_total
        base = (m // inner) * red * inner + m % inner
        acc = identity
        if s < red:
            acc = x[base + s * inner]
            for r in range(s + slices, red, slices):
                acc = _combine(kind, acc, x[base + r * inner])
        out[s * m_total + m] = acc


@cuda.jit(cache=True)
def _divide(y, count):
    """Float mean: y /= count (count in y's dtype)."""
    for i in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        y[i] = y[i] / count


@cuda.jit(cache=True)
def _divide_truncating(y, count):
    """Integer mean: y = trunc(y / count), as C++ integer division."""
    for i in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        t = np.int64(y[i])
        q = abs(t) // count
        y[i] = -q if t < 0 else q


@cuda.jit(cache=True)
def _arg_extreme(x, out, nan_fill, outer, red, inner, want_max):
    m_total = outer * inner
    for m in range(cuda.grid(1), m_total, cuda.gridsize(1)):
        base = (m // inner) * red * inner + m % inner
        best = x[base]
        if best != best:
            best = nan_fill
        k = 0
        for r in range(1, red):
            v = x[base + r * inner]
            if v != v:
                v = nan_fill
            if (v > best) if want_max else (v < best):
                best = v
                k = r
        out[m] = k


def _flat(x):
    if not x.is_c_contiguous():
        raise ValueError("CUDA reductions take C-contiguous device arrays")
    return x.reshape(x.size)


def _identity(kind, dtype):
    if kind in ("sum", "mean"):
        return dtype.type(0)
    if kind == "prod":
        return dtype.type(1)
    if kind in ("all", "any"):
        return dtype.type(kind == "all")
    lowest = kind == "max"
    if dtype.kind == "f":
        return dtype.type(-np.inf if lowest else np.inf)
    info = np.iinfo(dtype)
    return dtype.type(info.min if lowest else info.max)


def _axes(axes, rank):
    """``axes`` in [0, rank): ValueError for one out of range or given twice."""
    normal = []
    for a in axes:
        a = int(a)
        if not -rank <= a < rank:
            raise ValueError(f"Invalid reduction dimension {a} for input with {rank} "
                             "dimensions.")
        if a % rank in normal:
            raise ValueError(f"Invalid reduction arguments: Axes contains duplicate "
                             f"dimension: {a % rank}")
        normal.append(a % rank)
    return frozenset(normal)


def _runs(dims):
    """(size, reduced) runs of ``dims`` (size, reduced) pairs: size-1 dims dropped and
    neighbours of one kind merged."""
    runs = []
    for n, reduced in dims:
        if n == 1:
            continue
        if runs and runs[-1][1] == reduced:
            runs[-1] = (runs[-1][0] * n, reduced)
        else:
            runs.append((n, reduced))
    return runs


def _launch_fold(src, dest, kind, identity, outer, red, inner):
    """dest[outer * inner] = the fold of src [outer, red, inner] over red."""
    m_total = outer * inner
    if m_total == 0:  # an empty intermediate (a later fold over its 0 dim gives identities)
        return
    slices = 1
    if red >= 2 * _min_slice() and m_total < _target_threads():
        slices = min(red // _min_slice(), max(1, _target_threads() // m_total))
    if slices == 1:
        _fold[grid_1d(m_total)](src, dest, kind, identity, outer, red, inner, 1)
        return
    partial = cuda.device_array(slices * m_total, dest.dtype)
    _fold[grid_1d(slices * m_total)](src, partial, kind, identity, outer, red, inner, slices)
    _launch_fold(partial, dest, kind, identity, 1, slices, m_total)


def reduce(x, axes, kind, keepdims=False):
    """The ``kind`` reduction of device array ``x`` over ``axes`` (ints, negative from the
    end); a new device array of x's dtype, the reduced dims dropped or (``keepdims``) kept
    as 1. ``kind``: sum, mean, prod, max, min (float32, float64, int32, int64) or all, any
    (bool)."""
    if kind not in _FOLD:
        raise ValueError(f"unknown reduction {kind!r}; expected one of {', '.join(KINDS)}")
    dtype = np.dtype(x.dtype)
    allowed = (dtype == _BOOL) if kind in ("all", "any") else (dtype in _NUMERIC)
    if not allowed:
        raise TypeError(f"reduce {kind!r} does not support {dtype}")
    axes = _axes(axes, len(x.shape))
    if keepdims:
        shape = tuple(1 if d in axes else n for d, n in enumerate(x.shape))
    else:
        shape = tuple(n for d, n in enumerate(x.shape) if d not in axes)
    out = cuda.device_array(shape, dtype)
    if out.size == 0:
        return out
    fold, identity = _FOLD[kind], _identity(kind, dtype)
    src, dest = _flat(x), out.reshape(out.size)
    runs = _runs((n, d in axes) for d, n in enumerate(x.shape))
    if not any(reduced for _, reduced in runs):  # nothing to fold: a copy, as [size, 1, 1]
        _launch_fold(src, dest, fold, identity, x.size, 1, 1)
    while any(reduced for _, reduced in runs):
        k = max(i for i, (_, reduced) in enumerate(runs) if reduced)
        outer = math.prod(n for n, _ in runs[:k])
        inner = math.prod(n for n, _ in runs[k + 1:])
        red = runs[k][0]
        runs = _runs(runs[:k] + runs[k + 1:])
        target = cuda.device_array(outer * inner, dtype) \
            if any(reduced for _, reduced in runs) else dest
        _launch_fold(src, target, fold, identity, outer, red, inner)
        src = target
    if kind == "mean":
        count = math.prod(x.shape[d] for d in axes)
        if dtype.kind == "f":
            _divide[grid_1d(dest.size)](dest, dtype.type(count))
        else:
            _divide_truncating[grid_1d(dest.size)](dest, max(count, 1))
    return out


def _arg(x, axis, output_dtype, want_max):
    rank = len(x.shape)
    a = int(axis)
    if not -rank <= a < rank:
        raise ValueError(f"Expected dimension in the range [{-rank}, {rank}), but got {a}")
    a %= rank
    if x.shape[a] == 0:
        raise ValueError(f"Reduction axis {a} is empty in shape "
                         f"[{','.join(map(str, x.shape))}]")
    dtype, out_dtype = np.dtype(x.dtype), np.dtype(output_dtype)
    if dtype not in _NUMERIC:
        raise TypeError(f"argmax/argmin do not support {dtype}")
    if out_dtype not in _INDEX:
        raise TypeError(f"output_dtype must be int32 or int64, got {out_dtype}")
    out = cuda.device_array(x.shape[:a] + x.shape[a + 1:], out_dtype)
    if out.size:
        outer, inner = math.prod(x.shape[:a]), math.prod(x.shape[a + 1:])
        fill = dtype.type(-np.inf if want_max else np.inf) if dtype.kind == "f" else dtype.type(0)
        _arg_extreme[grid_1d(out.size)](_flat(x), out.reshape(out.size), fill, outer,
                                        x.shape[a], inner, want_max)
    return out


def argmax(x, axis, output_dtype=np.int64):
    """Index of the largest value along ``axis`` (NaN as -inf, the first of equals): a new
    device array of ``output_dtype`` (int32 or int64) with that axis removed."""
    return _arg(x, axis, output_dtype, True)


def argmin(x, axis, output_dtype=np.int64):
    """Index of the smallest value along ``axis`` (NaN as +inf, the first of equals)."""
    return _arg(x, axis, output_dtype, False)


def _vector(t):
    return f"{t}[::1]"


_TYPES = ("float32", "float64", "int32", "int64")
PTX_SIGNATURES = [
    (_fold, tuple(f"void({_vector(t)}, {_vector(t)}, int64, {t}, int64, int64, int64, int64)"
                  for t in _TYPES + ("boolean",))),
    (_divide, tuple(f"void({_vector(t)}, {t})" for t in ("float32", "float64"))),
    (_divide_truncating, tuple(f"void({_vector(t)}, int64)" for t in ("int32", "int64"))),
    (_arg_extreme, tuple(f"void({_vector(t)}, {_vector(i)}, {t}, int64, int64, int64, boolean)"
                         for t in _TYPES for i in ("int32", "int64"))),
]
