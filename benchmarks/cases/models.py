"""The seed models (see _models): one training step at batch 100 fed through feed_dict, and the
convnet's inference throughput at batch 10000. The program is written once and run by
graphflow and by TF1; there is no numpy column.

Both frameworks start from the same weights, so the first step's loss agrees closely, except
for the dropout models whose masks come from each framework's own random stream: for those
the loss is compared to 10% only.
"""
from benchmarks.cases import _models
from benchmarks.registry import Case, register
from benchmarks.tf_programs import setups

_DESCRIPTIONS = {
    "softmax": "softmax regression (784 -> 10, -sum(Y_ log Y), GradientDescent)",
    "mlp": "five-layer MLP (200-100-60-30-10 relu, dropout 0.75, Adam)",
    "convnet": "seed convnet (conv 5x5x4 s1, 5x5x8 s2, 4x4x12 s2, fc 200, Adam)",
    "bigger": "bigger convnet (conv 6x6x6 s1, 5x5x12 s2, 4x4x24 s2, fc 200 + dropout, Adam)",
}


def _sizes(model, task, batch, tiny_batch):
    size = {"model": model, "task": task}
    return {"full": {**size, "batch": batch}, "quick": {**size, "batch": batch},
            "tiny": {**size, "batch": tiny_batch}}


for _model in _models.MODELS:
    _loose = _model in _models.DROPOUT
    register(Case(name=f"models/train_step.{_model}", group="models",
                  description=f"one training step at batch 100: {_DESCRIPTIONS[_model]}",
                  sizes=_sizes(_model, "train", 100, 4),
                  setups=setups(_models.build, "run"),
                  rtol=0.1 if _loose else 1e-4, atol=0.0 if _loose else 1e-4,
                  work=lambda params: (params["batch"], "images")))

# Whole-step compilation (OptimizerOptions.ON_1): graphflow runs the step as one Numba function
# (compiled in warm-up; its compile time is cold_start/first_call.whole_step.*). TF1 gets the
# same setting, which on a CPU leaves its step as it is (XLA's CPU JIT needs TF_XLA_FLAGS).
for _model in _models.MODELS:
    _loose = _model in _models.DROPOUT
    register(Case(name=f"models/train_step.{_model}.whole_step", group="models",
                  description=f"as models/train_step.{_model}, with global_jit_level=ON_1",
                  sizes={m: {**p, "whole_step": True}
                         for m, p in _sizes(_model, "train", 100, 4).items()},
                  setups=setups(_models.build, "run"),
                  rtol=0.1 if _loose else 1e-4, atol=0.0 if _loose else 1e-4,
                  work=lambda params: (params["batch"], "images")))

register(Case(name="models/inference.convnet", group="models",
              description="seed convnet predictions for a batch of 10000 images",
              sizes=_sizes("convnet", "infer", 10000, 4), setups=setups(_models.build, "run"),
              rtol=1e-4, atol=1e-6, work=lambda params: (params["batch"], "images")))
