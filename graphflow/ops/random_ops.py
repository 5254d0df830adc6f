"""Random ops (TF1's random_ops): normal, truncated normal, uniform, shuffle, multinomial.

Each kernel draws from the stream its Session keeps for the op, seeded from the op's
``seed``/``seed2`` attrs (see framework/random_seed.py), so a seeded program gives the same
numbers in every process and every fresh Session, and each run of the op in one Session
continues its stream. RandomUniform draws TF's own numbers (TF's Philox stream,
``state.philox_stream``); the other ops draw from a numpy Generator
(``state.random_generator``). Random ops are stateful: never folded, deduplicated or
evaluated while the graph is built.

The constructors build the ops TF1 builds, with TF1's names: ``random_normal(shape)`` is
``random_normal/RandomStandardNormal`` scaled by ``random_normal/mul`` and shifted by the
op named ``random_normal``.
"""
import contextlib

import numpy as np

from graphflow.framework import dtypes, errors
from graphflow.framework import ops as ops_lib
from graphflow.framework.random_seed import seed_attrs
from graphflow.framework.registry import Lowering, no_gradient, register_op
from graphflow.framework.tensor_shape import Dimension, TensorShape, as_shape
from graphflow.ops import array_ops, math_ops, op_util

_SHAPE_DTYPES = (dtypes.int32, dtypes.int64)
_UNIFORM_DTYPES = (dtypes.float16, dtypes.float32, dtypes.float64, dtypes.int32, dtypes.int64)


# --- static shapes from shape tensors ---
def _shape_from_tensor(shape):
    """The static shape the 1-D int tensor ``shape`` describes, as far as it is known while
    building (constants, ``tf.shape(x)`` of a partly known x, ``tf.stack`` of scalars...);
    negative dims stay unknown here and are refused when the op runs."""
    if shape.shape.ndims not in (None, 1):
        raise ValueError(f"Shape must be rank 1 but is rank {shape.shape.ndims}")
    dims = array_ops.shape_tensor_value(shape)
    return TensorShape(None if dims is None else [d if d is None or d >= 0 else None
                                                  for d in dims])


def _check_scalar(tensor, what):
    if tensor.shape.ndims not in (None, 0):
        raise ValueError(f"Shape must be rank 0 but is rank {tensor.shape.ndims} ({what})")


def _check_dtype(dtype, allowed, attr="dtype"):
    if dtype not in allowed:
        raise TypeError(f"Value passed to parameter '{attr}' has DataType {dtype.name} not in "
                        f"list of allowed values: {', '.join(d.name for d in allowed)}")


def _check_shape_input(op):
    _check_dtype(op.inputs[0].dtype, _SHAPE_DTYPES, "shape")
    return _shape_from_tensor(op.inputs[0])


def _float_draw_infer(op):
    _check_dtype(op.attrs["dtype"], op_util.FLOATS)
    return [(op.attrs["dtype"], _check_shape_input(op))]


def _uniform_int_infer(op):
    shape = _check_shape_input(op)
    _, minval, maxval = op.inputs
    _check_dtype(minval.dtype, (dtypes.int32, dtypes.int64), "minval")
    if maxval.dtype is not minval.dtype:
        raise TypeError(f"Input 'maxval' of 'RandomUniformInt' Op has type {maxval.dtype.name} "
                        f"that does not match type {minval.dtype.name} of argument 'minval'.")
    _check_scalar(minval, "minval")
    _check_scalar(maxval, "maxval")
    return [(minval.dtype, shape)]


def _shuffle_infer(op):
    value = op.inputs[0]
    return [(value.dtype, value.shape)]


def _multinomial_infer(op):
    logits, num_samples = op.inputs
    _check_dtype(logits.dtype, op_util.NUMERIC, "T")
    _check_dtype(num_samples.dtype, (dtypes.int32,), "num_samples")
    if logits.shape.ndims not in (None, 2):
        raise ValueError(f"Shape must be rank 2 but is rank {logits.shape.ndims}")
    _check_scalar(num_samples, "num_samples")
    n = ops_lib.constant_value(num_samples)
    if n is not None and n < 0:
        raise ValueError(f"Dimension size, given by scalar input 1, must be non-negative but "
                         f"is {int(n)}")
    batch = logits.shape.as_tuple()[0] if logits.shape.ndims == 2 else None
    return [(op.attrs["output_dtype"], TensorShape([batch, None if n is None else int(n)]))]


# --- kernels ---
def _dims(shape, op):
    """The tuple of dims a run-time shape tensor holds; negative dims are refused."""
    dims = tuple(int(d) for d in np.asarray(shape).reshape(-1))
    for d in dims:
        if d < 0:
            raise errors.InvalidArgumentError(None, op, f"Dimension {d} must be >= 0")
    return dims


def _native(np_dtype):
    """The float type numpy's Generator draws directly (half is drawn as float32)."""
    return np.float64 if np_dtype == np.float64 else np.float32


def _standard_normal(gen, dims, np_dtype, alloc):
    out = gen.standard_normal(dims, dtype=_native(np_dtype))
    return out if out.dtype == np_dtype else out.astype(np_dtype)


def _truncated_normal(gen, dims, np_dtype, alloc):
    """Standard normals with every value of magnitude >= 2 drawn again until none is left."""
    native = _native(np_dtype)
    out = gen.standard_normal(dims, dtype=native)
    flat = out.reshape(-1)
    redo = np.flatnonzero(np.abs(flat) >= 2.0)
    while redo.size:
        flat[redo] = gen.standard_normal(redo.size, dtype=native)
        redo = redo[np.abs(flat[redo]) >= 2.0]
    return out if out.dtype == np_dtype else out.astype(np_dtype)


def _uniform(stream, dims, np_dtype, alloc):
    """TF's numbers: Philox blocks from the op's stream (graphflow.kernels.cpu.philox)."""
    from graphflow.kernels.cpu.philox import uniform_into  # numba: first call only
    native = _native(np_dtype)
    planned = alloc is not None and native == np_dtype
    out = alloc(tuple(dims), native) if planned else np.empty(dims, native)
    uniform_into(out, stream.key, stream.reserve(out.size))
    return out if out.dtype == np_dtype else out.astype(np_dtype)


def _draw_lowering(draw, allocates=False, philox=False):
    """A kernel factory for ops whose only input is the shape: ``draw(gen, dims, np_dtype,
    alloc)``, where ``alloc`` is None or, for a draw that ``allocates`` (see
    registry.Lowering), the output's allocator, and ``gen`` the op's numpy Generator or,
    with ``philox``, its PhiloxStream. A constant shape is checked and baked in when the
    plan is built."""
    def factory(site, state):
        attrs, op = site.attrs, site.op
        stream = state.philox_stream if philox else state.random_generator
        gen = stream(op, attrs["seed"], attrs["seed2"])
        np_dtype = np.dtype(site.output_dtypes[0].as_numpy_dtype)
        const = site.const_input(0)
        if const is not None and all(d >= 0 for d in np.asarray(const).reshape(-1)):
            dims = _dims(const, op)
            return (lambda alloc=None: draw(gen, dims, np_dtype, alloc)), ()
        return (lambda shape, alloc=None: draw(gen, _dims(shape, op), np_dtype, alloc)), (0,)
    return Lowering(factory, allocates=allocates)


def _uniform_int_lower(site, state):
    attrs, op = site.attrs, site.op
    gen = state.random_generator(op, attrs["seed"], attrs["seed2"])
    np_dtype = site.output_dtypes[0].as_numpy_dtype

    def draw(shape, minval, maxval):
        lo, hi = int(minval), int(maxval)
        if lo >= hi:
            raise errors.InvalidArgumentError(None, op,
                                              f"Need minval < maxval, got {lo} >= {hi}")
        return gen.integers(lo, hi, size=_dims(shape, op), dtype=np_dtype)
    return draw


def _shuffle_lower(site, state):
    attrs = site.attrs
    gen = state.random_generator(site.op, attrs["seed"], attrs["seed2"])

    def shuffle(value):
        if value.ndim == 0 or value.shape[0] <= 1:
            return value.copy()
        return value[gen.permutation(value.shape[0])]
    return shuffle


def _multinomial_lower(site, state):
    """Samples class indices per row with TF's CPU rule: non-finite logits carry no mass, a
    sample is the first class whose cumulative weight exceeds u * total (u uniform in
    [0, 1)), and a row with no mass at all gives ``num_classes``."""
    attrs, op = site.attrs, site.op
    gen = state.random_generator(op, attrs["seed"], attrs["seed2"])
    out_dtype = site.output_dtypes[0].as_numpy_dtype

    def sample(logits, num_samples):
        n = int(num_samples)
        if n < 0:
            raise errors.InvalidArgumentError(None, op,
                                              f"num_samples should be nonnegative, got {n}")
        batch, classes = logits.shape
        if classes == 0:
            raise errors.InvalidArgumentError(None, op,
                                              "num_classes should be positive, got 0")
        x = logits.astype(np.float64)
        finite = np.isfinite(x)
        peak = np.max(np.where(finite, x, -np.inf), axis=1, keepdims=True)
        with np.errstate(invalid="ignore"):
            weights = np.where(finite, np.exp(x - peak), 0.0)
        # One cumulative sum over all rows (row-major) is non-decreasing, so a single
        # searchsorted finds every row's upper bound; row r's draws are offset by the mass
        # of the rows before it.
        running = np.cumsum(weights, axis=None)
        ends = running[classes - 1::classes]
        starts = np.zeros(batch)
        starts[1:] = ends[:-1]
        totals = ends - starts
        targets = starts[:, None] + gen.random((batch, n)) * totals[:, None]
        found = np.searchsorted(running, targets.reshape(-1), side="right").reshape(batch, n)
        found -= (np.arange(batch) * classes)[:, None]
        picked = np.where(totals[:, None] > 0, np.minimum(found, classes - 1), classes)
        return picked.astype(out_dtype)
    return sample


register_op("RandomStandardNormal", _float_draw_infer, cpu=_draw_lowering(_standard_normal),
            grad=no_gradient, stateful=True)
register_op("TruncatedNormal", _float_draw_infer, cpu=_draw_lowering(_truncated_normal),
            grad=no_gradient, stateful=True)
register_op("RandomUniform", _float_draw_infer,
            cpu=_draw_lowering(_uniform, allocates=True, philox=True),
            grad=no_gradient, stateful=True)
register_op("RandomUniformInt", _uniform_int_infer, cpu=Lowering(_uniform_int_lower),
            stateful=True)
register_op("RandomShuffle", _shuffle_infer, cpu=Lowering(_shuffle_lower), grad=no_gradient,
            stateful=True)
register_op("Multinomial", _multinomial_infer, cpu=Lowering(_multinomial_lower),
            grad=no_gradient, stateful=True)


# --- constructors ---
@contextlib.contextmanager
def _scope(name, default_name, values):
    """TF1's ``name_scope(name, default_name, values)``: the values' graph becomes the
    default and the scope string (e.g. "random_normal_1/") names the final op exactly."""
    graph = op_util.graph_for(values)
    with graph.as_default(), graph.name_scope(name or default_name) as scope:
        yield graph, scope


def _shape_tensor(shape):
    """A 1-D int tensor named "shape" for a list, tuple, TensorShape or tensor."""
    if isinstance(shape, TensorShape):
        shape = as_shape(shape).as_list()
    dtype = None
    if isinstance(shape, (list, tuple)):
        shape = [d.value if isinstance(d, Dimension) else d for d in shape]
        dtype = dtypes.int32 if not shape else None
    return ops_lib.convert_to_tensor(shape, dtype=dtype, name="shape")


def _draw(op_type, graph, shape, dtype, seed):
    attrs = dict(seed_attrs(seed), dtype=dtype, T=shape.dtype)
    return graph.create_op(op_type, [shape], attrs).outputs[0]


def _scaled_normal(op_type, default_name, shape, mean, stddev, dtype, seed, name):
    dtype = dtypes.as_dtype(dtype)
    with _scope(name, default_name, [shape, mean, stddev]) as (graph, scope):
        shape = _shape_tensor(shape)
        mean = ops_lib.convert_to_tensor(mean, dtype=dtype, name="mean")
        stddev = ops_lib.convert_to_tensor(stddev, dtype=dtype, name="stddev")
        rnd = _draw(op_type, graph, shape, dtype, seed)
        return math_ops.add(rnd * stddev, mean, name=scope)


def random_normal(shape, mean=0.0, stddev=1.0, dtype=dtypes.float32, seed=None, name=None):
    """tf.random_normal: ``mean + stddev * N(0, 1)`` of the given shape."""
    return _scaled_normal("RandomStandardNormal", "random_normal", shape, mean, stddev, dtype,
                          seed, name)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=dtypes.float32, seed=None, name=None):
    """tf.truncated_normal: like random_normal, with draws beyond 2 stddev drawn again."""
    return _scaled_normal("TruncatedNormal", "truncated_normal", shape, mean, stddev, dtype,
                          seed, name)


def random_uniform(shape, minval=0, maxval=None, dtype=dtypes.float32, seed=None, name=None):
    """tf.random_uniform: values in [minval, maxval); integer dtypes need ``maxval``."""
    dtype = dtypes.as_dtype(dtype)
    if dtype not in _UNIFORM_DTYPES:
        raise ValueError(f"Invalid dtype {dtype!r}")
    if maxval is None:
        if dtype.is_integer:
            raise ValueError(f"Must specify maxval for integer dtype {dtype!r}")
        maxval = 1
    with _scope(name, "random_uniform", [shape, minval, maxval]) as (graph, scope):
        shape = _shape_tensor(shape)
        minval = ops_lib.convert_to_tensor(minval, dtype=dtype, name="min")
        maxval = ops_lib.convert_to_tensor(maxval, dtype=dtype, name="max")
        if dtype.is_integer:
            attrs = dict(seed_attrs(seed), Tout=dtype, T=shape.dtype)
            return graph.create_op("RandomUniformInt", [shape, minval, maxval], attrs,
                                   scope).outputs[0]
        rnd = _draw("RandomUniform", graph, shape, dtype, seed)
        return math_ops.add(rnd * (maxval - minval), minval, name=scope)


def random_shuffle(value, seed=None, name=None):
    """tf.random_shuffle: ``value`` with its first dimension randomly permuted."""
    attrs = seed_attrs(seed)
    with _scope(name, "RandomShuffle", [value]) as (graph, scope):
        value = ops_lib.convert_to_tensor(value, name="value")
        attrs["T"] = value.dtype
        return graph.create_op("RandomShuffle", [value], attrs, scope).outputs[0]


def _multinomial(logits, num_samples, dtype, seed):
    logits = ops_lib.convert_to_tensor(logits, name="logits")
    dtype = dtypes.as_dtype(dtype) if dtype else dtypes.int64
    accepted = (dtypes.int32, dtypes.int64)
    if dtype not in accepted:
        raise ValueError(f"Argument `dtype` got invalid value {dtype}. Accepted dtypes are "
                         f"{accepted}.")
    attrs = dict(seed_attrs(seed), output_dtype=dtype, T=logits.dtype)
    graph = logits.graph
    with graph.name_scope("Multinomial") as scope:
        num_samples = ops_lib.convert_to_tensor(num_samples, dtype=dtypes.int32,
                                                name="num_samples")
        return graph.create_op("Multinomial", [logits, num_samples], attrs, scope).outputs[0]


def multinomial(logits, num_samples, seed=None, name=None, output_dtype=None):
    """tf.multinomial: ``num_samples`` class indices per row of ``logits`` [batch, classes]
    (unnormalized log-probabilities); the result is [batch, num_samples] int64."""
    with _scope(name, "multinomial", [logits]):
        return _multinomial(logits, num_samples, output_dtype, seed)


def categorical(logits, num_samples, dtype=None, seed=None, name=None):
    """tf.random.categorical: multinomial under the name "categorical"."""
    with _scope(name, "categorical", [logits]):
        return _multinomial(logits, num_samples, dtype, seed)


__all__ = ["multinomial", "random_normal", "random_shuffle", "random_uniform",
           "truncated_normal"]
