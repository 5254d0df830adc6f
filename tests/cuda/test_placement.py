"""GPU placement end to end, under the CUDA simulator: ops on '/gpu:0' run the CUDA kernels,
copies appear exactly where values cross devices, variables stay in device memory, and a
training step gives the CPU's numbers."""
import numpy as np
import pytest

import graphflow.compat.v1 as tf
from graphflow.session import transfers

CPU = "/job:localhost/replica:0/task:0/device:CPU:0"
GPU = "/job:localhost/replica:0/task:0/device:GPU:0"


def _copies(sess, fetches, feed_dict=None):
    """(type, name of the copied tensor) for every copy node of the plan."""
    plan = sess.plan_for(fetches, feed_dict).plan
    return sorted((n.type, transfers.value_name(n.inputs[0])) for n in plan.nodes
                  if n.type in (transfers.HOST_TO_DEVICE, transfers.DEVICE_TO_HOST))


def test_devices_are_listed():
    assert tf.test.is_gpu_available()
    assert tf.test.gpu_device_name() == "/device:GPU:0"
    assert [d.name for d in tf.config.list_physical_devices("GPU")] == ["/physical_device:GPU:0"]
    with tf.Session() as sess:
        assert [d.device_type for d in sess.list_devices()] == ["CPU", "GPU"]


def test_feeds_copied_in_and_fetches_copied_out_once(capsys):
    x = tf.placeholder(tf.float32, [3], name="x")
    with tf.device("/gpu:0"):
        y = x * 2.0 + 1.0
        z = tf.reduce_sum(y * y)
    config = tf.ConfigProto(log_device_placement=True)
    with tf.Session(config=config) as sess:
        value = np.array([1.0, -2.0, 0.5], np.float32)
        got_y, got_z = sess.run([y, z], {x: value})
        np.testing.assert_allclose(got_y, value * 2 + 1)
        np.testing.assert_allclose(got_z, np.sum((value * 2 + 1) ** 2), rtol=1e-6)
        assert isinstance(got_y, np.ndarray) and isinstance(got_z, np.float32)
        plan = sess.plan_for([y, z], {x: value}).plan
        copies = _copies(sess, [y, z], {x: value})
    # in: the feed, once; out: the two fetches (y comes out of the fused add/mul kernel)
    assert [c for c in copies if c[0] == "_HostToDevice"] == [("_HostToDevice", "x:0")]
    copied_out = [n for n in plan.nodes if n.type == "_DeviceToHost"]
    assert len(copied_out) == 2 and [(n, 0) for n in copied_out] == plan.fetches
    log = capsys.readouterr().err
    assert f"Sum: (Sum): {GPU}" in log and "copies x:0 to " + GPU in log


def test_variables_stay_in_device_memory_between_runs():
    with tf.device("/gpu:0"):
        v = tf.Variable(tf.zeros([4]), name="v")
        step = tf.assign_add(v, tf.ones([4]))
    with tf.Session() as sess:
        sess.run(v.initializer)
        for _ in range(3):
            sess.run(step.op)
        stored = sess._state.variables[v.op]
        assert hasattr(stored, "copy_to_host") and not isinstance(stored, np.ndarray)
        np.testing.assert_array_equal(sess.run(v), np.full(4, 3.0, np.float32))
        # an update that only writes the variable moves nothing between the devices
        assert _copies(sess, step.op) == []


def test_int32_shape_arithmetic_stays_on_the_host():
    x = tf.placeholder(tf.float32, [None, 3])
    with tf.device("/gpu:0"):
        n = tf.shape(x)[0] * 3
        y = tf.reshape(x, [n, -1])
    with tf.Session() as sess:
        value = np.arange(6, dtype=np.float32).reshape(2, 3)
        np.testing.assert_array_equal(sess.run(y, {x: value}), value.reshape(6, 1))
        plan = sess.plan_for(y, {x: value}).plan
        by_type = {node.type: node for node in plan.nodes}
        assert by_type["Shape"].kernel_device == "GPU"      # reads the device array's shape
        assert by_type["StridedSlice"].host_memory          # int32 ops: TF1's host memory
        assert by_type["Reshape"].kernel_device == "GPU"


def test_an_op_without_a_gpu_kernel_needs_soft_placement():
    with tf.device("/gpu:0"):
        r = tf.random_uniform([3], seed=1)
        y = r * 2.0
    with tf.Session() as sess:
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match="no supported kernel for GPU devices.*allow_soft_placement"):
            sess.run(y)
    with tf.Session(config=tf.ConfigProto(allow_soft_placement=True)) as sess:
        out = sess.run(y)
        plan = sess.plan_for(y).plan
        devices = {n.name: n.device for n in plan.nodes}
        # the random op runs on the CPU; its scale-and-shift and the multiply (one fused
        # kernel named after its last op) on the GPU
        assert devices["random_uniform/RandomUniform"] == CPU and devices["mul"] == GPU
    assert out.shape == (3,) and out.dtype == np.float32


def test_ops_default_to_the_gpu_and_cpu_hints_are_kept():
    x = tf.placeholder(tf.float32, [2])
    y = x + 1.0
    with tf.device("/cpu:0"):
        z = y * 3.0
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(z, {x: [1.0, 2.0]}), [6.0, 9.0])
        devices = {n.type: n.device for n in sess.plan_for(z, {x: [1.0, 2.0]}).plan.nodes}
    assert devices["Add"] == GPU and devices["Mul"] == CPU
