"""Random ops: TF1's graph structure and names, its seed rules, the distributions, and where
random state lives (per Session, one stream per op, shared by every plan of the Session).

Expected names and seed attrs were printed by TF (tf.compat.v1, graph mode); TF 2.x counts
graph-seeded ops differently from TF 1.15, whose rule (the graph's op count) is used here.
"""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import graphflow.compat.v1 as tf
from graphflow.framework import registry
from graphflow.framework.random_seed import DEFAULT_GRAPH_SEED, get_seed, set_random_seed
from graphflow.ops.random_ops import (categorical, multinomial, random_normal, random_shuffle,
                                      random_uniform, truncated_normal)

N = 200_000  # samples for moment checks: the standard error of a mean is ~0.002 sigma


def structure(graph):
    return [(op.name, op.type, [t.name for t in op.inputs]) for op in graph.get_operations()]


def seeds(tensor_or_op):
    op = getattr(tensor_or_op, "op", tensor_or_op)
    return op.attrs["seed"], op.attrs["seed2"]


def random_op(tensor):
    """The random op under a constructor's result (random_normal ends in an Add)."""
    stack = [tensor.op]
    while stack:
        op = stack.pop()
        if "seed" in op.attrs:
            return op
        stack.extend(t.op for t in op.inputs)
    raise AssertionError(f"no random op feeds {tensor.name}")


# --- graph structure, as TF1 builds it ---
def test_random_normal_builds_tf1_ops_and_names():
    x = random_normal([2, 3], mean=1.0, stddev=2.0)
    assert structure(x.graph) == [
        ("random_normal/shape", "Const", []),
        ("random_normal/mean", "Const", []),
        ("random_normal/stddev", "Const", []),
        ("random_normal/RandomStandardNormal", "RandomStandardNormal", ["random_normal/shape:0"]),
        ("random_normal/mul", "Mul", ["random_normal/RandomStandardNormal:0",
                                      "random_normal/stddev:0"]),
        ("random_normal", x.op.type, ["random_normal/mul:0", "random_normal/mean:0"]),
    ]
    assert x.name == "random_normal:0" and x.shape.as_list() == [2, 3] and x.dtype == tf.float32
    assert random_normal([1]).name == "random_normal_1:0"


def test_random_uniform_float_scales_and_int_is_one_op():
    u = random_uniform([4], minval=-1.0, maxval=3.0)
    names = [n for n, _, _ in structure(u.graph)]
    assert names == ["random_uniform/shape", "random_uniform/min", "random_uniform/max",
                     "random_uniform/RandomUniform", "random_uniform/sub", "random_uniform/mul",
                     "random_uniform"]
    k = random_uniform([4], minval=0, maxval=10, dtype=tf.int32)
    assert k.op.type == "RandomUniformInt" and k.name == "random_uniform_1:0"
    assert k.dtype == tf.int32 and [t.name for t in k.op.inputs] == [
        "random_uniform_1/shape:0", "random_uniform_1/min:0", "random_uniform_1/max:0"]


def test_truncated_shuffle_and_multinomial_names():
    t = truncated_normal([3])
    assert random_op(t).name == "truncated_normal/TruncatedNormal"
    assert t.name == "truncated_normal:0"
    s = random_shuffle([[1, 2], [3, 4]])
    assert s.name == "RandomShuffle:0" and s.op.inputs[0].name == "RandomShuffle/value:0"
    assert random_shuffle([1], name="sh").name == "sh:0"
    m = multinomial([[0.0, 1.0]], 5)
    assert m.name == "multinomial/Multinomial:0" and m.dtype == tf.int64
    assert [t.name for t in m.op.inputs] == ["multinomial/logits:0",
                                             "multinomial/Multinomial/num_samples:0"]
    assert m.shape.as_list() == [1, 5]
    c = categorical([[0.0, 1.0]], 2, dtype=tf.int32)
    assert c.name == "categorical/Multinomial:0" and c.dtype == tf.int32


def test_static_shapes_from_shape_tensors():
    assert random_normal([]).shape.as_list() == []
    assert random_normal(tf.TensorShape([2, 3])).shape.as_list() == [2, 3]
    assert random_normal(np.array([2, 3], np.int64)).shape.as_list() == [2, 3]
    assert random_normal([-1, 2]).shape.as_list() == [None, 2]  # refused when it runs
    assert random_normal(tf.placeholder(tf.int32, [2])).shape.as_list() == [None, None]
    assert random_normal(tf.placeholder(tf.int32)).shape.ndims is None
    logits = tf.placeholder(tf.float32, [None, 4])
    assert multinomial(logits, tf.placeholder(tf.int32)).shape.as_list() == [None, None]


def test_static_shape_follows_tf_shape_and_tf_stack():
    x = tf.placeholder(tf.float32, [None, 3])
    assert random_normal(tf.shape(x)).shape.as_list() == [None, 3]
    batch = tf.placeholder(tf.int32, [])
    assert random_uniform(tf.stack([batch, 10])).shape.as_list() == [None, 10]


def test_build_time_errors_match_tf1():
    with pytest.raises(ValueError, match="Shape must be rank 1 but is rank 2"):
        random_normal(tf.constant([[2]]))
    with pytest.raises(TypeError, match="'shape' has DataType float32"):
        random_normal([2.0])
    with pytest.raises(ValueError, match="Must specify maxval for integer dtype tf.int32"):
        random_uniform([2], dtype=tf.int32)
    with pytest.raises(ValueError, match="Invalid dtype tf.int16"):
        random_uniform([2], dtype=tf.int16)
    with pytest.raises(TypeError, match="DataType int32 not in list"):
        random_normal([2], mean=tf.constant(0), stddev=tf.constant(1), dtype=tf.int32)
    with pytest.raises(ValueError, match="Shape must be rank 2 but is rank 1"):
        multinomial([0.0, 1.0], 3)
    with pytest.raises(ValueError, match="must be non-negative but is -1"):
        multinomial([[0.0, 1.0]], -1)
    with pytest.raises(ValueError, match="Accepted dtypes are"):
        categorical([[1.0, 2.0]], 3, dtype=tf.int16)


def test_random_ops_are_not_differentiable():
    for op_type in ("RandomStandardNormal", "TruncatedNormal", "RandomUniform", "RandomShuffle",
                    "Multinomial"):
        assert registry.get(op_type).grad is registry.no_gradient
        assert registry.get(op_type).stateful


# --- seeds ---
def test_get_seed_follows_tf1_rules():
    assert get_seed(None) == (None, None)
    assert get_seed(5) == (DEFAULT_GRAPH_SEED, 5)
    tf.constant(1.0)
    tf.constant(2.0)
    set_random_seed(42)
    assert tf.get_default_graph().seed == 42
    assert get_seed(None) == (42, 2)  # the op seed is the graph's op count so far
    assert get_seed(7) == (42, 7)
    set_random_seed(0)
    assert get_seed(0) == (0, 2 ** 31 - 1)  # an explicit (0, 0) is not "nondeterministic"
    set_random_seed(2 ** 31 + 5)
    assert get_seed(2 ** 31) == (6, 1)


def test_seed_attrs_as_tf1_sets_them():
    a = random_normal([2])
    b = random_normal([2], seed=5)
    set_random_seed(42)
    c = random_normal([2])
    d = random_uniform([2], seed=7)
    assert seeds(random_op(a)) == (0, 0)
    assert seeds(random_op(b)) == (DEFAULT_GRAPH_SEED, 5)
    # 12 ops existed, then shape, mean and stddev were made before the seed was taken
    assert seeds(random_op(c)) == (42, 15)
    assert seeds(random_op(d)) == (42, 7)


# --- where the numbers come from ---
def test_a_seeded_op_restarts_per_session_and_advances_per_run():
    set_random_seed(1)
    x = random_normal([5])
    with tf.Session() as s1:
        first, second = s1.run(x), s1.run(x)
    with tf.Session() as s2:
        again = s2.run(x)
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, again)


def test_one_stream_per_op_shared_by_every_plan_of_a_session():
    a = random_uniform([4], seed=3)
    b = random_uniform([4], seed=4)
    with tf.Session() as sess:
        a1 = sess.run(a)
        a2, _ = sess.run([a, b])   # a new plan continues a's stream
        a3, a3_again = sess.run([a, a])
    with tf.Session() as sess:
        expected = [sess.run(a) for _ in range(3)]
    np.testing.assert_array_equal(np.stack([a1, a2, a3]), np.stack(expected))
    np.testing.assert_array_equal(a3, a3_again)  # one run draws once


def test_equal_seeds_give_equal_streams_and_unseeded_ops_differ():
    x = random_normal([8], seed=11)
    y = random_normal([8], seed=11)
    z = random_normal([8])
    with tf.Session() as sess:
        vx, vy, vz = sess.run([x, y, z])
    with tf.Session() as sess:
        vz2 = sess.run(z)
    np.testing.assert_array_equal(vx, vy)
    assert not np.array_equal(vz, vz2)


_PROGRAM = textwrap.dedent("""
    import numpy as np
    import graphflow.compat.v1 as tf
    from graphflow.framework.random_seed import set_random_seed
    from graphflow.ops import random_ops
    set_random_seed(1234)
    ops = [random_ops.random_normal([3]), random_ops.truncated_normal([3]),
           random_ops.random_uniform([3]), random_ops.random_uniform([3], 0, 100, tf.int64),
           random_ops.random_shuffle(list(range(6))), random_ops.multinomial([[0., 1., 2.]], 4)]
    with tf.Session() as sess:
        print(repr([v.tolist() for v in sess.run(ops)]))
""")


def test_a_seeded_program_gives_the_same_numbers_in_fresh_processes():
    runs = [subprocess.run([sys.executable, "-c", _PROGRAM], capture_output=True, text=True,
                           check=True).stdout for _ in range(2)]
    assert runs[0] == runs[1] and runs[0].startswith("[[")


# --- distributions ---
def run(tensor):
    with tf.Session() as sess:
        return sess.run(tensor)


@pytest.mark.parametrize("dtype", [tf.float16, tf.float32, tf.float64])
def test_random_normal_moments(dtype):
    v = run(random_normal([N], mean=2.0, stddev=3.0, dtype=dtype, seed=1))
    assert v.dtype == dtype.as_numpy_dtype and v.shape == (N,)
    v = v.astype(np.float64)
    assert abs(v.mean() - 2.0) < 0.05 and abs(v.std() - 3.0) < 0.05


def test_truncated_normal_stays_within_two_stddev():
    v = run(truncated_normal([N], mean=-1.0, stddev=0.5, seed=2)).astype(np.float64)
    assert v.min() > -2.0 and v.max() < 0.0   # mean +- 2 * stddev, exclusive
    assert abs(v.mean() + 1.0) < 0.01
    # the standard deviation of a unit normal truncated to [-2, 2]
    assert abs(v.std() - 0.5 * 0.87962566103423978) < 0.01


def test_random_uniform_float_bounds_and_moments():
    v = run(random_uniform([N], minval=-2.0, maxval=6.0, seed=3))
    assert v.dtype == np.float32 and v.min() >= -2.0 and v.max() < 6.0
    assert abs(v.mean() - 2.0) < 0.05 and abs(v.var() - 64 / 12) < 0.1
    assert run(random_uniform([3], dtype=tf.float64)).dtype == np.float64


@pytest.mark.parametrize("dtype", [tf.int32, tf.int64])
def test_random_uniform_int_covers_the_half_open_range(dtype):
    v = run(random_uniform([N], minval=-3, maxval=4, dtype=dtype, seed=4))
    assert v.dtype == dtype.as_numpy_dtype
    counts = np.bincount(v + 3, minlength=7)
    assert len(counts) == 7 and np.all(np.abs(counts / N - 1 / 7) < 0.01)


def test_random_shuffle_permutes_rows():
    value = np.arange(20).reshape(10, 2)
    with tf.Session() as sess:
        s = random_shuffle(value, seed=5)
        outs = [sess.run(s) for _ in range(3)]
        assert sess.run(random_shuffle(7)) == 7
    for out in outs:
        assert sorted(map(tuple, out)) == sorted(map(tuple, value))
        assert np.all(out[:, 1] == out[:, 0] + 1)   # rows move whole
    assert any(not np.array_equal(o, value) for o in outs)


def test_multinomial_frequencies_follow_softmax_of_logits():
    logits = np.log(np.array([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]], np.float32))
    v = run(multinomial(logits, 50_000, seed=6))
    assert v.shape == (2, 50_000) and v.dtype == np.int64
    for row, p in zip(v, np.exp(logits)):
        assert np.all(np.abs(np.bincount(row, minlength=3) / 50_000 - p) < 0.015)


def test_multinomial_gives_no_mass_to_non_finite_logits():
    logits = [[-np.inf, 0.0, -np.inf], [-np.inf, -np.inf, -np.inf], [np.nan, 1.0, 1.0]]
    v = run(multinomial(np.array(logits, np.float32), 200, seed=7))
    assert np.all(v[0] == 1)
    assert np.all(v[1] == 3)       # a row with no mass at all gives num_classes, as TF
    assert set(np.unique(v[2])) == {1, 2}


# --- run-time errors name the op and leave the session usable ---
def test_run_time_errors():
    p = tf.placeholder(tf.int32, [2])
    x = random_normal(p)
    bad_range = random_uniform([2], 5, 5, dtype=tf.int32)
    empty = multinomial(np.zeros((2, 0), np.float32), 3)
    with tf.Session() as sess:
        with pytest.raises(tf.errors.InvalidArgumentError, match="Dimension -1 must be >= 0") \
                as info:
            sess.run(x, {p: [-1, 2]})
        assert info.value.op is random_op(x)
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match="Need minval < maxval, got 5 >= 5"):
            sess.run(bad_range)
        with pytest.raises(tf.errors.InvalidArgumentError, match="num_classes should be positive"):
            sess.run(empty)
        assert sess.run(x, {p: [2, 3]}).shape == (2, 3)


def test_random_uniform_gives_tfs_numbers_for_an_op_seed():
    # printed by TF (tf.compat.v1, graph mode): set_random_seed(1), random_uniform([5],
    # seed=3) in float32, and random_uniform([3], seed=7, dtype=float64), two runs each
    set_random_seed(1)
    a = random_uniform([5], seed=3)
    b = random_uniform([3], seed=7, dtype=tf.float64)
    with tf.Session() as sess:
        runs = [sess.run([a, b]) for _ in range(2)]
    np.testing.assert_allclose(runs[0][0], [0.7787856, 0.80119777, 0.72437465, 0.23089433,
                                            0.72714126], rtol=1e-7)
    np.testing.assert_allclose(runs[1][0], [0.9094503, 0.28230965, 0.25853276, 0.87884915,
                                            0.33375382], rtol=1e-7)
    np.testing.assert_allclose(runs[0][1], [0.302781406232, 0.233575906013, 0.790791178946],
                               rtol=1e-11)
    np.testing.assert_allclose(runs[1][1], [0.52323477285, 0.17770592153, 0.193054203085],
                               rtol=1e-11)
