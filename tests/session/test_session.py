"""Session semantics: pruning, plan caching, feeds, fetch structures, errors, variables."""
import collections
import threading

import numpy as np
import pytest

import graphflow.compat.v1 as tf


def executed_ops(sess, fetches, feed_dict=None):
    """Names of the graph ops a run executes, from TF1-style step stats."""
    options = tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE)
    meta = tf.RunMetadata()
    sess.run(fetches, feed_dict, options=options, run_metadata=meta)
    return {s.node_name for d in meta.step_stats.dev_stats for s in d.node_stats}


def no_folding():
    return tf.ConfigProto(graph_options=tf.GraphOptions(
        optimizer_options=tf.OptimizerOptions(opt_level=tf.OptimizerOptions.L0)))


def test_seed_subgraph_snippet_prunes_the_useless_op():
    x = 2
    y = 3
    add_op = tf.add(x, y)
    mul_op = tf.multiply(x, y)
    useless = tf.multiply(x, add_op)
    pow_op = tf.pow(add_op, mul_op)
    with tf.Session(config=no_folding()) as sess:
        z = sess.run(pow_op)
        assert z == 15625
        ran = executed_ops(sess, pow_op)
    assert {"Add", "Mul", "Pow"} <= ran and useless.op.name not in ran


def test_constant_folding_and_cse_are_reported():
    x = tf.placeholder(tf.float32, [3])
    k = tf.constant(2.0) * tf.constant(3.0)
    y = (x * k) + (x * k)
    meta = tf.RunMetadata()
    no_fusion = tf.ConfigProto(graph_options=tf.GraphOptions(
        rewrite_options=tf.RewriterConfig(elementwise_fusion=tf.RewriterConfig.OFF)))
    with tf.Session(config=no_fusion) as sess:
        out = sess.run(y, {x: [1.0, 2.0, 3.0]}, run_metadata=meta)
        ran = executed_ops(sess, y, {x: [1.0, 2.0, 3.0]})
    np.testing.assert_allclose(out, [12.0, 24.0, 36.0])
    rows = {name: (before, after) for name, before, after, _ in meta.plan_report.rows}
    assert rows["constant_folding"][1] < rows["constant_folding"][0]
    assert rows["common_subgraph_elimination"][1] < rows["common_subgraph_elimination"][0]
    assert len([n for n in ran if n.startswith("mul")]) == 1


def test_plans_are_cached_and_survive_graph_growth():
    a = tf.placeholder(tf.float32)
    b = a * 3.0
    with tf.Session() as sess:
        assert sess.run(b, {a: 2.0}) == 6.0
        plan = sess.plan_for(b, {a: 0})
        c = b + 1.0  # the graph grows after the session started: tutorials do this
        assert sess.run(c, {a: 2.0}) == 7.0
        assert sess.plan_for(b, {a: 0}) is plan
        assert sess.run(b, {a: 5.0}) == 15.0


def test_two_sessions_hold_independent_variable_values():
    v = tf.Variable(1.0)
    inc = v.assign_add(1.0)
    s1, s2 = tf.Session(), tf.Session()
    s1.run(tf.global_variables_initializer())
    s2.run(v.initializer)
    s1.run(inc)
    s1.run(inc)
    assert s1.run(v) == 3.0 and s2.run(v) == 1.0


def test_uninitialized_variable_names_itself():
    v = tf.Variable(tf.zeros_like(tf.constant([1.0, 2.0])), name="weights")
    with tf.Session() as sess:
        with pytest.raises(tf.errors.FailedPreconditionError, match="weights"):
            sess.run(v * 2.0)
        sess.run(tf.global_variables_initializer())
        np.testing.assert_array_equal(sess.run(v * 2.0), [0.0, 0.0])


def test_nested_fetch_structures():
    Pair = collections.namedtuple("Pair", "first second")
    a, b = tf.constant(1.0), tf.constant(2)
    noop = tf.no_op()
    with tf.Session() as sess:
        out = sess.run({"x": [a, (b, noop)], "p": Pair(a, "Const_1:0"), "op": "NoOp"})
    assert out["x"][0] == 1.0 and out["x"][1] == (2, None)
    assert isinstance(out["p"], Pair) and out["p"].second == 2
    assert out["op"] is None


def test_feed_conversions_follow_tf1():
    x = tf.placeholder(tf.float32, [None, 2])
    n = tf.placeholder(tf.int32, [])
    flag = tf.placeholder(tf.bool, [])
    with tf.Session() as sess:
        out = sess.run(x, {x: np.array([[1.0, 2.0]], dtype=np.float64)})
        assert out.dtype == np.float32
        assert sess.run(x, {x: [[1, 2], [3, 4]]}).dtype == np.float32
        assert sess.run(n, {n: 3}) == 3 and sess.run(n, {"Placeholder_1:0": 4.0}) == 4
        got = sess.run(flag, {flag: 1})
        assert got.dtype == np.bool_ and got
        with pytest.raises(TypeError, match="non-integral"):
            sess.run(n, {n: 2.5})


def test_any_tensor_can_be_fed_and_defaults_apply():
    a = tf.constant(2.0)
    b = a * 10.0
    c = b + 1.0
    d = tf.placeholder_with_default(tf.constant(5.0), [])
    with tf.Session() as sess:
        assert sess.run(c, {b: 1.0}) == 2.0
        assert sess.run(d) == 5.0 and sess.run(d, {d: 7.0}) == 7.0
        assert sess.run(c) == 21.0


@pytest.mark.parametrize("feed, error", [
    ({"shape": [1.0, 2.0]}, ValueError),
    ({"dtype": "abc"}, TypeError),
    ({"dtype": [[1.0, 2.0, 3.0], [1.0]]}, ValueError),
    ({"dtype": None}, TypeError),
])
def test_bad_feeds_raise_clear_errors_and_leave_the_session_usable(feed, error):
    x = tf.placeholder(tf.float32, [None, 3], name="images")
    y = x + 1.0
    with tf.Session() as sess:
        with pytest.raises(error, match="images") as info:
            sess.run(y, {x: list(feed.values())[0]})
        assert isinstance(info.value, tf.errors.InvalidArgumentError)
        np.testing.assert_array_equal(sess.run(y, {x: [[1.0, 2.0, 3.0]]}), [[2.0, 3.0, 4.0]])


def test_bad_fetches_and_feed_keys_raise_and_leave_the_session_usable():
    x = tf.placeholder(tf.float32, name="x")
    y = x * 2.0
    other = tf.Graph()
    with other.as_default():
        alien = tf.constant(1.0)
    with tf.Session() as sess:
        with pytest.raises(TypeError, match="None"):
            sess.run(None)
        with pytest.raises(ValueError, match="nothere"):
            sess.run("nothere:0")
        with pytest.raises(ValueError, match="not an element of this graph"):
            sess.run(alien)
        with pytest.raises(ValueError, match="not an element of this graph"):
            sess.run(y, {alien: 1.0})
        with pytest.raises(ValueError):
            sess.run(y, {"missing:0": 1.0})
        with pytest.raises(tf.errors.InvalidArgumentError, match="must feed a value.*'x'"):
            sess.run(y)
        assert sess.run(y, {x: 3.0}) == 6.0


def test_kernel_errors_name_the_op_and_the_users_line():
    a = tf.placeholder(tf.int32)
    b = tf.placeholder(tf.int32)
    q = tf.floordiv(a, b, name="ratio")  # the line the error must point at
    with tf.Session() as sess:
        with pytest.raises(tf.errors.InvalidArgumentError) as info:
            sess.run(q, {a: 1, b: 0})
        assert info.value.op is q.op
        assert "ratio" in str(info.value) and "the line the error must point at" in str(info.value)
        assert sess.run(q, {a: 7, b: 2}) == 3


def test_fetched_values_never_alias_session_storage():
    v = tf.Variable([1.0, 2.0])
    with tf.Session() as sess:
        sess.run(v.initializer)
        got = sess.run(v)
        got[0] = 100.0
        np.testing.assert_array_equal(sess.run(v), [1.0, 2.0])
        c = sess.run(v.initial_value)
        c[0] = 5.0
        np.testing.assert_array_equal(sess.run(v.initial_value), [1.0, 2.0])


def test_make_callable_is_bound_to_one_plan():
    a = tf.placeholder(tf.float32)
    b = tf.placeholder(tf.float32)
    with tf.Session() as sess:
        f = sess.make_callable(a + b, [a, b])
        assert f(1.0, 2.0) == 3.0 and f(np.float32(4), 5) == 9.0
        g = sess.make_callable([a * b, tf.no_op()], [b, a])
        assert g(2.0, 3.0) == [6.0, None]
        with pytest.raises(TypeError):
            f("x", 1.0)
        with pytest.raises(TypeError, match="2 feed"):
            f(1.0)


def test_interactive_session_and_eval():
    sess = tf.InteractiveSession()
    try:
        v = tf.Variable(3.0)
        v.initializer.run()
        assert v.eval() == 3.0 and (v * 2.0).eval() == 6.0
    finally:
        sess.close()
    with pytest.raises(ValueError, match="No default session"):
        tf.constant(1).eval()


def test_closed_session_refuses_to_run():
    sess = tf.Session()
    sess.close()
    with pytest.raises(RuntimeError, match="closed"):
        sess.run(tf.constant(1))


def test_device_placement(capsys):
    x = tf.placeholder(tf.float32)
    with tf.device("/gpu:0"):
        a = x + 1.0
        folded = tf.constant(1.0) * 2.0
    assert a.device == "/device:GPU:0"
    with tf.Session() as sess:
        for fetch in (a, folded):
            with pytest.raises(tf.errors.InvalidArgumentError, match="allow_soft_placement"):
                sess.run(fetch, {x: 1.0})
    config = tf.ConfigProto(allow_soft_placement=True, log_device_placement=True)
    with tf.Session(config=config) as sess:
        with pytest.warns(RuntimeWarning, match="GPU"):
            assert sess.run(a, {x: 1.0}) == 2.0
    assert "add: (Add): /job:localhost/replica:0/task:0/device:CPU:0" in capsys.readouterr().err


def test_concurrent_runs_on_one_session():
    x = tf.placeholder(tf.float32, [None])
    y = x * 2.0 + 1.0
    results = []
    with tf.Session() as sess:
        def work(k):
            data = np.arange(k, k + 50, dtype=np.float32)
            for _ in range(50):
                results.append(np.array_equal(sess.run(y, {x: data}), data * 2.0 + 1.0))
        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(results) == 200 and all(results)


def test_ops_built_inside_the_run_loop_are_detected():
    x = tf.placeholder(tf.float32, [])
    with tf.Session() as sess:
        sess.run(x + 1.0, {x: 1.0})
        sess.run(x * 3.0, {x: 1.0})  # growing a few times is fine
        with pytest.warns(RuntimeWarning, match="grew between 20 Session.run calls") as record:
            for step in range(30):
                sess.run(x + float(step), {x: 1.0})  # the classic mistake
        assert len(record) == 1 and "test_session.py" in str(record[0].message)
        tf.get_default_graph().finalize()
        with pytest.raises(RuntimeError, match="finalized"):
            sess.run(x + 100.0, {x: 1.0})
        assert sess.run(x, {x: 2.0}) == 2.0


def test_a_value_fetched_twice_comes_back_as_two_arrays():
    x = tf.placeholder(tf.float32, [2])
    r = x * 2.0
    with tf.Session() as sess:
        a, b, c = sess.run([tf.identity(r), r, r * 1.0], {x: [1.0, 2.0]})
    a[0] = 99.0
    np.testing.assert_array_equal(b, [2.0, 4.0])
    np.testing.assert_array_equal(c, [2.0, 4.0])
