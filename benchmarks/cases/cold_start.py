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
                             likewise for models/train_step.*.whole_step: the time to compile
                             the whole step (after its first, recorded run op by op)
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


for _model in ("softmax", "mlp", "convnet"):
    _case = f"models/train_step.{_model}.whole_step"
    register(Case(name=f"cold_start/first_call.whole_step.{_model}", group="cold_start",
                  description=f"whole-step compile time of {_case}: its first call in a fresh "
                              "process (empty kernel cache) less its steady cost",
                  sizes={m: {"mode": m, "case": _case} for m in ("full", "quick", "tiny")},
                  setups={"graphflow": _empty_cache("graphflow", "first_call"),
                          "tf1": _empty_cache("tf1", "first_call")},
                  measured="seconds", max_reps=3))

for _pass in ("forward", "backprop_input", "backprop_filter"):
    _case = f"kernels/conv2d.mnist.{_pass}"
    register(Case(name=f"cold_start/first_call.conv2d.mnist.{_pass}", group="cold_start",
                  description=f"compile time of {_case}: its first call in a fresh process "
                              "(empty kernel cache) less its steady cost",
                  sizes={m: {"mode": m, "case": _case} for m in ("full", "quick", "tiny")},
                  setups={"graphflow": _empty_cache("graphflow", "first_call"),
                          "tf1": _empty_cache("tf1", "first_call")},
                  measured="seconds", max_reps=3))
