"""What a benchmark report must state: the machine, and how many threads each framework used.

Every framework gets the same thread budget T: Numba's pool (graphflow's kernels), the BLAS
and OpenMP pools of every process (environment before they load, threadpoolctl after), and
TF1's intra-op and inter-op pools (its ConfigProto, see tf_programs.session).
"""
import os
import platform
import sys

_POOL_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def thread_env(threads):
    """Environment variables that cap OpenMP and BLAS pools loaded after they are set."""
    return {name: str(threads) for name in _POOL_ENV}


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def machine_facts():
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {"cpu": _cpu_model(), "logical_cpus": os.cpu_count(), "usable_cpus": usable,
            "memory_gib": _memory_gib(), "os": platform.platform(),
            "python": platform.python_version()}


def _threadpoolctl():
    try:
        import threadpoolctl
    except ImportError:
        return None
    return threadpoolctl


def _pools():
    """Every BLAS/OpenMP pool loaded in this process, with its thread count."""
    tpc = _threadpoolctl()
    if tpc is None:
        return "threadpoolctl not installed: pools capped through the environment only"
    return [f"{p['internal_api']} {p['num_threads']}" for p in tpc.threadpool_info()]


def limit_threads(framework, threads):
    """Apply the thread budget for ``framework`` in this process. This imports the framework,
    so one that is missing fails here, once, rather than in every case."""
    os.environ.update(thread_env(threads))
    if framework == "graphflow":
        # First, as in a user's program: graphflow's thread defaults (OMP_WAIT_POLICY) only
        # apply if it is imported before Numba starts its threads.
        import graphflow  # noqa: F401
        import numba
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    elif framework == "tf1":
        import tensorflow  # noqa: F401  (its pools are sized per Session, by ConfigProto)
    elif framework == "pytensor":
        import pytensor  # noqa: F401  (its C and BLAS code run on the capped pools)
    tpc = _threadpoolctl()
    if tpc is not None:
        tpc.threadpool_limits(threads)


def framework_facts(framework, threads):
    """Versions and thread counts of ``framework`` as this process runs it (call after the
    cases ran, so that pools loaded on first use are listed too)."""
    facts = {"python": sys.executable, "pools": _pools()}
    if framework == "graphflow":
        import graphflow
        import numba
        facts.update(version=graphflow.__version__, numba=numba.__version__,
                     numba_threads=numba.get_num_threads(),
                     numba_layer=numba.threading_layer())
    elif framework == "numpy":
        import numpy
        facts.update(version=numpy.__version__)
    elif framework == "tf1":
        import tensorflow
        # TF >= 2.9 runs oneDNN kernels on x86 unless TF_ENABLE_ONEDNN_OPTS=0, which gives
        # the Eigen kernels that TF 1.15's stock builds ran
        facts.update(version=tensorflow.__version__, intra_op_threads=threads,
                     inter_op_threads=threads,
                     kernels="Eigen" if os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "0"
                     else "oneDNN")
    elif framework == "pytensor":
        import pytensor
        facts.update(version=pytensor.__version__, mode=str(pytensor.config.mode),
                     linker=str(pytensor.config.linker))
    return facts
