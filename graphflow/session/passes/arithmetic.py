"""Arithmetic simplification: nodes whose value is exactly another value of the plan are
replaced by it, and chains of shape ops collapse into one.

Rewrites (each exact, bit for bit, for every input value):

    Identity(x), StopGradient(x)           -> x   (a plan computes no gradients)
    Neg(Neg(x)), LogicalNot(LogicalNot(x)) -> x
    Cast(x) to x's own dtype               -> x
    x * 1, 1 * x, x / 1, x // 1 (integer),
    x + 0, 0 + x, x - 0, x and True, ...   -> x   where the constant (all ones, zeros, True
                                                  or False) cannot change x's shape; float
                                                  zeros only where exact (_is_add_zero)
    x * 0, 0 * x, x - x (integers only)    -> zeros of the result's fully known shape
    Transpose(Transpose(x, p1), p2)        -> Transpose(x, p1[p2]), or x if that is 0..n-1
    Transpose(x, 0..n-1)                   -> x
    Reshape(Reshape(x, s1), s2)            -> Reshape(x, s2)   where the inner one cannot fail
    Reshape(x, s) to x's shape             -> x   (fully known, or symbolically equal)
    Sum(x, []) (no axes)                   -> x
    BroadcastGradientArgs(s0, s1)          -> constants where the shapes' symbols decide
                                              them (symbolic_shapes), unless fetched

The last three turn the gradient of ``a * b`` (or ``a + b``) with equal shapes of unknown
batch size, such as dropout's, into the products alone, as Grappler's symbolic shape
inference does: nothing left between them and the next elementwise op, which fusion then
joins.

Float ``x * 0`` and ``x - x`` stay: NaN and inf make them NaN, not 0; ``x * x`` and
``x + x`` stay too (Square would not be faster here).

Invariants: a rewritten node (and a node it looks through) is stateless, reads no ref and has
no control inputs, so no ordering or side effect is lost; nodes that read a replaced node by
control edge keep it (the dependency pass forwards such edges where that is free).
A node that copies its input (``x * 1``, not ``Identity``) is not replaced by a value that
may alias a variable this plan updates in place: fetches are copied when the plan returns,
after the update, and its readers would be scheduled differently around the update. A
fetched node inside a tf.cond branch stays, so that fetching it still fails as before.
Values the plan returns are copied by the lowering wherever their producer may alias
session storage, so a fetch that now names a variable read still hands out a copy.
"""
import numpy as np

from graphflow.session.ir import const_node
from graphflow.session.passes.constant_folding import MAX_FOLDED_ELEMENTS
from graphflow.session.passes.symbolic_shapes import (SymbolicShapes, broadcast_reductions,
                                                      same_dims)


def _is_one(value, dtype):
    return bool(np.all(value == 1))


def _is_integer_one(value, dtype):
    return dtype.is_integer and bool(np.all(value == 1))


# IEEE: -0.0 + +0.0 is +0.0, so adding +0.0 is not exact for x = -0.0 (adding -0.0 is).
# TF's Grappler (constant folding's arithmetic simplification) drops x + 0 whatever the
# zero's sign, unless the node is fetched; we keep the rewrite exact instead, so a plan gives
# the same bits with the pass on or off. tf.zeros and 0.0 are +0.0: float x + 0 stays.
def _is_add_zero(value, dtype):
    return bool(np.all(value == 0)) and (not dtype.is_floating or bool(np.all(np.signbit(value))))


def _is_sub_zero(value, dtype):
    return bool(np.all(value == 0)) and not (dtype.is_floating and np.any(np.signbit(value)))


# op type -> ((position of the constant operand, its test), ...): ``x op c == x``.
_NEUTRAL = {
    "Mul": ((1, _is_one), (0, _is_one)),
    "RealDiv": ((1, _is_one),),
    "FloorDiv": ((1, _is_integer_one),),
    "Add": ((1, _is_add_zero), (0, _is_add_zero)),
    "AddV2": ((1, _is_add_zero), (0, _is_add_zero)),
    "Sub": ((1, _is_sub_zero),),
    "LogicalAnd": ((1, _is_one), (0, _is_one)),
    "LogicalOr": ((1, _is_add_zero), (0, _is_add_zero)),
}
_INVOLUTIONS = ("Neg", "LogicalNot")

# What the notes call each rewrite: kind -> (singular, plural).
_KINDS = {
    "identity": ("identity", "identities"),
    "neutral": ("neutral operand", "neutral operands"),
    "involution": ("double negation", "double negations"),
    "cast": ("no-op cast", "no-op casts"),
    "zeros": ("integer zero", "integer zeros"),
    "transpose": ("transpose chain", "transpose chains"),
    "identity transpose": ("identity transpose", "identity transposes"),
    "reshape": ("reshape chain", "reshape chains"),
    "noop reshape": ("no-op reshape", "no-op reshapes"),
    "empty sum": ("sum over no axes", "sums over no axes"),
    "broadcast": ("broadcast gradient args", "broadcast gradient args"),
}


def _plain(node, outputs=1):
    """True if the node may be rewritten or looked through."""
    return not (node.stateful or node.refs or node.control_inputs) \
        and len(node.output_dtypes) == outputs


def _broadcast_keeps_shape(x_shape, c_shape):
    """True if broadcasting a constant of shape ``c_shape`` against any value of static
    shape ``x_shape`` gives that value's own shape."""
    if not c_shape:
        return True
    dims = x_shape.as_tuple()
    if dims is None or len(c_shape) > len(dims):
        return False
    return all(c == 1 or c == x for c, x in zip(reversed(c_shape), reversed(dims)))


def _perm(node):
    """A Transpose's constant permutation, if its input's rank is known to match it."""
    perm = node.const_input(1)
    if perm is None or node.input_shapes[0].ndims != perm.size:
        return None
    return tuple(int(p) for p in perm.reshape(-1))


def _reshape_cannot_fail(node):
    """True if Reshape ``node`` (constant target) succeeds for every input of its static
    shape: the shape is fully known (inference checked it), or the target has one -1 and
    the product of its other dims divides the product of the input's known dims."""
    target = node.const_input(1)
    shape = node.input_shapes[0]
    if target is None:
        return False
    if shape.is_fully_defined():
        return True
    target = [int(d) for d in target.reshape(-1)]
    if target.count(-1) != 1 or shape.ndims is None:
        return False
    rest = int(np.prod([d for d in target if d != -1], dtype=np.int64))
    known = int(np.prod([d for d in shape.as_tuple() if d is not None], dtype=np.int64))
    return rest > 0 and known % rest == 0


class _Rewriter:
    """The pass's state while it walks the plan in order."""

    def __init__(self, plan):
        self.written = {var for n in plan.nodes for var in n.refs.values()}
        self.fetched = set(plan.fetches)
        self.shapes = SymbolicShapes()
        self.mapping = {}  # (node, 0) -> the ref that replaces it
        self.nodes = []
        self.counts = {}

    def _aliases_written_variable(self, ref):
        """True if ``ref``'s value may be the storage of a variable this plan updates."""
        if not self.written:
            return False
        stack, seen = [ref[0]], set()
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            if node.type == "VariableV2":
                if node.op in self.written:
                    return True
            elif node.refs:  # Assign* and Apply* return the variable's own buffer
                if any(var in self.written for var in node.refs.values()):
                    return True
            elif node.opdef is not None and node.opdef.returns_alias:
                stack.extend(i[0] for i in node.inputs if i is not None)
        return False

    def _count(self, kind):
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def _fetched_in_branch(self, node):
        return (node, 0) in self.fetched and "_cond" in node.attrs

    def forward(self, node, ref, kind):
        """Every reader of ``node`` reads ``ref`` instead."""
        if self._fetched_in_branch(node):
            return
        if not node.opdef.returns_alias and self._aliases_written_variable(ref):
            return
        self.mapping[(node, 0)] = ref
        self._count(kind)

    def constant(self, node, value, kind):
        """``node`` becomes a constant; it still waits for (and so runs) its producers."""
        self.constants(node, [value], kind)

    def constants(self, node, values, kind):
        """Output k of ``node`` becomes the constant values[k], as ``constant`` does."""
        if self._fetched_in_branch(node):
            return
        waits = list(dict.fromkeys(
            i[0] for i in node.inputs if i[0].type not in ("Const", "_Feed")))
        for k, value in enumerate(values):
            suffix = "simplified" if len(values) == 1 else f"simplified_{k}"
            const = const_node(value, node.op, f"{node.name}/{suffix}")
            const.control_inputs = waits
            self.nodes.insert(len(self.nodes) - 1, const)
            self.mapping[(node, k)] = (const, 0)
        self._count(kind)

    def reroute(self, node, inputs, kind):
        """``node`` reads ``inputs`` instead (same kernel, same value)."""
        node.inputs = inputs
        self._count(kind)

    def notes(self):
        parts = [f"{n} {_KINDS[kind][n != 1]}" for kind, n in self.counts.items()]
        return ", ".join(parts) if parts else "0 rewritten"


def _look_through(node, rw):
    rw.forward(node, node.inputs[0], "identity")


def _involution(node, rw):
    inner = node.inputs[0][0]
    if inner.type == node.type and _plain(inner):
        rw.forward(node, inner.inputs[0], "involution")


def _cast(node, rw):
    if node.input_dtypes[0] is node.output_dtypes[0]:
        rw.forward(node, node.inputs[0], "cast")


def _binary(node, rw):
    dtype = node.output_dtypes[0]
    for position, is_neutral in _NEUTRAL.get(node.type, ()):
        value = node.const_input(position)
        x = node.inputs[1 - position]
        if (value is not None and x[0].output_dtypes[x[1]] is dtype
                and is_neutral(value, dtype)
                and _broadcast_keeps_shape(x[0].output_shapes[x[1]], value.shape)):
            rw.forward(node, x, "neutral")
            return
    shape = node.output_shapes[0]
    if not (dtype.is_integer and shape.is_fully_defined()
            and shape.num_elements() <= MAX_FOLDED_ELEMENTS):
        return
    zero_operand = node.type == "Mul" and any(
        v is not None and not np.any(v) for v in (node.const_input(0), node.const_input(1)))
    self_difference = node.type == "Sub" and node.inputs[0] == node.inputs[1]
    if zero_operand or self_difference:
        rw.constant(node, np.zeros(shape.as_tuple(), dtype.as_numpy_dtype), "zeros")


def _transpose(node, rw):
    perm = _perm(node)
    if perm is None:
        return
    x = node.inputs[0]
    inner = x[0]
    inner_perm = _perm(inner) if inner.type == "Transpose" and _plain(inner) else None
    if inner_perm is not None:
        composed = tuple(inner_perm[p] for p in perm)
        if composed == tuple(range(len(perm))):
            rw.forward(node, inner.inputs[0], "transpose")
        else:
            dtype = node.input_dtypes[1].as_numpy_dtype
            const = const_node(np.array(composed, dtype), node.op, f"{node.name}/perm")
            rw.nodes.insert(len(rw.nodes) - 1, const)
            rw.reroute(node, [inner.inputs[0], (const, 0)], "transpose")
    elif perm == tuple(range(len(perm))):
        rw.forward(node, x, "identity transpose")


def _reshape(node, rw):
    x = node.inputs[0]
    inner = x[0]
    chained = inner.type == "Reshape" and _plain(inner) and _reshape_cannot_fail(inner)
    if chained:
        x = inner.inputs[0]
    shape = node.output_shapes[0]
    if shape.is_fully_defined() and x[0].output_shapes[x[1]] == shape or \
            same_dims(rw.shapes.dims(x), rw.shapes.value(node.inputs[1])):
        rw.forward(node, x, "reshape" if chained else "noop reshape")
    elif chained:
        rw.reroute(node, [x, node.inputs[1]], "reshape")


def _sum(node, rw):
    axes = node.const_input(1)
    if axes is not None and axes.size == 0:
        rw.forward(node, node.inputs[0], "empty sum")


def _broadcast_gradient_args(node, rw):
    if any((node, k) in rw.fetched for k in range(2)):
        return  # the symbolic answer differs from TF's where a symbol is 1 at run time
    shapes = [rw.shapes.value(i) for i in node.inputs]
    if None in shapes:
        return
    reductions = broadcast_reductions(*shapes)
    if reductions is not None:
        dtype = node.output_dtypes[0].as_numpy_dtype
        rw.constants(node, [np.array(r, dtype) for r in reductions], "broadcast")


_RULES = {"Identity": _look_through, "StopGradient": _look_through, "Cast": _cast,
          "Transpose": _transpose, "Reshape": _reshape, "Sum": _sum}
_RULES.update({t: _involution for t in _INVOLUTIONS})
_RULES.update({t: _binary for t in _NEUTRAL})


def run(plan, ctx):
    rw = _Rewriter(plan)
    for node in plan.nodes:
        node.inputs = [rw.mapping.get(i, i) if i is not None else None for i in node.inputs]
        rw.nodes.append(node)
        rule = _RULES.get(node.type)
        if rule is not None and _plain(node):
            rule(node, rw)
        elif node.type == "BroadcastGradientArgs" and _plain(node, outputs=2):
            _broadcast_gradient_args(node, rw)
        rw.shapes.observe(node)
    plan.nodes = rw.nodes
    plan.substitute(rw.mapping)
    return rw.notes()
