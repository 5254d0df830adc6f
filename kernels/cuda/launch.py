"""Launch configurations shared by the CUDA kernels.

Kernels loop grid-stride (``for i in range(start, n, stride)``), so any grid is correct and
the grid size is a tuning choice: enough blocks to fill a GPU, capped so that huge arrays
reuse threads instead of launching millions of blocks. Under the CUDA simulator every thread
is a Python thread, so the cap there is one small block: the same code runs, far fewer
threads are created.
"""
from numba import config

# Small arrays (a bias, a learning rate) get small grids on purpose: no occupancy warning.
config.CUDA_LOW_OCCUPANCY_WARNINGS = 0

THREADS = 256
MAX_BLOCKS = 4096
SIMULATOR_THREADS = 8


def simulated():
    """True under NUMBA_ENABLE_CUDASIM=1 (kernels run as Python on the CPU)."""
    return bool(config.ENABLE_CUDASIM)


def grid_1d(n, threads=THREADS):
    """(blocks, threads) for a grid-stride loop over ``n`` items."""
    if simulated():
        return 1, min(SIMULATOR_THREADS, max(1, n))
    blocks = max(1, min(MAX_BLOCKS, (n + threads - 1) // threads))
    return blocks, threads
