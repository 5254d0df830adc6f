"""GPU cases: the same programs as the kernel and model cases, run by graphflow on the GPU
(``.gpu``, ops placed there by default) and on the CPU of the same machine (``.cpu``, the
Session given no GPU: ConfigProto(device_count={'GPU': 0})), each beside TF1 given the same
devices (its GPU where its build has one) and, for the kernels, numpy on the CPU. They run only where numba.cuda finds a GPU; elsewhere each is skipped, saying
so (the CUDA simulator runs kernels as Python: nothing to time).

  matmul.n2048.{gpu,cpu}                        [2048, 2048] @ [2048, 2048] float32
  conv2d.mnist.{forward,backprop_input,backprop_filter}.{gpu,cpu}
                                                the kernels cases' first conv shape
  train_step.convnet.{gpu,cpu}                  one seed-convnet training step, batch 100
"""
from benchmarks.cases import _models, kernels
from benchmarks.registry import Case, register
from benchmarks.tf_programs import setups

_DEVICES = {"gpu": 1, "cpu": 0}


def _no_gpu():
    from graphflow.session import devices
    if devices.simulated():
        return "the CUDA simulator is not a GPU to time"
    return None if devices.gpu_count() else "no CUDA GPU here (numba.cuda finds none)"


def _on(device, sizes):
    return {mode: {**params, "gpus": _DEVICES[device]} for mode, params in sizes.items()}


def _kernel_case(name, description, sizes, tf_body, numpy_body, **options):
    for device in _DEVICES:
        frameworks = setups(lambda tf, params: kernels._program(tf, params, tf_body),
                            "make_callable")
        frameworks["numpy"] = kernels._numpy(numpy_body)
        register(Case(name=f"gpu/{name}.{device}", group="gpu",
                      description=f"{description}, graphflow on the {device.upper()}",
                      sizes=_on(device, sizes), setups=frameworks, unavailable=_no_gpu,
                      **options))


_kernel_case("matmul.n2048", "[2048, 2048] @ [2048, 2048] float32",
             kernels._modes({"inputs": [[2048, 2048]] * 2}, {"inputs": [[16, 16]] * 2}),
             lambda tf, params, a, b: tf.matmul(a, b), lambda params, a, b: a @ b,
             work=lambda params: (2 * params["inputs"][0][0] ** 3 / 1e9, "GFLOP"),
             rtol=1e-4, atol=1e-3)
for _pass, _tf_body, _np_body, _rtol, _atol in kernels._CONV_PASSES:
    _kernel_case(f"conv2d.mnist.{_pass}", f"conv2d {_pass} on the mnist shape",
                 kernels._conv_sizes("mnist"), _tf_body, _np_body, work=kernels._conv_gflop,
                 rtol=_rtol, atol=_atol)

for _device in _DEVICES:
    register(Case(name=f"gpu/train_step.convnet.{_device}", group="gpu",
                  description=f"one seed-convnet training step at batch 100 on the "
                              f"{_device.upper()}",
                  sizes=_on(_device, {"full": {"model": "convnet", "task": "train",
                                               "batch": 100},
                                      "quick": {"model": "convnet", "task": "train",
                                                "batch": 100},
                                      "tiny": {"model": "convnet", "task": "train",
                                               "batch": 4}}),
                  setups=setups(_models.build, "run"),
                  rtol=1e-4, atol=1e-4, unavailable=_no_gpu,
                  work=lambda params: (params["batch"], "images")))
