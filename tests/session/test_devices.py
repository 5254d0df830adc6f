"""Device queries on a machine without a GPU (the simulator run checks them with one)."""
import pytest

import graphflow.compat.v1 as tf
from graphflow.session import devices

CPU = "/job:localhost/replica:0/task:0/device:CPU:0"


pytestmark = pytest.mark.skipif(devices.gpu_count() > 0, reason="this machine has a GPU")


def test_without_a_gpu_only_the_cpu_is_listed():
    assert not tf.test.is_gpu_available()
    assert tf.test.gpu_device_name() == ""
    assert tf.config.list_physical_devices("GPU") == []
    assert [d.name for d in tf.config.list_physical_devices()] == ["/physical_device:CPU:0"]
    assert tf.config.experimental.list_physical_devices("CPU") == \
        tf.config.list_physical_devices("CPU")
    with tf.Session() as sess:
        assert [(d.name, d.device_type) for d in sess.list_devices()] == [(CPU, "CPU")]


def test_plans_place_everything_on_the_cpu_without_copies():
    x = tf.placeholder(tf.float32, [2])
    y = tf.nn.relu(x * 2.0)
    with tf.Session() as sess:
        plan = sess.plan_for(y, {x: [1.0, -1.0]}).plan
    assert {n.device for n in plan.nodes} == {CPU}
    assert not [n for n in plan.nodes if n.type.startswith(("_HostToDevice", "_DeviceToHost"))]
