"""The elementwise fusion pass through a Session: each fused plan gives the unfused plan's
values (bit for bit where nothing transcendental runs), groups respect tf.cond branches,
devices, control inputs and the plan's order, and every registered template agrees with its
op's own kernel."""
import re
import types

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import graphflow.compat.v1 as tf
from graphflow.framework import dtypes, errors, registry
from graphflow.kernels.cpu import fused
from graphflow.session.config import ConfigProto, GraphOptions, RewriterConfig
from graphflow.session.passes import fusion

def passes_off(*names):
    return ConfigProto(graph_options=GraphOptions(rewrite_options=RewriterConfig(
        **{name: RewriterConfig.OFF for name in names})))


# The remapper would take the matmul + bias + relu chains first: off, to see this pass alone.
FUSION_ON = passes_off("remapping")
FUSION_OFF = passes_off("remapping", "elementwise_fusion")


def run_both(fetches, feed_dict=None, also_off=()):
    """(fused values, unfused values, the fused plan's CompiledPlan)."""
    results = []
    on, off = passes_off("remapping", *also_off), \
        passes_off("remapping", "elementwise_fusion", *also_off)
    for config in (on, off):
        with tf.Session(config=config) as sess:
            sess.run(tf.global_variables_initializer())
            results.append(sess.run(fetches, feed_dict))
            if config is on:
                compiled = sess.plan_for(fetches, feed_dict)
    return results[0], results[1], compiled


def fused_nodes(compiled):
    return [n for n in compiled.plan.nodes if n.type == fusion.FUSED_TYPE]


def fusion_note(compiled):
    (notes,) = [n for name, _, _, n in compiled.report.rows if name == "elementwise_fusion"]
    groups, ops = map(int, re.fullmatch(r"(\d+) groups?, (\d+) ops fused", notes).groups())
    return groups, ops


def assert_all_equal(got, want):
    for g, w in zip(got, want):
        assert np.asarray(g).dtype == np.asarray(w).dtype
        np.testing.assert_array_equal(g, w)


def test_mlp_forward_and_gradients_match_the_unfused_plan():
    rng = np.random.default_rng(0)
    x = tf.placeholder(tf.float32, [None, 6])
    labels = tf.placeholder(tf.float32, [None, 3])
    w1 = tf.Variable(rng.standard_normal((6, 5)).astype(np.float32))
    b1 = tf.Variable(np.full(5, 0.1, np.float32))
    w2 = tf.Variable(rng.standard_normal((5, 3)).astype(np.float32))
    b2 = tf.Variable(np.zeros(3, np.float32))
    hidden = tf.nn.relu(tf.matmul(x, w1) + b1)
    out = tf.nn.bias_add(tf.matmul(hidden, w2), b2)
    loss = tf.reduce_mean(tf.square(out - labels) * 0.5 + tf.abs(out) * 0.01)
    grads = tf.gradients(loss, [w1, b1, w2, b2])
    feed = {x: rng.standard_normal((4, 6)).astype(np.float32),
            labels: rng.standard_normal((4, 3)).astype(np.float32)}
    on, off, compiled = run_both([loss, hidden] + grads, feed)
    assert_all_equal(on, off)
    groups, ops = fusion_note(compiled)
    nodes = fused_nodes(compiled)
    assert groups == len(nodes) >= 2 and ops == sum(len(n.members) for n in nodes)
    assert {"add", "Relu"} <= {m.name for n in nodes for m in n.members}


def test_fused_nodes_list_their_members_and_fetched_values_stay_outputs():
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    y = tf.multiply(x, 2.0, name="y")
    z = tf.add(y, 1.0, name="z")
    w = tf.maximum(z, y, name="w")
    on, off, compiled = run_both([y, w], {x: np.arange(6, dtype=np.float32).reshape(2, 3)})
    assert_all_equal(on, off)
    (node,) = fused_nodes(compiled)
    assert [m.name for m in node.members] == ["y", "z", "w"]
    assert len(node.output_dtypes) == 2  # y is fetched, z is not; w is fetched
    assert fusion_note(compiled) == (1, 3)
    assert str(compiled.report).endswith("fused groups (1):\n  w (_FusedElementwise): y, z, w")
    with tf.Session() as sess:
        drawing = sess.plan_dot([y, w], {x: 0}).source
    assert "3 ops:\\ny (Mul)\\lz (Add)\\lw (Maximum)" in drawing


def test_fused_ops_still_run_as_targets_and_control_inputs():
    x = tf.placeholder(tf.float32, [2])
    y = tf.add(tf.multiply(x, 2.0), 1.0)
    v = tf.Variable([0.0, 0.0])
    with tf.control_dependencies([y.op]):
        update = tf.assign(v, x)
    with tf.Session() as sess:
        sess.run(v.initializer)
        assert sess.run(y.op, {x: [1.0, 2.0]}) is None
        np.testing.assert_array_equal(sess.run(update, {x: [3.0, 4.0]}), [3.0, 4.0])
        (node,) = fused_nodes(sess.plan_for(update, {x: 0}))
        assert {m.name for m in node.members} == {y.op.name, y.op.inputs[0].op.name}


def test_groups_never_cross_cond_branches():
    x = tf.placeholder(tf.float32, [None, 4])
    pred = tf.placeholder(tf.bool, [])
    inner = x * 3.0 - 1.0  # outside both branches
    result = tf.cond(pred, lambda: tf.nn.relu(inner * 2.0 + 1.0),
                     lambda: tf.minimum(inner - 1.0, 0.5) * 3.0)
    final = result * result + 2.0
    x_value = np.linspace(-2, 2, 8, dtype=np.float32).reshape(2, 4)
    for taken in (True, False):
        on, off, compiled = run_both([final, result], {x: x_value, pred: taken})
        assert_all_equal(on, off)
    contexts = []
    for node in fused_nodes(compiled):
        member_contexts = {m.attrs.get("_cond", ()) for m in node.members}
        assert len(member_contexts) == 1
        assert node.attrs.get("_cond", ()) in member_contexts
        contexts.append(member_contexts.pop())
    assert len(contexts) == 4 and len(set(contexts)) == 3  # inner and final, two branches


def test_gradients_through_cond_branches_match_the_unfused_plan():
    """A cond's gradient runs in the cond's own branch contexts, under a second CondMerge."""
    x = tf.placeholder(tf.float32, [None, 4])
    pred = tf.placeholder(tf.bool, [])
    w = tf.Variable(np.linspace(-1, 1, 16, dtype=np.float32).reshape(4, 4))
    h = tf.matmul(x, w) * 1.5 - 0.25
    r = tf.cond(pred, lambda: tf.nn.relu(h * 2.0 + 1.0) * h,
                lambda: tf.square(tf.minimum(h - 1.0, 0.5)) * 3.0)
    loss = tf.reduce_sum(r * r + r)
    fetches = [loss] + tf.gradients(loss, [w, x])
    for taken in (True, False):
        on, off, compiled = run_both(fetches, {x: np.linspace(-2, 2, 12, dtype=np.float32)
                                               .reshape(3, 4), pred: taken})
        assert_all_equal(on, off)
        assert fusion_note(compiled)[0] >= 4


def test_control_inputs_devices_and_cycles_stop_a_group():
    x = tf.placeholder(tf.float32, [2, 2])
    w = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    a = x + 1.0
    m = tf.matmul(a, w)
    b = a * m          # joining a's group would need m inside it: a cycle
    one = tf.constant(1.0)  # outside: the edge below is implied by no data input
    counter = tf.Variable(0.0)
    with tf.control_dependencies([tf.assign_add(counter, 1.0)]):
        c = b - one    # has a control input
    with tf.device("/cpu:0"):
        d = tf.negative(c) * 2.0   # another device hint
    e = tf.abs(d)
    on, off, compiled = run_both([e], {x: [[1.0, -2.0], [0.5, 3.0]]})
    assert_all_equal(on, off)
    groups = [{m.name for m in n.members} for n in fused_nodes(compiled)]
    assert groups == [{d.op.inputs[0].op.name, d.op.name}]


def test_a_path_through_another_group_counts_as_a_cycle():
    """h = {h_a, h_b} is one group. a -> reshape -> h_b and h_a -> identity -> n hold no path
    from a to n until h is one node; then a and n in one group would make a cycle."""
    x = tf.placeholder(tf.float32, [2, 2])
    y = tf.placeholder(tf.float32, [2, 2])
    a = x + 1.0
    h_a = y * 2.0
    h_b = h_a - tf.reshape(a, [2, 2])
    n = a * tf.identity(h_a)
    # (the arithmetic pass would remove the reshape and the identity that make the path)
    on, off, compiled = run_both([h_b, n], {x: [[1, 2], [3, 4]], y: [[5, 6], [7, 8]]},
                                 also_off=("arithmetic_optimization",))
    assert_all_equal(on, off)
    assert [{m.name for m in g.members} for g in fused_nodes(compiled)] == [
        {h_a.op.name, h_b.op.name}]


def test_dropout_layers_train_as_unfused():
    """Dropout's scalar arithmetic (1 / keep_prob) feeds every layer while each layer's
    random mask depends on the layer before (through tf.shape): contracting groups on both
    sides of such a read must not make the plan cyclic."""
    tf.set_random_seed(3)
    rng = np.random.default_rng(3)
    x = tf.placeholder(tf.float32, [None, 5])
    keep = tf.placeholder(tf.float32)
    h = x
    for width in (4, 3):
        w = tf.Variable(rng.standard_normal((h.shape[1].value, width)).astype(np.float32))
        b = tf.Variable(np.full(width, 0.1, np.float32))
        h = tf.nn.dropout(tf.nn.relu(tf.matmul(h, w) + b), keep)
    loss = tf.reduce_sum(h * h)
    train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    feed = {x: rng.standard_normal((6, 5)).astype(np.float32), keep: 0.5}
    results = []
    for config in (FUSION_ON, FUSION_OFF):
        with tf.Session(config=config) as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(2):
                sess.run(train, feed)
            results.append(sess.run([loss] + tf.trainable_variables(), feed))
            if config is FUSION_ON:
                assert fusion_note(sess.plan_for(train, feed))[0] >= 4
    assert_all_equal(*results)


def test_casts_to_float_fuse_and_casts_to_int_do_not():
    """Dropout's mask, Cast(bool) to float, joins its group; a float-to-int cast keeps its
    own kernel (numpy's result for NaN or out-of-range values is not a C conversion's)."""
    x = tf.placeholder(tf.float32, [None, 4])
    mask = tf.cast(x > 0.5, tf.float32, name="mask")
    scaled = tf.multiply(x, mask, name="scaled") + 1.0
    counts = tf.cast(x * 3.0, tf.int32, name="counts") + 1
    feed = {x: np.array([[0.1, 0.7, np.nan, 2.0], [-5.0, 0.5, 0.9, 3e9]], np.float32)}
    on, off, compiled = run_both([scaled, counts], feed)
    assert_all_equal(on, off)
    members = {n.name: {m.name for m in n.members} for n in fused_nodes(compiled)}
    assert any({"mask", "scaled"} <= group for group in members.values())
    assert not any("counts" in group for group in members.values())


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64, tf.int32])
def test_scalar_constants_become_literals_with_the_same_bits(dtype):
    """Finite scalar constants are written into the kernel (its only array inputs are x's);
    a NaN constant stays an input."""
    x = tf.placeholder(dtype, [None, 3], name="x")
    if dtype.is_floating:
        y = (x * 0.1 + tf.constant(-0.0, dtype)) / 3.0 - 1e30 * 1e-31
        z = tf.maximum(y, tf.constant(np.nan, dtype.as_numpy_dtype))
        feed = np.array([[0.3, -0.0, np.inf], [1e-40, -7.5, 2.0]], dtype.as_numpy_dtype)
    else:
        y = (x * 7 + 2_000_000_000) - (-5)
        z = tf.maximum(y, tf.constant(-(2 ** 31), dtype.as_numpy_dtype))
        feed = np.array([[1, -2, 3], [2 ** 30, -(2 ** 30), 0]], np.int32)
    on, off, compiled = run_both([y, z], {x: feed})
    assert_all_equal(on, off)
    (node,) = fused_nodes(compiled)
    literal_inputs = [ref for ref in node.inputs if ref[0].type == "Const"]
    if dtype.is_floating:
        assert [ref[0].attrs["value"].item() for ref in literal_inputs] != [] and \
            all(np.isnan(ref[0].attrs["value"]) for ref in literal_inputs)
    else:
        assert literal_inputs == []
    assert [ref[0].name for ref in node.inputs if ref[0].type != "Const"] == ["x:0"]


def test_members_whose_run_time_shapes_differ_still_compute():
    """Static [?] everywhere; at run time m is [1] and the two chains [3] and [2]."""
    c, a, b = (tf.placeholder(tf.float32, [None]) for _ in range(3))
    m = tf.nn.relu(c)
    outputs = [m * a + 1.0, m * b - 1.0]
    feed = {c: [0.5], a: [1.0, 2.0, 3.0], b: [4.0, 5.0]}
    on, off, compiled = run_both(outputs, feed)
    assert_all_equal(on, off)
    assert fusion_note(compiled) == (1, 5)


def test_run_time_shape_errors_name_the_member_op():
    x = tf.placeholder(tf.float32, [None])
    y = tf.placeholder(tf.float32, [None])
    total = tf.add(x, y, name="total")
    z = tf.multiply(total, 2.0)
    for config in (FUSION_ON, FUSION_OFF):
        with tf.Session(config=config) as sess:
            with pytest.raises(errors.InvalidArgumentError) as e:
                sess.run(z, {x: np.zeros(2), y: np.zeros(3)})
            assert e.value.op is total.op
            assert sess.run(z, {x: [1.0], y: [2.0]}) == [6.0]  # still usable


def test_the_pass_is_switched_off_by_rewriter_config():
    x = tf.placeholder(tf.float32, [3])
    y = tf.nn.relu(x * 2.0)
    with tf.Session(config=FUSION_OFF) as sess:
        compiled = sess.plan_for(y, {x: 0})
    assert "elementwise_fusion" not in [row[0] for row in compiled.report.rows]
    assert not fused_nodes(compiled)


# --- random elementwise graphs ---
_BINARY = [tf.add, tf.subtract, tf.multiply, tf.maximum, tf.minimum, tf.squared_difference,
           lambda a, b: tf.where_v2(a > b, a, b - 1.0)]
_UNARY = [tf.nn.relu, tf.negative, tf.square, tf.abs, lambda a: a * 0.5 + 0.25]

recipes = st.lists(st.tuples(st.booleans(), st.integers(0, 6), st.integers(0, 100),
                             st.integers(0, 100)), min_size=2, max_size=7)


@settings(max_examples=12, deadline=None, derandomize=True)
@given(recipe=recipes, batches=st.tuples(st.sampled_from([1, 3]), st.sampled_from([1, 3])),
       fetch_mask=st.integers(0, 2**7 - 1))
def test_random_elementwise_graphs_match_the_unfused_plan(recipe, batches, fetch_mask):
    """Placeholders [?, 4], [4], [] and [?, 1] broadcast together; ops read any earlier value
    (shared subexpressions); some intermediates are fetched too."""
    tf.reset_default_graph()
    inputs = [tf.placeholder(tf.float32, [None, 4]), tf.placeholder(tf.float32, [4]),
              tf.placeholder(tf.float32, []), tf.placeholder(tf.float32, [None, 1])]
    rng = np.random.default_rng(len(recipe))
    feed = {inputs[0]: rng.standard_normal((batches[0], 4)).astype(np.float32),
            inputs[1]: rng.standard_normal(4).astype(np.float32),
            inputs[2]: np.float32(0.75),
            inputs[3]: rng.standard_normal((batches[1], 1)).astype(np.float32)}
    values = list(inputs)
    for binary, kind, i, j in recipe:
        if binary:
            values.append(_BINARY[kind % len(_BINARY)](values[i % len(values)],
                                                       values[j % len(values)]))
        else:
            values.append(_UNARY[kind % len(_UNARY)](values[i % len(values)]))
    made = values[len(inputs):]
    fetches = [made[-1]] + [v for k, v in enumerate(made[:-1]) if fetch_mask >> k & 1]
    on, off, _ = run_both(fetches, feed)
    assert_all_equal(on, off)


# --- every registered template against its op's kernel ---
_BOOL_INPUTS = {"LogicalAnd": (True, True), "LogicalOr": (True, True), "LogicalNot": (True,),
                "SelectV2": (True, False, False), "Cast": (True,)}  # (Cast: bool to float)
_ATTRS = {"alpha": 0.2, "data_format": "NHWC"}
# Templates calling only these give numpy's bits; libm's exp, log, tanh, ... against numpy's
# SIMD loops are a few ulp apart.
_CORRECTLY_ROUNDED = {"maximum", "minimum", "abs", "sign", "sqrt", "floor", "ceil", "rint"}
_TRANSCENDENTAL_RTOL = {np.float32: 1e-6, np.float64: 1e-14}


def _template_cases():
    cases = []
    for op_type in registry.registered_types():
        template = registry.get(op_type).elementwise
        if template is None or op_type.startswith("_"):
            continue
        arity = 1 + max(int(k) for k in re.findall(r"\{(\d+)\}", template))
        kinds = _BOOL_INPUTS.get(op_type, (False,) * arity)
        cases.append((op_type, template.format(*(f"{{{i}}}" for i in range(arity)), **{
            k: repr(v) for k, v in _ATTRS.items()}), kinds))
    return cases


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_registered_template_matches_its_kernel(dtype):
    """One program holds every op's template (one compile per dtype); inputs include 0, -0,
    +-inf, nan and the values where relu6 and friends switch."""
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(500) * 3).astype(dtype)
    y = (rng.standard_normal(500) * 3).astype(dtype)
    x[:10] = [0, -0.0, np.inf, -np.inf, np.nan, 1, -1, 6, 0.5, 7]
    y[:10] = [0, 0, 1, np.nan, 2, 0, -0.0, 6, 0.5, np.inf]
    arrays = [x, y, rng.random(500) > 0.5, rng.random(500) > 0.5]
    steps, wanted, names = [], [], []
    for op_type, template, kinds in _template_cases():
        floats, bools = iter((0, 1)), iter((2, 3))
        args = tuple(next(bools) if k else next(floats) for k in kinds)
        site = types.SimpleNamespace(
            attrs={**_ATTRS, "DstT": dtypes.as_dtype(dtype)}, op=None, const_input=lambda i: None, input_shapes=None,
            input_dtypes=[dtypes.bool_ if k else dtypes.as_dtype(dtype) for k in kinds])
        kernel = registry.get(op_type).lowering("CPU").factory(site, None)
        kernel = kernel[0] if isinstance(kernel, tuple) else kernel
        with np.errstate(all="ignore"):
            want = np.asarray(kernel(*(arrays[a] for a in args)))
        steps.append(fused.Step(template, args, want.dtype.name))
        wanted.append(want)
        names.append(op_type)
    name = np.dtype(dtype).name
    program = fused.Program((name, name, "bool", "bool"), tuple(steps),
                            tuple(range(4, 4 + len(steps))))
    got_all = fused.FusedKernel(program)(*arrays)
    for op_type, template, got, want in zip(names, [s.template for s in steps], got_all, wanted):
        assert got.dtype == want.dtype, op_type
        if set(re.findall(r"np\.(\w+)", template)) <= _CORRECTLY_ROUNDED:
            np.testing.assert_array_equal(got, want, err_msg=op_type)
        else:
            np.testing.assert_allclose(got, want, rtol=_TRANSCENDENTAL_RTOL[dtype], atol=0,
                                       err_msg=op_type)
