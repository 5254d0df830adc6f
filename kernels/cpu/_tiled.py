"""Support for register-tiled Numba kernels: stack tiles, compile flags, thread counts.

A register-tiled kernel keeps an MR x NR block of accumulators in a stack array whose every
index is a compile-time constant after LLVM unrolls the tile loops; LLVM then promotes the
array to vector registers. That only happens with the SLP vectorizer on and the loop
vectorizer off (with the loop vectorizer on, LLVM vectorizes the tile loops first and the
accumulators stay in memory: 50x slower). Numba reads both settings from
``numba.core.config`` each time it compiles, and its on-disk cache does not record them, so
every compile of a tiled kernel must happen under ``tile_flags()``: ``TiledKernel`` wraps a
dispatcher so that each of its compiles does.
"""
import contextlib

import numba
from numba import types
from numba.core import cgutils, config
from numba.core.compiler_lock import global_compiler_lock
from numba.extending import intrinsic


@intrinsic
def stack_array(typingctx, size, dtype):
    """A pointer to ``size`` (a literal int) uninitialised elements of ``dtype`` on the stack.

    Use inside ``@njit`` code as ``acc = stack_array(64, x.dtype)``; index it like an array
    (no bounds checks). Allocated once in the function's entry block, so calling it inside a
    loop does not grow the stack.
    """
    if not isinstance(size, types.IntegerLiteral):
        return None

    def codegen(context, builder, signature, args):
        element = context.get_value_type(dtype.dtype)
        count = context.get_constant(types.intp, size.literal_value)
        return cgutils.alloca_once(builder, element, size=count)

    return types.CPointer(dtype.dtype)(size, dtype), codegen


@contextlib.contextmanager
def tile_flags():
    """Compile with the SLP vectorizer on and the loop vectorizer off, under Numba's lock.

    Holding the global compiler lock keeps another thread's compile from seeing these flags.
    """
    with global_compiler_lock:
        saved = config.SLP_VECTORIZE, config.LOOP_VECTORIZE
        config.SLP_VECTORIZE, config.LOOP_VECTORIZE = 1, 0
        try:
            yield
        finally:
            config.SLP_VECTORIZE, config.LOOP_VECTORIZE = saved


class TiledKernel:
    """A dispatcher that compiles each new specialisation under tile_flags(), and only there.

    After its first compile the dispatcher refuses to compile on its own: a call with new
    argument types (another dtype, a read-only array) raises TypeError, which sends it back
    here to compile under the flags. So no slow specialisation can reach the on-disk cache.
    """

    def __init__(self, dispatcher):
        self._dispatcher = dispatcher
        self._sealed = False
        self.__doc__ = dispatcher.__doc__

    def __call__(self, *args):
        if self._sealed:
            try:
                return self._dispatcher(*args)
            except TypeError:  # no specialisation for these argument types yet
                pass
        with tile_flags():
            self._dispatcher.disable_compile(False)
            try:
                return self._dispatcher(*args)
            finally:
                if self._dispatcher.signatures:
                    self._dispatcher.disable_compile()
                    self._sealed = True


def vector_registers():
    """Vector registers the compiled code may use: 32 with AVX-512VL, else 16.

    Follows Numba's target: NUMBA_CPU_FEATURES / NUMBA_CPU_NAME when set (portable caches),
    the host CPU otherwise. Tile shapes that hold more accumulators than this spill.
    """
    if config.CPU_FEATURES is not None:
        return 32 if '+avx512vl' in config.CPU_FEATURES else 16
    if config.CPU_NAME not in (None, 'host'):
        return 16
    from llvmlite import binding
    return 32 if binding.get_host_cpu_features().get('avx512vl') else 16


def threads_for(work, grain):
    """Threads worth using for ``work`` units when a thread needs ``grain`` units to pay off.

    Read in Python, never inside a cached kernel: ``numba.get_num_threads()`` in compiled code
    stops Numba caching the function.
    """
    return int(max(1, min(numba.get_num_threads(), work // max(grain, 1))))
