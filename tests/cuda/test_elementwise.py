"""Generated CUDA elementwise kernels against the CPU kernel's numpy form of the same program
(fused.numpy_source): broadcasting of every kind, dtypes kept, several outputs, outputs of a
smaller shape, more dims than one launch covers, and every fusion template of the registry.
"""
import string

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st
from hypothesis.extra import numpy as hnp
from numba import cuda

import graphflow.compat.v1  # noqa: F401  (registers the ops and their templates)
from graphflow.framework import registry
from graphflow.kernels.cpu import fused
from graphflow.kernels.cpu.fused import BroadcastError, Program, Step
from graphflow.kernels.cuda import elementwise
from graphflow.kernels.cuda.elementwise import FusedKernel

# Simulated threads do numpy scalar arithmetic, which warns where a GPU silently gives inf,
# nan or a wrapped integer (and np.errstate does not reach those threads).
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def reference(program, *arrays):
    """The program evaluated step by step with numpy, each value at its own shape."""
    namespace = {"np": np}
    exec(fused.numpy_source(program), namespace)
    with np.errstate(all="ignore"):
        return list(namespace["evaluate"](*arrays))


def run(program, *arrays):
    got = FusedKernel(program)(*map(cuda.to_device, arrays))
    return [g.copy_to_host() for g in (got if isinstance(got, tuple) else (got,))]


def assert_same(got, want, rtol=0):
    assert got.dtype == want.dtype and got.shape == want.shape
    if rtol:
        np.testing.assert_allclose(got, want, rtol=rtol)
    else:
        np.testing.assert_array_equal(got, want)


def arithmetic(dtype):
    """y = max(x0 * x1 + 3, x0 - x1), z = (y if x0 > x1 else -x1) * 0.5 (int: * 2) and, for
    floats, x0 / x1 (zero divisors included)."""
    literal = "0.5" if dtype != "int32" else "2"
    steps = [Step("({0} * {1})", (0, 1), dtype), Step("({0} + 3)", (2,), dtype),
             Step("({0} - {1})", (0, 1), dtype), Step("max({0}, {1})", (3, 4), dtype),
             Step("({0} > {1})", (0, 1), "bool"), Step("(-{0})", (1,), dtype),
             Step("({1} if {0} else {2})", (6, 5, 7), dtype),
             Step(f"({{0}} * {literal})", (8,), dtype)]
    outputs = [5, 9]
    if dtype != "int32":
        steps.append(Step("({0} / {1})", (0, 1), dtype))
        outputs.append(10)
    return Program((dtype, dtype), tuple(steps), tuple(outputs))


PROGRAMS = {dtype: arithmetic(dtype) for dtype in ("float32", "float64", "int32")}


def values(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    if dtype == "int32":
        return rng.integers(-2**31, 2**31, size=shape, dtype=np.int32)
    x = rng.standard_normal(shape).astype(dtype)
    x[rng.random(shape) < 0.2] = 0
    return x


def pair(a, b):
    return hnp.BroadcastableShapes(input_shapes=(a, b), result_shape=np.broadcast_shapes(a, b))


@settings(max_examples=15, deadline=None)
@example(pair((), ()), "float32", 0)                    # scalars: 0-d results
@example(pair((3, 5), ()), "float32", 0)                # a scalar operand
@example(pair((4, 3), (3,)), "float64", 0)              # a row (bias add)
@example(pair((4, 3), (4, 1)), "int32", 0)              # a column
@example(pair((2, 1, 3, 1), (1, 2, 1, 3)), "float32", 0)  # [N,1,W,1] vs [1,H,1,C]
@example(pair((3, 0), (1, 1)), "float32", 0)            # empty
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4,
                                                 max_side=4),
       dtype=st.sampled_from(sorted(PROGRAMS)), seed=st.integers(0, 2**31))
def test_broadcasting_kernels_match_numpy(shapes, dtype, seed):
    a, b = (values(s, dtype, seed + i) for i, s in enumerate(shapes.input_shapes))
    program = PROGRAMS[dtype]
    for g, w in zip(run(program, a, b), reference(program, a, b)):
        assert_same(g, w)


def test_an_output_of_a_smaller_shape_keeps_its_shape():
    # u = x0 * 2 needs only x0 [1, 3]; v = u + x1 is [4, 3]
    program = Program(("float32", "float32"),
                      (Step("({0} * 2)", (0,), "float32"), Step("({0} + {1})", (2, 1), "float32")),
                      (2, 3))
    x0 = np.arange(3, dtype=np.float32).reshape(1, 3)
    x1 = np.ones((4, 3), np.float32)
    u, v = run(program, x0, x1)
    assert u.shape == (1, 3) and v.shape == (4, 3)
    np.testing.assert_array_equal(u, x0 * 2)
    np.testing.assert_array_equal(v, x0 * 2 + x1)
    # ... also when the full shape is empty
    u, v = run(program, x0, np.ones((0, 3), np.float32))
    assert u.shape == (1, 3) and v.shape == (0, 3)
    np.testing.assert_array_equal(u, x0 * 2)


def test_more_dims_than_one_launch_covers():
    # alternating broadcast dims do not collapse: 8 dims > MAX_DIMS, the host loops over two
    a = values((2, 1, 2, 1, 2, 1, 2, 1), "float64", 0)
    b = values((1, 2, 1, 2, 1, 2, 1, 3), "float64", 1)
    program = PROGRAMS["float64"]
    for g, w in zip(run(program, a, b), reference(program, a, b)):
        assert_same(g, w)


def test_chains_of_different_shapes_sharing_a_value_run_step_by_step():
    # m = relu(c) feeds y1 = m * a and y2 = m * b; a [3] and b [2] never meet
    program = Program(("float32",) * 3,
                      (Step("max({0}, 0)", (0,), "float32"),
                       Step("({0} * {1})", (3, 1), "float32"),
                       Step("({0} * {1} if {0} > 0.5 else -1)", (3, 2), "float32")), (4, 5))
    c = np.array([0.75], np.float32)
    a = np.array([1, 2, 3], np.float32)
    b = np.array([-1, 1], np.float32)
    y1, y2 = run(program, c, a, b)
    np.testing.assert_array_equal(y1, c * a)
    np.testing.assert_array_equal(y2, c * b)


def test_incompatible_shapes_name_the_failing_step():
    with pytest.raises(BroadcastError, match=r"Incompatible shapes: \[2\] vs. \[3\]") as e:
        run(PROGRAMS["float32"], np.zeros(2, np.float32), np.zeros(3, np.float32))
    assert e.value.step == 0


def test_inputs_must_have_the_programs_dtypes():
    with pytest.raises(TypeError, match="float32"):
        run(PROGRAMS["float32"], np.zeros(2, np.float64), np.zeros(2, np.float32))


def test_int32_wraps_and_division_by_zero_gives_inf_and_nan():
    big = np.array([2**31 - 1, -2**31, 65536], np.int32)
    y, _ = run(PROGRAMS["int32"], big, big)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(y, np.maximum(big * big + np.int32(3), big - big))
    x = np.array([1, -1, 0], np.float64)
    q = run(PROGRAMS["float64"], x, np.zeros(3))[2]
    np.testing.assert_array_equal(q, [np.inf, -np.inf, np.nan])


def test_casts_and_nan_propagating_max_min():
    program = Program(("int64", "float32"),
                      (Step("{0}", (0,), "float32"),
                       Step("max({0}, {1})", (2, 1), "float32"),
                       Step("np.minimum({0}, {1})", (1, 2), "float32"),
                       Step("{0}", (1,), "int32")), (3, 4, 5))
    i = np.array([3, -2, 7, 1 << 40], np.int64)
    f = np.array([np.nan, 5.5, -np.inf, 2.0], np.float32)
    for g, w in zip(run(program, i, f), reference(program, i, f)):
        assert_same(g, w)


def test_rint_sign_floor_ceil_on_ties_and_non_finite_values():
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.4, -2.6, 0.0, np.inf, -np.inf, np.nan,
                  3e9], np.float32)
    program = Program(("float32",), (Step("np.rint({0})", (0,), "float32"),
                                     Step("np.sign({0})", (0,), "float32"),
                                     Step("np.floor({0})", (0,), "float32"),
                                     Step("np.ceil({0})", (0,), "float32")), (1, 2, 3, 4))
    for g, w in zip(run(program, x), reference(program, x)):
        assert_same(g, w)


def test_a_template_with_no_cuda_form_is_named():
    program = Program(("float32", "float32"),
                      (Step("np.arctan2({0}, {1})", (0, 1), "float32"),), (2,))
    with pytest.raises(TypeError, match=r"np.arctan2.*arctan2\(\{0\}, \{1\}\)"):
        FusedKernel(program)


# --- every fusion template in the registry ---
_BOOL_OUT = {"Equal", "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual",
             "LogicalAnd", "LogicalOr", "LogicalNot"}
_BOOL_IN = {"LogicalAnd", "LogicalOr", "LogicalNot"}
_ATTRS = {"alpha": "0.2"}


def _registry_templates():
    found = []
    for op_type in registry.registered_types():
        template = registry.get(op_type).elementwise
        if template is None:
            continue
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
        arity = 1 + max(int(f) for f in fields if f.isdigit())
        found.append((op_type, template.format(*(f"{{{i}}}" for i in range(arity)), **_ATTRS),
                      arity))
    return found


TEMPLATES = _registry_templates()


def _template_inputs(op_type, arity, dtype):
    rng = np.random.default_rng(len(op_type))
    if op_type in _BOOL_IN:
        return ["bool"] * arity, [rng.random(11) < 0.5 for _ in range(arity)]
    floats = [np.array([-7.5, -1.0, -0.5, 0.0, 0.25, 0.5, 1.0, 2.5, 5.9, 6.0, 30.0], dtype)]
    floats += [rng.permutation(floats[0]) for _ in range(arity - 1)]
    if op_type == "SelectV2":
        return ["bool", dtype, dtype], [floats[0] > 0, floats[1], floats[2]]
    return [dtype] * arity, floats


def test_the_registry_has_templates():
    assert {"Add", "Relu", "Sigmoid", "SelectV2", "LogicalNot", "LeakyRelu"} <= \
        {t for t, _, _ in TEMPLATES}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("op_type, template, arity", TEMPLATES, ids=[t for t, _, _ in TEMPLATES])
def test_every_registry_template_runs(op_type, template, arity, dtype):
    dtypes, arrays = _template_inputs(op_type, arity, dtype)
    out = "bool" if op_type in _BOOL_OUT else dtype
    program = Program(tuple(dtypes), (Step(template, tuple(range(arity)), out),), (arity,))
    (got,), (want,) = run(program, *arrays), reference(program, *arrays)
    # libm-style functions may differ in the last place between implementations
    assert_same(got, want, rtol=0 if out == "bool" else 1e-6)


def test_kernels_are_written_to_the_cache_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHFLOW_CACHE_DIR", str(tmp_path))
    program = Program(("float32",), (Step("({0} * 0.123456)", (0,), "float32"),), (1,))
    (got,) = run(program, np.ones(3, np.float32))
    np.testing.assert_array_equal(got, np.float32(0.123456) * np.ones(3, np.float32))
    (path,) = tmp_path.glob("fused_*.py")
    source = path.read_text()
    assert "graphflow.kernels.cuda.elementwise" in source and "@cuda.jit(cache=True)" in source
    assert source == elementwise.cuda_source(program, 1)
