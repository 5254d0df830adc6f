"""Convolution and pooling ops (TF1's tf.nn.conv2d, conv2d_transpose, depthwise_conv2d,
max_pool, avg_pool) with their gradient ops, each registered beside its gradient.

Op types and their inputs, as TF1 builds them:

    Conv2D(input, filter)                               -> output
    Conv2DBackpropInput(input_sizes, filter, out_backprop)  -> d input (conv2d_transpose)
    Conv2DBackpropFilter(input, filter_sizes, out_backprop) -> d filter
    DepthwiseConv2dNative(input, filter) and its two Backprop ops, alike
    MaxPool(input); MaxPoolGrad(orig_input, orig_output, grad)
    AvgPool(value); AvgPoolGrad(orig_input_shape, grad)

Attrs are TF's: 4-element ``strides``/``dilations``/``ksize`` in the op's data_format,
``padding`` "SAME", "VALID" or "EXPLICIT" with ``explicit_paddings`` (8 ints, the pads before
and after each dimension). Layout: "NHWC" (default) or "NCHW"; the kernels of
graphflow.kernels.cpu.conv and .pool are NHWC only, so an NCHW op transposes around its kernel.
The kernels take float32 and float64; float16 runs in float32 and is rounded back. They are
imported when a plan first lowers one of these ops: building a graph never imports Numba.

Shape inference computes output sizes with TF's windowed-output rule (_output_size) and
raises TF's "Negative dimension size" error at build time when the sizes are known; sizes
known only at run time are checked by the kernels, whose errors become InvalidArgumentError
naming the op.
"""
import contextlib

import numpy as np

from graphflow.framework import dtypes, errors
from graphflow.framework import ops as ops_lib
from graphflow.framework.registry import Lowering, register_native, register_op
from graphflow.framework.tensor_shape import TensorShape
from graphflow.ops import array_ops, constant_op, op_util
from graphflow.session.whole_step import NotNative

_FORMATS = ("NHWC", "NCHW")


# --- attrs: TF1's argument normalisation ------------------------------------------------------

@contextlib.contextmanager
def _scope(name, default_name, values):
    """TF1's ``name_scope(name, default_name, values)`` in the values' graph; yields the scope
    string ("Conv2D/"), which names an op exactly when passed as its name."""
    graph = op_util.graph_for([v for v in values if v is not None])
    with graph.as_default(), graph.name_scope(name or default_name) as scope:
        yield scope


def _data_format(data_format, op_type):
    data_format = data_format or "NHWC"
    if data_format not in _FORMATS:
        raise ValueError(f"Attr 'data_format' of '{op_type}' Op passed string "
                         f"'{data_format}' not in: \"NHWC\", \"NCHW\".")
    return data_format


def _sequence(value, name, data_format):
    """TF's _get_sequence for 2-D ops: an int or a list of 1, 2 or 4 ints -> 4 ints in the
    data_format's order (1 in the batch and channel positions when 1 or 2 are given)."""
    if value is None:
        return [1, 1, 1, 1]
    if isinstance(value, (int, np.integer)):
        value = [value]
    value = [int(v) for v in value]
    if len(value) == 4:
        return value
    if len(value) not in (1, 2):
        raise ValueError(f"{name} should be of length 1, 2 or 4. Received: {name}={value} of "
                         f"length {len(value)}")
    h, w = value * 2 if len(value) == 1 else value
    return [1, 1, h, w] if data_format == "NCHW" else [1, h, w, 1]


def _padding_attrs(padding, op_type):
    """TF's convert_padding: ("SAME" | "VALID", []) or ("EXPLICIT", 8 ints) for a list of
    four (before, after) pairs."""
    if isinstance(padding, (list, tuple)):
        flat = []
        for i, pair in enumerate(padding):
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise ValueError(f"When padding is a list, each element of padding must be a "
                                 f"list/tuple of size 2. Element with index {i} of padding is "
                                 f"{pair!r}")
            flat.extend(int(p) for p in pair)
        if len(padding) != 4:
            raise ValueError(f"When padding is a list, it must be of size 4. Got padding of "
                             f"size: {len(padding)}")
        return "EXPLICIT", flat
    if padding == "EXPLICIT":
        raise ValueError('"EXPLICIT" is not a valid value for the padding parameter. To use '
                         'explicit padding, the padding parameter must be a list.')
    if padding not in ("SAME", "VALID"):
        raise ValueError(f"Attr 'padding' of '{op_type}' Op passed string '{padding}' not "
                         f"in: \"SAME\", \"VALID\", \"EXPLICIT\".")
    return padding, []


def _conv_attrs(strides, padding, data_format, dilations, op_type):
    data_format = _data_format(data_format, op_type)
    padding, explicit = _padding_attrs(padding, op_type)
    return {"strides": _sequence(strides, "strides", data_format), "padding": padding,
            "explicit_paddings": explicit, "data_format": data_format,
            "dilations": _sequence(dilations, "dilations", data_format)}


def _public_attrs(op):
    """The op's TF attrs, without graphflow's private ones ("_cond"), for a related op."""
    return {k: v for k, v in op.attrs.items() if not k.startswith("_")}


class _Window:
    """An op's spatial parameters in the kernels' terms: (h, w) pairs, and padding 'SAME',
    'VALID' or ((top, bottom), (left, right)). Checks what the kernels cannot take."""

    def __init__(self, attrs, sizes_key="dilations"):
        self.nchw = attrs["data_format"] == "NCHW"
        h, w = (2, 3) if self.nchw else (1, 2)
        strides = attrs["strides"]
        other = attrs.get(sizes_key, [1, 1, 1, 1])
        batch, depth = 0, (1 if self.nchw else 3)
        if strides[batch] != 1 or strides[depth] != 1:
            raise ValueError("Current implementation does not yet support strides in the "
                             "batch and depth dimensions.")
        if other[batch] != 1 or other[depth] != 1:
            what = "pooling" if sizes_key == "ksize" else "dilations"
            raise ValueError(f"Current implementation does not yet support {what} in the "
                             "batch and depth dimensions.")
        if min(strides[h], strides[w], other[h], other[w]) < 1:
            raise ValueError(f"strides {strides} and {sizes_key} {other} must be positive")
        self.strides = (strides[h], strides[w])
        self.sizes = (other[h], other[w])
        if attrs["padding"] == "EXPLICIT":
            p = attrs["explicit_paddings"]
            if p[2 * batch] or p[2 * batch + 1] or p[2 * depth] or p[2 * depth + 1]:
                raise ValueError("Nonzero explicit padding in the batch or depth dimensions "
                                 "is not supported")
            if min(p) < 0:
                raise ValueError(f"All elements of explicit_paddings must be nonnegative, "
                                 f"got {p}")
            self.padding = ((p[2 * h], p[2 * h + 1]), (p[2 * w], p[2 * w + 1]))
        else:
            self.padding = attrs["padding"]

    def to_nhwc(self, dims):
        """Dims (a 4-sequence) of a tensor in the op's layout, in NHWC order."""
        n, a, b, c = dims
        return (n, b, c, a) if self.nchw else (n, a, b, c)

    def from_nhwc(self, dims):
        n, h, w, c = dims
        return (n, c, h, w) if self.nchw else (n, h, w, c)

    def output_hw(self, in_hw, kernel_hw, dilations=(1, 1)):
        return tuple(_output_size(in_hw[i], kernel_hw[i], self.strides[i], dilations[i],
                                  self.padding if isinstance(self.padding, str)
                                  else self.padding[i]) for i in range(2))


def _output_size(size, kernel, stride, dilation, padding):
    """TF's GetWindowedOutputSize along one axis; None when size or kernel is unknown.
    padding: 'SAME', 'VALID' or (before, after)."""
    if size is None or kernel is None:
        return None
    effective = (kernel - 1) * dilation + 1
    if padding == "SAME":
        return -(-size // stride)
    padded = size if padding == "VALID" else size + padding[0] + padding[1]
    if padded < effective:
        raise ValueError(f"Negative dimension size caused by subtracting {effective} from "
                         f"{padded}")
    return (padded - effective) // stride + 1


def _rank4(shape):
    if shape.ndims is None:
        return (None,) * 4
    if shape.ndims != 4:
        raise ValueError(f"Shape must be rank 4 but is rank {shape.ndims}")
    return shape.as_tuple()


def _sizes_value(tensor):
    """The build-time dims (ints and Nones) of a vector of 4 sizes."""
    if not tensor.shape.is_compatible_with([4]):
        raise ValueError(f"Sizes must be a vector of 4 elements, got shape {tensor.shape}")
    value = array_ops.shape_tensor_value(tensor)
    return (None,) * 4 if value is None else tuple(None if v is None or v < 0 else v
                                                  for v in value)


def _merge(a, b):
    return a if a is not None else b


def _shape_of(tensor):
    """``tensor``'s shape as an int32 Const when fully known, else a Shape op."""
    if tensor.shape.is_fully_defined():
        return constant_op.constant(tensor.shape.as_list(), dtype=dtypes.int32, name="Shape")
    return array_ops.shape(tensor)


# --- running kernels ------------------------------------------------------------------------------

def _kernel(site, body, float_inputs):
    """``body`` run on NHWC float32/float64 arrays as the op's kernel.

    Inputs at positions ``float_inputs`` are cast from float16 to float32 (and the result
    back); a kernel's ValueError or TypeError becomes InvalidArgumentError naming the op.
    ``body`` takes ``alloc`` last (None where the result is not its own output: float16).
    """
    op = site.op
    half = site.output_dtypes[0] is dtypes.float16

    def run(*args, alloc=None):
        if half:
            args = [a.astype(np.float32) if i in float_inputs else a for i, a in enumerate(args)]
            alloc = None
        try:
            out = body(*args, alloc)
        except (ValueError, TypeError) as e:
            raise errors.InvalidArgumentError(None, op, str(e)) from None
        return out.astype(np.float16) if half else out
    return run


def _with_sizes(site, index, body, float_inputs):
    """A kernel over all inputs; the sizes vector at ``index`` is baked in when it is a
    constant when the plan is built (then the kernel takes only the other inputs)."""
    run = _kernel(site, body, float_inputs)
    sizes = site.const_input(index)
    if sizes is None:
        return run
    others = tuple(i for i in range(len(site.input_dtypes)) if i != index)

    def run_known(*args, alloc=None):
        args = list(args)
        args.insert(index, sizes)
        return run(*args, alloc=alloc)
    return run_known, others


def _nhwc(x, nchw):
    return x.transpose(0, 2, 3, 1) if nchw else x


def _back(y, nchw):
    return np.ascontiguousarray(y.transpose(0, 3, 1, 2)) if nchw else y


# --- Conv2D and DepthwiseConv2dNative, with their gradients ---------------------------------------
# The two families share shapes and structure; a _ConvFamily names each one's op types, the
# output depth rule and the kernels.

class _ConvFamily:
    def __init__(self, forward, backprop_input, backprop_filter, kernel_names, depthwise):
        self.forward, self.backprop_input, self.backprop_filter = \
            forward, backprop_input, backprop_filter
        self.kernel_names = kernel_names
        self.depthwise = depthwise

    def kernels(self):
        from graphflow.kernels.cpu import conv  # imports numba: first plan only
        return [getattr(conv, name) for name in self.kernel_names]

    def out_depth(self, in_depth, filter_dims):
        _, _, filter_in, last = filter_dims
        if in_depth is not None and filter_in is not None and in_depth != filter_in:
            if self.depthwise:
                raise ValueError(f"Dimensions must be equal, but are {in_depth} and "
                                 f"{filter_in}")
            raise ValueError(f"Depth of input ({in_depth}) is not a multiple of input depth "
                             f"of filter ({filter_in})" if in_depth % filter_in else
                             f"Depth of input ({in_depth}) is a multiple of the filter's input "
                             f"depth ({filter_in}): grouped convolution is not supported")
        if not self.depthwise:
            return last
        return None if last is None or filter_in is None else filter_in * last

    def output_shape(self, window, input_shape, filter_shape):
        """The forward output's static shape (in the op's layout)."""
        n, h, w, c = window.to_nhwc(_rank4(input_shape))
        fdims = _rank4(filter_shape)
        depth = self.out_depth(c, fdims)
        oh, ow = window.output_hw((h, w), fdims[:2], window.sizes)
        return TensorShape(window.from_nhwc((n, oh, ow, depth)))


def _check_same_dtype(op, a, b, names):
    if a.dtype is not b.dtype:
        raise TypeError(f"Input '{names[1]}' of '{op.type}' Op has type {b.dtype.name} that "
                        f"does not match type {a.dtype.name} of argument '{names[0]}'.")
    if a.dtype not in op_util.FLOATS:
        raise TypeError(f"Value passed to parameter '{names[0]}' has DataType "
                        f"{a.dtype.name} not in list of allowed values: float16, float32, "
                        f"float64")


def _forward_infer(family):
    def infer(op):
        x, w = op.inputs
        _check_same_dtype(op, x, w, ("input", "filter"))
        return [(x.dtype, family.output_shape(_Window(op.attrs), x.shape, w.shape))]
    return infer


def _backprop_input_infer(family):
    def infer(op):
        sizes, w, dy = op.inputs
        _check_same_dtype(op, w, dy, ("filter", "out_backprop"))
        window = _Window(op.attrs)
        n, h, wd, c = window.to_nhwc(_sizes_value(sizes))
        fdims = _rank4(w.shape)
        dyn = window.to_nhwc(_rank4(dy.shape))[0]
        family.out_depth(c, fdims)
        depth = _merge(c, fdims[2])
        return [(w.dtype, TensorShape(window.from_nhwc((_merge(n, dyn), h, wd, depth))))]
    return infer


def _backprop_filter_infer(family):
    def infer(op):
        x, sizes, dy = op.inputs
        _check_same_dtype(op, x, dy, ("input", "out_backprop"))
        fdims = _sizes_value(sizes)
        c = _Window(op.attrs).to_nhwc(_rank4(x.shape))[3]
        family.out_depth(c, fdims)
        return [(x.dtype, TensorShape((fdims[0], fdims[1], _merge(fdims[2], c), fdims[3])))]
    return infer


def _forward_lower(family):
    def lower(site, state):
        forward = family.kernels()[0]
        window = _Window(site.attrs)
        nchw = window.nchw
        args = (window.strides, window.padding, window.sizes)

        def body(x, w, alloc):
            return _back(forward(_nhwc(x, nchw), w, *args, alloc=None if nchw else alloc), nchw)
        return _kernel(site, body, (0, 1))
    return lower


def _backprop_input_lower(family):
    def lower(site, state):
        backprop = family.kernels()[1]
        window = _Window(site.attrs)
        nchw = window.nchw
        args = (window.strides, window.padding, window.sizes)

        def body(sizes, w, dy, alloc):
            shape = window.to_nhwc(tuple(int(s) for s in sizes))
            return _back(backprop(_nhwc(dy, nchw), w, shape, *args,
                                  alloc=None if nchw else alloc), nchw)
        return _with_sizes(site, 0, body, (1, 2))
    return lower


def _backprop_filter_lower(family):
    def lower(site, state):
        backprop = family.kernels()[2]
        window = _Window(site.attrs)
        nchw = window.nchw
        args = (window.strides, window.padding, window.sizes)

        def body(x, sizes, dy, alloc):
            return backprop(_nhwc(x, nchw), _nhwc(dy, nchw), tuple(int(s) for s in sizes), *args,
                            alloc=alloc)
        return _with_sizes(site, 1, body, (0, 2))
    return lower


def _register_family(family):
    """The three ops of a family. Each is linear in each of its two array inputs, so every
    gradient is another op of the family (second derivatives included)."""
    fwd, bin_, bfil = family.forward, family.backprop_input, family.backprop_filter

    def make(op_type, inputs, op):
        return op_util.make(op_type, inputs, _public_attrs(op))

    def forward_grad(op, dy):
        x, w = op.inputs
        return [make(bin_, [_shape_of(x), w, dy], op), make(bfil, [x, _shape_of(w), dy], op)]

    def backprop_input_grad(op, g):
        _, w, dy = op.inputs
        return [None, make(bfil, [g, _shape_of(w), dy], op), make(fwd, [g, w], op)]

    def backprop_filter_grad(op, g):
        x, _, dy = op.inputs
        return [make(bin_, [_shape_of(x), g, dy], op), None, make(fwd, [x, g], op)]

    register_op(fwd, _forward_infer(family),
                cpu=Lowering(_forward_lower(family), allocates=True), grad=forward_grad)
    register_op(bin_, _backprop_input_infer(family),
                cpu=Lowering(_backprop_input_lower(family), allocates=True),
                grad=backprop_input_grad)
    register_op(bfil, _backprop_filter_infer(family),
                cpu=Lowering(_backprop_filter_lower(family), allocates=True),
                grad=backprop_filter_grad)


_CONV2D = _ConvFamily("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter",
                      ("conv2d_forward", "conv2d_backprop_input", "conv2d_backprop_filter"),
                      depthwise=False)
_DEPTHWISE = _ConvFamily("DepthwiseConv2dNative", "DepthwiseConv2dNativeBackpropInput",
                         "DepthwiseConv2dNativeBackpropFilter",
                         ("depthwise_conv2d_forward", "depthwise_conv2d_backprop_input",
                          "depthwise_conv2d_backprop_filter"), depthwise=True)
_register_family(_CONV2D)
_register_family(_DEPTHWISE)


# --- native forms (whole-step compilation): Conv2D and its gradients --------------------------
# The same kernels as the CPU kernels above, called from the compiled step with the geometry
# of the specialisation's shapes as constants.

def _native_window(site, w, *float_inputs):
    window = _Window(site.attrs)
    if window.nchw:
        raise NotNative(f"{site.type} in NCHW")
    for i in float_inputs:
        if w.dtype(i) not in (np.float32, np.float64):
            raise NotNative(f"{site.type} on {w.dtype(i)}")
    return window.strides, window.padding, window.sizes


def _native_gather(w, call, src, w2, dtype):
    """Output 0 = the gather kernel over ``src`` with the filter ``w2`` packed."""
    from graphflow.kernels.cpu import conv
    out, packed = w.out(), w.local()
    dtype = f"np.{np.dtype(dtype).name}"
    w.line(f"{out} = np.empty({call.out_shape!r}, {dtype})")
    w.line(f"{packed} = np.empty({call.packed_shape!r}, {dtype})")
    w.line(f"{w.function(conv.pack_filter)}({w2}, {w.constant(call.wsel)}, {packed})")
    w.line(f"{w.function(conv.gather_kernel)}({src}, {packed}, {out}, "
           f"{w.constant(call.plan)}, {w.constant(call.table)}, {w.constant(call.koff)}, "
           f"{call.threads})")


def native_conv2d(site, w):
    """Conv2D's native form (also the product of _FusedConv2D)."""
    from graphflow.kernels.cpu import conv
    args = _native_window(site, w, 0, 1)
    call = conv.forward_call(w.shape(0), w.shape(1), *args)
    _native_gather(w, call, w.arg(0), f"{w.arg(1)}.reshape({call.w2_shape!r})", w.dtype(0))


def _native_conv2d_backprop_input(site, w):
    from graphflow.kernels.cpu import conv
    args = _native_window(site, w, 1, 2)
    sizes = w.static_value(0)
    if sizes is None:
        raise NotNative("Conv2DBackpropInput with input sizes computed at run time")
    call = conv.backprop_input_call(tuple(int(d) for d in sizes), w.shape(1), *args)
    w2 = f"np.ascontiguousarray(np.transpose({w.arg(1)}, (0, 1, 3, 2))).reshape(" \
         f"{call.w2_shape!r})"
    _native_gather(w, call, w.arg(2), w2, w.dtype(2))


def _native_conv2d_backprop_filter(site, w):
    from graphflow.kernels.cpu import conv
    args = _native_window(site, w, 0, 2)
    sizes = w.static_value(1)
    if sizes is None:
        raise NotNative("Conv2DBackpropFilter with filter sizes computed at run time")
    kh, kw, chans, feat = (int(d) for d in sizes)
    call = conv.OuterCall(w.shape(0), (kh, kw, chans, feat), *args)
    dtype = f"np.{w.dtype(0).name}"
    out, partial = w.out(), w.local()
    w.line(f"{partial} = np.zeros({call.partial_shape!r}, {dtype})")
    w.line(f"{w.function(conv.outer_kernel)}({w.arg(0)}, {w.arg(2)}, "
           f"{w.constant(call.outer_plan)}, {w.constant(call.moff)}, {partial})")
    w.line(f"{out} = np.empty({(kh, kw, chans, feat)!r}, {dtype})")
    w.line(f"{w.function(conv.fold_filter_grad)}({partial}, {w.constant(call.fold)}, "
           f"{out}.reshape(({kh * kw}, {chans}, {feat})))")


register_native("Conv2D", native_conv2d)
register_native("Conv2DBackpropInput", _native_conv2d_backprop_input)
register_native("Conv2DBackpropFilter", _native_conv2d_backprop_filter)


def _sizes(value, name="input_sizes"):
    return ops_lib.convert_to_tensor(value, dtype=dtypes.int32, name=name) \
        if not ops_lib.is_tensor_like(value) else op_util.as_tensor(value)


def conv2d(input, filter=None, strides=None, padding=None, use_cudnn_on_gpu=True,
           data_format="NHWC", dilations=(1, 1, 1, 1), name=None, filters=None):
    """tf.nn.conv2d: input [N, H, W, C] (or NCHW), filter [KH, KW, C, F] -> [N, OH, OW, F].

    strides and dilations: an int or 1, 2 or 4 ints; padding 'SAME', 'VALID' or the explicit
    [[0, 0], [top, bottom], [left, right], [0, 0]] (in the data_format's order)."""
    filter = _alias(filter, filters)
    attrs = _conv_attrs(strides, padding, data_format, dilations, "Conv2D")
    attrs["use_cudnn_on_gpu"] = bool(use_cudnn_on_gpu)
    with _scope(name, "Conv2D", [input, filter]) as scope:
        x, w = op_util.same_dtype_operands([input, filter], "Conv2D", ("input", "filter"))
        return op_util.make("Conv2D", [x, w], attrs, scope)


def conv2d_backprop_input(input_sizes, filter=None, out_backprop=None, strides=None,
                          padding=None, use_cudnn_on_gpu=True, data_format="NHWC",
                          dilations=(1, 1, 1, 1), name=None, filters=None):
    """The gradient of conv2d with respect to its input, whose shape is ``input_sizes``."""
    filter = _alias(filter, filters)
    attrs = _conv_attrs(strides, padding, data_format, dilations, "Conv2DBackpropInput")
    attrs["use_cudnn_on_gpu"] = bool(use_cudnn_on_gpu)
    with _scope(name, "Conv2DBackpropInput", [input_sizes, filter, out_backprop]) as scope:
        sizes = _sizes(input_sizes)
        w, dy = op_util.same_dtype_operands([filter, out_backprop], "Conv2DBackpropInput",
                                            ("filter", "out_backprop"))
        return op_util.make("Conv2DBackpropInput", [sizes, w, dy], attrs, scope)


def conv2d_backprop_filter(input, filter_sizes, out_backprop, strides, padding,
                           use_cudnn_on_gpu=True, data_format="NHWC", dilations=(1, 1, 1, 1),
                           name=None):
    """The gradient of conv2d with respect to its filter, whose shape is ``filter_sizes``."""
    attrs = _conv_attrs(strides, padding, data_format, dilations, "Conv2DBackpropFilter")
    attrs["use_cudnn_on_gpu"] = bool(use_cudnn_on_gpu)
    with _scope(name, "Conv2DBackpropFilter", [input, filter_sizes, out_backprop]) as scope:
        x, dy = op_util.same_dtype_operands([input, out_backprop], "Conv2DBackpropFilter",
                                            ("input", "out_backprop"))
        sizes = _sizes(filter_sizes, "filter_sizes")
        return op_util.make("Conv2DBackpropFilter", [x, sizes, dy], attrs, scope)


def conv2d_transpose(value=None, filter=None, output_shape=None, strides=None, padding="SAME",
                     data_format="NHWC", name=None, input=None, filters=None, dilations=None):
    """tf.nn.conv2d_transpose: the gradient of a conv2d whose input has ``output_shape``
    (a list or an int32 tensor), taken at ``value`` [N, OH, OW, F]; filter [KH, KW, C, F].
    One Conv2DBackpropInput op named "conv2d_transpose"."""
    value = _alias(value, input, "value", "input")
    filter = _alias(filter, filters)
    with _scope(name, "conv2d_transpose", [value, filter, output_shape]) as scope:
        return conv2d_backprop_input(output_shape, filter, value, strides, padding,
                                     data_format=data_format,
                                     dilations=dilations or (1, 1, 1, 1), name=scope)


def _alias(new, old, new_name="filter", old_name="filters"):
    if old is not None:
        if new is not None:
            raise ValueError(f"Cannot specify both '{old_name}' and '{new_name}'")
        return old
    return new


def depthwise_conv2d_native(input, filter, strides, padding, data_format="NHWC",
                            dilations=(1, 1, 1, 1), name=None):
    """input [N, H, W, C], filter [KH, KW, C, M] -> [N, OH, OW, C*M]: channel c convolved
    with filter[:, :, c, m] gives output channel c*M + m ("DepthwiseConv2dNative")."""
    attrs = _conv_attrs(strides, padding, data_format, dilations, "DepthwiseConv2dNative")
    with _scope(name, "DepthwiseConv2dNative", [input, filter]) as scope:
        x, w = op_util.same_dtype_operands([input, filter], "DepthwiseConv2dNative",
                                           ("input", "filter"))
        return op_util.make("DepthwiseConv2dNative", [x, w], attrs, scope)


def depthwise_conv2d(input, filter, strides, padding, rate=None, name=None, data_format=None,
                     dilations=None):
    """tf.nn.depthwise_conv2d: depthwise_conv2d_native under the scope "depthwise", with
    ``rate`` (or ``dilations``: two ints) as the op's dilations. TF1 builds a rate above 1
    from SpaceToBatchND/BatchToSpaceND around the op; one dilated op computes the same."""
    rate = _alias(rate, dilations, "rate", "dilations")
    rate = [1, 1] if rate is None else [int(r) for r in rate]
    if len(rate) != 2:
        raise ValueError(f"rate must be two ints, got {rate}")
    data_format = _data_format(data_format, "DepthwiseConv2dNative")
    if max(rate) > 1 and max(_sequence(strides, "strides", data_format)) > 1:
        raise ValueError("strides > 1 not supported in conjunction with dilation_rate > 1")
    with _scope(name, "depthwise", [input, filter]) as scope:
        x = ops_lib.convert_to_tensor(input, name="input")
        w = ops_lib.convert_to_tensor(filter, name="filter_in")
        return depthwise_conv2d_native(x, w, strides, padding, data_format, rate, name=scope)


# --- MaxPool, AvgPool and their gradients ----------------------------------------------------------

def _pool_attrs(ksize, strides, padding, data_format, op_type):
    data_format = _data_format(data_format, op_type)
    if padding not in ("SAME", "VALID"):
        raise ValueError(f"Attr 'padding' of '{op_type}' Op passed string '{padding}' not in: "
                         f"\"SAME\", \"VALID\".")
    return {"ksize": _sequence(ksize, "ksize", data_format),
            "strides": _sequence(strides, "strides", data_format), "padding": padding,
            "data_format": data_format}


def _pool_window(attrs):
    return _Window(attrs, sizes_key="ksize")


def _pool_shape(window, input_dims):
    n, h, w, c = window.to_nhwc(input_dims)
    oh, ow = window.output_hw((h, w), window.sizes)
    return TensorShape(window.from_nhwc((n, oh, ow, c)))


def _check_float(op, tensor, arg):
    if tensor.dtype not in op_util.FLOATS:
        raise TypeError(f"Value passed to parameter '{arg}' has DataType {tensor.dtype.name} "
                        f"not in list of allowed values: float16, float32, float64")


def _pool_infer(op):
    x = op.inputs[0]
    _check_float(op, x, "input")
    return [(x.dtype, _pool_shape(_pool_window(op.attrs), _rank4(x.shape)))]


def _pool_kernels():
    from graphflow.kernels.cpu import pool  # imports numba: first plan only
    return pool


def _max_pool_lower(site, state):
    forward = _pool_kernels().max_pool_forward
    window = _pool_window(site.attrs)
    nchw = window.nchw

    def body(x, alloc):
        return _back(forward(_nhwc(x, nchw), window.sizes, window.strides, window.padding,
                             alloc=None if nchw else alloc), nchw)
    return _kernel(site, body, (0,))


def _avg_pool_lower(site, state):
    forward = _pool_kernels().avg_pool_forward
    window = _pool_window(site.attrs)
    nchw = window.nchw

    def body(x, alloc):
        return _back(forward(_nhwc(x, nchw), window.sizes, window.strides, window.padding,
                             alloc=None if nchw else alloc), nchw)
    return _kernel(site, body, (0,))


def _max_pool_grad_infer(op):
    x, y, dy = op.inputs
    for t, arg in ((y, "orig_output"), (dy, "grad")):
        if t.dtype is not x.dtype:
            raise TypeError(f"Input '{arg}' of 'MaxPoolGrad' Op has type {t.dtype.name} that "
                            f"does not match type {x.dtype.name} of argument 'orig_input'.")
    _check_float(op, x, "orig_input")
    _pool_window(op.attrs)
    return [(x.dtype, TensorShape(_rank4(x.shape)))]


def _max_pool_grad_lower(site, state):
    backward = _pool_kernels().max_pool_backward
    window = _pool_window(site.attrs)
    nchw = window.nchw

    def body(x, y, dy, alloc):  # the maxima are found again in x: y is not read
        return _back(backward(_nhwc(x, nchw), _nhwc(dy, nchw), window.sizes, window.strides,
                              window.padding, alloc=None if nchw else alloc), nchw)
    return _kernel(site, body, (0, 2))


def _avg_pool_grad_infer(op):
    sizes, dy = op.inputs
    _check_float(op, dy, "grad")
    window = _pool_window(op.attrs)
    dims = _sizes_value(sizes)
    n, h, w, c = window.to_nhwc(dims)
    dn, _, _, dc = window.to_nhwc(_rank4(dy.shape))
    return [(dy.dtype, TensorShape(window.from_nhwc((_merge(n, dn), h, w, _merge(c, dc)))))]


def _avg_pool_grad_lower(site, state):
    backward = _pool_kernels().avg_pool_backward
    window = _pool_window(site.attrs)
    nchw = window.nchw

    def body(sizes, dy, alloc):
        shape = window.to_nhwc(tuple(int(s) for s in sizes))
        return _back(backward(_nhwc(dy, nchw), shape, window.sizes, window.strides,
                              window.padding, alloc=None if nchw else alloc), nchw)
    return _with_sizes(site, 0, body, (1,))


def _max_pool_grad(op, dy):
    return [op_util.make("MaxPoolGrad", [op.inputs[0], op.outputs[0], dy], _public_attrs(op))]


def _avg_pool_grad(op, dy):
    return [op_util.make("AvgPoolGrad", [_shape_of(op.inputs[0]), dy], _public_attrs(op))]


def _avg_pool_grad_grad(op, g):
    """AvgPoolGrad is linear in its gradient input: its own gradient is an AvgPool."""
    return [None, op_util.make("AvgPool", [g], _public_attrs(op))]


register_op("MaxPool", _pool_infer, cpu=Lowering(_max_pool_lower, allocates=True),
            grad=_max_pool_grad)
register_op("MaxPoolGrad", _max_pool_grad_infer,
            cpu=Lowering(_max_pool_grad_lower, allocates=True))
register_op("AvgPool", _pool_infer, cpu=Lowering(_avg_pool_lower, allocates=True),
            grad=_avg_pool_grad)
register_op("AvgPoolGrad", _avg_pool_grad_infer,
            cpu=Lowering(_avg_pool_grad_lower, allocates=True),
            grad=_avg_pool_grad_grad)


def _pool(op_type, value, ksize, strides, padding, data_format, name):
    attrs = _pool_attrs(ksize, strides, padding, data_format, op_type)
    with _scope(name, op_type, [value]) as scope:
        x = ops_lib.convert_to_tensor(value, name="input")
        return op_util.make(op_type, [x], attrs, scope)


def max_pool(value, ksize, strides, padding, data_format="NHWC", name=None, input=None):
    """tf.nn.max_pool: the maximum over each ksize window (an int or 1, 2 or 4 ints) of
    value [N, H, W, C]; padding 'SAME' or 'VALID' ("MaxPool")."""
    value = _alias(value, input, "value", "input")
    return _pool("MaxPool", value, ksize, strides, padding, data_format, name)


def avg_pool(value, ksize, strides, padding, data_format="NHWC", name=None, input=None):
    """tf.nn.avg_pool: the mean over each window's positions inside the input (padding never
    counts) ("AvgPool")."""
    value = _alias(value, input, "value", "input")
    return _pool("AvgPool", value, ksize, strides, padding, data_format, name)


__all__ = ["avg_pool", "conv2d", "conv2d_backprop_filter", "conv2d_backprop_input",
           "conv2d_transpose", "depthwise_conv2d", "depthwise_conv2d_native", "max_pool"]
