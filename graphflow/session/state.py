"""What a Session owns at run time: variable values and random-number state."""
import secrets
import threading

import numpy as np


class RuntimeState:
    """Per-Session values. ``variables`` maps a VariableV2 op to its current array.

    Random state is one stream per random op, created on first use: every plan of
    the Session that holds the op draws from that one stream, so fetching the op in a new
    signature continues its sequence instead of restarting it, while a second Session starts
    every stream afresh (TF1: random state belongs to the session).
    """

    def __init__(self):
        self.variables = {}
        self.lock = threading.RLock()
        self._generators = {}

    def random_generator(self, key, seed, seed2):
        """The numpy Generator of the random op ``key`` (the graph Operation).

        (seed, seed2) == (0, 0) asks for fresh entropy; any other pair keys a Philox stream,
        so equal pairs give equal numbers in every process and every Session.
        """
        return self._stream(key, _new_generator, seed, seed2)

    def philox_stream(self, key, seed, seed2):
        """The PhiloxStream of the random op ``key``: as random_generator, for kernels that
        draw TF's own sequence."""
        return self._stream(key, PhiloxStream, seed, seed2)

    def _stream(self, key, make, seed, seed2):
        stream = self._generators.get(key)
        if stream is None:
            with self.lock:
                stream = self._generators.get(key)
                if stream is None:
                    stream = self._generators[key] = make(seed, seed2)
        return stream


class PhiloxStream:
    """TF's GuardedPhiloxRandom: a 64-bit key (``seed``) and a 128-bit counter that starts
    at ``seed2`` * 2**64; (0, 0) takes both from fresh entropy. Each draw reserves 256 blocks
    per value it makes (TF's conservative count), so the n-th run of a seeded op gives TF's
    n-th numbers."""

    BLOCKS_PER_VALUE = 256

    def __init__(self, seed, seed2):
        if seed == 0 and seed2 == 0:
            seed, seed2 = secrets.randbits(64), secrets.randbits(64)
        self.key = seed & 0xFFFFFFFFFFFFFFFF
        self._counter = (seed2 & 0xFFFFFFFFFFFFFFFF) << 64
        self._lock = threading.Lock()

    def reserve(self, values):
        """The counter a draw of ``values`` numbers starts from; later draws start after."""
        with self._lock:
            counter = self._counter
            self._counter = (counter + values * self.BLOCKS_PER_VALUE) % (1 << 128)
        return counter


def _new_generator(seed, seed2):
    if seed == 0 and seed2 == 0:
        return np.random.Generator(np.random.Philox())
    key = np.array([seed & 0xFFFFFFFFFFFFFFFF, seed2 & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64)
    return np.random.Generator(np.random.Philox(key=key))
