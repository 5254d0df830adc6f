"""tf.Session: compiles a plan once per (fetches, feeds, targets) signature and runs it.

Per run, the only work is: resolve the fetch structure and feed keys, look the plan up,
validate the feeds, call the plan's generated function, rebuild the fetch structure. Nothing
per run touches the Graph, and a failed run leaves the Session as it was before it.
"""
import threading
import types
import warnings

from graphflow.framework import ops as ops_lib
from graphflow.framework.errors import RunArgumentError, RunArgumentTypeError
from graphflow.session import feeds as feeds_lib
from graphflow.session import fetches as fetches_lib
from graphflow.session import devices, hazards, passes, placement, prune, transfers
from graphflow.session.config import RunOptions
from graphflow.session.lowering import CompiledPlan, evaluate
from graphflow.session.state import RuntimeState

_PASS_CONTEXT = types.SimpleNamespace(evaluate=evaluate)


class _Runner:
    """One compiled signature: its plan and where each fetch leaf's value comes from."""

    __slots__ = ("plan", "leaf_outputs", "single")

    def __init__(self, plan, leaves):
        self.plan = plan
        positions, k = [], 0
        for leaf in leaves:
            if isinstance(leaf, ops_lib.Tensor):
                positions.append(k)
                k += 1
            else:
                positions.append(None)
        self.leaf_outputs = positions
        self.single = positions == [0]

    def values(self, outputs):
        if self.single:
            return outputs
        return [None if p is None else outputs[p] for p in self.leaf_outputs]


class BaseSession:
    def __init__(self, target="", graph=None, config=None):
        if graph is not None and not isinstance(graph, ops_lib.Graph):
            raise TypeError(f"graph must be a tf.Graph, but got {type(graph).__name__}")
        self._graph = graph if graph is not None else ops_lib.get_default_graph()
        self._config = config
        self._state = RuntimeState()
        self._runners = {}
        self._validators = {}
        self._flags = {}
        self._compile_lock = threading.Lock()
        self._closed = False
        self._pass_names = passes.enabled_passes(config)
        self._default_contexts = []
        self._growth = _GrowthWatch(self._graph)

    graph = property(lambda self: self._graph)
    graph_def = property(lambda self: self._graph.as_graph_def())
    sess_str = property(lambda self: "")

    # --- running ---
    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
        if self._closed:
            raise RuntimeError("Attempted to use a closed Session.")
        graph = self._graph
        if graph._last_op_id != self._growth.seen:
            self._growth.grew()
        if type(fetches) is ops_lib.Tensor and fetches.graph is graph:
            leaves, rebuild = (fetches,), None
        else:
            leaves, rebuild = fetches_lib.flatten(graph, fetches)
        if feed_dict:
            feed_tensors, feed_values = self._resolve_feeds(feed_dict)
        else:
            feed_tensors, feed_values = (), ()
        runner = self._runner(tuple(leaves), frozenset(feed_tensors))
        plan = runner.plan
        arrays = [None] * len(plan.feed_order)
        index = plan.feed_index
        for tensor, value in zip(feed_tensors, feed_values):
            arrays[index[tensor]] = self._validator(tensor)(value)
        trace = options is not None and options.trace_level == RunOptions.FULL_TRACE
        step_stats = run_metadata.step_stats if trace and run_metadata is not None else None
        outputs = plan.run(arrays, step_stats)
        if run_metadata is not None:
            run_metadata.plan_report = plan.report
        if rebuild is None:
            return outputs[0]
        return rebuild(runner.values(outputs))

    def make_callable(self, fetches, feed_list=None, accept_options=False):
        """A function ``f(*feed_values)`` bound to one compiled plan: TF1's fastest path."""
        if self._closed:
            raise RuntimeError("Attempted to use a closed Session.")
        leaves, rebuild = fetches_lib.flatten(self._graph, fetches)
        feed_tensors = [self._feed_tensor(k) for k in (feed_list or ())]
        runner = self._runner(tuple(leaves), frozenset(feed_tensors))
        plan_run = runner.plan.run
        n = len(feed_tensors)
        validators = [self._validator(t) for t in feed_tensors]
        order = [runner.plan.feed_index[t] for t in feed_tensors]
        in_order = order == list(range(n))
        values = runner.values

        def call(*args, options=None, run_metadata=None):
            if len(args) != n:
                raise TypeError(f"This callable takes {n} feed value(s), got {len(args)}.")
            if in_order:
                arrays = [v(a) for v, a in zip(validators, args)]
            else:
                arrays = [None] * n
                for pos, v, a in zip(order, validators, args):
                    arrays[pos] = v(a)
            trace = accept_options and options is not None and \
                options.trace_level == RunOptions.FULL_TRACE
            outputs = plan_run(arrays, run_metadata.step_stats if trace and run_metadata else None)
            return rebuild(values(outputs))

        return call

    def _runner(self, leaves, feed_set):
        key = (leaves, feed_set)
        runner = self._runners.get(key)
        if runner is None:
            with self._compile_lock:
                runner = self._runners.get(key)
                if runner is None:
                    runner = _Runner(self._compile(leaves, feed_set), leaves)
                    self._runners[key] = runner
        return runner

    def _compile(self, leaves, feed_set):
        tensors = [x for x in leaves if isinstance(x, ops_lib.Tensor)]
        targets = list(dict.fromkeys(x for x in leaves if isinstance(x, ops_lib.Operation)))
        plan = prune.build(tensors, targets, sorted(feed_set, key=lambda t: t.name))
        report = passes.optimize(plan, self._pass_names, _PASS_CONTEXT)
        hazards.order_reads_before_updates(plan)
        placement.place(plan, self._config, self._flags)
        copies = transfers.insert_copies(plan)
        if self._config is not None and self._config.log_device_placement:
            placement.log_placement(plan, copies)
        compiled = CompiledPlan(plan, self._state, report,
                                plan_memory=passes.MEMORY_PLANNING in self._pass_names)
        if self._config is not None and \
                self._config.graph_options.optimizer_options.global_jit_level > 0:
            compiled.compile_whole_steps()  # OptimizerOptions.ON_1 or ON_2
        return compiled

    def plan_for(self, fetches, feed_dict=None):
        """The CompiledPlan this Session runs for ``fetches`` and the keys of ``feed_dict``:
        its generated ``source``, its PlanGraph and the pass ``report``."""
        leaves, _ = fetches_lib.flatten(self._graph, fetches)
        feed_tensors = [self._feed_tensor(k) for k in (feed_dict or {})]
        return self._runner(tuple(leaves), frozenset(feed_tensors)).plan

    def plan_dot(self, fetches, feed_dict=None, **options):
        """The plan this Session runs for ``fetches`` as a Graphviz view (graphflow.viz)."""
        from graphflow.viz import plan_dot  # graphviz and networkx load only when drawing
        return plan_dot(self, fetches, feed_dict, **options)

    # --- feeds ---
    def _feed_tensor(self, key):
        graph = self._graph
        if isinstance(key, ops_lib.Tensor):
            tensor = key
        elif hasattr(key, "_ref"):
            tensor = key._ref()
        elif isinstance(key, str):
            try:
                tensor = graph.as_graph_element(key, allow_tensor=True, allow_operation=False)
            except (KeyError, ValueError) as e:
                raise RunArgumentError(f"Cannot interpret feed_dict key as Tensor: "
                                       f"{e.args[0]}") from None
        else:
            raise RunArgumentTypeError(f"Cannot interpret feed_dict key {key!r} of type "
                                       f"{type(key).__name__} as a Tensor.")
        if tensor.graph is not graph:
            raise RunArgumentError(f"Cannot interpret feed_dict key as Tensor: Tensor "
                                   f"{tensor.name!r} is not an element of this graph.")
        return tensor

    def _resolve_feeds(self, feed_dict):
        if not isinstance(feed_dict, dict):
            raise RunArgumentTypeError(f"feed_dict must be a dict, got {type(feed_dict).__name__}")
        tensors = [self._feed_tensor(k) for k in feed_dict]
        return tensors, list(feed_dict.values())

    def _validator(self, tensor):
        v = self._validators.get(tensor)
        if v is None:
            v = self._validators[tensor] = feeds_lib.make_validator(tensor)
        return v

    # --- lifetime and defaults ---
    def close(self):
        self._closed = True
        self._runners.clear()
        self._state.variables.clear()

    def as_default(self):
        return _DefaultSession(self)

    def list_devices(self):
        return [_DeviceAttributes(name, kind) for name, kind in devices.all_devices()]

    def __enter__(self):
        graph_ctx = self._graph.as_default()
        graph_ctx.__enter__()
        default_ctx = self.as_default()
        default_ctx.__enter__()
        self._default_contexts.append((graph_ctx, default_ctx))
        return self

    def __exit__(self, exc_type, exc, tb):
        graph_ctx, default_ctx = self._default_contexts.pop()
        default_ctx.__exit__(exc_type, exc, tb)
        graph_ctx.__exit__(exc_type, exc, tb)
        self.close()
        return False


class _GrowthWatch:
    """Notices the classic TF1 mistake of building ops inside the training loop: the graph
    grows between runs again and again (a plan per step, memory without bound). Growing a
    few times (tutorials add evaluation ops after training) is fine; after ``LIMIT`` runs
    that each found new ops, one warning names the newest op and where it was created.
    ``Graph.finalize()`` turns the mistake into an error at the line that makes the op."""

    LIMIT = 20

    def __init__(self, graph):
        self.graph = graph
        self.seen = graph._last_op_id
        self.count = 0

    def grew(self):
        self.seen = self.graph._last_op_id
        self.count += 1
        if self.count == self.LIMIT:
            newest = self.graph._ops[-1]
            warnings.warn(
                f"The graph grew between {self.LIMIT} Session.run calls (it now has "
                f"{len(self.graph._ops)} ops; the newest, {newest.name!r}, was created at "
                f"{newest.creation_site}). Ops built inside a training loop make the graph "
                "and the run time grow without bound: build them once, before the loop, and "
                "call tf.get_default_graph().finalize() to make this an error.",
                RuntimeWarning, stacklevel=3)


class _DefaultSession:
    def __init__(self, session):
        self._session = session

    def __enter__(self):
        ops_lib._session_stack().append(self._session)
        return self._session

    def __exit__(self, *exc):
        ops_lib._session_stack().pop()
        return False


class _DeviceAttributes:
    def __init__(self, name, device_type, memory_limit_bytes=0):
        self.name, self.device_type, self.memory_limit_bytes = name, device_type, memory_limit_bytes

    def __repr__(self):
        return f"_DeviceAttributes({self.name}, {self.device_type}, {self.memory_limit_bytes})"


class Session(BaseSession):
    """tf.Session(target='', graph=None, config=None)."""


class InteractiveSession(BaseSession):
    """A Session that makes itself the default on creation (for shells and notebooks)."""

    def __init__(self, target="", graph=None, config=None):
        super().__init__(target, graph, config)
        self._default = self.as_default()
        self._default.__enter__()

    def close(self):
        if self._default is not None:
            stack = ops_lib._session_stack()
            if self in stack:
                stack.remove(self)
            self._default = None
        super().close()
