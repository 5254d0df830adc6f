"""What each optimization pass buys: the seed models' training step with every pass on, with
each pass off in turn, and with all off; the step time and the plan's op count of each.

    python -m benchmarks.passes [--steps 200] [--models mlp convnet]

Times are the median of ``--steps`` steps after warm-up, in one process, configurations
interleaved round-robin so that machine load falls on all alike.
"""
import argparse
import statistics
import time

from benchmarks.cases import _models


def _configurations():
    from graphflow.session.passes import NAMES as names
    return [("all passes", ())] + [(f"without {n}", (n,)) for n in names] + \
        [("no passes", tuple(names))]


def _program(model, passes_off):
    import graphflow.compat.v1 as tf
    params = {"model": model, "task": "train", "batch": 100, "threads": 2,
              "passes_off": passes_off}
    program = _models.build(tf, params)
    sess, fetches, feeds = program.session, program.fetches, program.feeds
    ops = sess.plan_for(fetches, feeds).plan.op_count()
    return (lambda: sess.run(fetches, feeds)), ops


def measure(model, steps):
    """[(configuration, op count, median seconds per step)] for ``model``."""
    configurations = _configurations()
    programs = [_program(model, off) for _, off in configurations]
    for run, _ in programs:
        for _ in range(5):
            run()
    times = [[] for _ in programs]
    for _ in range(steps):
        for k, (run, _) in enumerate(programs):
            start = time.perf_counter()
            run()
            times[k].append(time.perf_counter() - start)
    return [(label, ops, statistics.median(t))
            for (label, _), (_, ops), t in zip(configurations, programs, times)]


def table(results):
    lines = ["| model | configuration | ops in the step's plan | step time | vs all passes |",
             "|---|---|---|---|---|"]
    for model, rows in results.items():
        base = rows[0][2]
        for label, ops, seconds in rows:
            lines.append(f"| {model} | {label} | {ops} | {seconds * 1e3:.3f} ms | "
                         f"{seconds / base:.2f}x |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.passes", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--models", nargs="+", default=["mlp", "convnet"],
                        choices=list(_models.MODELS))
    args = parser.parse_args(argv)
    print(table({model: measure(model, args.steps) for model in args.models}))


if __name__ == "__main__":
    main()
