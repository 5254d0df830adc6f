"""CUDA convolution kernels (under the simulator) against the CPU kernels they stand in for."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from numba import cuda

from graphflow.kernels.cpu import conv as cpu
from graphflow.kernels.cuda import conv as gpu

SETTINGS = settings(max_examples=12, deadline=None)
DTYPES = st.sampled_from([np.float32, np.float64])


@st.composite
def conv_cases(draw, depthwise=False):
    """(x shape, w shape, strides, padding, dilations) with a non-empty output."""
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilations = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pads = st.tuples(st.integers(0, 2), st.integers(0, 2))
    padding = draw(st.sampled_from(['SAME', 'VALID']) | st.tuples(pads, pads))
    chans = draw(st.integers(1, 3))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 9)), draw(st.integers(1, 9)), chans)
    try:
        cpu.conv_output_shape(shape[1:3], kernel, strides, padding, dilations)
    except ValueError:  # the padded input is smaller than the kernel
        padding = 'SAME'
    w_shape = (*kernel, chans, draw(st.integers(1, 2) if depthwise else st.integers(1, 3)))
    return shape, w_shape, strides, padding, dilations


def random(shape, dtype, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def on_device(fn, *args):
    """fn with its numpy arguments copied to the device, its result copied back."""
    result = fn(*(cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in args))
    return result.copy_to_host()


def assert_matches(name, args, dtype, terms):
    """The CUDA kernel `name` gives the CPU kernel's result, to rounding over `terms` products."""
    expected = getattr(cpu, name)(*args)
    got = on_device(getattr(gpu, name), *args)
    assert got.dtype == dtype and got.shape == expected.shape
    eps = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=eps, atol=eps * terms)
    return got


@pytest.mark.parametrize('kind', ['conv2d', 'depthwise_conv2d'])
@SETTINGS
@given(data=st.data(), dtype=DTYPES)
def test_forward_and_gradients_match_cpu(kind, data, dtype):
    x_shape, w_shape, strides, padding, dilations = data.draw(
        conv_cases(depthwise=kind == 'depthwise_conv2d'))
    geometry = (strides, padding, dilations)
    x, w = random(x_shape, dtype, 1), random(w_shape, dtype, 2)
    taps = w_shape[0] * w_shape[1] * (1 if kind == 'depthwise_conv2d' else w_shape[2])
    y = assert_matches(f'{kind}_forward', (x, w, *geometry), dtype, taps)
    dy = random(y.shape, dtype, 3)
    assert_matches(f'{kind}_backprop_input', (dy, w, x_shape, *geometry), dtype,
                   taps * w_shape[3])
    assert_matches(f'{kind}_backprop_filter', (x, dy, w_shape, *geometry), dtype,
                   y.shape[0] * y.shape[1] * y.shape[2])


def test_empty_batch_gives_empty_output_and_zero_filter_gradient():
    x, w = np.zeros((0, 5, 5, 2), np.float32), np.ones((3, 3, 2, 4), np.float32)
    y = on_device(gpu.conv2d_forward, x, w, (1, 1), 'SAME')
    assert y.shape == (0, 5, 5, 4)
    dw = on_device(gpu.conv2d_backprop_filter, x, y, w.shape, (1, 1), 'SAME')
    assert dw.shape == w.shape and not dw.any()


def zeros(*shape, dtype=np.float32):
    return np.zeros(shape, dtype)


BAD_CALLS = [
    ('conv2d_forward', (zeros(1, 5, 5, 3), zeros(3, 3, 2, 4))),
    ('conv2d_forward', (zeros(5, 5, 3), zeros(3, 3, 3, 4))),
    ('conv2d_forward', (zeros(1, 2, 5, 1), zeros(3, 3, 1, 1), (1, 1), 'VALID')),
    ('conv2d_forward', (zeros(1, 5, 5, 1), zeros(3, 3, 1, 1), (0, 1), 'SAME')),
    ('conv2d_forward', (zeros(1, 5, 5, 1), zeros(3, 3, 1, 1), (1, 1), 'FULL')),
    ('conv2d_forward', (zeros(1, 5, 5, 1), zeros(3, 3, 1, 1), (1, 1), ((0, -1), (0, 0)))),
    ('conv2d_forward', (zeros(1, 5, 5, 1), zeros(1, 1, 1, 1, dtype=np.float64))),
    ('conv2d_forward', (zeros(1, 5, 5, 1, dtype=np.int32), zeros(1, 1, 1, 1, dtype=np.int32))),
    ('conv2d_backprop_input', (zeros(1, 5, 4, 3), zeros(3, 3, 2, 3), (1, 8, 8, 2), (2, 2),
                               'SAME')),
    ('conv2d_backprop_filter', (zeros(1, 8, 8, 2), zeros(1, 4, 4, 2), (3, 3, 2, 3), (2, 2),
                                'SAME')),
    ('depthwise_conv2d_forward', (zeros(1, 5, 5, 3), zeros(3, 3, 2, 4))),
    ('depthwise_conv2d_backprop_input', (zeros(1, 3, 3, 3), zeros(3, 3, 2, 2), (1, 5, 5, 2))),
    ('depthwise_conv2d_backprop_filter', (zeros(1, 5, 5, 2), zeros(1, 3, 3, 2), (3, 3, 2, 2))),
]


@pytest.mark.parametrize('name, args', BAD_CALLS)
def test_bad_arguments_raise_the_cpu_kernels_error(name, args):
    with pytest.raises((TypeError, ValueError)) as expected:
        getattr(cpu, name)(*args)
    with pytest.raises(expected.type) as got:
        on_device(getattr(gpu, name), *args)
    assert str(got.value) == str(expected.value)


def test_ptx_signatures_cover_every_kernel_in_both_dtypes():
    kernels = {kernel for kernel, _ in gpu.PTX_SIGNATURES}
    assert kernels == {gpu._forward, gpu._backprop_input, gpu._backprop_filter}
    for _, signatures in gpu.PTX_SIGNATURES:
        assert {sig.args[0].dtype.name for sig in signatures} == {'float32', 'float64'}
