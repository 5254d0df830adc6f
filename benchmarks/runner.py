"""``python -m benchmarks`` (and ``graphflow bench``): run the cases, print and save the report.

For each case every available framework is prepared (first call = the value to compare), then
warmed up and calibrated, then timed in rounds: each round times every framework once, in an
order that rotates from round to round, so slow drifts of the machine hit all of them alike.
graphflow and numpy run in this process; TF1 runs in a worker process started with the
interpreter of a TensorFlow venv (``--tf-python``, else $TF_PYTHON, else .venv-tf/bin/python),
or in this process when none is given and tensorflow is importable here. PyTensor, an optional
fourth column of a few cases, runs here when installed, else in that worker.
"""
import argparse
import importlib.util
import os
import shlex
import statistics
import sys
import time
import traceback
from pathlib import Path

from benchmarks import backends, machine, registry, report, values

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parent.parent

# mode -> (repetitions, seconds per repetition; None: one call per repetition, no warm-up)
SETTINGS = {"full": (15, 0.05), "quick": (5, 0.01), "tiny": (1, None)}


def _parser(prog):
    p = argparse.ArgumentParser(prog=prog, description="Time graphflow against numpy and "
                                "TF1 (tf.compat.v1) on the same machine, in the same run.")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="mode", action="store_const", const="quick",
                      help="fewer, shorter repetitions: a smoke run")
    mode.add_argument("--tiny", dest="mode", action="store_const", const="tiny",
                      help="tiny sizes, one call each: checks that every case runs and agrees")
    p.set_defaults(mode="full")
    p.add_argument("-k", dest="select", action="append", default=[], metavar="SUBSTRING",
                   help="run only cases whose name contains SUBSTRING (repeatable)")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("--tf-python", metavar="PATH",
                   help="interpreter of a TensorFlow venv for the TF1 column "
                        "(default: $TF_PYTHON, then .venv-tf/bin/python)")
    p.add_argument("--no-tf", action="store_true", help="leave the TF1 column out")
    p.add_argument("--reps", type=int, help="repetitions per framework (default: by mode)")
    p.add_argument("--threads", type=int, default=2,
                   help="thread budget of every framework (default: 2)")
    p.add_argument("--json", default=RESULTS / "latest.json", metavar="PATH",
                   help="where to write the JSON results (default: %(default)s)")
    p.add_argument("--png", default=RESULTS / "latest.png", metavar="PATH",
                   help="where to write the ratio chart (default: %(default)s)")
    return p


def _tf_python(explicit):
    """The TF interpreter to start a worker with, or None."""
    if explicit:
        return explicit
    if os.environ.get("TF_PYTHON"):
        return os.environ["TF_PYTHON"]
    venv = REPO / ".venv-tf" / "bin" / "python"
    return str(venv) if venv.exists() else None


def _backends(args):
    """framework -> the backend that runs it, for every framework available to this run.
    PyTensor (optional) runs where it is installed: here, else in the TF1 worker's venv
    (make tf-venv installs it there), whose worker then has to start successfully."""
    local = backends.LocalBackend(args.threads)
    placed = {"graphflow": local, "numpy": local}
    if importlib.util.find_spec("pytensor") is not None:
        placed["pytensor"] = local
    if not args.no_tf:
        python = _tf_python(args.tf_python)
        if python:
            try:
                worker = backends.WorkerBackend(python, args.threads)
            except OSError as e:
                raise SystemExit(f"cannot start the TF1 worker with {python}: {e}") from None
            placed["tf1"] = worker
            if worker.has_module("pytensor"):
                placed.setdefault("pytensor", worker)
        elif importlib.util.find_spec("tensorflow") is not None:
            placed["tf1"] = local
        else:
            print("No TensorFlow interpreter (make tf-venv, or --tf-python PATH): "
                  "the TF1 column is left out.", file=sys.stderr)
    return placed


def _stats(times):
    if len(times) > 1:
        q1, median, q3 = statistics.quantiles(times, n=4, method="inclusive")
    else:
        q1 = median = q3 = times[0]
    return {"median": median, "q1": q1, "q3": q3, "min": min(times), "max": max(times),
            "times": times}


def _error():
    return {"error": traceback.format_exc()}


def run_case(case, mode, reps, target, placed, threads):
    """Prepare, compare, warm up and time one case on every framework it has and can run.
    A framework that fails at any step is dropped from the case with its traceback."""
    params = case.params(mode, threads)
    reps = min(reps, case.max_reps or reps)
    prepared, failed = {}, {}

    def attempt(fw, action):
        try:
            return action()
        except Exception:
            failed[fw] = _error()
            prepared.pop(fw, None)

    for fw in registry.FRAMEWORKS:
        if fw in case.setups and fw in placed:
            timed = attempt(fw, lambda: placed[fw].prepare(case.name, fw, params))
            if fw not in failed:
                prepared[fw] = timed
    mismatches = {}
    if "graphflow" in prepared:
        for fw, timed in prepared.items():
            message = values.mismatch(prepared["graphflow"].value, timed.value,
                                      case.rtol, case.atol)
            if message:
                mismatches[fw] = message
    numbers = {fw: 1 for fw in prepared}
    if target is not None:
        for fw in list(prepared):
            numbers[fw] = attempt(fw, lambda: prepared[fw].calibrate(target))
    order = list(prepared)
    times = {fw: [] for fw in order}
    for r in range(reps if order else 0):
        for fw in order[r % len(order):] + order[:r % len(order)]:
            if fw in prepared:
                seconds = attempt(fw, prepared[fw].time)
                if fw in prepared:
                    times[fw].append(seconds)
    results = {fw: failed[fw] if fw in failed else
               {**_stats(times[fw]), "calls_per_rep": numbers[fw]}
               for fw in registry.FRAMEWORKS if fw in failed or fw in prepared}
    gf = results.get("graphflow", {}).get("median")
    ratios = {fw: gf / s["median"] for fw, s in results.items()
              if fw != "graphflow" and gf is not None and "median" in s}
    record = {"name": case.name, "group": case.group, "description": case.description,
              "params": params, "unit": case.measured or "seconds", "frameworks": results,
              "ratios": ratios, "mismatches": mismatches}
    if case.work is not None:
        amount, unit = case.work(params)
        record["rates"] = {fw: amount / s["median"] for fw, s in results.items()
                           if s.get("median")}
        record["rate_unit"] = f"{unit}/s"
    return record


def run(cases, args, command):
    reps_default, target = SETTINGS[args.mode]
    reps = args.reps or reps_default
    placed = _backends(args)
    frameworks = {}
    try:
        for fw, backend in placed.items():
            try:
                backend.start(fw)
            except Exception:
                frameworks[fw] = _error()
        available = {fw: b for fw, b in placed.items() if fw not in frameworks}
        results, skipped = [], []
        for i, case in enumerate(cases, 1):
            reason = case.unavailable() if case.unavailable is not None else None
            if reason:
                print(f"[{i}/{len(cases)}] {case.name}: skipped, {reason}", file=sys.stderr,
                      flush=True)
                skipped.append({"name": case.name, "reason": reason})
                continue
            print(f"[{i}/{len(cases)}] {case.name}", file=sys.stderr, flush=True)
            results.append(run_case(case, args.mode, reps, target, available, args.threads))
        for fw, backend in available.items():
            try:
                frameworks[fw] = backend.facts(fw)
            except Exception:
                frameworks[fw] = _error()
    finally:
        for backend in set(placed.values()):
            backend.close()
    ordered = {fw: frameworks[fw] for fw in registry.FRAMEWORKS if fw in frameworks}
    return {"settings": {"mode": args.mode, "reps": reps, "seconds_per_rep": target,
                         "threads": args.threads, "command": command,
                         "date": time.strftime("%Y-%m-%d %H:%M:%S %z")},
            "machine": machine.machine_facts(), "frameworks": ordered, "cases": results,
            "skipped": skipped}


def main(argv=None, prog="python -m benchmarks"):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser(prog).parse_args(argv)
    cases = registry.select(args.select)
    if args.list:
        for case in cases:
            print(f"{case.name:40s} {case.description}")
        return 0
    if not cases:
        print(f"no benchmark case matches {args.select}", file=sys.stderr)
        return 2
    result = run(cases, args, " ".join([prog, shlex.join(argv)]).strip())
    print(report.markdown(result))
    print(f"JSON: {report.write_json(result, args.json)}", file=sys.stderr)
    png = report.write_png(result, args.png)
    if png is not None:
        print(f"chart: {png}", file=sys.stderr)
    failed = any("error" in facts for facts in result["frameworks"].values()) or any(
        c["mismatches"] or any("error" in s for s in c["frameworks"].values())
        for c in result["cases"])
    return 1 if failed else 0
