"""The case registry: every benchmark is one ``Case`` registered by a module in benchmarks/cases/.

A case names the program it times, its parameters per size mode, and per framework a
``setup(params) -> fn``: ``fn()`` runs the program once and returns what it computes (the
runner compares those values across frameworks, so every case is also a correctness check).

Invariant: this module and the case modules import no framework at module level. The TF1
worker loads them in an interpreter that has TensorFlow but not graphflow, and the main
process loads them before it knows which frameworks it will run; each setup imports its
framework inside the function.
"""
import dataclasses
import importlib
import types
from typing import Callable, Mapping, Optional, Tuple

MODES = ("full", "quick", "tiny")
FRAMEWORKS = ("graphflow", "numpy", "tf1", "pytensor")
LABELS = types.MappingProxyType({"graphflow": "graphflow", "numpy": "numpy", "tf1": "TF1",
                                 "pytensor": "PyTensor"})
# What a measured case's fn returns (see Case.measured).
MEASURES = ("seconds", "bytes")

_CASES = {}


@dataclasses.dataclass(frozen=True)
class Case:
    """One timed program.

    name: "group/short-name", unique; group: the case module's theme ("session", "mlp", ...).
    sizes: mode -> JSON-able parameter dict (the TF1 worker receives it over a pipe).
    setups: framework name -> setup(params) -> zero-argument fn returning the computed value.
    rtol, atol: how closely every framework's value must match graphflow's.
    work: params -> (amount, unit) of work one call does, e.g. (2 n^3 / 1e9, "GFLOP"); the
        report adds the rate (amount / seconds per call, "GFLOP/s") to each time.
    measured: None for a timed case. "seconds" or "bytes" for a case whose fn measures
        itself (typically in a fresh process: cold start, peak memory) and returns that
        figure; it is called once per repetition, never calibrated, and has no value to
        compare.
    max_reps: at most this many repetitions, whatever the mode (for slow measured cases).
    unavailable: None, or a function returning why the case cannot run on this machine (the
        GPU cases without a GPU), or None when it can; the runner then skips it, saying why.
    """

    name: str
    group: str
    description: str
    sizes: Mapping[str, Mapping]
    setups: Mapping[str, Callable[[dict], Callable[[], object]]]
    rtol: float = 1e-6
    atol: float = 0.0
    work: Optional[Callable[[dict], Tuple[float, str]]] = None
    measured: Optional[str] = None
    max_reps: Optional[int] = None
    unavailable: Optional[Callable[[], Optional[str]]] = None

    def params(self, mode, threads):
        """The parameters a setup receives: this mode's sizes plus the thread budget."""
        return {**self.sizes[mode], "threads": threads}


def register(case):
    if case.name in _CASES:
        raise ValueError(f"benchmark case {case.name!r} is registered twice")
    if not case.name.startswith(case.group + "/"):
        raise ValueError(f"case name {case.name!r} must start with its group {case.group!r}/")
    missing = [m for m in MODES if m not in case.sizes]
    if missing:
        raise ValueError(f"case {case.name!r} has no sizes for mode(s) {missing}")
    unknown = [f for f in case.setups if f not in FRAMEWORKS]
    if unknown:
        raise ValueError(f"case {case.name!r} names unknown framework(s) {unknown}")
    if case.measured not in (None, *MEASURES):
        raise ValueError(f"case {case.name!r}: measured must be None or one of {MEASURES}")
    _CASES[case.name] = case
    return case


def all_cases():
    """Every registered case, in registration order (importing benchmarks.cases registers)."""
    importlib.import_module("benchmarks.cases")
    return list(_CASES.values())


def get(name):
    all_cases()
    try:
        return _CASES[name]
    except KeyError:
        raise KeyError(f"no benchmark case named {name!r}") from None


def select(substrings):
    """Cases whose name contains any of ``substrings`` (all cases when there are none)."""
    cases = all_cases()
    if not substrings:
        return cases
    return [c for c in cases if any(s in c.name for s in substrings)]
