"""CUDA optimizer updates against the CPU kernels: var and slots updated in place on the
device, var returned, both float dtypes, any rank, and hyper-parameters given as host scalars,
as 0-d or 1-element device arrays, or a mix (Adam's beta powers live on the device)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from numba import cuda

from graphflow.kernels.cpu import optimizers as cpu
from graphflow.kernels.cuda import optimizers as gpu

# name: (slot count, hyper-parameters before grad, hyper-parameters after grad, flag)
UPDATES = {
    "apply_gradient_descent": (0, [0.1], [], None),
    "apply_momentum": (1, [0.1], [0.9], "use_nesterov"),
    "apply_adagrad": (1, [0.1], [], "update_slots"),
    "apply_rms_prop": (2, [0.01, 0.9, 0.5, 1e-7], [], None),
    "apply_centered_rms_prop": (3, [0.01, 0.9, 0.5, 1e-7], [], None),
    "apply_adam": (2, [0.9 ** 3, 0.999 ** 3, 0.01, 0.9, 0.999, 1e-8], [], "use_nesterov"),
}


def state(shape, dtype, slots, seed):
    """var, slots and grad; slots positive with centered RMSProp's mg small beside ms."""
    rng = np.random.default_rng(seed)
    var = np.asarray(rng.standard_normal(shape), dtype)
    grad = np.asarray(rng.standard_normal(shape), dtype)
    slot_values = [np.asarray(rng.random(shape) + 0.5, dtype) for _ in range(slots)]
    if slots == 3:  # mg, ms, mom
        slot_values[0] *= dtype(0.1)
    return var, slot_values, grad


def place(value, where, dtype):
    """A hyper-parameter as a Python float, a 0-d device array or a [1] device array."""
    if where == "host":
        return value
    array = np.array(value, dtype)
    return cuda.to_device(array if where == "0-d" else array.reshape(1))


@settings(max_examples=20, deadline=None)
@given(name=st.sampled_from(sorted(UPDATES)),
       shape=st.lists(st.integers(1, 5), max_size=3).map(tuple),
       dtype=st.sampled_from([np.float32, np.float64]), flag=st.booleans(),
       places=st.lists(st.sampled_from(["host", "0-d", "[1]"]), min_size=6, max_size=6),
       seed=st.integers(0, 2**31))
def test_updates_match_the_cpu_kernels(name, shape, dtype, flag, places, seed):
    slots, before, after, flag_name = UPDATES[name]
    var, slot_values, grad = state(shape, dtype, slots, seed)
    hypers = before + after
    kwargs = {flag_name: flag} if flag_name else {}
    want_var = var.copy()
    want_slots = [s.copy() for s in slot_values]
    getattr(cpu, name)(want_var, *want_slots, *before, grad, *after, **kwargs)

    d_var = cuda.to_device(var)
    d_slots = [cuda.to_device(s) for s in slot_values]
    d_hypers = [place(h, w, dtype) for h, w in zip(hypers, places)]
    returned = getattr(gpu, name)(d_var, *d_slots, *d_hypers[:len(before)],
                                  cuda.to_device(grad), *d_hypers[len(before):], **kwargs)
    assert returned is d_var
    # The simulator evaluates the kernel's formulas in numpy's arithmetic, so these agree to
    # the bit here; a GPU's fused multiply-adds may move the last bit.
    rtol = 1e-6 if dtype == np.float32 else 1e-15
    for got, want in zip([d_var] + d_slots, [want_var] + want_slots):
        got = got.copy_to_host()
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


def test_empty_variables_are_left_alone():
    var = cuda.to_device(np.zeros((0, 3), np.float32))
    assert gpu.apply_gradient_descent(var, 0.1, var) is var


def test_bad_arguments():
    var = cuda.to_device(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="does not match variable"):
        gpu.apply_gradient_descent(var, 0.1, cuda.to_device(np.zeros(4, np.float32)))
    with pytest.raises(ValueError, match="does not match variable"):
        gpu.apply_momentum(var, cuda.to_device(np.zeros(3, np.float64)), 0.1, var, 0.9)
    with pytest.raises(TypeError, match="int32"):
        ints = cuda.to_device(np.zeros(3, np.int32))
        gpu.apply_gradient_descent(ints, 0.1, ints)
    with pytest.raises(ValueError, match="must be a scalar"):
        gpu.apply_gradient_descent(var, cuda.to_device(np.zeros(2, np.float32)), var)
