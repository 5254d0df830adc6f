"""Sums over the leading axes of a C-contiguous array: the bias gradient's reduction.

numpy reduces x[N, H, W, C] over (0, 1, 2) one C-wide row at a time: 1.75 ms for
[100, 28, 28, 4] float32 here, the largest op of a convnet training step after the
convolutions. Seen flat, the sum is ``out[j % C] += flat[j]``; accumulating ``LANES``
consecutive elements (a multiple of C) side by side makes the inner loop a contiguous
vector add: 31 us for the same array.

Accumulation is in float64 for float32 and float64 alike, then rounded once to the input
dtype: more accurate than numpy's float32 pairwise sum on these shapes (max error on
[100, 28, 28, 4] uniform [0, 1): 0.0019 vs numpy's 0.35), and independent of the thread
count (serial: memory-bound already).
"""
import numpy as np
from numba import njit

__all__ = ["sum_leading_axes"]

LANES = 64  # accumulators of the inner loop: 64 float64s fill 16 AVX-512 or 32 AVX2 registers


@njit(cache=True, error_model="numpy")
def _sum_columns(flat, columns):
    """out[c] = sum of flat[c::columns], for flat.size a multiple of columns."""
    width = LANES // columns * columns if columns <= LANES else columns
    rows = flat.size // width
    lanes = np.zeros(width, np.float64)
    for r in range(rows):
        base = r * width
        for j in range(width):
            lanes[j] += flat[base + j]
    done = rows * width  # a multiple of columns, so the tail keeps its column index
    for j in range(done, flat.size):
        lanes[j - done] += flat[j]
    out = np.zeros(columns, np.float64)
    for j in range(width):
        out[j % columns] += lanes[j]
    return out


def sum_leading_axes(x, count):
    """The sum of ``x`` over its first ``count`` axes, in x's dtype (float32 or float64).

    ``x`` must be C-contiguous with 0 < count < x.ndim; the result has shape x.shape[count:].
    """
    if not x.flags.c_contiguous or not 0 < count < x.ndim or \
            x.dtype not in (np.float32, np.float64):
        raise ValueError(f"sum_leading_axes needs a C-contiguous float array and 0 < count < "
                         f"ndim, got {x.dtype} {x.shape} count={count}")
    trailing = x.shape[count:]
    columns = int(np.prod(trailing))
    if columns == 0 or x.size == 0:
        return np.zeros(trailing, x.dtype)
    return _sum_columns(x.reshape(-1), columns).astype(x.dtype).reshape(trailing)
