"""Fused elementwise kernels: Numba code generated from scalar expression templates.

A ``Program`` is a small expression DAG over scalar values. Values ``0 .. n-1`` are the
inputs (arrays of the dtypes ``Program.inputs``); value ``n + k`` is step ``k``, the scalar
template ``Step.template`` (``"({0} + {1})"``, ``"max({0}, 0)"``, ``"({0} if {1} > 0 else 0)"``)
applied to the values ``Step.args`` and cast to ``Step.dtype``. ``Program.outputs`` names the
values the kernel writes. ``FusedKernel(program)(*arrays)`` reads each input once per element,
evaluates every step in registers, and writes each output once; it returns one array (or a
tuple, one per output).

Template language: Python expressions over ``{i}``, numeric literals, comparisons, ``and``/
``or``/``not``, ``&``/``|``, ``a if c else b``, ``max``/``min`` (NaN-propagating, as
np.maximum/np.minimum), ``abs`` and ``np.<ufunc>`` calls that Numba supports on scalars.

Numerics: a step computes in its own dtype. Literals are cast to the step's dtype (to its first
operand's dtype when the step yields bool), so ``0.5 * x`` stays float32 for a float32 ``x``,
and every step's result is cast to its dtype (so int32 arithmetic wraps as numpy's does).
Nothing is reassociated (``fastmath=False``): +, -, *, /, max, min, comparisons and selects give
numpy's bits; exp, log, tanh, ... call libm, which may differ from numpy's SIMD loops in the
last ulp or two. ``error_model="numpy"``: float x / 0 is inf or nan, as in TF.

Broadcasting: inputs broadcast to the output shape numpy's way, with shapes known only at run
time. Per distinct tuple of input shapes the kernel picks (once) one of:
  flat     every input has the output's size: one loop over the flat arrays (the common case);
  strided  the broadcast dims collapsed to at most ``MAX_DIMS``: three outer loops with element
           strides per input and an inner loop whose per-input stride (0 or 1) is compiled in;
  dense    more dims than that (rare): inputs materialised at the output shape, then ``flat``;
  numpy    the inputs do not all broadcast together although each step's operands do (two
           chains of different shapes sharing a scalar): each step evaluated with numpy, as
           the unfused ops would be (a static plan rarely allows this: dims unknown until run
           time).
An output that depends only on inputs broadcasting to a smaller shape is returned at that
shape (the full result is constant along the other dims).

Compilation: each variant's source is written to a content-hashed ``.py`` file in
``cache_dir()`` and imported, so Numba's ``cache=True`` reloads it in later processes without
compiling. Signatures are explicit (inputs read-only C arrays, outputs writable): one compile
per variant, whether inputs are writable or not.
"""
import ast
import hashlib
import importlib.util
import math
import os
import re
import sys
import tempfile
import threading
from dataclasses import dataclass

import numpy as np

__all__ = ["Step", "Program", "ShapeDispatch", "FusedKernel", "BroadcastError", "cache_dir", "vectorises",
           "SUPPORTED_DTYPES"]
# Also shared with the CUDA code generator (graphflow.kernels.cuda.elementwise): load,
# step_expression, collapse, output_inputs.

SUPPORTED_DTYPES = frozenset({"float32", "float64", "int32", "int64", "bool"})
MAX_DIMS = 4
# Bumped whenever the generated code changes meaning without changing its text.
FORMAT = 1
# Distinct input-shape tuples remembered per kernel before the memo starts over.
_MAX_LAYOUTS = 256

_SCALAR_TYPE = {"float32": "np.float32", "float64": "np.float64", "int32": "np.int32",
                "int64": "np.int64", "bool": "np.bool_"}
_NUMBA_TYPE = {"float32": "types.float32", "float64": "types.float64", "int32": "types.int32",
               "int64": "types.int64", "bool": "types.boolean"}
_BUILTINS = {"max": "maximum", "min": "minimum", "abs": "abs"}


@dataclass(frozen=True)
class Step:
    """One scalar operation: ``template`` over the values ``args``, cast to ``dtype``."""

    template: str
    args: tuple
    dtype: str


@dataclass(frozen=True)
class Program:
    """inputs: dtype names of the input arrays; steps: Steps in evaluation order (a step's args
    are earlier values); outputs: the value indices written, in order."""

    inputs: tuple
    steps: tuple
    outputs: tuple

    def __post_init__(self):
        n = len(self.inputs)
        for dtype in self.inputs + tuple(s.dtype for s in self.steps):
            if dtype not in SUPPORTED_DTYPES:
                raise TypeError(f"fused kernels do not support dtype {dtype!r}")
        for k, step in enumerate(self.steps):
            if any(not 0 <= a < n + k for a in step.args):
                raise ValueError(f"step {k} reads a value not computed before it: {step.args}")
        if not self.outputs or any(not 0 <= v < n + len(self.steps) for v in self.outputs):
            raise ValueError(f"bad outputs {self.outputs}")

    def dtype(self, value):
        n = len(self.inputs)
        return self.inputs[value] if value < n else self.steps[value - n].dtype


class BroadcastError(ValueError):
    """Input shapes that do not broadcast; ``step`` is the first step whose operands fail."""

    def __init__(self, message, step):
        super().__init__(message)
        self.step = step


def cache_dir():
    """Where generated kernels live: $GRAPHFLOW_CACHE_DIR, else ~/.cache/graphflow/kernels."""
    return os.environ.get("GRAPHFLOW_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "graphflow", "kernels")


# Scalar calls LLVM turns into vector instructions. Any other np.<ufunc> (exp, log, tanh, ...)
# is a libm call per element, which Numba vectorises only with Intel's SVML: without it a fused
# exp ran at half the speed of numpy's SIMD loop, losing more than fusion saves.
_VECTOR_CALLS = frozenset({"maximum", "minimum", "abs", "sqrt", "sign", "floor", "ceil", "rint"})


def vectorises(template):
    """Whether a fused loop evaluating ``template`` runs at vector speed on this machine."""
    tree = ast.parse(re.sub(r"\{(\d+)\}", r"v\1", template), mode="eval")
    calls = {n.func.attr for n in ast.walk(tree)
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
    if calls <= _VECTOR_CALLS:
        return True
    import numba  # only for templates that need to know
    return bool(numba.config.USING_SVML)


# --- code generation ---
class _Literals(ast.NodeTransformer):
    """Casts numeric literals to ``scalar`` and maps max/min/abs to their numpy ufuncs."""

    def __init__(self, scalar):
        self.scalar = scalar

    def visit_Constant(self, node):
        if self.scalar is None or isinstance(node.value, bool) or \
                not isinstance(node.value, (int, float)):
            return node
        func = ast.parse(self.scalar, mode="eval").body
        return ast.Call(func=func, args=[node], keywords=[])

    def visit_Name(self, node):
        if node.id in _BUILTINS:
            return ast.Attribute(value=ast.Name(id="np", ctx=ast.Load()),
                                 attr=_BUILTINS[node.id], ctx=ast.Load())
        return node


def step_expression(program, step):
    """The Python source of ``step`` over the scalar locals ``v<i>``, cast to its dtype."""
    literal = step.dtype
    if literal == "bool" and step.args:
        literal = program.dtype(step.args[0])
    text = step.template.format(*(f"v{a}" for a in step.args))
    tree = _Literals(None if literal == "bool" else _SCALAR_TYPE[literal]).visit(
        ast.parse(text, mode="eval"))
    return f"{_SCALAR_TYPE[step.dtype]}({ast.unparse(ast.fix_missing_locations(tree))})"


def _step_lines(program, indent):
    n = len(program.inputs)
    return [f"{indent}v{n + k} = {step_expression(program, s)}"
            for k, s in enumerate(program.steps)]


def _header(program, extra_types):
    ins = [f"_R({_NUMBA_TYPE[d]})" for d in program.inputs]
    outs = [f"_W({_NUMBA_TYPE[program.dtype(v)]})" for v in program.outputs]
    signature = ", ".join(ins + outs + extra_types)
    return (f"# Generated by graphflow.kernels.cpu.fused (format {FORMAT}); do not edit.\n"
            "import numpy as np\n"
            "from numba import njit, types\n\n\n"
            "def _R(t):\n    return types.Array(t, 1, 'C', readonly=True)\n\n\n"
            "def _W(t):\n    return types.Array(t, 1, 'C')\n\n\n"
            f"@njit(types.void({signature}), cache=True, error_model='numpy', fastmath=False)\n")


def _params(program):
    return [f"x{i}" for i in range(len(program.inputs))] + \
           [f"y{k}" for k in range(len(program.outputs))]


def flat_source(program):
    """A kernel over flat arrays that all have the output's size."""
    lines = [f"def kernel({', '.join(_params(program))}):",
             "    for j in range(y0.size):"]
    lines += [f"        v{i} = x{i}[j]" for i in range(len(program.inputs))]
    lines += _step_lines(program, "        ")
    lines += [f"        y{k}[j] = v{v}" for k, v in enumerate(program.outputs)]
    return _header(program, []) + "\n".join(lines) + "\n"


def strided_source(program, inner):
    """A kernel over ``MAX_DIMS`` collapsed dims: ``shape[d]`` and element ``strides[i, d]``
    per input; ``inner[i]`` says whether input i advances along the innermost dim (stride 1)
    or stays put (stride 0, read once per row)."""
    n = len(program.inputs)
    lines = [f"def kernel({', '.join(_params(program) + ['shape', 'strides'])}):",
             "    k = 0",
             "    for i0 in range(shape[0]):",
             "        for i1 in range(shape[1]):",
             "            for i2 in range(shape[2]):"]
    body = "                "
    for i in range(n):
        lines.append(f"{body}b{i} = i0 * strides[{i}, 0] + i1 * strides[{i}, 1] + "
                     f"i2 * strides[{i}, 2]")
        if not inner[i]:
            lines.append(f"{body}v{i} = x{i}[b{i}]")
        else:
            lines.append(f"{body}r{i} = x{i}[b{i}:b{i} + shape[3]]")
    # Row slices indexed by the loop counter alone, as in flat_source: LLVM vectorises that
    # form (indexing x[b + j] directly ran 3x slower than numpy).
    lines += [f"{body}z{k} = y{k}[k:k + shape[3]]" for k in range(len(program.outputs))]
    lines.append(f"{body}for j in range(shape[3]):")
    lines += [f"{body}    v{i} = r{i}[j]" for i in range(n) if inner[i]]
    lines += _step_lines(program, body + "    ")
    lines += [f"{body}    z{k}[j] = v{v}" for k, v in enumerate(program.outputs)]
    lines.append(f"{body}k += shape[3]")
    extra = ["types.Array(types.int64, 1, 'C', readonly=True)",
             "types.Array(types.int64, 2, 'C', readonly=True)"]
    return _header(program, extra) + "\n".join(lines) + "\n"


class _NumpyForm(ast.NodeTransformer):
    """Rewrites a scalar template for whole arrays: ``a if c else b``, ``and``, ``or`` and
    ``not`` become np.where, np.logical_and/or/not."""

    def visit_IfExp(self, node):
        self.generic_visit(node)
        return _np_call("where", [node.test, node.body, node.orelse])

    def visit_BoolOp(self, node):
        self.generic_visit(node)
        name = "logical_and" if isinstance(node.op, ast.And) else "logical_or"
        result = node.values[0]
        for value in node.values[1:]:
            result = _np_call(name, [result, value])
        return result

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        return _np_call("logical_not", [node.operand]) if isinstance(node.op, ast.Not) else node


def _np_call(name, args):
    return ast.Call(func=ast.Attribute(value=ast.Name(id="np", ctx=ast.Load()), attr=name,
                                       ctx=ast.Load()), args=args, keywords=[])


def numpy_source(program):
    """The program as plain numpy, one array expression per step (the ``numpy`` layout)."""
    n = len(program.inputs)
    params = [f"v{i}" for i in range(n)]
    lines = [f"def evaluate({', '.join(params)}):"]
    for k, step in enumerate(program.steps):
        scalar = step_expression(program, step)
        tree = _NumpyForm().visit(ast.parse(scalar, mode="eval"))
        # The outer cast of step_expression, np.float32(...), becomes an array cast that always
        # copies, so that no output is ever an input.
        inner = ast.unparse(ast.fix_missing_locations(tree.body.args[0]))
        lines.append(f"    v{n + k} = np.asarray({inner}).astype('{step.dtype}')")
    lines.append(f"    return ({''.join(f'v{v}, ' for v in program.outputs)})")
    return "\n".join(lines) + "\n"


# --- the on-disk module cache ---
_modules = {}     # source digest -> module
_variants = {}    # (Program, variant key) -> kernel
_load_lock = threading.Lock()
_private_dir = None


def load(source):
    """The compiled ``kernel`` of ``source``: written once to ``<cache_dir>/fused_<hash>.py``,
    imported under a name registered in sys.modules (Numba's cache needs a real module file)."""
    return load_module(source, "fused").kernel


def load_module(source, prefix):
    """The module of generated ``source``, written once to ``<cache_dir>/<prefix>_<hash>.py``
    and imported as ``graphflow_<prefix>_<hash>``."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:24]
    module = _modules.get(digest)
    if module is not None:
        return module
    with _load_lock:
        if digest not in _modules:
            _modules[digest] = _import(_write(source, f"{prefix}_{digest}"),
                                       f"graphflow_{prefix}_{digest}")
    return _modules[digest]


def _write(source, stem):
    try:
        return _write_in(cache_dir(), source, stem)
    except OSError:
        # An unwritable cache (a read-only home): kernels still work, compiled once per process.
        global _private_dir
        if _private_dir is None:
            _private_dir = tempfile.mkdtemp(prefix="graphflow-kernels-")
        return _write_in(_private_dir, source, stem)


def _write_in(directory, source, stem):
    path = os.path.join(directory, f"{stem}.py")
    if os.path.exists(path):
        return path
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".fused_", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(source)
        # A hard link never replaces a file another process wrote first: rewriting it would
        # change its mtime, which Numba's cache index checks, and cost that process a compile.
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:  # no hard links on this file system
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _import(path, name):
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    return module


# --- run-time layout ---
def _c_strides(shape):
    strides, step = [], 1
    for d in reversed(shape):
        strides.append(step)
        step *= d
    return strides[::-1]


def collapse(shapes, out_shape):
    """(dims, strides per input) of the iteration space with size-1 dims dropped and adjacent
    dims merged wherever every input steps through them as through one dim."""
    nd = len(out_shape)
    per_input = []
    for shape in shapes:
        padded = (1,) * (nd - len(shape)) + tuple(shape)
        per_input.append([0 if n == 1 else s for n, s in zip(padded, _c_strides(padded))])
    dims, strides = [], [[] for _ in shapes]
    for d, n in enumerate(out_shape):
        if n == 1:
            continue
        if dims and all(s[-1] == own[d] * n for s, own in zip(strides, per_input)):
            dims[-1] *= n
            for s, own in zip(strides, per_input):
                s[-1] = own[d]
            continue
        dims.append(n)
        for s, own in zip(strides, per_input):
            s.append(own[d])
    return dims, strides


def output_inputs(program):
    """Per output of ``program``: the sorted input indices it depends on."""
    n = len(program.inputs)
    deps = [frozenset([i]) for i in range(n)]
    for step in program.steps:
        deps.append(frozenset().union(*(deps[a] for a in step.args)))
    return [tuple(sorted(deps[v])) for v in program.outputs]


def _broadcast(shapes):
    return tuple(np.broadcast_shapes(*shapes)) if shapes else ()


def _call(kernel, flats, dtypes, outs, extra):
    try:
        kernel(*flats, *outs, *extra)
    except TypeError:
        # Numba found no matching signature: a non-contiguous 1-D input (x[::2]) keeps its
        # strides through reshape, or an input is not of the program's dtype (a numpy scalar
        # of another type), which the unfused ops would have cast to it anyway.
        kernel(*[np.ascontiguousarray(f, dtype=d) for f, d in zip(flats, dtypes)], *outs,
               *extra)


def layout(program, shapes, shape):
    """How ``program`` runs on inputs of ``shapes`` broadcasting to ``shape``: (compiled
    kernel, its extra arguments, shape, cuts, dense). The kernel takes the inputs' flat
    arrays, then one flat output array of ``shape``'s size per output, then the extras.
    ``cuts`` lists (output, index) for each output whose own inputs broadcast to less than
    ``shape``: the index takes its values out of the full-shape result. ``dense`` says the
    inputs must first be broadcast to ``shape`` and made contiguous (too many dims)."""
    size = math.prod(shape)
    extra, dense = (), False
    if all(math.prod(s) == size for s in shapes):
        kernel = _variant(program, "flat")
    else:
        dims, strides = collapse(shapes, shape)
        if len(dims) > MAX_DIMS:
            kernel, dense = _variant(program, "flat"), True
        else:
            pad = MAX_DIMS - len(dims)
            dims = np.array([1] * pad + dims, np.int64)
            strides = np.array([[0] * pad + s for s in strides], np.int64)
            inner = tuple(bool(s[-1]) for s in strides)
            kernel, extra = _variant(program, inner), (dims, strides)
    cuts = []
    for k, needs in enumerate(output_inputs(program)):
        own = _broadcast([shapes[i] for i in needs])
        if own != shape:
            lead = len(shape) - len(own)
            cuts.append((k, (0,) * lead + tuple(
                slice(0, 1) if d == 1 and n != 1 else slice(None)
                for d, n in zip(own, shape[lead:]))))
    return kernel, extra, shape, cuts, dense


class ShapeDispatch:
    """What the CPU and CUDA fused kernels share: the program's dtypes, and one runner per
    distinct tuple of input shapes (up to ``_MAX_LAYOUTS``, then the memo starts over),
    built by the subclass's ``_compiled_runner(shapes, shape)`` when the inputs broadcast
    together to ``shape``, else by its ``_stepwise_runner(shapes)``."""

    def __init__(self, program, on_broadcast_error=None):
        self.program = program
        self._on_error = on_broadcast_error or BroadcastError
        self._in_dtypes = [np.dtype(d) for d in program.inputs]
        self._out_dtypes = [np.dtype(program.dtype(v)) for v in program.outputs]
        self._runs = {}
        self._needs = output_inputs(program)

    def __call__(self, *arrays):
        return self._runner_for(arrays)(arrays)

    def _runner_for(self, arrays):
        shapes = tuple(map(_shape_of, arrays))
        run = self._runs.get(shapes)
        if run is None:
            run = self._prepare(shapes)
        return run

    def _prepare(self, shapes):
        """The function that runs inputs of these shapes (built once per shape tuple)."""
        if len(shapes) != len(self.program.inputs):
            raise TypeError(f"fused kernel takes {len(self.program.inputs)} inputs, "
                            f"got {len(shapes)}")
        try:
            shape = _broadcast(shapes)
        except ValueError:
            run = self._stepwise_runner(shapes)
        else:
            run = self._compiled_runner(shapes, shape)
        if len(self._runs) >= _MAX_LAYOUTS:
            self._runs.clear()
        self._runs[shapes] = run
        return run


class FusedKernel(ShapeDispatch):
    """``FusedKernel(program)(*arrays)``: the program's outputs for inputs of any shapes that
    broadcast together. Inputs must have the program's dtypes (numpy scalars are fine).
    ``on_broadcast_error(message, step)``, if given, returns the exception to raise when the
    shapes do not broadcast (default: BroadcastError).

    ``alloc``, if given, allocates the outputs (a callable ``alloc(shape, dtype)``, a tuple
    of them for several outputs): memory planning passes reused buffers. An output may be
    the very array of an input of its shape: each element is read before it is written.

    The work per call is a dict lookup on the input shapes, reshapes, one allocation per
    output and the compiled call: ~2 us of Python around the loop.
    """

    def __call__(self, *arrays, alloc=None):
        return self._runner_for(arrays)(arrays, alloc)

    def _compiled_runner(self, shapes, shape):
        return self._runner(*layout(self.program, shapes, shape))

    def _runner(self, kernel, extra, shape, cuts, dense):
        in_dtypes, dtypes = self._in_dtypes, self._out_dtypes
        if len(dtypes) == 1 and shape and not cuts and not dense:
            (dtype,) = dtypes

            def run_one(arrays, alloc):
                out = (alloc or np.empty)(shape, dtype)
                _call(kernel, [a.reshape(-1) for a in arrays], in_dtypes, (out.reshape(-1),),
                      extra)
                return out
            return run_one
        single = len(dtypes) == 1
        cut_outputs = {k for k, _ in cuts}

        def run(arrays, alloc):
            if dense:
                flats = [np.ascontiguousarray(np.broadcast_to(a, shape)).reshape(-1)
                         for a in arrays]
            else:
                flats = [a.reshape(-1) for a in arrays]
            allocs = (alloc,) if single else alloc
            # a cut output is computed at the full shape and its slice copied out
            outs = [np.empty(shape, dtype) if alloc is None or k in cut_outputs else
                    allocs[k](shape, dtype) for k, dtype in enumerate(dtypes)]
            _call(kernel, flats, in_dtypes, [out.reshape(-1) for out in outs], extra)
            if not shape and alloc is None:
                outs = [out[()] for out in outs]
            for k, cut in cuts:
                outs[k] = outs[k][cut].copy()
            return outs[0] if single else tuple(outs)
        return run

    def _stepwise_runner(self, shapes):
        """The ``numpy`` layout, once each step's operands are known to broadcast."""
        value_shapes = list(shapes)
        for k, step in enumerate(self.program.steps):
            operands = [value_shapes[a] for a in step.args]
            try:
                value_shapes.append(_broadcast(operands))
            except ValueError:
                text = " vs. ".join(str(list(s)) for s in operands)
                raise self._on_error(f"Incompatible shapes: {text}", k) from None
        namespace = {"np": np}
        exec(numpy_source(self.program), namespace)
        evaluate = namespace["evaluate"]
        single = len(self.program.outputs) == 1

        def run(arrays, alloc=None):
            with np.errstate(all="ignore"):
                results = evaluate(*arrays)
            return results[0] if single else results
        return run


def _variant(program, key):
    """The compiled kernel of one variant ("flat" or a strided inner-stride mask), generated
    once per process for each program."""
    kernel = _variants.get((program, key))
    if kernel is None:
        source = flat_source(program) if key == "flat" else strided_source(program, key)
        kernel = _variants[(program, key)] = load(source)
    return kernel


def _shape_of(array):
    return array.shape
