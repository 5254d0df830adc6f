"""Every combination of optimization passes computes what the unoptimized plan computes.

Hypothesis draws small random programs (``Program``: inputs, then ops over earlier values,
then fetches) as plain data, so a failing example prints as a readable recipe; ``build``
turns one into a graph with the public TF1 API. Each program runs with all passes off (the
reference), all on, and each pass alone and each pass left out, taken from ``passes.NAMES``
(memory planning included) so that passes added later are covered too, forward and through
tf.gradients.

Values must match bit for bit, dtype and shape included, and zeros must keep their sign: no
pass reassociates arithmetic, and the arithmetic simplifier claims exactness (it keeps
x + 0.0, which turns -0.0 into +0.0). One exception, stated where it is made: libm
functions in fused kernels (a tight tolerance). The bugs the programs found are pinned as
small explicit tests at the end.
"""
from dataclasses import dataclass
from itertools import product
from math import prod

import numpy as np
from hypothesis import event, given, settings, strategies as st

import graphflow.compat.v1 as tf
from graphflow.session import passes
from graphflow.session.config import ConfigProto, GraphOptions, OptimizerOptions, RewriterConfig

PASS_NAMES = passes.NAMES
ON_1 = ConfigProto(graph_options=GraphOptions(
    optimizer_options=OptimizerOptions(global_jit_level=OptimizerOptions.ON_1)))


# --- programs as data ---
@dataclass(frozen=True)
class Input:
    """kind: "placeholder", "constant" or "variable"; ``static`` is a placeholder's declared
    shape (None for a dim, or for a shape, known only at run time); ``seed`` picks its
    value."""

    kind: str
    shape: tuple
    static: tuple
    seed: int


@dataclass(frozen=True)
class Op:
    """``kind`` names a builder in ``_BUILDERS``; ``args`` are indices of earlier values (the
    inputs come first, then one value per op); ``params`` are the builder's other choices."""

    kind: str
    args: tuple
    params: tuple = ()


@dataclass(frozen=True)
class Program:
    dtype: str
    inputs: tuple
    ops: tuple
    fetches: tuple  # value indices

    def functions(self):
        """The names of the unary, binary and reduction functions the program calls."""
        names = set()
        for op in self.ops:
            if op.kind in ("binary", "constant_operand", "constant_expression", "unary",
                           "reduction"):
                names.add(op.params[0])
            if op.kind == "dense" and op.params[-2]:  # its relu flag
                names.add("relu")
        if "exp" in names:  # its input is clipped with maximum and minimum
            names |= {"maximum", "minimum"}
        return names


# Input and constant shapes; ops reach at most MAX_SIZE elements (a compile per new shape
# layout is the cost that matters here, not the arithmetic).
SHAPES = [(), (3,), (2, 3), (2, 1, 3), (1, 3), (2, 1), (3, 1)]
MAX_RANK, MAX_SIZE = 3, 36
BINARY = ("add", "subtract", "multiply", "maximum", "minimum")
UNARY = ("negative", "abs", "relu", "square", "tanh", "sigmoid", "exp", "stop_gradient")
REDUCTIONS = ("reduce_sum", "reduce_mean", "reduce_max")
# Forms of x the simplifier may see through, each a function of (x, one, zero, negative
# zero): these are Python scalars or constants whose shape may broadcast x to a larger shape
# (then the op is not x). -(-x) is multiplied by one to take that shape too.
NEUTRAL = {"mul_one": lambda x, one, zero, nzero: x * one,
           "one_mul": lambda x, one, zero, nzero: one * x,
           "div_one": lambda x, one, zero, nzero: x / one,
           "add_zero": lambda x, one, zero, nzero: x + zero,
           "zero_add": lambda x, one, zero, nzero: zero + x,
           "sub_zero": lambda x, one, zero, nzero: x - zero,
           "add_negative_zero": lambda x, one, zero, nzero: x + nzero,
           "negative_zero_add": lambda x, one, zero, nzero: nzero + x,
           "double_negative": lambda x, one, zero, nzero: tf.negative(tf.negative(x)) * one}
# Ops whose kernels call libm (exp, tanh): fused, they may differ from numpy's SIMD loops by
# an ulp or two (see graphflow.kernels.cpu.fused), so graphs with them compare with RTOL.
TRANSCENDENTAL = {"tanh", "sigmoid", "exp"}
RTOL = {"float32": 1e-6, "float64": 1e-12}


def _broadcast(a, b):
    try:
        shape = np.broadcast_shapes(a, b)
    except ValueError:
        return None
    return shape if len(shape) <= MAX_RANK and prod(shape) <= MAX_SIZE else None


def _reshapes(size):
    """Every shape of rank <= MAX_RANK with ``size`` elements."""
    dims = [d for d in range(1, size + 1) if size % d == 0]
    return [s for rank in range(MAX_RANK + 1) for s in product(dims, repeat=rank)
            if prod(s) == size]


def _pick(draw, shapes, ok=lambda shape: True):
    """The index of an earlier value whose shape passes ``ok`` (the caller makes sure one
    does); half the time one of the last three such values, which makes chains deeper."""
    candidates = [k for k, s in enumerate(shapes) if ok(s)]
    return draw(st.sampled_from(candidates) | st.sampled_from(candidates[-3:]))


def _draw_binary(draw, shapes, ops):
    """Half the time b has a's shape (so that the op may fuse with their producers), else
    any shape that broadcasts with it."""
    a = _pick(draw, shapes)
    same = draw(st.booleans())
    b = _pick(draw, shapes, lambda s: s == shapes[a] if same else
              _broadcast(shapes[a], s) is not None)
    kind = draw(st.sampled_from(BINARY + ("divide",)))
    return Op("binary", (a, b), (kind,)), _broadcast(shapes[a], shapes[b])


def _draw_constant_operand(draw, shapes, ops):
    a = _pick(draw, shapes)
    shape = draw(st.sampled_from([s for s in SHAPES if _broadcast(shapes[a], s) is not None]))
    params = (draw(st.sampled_from(BINARY)), shape, draw(st.integers(0, 999)), draw(st.booleans()))
    return Op("constant_operand", (a,), params), _broadcast(shapes[a], shape)


def _draw_constant_expression(draw, shapes, ops):
    """Two fresh constants combined: a value for constant folding."""
    shape = draw(st.sampled_from(SHAPES))
    params = (draw(st.sampled_from(BINARY)), shape, draw(st.integers(0, 999)))
    return Op("constant_expression", (), params), shape


def _draw_unary(draw, shapes, ops):
    return Op("unary", (_pick(draw, shapes),), (draw(st.sampled_from(UNARY)),)), None


def _draw_reduction(draw, shapes, ops):
    a = _pick(draw, shapes)
    rank = len(shapes[a])
    axes = None
    if rank:  # None (all axes) or distinct axes, some given as negative
        axes = draw(st.none() | st.lists(st.integers(-rank, rank - 1),
                                         unique_by=lambda i: i % rank, max_size=rank))
    keepdims = draw(st.booleans())
    reduced = range(rank) if axes is None else {i % rank for i in axes}
    shape = tuple(1 if i in reduced else d for i, d in enumerate(shapes[a])
                  if keepdims or i not in reduced)
    params = (draw(st.sampled_from(REDUCTIONS)), None if axes is None else tuple(axes), keepdims)
    return Op("reduction", (a,), params), shape


def _draw_matmul(draw, shapes, ops):
    """a as [-1, k] (k its last dim) times b reshaped to [k, -1], or to [-1, k] and
    transposed by the matmul."""
    a = _pick(draw, shapes)
    k = shapes[a][-1] if shapes[a] else 1
    b = _pick(draw, shapes, lambda s: prod(s) % k == 0)
    transpose_b = draw(st.booleans())
    return Op("matmul", (a, b), (k, transpose_b)), (prod(shapes[a]) // k, prod(shapes[b]) // k)


def _draw_dense(draw, shapes, ops):
    """A matmul (as above), a bias over its last axis and maybe a relu: the remapper's
    pattern. The bias is an earlier [n] value or a fresh constant."""
    product, (m, n) = _draw_matmul(draw, shapes, ops)
    vectors = [k for k, s in enumerate(shapes) if s == (n,)]
    bias = (draw(st.sampled_from(vectors)),) if vectors and draw(st.booleans()) else ()
    params = product.params + (n, draw(st.sampled_from(("bias_add", "add", "add_left"))),
                               draw(st.booleans()), draw(st.integers(0, 999)))
    return Op("dense", product.args + bias, params), (m, n)


def _draw_reshape(draw, shapes, ops):
    a = _pick(draw, shapes)
    shape = draw(st.sampled_from(_reshapes(prod(shapes[a]))))
    infer = bool(shape) and draw(st.booleans())  # one dim given as -1
    return Op("reshape", (a,), ((-1,) + shape[1:] if infer else shape,)), shape


def _draw_transpose(draw, shapes, ops):
    a = _pick(draw, shapes)
    perm = tuple(draw(st.permutations(range(len(shapes[a])))))
    return Op("transpose", (a,), (perm,)), tuple(shapes[a][i] for i in perm)


def _draw_expand_dims(draw, shapes, ops):
    if all(len(s) == MAX_RANK for s in shapes):
        return _draw_transpose(draw, shapes, ops)
    a = _pick(draw, shapes, lambda s: len(s) < MAX_RANK)
    rank = len(shapes[a])
    axis = draw(st.integers(-rank - 1, rank))
    shape = list(shapes[a])
    shape.insert(axis % (rank + 1), 1)
    return Op("expand_dims", (a,), (axis,)), tuple(shape)


def _draw_identity(draw, shapes, ops):
    return Op("identity", (_pick(draw, shapes),), (draw(st.integers(1, 3)),)), None


def _draw_neutral(draw, shapes, ops):
    a = _pick(draw, shapes)
    shape = draw(st.sampled_from([None] + [s for s in SHAPES
                                           if _broadcast(shapes[a], s) is not None]))
    params = (draw(st.sampled_from(sorted(NEUTRAL))), shape)
    return Op("neutral", (a,), params), shapes[a] if shape is None else \
        _broadcast(shapes[a], shape)


def _draw_control(draw, shapes, ops):
    """An identity of a that waits for the op of b (an input's too: a fed placeholder's
    wait is for its feed)."""
    a, b = _pick(draw, shapes), _pick(draw, shapes)
    return Op("control", (a, b), (draw(st.booleans()),)), None


def _draw_repeat(draw, shapes, ops):
    """The same op on the same values once more: a duplicate for CSE."""
    k = draw(st.sampled_from([k for k, op in enumerate(ops) if op.kind != "repeat"]))
    return Op("repeat", (), (k,)), shapes[len(shapes) - len(ops) + k]


_DRAWERS = {"binary": _draw_binary, "constant_operand": _draw_constant_operand,
            "constant_expression": _draw_constant_expression, "unary": _draw_unary,
            "reduction": _draw_reduction, "matmul": _draw_matmul, "dense": _draw_dense,
            "reshape": _draw_reshape,
            "transpose": _draw_transpose, "expand_dims": _draw_expand_dims,
            "identity": _draw_identity, "neutral": _draw_neutral, "control": _draw_control,
            "repeat": _draw_repeat}
# Elementwise ops drawn more often than the others, so that chains long enough to fuse form.
_WEIGHTS = {"binary": 3, "unary": 3, "constant_operand": 2, "neutral": 2, "repeat": 2}
_KINDS = [kind for kind in _DRAWERS for _ in range(_WEIGHTS.get(kind, 1))]


@st.composite
def programs(draw, differentiable=False):
    """1-3 inputs, 3-15 ops, 1-3 fetches (the last op and up to two ops no other op reads).
    With ``differentiable`` the first input is a placeholder or a variable."""
    dtype = draw(st.sampled_from(["float32", "float64"]))
    inputs = []
    for k in range(draw(st.integers(1, 3))):
        kinds = ["placeholder", "variable"] + ([] if differentiable and k == 0 else ["constant"])
        kind = draw(st.sampled_from(kinds))
        shape = draw(st.sampled_from(SHAPES))
        static = shape
        if kind == "placeholder":  # maybe its first dim, or its rank, unknown until run time
            partly = [(None,) + shape[1:]] if shape else []
            static = draw(st.sampled_from([shape, shape, None] + partly))
        inputs.append(Input(kind, shape, static, draw(st.integers(0, 999))))
    shapes = [i.shape for i in inputs]
    ops = []
    for _ in range(draw(st.integers(3, 15))):
        kinds = _KINDS if ops else [k for k in _KINDS if k not in ("repeat", "control")]
        op, shape = _DRAWERS[draw(st.sampled_from(kinds))](draw, shapes, ops)
        if shape is not None and prod(shape) > MAX_SIZE:  # keep every value tiny
            op, shape = Op("unary", op.args[:1] or (0,), ("negative",)), None
        ops.append(op)
        shapes.append(shapes[op.args[0]] if shape is None else shape)
    last = len(shapes) - 1
    read = {a for op in ops for a in op.args}
    sinks = [k for k in range(len(inputs), last) if k not in read] or [last]
    others = draw(st.lists(st.sampled_from(sinks), unique=True, max_size=2))
    return Program(dtype, tuple(inputs), tuple(ops), tuple(dict.fromkeys((last, *others))))


# --- programs as graphs ---
def _value(seed, shape, dtype):
    """Small values; half the seeds give multiples of 1/4 (ties for max, zeros for relu and
    abs), the others normal draws."""
    rng = np.random.default_rng(seed)
    if seed % 2:
        return (rng.integers(-8, 9, shape) / 4).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _unary(name, x):
    if name == "exp":
        return tf.exp(tf.minimum(tf.maximum(x, -3.0), 3.0))
    return {"negative": tf.negative, "abs": tf.abs, "relu": tf.nn.relu, "square": tf.square,
            "tanh": tf.tanh, "sigmoid": tf.sigmoid, "stop_gradient": tf.stop_gradient}[name](x)


def _binary(name, x, y):
    if name == "divide":
        return tf.divide(x, tf.abs(y) + 0.5)
    return getattr(tf, name)(x, y)


def _build_neutral(v, dtype, form, shape):
    if shape is None:
        return NEUTRAL[form](v[0], 1.0, 0.0, -0.0)
    one, zero = np.ones(shape, dtype), np.zeros(shape, dtype)
    return NEUTRAL[form](v[0], tf.constant(one), tf.constant(zero), tf.constant(-zero))


def _build_control(v, dtype, grouped):
    """v[0] passed on by an Identity that waits for v[1]'s op (through a tf.group NoOp)."""
    waits_for = [tf.group(v[1].op)] if grouped else [v[1].op]
    with tf.control_dependencies(waits_for):
        return tf.identity(v[0])


def _build_matmul(v, dtype, k, transpose_b):
    b = tf.reshape(v[1], [-1, k] if transpose_b else [k, -1])
    return tf.matmul(tf.reshape(v[0], [-1, k]), b, transpose_b=transpose_b)


def _build_dense(v, dtype, k, transpose_b, n, form, relu, seed):
    product = _build_matmul(v, dtype, k, transpose_b)
    bias = v[2] if len(v) > 2 else tf.constant(_value(seed, (n,), dtype))
    y = {"bias_add": lambda: tf.nn.bias_add(product, bias), "add": lambda: product + bias,
         "add_left": lambda: bias + product}[form]()
    return tf.nn.relu(y) if relu else y


def _build_reduction(v, dtype, name, axes, keepdims):
    return getattr(tf, name)(v[0], axis=None if axes is None else list(axes), keepdims=keepdims)


_BUILDERS = {
    "binary": lambda v, dtype, name: _binary(name, v[0], v[1]),
    "constant_operand": lambda v, dtype, name, shape, seed, left: (
        _binary(name, tf.constant(_value(seed, shape, dtype)), v[0]) if left else
        _binary(name, v[0], tf.constant(_value(seed, shape, dtype)))),
    "constant_expression": lambda v, dtype, name, shape, seed: _binary(
        name, tf.constant(_value(seed, shape, dtype)), tf.constant(_value(seed + 1, (), dtype))),
    "unary": lambda v, dtype, name: _unary(name, v[0]),
    "reduction": _build_reduction,
    "matmul": _build_matmul,
    "dense": _build_dense,
    "reshape": lambda v, dtype, shape: tf.reshape(v[0], list(shape)),
    "transpose": lambda v, dtype, perm: tf.transpose(v[0], list(perm)),
    "expand_dims": lambda v, dtype, axis: tf.expand_dims(v[0], axis),
    "identity": lambda v, dtype, n: _identities(v[0], n),
    "neutral": _build_neutral,
    "control": _build_control,
}


def _identities(x, n):
    for _ in range(n):
        x = tf.identity(x)
    return x


def build(program):
    """The program's values (one graph tensor per input and op), its feed_dict, and its
    placeholders and variables (what gradients are taken with respect to)."""
    dtype = np.dtype(program.dtype)
    values, feed, sources = [], {}, []
    for i in program.inputs:
        value = _value(i.seed, i.shape, dtype)
        if i.kind == "placeholder":
            tensor = tf.placeholder(tf.as_dtype(dtype), i.static)
            feed[tensor] = value
        elif i.kind == "variable":
            tensor = tf.Variable(value)
        else:
            tensor = tf.constant(value)
        if i.kind != "constant":
            sources.append(tensor)
        values.append(tensor)
    for op in program.ops:
        spec = program.ops[op.params[0]] if op.kind == "repeat" else op
        values.append(_BUILDERS[spec.kind]([values[a] for a in spec.args], dtype, *spec.params))
    return values, feed, sources


# --- running under every pass combination ---
def pass_sets():
    """All passes off (the reference) first, then all on, each pass left out, each alone."""
    sets = [(), PASS_NAMES]
    sets += [tuple(n for n in PASS_NAMES if n != left_out) for left_out in PASS_NAMES]
    sets += [(name,) for name in PASS_NAMES]
    return list(dict.fromkeys(sets))


def config_for(enabled):
    if not enabled:
        rewrite = RewriterConfig(disable_meta_optimizer=True)
    else:
        rewrite = RewriterConfig()
        for name in PASS_NAMES:
            if name not in enabled:
                passes.turn_off(rewrite, name)
    config = ConfigProto(graph_options=GraphOptions(rewrite_options=rewrite))
    assert passes.enabled_passes(config) == list(enabled)
    return config


def run_under_every_pass_set(fetches, feed):
    """{enabled pass names: fetched values}, and the passes that changed the plan with all
    on; checks each plan ran exactly the passes its config enables."""
    results, changed = {}, []
    for enabled in pass_sets():
        with tf.Session(config=config_for(enabled)) as sess:
            sess.run(tf.global_variables_initializer())
            results[enabled] = sess.run(fetches, feed)
            report = sess.plan_for(fetches, feed).report
            assert [row[0] for row in report.rows] == list(enabled)
            if enabled == PASS_NAMES:
                changed = [name for name, before, after, _ in report.rows if before != after]
    return results, changed


def assert_same(got, want, program, what):
    functions = program.functions()
    transcendental = bool(functions & TRANSCENDENTAL)
    for k, (g, w) in enumerate(zip(got, want)):
        message = f"{what}, fetch {k}"
        assert type(g) is type(w), message
        g, w = np.asarray(g), np.asarray(w)
        assert (g.dtype, g.shape) == (w.dtype, w.shape), message
        if transcendental:
            np.testing.assert_allclose(g, w, rtol=RTOL[program.dtype], atol=RTOL[program.dtype],
                                       err_msg=message)
            continue
        np.testing.assert_array_equal(g, w, err_msg=message)  # NaNs match NaNs
        numbers = ~np.isnan(w)  # zeros keep their sign: x + 0.0 is not x for x = -0.0
        if numbers.any():
            np.testing.assert_array_equal(np.signbit(g[numbers]), np.signbit(w[numbers]),
                                          err_msg=message + ": signs")


def check_every_pass_set(program, fetches, feed):
    results, changed = run_under_every_pass_set(fetches, feed)
    for name in changed:
        event(f"{name} changed the plan")
    reference = results.pop(())
    for enabled, got in results.items():
        assert_same(got, reference, program, f"passes {list(enabled)}")


@settings(max_examples=40, deadline=None, derandomize=True)
@given(program=programs())
def test_forward_values_do_not_depend_on_the_passes(program):
    tf.reset_default_graph()
    values, feed, _ = build(program)
    check_every_pass_set(program, [values[k] for k in program.fetches], feed)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(program=programs(differentiable=True))
def test_gradients_do_not_depend_on_the_passes(program):
    """tf.gradients of the fetches' sums with respect to every placeholder and variable (those
    no fetch depends on have no gradient), fetched with the fetches themselves."""
    tf.reset_default_graph()
    values, feed, sources = build(program)
    fetches = [values[k] for k in program.fetches]
    grads = tf.gradients([tf.reduce_sum(f) for f in fetches], sources)
    grads = [g for g in grads if g is not None]
    event(f"{len(grads)} of {len(sources)} sources with a gradient")
    check_every_pass_set(program, fetches + grads, feed)


@settings(max_examples=12, deadline=None, derandomize=True)
@given(program=programs(differentiable=True))
def test_whole_step_compilation_gives_the_op_by_op_values(program):
    """Whole-step compilation (global_jit_level=ON_1, tests/session/test_whole_step.py) on
    these programs and their gradients: the third run (native where the specialisation
    compiled, its first two op by op) gives the op-by-op values, to float32 rounding where a
    full sum is added in another order."""
    tf.reset_default_graph()
    values, feed, sources = build(program)
    fetches = [values[k] for k in program.fetches]
    grads = [g for g in tf.gradients([tf.reduce_sum(f) for f in fetches], sources)
             if g is not None]
    results = []
    for config in (None, ON_1):
        with tf.Session(config=config) as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(3):
                got = sess.run(fetches + grads, feed)
            if config is ON_1:
                (row,) = [r[3] for r in sess.plan_for(fetches + grads, feed).report.rows
                          if r[0] == "whole_step_compilation"]
                event("native" if "one native function" in row else row.split(": ", 2)[-1])
        results.append(got)
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6)


# --- bugs the random programs found, as small explicit cases ---
def test_fusion_keeps_the_sign_of_zero_ties():
    """On a tie of -0.0 and +0.0 relu, maximum and minimum return their first operand, fused
    or not, as TF1 does (numpy's kernels return the second: their operands are swapped)."""
    x = tf.placeholder(tf.float32, [2])
    y = tf.placeholder(tf.float32, [2])
    x2, y2 = x * 1.0, y * 1.0  # each result below fuses with these
    fetches = [tf.nn.relu(x2), tf.maximum(x2, y2), tf.minimum(x2, y2)]
    feed = {x: np.array([-0.0, 0.0], np.float32), y: np.array([0.0, -0.0], np.float32)}
    results, _ = run_under_every_pass_set(fetches, feed)
    tf1 = [[True, False], [True, False], [True, False]]  # signbit of TF 1.x's values
    for got in results.values():
        assert [np.signbit(v).tolist() for v in got] == tf1


def test_fusion_keeps_the_sign_of_sign():
    """sign(-0.0) is +0.0 fused or not, as in TF1 (Numba's np.sign keeps -0.0), which Abs's
    gradient at 0 shows."""
    x = tf.placeholder(tf.float32, [2])
    v = tf.Variable(np.float32(0.0))
    fetches = [tf.sign(x * 1.0)] + tf.gradients(tf.abs(tf.negative(v)), [v])
    results, _ = run_under_every_pass_set(fetches, {x: np.array([-0.0, 0.0], np.float32)})
    tf1 = [[False, False], True]  # signbit of TF 1.x's values
    for got in results.values():
        assert [np.signbit(v).tolist() for v in got] == tf1


def test_waiting_for_a_fed_placeholder():
    """A control edge to a fed Placeholder, direct or through a tf.group NoOp, waits for its
    feed (TF1); the Placeholder op itself never runs (it would demand a value)."""
    x = tf.placeholder(tf.float32, [])
    with tf.control_dependencies([x.op]):
        y = tf.identity(tf.constant(1.0))
    with tf.control_dependencies([tf.group(x.op)]):
        z = tf.identity(x)
    results, _ = run_under_every_pass_set([y, z], {x: 2.0})
    assert all(got == [1.0, 2.0] for got in results.values())
