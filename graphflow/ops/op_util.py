"""Glue shared by op constructors: converting operands and adding the op to the right graph."""
from graphflow.framework import dtypes
from graphflow.framework import ops as ops_lib
from graphflow.framework.tensor_shape import TensorShape


def graph_for(values):
    """The graph of the tensor-like values (the default graph if there are none)."""
    return ops_lib.graph_of(values)


def as_tensor(value):
    return value if isinstance(value, ops_lib.Tensor) else value._as_graph_tensor()


def convert(values, dtype=None):
    """Tensors for ``values``, Python values converted inside the graph of the tensor ones."""
    with graph_for(values).as_default():
        return [ops_lib.convert_to_tensor(v, dtype=dtype) for v in values]


def same_dtype_operands(values, op_type, arg_names=("x", "y")):
    """Converts operands that must share one dtype (TF1's type attr T).

    Tensor operands must agree exactly (no silent promotion); Python values take the dtype
    of the first tensor operand, or the first value's own dtype when no operand is a tensor.
    """
    names = list(arg_names) + [f"x{i}" for i in range(len(arg_names), len(values))]
    with graph_for(values).as_default():
        lead = next((i for i, v in enumerate(values) if ops_lib.is_tensor_like(v)), None)
        if lead is None:
            lead, lead_tensor = 0, ops_lib.convert_to_tensor(values[0], name=names[0])
        else:
            lead_tensor = as_tensor(values[lead])
        dtype = lead_tensor.dtype
        out = []
        for i, (name, v) in enumerate(zip(names, values)):
            if i == lead:
                out.append(lead_tensor)
            elif ops_lib.is_tensor_like(v):
                t = as_tensor(v)
                if t.dtype is not dtype:
                    raise TypeError(f"Input '{name}' of '{op_type}' Op has type {t.dtype.name} "
                                    f"that does not match type {dtype.name} of argument "
                                    f"'{names[lead]}'.")
                out.append(t)
            else:
                try:  # named after its argument, in the op's scope: "add/y", as TF1
                    out.append(ops_lib.convert_to_tensor(v, dtype=dtype, name=name))
                except (TypeError, ValueError) as e:
                    raise TypeError(f"Input '{name}' of '{op_type}' Op: {e}") from None
        return out


def make_op(op_type, inputs, attrs=None, name=None):
    """Adds an op of ``op_type`` over tensors ``inputs`` to their graph; returns the op."""
    graph = ops_lib.graph_of(inputs)
    return graph.create_op(op_type, list(inputs), attrs, name)


def make(op_type, inputs, attrs=None, name=None):
    """Like make_op, for single-output ops: returns the output tensor."""
    return make_op(op_type, inputs, attrs, name).outputs[0]


def dims_of_rank(shape, rank):
    """The dims of static ``shape`` as a tuple of ``rank`` ints/Nones (all None if its rank
    is unknown); ValueError in TF's words if it has another rank."""
    if shape.ndims is None:
        return (None,) * rank
    if shape.ndims != rank:
        raise ValueError(f"Shape must be rank {rank} but is rank {shape.ndims}")
    return shape.as_tuple()


def check_dtype(tensor, allowed, op_type, arg="x"):
    if tensor.dtype not in allowed:
        raise TypeError(f"Value passed to parameter '{arg}' of '{op_type}' has DataType "
                        f"{tensor.dtype.name} not in list of allowed values: "
                        f"{', '.join(d.name for d in allowed)}")


FLOATS = (dtypes.float16, dtypes.float32, dtypes.float64)
INTS = (dtypes.int8, dtypes.int16, dtypes.int32, dtypes.int64, dtypes.uint8, dtypes.uint16)
NUMERIC = FLOATS + INTS
ALL = NUMERIC + (dtypes.bool_,)


def unknown():
    return TensorShape(None)
