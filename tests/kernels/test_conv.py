"""conv2d and depthwise conv2d kernels against direct numpy references and finite differences.

The references slide the kernel tap by tap over an explicitly zero-padded input, with TF's
padding formula written out again here, so they share no code with the kernels.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from graphflow.kernels.cpu import conv

SETTINGS = settings(max_examples=25, deadline=None)


def ref_pads(size, k, stride, dilation, padding):
    """(out, pad_before, pad_after) along one axis, per TF's documented formula."""
    eff = (k - 1) * dilation + 1
    if padding == 'SAME':
        out = -(-size // stride)
        total = max((out - 1) * stride + eff - size, 0)
        return out, total // 2, total - total // 2
    lo, hi = (0, 0) if padding == 'VALID' else padding
    return (size + lo + hi - eff) // stride + 1, lo, hi


def axis_padding(padding, axis):
    return padding if isinstance(padding, str) else padding[axis]


def geometry(x_shape, w_shape, strides, padding, dilations):
    rows = ref_pads(x_shape[1], w_shape[0], strides[0], dilations[0], axis_padding(padding, 0))
    cols = ref_pads(x_shape[2], w_shape[1], strides[1], dilations[1], axis_padding(padding, 1))
    return rows, cols


def taps(x_shape, w_shape, strides, padding, dilations):
    """For each tap (kh, kw): the index selecting, in the padded input, the pixel each output
    pixel reads through that tap."""
    (oh, _, _), (ow, _, _) = geometry(x_shape, w_shape, strides, padding, dilations)
    for kh in range(w_shape[0]):
        for kw in range(w_shape[1]):
            r0, c0 = kh * dilations[0], kw * dilations[1]
            yield kh, kw, (slice(None), slice(r0, r0 + (oh - 1) * strides[0] + 1, strides[0]),
                           slice(c0, c0 + (ow - 1) * strides[1] + 1, strides[1]))


def pad(x, x_shape, w_shape, strides, padding, dilations):
    (_, pt, pb), (_, pl, pr) = geometry(x_shape, w_shape, strides, padding, dilations)
    return np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0))), (pt, pl)


def ref_forward(x, w, strides, padding, dilations, depthwise=False):
    (oh, _, _), (ow, _, _) = geometry(x.shape, w.shape, strides, padding, dilations)
    xp, _ = pad(x, x.shape, w.shape, strides, padding, dilations)
    out_c = w.shape[2] * w.shape[3] if depthwise else w.shape[3]
    y = np.zeros((x.shape[0], oh, ow, out_c))
    for kh, kw, window in taps(x.shape, w.shape, strides, padding, dilations):
        patch = xp[window]
        if depthwise:
            y += (patch[..., :, None] * w[kh, kw]).reshape(y.shape)
        else:
            y += patch @ w[kh, kw]
    return y


def ref_backprop_input(dy, w, x_shape, strides, padding, dilations, depthwise=False):
    xp, (pt, pl) = pad(np.zeros(x_shape), x_shape, w.shape, strides, padding, dilations)
    for kh, kw, window in taps(x_shape, w.shape, strides, padding, dilations):
        if depthwise:
            g = dy.reshape(*dy.shape[:3], w.shape[2], w.shape[3])
            xp[window] += (g * w[kh, kw]).sum(-1)
        else:
            xp[window] += dy @ w[kh, kw].T
    return xp[:, pt:pt + x_shape[1], pl:pl + x_shape[2]]


def ref_backprop_filter(x, dy, w_shape, strides, padding, dilations, depthwise=False):
    xp, _ = pad(x, x.shape, w_shape, strides, padding, dilations)
    dw = np.zeros(w_shape)
    for kh, kw, window in taps(x.shape, w_shape, strides, padding, dilations):
        if depthwise:
            g = dy.reshape(*dy.shape[:3], w_shape[2], w_shape[3])
            dw[kh, kw] = np.einsum('nhwc,nhwcm->cm', xp[window], g)
        else:
            dw[kh, kw] = np.einsum('nhwc,nhwf->cf', xp[window], dy)
    return dw


@st.composite
def conv_cases(draw, depthwise=False):
    """(x shape, w shape, strides, padding, dilations) with a non-empty output."""
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilations = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    size = (draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    padding = draw(st.sampled_from(['SAME', 'VALID', 'explicit']))
    if padding == 'explicit':
        padding = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(2))
    # Channel counts on both sides of 8, where the kernels switch between 8 and 16 lanes.
    chans = draw(st.integers(1, 5)) if depthwise else draw(st.integers(1, 12))
    out = draw(st.integers(1, 3)) if depthwise else draw(st.integers(1, 20))
    shape = (draw(st.integers(1, 3)), *size, chans)
    w_shape = (*k, chans, out)
    (oh, _, _), (ow, _, _) = geometry(shape, w_shape, strides, padding, dilations)
    if oh <= 0 or ow <= 0:  # the padded input is smaller than the kernel
        padding = 'SAME'
    return shape, w_shape, strides, padding, dilations


def random(shape, dtype, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def tolerance(dtype, terms):
    """Bounds for sums of `terms` products of standard normals."""
    eps = 1e-5 if dtype == np.float32 else 1e-12
    return dict(rtol=eps, atol=eps * terms)


@SETTINGS
@given(conv_cases(), st.sampled_from([np.float32, np.float64]))
def test_conv2d_matches_reference(case, dtype):
    x_shape, w_shape, strides, padding, dilations = case
    x, w = random(x_shape, dtype, 1), random(w_shape, dtype, 2)
    y = conv.conv2d_forward(x, w, strides, padding, dilations)
    assert y.dtype == dtype
    terms = np.prod(w_shape[:3])
    np.testing.assert_allclose(y, ref_forward(x, w, strides, padding, dilations),
                               **tolerance(dtype, terms))
    dy = random(y.shape, dtype, 3)
    dx = conv.conv2d_backprop_input(dy, w, x_shape, strides, padding, dilations)
    assert dx.dtype == dtype and dx.shape == x_shape
    np.testing.assert_allclose(dx, ref_backprop_input(dy, w, x_shape, strides, padding, dilations),
                               **tolerance(dtype, terms))
    dw = conv.conv2d_backprop_filter(x, dy, w_shape, strides, padding, dilations)
    assert dw.dtype == dtype and dw.shape == w_shape
    np.testing.assert_allclose(dw, ref_backprop_filter(x, dy, w_shape, strides, padding, dilations),
                               **tolerance(dtype, y.size))


@SETTINGS
@given(conv_cases(depthwise=True), st.sampled_from([np.float32, np.float64]))
def test_depthwise_conv2d_matches_reference(case, dtype):
    x_shape, w_shape, strides, padding, dilations = case
    x, w = random(x_shape, dtype, 1), random(w_shape, dtype, 2)
    y = conv.depthwise_conv2d_forward(x, w, strides, padding, dilations)
    assert y.dtype == dtype
    terms = np.prod(w_shape[:2])
    np.testing.assert_allclose(y, ref_forward(x, w, strides, padding, dilations, True),
                               **tolerance(dtype, terms))
    dy = random(y.shape, dtype, 3)
    dx = conv.depthwise_conv2d_backprop_input(dy, w, x_shape, strides, padding, dilations)
    np.testing.assert_allclose(
        dx, ref_backprop_input(dy, w, x_shape, strides, padding, dilations, True),
        **tolerance(dtype, terms * w_shape[3]))
    dw = conv.depthwise_conv2d_backprop_filter(x, dy, w_shape, strides, padding, dilations)
    np.testing.assert_allclose(
        dw, ref_backprop_filter(x, dy, w_shape, strides, padding, dilations, True),
        **tolerance(dtype, y.size))


# (x shape, w shape, strides, padding, dilations, forward G, backward G, shifted): shapes
# whose channel counts make the kernels group G neighbouring pixels of a row into one tile
# row, with the last group of a row part-filled (odd widths) and, where shifted, the first.
GROUPED_CASES = [
    ((2, 7, 9, 1), (3, 3, 1, 4), (1, 1), 'SAME', (1, 1), 2, 4, False),
    ((2, 9, 16, 2), (3, 3, 2, 4), (2, 2), 'SAME', (1, 1), 2, 4, False),
    ((2, 7, 8, 2), (2, 3, 2, 3), (2, 1), 'VALID', (1, 2), 4, 4, False),
    ((2, 14, 14, 8), (4, 4, 8, 12), (2, 2), 'SAME', (1, 1), 1, 2, True),
    ((2, 9, 11, 4), (5, 5, 4, 8), (2, 2), 'SAME', (1, 1), 1, 4, False),
    ((1, 8, 9, 2), (2, 3, 2, 3), (3, 3), ((1, 2), (0, 3)), (1, 2), 1, 3, False),
]


@pytest.mark.parametrize('case', GROUPED_CASES)
def test_pixel_groups_match_reference(case):
    """The grouped layouts (see conv's docstring) give the reference's values; the geometry
    check keeps each case on the path it is here for."""
    x_shape, w_shape, strides, padding, dilations, forward, backward, shifted = case
    geo = conv._geometry_for(x_shape, w_shape, strides, padding, dilations)
    assert (geo.fold.shape[1], geo.backward.wsel.shape[1]) == (forward, backward)
    assert (geo.backward.table[:, 11] > 0).any() == shifted
    x, w = random(x_shape, np.float64, 20), random(w_shape, np.float64, 21)
    y = conv.conv2d_forward(x, w, strides, padding, dilations)
    np.testing.assert_allclose(y, ref_forward(x, w, strides, padding, dilations), rtol=1e-12,
                               atol=1e-12)
    dy = random(y.shape, np.float64, 22)
    np.testing.assert_allclose(conv.conv2d_backprop_input(dy, w, x_shape, strides, padding,
                                                          dilations),
                               ref_backprop_input(dy, w, x_shape, strides, padding, dilations),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(conv.conv2d_backprop_filter(x, dy, w_shape, strides, padding,
                                                           dilations),
                               ref_backprop_filter(x, dy, w_shape, strides, padding, dilations),
                               rtol=1e-12, atol=1e-11)


ADJOINT_CASES = [
    ((2, 7, 9, 3), (3, 2, 3, 5), (1, 1), 'SAME', (1, 1)),
    ((2, 9, 8, 3), (3, 3, 3, 17), (2, 3), 'SAME', (2, 1)),
    ((1, 8, 8, 2), (2, 3, 2, 4), (3, 2), ((1, 2), (0, 3)), (1, 2)),
    ((2, 6, 7, 4), (4, 4, 4, 6), (2, 2), 'VALID', (1, 1)),
]


@pytest.mark.parametrize('depthwise', [False, True])
@pytest.mark.parametrize('case', ADJOINT_CASES)
def test_gradients_are_adjoint_to_forward(case, depthwise):
    """<conv(x, w), dy> = <x, backprop_input(dy, w)> = <w, backprop_filter(x, dy)>."""
    x_shape, w_shape, strides, padding, dilations = case
    if depthwise:
        w_shape = (*w_shape[:3], 2)
    ops = ((conv.depthwise_conv2d_forward, conv.depthwise_conv2d_backprop_input,
            conv.depthwise_conv2d_backprop_filter) if depthwise else
           (conv.conv2d_forward, conv.conv2d_backprop_input, conv.conv2d_backprop_filter))
    x, w = random(x_shape, np.float64, 4), random(w_shape, np.float64, 5)
    y = ops[0](x, w, strides, padding, dilations)
    dy = random(y.shape, np.float64, 6)
    dx = ops[1](dy, w, x_shape, strides, padding, dilations)
    dw = ops[2](x, dy, w_shape, strides, padding, dilations)
    inner = np.vdot(y, dy)
    assert np.vdot(x, dx) == pytest.approx(inner, rel=1e-12)
    assert np.vdot(w, dw) == pytest.approx(inner, rel=1e-12)


@pytest.mark.parametrize('depthwise', [False, True])
@pytest.mark.parametrize('case', ADJOINT_CASES[1:3])
def test_gradients_match_finite_differences(case, depthwise):
    x_shape, w_shape, strides, padding, dilations = case
    x_shape, w_shape = (1, *x_shape[1:3], 2), (*w_shape[:2], 2, 2 if depthwise else 3)
    ops = ((conv.depthwise_conv2d_forward, conv.depthwise_conv2d_backprop_input,
            conv.depthwise_conv2d_backprop_filter) if depthwise else
           (conv.conv2d_forward, conv.conv2d_backprop_input, conv.conv2d_backprop_filter))
    x, w = random(x_shape, np.float64, 7), random(w_shape, np.float64, 8)
    dy = random(ops[0](x, w, strides, padding, dilations).shape, np.float64, 9)

    def loss(x, w):
        return np.vdot(ops[0](x, w, strides, padding, dilations), dy)

    def numeric(value, f):
        grad = np.zeros_like(value)
        for i in np.ndindex(value.shape):
            step = np.zeros_like(value)
            step[i] = 1e-6
            grad[i] = (f(value + step) - f(value - step)) / 2e-6
        return grad

    np.testing.assert_allclose(ops[1](dy, w, x_shape, strides, padding, dilations),
                               numeric(x, lambda v: loss(v, w)), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(ops[2](x, dy, w_shape, strides, padding, dilations),
                               numeric(w, lambda v: loss(x, v)), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize('input_hw, kernel, stride, padding, expected', [
    ((7, 8), (3, 3), (2, 2), 'SAME', ((4, 4), ((1, 1), (0, 1)))),
    ((28, 28), (5, 5), (1, 1), 'SAME', ((28, 28), ((2, 2), (2, 2)))),
    ((14, 14), (4, 4), (2, 2), 'SAME', ((7, 7), ((1, 1), (1, 1)))),
    ((5, 5), (2, 2), (2, 2), 'SAME', ((3, 3), ((0, 1), (0, 1)))),
    ((7, 7), (3, 3), (2, 2), 'VALID', ((3, 3), ((0, 0), (0, 0)))),
    ((3, 5), (3, 3), (3, 3), 'VALID', ((1, 1), ((0, 0), (0, 0)))),
    ((6, 6), (3, 3), (1, 2), ((1, 2), (0, 3)), ((7, 4), ((1, 2), (0, 3)))),
])
def test_output_shape_follows_tf(input_hw, kernel, stride, padding, expected):
    assert conv.conv_output_shape(input_hw, kernel, stride, padding) == expected


def test_output_shape_rejects_inputs_smaller_than_the_kernel():
    """TF's messages for conv2d on [1, 4, 9, 1] with a 3x3 kernel dilated by 2, and on
    [1, 2, 9, 1] with a 4x3 kernel and explicit padding (1, 0)."""
    with pytest.raises(ValueError, match='Negative dimension size caused by subtracting 5 from 4'):
        conv.conv_output_shape((4, 9), (3, 3), (1, 1), 'VALID', (2, 1))
    with pytest.raises(ValueError, match='Negative dimension size caused by subtracting 4 from 3'):
        conv.conv_output_shape((2, 9), (4, 3), (1, 1), ((1, 0), (0, 0)))
    with pytest.raises(ValueError, match='padding'):
        conv.conv_output_shape((5, 5), (3, 3), (1, 1), 'FULL')


@pytest.mark.parametrize('height', [7, 8])
def test_transpose_accepts_every_input_size_with_the_same_output(height):
    """conv2d_transpose to [1, 7, 7] and [1, 8, 8] from a [1, 4, 4] dy, as TF allows (SAME, s2)."""
    dy, w = random((1, 4, 4, 3), np.float64, 10), random((3, 3, 2, 3), np.float64, 11)
    x_shape = (1, height, height, 2)
    dx = conv.conv2d_backprop_input(dy, w, x_shape, (2, 2), 'SAME')
    expected = ref_backprop_input(dy, w, x_shape, (2, 2), 'SAME', (1, 1))
    np.testing.assert_allclose(dx, expected, rtol=1e-12)


def test_gradient_rejects_dy_of_the_wrong_shape():
    with pytest.raises(ValueError, match='forward output shape'):
        conv.conv2d_backprop_input(np.zeros((1, 5, 4, 3)), np.zeros((3, 3, 2, 3)), (1, 8, 8, 2),
                                   (2, 2), 'SAME')


def test_rejects_filters_of_another_depth():
    """The kernels index without bounds checks: a mismatched depth must not reach them."""
    with pytest.raises(ValueError, match='input depth 3 does not match'):
        conv.conv2d_forward(np.zeros((1, 5, 5, 3)), np.zeros((3, 3, 2, 4)))
    with pytest.raises(ValueError, match='input has 3 channels'):
        conv.depthwise_conv2d_forward(np.zeros((1, 5, 5, 3)), np.zeros((3, 3, 2, 4)))


def test_rejects_mixed_or_integer_dtypes():
    with pytest.raises(TypeError):
        conv.conv2d_forward(np.zeros((1, 3, 3, 1), np.float32), np.zeros((1, 1, 1, 1)))
    with pytest.raises(TypeError):
        conv.conv2d_forward(np.zeros((1, 3, 3, 1), np.int32), np.zeros((1, 1, 1, 1), np.int32))


def test_empty_batch_gives_empty_output_and_zero_filter_gradient():
    x, w = np.zeros((0, 5, 5, 2), np.float32), np.ones((3, 3, 2, 4), np.float32)
    y = conv.conv2d_forward(x, w, (1, 1), 'SAME')
    assert y.shape == (0, 5, 5, 4)
    assert not conv.conv2d_backprop_filter(x, y, w.shape, (1, 1), 'SAME').any()


@pytest.mark.parametrize('depthwise', [False, True])
def test_threaded_path_matches_reference(monkeypatch, depthwise):
    """Work split over threads by flattened pixels, also across image boundaries."""
    monkeypatch.setattr(conv, 'THREAD_GRAIN', 1)
    x_shape, strides, args = (3, 9, 7, 5), (2, 1), ('SAME', (1, 1), depthwise)
    w_shape = (3, 3, 5, 2 if depthwise else 18)
    x, w = random(x_shape, np.float32, 12), random(w_shape, np.float32, 13)
    name = 'depthwise_conv2d' if depthwise else 'conv2d'
    y = getattr(conv, f'{name}_forward')(x, w, strides, 'SAME')
    np.testing.assert_allclose(y, ref_forward(x, w, strides, *args), rtol=1e-5, atol=1e-4)
    dy = random(y.shape, np.float32, 14)
    dx = getattr(conv, f'{name}_backprop_input')(dy, w, x_shape, strides, 'SAME')
    np.testing.assert_allclose(dx, ref_backprop_input(dy, w, x_shape, strides, *args),
                               rtol=1e-5, atol=1e-4)
    dw = getattr(conv, f'{name}_backprop_filter')(x, dy, w_shape, strides, 'SAME')
    np.testing.assert_allclose(dw, ref_backprop_filter(x, dy, w_shape, strides, *args),
                               rtol=1e-5, atol=1e-3)


def test_read_only_inputs_compile_their_own_specialisation():
    """Graph constants arrive read-only: a new Numba type, compiled on demand like the rest."""
    x, w = random((2, 6, 5, 3), np.float32, 15), random((3, 3, 3, 4), np.float32, 16)
    x.flags.writeable = False
    y = conv.conv2d_forward(x, w, (1, 1), 'SAME')
    np.testing.assert_allclose(y, ref_forward(x, w, (1, 1), 'SAME', (1, 1)), rtol=1e-5, atol=1e-4)


def test_tile_shapes_follow_numbas_target(monkeypatch):
    """The 24-accumulator filter-gradient tile needs AVX-512's 32 vector registers; a
    portable target (NUMBA_CPU_NAME=generic) or a feature list without AVX-512VL gets 16."""
    from numba.core import config
    from graphflow.kernels.cpu import _tiled
    monkeypatch.setattr(config, 'CPU_FEATURES', '+avx2,+fma,+avx512f,+avx512vl')
    assert _tiled.vector_registers() == 32
    monkeypatch.setattr(config, 'CPU_FEATURES', '+avx2,+fma')
    assert _tiled.vector_registers() == 16
    monkeypatch.setattr(config, 'CPU_FEATURES', None)
    monkeypatch.setattr(config, 'CPU_NAME', 'generic')
    assert _tiled.vector_registers() == 16
