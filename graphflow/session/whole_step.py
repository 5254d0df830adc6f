"""Whole-step compilation, graphflow's analogue of TF1's XLA JIT
(``OptimizerOptions(global_jit_level=OptimizerOptions.ON_1)``): for each set of feed shapes,
the plan becomes one Numba function, and a run is one native call.

Specialisation. The second run with new feed shapes (the first runs op by op: a plan run
once is not worth a compile) runs the plan op by op as usual, recording every kernel's
result. Its shapes make every value's shape a constant; the values of the
shape arithmetic (Shape, Size, BroadcastGradientArgs and whatever is computed from them and
constants alone) become arguments of the function. Each other op is written as Numba source
by its native form (``OpDef.native``, see graphflow.ops.native_kernels): fused loops and
direct calls of the Numba kernels the interpreted plan calls through Python (BLAS calls for
products). Before the call, Python reads the variables (whose arrays the function updates in
place) and draws the random ops' numbers from their usual streams, so a compiled step
computes what the interpreted one does: bit for bit, except for sums that numpy would add
pairwise (to a float32 rounding).

Where a plan holds an op without a native form (or a tf.cond, or a GPU op), that
specialisation runs op by op; the plan's report says why. The generated module is written to
the kernel cache under the hash of its source, which spells out the plan's structure, shapes
and dtypes and the hashes of the kernel modules it calls: a second process loads the compiled
function from the cache instead of compiling it.
"""
import hashlib
import math
import threading
import time

import numpy as np

from graphflow.framework import errors

FORMAT = 1
# ops whose value is a function of their inputs' shapes alone
_SHAPE_READERS = ("Shape", "Size", "Rank", "ShapeN")
# stateful ops run in Python before the native call: their draws keep their usual streams
_RANDOM = ("RandomUniform", "RandomStandardNormal", "TruncatedNormal", "RandomUniformInt")


class NotNative(Exception):
    """Raised by a native form for a site it cannot write (a dtype, layout or attr)."""


class _Fallback(Exception):
    """A run the specialisation does not cover (a variable re-created with another shape)."""


class WholeStep:
    """The compiled steps of one CompiledPlan, one per tuple of feed shapes and dtypes.

    A signature's first run goes op by op, its second is recorded and compiled: a plan run
    once (an initializer, a final evaluation) costs no compile."""

    def __init__(self, compiled):
        self.compiled = compiled
        self._steps = {}  # feed signature -> callable(feeds), or None: runs op by op
        self._seen = set()
        self._lock = threading.Lock()

    def run(self, feeds, interpreted):
        key = tuple((np.shape(f), np.asarray(f).dtype) for f in feeds)
        step = self._steps.get(key, self)
        if step is self:
            if key not in self._seen:
                self._seen.add(key)
                return interpreted(feeds)
            with self._lock:
                if key not in self._steps:
                    return self._specialise(key, feeds)
            step = self._steps[key]
        if step is None:
            return interpreted(feeds)
        try:
            return step(feeds)
        except _Fallback:
            return interpreted(feeds)

    def _specialise(self, key, feeds):
        outputs, results = self.compiled.run_recording(feeds)
        plan = self.compiled.plan
        shapes = ", ".join(str(list(s)) for s, _ in key)
        try:
            start = time.perf_counter()
            writer = _Writer(plan, self.compiled._state, results, feeds)
            step = writer.compile()
            seconds = time.perf_counter() - start
        except NotNative as e:
            self._steps[key] = None
            plan_ops = plan.op_count()
            self.compiled.report.add("whole_step_compilation", plan_ops, plan_ops,
                                     f"feeds [{shapes}]: runs op by op: {e}")
            return outputs
        self._steps[key] = step
        self.compiled.report.add(
            "whole_step_compilation", plan.op_count(), 1,
            f"feeds [{shapes}]: one native function of {writer.native_ops} ops, "
            f"compiled or loaded in {seconds:.2f} s")
        return outputs


class _Writer:
    """Writes one specialisation's Numba source; the native forms call its methods for the
    node being written (``arg``, ``shape``, ``out``, ``line``, ...)."""

    def __init__(self, plan, state, results, feeds):
        self.plan, self.state = plan, state
        self.params, self.sources = [], []   # parameter names; how each run gets its value
        self.imports, self.lines = {}, []
        self.names, self.shapes, self.dtypes, self.static = {}, {}, {}, {}
        self.recorded = {}  # value -> what the recording run computed
        self.native_ops = 0
        self._locals = 0
        self.examples = []  # per parameter, a value of its type (to compile before a run)
        for k, tensor in enumerate(plan.feeds):
            ref = (plan.feeds[tensor], 0)
            self.names[ref] = self._param(("feed", k), _contiguous(feeds[k]))
            self.shapes[ref], self.dtypes[ref] = np.shape(feeds[k]), np.asarray(feeds[k]).dtype
        for index, node in enumerate(plan.nodes):
            self._record(index, node, results)

    # --- what the run recorded ---
    def _record(self, index, node, results):
        if node.type in ("_Feed", "NoOp"):
            return
        if node.type == "CondMerge":
            raise NotNative("the plan holds a tf.cond")
        if node.kernel_device != "CPU":
            raise NotNative(f"{node.type} op {node.name!r} runs on {node.device}")
        if node.type == "Const":
            values = [node.attrs["value"]]
        else:
            if index not in results:
                raise NotNative(f"{node.type} op {node.name!r} did not run")
            out = results[index]
            values = [out] if len(node.output_dtypes) == 1 else list(out)
        static = node.type == "Const" or node.type in _SHAPE_READERS or (
            not node.opdef.stateful and node.type != "_Feed" and node.inputs and
            all(ref is not None and ref in self.static for ref in node.inputs))
        for k, value in enumerate(values):
            ref = (node, k)
            self.recorded[ref] = value
            self.shapes[ref] = tuple(int(d) for d in np.shape(value))
            self.dtypes[ref] = np.asarray(value).dtype
            if static:
                self.static[ref] = np.array(value)

    # --- the source ---
    def compile(self):
        for node in self.plan.nodes:
            self._write(node)
        returns = [self._name(ref) for ref in self.plan.fetches]
        body = "".join(f"    {line}\n" for line in self.lines)
        imports = "".join(f"from {module} import {name} as {alias}\n"
                          for (module, name), alias in sorted(self.imports.items()))
        libraries = sorted({m for m, _ in self.imports if not m.startswith("graphflow_fused_")})
        source = (f"# Generated by graphflow.session.whole_step (format {FORMAT}); do not edit.\n"
                  f"# kernels: {_library_digest(libraries)}\n"
                  "import numpy as np\nfrom numba import njit\n" + imports + "\n\n"
                  "@njit(cache=True, nogil=True, error_model='numpy')\n"
                  f"def step({', '.join(self.params)}):\n{body}"
                  f"    return ({''.join(r + ', ' for r in returns)})\n")
        from numba import typeof
        from numba.core.errors import NumbaError
        from graphflow.kernels.cpu import fused  # the kernel cache
        native = fused.load_module(source, "step").step
        self.source = source
        try:  # compiles now, or loads the compiled function from the cache
            native.compile(tuple(typeof(a) for a in self.examples))
        except NumbaError as e:
            raise NotNative(f"Numba could not compile the step: {e}")
        return _Step(native, self.sources, self._fetch_forms())

    def _write(self, node):
        if node.type in ("_Feed", "Const", "NoOp") or (node, 0) in self.static:
            return
        if node.type == "VariableV2" or (node.type in _RANDOM and all(
                ref in self.static for ref in node.inputs)):
            self._prelude(node)
            return
        native = node.opdef.native
        if native is None:
            raise NotNative(f"no native form for {node.type} (op {node.name!r})")
        self.node = node
        native(node, self)
        self.native_ops += 1

    def _prelude(self, node):
        """A value Python computes before each native call: the node's own kernel, on its
        static inputs."""
        from graphflow.session.lowering import kernel_for
        fn, used = kernel_for(node, self.state)
        recorded = self.recorded[(node, 0)]
        if node.type == "VariableV2":  # (a missing variable raises its usual error in fn)
            self.names[(node, 0)] = self._param(
                ("variable", _variable_reader(fn, recorded.shape)), recorded)
            return
        args = [self.static[node.inputs[i]] for i in used]
        self.names[(node, 0)] = self._param(("call", lambda: fn(*args)), recorded)

    def _fetch_forms(self):
        """Per fetch: how the returned array becomes the fetched value ("scalar", "copy" for
        values that may alias a variable, feed or constant, or "as is")."""
        forms, seen = [], set()
        for ref in self.plan.fetches:
            node = ref[0]
            alias = ref in seen or node.type in ("_Feed", "Const", "VariableV2") or \
                ref in self.static or (node.opdef is not None and node.opdef.returns_alias)
            seen.add(ref)
            forms.append("scalar" if not self.shapes[ref] else "copy" if alias else "as is")
        return forms

    def _param(self, source, example):
        name = f"a{len(self.params)}"
        self.params.append(name)
        self.sources.append(source)
        self.examples.append(np.asarray(example))
        return name

    def _name(self, ref):
        name = self.names.get(ref)
        if name is None:
            if ref not in self.static:
                raise NotNative(f"{ref[0].name!r} has no native value")
            name = self.names[ref] = self._param(("value", self.static[ref]), self.static[ref])
        return name

    # --- the interface of native forms, for the node being written ---
    def arg(self, i):
        """The name of input i's array."""
        return self._name(self.node.inputs[i])

    def shape(self, i):
        return self.shapes[self.node.inputs[i]]

    def dtype(self, i):
        return self.dtypes[self.node.inputs[i]]

    def static_value(self, i):
        """Input i's value when the specialisation knows it (a constant, shape arithmetic)."""
        return self.static.get(self.node.inputs[i])

    def out(self, k=0):
        """The name output k is assigned to."""
        name = self.names[(self.node, k)] = f"v{self.plan.nodes.index(self.node)}_{k}"
        return name

    def out_shape(self, k=0):
        return self.shapes[(self.node, k)]

    def out_dtype(self, k=0):
        return self.dtypes[(self.node, k)]

    def ref(self, i):
        """The name of the variable array that ref input i names, read before each call;
        a run where it is missing or has another shape runs op by op."""
        var_op = self.node.ref_key(i)
        store = self.state.variables
        current = store.get(var_op)
        if current is None:
            raise NotNative(f"variable {var_op.name!r} has no value yet")
        return self._param(
            ("variable", _variable_reader(lambda: store.get(var_op), current.shape)), current)

    def variable_shape(self, i):
        """The shape of the variable ref input i names (as when the step was specialised)."""
        current = self.state.variables.get(self.node.ref_key(i))
        if current is None:
            raise NotNative(f"variable {self.node.ref_key(i).name!r} has no value yet")
        return current.shape

    def constant(self, value):
        """The name of a parameter holding ``value`` (an array) on every call."""
        value = np.asarray(value)
        return self._param(("value", value), value)

    def function(self, fn):
        """The local name of a Numba function (imported from its module)."""
        py = fn.py_func
        key = (py.__module__, py.__name__)
        if key not in self.imports:
            self.imports[key] = f"_f{len(self.imports)}"
        return self.imports[key]

    def local(self):
        self._locals += 1
        return f"t{self._locals}"

    def line(self, text):
        self.lines.append(text)


class _Step:
    """One specialisation at run time: gathers the arguments, calls the native function and
    hands out the fetched values."""

    def __init__(self, native, sources, forms):
        self.native, self.forms = native, forms
        self.sources = sources

    def __call__(self, feeds):
        # the variables first: a run that falls back (_Fallback) has drawn no random numbers
        args = [what() if kind == "variable" else None for kind, what in self.sources]
        for k, (kind, what) in enumerate(self.sources):
            if kind == "feed":
                args[k] = _contiguous(feeds[what])
            elif kind == "value":
                args[k] = what
            elif kind == "call":
                args[k] = what()
        try:
            results = self.native(*args)
        except (_Fallback, errors.OpError):
            raise
        except Exception as e:
            raise errors.InvalidArgumentError(
                None, None, f"whole-step function failed: {type(e).__name__}: {e}") from e
        return tuple(r[()] if form == "scalar" else r.copy() if form == "copy" else r
                     for r, form in zip(results, self.forms))


def _variable_reader(read, shape):
    """``read`` (a variable's array, or None) for each call, raising _Fallback when the
    variable is missing or no longer has the ``shape`` the step was specialised for."""
    def checked():
        value = read()
        if value is None or value.shape != shape:
            raise _Fallback
        return value
    return checked


def _contiguous(value):
    """``value`` as a C-contiguous array of its own shape (np.ascontiguousarray would make a
    0-d array 1-d)."""
    value = np.asarray(value)
    return value if value.flags.c_contiguous else np.ascontiguousarray(value).reshape(value.shape)


_digests = {}


def _library_digest(modules):
    """A hash of the source files of the kernel modules a step calls: editing a kernel makes
    new steps instead of loading stale compiled ones."""
    import importlib
    digest = hashlib.sha256()
    for name in modules:
        if name not in _digests:
            with open(importlib.import_module(name).__file__, "rb") as f:
                _digests[name] = hashlib.sha256(f.read()).hexdigest()
        digest.update(_digests[name].encode())
    return digest.hexdigest()[:24]


def flat(size):
    """``.reshape(size)``: a value's flat view (every native value is C-contiguous)."""
    return f".reshape({math.prod(size) if isinstance(size, tuple) else size})"
