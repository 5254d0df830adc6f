"""Whole-step compilation (OptimizerOptions(global_jit_level=ON_1)): a plan runs as one Numba
function per feed shapes and computes what the op-by-op plan computes; a plan it cannot
compile runs op by op and its report says why; a second process loads the compiled step from
the kernel cache."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import graphflow.compat.v1 as tf
from benchmarks.cases import _models
from graphflow.session.config import ConfigProto, GraphOptions, OptimizerOptions

REPO = Path(__file__).resolve().parents[2]
ON_1 = ConfigProto(graph_options=GraphOptions(
    optimizer_options=OptimizerOptions(global_jit_level=OptimizerOptions.ON_1)))


def _whole_step_rows(sess, fetches, feeds):
    return [row[3] for row in sess.plan_for(fetches, feeds).report.rows
            if row[0] == "whole_step_compilation"]


def _train(model, whole_step, steps, batch=8):
    program = _models.build(tf, {"model": model, "task": "train", "batch": batch,
                                 "threads": 2, "whole_step": whole_step})
    sess = program.session
    losses = [sess.run(program.fetches, program.feeds)[1] for _ in range(steps)]
    weights = {op.name: value.copy() for op, value in sess._state.variables.items()}
    return losses, weights, _whole_step_rows(sess, program.fetches, program.feeds)


@pytest.mark.parametrize("model", ["mlp", "convnet"])
def test_a_seed_model_compiled_trains_as_op_by_op(model):
    """The MLP: dropout (random draws from the same seeded streams), five matmul + bias +
    relu layers; the convnet: three conv + bias + relu layers and both conv gradients; both
    cross-entropy and Adam. After five steps (two op by op, the second recorded, three
    native) every weight and Adam slot is what the op-by-op plan gives; the loss, a mean that
    numpy sums pairwise and the compiled step in order, agrees to float32 rounding."""
    losses, weights, rows = _train(model, True, 5)
    want_losses, want_weights, plain_rows = _train(model, False, 5)
    assert plain_rows == []
    (row,) = rows
    assert "one native function of" in row
    assert int(row.split("one native function of ")[1].split()[0]) > 40
    np.testing.assert_allclose(losses, want_losses, rtol=1e-6)
    assert weights.keys() == want_weights.keys()
    for name, value in weights.items():
        np.testing.assert_allclose(value, want_weights[name], rtol=1e-6, atol=1e-7,
                                   err_msg=name)


def test_each_feed_shape_gets_its_own_function():
    x = tf.placeholder(tf.float32, [None, 3])
    w = tf.Variable(np.arange(6, dtype=np.float32).reshape(3, 2))
    y = tf.nn.softmax(tf.matmul(x, w) * 0.5)
    with tf.Session(config=ON_1) as sess:
        sess.run(tf.global_variables_initializer())
        for batch in (4, 2, 4):
            value = np.linspace(-1, 1, batch * 3, dtype=np.float32).reshape(batch, 3)
            for _ in range(3):
                got = sess.run(y, {x: value})
            logits = value @ np.arange(6, dtype=np.float32).reshape(3, 2) * 0.5
            e = np.exp(logits - logits.max(1, keepdims=True))
            np.testing.assert_allclose(got, e / e.sum(1, keepdims=True), rtol=1e-6)
        rows = _whole_step_rows(sess, y, {x: value})
    assert len(rows) == 2
    assert "[[4, 3]]" in rows[0] and "[[2, 3]]" in rows[1]
    assert all("one native function" in row for row in rows)


def test_a_plan_with_an_op_without_native_form_runs_op_by_op_and_says_why():
    x = tf.placeholder(tf.float32, [2, 4, 4, 1])
    y = tf.reduce_sum(tf.nn.max_pool(x, [1, 2, 2, 1], [1, 2, 2, 1], "VALID") * 2.0)
    value = np.arange(32, dtype=np.float32).reshape(2, 4, 4, 1)
    with tf.Session(config=ON_1) as sess:
        got = [sess.run(y, {x: value}) for _ in range(3)]
        (row,) = _whole_step_rows(sess, y, {x: value})
    assert "runs op by op: no native form for MaxPool" in row
    want = 2 * value.reshape(2, 2, 2, 2, 2).max(axis=(2, 4)).sum()
    assert got == [want] * 3


def test_a_variable_given_a_new_shape_runs_op_by_op():
    v = tf.Variable(np.ones(3, np.float32), validate_shape=False)
    doubled = v * 2.0
    grow = tf.assign(v, np.arange(5, dtype=np.float32), validate_shape=False)
    with tf.Session(config=ON_1) as sess:
        sess.run(v.initializer)
        for _ in range(3):  # op by op, recorded, native
            np.testing.assert_array_equal(sess.run(doubled), [2, 2, 2])
        assert "one native function" in _whole_step_rows(sess, doubled, None)[0]
        sess.run(grow)
        np.testing.assert_array_equal(sess.run(doubled), [0, 2, 4, 6, 8])


_CHILD = textwrap.dedent("""
    import json
    import graphflow.compat.v1 as tf
    from benchmarks.cases import _models
    program = _models.build(tf, {"model": "softmax", "task": "train", "batch": 4,
                                 "threads": 2, "whole_step": True})
    for _ in range(3):
        loss = program.session.run(program.fetches, program.feeds)[1]
    plan = program.session.plan_for(program.fetches, program.feeds)
    (step,) = plan._whole_step._steps.values()
    print(json.dumps({"hits": sum(step.native.stats.cache_hits.values()),
                      "misses": sum(step.native.stats.cache_misses.values()),
                      "loss": float(loss)}))
""")


def test_a_second_process_loads_the_compiled_step_from_the_cache(tmp_path):
    env = dict(os.environ, GRAPHFLOW_CACHE_DIR=str(tmp_path / "graphflow"),
               NUMBA_CACHE_DIR=str(tmp_path / "numba"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO),
                                                        os.environ.get("PYTHONPATH")])))
    runs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", _CHILD], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        runs.append(json.loads(done.stdout.splitlines()[-1]))
    assert runs[0]["misses"] == 1 and runs[0]["hits"] == 0
    assert runs[1]["misses"] == 0 and runs[1]["hits"] == 1
    assert runs[0]["loss"] == runs[1]["loss"]
    assert len(list((tmp_path / "graphflow").glob("step_*.py"))) == 1
