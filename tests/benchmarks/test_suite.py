"""The benchmark suite cannot rot: every case runs once at tiny sizes, every framework's value
agrees with graphflow's, and the table, JSON and chart are written. No timing is asserted.

The TF1 column runs only where a TensorFlow interpreter is at hand ($TF_PYTHON or
.venv-tf/bin/python); the worker protocol is also checked with this interpreter and numpy.
"""
import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
# benchmarks/ is a package of the source tree beside graphflow, not an installed one.
sys.path.insert(0, str(REPO))

from benchmarks import backends, machine, registry, report, runner, timing, values  # noqa: E402


def _run_suite(tmp_path, *args):
    out_json, out_png = tmp_path / "run.json", tmp_path / "run.png"
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--tiny", "--json", str(out_json),
                           "--png", str(out_png), *args], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout, json.loads(out_json.read_text()), out_png


def _tf_python():
    candidate = os.environ.get("TF_PYTHON") or REPO / ".venv-tf" / "bin" / "python"
    return str(candidate) if Path(candidate).exists() else None


# PyTensor is optional: without it here, only a TF1 worker's venv may run its column.
_absent_here = {"pytensor"} if importlib.util.find_spec("pytensor") is None else set()


def test_every_case_runs_once_and_frameworks_agree(tmp_path):
    table, run, png = _run_suite(tmp_path, "--no-tf")
    runnable = [c for c in registry.all_cases()
                if c.unavailable is None or c.unavailable() is None]
    assert [c["name"] for c in run["cases"]] == [c.name for c in runnable]
    # the rest (the GPU cases on a machine without one) are listed with the reason
    skipped = [c.name for c in registry.all_cases() if c not in runnable]
    assert [s["name"] for s in run["skipped"]] == skipped
    for name in skipped:
        assert f"{name}: skipped, " in table
    for case, record in zip(runnable, run["cases"]):
        assert f"| `{case.name}` |" in table
        assert record["mismatches"] == {}
        assert set(record["frameworks"]) == set(case.setups) - {"tf1"} - _absent_here
        for stats in record["frameworks"].values():
            assert stats["calls_per_rep"] == 1 and len(stats["times"]) == 1
    assert "graphflow/numpy" in table and "below 1 means graphflow is faster" in table
    assert run["frameworks"]["graphflow"]["numba_threads"] >= 1
    if importlib.util.find_spec("matplotlib") is not None:
        assert png.read_bytes().startswith(b"\x89PNG")


def test_tf1_column_runs_the_same_programs(tmp_path):
    python = _tf_python()
    if python is None:
        pytest.skip("no TensorFlow interpreter ($TF_PYTHON or .venv-tf, see make tf-venv)")
    table, run, _ = _run_suite(tmp_path, "--tf-python", python)
    tf1 = run["frameworks"]["tf1"]
    assert tf1["intra_op_threads"] == tf1["inter_op_threads"] == run["settings"]["threads"]
    for case, record in zip(registry.all_cases(), run["cases"]):
        for fw in {"tf1", "pytensor"} & set(case.setups) & set(run["frameworks"]):
            assert "median" in record["frameworks"][fw], record["frameworks"][fw]
            assert fw in record["ratios"]
    assert "graphflow/TF1" in table


def test_worker_serves_a_framework_and_refuses_graphflow():
    """This interpreter has graphflow, so the worker's start-up check that loading the cases
    did not import it is a real one here."""
    case = registry.get("session/chain10.run")
    params = case.params("tiny", threads=1)
    worker = backends.WorkerBackend(sys.executable, threads=1)
    try:
        worker.start("numpy")
        remote = worker.prepare(case.name, "numpy", params)
        local = timing.Timed(case.setups["numpy"](params))
        assert values.mismatch(local.value, remote.value, 0, 0) is None
        assert remote.calibrate(1e-3) >= 1
        assert remote.time() > 0
        with pytest.raises(backends.WorkerError, match="never runs graphflow"):
            worker.prepare(case.name, "graphflow", params)
    finally:
        worker.close()


class _Here:
    """A backend that prepares an unregistered case in this process."""

    def __init__(self, case):
        self.case = case

    def prepare(self, case_name, framework, params):
        return timing.prepare(self.case, framework, params)


def test_a_failing_or_disagreeing_framework_is_reported_and_the_rest_still_timed():
    def broken(params):
        raise RuntimeError("no kernel for this op")

    case = registry.Case(
        name="t/one", group="t", description="", sizes={m: {} for m in registry.MODES},
        setups={"graphflow": lambda p: lambda: np.float32(1), "tf1": broken,
                "numpy": lambda p: lambda: np.float32(2)})
    placed = dict.fromkeys(registry.FRAMEWORKS, _Here(case))
    record = runner.run_case(case, "quick", reps=3, target=1e-4, placed=placed, threads=1)
    assert "no kernel for this op" in record["frameworks"]["tf1"]["error"]
    assert "1.0 vs 2.0" in record["mismatches"]["numpy"]
    for fw in ("graphflow", "numpy"):
        assert len(record["frameworks"][fw]["times"]) == 3
        assert record["frameworks"][fw]["calls_per_rep"] >= 1
    assert set(record["ratios"]) == {"numpy"}


def _report_of(*records):
    graphflow = {"python": "py", "pools": [], "version": "0", "numba": "0", "numba_threads": 1,
                 "numba_layer": "omp"}
    return report.markdown({
        "settings": {"mode": "quick", "reps": 2, "threads": 1, "command": "bench"},
        "machine": machine.machine_facts(), "cases": list(records),
        "frameworks": {"graphflow": graphflow, "numpy": {"python": "py", "pools": []}}})


def test_a_measured_case_reports_what_each_call_measured():
    calls = []

    def rss(megabytes):
        return lambda params: lambda: calls.append(megabytes) or megabytes * 2**20

    case = registry.Case(
        name="t/rss", group="t", description="", sizes={m: {} for m in registry.MODES},
        setups={"graphflow": rss(3), "numpy": rss(12)}, measured="bytes", max_reps=2)
    placed = dict.fromkeys(registry.FRAMEWORKS, _Here(case))
    record = runner.run_case(case, "quick", reps=5, target=1e-4, placed=placed, threads=1)
    assert sorted(calls) == [3, 3, 12, 12]  # two repetitions each, no warm-up call
    assert record["frameworks"]["graphflow"]["median"] == 3 * 2**20
    assert record["ratios"] == {"numpy": 0.25} and record["unit"] == "bytes"
    assert "| `t/rss` | 3 MiB ±0% | 12 MiB ±0% | 0.25 |" in _report_of(record)


def test_a_case_with_work_reports_rates():
    case = registry.Case(
        name="t/flops", group="t", description="", sizes={m: {"n": 8} for m in registry.MODES},
        setups={"graphflow": lambda p: lambda: np.ones(p["n"]),
                "numpy": lambda p: lambda: np.ones(p["n"])},
        work=lambda params: (params["n"] / 1e9, "GFLOP"))
    placed = dict.fromkeys(registry.FRAMEWORKS, _Here(case))
    record = runner.run_case(case, "quick", reps=3, target=1e-4, placed=placed, threads=1)
    for fw in ("graphflow", "numpy"):
        assert record["rates"][fw] == pytest.approx(8e-9 / record["frameworks"][fw]["median"])
    assert record["rate_unit"] == "GFLOP/s"
    assert "GFLOP/s)" in _report_of(record)
    with pytest.raises(ValueError, match="measured must be"):
        registry.register(dataclasses.replace(case, name="t/other", measured="watts"))


def test_graphflow_bench_console_command_finds_the_checkout(tmp_path):
    proc = subprocess.run([sys.executable, "-I", "-m", "graphflow.cli", "bench", "--list",
                           "-k", "variable_read"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    listed = [line.split()[0] for line in proc.stdout.splitlines()]
    assert listed == [c.name for c in registry.select(["variable_read"])] != []


def test_every_case_has_all_modes_and_a_graphflow_column():
    for case in registry.all_cases():
        assert "graphflow" in case.setups and len(case.setups) >= 2, case.name
        assert all(mode in case.sizes for mode in registry.MODES), case.name
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(registry.all_cases()[0])


def _enc(*xs):
    return [values.encode(x) for x in xs]


def test_mismatch_names_what_differs():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    same, close, far = _enc(a, a + 1e-7, a + np.float32([[0, 0, 0], [0, 0.5, 0]]))
    assert values.mismatch(same, close, rtol=1e-6, atol=1e-6) is None
    assert "1 of 6 elements differ, e.g. at [1, 1]: 4.0 vs 4.5" in values.mismatch(
        same, far, rtol=1e-6, atol=0)
    wide, flat = _enc(a.astype(np.float64), a.ravel())
    assert "float32[2, 3] vs float64[2, 3]" in values.mismatch(same, wide, 1e-6, 0)
    assert "[2, 3] vs float32[6]" in values.mismatch(same, flat, 1e-6, 0)
    pair, swapped = values.encode((a, np.int64(3))), values.encode([a, np.int64(4)])
    assert values.mismatch(pair, pair, 0, 0) is None
    assert values.mismatch(pair, swapped, 0, 0).startswith("value[1]:")


def test_encoding_copies_the_value():
    a = np.ones(3, np.float32)
    record = values.encode(a)
    a[0] = 5
    np.testing.assert_array_equal(values.decode(record), np.ones(3, np.float32))


def test_calibration_is_not_fooled_by_a_call_that_compiles():
    # like a whole-step program: the first call gives the value, the second compiles (slow)
    calls = []

    def step():
        calls.append(None)
        if len(calls) == 2:
            time.sleep(0.05)
        time.sleep(1e-4)

    timed = timing.Timed(step)
    number = timed.calibrate(0.01)
    assert number >= 20  # ~0.01 s of ~1e-4 s calls, not one call per repetition
    assert timed.number == number
