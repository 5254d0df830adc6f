"""Figures only a fresh process can give: import time, time to the first training step, peak
memory. The cold-start and memory cases run these in a new interpreter for every repetition.

In the parent (a case's setup, in the main process or in the TF1 worker):
    figure = _fresh.measure(what, params)     # what: "import", "first_step" or "peak_rss"
which runs ``python -m benchmarks.cases._fresh WHAT PARAMS_JSON`` with this interpreter and
returns the one number the child prints:
  import      seconds spent in ``import graphflow`` / ``import tensorflow`` alone
  first_step  seconds from just before the child process was started to the end of its first
              training step of params["model"] (so interpreter start-up, imports, graph
              building, Session set-up, kernel compiles or cache loads all count)
  peak_rss    the child's peak resident set size in bytes (VmHWM) after params["steps"]
              training steps (build, initialise and train: everything the process did)
  first_call  the first call (the first params["calls"], default 1) of the benchmark case
              params["case"] (at params["mode"]'s sizes) less its (their) steady cost (the
              median of the next five calls): with an empty kernel cache, what compiling
              that op's kernels costs
params["framework"] says which framework the child runs ("graphflow" or "tf1");
params["cache"], when given, is graphflow's kernel cache folder (NUMBA_CACHE_DIR and
GRAPHFLOW_CACHE_DIR), for runs with an empty or a warm cache.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_IMPORTED = {"graphflow": "graphflow", "tf1": "tensorflow"}
_IMPORT_TIMER = ("import time; start = time.perf_counter(); import {module}; "
                 "print(time.perf_counter() - start)")


def measure(what, params, timeout=1800):
    """Runs the child for ``what`` and returns its figure (float)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", NUMBA_NUM_THREADS=str(params["threads"]),
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO),
                                                        os.environ.get("PYTHONPATH")])))
    if params.get("cache"):
        env.update(NUMBA_CACHE_DIR=str(Path(params["cache"]) / "numba"),
                   GRAPHFLOW_CACHE_DIR=str(Path(params["cache"]) / "graphflow"))
    if what == "import":
        command = [sys.executable, "-c",
                   _IMPORT_TIMER.format(module=_IMPORTED[params["framework"]])]
    else:
        command = [sys.executable, "-m", "benchmarks.cases._fresh", what, json.dumps(params)]
    env["BENCH_STARTED"] = repr(time.time())
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {done.returncode}:\n"
                           + "\n".join((done.stdout + done.stderr).splitlines()[-20:]))
    return float(done.stdout.split()[-1])


def _peak_rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM line in /proc/self/status")


def _first_call(params):
    from benchmarks import registry
    case = {c.name: c for c in registry.all_cases()}[params["case"]]
    call = case.setups[params["framework"]](case.params(params["mode"], params["threads"]))
    calls = params.get("calls", 1)
    start = time.perf_counter()
    for _ in range(calls):
        call()
    first = time.perf_counter() - start
    steady = []
    for _ in range(5):
        start = time.perf_counter()
        call()
        steady.append(time.perf_counter() - start)
    return first - calls * sorted(steady)[2]


def _child(what, params):
    from benchmarks.cases import _models
    from benchmarks.tf_programs import tf_api

    if what == "first_call":
        return _first_call(params)
    program = _models.build(tf_api(params["framework"]), {**params, "task": "train"})
    run = program.session.run
    if what == "first_step":
        run(program.fetches, program.feeds)
        return time.time() - float(os.environ["BENCH_STARTED"])
    for _ in range(params["steps"]):
        run(program.fetches, program.feeds)
    return _peak_rss_bytes()


if __name__ == "__main__":
    print(_child(sys.argv[1], json.loads(sys.argv[2])))
