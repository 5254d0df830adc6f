"""One training step of the seed convnet with every op on '/gpu:0' (CUDA simulator) gives the
CPU step's numbers, and the placer's copies are exactly the expected ones.

The seed convnet as the tutorial builds it (28x28 images; 5x5x4 stride 1, 5x5x8 stride 2,
4x4x12 stride 2, fc 200, softmax 10, relu, Adam) on a batch of one image: the simulator runs
every CUDA thread as Python (this test takes a minute or two), and the kernels' own tests
cover larger batches.
"""
import numpy as np

import graphflow.compat.v1 as tf
from graphflow.session import transfers

SIZE, BATCH = 28, 1


def _seed_convnet(device):
    graph = tf.Graph()
    with graph.as_default(), tf.device(device):
        tf.set_random_seed(7)
        X = tf.placeholder(tf.float32, [None, SIZE, SIZE, 1], name="X")
        Y_ = tf.placeholder(tf.float32, [None, 10], name="Y_")
        lr = tf.placeholder(tf.float32, name="lr")

        def weights(shape):
            return tf.Variable(tf.truncated_normal(shape, stddev=0.1))

        def biases(n):
            return tf.Variable(tf.ones([n]) / 10)

        W1, B1 = weights([5, 5, 1, 4]), biases(4)
        W2, B2 = weights([5, 5, 4, 8]), biases(8)
        W3, B3 = weights([4, 4, 8, 12]), biases(12)
        flat = (SIZE // 4) * (SIZE // 4) * 12
        W4, B4 = weights([flat, 200]), biases(200)
        W5, B5 = weights([200, 10]), biases(10)
        Y1 = tf.nn.relu(tf.nn.conv2d(X, W1, strides=[1, 1, 1, 1], padding="SAME") + B1)
        Y2 = tf.nn.relu(tf.nn.conv2d(Y1, W2, strides=[1, 2, 2, 1], padding="SAME") + B2)
        Y3 = tf.nn.relu(tf.nn.conv2d(Y2, W3, strides=[1, 2, 2, 1], padding="SAME") + B3)
        Y4 = tf.nn.relu(tf.matmul(tf.reshape(Y3, shape=[-1, flat]), W4) + B4)
        logits = tf.matmul(Y4, W5) + B5
        Y = tf.nn.softmax(logits)
        loss = tf.reduce_mean(
            tf.nn.softmax_cross_entropy_with_logits(logits=logits, labels=Y_)) * 100
        correct = tf.equal(tf.argmax(Y, 1), tf.argmax(Y_, 1))
        accuracy = tf.reduce_mean(tf.cast(correct, tf.float32))
        train = tf.train.AdamOptimizer(lr).minimize(loss)
        init = tf.global_variables_initializer()
    return graph, dict(X=X, Y_=Y_, lr=lr, loss=loss, accuracy=accuracy, train=train,
                       init=init, variables=[W1, B1, W2, B2, W3, B3, W4, B4, W5, B5])


def _step(device, images, labels):
    graph, m = _seed_convnet(device)
    # soft placement: the initializers' random ops have no GPU kernel (they run on the CPU,
    # so both runs start from the same weights)
    config = tf.ConfigProto(allow_soft_placement=True)
    with tf.Session(graph=graph, config=config) as sess:
        sess.run(m["init"])
        feed = {m["X"]: images, m["Y_"]: labels, m["lr"]: 0.003}
        loss, _ = sess.run([m["loss"], m["train"]], feed)
        after = sess.run([m["loss"], m["accuracy"]], feed)
        plan = sess.plan_for([m["loss"], m["train"]], feed).plan
        return loss, after, sess.run(m["variables"]), plan


def test_seed_convnet_step_on_the_gpu_gives_the_cpu_numbers():
    rng = np.random.default_rng(0)
    images = rng.random((BATCH, SIZE, SIZE, 1), dtype=np.float32)
    labels = np.eye(10, dtype=np.float32)[rng.integers(0, 10, BATCH)]
    cpu_loss, cpu_after, cpu_vars, _ = _step("/cpu:0", images, labels)
    gpu_loss, gpu_after, gpu_vars, plan = _step("/gpu:0", images, labels)

    np.testing.assert_allclose(gpu_loss, cpu_loss, rtol=1e-5)
    np.testing.assert_allclose(gpu_after[0], cpu_after[0], rtol=1e-4)
    assert gpu_after[1] == cpu_after[1]
    for g, c in zip(gpu_vars, cpu_vars):
        np.testing.assert_allclose(g, c, rtol=1e-4, atol=1e-6)
    assert gpu_after[0] != gpu_loss  # the step changed the weights

    assert {n.device for n in plan.nodes if n.type in ("Conv2D", "ApplyAdam", "MatMul")} == \
        {"/job:localhost/replica:0/task:0/device:GPU:0"}
    copied = sorted((n.type, n.inputs[0][0].type) for n in plan.nodes
                    if n.type in (transfers.HOST_TO_DEVICE, transfers.DEVICE_TO_HOST))
    assert copied == EXPECTED_COPIES, copied


EXPECTED_COPIES = sorted([
    # the three feeds (images, labels, learning rate), each copied in once
    ("_HostToDevice", "_Feed"), ("_HostToDevice", "_Feed"), ("_HostToDevice", "_Feed"),
    # reduce_mean's gradient divides by the element count: int32 shape arithmetic stays in
    # host memory (as in TF1) and its float cast runs on the GPU, so one scalar goes in
    ("_HostToDevice", "Size"),
    # the fetched loss (reduce_mean(...) * 100), copied out once
    ("_DeviceToHost", "Mul"),
])
