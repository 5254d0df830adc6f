"""tf.cond and tf.group: only the taken branch runs, side effects included."""
import collections

import numpy as np
import pytest

import graphflow.compat.v1 as tf


def test_only_the_taken_branch_runs_its_side_effects():
    pred = tf.placeholder(tf.bool, [])
    x = tf.placeholder(tf.float32, [3])
    hits = tf.Variable(0.0)
    misses = tf.Variable(0.0)

    def on_true():
        with tf.control_dependencies([hits.assign_add(1.0)]):
            return x * 2.0, tf.reduce_sum(x)

    def on_false():
        with tf.control_dependencies([misses.assign_add(1.0)]):
            return x - 1.0, tf.reduce_max(x)

    a, b = tf.cond(pred, on_true, on_false)
    assert a.name == "cond/Merge:0" and a.shape.as_list() == [3] and b.shape.ndims == 0
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        out = sess.run([a, b], {pred: True, x: [1.0, 2.0, 3.0]})
        np.testing.assert_array_equal(out[0], [2.0, 4.0, 6.0])
        assert out[1] == 6.0
        out = sess.run([a, b], {pred: False, x: [1.0, 2.0, 3.0]})
        np.testing.assert_array_equal(out[0], [0.0, 1.0, 2.0])
        assert out[1] == 3.0
        sess.run(a, {pred: False, x: [0.0, 0.0, 0.0]})
        assert sess.run([hits, misses]) == [1.0, 2.0]


def test_a_failing_op_in_the_branch_not_taken_never_runs():
    pred = tf.placeholder(tf.bool, [])
    idx = tf.placeholder(tf.int32, [])
    table = tf.constant([10, 20, 30])
    result = tf.cond(pred, lambda: tf.gather(table, idx), lambda: tf.constant(-1))
    with tf.Session() as sess:
        assert sess.run(result, {pred: False, idx: 99}) == -1
        assert sess.run(result, {pred: True, idx: 1}) == 20
        with pytest.raises(tf.errors.InvalidArgumentError):
            sess.run(result, {pred: True, idx: 99})


def test_nested_conds_and_structured_results():
    Pair = collections.namedtuple("Pair", "low high")
    p, q = tf.placeholder(tf.bool, []), tf.placeholder(tf.bool, [])
    x = tf.placeholder(tf.float32, [])

    def outer_true():
        return tf.cond(q, lambda: Pair(x, x + 1.0), lambda: Pair(x * 10.0, x * 20.0))

    out = tf.cond(p, outer_true, lambda: Pair(-x, x - x))
    assert isinstance(out, Pair)
    with tf.Session() as sess:
        for pv, qv, expected in ((True, True, (2.0, 3.0)), (True, False, (20.0, 40.0)),
                                 (False, True, (-2.0, 0.0))):
            got = sess.run(out, {p: pv, q: qv, x: 2.0})
            assert isinstance(got, Pair) and tuple(got) == expected


def test_branch_internal_tensors_cannot_be_fetched():
    pred = tf.placeholder(tf.bool, [])
    inside = []

    def on_true():
        inside.append(tf.constant(1.0) + tf.placeholder_with_default(2.0, []))
        return inside[0]

    result = tf.cond(pred, on_true, lambda: tf.constant(0.0))
    with tf.Session() as sess:
        with pytest.raises(tf.errors.InvalidArgumentError, match="cond branch"):
            sess.run([result, inside[0]], {pred: True})
        assert sess.run(result, {pred: True}) == 3.0


def test_cond_checks_its_arguments():
    x = tf.constant(1.0)
    with pytest.raises(ValueError, match="scalar bool"):
        tf.cond(tf.constant([True, False]), lambda: x, lambda: x)
    with pytest.raises(TypeError, match="same type"):
        tf.cond(tf.constant(True), lambda: x, lambda: tf.constant(1))
    with pytest.raises(ValueError, match="same number"):
        tf.cond(tf.constant(True), lambda: (x, x), lambda: x)


def test_variables_created_in_a_branch_are_initialized_outside_it():
    pred = tf.placeholder(tf.bool, [])

    def on_true():
        v = tf.Variable(5.0, name="made_in_branch")
        return v * 1.0

    result = tf.cond(pred, on_true, lambda: tf.constant(0.0))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run(result, {pred: True}) == 5.0 and sess.run(result, {pred: False}) == 0.0


def test_group_is_named_group_deps_as_in_tf1():
    a, b = tf.constant(1.0), tf.constant(2.0)
    assert [tf.group().name, tf.group(a.op).name, tf.group(a, b).name,
            tf.group(a, name="init").name] == ["group_deps", "group_deps_1", "group_deps_2",
                                               "init"]
    with tf.name_scope("train"):
        assert tf.group(a.op, b.op).name == "train/group_deps"
