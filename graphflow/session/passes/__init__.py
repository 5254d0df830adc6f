"""The optimization pass pipeline. Each pass is one module with one ``run(plan, ctx)``
function that rewrites the PlanGraph in place; the manager runs the enabled ones in order
and records what each changed (op counts before and after)."""
from graphflow.session.passes import (arithmetic, constant_folding, cse, dependency, fusion,
                                      remapper)

# (name, run): the order matters (folding makes the constants arithmetic simplification
# looks for; both expose duplicates for CSE; dropping control edges lets more nodes fuse;
# the remapper takes its product + bias + relu chains before elementwise fusion would;
# fusion comes last, as it hides its members from any later pass). The name is also the
# RewriterConfig field that switches the pass.
PASSES = (
    ("constant_folding", constant_folding.run),
    ("arithmetic_optimization", arithmetic.run),
    ("common_subgraph_elimination", cse.run),
    ("dependency_optimization", dependency.run),
    ("remapping", remapper.run),
    ("elementwise_fusion", fusion.run),
)

# Memory planning (graphflow.session.memory) runs when the plan is lowered, after the graph
# passes; RewriterConfig(memory_optimization=RewriterConfig.NO_MEM_OPT) turns it off.
MEMORY_PLANNING = "memory_optimization"
# every switch, in the order the passes run
NAMES = tuple(name for name, _ in PASSES) + (MEMORY_PLANNING,)


def turn_off(rewrite_options, name):
    """Sets the RewriterConfig field that turns pass ``name`` off."""
    from graphflow.session.config import RewriterConfig
    setattr(rewrite_options, name,
            RewriterConfig.NO_MEM_OPT if name == MEMORY_PLANNING else RewriterConfig.OFF)


def enabled_passes(config):
    """The pass names a ConfigProto enables (all, unless turned off the TF1 way)."""
    if config is None:
        return list(NAMES)
    graph_options = config.graph_options
    rewrite = graph_options.rewrite_options
    optimizer = graph_options.optimizer_options
    if rewrite.disable_meta_optimizer:
        return []
    off = set()
    if rewrite.memory_optimization == 1:  # RewriterConfig.NO_MEM_OPT
        off.add(MEMORY_PLANNING)
    if optimizer.opt_level == -1:  # OptimizerOptions.L0
        off.update(("constant_folding", "common_subgraph_elimination"))
    if not optimizer.do_constant_folding:
        off.add("constant_folding")
    if not optimizer.do_common_subexpression_elimination:
        off.add("common_subgraph_elimination")
    for name, _ in PASSES:
        if getattr(rewrite, name, 0) == 2:  # RewriterConfig.OFF
            off.add(name)
    return [name for name in NAMES if name not in off]


class PassReport:
    """What each pass did to one plan: rows of (pass, ops before, ops after, notes), and
    ``groups``: each node the passes made of several graph ops, as (its type, its name, the
    names of the graph ops it runs)."""

    def __init__(self):
        self.rows = []
        self.groups = []

    def add(self, name, before, after, notes=""):
        self.rows.append((name, before, after, notes))

    def __str__(self):
        lines = [f"{'pass':<30} {'ops before':>10} {'ops after':>10}  notes"]
        lines += [f"{n:<30} {b:>10} {a:>10}  {notes}" for n, b, a, notes in self.rows]
        if self.groups:
            lines.append(f"fused groups ({len(self.groups)}):")
            lines += [f"  {name} ({kind}): {', '.join(members)}"
                      for kind, name, members in self.groups]
        return "\n".join(lines)


def optimize(plan, names, ctx):
    report = PassReport()
    by_name = dict(PASSES)
    for name in names:
        if name == MEMORY_PLANNING:
            continue  # the lowering plans memory, and reports it
        before = plan.op_count()
        notes = by_name[name](plan, ctx) or ""
        plan.prune_unreachable()
        report.add(name, before, plan.op_count(), notes)
    report.groups = [(node.type, node.name, [op.name for op in node.members])
                     for node in plan.nodes if len(node.members) > 1]
    return report
