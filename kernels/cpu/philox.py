"""Uniform random numbers from Philox4x32-10, the counter-based generator TF's kernels use.

A stream is a 64-bit key and a 128-bit counter. Block ``c`` is ten Philox rounds of the
counter value c under the key (the key raised by the Weyl constants between rounds), four
32-bit words. A draw of n values takes consecutive blocks from the stream's counter: float32
element i is word i % 4 of block i // 4, its low 23 bits as the mantissa of a number in
[0, 1) (TF's Uint32ToFloat, written as an exact multiplication); float64 element i takes
words 2(i % 2) and 2(i % 2) + 1 of block i // 2 for its 52 mantissa bits (Uint64ToDouble).

Each block depends only on its counter, so the loop vectorizes and any split of it gives the
same numbers.
"""
import numpy as np
from numba import njit

__all__ = ["uniform_into", "BLOCK_VALUES"]

_U = np.uint64
_MASK = _U(0xFFFFFFFF)
_M0, _M1 = _U(0xD2511F53), _U(0xCD9E8D57)   # round multipliers
_W0, _W1 = _U(0x9E3779B9), _U(0xBB67AE85)   # key increments (Weyl sequence)
_ROUNDS = 10
_F32_UNIT = np.float32(2.0 ** -23)
_F64_UNIT = 2.0 ** -52
_KERNEL = dict(cache=True, nogil=True, error_model="numpy")

BLOCK_VALUES = {np.dtype(np.float32): 4, np.dtype(np.float64): 2}  # values per block


@njit(inline="always")
def _block(counter, k0, k1):
    """The four words of the block at 128-bit ``counter`` (as two uint64 halves, lo, hi)."""
    lo, hi = counter
    c0, c1, c2, c3 = lo & _MASK, lo >> _U(32), hi & _MASK, hi >> _U(32)
    for _ in range(_ROUNDS):
        p0, p1 = _M0 * c0, _M1 * c2
        c0, c1, c2, c3 = (p1 >> _U(32)) ^ c1 ^ k0, p1 & _MASK, (p0 >> _U(32)) ^ c3 ^ k1, \
            p0 & _MASK
        k0, k1 = (k0 + _W0) & _MASK, (k1 + _W1) & _MASK
    return c0, c1, c2, c3


@njit(**_KERNEL)
def _uniform_f32(out, k0, k1, lo, hi):
    """out[i] for i < 4 * (out.size // 4), from blocks lo, lo + 1, ... (no carry into hi)."""
    for b in range(out.size // 4):
        w0, w1, w2, w3 = _block((lo + _U(b), hi), k0, k1)
        out[4 * b] = np.float32(w0 & _U(0x7FFFFF)) * _F32_UNIT
        out[4 * b + 1] = np.float32(w1 & _U(0x7FFFFF)) * _F32_UNIT
        out[4 * b + 2] = np.float32(w2 & _U(0x7FFFFF)) * _F32_UNIT
        out[4 * b + 3] = np.float32(w3 & _U(0x7FFFFF)) * _F32_UNIT


@njit(**_KERNEL)
def _uniform_f64(out, k0, k1, lo, hi):
    """out[i] for i < 2 * (out.size // 2), as _uniform_f32 with two values per block."""
    for b in range(out.size // 2):
        w0, w1, w2, w3 = _block((lo + _U(b), hi), k0, k1)
        out[2 * b] = np.float64(((w0 & _U(0xFFFFF)) << _U(32)) | w1) * _F64_UNIT
        out[2 * b + 1] = np.float64(((w2 & _U(0xFFFFF)) << _U(32)) | w3) * _F64_UNIT


_FILL = {np.dtype(np.float32): _uniform_f32, np.dtype(np.float64): _uniform_f64}


def uniform_into(out, key, counter):
    """Fills C-contiguous float32 or float64 ``out`` with uniform [0, 1) values of the stream
    ``key`` (64-bit int) from block ``counter`` (128-bit int) on; returns the blocks used."""
    fill, per_block = _FILL[out.dtype], BLOCK_VALUES[out.dtype]
    flat = out.reshape(-1)
    blocks = -(-flat.size // per_block)
    k0, k1 = _U(key & 0xFFFFFFFF), _U((key >> 32) & 0xFFFFFFFF)
    done = 0
    while done < blocks:  # runs of blocks whose low counter half does not wrap
        at = (counter + done) % (1 << 128)
        lo, hi = at & (2 ** 64 - 1), at >> 64
        run = min(blocks - done, 2 ** 64 - lo)
        part = flat[done * per_block:(done + run) * per_block]
        whole = part.size // per_block * per_block
        fill(part[:whole], k0, k1, _U(lo), _U(hi))
        if whole < part.size:  # the last, partial block
            tail = np.empty(per_block, out.dtype)
            fill(tail, k0, k1, _U(lo + run - 1), _U(hi))
            part[whole:] = tail[:part.size - whole]
        done += run
    return blocks
