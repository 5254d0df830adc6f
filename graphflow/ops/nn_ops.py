"""Neural-network ops (TF1's tf.nn): activations, softmax and the softmax cross-entropies,
sigmoid cross-entropy, bias_add, l2_loss/l2_normalize, moments/batch_normalization, in_top_k
and dropout. Each op type sits beside its gradient, and each constructor builds the ops and
names TF 1.15's python wrapper builds (``tf.nn.softmax_cross_entropy_with_logits_v2`` makes
an op "softmax_cross_entropy_with_logits" and returns ".../Reshape_2").

Kernels follow TF's formulas, so values match TF to rounding, edge cases included: Elu is
``exp(x) - 1`` (not expm1), Softplus uses TF's log(epsilon) thresholds, the ``*Grad`` kernels
multiply by masks (``inf * 0`` is nan, as in TF), LeakyRelu's alpha is a float32 attr.
Activations are numpy expressions; softmax and the cross-entropies are the Numba kernels of
graphflow.kernels.cpu.softmax (imported when a plan first needs them), which take float32
and float64, so float16 runs in float32 and is rounded back.

``elementwise`` templates are scalar Numba expressions over the inputs ``{0}, {1}`` and the
op's attrs by name (``{alpha}``), for the fusion pass: ``template.format(*inputs, **attrs)``.
They may compute in float64; the fused kernel stores the op's dtype.
"""
import contextlib
import math
import numbers

import numpy as np

from graphflow.framework import dtypes, errors
from graphflow.framework import ops as ops_lib
from graphflow.framework.registry import Lowering, no_gradient, register_op
from graphflow.framework.tensor_shape import TensorShape, as_shape
from graphflow.ops import array_ops, math_ops, op_util, random_ops


# --- shared helpers ---------------------------------------------------------------------------

@contextlib.contextmanager
def _scope(name, default_name, values):
    """TF1's ``name_scope(name, default_name, values)``: the values' graph is the default
    inside; the scope string (e.g. "dropout_1/") names an op exactly when passed as its name."""
    graph = op_util.graph_for([v for v in values if v is not None])
    with graph.as_default(), graph.name_scope(name or default_name) as scope:
        yield scope


def _alias(new_name, new_value, old_name, old_value):
    """TF1's deprecated_argument_lookup: the value of whichever spelling was given."""
    if old_value is not None:
        if new_value is not None:
            raise ValueError(f"Cannot specify both '{old_name}' and '{new_name}'")
        return old_value
    return new_value


def _ensure_xent_args(name, sentinel, labels, logits):
    if sentinel is not None:
        raise ValueError(f"Only call `{name}` with named arguments (labels=..., logits=..., ...)")
    if labels is None or logits is None:
        raise ValueError("Both labels and logits must be provided.")


def _same_as_input(op):
    return [(op.inputs[0].dtype, op.inputs[0].shape)]


def _unary(op_type, allowed, features, name, attrs=None, arg="features"):
    (x,) = op_util.convert([features])
    op_util.check_dtype(x, allowed, op_type, arg)
    return op_util.make(op_type, [x], attrs, name)


def _is_zero(tensor):
    """True when ``tensor`` is known to be all zeros (an unused output's filled-in gradient)."""
    if tensor.op.type in ("ZerosLike", "Zeros"):
        return True
    value = ops_lib.constant_value(tensor)
    return value is not None and not np.any(value)


def _keep_last_dims_sum(x):
    return math_ops.reduce_sum(x, -1, keepdims=True)


# --- activations: forward and gradient kernels side by side -----------------------------------
# The *Grad ops take (dy, features-or-outputs) in TF's order and multiply dy by a mask or a
# derivative, so non-finite dy propagates as in TF.

def _relu(x):
    return np.maximum(x.dtype.type(0), x)  # x on a tie: relu(-0.0) is -0.0, as in TF1


def _relu_grad(dy, x):
    return dy * (x > 0)


def _relu6(x):
    return np.clip(x, x.dtype.type(0), x.dtype.type(6))


def _relu6_grad(dy, x):
    return dy * ((x > 0) & (x < 6))


def _rounded(ufunc, x):
    """ufunc(x) rounded once to x's dtype: float32 and float16 go through float64, which
    gives the correctly rounded value TF's exp/log1p give where numpy's float32 loops are an
    ulp off (exp(-1e-7) is 0.99999988 in TF, 0.99999994 in numpy's float32 exp)."""
    if x.dtype == np.float64:
        return ufunc(x)
    return ufunc(x, dtype=np.float64).astype(x.dtype)


def _elu(x):
    # TF's formula, exp(x) - 1 rather than expm1; the minimum keeps exp from overflowing
    # where x is selected anyway.
    return np.where(x < 0, _rounded(np.exp, np.minimum(x, x.dtype.type(0))) - x.dtype.type(1),
                    x)


def _elu_grad(dy, y):  # EluGrad takes Elu's output: dElu/dx = y + 1 where y < 0
    return np.where(y < 0, dy * (y + y.dtype.type(1)), dy)


def _softplus(x):
    """TF's Softplus: x above -log(eps) - 2, exp(x) below log(eps) + 2, else log1p(exp(x))."""
    threshold = x.dtype.type(np.log(np.finfo(x.dtype).eps) + 2)
    e = _rounded(np.exp, np.minimum(x, -threshold))
    return np.where(x > -threshold, x, np.where(x < threshold, e, _rounded(np.log1p, e)))


def _softplus_grad(dy, x):
    return dy / (_rounded(np.exp, -x) + x.dtype.type(1))


def _alpha(site):
    return site.input_dtypes[0].as_numpy_dtype(site.attrs["alpha"])


def _leaky_relu_lower(site, state):
    alpha = _alpha(site)
    return lambda x: np.where(x > 0, x, x * alpha)


def _leaky_relu_grad_lower(site, state):
    alpha = _alpha(site)
    return lambda dy, x: np.where(x > 0, dy, dy * alpha)


def _zeros_for_features(op):
    return array_ops.zeros_like(op.inputs[1])


def _elu_grad_grad(op, g):
    dy, y = op.inputs
    return [op_util.make("EluGrad", [g, y]),
            math_ops.where(y < 0, g * dy, array_ops.zeros_like(y))]


def _softplus_grad_grad(op, g):
    # dx = dy / (1 + exp(-x)), so d(dx)/dx = dy / (exp(-x) + 2 + exp(x)).
    dy, x = op.inputs
    return [op_util.make("SoftplusGrad", [g, x]),
            g * dy / (math_ops.exp(-x) + 2.0 + math_ops.exp(x))]


register_op("Relu", _same_as_input, cpu=_relu, elementwise="(0 if {0} < 0 else {0})",
            grad=lambda op, dy: [op_util.make("ReluGrad", [dy, op.outputs[0]])])
register_op("ReluGrad", _same_as_input, cpu=_relu_grad, elementwise="({0} * ({1} > 0))",
            grad=lambda op, g: [op_util.make("ReluGrad", [g, op.inputs[1]]),
                                _zeros_for_features(op)])
register_op("Relu6", _same_as_input, cpu=_relu6,
            elementwise="(0 if {0} < 0 else (6 if {0} > 6 else {0}))",
            grad=lambda op, dy: [op_util.make("Relu6Grad", [dy, op.outputs[0]])])
register_op("Relu6Grad", _same_as_input, cpu=_relu6_grad,
            elementwise="({0} * (({1} > 0) and ({1} < 6)))",
            grad=lambda op, g: [op_util.make("Relu6Grad", [g, op.inputs[1]]),
                                _zeros_for_features(op)])
register_op("Elu", _same_as_input, cpu=_elu, elementwise="(np.exp({0}) - 1 if {0} < 0 else {0})",
            grad=lambda op, dy: [op_util.make("EluGrad", [dy, op.outputs[0]])])
register_op("EluGrad", _same_as_input, cpu=_elu_grad,
            elementwise="({0} * ({1} + 1) if {1} < 0 else {0})", grad=_elu_grad_grad)
# The fused form is the overflow-free softplus, within an ulp of TF's thresholded one.
register_op("Softplus", _same_as_input, cpu=_softplus,
            elementwise="(max({0}, 0.0) + np.log1p(np.exp(-abs({0}))))",
            grad=lambda op, dy: [op_util.make("SoftplusGrad", [dy, op.inputs[0]])])
register_op("SoftplusGrad", _same_as_input, cpu=_softplus_grad,
            elementwise="({0} / (np.exp(-{1}) + 1))", grad=_softplus_grad_grad)
register_op("LeakyRelu", _same_as_input, cpu=Lowering(_leaky_relu_lower),
            elementwise="({0} if {0} > 0 else {0} * {alpha})",
            grad=lambda op, dy: [op_util.make("LeakyReluGrad", [dy, op.inputs[0]],
                                              {"alpha": op.attrs["alpha"]})])
register_op("LeakyReluGrad", _same_as_input, cpu=Lowering(_leaky_relu_grad_lower),
            elementwise="({0} if {1} > 0 else {0} * {alpha})",
            grad=lambda op, g: [op_util.make("LeakyReluGrad", [g, op.inputs[1]],
                                             {"alpha": op.attrs["alpha"]}),
                                _zeros_for_features(op)])


def relu(features, name=None):
    """max(features, 0); any real dtype ("Relu")."""
    return _unary("Relu", op_util.NUMERIC, features, name)


def relu6(features, name=None):
    """min(max(features, 0), 6); any real dtype ("Relu6")."""
    with _scope(name, "Relu6", [features]) as scope:
        return _unary("Relu6", op_util.NUMERIC, features, scope)


def elu(features, name=None):
    """exp(features) - 1 where features < 0, else features ("Elu")."""
    return _unary("Elu", op_util.FLOATS, features, name)


def softplus(features, name=None):
    """log(exp(features) + 1) ("Softplus")."""
    return _unary("Softplus", op_util.FLOATS, features, name)


def leaky_relu(features, alpha=0.2, name=None):
    """features where > 0, else alpha * features. Integer features are cast to float32;
    alpha is rounded to float32, as TF's attr is."""
    with _scope(name, "LeakyRelu", [features, alpha]) as scope:
        x = ops_lib.convert_to_tensor(features, name="features")
        if x.dtype.is_integer:
            x = math_ops.cast(x, dtypes.float32)
        if isinstance(alpha, np.ndarray):
            alpha = alpha.item()
        alpha = float(np.float32(alpha))
        return _unary("LeakyRelu", op_util.FLOATS, x, scope, {"alpha": alpha})


# --- softmax and log_softmax: rows are the last axis ------------------------------------------

def _rank_at_least_1(op):
    x = op.inputs[0]
    if x.shape.ndims == 0:
        raise ValueError("Shape must be at least rank 1 but is rank 0")
    return [(x.dtype, x.shape)]


def _softmax_kernels(name, dtype):
    """The kernel ``name`` of graphflow.kernels.cpu.softmax for ``dtype`` (float16 runs in
    float32)."""
    from graphflow.kernels.cpu import softmax as kernels  # imports numba: first plan only
    fn = getattr(kernels, name)
    if dtype is not dtypes.float16:
        return fn

    def in_float32(*xs, alloc=None):  # (the float16 result is a cast: alloc is not used)
        out = fn(*(x.astype(np.float32) if x.dtype == np.float16 else x for x in xs))
        if isinstance(out, tuple):
            return tuple(o.astype(np.float16) for o in out)
        return out.astype(np.float16)
    return in_float32


def _row_lowering(name):
    return Lowering(lambda site, state: _softmax_kernels(name, site.input_dtypes[0]),
                    allocates=True)


def _softmax_grad_grad(op, g):
    """SoftmaxGrad(y, dy) = (dy - sum(dy * y)) * y, differentiated in y and in dy."""
    y, dy = op.inputs
    g_y = g * (dy - _keep_last_dims_sum(dy * y)) - dy * _keep_last_dims_sum(g * y)
    return [g_y, op_util.make("SoftmaxGrad", [y, g])]


def _log_softmax_grad_grad(op, g):
    """LogSoftmaxGrad(z, dy) = dy - exp(z) * sum(dy), differentiated in z and in dy."""
    z, dy = op.inputs
    p = math_ops.exp(z)
    return [-g * p * _keep_last_dims_sum(dy), g - _keep_last_dims_sum(g * p)]


register_op("Softmax", _rank_at_least_1, cpu=_row_lowering("softmax"),
            grad=lambda op, dy: [op_util.make("SoftmaxGrad", [op.outputs[0], dy])])
register_op("SoftmaxGrad", _same_as_input, cpu=_row_lowering("softmax_grad"),
            grad=_softmax_grad_grad)
register_op("LogSoftmax", _rank_at_least_1, cpu=_row_lowering("log_softmax"),
            grad=lambda op, dy: [op_util.make("LogSoftmaxGrad", [op.outputs[0], dy])])
register_op("LogSoftmaxGrad", _same_as_input, cpu=_row_lowering("log_softmax_grad"),
            grad=_log_softmax_grad_grad)


def _softmax(op_type, logits, axis, name):
    """``op_type`` along ``axis``; another axis than the last is swapped to the end and back
    with two Transposes, as TF1 does (the second is the returned "transpose_N")."""
    logits = ops_lib.convert_to_tensor(logits)
    op_util.check_dtype(logits, op_util.FLOATS, op_type, "logits")
    shape = logits.shape
    rank = shape.ndims
    if axis == -1 or (rank is not None and axis == rank - 1):
        return op_util.make(op_type, [logits], name=name)
    if rank is None:
        raise ValueError(f"{op_type} along axis {axis} needs logits of known rank")
    if not -rank <= axis < rank:
        raise errors.InvalidArgumentError(
            None, None, f"Dimension ({axis}) must be in the range [{-rank}, {rank}) where "
                        f"{rank} is the number of dimensions in the input.")
    perm = list(range(rank))
    perm[axis % rank], perm[-1] = perm[-1], perm[axis % rank]
    with logits.graph.as_default():
        moved = op_util.make(op_type, [array_ops.transpose(logits, perm)])
        out = array_ops.transpose(moved, perm, name=name or "transpose")
    out.set_shape(shape)
    return out


def softmax(logits, axis=None, name=None, dim=None):
    """exp(logits) / sum(exp(logits), axis) (default: the last axis)."""
    axis = _alias("axis", axis, "dim", dim)
    return _softmax("Softmax", logits, -1 if axis is None else axis, name)


def log_softmax(logits, axis=None, name=None, dim=None):
    """logits - log(sum(exp(logits), axis)) (default: the last axis)."""
    axis = _alias("axis", axis, "dim", dim)
    return _softmax("LogSoftmax", logits, -1 if axis is None else axis, name)


# --- SoftmaxCrossEntropyWithLogits, SparseSoftmaxCrossEntropyWithLogits -----------------------
# Both kernels return (loss [rows], backprop [rows, classes]) from one pass per row; the
# gradient of the loss reuses backprop.

def _xent_infer(op):
    """logits, labels: [rows, classes], or broadcasting to it. A dim of 1 facing an unknown
    one stays unknown (TF's shape function merges it to 1, which its wrapper then hides)."""
    logits, labels = op.inputs
    if logits.shape.ndims is None or labels.shape.ndims is None:
        known = labels.shape if logits.shape.ndims is None else logits.shape
        dims = tuple(None if d == 1 else d for d in op_util.dims_of_rank(known, 2))
    else:
        dims = math_ops.broadcast_static_shape(logits.shape, labels.shape).as_tuple()
        if len(dims) != 2:
            raise ValueError(f"Shape must be broadcasted with rank 2, but is rank {len(dims)}")
    return [(logits.dtype, TensorShape([dims[0]])), (logits.dtype, TensorShape(dims))]


def _xent_lower(site, state):
    op = site.op
    xent = _softmax_kernels("softmax_cross_entropy", site.input_dtypes[0])

    def run(logits, labels, alloc=None):
        if logits.shape != labels.shape:
            try:
                shape = np.broadcast_shapes(logits.shape, labels.shape)
            except ValueError:
                shape = None
            if shape is None or len(shape) != 2:
                raise errors.InvalidArgumentError(
                    None, op, f"logits and labels must be broadcastable: logits_size="
                              f"{_dims_text(logits.shape)} labels_size="
                              f"{_dims_text(labels.shape)}")
            logits, labels = np.broadcast_to(logits, shape), np.broadcast_to(labels, shape)
        try:
            return xent(np.ascontiguousarray(logits), np.ascontiguousarray(labels), alloc)
        except ValueError as e:
            raise errors.InvalidArgumentError(None, op, str(e)) from None
    return run


def _dims_text(shape):
    return "[" + ",".join(str(d) for d in shape) + "]"


def _sparse_xent_infer(op):
    """logits: [rows, classes], labels: [rows] int32/int64."""
    logits, labels = op.inputs
    op_util.check_dtype(labels, (dtypes.int32, dtypes.int64), op.type, "labels")
    rows, classes = op_util.dims_of_rank(logits.shape, 2)
    (batch,) = op_util.dims_of_rank(labels.shape, 1)
    if rows is not None and batch is not None and rows != batch:
        raise ValueError(f"Dimensions must be equal, but are {rows} and {batch}")
    rows = batch if rows is None else rows
    return [(logits.dtype, TensorShape([rows])), (logits.dtype, TensorShape([rows, classes]))]


def _sparse_xent_lower(site, state):
    op = site.op
    xent = _softmax_kernels("sparse_softmax_cross_entropy", site.input_dtypes[0])

    def run(logits, labels):
        if labels.shape != logits.shape[:1]:
            raise errors.InvalidArgumentError(
                None, op, f"logits and labels must have the same first dimension, got logits "
                          f"shape {_dims_text(logits.shape)} and labels shape "
                          f"{_dims_text(labels.shape)}")
        try:
            return xent(np.ascontiguousarray(logits), labels)
        except ValueError as e:
            raise errors.InvalidArgumentError(None, op, str(e)) from None
    return run


def _broadcast_mul(vec, mat):
    """vec: [rows], mat: [rows, classes] -> vec[:, None] * mat."""
    return array_ops.expand_dims(vec, -1) * mat


def _xent_grad(op, grad_loss, grad_backprop):
    """d loss/d logits = backprop = softmax - labels; d loss/d labels = -log_softmax(logits).
    A gradient reaching the backprop output (a second derivative) adds its products with
    backprop's Jacobians: softmax's for the logits, -1 for the labels (TF1 leaves the labels'
    term out, which makes its second derivative in the labels wrong)."""
    logits = op.inputs[0]
    grad = _broadcast_mul(grad_loss, op.outputs[1])
    grad_labels = _broadcast_mul(grad_loss, -log_softmax(logits))
    if not _is_zero(grad_backprop):
        p = softmax(logits)
        grad = grad + (grad_backprop - _keep_last_dims_sum(grad_backprop * p)) * p
        grad_labels = grad_labels - grad_backprop
    return [grad, grad_labels]


def _sparse_xent_grad(op, grad_loss, grad_backprop):
    if not _is_zero(grad_backprop):
        raise LookupError("Gradient explicitly disabled. Reason: Currently there is no way to "
                          "take the second derivative of sparse_softmax_cross_entropy_with_"
                          "logits due to the fused implementation's interaction with "
                          "tf.gradients()")
    return [_broadcast_mul(grad_loss, op.outputs[1]), None]


register_op("SoftmaxCrossEntropyWithLogits", _xent_infer,
            cpu=Lowering(_xent_lower, allocates=True),
            grad=_xent_grad)
register_op("SparseSoftmaxCrossEntropyWithLogits", _sparse_xent_infer,
            cpu=Lowering(_sparse_xent_lower), grad=_sparse_xent_grad)


def _shape_target(static, dynamic):
    """A reshape target: ``static`` as an int32 constant when at most one dim is unknown (it
    becomes -1), else ``dynamic()``, computed from a Shape op at run time."""
    dims = static.as_tuple()
    if dims is not None and dims.count(None) <= 1:
        return np.array([-1 if d is None else d for d in dims], dtype=np.int32)
    return dynamic()


def _flatten_outer_dims(t):
    """t: [d0, ..., dk, classes] as [d0 * ... * dk, classes] (one Reshape)."""
    dims = t.shape.as_tuple()
    if dims is not None and dims[-1] is not None:
        target = np.array([-1, dims[-1]], dtype=np.int32)
    else:
        target = array_ops.concat([[-1], array_ops.shape(t)[-1:]], 0)
    out = array_ops.reshape(t, target)
    if dims is not None and None not in dims[:-1]:
        out.set_shape([math.prod(dims[:-1]), dims[-1]])
    return out


def softmax_cross_entropy_with_logits_v2(labels, logits, axis=None, name=None, dim=None):
    """-sum(labels * log_softmax(logits), axis) per example; gradients reach logits and
    labels. Labels are cast to the logits' dtype; float16 logits are computed in float32.
    The loss has the logits' shape without ``axis``."""
    axis = _alias("axis", axis, "dim", dim)
    axis = -1 if axis is None else axis
    if labels is None or logits is None:
        raise ValueError("None values not supported.")
    with _scope(name, "softmax_cross_entropy_with_logits", [logits, labels]) as scope:
        logits = ops_lib.convert_to_tensor(logits, name="logits")
        labels = ops_lib.convert_to_tensor(labels, name="labels")
        op_util.check_dtype(logits, op_util.FLOATS, "SoftmaxCrossEntropyWithLogits",
                            "features")
        half = logits.dtype is dtypes.float16
        precise = math_ops.cast(logits, dtypes.float32) if half else logits
        labels = math_ops.cast(labels, precise.dtype)
        shape = logits.shape
        rank = shape.ndims
        if rank == 0:
            raise ValueError("Shape must be at least rank 1 but is rank 0 for logits of "
                             "softmax_cross_entropy_with_logits")
        if axis != -1 and not (rank is not None and axis == rank - 1):
            if rank is None:
                raise ValueError("softmax_cross_entropy_with_logits along an axis other than "
                                 "the last needs logits of known rank")
            if not -rank <= axis < rank:
                raise ValueError(f"axis {axis} is out of range for logits of rank {rank}")
            a = axis % rank
            perm = list(range(a)) + list(range(a + 1, rank)) + [a]
            precise = array_ops.transpose(precise, perm)
            labels = array_ops.transpose(labels, perm)
        cost_shape = _shape_target(precise.shape[:-1] if rank is not None else TensorShape(None),
                                   lambda: array_ops.shape(precise)[:-1])
        rows = _flatten_outer_dims(precise)
        label_rows = _flatten_outer_dims(labels)
        cost = op_util.make_op("SoftmaxCrossEntropyWithLogits", [rows, label_rows],
                               name=scope).outputs[0]
        cost = array_ops.reshape(cost, cost_shape)
        if rank is not None:
            dims = shape.as_list()
            del dims[axis]
            cost.set_shape(dims)
        return math_ops.cast(cost, dtypes.float16) if half else cost


def softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, dim=-1,
                                      name=None, axis=None):
    """TF1's deprecated cross-entropy: _v2 with labels behind a StopGradient, so no gradient
    reaches them. As in TF1, ``dim`` defaults to -1, so passing ``axis`` too is an error."""
    dim = _alias("axis", axis, "dim", dim)
    _ensure_xent_args("softmax_cross_entropy_with_logits", _sentinel, labels, logits)
    with _scope(name, "softmax_cross_entropy_with_logits_sg", [logits, labels]) as scope:
        labels = array_ops.stop_gradient(labels, name="labels_stop_gradient")
    return softmax_cross_entropy_with_logits_v2(labels=labels, logits=logits, axis=dim,
                                                name=scope)


def sparse_softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None,
                                             name=None):
    """-log_softmax(logits)[..., labels] per example. labels: int32/int64 of the logits'
    shape without the last axis; a label outside [0, classes) fails at run time."""
    _ensure_xent_args("sparse_softmax_cross_entropy_with_logits", _sentinel, labels, logits)
    with _scope(name, "SparseSoftmaxCrossEntropyWithLogits", [labels, logits]):
        labels = ops_lib.convert_to_tensor(labels)
        logits = ops_lib.convert_to_tensor(logits)
        op_util.check_dtype(logits, op_util.FLOATS, "SparseSoftmaxCrossEntropyWithLogits",
                            "features")
        half = logits.dtype is dtypes.float16
        precise = math_ops.cast(logits, dtypes.float32) if half else logits
        labels_shape, logits_shape = labels.shape, logits.shape
        if logits_shape.ndims == 0:
            raise ValueError(f"Logits cannot be scalars - received shape {logits_shape}.")
        if logits_shape.ndims is not None and labels_shape.ndims is not None and \
                labels_shape.ndims != logits_shape.ndims - 1:
            raise ValueError(f"Rank mismatch: Rank of labels (received {labels_shape.ndims}) "
                             f"should equal rank of logits minus 1 (received "
                             f"{logits_shape.ndims}).")
        if labels_shape.is_fully_defined() and logits_shape[:-1].is_fully_defined() and \
                labels_shape != logits_shape[:-1]:
            raise ValueError(f"Shape mismatch: The shape of labels (received {labels_shape}) "
                             f"should equal the shape of logits except for the last dimension "
                             f"(received {logits_shape}).")
        if logits_shape.ndims == 2:
            cost = op_util.make_op("SparseSoftmaxCrossEntropyWithLogits", [precise, labels],
                                   name=name).outputs[0]
        else:
            label_dims = _shape_target(labels_shape, lambda: array_ops.shape(labels))
            rows = _flatten_outer_dims(precise)
            flat_labels = array_ops.reshape(labels, np.array([-1], dtype=np.int32))
            cost = op_util.make_op("SparseSoftmaxCrossEntropyWithLogits",
                                   [rows, flat_labels], name=name).outputs[0]
            cost = array_ops.reshape(cost, label_dims)
            cost.set_shape(labels_shape)
        return math_ops.cast(cost, dtypes.float16) if half else cost


def sigmoid_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, name=None):
    """max(x, 0) - x * z + log(1 + exp(-|x|)) for logits x and labels z, built with Selects
    as TF1 builds it (so the gradient at x = 0 is sigmoid(0) - z)."""
    _ensure_xent_args("sigmoid_cross_entropy_with_logits", _sentinel, labels, logits)
    with _scope(name, "logistic_loss", [logits, labels]) as scope:
        logits = ops_lib.convert_to_tensor(logits, name="logits")
        labels = ops_lib.convert_to_tensor(labels, name="labels")
        try:
            labels.shape.merge_with(logits.shape)
        except ValueError:
            raise ValueError(f"logits and labels must have the same shape ({logits.shape} vs "
                             f"{labels.shape})") from None
        zeros = array_ops.zeros_like(logits, dtype=logits.dtype)
        cond = logits >= zeros
        relu_logits = math_ops.where(cond, logits, zeros)
        neg_abs_logits = math_ops.where(cond, -logits, logits)
        return math_ops.add(relu_logits - logits * labels,
                            math_ops.log1p(math_ops.exp(neg_abs_logits)), name=scope)


# --- BiasAdd ----------------------------------------------------------------------------------

def _channel_axis(op):
    return 1 if op.attrs["data_format"] == "NCHW" else -1


def _bias_add_infer(op):
    value, bias = op.inputs
    nchw = op.attrs["data_format"] == "NCHW"
    if bias.shape.ndims not in (None, 1):
        raise ValueError(f"Shape must be rank 1 but is rank {bias.shape.ndims}")
    least = 3 if nchw else 2
    if value.shape.ndims is not None and value.shape.ndims < least:
        raise ValueError(f"Shape must be at least rank {least} but is rank {value.shape.ndims}")
    if value.shape.ndims is None:
        return [(value.dtype, value.shape)]
    dims = list(value.shape.as_tuple())
    axis = _channel_axis(op) % len(dims)
    channels = bias.shape.as_tuple()[0] if bias.shape.ndims else None
    if dims[axis] is not None and channels is not None and dims[axis] != channels:
        raise ValueError(f"Dimensions must be equal, but are {dims[axis]} and {channels}")
    dims[axis] = channels if dims[axis] is None else dims[axis]
    return [(value.dtype, TensorShape(dims))]


def _bias_add_lower(site, state):
    op, nchw = site.op, site.attrs["data_format"] == "NCHW"

    def bias_add_run(value, bias):
        axis = 1 if nchw else value.ndim - 1
        if bias.shape[0] != value.shape[axis]:
            raise errors.InvalidArgumentError(
                None, op, f"Must provide as many biases as the channel dimension of the input "
                          f"tensor: {_dims_text(bias.shape)} vs. {_dims_text(value.shape)}")
        if nchw:
            bias = bias.reshape((-1,) + (1,) * (value.ndim - 2))
        return value + bias
    return bias_add_run


def _bias_add_grad_infer(op):
    dy = op.inputs[0]
    if dy.shape.ndims is None:
        return [(dy.dtype, TensorShape([None]))]
    least = 3 if op.attrs["data_format"] == "NCHW" else 2
    if dy.shape.ndims < least:
        raise ValueError(f"Shape must be at least rank {least} but is rank {dy.shape.ndims}")
    return [(dy.dtype, TensorShape([dy.shape.as_tuple()[_channel_axis(op)]]))]


def _bias_add_grad_lower(site, state):
    nchw = site.attrs["data_format"] == "NCHW"
    np_dtype = site.input_dtypes[0].as_numpy_dtype
    acc = np.float32 if np_dtype == np.float16 else np_dtype  # TF sums half in float

    def bias_add_grad(dy):
        keep = 1 if nchw else dy.ndim - 1
        if 0 < keep == dy.ndim - 1 and acc == np_dtype and dy.flags.c_contiguous:
            from graphflow.kernels.cpu.reduce import sum_leading_axes  # numba: first call
            return sum_leading_axes(dy, keep)
        axes = tuple(i for i in range(dy.ndim) if i != keep)
        return np.sum(dy, axis=axes, dtype=acc).astype(np_dtype, copy=False)
    return bias_add_grad


# The template is numpy broadcasting, which is BiasAdd's NHWC form; the fusion pass leaves
# NCHW BiasAdds alone.
register_op("BiasAdd", _bias_add_infer, cpu=Lowering(_bias_add_lower), elementwise="({0} + {1})",
            grad=lambda op, dy: [dy, op_util.make("BiasAddGrad", [dy],
                                                  {"data_format": op.attrs["data_format"]})])
register_op("BiasAddGrad", _bias_add_grad_infer, cpu=Lowering(_bias_add_grad_lower),
            grad=lambda op, g: [bias_add(array_ops.zeros_like(op.inputs[0]), g,
                                         data_format=op.attrs["data_format"])])


def bias_add(value, bias, data_format=None, name=None):
    """value + bias along the channel axis: the last ("N...C", default) or the second
    ("NC..."). bias: [channels], converted to the value's dtype."""
    with _scope(name, "BiasAdd", [value, bias]) as scope:
        if data_format is not None:
            if data_format.startswith("NC"):
                data_format = "NCHW"
            elif data_format.startswith("N") and data_format.endswith("C"):
                data_format = "NHWC"
            else:
                raise ValueError("data_format must be of the form `N...C` or `NC...`")
        value = ops_lib.convert_to_tensor(value, name="input")
        bias = ops_lib.convert_to_tensor(bias, dtype=value.dtype, name="bias")
        op_util.check_dtype(value, op_util.NUMERIC, "BiasAdd", "value")
        return op_util.make("BiasAdd", [value, bias], {"data_format": data_format or "NHWC"},
                            scope)


def xw_plus_b(x, weights, biases, name=None):
    """matmul(x, weights) + biases, the bias added by a BiasAdd named ``name``."""
    with _scope(name, "xw_plus_b", [x, weights, biases]) as scope:
        x = ops_lib.convert_to_tensor(x, name="x")
        weights = ops_lib.convert_to_tensor(weights, name="weights")
        biases = ops_lib.convert_to_tensor(biases, name="biases")
        return bias_add(math_ops.matmul(x, weights), biases, name=scope)


# --- L2Loss, l2_normalize ---------------------------------------------------------------------

def _l2_loss(x):
    flat = x.ravel().astype(np.float32) if x.dtype == np.float16 else x.ravel()
    return np.asarray(np.dot(flat, flat) / 2, dtype=x.dtype)


register_op("L2Loss", lambda op: [(op.inputs[0].dtype, TensorShape([]))], cpu=_l2_loss,
            grad=lambda op, dy: [op.inputs[0] * dy])


def l2_loss(t, name=None):
    """sum(t ** 2) / 2, a scalar of t's dtype ("L2Loss")."""
    return _unary("L2Loss", op_util.FLOATS, t, name, arg="t")


def l2_normalize(x, axis=None, epsilon=1e-12, name=None, dim=None):
    """x / sqrt(max(sum(x ** 2, axis, keepdims), epsilon)); all axes when axis is None."""
    axis = _alias("axis", axis, "dim", dim)
    with _scope(name, "l2_normalize", [x]) as scope:
        x = ops_lib.convert_to_tensor(x, name="x")
        square_sum = math_ops.reduce_sum(math_ops.square(x), axis, keepdims=True)
        x_inv_norm = math_ops.rsqrt(math_ops.maximum(square_sum, epsilon))
        return math_ops.multiply(x, x_inv_norm, name=scope)


# --- moments, batch_normalization -------------------------------------------------------------

def moments(x, axes, shift=None, name=None, keep_dims=None, keepdims=None):
    """(mean, variance) of x over ``axes``; the variance is the biased one, computed about a
    StopGradient of the mean. float16 is computed in float32. ``shift`` is unused (TF1)."""
    keep_dims = _alias("keepdims", keepdims, "keep_dims", keep_dims)
    with _scope(name, "moments", [x, axes]):
        x = ops_lib.convert_to_tensor(x, name="x")
        y = math_ops.cast(x, dtypes.float32) if x.dtype is dtypes.float16 else x
        mean = math_ops.reduce_mean(y, axes, keepdims=True, name="mean")
        variance = math_ops.reduce_mean(
            math_ops.squared_difference(y, array_ops.stop_gradient(mean)), axes,
            keepdims=True, name="variance")
        if not keep_dims:
            mean = array_ops.squeeze(mean, axes)
            variance = array_ops.squeeze(variance, axes)
        if x.dtype is dtypes.float16:
            return math_ops.cast(mean, dtypes.float16), math_ops.cast(variance, dtypes.float16)
        return mean, variance


def batch_normalization(x, mean, variance, offset, scale, variance_epsilon, name=None):
    """(x - mean) * scale / sqrt(variance + variance_epsilon) + offset, written as TF1 writes
    it: x * inv + (offset - mean * inv) with inv = scale * rsqrt(variance + epsilon).
    offset and scale may be None."""
    with _scope(name, "batchnorm", [x, mean, variance, scale, offset]):
        x = ops_lib.convert_to_tensor(x, name="x")
        inv = math_ops.rsqrt(variance + variance_epsilon)
        if scale is not None:
            inv *= scale
        scaled = x * math_ops.cast(inv, x.dtype)
        return scaled + math_ops.cast(offset - mean * inv if offset is not None else -mean * inv,
                                      x.dtype)


# --- InTopKV2 ---------------------------------------------------------------------------------

def _in_top_k_infer(op):
    predictions, targets, k = op.inputs
    rows, _ = op_util.dims_of_rank(predictions.shape, 2)
    (batch,) = op_util.dims_of_rank(targets.shape, 1)
    op_util.dims_of_rank(k.shape, 0)
    if rows is not None and batch is not None and rows != batch:
        raise ValueError(f"Dimensions must be equal, but are {rows} and {batch}")
    return [(dtypes.bool_, TensorShape([rows if rows is not None else batch]))]


def _in_top_k(predictions, targets, k):
    """True where fewer than k classes score strictly higher than the target (ties count
    in its favour); False for a target outside [0, classes) or a row holding a non-finite
    score."""
    rows, classes = predictions.shape
    valid = (targets >= 0) & (targets < classes)
    if not classes:
        return valid
    target_scores = predictions[np.arange(rows), np.where(valid, targets, 0)]
    higher = np.count_nonzero(predictions > target_scores[:, None], axis=1)
    return valid & np.isfinite(predictions).all(axis=1) & (higher < k)


def _in_top_k_lower(site, state):
    op = site.op

    def in_top_k_run(predictions, targets, k):
        if predictions.ndim != 2 or targets.shape != predictions.shape[:1]:
            raise errors.InvalidArgumentError(
                None, op, f"First dimension of predictions {_dims_text(predictions.shape)} must "
                          f"match length of targets {_dims_text(targets.shape)}")
        return _in_top_k(predictions, targets, k)
    return in_top_k_run


register_op("InTopKV2", _in_top_k_infer, cpu=Lowering(_in_top_k_lower), grad=no_gradient)


def in_top_k(predictions, targets, k, name=None):
    """Whether each target is among the k highest float32 ``predictions`` of its row.
    predictions: [batch, classes] float32; targets: [batch] int32/int64; k: a scalar."""
    with _scope(name, "in_top_k", [predictions, targets, k]):
        predictions = ops_lib.convert_to_tensor(predictions)
        if predictions.dtype is not dtypes.float32:
            raise TypeError(f"Input 'predictions' of 'InTopKV2' Op has type "
                            f"{predictions.dtype.name} that does not match expected type of "
                            f"float32.")
        targets = ops_lib.convert_to_tensor(targets)
        op_util.check_dtype(targets, (dtypes.int32, dtypes.int64), "InTopKV2", "targets")
        # TF's generated wrapper converts inputs inside the op's own scope
        # ("in_top_k/InTopKV2/k") and names the op by that scope.
        with ops_lib.get_default_graph().name_scope(name or "InTopKV2") as op_scope:
            if ops_lib.is_tensor_like(k):
                k = op_util.as_tensor(k)
                if k.dtype is not targets.dtype:
                    raise TypeError(f"Input 'k' of 'InTopKV2' Op has type {k.dtype.name} that "
                                    f"does not match type {targets.dtype.name} of argument "
                                    f"'targets'.")
            else:
                k = ops_lib.convert_to_tensor(k, dtype=targets.dtype, name="k")
        return op_util.make("InTopKV2", [predictions, targets, k], name=op_scope)


# --- dropout ----------------------------------------------------------------------------------

def _noise_shape(x, noise_shape):
    """TF1's _get_noise_shape: x's dynamic shape, or noise_shape with unknown dims filled in
    from x's static shape when their ranks agree."""
    if noise_shape is None:
        return array_ops.shape(x)
    try:
        static = as_shape(noise_shape)
    except (TypeError, ValueError):
        return noise_shape
    if x.shape.ndims is not None and static.ndims == x.shape.ndims:
        return TensorShape([d if n is None else n
                            for d, n in zip(x.shape.as_tuple(), static.as_tuple())])
    return noise_shape


def dropout(x, keep_prob=None, noise_shape=None, seed=None, name=None, rate=None):
    """TF1's tf.nn.dropout: each element (or each slice, when ``noise_shape`` broadcasts) is
    zeroed with probability ``rate = 1 - keep_prob`` and the kept ones scaled by 1 / keep_prob,
    so the expectation is x. keep_prob may be a float or a scalar tensor (e.g. fed)."""
    try:
        keep = 1. - keep_prob if keep_prob is not None else None
    except TypeError:
        raise ValueError(f"keep_prob must be a floating point number or Tensor "
                         f"(got {keep_prob!r})") from None
    rate = _alias("rate", rate, "keep_prob", keep)
    if rate is None:
        raise ValueError("You must provide a rate to dropout.")
    return _dropout(x, rate, noise_shape, seed, name)


def _dropout(x, rate, noise_shape, seed, name):
    """TF 1.15's dropout_v2: keep where uniform[0, 1) >= rate; x * (1 / (1 - rate)) * mask."""
    with _scope(name, "dropout", [x]):
        x = ops_lib.convert_to_tensor(x, name="x")
        if not x.dtype.is_floating:
            raise ValueError(f"x has to be a floating point tensor since it's going to be "
                             f"scaled. Got a {x.dtype} tensor instead.")
        if isinstance(rate, numbers.Real):
            if not 0 <= rate < 1:
                raise ValueError(f"rate must be a scalar tensor or a float in the range "
                                 f"[0, 1), got {rate:g}")
            if rate == 0:
                return x
        rate = ops_lib.convert_to_tensor(rate, dtype=x.dtype, name="rate")
        rate.shape.assert_is_compatible_with(TensorShape([]))
        known = ops_lib.constant_value(rate)
        if known is not None and known == 0:
            return x
        random_tensor = random_ops.random_uniform(_noise_shape(x, noise_shape), seed=seed,
                                                  dtype=x.dtype)
        scale = 1 / (1 - rate)
        keep_mask = random_tensor >= rate
        ret = x * scale * math_ops.cast(keep_mask, x.dtype)
        ret.set_shape(x.shape)
        return ret


__all__ = ["batch_normalization", "bias_add", "dropout", "elu", "in_top_k", "l2_loss",
           "l2_normalize", "leaky_relu", "log_softmax", "moments", "relu", "relu6",
           "sigmoid_cross_entropy_with_logits", "softmax", "softmax_cross_entropy_with_logits",
           "softmax_cross_entropy_with_logits_v2", "softplus",
           "sparse_softmax_cross_entropy_with_logits", "xw_plus_b"]
