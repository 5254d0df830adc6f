"""Lowering: a placed, scheduled PlanGraph becomes one generated Python function.

Each kernel call is one line ``v7 = k7(v3, f0)`` over local variables; a value is deleted
right after its last reader, constants are globals of the function, and the function returns
the fetched values (copied where they could alias session storage). With memory planning a
kernel that allocates writes into a planned buffer, ``v7 = k7(v3, f0, alloc=_b2)``, the
buffers coming in as the function's first parameter (see graphflow.session.memory).
The source is kept (``CompiledPlan.source``) and registered with linecache, so a traceback
through a plan reads like ordinary code, and a failing line maps back to its graph op.
"""
import itertools
import linecache
import time

import numpy as np

from graphflow.framework import errors
from graphflow.session import memory, transfers

_plan_ids = itertools.count()


def kernel_for(node, state, device_type=None):
    """The function that runs ``node`` (on its placed device, or ``device_type``) and the
    input positions it takes."""
    kernel = node.opdef.lowering(device_type or node.kernel_device).factory(node, state)
    if isinstance(kernel, tuple):
        return kernel
    return kernel, tuple(range(len(node.inputs)))


def evaluate(node, values):
    """Runs a stateless node once on ``values`` (its inputs); returns its outputs' values."""
    fn, used = kernel_for(node, None, "CPU")
    out = fn(*(values[i] for i in used))
    return [out] if len(node.output_dtypes) == 1 else list(out)


class CompiledPlan:
    """A lowered plan: ``run(feed_arrays)`` returns the fetched arrays."""

    def __init__(self, plan, state, report, plan_memory):
        self.plan = plan
        self.report = report
        self.feed_order = list(plan.feeds)         # graph tensors, in parameter order
        self.feed_index = {t: i for i, t in enumerate(self.feed_order)}
        self.executed = [n for n in plan.nodes if n.type not in ("_Feed", "Const", "NoOp")]
        self._plan_memory = plan_memory
        self.source, self._namespace, self._line_node, self.buffer_count = self._generate(
            plan, state, traced=False)
        if plan_memory:
            report.add("memory_optimization", plan.op_count(), plan.op_count(),
                       f"{self.buffer_count} reusable buffers")
        self.filename = self._namespace["__file__"]
        self.fn = self._namespace["plan"]
        self._arenas = []  # buffer sets not in use by a run
        self._traced = None
        self._state = state
        self._whole_step = None

    def compile_whole_steps(self):
        """Runs this plan as one native function per feed shapes from now on, where it can
        (graphflow.session.whole_step)."""
        from graphflow.session.whole_step import WholeStep
        self._whole_step = WholeStep(self)

    def _generate(self, plan, state, traced):
        writer = _PlanWriter(plan, state, traced, self._plan_memory)
        source = writer.source()
        filename = f"<graphflow plan {next(_plan_ids)}>"
        writer.namespace["__file__"] = filename
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        exec(compile(source, filename, "exec"), writer.namespace)
        return source, writer.namespace, writer.line_node, writer.buffers.count

    def run(self, feeds, step_stats=None):
        if step_stats is not None:
            return self._run_traced(feeds, step_stats)
        if self._whole_step is not None:
            return self._whole_step.run(feeds, self._run_ops)
        return self._run_ops(feeds)

    def _run_ops(self, feeds):
        arenas = self._arenas
        try:
            arena = arenas.pop()
        except IndexError:
            arena = [memory.Buffer() for _ in range(self.buffer_count)]
        try:
            return self.fn(arena, *feeds)
        except Exception as e:
            raise self._op_error(e, self.filename, self._line_node) from e
        finally:
            arenas.append(arena)

    def run_recording(self, feeds):
        """Runs the plan once, as ``run`` does; returns its outputs and a copy of every
        kernel's result (as it was computed: later kernels may reuse its buffer) by node
        index."""
        generated = self._generate(self.plan, self._state, traced=False)
        _, ns, _, _ = generated
        results = {}

        def recording(index, fn):
            def call(*args, **kwargs):
                out = fn(*args, **kwargs)
                results[index] = tuple(map(np.copy, out)) if isinstance(out, (tuple, list)) \
                    else np.copy(out)
                return out
            return call
        for name in list(ns):
            if name[0] == "k" and name[1:].isdigit():
                ns[name] = recording(int(name[1:]), ns[name])
        return self._run_once(generated, feeds), results

    def _run_once(self, generated, feeds):
        """Runs a generated variant of the plan (traced, recording) with buffers of its own."""
        _, ns, line_node, count = generated
        try:
            return ns["plan"]([memory.Buffer() for _ in range(count)], *feeds)
        except Exception as e:
            raise self._op_error(e, ns["__file__"], line_node) from e

    def _run_traced(self, feeds, step_stats):
        if self._traced is None:
            self._traced = self._generate(self.plan, self._state, traced=True)
        _, ns, _, _ = self._traced
        records = []
        ns["_record"] = lambda index, t0: records.append((index, t0, time.perf_counter()))
        out = self._run_once(self._traced, feeds)
        from graphflow.session.config import DeviceStepStats, NodeExecStats
        dev = DeviceStepStats(device="/job:localhost/replica:0/task:0/device:CPU:0")
        for index, t0, t1 in records:
            node = self.plan.nodes[index]
            micros = int(t0 * 1e6)
            dev.node_stats.append(NodeExecStats(
                node_name=node.name, timeline_label=f"{node.name} = {node.type}()",
                all_start_micros=micros, op_end_rel_micros=int((t1 - t0) * 1e6),
                all_end_rel_micros=int((t1 - t0) * 1e6)))
        step_stats.dev_stats.append(dev)
        return out

    @staticmethod
    def _op_error(exc, filename, line_node):
        """The tf.errors error for a kernel failure, naming the op on the failing line."""
        tb, node = exc.__traceback__, None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == filename:
                node = line_node.get(tb.tb_lineno)
            tb = tb.tb_next
        if isinstance(exc, errors.OpError):
            if exc.op is None and node is not None:
                exc.op = node.op
            return exc
        op = node.op if node is not None else None
        where = f"{node.type} op" if node is not None else "plan"
        cls = errors.ResourceExhaustedError if isinstance(exc, MemoryError) else \
            errors.InvalidArgumentError
        return cls(None, op, f"{where} failed: {type(exc).__name__}: {exc}")


def _fetch(value):
    """A fetched value of unknown static rank: numpy scalars for rank 0, as TF1 returns."""
    return value[()] if value.ndim == 0 else value


def _copy_fetch(value):
    """As _fetch, for values that may alias session storage (variables, feeds, constants)."""
    return value[()] if value.ndim == 0 else value.copy()


def _lowering_of(node):
    return node.opdef.lowering(node.kernel_device)


def _allocates(node):
    """Whether node's kernel writes its outputs into buffers it is given."""
    if node.type in ("_Feed", "Const", "NoOp", "CondMerge"):
        return False
    return _lowering_of(node).allocates


def _in_place(node):
    return _lowering_of(node).in_place


def _branch_context(node):
    return node.attrs.get("_cond", ()) if node.type != "_Feed" else ()


class _PlanWriter:
    """Writes a plan's Python source: one line per kernel call, in schedule order; the nodes
    of a tf.cond branch go inside the ``if``/``else`` of their CondMerge."""

    def __init__(self, plan, state, traced, plan_memory):
        self.plan, self.state, self.traced = plan, state, traced
        # __name__ puts the plan in graphflow's namespace for warning filters (see graphflow/)
        self.namespace = {"__name__": "graphflow.session.plan", "_fetch": _fetch,
                          "_copy_fetch": _copy_fetch, "_empty": np.empty,
                          "_now": time.perf_counter}
        self.names, self.defined_in, self.line_node, self.lines = {}, {}, {}, []
        self.fetched = set(plan.fetches)
        self.readers_left = {}
        self.blocks = {}  # branch context -> its nodes in schedule order
        for node in plan.nodes:
            self.blocks.setdefault(_branch_context(node), []).append(node)
            for ref in node.inputs:
                if ref is not None:
                    self.readers_left[ref] = self.readers_left.get(ref, 0) + 1
        self.index = {node: i for i, node in enumerate(plan.nodes)}
        self.emitted = set()
        self.buffers = memory.BufferPlanner(
            plan, _allocates if plan_memory else lambda node: False, self.readers_left)

    def source(self):
        params = []
        for k, tensor in enumerate(self.plan.feeds):
            self.names[(self.plan.feeds[tensor], 0)] = f"f{k}"
            params.append(f"f{k}")
        self._block((), 1)
        results, returned = [], set()
        for ref in self.plan.fetches:
            if ref not in self.names or self.defined_in.get(self.names[ref], ()) != ():
                raise errors.InvalidArgumentError(
                    None, ref[0].op, f"{ref[0].name!r} is built inside a tf.cond branch and "
                                     "cannot be fetched; fetch the cond's result instead.")
            name = self.names[ref]
            # a value fetched twice (CSE or a pass merged two fetches) is handed out twice:
            # each fetch gets its own array, as TF1's fetches do
            alias = ref[0].type in ("_Feed", "Const") or ref[0].opdef.returns_alias or \
                name in returned
            returned.add(name)
            rank = ref[0].output_shapes[ref[1]].ndims
            if rank == 0:  # TF1 returns scalars as numpy scalars (immutable: nothing to copy)
                results.append(f"{name}[()]")
            elif rank is None:
                results.append(f"_{'copy_' if alias else ''}fetch({name})")
            else:
                results.append(f"{name}.copy()" if alias else name)
        self.lines.append("    return (" + "".join(r + ", " for r in results) + ")")
        if self.buffers.count:
            buffers = "".join(f"_b{k}, " for k in range(self.buffers.count))
            self.lines.insert(0, f"    {buffers}= _arena")
            self.line_node = {line + 1: node for line, node in self.line_node.items()}
        return (f"def plan({', '.join(['_arena'] + params)}):\n" +
                "".join(l + "\n" for l in self.lines))

    def _emit(self, indent, text, node=None):
        self.lines.append("    " * indent + text)
        if node is not None:
            self.line_node[len(self.lines) + 1] = node

    def _block(self, context, indent, before=None):
        """Emits the nodes of ``context`` not emitted yet; inside a CondMerge (``before`` is
        its index) only those scheduled before it. A cond and its gradient's CondMerge share
        branch contexts: each emits the branch nodes scheduled before it, and the later one
        reads values the earlier one computed under the same predicate."""
        for node in self.blocks.get(context, ()):
            if node in self.emitted or (before is not None and self.index[node] > before):
                continue
            self.emitted.add(node)
            if node.type in ("_Feed", "NoOp"):
                continue
            index = self.index[node]
            if node.type == "Const":
                self.names[(node, 0)] = f"c{index}"
                self.namespace[f"c{index}"] = transfers.device_value(node.attrs["value"],
                                                                     node.device)
            elif node.type == "CondMerge":
                self._cond(node, index, context, indent)
            else:
                self._call(node, index, context, indent)

    def _outputs(self, node, index, context):
        outs = [(node, k) for k in range(len(node.output_dtypes))]
        for o in outs:
            self.names[o] = f"v{index}_{o[1]}"
            self.defined_in[self.names[o]] = context
        return outs

    def _read(self, refs, context):
        """Counts these reads; returns the names whose value is dead after them."""
        dead = []
        for ref in refs:
            self.readers_left[ref] -= 1
            name = self.names[ref]
            if (self.readers_left[ref] == 0 and ref not in self.fetched and name[0] == "v"
                    and self.defined_in.get(name) == context):
                dead.append(name)
        return sorted(set(dead))

    def _call(self, node, index, context, indent):
        fn, used = kernel_for(node, self.state)
        self.namespace[f"k{index}"] = fn
        refs = [node.inputs[i] for i in used]
        args = ", ".join(self._name(ref, node, context) for ref in refs)
        buffers = self.buffers.call(node, refs, _in_place(node))
        if any(b is not None for b in buffers):
            allocs = [f"_b{b}" if b is not None else "_empty" for b in buffers]
            args += (", " if args else "") + "alloc=" + (
                allocs[0] if len(allocs) == 1 else f"({', '.join(allocs)})")
        outs = self._outputs(node, index, context)
        live = [o for o in outs if self.readers_left.get(o) or o in self.fetched]
        if not live:
            target = ""
        elif len(outs) == 1:
            target = f"{self.names[outs[0]]} = "
        else:
            target = ", ".join(self.names[o] if o in live else "_" for o in outs) + ", = "
        stmt = f"{target}k{index}({args})"
        dead = self._read(refs, context)
        if dead:
            stmt += "; del " + ", ".join(dead)
        if self.traced:
            stmt = f"_t = _now(); {stmt}; _record({index}, _t)"
        self._emit(indent, stmt, node)
        self.buffers.release_unread(node)

    def _cond(self, node, index, context, indent):
        n = node.attrs["num_outputs"]
        key = node.attrs["branch_key"]
        pred = self._name(node.inputs[0], node, context)
        dead = self._read(node.inputs[:1], context)
        self.buffers.read(node.inputs[:1])
        outs = self._outputs(node, index, context)
        self._emit(indent, f"if {pred}:", node)
        for branch, results in ((True, node.inputs[1:1 + n]), (False, node.inputs[1 + n:])):
            if not branch:
                self._emit(indent, "else:", node)
            inner = context + ((key, branch),)
            self._block(inner, indent + 1, before=index)
            values = ", ".join(self._name(ref, node, inner) for ref in results)
            stmt = ", ".join(self.names[o] for o in outs) + f", = {values},"
            inner_dead = self._read(results, inner)
            self.buffers.read(results)
            if inner_dead:
                stmt += "; del " + ", ".join(inner_dead)
            self._emit(indent + 1, stmt, node)
        if dead:
            self._emit(indent, "del " + ", ".join(dead))

    def _name(self, ref, reader, context):
        name = self.names.get(ref)
        defined = self.defined_in.get(name, ())
        if name is None or context[:len(defined)] != defined:
            raise errors.InvalidArgumentError(
                None, reader.op, f"{reader.name!r} reads {ref[0].name!r}, which is built inside "
                                 "a tf.cond branch that does not contain it; use the cond's "
                                 "result instead.")
        return name
