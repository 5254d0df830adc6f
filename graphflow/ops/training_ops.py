"""The optimizers' update ops (TF1's ApplyGradientDescent, ApplyAdam, ...).

Each updates one variable and its slots in place with ONE kernel call (graphflow.kernels.cpu
.optimizers), instead of the chain of small elementwise ops the update formula would be.
Inputs follow TF1's op signatures; the leading ``n_refs`` inputs name variables by
reference (var and slots), the rest are read: the gradient at ``grad_input`` and scalar
hyperparameters, passed to the kernel in the op's input order.
"""
import importlib
import math

from graphflow.framework import dtypes, errors
from graphflow.framework.registry import Lowering, register_native, register_op
from graphflow.session.whole_step import NotNative, flat


def _infer_with_grad_at(grad_input):
    def infer(op):
        var, grad = op.inputs[0], op.inputs[grad_input]
        if grad.dtype is not var.dtype:
            raise TypeError(f"{op.type} needs a gradient of dtype {var.dtype.name}, got "
                            f"{grad.dtype.name}")
        if not var.shape.is_compatible_with(grad.shape):
            raise ValueError(f"var and grad do not have the same shape {var.shape} {grad.shape}")
        return [(var.dtype, var.shape)]
    return infer


def _lowering(device, kernel_name, n_refs, grad_input, attr_names):
    """The update on ``device`` ("cpu" or "cuda", the graphflow.kernels package). On the
    CPU hyperparameters become Python floats; on a GPU they stay device scalars (a fed
    learning rate is copied in with the feeds; Adam's beta powers are device variables)."""
    def factory(site, state):
        store, op = state.variables, site.op
        keys = [site.ref_key(i) for i in range(n_refs)]
        # imports numba (or numba.cuda): only when a plan needs it
        optimizers = importlib.import_module(f"graphflow.kernels.{device}.optimizers")
        kernel = getattr(optimizers, kernel_name)
        attrs = tuple(site.attrs.get(a, False) for a in attr_names)
        n_inputs = len(site.input_shapes)
        grad_arg = grad_input - n_refs
        scalar = float if device == "cpu" else (lambda value: value)

        def apply(*args):
            try:
                arrays = [store[k] for k in keys]
            except KeyError as missing:
                raise errors.FailedPreconditionError(
                    None, op, f"Attempting to use uninitialized value {missing.args[0].name}"
                ) from None
            grad = args[grad_arg]
            if tuple(grad.shape) != tuple(arrays[0].shape):
                raise errors.InvalidArgumentError(
                    None, op, f"var and grad do not have the same shape "
                              f"{tuple(arrays[0].shape)} {tuple(grad.shape)}")
            values = [a if i == grad_arg else scalar(a) for i, a in enumerate(args)]
            kernel(*arrays, *values, *attrs)
            return arrays[0]
        return apply, tuple(range(n_refs, n_inputs))
    return factory


def _float_grad_at(grad_input):
    """The GPU kernels' dtypes: float32 and float64 (float16 updates run on the CPU)."""
    return lambda site: site.input_dtypes[grad_input] in (dtypes.float32, dtypes.float64)


def _native(kernel_name, n_refs, grad_input, attr_names):
    """The update in a whole-step function: the kernel's span over the flat arrays, taking
    (variable and slots, gradient, the other inputs in order, attrs) as the CPU kernel's
    apply_* function passes them."""
    def form(site, w):
        from graphflow.kernels.cpu import optimizers
        span = getattr(optimizers, f"_{kernel_name[len('apply_'):]}_span")
        shape = w.variable_shape(0)
        if w.shape(grad_input) != shape:
            raise NotNative(f"{site.type}: gradient {w.shape(grad_input)} for {shape}")
        others = [i for i in range(n_refs, len(site.inputs)) if i != grad_input]
        if any(w.shape(i) for i in others):
            raise NotNative(f"{site.type} with a hyperparameter that is not a scalar")
        state = [w.ref(i) for i in range(n_refs)]
        args = [name + flat(shape) for name in state] + [w.arg(grad_input) + flat(shape)] + \
            [f"{w.arg(i)}[()]" for i in others] + \
            [repr(bool(site.attrs.get(a, False))) for a in attr_names]
        w.line(f"{w.function(span)}(0, {math.prod(shape)}, {', '.join(args)})")
        w.line(f"{w.out()} = {state[0]}")
    return form


def _register(op_type, kernel_name, n_refs, grad_input, attr_names=(), native=True):
    args = (kernel_name, n_refs, grad_input, attr_names)
    register_op(op_type, _infer_with_grad_at(grad_input),
                cpu=Lowering(_lowering("cpu", *args)),
                gpu=Lowering(_lowering("cuda", *args), supports=_float_grad_at(grad_input)),
                stateful=True, ref_inputs=tuple(range(n_refs)), returns_alias=True)
    if native:
        register_native(op_type, _native(*args))


# (op type, kernel, variables by reference, position of the gradient among the inputs, attrs)
_register("ApplyGradientDescent", "apply_gradient_descent", 1, 2)
_register("ApplyMomentum", "apply_momentum", 2, 3, ("use_nesterov",))
# (the Adagrad kernel's update_slots is not an attr of the op: no native form)
_register("ApplyAdagrad", "apply_adagrad", 2, 3, native=False)
_register("ApplyRMSProp", "apply_rms_prop", 3, 7)
_register("ApplyCenteredRMSProp", "apply_centered_rms_prop", 4, 8)
_register("ApplyAdam", "apply_adam", 3, 9, ("use_nesterov",))
