"""Philox4x32-10 uniform draws: the published known-answer blocks, TF's float conversions,
and draws that any split of the counter range (partial blocks, a wrapping low half) leaves
unchanged."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from numba import njit

from graphflow.kernels.cpu import philox


@njit
def _words(lo, hi, k0, k1):
    return philox._block((lo, hi), k0, k1)


def block(counter, key):
    """The four 32-bit words of the block at ``counter`` (4 words, low first) under ``key``."""
    U = np.uint64
    words = _words(U(counter[0] | counter[1] << 32), U(counter[2] | counter[3] << 32),
                   U(key[0]), U(key[1]))
    return [int(w) for w in words]


# Known-answer vectors of Random123 (kat_vectors, philox4x32 with 10 rounds)
@pytest.mark.parametrize("counter, key, expected", [
    ([0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]),
    ([0xffffffff] * 4, [0xffffffff] * 2, [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]),
    ([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0],
     [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]),
])
def test_blocks_match_the_published_known_answers(counter, key, expected):
    assert block(counter, key) == expected


def reference(dtype, n, key, counter):
    """TF's Uint32ToFloat / Uint64ToDouble of each block's words, in plain Python."""
    values = []
    c = counter
    while len(values) < n:
        w = block([c & 0xFFFFFFFF, c >> 32 & 0xFFFFFFFF, c >> 64 & 0xFFFFFFFF, c >> 96],
                  [key & 0xFFFFFFFF, key >> 32])
        if dtype == np.float32:
            values += [np.float32(x & 0x7FFFFF) / np.float32(1 << 23) for x in w]
        else:
            values += [((w[0] & 0xFFFFF) << 32 | w[1]) / 2.0 ** 52,
                       ((w[2] & 0xFFFFF) << 32 | w[3]) / 2.0 ** 52]
        c = (c + 1) % (1 << 128)
    return np.array(values[:n], dtype)


@settings(max_examples=30, deadline=None)
@given(dtype=st.sampled_from([np.float32, np.float64]), n=st.integers(0, 23),
       key=st.integers(0, 2 ** 64 - 1),
       counter=st.one_of(st.integers(0, 2 ** 128 - 1),
                         st.integers(2 ** 64 - 4, 2 ** 64 + 4),   # the low half wraps
                         st.integers(2 ** 128 - 5, 2 ** 128 - 1)))  # the whole counter wraps
def test_draws_are_tfs_conversions_of_consecutive_blocks(dtype, n, key, counter):
    out = np.full(n, np.nan, dtype)
    blocks = philox.uniform_into(out, key, counter)
    assert blocks == -(-n // philox.BLOCK_VALUES[np.dtype(dtype)])
    np.testing.assert_array_equal(out, reference(dtype, n, key, counter))


def test_a_shorter_draw_is_a_prefix_and_values_fill_the_unit_interval():
    long, short = np.empty(100_003, np.float32), np.empty((3, 7), np.float32)
    philox.uniform_into(long, 99, 5)
    philox.uniform_into(short, 99, 5)
    np.testing.assert_array_equal(short.ravel(), long[:21])
    assert long.min() >= 0 and long.max() < 1
    assert abs(long.mean() - 0.5) < 0.005 and abs(long.var() - 1 / 12) < 0.002
