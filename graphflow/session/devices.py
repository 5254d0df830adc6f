"""The devices this process can run ops on: the CPU always, CUDA GPUs when numba.cuda
finds one (or its simulator is switched on with NUMBA_ENABLE_CUDASIM=1).

The GPU query runs once per process and only when a Session first places a plan: without
a CUDA driver on the machine it answers without importing numba.cuda at all.
"""
import ctypes.util
import functools
import os

_PREFIX = "/job:localhost/replica:0/task:0/device:"
CPU = _PREFIX + "CPU:0"


def gpu_name(index):
    return f"{_PREFIX}GPU:{index}"


def simulated():
    return os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


@functools.lru_cache(maxsize=None)
def gpu_count():
    """How many CUDA GPUs numba.cuda can use (the simulator counts as one)."""
    if not simulated() and not (os.path.exists("/dev/nvidiactl")
                                or ctypes.util.find_library("cuda")):
        return 0
    try:
        from numba import cuda
    except ImportError:  # numba without its CUDA target (the `cuda` extra installs it)
        return 0
    try:
        return len(cuda.gpus) if cuda.is_available() else 0
    except Exception:  # a driver that numba cannot use counts as no GPU, as in TF1
        return 0


def all_devices():
    """(name, device_type) of every device, CPU first."""
    return [(CPU, "CPU")] + [(gpu_name(i), "GPU") for i in range(gpu_count())]
