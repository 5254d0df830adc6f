"""In-place variable updates run after every read of the variable in the same plan."""
import numpy as np
import pytest

import graphflow.compat.v1 as tf


@pytest.mark.parametrize("layer", ["conv", "dense"])
def test_updates_wait_for_the_reads_of_the_layer_below(layer):
    """Fetching only the train op once let ApplyGradientDescent(W2) overwrite W2 before the
    gradient to layer 1 read it, so W1's update was wrong by 6x its size."""
    rng = np.random.RandomState(0)
    if layer == "conv":
        x = tf.constant(rng.rand(4, 8, 8, 2).astype(np.float32))
        w1 = tf.Variable(rng.normal(0, 0.3, (3, 3, 2, 3)).astype(np.float32))
        w2 = tf.Variable(rng.normal(0, 0.3, (3, 3, 3, 2)).astype(np.float32))
        y = tf.nn.conv2d(tf.nn.conv2d(x, w1, [1, 1, 1, 1], "SAME"), w2, [1, 1, 1, 1], "SAME")
    else:
        x = tf.constant(rng.rand(4, 5).astype(np.float32))
        w1 = tf.Variable(rng.normal(0, 0.3, (5, 3)).astype(np.float32))
        w2 = tf.Variable(rng.normal(0, 0.3, (3, 2)).astype(np.float32))
        y = tf.matmul(tf.matmul(x, w1), w2)
    opt = tf.train.GradientDescentOptimizer(0.001)
    grads_and_vars = opt.compute_gradients(tf.reduce_sum(y * y))
    train = opt.apply_gradients(grads_and_vars)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        w1_before, w2_before, g1, g2 = sess.run(
            [w1, w2, grads_and_vars[0][0], grads_and_vars[1][0]])
        sess.run(train)
        np.testing.assert_allclose(sess.run(w1), w1_before - np.float32(0.001) * g1,
                                   rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(sess.run(w2), w2_before - np.float32(0.001) * g2,
                                   rtol=1e-6, atol=1e-7)


def test_a_read_that_depends_on_the_update_still_runs_after_it():
    v = tf.Variable(1.0)
    bump = v.assign_add(1.0)
    with tf.control_dependencies([bump]):
        after = v.read_value() * 10.0
    with tf.Session() as sess:
        sess.run(v.initializer)
        assert sess.run(after) == 20.0


@pytest.mark.parametrize("passes", ["all", "none"])
def test_reads_ordered_after_an_assign_see_the_assigned_value(passes):
    """TF1's Assign writes the variable's buffer in place, and reads alias that buffer: an op
    under tf.control_dependencies([assign]) reads the new value (TF 1.15: 5.0 and 6.0)."""
    v = tf.Variable(1.0)
    w = tf.Variable([1.0, 2.0])
    assign_v, assign_w = v.assign(5.0), w.assign([3.0, 4.0])
    with tf.control_dependencies([assign_v, assign_w]):
        same = tf.identity(v)
        plus = v + 1.0
        doubled = w * 2.0
    config = None if passes == "all" else tf.ConfigProto(graph_options=tf.GraphOptions(
        rewrite_options=tf.RewriterConfig(disable_meta_optimizer=True)))
    with tf.Session(config=config) as sess:
        sess.run(tf.global_variables_initializer())
        got = sess.run([same, plus, doubled])
        assert got[0] == 5.0 and got[1] == 6.0
        np.testing.assert_array_equal(got[2], [6.0, 8.0])
        got[2][0] = 99.0  # a fetched value is the caller's copy
        np.testing.assert_array_equal(sess.run(w), [3.0, 4.0])
