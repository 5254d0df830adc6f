"""2-D convolution on the GPU, NHWC: forward and both gradients, plain and depthwise.

The same functions, arguments, dtype rules and errors as kernels/cpu/conv.py, on device
arrays. Shapes: x [N, H, W, C], w [KH, KW, C, F], y [N, OH, OW, F]; depthwise w [KH, KW, C, M]
and y [N, OH, OW, C*M] with output channel c*M + m. float32 or float64, accumulated in that
dtype. Output size and TF's padding come from cpu.conv.conv_output_shape.

Three direct kernels serve both kinds, written for a grouped convolution: G groups of
Cg = C / G input channels, w [KH, KW, Cg, F], output channel f reading group f // (F / G).
conv2d is G = 1; depthwise is G = C with w viewed as [KH, KW, 1, C*M] (a reshape, no copy).
Each kernel gives one thread per element of its result, in a grid-stride loop:
  _forward        y[n, oh, ow, f]: sum over taps and the group's input channels;
  _backprop_input dx[n, h, w, c]: gather from the output pixels whose window covers (h, w);
  _backprop_filter dw[kh, kw, j, f]: sum over images and output pixels.
No atomics: every result element is summed by one thread in a fixed order, so results are
reproducible bit for bit. The fastest-varying index across threads is the last one, so a
warp reads consecutive filter or dy values and broadcasts the shared input value.

Device helpers are inline="always": Numba inlines them into each kernel before typing. A
separately compiled device function asks the current GPU for its compute capability, so
compile_ptx without a GPU (the PTX tests) could not compile the kernels that call it.
"""
from numba import cuda, types

from ..cpu.conv import (check_float_dtypes, check_grad_shape, checked_arguments,
                        conv_output_shape)
from .launch import grid_1d

__all__ = [
    "conv2d_forward",
    "conv2d_backprop_input",
    "conv2d_backprop_filter",
    "depthwise_conv2d_forward",
    "depthwise_conv2d_backprop_input",
    "depthwise_conv2d_backprop_filter",
]


# --------------------------------------------------------------------------- device helpers

@cuda.jit(device=True, inline="always")
def as_dtype(value, like):
    """`value` converted to the element type of array `like` (kernels have no dtype casts:
    a Python 0.0 would make a float32 accumulator float64)."""
    cell = cuda.local.array(1, like.dtype)
    cell[0] = value
    return cell[0]


@cuda.jit(device=True, inline="always")
def unravel(i, shape):
    """The 4-D index of flat position i in a C-ordered array of `shape`."""
    d = i % shape[3]
    i //= shape[3]
    c = i % shape[2]
    i //= shape[2]
    return i // shape[1], i % shape[1], c, d


@cuda.jit(device=True, inline="always")
def _source(out, stride, pad, tap, dilation, size):
    """The input position tap `tap` of output position `out` reads, or -1 in the padding."""
    pos = out * stride - pad + tap * dilation
    return pos if 0 <= pos < size else -1


@cuda.jit(device=True, inline="always")
def _target(pos, stride, pad, tap, dilation, size):
    """The output position whose tap `tap` reads input position `pos`, or -1 if none."""
    t = pos + pad - tap * dilation
    if t < 0 or t % stride != 0 or t // stride >= size:
        return -1
    return t // stride


# --------------------------------------------------------------------------- kernels

@cuda.jit(cache=True)
def _forward(x, w, y, groups, sh, sw, dh, dw, pt, pl):
    """y[n, oh, ow, f] = sum over kh, kw, j < Cg of
    xpad[n, oh*sh + kh*dh, ow*sw + kw*dw, g*Cg + j] * w[kh, kw, j, f], g = f // (F / G)."""
    per_group = y.shape[3] // groups
    for i in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        n, oh, ow, f = unravel(i, y.shape)
        c0 = (f // per_group) * w.shape[2]
        acc = as_dtype(0, y)
        for kh in range(w.shape[0]):
            h = _source(oh, sh, pt, kh, dh, x.shape[1])
            if h >= 0:
                for kw in range(w.shape[1]):
                    col = _source(ow, sw, pl, kw, dw, x.shape[2])
                    if col >= 0:
                        for j in range(w.shape[2]):
                            acc += x[n, h, col, c0 + j] * w[kh, kw, j, f]
        y[n, oh, ow, f] = acc


@cuda.jit(cache=True)
def _backprop_input(dy, w, dx, groups, sh, sw, dh, dw, pt, pl):
    """dx[n, h, col, c] = sum over the taps (kh, kw) that read (h, col) from some output pixel
    (oh, ow), and over the F / G output channels f of c's group, of dy[n, oh, ow, f] *
    w[kh, kw, c % Cg, f]."""
    per_group = dy.shape[3] // groups
    for i in range(cuda.grid(1), dx.size, cuda.gridsize(1)):
        n, h, col, c = unravel(i, dx.shape)
        j = c % w.shape[2]
        f0 = (c // w.shape[2]) * per_group
        acc = as_dtype(0, dx)
        for kh in range(w.shape[0]):
            oh = _target(h, sh, pt, kh, dh, dy.shape[1])
            if oh >= 0:
                for kw in range(w.shape[1]):
                    ow = _target(col, sw, pl, kw, dw, dy.shape[2])
                    if ow >= 0:
                        for f in range(f0, f0 + per_group):
                            acc += dy[n, oh, ow, f] * w[kh, kw, j, f]
        dx[n, h, col, c] = acc


@cuda.jit(cache=True)
def _backprop_filter(x, dy, dfilter, groups, sh, sw, dh, dw, pt, pl):
    """dfilter[kh, kw, j, f] = sum over n, oh, ow of
    xpad[n, oh*sh + kh*dh, ow*sw + kw*dw, g*Cg + j] * dy[n, oh, ow, f], g = f // (F / G)."""
    per_group = dy.shape[3] // groups
    for i in range(cuda.grid(1), dfilter.size, cuda.gridsize(1)):
        kh, kw, j, f = unravel(i, dfilter.shape)
        c = (f // per_group) * dfilter.shape[2] + j
        acc = as_dtype(0, dfilter)
        for n in range(x.shape[0]):
            for oh in range(dy.shape[1]):
                h = _source(oh, sh, pt, kh, dh, x.shape[1])
                if h >= 0:
                    for ow in range(dy.shape[2]):
                        col = _source(ow, sw, pl, kw, dw, x.shape[2])
                        if col >= 0:
                            acc += x[n, h, col, c] * dy[n, oh, ow, f]
        dfilter[kh, kw, j, f] = acc


def _signatures(*dtypes):
    """(array, array, array, groups, sh, sw, dh, dw, pt, pl) for each dtype."""
    result = []
    for dtype in dtypes:
        array = types.Array(dtype, 4, 'C')
        result.append(types.void(array, array, array, *[types.int64] * 7))
    return tuple(result)


PTX_SIGNATURES = [(kernel, _signatures(types.float32, types.float64))
                  for kernel in (_forward, _backprop_input, _backprop_filter)]


# --------------------------------------------------------------------------- host side

def _check_dtype(*arrays):
    check_float_dtypes('conv', *arrays)


def _geometry(input_shape, filter_shape, strides, padding, dilations):
    """((OH, OW), kernel arguments (sh, sw, dh, dw, pt, pl)) after the CPU kernel's checks."""
    input_shape, filter_shape, strides, padding, dilations = checked_arguments(
        input_shape, filter_shape, strides, padding, dilations)
    out_hw, ((pt, _), (pl, _)) = conv_output_shape(input_shape[1:3], filter_shape[:2], strides,
                                                   padding, dilations)
    return out_hw, (*strides, *dilations, pt, pl)


def _depthwise_geometry(input_shape, filter_shape, strides, padding, dilations):
    kh, kw, chans, mult = (int(s) for s in filter_shape)
    if int(input_shape[3]) != chans:
        raise ValueError(f'depthwise conv2d: input has {input_shape[3]} channels, the filter '
                         f'{chans}')
    return _geometry(input_shape, (kh, kw, chans, chans * mult), strides, padding, dilations)


def _grouped_filter(w):
    """Depthwise w [KH, KW, C, M] as the grouped kernels' [KH, KW, 1, C*M] (a view)."""
    kh, kw, chans, mult = w.shape
    return w.reshape(kh, kw, 1, chans * mult)


def _launch(kernel, a, b, out, groups, geo):
    """kernel(a, b, out, groups, *geo) over the elements of `out`; returns out."""
    if out.size:
        blocks, threads = grid_1d(out.size)
        kernel[blocks, threads](a, b, out, groups, *geo)
    return out


def conv2d_forward(x, w, strides=(1, 1), padding='VALID', dilations=(1, 1)):
    """y[n, oh, ow, f] = sum over kh, kw, c of
        xpad[n, oh*sh + kh*dh, ow*sw + kw*dw, c] * w[kh, kw, c, f],
    xpad being x zero-padded by (pt, pl) on top and left.

    x [N, H, W, C], w [KH, KW, C, F] -> y [N, OH, OW, F] (tf.nn.conv2d, NHWC).
    """
    _check_dtype(x, w)
    out_hw, geo = _geometry(x.shape, w.shape, strides, padding, dilations)
    y = cuda.device_array((x.shape[0], *out_hw, w.shape[3]), x.dtype)
    return _launch(_forward, x, w, y, 1, geo)


def conv2d_backprop_input(dy, w, input_shape, strides=(1, 1), padding='VALID', dilations=(1, 1)):
    """Gradient of conv2d_forward with respect to x: dx [N, H, W, C] = input_shape.

    dy [N, OH, OW, F] must have the forward output shape for input_shape.
    """
    _check_dtype(dy, w)
    out_hw, geo = _geometry(input_shape, w.shape, strides, padding, dilations)
    check_grad_shape(dy.shape, input_shape[0], out_hw, w.shape[3])
    dx = cuda.device_array(tuple(int(s) for s in input_shape), dy.dtype)
    return _launch(_backprop_input, dy, w, dx, 1, geo)


def conv2d_backprop_filter(x, dy, filter_shape, strides=(1, 1), padding='VALID', dilations=(1, 1)):
    """Gradient of conv2d_forward with respect to w: dw [KH, KW, C, F] = filter_shape."""
    _check_dtype(x, dy)
    out_hw, geo = _geometry(x.shape, filter_shape, strides, padding, dilations)
    check_grad_shape(dy.shape, x.shape[0], out_hw, filter_shape[3])
    dw = cuda.device_array(tuple(int(s) for s in filter_shape), x.dtype)
    return _launch(_backprop_filter, x, dy, dw, 1, geo)


def depthwise_conv2d_forward(x, w, strides=(1, 1), padding='VALID', dilations=(1, 1)):
    """y[n, oh, ow, c*M + m] = sum over kh, kw of xpad[n, oh*sh + kh*dh, ow*sw + kw*dw, c] *
    w[kh, kw, c, m].

    x [N, H, W, C], w [KH, KW, C, M] -> y [N, OH, OW, C*M] (tf.nn.depthwise_conv2d_native).
    """
    _check_dtype(x, w)
    out_hw, geo = _depthwise_geometry(x.shape, w.shape, strides, padding, dilations)
    y = cuda.device_array((x.shape[0], *out_hw, w.shape[2] * w.shape[3]), x.dtype)
    return _launch(_forward, x, _grouped_filter(w), y, w.shape[2], geo)


def depthwise_conv2d_backprop_input(dy, w, input_shape, strides=(1, 1), padding='VALID',
                                    dilations=(1, 1)):
    """Gradient of depthwise_conv2d_forward with respect to x: dx [N, H, W, C] = input_shape."""
    _check_dtype(dy, w)
    out_hw, geo = _depthwise_geometry(input_shape, w.shape, strides, padding, dilations)
    check_grad_shape(dy.shape, input_shape[0], out_hw, w.shape[2] * w.shape[3])
    dx = cuda.device_array(tuple(int(s) for s in input_shape), dy.dtype)
    return _launch(_backprop_input, dy, _grouped_filter(w), dx, w.shape[2], geo)


def depthwise_conv2d_backprop_filter(x, dy, filter_shape, strides=(1, 1), padding='VALID',
                                     dilations=(1, 1)):
    """Gradient of depthwise_conv2d_forward with respect to w: dw [KH, KW, C, M] = filter_shape."""
    _check_dtype(x, dy)
    out_hw, geo = _depthwise_geometry(x.shape, filter_shape, strides, padding, dilations)
    kh, kw, chans, mult = (int(s) for s in filter_shape)
    check_grad_shape(dy.shape, x.shape[0], out_hw, chans * mult)
    dw = cuda.device_array((kh, kw, 1, chans * mult), x.dtype)
    _launch(_backprop_filter, x, dy, dw, chans, geo)
    return dw.reshape(kh, kw, chans, mult)
