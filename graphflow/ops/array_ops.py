"""Array ops: identity, shapes, reshaping, joining and splitting, slicing, gathering, filling,
tiling, padding (TF1's array_ops, plus tf.range).

Each op type is one registry entry: a shape function that copes with unknown dims (reading
constant inputs, and what is known of shape vectors, at build time), a CPU kernel and its
gradient (TF1's, as graph ops). The kernels are numpy: these ops only move memory, which numpy
already does at memory speed, so a Numba kernel would add compile time and nothing else. The
one exception is the scatter-add behind gather's gradient, where repeated indices must
accumulate and numpy has no fast way to do that. When an axis, shape, permutation or slice
spec is a constant input it is fixed when the plan is lowered, so a run costs one numpy call.
Kernels that return a view of their input (reshape, transpose, slicing, split, reverse) set
``returns_alias``.

Gradient-only ops live beside the op they differentiate: StridedSliceGrad, GatherGrad (a
dense gradient: graphflow has no IndexedSlices) and MirrorPadGrad; each has its own gradient,
so second derivatives work.

Argument checks shared by a shape function and a kernel raise ValueError with TF's text; the
shape function lets it through (the graph adds the op and input shapes) and the kernel turns
it into InvalidArgumentError naming the op.
"""
import builtins
import contextlib
import math
import numbers
import sys

import numpy as np

from graphflow.framework import dtypes, errors
from graphflow.framework import ops as ops_lib
from graphflow.framework.ops import constant_value
from graphflow.framework.registry import Lowering, no_gradient, register_op
from graphflow.framework.tensor_shape import Dimension, TensorShape
from graphflow.ops import constant_op, math_ops, op_util

newaxis = None

# tf.range and tf.slice below shadow the builtins in this module.
_py_range, _py_slice = builtins.range, builtins.slice

_INDEX_DTYPES = (dtypes.int32, dtypes.int64)
# tf.zeros and tf.ones of fewer elements than this are Const ops; larger ones are Fill ops,
# so that a graph does not carry big constant buffers (TF1's threshold).
_SMALL_CONSTANT = 1000


# --- shared helpers ------------------------------------------------------------------------

def _flatten(values):
    for v in values:
        if isinstance(v, (list, tuple)):
            yield from _flatten(v)
        else:
            yield v


@contextlib.contextmanager
def _scope(name, default, values=()):
    """Enters the graph of ``values`` and TF1's name scope ``name or default``. Yields the op
    name ending in "/", which create_op takes as is (so helper ops sit under the op's name,
    as "Reshape/shape" under "Reshape")."""
    graph = op_util.graph_for(list(_flatten(values)))
    with graph.as_default(), graph.name_scope(name or default) as scope:
        yield scope


def _plain(value):
    """TensorShape and Dimension values as the ints TF1 converts them to."""
    if isinstance(value, TensorShape):
        if not value.is_fully_defined():
            raise ValueError(f"Cannot convert a partially known TensorShape {value} to a Tensor.")
        return value.as_list()
    if isinstance(value, Dimension):
        if value.value is None:
            raise ValueError("Cannot convert an unknown Dimension to a Tensor: ?")
        return value.value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _convert(value, name, dtype=None):
    """TF1's convert_to_tensor, including its auto-packing: a (nested) list that holds
    tensors becomes a Pack op named ``name`` whose Python elements take the tensors' dtype."""
    if isinstance(value, (list, tuple)) and any(ops_lib.is_tensor_like(v) for v in _flatten(value)):
        return _autopack(value, name, dtype)
    return ops_lib.convert_to_tensor(_plain(value), dtype=dtype, name=name)


def _autopack(values, name, dtype):
    if dtype is None:
        dtype = next(op_util.as_tensor(v).dtype for v in _flatten(values)
                     if ops_lib.is_tensor_like(v))
    graph = ops_lib.get_default_graph()
    with graph.name_scope(name) as scope:
        elems = []
        for i, v in enumerate(values):
            if ops_lib.is_tensor_like(v):
                t = op_util.as_tensor(v)
                if t.dtype is not dtype:
                    raise TypeError(f"Cannot convert a list containing a tensor of dtype "
                                    f"{t.dtype.name} to {dtype.name} (Tensor is: {t!r})")
            else:
                t = _convert(v, str(i), dtype)
            elems.append(t)
        return _pack(elems, 0, scope)


ops_lib.register_list_packer(_autopack)


def _index_tensor(value, name, op_type, dtype=None):
    """An int32/int64 tensor for an axis, shape, begin or size argument. An empty Python list
    is int32 (the op's default index type, as TF1 converts it), not float32."""
    if dtype is None and not ops_lib.is_tensor_like(value) and \
            isinstance(value, (list, tuple, np.ndarray)) and np.size(value) == 0:
        dtype = dtypes.int32
    t = _convert(value, name, dtype)
    op_util.check_dtype(t, _INDEX_DTYPES, op_type, name)
    return t


def _index_like(value, name, op_type, lead):
    """An index argument that shares the dtype attr of ``lead``: Python values take its
    dtype, tensors keep theirs (a mismatch is reported by the caller)."""
    return _index_tensor(value, name, op_type,
                         None if ops_lib.is_tensor_like(value) else lead.dtype)


def _value_dtype(value):
    """The dtype a value has or would convert to, without adding an op to the graph."""
    if ops_lib.is_tensor_like(value):
        return op_util.as_tensor(value).dtype
    return dtypes.as_dtype(constant_op.to_array(_plain(value)).dtype)


def _same_dtype_list(values, op_type, arg="values"):
    """Tensors for a list input with one dtype attr: Python values take the dtype of the first
    tensor among them; tensors must all agree (TF1 never promotes)."""
    lead = next((op_util.as_tensor(v).dtype for v in values if ops_lib.is_tensor_like(v)), None)
    tensors = [op_util.as_tensor(v) if ops_lib.is_tensor_like(v) else _convert(v, arg, lead)
               for v in values]
    kinds = [t.dtype for t in tensors]
    if any(k is not kinds[0] for k in kinds):
        raise TypeError(f"Tensors in list passed to '{arg}' of '{op_type}' Op have types "
                        f"[{', '.join(k.name for k in kinds)}] that don't all match.")
    return tensors


def _fmt(dims):
    return "[" + ",".join("?" if d is None else str(d) for d in dims) + "]"


def _invalid(op, message):
    return errors.InvalidArgumentError(None, op, message)


def _int(value):
    """A Python int from a 0-d (or one-element) integer array."""
    return int(np.reshape(value, -1)[0]) if np.size(value) == 1 else int(value)


def _outputs(values):
    """A multi-output kernel's result: the executor takes a lone output unwrapped."""
    return values[0] if len(values) == 1 else tuple(values)


def _rank_of(*shapes):
    for s in shapes:
        if s.ndims is not None:
            return s.ndims
    return None


# --- what is known at build time about small int tensors (shape vectors) ------------------

def _partial_value(tensor):
    """What is known at build time of a rank 0 or 1 int tensor: an object array of ints with
    None where unknown, or None when nothing is. Follows Shape, Pack, ConcatV2, Cast and
    StridedSlice, so ``tf.reshape(x, [tf.shape(x)[0], -1])`` keeps the dims it can."""
    value = constant_value(tensor)
    if value is not None:
        return np.array(value.tolist(), dtype=object) if value.ndim <= 1 else None
    op = tensor.op
    if op.type == "Shape":
        dims = op.inputs[0].shape.as_tuple()
        return None if dims is None else np.array(dims, dtype=object).reshape(len(dims))
    if op.type == "Cast":
        return _partial_value(op.inputs[0])
    if op.type == "Pack" and all(t.shape.ndims == 0 for t in op.inputs):
        parts = [_partial_value(t) for t in op.inputs]
        out = np.empty(len(parts), dtype=object)
        out[:] = [p.item() if p is not None and p.ndim == 0 else None for p in parts]
        return out
    if op.type == "ConcatV2" and _const_int(op.inputs[-1]) in (0, -1):
        parts = []
        for t in op.inputs[:-1]:
            p = _partial_value(t)
            if p is None:
                n = t.shape.as_tuple()
                if n is None or len(n) != 1 or n[0] is None:
                    return None
                p = np.array([None] * n[0], dtype=object)
            parts.append(p.reshape(-1))
        return np.concatenate(parts) if parts else None
    if op.type == "StridedSlice":
        source = _partial_value(op.inputs[0])
        spec = [constant_value(t) for t in op.inputs[1:]]
        if source is None or source.ndim != 1 or any(v is None for v in spec):
            return None
        try:
            out = source[_StridedSliceSpec(1, *spec, op.attrs).numpy_index()]
        except (ValueError, IndexError):
            return None
        return out if out.ndim <= 1 else None
    return None


def shape_tensor_value(tensor):
    """The build-time value of a 1-D shape tensor as a list of ints and Nones (unknown
    entries), or None when even its length is unknown. -1 entries stay -1."""
    value = _partial_value(tensor)
    if value is not None and value.ndim == 1:
        return [None if v is None else int(v) for v in value]
    dims = tensor.shape.as_tuple()
    if dims is not None and len(dims) == 1 and dims[0] is not None:
        return [None] * dims[0]
    return None


def _const_int(tensor):
    value = constant_value(tensor)
    return None if value is None or np.size(value) != 1 else _int(value)


def _shape_from_vector(values):
    """A TensorShape from a shape vector's build-time value (negative entries unknown)."""
    if values is None:
        return TensorShape(None)
    return TensorShape([None if v is None or v < 0 else v for v in values])


# --- gradient helpers ---------------------------------------------------------------------
# Gradient functions run inside tf.gradients' "gradients/<op>_grad" scope and return one
# tensor (or None) per input of ``op``. They prefer build-time constants: a fully known
# input shape becomes a Const rather than a Shape op, so the gradient plan does the least
# work; partly known shapes fall back to Shape ops read at run time.

def _shape_of(tensor, dtype=dtypes.int32):
    """``tensor``'s shape as a Const when fully known, else a Shape op."""
    if tensor.shape.is_fully_defined():
        return constant_op.constant(tensor.shape.as_list(), dtype=dtype, name="Shape")
    return shape(tensor, out_type=dtype)


def _reshape_grad(op, dy):
    """Reshape, ExpandDims, Squeeze: dy back to the input's shape."""
    return [reshape(dy, _shape_of(op.inputs[0]))] + [None] * (len(op.inputs) - 1)


# --- Identity, StopGradient ---------------------------------------------------------------

def identity(input, name=None):
    (x,) = op_util.convert([input])
    return op_util.make("Identity", [x], name=name)


# numpy: returning the same array is already optimal; the executor copies fetched values
# that alias variables, feeds or constants, so no caller can mutate shared storage.
register_op("Identity", lambda op: [(op.inputs[0].dtype, op.inputs[0].shape)],
            cpu=lambda x: x, grad=lambda op, dy: [dy], returns_alias=True)


def stop_gradient(input, name=None):
    """tf.stop_gradient: ``input`` unchanged; tf.gradients treats it as a constant."""
    (x,) = op_util.convert([input])
    return op_util.make("StopGradient", [x], name=name)


register_op("StopGradient", lambda op: [(op.inputs[0].dtype, op.inputs[0].shape)],
            cpu=lambda x: x, grad=no_gradient, returns_alias=True)


# --- Shape, Size, Rank, ShapeN ------------------------------------------------------------

def shape(input, name=None, out_type=dtypes.int32):
    """tf.shape: a Shape op; its value is known at build time when the shape is."""
    with _scope(name, "Shape", [input]) as scope:
        x = _convert(input, "input")
        return op_util.make("Shape", [x], {"out_type": dtypes.as_dtype(out_type)}, scope)


def size(input, name=None, out_type=dtypes.int32):
    with _scope(name, "Size", [input]) as scope:
        x = _convert(input, "input")
        return op_util.make("Size", [x], {"out_type": dtypes.as_dtype(out_type)}, scope)


def rank(input, name=None):
    with _scope(name, "Rank", [input]) as scope:
        x = _convert(input, "input")
        return op_util.make("Rank", [x], {}, scope)


def shape_n(input, out_type=dtypes.int32, name=None):
    """tf.shape_n: one int vector per input tensor, from a single ShapeN op."""
    with _scope(name, "ShapeN", input) as scope:
        xs = [_convert(v, "input") for v in input]
        return op_util.make_op("ShapeN", xs, {"out_type": dtypes.as_dtype(out_type),
                                              "N": len(xs)}, scope).outputs


def _shape_static(op):
    s = op.inputs[0].shape
    if not s.is_fully_defined():
        return None
    return np.array(s.as_list(), dtype=op.attrs["out_type"].as_numpy_dtype)


def _size_static(op):
    n = op.inputs[0].shape.num_elements()
    return None if n is None else np.array(n, dtype=op.attrs["out_type"].as_numpy_dtype)


def _rank_static(op):
    r = op.inputs[0].shape.ndims
    return None if r is None else np.array(r, dtype=np.int32)


def _shape_lower(site, state):
    np_dtype = site.attrs["out_type"].as_numpy_dtype
    return lambda x: np.array(np.shape(x), dtype=np_dtype)


def _size_lower(site, state):
    np_dtype = site.attrs["out_type"].as_numpy_dtype
    return lambda x: np.array(np.size(x), dtype=np_dtype)


def _shape_n_lower(site, state):
    np_dtype = site.attrs["out_type"].as_numpy_dtype
    return lambda *xs: _outputs([np.array(np.shape(x), dtype=np_dtype) for x in xs])


# Shape, Size, Rank and ShapeN depend on no input value: no gradient flows through them.
register_op("Shape", lambda op: [(op.attrs["out_type"], TensorShape([op.inputs[0].shape.ndims]))],
            cpu=Lowering(_shape_lower), grad=no_gradient, static_value=_shape_static)
register_op("Size", lambda op: [(op.attrs["out_type"], TensorShape([]))],
            cpu=Lowering(_size_lower), grad=no_gradient, static_value=_size_static)
register_op("Rank", lambda op: [(dtypes.int32, TensorShape([]))],
            cpu=lambda x: np.array(np.ndim(x), dtype=np.int32), grad=no_gradient,
            static_value=_rank_static)
register_op("ShapeN", lambda op: [(op.attrs["out_type"], TensorShape([t.shape.ndims]))
                                  for t in op.inputs],
            cpu=Lowering(_shape_n_lower), grad=no_gradient)


# --- Reshape, ExpandDims, Squeeze, Transpose ----------------------------------------------

def reshape(tensor, shape, name=None):
    """tf.reshape: ``shape`` is a list (may hold tensors and one -1), a TensorShape or an
    int32/int64 tensor."""
    with _scope(name, "Reshape", [tensor, shape]) as scope:
        x = _convert(tensor, "tensor")
        s = _index_tensor(shape, "shape", "Reshape")
        return op_util.make("Reshape", [x, s], {}, scope)


def _reshape_target(size, target):
    """Resolves a requested shape for ``size`` elements (target: list of ints, one may be -1);
    raises ValueError with TF's text when it cannot hold them."""
    infer = [i for i, d in enumerate(target) if d == -1]
    if len(infer) > 1:
        raise ValueError(f"Only one input size may be -1, not both {infer[0]} and {infer[1]}")
    for i, d in enumerate(target):
        if d < -1:
            raise ValueError(f"Size {i} must be non-negative, not {d}")
    known = int(np.prod([d for d in target if d != -1], dtype=np.int64))
    if not infer:
        if known != size:
            raise ValueError(f"Input to reshape is a tensor with {size} values, but the "
                             f"requested shape has {known}")
        return tuple(target)
    if known == 0:
        raise ValueError("Reshape cannot infer the missing input size for an empty tensor "
                         "unless all specified input sizes are non-zero")
    if size % known:
        raise ValueError(f"Input to reshape is a tensor with {size} values, but the requested "
                         f"shape requires a multiple of {known}")
    out = list(target)
    out[infer[0]] = size // known
    return tuple(out)


def _reshape_infer(op):
    x, s = op.inputs
    if s.shape.ndims not in (None, 1):
        raise ValueError(f"Shape must be rank 1 but is rank {s.shape.ndims}")
    target = shape_tensor_value(s)
    if target is None:
        return [(x.dtype, TensorShape(None))]
    infer = [i for i, d in enumerate(target) if d == -1]
    if len(infer) > 1:
        raise ValueError(f"Only one input size may be -1, not both {infer[0]} and {infer[1]}")
    n = x.shape.num_elements()
    known = int(np.prod([d for d in target if d not in (-1, None)], dtype=np.int64))
    if n is None or None in target or (infer and known == 0):
        return [(x.dtype, TensorShape([None if d == -1 else d for d in target]))]
    try:
        return [(x.dtype, TensorShape(_reshape_target(n, target)))]
    except ValueError:
        if infer:
            raise ValueError(f"Dimension size must be evenly divisible by {known} but is "
                             f"{n}") from None
        raise ValueError(f"Cannot reshape a tensor with {n} elements to shape "
                         f"{_fmt(target)} ({known} elements)") from None


def _reshape_lower(site, state):
    op = site.op

    def reshape_to(x, target):
        try:
            return x.reshape(target)
        except ValueError:
            try:
                _reshape_target(np.size(x), list(target))
            except ValueError as e:
                raise _invalid(op, str(e)) from None
            raise

    shape = site.const_input(1)
    if shape is None:
        return lambda x, s: reshape_to(x, tuple(s.tolist()))
    target = tuple(shape.tolist())
    return (lambda x: reshape_to(x, target)), (0,)


register_op("Reshape", _reshape_infer, cpu=Lowering(_reshape_lower), grad=_reshape_grad,
            returns_alias=True)


def expand_dims(input, axis=None, name=None, dim=None):
    """tf.expand_dims: inserts a dim of size 1 at ``axis`` (``dim`` is TF1's old name)."""
    if dim is not None:
        if axis is not None:
            raise ValueError("Cannot specify both 'axis' and 'dim'")
        axis = dim
    if axis is None:
        raise ValueError("Must specify an axis argument to tf.expand_dims()")
    with _scope(name, "ExpandDims", [input, axis]) as scope:
        x = _convert(input, "input")
        a = _index_tensor(axis, "dim", "ExpandDims")
        return op_util.make("ExpandDims", [x, a], {}, scope)


def _expand_axis(axis, rank):
    if not -rank - 1 <= axis <= rank:
        raise ValueError(f"Tried to expand dim index {axis} for tensor with {rank} dimensions.")
    return axis + rank + 1 if axis < 0 else axis


def _expand_dims_infer(op):
    x, a = op.inputs
    dims, axis = x.shape.as_tuple(), _const_int(a)
    if dims is None:
        return [(x.dtype, TensorShape(None))]
    if axis is None:
        return [(x.dtype, TensorShape([None] * (len(dims) + 1)))]
    if not -len(dims) - 1 <= axis <= len(dims):
        raise ValueError(f"dim {axis} not in the interval [{-len(dims) - 1}, {len(dims)}].")
    axis = _expand_axis(axis, len(dims))
    return [(x.dtype, TensorShape(dims[:axis] + (1,) + dims[axis:]))]


def _expand_dims_lower(site, state):
    op = site.op

    def expand(x, axis):
        try:
            axis = _expand_axis(axis, np.ndim(x))
        except ValueError as e:
            raise _invalid(op, str(e)) from None
        return np.expand_dims(x, axis)

    axis, ndim = site.const_input(1), site.input_shapes[0].ndims
    if axis is None:
        return lambda x, a: expand(x, _int(a))
    axis = _int(axis)
    if ndim is None:
        return (lambda x: expand(x, axis)), (0,)
    index = (_py_slice(None),) * _expand_axis(axis, ndim) + (None, Ellipsis)
    return (lambda x: x[index]), (0,)


register_op("ExpandDims", _expand_dims_infer, cpu=Lowering(_expand_dims_lower),
            grad=_reshape_grad, returns_alias=True)


def squeeze(input, axis=None, name=None, squeeze_dims=None):
    """tf.squeeze: removes dims of size 1 (only those in ``axis`` when given)."""
    if squeeze_dims is not None:
        if axis is not None:
            raise ValueError("Cannot specify both 'axis' and 'squeeze_dims'")
        axis = squeeze_dims
    if axis is None:
        axis = []
    elif np.isscalar(axis):
        axis = [axis]
    with _scope(name, "Squeeze", [input]) as scope:
        x = _convert(input, "input")
        return op_util.make("Squeeze", [x], {"squeeze_dims": [int(a) for a in axis]}, scope)


def _squeeze_axes(dims, axes):
    """The (sorted, non-negative) dims to drop; ``dims`` may hold None for unknown sizes."""
    rank = len(dims)
    out = set()
    for a in axes:
        if not -rank <= a < rank:
            raise ValueError(f"Tried to squeeze dim index {a} for tensor with {rank} dimensions.")
        a = a + rank if a < 0 else a
        if dims[a] is not None and dims[a] != 1:
            raise ValueError(f"Can not squeeze dim[{a}], expected a dimension of 1, got "
                             f"{dims[a]}")
        out.add(a)
    if not axes:
        out = {i for i, d in enumerate(dims) if d == 1}
    return tuple(sorted(out))


def _squeeze_infer(op):
    x = op.inputs[0]
    dims, axes = x.shape.as_tuple(), op.attrs["squeeze_dims"]
    if dims is None or (not axes and None in dims):
        return [(x.dtype, TensorShape(None))]
    drop = _squeeze_axes(dims, axes)
    return [(x.dtype, TensorShape([d for i, d in enumerate(dims) if i not in drop]))]


def _squeeze_lower(site, state):
    op, axes, ndim = site.op, site.attrs["squeeze_dims"], site.input_shapes[0].ndims
    if not axes:
        return np.squeeze

    def squeeze_axes(x):
        try:
            return np.squeeze(x, _squeeze_axes(np.shape(x), axes))
        except ValueError as e:
            raise _invalid(op, str(e)) from None

    if ndim is None:
        return squeeze_axes
    drop = _squeeze_axes((None,) * ndim, axes)

    def squeeze_fixed(x):
        try:
            return np.squeeze(x, drop)
        except ValueError:  # a dim in axes is not 1: find which, for the message
            return squeeze_axes(x)
    return squeeze_fixed


register_op("Squeeze", _squeeze_infer, cpu=Lowering(_squeeze_lower), grad=_reshape_grad,
            returns_alias=True)


def transpose(a, perm=None, name="transpose", conjugate=False):
    """tf.transpose: ``perm`` defaults to reversing the dims. ``conjugate`` changes nothing
    for the real dtypes graphflow supports."""
    with _scope(name, "transpose", [a]) as scope:
        x = _convert(a, "a")
        if perm is None:
            if x.shape.ndims is not None:
                perm = np.arange(x.shape.ndims - 1, -1, -1, dtype=np.int32)
            else:
                r = rank(x)
                perm = (r - 1) - range(0, r, 1)
        p = _index_tensor(perm, "perm", "Transpose")
        return op_util.make("Transpose", [x, p], {}, scope)


def _check_perm(perm, rank):
    if len(perm) != rank:
        raise ValueError(f"transpose expects a vector of size {rank}. But input(1) is a vector "
                         f"of size {len(perm)}")
    for p in perm:
        if not 0 <= p < rank:
            raise ValueError(f"perm dim {p} is out of range of input rank {rank}")
    for i in _py_range(rank):
        if i not in perm:
            raise ValueError(f"{i} is missing from {{{','.join(str(p) for p in perm)}}}.")


def _transpose_infer(op):
    x, p = op.inputs
    perm = constant_value(p)
    n = p.shape.as_tuple()
    if perm is None:
        rank = x.shape.ndims if x.shape.ndims is not None else (
            n[0] if n is not None and len(n) == 1 else None)
        return [(x.dtype, TensorShape(None if rank is None else [None] * rank))]
    perm = [int(v) for v in perm.reshape(-1)]
    dims = x.shape.as_tuple()
    if dims is None:
        dims = (None,) * len(perm)
    _check_perm(perm, len(dims))
    return [(x.dtype, TensorShape([dims[i] for i in perm]))]


def _transpose_lower(site, state):
    op = site.op

    def transpose_by(x, perm):
        try:
            _check_perm(perm, np.ndim(x))
        except ValueError as e:
            raise _invalid(op, str(e)) from None
        return np.transpose(x, perm)

    def as_perm(p):
        if np.ndim(p) != 1:
            raise _invalid(op, f"perm must be a vector, got shape {list(np.shape(p))}")
        return tuple(p.tolist())

    perm = site.const_input(1)
    if perm is None:
        return lambda x, p: transpose_by(x, as_perm(p))
    if np.ndim(perm) != 1 or site.input_shapes[0].ndims is None:
        return (lambda x: transpose_by(x, as_perm(perm))), (0,)
    perm = tuple(perm.tolist())
    return (lambda x: np.transpose(x, perm)), (0,)


def _transpose_grad(op, dy):
    """dy transposed by the inverse permutation (a constant when ``perm`` is one)."""
    p = op.inputs[1]
    perm = constant_value(p)
    if perm is not None:
        inverse = np.argsort(perm.reshape(-1)).astype(p.dtype.as_numpy_dtype)
    else:
        inverse = invert_permutation(p)
    return [transpose(dy, inverse), None]


register_op("Transpose", _transpose_infer, cpu=Lowering(_transpose_lower), grad=_transpose_grad,
            returns_alias=True)


def invert_permutation(x, name=None):
    """tf.invert_permutation: ``y[x[i]] = i`` for a permutation ``x`` of 0..n-1."""
    with _scope(name, "InvertPermutation", [x]) as scope:
        p = _index_tensor(x, "x", "InvertPermutation")
        return op_util.make("InvertPermutation", [p], {}, scope)


def _invert_permutation_infer(op):
    p = op.inputs[0]
    if p.shape.ndims not in (None, 1):
        raise ValueError(f"Shape must be rank 1 but is rank {p.shape.ndims}")
    return [(p.dtype, TensorShape([None]) if p.shape.ndims is None else p.shape)]


def _invert_permutation_lower(site, state):
    op = site.op

    def invert(perm):
        if np.ndim(perm) != 1:
            raise _invalid(op, "invert_permutation expects a 1D vector.")
        n = perm.size
        outside = (perm < 0) | (perm >= n)
        if outside.any():
            raise _invalid(op, f"{perm[outside][0]} is not between 0 and {n}")
        out = np.full(n, -1, dtype=perm.dtype)
        out[perm] = np.arange(n, dtype=perm.dtype)
        if (out < 0).any():  # a value is missing, so another one repeats: name the first
            seen = set()
            for p in perm.tolist():
                if p in seen:
                    raise _invalid(op, f"{p} is duplicated in the input.")
                seen.add(p)
        return out
    return invert


register_op("InvertPermutation", _invert_permutation_infer,
            cpu=Lowering(_invert_permutation_lower), grad=no_gradient)


# --- ConcatV2, Pack, Unpack ---------------------------------------------------------------

def concat(values, axis, name="concat"):
    """tf.concat(values, axis): joins along an existing axis. One value is an Identity."""
    if not isinstance(values, (list, tuple)):
        values = [values]
    with _scope(name, "concat", [values, axis]) as scope:
        if len(values) == 1:
            a = _index_tensor(axis, "concat_dim", "ConcatV2", dtypes.int32)
            if a.shape.ndims not in (None, 0):
                raise ValueError(f"Shape {a.shape} must have rank 0")
            return identity(values[0], name=name)
        xs = _same_dtype_list(values, "ConcatV2")
        a = _index_tensor(axis, "axis", "ConcatV2")
        return op_util.make("ConcatV2", xs + [a], {"N": len(xs)}, scope)


def _concat_infer(op):
    *xs, a = op.inputs
    dtype, rank = xs[0].dtype, _rank_of(*(t.shape for t in xs))
    if rank is None:
        return [(dtype, TensorShape(None))]
    for t in xs:
        if t.shape.ndims is not None and t.shape.ndims != rank:
            raise ValueError(f"Shape must be rank {rank} but is rank {t.shape.ndims}")
    if rank == 0:
        raise ValueError("Can't concatenate scalars (use tf.stack instead)")
    axis = _const_int(a)
    if axis is None:
        return [(dtype, TensorShape([None] * rank))]
    if not -rank <= axis < rank:
        raise ValueError(f"ConcatOp : Expected concatenating dimensions in the range "
                         f"[{-rank}, {rank}), but got {axis}")
    axis %= rank
    out, first, total = [None] * rank, None, 0
    for t in xs:
        dims = t.shape.as_tuple()
        if dims is None:
            total = None
            continue
        for d in _py_range(rank):
            if d == axis or dims[d] is None:
                continue
            if out[d] is not None and out[d] != dims[d]:
                raise ValueError(f"Dimension {d} in both shapes must be equal, but are "
                                 f"{out[d]} and {dims[d]}. Shapes are {_fmt(first)} and "
                                 f"{_fmt(dims)}.")
            out[d] = dims[d]
        first = first or dims
        total = None if total is None or dims[axis] is None else total + dims[axis]
    out[axis] = total
    return [(dtype, TensorShape(out))]


def _concat_error(xs, axis):
    shapes = [np.shape(x) for x in xs]
    for i, s in enumerate(shapes[1:], 1):
        if len(s) != len(shapes[0]):
            return (f"ConcatOp : Ranks of all input tensors should match: shape[0] = "
                    f"{_fmt(shapes[0])} vs. shape[{i}] = {_fmt(s)}")
        for d in _py_range(len(s)):
            if d != axis % len(s) and s[d] != shapes[0][d]:
                return (f"ConcatOp : Dimension {d} in both shapes must be equal: shape[0] = "
                        f"{_fmt(shapes[0])} vs. shape[{i}] = {_fmt(s)}")
    rank = len(shapes[0])
    return (f"ConcatOp : Expected concatenating dimensions in the range [{-rank}, {rank}), "
            f"but got {axis}")


def _concat_lower(site, state):
    op, n = site.op, len(site.input_dtypes) - 1

    def join(xs, axis):
        try:
            return np.concatenate(xs, axis)
        except ValueError:
            raise _invalid(op, _concat_error(xs, axis)) from None

    axis = site.const_input(n)
    if axis is None:
        return lambda *args: join(args[:-1], _int(args[-1]))
    axis = _int(axis)
    return (lambda *xs: join(xs, axis)), tuple(_py_range(n))


def _concat_grad(op, dy):
    """dy split back into the inputs' sizes along the axis: one SplitV whose sizes are
    constants where the inputs' static shapes know them (one unknown size is SplitV's -1)."""
    *xs, a = op.inputs
    axis = _const_int(a)
    sizes = []
    for x in xs:
        dims = x.shape.as_tuple()
        known = axis is not None and dims is not None and -len(dims) <= axis < len(dims)
        sizes.append(dims[axis] if known else None)
    if sizes.count(None) == 1:
        sizes[sizes.index(None)] = -1
    split_dim = a if axis is None else axis
    if None in sizes:
        sizes = [slice_helper(shape(x), split_dim) if n is None else n
                 for x, n in zip(xs, sizes)]
    if axis is None and a.dtype is not dtypes.int32:
        split_dim = math_ops.cast(a, dtypes.int32)  # SplitV's split_dim is int32
    return list(split(dy, sizes, split_dim)) + [None]


register_op("ConcatV2", _concat_infer, cpu=Lowering(_concat_lower), grad=_concat_grad)


def stack(values, axis=0, name="stack"):
    """tf.stack: joins same-shaped tensors along a new axis. A list of Python values at axis 0
    is a Const, as in TF1."""
    if axis == 0 and not any(ops_lib.is_tensor_like(v) for v in _flatten(values)):
        with _scope(name, "stack", []) as scope:
            return ops_lib.convert_to_tensor(_plain(values), name=scope)
    with _scope(name, "stack", values) as scope:
        xs = _same_dtype_list(list(values), "Pack")
        rank = xs[0].shape.ndims
        if rank is not None and not -rank - 1 <= axis < rank + 1:
            raise ValueError(f"axis = {axis} not in [{-rank - 1}, {rank + 1})")
        return _pack(xs, axis, scope)


def _pack(tensors, axis, name):
    return op_util.make("Pack", tensors, {"axis": axis, "N": len(tensors)}, name)


def _pack_infer(op):
    xs, axis = op.inputs, op.attrs["axis"]
    merged = TensorShape(None)
    for i, t in enumerate(xs):
        if not merged.is_compatible_with(t.shape):
            raise ValueError(f"Shapes of all inputs must match: values[0].shape = "
                             f"{_fmt(xs[0].shape.as_tuple() or ())} != values[{i}].shape = "
                             f"{_fmt(t.shape.as_tuple() or ())}")
        merged = merged.merge_with(t.shape)
    if merged.ndims is None:
        return [(xs[0].dtype, TensorShape(None))]
    dims = list(merged.as_tuple())
    if not -len(dims) - 1 <= axis <= len(dims):
        raise ValueError(f"axis = {axis} not in [{-len(dims) - 1}, {len(dims) + 1})")
    axis = axis + len(dims) + 1 if axis < 0 else axis
    return [(xs[0].dtype, TensorShape(dims[:axis] + [len(xs)] + dims[axis:]))]


def _pack_lower(site, state):
    op, axis = site.op, site.attrs["axis"]

    def pack(*xs):
        try:
            return np.stack(xs, axis)
        except ValueError:
            bad = next(i for i, x in enumerate(xs) if np.shape(x) != np.shape(xs[0]))
            raise _invalid(op, f"Shapes of all inputs must match: values[0].shape = "
                               f"{_fmt(np.shape(xs[0]))} != values[{bad}].shape = "
                               f"{_fmt(np.shape(xs[bad]))}") from None
    return pack


register_op("Pack", _pack_infer, cpu=Lowering(_pack_lower),
            grad=lambda op, dy: unstack(dy, num=op.attrs["N"], axis=op.attrs["axis"]))


def unstack(value, num=None, axis=0, name="unstack"):
    """tf.unstack: the ``num`` slices of ``value`` along ``axis`` (num inferred if known)."""
    with _scope(name, "unstack", [value]) as scope:
        x = _convert(value, "value")
        dims = x.shape.as_tuple()
        if dims is not None:
            if not -len(dims) <= axis < len(dims):
                raise ValueError(f"axis = {axis} not in [{-len(dims)}, {len(dims)})")
            if num is None:
                num = dims[axis]
        if num is None:
            raise ValueError(f"Cannot infer num from shape {x.shape}")
        return op_util.make_op("Unpack", [x], {"num": num, "axis": axis}, scope).outputs


def _unpack_infer(op):
    x, num, axis = op.inputs[0], op.attrs["num"], op.attrs["axis"]
    dims = x.shape.as_tuple()
    if dims is None:
        return [(x.dtype, TensorShape(None))] * num
    axis %= len(dims)
    if dims[axis] is not None and dims[axis] != num:
        raise ValueError(f"Dimension must be {num} but is {dims[axis]}")
    return [(x.dtype, TensorShape(dims[:axis] + dims[axis + 1:]))] * num


def _unpack_lower(site, state):
    op, num, axis = site.op, site.attrs["num"], site.attrs["axis"]

    def unpack(x):
        a = axis % np.ndim(x)
        if np.shape(x)[a] != num:
            raise _invalid(op, f"Input shape axis {a} must equal {num}, got shape "
                               f"{_fmt(np.shape(x))}")
        lead = (_py_slice(None),) * a
        # The trailing Ellipsis keeps 0-d results arrays (views), never numpy scalars.
        return _outputs([x[lead + (i, Ellipsis)] for i in _py_range(num)])
    return unpack


register_op("Unpack", _unpack_infer, cpu=Lowering(_unpack_lower),
            grad=lambda op, *dys: [stack(list(dys), axis=op.attrs["axis"])], returns_alias=True)


# --- Split, SplitV ------------------------------------------------------------------------

def split(value, num_or_size_splits, axis=0, num=None, name="split"):
    """tf.split: an int splits into that many equal parts (Split); a list of sizes, one of
    which may be -1, splits into parts of those sizes (SplitV)."""
    with _scope(name, "split", [value, num_or_size_splits, axis]) as scope:
        x = _convert(value, "value")
        if isinstance(num_or_size_splits, (numbers.Integral, Dimension)) and \
                not isinstance(num_or_size_splits, bool):
            a = _index_tensor(axis, "split_dim", "Split", dtypes.int32)
            return op_util.make_op("Split", [a, x], {"num_split": int(num_or_size_splits)},
                                   scope).outputs
        sizes = _index_tensor(num_or_size_splits, "size_splits", "SplitV")
        if sizes.shape.ndims == 0:
            raise ValueError(f"Rank-0 tensors are not supported as the num_or_size_splits "
                             f"argument to split. Argument provided: {num_or_size_splits}")
        if num is None:
            dims = sizes.shape.as_tuple()
            num = dims[0] if dims else None
            if num is None:
                raise ValueError(f"Cannot infer num from shape {num_or_size_splits}")
        a = _index_tensor(axis, "split_dim", "SplitV", dtypes.int32)
        return op_util.make_op("SplitV", [x, sizes, a], {"num_split": int(num)}, scope).outputs


def _split_axis(axis, rank):
    if not -rank <= axis < rank:
        raise ValueError(f"-{rank} <= split_dim < {rank} is required, but got {axis}")
    return axis % rank


def _split_infer(op):
    a, x = op.inputs
    n, dims, axis = op.attrs["num_split"], x.shape.as_tuple(), _const_int(a)
    if n < 1:
        raise ValueError(f"num_split must be >= 1, got {n}")
    if dims is None:
        return [(x.dtype, TensorShape(None))] * n
    if axis is None:
        return [(x.dtype, TensorShape([None] * len(dims)))] * n
    axis = _split_axis(axis, len(dims))
    out = list(dims)
    if dims[axis] is not None:
        if dims[axis] % n:
            raise ValueError(f"Dimension size must be evenly divisible by {n} but is "
                             f"{dims[axis]}")
        out[axis] = dims[axis] // n
    return [(x.dtype, TensorShape(out))] * n


def _split_lower(site, state):
    op, n = site.op, site.attrs["num_split"]

    def split_even(x, axis):
        try:
            axis = _split_axis(axis, np.ndim(x))
        except ValueError as e:
            raise _invalid(op, str(e)) from None
        size = np.shape(x)[axis]
        if size % n:
            raise _invalid(op, f"Number of ways to split should evenly divide the split "
                               f"dimension, but got split_dim {axis} (size = {size}) and "
                               f"num_split {n}")
        return _outputs(np.split(x, n, axis))

    axis = site.const_input(0)
    if axis is None:
        return lambda a, x: split_even(x, _int(a))
    axis = _int(axis)
    return (lambda x: split_even(x, axis)), (1,)


# Split and SplitV: the outputs' gradients joined again (tf.gradients gives zeros for
# outputs that received none).
register_op("Split", _split_infer, cpu=Lowering(_split_lower),
            grad=lambda op, *dys: [None, concat(list(dys), op.inputs[0])], returns_alias=True)


def _split_sizes(sizes, dim):
    """The part sizes for a dim of ``dim`` elements (None if unknown): resolves the one -1;
    raises ValueError with TF's text."""
    free = [i for i, s in enumerate(sizes) if s == -1]
    if len(free) > 1:
        raise ValueError("size_splits can only have one -1")
    if dim is None or None in sizes:
        return [None if s == -1 else s for s in sizes]
    out = list(sizes)
    if free:
        out[free[0]] = dim - sum(s for s in sizes if s != -1)
    for i, s in enumerate(out):
        if s < 0:
            raise ValueError(f"Split size at index {i} must be >= 0. Got: {s}")
    if sum(out) != dim:
        raise ValueError(f"Determined shape must either match input shape along split_dim "
                         f"exactly if fully specified, or be less than the size of the input "
                         f"along split_dim if not fully specified.  Got: {sum(out)}")
    return out


def _split_v_infer(op):
    x, s, a = op.inputs
    n, dims, axis = op.attrs["num_split"], x.shape.as_tuple(), _const_int(a)
    sizes = shape_tensor_value(s)
    if sizes is not None and len(sizes) != n:
        raise ValueError(f"Dimension 0 in both shapes must be equal, but are {len(sizes)} "
                         f"and {n}")
    if dims is None:
        return [(x.dtype, TensorShape(None))] * n
    if axis is None or sizes is None:
        return [(x.dtype, TensorShape([None] * len(dims)))] * n
    axis = _split_axis(axis, len(dims))
    parts = _split_sizes(sizes, dims[axis])
    return [(x.dtype, TensorShape(dims[:axis] + (p,) + dims[axis + 1:])) for p in parts]


def _split_v_lower(site, state):
    op = site.op

    def split_sizes(x, sizes, axis):
        try:
            axis = _split_axis(axis, np.ndim(x))
            parts = _split_sizes(sizes, np.shape(x)[axis])
        except ValueError as e:
            raise _invalid(op, str(e)) from None
        return _outputs(np.split(x, np.cumsum(parts[:-1]), axis))

    sizes, axis = site.const_input(1), site.const_input(2)
    if sizes is None or axis is None:
        return lambda x, s, a: split_sizes(x, s.tolist(), _int(a))
    sizes, axis = sizes.tolist(), _int(axis)
    return (lambda x: split_sizes(x, sizes, axis)), (0,)


register_op("SplitV", _split_v_infer, cpu=Lowering(_split_v_lower),
            grad=lambda op, *dys: [concat(list(dys), op.inputs[2]), None, None],
            returns_alias=True)


# --- Slice --------------------------------------------------------------------------------

def slice(input_, begin, size, name=None):  # noqa: A001  (TF1's name)
    """tf.slice: ``size[i]`` elements from ``begin[i]`` in each dim (-1: all the rest)."""
    with _scope(name, "Slice", [input_, begin, size]) as scope:
        x = _convert(input_, "input")
        b = _index_tensor(begin, "begin", "Slice")
        b, s = op_util.same_dtype_operands([b, _index_like(size, "size", "Slice", b)], "Slice",
                                           ("begin", "size"))
        return op_util.make("Slice", [x, b, s], {}, scope)


def _slice_index(shape, begin, size):
    """The numpy index for Slice over ``shape``; raises ValueError with TF's text."""
    if not len(begin) == len(size) == len(shape):
        raise ValueError(f"Expected begin and size arguments to be 1-D tensors of size "
                         f"{len(shape)}, but got shapes [{len(begin)}] and [{len(size)}] "
                         f"instead.")
    index = []
    for i, (b, s, d) in enumerate(zip(begin, size, shape)):
        if s == -1:
            s = d - b
        if not 0 <= b <= d:
            raise ValueError(f"Expected begin[{i}] in [0, {d}], but got {b}")
        if not 0 <= s <= d - b:
            raise ValueError(f"Expected size[{i}] in [0, {d - b}], but got {s}")
        index.append(_py_slice(b, b + s))
    return tuple(index) + (Ellipsis,)


def _slice_infer(op):
    x, b, s = op.inputs
    begin, size = shape_tensor_value(b), shape_tensor_value(s)
    rank = x.shape.ndims if x.shape.ndims is not None else (
        len(begin) if begin is not None else len(size) if size is not None else None)
    if rank is None:
        return [(x.dtype, TensorShape(None))]
    dims = x.shape.as_tuple() or (None,) * rank
    begin = begin or [None] * rank
    size = size or [None] * rank
    if not len(begin) == len(size) == rank:
        raise ValueError(f"Shape must be rank {rank} but is rank {len(begin)}")
    out = []
    for b, n, d in zip(begin, size, dims):
        if n is not None and n >= 0:
            out.append(n)
        elif n == -1 and b is not None and d is not None:
            if b > d:
                raise ValueError(f"Negative dimension size caused by subtracting {b} from {d}")
            out.append(d - b)
        else:
            out.append(None)
    return [(x.dtype, TensorShape(out))]


def _slice_lower(site, state):
    op = site.op

    def slice_by(x, begin, size):
        try:
            index = _slice_index(np.shape(x), begin, size)
        except ValueError as e:
            raise _invalid(op, str(e)) from None
        return x[index]

    begin, size = site.const_input(1), site.const_input(2)
    if begin is None or size is None:
        return lambda x, b, s: slice_by(x, b.tolist(), s.tolist())
    begin, size = begin.tolist(), size.tolist()
    dims = site.input_shapes[0].as_tuple()
    if dims is not None and None not in dims:
        try:
            index = _slice_index(dims, begin, size)  # checked once: every feed has this shape
        except ValueError:
            pass  # reported when the op runs
        else:
            return (lambda x: x[index]), (0,)
    return (lambda x: slice_by(x, begin, size)), (0,)


def _slice_grad(op, dy):
    """dy padded back to the input's shape: ``begin`` before, the rest after (constant
    paddings when begin and both static shapes are known)."""
    x, b, _ = op.inputs
    begin, dims, out_dims = constant_value(b), x.shape, op.outputs[0].shape
    if begin is not None and dims.is_fully_defined() and out_dims.is_fully_defined():
        after = np.array(dims.as_list(), dtype=np.int64) - begin - out_dims.as_list()
        paddings = np.stack([begin, after], axis=1).astype(b.dtype.as_numpy_dtype)
    else:
        sizes = math_ops.subtract(shape(x, out_type=b.dtype), shape(dy, out_type=b.dtype))
        after = math_ops.subtract(sizes, b)
        paddings = stack([b, after], axis=1)
    return [pad(dy, paddings), None, None]


register_op("Slice", _slice_infer, cpu=Lowering(_slice_lower), grad=_slice_grad,
            returns_alias=True)


# --- StridedSlice and Tensor.__getitem__ --------------------------------------------------

class _StridedSliceSpec:
    """TF's strided-slice spec, expanded over an input of rank ``ndims``.

    ``begin``/``end``/``strides`` are the sparse spec (one entry per index of ``x[...]``);
    ``begin``/``end`` may be None when unknown at build time. ``items`` holds, in output
    order, one entry per dense item: ("new",) for a new axis of size 1, ("index", dim, i) for
    a shrunk dim read at i, and ("range", dim, start, stop, step) for a sliced dim (start/stop
    None when masked, _UNKNOWN when not known yet). Raises ValueError with TF's text.
    """

    def __init__(self, ndims, begin, end, strides, attrs):
        n = len(strides)
        ellipsis, new_axis = attrs["ellipsis_mask"], attrs["new_axis_mask"]
        shrink, begin_mask, end_mask = (attrs["shrink_axis_mask"], attrs["begin_mask"],
                                        attrs["end_mask"])
        if ellipsis & (ellipsis - 1):
            raise ValueError("Multiple ellipses in slice spec not allowed")
        if not any(ellipsis >> i & 1 for i in _py_range(n)):
            ellipsis, n = ellipsis | 1 << n, n + 1  # an implicit "..." at the end
        after, seen = 0, False
        for i in _py_range(n):
            if seen and not new_axis >> i & 1:
                after += 1
            seen = seen or bool(ellipsis >> i & 1)
        self.items, dim = [], 0
        for i in _py_range(n):
            if ellipsis >> i & 1:
                while dim < ndims - after:
                    self.items.append(("range", dim, None, None, 1))
                    dim += 1
            elif new_axis >> i & 1:
                self.items.append(("new",))
            else:
                if dim >= ndims:
                    raise ValueError(f"Index out of range using input dim {dim}; input has only "
                                     f"{ndims} dims")
                step = int(strides[i])
                if step == 0:
                    raise ValueError(f"strides[{dim}] must be non-zero")
                start = _UNKNOWN if begin is None else int(begin[i])
                if shrink >> i & 1:
                    if step < 0:
                        raise ValueError("only stride 1 allowed on non-range indexing.")
                    self.items.append(("index", dim, start))
                else:
                    stop = _UNKNOWN if end is None else int(end[i])
                    self.items.append(("range", dim, None if begin_mask >> i & 1 else start,
                                       None if end_mask >> i & 1 else stop, step))
                dim += 1

    def static_shape(self, dims):
        """The output TensorShape for input dims (None where unknown)."""
        out = []
        for item in self.items:
            if item[0] == "new":
                out.append(1)
            elif item[0] == "index":
                _, d, i = item
                if dims[d] is not None and i is not _UNKNOWN:
                    self._check_index(d, i, dims[d])
            else:
                _, d, start, stop, step = item
                if dims[d] is None or _UNKNOWN in (start, stop):
                    out.append(None)
                else:
                    out.append(len(_py_range(*_py_slice(start, stop, step).indices(dims[d]))))
        return TensorShape(out)

    def numpy_index(self):
        """The basic numpy index that performs this slice (TF and numpy clamp ranges alike);
        the trailing Ellipsis keeps 0-d results arrays."""
        index = []
        for item in self.items:
            if item[0] == "new":
                index.append(None)
            elif item[0] == "index":
                index.append(item[2])
            else:
                index.append(_py_slice(*item[2:]))
        return tuple(index) + (Ellipsis,)

    def check_indices(self, shape):
        for item in self.items:
            if item[0] == "index":
                self._check_index(item[1], item[2], shape[item[1]])

    @staticmethod
    def _check_index(dim, i, size):
        forward = i + size if i < 0 else i
        if not 0 <= forward < size:
            raise ValueError(f"slice index {forward} of dimension {dim} out of bounds.")


_UNKNOWN = object()
_MASKS = ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")


def strided_slice(input_, begin, end, strides=None, begin_mask=0, end_mask=0, ellipsis_mask=0,
                  new_axis_mask=0, shrink_axis_mask=0, var=None, name=None):
    """tf.strided_slice, with TF's five masks (bit i refers to entry i of begin/end/strides).
    ``var`` (for slice assignment) is accepted and unused."""
    with _scope(name, "StridedSlice", [input_, begin, end, strides]) as scope:
        x = _convert(input_, "input")
        b = _index_tensor(begin, "begin", "StridedSlice")
        if strides is None:
            strides = ones_like(b)
        b, e, s = op_util.same_dtype_operands(
            [b, _index_like(end, "end", "StridedSlice", b), _index_like(strides, "strides",
                                                                        "StridedSlice", b)],
            "StridedSlice", ("begin", "end", "strides"))
        attrs = dict(zip(_MASKS, (begin_mask, end_mask, ellipsis_mask, new_axis_mask,
                                  shrink_axis_mask)))
        return op_util.make("StridedSlice", [x, b, e, s], attrs, scope)


def _strided_slice_infer(op):
    x, b, e, s = op.inputs
    lengths = {t.shape.as_tuple()[0] for t in (b, e, s)
               if t.shape.ndims == 1 and t.shape.as_tuple()[0] is not None}
    if len(lengths) > 1 or any(t.shape.ndims not in (None, 1) for t in (b, e, s)):
        raise ValueError(f"Expected begin, end, and strides to be 1D equal size tensors, but "
                         f"got shapes {b.shape}, {e.shape}, and {s.shape} instead.")
    strides = constant_value(s)
    if x.shape.ndims is None or strides is None:
        return [(x.dtype, TensorShape(None))]
    spec = _StridedSliceSpec(x.shape.ndims, constant_value(b), constant_value(e), strides,
                             op.attrs)
    return [(x.dtype, spec.static_shape(x.shape.as_tuple()))]


def _strided_slice_lower(site, state):
    op, attrs = site.op, site.attrs

    def slice_by(x, index, spec):
        try:
            return x[index]
        except IndexError:
            try:
                spec.check_indices(np.shape(x))
            except ValueError as e:
                raise _invalid(op, str(e)) from None
            raise

    def spec_for(ndims, begin, end, strides):
        try:
            return _StridedSliceSpec(ndims, begin, end, strides, attrs)
        except ValueError as e:
            raise _invalid(op, str(e)) from None

    consts = [site.const_input(i) for i in (1, 2, 3)]
    if any(c is None for c in consts):
        def slice_any(x, b, e, s):
            spec = spec_for(np.ndim(x), b, e, s)
            return slice_by(x, spec.numpy_index(), spec)
        return slice_any
    ndims = site.input_shapes[0].ndims
    if ndims is None:
        by_rank = {}

        def slice_unknown_rank(x):
            found = by_rank.get(np.ndim(x))
            if found is None:
                spec = spec_for(np.ndim(x), *consts)
                found = by_rank[np.ndim(x)] = (spec.numpy_index(), spec)
            return slice_by(x, *found)
        return slice_unknown_rank, (0,)
    spec = spec_for(ndims, *consts)
    index = spec.numpy_index()
    return (lambda x: slice_by(x, index, spec)), (0,)


def _strided_slice_grad(op, dy):
    """dy written into zeros of the input's shape at the sliced positions (StridedSliceGrad)."""
    x, b, e, s = op.inputs
    masks = {m: op.attrs[m] for m in _MASKS}
    return [op_util.make("StridedSliceGrad", [_shape_of(x, b.dtype), b, e, s, dy], masks),
            None, None, None]


register_op("StridedSlice", _strided_slice_infer, cpu=Lowering(_strided_slice_lower),
            grad=_strided_slice_grad, returns_alias=True)


def _strided_slice_grad_infer(op):
    """StridedSliceGrad(shape, begin, end, strides, dy): the input's shape, dy's dtype."""
    dims, dy = op.inputs[0], op.inputs[4]
    if dims.shape.ndims not in (None, 1):
        raise ValueError(f"Shape must be rank 1 but is rank {dims.shape.ndims}")
    return [(dy.dtype, _shape_from_vector(shape_tensor_value(dims)))]


def _strided_slice_grad_lower(site, state):
    op, attrs = site.op, site.attrs

    def index_for(dims, begin, end, strides):
        try:
            spec = _StridedSliceSpec(len(dims), begin, end, strides, attrs)
            spec.check_indices(dims)
        except ValueError as e:
            raise _invalid(op, str(e)) from None
        return spec.numpy_index()

    def scatter(dims, index, dy):
        out = np.zeros(dims, dtype=dy.dtype)
        view = out[index]  # basic indexing: a view, each position at most once
        if view.shape != np.shape(dy):
            raise _invalid(op, f"shape of dy was {_fmt(np.shape(dy))} instead of "
                               f"{_fmt(view.shape)}")
        view[...] = dy
        return out

    consts = [site.const_input(i) for i in _py_range(4)]
    if any(c is None for c in consts):
        def scatter_any(d, b, e, s, dy):
            dims = tuple(d.tolist())
            return scatter(dims, index_for(dims, b, e, s), dy)
        return scatter_any
    dims = tuple(consts[0].tolist())
    index = index_for(dims, *consts[1:])
    return (lambda dy: scatter(dims, index, dy)), (4,)


def _strided_slice_grad_grad(op, ddx):
    """StridedSliceGrad is linear in dy; its adjoint is the slice itself."""
    _, b, e, s, _ = op.inputs
    masks = {m: op.attrs[m] for m in _MASKS}
    return [None, None, None, None, strided_slice(ddx, b, e, s, **masks)]


register_op("StridedSliceGrad", _strided_slice_grad_infer,
            cpu=Lowering(_strided_slice_grad_lower), grad=_strided_slice_grad_grad)

_SLICE_TYPE_ERROR = ("Only integers, slices (`:`), ellipsis (`...`), tf.newaxis (`None`) and "
                     "scalar tf.int32/tf.int64 tensors are valid indices")


def _check_index(index):
    if isinstance(index, (numbers.Integral, Dimension)):
        return
    dtype = getattr(index, "dtype", None)
    if ops_lib.is_tensor_like(index):
        t = op_util.as_tensor(index)
        if t.dtype in _INDEX_DTYPES and t.shape.ndims in (None, 0):
            return
    elif dtype is not None and np.dtype(dtype).kind in "iu" and np.ndim(index) == 0:
        return
    raise TypeError(f"{_SLICE_TYPE_ERROR}, got {index!r}")


def _index_value(index):
    return int(index) if isinstance(index, Dimension) else index


def slice_helper(tensor, slice_spec, var=None):
    """``tensor[slice_spec]`` as TF1 builds it: one "strided_slice" op over ints (negative
    too), slices with any step, Ellipsis, tf.newaxis and scalar int tensors."""
    if isinstance(slice_spec, bool) or (
            ops_lib.is_tensor_like(slice_spec) and op_util.as_tensor(slice_spec).dtype.is_bool) \
            or (isinstance(slice_spec, np.ndarray) and slice_spec.dtype == bool):
        raise NotImplementedError("Indexing with a boolean mask (tf.boolean_mask) is not "
                                  "supported yet.")
    if not isinstance(slice_spec, (list, tuple)):
        slice_spec = [slice_spec]
    begin, end, strides = [], [], []
    masks = dict.fromkeys(_MASKS, 0)
    for i, s in enumerate(slice_spec):
        bit = 1 << i
        if isinstance(s, _py_slice):
            # Python gives a[:] as slice(None, sys.maxsize, None) in some versions.
            if s.start is not None and (ops_lib.is_tensor_like(s.start) or s.start != sys.maxsize):
                _check_index(s.start)
                begin.append(_index_value(s.start))
            else:
                begin.append(0)
                masks["begin_mask"] |= bit
            if s.stop is not None and (ops_lib.is_tensor_like(s.stop) or s.stop != sys.maxsize):
                _check_index(s.stop)
                end.append(_index_value(s.stop))
            else:
                end.append(0)
                masks["end_mask"] |= bit
            if s.step is not None:
                _check_index(s.step)
                strides.append(_index_value(s.step))
            else:
                strides.append(1)
        elif s is Ellipsis or s is newaxis:
            begin.append(0)
            end.append(0)
            strides.append(1)
            masks["ellipsis_mask" if s is Ellipsis else "new_axis_mask"] |= bit
        else:
            _check_index(s)
            s = _index_value(s)
            begin.append(s)
            end.append(s + 1)
            strides.append(1)
            masks["shrink_axis_mask"] |= bit
    with _scope(None, "strided_slice", [tensor] + begin + end + strides) as scope:
        if begin:
            packed = [stack(v) for v in (begin, end, strides)]
            if any(t.dtype is dtypes.int64 for t in packed):
                packed = [math_ops.cast(t, dtypes.int64) for t in packed]
        else:
            packed = [constant_op.constant([], dtype=dtypes.int32)] * 3
        return strided_slice(tensor, *packed, var=var, name=scope, **masks)


# --- GatherV2, OneHot ---------------------------------------------------------------------

def gather(params, indices, validate_indices=None, name=None, axis=None, batch_dims=0):
    """tf.gather: slices of ``params`` along ``axis`` (default 0) at ``indices``. Indices out
    of range fail with InvalidArgumentError (``validate_indices`` is ignored, as in TF1)."""
    if batch_dims != 0:
        raise NotImplementedError("tf.gather with batch_dims != 0 is not supported yet.")
    if axis is None:
        axis = 0
    with _scope(name, "GatherV2", [params, indices, axis]) as scope:
        p = _convert(params, "params")
        i = _index_tensor(indices, "indices", "GatherV2")
        a = _index_tensor(axis, "axis", "GatherV2")
        return op_util.make("GatherV2", [p, i, a], {}, scope)


def _gather_infer(op):
    p, i, a = op.inputs
    pdims, idims, axis = p.shape.as_tuple(), i.shape.as_tuple(), _const_int(a)
    if pdims is None or idims is None:
        return [(p.dtype, TensorShape(None))]
    if axis is None:
        return [(p.dtype, TensorShape([None] * (len(pdims) + len(idims) - 1)))]
    if not -len(pdims) <= axis < len(pdims):
        raise ValueError(f"Shape must be at least rank {max(axis, -axis - 1) + 1} but is rank "
                         f"{len(pdims)}")
    axis %= len(pdims)
    return [(p.dtype, TensorShape(pdims[:axis] + idims + pdims[axis + 1:]))]


def _gather_lower(site, state):
    op = site.op

    def gather_along(params, indices, axis):
        rank = np.ndim(params)
        if not -rank <= axis < rank:
            raise _invalid(op, f"Expected axis in the range [{-rank}, {rank}), but got {axis}")
        try:
            out = np.take(params, indices, axis)
        except IndexError:
            out = None  # an index >= the dim size; reported below
        # np.take wraps negative indices; TF refuses them.
        if out is None or (np.size(indices) and np.min(indices) < 0):
            n = np.shape(params)[axis]
            bad = np.argwhere((indices < 0) | (indices >= n))[0]
            raise _invalid(op, f"indices[{','.join(str(k) for k in bad)}] = "
                               f"{indices[tuple(bad)]} is not in [0, {n})")
        return out

    axis = site.const_input(2)
    if axis is None:
        return lambda p, i, a: gather_along(p, i, _int(a))
    axis = _int(axis)
    return (lambda p, i: gather_along(p, i, axis)), (0, 1)


def _gather_grad(op, dy):
    """A dense gradient for params (TF1 returns IndexedSlices; graphflow has none): dy's slices
    added into zeros of params' shape at their indices, repeated indices accumulating."""
    p, i, a = op.inputs
    return [op_util.make("GatherGrad", [dy, i, _shape_of(p), a]), None, None]


register_op("GatherV2", _gather_infer, cpu=Lowering(_gather_lower), grad=_gather_grad)


def _gather_grad_infer(op):
    """GatherGrad(dy, indices, params_shape, axis): params' shape, dy's dtype."""
    dy, _, dims, _ = op.inputs
    if dims.shape.ndims not in (None, 1):
        raise ValueError(f"Shape must be rank 1 but is rank {dims.shape.ndims}")
    return [(dy.dtype, _shape_from_vector(shape_tensor_value(dims)))]


def _scatter_add_rows(dy, indices, out):
    """out[o, indices[k], i] += dy[o, k, i], in order of k (so sums round as TF's
    sequential segment sums do). dy: [outer, n, inner]; indices: [n] uint64, checked to be
    in range; out: [outer, dim, inner]. Compiled by Numba on first use."""
    for o in _py_range(dy.shape[0]):
        for k in _py_range(dy.shape[1]):
            row = indices[k]
            for i in _py_range(dy.shape[2]):
                out[o, row, i] += dy[o, k, i]


_compiled_scatter_add = []


def _scatter_add():
    """The Numba build of _scatter_add_rows (cached on disk). A compiled loop beats the
    numpy ways to accumulate repeated indices by far (measured here: [10000, 128] float32
    params, 20000 indices: 0.9 ms, against 3.5 ms for a scipy.sparse product, 30 ms for a
    sort + np.add.reduceat and 54 ms for np.add.at); numba is imported only when a plan needs
    it."""
    if not _compiled_scatter_add:
        import numba
        _compiled_scatter_add.append(numba.njit(cache=True)(_scatter_add_rows))
    return _compiled_scatter_add[0]


def _gather_grad_lower(site, state):
    op = site.op

    def scatter(dy, indices, dims, axis):
        rank = len(dims)
        if not -rank <= axis < rank:
            raise _invalid(op, f"Expected axis in the range [{-rank}, {rank}), but got {axis}")
        axis %= rank
        expected = dims[:axis] + np.shape(indices) + dims[axis + 1:]
        if np.shape(dy) != expected:
            raise _invalid(op, f"shape of dy was {_fmt(np.shape(dy))} instead of "
                               f"{_fmt(expected)}")
        n = dims[axis]
        outside = (indices < 0) | (indices >= n)
        if outside.any():
            bad = np.argwhere(outside)[0]
            raise _invalid(op, f"indices[{','.join(str(k) for k in bad)}] = "
                               f"{indices[tuple(bad)]} is not in [0, {n})")
        outer, inner = math.prod(dims[:axis]), math.prod(dims[axis + 1:])
        # Numba has no float16 arithmetic: half gradients accumulate in float32.
        work = np.float32 if dy.dtype == np.float16 else dy.dtype
        out = np.zeros((outer, n, inner), dtype=work)
        if dy.size:
            rows = np.ascontiguousarray(dy, dtype=work).reshape(outer, -1, inner)
            _scatter_add()(rows, indices.reshape(-1).astype(np.uint64), out)
        return out.reshape(dims).astype(dy.dtype, copy=False)

    dims, axis = site.const_input(2), site.const_input(3)
    if dims is None or axis is None:
        return lambda dy, i, d, a: scatter(dy, i, tuple(d.tolist()), _int(a))
    dims, axis = tuple(dims.tolist()), _int(axis)
    return (lambda dy, i: scatter(dy, i, dims, axis)), (0, 1)


def _gather_grad_grad(op, ddx):
    """GatherGrad is linear in dy; its adjoint is the gather itself."""
    _, i, _, a = op.inputs
    return [gather(ddx, i, axis=a), None, None, None]


register_op("GatherGrad", _gather_grad_infer, cpu=Lowering(_gather_grad_lower),
            grad=_gather_grad_grad)


def one_hot(indices, depth, on_value=None, off_value=None, axis=None, dtype=None, name=None):
    """tf.one_hot: on_value where ``indices`` equals the position along the new ``axis``
    (default last) of size ``depth``, off_value elsewhere (also for indices out of range).
    The dtype comes from ``dtype``, else from on/off_value, else float32."""
    with _scope(name, "one_hot", [indices, depth, on_value, off_value]) as scope:
        dtype = None if dtype is None else dtypes.as_dtype(dtype)
        for what, v in (("on_value", on_value), ("off_value", off_value)):
            if ops_lib.is_tensor_like(v) and dtype not in (None, _value_dtype(v)):
                raise TypeError(f"dtype {_value_dtype(v)} of {what} does not match dtype "
                                f"parameter {dtype}")
        if dtype is None:
            given = [v for v in (on_value, off_value) if v is not None]
            dtype = _value_dtype(given[0]) if given else dtypes.float32
        on = _convert(1 if on_value is None else on_value, "on_value", dtype)
        off = _convert(0 if off_value is None else off_value, "off_value", dtype)
        if on.dtype is not off.dtype:
            raise TypeError(f"dtype {on.dtype} of on_value does not match dtype {off.dtype} of "
                            f"off_value")
        i = _convert(indices, "indices")
        op_util.check_dtype(i, (dtypes.uint8, dtypes.int32, dtypes.int64), "OneHot", "indices")
        d = _convert(depth, "depth", dtypes.int32)
        return op_util.make("OneHot", [i, d, on, off],
                            {"axis": -1 if axis is None else int(axis)}, scope)


def _one_hot_infer(op):
    i, d, on, off = op.inputs
    for t, what in ((on, "on_value"), (off, "off_value")):
        if t.shape.ndims not in (None, 0):
            raise ValueError(f"Shape must be rank 0 but is rank {t.shape.ndims} for {what}")
    dims, axis, depth = i.shape.as_tuple(), op.attrs["axis"], _const_int(d)
    if depth is not None and depth < 0:
        raise ValueError(f"depth must be non-negative, got: {depth}")
    if dims is None:
        return [(on.dtype, TensorShape(None))]
    if not -1 <= axis <= len(dims):
        raise ValueError(f"Expected axis to be -1 or between [0, {len(dims)}].  But received: "
                         f"{axis}")
    axis = len(dims) if axis == -1 else axis
    return [(on.dtype, TensorShape(dims[:axis] + (depth,) + dims[axis:]))]


def _one_hot_lower(site, state):
    op, axis = site.op, site.attrs["axis"]

    def positions(ndim, depth):
        """arange(depth) shaped to broadcast against the indices with the new axis."""
        if depth < 0:
            raise _invalid(op, f"depth must be non-negative, got: {depth}")
        shape = [1] * (ndim + 1)
        shape[ndim if axis == -1 else axis] = depth
        return np.arange(depth).reshape(shape)

    def one_hot_of(indices, classes, on, off):
        where = np.ndim(indices) if axis == -1 else axis
        return np.where(np.expand_dims(indices, where) == classes, on, off)

    depth, ndim = site.const_input(1), site.input_shapes[0].ndims
    if depth is None or ndim is None:
        return lambda i, d, on, off: one_hot_of(i, positions(np.ndim(i), _int(d)), on, off)
    classes = positions(ndim, _int(depth))
    return (lambda i, on, off: one_hot_of(i, classes, on, off)), (0, 2, 3)


register_op("OneHot", _one_hot_infer, cpu=Lowering(_one_hot_lower), grad=no_gradient)


# --- Fill, zeros, ones, ZerosLike, OnesLike -----------------------------------------------

def fill(dims, value, name=None):
    """tf.fill: a tensor of shape ``dims`` holding ``value`` (whose dtype it takes)."""
    with _scope(name, "Fill", [dims, value]) as scope:
        d = _index_tensor(dims, "dims", "Fill")
        v = _convert(value, "value")
        return op_util.make("Fill", [d, v], {}, scope)


def _fill_infer(op):
    d, v = op.inputs
    if v.shape.ndims not in (None, 0):
        raise ValueError(f"Shape must be rank 0 but is rank {v.shape.ndims}")
    dims = shape_tensor_value(d)
    if dims is not None and any(x is not None and x < 0 for x in dims):
        raise ValueError("Fill dimensions must be >= 0")
    return [(v.dtype, _shape_from_vector(dims))]


def _fill_lower(site, state):
    op = site.op

    def fill_shape(dims, value):
        if any(x < 0 for x in dims):
            raise _invalid(op, "Fill dimensions must be >= 0")
        return np.full(dims, value, dtype=value.dtype)

    dims = site.const_input(0)
    if dims is None:
        return lambda d, v: fill_shape(tuple(d.tolist()), v)
    dims = tuple(dims.tolist())
    return (lambda v: fill_shape(dims, v)), (1,)


register_op("Fill", _fill_infer, cpu=Lowering(_fill_lower),
            grad=lambda op, dy: [None, math_ops.reduce_sum(dy)])


def _filled(shape, value, dtype, name, default):
    """tf.zeros / tf.ones: a Const when the shape is a small Python shape, else a Fill."""
    dtype = dtypes.as_dtype(dtype)
    value = bool(value) if dtype.is_bool else value
    with _scope(name, default, [shape]) as scope:
        if not ops_lib.is_tensor_like(shape):
            try:
                dims = [int(d) for d in _plain(shape)] if not np.isscalar(shape) else [int(shape)]
            except (TypeError, ValueError):
                dims = None  # the list holds tensors: auto-packed below
            if dims is not None and np.prod(dims, dtype=np.int64) < _SMALL_CONSTANT:
                return constant_op.constant(value, dtype=dtype, shape=dims, name=scope)
        s = _index_tensor(shape, "shape_as_tensor", "Fill")
        if s.shape.ndims == 0:
            s = reshape(s, [-1])
        return fill(s, constant_op.constant(value, dtype=dtype), name=scope)


def zeros(shape, dtype=dtypes.float32, name=None):
    return _filled(shape, 0, dtype, name, "zeros")


def ones(shape, dtype=dtypes.float32, name=None):
    return _filled(shape, 1, dtype, name, "ones")


def _filled_like(tensor, dtype, name, default, op_type, value):
    with _scope(name, default, [tensor]) as scope:
        x = _convert(tensor, "tensor")
        dtype = x.dtype if dtype is None else dtypes.as_dtype(dtype)
        if x.shape.is_fully_defined():
            return _filled(x.shape.as_list(), value, dtype, scope, default)
        if dtype is not x.dtype:
            out = _filled(shape(x), value, dtype, scope, default)
            out.set_shape(x.shape)
            return out
        return op_util.make(op_type, [x], {}, scope)


def zeros_like(tensor, dtype=None, name=None, optimize=True):
    """tf.zeros_like: a Const when the shape is known and small, else a ZerosLike op (or a
    Fill when ``dtype`` differs from the tensor's)."""
    return _filled_like(tensor, dtype, name, "zeros_like", "ZerosLike", 0)


def ones_like(tensor, dtype=None, name=None, optimize=True):
    return _filled_like(tensor, dtype, name, "ones_like", "OnesLike", 1)


# Their values do not depend on the input's: no gradient (TF1's NotDifferentiable).
register_op("ZerosLike", lambda op: [(op.inputs[0].dtype, op.inputs[0].shape)],
            cpu=np.zeros_like, grad=no_gradient)
register_op("OnesLike", lambda op: [(op.inputs[0].dtype, op.inputs[0].shape)],
            cpu=np.ones_like, grad=no_gradient)


# --- Range --------------------------------------------------------------------------------

_RANGE_DTYPES = (dtypes.int32, dtypes.int64, dtypes.float32, dtypes.float64)


def range(start, limit=None, delta=1, dtype=None, name="range"):  # noqa: A001  (TF1's name)
    """tf.range: start, start + delta, ... below ``limit`` (one argument is the limit). The
    dtype is the widest of the arguments' in int32 < int64 < float32 < float64."""
    if limit is None:
        start, limit = 0, start
    with _scope(name, "Range", [start, limit, delta]) as scope:
        args = (("start", start), ("limit", limit), ("delta", delta))
        if dtype is None:
            kinds = [_value_dtype(v) for _, v in args]
            for k in kinds:
                if k not in _RANGE_DTYPES:
                    raise TypeError(f"tf.range does not support dtype {k.name}")
            dtype = max(kinds, key=_RANGE_DTYPES.index)
        dtype = dtypes.as_dtype(dtype)
        values = [math_ops.cast(op_util.as_tensor(v), dtype) if ops_lib.is_tensor_like(v)
                  else _convert(v, n, dtype) for n, v in args]
        op_util.check_dtype(values[0], _RANGE_DTYPES, "Range", "start")
        return op_util.make("Range", values, {"Tidx": dtype}, scope)


def _range_length(start, limit, delta):
    """The number of elements (as TF's kernel counts them, in the dtype of the arguments);
    raises ValueError with TF's text."""
    if delta == 0:
        raise ValueError(f"Requires delta != 0: {delta}")
    if delta > 0 and start > limit:
        raise ValueError(f"Requires start <= limit when delta > 0: {start}/{limit}")
    if delta < 0 and start < limit:
        raise ValueError(f"Requires start >= limit when delta < 0: {start}/{limit}")
    if isinstance(start, np.integer):
        return (abs(int(limit) - int(start)) + abs(int(delta)) - 1) // abs(int(delta))
    return int(np.ceil(np.abs((limit - start) / delta)))


def _range_infer(op):
    args = [constant_value(t) for t in op.inputs]
    for t in op.inputs:
        if t.shape.ndims not in (None, 0):
            raise ValueError(f"Shape must be rank 0 but is rank {t.shape.ndims}")
    if any(v is None for v in args):
        return [(op.attrs["Tidx"], TensorShape([None]))]
    return [(op.attrs["Tidx"], TensorShape([_range_length(*(v[()] for v in args))]))]


def _range_lower(site, state):
    op, np_dtype = site.op, site.attrs["Tidx"].as_numpy_dtype

    def range_of(start, limit, delta):
        start, limit, delta = start[()], limit[()], delta[()]
        try:
            n = _range_length(start, limit, delta)
        except ValueError as e:
            raise _invalid(op, str(e)) from None
        if np.issubdtype(np_dtype, np.integer):
            return np.arange(n, dtype=np_dtype) * delta + start
        # TF 1.15 adds delta to a running value; a cumulative sum in the same dtype repeats
        # its rounding exactly (numpy's start + i * delta would differ in the last bits).
        out = np.full(n, delta, dtype=np_dtype)
        if n:
            out[0] = start
        return np.cumsum(out, dtype=np_dtype, out=out)
    return range_of


register_op("Range", _range_infer, cpu=Lowering(_range_lower), grad=no_gradient)


# --- Tile, Pad, PadV2, MirrorPad, ReverseV2 -----------------------------------------------

def tile(input, multiples, name=None):
    """tf.tile: ``input`` repeated ``multiples[i]`` times along dim i."""
    with _scope(name, "Tile", [input, multiples]) as scope:
        x = _convert(input, "input")
        m = _index_tensor(multiples, "multiples", "Tile")
        return op_util.make("Tile", [x, m], {}, scope)


def _check_multiples(multiples, rank):
    if len(multiples) != rank:
        raise ValueError(f"Expected multiples argument to be a vector of length {rank} but got "
                         f"length {len(multiples)}")
    for i, m in enumerate(multiples):
        if m is not None and m < 0:
            raise ValueError(f"Expected multiples[{i}] >= 0, but got {m}")


def _tile_infer(op):
    x, m = op.inputs
    multiples = shape_tensor_value(m)
    dims = x.shape.as_tuple()
    if dims is None:
        return [(x.dtype, _shape_from_vector(None if multiples is None
                                              else [None] * len(multiples)))]
    if multiples is None:
        return [(x.dtype, TensorShape([None] * len(dims)))]
    if len(multiples) != len(dims):
        raise ValueError(f"Shape must be rank {len(dims)} but is rank {len(multiples)}")
    _check_multiples(multiples, len(dims))
    return [(x.dtype, TensorShape([None if d is None or k is None else d * k
                                   for d, k in zip(dims, multiples)]))]


def _tile_lower(site, state):
    op = site.op

    def tile_by(x, multiples, alloc):
        try:
            _check_multiples(multiples, np.ndim(x))
        except ValueError as e:
            raise _invalid(op, str(e)) from None
        if alloc is None:
            return np.tile(x, multiples)
        x = np.asarray(x)
        out = alloc(tuple(m * d for m, d in zip(multiples, x.shape)), x.dtype)
        # out seen as [m0, d0, m1, d1, ...] is x broadcast along the m axes
        out.reshape(tuple(v for pair in zip(multiples, x.shape) for v in pair))[...] = \
            x.reshape(tuple(v for d in x.shape for v in (1, d)))
        return out

    multiples = site.const_input(1)
    if multiples is None:
        return lambda x, m, alloc=None: tile_by(x, tuple(m.tolist()), alloc)
    multiples = tuple(multiples.tolist())
    return (lambda x, alloc=None: tile_by(x, multiples, alloc)), (0,)


def _tile_grad(op, dy):
    """The sum of dy's tiles: dy seen as [m0, d0, m1, d1, ...] summed over the m axes. With
    constant multiples and a fully known input shape the split shape and axes are constants
    (dims tiled once are not split at all)."""
    x, m = op.inputs
    multiples, dims = constant_value(m), x.shape
    if multiples is not None and dims.is_fully_defined():
        split_shape, axes = [], []
        for d, k in zip(dims.as_list(), multiples.tolist()):
            if k != 1:
                axes.append(len(split_shape))
                split_shape.append(k)
            split_shape.append(d)
        if not axes:
            return [dy, None]
        return [math_ops.reduce_sum(reshape(dy, split_shape), axes), None]
    split_shape = reshape(transpose(stack([m, shape(x, out_type=m.dtype)])), [-1])
    rank = dims.ndims if dims.ndims is not None else (m.shape.as_tuple() or [None])[0]
    if rank is None:
        axes = range(0, size(split_shape), 2)
    else:
        axes = np.arange(0, 2 * rank, 2, dtype=np.int32)
    grad = math_ops.reduce_sum(reshape(dy, split_shape), axes)
    grad.set_shape(dims)
    return [grad, None]


register_op("Tile", _tile_infer, cpu=Lowering(_tile_lower, allocates=True), grad=_tile_grad)

_PAD_MODES = ("CONSTANT", "REFLECT", "SYMMETRIC")


def pad(tensor, paddings, mode="CONSTANT", name=None, constant_values=0):
    """tf.pad: ``paddings[i] = [before, after]`` for dim i. CONSTANT fills with
    ``constant_values`` (a Pad op when that is the Python value 0, else PadV2); REFLECT and
    SYMMETRIC mirror the edge without / with the edge row (MirrorPad)."""
    mode = mode.upper()
    if mode not in _PAD_MODES:
        raise ValueError(f"Unknown padding mode: {mode}")
    plain_zero = not ops_lib.is_tensor_like(constant_values) and np.all(constant_values == 0)
    op_type = "MirrorPad" if mode != "CONSTANT" else "Pad" if plain_zero else "PadV2"
    with _scope(name, op_type, [tensor, paddings, constant_values]) as scope:
        x = _convert(tensor, "input")
        p = _index_tensor(paddings, "paddings", op_type)
        inputs, attrs = [x, p], {}
        if op_type == "PadV2":
            c = _convert(constant_values, "constant_values", x.dtype)
            inputs.append(c)
        elif op_type == "MirrorPad":
            attrs["mode"] = mode
        return op_util.make(op_type, inputs, attrs, scope)


def _check_paddings(paddings, dims, mode):
    """``paddings``: [rank, 2] ints; ``dims`` may hold None. Raises ValueError (TF's text)."""
    if np.shape(paddings) != (len(dims), 2):
        raise ValueError(f"The first dimension of paddings must be the rank of inputs"
                         f"{_fmt(np.shape(paddings))} {_fmt(dims)}")
    for (before, after), d in zip(np.asarray(paddings).tolist(), dims):
        if before < 0 or after < 0:
            raise ValueError(f"Paddings must be non-negative: {before} {after}")
        if d is None or mode == "CONSTANT":
            continue
        if mode == "REFLECT" and (before >= d or after >= d):
            raise ValueError(f"paddings must be less than the dimension size: {before}, "
                             f"{after} not less than {d}")
        if mode == "SYMMETRIC" and (before > d or after > d):
            raise ValueError(f"paddings must be no greater than the dimension size: {before}, "
                             f"{after} greater than {d}")


def _pad_infer(op):
    x, p = op.inputs[:2]
    if op.type == "PadV2" and op.inputs[2].shape.ndims not in (None, 0):
        raise ValueError(f"Shape must be rank 0 but is rank {op.inputs[2].shape.ndims}")
    if p.shape.ndims not in (None, 2):
        raise ValueError(f"Shape must be rank 2 but is rank {p.shape.ndims}")
    paddings, dims = constant_value(p), x.shape.as_tuple()
    rank = len(dims) if dims is not None else (p.shape.as_tuple() or [None])[0]
    if rank is None:
        return [(x.dtype, TensorShape(None))]
    if paddings is None:
        return [(x.dtype, TensorShape([None] * rank))]
    dims = dims or (None,) * rank
    if np.shape(paddings) != (rank, 2):
        raise ValueError(f"The first dimension of paddings must be the rank of inputs"
                         f"{_fmt(np.shape(paddings))} {_fmt(dims)}")
    if np.any(paddings < 0):
        raise ValueError("Paddings must be non-negative")
    return [(x.dtype, TensorShape([None if d is None else d + int(b) + int(a)
                                   for d, (b, a) in zip(dims, paddings.tolist())]))]


def _pad_lower(site, state):
    op = site.op
    mode = site.attrs.get("mode", "CONSTANT")

    def checked(x, paddings):
        try:
            _check_paddings(paddings, np.shape(x), mode)
        except ValueError as e:
            raise _invalid(op, str(e)) from None
        return [(int(b), int(a)) for b, a in np.asarray(paddings).tolist()]

    def layout(shape, pairs):
        """(output shape, index of the input inside it)."""
        return ([d + b + a for d, (b, a) in zip(shape, pairs)],
                tuple(_py_slice(b, b + d) for d, (b, _) in zip(shape, pairs)))

    def pad_into(x, out_shape, inner, value):
        out = np.full(out_shape, value, dtype=x.dtype)
        out[inner] = x
        return out

    np_mode = mode.lower()  # numpy's "reflect" and "symmetric" are TF's two mirror modes
    n_inputs = len(site.input_dtypes)
    paddings, dims = site.const_input(1), site.input_shapes[0].as_tuple()
    if paddings is not None and dims is not None and None not in dims:
        try:
            _check_paddings(paddings, dims, mode)
        except ValueError:
            pass  # reported when the op runs
        else:
            pairs = [(int(b), int(a)) for b, a in paddings.tolist()]
            if mode != "CONSTANT":
                return (lambda x: np.pad(x, pairs, mode=np_mode)), (0,)
            out_shape, inner = layout(dims, pairs)
            if n_inputs == 2:
                return (lambda x: pad_into(x, out_shape, inner, 0)), (0,)
            return (lambda x, c: pad_into(x, out_shape, inner, c)), (0, 2)

    def pad_any(x, paddings, value=0):
        pairs = checked(x, paddings)
        if mode != "CONSTANT":
            return np.pad(x, pairs, mode=np_mode)
        return pad_into(x, *layout(np.shape(x), pairs), value)
    return pad_any


def _pad_grad(op, dy):
    """Pad and PadV2: the input's part of dy (a Slice at paddings[:, 0]); like TF1, no
    gradient for PadV2's constant_values."""
    x, p = op.inputs[:2]
    paddings = constant_value(p)
    begin = (paddings[:, 0] if paddings is not None
             else slice_helper(p, (_py_slice(None), 0)))
    return [slice(dy, begin, _shape_of(x, p.dtype))] + [None] * (len(op.inputs) - 1)


def _mirror_pad_grad(op, dy):
    x, p = op.inputs
    grad = op_util.make("MirrorPadGrad", [dy, p], {"mode": op.attrs["mode"]})
    grad.set_shape(x.shape)
    return [grad, None]


register_op("Pad", _pad_infer, cpu=Lowering(_pad_lower), grad=_pad_grad)
register_op("PadV2", _pad_infer, cpu=Lowering(_pad_lower), grad=_pad_grad)
register_op("MirrorPad", _pad_infer, cpu=Lowering(_pad_lower), grad=_mirror_pad_grad)


def _mirror_pad_grad_infer(op):
    """MirrorPadGrad(dy, paddings): the unpadded shape, each dim less its two paddings."""
    dy, p = op.inputs
    if p.shape.ndims not in (None, 2):
        raise ValueError(f"Shape must be rank 2 but is rank {p.shape.ndims}")
    paddings, dims = constant_value(p), dy.shape.as_tuple()
    if dims is None:
        return [(dy.dtype, TensorShape(None))]
    if paddings is None:
        return [(dy.dtype, TensorShape([None] * len(dims)))]
    if np.shape(paddings) != (len(dims), 2):
        raise ValueError(f"The first dimension of paddings must be the rank of inputs"
                         f"{_fmt(np.shape(paddings))} {_fmt(dims)}")
    out = []
    for d, (b, a) in zip(dims, paddings.tolist()):
        if d is not None and d < b + a:
            raise ValueError(f"Negative dimension size caused by subtracting {b + a} from {d}")
        out.append(None if d is None else d - b - a)
    return [(dy.dtype, TensorShape(out))]


def _along(array, axis, start, stop):
    """The view array[start:stop] along ``axis``."""
    return array[(_py_slice(None),) * axis + (_py_slice(start, stop),)]


def _fold_mirror_pad(dy, pairs, mode):
    """MirrorPad's adjoint: each padded edge added back, flipped, onto the rows it mirrors
    (REFLECT mirrors from row 1, SYMMETRIC from row 0), one dim at a time."""
    skip = 1 if mode == "REFLECT" else 0
    grad = dy
    for axis, (before, after) in enumerate(pairs):
        if not before and not after:
            continue
        n = grad.shape[axis] - before - after
        core = _along(grad, axis, before, before + n).copy()
        _along(core, axis, skip, skip + before)[...] += np.flip(
            _along(grad, axis, 0, before), axis)
        _along(core, axis, n - skip - after, n - skip)[...] += np.flip(
            _along(grad, axis, before + n, before + n + after), axis)
        grad = core
    return grad


def _mirror_pad_grad_lower(site, state):
    op, mode = site.op, site.attrs["mode"]

    def fold(dy, paddings):
        try:
            if np.shape(paddings) != (np.ndim(dy), 2):
                raise ValueError(f"The first dimension of paddings must be the rank of inputs"
                                 f"{_fmt(np.shape(paddings))} {_fmt(np.shape(dy))}")
            pairs = [(int(b), int(a)) for b, a in np.asarray(paddings).tolist()]
            dims = [d - b - a for d, (b, a) in zip(np.shape(dy), pairs)]
            for d, (b, a) in zip(np.shape(dy), pairs):
                if d < b + a:
                    raise ValueError(f"Negative dimension size caused by subtracting {b + a} "
                                     f"from {d}")
            _check_paddings(paddings, dims, mode)
        except ValueError as e:
            raise _invalid(op, str(e)) from None
        return _fold_mirror_pad(dy, pairs, mode)

    paddings = site.const_input(1)
    if paddings is None:
        return fold
    return (lambda dy: fold(dy, paddings)), (0,)


register_op("MirrorPadGrad", _mirror_pad_grad_infer, cpu=Lowering(_mirror_pad_grad_lower),
            grad=lambda op, ddx: [pad(ddx, op.inputs[1], mode=op.attrs["mode"]), None])


def reverse(tensor, axis, name=None):
    """tf.reverse (TF1's reverse_v2): ``tensor`` with the dims in ``axis`` reversed."""
    with _scope(name, "ReverseV2", [tensor, axis]) as scope:
        x = _convert(tensor, "tensor")
        a = _index_tensor(axis, "axis", "ReverseV2")
        return op_util.make("ReverseV2", [x, a], {}, scope)


reverse_v2 = reverse


def _reverse_axes(axes, rank):
    out = []
    for i, a in enumerate(axes):
        if not -rank <= a < rank:
            raise ValueError(f"'axis'[{i}] = {a} is out of valid range [0, {rank - 1}]")
        a %= rank
        if a in out:
            raise ValueError(f"axis {a} specified more than once.")
        out.append(a)
    return tuple(out)


def _reverse_infer(op):
    x, a = op.inputs
    axes = constant_value(a)
    if a.shape.ndims not in (None, 1):
        raise ValueError(f"Shape must be rank 1 but is rank {a.shape.ndims}")
    if axes is not None and x.shape.ndims is not None:
        _reverse_axes(axes.tolist(), x.shape.ndims)
    return [(x.dtype, x.shape)]


def _reverse_lower(site, state):
    op = site.op

    def flip(x, axes):
        try:
            return np.flip(x, _reverse_axes(axes, np.ndim(x)))
        except ValueError as e:
            raise _invalid(op, str(e)) from None

    axes = site.const_input(1)
    if axes is None:
        return lambda x, a: flip(x, a.tolist())
    axes = axes.tolist()
    ndim = site.input_shapes[0].ndims
    if ndim is not None:
        fixed = _reverse_axes(axes, ndim)
        return (lambda x: np.flip(x, fixed)), (0,)
    return (lambda x: flip(x, axes)), (0,)


register_op("ReverseV2", _reverse_infer, cpu=Lowering(_reverse_lower),
            grad=lambda op, dy: [reverse(dy, op.inputs[1]), None], returns_alias=True)


__all__ = ["concat", "expand_dims", "fill", "gather", "identity", "invert_permutation",
           "newaxis", "one_hot", "ones", "ones_like", "pad", "range", "rank", "reshape",
           "reverse", "reverse_v2", "shape", "shape_n", "size", "slice", "split", "squeeze",
           "stack", "stop_gradient", "strided_slice", "tile", "transpose", "unstack", "zeros",
           "zeros_like"]
