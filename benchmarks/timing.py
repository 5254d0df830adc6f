"""Timing one prepared program, the same way in the main process and in a worker.

A repetition calls ``fn`` ``number`` times back to back with the garbage collector paused (as
timeit does) and reports seconds per call. Calibration picks ``number`` so that one repetition
lasts about a target time; its calls are also the warm-up. A measured case (cold start, peak
memory) reports what its own calls measure instead (Measured).
"""
import gc
import itertools
import time

from benchmarks import values


class Timed:
    """``fn`` prepared by a case's setup. Its first call happens here: it compiles, fills
    caches, and gives the encoded ``value`` the runner compares across frameworks."""

    def __init__(self, fn):
        self.fn = fn
        self.value = values.encode(fn())
        self.number = 1

    def _elapsed(self, number):
        fn = self.fn
        collecting = gc.isenabled()
        gc.disable()
        try:
            start = time.perf_counter()
            for _ in itertools.repeat(None, number):
                fn()
            return time.perf_counter() - start
        finally:
            if collecting:
                gc.enable()

    def calibrate(self, target):
        """Set and return the number of calls per repetition that lasts about ``target`` s.

        The chosen count is timed once more before it is kept: a call that compiled (a
        whole-step specialisation compiles on the second run) makes its repetition look
        long, and a count set from it would time one call per repetition.
        """
        number = 1
        elapsed = self._elapsed(number)
        while True:
            while elapsed < target / 2:
                grow = target / max(elapsed, 1e-9)
                number = max(number + 1, min(10 * number, round(number * grow)))
                elapsed = self._elapsed(number)
            chosen = max(1, round(number * target / elapsed))
            elapsed = self._elapsed(chosen)
            if elapsed >= target / 2:
                self.number = chosen
                return chosen
            number = chosen

    def time(self):
        """Seconds per call, averaged over one repetition of ``number`` calls."""
        return self._elapsed(self.number) / self.number


class Measured:
    """``fn`` of a measured case (registry.Case.measured): each call measures itself, e.g. by
    running a fresh process, and returns the figure. Nothing is called until ``time()``:
    there is no value to compare and no warm-up or calibration."""

    value = None
    number = 1

    def __init__(self, fn):
        self.fn = fn

    def calibrate(self, target):
        return self.number

    def time(self):
        """The figure one call measures (seconds or bytes, as the case says)."""
        return float(self.fn())


def prepare(case, framework, params):
    """``case``'s setup for ``framework`` run, wrapped as Timed or Measured."""
    fn = case.setups[framework](params)
    return Measured(fn) if case.measured else Timed(fn)
