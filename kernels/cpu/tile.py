"""Tile as a Numba kernel, for whole-step functions (graphflow.session.whole_step), which
cannot call np.tile."""
from numba import njit

__all__ = ["tile_into"]


@njit(cache=True)
def tile_into(x, out, x_shape, out_shape):
    """out[i] = x at (index of i in out_shape) modulo x_shape, over flat C-ordered x and
    out: ``out`` holds x repeated out_shape // x_shape times along each axis."""
    for i in range(out.size):
        rest, source, stride = i, 0, 1
        for d in range(out_shape.size - 1, -1, -1):
            position = rest % out_shape[d]
            rest //= out_shape[d]
            source += (position % x_shape[d]) * stride
            stride *= x_shape[d]
        out[i] = x[source]
