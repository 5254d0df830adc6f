"""TF1's dense optimizer updates (the ApplyXxx ops) as in-place Numba kernels.

Contract shared by every ``apply_*`` function:
- ``var`` and its slots (accum, m, v, ms, mom, mg) are C-contiguous float32 or float64 arrays of
  one shape (any rank, 0-d included); ``grad`` has that shape and dtype and may be any layout.
- Hyper-parameters are Python or NumPy scalars (0-d arrays too); the kernel casts them to the
  variable's dtype first, as TF's ops take them as tensors of that dtype, and does all scalar
  arithmetic in that dtype.
- ``var`` and the slots are updated in place by one fused loop over their flat views that reads
  each array once; the function returns ``var``.
- The element formulas keep the algebraic form and evaluation order of TF's CPU kernels
  (``m += (g - m) * (1 - beta1)``, not ``beta1 * m + (1 - beta1) * g``), so results match TF
  bit for bit, except Adagrad in float32, where TF's Eigen rsqrt is an approximation and we
  take ``1 / sqrt``: about 10% of elements then differ by one ulp.

Each update is a ``_<name>_span(lo, hi, ...)`` kernel over the flat index range [lo, hi); the
serial path calls it once on [0, size), the parallel path once per thread from a ``prange``.
"""
import numba
import numpy as np
from numba import njit, prange

__all__ = [
    "apply_gradient_descent",
    "apply_momentum",
    "apply_adagrad",
    "apply_rms_prop",
    "apply_centered_rms_prop",
    "apply_adam",
]

# Element count from which an update is split across Numba's threads; None keeps every call
# serial. The serial loops run at ~0.3 ns per float32 element (Adam on 784x200 in ~45 us),
# so only large variables gain: the seed MLP's step 0.935x (per-round median of interleaved
# runs) with its 784x200 Adam update on two threads. A step's products no longer wake
# OpenBLAS's threads (kernels/cpu/matmul.py), whose spinning once made a prange region
# between them cost milliseconds (7 ms per Adam call, 4 ms per matmul).
PARALLEL_MIN_SIZE = 100_000

# error_model="numpy": Python's model checks every division for zero, which blocks
# vectorisation (8x slower here); IEEE results (inf/nan) are what TF gives anyway.
_KERNEL = dict(cache=True, error_model="numpy")


_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _flat_state(var, *slots):
    """Flat views of var and its slots, which must be C-contiguous so that writes reach them.

    Sizes are checked here because the kernels index without bounds checks; the graph checks
    the full shapes when it builds the op.
    """
    if var.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"optimizer kernels take float32 or float64 variables, got {var.dtype}")
    views = []
    for a in (var,) + slots:
        if a.dtype != var.dtype or a.size != var.size:
            raise ValueError(f"slot {a.dtype}{list(a.shape)} does not match variable "
                             f"{var.dtype}{list(var.shape)}")
        if not a.flags.c_contiguous:
            raise ValueError("optimizer state must be a C-contiguous array, got a strided view")
        views.append(a.ravel())
    return views


def _flat_grad(var, grad):
    """grad as a flat C-contiguous array (a copy only when grad is strided)."""
    if grad.dtype != var.dtype or grad.size != var.size:
        raise ValueError(f"gradient {grad.dtype}{list(grad.shape)} does not match variable "
                         f"{var.dtype}{list(var.shape)}")
    return np.ascontiguousarray(grad).ravel()


def _run(span, parallel, args):
    """Run ``span`` on the whole flat range, serially or from ``parallel`` for large sizes."""
    n = args[0].size
    if PARALLEL_MIN_SIZE is not None and n >= PARALLEL_MIN_SIZE:
        parallel(numba.get_num_threads(), *args)
    else:
        span(0, n, *args)


# --- GradientDescent: var -= grad * lr ---------------------------------------------------

@njit(**_KERNEL)
def _gradient_descent_span(lo, hi, var, grad, lr):
    lr = var.dtype.type(lr)
    var = var[lo:hi]
    grad = grad[lo:hi]
    for i in range(var.size):
        var[i] -= grad[i] * lr


@njit(parallel=True, **_KERNEL)
def _gradient_descent_parallel(chunks, var, grad, lr):
    n = var.size
    for c in prange(chunks):
        _gradient_descent_span(c * n // chunks, (c + 1) * n // chunks, var, grad, lr)


def apply_gradient_descent(var, lr, grad):
    """ApplyGradientDescent: ``var -= grad * lr``."""
    (flat,) = _flat_state(var)
    _run(_gradient_descent_span, _gradient_descent_parallel,
         (flat, _flat_grad(var, grad), float(lr)))
    return var


# --- Momentum: accum = accum * momentum + grad; var -= accum * lr (Nesterov: see below) -----

@njit(**_KERNEL)
def _momentum_span(lo, hi, var, accum, grad, lr, momentum, use_nesterov):
    lr = var.dtype.type(lr)
    momentum = var.dtype.type(momentum)
    var = var[lo:hi]
    accum = accum[lo:hi]
    grad = grad[lo:hi]
    if use_nesterov:
        for i in range(var.size):
            a = accum[i] * momentum + grad[i]
            accum[i] = a
            var[i] -= grad[i] * lr + a * momentum * lr
    else:
        for i in range(var.size):
            a = accum[i] * momentum + grad[i]
            accum[i] = a
            var[i] -= a * lr


@njit(parallel=True, **_KERNEL)
def _momentum_parallel(chunks, var, accum, grad, lr, momentum, use_nesterov):
    n = var.size
    for c in prange(chunks):
        _momentum_span(c * n // chunks, (c + 1) * n // chunks, var, accum, grad, lr, momentum,
                       use_nesterov)


def apply_momentum(var, accum, lr, grad, momentum, use_nesterov=False):
    """ApplyMomentum: ``accum = accum * momentum + grad``, then ``var -= accum * lr``, or with
    ``use_nesterov`` ``var -= grad * lr + accum * momentum * lr`` (with the new accum)."""
    flat, accum = _flat_state(var, accum)
    _run(_momentum_span, _momentum_parallel,
         (flat, accum, _flat_grad(var, grad), float(lr), float(momentum), bool(use_nesterov)))
    return var


# --- Adagrad: accum += grad^2; var -= grad * lr * (1 / sqrt(accum)) ------------------------

@njit(**_KERNEL)
def _adagrad_span(lo, hi, var, accum, grad, lr, update_slots):
    lr = var.dtype.type(lr)
    one = var.dtype.type(1)
    var = var[lo:hi]
    accum = accum[lo:hi]
    grad = grad[lo:hi]
    if update_slots:
        for i in range(var.size):
            g = grad[i]
            a = accum[i] + g * g
            accum[i] = a
            var[i] -= g * lr * (one / np.sqrt(a))
    else:
        for i in range(var.size):
            var[i] -= grad[i] * lr * (one / np.sqrt(accum[i]))


@njit(parallel=True, **_KERNEL)
def _adagrad_parallel(chunks, var, accum, grad, lr, update_slots):
    n = var.size
    for c in prange(chunks):
        _adagrad_span(c * n // chunks, (c + 1) * n // chunks, var, accum, grad, lr, update_slots)


def apply_adagrad(var, accum, lr, grad, update_slots=True):
    """ApplyAdagrad: ``accum += grad * grad`` (skipped when not ``update_slots``), then
    ``var -= grad * lr * (1 / sqrt(accum))``. The accumulator's initial value (0.1 in TF1's
    AdagradOptimizer) is the optimizer's business."""
    flat, accum = _flat_state(var, accum)
    _run(_adagrad_span, _adagrad_parallel,
         (flat, accum, _flat_grad(var, grad), float(lr), bool(update_slots)))
    return var


# --- RMSProp: ms += (g^2 - ms)(1 - rho); mom = mom*momentum + g*lr/sqrt(ms + eps); var -= mom

@njit(**_KERNEL)
def _rms_prop_span(lo, hi, var, ms, mom, grad, lr, rho, momentum, epsilon):
    t = var.dtype.type
    lr, momentum, epsilon = t(lr), t(momentum), t(epsilon)
    decay = t(1) - t(rho)
    var = var[lo:hi]
    ms = ms[lo:hi]
    mom = mom[lo:hi]
    grad = grad[lo:hi]
    for i in range(var.size):
        g = grad[i]
        s = ms[i] + (g * g - ms[i]) * decay
        ms[i] = s
        u = mom[i] * momentum + g * lr / np.sqrt(s + epsilon)
        mom[i] = u
        var[i] -= u


@njit(parallel=True, **_KERNEL)
def _rms_prop_parallel(chunks, var, ms, mom, grad, lr, rho, momentum, epsilon):
    n = var.size
    for c in prange(chunks):
        _rms_prop_span(c * n // chunks, (c + 1) * n // chunks, var, ms, mom, grad, lr, rho,
                       momentum, epsilon)


def apply_rms_prop(var, ms, mom, lr, rho, momentum, epsilon, grad):
    """ApplyRMSProp: ``ms += (grad^2 - ms) * (1 - rho)``,
    ``mom = mom * momentum + grad * lr / sqrt(ms + epsilon)``, ``var -= mom``."""
    flat, ms, mom = _flat_state(var, ms, mom)
    _run(_rms_prop_span, _rms_prop_parallel,
         (flat, ms, mom, _flat_grad(var, grad), float(lr), float(rho), float(momentum),
          float(epsilon)))
    return var


# --- Centered RMSProp: as RMSProp with mg += (g - mg)(1 - rho), sqrt(ms - mg^2 + eps) ------

@njit(**_KERNEL)
def _centered_rms_prop_span(lo, hi, var, mg, ms, mom, grad, lr, rho, momentum, epsilon):
    t = var.dtype.type
    lr, momentum, epsilon = t(lr), t(momentum), t(epsilon)
    decay = t(1) - t(rho)
    var = var[lo:hi]
    mg = mg[lo:hi]
    ms = ms[lo:hi]
    mom = mom[lo:hi]
    grad = grad[lo:hi]
    for i in range(var.size):
        g = grad[i]
        s = ms[i] + (g * g - ms[i]) * decay
        ms[i] = s
        a = mg[i] + (g - mg[i]) * decay
        mg[i] = a
        u = mom[i] * momentum + g * lr / np.sqrt((s - a * a) + epsilon)
        mom[i] = u
        var[i] -= u


@njit(parallel=True, **_KERNEL)
def _centered_rms_prop_parallel(chunks, var, mg, ms, mom, grad, lr, rho, momentum, epsilon):
    n = var.size
    for c in prange(chunks):
        _centered_rms_prop_span(c * n // chunks, (c + 1) * n // chunks, var, mg, ms, mom, grad,
                                lr, rho, momentum, epsilon)


def apply_centered_rms_prop(var, mg, ms, mom, lr, rho, momentum, epsilon, grad):
    """ApplyCenteredRMSProp: ``ms`` as in RMSProp, ``mg += (grad - mg) * (1 - rho)``,
    ``mom = mom * momentum + grad * lr / sqrt(ms - mg^2 + epsilon)``, ``var -= mom``."""
    flat, mg, ms, mom = _flat_state(var, mg, ms, mom)
    _run(_centered_rms_prop_span, _centered_rms_prop_parallel,
         (flat, mg, ms, mom, _flat_grad(var, grad), float(lr), float(rho), float(momentum),
          float(epsilon)))
    return var


# --- Adam ---------------------------------------------------------------------------------

@njit(**_KERNEL)
def _adam_span(lo, hi, var, m, v, grad, beta1_power, beta2_power, lr, beta1, beta2, epsilon,
               use_nesterov):
    t = var.dtype.type
    one = t(1)
    alpha = t(lr) * np.sqrt(one - t(beta2_power)) / (one - t(beta1_power))
    beta1 = t(beta1)
    decay1 = one - beta1
    decay2 = one - t(beta2)
    epsilon = t(epsilon)
    var = var[lo:hi]
    m = m[lo:hi]
    v = v[lo:hi]
    grad = grad[lo:hi]
    if use_nesterov:
        for i in range(var.size):
            g = grad[i]
            a = m[i] + (g - m[i]) * decay1
            m[i] = a
            b = v[i] + (g * g - v[i]) * decay2
            v[i] = b
            var[i] -= ((g * decay1 + beta1 * a) * alpha) / (np.sqrt(b) + epsilon)
    else:
        for i in range(var.size):
            g = grad[i]
            a = m[i] + (g - m[i]) * decay1
            m[i] = a
            b = v[i] + (g * g - v[i]) * decay2
            v[i] = b
            var[i] -= (a * alpha) / (np.sqrt(b) + epsilon)


@njit(parallel=True, **_KERNEL)
def _adam_parallel(chunks, var, m, v, grad, beta1_power, beta2_power, lr, beta1, beta2, epsilon,
                   use_nesterov):
    n = var.size
    for c in prange(chunks):
        _adam_span(c * n // chunks, (c + 1) * n // chunks, var, m, v, grad, beta1_power,
                   beta2_power, lr, beta1, beta2, epsilon, use_nesterov)


def apply_adam(var, m, v, beta1_power, beta2_power, lr, beta1, beta2, epsilon, grad,
               use_nesterov=False):
    """ApplyAdam: ``alpha = lr * sqrt(1 - beta2_power) / (1 - beta1_power)``,
    ``m += (grad - m) * (1 - beta1)``, ``v += (grad^2 - v) * (1 - beta2)``, then
    ``var -= m * alpha / (sqrt(v) + epsilon)``; with ``use_nesterov`` the numerator is
    ``(grad * (1 - beta1) + beta1 * m) * alpha``."""
    flat, m, v = _flat_state(var, m, v)
    _run(_adam_span, _adam_parallel,
         (flat, m, v, _flat_grad(var, grad), float(beta1_power), float(beta2_power), float(lr),
          float(beta1), float(beta2), float(epsilon), bool(use_nesterov)))
    return var
