"""Memory planning: which values of a plan live in buffers that are reused, within a run and
across runs.

A kernel whose Lowering ``allocates`` takes ``alloc(shape, dtype) -> array`` for each output
and writes the output there. The planner gives such outputs numbered buffers as the plan
writer emits nodes in order: a buffer is taken from a free pool of the same dtype and static
shape, and goes back to the pool once the value and everything that may alias it (outputs of
kernels that do not allocate: Reshape's view, a cond's result) have had their last reader.
An ``in_place`` kernel releases its dying inputs before its outputs are assigned, so an
elementwise op writes into the input it consumes.

Values that leave the run never get a buffer: fetched values and whatever they may alias.
(Kernels that store an input, as Assign does a variable's first value, store a copy.)

At run time each buffer is a ``Buffer``: it hands out the same array while the requested
shape and dtype stay those of the last run, so a fixed-shape plan allocates its intermediates
once. A plan keeps a pool of buffer sets (arenas), one per run in flight, so runs of one plan
in several threads never share a buffer.
"""
import numpy as np


class Buffer:
    """One reusable output array; called as ``alloc(shape, dtype)`` by a kernel."""

    __slots__ = ("array",)

    def __init__(self):
        self.array = None

    def __call__(self, shape, dtype):
        array = self.array
        if array is None or array.shape != shape or array.dtype != dtype:
            array = self.array = np.empty(shape, dtype)
        return array


class BufferPlanner:
    """Assigns buffer numbers to the values of ``plan`` as its nodes are emitted.

    ``allocating(node)`` says whether node's kernel writes its outputs into given buffers;
    ``readers`` counts, per value, the reads the writer will report through ``read``.
    """

    def __init__(self, plan, allocating, readers):
        self.count = 0
        self._free = {}          # (dtype, static shape) -> released buffer numbers
        self._buffer = {}        # value -> its buffer number
        self._key = {}           # value -> its pool key
        roots = {}               # value -> the planned values whose memory it may share
        candidates = set()
        for node in plan.nodes:
            fresh = allocating(node)
            inherited = frozenset().union(*(roots.get(ref, ()) for ref in node.inputs
                                            if ref is not None))
            for k in range(len(node.output_dtypes)):
                ref = (node, k)
                if fresh:
                    candidates.add(ref)
                    roots[ref] = frozenset((ref,))
                else:
                    roots[ref] = inherited
        escaping = set()
        for ref in plan.fetches:
            escaping |= roots.get(ref, frozenset())
        self.planned = candidates - escaping
        self._roots = {ref: r & self.planned for ref, r in roots.items() if r & self.planned}
        # reads still to come of each planned value and of everything aliasing it
        self._pending = dict.fromkeys(self.planned, 0)
        for ref, n in readers.items():
            for root in self._roots.get(ref, ()):
                self._pending[root] += n

    def assign(self, node):
        """Buffer numbers (or None) for node's outputs, taken from the pools."""
        numbers = []
        for k, dtype in enumerate(node.output_dtypes):
            ref = (node, k)
            if ref not in self.planned:
                numbers.append(None)
                continue
            shape = node.output_shapes[k]
            # a value of unknown rank shares with no other (values of unknown rank are of
            # any shape, and a buffer handed arrays of changing shapes re-allocates each time)
            key = self._key[ref] = (dtype, tuple(shape.as_list()) if shape.ndims is not None
                                    else ref)
            pool = self._free.get(key)
            if pool:
                number = pool.pop()
            else:
                number, self.count = self.count, self.count + 1
            self._buffer[ref] = number
            numbers.append(number)
        return numbers

    def call(self, node, refs, in_place):
        """Buffer numbers for node's outputs, counting its reads of ``refs``. An ``in_place``
        node may take the buffer of an input that dies here, when it reads that buffer only
        as that input itself: through a view (a transpose) it could read an element after
        writing it."""
        if not in_place:
            numbers = self.assign(node)
            self.read(refs)
            return numbers
        viewed = frozenset().union(*(self._roots.get(ref, ()) for ref in refs
                                     if self._roots.get(ref) != {ref}))
        early = [ref for ref in refs if self._roots.get(ref) == {ref} and ref not in viewed]
        self.read(early)
        numbers = self.assign(node)
        self.read([ref for ref in refs if ref not in early])
        return numbers

    def read(self, refs):
        """Counts one read of each of ``refs``; buffers nothing may read again are freed."""
        for ref in refs:
            for root in self._roots.get(ref, ()):
                self._pending[root] -= 1
                self._release_if_dead(root)

    def release_unread(self, node):
        """Frees the buffers of node's outputs that no one reads."""
        for k in range(len(node.output_dtypes)):
            if (node, k) in self.planned:
                self._release_if_dead((node, k))

    def _release_if_dead(self, root):
        if self._pending[root] == 0 and root in self._buffer:
            self._free.setdefault(self._key[root], []).append(self._buffer.pop(root))
