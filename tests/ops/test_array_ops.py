"""Array ops against numpy: values, dtypes and static shapes, with inputs given as constants
and fed through placeholders whose shapes are partly unknown.

Every op here moves data without arithmetic, so results must equal numpy's exactly.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphflow.compat.v1 as tf
from graphflow.framework.ops import constant_value
from graphflow.ops import array_ops

DTYPES = [np.float32, np.float64, np.int32, np.int64, np.bool_]
FAST = settings(max_examples=25, deadline=None)


# --- helpers ------------------------------------------------------------------------------

@st.composite
def arrays(draw, min_rank=0, max_rank=4, max_side=4, dtypes=DTYPES, min_side=0):
    """A small random array of one of the five dtypes."""
    shape = draw(st.lists(st.integers(min_side, max_side), min_size=min_rank, max_size=max_rank))
    dtype = draw(st.sampled_from(dtypes))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    return rng.integers(-9, 10, size=shape).astype(dtype)


unknown_masks = st.one_of(st.none(), st.lists(st.booleans(), min_size=4, max_size=4))


def placeholder_for(value, mask):
    """A placeholder for ``value``: dims where ``mask`` is True are unknown; mask None leaves
    even the rank unknown."""
    value = np.asarray(value)
    shape = None if mask is None else [None if m else d for d, m in zip(value.shape, mask)]
    return tf.placeholder(tf.as_dtype(value.dtype), shape)


def build_and_run(build, inputs, mask=(False,) * 4, feed=True):
    """Runs ``build(*tensors)``; the tensors are placeholders fed with ``inputs`` (dims
    unknown per ``mask``) or, with feed=False, constants. Returns (output tensors, values)."""
    with tf.Graph().as_default():
        if feed:
            tensors = [placeholder_for(v, mask) for v in inputs]
            feed_dict = dict(zip(tensors, inputs))
        else:
            tensors = [tf.constant(v) for v in inputs]
            feed_dict = None
        out = build(*tensors)
        with tf.Session() as sess:
            return out, sess.run(out, feed_dict)


def assert_result(tensors, values, expected, fully_known):
    """Values, dtypes and shapes equal numpy's; the static shape agrees with the result
    wherever it is known (and is fully known when every input was a constant)."""
    if isinstance(expected, (list, tuple)):
        assert len(tensors) == len(values) == len(expected)
        for t, v, e in zip(tensors, values, expected):
            assert_result(t, v, e, fully_known)
        return
    expected = np.asarray(expected)
    assert values.dtype == expected.dtype
    assert values.shape == expected.shape
    np.testing.assert_array_equal(values, expected)
    assert tensors.dtype.as_numpy_dtype == values.dtype
    assert tensors.shape.is_compatible_with(values.shape), (tensors.shape, values.shape)
    if fully_known:
        assert tensors.shape.as_list() == list(values.shape)


def check(build, reference, inputs, mask=(False,) * 4):
    """``build`` over constants and over placeholders matches ``reference`` on the arrays."""
    expected = reference(*inputs)
    for feed in (False, True):
        out, values = build_and_run(build, inputs, mask, feed)
        assert_result(out, values, expected, fully_known=not feed)


# --- shapes -------------------------------------------------------------------------------

@FAST
@given(arrays(), unknown_masks, st.sampled_from([tf.int32, tf.int64]))
def test_shape_size_rank(x, mask, out_type):
    np_type = out_type.as_numpy_dtype
    check(lambda t: [tf.shape(t, out_type=out_type), tf.size(t, out_type=out_type), tf.rank(t)],
          lambda a: [np.array(a.shape, np_type), np.array(a.size, np_type),
                     np.array(a.ndim, np.int32)], [x], mask)


def test_shape_is_known_at_build_time_when_the_shape_is():
    x = tf.placeholder(tf.float32, [2, None])
    y = tf.placeholder(tf.float32, [2, 3])
    assert constant_value(tf.shape(x)) is None
    np.testing.assert_array_equal(constant_value(tf.shape(y)), [2, 3])
    assert constant_value(tf.size(y)) == 6
    assert constant_value(tf.rank(x)) == 2
    assert tf.reshape(x, tf.shape(y)).shape.as_list() == [2, 3]
    assert tf.reshape(y, [tf.shape(x)[0], -1]).shape.as_list() == [2, 3]
    assert tf.reshape(y, [tf.shape(x)[1], -1]).shape.as_list() == [None, None]
    assert tf.zeros(tf.shape(x)).shape.as_list() == [2, None]
    z = tf.reshape(x, tf.concat([tf.shape(x)[:1], [3, 1]], 0))
    assert z.shape.as_list() == [2, 3, 1]


def test_shape_n():
    a, b = np.zeros([2, 3], np.float32), np.zeros([4], np.int32)
    check(lambda x, y: tf.shape_n([x, y]), lambda x, y: [np.array([2, 3], np.int32),
                                                         np.array([4], np.int32)], [a, b])


# --- reshape, expand_dims, squeeze, transpose ---------------------------------------------

@st.composite
def reshapes(draw):
    """(array, target shape): the target regroups the array's elements, one dim may be -1."""
    x = draw(arrays(max_rank=4))
    size = x.size
    target = []
    while size > 1 and len(target) < 4:
        factor = draw(st.sampled_from([f for f in range(1, size + 1) if size % f == 0]))
        target.append(factor)
        size //= factor
    target.append(size)
    if 0 in x.shape:
        target = draw(st.permutations([0] + draw(st.lists(st.integers(1, 3), max_size=2))))
    elif draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return x, list(target)


@FAST
@given(reshapes(), unknown_masks, st.booleans())
def test_reshape(case, mask, shape_fed):
    x, target = case
    if shape_fed:  # the shape is a run-time value: the kernel cannot specialise on it
        check(lambda t, s: tf.reshape(t, s), lambda a, s: a.reshape(s),
              [x, np.array(target, np.int32)], mask)
    else:
        check(lambda t: tf.reshape(t, target), lambda a: a.reshape(target), [x], mask)


@FAST
@given(arrays(max_rank=3), unknown_masks, st.data())
def test_expand_dims(x, mask, data):
    axis = data.draw(st.integers(-x.ndim - 1, x.ndim))
    check(lambda t: [tf.expand_dims(t, axis), tf.expand_dims(t, dim=axis)],
          lambda a: [np.expand_dims(a, axis)] * 2, [x], mask)


@FAST
@given(arrays(max_side=2), unknown_masks, st.data())
def test_squeeze(x, mask, data):
    ones = [i for i, d in enumerate(x.shape) if d == 1]
    axes = data.draw(st.lists(st.sampled_from(ones), unique=True)) if ones else []
    axes = [a - x.ndim if data.draw(st.booleans()) else a for a in axes]
    check(lambda t: [tf.squeeze(t, axes or None), tf.squeeze(t, squeeze_dims=axes or None)],
          lambda a: [np.squeeze(a, tuple(axes) or None)] * 2, [x], mask)


@FAST
@given(arrays(), unknown_masks, st.data())
def test_transpose(x, mask, data):
    perm = data.draw(st.permutations(range(x.ndim)))
    check(lambda t: [tf.transpose(t, perm), tf.transpose(t)],
          lambda a: [np.transpose(a, perm), np.transpose(a)], [x], mask)


def test_transpose_of_unknown_rank_reverses_dims():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    out, value = build_and_run(tf.transpose, [x], mask=None)
    np.testing.assert_array_equal(value, x.T)
    assert out.op.type == "Transpose" and out.op.name == "transpose"


def test_transpose_of_unknown_rank_checks_perm_when_run():
    x = tf.placeholder(tf.float32)
    scalar_perm, short_perm = tf.transpose(x, 0), tf.transpose(x, [1, 0])
    with tf.Session() as sess:
        with pytest.raises(tf.errors.InvalidArgumentError, match="perm must be a vector"):
            sess.run(scalar_perm, {x: [[1.0]]})
        with pytest.raises(tf.errors.InvalidArgumentError, match="vector of size 3"):
            sess.run(short_perm, {x: np.zeros((1, 2, 3))})
        np.testing.assert_array_equal(sess.run(short_perm, {x: [[1.0, 2.0]]}), [[1.0], [2.0]])


# --- concat, stack, unstack, split --------------------------------------------------------

@st.composite
def concat_cases(draw):
    x = draw(arrays(min_rank=1))
    axis = draw(st.integers(-x.ndim, x.ndim - 1))
    parts = [x]
    for _ in range(draw(st.integers(0, 2))):
        shape = list(x.shape)
        shape[axis] = draw(st.integers(0, 3))
        parts.append(np.ones(shape, x.dtype))
    return parts, axis


@FAST
@given(concat_cases(), unknown_masks)
def test_concat(case, mask):
    parts, axis = case
    check(lambda *ts: tf.concat(list(ts), axis), lambda *a: np.concatenate(a, axis), parts, mask)


def test_concat_of_one_value_is_an_identity_and_python_values_take_the_tensor_dtype():
    x = tf.placeholder(tf.int64, [2])
    assert tf.concat([x], 0).op.type == "Identity"
    y = tf.concat([x, [7]], 0)
    assert y.dtype == tf.int64 and y.op.name == "concat_1" and y.op.type == "ConcatV2"
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(y, {x: [1, 2]}), [1, 2, 7])
    with pytest.raises(TypeError, match="don't all match"):
        tf.concat([x, tf.constant([1.0])], 0)


@FAST
@given(arrays(max_rank=3), unknown_masks, st.integers(1, 3), st.data())
def test_stack_and_unstack(x, mask, n, data):
    axis = data.draw(st.integers(-x.ndim - 1, x.ndim))
    values = [x + np.array(i, x.dtype) if x.dtype != np.bool_ else x for i in range(n)]
    check(lambda *ts: tf.stack(list(ts), axis), lambda *a: np.stack(a, axis), values, mask)
    stacked = np.stack(values, axis)
    check(lambda t: tf.unstack(t, num=n, axis=axis),
          lambda a: [np.take(a, i, axis) for i in range(n)], [stacked], mask)


def test_stack_of_python_values_is_a_const():
    s = tf.stack([1, 2])
    assert s.op.type == "Const" and s.op.name == "stack"
    t = tf.stack([tf.constant(1.0), 2.0])
    assert t.op.type == "Pack" and t.dtype == tf.float32


@FAST
@given(arrays(min_rank=1), unknown_masks, st.data())
def test_split(x, mask, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    dim = x.shape[axis]
    n = data.draw(st.sampled_from([k for k in range(1, 5) if dim % k == 0]))
    check(lambda t: tf.split(t, n, axis), lambda a: np.split(a, n, axis), [x], mask)
    cuts = sorted(data.draw(st.lists(st.integers(0, dim), max_size=3)))
    sizes = list(np.diff([0] + cuts + [dim]))
    expected = lambda a: np.split(a, cuts, axis)  # noqa: E731
    if data.draw(st.booleans()):
        sizes[data.draw(st.integers(0, len(sizes) - 1))] = -1
    check(lambda t: tf.split(t, sizes, axis), expected, [x], mask)


# --- slice, strided_slice and __getitem__ -------------------------------------------------

@FAST
@given(arrays(min_rank=1), unknown_masks, st.booleans(), st.data())
def test_slice(x, mask, spec_fed, data):
    begin = [data.draw(st.integers(0, d)) for d in x.shape]
    size = [data.draw(st.sampled_from([-1, data.draw(st.integers(0, d - b))]))
            for b, d in zip(begin, x.shape)]
    index = tuple(slice(b, None if s == -1 else b + s) for b, s in zip(begin, size))
    if spec_fed:
        check(lambda t, b, s: tf.slice(t, b, s), lambda a, b, s: a[index],
              [x, np.array(begin, np.int64), np.array(size, np.int64)], mask)
    else:
        check(lambda t: tf.slice(t, begin, size), lambda a: a[index], [x], mask)


@st.composite
def index_specs(draw, rank):
    """A basic numpy index for an array of this rank: ints (negative too), slices with any
    step (bounds may lie outside the dim), at most one Ellipsis, and newaxis."""
    spec, used, ellipsis = [], 0, False
    for _ in range(draw(st.integers(0, rank + 2))):
        kind = draw(st.sampled_from(["int", "slice", "slice", "ellipsis", "newaxis"]))
        if kind == "newaxis":
            spec.append(tf.newaxis)
        elif kind == "ellipsis" and not ellipsis:
            spec.append(Ellipsis)
            ellipsis = True
        elif used < rank and kind in ("int", "slice"):
            used += 1
            if kind == "int":
                spec.append(("int",))
            else:
                bound = st.one_of(st.none(), st.integers(-6, 6))
                step = st.one_of(st.none(), st.sampled_from([1, 2, 3, -1, -2]))
                spec.append(slice(draw(bound), draw(bound), draw(step)))
    return spec


def dims_indexed(spec, ndim):
    """The input dim each int or slice entry of a basic numpy index reads, by position."""
    real = [k for k, s in enumerate(spec) if s is not None and s is not Ellipsis]
    cut = spec.index(Ellipsis) if Ellipsis in spec else len(spec)
    after = [k for k in real if k > cut]
    dims = {k: i for i, k in enumerate(k for k in real if k < cut)}
    dims.update({k: ndim - len(after) + i for i, k in enumerate(after)})
    return dims


@settings(max_examples=60, deadline=None)
@given(arrays(max_rank=4, min_side=1), unknown_masks, st.data())
def test_getitem_matches_numpy_basic_indexing(x, mask, data):
    spec = data.draw(index_specs(x.ndim))
    dims = dims_indexed(spec, x.ndim)
    spec = [data.draw(st.integers(-x.shape[dims[k]], x.shape[dims[k]] - 1))
            if isinstance(s, tuple) else s for k, s in enumerate(spec)]
    ints_as_tensors = data.draw(st.booleans())
    ints = [s for s in spec if isinstance(s, int)] if ints_as_tensors else []

    def build(t, *index_tensors):
        it = iter(index_tensors)
        return t[tuple(next(it) if isinstance(s, int) and ints_as_tensors else s for s in spec)]

    check(build, lambda a, *_: a[tuple(spec)], [x] + [np.array(i, np.int32) for i in ints],
          mask)


def test_getitem_builds_one_strided_slice_op_like_tf1():
    x = tf.placeholder(tf.float32, [4, None, 3])
    y = x[1:, ..., tf.newaxis, 0]
    assert y.op.type == "StridedSlice" and y.op.name == "strided_slice"
    assert [t.op.name for t in y.op.inputs[1:]] == [
        "strided_slice/stack", "strided_slice/stack_1", "strided_slice/stack_2"]
    assert y.shape.as_list() == [3, None, 1]
    i = tf.placeholder(tf.int32, [])
    assert x[i].shape.as_list() == [None, 3]
    assert x[:, i:i + 2].shape.as_list() == [4, None, 3]
    with pytest.raises(TypeError, match="valid indices"):
        x[1.5]
    v = tf.Variable(np.arange(6.0).reshape(2, 3))
    with tf.Session() as sess:
        sess.run(v.initializer)
        np.testing.assert_array_equal(sess.run(v[1, ::-1]), [5.0, 4.0, 3.0])


def test_strided_slice_masks_as_tf_documents_them():
    x = np.arange(3 * 2 * 3).reshape(3, 2, 3).astype(np.int32)
    cases = [
        (dict(begin=[1, 0, 0], end=[2, 1, 3], strides=[1, 1, 1]), x[1:2, 0:1, 0:3]),
        (dict(begin=[1, -1, 0], end=[2, -3, 3], strides=[1, -1, 1]), x[1:2, -1:-3:-1, 0:3]),
        (dict(begin=[1, 0, 0], end=[0, 0, 0], strides=[1, 1, 1], end_mask=7), x[1:, :, :]),
        (dict(begin=[0, 1], end=[0, 2], strides=[1, 1], ellipsis_mask=1,
              shrink_axis_mask=2), x[..., 1]),
        (dict(begin=[0, 0, 1], end=[0, 0, 2], strides=[1, 1, 1], new_axis_mask=1,
              begin_mask=2, end_mask=2, shrink_axis_mask=4), x[None, :, 1]),
        (dict(begin=[-1], end=[0], strides=[1], shrink_axis_mask=1), x[-1]),
        (dict(begin=[0, 0], end=[0, 0], strides=[1, 1], ellipsis_mask=2, new_axis_mask=3),
         x[None, ...]),
    ]
    for kwargs, expected in cases:
        check(lambda t: tf.strided_slice(t, **kwargs), lambda a: expected, [x])


def test_strided_slice_rejects_what_tf_rejects():
    x = tf.placeholder(tf.float32, [3, 4])
    with pytest.raises(ValueError, match="slice index 5 of dimension 0 out of bounds"):
        x[5]
    with pytest.raises(ValueError, match="Index out of range using input dim 2"):
        x[1, 2, 3]
    with pytest.raises(ValueError, match="strides\\[0\\] must be non-zero"):
        tf.strided_slice(x, [0], [1], [0])
    with pytest.raises(ValueError, match="only stride 1 allowed"):
        tf.strided_slice(x, [1], [0], [-1], shrink_axis_mask=1)
    u = tf.placeholder(tf.float32)
    y = u[:, 3]
    with tf.Session() as sess:
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match="slice index 3 of dimension 1 out of bounds") as e:
            sess.run(y, {u: np.zeros([2, 3])})
        assert e.value.op is y.op
        np.testing.assert_array_equal(sess.run(y, {u: np.ones([2, 4])}), [1.0, 1.0])


# --- gather, one_hot ----------------------------------------------------------------------

@FAST
@given(arrays(min_rank=1, min_side=1), unknown_masks, st.data())
def test_gather(params, mask, data):
    axis = data.draw(st.integers(-params.ndim, params.ndim - 1))
    n = params.shape[axis]
    idx_shape = data.draw(st.lists(st.integers(0, 3), max_size=2))
    rng = np.random.default_rng(data.draw(st.integers(0, 99)))
    indices = rng.integers(0, n, size=idx_shape).astype(data.draw(st.sampled_from(
        [np.int32, np.int64])))
    check(lambda p, i: tf.gather(p, i, axis=axis), lambda p, i: np.take(p, i, axis),
          [params, indices], mask)
    if axis == 0:
        check(lambda p, i: tf.gather(p, i, validate_indices=True),
              lambda p, i: np.take(p, i, 0), [params, indices], mask)


def test_gather_out_of_range_names_the_op_and_leaves_the_session_usable():
    params = tf.placeholder(tf.float32, [3, 2])
    indices = tf.placeholder(tf.int32, [None])
    out = tf.gather(params, indices)
    value = np.arange(6, dtype=np.float32).reshape(3, 2)
    with tf.Session() as sess:
        for bad, text in (([0, 3], r"indices\[1\] = 3 is not in \[0, 3\)"),
                          ([-1], r"indices\[0\] = -1 is not in \[0, 3\)")):
            with pytest.raises(tf.errors.InvalidArgumentError, match=text) as e:
                sess.run(out, {params: value, indices: bad})
            assert e.value.op is out.op and "GatherV2" in str(e.value)
        np.testing.assert_array_equal(sess.run(out, {params: value, indices: [2, 0]}),
                                      value[[2, 0]])


def one_hot_reference(indices, depth, on, off, axis):
    out = np.where(np.arange(depth) == indices[..., None], on, off)
    return np.moveaxis(out, -1, axis if axis != -1 else -1)


@FAST
@given(arrays(max_rank=3, dtypes=[np.int32, np.int64]), unknown_masks, st.integers(0, 5),
       st.sampled_from([None, tf.float32, tf.int32, tf.float64, tf.bool]), st.data())
def test_one_hot(indices, mask, depth, dtype, data):
    axis = data.draw(st.sampled_from([-1] + list(range(indices.ndim + 1))))
    np_dtype = np.float32 if dtype is None else dtype.as_numpy_dtype
    on, off = (np_dtype(True), np_dtype(False)) if dtype is tf.bool else \
        (np_dtype(5), np_dtype(-1))
    check(lambda i: tf.one_hot(i, depth, on_value=on, off_value=off, axis=axis, dtype=dtype),
          lambda i: one_hot_reference(i, depth, on, off, axis), [indices], mask)
    check(lambda i: tf.one_hot(i, depth, axis=axis),
          lambda i: one_hot_reference(i, depth, np.float32(1), np.float32(0), axis),
          [indices], mask)


# --- fill, zeros, ones, *_like, range -----------------------------------------------------

@FAST
@given(arrays(), unknown_masks, st.sampled_from(DTYPES))
def test_fill_zeros_ones_and_likes(x, mask, dtype):
    tf_dtype = tf.as_dtype(dtype)
    value = np.array(3, dtype)
    check(lambda t: [tf.zeros_like(t), tf.ones_like(t), tf.zeros_like(t, dtype=tf_dtype),
                     tf.ones_like(t, dtype=tf_dtype), tf.fill(tf.shape(t), value),
                     tf.zeros(tf.shape(t), tf_dtype), tf.ones(tf.shape(t), tf_dtype)],
          lambda a: [np.zeros_like(a), np.ones_like(a), np.zeros(a.shape, dtype),
                     np.ones(a.shape, dtype), np.full(a.shape, value), np.zeros(a.shape, dtype),
                     np.ones(a.shape, dtype)], [x], mask)


def test_zeros_and_ones_from_python_shapes():
    small, big = tf.zeros([2, 3]), tf.ones([40, 30], tf.int64)
    assert small.op.type == "Const" and small.op.name == "zeros"
    assert big.op.type == "Fill" and big.op.name == "ones" and big.shape.as_list() == [40, 30]
    n = tf.placeholder(tf.int32, [])
    dynamic = tf.zeros([n, 3], tf.bool)
    assert dynamic.shape.as_list() == [None, 3]
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(small), np.zeros([2, 3], np.float32))
        np.testing.assert_array_equal(sess.run(big), np.ones([40, 30], np.int64))
        assert sess.run(dynamic, {n: 2}).tolist() == [[False] * 3] * 2
    assert tf.zeros([], tf.float64).dtype == tf.float64 and tf.ones(3).shape.as_list() == [3]


def range_reference(start, limit, delta, dtype):
    """TF 1.15's kernel: a running value, with delta added in the output dtype."""
    out, value = [], dtype(start)
    n = (int(np.ceil(abs((dtype(limit) - dtype(start)) / dtype(delta))))
         if np.issubdtype(dtype, np.floating) else len(range(start, limit, delta)))
    for _ in range(n):
        out.append(value)
        value = dtype(value + dtype(delta))
    return np.array(out, dtype)


@FAST
@given(st.integers(-10, 10), st.integers(-10, 10), st.sampled_from([1, 2, 3, -1, -3]),
       st.sampled_from([None, tf.int64, tf.float32, tf.float64]))
def test_range(a, b, delta, dtype):
    start, limit = (min(a, b), max(a, b)) if delta > 0 else (max(a, b), min(a, b))
    np_dtype = np.int32 if dtype is None else dtype.as_numpy_dtype
    check(lambda s, l, d: tf.range(s, l, d),
          lambda s, l, d: range_reference(start, limit, delta, np_dtype),
          [np.array(start, np_dtype), np.array(limit, np_dtype), np.array(delta, np_dtype)])
    r = tf.range(start, limit, delta, dtype=dtype)
    assert r.shape.as_list() == [len(range(start, limit, delta))]


def test_range_dtype_inference_and_float_rounding():
    first = tf.range(5)
    assert first.dtype == tf.int32 and first.op.name == "range" and first.op.type == "Range"
    assert tf.range(1, 5.0).dtype == tf.float32
    assert tf.range(tf.constant(3, tf.int64)).dtype == tf.int64
    assert tf.range(2.0, dtype=tf.float64).dtype == tf.float64
    r = tf.range(0.3, 7.9, 0.7)
    assert r.shape.as_list() == [11]
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(r), range_reference(0.3, 7.9, 0.7, np.float32))
    with pytest.raises(ValueError, match="Requires start <= limit when delta > 0: 5/1"):
        tf.range(5, 1)
    with pytest.raises(ValueError, match="Requires delta != 0"):
        tf.range(5, 1, 0)


# --- tile, pad, reverse -------------------------------------------------------------------

@FAST
@given(arrays(max_rank=3), unknown_masks, st.booleans(), st.data())
def test_tile(x, mask, multiples_fed, data):
    multiples = [data.draw(st.integers(0, 3)) for _ in x.shape]
    if multiples_fed:
        check(lambda t, m: tf.tile(t, m), lambda a, m: np.tile(a, m),
              [x, np.array(multiples, np.int32)], mask)
    else:
        check(lambda t: tf.tile(t, multiples), lambda a: np.tile(a, multiples), [x], mask)


@FAST
@given(arrays(min_rank=1, max_rank=3, min_side=1), unknown_masks,
       st.sampled_from(["CONSTANT", "REFLECT", "SYMMETRIC", "constant"]), st.booleans(),
       st.data())
def test_pad(x, mask, mode, paddings_fed, data):
    limit = {"REFLECT": -1, "SYMMETRIC": 0}.get(mode.upper(), 2)
    paddings = [[data.draw(st.integers(0, max(d + limit, 0) if mode.upper() != "CONSTANT"
                                       else 2)) for _ in range(2)] for d in x.shape]
    value = x.dtype.type(7) if x.dtype != np.bool_ else True
    kwargs = {"constant_values": value} if mode.upper() == "CONSTANT" else {}
    expected = lambda a, *_: np.pad(a, paddings, mode=mode.lower(), **kwargs)  # noqa: E731
    if paddings_fed:
        check(lambda t, p: tf.pad(t, p, mode, **kwargs), expected,
              [x, np.array(paddings, np.int32).reshape(-1, 2)], mask)
    else:
        check(lambda t: tf.pad(t, paddings, mode, **kwargs), expected, [x], mask)
        check(lambda t: tf.pad(t, paddings), lambda a: np.pad(a, paddings), [x], mask)


def test_pad_op_types_and_mirror_limits():
    x = tf.placeholder(tf.float32, [2, 3])
    assert tf.pad(x, [[1, 1], [0, 2]]).op.type == "Pad"
    assert tf.pad(x, [[1, 1], [0, 2]], constant_values=3).op.type == "PadV2"
    reflect = tf.pad(x, [[2, 1], [0, 0]], mode="reflect")
    assert reflect.op.type == "MirrorPad" and reflect.shape.as_list() == [5, 3]
    with tf.Session() as sess:
        with pytest.raises(tf.errors.InvalidArgumentError, match="must be less than"):
            sess.run(reflect, {x: np.zeros([2, 3])})
    with pytest.raises(ValueError, match="Unknown padding mode"):
        tf.pad(x, [[0, 0], [0, 0]], mode="wrap")


@FAST
@given(arrays(min_rank=1), unknown_masks, st.data())
def test_reverse(x, mask, data):
    axes = data.draw(st.lists(st.integers(0, x.ndim - 1), unique=True))
    axes = [a - x.ndim if data.draw(st.booleans()) else a for a in axes]
    check(lambda t: [tf.reverse(t, axes), tf.reverse_v2(t, axes)],
          lambda a: [np.flip(a, tuple(axes))] * 2, [x], mask)


# --- axes and shapes known only at run time ------------------------------------------------

@settings(max_examples=15, deadline=None)
@given(arrays(min_rank=1, min_side=1), unknown_masks, st.data())
def test_axes_fed_at_run_time(x, mask, data):
    """Kernels that cannot specialise on a constant axis, perm or depth give the same."""
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    perm = np.array(data.draw(st.permutations(range(x.ndim))), np.int32)
    index = np.array(data.draw(st.integers(0, min(x.shape[0], x.shape[-1]) - 1)), np.int64)
    check(lambda t, a, p, i: [tf.expand_dims(t, a), tf.concat([t, t], a), tf.split(t, 1, a),
                              tf.split(t, [x.shape[axis], 0], a), tf.gather(t, [0], axis=a),
                              tf.reverse(t, tf.reshape(a, [1])), tf.transpose(t, p),
                              tf.one_hot(p, a + x.ndim + 1), tf.fill(tf.shape(p), a),
                              t[..., i], t[i:]],
          lambda t, a, p, i: [np.expand_dims(t, axis), np.concatenate([t, t], axis), [t],
                              np.split(t, [x.shape[axis]], axis), np.take(t, [0], axis),
                              np.flip(t, axis), np.transpose(t, perm),
                              one_hot_reference(perm, axis + x.ndim + 1, np.float32(1),
                                                np.float32(0), -1),
                              np.full(perm.shape, axis, np.int32), t[..., index], t[index:]],
          [x, np.array(axis, np.int32), perm, index], mask)


def test_python_shapes_dimensions_and_partial_shape_vectors():
    x = tf.placeholder(tf.float32, [2, 3])
    assert tf.reshape(x, tf.TensorShape([3, 2])).shape.as_list() == [3, 2]
    assert tf.reshape(x, [x.shape[1], -1]).shape.as_list() == [3, 2]
    assert tf.zeros(x.shape).op.type == "Const"
    with pytest.raises(ValueError, match="partially known TensorShape"):
        tf.reshape(x, tf.TensorShape([None, 2]))
    u = tf.placeholder(tf.float32, [None, 3])
    dims = tf.cast(tf.concat([tf.shape(u), tf.placeholder(tf.int32, [1])], 0), tf.int64)
    assert tf.fill(dims, 1.0).shape.as_list() == [None, 3, None]
    assert tf.reshape(u, tf.stack([tf.size(u), 1])).shape.as_list() == [None, 1]


def test_stop_gradient_passes_values_and_stops_gradients():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    check(tf.stop_gradient, lambda a: a, [x])
    y = tf.stop_gradient(tf.constant(x))
    assert y.op.type == "StopGradient" and y.op.opdef.grad(y.op, y) == [None]


# --- errors and TF1 names -----------------------------------------------------------------

def test_bad_reshape_fails_at_build_time_and_at_run_time():
    x = tf.placeholder(tf.float32, [2, 3])
    with pytest.raises(ValueError, match=r"Cannot reshape a tensor with 6 elements to shape "
                                         r"\[4\] \(4 elements\) for 'Reshape'"):
        tf.reshape(x, [4])
    with pytest.raises(ValueError, match="evenly divisible by 4 but is 6"):
        tf.reshape(x, [-1, 4])
    with pytest.raises(ValueError, match="Only one input size may be -1"):
        tf.reshape(x, [-1, -1])
    u = tf.placeholder(tf.float32, [None, 3])
    y = tf.reshape(u, [-1, 4])
    assert y.shape.as_list() == [None, 4]
    with tf.Session() as sess:
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match="tensor with 6 values, but the requested shape requires a "
                                 "multiple of 4") as e:
            sess.run(y, {u: np.zeros([2, 3])})
        assert e.value.op is y.op
        assert sess.run(y, {u: np.zeros([4, 3])}).shape == (3, 4)


def test_runtime_errors_name_their_op():
    x = tf.placeholder(tf.float32)
    feed = {x: np.zeros([2, 3], np.float32)}
    cases = [(tf.squeeze(x, [0]), "Can not squeeze dim\\[0\\]"),
             (tf.split(x, 2, 1)[0], "evenly divide the split dimension"),
             (tf.slice(x, [0, 1], [-1, 3]), "Expected size\\[1\\] in \\[0, 2\\]"),
             (tf.tile(x, [2, 1, 1]), "vector of length 2 but got length 3"),
             (tf.concat([x, tf.zeros([3, 3])], 1), "Dimension 0 in both shapes must be equal"),
             (tf.expand_dims(x, 5), "Tried to expand dim index 5")]
    with tf.Session() as sess:
        for out, text in cases:
            with pytest.raises(tf.errors.InvalidArgumentError, match=text) as e:
                sess.run(out, feed)
            assert e.value.op is out.op
        assert sess.run(tf.size(x), feed) == 6


def test_tf1_op_names_and_types():
    x = tf.placeholder(tf.float32, [2, 3])
    made = {
        "Reshape": tf.reshape(x, [3, 2]), "transpose": tf.transpose(x),
        "ExpandDims": tf.expand_dims(x, 0), "Squeeze": tf.squeeze(tf.expand_dims(x, 0)),
        "concat": tf.concat([x, x], 0), "stack": tf.stack([x, x]),
        "unstack": tf.unstack(x)[0], "split": tf.split(x, 3, 1)[0], "Slice": tf.slice(x, [0, 0],
                                                                                    [1, 1]),
        "StridedSlice": tf.strided_slice(x, [0], [1]), "GatherV2": tf.gather(x, [1]),
        "one_hot": tf.one_hot([1], 3), "Fill": tf.fill([2], 1.0), "Shape": tf.shape(x),
        "Tile": tf.tile(x, [1, 2]), "ReverseV2": tf.reverse(x, [0]),
    }
    types = {"transpose": "Transpose", "concat": "ConcatV2", "stack": "Pack",
             "unstack": "Unpack", "split": "Split", "one_hot": "OneHot"}
    for name, t in made.items():
        assert t.op.name.startswith(name) and t.op.type == types.get(name, name)
    assert made["Reshape"].op.inputs[1].op.name == "Reshape/shape"
    assert tf.newaxis is None
    assert {"reshape", "newaxis", "strided_slice", "one_hot"} <= set(array_ops.__all__)
