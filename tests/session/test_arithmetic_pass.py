"""The arithmetic simplification pass through a Session: each rewrite drops ops from the plan
and gives the values of the plan without it, bit for bit (signed zeros and NaN included);
what is not exact, could change a shape or an error, or would lose an effect or an ordering
stays."""
import collections

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import graphflow.compat.v1 as tf
from graphflow.framework import errors
from graphflow.ops import op_util
from graphflow.session.config import ConfigProto, GraphOptions, RewriterConfig
from graphflow.session.passes.symbolic_shapes import Symbol, broadcast_reductions

OFF = RewriterConfig.OFF


def config(arithmetic=True):
    """Fusion off, so the plan shows each op the pass kept or removed."""
    return ConfigProto(graph_options=GraphOptions(rewrite_options=RewriterConfig(
        elementwise_fusion=OFF, arithmetic_optimization=0 if arithmetic else OFF)))


def run_both(fetches, feed_dict=None):
    """(values with the pass, values without it, the CompiledPlan with the pass, the one
    without)."""
    results, plans = [], []
    for on in (True, False):
        with tf.Session(config=config(on)) as sess:
            sess.run(tf.global_variables_initializer())
            results.append(sess.run(fetches, feed_dict))
            plans.append(sess.plan_for(fetches, feed_dict))
    return results[0], results[1], plans[0], plans[1]


def op_types(compiled):
    return collections.Counter(n.type for n in compiled.plan.nodes)


def note(compiled):
    (text,) = [n for name, _, _, n in compiled.report.rows if name == "arithmetic_optimization"]
    return text


def assert_same_bits(got, want):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes()


SPECIALS = np.array([-0.0, 0.0, 1.5, -2.0, np.nan, np.inf, -np.inf], np.float32)


def test_identity_chains_and_stop_gradient_go():
    x = tf.placeholder(tf.float32, [7])
    y = tf.identity(tf.stop_gradient(tf.identity(x))) * 3.0
    on, off, compiled, _ = run_both(y, {x: SPECIALS})
    assert_same_bits(on, off)
    assert not {"Identity", "StopGradient"} & set(op_types(compiled))
    assert note(compiled) == "3 identities"


@pytest.mark.parametrize("build", [
    lambda x: x * 1.0,
    lambda x: 1.0 * x,
    lambda x: x / 1.0,
    lambda x: x - 0.0,
    lambda x: x + tf.constant(-0.0),
    lambda x: tf.constant(-0.0) + x,
    lambda x: tf.add(x, tf.constant(np.full([7], -0.0, np.float32))),
    lambda x: x * tf.ones([7]),
    lambda x: tf.ones([1]) * x,
], ids=["x*1", "1*x", "x/1", "x-0", "x+(-0)", "(-0)+x", "Add(x,-0s)", "x*ones", "ones[1]*x"])
def test_neutral_float_operands_go(build):
    x = tf.placeholder(tf.float32, [7])
    y = build(x)
    z = tf.negative(y)
    on, off, compiled, _ = run_both([y, z], {x: SPECIALS})
    for a, b in zip(on, off):
        assert_same_bits(a, b)
    assert op_types(compiled)["Neg"] == 1 and len(op_types(compiled)) == 2  # _Feed, Neg
    assert note(compiled) == "1 neutral operand"


@pytest.mark.parametrize("build", [
    lambda x: x * 1, lambda x: 1 * x, lambda x: x + 0, lambda x: 0 + x, lambda x: x - 0,
    lambda x: x // 1,
], ids=["x*1", "1*x", "x+0", "0+x", "x-0", "x//1"])
def test_neutral_integer_operands_go(build):
    x = tf.placeholder(tf.int32, [None, 3])
    y = tf.abs(build(x))
    feed = {x: np.array([[-5, 0, 7], [2**31 - 1, -2**31, 3]], np.int32)}
    on, off, compiled, _ = run_both(y, feed)
    assert_same_bits(on, off)
    assert set(op_types(compiled)) == {"_Feed", "Abs"}


def test_neutral_logical_operands_go():
    x = tf.placeholder(tf.bool, [4])
    y = tf.logical_not(tf.logical_or(tf.logical_and(x, True), False))
    on, off, compiled, _ = run_both(y, {x: [True, False, True, True]})
    assert_same_bits(on, off)
    assert set(op_types(compiled)) == {"_Feed", "LogicalNot"}


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("build, feed_value", [
    (lambda x: x + 0.0, SPECIALS),                          # -0.0 + 0.0 is +0.0
    (lambda x: x + tf.zeros([7]), SPECIALS),
    (lambda x: x - tf.constant(-0.0), SPECIALS),            # x - (-0) is x + 0
    (lambda x: x * 0.0, SPECIALS),                          # NaN and inf give NaN
    (lambda x: x - x, SPECIALS),
    (lambda x: x // 1.0, SPECIALS * 1.25),                  # floor(x / 1) is floor(x)
    (lambda x: x * tf.ones([2, 7]), SPECIALS),              # the constant broadcasts x
    (lambda x: x * 2.0, SPECIALS),
    (lambda x: x * x, SPECIALS),
    (lambda x: x + x, SPECIALS),
], ids=["x+0", "x+zeros", "x-(-0)", "x*0", "x-x", "x//1", "broadcasting ones", "x*2",
        "x*x", "x+x"])
def test_inexact_or_shape_changing_float_patterns_stay(build, feed_value):
    x = tf.placeholder(tf.float32, [7])
    y = build(x)
    before = op_types(run_both(y, {x: feed_value})[2])
    on, off, compiled, _ = run_both(y, {x: feed_value})
    assert_same_bits(on, off)
    assert op_types(compiled) == before and y.op.type in before


def test_ones_that_may_broadcast_an_unknown_dim_stay():
    """x: [None] may be [1] at run time; x * ones([3]) is then [3], not x."""
    x = tf.placeholder(tf.float32, [None])
    y = x * tf.ones([3])
    on, off, compiled, _ = run_both(y, {x: [5.0]})
    assert_same_bits(on, off)
    assert on.shape == (3,) and op_types(compiled)["Mul"] == 1


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_multiplying_by_ones_keeps_values_shapes_and_errors(data):
    """x of any static shape (dims or rank unknown) times ones of any shape, run on a value
    of any shape that fits x: the plan with the pass gives the same values and shape as
    without, or the same error."""
    tf.reset_default_graph()
    rank = data.draw(st.integers(0, 3))
    dims = data.draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank))
    known = data.draw(st.lists(st.booleans(), min_size=rank, max_size=rank))
    static = [d if k else None for d, k in zip(dims, known)] if data.draw(st.booleans()) \
        else None
    ones_dims = data.draw(st.lists(st.sampled_from([1, 2, 3]), max_size=rank + 1))
    x = tf.placeholder(tf.float32, static)
    try:
        y = x * tf.ones(ones_dims)
    except ValueError:  # the static shapes cannot broadcast
        return
    value = np.arange(np.prod(dims), dtype=np.float32).reshape(dims) - 1.5
    try:
        np.broadcast_shapes(tuple(dims), tuple(ones_dims))
    except ValueError:
        for on in (True, False):
            with tf.Session(config=config(on)) as sess, \
                    pytest.raises(errors.InvalidArgumentError):
                sess.run(y, {x: value})
        return
    on, off, _, _ = run_both(y, {x: value})
    assert_same_bits(on, off)


def test_integer_times_zero_and_self_difference_become_zeros():
    x = tf.placeholder(tf.int64, [2, 3])
    a = x * 0
    b = tf.zeros([3], tf.int64) * x
    c = x - x
    feed = {x: np.arange(6, dtype=np.int64).reshape(2, 3) - 3}
    on, off, compiled, _ = run_both([a, b, c], feed)
    for got, want in zip(on, off):
        assert_same_bits(got, want)
    assert not {"Mul", "Sub"} & set(op_types(compiled))
    assert note(compiled) == "3 integer zeros"


def test_integer_zeros_still_run_the_ops_they_read():
    """v.assign_add(1) * 0 is 0, and the assign still happens."""
    v = tf.Variable(np.array([1, 2], np.int32))
    y = v.assign_add([10, 10]) * 0
    for on in (True, False):
        with tf.Session(config=config(on)) as sess:
            sess.run(v.initializer)
            assert_same_bits(sess.run(y), np.zeros(2, np.int32))
            assert_same_bits(sess.run(v), np.array([11, 12], np.int32))


def test_integer_zeros_need_a_known_shape():
    x = tf.placeholder(tf.int32, [None])
    y = x * 0
    on, off, compiled, _ = run_both(y, {x: [1, 2, 3]})
    assert_same_bits(on, off)
    assert op_types(compiled)["Mul"] == 1


def test_double_negations_cancel():
    x = tf.placeholder(tf.float32, [7])
    b = tf.placeholder(tf.bool, [2])
    two = -(-x)
    three = -(-(-x))
    nots = tf.logical_not(tf.logical_not(b))
    on, off, compiled, _ = run_both([two, three, nots], {x: SPECIALS, b: [True, False]})
    for got, want in zip(on, off):
        assert_same_bits(got, want)
    types = op_types(compiled)
    assert types["Neg"] == 1 and "LogicalNot" not in types
    assert note(compiled) == "3 double negations"


def test_transpose_chains_compose():
    x = tf.placeholder(tf.float32, [2, 3, 4])
    back = tf.transpose(tf.transpose(x, [1, 2, 0]), [2, 0, 1])
    other = tf.transpose(tf.transpose(x, [1, 2, 0]), [1, 0, 2])
    same = tf.transpose(x, [0, 1, 2])
    value = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    on, off, compiled, _ = run_both([back, other, same], {x: value})
    for got, want in zip(on, off):
        assert_same_bits(got, want)
    assert op_types(compiled)["Transpose"] == 1
    assert note(compiled) == "2 transpose chains, 1 identity transpose"


def test_reshape_chains_collapse():
    x = tf.placeholder(tf.float32, [None, 6])
    chained = tf.reshape(tf.reshape(x, [-1, 3, 2]), [-1, 2, 3])
    x2 = tf.placeholder(tf.float32, [4, 6])
    home = tf.reshape(tf.reshape(x2, [24]), [4, 6])
    own = tf.reshape(x2, [4, 6])
    feed = {x: np.arange(12, dtype=np.float32).reshape(2, 6),
            x2: np.arange(24, dtype=np.float32).reshape(4, 6)}
    on, off, compiled, _ = run_both([chained, home, own], feed)
    for got, want in zip(on, off):
        assert_same_bits(got, want)
    assert op_types(compiled)["Reshape"] == 1
    assert note(compiled) == "2 reshape chains, 1 no-op reshape"


def test_a_reshape_that_can_fail_stays_in_the_chain():
    """[None, 5] to [-1, 2] fails for an odd batch: the error must survive the rewrite."""
    x = tf.placeholder(tf.float32, [None, 5])
    y = tf.reshape(tf.reshape(x, [-1, 2]), [-1])
    for on in (True, False):
        with tf.Session(config=config(on)) as sess:
            assert op_types(sess.plan_for(y, {x: 0}))["Reshape"] == 2
            with pytest.raises(errors.InvalidArgumentError):
                sess.run(y, {x: np.zeros((1, 5), np.float32)})
            assert sess.run(y, {x: np.ones((2, 5), np.float32)}).shape == (10,)


def test_casts_to_the_same_dtype_go():
    x = tf.placeholder(tf.float32, [4])
    same = op_util.make("Cast", [x], {"SrcT": tf.float32, "DstT": tf.float32})
    y = tf.negative(same)
    on, off, compiled, _ = run_both([y, tf.cast(x, tf.int32)], {x: SPECIALS[:4]})
    for got, want in zip(on, off):
        assert_same_bits(got, want)
    assert op_types(compiled)["Cast"] == 1
    assert note(compiled) == "1 no-op cast"


def test_control_dependencies_keep_their_ordering():
    """Ops made under control_dependencies read after the update they wait for, and
    before the update that waits for them."""
    v = tf.Variable(1.0)
    bump = v.assign_add(1.0)
    with tf.control_dependencies([bump]):
        y = tf.identity(v)
        z = v * 1.0
    with tf.control_dependencies([z]):
        later = v.assign_add(100.0)
    for on in (True, False):
        with tf.Session(config=config(on)) as sess:
            sess.run(v.initializer)
            assert sess.run(y) == 2.0
            sess.run(v.initializer)
            assert sess.run([z, later])[0] == 2.0
            kept = {n.name for n in sess.plan_for([y, z, later]).plan.nodes}
            assert {y.op.name, z.op.name} <= kept


def test_copies_of_a_variable_updated_in_the_same_plan_stay():
    """snap = v * 1 runs before the update; forwarding v itself would fetch the new value."""
    v = tf.Variable([1.0, 2.0])
    snap = v * 1.0
    neg = -(-v)
    update = v.assign_add([10.0, 10.0])
    for on in (True, False):
        with tf.Session(config=config(on)) as sess:
            sess.run(v.initializer)
            got_snap, got_neg, _ = sess.run([snap, neg, update])
            np.testing.assert_array_equal(got_snap, [1.0, 2.0])
            np.testing.assert_array_equal(got_neg, [1.0, 2.0])
            types = op_types(sess.plan_for([snap, neg, update]))
            assert types["Mul"] == 1 and types["Neg"] == 2


def test_fetches_that_become_variable_reads_are_still_copies():
    v = tf.Variable([1.0, 2.0])
    fetches = [tf.identity(v), v * 1.0, tf.reshape(v, [2])]
    with tf.Session(config=config(True)) as sess:
        sess.run(v.initializer)
        compiled = sess.plan_for(fetches)
        assert {ref[0].type for ref in compiled.plan.fetches} == {"VariableV2"}
        for got in sess.run(fetches):
            got[0] = 100.0
        np.testing.assert_array_equal(sess.run(v), [1.0, 2.0])


def test_stateful_ops_are_never_rewritten():
    tf.set_random_seed(1)
    r = tf.random_uniform([3])
    y = r * 1.0   # removed: RandomUniform stays, and runs once per run
    z = tf.identity(r)
    with tf.Session(config=config(True)) as sess:
        a, b = sess.run([y, z])
        assert_same_bits(a, b)
        assert op_types(sess.plan_for([y, z]))["RandomUniform"] == 1


def test_the_default_pipeline_gives_the_same_values():
    x = tf.placeholder(tf.float32, [None, 4])
    h = tf.reshape(tf.reshape(tf.identity(x) * 1.0, [-1, 2, 2]), [-1, 4])
    y = tf.transpose(tf.transpose(-(-h), [1, 0]), [1, 0]) + tf.constant(-0.0)
    value = np.array([[-0.0, 1.0, np.nan, np.inf], [2.0, -3.0, 0.0, -0.0]], np.float32)
    with tf.Session() as sess:
        on = sess.run(y, {x: value})
        report = str(sess.plan_for(y, {x: value}).report)
    with tf.Session(config=config(False)) as sess:
        off = sess.run(y, {x: value})
    assert_same_bits(on, off)
    assert "arithmetic_optimization" in report


# --- gradients of broadcasting ops, decided by symbolic shapes ---
def test_dropout_like_gradients_lose_their_broadcast_reductions():
    """x * mask with mask drawn from tf.shape(x): the same unknown batch dim on both sides,
    so the gradient's BroadcastGradientArgs, Sum and Reshape go; the rest of the plan gives
    the same bits."""
    x = tf.placeholder(tf.float32, [None, 4])
    mask = tf.cast(tf.random_uniform(tf.shape(x), seed=1) >= 0.5, tf.float32)
    y = x * mask
    (grad,) = tf.gradients(tf.reduce_sum(y * 3.0), [x])
    feed = {x: np.arange(12, dtype=np.float32).reshape(3, 4)}
    on, off, compiled, uncompiled = run_both([y, grad], feed)
    for got, want in zip(on, off):
        assert_same_bits(got, want)
    types = op_types(compiled)
    assert op_types(uncompiled)["BroadcastGradientArgs"] >= 1
    assert types["BroadcastGradientArgs"] == 0 and types["Sum"] == 0
    assert "broadcast gradient args" in note(compiled) and "sum over no axes" in note(compiled)


@pytest.mark.parametrize("x_shape, y_shape, x_feed, y_feed", [
    ([None, 4], [None, 4], (3, 4), (1, 4)),  # two unknown dims: y may broadcast
    ([None], [5], (1,), (5,)),               # an unknown dim against 5 may be 1
    ([None, 1], [None, 3], (2, 1), (2, 3)),  # 1 against ?: decided, and ? against ?: not
])
def test_shapes_the_symbols_do_not_decide_are_reduced_at_run_time(x_shape, y_shape, x_feed,
                                                                   y_feed):
    x = tf.placeholder(tf.float32, x_shape)
    y = tf.placeholder(tf.float32, y_shape)
    gx, gy = tf.gradients(tf.reduce_sum(x * y), [x, y])
    rng = np.random.default_rng(0)
    feed = {x: rng.standard_normal(x_feed).astype(np.float32),
            y: rng.standard_normal(y_feed).astype(np.float32)}
    on, off, compiled, _ = run_both([gx, gy], feed)
    assert on[0].shape == x_feed and on[1].shape == y_feed
    for got, want in zip(on, off):
        assert_same_bits(got, want)
    assert op_types(compiled)["BroadcastGradientArgs"] >= 1


def test_a_fetched_broadcast_gradient_args_keeps_tfs_run_time_answer():
    # [?, 3] against [1, 3]: the symbols say "reduce axis 0 of the second"; fed [1, 3],
    # the shapes are equal and TF reduces nothing (what TF printed for these shapes)
    from graphflow.ops.math_ops import _broadcast_gradient_args
    x = tf.placeholder(tf.float32, [None, 3])
    args = _broadcast_gradient_args(tf.shape(x), tf.shape(tf.ones([1, 3])))
    on, off, compiled, _ = run_both(list(args), {x: np.ones((1, 3), np.float32)})
    for got in on + off:
        np.testing.assert_array_equal(got, np.zeros(0, np.int32))
    assert op_types(compiled)["BroadcastGradientArgs"] == 1


@pytest.mark.parametrize("a, b, expected", [
    ((2, 3), (2, 3), ([], [])),          # equal shapes reduce nothing (TF's BCast)
    ((1, 2), (1, 2), ([], [])),
    ((1, 1), (3, 1), ([0, 1], [1])),     # a 1 on both sides of unequal shapes: both reduce
    ((2,), (1, 2), ([0], [0])),          # the shorter shape is padded with 1s
    ((4, 3), (3,), ([], [0])),
])
def test_broadcast_reductions_follow_tfs_rule_on_known_shapes(a, b, expected):
    # expected values printed by TF's raw_ops.BroadcastGradientArgs
    assert broadcast_reductions(a, b) == expected


def test_broadcast_reductions_with_symbols():
    n, m = Symbol(), Symbol()
    assert broadcast_reductions((n, 3), (n, 3)) == ([], [])
    assert broadcast_reductions((n, 3), (3,)) == ([], [0])
    assert broadcast_reductions((n, 1), (n, 5)) == ([1], [])
    assert broadcast_reductions((n, 3), (m, 3)) is None   # either may be 1
    assert broadcast_reductions((n,), (5,)) is None       # n may be 1
