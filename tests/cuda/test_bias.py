"""CUDA BiasAdd and BiasAddGrad against the CPU kernels (through a CPU Session): both data
formats, ranks 2 to 4, float and integer dtypes, and the channel-count error."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from numba import cuda

import graphflow.compat.v1 as tf
from graphflow.kernels.cuda import bias


def cpu_bias_add(x, b, data_format, dy):
    """The CPU value of bias_add and, for floats, the gradient of sum(out * dy) w.r.t. b."""
    with tf.Graph().as_default():
        xt, bt = tf.constant(x), tf.constant(b)
        out = tf.nn.bias_add(xt, bt, data_format=data_format)
        fetches = [out]
        if x.dtype.kind == "f":
            fetches += tf.gradients(out, bt, grad_ys=tf.constant(dy))
        with tf.Session() as sess:
            return sess.run(fetches)


@settings(max_examples=20, deadline=None)
@given(data_format=st.sampled_from(["NHWC", "NCHW"]), data=st.data(),
       dtype=st.sampled_from(["float32", "float64", "int32", "int64"]),
       seed=st.integers(0, 2**31))
def test_bias_add_and_its_gradient_match_the_cpu_kernels(data_format, data, dtype, seed):
    least = 3 if data_format == "NCHW" else 2
    shape = tuple(data.draw(st.lists(st.integers(1, 5), min_size=least, max_size=4)))
    channels = shape[1] if data_format == "NCHW" else shape[-1]
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 100).astype(dtype)
    b = (rng.standard_normal(channels) * 100).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    want = cpu_bias_add(x, b, data_format, dy)

    got = bias.bias_add(cuda.to_device(x), cuda.to_device(b), data_format).copy_to_host()
    assert got.dtype == want[0].dtype and got.shape == shape
    np.testing.assert_array_equal(got, want[0])
    if x.dtype.kind == "f":
        grad = bias.bias_add_grad(cuda.to_device(dy), data_format).copy_to_host()
        assert grad.dtype == want[1].dtype and grad.shape == (channels,)
        rtol = 1e-5 if dtype == "float32" else 1e-12
        np.testing.assert_allclose(grad, want[1], rtol=rtol, atol=rtol * np.abs(dy).sum())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_integer_bias_add_wraps():
    x = np.array([[2**31 - 1, -2**31]], np.int32)
    b = np.array([1, -1], np.int32)
    got = bias.bias_add(cuda.to_device(x), cuda.to_device(b)).copy_to_host()
    np.testing.assert_array_equal(got, [[-2**31, 2**31 - 1]])


def test_bad_arguments():
    x = cuda.to_device(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"as many biases .*: \[3\] vs. \[2,4\]"):
        bias.bias_add(x, cuda.to_device(np.zeros(3, np.float32)))
    with pytest.raises(ValueError, match="at least rank 3"):
        bias.bias_add(x, cuda.to_device(np.zeros(4, np.float32)), "NCHW")
    with pytest.raises(TypeError, match="float64"):
        bias.bias_add(x, cuda.to_device(np.zeros(4, np.float64)))
    with pytest.raises(ValueError, match="data_format"):
        bias.bias_add_grad(x, "NWC")
