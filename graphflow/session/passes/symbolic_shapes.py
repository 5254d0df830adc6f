"""Symbolic shapes of a plan's values, as Grappler's symbolic shape inference has them.

A static shape says ``[?, 200]``; a symbolic one also says which unknown dims are equal:
the batch dim of a layer's output, of the random mask tf.nn.dropout draws from
``tf.shape`` of it, and of their product is one symbol. Each unknown dim starts as a fresh
Symbol; elementwise ops (broadcasting), MatMul, Shape, Reshape (a -1 where the other dims
match the input's) and the random ops that take a shape pass symbols on. The arithmetic pass uses them to decide at build time what
TF's gradients compute at run time: BroadcastGradientArgs of two shapes known to be equal
or broadcast-compatible, and Reshapes to the shape a value already has.

``observe(node)`` must see the nodes in plan order (each after its producers).
"""
import numpy as np

_SAME_SHAPE = ("Identity", "StopGradient", "Softmax", "LogSoftmax")
_SHAPED_DRAWS = ("RandomUniform", "RandomStandardNormal", "TruncatedNormal")


class Symbol:
    """An unknown dim; two dims are equal when they are the same Symbol."""

    __slots__ = ()

    def __repr__(self):
        return "?"


def _static(shape):
    """Dims of a TensorShape with a fresh Symbol per unknown dim; None for unknown rank."""
    dims = shape.as_tuple()
    return None if dims is None else tuple(Symbol() if d is None else d for d in dims)


def _refine(dims, static):
    """``dims`` where known, else the static dims; the static int wins over a symbol."""
    if dims is None or static is None or len(dims) != len(static):
        return static
    return tuple(s if isinstance(s, int) else d for d, s in zip(dims, static))


def _broadcast(shapes):
    """The symbolic result of broadcasting ``shapes`` together (None if a rank is unknown)."""
    if any(s is None for s in shapes):
        return None
    rank = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(rank):
        dims = {s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0} - {1}
        ints = {d for d in dims if isinstance(d, int)}
        if not dims:
            out.append(1)
        elif len(dims) == 1:
            out.append(dims.pop())
        elif len(ints) == 1:  # a symbol broadcast against n is n (or the op fails)
            out.append(ints.pop())
        else:
            out.append(Symbol())
    return tuple(out)


def same_dim(x, y):
    """True if two symbolic dims are known equal: the same int, or the same Symbol."""
    return x is y or (isinstance(x, int) and x == y)


def same_dims(a, b):
    """True if symbolic shapes ``a`` and ``b`` (either may be None) are known equal."""
    return a is not None and b is not None and len(a) == len(b) and \
        all(same_dim(x, y) for x, y in zip(a, b))


def broadcast_reductions(a, b):
    """(axes of a, axes of b) that BroadcastGradientArgs gives for shapes a and b, or None
    when the symbols do not decide them. TF's rule: equal shapes reduce nothing; otherwise
    (the shorter padded with leading 1s) an axis is reduced on each side whose dim is 1,
    unless both dims are the same other value. Where a symbol meets a 1, the symbol may be 1
    at run time, when TF's answer may differ by axes of size 1: a sum over such an axis
    (reshaped back to the operand's shape, as every gradient does) changes nothing."""
    if same_dims(a, b):
        return [], []
    rank = max(len(a), len(b))
    a = (1,) * (rank - len(a)) + tuple(a)
    b = (1,) * (rank - len(b)) + tuple(b)
    ra, rb = [], []
    for i, (x, y) in enumerate(zip(a, b)):
        if same_dim(x, y):
            if x == 1:
                ra.append(i)
                rb.append(i)
        elif x == 1:
            ra.append(i)
        elif y == 1:
            rb.append(i)
        else:
            return None
    return ra, rb


class SymbolicShapes:
    def __init__(self):
        self._dims = {}    # ref -> tuple of int | Symbol, or None
        self._values = {}  # ref of a 1-D int value -> its elements as dims

    def dims(self, ref):
        dims = self._dims.get(ref, False)
        if dims is False:  # a node made after the walk began (a constant the pass made)
            node, k = ref
            dims = self._dims[ref] = _static(node.output_shapes[k])
        return dims

    def value(self, ref):
        """The elements of a 1-D integer value (a shape) as dims, or None."""
        if ref not in self._values and ref[0].type == "Const":
            self._values[ref] = _const_value(ref[0].attrs["value"])
        return self._values.get(ref)

    def observe(self, node):
        static = [_static(s) for s in node.output_shapes]
        rule = _RULES.get(node.type)
        if rule is None and node.opdef is not None and node.opdef.elementwise is not None:
            rule = _elementwise
        derived = rule(self, node) if rule is not None and len(static) == 1 else None
        for k, dims in enumerate(static):
            self._dims[(node, k)] = _refine(derived, dims) if k == 0 else dims
        if node.type == "Shape":
            self._values[(node, 0)] = self.dims(node.inputs[0])


def _const_value(value):
    value = np.asarray(value)
    if value.ndim != 1 or value.dtype.kind not in "iu":
        return None
    return tuple(int(v) for v in value)


def _elementwise(shapes, node):
    return _broadcast([shapes.dims(i) for i in node.inputs if i is not None])


def _same_shape(shapes, node):
    return shapes.dims(node.inputs[0])


def _matmul(shapes, node):
    a, b = shapes.dims(node.inputs[0]), shapes.dims(node.inputs[1])
    if a is None or b is None or len(a) != 2 or len(b) != 2:
        return None
    return (a[1] if node.attrs["transpose_a"] else a[0],
            b[0] if node.attrs["transpose_b"] else b[1])


def _from_shape_input(position):
    def rule(shapes, node):
        value = shapes.value(node.inputs[position])
        return None if value is None or -1 in value else value
    return rule


def _reshape(shapes, node):
    """The target shape; a -1 in it is the input's dim at that place when every other
    target dim equals the input's there (``tf.reshape(x, [-1, 10])`` of an [n, 10] x)."""
    target = shapes.value(node.inputs[1])
    if target is None or -1 not in target:
        return target
    dims = shapes.dims(node.inputs[0])
    if dims is None or len(dims) != len(target) or target.count(-1) != 1:
        return None
    same = all(t == -1 or (isinstance(d, int) and d == t) for d, t in zip(dims, target))
    return tuple(dims) if same else None


_RULES = {"MatMul": _matmul, "Reshape": _reshape}
_RULES.update({t: _same_shape for t in _SAME_SHAPE})
_RULES.update({t: _from_shape_input(0) for t in _SHAPED_DRAWS})
