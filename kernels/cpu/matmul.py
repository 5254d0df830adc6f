"""Matrix products: one BLAS call, without copies.

Large products go to numpy's BLAS (multi-threaded). Products of at most SMALL_FLOPS go to
scipy's BLAS: in pip wheels a separate OpenBLAS, pinned here to one thread. A training
step's matrices are small, and a multi-threaded OpenBLAS call between Numba kernels leaves
threads spinning that steal the cores from what runs next: a [100,784]x[784,200] product
took 9-34 ms on a busy 2-core machine instead of 0.4 ms single-threaded. Where scipy and
numpy share one BLAS library (a distribution's packages), everything goes to numpy.
"""
import os

import numpy as np

# 2*M*N*K at or below which one thread is as fast as two (and never stalls)
SMALL_FLOPS = 64e6

_gemm = {}      # numpy dtype -> scipy gemm, once the single-threaded BLAS is set up
_ready = [False]


def _setup_single_threaded_blas():
    """Pins scipy's own OpenBLAS to one thread; fills _gemm only if that library is not
    numpy's (so the user's numpy keeps its threads)."""
    _ready[0] = True
    try:
        from scipy.linalg import blas
        from threadpoolctl import ThreadpoolController
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
    _gemm[np.dtype(np.float32)] = blas.sgemm
    _gemm[np.dtype(np.float64)] = blas.dgemm


def matmul(a, b, transpose_a=False, transpose_b=False, alloc=None):
    """op(a) @ op(b) for 2-D a, b; op transposes when its flag is set. ``alloc(shape,
    dtype)``, if given, allocates the product."""
    if not _ready[0]:
        _setup_single_threaded_blas()
    m, k = (a.shape[1], a.shape[0]) if transpose_a else a.shape
    n = b.shape[0] if transpose_b else b.shape[1]
    gemm = _gemm.get(a.dtype)
    if gemm is None or a.dtype != b.dtype or 2.0 * m * n * k > SMALL_FLOPS or \
            (k != (b.shape[1] if transpose_b else b.shape[0])) or m * n == 0 or k == 0:
        a, b = a.T if transpose_a else a, b.T if transpose_b else b
        if alloc is None:
            return np.matmul(a, b)
        dtype = a.dtype if a.dtype == b.dtype else np.result_type(a, b)
        return np.matmul(a, b, out=alloc((m, n), dtype))
    # Row-major C = op(a) op(b) is column-major C^T = op(b)^T op(a)^T: BLAS reads the
    # transposed views of C-ordered arrays in place, and C^T's transpose is C-ordered.
    if alloc is None:
        return gemm(1.0, b.T, a.T, trans_a=transpose_b, trans_b=transpose_a).T
    out = alloc((m, n), a.dtype)
    # beta = 0: BLAS does not read C, so the buffer's old contents (even NaN) do not matter
    return gemm(1.0, b.T, a.T, beta=0.0, c=out.T, overwrite_c=True, trans_a=transpose_b,
                trans_b=transpose_a).T
