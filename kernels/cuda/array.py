"""Tile and Transpose on device arrays, as np.tile / np.transpose (the CPU lowerings in
graphflow/ops/array_ops.py), for any dtype of the fused kernels (float32, float64, int32,
int64, bool) and rank up to ``MAX_RANK``.

Both are one gather kernel: one thread per output element (a grid-stride loop) splits its
flat index into output coordinates, and reads the input element at
``sum((coord[d] % in_dims[d]) * in_strides[d])``. Transpose permutes the input's strides
(the modulo is a no-op); Tile takes each coordinate modulo the input's dim. Shapes and
strides travel as tuples of ``MAX_RANK`` ints (leading dims padded with size 1, stride 0).
Results are new C-contiguous device arrays (the CPU's transpose returns a view).
"""
import math

import numpy as np
from numba import cuda

from graphflow.kernels.cuda.launch import grid_1d

__all__ = ["tile", "transpose", "MAX_RANK", "PTX_SIGNATURES"]

MAX_RANK = 6
_DTYPES = frozenset(np.dtype(d) for d in ("float32", "float64", "int32", "int64", "bool"))


@cuda.jit(cache=True)
def _gather(x, out, out_dims, in_dims, in_strides):
    for j in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        r = j
        offset = 0
        for d in range(MAX_RANK - 1, -1, -1):
            c = r % out_dims[d]
            r //= out_dims[d]
            offset += (c % in_dims[d]) * in_strides[d]
        out[j] = x[offset]


def _c_strides(shape):
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= n
    return strides[::-1]


def _padded(values, fill):
    return (fill,) * (MAX_RANK - len(values)) + tuple(int(v) for v in values)


def _check(x):
    if np.dtype(x.dtype) not in _DTYPES:
        raise TypeError(f"CUDA tile/transpose do not support {x.dtype}")
    if len(x.shape) > MAX_RANK:
        raise ValueError(f"CUDA tile/transpose take rank at most {MAX_RANK}, got {len(x.shape)}")
    if not x.is_c_contiguous():
        raise ValueError("CUDA tile/transpose take C-contiguous device arrays")


def _gathered(x, out_shape, in_dims, in_strides):
    out = cuda.device_array(out_shape, x.dtype)
    if out.size:
        _gather[grid_1d(out.size)](x.reshape(x.size), out.reshape(out.size),
                                   _padded(out_shape, 1), _padded(in_dims, 1),
                                   _padded(in_strides, 0))
    return out


def transpose(x, perm):
    """np.transpose(x, perm) as a new device array; ValueError for a bad permutation."""
    _check(x)
    shape, perm = tuple(x.shape), [int(p) for p in perm]
    rank = len(shape)
    if len(perm) != rank:
        raise ValueError(f"transpose expects a vector of size {rank}. But input(1) is a vector "
                         f"of size {len(perm)}")
    for p in perm:
        if not 0 <= p < rank:
            raise ValueError(f"perm dim {p} is out of range of input rank {rank}")
    for i in range(rank):
        if i not in perm:
            raise ValueError(f"{i} is missing from {{{','.join(str(p) for p in perm)}}}.")
    out_shape = tuple(shape[p] for p in perm)
    strides = _c_strides(shape)
    return _gathered(x, out_shape, out_shape, [strides[p] for p in perm])


def tile(x, multiples):
    """np.tile(x, multiples) with one multiple per dim of x, as a new device array."""
    _check(x)
    shape, multiples = tuple(x.shape), [int(m) for m in multiples]
    if len(multiples) != len(shape):
        raise ValueError(f"Expected multiples argument to be a vector of length {len(shape)} "
                         f"but got length {len(multiples)}")
    for i, m in enumerate(multiples):
        if m < 0:
            raise ValueError(f"Expected multiples[{i}] >= 0, but got {m}")
    out_shape = tuple(n * m for n, m in zip(shape, multiples))
    if math.prod(shape) == 0:  # nothing to read: the output is empty too
        return cuda.device_array(out_shape, x.dtype)
    return _gathered(x, out_shape, shape, _c_strides(shape))


PTX_SIGNATURES = [
    (_gather, tuple(f"void({t}[::1], {t}[::1], UniTuple(int64, {MAX_RANK}), "
                    f"UniTuple(int64, {MAX_RANK}), UniTuple(int64, {MAX_RANK}))"
                    for t in ("float32", "float64", "int32", "int64", "boolean"))),
]
