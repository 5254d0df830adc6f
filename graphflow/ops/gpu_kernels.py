"""GPU kernels of the registered ops: each entry's "GPU" lowering, calling graphflow.kernels.cuda.

A GPU lowering receives numba device arrays and returns device arrays; inputs listed in
``host_inputs`` (shape vectors, axes, multiples) arrive as host numpy values, outputs in
``host_outputs`` (Shape, Size) are host values. The placer puts an op on a GPU only where
its lowering ``runs`` (dtype and layout checks below), and inserts the copies around it.
numba.cuda is imported only when a plan lowers a GPU op.

Where an op's CPU and GPU kernels share their logic, both are registered beside the op
instead: variables and their assigns (ops/variables.py), the optimizer updates
(ops/training_ops.py), the fused ops of the fusion and remapper passes. Ops without a GPU
kernel (random ops, the less common array ops) run on the CPU under soft placement, as TF1
does with its CPU-only ops.
"""
import numpy as np

from graphflow.framework import errors, registry
from graphflow.framework.registry import Lowering
from graphflow.ops import array_ops, math_ops, nn_conv_ops

_FLOATS = ("float32", "float64")


def _cuda(name):
    import importlib
    return importlib.import_module(f"graphflow.kernels.cuda.{name}")


def _dtype_name(dtype):
    return np.dtype(dtype.as_numpy_dtype).name


def _floats(*positions):
    """supports(): the inputs at ``positions`` are float32/float64 (the kernels' dtypes)."""
    def supports(site):
        return all(_dtype_name(site.input_dtypes[i]) in _FLOATS for i in positions)
    return supports


def _nhwc_floats(*positions):
    float_check = _floats(*positions)
    return lambda site: site.attrs.get("data_format", "NHWC") == "NHWC" and float_check(site)


def _raising_for(op, kernel):
    """``kernel`` with its ValueErrors (shapes it cannot take) raised as the TF error that
    names ``op``."""
    def call(*args):
        try:
            return kernel(*args)
        except ValueError as e:
            raise errors.InvalidArgumentError(None, op, str(e)) from None
    return call


def _register(types, factory, **lowering):
    for op_type in types:
        registry.register_kernel(op_type, "GPU", Lowering(factory, **lowering))


# --- views and metadata: no data moves ------------------------------------------------------

def _identity(site, state):
    return lambda x: x


def _expand_dims(site, state):
    op = site.op

    def expand(x, axis):
        try:
            position = array_ops._expand_axis(int(axis), x.ndim)
        except ValueError as e:
            raise errors.InvalidArgumentError(None, op, str(e)) from None
        shape = tuple(x.shape)
        return x.reshape(shape[:position] + (1,) + shape[position:])
    return expand


def _squeeze(site, state):
    op, axes = site.op, site.attrs["squeeze_dims"]

    def squeeze(x):
        try:
            shape = tuple(x.shape)
            drop = array_ops._squeeze_axes(shape, axes) if axes else \
                tuple(i for i, d in enumerate(shape) if d == 1)
        except ValueError as e:
            raise errors.InvalidArgumentError(None, op, str(e)) from None
        return x.reshape(tuple(d for i, d in enumerate(shape) if i not in drop))
    return squeeze


_register(["Identity", "StopGradient"], _identity)
_register(["NoOp"], lambda site, state: (lambda: None))  # orders its control inputs only
# TF1 keeps these outputs and shape inputs in host memory too (HostMemory in its kernels).
_register(["Reshape"], registry.get("Reshape").lowering("CPU").factory, host_inputs=(1,))
_register(["ExpandDims"], _expand_dims, host_inputs=(1,))
_register(["Squeeze"], _squeeze)
for _type in ("Shape", "Size", "Rank"):
    _register([_type], registry.get(_type).lowering("CPU").factory, host_outputs=(0,))


# --- elementwise: one generated kernel per op (fused groups: graphflow.session.passes.fusion) -

def _one_step_kernel(template, input_dtypes, output_dtype):
    from graphflow.kernels.cpu.fused import Program, Step
    program = Program(tuple(input_dtypes), (Step(template, tuple(range(len(input_dtypes))),
                                                 output_dtype),), (len(input_dtypes),))
    return _cuda("elementwise").FusedKernel(program)


def _template(site):
    from graphflow.session.passes.fusion import scalar_template
    return scalar_template(site)


def _elementwise(site, state):
    return _one_step_kernel(_template(site), [_dtype_name(d) for d in site.input_dtypes],
                            _dtype_name(site.output_dtypes[0]))


def _cast(site, state):
    target = _dtype_name(site.output_dtypes[0])
    template = "({0} != 0)" if target == "bool" else "{0}"  # the Step casts to its dtype
    return _one_step_kernel(template, [_dtype_name(site.input_dtypes[0])], target)


def _template_dtype_ok(site):
    from graphflow.kernels.cpu.fused import SUPPORTED_DTYPES
    return _dtype_name(site.output_dtypes[0]) in SUPPORTED_DTYPES


def _cast_supports(site):
    from graphflow.kernels.cpu.fused import SUPPORTED_DTYPES
    return all(_dtype_name(d) in SUPPORTED_DTYPES
               for d in (site.input_dtypes[0], site.output_dtypes[0]))


def _add_n(site, state):
    """Sums in input order, as the CPU kernel: ((x0 + x1) + x2) + ..."""
    op, n = site.op, len(site.input_dtypes)
    dtype = _dtype_name(site.output_dtypes[0])
    template = "{0}"
    for i in range(1, n):
        template = f"({template} + {{{i}}})"
    total = _one_step_kernel(template, [dtype] * n, dtype)

    def add_n(*values):
        first = tuple(values[0].shape)
        for i, v in enumerate(values[1:], 1):
            if tuple(v.shape) != first:
                raise errors.InvalidArgumentError(
                    None, op, f"Inputs to operation {op.name} of type AddN must have the same "
                              f"size and shape.  Input 0: {list(first)} != input {i}: "
                              f"{list(v.shape)}")
        return total(*values)
    return add_n


def _filled(site, state):
    """Fill / ZerosLike / OnesLike: a one-element device array tiled to the shape."""
    from numba import cuda
    tile, op = _cuda("array").tile, site.op
    np_dtype = site.output_dtypes[0].as_numpy_dtype
    if site.type == "Fill":
        def fill(dims, value):
            dims = tuple(int(d) for d in dims)
            if any(d < 0 for d in dims):
                raise errors.InvalidArgumentError(None, op, "Fill dimensions must be >= 0")
            return tile(value.reshape((1,) * len(dims)), dims)
        return fill
    one = 1 if site.type == "OnesLike" else 0
    units = {}  # rank -> the value as a [1, ..., 1] device array, uploaded once

    def filled_like(x):
        shape = tuple(x.shape)
        unit = units.get(len(shape))
        if unit is None:
            unit = units[len(shape)] = cuda.to_device(np.full((1,) * len(shape), one, np_dtype))
        return tile(unit, shape)
    return filled_like


_register(["AddN"], _add_n, supports=_template_dtype_ok)
_register(["Fill"], _filled, host_inputs=(0,))
_register(["ZerosLike", "OnesLike"], _filled)
# (BiasAdd and Cast have templates too, for fusion; BiasAdd's own GPU kernel below takes
# NCHW as well, Cast's every conversion)
_register([t for t in registry.registered_types()
           if registry.get(t).elementwise and t not in ("BiasAdd", "Cast")],
          _elementwise, supports=lambda site: _template(site) is not None)
_register(["Cast"], _cast, supports=_cast_supports)


# --- linear algebra, reductions, softmax ----------------------------------------------------

def _matmul(site, state):
    matmul = _cuda("matmul").matmul
    ta, tb = site.attrs["transpose_a"], site.attrs["transpose_b"]
    return lambda a, b: matmul(a, b, ta, tb)


def _reduction(kind):
    def factory(site, state):
        reduce, op, keep = _cuda("reduce").reduce, site.op, site.attrs["keep_dims"]
        value, rank = site.const_input(1), site.input_shapes[0].ndims
        if value is not None and rank is not None:
            axes = math_ops._run_axes(value, rank, op)
            return (lambda x: reduce(x, axes, kind, keep)), (0,)
        return lambda x, a: reduce(x, math_ops._run_axes(a, x.ndim, op), kind, keep)
    return factory


def _arg_extreme(name):
    def factory(site, state):
        kernel, op = getattr(_cuda("reduce"), name), site.op
        out = site.attrs["output_type"].as_numpy_dtype

        def run(x, axis):
            a = int(axis)
            if not -x.ndim <= a < x.ndim:
                raise errors.InvalidArgumentError(
                    None, op, f"Expected dimension in the range [{-x.ndim}, {x.ndim}), but got "
                              f"{a}")
            if x.shape[a] == 0:
                raise errors.InvalidArgumentError(
                    None, op, f"Reduction axis {a % x.ndim} is empty in shape {list(x.shape)}")
            return kernel(x, a % x.ndim, out)
        return run
    return factory


def _rows(name):
    """A softmax-family kernel over the last axis (any rank)."""
    return lambda site, state: getattr(_cuda("softmax"), name)


def _xent(name):
    def factory(site, state):
        kernel, op = getattr(_cuda("softmax"), name), site.op

        xent = _raising_for(op, kernel)

        def run(logits, labels):
            if name == "softmax_cross_entropy" and logits.shape != labels.shape:
                raise errors.InvalidArgumentError(
                    None, op, f"logits and labels must be the same size: logits_size="
                              f"{list(logits.shape)} labels_size={list(labels.shape)}")
            return xent(logits, labels)
        return run
    return factory


_register(["MatMul"], _matmul, supports=_floats(0))
for _type, _kind in (("Sum", "sum"), ("Mean", "mean"), ("Max", "max"), ("Min", "min"),
                     ("Prod", "prod"), ("All", "all"), ("Any", "any")):
    _register([_type], _reduction(_kind), host_inputs=(1,),
              supports=lambda site: _dtype_name(site.input_dtypes[0]) in
              ("float32", "float64", "int32", "int64", "bool"))
_register(["ArgMax"], _arg_extreme("argmax"), host_inputs=(1,), supports=_floats(0))
_register(["ArgMin"], _arg_extreme("argmin"), host_inputs=(1,), supports=_floats(0))
for _type, _name in (("Softmax", "softmax"), ("LogSoftmax", "log_softmax"),
                     ("SoftmaxGrad", "softmax_grad"), ("LogSoftmaxGrad", "log_softmax_grad")):
    _register([_type], _rows(_name), supports=_floats(0))
_register(["SoftmaxCrossEntropyWithLogits"], _xent("softmax_cross_entropy"),
          supports=_floats(0))
_register(["SparseSoftmaxCrossEntropyWithLogits"], _xent("sparse_softmax_cross_entropy"),
          supports=_floats(0))


# --- array reshuffles and the bias gradient (BiasAdd is elementwise, above) ----------------------------------------------------------

def _reshuffle(kernel_name):
    """Tile (x, multiples) / Transpose (x, perm): the index vector arrives in host memory."""
    def factory(site, state):
        kernel = _raising_for(site.op, getattr(_cuda("array"), kernel_name))
        return lambda x, index: kernel(x, tuple(int(i) for i in index))
    return factory


def _bias_add(site, state):
    kernel, fmt = _raising_for(site.op, _cuda("bias").bias_add), site.attrs["data_format"]
    return lambda value, bias: kernel(value, bias, fmt)


def _bias_add_grad(site, state):
    kernel, fmt = _cuda("bias").bias_add_grad, site.attrs["data_format"]
    return lambda dy: kernel(dy, fmt)


_register(["Tile"], _reshuffle("tile"), host_inputs=(1,))
_register(["Transpose"], _reshuffle("transpose"), host_inputs=(1,))
_register(["BiasAdd"], _bias_add, supports=_floats(0))
_register(["BiasAddGrad"], _bias_add_grad, supports=_floats(0))


# --- convolution and pooling (NHWC) ---------------------------------------------------------

# The kernels take (x, w), (dy, w, input_sizes) and (x, dy, filter_sizes); the ops' inputs
# are (input, filter), (input_sizes, filter, dy) and (input, filter_sizes, dy).
_CONV_ARGS = {"forward": (0, 1), "backprop_input": (2, 1, 0), "backprop_filter": (0, 2, 1)}


def _conv(kernel_name, role):
    sizes_at = {"forward": None, "backprop_input": 0, "backprop_filter": 1}[role]
    order = _CONV_ARGS[role]

    def factory(site, state):
        kernel = _raising_for(site.op, getattr(_cuda("conv"), kernel_name))
        window = nn_conv_ops._Window(site.attrs)
        args = (window.strides, window.padding, window.sizes)

        def run(*xs):
            xs = list(xs)
            if sizes_at is not None:
                xs[sizes_at] = tuple(int(s) for s in xs[sizes_at])
            return kernel(*(xs[i] for i in order), *args)
        return run
    return factory


def _pool(kernel_name):
    def factory(site, state):
        kernel = _raising_for(site.op, getattr(_cuda("pool"), kernel_name))
        window = nn_conv_ops._pool_window(site.attrs)
        args = (window.sizes, window.strides, window.padding)

        def run(*xs):
            if kernel_name == "max_pool_backward":  # (x, y, dy): the maxima are found in x
                xs = (xs[0], xs[2])
            elif kernel_name == "avg_pool_backward":  # (sizes, dy)
                xs = (xs[1], tuple(int(s) for s in xs[0]))
            return kernel(*xs, *args)
        return run
    return factory


for _prefix, _forward, _input, _filter in (
        ("conv2d", "Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter"),
        ("depthwise_conv2d", "DepthwiseConv2dNative", "DepthwiseConv2dNativeBackpropInput",
         "DepthwiseConv2dNativeBackpropFilter")):
    _register([_forward], _conv(f"{_prefix}_forward", "forward"), supports=_nhwc_floats(0))
    _register([_input], _conv(f"{_prefix}_backprop_input", "backprop_input"),
              host_inputs=(0,), supports=_nhwc_floats(1))
    _register([_filter], _conv(f"{_prefix}_backprop_filter", "backprop_filter"),
              host_inputs=(1,), supports=_nhwc_floats(0))
_register(["MaxPool"], _pool("max_pool_forward"), supports=_nhwc_floats(0))
_register(["AvgPool"], _pool("avg_pool_forward"), supports=_nhwc_floats(0))
_register(["MaxPoolGrad"], _pool("max_pool_backward"), supports=_nhwc_floats(0))
_register(["AvgPoolGrad"], _pool("avg_pool_backward"), host_inputs=(0,),
          supports=_nhwc_floats(1))
