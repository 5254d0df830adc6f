"""tf.Variable and the state ops behind it (VariableV2, Assign, AssignAdd, AssignSub).

A variable's value lives in the Session (``state.variables``, keyed by its VariableV2 op), so
two Sessions on one graph hold independent values. Ops that take a variable by reference
(``ref_inputs``) get the key, not a read of the value: assigning never reads the old value.
"""
import numpy as np

from graphflow.framework import dtypes, errors
from graphflow.framework import ops as ops_lib
from graphflow.framework.ops import GraphKeys
from graphflow.framework.registry import Lowering, register_op
from graphflow.framework.tensor_shape import as_shape
from graphflow.ops import array_ops, op_util


def _uninitialized(var_op, reader):
    return errors.FailedPreconditionError(
        None, reader, f"Attempting to use uninitialized value {var_op.name}")


def _variable_lower(site, state):
    store, var_op = state.variables, site.op

    def read():
        try:
            return store[var_op]
        except KeyError:
            raise _uninitialized(var_op, var_op) from None
    return read


def _assign_infer(op):
    ref, value = op.inputs
    if ref.dtype is not value.dtype:
        raise TypeError(f"Input 'value' of '{op.type}' Op has type {value.dtype.name} that does "
                        f"not match type {ref.dtype.name} of argument 'ref'.")
    if op.attrs.get("validate_shape", True) and not ref.shape.is_compatible_with(value.shape):
        raise ValueError(f"Shapes must be equal rank, but are {ref.shape.ndims} and "
                         f"{value.shape.ndims}" if ref.shape.ndims != value.shape.ndims else
                         f"Dimensions {ref.shape} and {value.shape} are not compatible")
    return [(ref.dtype, ref.shape if op.type != "Assign" or op.attrs.get("validate_shape", True)
             else value.shape)]


class _HostMemory:
    """How the CPU kernels keep variable values: numpy arrays, updated in place."""

    @staticmethod
    def fresh_copy(value):
        return np.array(value, copy=True)

    @staticmethod
    def write(current, value):
        np.copyto(current, value)

    @staticmethod
    def updater(ufunc, template, dtype):
        return lambda current, delta: ufunc(current, delta, out=current)


class _DeviceMemory:
    """How the GPU kernels keep them: numba device arrays, updated in place."""

    @staticmethod
    def fresh_copy(value):
        from numba import cuda
        new = cuda.device_array(value.shape, value.dtype)
        new.copy_to_device(value)
        return new

    @staticmethod
    def write(current, value):
        current.copy_to_device(value)

    @staticmethod
    def updater(ufunc, template, dtype):
        from graphflow.kernels.cpu.fused import Program, Step
        from graphflow.kernels.cuda.elementwise import FusedKernel
        combine = FusedKernel(Program((dtype, dtype), (Step(template, (0, 1), dtype),), (2,)))
        return lambda current, delta: current.copy_to_device(combine(current, delta))


def _assign_lower(memory):
    def factory(site, state):
        store, var_op, op = state.variables, site.ref_key(0), site.op
        declared = var_op.attrs["shape"]
        check = site.attrs.get("validate_shape", True) and declared.ndims is not None

        def assign(value):
            shape = tuple(value.shape)
            if check and not declared.is_compatible_with(shape):
                raise errors.InvalidArgumentError(
                    None, op, f"Assign requires shapes of both tensors to match. lhs shape= "
                              f"{declared} rhs shape= {as_shape(shape)}")
            current = store.get(var_op)
            if current is not None and tuple(current.shape) == shape:
                # In place, as TF1's Assign: reads of the variable alias its buffer, so an op
                # ordered after the assign (tf.control_dependencies) sees the new value.
                memory.write(current, value)
                return current
            # the stored value never aliases a feed or a buffer of the plan
            new = store[var_op] = memory.fresh_copy(value)
            return new
        return assign, (1,)
    return factory


def _update_lower(memory, ufunc, template):
    def factory(site, state):
        store, var_op, op = state.variables, site.ref_key(0), site.op
        update = memory.updater(ufunc, template,
                                np.dtype(site.output_dtypes[0].as_numpy_dtype).name)

        def run(delta):
            try:
                current = store[var_op]
            except KeyError:
                raise _uninitialized(var_op, op) from None
            shape, delta_shape = tuple(current.shape), tuple(delta.shape)
            if np.broadcast_shapes(shape, delta_shape) != shape:
                raise errors.InvalidArgumentError(
                    None, op, f"Cannot update variable with shape {as_shape(shape)} "
                              f"using a Tensor with shape {as_shape(delta_shape)}, shapes must "
                              "be equal.")
            update(current, delta)
            return current
        return run, (1,)
    return factory


def _is_initialized_lower(site, state):
    store, var_op = state.variables, site.ref_key(0)
    return (lambda: np.bool_(var_op in store)), ()


register_op("VariableV2", lambda op: [(op.attrs["dtype"], op.attrs["shape"])],
            cpu=Lowering(_variable_lower), gpu=Lowering(_variable_lower), stateful=True,
            returns_alias=True)
register_op("Assign", _assign_infer, cpu=Lowering(_assign_lower(_HostMemory)),
            gpu=Lowering(_assign_lower(_DeviceMemory)), stateful=True, ref_inputs=(0,),
            returns_alias=True)
for _type, _ufunc, _template in (("AssignAdd", np.add, "({0} + {1})"),
                                 ("AssignSub", np.subtract, "({0} - {1})")):
    register_op(_type, _assign_infer,
                cpu=Lowering(_update_lower(_HostMemory, _ufunc, _template)),
                gpu=Lowering(_update_lower(_DeviceMemory, _ufunc, _template)),
                stateful=True, ref_inputs=(0,), returns_alias=True)
# (the answer is a host bool wherever the variable lives)
register_op("IsVariableInitialized", lambda op: [(dtypes.bool_, as_shape(()))],
            cpu=Lowering(_is_initialized_lower),
            gpu=Lowering(_is_initialized_lower, host_outputs=(0,)), stateful=True,
            ref_inputs=(0,))


def _state_update(op_type, ref, value, name, attrs=None):
    ref_t = ref._ref() if isinstance(ref, Variable) else ref
    with ref_t.graph.as_default():
        (value,) = op_util.convert([value], dtype=ref_t.dtype)
    return op_util.make(op_type, [ref_t, value], attrs, name)


def assign(ref, value, validate_shape=None, use_locking=None, name=None):
    return _state_update("Assign", ref, value, name,
                         {"validate_shape": True if validate_shape is None else validate_shape})


def assign_add(ref, value, use_locking=None, name=None):
    return _state_update("AssignAdd", ref, value, name)


def assign_sub(ref, value, use_locking=None, name=None):
    return _state_update("AssignSub", ref, value, name)


class Variable:
    """tf.Variable (TF1's RefVariable): ops ``<name>`` (VariableV2), ``<name>/Assign`` (the
    initializer) and ``<name>/read`` (the value other ops consume)."""

    def __init__(self, initial_value=None, trainable=True, collections=None,
                 validate_shape=True, caching_device=None, name=None, variable_def=None,
                 dtype=None, expected_shape=None, import_scope=None, constraint=None,
                 use_resource=None, synchronization=None, aggregation=None, shape=None):
        if initial_value is None:
            raise ValueError("initial_value must be specified.")
        if dtype is not None:
            dtype = dtypes.as_dtype(dtype)
        graph = ops_lib.graph_of([initial_value])
        with graph.as_default(), graph.init_scope():
            with graph.name_scope(name or "Variable") as scope:
                if callable(initial_value):
                    with graph.name_scope("Initializer"):
                        init = ops_lib.convert_to_tensor(initial_value(), dtype=dtype)
                else:
                    init = ops_lib.convert_to_tensor(initial_value, dtype=dtype,
                                                     name="initial_value")
                var_shape = as_shape(shape) if shape is not None else (
                    init.shape if validate_shape else as_shape(None))
                self._variable_op = graph.create_op(
                    "VariableV2", [], {"shape": var_shape, "dtype": init.dtype}, scope)
                self._variable = self._variable_op.outputs[0]
                self._initializer_op = graph.create_op(
                    "Assign", [self._variable, init], {"validate_shape": validate_shape},
                    "Assign")
                self._snapshot = array_ops.identity(self._variable, name="read")
        self._initial_value = init
        self._trainable = trainable
        self._constraint = constraint
        if collections is None:
            collections = [GraphKeys.GLOBAL_VARIABLES]
        collections = list(collections)
        if trainable and GraphKeys.TRAINABLE_VARIABLES not in collections:
            collections.append(GraphKeys.TRAINABLE_VARIABLES)
        graph.add_to_collections(collections, self)

    name = property(lambda self: self._variable.name)
    op = property(lambda self: self._variable_op)
    graph = property(lambda self: self._variable_op.graph)
    device = property(lambda self: self._variable_op.device)
    dtype = property(lambda self: self._variable.dtype)
    shape = property(lambda self: self._variable.shape)
    initializer = property(lambda self: self._initializer_op)
    initial_value = property(lambda self: self._initial_value)
    trainable = property(lambda self: self._trainable)
    constraint = property(lambda self: self._constraint)

    def get_shape(self):
        return self.shape

    def set_shape(self, shape):
        self._variable.set_shape(shape)
        self._snapshot.set_shape(shape)

    def value(self):
        return self._snapshot

    def read_value(self):
        with self.graph.name_scope(self._variable_op.name + "/"):
            return array_ops.identity(self._variable, name="read")

    def _ref(self):
        return self._variable

    def _as_graph_tensor(self):
        return self._snapshot

    def assign(self, value, use_locking=False, name=None, read_value=True):
        return assign(self._variable, value, name=name)

    def assign_add(self, delta, use_locking=False, name=None, read_value=True):
        return assign_add(self._variable, delta, name=name)

    def assign_sub(self, delta, use_locking=False, name=None, read_value=True):
        return assign_sub(self._variable, delta, name=name)

    def eval(self, session=None):
        return self._snapshot.eval(session=session)

    def load(self, value, session=None):
        ops_lib._session_for(self.graph, session).run(
            self._initializer_op, {self._initializer_op.inputs[1]: value})

    def __repr__(self):
        return (f"<tf.Variable '{self.name}' shape={self.shape} "
                f"dtype={self.dtype.name}_ref>")

    def __iter__(self):
        raise TypeError("'Variable' object is not iterable.")

    def __bool__(self):
        raise TypeError("Using a `tf.Variable` as a Python `bool` is not allowed.")


def is_variable_initialized(variable):
    return op_util.make("IsVariableInitialized", [variable._ref()])


def global_variables(scope=None):
    return ops_lib.get_default_graph().get_collection(GraphKeys.GLOBAL_VARIABLES, scope)


def trainable_variables(scope=None):
    return ops_lib.get_default_graph().get_collection(GraphKeys.TRAINABLE_VARIABLES, scope)


def local_variables(scope=None):
    return ops_lib.get_default_graph().get_collection(GraphKeys.LOCAL_VARIABLES, scope)


def variables_initializer(var_list, name="init"):
    from graphflow.ops import control_flow_ops
    if var_list:
        return control_flow_ops.group(*[v.initializer for v in var_list], name=name)
    return control_flow_ops.no_op(name=name)


def global_variables_initializer():
    return variables_initializer(global_variables())


def local_variables_initializer():
    return variables_initializer(local_variables(), name="init_1")


initialize_all_variables = global_variables_initializer
all_variables = global_variables


__all__ = ["Variable", "all_variables", "assign", "assign_add", "assign_sub", "global_variables",
           "global_variables_initializer", "initialize_all_variables", "is_variable_initialized",
           "local_variables", "local_variables_initializer", "trainable_variables",
           "variables_initializer"]
