"""Matrix products: BLAS calls on Numba's threads, without copies.

Products of at most SMALL_FLOPS (every product of a training step at the tutorials' sizes)
call scipy's BLAS from a Numba kernel: in pip wheels a separate OpenBLAS, pinned here to one
thread, called once per thread on a block of the output rows (or columns) by a ``prange``
over Numba's own threads. OpenBLAS's threads are never woken for them: a multi-threaded
OpenBLAS call between Numba kernels leaves threads spinning that steal the cores from what
runs next (a [100,784]x[784,200] product took 9-34 ms on a busy 2-core machine instead of
0.4 ms single-threaded). The kernel releases the GIL. Larger products go to numpy's BLAS
(multi-threaded), as do products scipy's BLAS cannot take (integers, mixed dtypes, operands
whose rows are not unit-stride). Where scipy and numpy share one BLAS library (a
distribution's packages), everything goes to numpy, which keeps its threads.
"""
import os

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic

from ._tiled import threads_for

# 2*M*N*K above which numpy's multi-threaded BLAS takes the product
SMALL_FLOPS = 64e6
# flops a thread must get before a second one pays off: measured here, a [100,784]x[784,200]
# product takes 0.34 ms on one thread and 0.23 ms on two; one of 4 MFLOP gains nothing
THREAD_GRAIN = 8e6

_KIND = {}      # numpy dtype -> BLAS kind letter, once the single-threaded BLAS is set up
_ready = [False]
_KERNEL = dict(cache=True, nogil=True)


def _setup_single_threaded_blas():
    """Pins scipy's own OpenBLAS to one thread and loads it for Numba; fills _KIND only if
    that library is not numpy's (so the user's numpy keeps its threads)."""
    _ready[0] = True
    try:
        from numba.np.linalg import ensure_blas
        from threadpoolctl import ThreadpoolController
        ensure_blas()  # numba_xxgemm calls scipy.linalg.cython_blas; raises without it
    except ImportError:
        return
    numpy_dir = os.path.dirname(os.path.dirname(np.__file__))
    numpy_libs = os.path.join(numpy_dir, "numpy.libs")
    controllers = [c for c in ThreadpoolController().lib_controllers
                   if c.user_api == "blas" and "scipy" in os.path.basename(c.filepath)
                   and not c.filepath.startswith(numpy_libs)]
    if len(controllers) != 1:
        return
    controllers[0].set_num_threads(1)
    _KIND[np.dtype(np.float32)] = ord("s")
    _KIND[np.dtype(np.float64)] = ord("d")


# Numba's own entry to the BLAS it loaded (np.dot calls it too): kind ('s' or 'd'), transa,
# transb, m, n, k, &alpha, a, lda, b, ldb, &beta, c, ldc; column-major, as Fortran's ?gemm.
_xxgemm = types.ExternalFunction("numba_xxgemm", types.intc(
    types.char, types.char, types.char, types.intp, types.intp, types.intp, types.voidptr,
    types.voidptr, types.intp, types.voidptr, types.intp, types.voidptr, types.voidptr,
    types.intp))


@intrinsic
def _address(typingctx, array):
    """The address of an array's first element (of the view, not of its base)."""
    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        return builder.bitcast(data, context.get_value_type(types.voidptr))
    return types.voidptr(array), codegen


_NO, _YES = ord("n"), ord("t")


@njit(**_KERNEL)
def gemm_into(kind, a, b, out, ta, tb):
    """out = op(a) @ op(b) for row-major operands with unit-stride rows.

    Row-major C = op(a) op(b) is column-major C^T = op(b)^T op(a)^T: BLAS reads each
    row-major array as its column-major transpose, in place, with the row stride as leading
    dimension. beta = 0: BLAS does not read C, so old contents (even NaN) do not matter.
    """
    m, n = out.shape
    k = a.shape[0] if ta else a.shape[1]
    item = out.itemsize
    alpha, beta = np.ones(1, out.dtype), np.zeros(1, out.dtype)
    _xxgemm(kind, _YES if tb else _NO, _YES if ta else _NO, n, m, k, _address(alpha),
            _address(b), b.strides[0] // item, _address(a), a.strides[0] // item,
            _address(beta), _address(out), out.strides[0] // item)


@njit(parallel=True, **_KERNEL)
def gemm_parallel(kind, a, b, out, ta, tb, parts, by_rows):
    """gemm_into on ``parts`` blocks of out's rows (``by_rows``) or columns, one per thread."""
    size = out.shape[0] if by_rows else out.shape[1]
    for t in prange(parts):
        lo, hi = size * t // parts, size * (t + 1) // parts
        if by_rows:
            gemm_into(kind, a[:, lo:hi] if ta else a[lo:hi], b, out[lo:hi], ta, tb)
        else:
            gemm_into(kind, a, b[lo:hi] if tb else b[:, lo:hi], out[:, lo:hi], ta, tb)


def _blas_rows(x, rows, cols):
    """True when BLAS can read 2-D ``x`` (stored [rows, cols]) with its row stride as leading
    dimension: unit-stride rows and a row stride of at least one row's length."""
    item = x.itemsize
    return (x.strides[1] == item or cols <= 1) and x.strides[0] % item == 0 and \
        x.strides[0] >= item * max(cols, 1)


def gemm_plan(m, n, k):
    """(parts, by_rows) for an [m, k] x [k, n] product: threads worth using, and whether they
    split the output's rows (else its columns): the longer side, so blocks stay wide."""
    flops = 2.0 * m * n * k
    return (1 if flops < 2 * THREAD_GRAIN else threads_for(flops, THREAD_GRAIN)), m >= n


def gemm_kind(m, n, k, dtype):
    """The ``kind`` argument of gemm_into for an [m, k] x [k, n] product of ``dtype``, or None
    when numpy takes it: not float32/float64, no separate single-threaded BLAS, empty, or
    above SMALL_FLOPS."""
    if not _ready[0]:
        _setup_single_threaded_blas()
    if m * n == 0 or k == 0 or 2.0 * m * n * k > SMALL_FLOPS:
        return None
    return _KIND.get(np.dtype(dtype))


def matmul(a, b, transpose_a=False, transpose_b=False, alloc=None):
    """op(a) @ op(b) for 2-D a, b; op transposes when its flag is set. ``alloc(shape,
    dtype)``, if given, allocates the product."""
    m, k = (a.shape[1], a.shape[0]) if transpose_a else a.shape
    n = b.shape[0] if transpose_b else b.shape[1]
    kind = gemm_kind(m, n, k, a.dtype)
    if kind is None or a.dtype != b.dtype or \
            (k != (b.shape[1] if transpose_b else b.shape[0])) or \
            not (_blas_rows(a, *a.shape) and _blas_rows(b, *b.shape)):
        a, b = a.T if transpose_a else a, b.T if transpose_b else b
        if alloc is None:
            return np.matmul(a, b)
        dtype = a.dtype if a.dtype == b.dtype else np.result_type(a, b)
        return np.matmul(a, b, out=alloc((m, n), dtype))
    out = np.empty((m, n), a.dtype) if alloc is None else alloc((m, n), a.dtype)
    parts, by_rows = gemm_plan(m, n, k)
    if parts == 1:  # (a prange of one still costs a few microseconds)
        gemm_into(kind, a, b, out, transpose_a, transpose_b)
    else:
        gemm_parallel(kind, a, b, out, transpose_a, transpose_b, parts, by_rows)
    return out
