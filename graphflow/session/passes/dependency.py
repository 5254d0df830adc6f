"""Dependency optimization: control edges that order nothing are dropped, and so are the
NoOps (and Identity or Const nodes) that only relayed them.

A control edge ``c -> d`` only makes ``d`` run after ``c``. When ``c`` is an op that can
neither fail nor have an effect (NoOp, Identity, StopGradient, Const), ``d`` waiting for ``c``
is the same as ``d`` waiting for ``c``'s own predecessors, so the edge is forwarded to them
and ``c``, read by no one, is pruned. As in TF's Grappler dependency optimizer, a node with
``i`` predecessors and ``o`` control readers is bypassed only if ``i * o <= i + o``: a NoOp
joining many ops to many ops saves edges. Then an edge ``c -> d`` is dropped where ``d``
already reads ``c`` as data, or ``c`` precedes another of ``d``'s inputs (the ordering is
implied), and duplicate edges go.

Invariants: the transitive closure of "runs before" over the remaining nodes is unchanged, so
every op that ran still runs, in an order the plan's schedule still satisfies; targets stay.
"""

_TRIVIAL = ("NoOp", "Identity", "StopGradient", "Const")


def _predecessors(node):
    data = [i[0] for i in node.inputs if i is not None]
    return list(dict.fromkeys(data + node.control_inputs))


def _forward_trivial_edges(nodes):
    """Rewrites control inputs (without duplicates) so that none names a bypassed node."""
    readers = {}
    for node in nodes:
        for c in node.control_inputs:
            readers[c] = readers.get(c, 0) + 1
    stands_for = {}  # bypassed node -> the nodes an edge from it now names
    for node in nodes:  # in execution order: a node's predecessors are already rewritten
        if node.control_inputs:
            node.control_inputs = list(dict.fromkeys(
                x for c in node.control_inputs for x in stands_for.get(c, (c,))))
        if node.type in _TRIVIAL:  # (an Identity read as data may relay a later one)
            preds = list(dict.fromkeys(
                x for p in _predecessors(node) for x in stands_for.get(p, (p,))))
            fan_out = readers.get(node, 0)
            if len(preds) * fan_out <= len(preds) + fan_out:
                stands_for[node] = preds


def _drop_implied_edges(nodes):
    """Drops control edges that data edges or longer paths already imply. Ancestry is kept
    as bit masks over the nodes that are sources of control edges."""
    bit = {}
    for node in nodes:
        for c in node.control_inputs:
            bit.setdefault(c, 1 << len(bit))
    if not bit:
        return
    ancestors = {}  # node -> mask of the control sources it (strictly) depends on
    for node in nodes:
        data = {i[0] for i in node.inputs if i is not None}
        reach = 0
        for p in data.union(node.control_inputs):
            reach |= ancestors.get(p, 0)
        if node.control_inputs:
            node.control_inputs = [c for c in node.control_inputs
                                   if c not in data and not reach & bit[c]]
        for p in data.union(node.control_inputs):
            reach |= bit.get(p, 0)
        ancestors[node] = reach


def run(plan, ctx):
    edges_before = sum(len(n.control_inputs) for n in plan.nodes)
    noops_before = sum(n.type == "NoOp" for n in plan.nodes)
    _forward_trivial_edges(plan.nodes)
    _drop_implied_edges(plan.nodes)
    plan.prune_unreachable()
    edges = edges_before - sum(len(n.control_inputs) for n in plan.nodes)
    noops = noops_before - sum(n.type == "NoOp" for n in plan.nodes)
    return (f"{noops} no-op{'s' * (noops != 1)} removed, "
            f"{edges} control edge{'s' * (edges != 1)} dropped")
