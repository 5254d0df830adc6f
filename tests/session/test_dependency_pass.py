"""The dependency optimization pass through a Session: NoOps, Identities and Consts that
only relay control edges leave the plan, redundant control edges go, and every op still runs
in an order that honours every control dependency of the graph."""
import collections
import re

import numpy as np
from hypothesis import given, settings, strategies as st

import graphflow.compat.v1 as tf
from graphflow.session.config import ConfigProto, GraphOptions, RewriterConfig

OFF = RewriterConfig.OFF


def config(dependency=True, arithmetic=True):
    """Fusion off, so that the plan shows each op."""
    return ConfigProto(graph_options=GraphOptions(rewrite_options=RewriterConfig(
        elementwise_fusion=OFF, dependency_optimization=0 if dependency else OFF,
        arithmetic_optimization=0 if arithmetic else OFF)))


def plan(fetches, feed_dict=None, **switches):
    with tf.Session(config=config(**switches)) as sess:
        return sess.plan_for(fetches, feed_dict)


def node_named(compiled, op):
    (node,) = [n for n in compiled.plan.nodes if n.name == op.name]
    return node


def control_names(compiled, op):
    return [c.name for c in node_named(compiled, op).control_inputs]


def types(compiled):
    return collections.Counter(n.type for n in compiled.plan.nodes)


def note(compiled):
    (text,) = [n for name, _, _, n in compiled.report.rows if name == "dependency_optimization"]
    noops, edges = map(int, re.fullmatch(
        r"(\d+) no-ops? removed, (-?\d+) control edges? dropped", text).groups())
    return noops, edges


def counters(n):
    variables = [tf.Variable(0, name=f"c{k}") for k in range(n)]
    return variables, [v.assign_add(1) for v in variables]


def test_nested_groups_become_one():
    (a, b, c), (bump_a, bump_b, bump_c) = counters(3)
    train = tf.group(tf.group(bump_a, bump_b), bump_c)
    compiled = plan(train)
    assert types(compiled)["NoOp"] == 1
    assert sorted(control_names(compiled, train)) == sorted(
        op.name for op in (bump_a.op, bump_b.op, bump_c.op))
    assert note(compiled) == (1, 1)  # 2 + 2 edges through the inner NoOp became 3
    with tf.Session(config=config()) as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(train)
        assert sess.run([a, b, c]) == [1, 1, 1]


def test_a_noop_joining_many_to_many_stays():
    """3 inputs x 3 readers would be 9 edges instead of 6; 2 x 2 is 4 either way."""
    x = tf.placeholder(tf.float32, [2])
    scales = [tf.constant(float(k + 2)) for k in range(3)]
    _, bumps = counters(3)
    for fan, kept in ((3, 1), (2, 0)):
        join = tf.group(*bumps[:fan])
        readers = []
        for k in range(fan):
            with tf.control_dependencies([join]):
                readers.append(x * scales[k])
        with tf.Session(config=config()) as sess:
            sess.run(tf.global_variables_initializer())
            compiled = sess.plan_for(readers, {x: 0})
            np.testing.assert_array_equal(sess.run(readers[-1], {x: [1.0, 2.0]}),
                                          [fan + 1.0, 2 * (fan + 1.0)])
        assert (join.name in {n.name for n in compiled.plan.nodes}) == bool(kept)


def test_duplicate_and_data_implied_edges_go():
    x = tf.placeholder(tf.float32, [2])
    (v,), (bump,) = counters(1)
    c = [tf.constant(float(k)) for k in range(7)]
    m = x * c[2]
    n = m + c[1]
    relay = tf.group(bump)
    with tf.control_dependencies([relay, bump]):      # relay stands for bump: a duplicate
        dup = x * c[3]
    with tf.control_dependencies([tf.group(m)]):      # m, read as data, through a NoOp
        direct = m * c[4]
    with tf.control_dependencies([m.op]):             # m precedes n, which is read
        through = n * c[5]
    with tf.control_dependencies([m.op, n.op]):       # n implies m; n is read
        both = n * c[6]
    fetches = [dup, direct, through, both]
    compiled = plan(fetches, {x: 0}, arithmetic=False)
    assert control_names(compiled, dup.op) == [bump.op.name]
    for t in (direct, through, both):
        assert control_names(compiled, t.op) == []
    # 7 edges before (the graph drops n from both's control inputs, as TF1 does), 1 after
    assert note(compiled) == (2, 6)
    with tf.Session(config=config()) as sess:
        sess.run(tf.global_variables_initializer())
        got = sess.run(fetches, {x: [1.0, 2.0]})
        assert sess.run(v) == 1
    np.testing.assert_array_equal(got[0], [3.0, 6.0])
    np.testing.assert_array_equal(got[3], [18.0, 30.0])


def test_identity_and_const_relays_leave_the_plan():
    """The dependency pass alone (arithmetic off): an Identity chain read only by a control
    edge stands for its input's producer, a Const for nothing."""
    x = tf.placeholder(tf.float32, [2])
    (v,), (bump,) = counters(1)
    marker = tf.identity(tf.identity(bump))
    k = tf.constant(7.0)
    three = tf.constant(3.0)
    with tf.control_dependencies([marker.op, k.op]):
        out = x * three
    compiled = plan(out, {x: 0}, arithmetic=False)
    assert control_names(compiled, out.op) == [bump.op.name]
    names = {n.name for n in compiled.plan.nodes}
    assert types(compiled)["Identity"] == 0 and k.op.name not in names and three.op.name in names
    with tf.Session(config=config(arithmetic=False)) as sess:
        sess.run(tf.global_variables_initializer())
        np.testing.assert_array_equal(sess.run(out, {x: [1.0, 2.0]}), [3.0, 6.0])
        assert sess.run(v) == 1


def test_relays_with_their_own_control_inputs_forward_them():
    (v, w), (bump_v, bump_w) = counters(2)
    with tf.control_dependencies([bump_w]):
        relay = tf.identity(bump_v)       # waits for bump_v (data) and bump_w (control)
    final = tf.group(relay)
    compiled = plan(final)
    assert sorted(control_names(compiled, final)) == sorted([bump_v.op.name, bump_w.op.name])
    with tf.Session(config=config()) as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(final)
        assert sess.run([v, w]) == [1, 1]


def test_targets_stay_and_unused_relays_are_pruned():
    (v,), (bump,) = counters(1)
    lone = tf.no_op()
    train = tf.group(bump)
    compiled = plan([lone, train])
    assert {lone.name, train.name} <= {n.name for n in compiled.plan.nodes}


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_random_relay_chains_keep_their_order(data):
    """Steps v <- 10 v + k run in the order k = 1..n, each made under control dependencies
    on the step before through a random relay (direct, a NoOp, an Identity chain, a group
    with earlier steps) plus random redundant edges to earlier steps; v ends as 12..n."""
    tf.reset_default_graph()
    n = data.draw(st.integers(2, 5))
    v = tf.Variable(np.int64(0))
    steps = []
    for k in range(1, n + 1):
        deps = []
        if steps:
            relay = data.draw(st.sampled_from(["direct", "noop", "identity", "group"]))
            before = steps[-1]
            if relay == "noop":
                before = tf.group(before)
            elif relay == "identity":
                before = tf.identity(tf.identity(before.outputs[0])).op
            elif relay == "group":
                before = tf.group(*steps)
            extra = data.draw(st.lists(st.sampled_from(steps), max_size=2))
            deps = [before] + [tf.group(e) if data.draw(st.booleans()) else e for e in extra]
        with tf.control_dependencies(deps):
            steps.append(v.assign_add(v * np.int64(9) + np.int64(k)).op)
    want = int("".join(str(k) for k in range(1, n + 1)))
    noops = []
    for dependency in (True, False):
        with tf.Session(config=config(dependency)) as sess:
            sess.run(v.initializer)
            sess.run(steps[-1])
            assert sess.run(v) == want
            noops.append(types(sess.plan_for(steps[-1]))["NoOp"])
    assert noops[0] <= noops[1]
