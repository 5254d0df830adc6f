"""tf.test: gradient checking and device queries."""
from graphflow.gradient_checker import compute_gradient, compute_gradient_error  # noqa: F401
from graphflow.session import devices as _devices


def is_gpu_available(cuda_only=False, min_cuda_compute_capability=None):
    """True when numba.cuda finds a GPU (of at least ``min_cuda_compute_capability``, a
    (major, minor) tuple), as TF1's query; the CUDA simulator counts as a GPU."""
    if not _devices.gpu_count():
        return False
    if min_cuda_compute_capability is None or _devices.simulated():
        return True
    from numba import cuda
    return any(tuple(gpu.compute_capability) >= tuple(min_cuda_compute_capability)
               for gpu in cuda.gpus)


def is_built_with_cuda():
    """True when numba's CUDA target (the `cuda` extra, numba-cuda) is installed."""
    import importlib.util
    return importlib.util.find_spec("numba") is not None and \
        importlib.util.find_spec("numba.cuda") is not None


def gpu_device_name():
    """The first GPU's device name ('/device:GPU:0'), or '' without a GPU."""
    return "/device:GPU:0" if _devices.gpu_count() else ""
