"""Matrix products on device arrays: a shared-memory tiled kernel.

``matmul(a, b, transpose_a=False, transpose_b=False)`` is ``op(a) @ op(b)`` for 2-D
C-contiguous float32 or float64 device arrays of one dtype, as kernels/cpu/matmul.matmul.
Each block computes a TILE x TILE tile of the output: per step along k it stages a tile of
op(a) and of op(b) in shared memory (reading a transposed operand in place, so transposes
cost no copy) and accumulates in the output's dtype. Edges are guarded, so any sizes work;
blocks loop over output tiles, so any grid is correct. Accumulation order differs from
BLAS's, and the GPU fuses multiply-adds: results agree with numpy to rounding.
"""
import numpy as np
from numba import cuda

from graphflow.kernels.cuda.launch import simulated

__all__ = ["matmul", "TILE", "PTX_SIGNATURES"]

# Under the simulator a block's threads are Python threads: a 4 x 4 tile keeps them few and
# runs the same code over more tiles (and more edges).
TILE = 4 if simulated() else 16
# Blocks per grid dimension at most; larger outputs reuse blocks.
_MAX_BLOCKS = 1024
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


@cuda.jit(cache=True)
def _matmul(a, b, c, transpose_a, transpose_b):
    sa = cuda.shared.array((TILE, TILE), c.dtype)
    sb = cuda.shared.array((TILE, TILE), c.dtype)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    m, n = c.shape
    k = a.shape[0] if transpose_a else a.shape[1]
    zero = c.dtype.type(0)
    for tile_row in range(cuda.blockIdx.y, (m + TILE - 1) // TILE, cuda.gridDim.y):
        for tile_col in range(cuda.blockIdx.x, (n + TILE - 1) // TILE, cuda.gridDim.x):
            row = tile_row * TILE + ty
            col = tile_col * TILE + tx
            acc = zero
            for t in range(0, k, TILE):
                p = t + tx  # op(a)[row, p] -> sa[ty, tx]
                if row < m and p < k:
                    sa[ty, tx] = a[p, row] if transpose_a else a[row, p]
                else:
                    sa[ty, tx] = zero
                q = t + ty  # op(b)[q, col] -> sb[ty, tx]
                if q < k and col < n:
                    sb[ty, tx] = b[col, q] if transpose_b else b[q, col]
                else:
                    sb[ty, tx] = zero
                cuda.syncthreads()
                for e in range(TILE):
                    acc += sa[ty, e] * sb[e, tx]
                cuda.syncthreads()
            if row < m and col < n:
                c[row, col] = acc


def matmul(a, b, transpose_a=False, transpose_b=False):
    """op(a) @ op(b) for 2-D device arrays; op transposes when its flag is set. Returns a new
    [m, n] device array of a's dtype."""
    if len(a.shape) != 2 or len(b.shape) != 2:
        raise ValueError(f"matmul takes 2-D arrays, got shapes {list(a.shape)} and "
                         f"{list(b.shape)}")
    if a.dtype != b.dtype or np.dtype(a.dtype) not in _FLOATS:
        raise TypeError(f"matmul takes two float32 or two float64 arrays, got {a.dtype} and "
                        f"{b.dtype}")
    if not (a.is_c_contiguous() and b.is_c_contiguous()):
        raise ValueError("CUDA matmul takes C-contiguous device arrays")
    m, k = (a.shape[1], a.shape[0]) if transpose_a else a.shape
    k2, n = (b.shape[1], b.shape[0]) if transpose_b else b.shape
    if k != k2:
        raise ValueError(f"Matrix size-incompatible: In[0]: {list(a.shape)}, In[1]: "
                         f"{list(b.shape)}")
    c = cuda.device_array((m, n), a.dtype)
    if m and n:
        if simulated():
            grid = (2, 2)
        else:
            grid = (min(_MAX_BLOCKS, (n + TILE - 1) // TILE),
                    min(_MAX_BLOCKS, (m + TILE - 1) // TILE))
        _matmul[grid, (TILE, TILE)](a, b, c, bool(transpose_a), bool(transpose_b))
    return c


PTX_SIGNATURES = [
    (_matmul, tuple(f"void({t}[:, ::1], {t}[:, ::1], {t}[:, ::1], boolean, boolean)"
                    for t in ("float32", "float64"))),
]
