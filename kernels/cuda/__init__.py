"""CUDA kernels (numba.cuda): the GPU counterparts of kernels/cpu, on device arrays.

Every host wrapper takes numba device arrays and returns new device arrays of the dtype the
CPU kernel returns; nothing here copies to or from the host (the Session's placer inserts
the copies). Kernels compile lazily on first launch (``cache=True``). Each module lists the
kernels it launches with their concrete signatures in ``PTX_SIGNATURES``, so the test suite
compiles every one of them to real PTX without a GPU (tests/kernels/test_cuda_ptx.py).
"""
