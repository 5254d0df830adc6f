"""Native forms: each op as Numba source inside a whole-step function
(graphflow.session.whole_step), calling the same Numba kernels as the op's CPU kernel where
there is one, so that a compiled step computes what the interpreted plan does.

A form is ``form(site, w)``: ``w.arg(i)``, ``w.shape(i)``, ``w.dtype(i)`` and
``w.static_value(i)`` describe the inputs (shapes are the specialisation's, all known),
``w.out(k)`` names an output, ``w.line`` adds a statement, ``w.function(f)`` imports a Numba
function, ``w.constant(a)`` passes an array in and ``w.ref(i)`` names a variable's array. A
form raises NotNative for what it does not cover; the step then runs op by op. Every value is
a C-contiguous array (0-d for scalars). Forms for the convolutions and the optimizer updates
live beside those ops (nn_conv_ops, training_ops).
"""
import math

import numpy as np

from graphflow.framework import registry
from graphflow.ops import nn_conv_ops
from graphflow.session.passes import fusion, remapper  # (they register the fused op types)
from graphflow.session.whole_step import NotNative, flat


def _np(dtype):
    return f"np.{np.dtype(dtype).name}"


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _floats(w, *inputs):
    for i in inputs:
        if w.dtype(i) not in _FLOATS:
            raise NotNative(f"{w.node.type} on {w.dtype(i)}")


# --- elementwise ------------------------------------------------------------------------------

def _fused(site, w):
    """A fused elementwise program: the same compiled loop the interpreted kernel calls."""
    _program(site.attrs["program"], w)


def _elementwise(site, w):
    """An elementwise op whose kernel is not a plain ufunc (Maximum's tie rule, Sigmoid, ...)
    as the one-step program elementwise fusion would make of it."""
    from graphflow.kernels.cpu import fused
    template = fusion.scalar_template(site)
    if template is None:
        raise NotNative(f"{site.type} has no scalar template for these dtypes or attrs")
    n = len(site.inputs)
    names = [np.dtype(w.dtype(i)).name for i in range(n)]
    step = fused.Step(template, tuple(range(n)), np.dtype(w.out_dtype()).name)
    _program(fused.Program(tuple(names), (step,), (n,)), w)


def _program(program, w):
    from graphflow.kernels.cpu import fused
    n = len(program.inputs)
    shapes = [w.shape(i) for i in range(n)]
    for i, dtype in enumerate(program.inputs):
        if w.dtype(i) != np.dtype(dtype):
            raise NotNative(f"fused program input {i} is {w.dtype(i)}, not {dtype}")
    shape = tuple(np.broadcast_shapes(*shapes)) if shapes else ()
    kernel, extra, shape, cuts, dense = fused.layout(program, shapes, shape)
    if cuts or dense:
        raise NotNative("a fused program whose outputs have different shapes")
    outs = [w.out(k) for k in range(len(program.outputs))]
    for k, name in enumerate(outs):
        w.line(f"{name} = np.empty({shape!r}, {_np(w.out_dtype(k))})")
    args = [w.arg(i) + flat(s) for i, s in enumerate(shapes)] + \
        [name + flat(shape) for name in outs] + [w.constant(e) for e in extra]
    w.line(f"{w.function(kernel)}({', '.join(args)})")


def _ufunc(ufunc):
    def form(site, w):
        if w.out_shape():
            args = ", ".join(w.arg(i) for i in range(ufunc.nin))
            w.line(f"{w.out()} = np.{ufunc.__name__}({args})")
            return
        # Numba's ufuncs make a scalar of 0-d operands: the value goes into a 0-d array
        args = ", ".join(f"{w.arg(i)}[()]" for i in range(ufunc.nin))
        _scalar(w, f"np.{ufunc.__name__}({args})")
    return form


def _scalar(w, expression):
    """Output 0 as an array of the output's shape (one element) holding ``expression``."""
    out = w.out()
    w.line(f"{out} = np.empty({w.out_shape()!r}, {_np(w.out_dtype())})")
    w.line(f"{out}.reshape(1)[0] = {expression}")


def _add_n(site, w):
    """Sums in input order, as the interpreted kernel."""
    n = len(site.inputs)
    if n < 2 or any(w.shape(i) != w.out_shape() for i in range(n)):
        raise NotNative("AddN of fewer than two inputs or of mixed shapes")
    if not w.out_shape():
        _scalar(w, " + ".join(f"{w.arg(i)}[()]" for i in range(n)))
        return
    out = w.out()
    w.line(f"{out} = {w.arg(0)} + {w.arg(1)}")
    for i in range(2, n):
        w.line(f"{out} += {w.arg(i)}")


def _cast(site, w):
    w.line(f"{w.out()} = {w.arg(0)}.astype({_np(w.out_dtype())})")


# --- views and copies -------------------------------------------------------------------------

def _reshape(site, w):
    w.line(f"{w.out()} = {w.arg(0)}.reshape({w.out_shape()!r})")


def _identity(site, w):
    w.line(f"{w.out()} = {w.arg(0)}")


def _transpose(site, w):
    perm = w.static_value(1)
    if perm is None:
        raise NotNative("a permutation computed at run time")
    perm = tuple(int(p) % max(len(w.shape(0)), 1) for p in np.reshape(perm, -1))
    # a copy: every native value is C-contiguous (the interpreted kernel returns a view)
    if len(perm) < 2:
        w.line(f"{w.out()} = {w.arg(0)}.copy()")
    else:
        w.line(f"{w.out()} = np.transpose({w.arg(0)}, {perm!r}).copy()")


def _tile(site, w):
    from graphflow.kernels.cpu.tile import tile_into
    shape, out = w.out_shape(), w.out()
    w.line(f"{out} = np.empty({shape!r}, {_np(w.out_dtype())})")
    w.line(f"{w.function(tile_into)}({w.arg(0)}{flat(w.shape(0))}, {out}{flat(shape)}, "
           f"{w.constant(np.array(w.shape(0), np.int64))}, "
           f"{w.constant(np.array(shape, np.int64))})")


# --- products ---------------------------------------------------------------------------------

def _product(site, w, ta="transpose_a", tb="transpose_b"):
    """The interpreted kernel's BLAS calls, split over the threads alike
    (graphflow.kernels.cpu.matmul); np.dot where that kernel would use numpy."""
    from graphflow.kernels.cpu import matmul
    _floats(w, 0, 1)
    if len(w.shape(0)) != 2 or len(w.shape(1)) != 2 or w.dtype(0) != w.dtype(1):
        raise NotNative("a batched or mixed-dtype product")
    ta, tb = bool(site.attrs[ta]), bool(site.attrs[tb])
    (m, n), out = w.out_shape(), w.out()
    k = w.shape(0)[0 if ta else 1]
    kind = matmul.gemm_kind(m, n, k, w.dtype(0))
    if 0 in (m, n, k):
        w.line(f"{out} = np.zeros({(m, n)!r}, {_np(w.out_dtype())})")
    elif kind is None:
        a, b = w.arg(0) + (".T" if ta else ""), w.arg(1) + (".T" if tb else "")
        w.line(f"{out} = np.dot({a}, {b})")
    else:
        parts, by_rows = matmul.gemm_plan(m, n, k)
        w.line(f"{out} = np.empty({(m, n)!r}, {_np(w.out_dtype())})")
        args = f"{kind}, {w.arg(0)}, {w.arg(1)}, {out}, {ta}, {tb}"
        if parts == 1:
            w.line(f"{w.function(matmul.gemm_into)}({args})")
        else:
            w.line(f"{w.function(matmul.gemm_parallel)}({args}, {parts}, {by_rows})")


def _fused_matmul(site, w):
    """MatMul, then bias (+ relu) by the epilogue kernel the interpreted op runs."""
    _product(site, w)
    _bias_epilogue(site, w)


def _fused_conv2d(site, w):
    nn_conv_ops.native_conv2d(site, w)
    _bias_epilogue(site, w)


def _bias_epilogue(site, w):
    """Output 0 += bias (input 2), then relu if fused, in place."""
    from graphflow.kernels.cpu import bias
    _floats(w, 2)
    columns = w.shape(2)[0]
    repeat = max(1, bias.LANES // max(columns, 1))
    tiled, out = w.local(), w.out()
    w.line(f"{tiled} = np.empty({repeat * columns}, {_np(w.dtype(2))})")
    w.line(f"for r in range({repeat}):")
    w.line(f"    {tiled}[r * {columns}:(r + 1) * {columns}] = {w.arg(2)}")
    relu = "Relu" in site.attrs["fused_ops"]
    w.line(f"{w.function(bias._epilogue)}({out}{flat(w.out_shape())}, {tiled}, {relu})")


# --- reductions -------------------------------------------------------------------------------

def _axes(site, w):
    value = w.static_value(1)
    if value is None:
        raise NotNative("reduction axes computed at run time")
    rank = len(w.shape(0))
    return tuple(sorted({int(a) % rank if rank else 0 for a in np.reshape(value, -1)}))


def _sum(site, w):
    from graphflow.kernels.cpu.reduce import _sum_columns
    _floats(w, 0)
    axes, shape, out = _axes(site, w), w.shape(0), w.out()
    count = len(axes)
    if count == 0:
        w.line(f"{out} = {w.arg(0)}.reshape({w.out_shape()!r}).copy()")
    elif axes == tuple(range(count)) and count < len(shape) and not site.attrs["keep_dims"]:
        columns = math.prod(shape[count:])
        w.line(f"{out} = {w.function(_sum_columns)}({w.arg(0)}{flat(shape)}, {columns})"
               f".astype({_np(w.dtype(0))}).reshape({w.out_shape()!r})")
    elif count == len(shape):
        _scalar(w, f"np.sum({w.arg(0)})")
    else:
        raise NotNative(f"Sum over axes {axes} of a rank-{len(shape)} value")


def _mean(site, w):
    _floats(w, 0)
    axes, shape = _axes(site, w), w.shape(0)
    if len(axes) != len(shape):
        raise NotNative(f"Mean over axes {axes} of a rank-{len(shape)} value")
    _scalar(w, f"np.sum({w.arg(0)}) / {max(math.prod(shape), 1)}")


# --- softmax and cross-entropy ----------------------------------------------------------------

def _rows(w, i):
    shape = w.shape(i)
    if not shape:
        raise NotNative("softmax of a scalar")
    return f"{w.arg(i)}.reshape(({math.prod(shape[:-1])}, {shape[-1]}))"


def _row_form(span, inputs):
    def form(site, w):
        from graphflow.kernels.cpu import softmax
        _floats(w, *range(inputs))
        shape, out = w.out_shape(), w.out()
        rows = math.prod(shape[:-1]) if shape else 0
        w.line(f"{out} = np.empty({shape!r}, {_np(w.out_dtype())})")
        args = [_rows(w, i) for i in range(inputs)]
        w.line(f"{w.function(getattr(softmax, span))}(0, {rows}, {', '.join(args)}, "
               f"{out}.reshape(({rows}, {shape[-1]})))")
    return form


def _xent(site, w):
    from graphflow.kernels.cpu.softmax import _xent_span
    _floats(w, 0, 1)
    if w.shape(0) != w.shape(1) or len(w.shape(0)) != 2 or w.dtype(0) != w.dtype(1):
        raise NotNative("cross-entropy of broadcast logits and labels")
    rows = w.shape(0)[0]
    loss, backprop = w.out(0), w.out(1)
    dtype = _np(w.dtype(0))
    w.line(f"{loss} = np.zeros({rows}, {dtype})")
    w.line(f"{backprop} = np.empty({w.shape(0)!r}, {dtype})")
    w.line(f"{w.function(_xent_span)}(0, {rows}, {w.arg(0)}, {w.arg(1)}, {loss}, {backprop})")


# --- variables --------------------------------------------------------------------------------

def _assign(update):
    def form(site, w):
        var, value = w.ref(0), w.arg(1)
        shape = w.shape(1)
        if w.out_shape() != shape:
            raise NotNative("an assignment that gives the variable a new shape")
        w.line(f"{var}{flat(shape)}[:] {update} {value}{flat(shape)}")
        w.line(f"{w.out()} = {var}")
    return form


registry.register_native(fusion.FUSED_TYPE, _fused)
registry.register_native("Cast", _cast)  # (every conversion, not only those fusion takes)
for _type in registry.registered_types():
    _opdef = registry.get(_type)
    _cpu = _opdef.kernels.get("CPU")
    if _opdef.native is not None:
        continue
    if isinstance(_cpu, np.ufunc) and _cpu.nout == 1:
        registry.register_native(_type, _ufunc(_cpu))
    elif _opdef.elementwise is not None and not _type.startswith("_"):
        registry.register_native(_type, _elementwise)
registry.register_native("AddN", _add_n)
for _type in ("Reshape", "ExpandDims", "Squeeze"):
    registry.register_native(_type, _reshape)
for _type in ("Identity", "StopGradient"):
    registry.register_native(_type, _identity)
registry.register_native("Tile", _tile)
registry.register_native("Transpose", _transpose)
registry.register_native("MatMul", _product)
registry.register_native(remapper.FUSED["MatMul"], _fused_matmul)
registry.register_native(remapper.FUSED["Conv2D"], _fused_conv2d)
registry.register_native("Sum", _sum)
registry.register_native("Mean", _mean)
registry.register_native("Softmax", _row_form("_softmax_span", 1))
registry.register_native("LogSoftmax", _row_form("_log_softmax_span", 1))
registry.register_native("SoftmaxGrad", _row_form("_softmax_grad_span", 2))
registry.register_native("LogSoftmaxGrad", _row_form("_log_softmax_grad_span", 2))
registry.register_native("SoftmaxCrossEntropyWithLogits", _xent)
registry.register_native("Assign", _assign("="))
registry.register_native("AssignAdd", _assign("+="))
registry.register_native("AssignSub", _assign("-="))
