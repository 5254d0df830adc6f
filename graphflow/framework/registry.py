"""The one op registry. An entry is everything graphflow knows about an op type:

    infer(op)          -> [(DType, TensorShape), ...] for each output, at graph-build time
    kernels[device]    -> how to run it: a plain function of input arrays, or a `Lowering`
                          whose factory(site, state) returns the function specialised for one
                          op (its attrs, constant inputs, the session state it touches)
    grad(op, *dys)     -> one gradient tensor (or None) per input, built as graph ops
    stateful           -> never folded, deduplicated or evaluated at build time
    ref_inputs         -> input indices that name a variable instead of reading it (Assign)
    native(site, w)    -> the op as Numba source in a whole-step function (optional)

Adding an op is one `register_op` call beside its constructor, plus its kernels and tests.
"""
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np


@dataclass(frozen=True)
class Lowering:
    """A kernel factory: ``factory(site, state) -> fn`` or ``-> (fn, input_indices)``.

    ``site`` is the op being lowered (attrs, input/output dtypes and shapes, `const_input(i)`,
    `ref_key(i)`, `op` for errors); ``state`` is the Session's runtime state (variables, RNG).
    Returning input_indices lets a kernel take only the inputs it reads at run time (an axis
    or shape known when the plan is built is baked into ``fn`` instead).
    """

    factory: Callable
    # Device kernels only: inputs the kernel reads in host memory (shape vectors, axes) and
    # outputs it produces there (Shape, Size). The placer copies values across accordingly.
    host_inputs: tuple = ()
    host_outputs: tuple = ()
    # supports(site) -> bool: False where this kernel cannot run the op (a dtype or layout it
    # lacks); the placer then treats the op as having no kernel on that device.
    supports: Optional[Callable] = None
    # The kernel takes ``alloc=``: a callable ``alloc(shape, dtype) -> array`` (a tuple of
    # them, one per output, for several outputs) and writes each output into the array it
    # returns, never returning an input or a view of one. Memory planning hands it reused
    # buffers (graphflow.session.memory).
    allocates: bool = False
    # With ``allocates``: the output may be the very array of a same-shaped input (each
    # output element depends only on the input elements at its own index, read first).
    in_place: bool = False

    def runs(self, site):
        return self.supports is None or self.supports(site)


@dataclass
class OpDef:
    type: str
    infer: Callable
    kernels: dict = field(default_factory=dict)
    grad: Optional[Callable] = None
    stateful: bool = False
    ref_inputs: tuple = ()
    # Elementwise ops carry a scalar expression template for fusion, e.g. "({0} + {1})".
    elementwise: Optional[str] = None
    # static_value(op) -> ndarray or None: a value known from static shapes alone (Shape).
    static_value: Optional[Callable] = None
    # The kernel may return an input, a view of one, or session-owned storage (Identity,
    # Reshape, VariableV2): a fetched value it produced is copied before it reaches the user.
    returns_alias: bool = False
    # native(site, writer): writes the op as Numba source into a whole-step function
    # (graphflow.session.whole_step; most forms are in graphflow.ops.native_kernels).
    native: Optional[Callable] = None

    def lowering(self, device_type):
        kernel = self.kernels.get(device_type)
        if kernel is None:
            return None
        if isinstance(kernel, Lowering):
            return kernel
        if isinstance(kernel, np.ufunc) and kernel.nout == 1 and device_type == "CPU":
            return Lowering(_ufunc_factory(kernel), allocates=True, in_place=True)
        return Lowering(lambda site, state, _fn=kernel: _fn)


def _ufunc_factory(ufunc):
    """A numpy ufunc as a kernel that can write into a given buffer (of the dtype the ufunc
    gives for the op's input dtypes, so planned or not the output is the same)."""
    def factory(site, state):
        operands = tuple(np.dtype(d.as_numpy_dtype) for d in site.input_dtypes)
        dtype = ufunc.resolve_dtypes(operands + (None,))[-1]
        # (kernels get arrays or numpy scalars: both have .shape)
        if ufunc.nin == 1:
            def unary(x, alloc=None):
                if alloc is None:
                    return ufunc(x)
                return ufunc(x, out=alloc(x.shape, dtype))
            return unary

        def binary(x, y, alloc=None):
            if alloc is None:
                return ufunc(x, y)
            shape = x.shape
            if y.shape != shape:
                shape = np.broadcast_shapes(shape, y.shape)
            return ufunc(x, y, out=alloc(shape, dtype))
        return binary
    return factory


_REGISTRY = {}


def register_op(type_name, infer, *, cpu=None, gpu=None, grad=None, stateful=False,
                ref_inputs=(), elementwise=None, static_value=None, returns_alias=False):
    """Registers an op type once. Returns the OpDef so later modules can add kernels."""
    if type_name in _REGISTRY:
        raise KeyError(f"Op type {type_name!r} is already registered")
    kernels = {}
    if cpu is not None:
        kernels["CPU"] = cpu
    if gpu is not None:
        kernels["GPU"] = gpu
    opdef = OpDef(type_name, infer, kernels, grad, stateful, tuple(ref_inputs), elementwise,
                  static_value, returns_alias)
    _REGISTRY[type_name] = opdef
    return opdef


def get(type_name):
    try:
        return _REGISTRY[type_name]
    except KeyError:
        raise KeyError(f"No op type {type_name!r} is registered") from None


def lookup(type_name):
    return _REGISTRY.get(type_name)


def registered_types():
    return sorted(_REGISTRY)


class RegisterGradient:
    """TF1's decorator: ``@tf.RegisterGradient("MyOp")`` sets the entry's gradient."""

    def __init__(self, op_type):
        if not isinstance(op_type, str):
            raise TypeError("op_type must be a string")
        self._op_type = op_type

    def __call__(self, fn):
        get(self._op_type).grad = fn
        return fn


def no_gradient(op, *grads):
    """The gradient of an op that is not differentiable: None for every input."""
    return [None] * len(op.inputs)


class NotDifferentiable:
    """TF1's ``tf.NotDifferentiable("Op")``: gradients stop at this op without an error
    (an op with no gradient at all raises LookupError when differentiated)."""

    def __init__(self, op_type):
        get(op_type).grad = no_gradient


def register_native(type_name, native):
    """Sets the op type's native form for whole-step compilation."""
    opdef = get(type_name)
    if opdef.native is not None:
        raise KeyError(f"Op type {type_name!r} already has a native form")
    opdef.native = native


def register_kernel(type_name, device_type, kernel):
    """Adds ``kernel`` (a function or Lowering) for ``device_type`` to a registered op type;
    device modules (graphflow.ops.gpu_kernels) attach theirs this way."""
    opdef = get(type_name)
    if device_type in opdef.kernels:
        raise KeyError(f"Op type {type_name!r} already has a {device_type} kernel")
    opdef.kernels[device_type] = kernel
