"""Math ops (TF1's math_ops): elementwise arithmetic, comparisons and logic, select/where,
casts, matmul, reductions, argmax/argmin and add_n.

Kernels are numpy. For one elementwise op numpy's loops are already vectorised and
memory-bound, a float matmul is one BLAS call, and numpy's reductions run at about memory
speed (a [100,28,28,32] float32 sum over three axes: 1.3 ms); a Numba kernel would only add
compile time. Chains of elementwise ops are where Numba pays: the fusion pass generates those
kernels from each entry's ``elementwise`` template (scalar Numba code; ops whose integer form
must raise, like FloorDiv by zero, carry none).

Every kernel returns exactly the inferred dtype, for arrays and for numpy scalars alike.
"""
import math

import numpy as np

from graphflow.framework import dtypes, errors
from graphflow.framework import ops as ops_lib
from graphflow.framework.registry import Lowering, no_gradient, register_op
from graphflow.framework.tensor_shape import TensorShape
from graphflow.ops import array_ops, op_util

_SIGNED = op_util.FLOATS + (dtypes.int8, dtypes.int16, dtypes.int32, dtypes.int64)
_INDEX = (dtypes.int32, dtypes.int64)
_BOOL = (dtypes.bool_,)


# --- static shapes ---
def broadcast_static_shape(a, b):
    """TF1's broadcasting of two static shapes; unknown dims stay unknown unless the other
    side fixes them. Raises ValueError naming both dims when they cannot broadcast."""
    if a.ndims is None or b.ndims is None:
        return TensorShape(None)
    x, y = list(a.as_tuple()), list(b.as_tuple())
    n = max(len(x), len(y))
    x, y = [1] * (n - len(x)) + x, [1] * (n - len(y)) + y
    out = []
    for da, db in zip(x, y):
        if da == 1:
            out.append(db)
        elif db == 1:
            out.append(da)
        elif da is None:
            out.append(db)
        elif db is None or da == db:
            out.append(da)
        else:
            raise ValueError(f"Dimensions must be equal, but are {da} and {db}")
    return TensorShape(out)


def _merge_shapes(a, b):
    """The shape both static shapes describe (TF's Merge); ValueError in TF's words if none."""
    if a.ndims is None:
        return b
    if b.ndims is None:
        return a
    if a.ndims != b.ndims:
        raise ValueError(f"Shapes must be equal rank, but are {a.ndims} and {b.ndims}")
    dims = []
    for i, (da, db) in enumerate(zip(a.as_tuple(), b.as_tuple())):
        if da is not None and db is not None and da != db:
            raise ValueError(f"Dimension {i} in both shapes must be equal, but are {da} and "
                             f"{db}. Shapes are {ops_lib._shape_str(a)} and "
                             f"{ops_lib._shape_str(b)}.")
        dims.append(db if da is None else da)
    return TensorShape(dims)


def _check_inner_dims(da, db):
    if da is not None and db is not None and da != db:
        raise ValueError(f"Dimensions must be equal, but are {da} and {db}")


def _shape_text(array):
    return ops_lib._shape_str(TensorShape(np.shape(array)))


def _binary_infer(out_dtype=None):
    def infer(op):
        x, y = op.inputs
        return [(out_dtype or x.dtype, broadcast_static_shape(x.shape, y.shape))]
    return infer


def _unary_infer(out_dtype=None):
    def infer(op):
        x = op.inputs[0]
        return [(out_dtype or x.dtype, x.shape)]
    return infer


# --- constructors shared by the elementwise ops ---
def binary_op(op_type, allowed, default_name=None):
    """The constructor ``f(x, y, name=None)`` of a broadcasting binary op. The op is named
    ``name``, else ``default_name`` (TF1 names tf.floordiv's op "floordiv"), else its type."""
    def constructor(x, y, name=None):
        graph = op_util.graph_for([x, y])
        # TF1 converts Python operands inside the op's own scope: tf.add(x, 2.0) makes
        # "Add/y" and "Add"
        with graph.as_default(), graph.name_scope(name or default_name or op_type) as scope:
            x, y = op_util.same_dtype_operands([x, y], op_type)
            op_util.check_dtype(x, allowed, op_type)
            return op_util.make(op_type, [x, y], name=scope)
    constructor.__name__ = op_type
    return constructor


def unary_op(op_type, allowed):
    def constructor(x, name=None):
        (x,) = op_util.convert([x])
        op_util.check_dtype(x, allowed, op_type)
        return op_util.make(op_type, [x], name=name)
    constructor.__name__ = op_type
    return constructor


# --- kernels that need the op (errors) or the dtype ---
def _division_lower(integer_ufunc, float_kernel):
    """FloorDiv/FloorMod: TF refuses an integer zero divisor at run time; a constant divisor
    with no zero needs no check."""
    def factory(site, state):
        if site.input_dtypes[0].is_floating:
            return float_kernel
        divisor, op = site.const_input(1), site.op
        if divisor is not None and np.all(divisor):
            return integer_ufunc

        def checked(x, y):
            if not np.all(y):
                raise errors.InvalidArgumentError(None, op, "Integer division by zero")
            return integer_ufunc(x, y)
        return checked
    return Lowering(factory)


def _into(ufunc, fresh, *args):
    """``ufunc(fresh, *args)`` written over ``fresh``, a temporary the kernel made itself
    (a 0-d result is a numpy scalar, which cannot take ``out=``)."""
    if type(fresh) is np.ndarray:
        return ufunc(fresh, *args, out=fresh)
    return ufunc(fresh, *args)


def _floor_quotient(x, y):
    """TF's float FloorDiv, floor(x / y). numpy's floor_divide rounds the exact quotient
    instead (1.0 // 0.1 is 9.0 there, 10.0 in TF)."""
    return _into(np.floor, np.divide(x, y))


def _pow_lower(site, state):
    dtype, exponent, op = site.input_dtypes[0], site.const_input(1), site.op
    if dtype.is_floating or dtype.is_unsigned:
        return np.power
    if exponent is not None and not np.any(exponent < 0):
        return np.power

    def integer_pow(x, y):
        if np.any(y < 0):
            raise errors.InvalidArgumentError(
                None, op, "Integers to negative integer powers are not allowed")
        return np.power(x, y)
    return integer_pow


def _squared_difference(x, y):
    diff = np.subtract(x, y)
    return _into(np.multiply, diff, diff)


def _div_no_nan(x, y):
    """x / y, and 0 wherever y is 0 (even for x = 0 or NaN)."""
    out = np.zeros(np.broadcast_shapes(np.shape(x), np.shape(y)), dtype=np.result_type(x, y))
    np.divide(x, y, out=out, where=np.not_equal(y, 0))
    return out if out.ndim else out[()]


def _rsqrt(x):
    return _into(np.reciprocal, np.sqrt(x))


def _sigmoid_lower(site, state):
    # scipy's expit: a numerically stable ufunc that keeps float16/32/64. Imported when a
    # plan first needs it, so that importing graphflow does not load scipy.special.
    from scipy.special import expit
    return expit


# --- gradients: a broadcast operand's gradient summed back to its own shape ---
def _outer_shape(shape, inner):
    """``shape`` without its ``inner`` trailing dims (a matmul's matrix dims)."""
    if shape.ndims is None or not inner:
        return shape
    return TensorShape(shape.as_tuple()[:-inner])


def _broadcast_axes(shape, other):
    """How a value of static ``shape`` was stretched when broadcast against ``other``.

    Returns ``(axes, lead)``: the axes of the broadcast result that its gradient sums over,
    ascending, the first ``lead`` of them being leading axes that ``shape`` lacks. None when
    the static shapes cannot tell: an unknown dim against a dim other than 1 may be a 1 that
    was stretched or a dim that was not.
    """
    if shape.ndims is None or other.ndims is None:
        return None
    dims, others = shape.as_tuple(), other.as_tuple()
    lead = max(len(others) - len(dims), 0)
    others = (1,) * max(len(dims) - len(others), 0) + others
    axes = list(range(lead))
    for i, (d, o) in enumerate(zip(dims, others[lead:]), lead):
        if d == 1 and o != 1:
            axes.append(i)  # o unknown: summing over a dim of size 1 changes nothing
        elif d is None and o != 1:
            return None
    return axes, lead


def _unbroadcast(grad, x, other, inner=0):
    """``grad``, shaped like ``x`` broadcast against ``other``, summed back to ``x``'s shape
    (the ``inner`` trailing dims take no part in the broadcast). Static shapes that decide
    the broadcast give constant axes, often no op at all; otherwise BroadcastGradientArgs
    finds the axes at run time."""
    plan = _broadcast_axes(_outer_shape(x.shape, inner), _outer_shape(other.shape, inner))
    if plan is None:
        sx, so = array_ops.shape(x), array_ops.shape(other)
        if inner:
            rx, _ = _broadcast_gradient_args(sx[:-inner], so[:-inner])
        else:
            rx, _ = _broadcast_gradient_args(sx, so)
        return array_ops.reshape(reduce_sum(grad, rx), sx)
    axes, lead = plan
    if not axes:
        return grad
    total = reduce_sum(grad, axes)
    if axes[-1] < lead:  # only leading axes were summed: the total already has x's shape
        return total
    return array_ops.reshape(total, _shape_of(x))


def _shape_of(x):
    """``x``'s shape: a constant when it is fully known, else a Shape op."""
    return x.shape.as_list() if x.shape.is_fully_defined() else array_ops.shape(x)


def _broadcast_gradient_args_lower(site, state):
    """TF's BroadcastGradientArgs: for shapes s0 and s1, the axes of their broadcast that
    each was stretched along (a dim where both are 1 counts for both; equal shapes give
    none)."""
    op, np_dtype = site.op, site.output_dtypes[0].as_numpy_dtype

    def reduction_axes(s0, s1):
        a, b = s0.tolist(), s1.tolist()
        r0, r1 = [], []
        if a != b:
            n = max(len(a), len(b))
            a, b = [1] * (n - len(a)) + a, [1] * (n - len(b)) + b
            for i, (da, db) in enumerate(zip(a, b)):
                if da == 1:
                    r0.append(i)
                if db == 1:
                    r1.append(i)
                if da != db and 1 not in (da, db):
                    raise errors.InvalidArgumentError(
                        None, op, f"Incompatible shapes: [{','.join(map(str, s0.tolist()))}] "
                                  f"vs. [{','.join(map(str, s1.tolist()))}]")
        return np.array(r0, np_dtype), np.array(r1, np_dtype)
    return reduction_axes


def _broadcast_gradient_args_infer(op):
    s0, s1 = op.inputs
    _check_index(s0, op.type, "s0")
    if s1.dtype is not s0.dtype:
        raise TypeError(f"Input 's1' of 'BroadcastGradientArgs' Op has type {s1.dtype.name} "
                        f"that does not match type {s0.dtype.name} of argument 's0'.")
    return [(s0.dtype, TensorShape([None]))] * 2


register_op("BroadcastGradientArgs", _broadcast_gradient_args_infer,
            cpu=Lowering(_broadcast_gradient_args_lower), grad=no_gradient)


def _broadcast_gradient_args(s0, s1):
    return op_util.make_op("BroadcastGradientArgs", [s0, s1]).outputs


# --- gradients of the elementwise ops (the op's dy is ``grad``) ---
def _add_grad(op, grad):
    x, y = op.inputs
    return [_unbroadcast(grad, x, y), _unbroadcast(grad, y, x)]


def _sub_grad(op, grad):
    x, y = op.inputs
    return [_unbroadcast(grad, x, y), negative(_unbroadcast(grad, y, x))]


def _mul_grad(op, grad):
    x, y = op.inputs
    return [_unbroadcast(multiply(grad, y), x, y), _unbroadcast(multiply(x, grad), y, x)]


def _div_grad(divide_op):
    """RealDiv and DivNoNan: d(x/y) = dy/y and -dy*x/y**2, the latter as (-x/y)/y."""
    def grad_fn(op, grad):
        x, y = op.inputs
        return [_unbroadcast(divide_op(grad, y), x, y),
                _unbroadcast(grad * divide_op(divide_op(negative(x), y), y), y, x)]
    return grad_fn


def _floormod_grad(op, grad):
    """x - floor(x/y)*y: dy to x, -floor(x/y)*dy to y."""
    x, y = op.inputs
    return [_unbroadcast(grad, x, y),
            _unbroadcast(grad * negative(floor_div(x, y)), y, x)]


def _pow_grad(op, grad):
    """z = x**y: y*x**(y-1) to x; z*log(x) to y, taken as 0 where x <= 0 (TF), where the
    real log does not exist."""
    x, y = op.inputs
    z = op.outputs[0]
    gx = multiply(grad, y * pow(x, y - 1))
    positive = x > 0
    safe_x = where(positive, x, array_ops.ones_like(x))
    log_x = where(positive, log(safe_x), array_ops.zeros_like(x))
    return [_unbroadcast(gx, x, y), _unbroadcast(grad * z * log_x, y, x)]


def _selecting_grad(x_selected):
    """Maximum/Minimum: the gradient goes to the operand that was selected, to x on ties."""
    def grad_fn(op, grad):
        x, y = op.inputs
        to_x = x_selected(x, y)
        return [_unbroadcast(where_v2(to_x, grad, 0), x, y),
                _unbroadcast(where_v2(to_x, 0, grad), y, x)]
    return grad_fn


def _squared_difference_grad(op, grad):
    x, y = op.inputs
    x_grad = multiply(2.0, grad) * (x - y)
    return [_unbroadcast(x_grad, x, y), negative(_unbroadcast(x_grad, y, x))]


def _output_grad(grad_type):
    """Sigmoid, Tanh, Sqrt, Rsqrt, Reciprocal: one fused op of the output y and dy."""
    return lambda op, grad: [op_util.make(grad_type, [op.outputs[0], grad])]


def _sigmoid_grad_grad(op, grad):
    y, dy = op.inputs  # dy*y*(1-y)
    return [grad * dy * (1 - 2 * y), op_util.make("SigmoidGrad", [y, grad])]


def _tanh_grad_grad(op, grad):
    y, dy = op.inputs  # dy*(1-y*y)
    return [grad * -2.0 * dy * y, op_util.make("TanhGrad", [y, grad])]


def _sqrt_grad_grad(op, grad):
    y = op.inputs[0]  # 0.5*dy/y
    ga = grad / y
    return [-ga * op.outputs[0], 0.5 * ga]


def _rsqrt_grad_grad(op, grad):
    y, dy = op.inputs  # -0.5*dy*y**3
    return [-1.5 * grad * dy * square(y), op_util.make("RsqrtGrad", [y, grad])]


def _reciprocal_grad_grad(op, grad):
    y, dy = op.inputs  # -dy*y*y
    return [grad * -2.0 * dy * y, op_util.make("ReciprocalGrad", [y, grad])]


# --- elementwise registrations: (type, kernel, fusion template, gradient) ---
_ARITHMETIC = (
    ("Add", np.add, "({0} + {1})", _add_grad),
    ("AddV2", np.add, "({0} + {1})", _add_grad),
    ("Sub", np.subtract, "({0} - {1})", _sub_grad),
    ("Mul", np.multiply, "({0} * {1})", _mul_grad),
    ("RealDiv", np.divide, "({0} / {1})", _div_grad(lambda x, y: realdiv(x, y))),
    ("DivNoNan", _div_no_nan, "(0.0 if {1} == 0 else {0} / {1})",
     _div_grad(lambda x, y: div_no_nan(x, y))),
    # numpy returns the second operand of a tie (-0.0 vs +0.0), TF1 the first: swapped
    ("Maximum", lambda x, y: np.maximum(y, x), "np.maximum({0}, {1})",
     _selecting_grad(lambda x, y: greater_equal(x, y))),
    ("Minimum", lambda x, y: np.minimum(y, x), "np.minimum({0}, {1})",
     _selecting_grad(lambda x, y: less_equal(x, y))),
    ("SquaredDifference", _squared_difference, "(({0} - {1}) * ({0} - {1}))",
     _squared_difference_grad),
    # Their integer forms raise (zero divisor, negative exponent): no scalar template.
    ("FloorDiv", _division_lower(np.floor_divide, _floor_quotient), None, no_gradient),
    # Float: numpy's remainder is fmod moved to the divisor's sign, as TF's FloorMod.
    ("FloorMod", _division_lower(np.remainder, np.remainder), None, _floormod_grad),
    ("Pow", Lowering(_pow_lower), None, _pow_grad),
)
_COMPARISONS = (
    ("Equal", np.equal, "({0} == {1})"),
    ("NotEqual", np.not_equal, "({0} != {1})"),
    ("Less", np.less, "({0} < {1})"),
    ("LessEqual", np.less_equal, "({0} <= {1})"),
    ("Greater", np.greater, "({0} > {1})"),
    ("GreaterEqual", np.greater_equal, "({0} >= {1})"),
    ("LogicalAnd", np.logical_and, "({0} & {1})"),
    ("LogicalOr", np.logical_or, "({0} | {1})"),
)
_UNARY = (
    ("Neg", np.negative, "(-{0})", lambda op, grad: [negative(grad)]),
    ("Abs", np.abs, "np.abs({0})", lambda op, grad: [grad * sign(op.inputs[0])]),
    # (np.sign under Numba keeps -0.0; numpy and TF1 give +0.0, as "+ 0" does)
    ("Sign", np.sign, "(1 if {0} > 0 else (-1 if {0} < 0 else {0} + 0))",
     lambda op, grad: [array_ops.zeros_like(op.inputs[0])]),
    ("Square", np.square, "({0} * {0})",
     lambda op, grad: [multiply(grad, multiply(op.inputs[0], 2.0))]),
    ("Sqrt", np.sqrt, "np.sqrt({0})", _output_grad("SqrtGrad")),
    ("Rsqrt", _rsqrt, "(1.0 / np.sqrt({0}))", _output_grad("RsqrtGrad")),
    ("Reciprocal", np.reciprocal, "(1.0 / {0})", _output_grad("ReciprocalGrad")),
    ("Exp", np.exp, "np.exp({0})", lambda op, grad: [grad * op.outputs[0]]),
    ("Expm1", np.expm1, "np.expm1({0})", lambda op, grad: [grad * exp(op.inputs[0])]),
    ("Log", np.log, "np.log({0})", lambda op, grad: [grad * reciprocal(op.inputs[0])]),
    ("Log1p", np.log1p, "np.log1p({0})",
     lambda op, grad: [grad * reciprocal(1 + op.inputs[0])]),
    ("Sigmoid", Lowering(_sigmoid_lower), "(1.0 / (1.0 + np.exp(-{0})))",
     _output_grad("SigmoidGrad")),
    ("Tanh", np.tanh, "np.tanh({0})", _output_grad("TanhGrad")),
    ("Floor", np.floor, "np.floor({0})", no_gradient),
    ("Ceil", np.ceil, "np.ceil({0})", no_gradient),
    ("Round", np.rint, "np.rint({0})", no_gradient),  # half to even, as TF
)
# Gradient-only ops (y, dy) -> dx of the op whose output is y; they are differentiable too.
_OUTPUT_GRADS = (
    ("SigmoidGrad", lambda y, dy: dy * y * (1 - y), "({1} * {0} * (1.0 - {0}))",
     _sigmoid_grad_grad),
    ("TanhGrad", lambda y, dy: dy * (1 - y * y), "({1} * (1.0 - {0} * {0}))", _tanh_grad_grad),
    ("SqrtGrad", lambda y, dy: 0.5 * dy / y, "(0.5 * {1} / {0})", _sqrt_grad_grad),
    ("RsqrtGrad", lambda y, dy: -0.5 * (dy * y) * (y * y), "(-0.5 * ({1} * {0}) * ({0} * {0}))",
     _rsqrt_grad_grad),
    ("ReciprocalGrad", lambda y, dy: -dy * y * y, "(-{1} * {0} * {0})", _reciprocal_grad_grad),
)
for _type, _kernel, _template, _grad in _ARITHMETIC:
    register_op(_type, _binary_infer(), cpu=_kernel, elementwise=_template, grad=_grad)
for _type, _kernel, _template in _COMPARISONS:
    register_op(_type, _binary_infer(dtypes.bool_), cpu=_kernel, elementwise=_template,
                grad=no_gradient)
for _type, _kernel, _template, _grad in _UNARY:
    register_op(_type, _unary_infer(), cpu=_kernel, elementwise=_template, grad=_grad)
for _type, _kernel, _template, _grad in _OUTPUT_GRADS:
    register_op(_type, _binary_infer(), cpu=_kernel, elementwise=_template, grad=_grad)
register_op("LogicalNot", _unary_infer(), cpu=np.logical_not, elementwise="(not {0})",
            grad=no_gradient)

# --- arithmetic ---
add = binary_op("Add", op_util.NUMERIC)
subtract = binary_op("Sub", op_util.NUMERIC)
multiply = binary_op("Mul", op_util.NUMERIC)
realdiv = binary_op("RealDiv", op_util.FLOATS)
floordiv = binary_op("FloorDiv", op_util.NUMERIC, default_name="floordiv")
floor_div = binary_op("FloorDiv", op_util.NUMERIC)
floormod = binary_op("FloorMod", op_util.NUMERIC)
mod = floormod
pow = binary_op("Pow", op_util.NUMERIC)  # noqa: A001  (TF1's name)
maximum = binary_op("Maximum", op_util.NUMERIC)
minimum = binary_op("Minimum", op_util.NUMERIC)
squared_difference = binary_op("SquaredDifference", op_util.FLOATS + _INDEX)


def truediv(x, y, name=None):
    """x / y; integers are divided as floats (int8/int16 as float32, wider as float64)."""
    graph = op_util.graph_for([x, y])
    with graph.as_default(), graph.name_scope(name or "truediv") as scope:
        x, y = op_util.same_dtype_operands([x, y], "RealDiv")
        if x.dtype.is_integer:
            target = dtypes.float32 if x.dtype.size <= 2 else dtypes.float64
            x, y = cast(x, target), cast(y, target)
        return realdiv(x, y, name=scope)


divide = truediv
div_no_nan = binary_op("DivNoNan", op_util.FLOATS, default_name="div_no_nan")


def div(x, y, name=None):
    """TF1's legacy division: true division for floats, floor division for integers."""
    x, y = op_util.same_dtype_operands([x, y], "RealDiv")
    if x.dtype.is_floating:
        return realdiv(x, y, name=name or "div")
    return floordiv(x, y, name=name or "div")


# --- unary ---
negative = unary_op("Neg", _SIGNED)
abs = unary_op("Abs", _SIGNED)  # noqa: A001  (TF1's name)
sign = unary_op("Sign", _SIGNED)
square = unary_op("Square", op_util.NUMERIC)
sqrt = unary_op("Sqrt", op_util.FLOATS)
rsqrt = unary_op("Rsqrt", op_util.FLOATS)
reciprocal = unary_op("Reciprocal", op_util.FLOATS)
exp = unary_op("Exp", op_util.FLOATS)
expm1 = unary_op("Expm1", op_util.FLOATS)
log = unary_op("Log", op_util.FLOATS)
log1p = unary_op("Log1p", op_util.FLOATS)
sigmoid = unary_op("Sigmoid", op_util.FLOATS)
tanh = unary_op("Tanh", op_util.FLOATS)
floor = unary_op("Floor", op_util.FLOATS)
ceil = unary_op("Ceil", op_util.FLOATS)
_round = unary_op("Round", op_util.FLOATS)


def round(x, name=None):  # noqa: A001  (TF1's name)
    """Rounds half to even; an integer tensor is returned as it is (TF1)."""
    (x,) = op_util.convert([x])
    return x if x.dtype.is_integer else _round(x, name=name)


# --- comparisons and logic ---
equal = binary_op("Equal", op_util.ALL)
not_equal = binary_op("NotEqual", op_util.ALL)
less = binary_op("Less", op_util.NUMERIC)
less_equal = binary_op("LessEqual", op_util.NUMERIC)
greater = binary_op("Greater", op_util.NUMERIC)
greater_equal = binary_op("GreaterEqual", op_util.NUMERIC)
logical_and = binary_op("LogicalAnd", _BOOL)
logical_or = binary_op("LogicalOr", _BOOL)
logical_not = unary_op("LogicalNot", _BOOL)


def logical_xor(x, y, name="LogicalXor"):
    """(x | y) & ~(x & y), built from those three ops as TF1 builds it."""
    x, y = op_util.same_dtype_operands([x, y], "LogicalAnd")
    return logical_and(logical_or(x, y), logical_not(logical_and(x, y)), name=name)


# --- select and where ---
def _select_infer(op):
    """TF's Select: cond is a scalar, has the shape of t and e, or is a vector over their
    first dimension."""
    cond, t, e = op.inputs
    data = _merge_shapes(t.shape, e.shape)
    if cond.shape.ndims is None or data.ndims is None or cond.shape.ndims == 0:
        return [(t.dtype, data)]
    if cond.shape.ndims != 1 or data.ndims == 0:
        return [(t.dtype, _merge_shapes(data, cond.shape))]
    _merge_shapes(cond.shape, TensorShape([data.as_tuple()[0]]))
    return [(t.dtype, data)]


def _select_lower(site, state):
    op = site.op

    def select(cond, t, e):
        if np.shape(t) != np.shape(e):
            raise errors.InvalidArgumentError(
                None, op, f"'then' and 'else' must have the same size.  but received: "
                          f"{_shape_text(t)} vs. {_shape_text(e)}")
        if np.ndim(cond) == 1 and np.ndim(t) > 1:
            if cond.shape[0] != t.shape[0]:
                raise errors.InvalidArgumentError(
                    None, op, f"Number of batches of 'then' must match size of 'cond', but "
                              f"saw: {t.shape[0]} vs. {cond.shape[0]}")
            cond = cond.reshape((-1,) + (1,) * (t.ndim - 1))
        elif np.ndim(cond) != 0 and np.shape(cond) != np.shape(t):
            raise errors.InvalidArgumentError(
                None, op, f"Inputs to operation {op.name} of type Select must have the same "
                          f"size and shape.  Input 0: {_shape_text(cond)} != input 1: "
                          f"{_shape_text(t)}")
        return np.where(cond, t, e)
    return select


def _select_v2_infer(op):
    cond, t, e = op.inputs
    return [(t.dtype, broadcast_static_shape(broadcast_static_shape(cond.shape, t.shape),
                                             e.shape))]


def _select_grad(op, grad):
    """The gradient goes to t where cond holds and to e elsewhere; none to cond."""
    cond, t, _ = op.inputs
    zeros = array_ops.zeros_like(t)
    return [None, where(cond, grad, zeros), where(cond, zeros, grad)]


def _select_v2_grad(op, grad):
    cond, t, e = op.inputs
    out = op.outputs[0]
    return [None, _unbroadcast(where_v2(cond, grad, 0), t, out),
            _unbroadcast(where_v2(cond, 0, grad), e, out)]


register_op("Select", _select_infer, cpu=Lowering(_select_lower), grad=_select_grad)
register_op("SelectV2", _select_v2_infer, cpu=np.where, elementwise="({1} if {0} else {2})",
            grad=_select_v2_grad)
register_op("Where", lambda op: [(dtypes.int64, TensorShape([None, op.inputs[0].shape.ndims]))],
            cpu=lambda cond: np.argwhere(cond).astype(np.int64, copy=False), grad=no_gradient)


def _where(select_type, condition, x, y, name):
    """The coordinates of condition's true elements ("Where") without x and y; else the
    ``select_type`` op choosing between them."""
    if x is None and y is None:
        (cond,) = op_util.convert([condition])
        return op_util.make("Where", [cond], name=name or "Where")
    if x is None or y is None:
        raise ValueError("x and y must both be non-None or both be None.")
    with op_util.graph_for([condition, x, y]).as_default():
        (cond,) = op_util.convert([condition])
        if not cond.dtype.is_bool:
            raise TypeError(f"Input 'condition' of '{select_type}' Op has type "
                            f"{cond.dtype.name} that does not match expected type of bool.")
        t, e = op_util.same_dtype_operands([x, y], select_type, ("t", "e"))
    return op_util.make(select_type, [cond, t, e], name=name)


def where(condition, x=None, y=None, name=None):
    """TF1's tf.where. With x and y: elements of x where condition, else of y ("Select";
    condition has their shape, or is a vector over their first dimension, or a scalar).
    Alone: the int64 coordinates [N, rank] of condition's true (nonzero) elements."""
    return _where("Select", condition, x, y, name)


def where_v2(condition, x=None, y=None, name=None):
    """tf.where_v2: like where, but condition, x and y broadcast together ("SelectV2")."""
    return _where("SelectV2", condition, x, y, name)


# --- casts ---
def _cast_kernel(site, state):
    np_dtype = np.dtype(site.attrs["DstT"].as_numpy_dtype)

    def cast(x, alloc=None):  # float to int truncates toward zero, as TF
        if alloc is None:
            return x.astype(np_dtype)
        out = alloc(x.shape, np_dtype)
        np.copyto(out, x, casting="unsafe")  # the conversions astype makes
        return out
    return cast


def _cast_grad(op, grad):
    """A float-to-float cast passes the gradient back in the source dtype; a cast from or
    to an integer or bool dtype passes none."""
    source = op.inputs[0].dtype
    return [cast(grad, source) if source.is_floating and grad.dtype.is_floating else None]


# elementwise "{0}": a fused step converts its value to the step's dtype (passes.fusion
# fuses only the casts whose conversion that reproduces)
register_op("Cast", lambda op: [(op.attrs["DstT"], op.inputs[0].shape)],
            cpu=Lowering(_cast_kernel, allocates=True), grad=_cast_grad, elementwise="{0}")


def cast(x, dtype, name=None):
    (x,) = op_util.convert([x])
    dtype = dtypes.as_dtype(dtype)
    if x.dtype is dtype:
        return x
    return op_util.make("Cast", [x], {"SrcT": x.dtype, "DstT": dtype}, name)


def to_float(x, name="ToFloat"):
    return cast(x, dtypes.float32, name=name)


def to_double(x, name="ToDouble"):
    return cast(x, dtypes.float64, name=name)


def to_int32(x, name="ToInt32"):
    return cast(x, dtypes.int32, name=name)


def to_int64(x, name="ToInt64"):
    return cast(x, dtypes.int64, name=name)


def saturate_cast(value, dtype, name=None):
    """Casts to ``dtype`` after clamping to the values ``dtype`` can hold. The bounds are the
    nearest values of the input dtype inside that range (float32 2147483520, not 2**31)."""
    graph = op_util.graph_for([value])
    with graph.as_default(), graph.name_scope(name or "saturate_cast") as scope:
        (x,) = op_util.convert([value])
        dtype = dtypes.as_dtype(dtype)
        src = x.dtype.as_numpy_dtype
        if x.dtype.min < dtype.min:
            x = maximum(x, _inner_bound(src, dtype.min))
        if x.dtype.max > dtype.max:
            x = minimum(x, _inner_bound(src, dtype.max))
        return cast(x, dtype, name=scope)


def _inner_bound(np_type, limit):
    """``limit`` in ``np_type``, stepped back inside when rounding carried it outside."""
    bound = np.array(limit).astype(np_type)
    if (bound.item() > limit) if limit > 0 else (bound.item() < limit):
        bound = np.nextafter(bound, np_type(0))
    return bound


# --- matmul ---
_MATMUL_TYPES = op_util.FLOATS + (dtypes.int32, dtypes.int64, dtypes.uint8, dtypes.uint16)


def _matmul_infer(op):
    a, b = op.inputs
    m, k = op_util.dims_of_rank(a.shape, 2)[::-1 if op.attrs["transpose_a"] else 1]
    k2, n = op_util.dims_of_rank(b.shape, 2)[::-1 if op.attrs["transpose_b"] else 1]
    _check_inner_dims(k, k2)
    return [(a.dtype, TensorShape([m, n]))]


def _batch_matmul_infer(op):
    a, b = op.inputs
    if a.shape.ndims is None or b.shape.ndims is None:
        return [(a.dtype, TensorShape(None))]
    for s in (a.shape, b.shape):
        if s.ndims < 2:
            raise ValueError(f"Shape must be at least rank 2 but is rank {s.ndims}")
    da, db = a.shape.as_tuple(), b.shape.as_tuple()
    m, k = da[-2:][::-1 if op.attrs["adj_x"] else 1]
    k2, n = db[-2:][::-1 if op.attrs["adj_y"] else 1]
    _check_inner_dims(k, k2)
    batch = broadcast_static_shape(TensorShape(da[:-2]), TensorShape(db[:-2]))
    return [(a.dtype, batch.concatenate([m, n]))]


def _matmul_lower(transpose_a, transpose_b, swap):
    """np.matmul is BLAS (sgemm/dgemm) for floats and passes a transposed view to BLAS as
    a flag, without copying: nothing to gain from a Numba kernel. Integers use numpy's loops.
    2-D float products go through graphflow.kernels.cpu.matmul, which keeps small ones on a
    single-threaded BLAS (see there why)."""
    def factory(site, state):
        op, ta, tb = site.op, site.attrs[transpose_a], site.attrs[transpose_b]
        from graphflow.kernels.cpu.matmul import matmul as matmul_2d

        def matmul(a, b, alloc=None):
            try:
                if a.ndim == 2 and b.ndim == 2:
                    return matmul_2d(a, b, ta, tb, alloc)
                return np.matmul(swap(a) if ta else a, swap(b) if tb else b)
            except ValueError:
                raise errors.InvalidArgumentError(
                    None, op, f"Matrix size-incompatible: In[0]: {_shape_text(a)}, In[1]: "
                              f"{_shape_text(b)}") from None
        return matmul
    return Lowering(factory, allocates=True)


def _matmul_grads(grad, a, b, ta, tb):
    """The gradients of op(a) @ op(b) for each transpose combination, each one matmul
    whose own flags absorb the transposes (no Transpose op)."""
    if not ta and not tb:
        return [matmul(grad, b, transpose_b=True), matmul(a, grad, transpose_a=True)]
    if not ta:
        return [matmul(grad, b), matmul(grad, a, transpose_a=True)]
    if not tb:
        return [matmul(b, grad, transpose_b=True), matmul(a, grad)]
    return [matmul(b, grad, transpose_a=True, transpose_b=True),
            matmul(grad, a, transpose_a=True, transpose_b=True)]


def _matmul_grad(op, grad):
    a, b = op.inputs
    return _matmul_grads(grad, a, b, op.attrs["transpose_a"], op.attrs["transpose_b"])


def _batch_matmul_grad(op, grad):
    """As MatMul's, then summed over the batch dims each operand was broadcast along."""
    x, y = op.inputs
    gx, gy = _matmul_grads(grad, x, y, op.attrs["adj_x"], op.attrs["adj_y"])
    return [_unbroadcast(gx, x, y, inner=2), _unbroadcast(gy, y, x, inner=2)]


register_op("MatMul", _matmul_infer,
            cpu=_matmul_lower("transpose_a", "transpose_b", np.transpose), grad=_matmul_grad)
register_op("BatchMatMulV2", _batch_matmul_infer,
            cpu=_matmul_lower("adj_x", "adj_y", lambda m: np.swapaxes(m, -1, -2)),
            grad=_batch_matmul_grad)


def matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False, adjoint_b=False,
           a_is_sparse=False, b_is_sparse=False, name=None):
    """a @ b: "MatMul" when both are matrices, else "BatchMatMulV2" over [..., m, k] and
    [..., k, n] with broadcast batch dims. Adjoint is transpose for real dtypes; the
    ``*_is_sparse`` hints change nothing but speed in TF and are accepted."""
    for flag, t, adj in (("a", transpose_a, adjoint_a), ("b", transpose_b, adjoint_b)):
        if t and adj:
            raise ValueError(f"Only one of transpose_{flag} and adjoint_{flag} can be True.")
    a, b = op_util.same_dtype_operands([a, b], "MatMul", ("a", "b"))
    op_util.check_dtype(a, _MATMUL_TYPES, "MatMul", "a")
    ta, tb = bool(transpose_a or adjoint_a), bool(transpose_b or adjoint_b)
    ranks = (a.shape.ndims, b.shape.ndims)
    if None in ranks or max(ranks) > 2:
        return op_util.make("BatchMatMulV2", [a, b], {"adj_x": ta, "adj_y": tb},
                            name or "MatMul")
    return op_util.make("MatMul", [a, b], {"transpose_a": ta, "transpose_b": tb}, name)


# --- reductions ---
def _check_index(tensor, op_type, arg):
    if tensor.dtype not in _INDEX:
        raise TypeError(f"Value passed to parameter '{arg}' of '{op_type}' has DataType "
                        f"{tensor.dtype.name} not in list of allowed values: int32, int64")


def _index_tensor(value):
    """An axis argument as a tensor: Python values default to int32 (so [] is an empty int32
    vector, as TF's Tidx attr converts it)."""
    return ops_lib.convert_to_tensor(value, preferred_dtype=dtypes.int32)


def _normalize_axes(value, rank):
    """``value`` (an int or int vector) as axes in [0, rank), in order, duplicates kept."""
    axes = []
    for a in np.asarray(value).reshape(-1).tolist():
        if not -rank <= a < rank:
            raise ValueError(f"Invalid reduction dimension {a} for input with {rank} "
                             "dimensions.")
        axes.append(a % rank)
    return axes


def _run_axes(value, rank, op):
    """The axes tuple a reduction kernel uses; InvalidArgumentError as TF raises it."""
    try:
        axes = _normalize_axes(value, rank)
    except ValueError as e:
        raise errors.InvalidArgumentError(None, op, str(e)) from None
    for i, a in enumerate(axes):
        if a in axes[:i]:
            raise errors.InvalidArgumentError(
                None, op, f"Invalid reduction arguments: Axes contains duplicate dimension: "
                          f"{a}")
    return tuple(axes)


def _reduction_infer(op):
    """x: any shape; axes: int32/int64 scalar or vector (TF's reduction_indices)."""
    x, axes = op.inputs
    _check_index(axes, op.type, "reduction_indices")
    if axes.shape.ndims is not None and axes.shape.ndims > 1:
        raise ValueError(f"Shape must be at most rank 1 but is rank {axes.shape.ndims}")
    keep, rank = op.attrs["keep_dims"], x.shape.ndims
    value = ops_lib.constant_value(axes)
    if rank is None:
        return [(x.dtype, TensorShape(None))]
    if value is None:
        return [(x.dtype, TensorShape([None] * rank if keep else None))]
    reduced = set(_normalize_axes(value, rank))
    dims = x.shape.as_tuple()
    if keep:
        return [(x.dtype, TensorShape([1 if i in reduced else d for i, d in enumerate(dims)]))]
    return [(x.dtype, TensorShape([d for i, d in enumerate(dims) if i not in reduced]))]


def _reduction_lower(make_reducer, allocates=False):
    """``make_reducer(np_dtype) -> reduce(x, axes, keepdims, alloc)``, where ``alloc`` is None
    or, for a reducer that ``allocates`` (see registry.Lowering), the output's allocator; the
    axes are baked in when they are a constant and the input's rank is known."""
    def factory(site, state):
        op, keep = site.op, site.attrs["keep_dims"]
        reduce = make_reducer(site.input_dtypes[0].as_numpy_dtype)
        value, rank = site.const_input(1), site.input_shapes[0].ndims
        if value is not None and rank is not None:
            axes = _run_axes(value, rank, op)
            return (lambda x, alloc=None: reduce(x, axes, keep, alloc)), (0,)
        return lambda x, a, alloc=None: reduce(x, _run_axes(a, np.ndim(x), op), keep, alloc)
    return Lowering(factory, allocates=allocates)


def _accumulator(np_dtype):
    """float16 sums accumulate in float32, as TF's do."""
    return np.float32 if np_dtype == np.float16 else np_dtype


def _accumulating_reducer(np_reduce):
    """Sum/Prod, accumulated in the input dtype (float16 in float32), wrapping as TF's do."""
    def make(np_dtype):
        acc = _accumulator(np_dtype)
        return lambda x, axes, keep, alloc: np_reduce(
            x, axis=axes, dtype=acc, keepdims=keep).astype(np_dtype, copy=False)
    return make


def _sum_reducer(np_dtype):
    """Sum; over leading axes of a float array (bias and broadcast gradients) by the
    graphflow.kernels.cpu.reduce kernel, 50x numpy's speed on [N, H, W, C] shapes. Float
    sums elsewhere write into a given buffer."""
    general = _accumulating_reducer(np.sum)(np_dtype)
    if np.dtype(np_dtype) not in (np.float32, np.float64):
        return general

    def total(x, axes, keep, alloc):
        count = len(axes)
        if keep or not 0 < count < x.ndim or axes != tuple(range(count)) or \
                not x.flags.c_contiguous:
            if alloc is None:
                return general(x, axes, keep, None)
            kept = tuple((1 if keep else None) if i in axes else d
                         for i, d in enumerate(x.shape))
            out = alloc(tuple(d for d in kept if d is not None), x.dtype)
            return np.sum(x, axis=axes, keepdims=keep, out=out)
        from graphflow.kernels.cpu.reduce import sum_leading_axes  # numba: first call only
        return sum_leading_axes(x, count)
    return total


def _mean_reducer(np_dtype):
    acc = _accumulator(np_dtype)
    integer = np.dtype(np_dtype).kind in "iu"

    def mean(x, axes, keep, alloc):
        count = math.prod(np.shape(x)[a] for a in axes)
        total = np.sum(x, axis=axes, dtype=acc, keepdims=keep)
        if integer:
            # TF divides the sum (wrapped in the input dtype) with C++ integer division,
            # which truncates toward zero; an empty mean is 0.
            total = total.astype(np.int64)
            return (np.abs(total) // max(count, 1) * np.sign(total)).astype(np_dtype)
        return np.divide(total, count).astype(np_dtype, copy=False)
    return mean


def _extremum_reducer(np_reduce, identity):
    """Max/Min; an empty reduction gives TF's identity (lowest or highest value)."""
    def make(np_dtype):
        kind = np.dtype(np_dtype).kind
        start = identity * np.inf if kind == "f" else (
            np.iinfo(np_dtype).min if identity < 0 else np.iinfo(np_dtype).max)
        return lambda x, axes, keep, alloc: np_reduce(x, axis=axes, keepdims=keep,
                                                      initial=start)
    return make


def _logical_reducer(np_reduce):
    return lambda np_dtype: (lambda x, axes, keep, alloc: np_reduce(x, axis=axes,
                                                                    keepdims=keep))


# --- gradients of the reductions ---
def _reduced_axes(op):
    """A reduction's axes, sorted and non-negative, when its input's rank and the axes are
    known at build time; else None (the gradient then finds them at run time)."""
    rank, value = op.inputs[0].shape.ndims, ops_lib.constant_value(op.inputs[1])
    if rank is None or value is None:
        return None
    return sorted(set(_normalize_axes(value, rank)))


def _kept_shape(x, axes):
    """At run time, TF's reduced_shape: shape(x) with the dims at ``axes`` set to 1."""
    sx = array_ops.shape(x)
    rank = array_ops.size(sx)
    axes = floormod(cast(array_ops.reshape(axes, [-1]), dtypes.int32), maximum(rank, 1))
    hit = reduce_any(equal(array_ops.expand_dims(array_ops.range(rank), 1),
                           array_ops.expand_dims(axes, 0)), axis=1)
    return where_v2(hit, 1, sx)


def _with_kept_dims(op, value, kept=None):
    """``value``, a reduction's result or its gradient, with its reduced dims back as 1s
    (``kept`` is _kept_shape's tensor when the axes are known only at run time)."""
    if op.attrs["keep_dims"]:
        return value
    axes = _reduced_axes(op)
    if axes is None:
        return array_ops.reshape(value, kept)
    dims = [1 if i in axes else d for i, d in enumerate(op.inputs[0].shape.as_tuple())]
    if None not in dims:
        return array_ops.reshape(value, dims)
    for a in axes:  # views that keep the unknown dims; no shape tensor needed
        value = array_ops.expand_dims(value, a)
    return value


def _sum_grad(op, grad):
    """Every input element gets the gradient of the sum it went into: the gradient with
    the reduced dims restored, tiled across them."""
    x = op.inputs[0]
    axes = _reduced_axes(op)
    if axes is None:
        kept = _kept_shape(x, op.inputs[1])
        multiples = floordiv(array_ops.shape(x), maximum(kept, 1))
        return [array_ops.tile(_with_kept_dims(op, grad, kept), multiples), None]
    grad = _with_kept_dims(op, grad)
    dims = x.shape.as_tuple()
    if all(dims[a] is not None for a in axes):
        multiples = [dims[i] if i in axes else 1 for i in range(len(dims))]
        if all(m == 1 for m in multiples):
            return [grad, None]
    elif len(axes) == len(dims):
        multiples = array_ops.shape(x)
    else:
        multiples = where_v2([i in axes for i in range(len(dims))], array_ops.shape(x), 1)
    return [array_ops.tile(grad, multiples), None]


def _mean_grad(op, grad):
    """Sum's gradient divided by the number of elements each mean covers."""
    x, sum_grad = op.inputs[0], _sum_grad(op, grad)[0]
    axes, dims = _reduced_axes(op), x.shape.as_tuple()
    if axes is not None and all(dims[a] is not None for a in axes):
        factor = math.prod(dims[a] for a in axes)
    else:
        factor = cast(floordiv(array_ops.size(x), maximum(array_ops.size(op.outputs[0]), 1)),
                      sum_grad.dtype)
    return [truediv(sum_grad, factor), None]


def _extremum_grad(op, grad):
    """Max/Min: the gradient is shared equally among the elements equal to the extremum."""
    x, axes = op.inputs
    kept = None if op.attrs["keep_dims"] or _reduced_axes(op) is not None else \
        _kept_shape(x, axes)
    y = _with_kept_dims(op, op.outputs[0], kept)
    grad = _with_kept_dims(op, grad, kept)
    hits = cast(equal(y, x), grad.dtype)
    count = reduce_sum(hits, axes, keepdims=True)
    return [divide(hits, count) * grad, None]


def _prod_grad(op, grad):
    """The product of all the other elements of each one's group, exactly even with zeros:
    the reduced axes are moved to the front and flattened into one, and exclusive
    cumulative products from both ends multiply to "all but this one"."""
    x, axes = op.inputs[0], _reduced_axes(op)
    grad = _sum_grad(op, grad)[0]
    if axes is not None:
        perm = axes + [i for i in range(x.shape.ndims) if i not in axes]
        inverse = np.argsort(perm).tolist()
        count = len(axes)
    else:
        rank = array_ops.rank(x)
        reduced = floormod(cast(array_ops.reshape(op.inputs[1], [-1]), dtypes.int32),
                           maximum(rank, 1))
        hit = reduce_any(equal(array_ops.expand_dims(array_ops.range(rank), 1),
                               array_ops.expand_dims(reduced, 0)), axis=1)
        others = cast(array_ops.reshape(where(logical_not(hit)), [-1]), dtypes.int32)
        perm = array_ops.concat([reduced, others], 0)
        inverse = array_ops.invert_permutation(perm)
        count = array_ops.size(reduced)
    permuted = array_ops.transpose(x, perm)
    dims = permuted.shape.as_tuple()
    if dims is not None and None not in dims and not isinstance(count, ops_lib.Tensor):
        permuted_shape = list(dims)
        matrix = [math.prod(dims[:count]), math.prod(dims[count:])]
    else:
        permuted_shape = array_ops.shape(permuted)
        matrix = [reduce_prod(permuted_shape[:count]), reduce_prod(permuted_shape[count:])]
    flat = array_ops.reshape(permuted, matrix)
    others = cumprod(flat, axis=0, exclusive=True) * cumprod(flat, axis=0, exclusive=True,
                                                            reverse=True)
    return [grad * array_ops.transpose(array_ops.reshape(others, permuted_shape), inverse),
            None]


_REDUCTIONS = (
    ("Sum", _sum_reducer, op_util.NUMERIC, _sum_grad),
    ("Mean", _mean_reducer, op_util.NUMERIC, _mean_grad),
    ("Prod", _accumulating_reducer(np.prod), op_util.NUMERIC, _prod_grad),
    ("Max", _extremum_reducer(np.max, -1), op_util.NUMERIC, _extremum_grad),
    ("Min", _extremum_reducer(np.min, 1), op_util.NUMERIC, _extremum_grad),
    ("Any", _logical_reducer(np.any), _BOOL, no_gradient),
    ("All", _logical_reducer(np.all), _BOOL, no_gradient),
)
for _type, _reducer, _, _grad in _REDUCTIONS:
    register_op(_type, _reduction_infer, cpu=_reduction_lower(_reducer, _type == "Sum"),
                grad=_grad)


def _alias(name, value, old_name, old_value):
    """TF1's deprecated_argument_lookup: the value of whichever spelling was given."""
    if value is not None and old_value is not None:
        raise ValueError(f"Cannot specify both '{old_name}' and '{name}'.")
    return value if value is not None else old_value


def _reduction(op_type, allowed):
    def reduce(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None,
               keep_dims=None):
        axis = _alias("axis", axis, "reduction_indices", reduction_indices)
        keepdims = bool(_alias("keepdims", keepdims, "keep_dims", keep_dims))
        (x,) = op_util.convert([input_tensor])
        op_util.check_dtype(x, allowed, op_type, "input")
        with x.graph.as_default():
            if axis is None and x.shape.ndims is not None:
                axes = ops_lib.convert_to_tensor(np.arange(x.shape.ndims, dtype=np.int32))
            elif axis is None:  # all axes of a tensor of unknown rank, found at run time
                axes = array_ops.range(0, array_ops.rank(x))
            else:
                axes = _index_tensor(axis)
        out = op_util.make(op_type, [x, axes], {"keep_dims": keepdims}, name)
        if axis is None and not keepdims:
            out.set_shape(())  # all axes, even when the rank is unknown
        return out
    reduce.__name__ = "reduce_" + op_type.lower()
    reduce.__doc__ = (f"tf.{reduce.__name__}: the {op_type} over ``axis`` (all axes if None;"
                      " negative axes count from the end), keeping reduced dims as size 1 if "
                      "``keepdims``. TF1 spellings reduction_indices= and keep_dims= work.")
    return reduce


reduce_sum, reduce_mean, reduce_prod, reduce_max, reduce_min, reduce_any, reduce_all = (
    _reduction(t, allowed) for t, _, allowed, _ in _REDUCTIONS)


# --- argmax / argmin ---
def _arg_infer(op):
    x, axis = op.inputs
    _check_index(axis, op.type, "dimension")
    if axis.shape.ndims not in (None, 0):
        raise ValueError(f"Shape must be rank 0 but is rank {axis.shape.ndims}")
    rank, value = x.shape.ndims, ops_lib.constant_value(axis)
    out = op.attrs["output_type"]
    if rank is None:
        return [(out, TensorShape(None))]
    if value is None:
        return [(out, TensorShape([None] * max(rank - 1, 0)))]
    a = int(value)
    if not -rank <= a < rank:
        raise ValueError(f"Dimension ({a}) must be in the range [{-rank}, {rank}), where "
                         f"{rank} is the number of dimensions in the input.")
    dims = list(x.shape.as_tuple())
    del dims[a % rank]
    return [(out, TensorShape(dims))]


def _arg_lower(np_arg, nan_fill):
    """TF's ArgMax/ArgMin skip NaNs, keep the first of equal extremes, and give 0 when no
    value beats -inf (+inf): NaNs become that infinity before numpy's argmax/argmin runs."""
    def factory(site, state):
        op = site.op
        out = site.attrs["output_type"].as_numpy_dtype
        fill = nan_fill if site.input_dtypes[0].is_floating else None

        def arg(x, axis):
            rank = np.ndim(x)
            a = int(axis)
            if not -rank <= a < rank:
                raise errors.InvalidArgumentError(
                    None, op, f"Expected dimension in the range [{-rank}, {rank}), but got {a}")
            if np.shape(x)[a] == 0:
                raise errors.InvalidArgumentError(
                    None, op, f"Reduction axis {a % rank} is empty in shape {_shape_text(x)}")
            if fill is not None:
                nan = np.isnan(x)
                if nan.any():
                    x = np.where(nan, fill, x)
            return np_arg(x, axis=a).astype(out, copy=False)

        value = site.const_input(1)
        if value is not None:
            return (lambda x: arg(x, value)), (0,)
        return arg
    return Lowering(factory)


register_op("ArgMax", _arg_infer, cpu=_arg_lower(np.argmax, -np.inf), grad=no_gradient)
register_op("ArgMin", _arg_infer, cpu=_arg_lower(np.argmin, np.inf), grad=no_gradient)


def _arg_reduce(op_type, input, axis, output_type, name):
    (x,) = op_util.convert([input])
    op_util.check_dtype(x, op_util.NUMERIC, op_type, "input")
    output_type = dtypes.as_dtype(output_type)
    if output_type not in _INDEX:
        raise TypeError(f"Value passed to parameter 'output_type' has DataType "
                        f"{output_type.name} not in list of allowed values: int32, int64")
    with x.graph.as_default():
        axis = _index_tensor(axis)
    return op_util.make(op_type, [x, axis], {"output_type": output_type}, name)


def argmax(input, axis=None, name=None, dimension=None, output_type=dtypes.int64):
    """The index of the largest value along ``axis`` (default 0; TF1's dimension=)."""
    axis = _alias("axis", axis, "dimension", dimension)
    return _arg_reduce("ArgMax", input, 0 if axis is None else axis, output_type, name)


def argmin(input, axis=None, name=None, dimension=None, output_type=dtypes.int64):
    """The index of the smallest value along ``axis`` (default 0; TF1's dimension=)."""
    axis = _alias("axis", axis, "dimension", dimension)
    return _arg_reduce("ArgMin", input, 0 if axis is None else axis, output_type, name)


def arg_max(input, dimension, name=None, output_type=dtypes.int64):
    return _arg_reduce("ArgMax", input, dimension, output_type, name)


def arg_min(input, dimension, name=None, output_type=dtypes.int64):
    return _arg_reduce("ArgMin", input, dimension, output_type, name)


# --- cumsum / cumprod ---
def _cumulative_infer(op):
    x, axis = op.inputs
    _check_index(axis, op.type, "axis")
    if axis.shape.ndims not in (None, 0):
        raise ValueError(f"Shape must be rank 0 but is rank {axis.shape.ndims}")
    return [(x.dtype, x.shape)]


def _cumulative_lower(np_accumulate, identity):
    """Cumsum/Cumprod along one axis; ``exclusive`` shifts each result one place along it
    (the first becomes ``identity``), ``reverse`` accumulates from the far end."""
    def factory(site, state):
        op, exclusive, reverse = site.op, site.attrs["exclusive"], site.attrs["reverse"]
        np_dtype = site.output_dtypes[0].as_numpy_dtype
        acc = _accumulator(np_dtype)

        def accumulate(x, axis):
            rank, a = np.ndim(x), int(axis)
            if not -rank <= a < rank:
                raise errors.InvalidArgumentError(
                    None, op, f"ScanOp: Expected scan axis in the range [{-rank}, {rank}), "
                              f"but got {a}")
            a %= rank
            if reverse:
                x = np.flip(x, a)
            out = np_accumulate(x, axis=a, dtype=acc)
            if exclusive:
                shifted = np.empty_like(out)
                before = (slice(None),) * a
                shifted[before + (slice(0, 1),)] = identity
                shifted[before + (slice(1, None),)] = out[before + (slice(None, -1),)]
                out = shifted
            if reverse:
                out = np.flip(out, a)
            return out.astype(np_dtype, copy=False)
        return accumulate
    return Lowering(factory)


def _cumsum_grad(op, grad):
    """Each input adds into the sums after it (before it, when reversed)."""
    return [cumsum(grad, op.inputs[1], exclusive=op.attrs["exclusive"],
                   reverse=not op.attrs["reverse"]), None]


def _cumprod_grad(op, grad):
    """TF's formula: the reverse cumulative sum of grad * cumprod(x), divided by x (0 where
    x is 0, as TF: that gradient is not exact there)."""
    x, axis = op.inputs
    exclusive, reverse = op.attrs["exclusive"], op.attrs["reverse"]
    products = cumprod(x, axis, exclusive=exclusive, reverse=reverse)
    sums = cumsum(products * grad, axis, exclusive=exclusive, reverse=not reverse)
    return [div_no_nan(sums, x), None]


register_op("Cumsum", _cumulative_infer, cpu=_cumulative_lower(np.cumsum, 0),
            grad=_cumsum_grad)
register_op("Cumprod", _cumulative_infer, cpu=_cumulative_lower(np.cumprod, 1),
            grad=_cumprod_grad)


def _cumulative(op_type):
    def accumulate(x, axis=0, exclusive=False, reverse=False, name=None):
        (x,) = op_util.convert([x])
        op_util.check_dtype(x, op_util.NUMERIC, op_type)
        with x.graph.as_default():
            axis = _index_tensor(axis)
        return op_util.make(op_type, [x, axis], {"exclusive": bool(exclusive),
                                                 "reverse": bool(reverse)}, name)
    accumulate.__name__ = op_type.lower()
    accumulate.__doc__ = (f"tf.{op_type.lower()}: the running {op_type[3:].lower()} along "
                          "``axis``; ``exclusive`` leaves each element out of its own result, "
                          "``reverse`` runs from the end.")
    return accumulate


cumsum, cumprod = _cumulative("Cumsum"), _cumulative("Cumprod")


# --- add_n ---
def _add_n_infer(op):
    shape = op.inputs[0].shape
    for t in op.inputs[1:]:
        shape = _merge_shapes(shape, t.shape)
    return [(op.inputs[0].dtype, shape)]


def _add_n_lower(site, state):
    """Sums in input order into one fresh array; checks shapes at run time unless the
    static ones already fix them (numpy would broadcast where TF refuses)."""
    op = site.op
    checked = not all(s.is_fully_defined() for s in site.input_shapes)

    def add_n(*values):
        if checked:
            first = np.shape(values[0])
            for i, v in enumerate(values[1:], 1):
                if np.shape(v) != first:
                    raise errors.InvalidArgumentError(
                        None, op, f"Inputs to operation {op.name} of type AddN must have the "
                                  f"same size and shape.  Input 0: {_shape_text(values[0])} "
                                  f"!= input {i}: {_shape_text(v)}")
        total = values[0] + values[1]
        for v in values[2:]:
            total += v  # in place: total is this kernel's own array (or a numpy scalar)
        return total
    return add_n


register_op("AddN", _add_n_infer, cpu=Lowering(_add_n_lower),
            grad=lambda op, grad: [grad] * len(op.inputs))


def add_n(inputs, name=None):
    """The elementwise sum of a list of tensors of one dtype and shape ("AddN")."""
    if not inputs or not isinstance(inputs, (list, tuple)):
        raise ValueError("inputs must be a list of at least one Tensor with the same dtype "
                         "and shape")
    inputs = op_util.convert(list(inputs))
    kinds = [t.dtype for t in inputs]
    if any(d is not kinds[0] for d in kinds):
        raise TypeError(f"Tensors in list passed to 'inputs' of 'AddN' Op have types "
                        f"[{', '.join(d.name for d in kinds)}] that don't all match.")
    op_util.check_dtype(inputs[0], op_util.NUMERIC, "AddN", "inputs")
    if len(inputs) == 1:
        if name:
            return array_ops.identity(inputs[0], name=name)
        return inputs[0]
    return op_util.make("AddN", inputs, name=name)


def accumulate_n(inputs, shape=None, tensor_dtype=None, name=None):
    """tf.accumulate_n: add_n's sum, after checking the optional ``shape`` and
    ``tensor_dtype`` (a graph has no eager accumulation to gain from)."""
    if not inputs or not isinstance(inputs, (list, tuple)):
        raise ValueError("inputs must be a list of at least one Tensor with the same dtype "
                         "and shape")
    inputs = op_util.convert(list(inputs))
    if shape is not None:
        for t in inputs:
            t.shape.assert_is_compatible_with(shape)
    if tensor_dtype is not None and inputs[0].dtype is not dtypes.as_dtype(tensor_dtype):
        raise TypeError(f"tensor_dtype is {dtypes.as_dtype(tensor_dtype).name}, but input is "
                        f"of type {inputs[0].dtype.name}")
    return add_n(inputs, name=name)


__all__ = ["abs", "accumulate_n", "add", "add_n", "arg_max", "arg_min", "argmax", "argmin",
           "cast", "ceil", "cumprod", "cumsum", "div", "div_no_nan", "divide", "equal", "exp",
           "expm1", "floor", "floor_div", "floordiv", "floormod", "greater", "greater_equal",
           "less", "less_equal", "log", "log1p", "logical_and", "logical_not", "logical_or",
           "logical_xor", "matmul", "maximum", "minimum", "mod", "multiply", "negative",
           "not_equal", "pow", "realdiv", "reciprocal", "reduce_all", "reduce_any",
           "reduce_max", "reduce_mean", "reduce_min", "reduce_prod", "reduce_sum", "round",
           "rsqrt", "saturate_cast", "sigmoid", "sign", "sqrt", "square", "squared_difference",
           "subtract", "tanh", "to_double", "to_float", "to_int32", "to_int64", "truediv",
           "where", "where_v2"]
