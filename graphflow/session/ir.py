"""The plan IR: the Session's own copy of the ops a signature needs.

A PlanGraph is a list of Nodes in a valid execution order. A Node points at the graph
Operation it came from (``op``, for errors and names) but owns its inputs, so passes rewrite
nodes freely while the user's Graph stays untouched. ``inputs[i]`` is ``(producer, index)``,
or None for a ref input (a variable named by ``refs[i]``, never read).
"""
import heapq

from graphflow.framework import registry


class Node:
    __slots__ = ("type", "opdef", "inputs", "refs", "control_inputs", "attrs", "op", "device",
                 "output_dtypes", "output_shapes", "name", "members", "host_memory")

    def __init__(self, type, inputs, attrs, op, output_dtypes, output_shapes, refs=None,
                 control_inputs=(), device="", name=None):
        self.type = type
        self.opdef = registry.lookup(type)
        self.inputs = list(inputs)
        self.refs = dict(refs or {})
        self.control_inputs = list(control_inputs)
        self.attrs = attrs
        self.op = op
        self.device = device
        self.output_dtypes = list(output_dtypes)
        self.output_shapes = list(output_shapes)
        self.name = name or op.name
        self.members = [op]  # the graph ops this node stands for (several once fused)
        # Set by placement: a node placed on a GPU that runs its CPU kernel on host memory
        # (TF1's convention for int32 ops, which are shape arithmetic).
        self.host_memory = False

    @property
    def kernel_device(self):
        """The device type whose kernel runs this node ("CPU" or "GPU")."""
        if self.host_memory or "GPU" not in self.device:
            return "CPU"
        return "GPU"

    # --- the site protocol kernel factories read (shared with graph Operations) ---
    @property
    def input_dtypes(self):
        return [None if i is None else i[0].output_dtypes[i[1]] for i in self.inputs]

    @property
    def input_shapes(self):
        return [None if i is None else i[0].output_shapes[i[1]] for i in self.inputs]

    def const_input(self, index):
        ref = self.inputs[index]
        if ref is None or ref[0].type != "Const":
            return None
        return ref[0].attrs["value"]

    def ref_key(self, index):
        return self.refs[index]

    @property
    def stateful(self):
        return self.opdef is None or self.opdef.stateful

    def __repr__(self):
        return f"<Node {self.name} ({self.type})>"


def const_node(value, origin, name):
    """A Const node holding ``value`` (produced by a pass in place of ``origin``)."""
    from graphflow.framework import dtypes
    from graphflow.framework.tensor_shape import TensorShape
    value.setflags(write=False)
    dtype = dtypes.as_dtype(value.dtype)
    return Node("Const", [], {"value": value, "dtype": dtype}, origin, [dtype],
                [TensorShape(value.shape)], device=origin.device, name=name)


class PlanGraph:
    """Nodes in execution order; ``fetches`` are (node, index) refs, ``targets`` are nodes
    run for their effect, ``feeds`` maps each fed graph Tensor to its _Feed node."""

    def __init__(self, nodes, fetches, targets, feeds):
        self.nodes = nodes
        self.fetches = fetches
        self.targets = targets
        self.feeds = feeds

    def op_count(self):
        return sum(1 for n in self.nodes if n.type not in ("_Feed",))

    def substitute(self, mapping):
        """Replaces every use of ref ``old`` by ``mapping[old]`` (refs are (node, index))."""
        if not mapping:
            return
        for node in self.nodes:
            node.inputs = [mapping.get(i, i) if i is not None else None for i in node.inputs]
        self.fetches = [mapping.get(f, f) for f in self.fetches]

    def contract(self, replaced, mapping, rank):
        """Puts fused nodes in place of their members: ``replaced`` maps each member to its
        fused node, ``mapping`` each member output read outside to the fused output, and
        ``rank`` gives every node (fused ones included) its place in a stable re-sort.
        Control edges and targets naming a member name its fused node. Returns False if the
        contraction made the plan cyclic (a bug in the pass that chose the members)."""
        nodes = list(dict.fromkeys(replaced.get(n, n) for n in self.nodes))
        for node in nodes:  # an op run for its effect now runs inside its fused node
            node.control_inputs = list(dict.fromkeys(replaced.get(c, c)
                                                     for c in node.control_inputs))
        self.targets = list(dict.fromkeys(replaced.get(t, t) for t in self.targets))
        self.nodes = nodes
        self.substitute(mapping)
        order = stable_topological_order(self.nodes, rank)
        if order is None:
            return False
        self.nodes = order
        return True

    def prune_unreachable(self):
        """Drops nodes that no fetch or target needs (after a pass made them dead)."""
        live = set()
        stack = [f[0] for f in self.fetches] + list(self.targets)
        while stack:
            n = stack.pop()
            if n in live:
                continue
            live.add(n)
            stack.extend(i[0] for i in n.inputs if i is not None)
            stack.extend(n.control_inputs)
        self.nodes = [n for n in self.nodes if n in live]


def stable_topological_order(nodes, rank, extra=None):
    """``nodes`` in an order where every node follows its inputs, control inputs and the
    nodes in ``extra[node]``, otherwise by ``rank`` (distinct per node, so the heap never
    compares nodes). Returns None if those constraints form a cycle."""
    waiting, followers = {}, {}
    for node in nodes:
        producers = {i[0] for i in node.inputs if i is not None} | set(node.control_inputs)
        if extra:
            producers |= extra.get(node, set())
        waiting[node] = len(producers)
        for p in producers:
            followers.setdefault(p, []).append(node)
    ready = [(rank[n], n) for n in nodes if not waiting[n]]
    heapq.heapify(ready)
    order = []
    while ready:
        _, node = heapq.heappop(ready)
        order.append(node)
        for f in followers.get(node, ()):
            waiting[f] -= 1
            if not waiting[f]:
                heapq.heappush(ready, (rank[f], f))
    return order if len(order) == len(nodes) else None
