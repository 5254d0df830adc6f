"""The remapper: Conv2D/MatMul + bias + relu chains become one _FusedConv2D/_FusedMatMul node
that gives exactly the unfused plan's values (same kernels, same order of operations)."""
import numpy as np
import pytest

import graphflow.compat.v1 as tf

NO_REMAP = tf.ConfigProto(graph_options=tf.GraphOptions(
    rewrite_options=tf.RewriterConfig(remapping=tf.RewriterConfig.OFF)))


def _types(sess, fetches, feed):
    return [n.type for n in sess.plan_for(fetches, feed).plan.nodes]


def _run_both(fetches, feed, init=None):
    results = []
    for config in (None, NO_REMAP):
        with tf.Session(config=config) as sess:
            if init is not None:
                sess.run(init)
            results.append((sess.run(fetches, feed), _types(sess, fetches, feed)))
    return results


def _conv_net(relu=True, bias_op="add", channels=3):
    x = tf.placeholder(tf.float32, [None, 6, 6, 2], name="x")
    w = tf.constant(np.random.default_rng(0).standard_normal((3, 3, 2, channels)), tf.float32)
    b = tf.constant(np.linspace(-1, 1, channels), tf.float32)
    conv = tf.nn.conv2d(x, w, strides=[1, 1, 1, 1], padding="SAME")
    y = conv + b if bias_op == "add" else tf.nn.bias_add(conv, b)
    return x, conv, (tf.nn.relu(y) if relu else y)


@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("bias_op", ["add", "bias_add"])
def test_conv_bias_relu_fuses_and_gives_the_same_values(relu, bias_op):
    x, _, y = _conv_net(relu, bias_op)
    feed = {x: np.random.default_rng(1).standard_normal((2, 6, 6, 2)).astype(np.float32)}
    (fused, fused_types), (plain, plain_types) = _run_both(y, feed)
    assert fused_types.count("_FusedConv2D") == 1 and "Conv2D" not in fused_types
    assert "_FusedConv2D" not in plain_types
    np.testing.assert_array_equal(fused, plain)
    if relu:
        assert (fused >= 0).all() and (fused == 0).any()


def test_matmul_bias_relu_in_a_training_step():
    """The MLP layer pattern, with the gradient graph reading the fused output's shape."""
    x = tf.placeholder(tf.float32, [None, 5])
    w = tf.Variable(np.random.default_rng(2).standard_normal((5, 4)).astype(np.float32))
    b = tf.Variable(np.linspace(-0.5, 0.5, 4).astype(np.float32))
    hidden = tf.nn.relu(tf.matmul(x, w) + b)
    loss = tf.reduce_mean(tf.square(hidden))
    train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    feed = {x: np.random.default_rng(3).standard_normal((7, 5)).astype(np.float32)}
    outcomes = []
    for config in (None, NO_REMAP):
        with tf.Session(config=config) as sess:
            sess.run(tf.global_variables_initializer())
            losses = [sess.run([loss, train], feed)[0] for _ in range(3)]
            outcomes.append((losses, sess.run([w, b]), _types(sess, [loss, train], feed)))
    (fused_losses, fused_vars, fused_types), (plain_losses, plain_vars, _) = outcomes
    assert "_FusedMatMul" in fused_types
    assert fused_losses == plain_losses and fused_losses[2] < fused_losses[0]
    for got, want in zip(fused_vars, plain_vars):
        np.testing.assert_array_equal(got, want)


def test_chains_that_must_not_fuse():
    x, conv, y = _conv_net()
    feed = {x: np.ones((1, 6, 6, 2), np.float32)}
    with tf.Session() as sess:
        # the intermediate product is fetched: it must exist
        assert "_FusedConv2D" not in _types(sess, [conv, y], feed)
        # the product has another reader besides the bias add
        other = tf.reduce_sum(conv)
        assert "_FusedConv2D" not in _types(sess, [other, y], feed)
        # a bias that broadcasts over more than the last axis is not a bias add
        wide = tf.nn.relu(conv + tf.ones([6, 1, 3]))
        assert "_FusedConv2D" not in _types(sess, wide, feed)
        np.testing.assert_array_equal(sess.run(wide, feed), np.maximum(
            sess.run(conv, feed) + 1.0, 0))
    with tf.Session(config=NO_REMAP) as sess:
        assert "_FusedConv2D" not in _types(sess, y, feed)


def test_the_report_names_the_patterns():
    x, _, y = _conv_net()
    with tf.Session() as sess:
        report = str(sess.plan_for(y, {x: np.ones((1, 6, 6, 2), np.float32)}).report)
    assert "remapping" in report and "1 BiasAdd+Relu" in report
