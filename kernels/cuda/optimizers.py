"""TF1's dense optimizer updates (the ApplyXxx ops) as in-place CUDA kernels: the
counterparts of kernels/cpu/optimizers.py, with its argument order, dtypes and formulas.

Contract shared by every ``apply_*`` function:
- ``var``, its slots and ``grad`` are C-contiguous float32 or float64 device arrays of one size
  (any rank); var and the slots are updated in place by one grid-stride loop over their flat
  views, and the function returns ``var``.
- Hyper-parameters are Python or NumPy scalars, or 1-element (0-d included) device arrays: a
  variable such as Adam's beta1_power lives on the device and is read inside the kernel,
  never copied to the host. Each is cast to the variable's dtype first and all scalar
  arithmetic is done in that dtype, as on the CPU.
- The element formulas keep the CPU kernels' (and TF's) algebraic form and evaluation order.
  A GPU contracts ``a * b + c`` into one fused multiply-add, so results may differ from the
  CPU's in the last bit.

How a hyper-parameter reaches a kernel: as a pair (a 1-element device array, a float) and a
bit of ``on_device`` saying which of the two to read. Host scalars pair with ``var`` itself as
a placeholder array, so each kernel has one signature per dtype whichever hyper-parameters
live on the device.
"""
import math

import numpy as np
from numba import cuda

from graphflow.kernels.cuda.launch import grid_1d, simulated

__all__ = [
    "apply_gradient_descent",
    "apply_momentum",
    "apply_adagrad",
    "apply_rms_prop",
    "apply_centered_rms_prop",
    "apply_adam",
    "PTX_SIGNATURES",
]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# sqrt: the math module's on the GPU; numpy's under the simulator, which runs kernels as
# Python (math.sqrt raises on a negative number where the GPU gives nan).
_libm = np if simulated() else math


# inline="always": Numba inlines the helper in its IR; a device function compiled on its own
# needs a GPU (even under compile_ptx), so the PTX check could not compile its callers.
@cuda.jit(device=True, inline="always")
def _hyper(var, array, value, on_device, bit):
    """Hyper-parameter number ``bit`` in var's dtype: array[0] if it lives on the device."""
    if (on_device >> bit) & 1:
        return var.dtype.type(array[0])
    return var.dtype.type(value)


def _flat_state(var, *slots):
    """Flat views of var and its slots (the kernels write through them)."""
    if np.dtype(var.dtype) not in _FLOAT_DTYPES:
        raise TypeError(f"optimizer kernels take float32 or float64 variables, got {var.dtype}")
    views = []
    for a in (var,) + slots:
        if a.dtype != var.dtype or a.size != var.size:
            raise ValueError(f"slot {a.dtype}{list(a.shape)} does not match variable "
                             f"{var.dtype}{list(var.shape)}")
        if not a.is_c_contiguous():
            raise ValueError("optimizer state must be a C-contiguous device array")
        views.append(a.reshape(a.size))
    return views


def _flat_grad(var, grad):
    if grad.dtype != var.dtype or grad.size != var.size:
        raise ValueError(f"gradient {grad.dtype}{list(grad.shape)} does not match variable "
                         f"{var.dtype}{list(var.shape)}")
    if not grad.is_c_contiguous():
        raise ValueError("the gradient must be a C-contiguous device array")
    return grad.reshape(grad.size)


def _hypers(flat_var, *values):
    """(arrays, floats, on_device) for hyper-parameters that are host scalars or 1-element
    device arrays."""
    arrays, floats, on_device = [], [], 0
    for bit, h in enumerate(values):
        if cuda.devicearray.is_cuda_ndarray(h):
            if h.size != 1:
                raise ValueError(f"a hyper-parameter must be a scalar, got shape {list(h.shape)}")
            arrays.append(h.reshape(1))
            floats.append(0.0)
            on_device |= 1 << bit
        else:
            arrays.append(flat_var)
            floats.append(float(h))
    return arrays, floats, on_device


def _launch(kernel, flat_var, *args):
    if flat_var.size:
        kernel[grid_1d(flat_var.size)](flat_var, *args)


# --- GradientDescent: var -= grad * lr ---------------------------------------------------

@cuda.jit(cache=True)
def _gradient_descent(var, grad, lr_a, lr_v, on_device):
    lr = _hyper(var, lr_a, lr_v, on_device, 0)
    for i in range(cuda.grid(1), var.size, cuda.gridsize(1)):
        var[i] -= grad[i] * lr


def apply_gradient_descent(var, lr, grad):
    """ApplyGradientDescent: ``var -= grad * lr``."""
    (flat,) = _flat_state(var)
    arrays, floats, on_device = _hypers(flat, lr)
    _launch(_gradient_descent, flat, _flat_grad(var, grad), arrays[0], floats[0], on_device)
    return var


# --- Momentum: accum = accum * momentum + grad; var -= accum * lr (Nesterov: see below) -----

@cuda.jit(cache=True)
def _momentum(var, accum, grad, lr_a, momentum_a, lr_v, momentum_v, on_device, use_nesterov):
    lr = _hyper(var, lr_a, lr_v, on_device, 0)
    momentum = _hyper(var, momentum_a, momentum_v, on_device, 1)
    for i in range(cuda.grid(1), var.size, cuda.gridsize(1)):
        a = accum[i] * momentum + grad[i]
        accum[i] = a
        if use_nesterov:
            var[i] -= grad[i] * lr + a * momentum * lr
        else:
            var[i] -= a * lr


def apply_momentum(var, accum, lr, grad, momentum, use_nesterov=False):
    """ApplyMomentum: ``accum = accum * momentum + grad``, then ``var -= accum * lr``, or with
    ``use_nesterov`` ``var -= grad * lr + accum * momentum * lr`` (with the new accum)."""
    flat, accum = _flat_state(var, accum)
    arrays, floats, on_device = _hypers(flat, lr, momentum)
    _launch(_momentum, flat, accum, _flat_grad(var, grad), *arrays, *floats, on_device,
            bool(use_nesterov))
    return var


# --- Adagrad: accum += grad^2; var -= grad * lr * (1 / sqrt(accum)) ------------------------

@cuda.jit(cache=True)
def _adagrad(var, accum, grad, lr_a, lr_v, on_device, update_slots):
    lr = _hyper(var, lr_a, lr_v, on_device, 0)
    one = var.dtype.type(1)
    for i in range(cuda.grid(1), var.size, cuda.gridsize(1)):
        g = grad[i]
        a = accum[i]
        if update_slots:
            a += g * g
            accum[i] = a
        var[i] -= g * lr * (one / _libm.sqrt(a))


def apply_adagrad(var, accum, lr, grad, update_slots=True):
    """ApplyAdagrad: ``accum += grad * grad`` (skipped when not ``update_slots``), then
    ``var -= grad * lr * (1 / sqrt(accum))``."""
    flat, accum = _flat_state(var, accum)
    arrays, floats, on_device = _hypers(flat, lr)
    _launch(_adagrad, flat, accum, _flat_grad(var, grad), arrays[0], floats[0], on_device,
            bool(update_slots))
    return var


# --- RMSProp: ms += (g^2 - ms)(1 - rho); mom = mom*momentum + g*lr/sqrt(ms + eps); var -= mom

@cuda.jit(cache=True)
def _rms_prop(var, ms, mom, grad, lr_a, rho_a, momentum_a, epsilon_a, lr_v, rho_v, momentum_v,
              epsilon_v, on_device):
    lr = _hyper(var, lr_a, lr_v, on_device, 0)
    decay = var.dtype.type(1) - _hyper(var, rho_a, rho_v, on_device, 1)
    momentum = _hyper(var, momentum_a, momentum_v, on_device, 2)
    epsilon = _hyper(var, epsilon_a, epsilon_v, on_device, 3)
    for i in range(cuda.grid(1), var.size, cuda.gridsize(1)):
        g = grad[i]
        s = ms[i] + (g * g - ms[i]) * decay
        ms[i] = s
        u = mom[i] * momentum + g * lr / _libm.sqrt(s + epsilon)
        mom[i] = u
        var[i] -= u


def apply_rms_prop(var, ms, mom, lr, rho, momentum, epsilon, grad):
    """ApplyRMSProp: ``ms += (grad^2 - ms) * (1 - rho)``,
    ``mom = mom * momentum + grad * lr / sqrt(ms + epsilon)``, ``var -= mom``."""
    flat, ms, mom = _flat_state(var, ms, mom)
    arrays, floats, on_device = _hypers(flat, lr, rho, momentum, epsilon)
    _launch(_rms_prop, flat, ms, mom, _flat_grad(var, grad), *arrays, *floats, on_device)
    return var


# --- Centered RMSProp: as RMSProp with mg += (g - mg)(1 - rho), sqrt(ms - mg^2 + eps) ------

@cuda.jit(cache=True)
def _centered_rms_prop(var, mg, ms, mom, grad, lr_a, rho_a, momentum_a, epsilon_a, lr_v, rho_v,
                       momentum_v, epsilon_v, on_device):
    lr = _hyper(var, lr_a, lr_v, on_device, 0)
    decay = var.dtype.type(1) - _hyper(var, rho_a, rho_v, on_device, 1)
    momentum = _hyper(var, momentum_a, momentum_v, on_device, 2)
    epsilon = _hyper(var, epsilon_a, epsilon_v, on_device, 3)
    for i in range(cuda.grid(1), var.size, cuda.gridsize(1)):
        g = grad[i]
        s = ms[i] + (g * g - ms[i]) * decay
        ms[i] = s
        a = mg[i] + (g - mg[i]) * decay
        mg[i] = a
        u = mom[i] * momentum + g * lr / _libm.sqrt((s - a * a) + epsilon)
        mom[i] = u
        var[i] -= u


def apply_centered_rms_prop(var, mg, ms, mom, lr, rho, momentum, epsilon, grad):
    """ApplyCenteredRMSProp: ``ms`` as in RMSProp, ``mg += (grad - mg) * (1 - rho)``,
    ``mom = mom * momentum + grad * lr / sqrt(ms - mg^2 + epsilon)``, ``var -= mom``."""
    flat, mg, ms, mom = _flat_state(var, mg, ms, mom)
    arrays, floats, on_device = _hypers(flat, lr, rho, momentum, epsilon)
    _launch(_centered_rms_prop, flat, mg, ms, mom, _flat_grad(var, grad), *arrays, *floats,
            on_device)
    return var


# --- Adam ---------------------------------------------------------------------------------

@cuda.jit(cache=True)
def _adam(var, m, v, grad, beta1_power_a, beta2_power_a, lr_a, beta1_a, beta2_a, epsilon_a,
          beta1_power_v, beta2_power_v, lr_v, beta1_v, beta2_v, epsilon_v, on_device,
          use_nesterov):
    one = var.dtype.type(1)
    beta1_power = _hyper(var, beta1_power_a, beta1_power_v, on_device, 0)
    beta2_power = _hyper(var, beta2_power_a, beta2_power_v, on_device, 1)
    lr = _hyper(var, lr_a, lr_v, on_device, 2)
    beta1 = _hyper(var, beta1_a, beta1_v, on_device, 3)
    decay2 = one - _hyper(var, beta2_a, beta2_v, on_device, 4)
    epsilon = _hyper(var, epsilon_a, epsilon_v, on_device, 5)
    alpha = lr * _libm.sqrt(one - beta2_power) / (one - beta1_power)
    decay1 = one - beta1
    for i in range(cuda.grid(1), var.size, cuda.gridsize(1)):
        g = grad[i]
        a = m[i] + (g - m[i]) * decay1
        m[i] = a
        b = v[i] + (g * g - v[i]) * decay2
        v[i] = b
        if use_nesterov:
            var[i] -= ((g * decay1 + beta1 * a) * alpha) / (_libm.sqrt(b) + epsilon)
        else:
            var[i] -= (a * alpha) / (_libm.sqrt(b) + epsilon)


def apply_adam(var, m, v, beta1_power, beta2_power, lr, beta1, beta2, epsilon, grad,
               use_nesterov=False):
    """ApplyAdam: ``alpha = lr * sqrt(1 - beta2_power) / (1 - beta1_power)``,
    ``m += (grad - m) * (1 - beta1)``, ``v += (grad^2 - v) * (1 - beta2)``, then
    ``var -= m * alpha / (sqrt(v) + epsilon)``; with ``use_nesterov`` the numerator is
    ``(grad * (1 - beta1) + beta1 * m) * alpha``."""
    flat, m, v = _flat_state(var, m, v)
    arrays, floats, on_device = _hypers(flat, beta1_power, beta2_power, lr, beta1, beta2,
                                        epsilon)
    _launch(_adam, flat, m, v, _flat_grad(var, grad), *arrays, *floats, on_device,
            bool(use_nesterov))
    return var


def _signatures(arrays, hypers, flags):
    """One signature per dtype: ``arrays`` state arrays, ``hypers`` (array, float) pairs,
    the on_device mask and ``flags`` booleans."""
    def one(t):
        types = [f"{t}[::1]"] * (arrays + hypers) + ["float64"] * hypers + ["int64"] + \
            ["boolean"] * flags
        return f"void({', '.join(types)})"
    return tuple(one(t) for t in ("float32", "float64"))


PTX_SIGNATURES = [
    (_gradient_descent, _signatures(2, 1, 0)),
    (_momentum, _signatures(3, 2, 1)),
    (_adagrad, _signatures(3, 1, 1)),
    (_rms_prop, _signatures(4, 4, 0)),
    (_centered_rms_prop, _signatures(5, 4, 0)),
    (_adam, _signatures(4, 6, 1)),
]
