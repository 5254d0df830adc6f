"""BiasAdd and BiasAddGrad on device arrays, as the CPU lowerings in graphflow/ops/nn_ops.py.

``bias_add(x, b, data_format)``: ``x + b`` along the channel axis, the last ('NHWC', any rank
>= 2) or the second ('NCHW', rank >= 3); one thread per element of x, in x's dtype (float32,
float64, int32, int64; integers wrap). ``bias_add_grad(dy, data_format)``: dy summed over
every axis but the channel axis (graphflow.kernels.cuda.reduce, whose leading-axis sum is the
NHWC case).
"""
import math

import numpy as np
from numba import cuda

from graphflow.kernels.cuda import reduce
from graphflow.kernels.cuda.launch import grid_1d

__all__ = ["bias_add", "bias_add_grad", "PTX_SIGNATURES"]

_DTYPES = frozenset(np.dtype(d) for d in ("float32", "float64", "int32", "int64"))


@cuda.jit(cache=True)
def _bias_add(x, b, out, channels, inner):
    """out[i] = x[i] + b[c], c the channel of flat index i: x is [outer, channels, inner]."""
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        out[i] = x[i] + b[(i // inner) % channels]


def _channel_axis(shape, data_format):
    if data_format not in ("NHWC", "NCHW"):
        raise ValueError(f"data_format must be 'NHWC' or 'NCHW', got {data_format!r}")
    least = 3 if data_format == "NCHW" else 2
    if len(shape) < least:
        raise ValueError(f"Shape must be at least rank {least} but is rank {len(shape)}")
    return 1 if data_format == "NCHW" else len(shape) - 1


def _dims_text(shape):
    return "[" + ",".join(str(d) for d in shape) + "]"


def bias_add(x, b, data_format="NHWC"):
    """x + b along x's channel axis; a new device array of x's shape and dtype."""
    shape = tuple(x.shape)
    axis = _channel_axis(shape, data_format)
    if np.dtype(x.dtype) not in _DTYPES or b.dtype != x.dtype:
        raise TypeError(f"bias_add takes a value and a bias of one dtype among float32, "
                        f"float64, int32, int64; got {x.dtype} and {b.dtype}")
    if len(b.shape) != 1 or b.shape[0] != shape[axis]:
        raise ValueError("Must provide as many biases as the channel dimension of the input "
                         f"tensor: {_dims_text(b.shape)} vs. {_dims_text(shape)}")
    if not x.is_c_contiguous():
        raise ValueError("CUDA bias_add takes a C-contiguous device array")
    out = cuda.device_array(shape, x.dtype)
    if out.size:
        _bias_add[grid_1d(out.size)](x.reshape(x.size), b, out.reshape(out.size), shape[axis],
                                     math.prod(shape[axis + 1:]))
    return out


def bias_add_grad(dy, data_format="NHWC"):
    """The bias gradient: dy summed over every axis but the channel axis; [channels]."""
    axis = _channel_axis(tuple(dy.shape), data_format)
    return reduce.reduce(dy, [d for d in range(len(dy.shape)) if d != axis], "sum")


PTX_SIGNATURES = [
    (_bias_add, tuple(f"void({t}[::1], {t}[::1], {t}[::1], int64, int64)"
                      for t in ("float32", "float64", "int32", "int64"))),
]
