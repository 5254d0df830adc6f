"""Control flow: no_op, group and tf.cond.

tf.cond builds both branches in the graph, each op tagged with its branch (attr "_cond":
((cond name, branch), ...), outermost first), and joins them in one CondMerge op whose
inputs are the predicate, then the true branch's results, then the false branch's. The plan
lowers a CondMerge into an ``if``/``else`` holding each branch's ops, so only the taken
branch runs, side effects included (TF1's semantics for ops created inside a branch).
"""
from graphflow.framework import dtypes
from graphflow.framework import ops as ops_lib
from graphflow.framework.registry import register_op
from graphflow.ops import op_util

register_op("NoOp", lambda op: [], cpu=lambda: None)


def no_op(name=None):
    return ops_lib.get_default_graph().create_op("NoOp", [], name=name)


def group(*inputs, name=None):
    """An op that runs once all ``inputs`` (ops or tensors) have run; it has no outputs.
    TF1 names it "group_deps" unless ``name`` is given."""
    name = name or "group_deps"
    if not inputs:
        return no_op(name=name)
    graph = ops_lib.graph_of(inputs)
    with graph.as_default(), graph.control_dependencies(inputs):
        return no_op(name=name)


def _merge_infer(op):
    n = op.attrs["num_outputs"]
    outs = []
    for t, f in zip(op.inputs[1:1 + n], op.inputs[1 + n:]):
        if t.dtype is not f.dtype:
            raise TypeError(f"Outputs of true_fn and false_fn must have the same type: "
                            f"{t.dtype.name}, {f.dtype.name}")
        shape = t.shape if t.shape == f.shape else _common_shape(t.shape, f.shape)
        outs.append((t.dtype, shape))
    return outs


def _common_shape(a, b):
    """The most specific shape both branches' results fit (unknown where they differ)."""
    from graphflow.framework.tensor_shape import TensorShape
    if a.ndims is None or b.ndims is None or a.ndims != b.ndims:
        return TensorShape(None)
    return TensorShape([x if x == y else None for x, y in zip(a.as_tuple(), b.as_tuple())])


def _merge_kernel(pred, *values):
    n = len(values) // 2
    chosen = values[:n] if pred else values[n:]
    return chosen[0] if n == 1 else tuple(chosen)


def _merge_grad(op, *grads):
    """The result gradient flows into the branch that produced the result. The branches'
    own gradient ops are built inside their branches (graphflow.gradients does that)."""
    return [None] + list(grads) + list(grads)


register_op("CondMerge", _merge_infer, cpu=_merge_kernel, grad=_merge_grad,
            returns_alias=True)


def _flatten(structure):
    if isinstance(structure, (list, tuple)):
        return [t for s in structure for t in _flatten(s)]
    return [structure]


def _pack_like(structure, flat):
    if isinstance(structure, (list, tuple)):
        out = []
        for s in structure:
            packed, flat = _pack_like(s, flat)
            out.append(packed)
        return (type(structure)(out) if not hasattr(structure, "_fields")
                else type(structure)(*out)), flat
    return flat[0], flat[1:]


def _branch(graph, context, fn, scope):
    with graph.cond_branch(context), graph.name_scope(scope):
        result = fn()
    if result is None:
        raise ValueError("true_fn and false_fn must return at least one result.")
    flat = []
    with graph.cond_branch(context), graph.name_scope(scope):
        for r in _flatten(result):
            if isinstance(r, ops_lib.Operation):  # an op result: a True that waits for it
                with graph.control_dependencies([r]):
                    r = ops_lib.convert_to_tensor(True)
            flat.append(ops_lib.convert_to_tensor(r))
    return result, flat


def cond(pred, true_fn=None, false_fn=None, strict=False, name=None, fn1=None, fn2=None):
    """tf.cond: ``true_fn()`` if ``pred`` else ``false_fn()``; only the taken branch runs."""
    true_fn = true_fn or fn1
    false_fn = false_fn or fn2
    if not callable(true_fn) or not callable(false_fn):
        raise TypeError("true_fn and false_fn must be callable.")
    graph = op_util.graph_for([pred])
    with graph.as_default(), graph.name_scope(name or "cond") as scope:
        (pred,) = op_util.convert([pred])
        if pred.dtype is not dtypes.bool_ or pred.shape.ndims not in (None, 0):
            raise ValueError(f"pred must be a scalar bool tensor, got {pred}")
        outer = graph.cond_context
        key = scope.rstrip("/")
        true_result, true_flat = _branch(graph, outer + ((key, True),), true_fn, "true")
        _, false_flat = _branch(graph, outer + ((key, False),), false_fn, "false")
        if len(true_flat) != len(false_flat):
            raise ValueError(f"true_fn and false_fn must return the same number of results "
                             f"({len(true_flat)} vs {len(false_flat)})")
        merge = graph.create_op("CondMerge", [pred] + true_flat + false_flat,
                                {"num_outputs": len(true_flat), "branch_key": key}, "Merge")
        packed, _ = _pack_like(true_result, merge.outputs)
        return packed


__all__ = ["cond", "group", "no_op"]
