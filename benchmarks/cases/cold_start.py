"""Cold start: what a user waits for before anything is trained, each figure from a fresh
process (see _fresh).

  import                     ``import graphflow`` against ``import tensorflow``
  first_step.empty_cache     start a process, build the seed convnet, run its first training
                             step, with graphflow's kernel cache empty (a new folder each
                             time: every Numba kernel compiles)
  first_step.warm_cache      the same with a cache that an earlier run filled
  first_call.conv2d.mnist.{forward,backprop_input,backprop_filter}
                             in a fresh process with an empty kernel cache, the first call of
                             that kernels case less its steady cost: the kernel's compile time
  first_call.whole_step.{softmax,mlp,convnet}
                             likewise for the first two calls of models/train_step.*.whole_step
                             (the first runs op by op, the second compiles the whole step):
                             the op kernels' and the whole step's compile time
TF1 compiles nothing ahead, so its column is the same fresh process in both first-step cases
(and its first-call figure is its own first-run set-up).
"""
import tempfile

from benchmarks.cases import _fresh
from benchmarks.registry import Case, register

_STEP_SIZES = {"full": {"model": "convnet", "batch": 100},
               "quick": {"model": "convnet", "batch": 100},
               # tiny: the softmax model compiles a few small kernels only
               "tiny": {"model": "softmax", "batch": 10}}


def _import(framework):
    def setup(params):
        return lambda: _fresh.measure("import", {**params, "framework": framework})
    return setup


def _empty_cache(framework, what="first_step"):
    """A fresh process measuring ``what`` (see _fresh) with a new, empty kernel cache."""
    def setup(params):
        def measured():
            with tempfile.TemporaryDirectory(prefix="gf-bench-cache-") as cache:
                return _fresh.measure(what, {**params, "framework": framework, "cache": cache})
        return measured
    return setup


def _warm_cache(framework):
    def setup(params):
        cache = tempfile.TemporaryDirectory(prefix="gf-bench-cache-")
        measured = {**params, "framework": framework, "cache": cache.name}
        if framework == "graphflow":  # TF1 keeps no kernel cache to fill
            _fresh.measure("first_step", measured)

        def first_step():
            return _fresh.measure("first_step", measured)
        first_step.cache = cache  # the folder is removed when the function goes
        return first_step
    return setup


register(Case(name="cold_start/import", group="cold_start",
              description="import graphflow / import tensorflow, in a fresh process",
              sizes={m: {} for m in ("full", "quick", "tiny")},
              setups={"graphflow": _import("graphflow"), "tf1": _import("tf1")},
              measured="seconds", max_reps=7))
register(Case(name="cold_start/first_step.empty_cache", group="cold_start",
              description="fresh process to the end of the seed convnet's first training "
                          "step, empty kernel cache",
              sizes=_STEP_SIZES,
              setups={"graphflow": _empty_cache("graphflow"), "tf1": _empty_cache("tf1")},
              measured="seconds", max_reps=3))
register(Case(name="cold_start/first_step.warm_cache", group="cold_start",
              description="fresh process to the end of the seed convnet's first training "
                          "step, warm kernel cache",
              sizes=_STEP_SIZES,
              setups={"graphflow": _warm_cache("graphflow"), "tf1": _warm_cache("tf1")},
              measured="seconds", max_reps=5))


def _register_first_call(name, case, what, calls=1):
    """cold_start/first_call.<name>: what ``what`` costs (the first ``calls`` calls of
    ``case`` in a fresh process with an empty kernel cache, less their steady cost)."""
    first = "its first call" if calls == 1 else f"its first {calls} calls"
    register(Case(name=f"cold_start/first_call.{name}", group="cold_start",
                  description=f"{what} of {case}: {first} in a fresh process (empty kernel "
                              "cache) less the steady cost",
                  sizes={m: {"mode": m, "case": case, "calls": calls}
                         for m in ("full", "quick", "tiny")},
                  setups={"graphflow": _empty_cache("graphflow", "first_call"),
                          "tf1": _empty_cache("tf1", "first_call")},
                  measured="seconds", max_reps=3))


for _model in ("softmax", "mlp", "convnet"):  # (the second run compiles the whole step)
    _register_first_call(f"whole_step.{_model}", f"models/train_step.{_model}.whole_step",
                         "compile time (the ops' kernels, then the whole step)", calls=2)
for _pass in ("forward", "backprop_input", "backprop_filter"):
    _register_first_call(f"conv2d.mnist.{_pass}", f"kernels/conv2d.mnist.{_pass}",
                         "compile time")
