"""Pruning: the ops that the fetches and targets need, as plan nodes in execution order.

A depth-first walk from the fetches back through data and control inputs, stopping at fed
tensors (a feed replaces one tensor, not its op). Post-order is a valid schedule.
"""
from graphflow.framework import errors
from graphflow.session.ir import Node, PlanGraph


def _feed_node(tensor):
    return Node("_Feed", [], {"tensor": tensor}, tensor.op, [tensor.dtype], [tensor.shape],
                name=tensor.name)


def build(fetch_tensors, target_ops, feed_tensors):
    feeds = {t: _feed_node(t) for t in feed_tensors}
    nodes = {}   # graph op -> plan node
    order = []
    # A control edge from a fed op waits for its feed instead (TF1): the op itself never runs.
    fed_ops = {t.op: node for t, node in feeds.items() if len(t.op.outputs) == 1}

    def value_of(tensor):
        fed = feeds.get(tensor)
        return (fed, 0) if fed is not None else (nodes[tensor.op], tensor.value_index)

    roots = [t.op for t in fetch_tensors if t not in feeds] + \
        [op for op in target_ops if op not in fed_ops]
    for root in roots:
        if root in nodes:
            continue
        stack = [(root, False)]
        while stack:
            op, expanded = stack.pop()
            if op in nodes:
                continue
            ref_inputs = op.opdef.ref_inputs
            if expanded:
                refs = {i: op.inputs[i].op for i in ref_inputs}
                inputs = [None if i in refs else value_of(t) for i, t in enumerate(op.inputs)]
                node = Node(op.type, inputs, op.attrs, op, [t.dtype for t in op.outputs],
                            [t.shape for t in op.outputs], refs=refs,
                            control_inputs=[fed_ops.get(c) or nodes[c]
                                            for c in op.control_inputs],
                            device=op.device)
                nodes[op] = node
                order.append(node)
                continue
            stack.append((op, True))
            for i, t in enumerate(op.inputs):
                if i in ref_inputs:
                    if t.op.type != "VariableV2":
                        raise errors.InvalidArgumentError(
                            None, op, f"Input {i} of {op.name!r} must be a variable, got "
                                      f"{t.name!r} ({t.op.type})")
                    continue
                if t not in feeds and t.op not in nodes:
                    stack.append((t.op, False))
            stack.extend((c, False) for c in op.control_inputs
                         if c not in nodes and c not in fed_ops)
    fetches = [value_of(t) for t in fetch_tensors]
    feed_nodes = list(feeds.values())
    targets = [fed_ops.get(o) or nodes[o] for o in target_ops]
    return PlanGraph(feed_nodes + order, fetches, targets, feeds)
