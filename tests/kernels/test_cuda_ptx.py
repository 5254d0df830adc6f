"""Every CUDA kernel compiles to real PTX for current GPUs (sm_80, sm_90), without a GPU.

The simulator tests (tests/cuda) run kernels as Python, which forgives what NVVM does not:
Python objects, unsupported numpy calls, type unification failures, dynamic allocation.
Each kernels/cuda module lists the kernels it launches with their concrete signatures in
``PTX_SIGNATURES``; the generated elementwise kernels list representative programs.
"""
import importlib
import os
import pkgutil

import pytest

if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
    pytest.skip("PTX compilation needs the real CUDA target, not the simulator",
                allow_module_level=True)
cuda = pytest.importorskip("numba.cuda", reason="the `cuda` extra (numba-cuda) is not installed")

import graphflow.kernels.cuda as cuda_kernels  # noqa: E402

ARCHITECTURES = [(8, 0), (9, 0)]


def _entries():
    for info in pkgutil.iter_modules(cuda_kernels.__path__):
        module = importlib.import_module(f"{cuda_kernels.__name__}.{info.name}")
        for kernel, signatures in getattr(module, "PTX_SIGNATURES", ()):
            for signature in signatures:
                yield pytest.param(kernel, signature,
                                   id=f"{info.name}.{kernel.py_func.__name__}[{signature}]")


ENTRIES = list(_entries())


def test_every_kernel_module_lists_its_kernels():
    listed = {p.id.split(".")[0] for p in ENTRIES}
    modules = {i.name for i in pkgutil.iter_modules(cuda_kernels.__path__)} - {"launch"}
    assert modules <= listed, f"modules without PTX_SIGNATURES entries: {modules - listed}"


@pytest.mark.parametrize("kernel, signature", ENTRIES)
def test_compiles_to_ptx(kernel, signature):
    for cc in ARCHITECTURES:
        ptx, _ = cuda.compile_ptx(kernel.py_func, signature, cc=cc)
        assert f".target sm_{cc[0]}{cc[1]}" in ptx and ".entry" in ptx
