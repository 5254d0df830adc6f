"""CUDA reductions and argmax/argmin against the CPU kernels (run through a CPU Session):
any set of axes, keepdims, every kind and dtype, empty reductions, NaN, integer wrapping and
truncating integer means, and sizes that split a reduction across threads."""
import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st
from numba import cuda

import graphflow.compat.v1 as tf
from graphflow.kernels.cuda import reduce as cuda_reduce

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

OPS = {"sum": tf.reduce_sum, "mean": tf.reduce_mean, "prod": tf.reduce_prod,
       "max": tf.reduce_max, "min": tf.reduce_min, "all": tf.reduce_all, "any": tf.reduce_any}


def cpu(build, x):
    with tf.Graph().as_default():
        y = build(tf.constant(x))
        with tf.Session() as sess:
            return sess.run(y)


def values(shape, dtype, seed, kind="sum"):
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.random(shape) < 0.7
    if dtype.startswith("int"):
        high = 3 if kind == "prod" else 1000
        return rng.integers(-high, high + 1, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def check(x, axes, kind, keepdims=False):
    got = cuda_reduce.reduce(cuda.to_device(x), axes, kind, keepdims).copy_to_host()
    want = cpu(lambda t: OPS[kind](t, axis=list(axes), keepdims=keepdims), x)
    assert got.dtype == x.dtype and got.shape == want.shape
    if x.dtype.kind == "f":
        rtol = 1e-5 if x.dtype == np.float32 else 1e-12
        scale = np.abs(x).sum() if kind in ("sum", "mean") and x.size else 0
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)
    else:
        np.testing.assert_array_equal(got, want)


@st.composite
def reductions(draw):
    shape = tuple(draw(st.lists(st.integers(0, 5), min_size=0, max_size=4)))
    kind = draw(st.sampled_from(sorted(OPS)))
    dtype = "bool" if kind in ("all", "any") else \
        draw(st.sampled_from(["float32", "float64", "int32", "int64"]))
    axes = draw(st.lists(st.integers(0, max(len(shape) - 1, 0)), unique=True,
                         max_size=len(shape)))
    axes = [a - len(shape) if draw(st.booleans()) else a for a in axes]  # negative axes too
    return shape, kind, dtype, axes, draw(st.booleans()), draw(st.integers(0, 2**31))


@settings(max_examples=20, deadline=None)
@example(((7, 3), "sum", "float32", [0], False, 0))          # a bias gradient
@example(((3, 4, 5), "max", "int32", [0, 2], True, 0))       # two separate reduced runs
@example(((2, 0, 3), "min", "float64", [1], False, 0))       # empty: the identity
@example(((2, 0, 3), "prod", "int64", [0, 1], True, 0))
@example(((0, 3), "mean", "float32", [0], False, 0))         # 0 / 0: nan
@example(((3, 0), "mean", "int32", [1], False, 0))           # 0
@example(((0, 3, 8), "all", "bool", [0, 2], False, 0))       # an empty first fold, then 3
@example(((4,), "all", "bool", [], False, 0))                 # no axes: a copy
@example(((), "mean", "float32", [], False, 0))
@given(case=reductions())
def test_reductions_match_the_cpu_kernels(case):
    shape, kind, dtype, axes, keepdims, seed = case
    check(values(shape, dtype, seed, kind), axes, kind, keepdims)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape, axes", [((301,), [0]), ((60, 3), [0]), ((3, 70), [1]),
                                         ((5, 40, 2), [0, 2]), ((9, 33), [0, 1])])
def test_reductions_split_across_threads(shape, axes, dtype):
    x = values(shape, dtype, 1)
    for kind in ("sum", "mean", "max", "min"):
        check(x, axes, kind)


def test_integer_sums_and_products_wrap_and_means_truncate_toward_zero():
    big = np.array([[2**31 - 1, 5, -7], [1, 2**30, -8]], np.int32)
    check(big, [0], "sum")
    check(big, [1], "prod")
    check(np.array([-7, 1, 0, -1], np.int32), [0], "mean")   # -7 / 4 -> -1
    check(np.array([[7, 1], [-7, -2]], np.int64), [1], "mean")  # 4, -4


def test_max_and_min_propagate_nan():
    x = np.array([[1, np.nan, 3], [4, 5, -np.inf]], np.float32)
    for kind in ("max", "min"):
        check(x, [1], kind)
        check(x, [0, 1], kind)


def test_bad_arguments():
    x = cuda.to_device(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="Invalid reduction dimension 2"):
        cuda_reduce.reduce(x, [2], "sum")
    with pytest.raises(ValueError, match="duplicate dimension: 1"):
        cuda_reduce.reduce(x, [1, -1], "sum")
    with pytest.raises(TypeError, match="float32"):
        cuda_reduce.reduce(x, [0], "all")
    with pytest.raises(ValueError, match="unknown reduction"):
        cuda_reduce.reduce(x, [0], "median")


# --- argmax / argmin ---
def check_arg(x, axis, output_dtype):
    for name, fn in (("argmax", tf.argmax), ("argmin", tf.argmin)):
        got = getattr(cuda_reduce, name)(cuda.to_device(x), axis, output_dtype).copy_to_host()
        want = cpu(lambda t: fn(t, axis, output_type=output_dtype), x)
        assert got.dtype == want.dtype == output_dtype
        np.testing.assert_array_equal(got, want)


@settings(max_examples=15, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3), data=st.data(),
       dtype=st.sampled_from(["float32", "float64", "int32", "int64"]),
       output_dtype=st.sampled_from([np.int32, np.int64]), seed=st.integers(0, 2**31))
def test_arg_reductions_match_the_cpu_kernels(shape, data, dtype, output_dtype, seed):
    x = values(tuple(shape), dtype, seed)
    if dtype.startswith("int"):
        x //= 300  # ties
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    check_arg(x, axis, output_dtype)


def test_arg_reductions_skip_nan_and_keep_the_first_extreme():
    nan, inf = np.nan, np.inf
    x = np.array([[nan, 1, 3, 3], [nan, nan, nan, nan], [-inf, nan, -inf, 2],
                  [inf, inf, nan, -inf]], np.float32)
    check_arg(x, 1, np.int64)
    check_arg(x, 0, np.int32)


def test_arg_reduction_errors():
    x = cuda.to_device(np.zeros((2, 0), np.float32))
    with pytest.raises(ValueError, match="Reduction axis 1 is empty in shape \\[2,0\\]"):
        cuda_reduce.argmax(x, 1)
    with pytest.raises(ValueError, match="range \\[-2, 2\\), but got 2"):
        cuda_reduce.argmin(x, 2)
