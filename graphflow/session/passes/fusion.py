"""Elementwise fusion: each maximal connected group of elementwise plan nodes becomes one
``_FusedElementwise`` node whose generated kernel (graphflow.kernels.cpu.fused) reads each
input once and writes each output once.

A node can join a group when its op has an ``elementwise`` template (named fields such as
``{alpha}`` are filled from its attrs), it has one output of known rank, no control inputs,
no ref inputs and only dtypes the kernels support, and the kernels evaluate its template at
vector speed (``fused.vectorises``). A group's nodes share one tf.cond branch (attr "_cond")
and one device hint, and have compatible static shapes of one rank, so that the group's
iteration space is each member's own shape (unknown-rank values are mostly scalar
hyper-parameter arithmetic, which computed per element of a big tensor would waste work).
The kernel copes with run-time shapes that differ anyway. Groups grow in
execution order, a node joining the groups of its producers only where the plan with every
group contracted to one node stays acyclic. A group of one node stays as it is (a numpy
ufunc is as fast) unless numpy would evaluate its template in several passes with
temporaries (ReluGrad's ``dy * (x > 0)``).

Finite scalar constants a member reads are written into its step as literals (of the dtype
the step computes in), so they cost the kernel no argument. A group's outputs are its
members' values read outside it or fetched. The fused node stands where its first member
stood, after a stable topological re-sort; its ``members`` are the graph ops it replaces, and
its ``op`` (named in errors) is the last of them.
"""
import ast
import string

import numpy as np

from graphflow.framework import errors
from graphflow.framework.registry import Lowering, register_op
from graphflow.kernels.cpu import fused
from graphflow.session.ir import Node

FUSED_TYPE = "_FusedElementwise"
# BiasAdd's template broadcasts numpy's way, which is its NHWC form only.
_CHANNELS_LAST = ("NHWC", "N...C")


def _lower(site, state):
    step_ops = site.attrs["step_ops"]
    op = site.op

    def broadcast_error(message, step):
        return errors.InvalidArgumentError(
            None, op if step is None else step_ops[step], message)
    return fused.FusedKernel(site.attrs["program"], broadcast_error)


def _infer(op):
    """Only the pass makes this op, with its outputs' dtypes and shapes in its attrs."""
    return list(zip(op.attrs["output_dtypes"], op.attrs["output_shapes"]))


def _lower_gpu(site, state):
    from graphflow.kernels.cuda import elementwise  # imports numba.cuda: GPU plans only
    return elementwise.FusedKernel(site.attrs["program"])


register_op(FUSED_TYPE, _infer, cpu=Lowering(_lower, allocates=True, in_place=True),
            gpu=Lowering(_lower_gpu))


def _dtype_name(dtype):
    return np.dtype(dtype.as_numpy_dtype).name


def _template(node):
    """The node's scalar template with its attrs filled in, or None if it cannot be fused."""
    template = scalar_template(node)
    if (template is None or node.control_inputs or node.refs or node.stateful
            or node.output_shapes[0].ndims is None):
        return None
    return template if fused.vectorises(template) else None


def scalar_template(node):
    """The node's scalar template with its attrs filled in, or None if the op has none that
    one generated kernel can run (the GPU's one-op elementwise kernels use it too)."""
    template = node.opdef.elementwise if node.opdef is not None else None
    if template is None or len(node.output_dtypes) != 1:
        return None
    if node.type == "BiasAdd" and node.attrs.get("data_format") not in _CHANNELS_LAST:
        return None
    if node.type == "Cast" and not (node.input_dtypes[0].is_bool or
                                    node.output_dtypes[0].is_floating):
        return None  # float to int: numpy's result for NaN and out-of-range values differs
    dtypes = node.input_dtypes + node.output_dtypes
    if any(_dtype_name(d) not in fused.SUPPORTED_DTYPES for d in dtypes):
        return None
    fields = {}
    for _, name, _, _ in string.Formatter().parse(template):
        if name and not name.isdigit():
            value = node.attrs.get(name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return None
            fields[name] = repr(value)
    positional = [f"{{{i}}}" for i in range(len(node.inputs))]
    return template.format(*positional, **fields)


class _Group:
    __slots__ = ("members", "shape", "key")

    def __init__(self, node, key):
        self.members = [node]
        self.shape = node.output_shapes[0]
        self.key = key


def _find_groups(nodes, templates):
    """Lists of member nodes (in plan order), one per group of two or more.

    Invariant: the plan with every group so far contracted to one node is acyclic. A node
    joins the groups of its producers only if no path leaves them and comes back to them or
    to the node; such a path can only run through nodes placed before the node (later ones
    are in no group yet), so the search stops at the node's position.
    """
    position = {node: k for k, node in enumerate(nodes)}
    consumers = {}
    for node in nodes:
        for producer in {i[0] for i in node.inputs if i is not None} | set(node.control_inputs):
            consumers.setdefault(producer, []).append(node)
    group_of = {}

    def acyclic(groups, node):
        inside = {m for g in groups for m in g.members}
        limit = position[node]
        stack = [c for m in inside for c in consumers.get(m, ()) if c is not node and
                 c not in inside]
        seen = set()
        while stack:
            x = stack.pop()
            if x is node or x in inside:
                return False
            if x in seen or position[x] > limit:
                continue
            g = group_of.get(x)
            for y in (g.members if g is not None else (x,)):  # a group is one node
                seen.add(y)
                stack.extend(consumers.get(y, ()))
        return True

    for node in nodes:
        if node not in templates:
            continue
        key = (node.attrs.get("_cond", ()), node.device)
        shape = node.output_shapes[0]
        candidates = []
        for producer, _ in node.inputs:
            g = group_of.get(producer)
            if (g is not None and g.key == key and g not in candidates
                    and all(h.shape.is_compatible_with(g.shape) for h in candidates)
                    and shape.is_compatible_with(g.shape)):
                candidates.append(g)
        chosen = candidates if candidates and acyclic(candidates, node) else \
            next(([g] for g in candidates if acyclic([g], node)), [])
        group = _Group(node, key)
        for g in chosen:
            group.members += g.members
            group.shape = group.shape.merge_with(g.shape)
        for m in group.members:
            group_of[m] = group
    groups = {id(g): g for g in group_of.values()}.values()
    return [sorted(g.members, key=position.get) for g in groups
            if len(g.members) > 1 or _numpy_temporaries(templates[g.members[0]])]


def _numpy_temporaries(template):
    """Whether numpy evaluates this one op's template in several passes over memory, each
    with a temporary array (ReluGrad's ``dy * (x > 0)``): then a generated kernel alone
    pays (0.69 -> 0.1 ms on a [100, 28, 28, 4] float32 ReluGrad)."""
    tree = ast.parse(template.replace("{", "v").replace("}", ""), mode="eval")
    operations = (ast.BinOp, ast.Compare, ast.BoolOp, ast.UnaryOp, ast.Call)
    return sum(isinstance(n, operations) for n in ast.walk(tree)) > 1


def _literal(ref, member):
    """The source text of input ``ref`` of ``member`` as a literal in its step, or None: a
    finite scalar constant of the dtype the step computes in (the generated code types a
    literal as the step's dtype, or as its first operand's where the step yields bool)."""
    node, _ = ref
    if node.type != "Const":
        return None
    value = np.asarray(node.attrs["value"])
    dtype = member.output_dtypes[0]
    computes_in = member.input_dtypes if dtype.is_bool else [dtype]
    if value.ndim != 0 or value.dtype.kind not in "fi" or not np.isfinite(value) or \
            {np.dtype(d.as_numpy_dtype) for d in computes_in} != {value.dtype}:
        return None
    return f"({value.item()!r})"


def _literals(members, member_set):
    """{(member, input position): literal} for the scalar constants the group's steps take
    as literals: a kernel argument fewer each (Numba's dispatch costs ~0.3 us per array), and
    inputs of one size let the kernel run flat. A step keeps at least one operand."""
    literals = {}
    for m in members:
        found = {pos: _literal(ref, m) for pos, ref in enumerate(m.inputs)
                 if ref[0] not in member_set}
        found = {pos: text for pos, text in found.items() if text is not None}
        if len(found) < len(m.inputs):
            literals.update({(m, pos): text for pos, text in found.items()})
    return literals


def _fuse(members, templates, readers, fetched):
    """The _FusedElementwise node for ``members``; returns (node, {old ref: new ref})."""
    member_set = set(members)
    literals = _literals(members, member_set)
    inputs, value = [], {}
    for m in members:
        for pos, ref in enumerate(m.inputs):
            if ref[0] not in member_set and (m, pos) not in literals and ref not in value:
                value[ref] = len(inputs)
                inputs.append(ref)
    steps, step_ops = [], []
    for k, m in enumerate(members):
        operands, args = [], []
        for pos, ref in enumerate(m.inputs):
            if (m, pos) in literals:
                operands.append(literals[(m, pos)])
            else:
                operands.append(f"{{{len(args)}}}")
                args.append(value[ref])
        steps.append(fused.Step(templates[m].format(*operands), tuple(args),
                                _dtype_name(m.output_dtypes[0])))
        step_ops.append(m.op)
        value[(m, 0)] = len(inputs) + k
    outputs = [m for m in members
               if (m, 0) in fetched or any(r not in member_set for r in readers.get(m, ()))]
    if not outputs:  # only run for its effect (a target): its errors still surface
        outputs = [members[-1]]
    program = fused.Program(tuple(_dtype_name(i[0].output_dtypes[i[1]]) for i in inputs),
                            tuple(steps), tuple(value[(m, 0)] for m in outputs))
    last = members[-1]
    attrs = {"program": program, "step_ops": step_ops,
             "output_dtypes": [m.output_dtypes[0] for m in outputs],
             "output_shapes": [m.output_shapes[0] for m in outputs]}
    if "_cond" in last.attrs:
        attrs["_cond"] = last.attrs["_cond"]
    node = Node(FUSED_TYPE, inputs, attrs, last.op, attrs["output_dtypes"],
                attrs["output_shapes"], device=last.device, name=last.name)
    node.members = [op for m in members for op in m.members]
    return node, {(m, 0): (node, k) for k, m in enumerate(outputs)}


def run(plan, ctx):
    templates = {}
    for node in plan.nodes:
        template = _template(node)
        if template is not None:
            templates[node] = template
    groups = _find_groups(plan.nodes, templates)
    if not groups:
        return "0 groups"
    readers = {}
    for node in plan.nodes:
        for ref in node.inputs:
            if ref is not None:
                readers.setdefault(ref[0], []).append(node)
    fetched = set(plan.fetches)
    rank = {node: k for k, node in enumerate(plan.nodes)}
    mapping, replaced = {}, {}
    for members in groups:
        node, refs = _fuse(members, templates, readers, fetched)
        mapping.update(refs)
        rank[node] = rank[members[0]]
        for m in members:
            replaced[m] = node
    if not plan.contract(replaced, mapping, rank):
        raise RuntimeError("elementwise fusion made the plan cyclic")  # a bug in _find_groups
    fused_ops = sum(len(g) for g in groups)
    return f"{len(groups)} group{'s' * (len(groups) != 1)}, {fused_ops} ops fused"
