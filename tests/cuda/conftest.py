"""The CUDA kernel and GPU-placement tests run under Numba's CUDA simulator.

`make test` runs this directory in its own pytest process with NUMBA_ENABLE_CUDASIM=1 (the
variable must be set before numba is first imported, so it cannot be switched on here).
Collected in a run without it, the whole directory is skipped, saying how to run it.
"""
import os
import sys

import pytest

SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
if SIMULATOR:
    # The simulator runs a block's threads as Python threads that meet at syncthreads():
    # with Python's default 5 ms switch interval every barrier waits ~5 ms (10x slower).
    sys.setswitchinterval(1e-4)


def pytest_collection_modifyitems(config, items):
    if SIMULATOR:
        return
    skip = pytest.mark.skip(reason="CUDA simulator tests: run with NUMBA_ENABLE_CUDASIM=1 "
                                   "pytest tests/cuda (make test does)")
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(skip)
