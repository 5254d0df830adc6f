"""2-D convolution kernels, NHWC, with TF's padding rules: forward and both gradients.

Shapes: x [N, H, W, C], w [KH, KW, C, F], y [N, OH, OW, F]; depthwise w [KH, KW, C, M] and
y [N, OH, OW, C*M] with output channel c*M + m. float32 or float64 (the same code; float64
serves finite-difference checks). Padding is 'SAME', 'VALID' or explicit ((pt, pb), (pl, pr)).

conv2d's three passes share two register-tiled engines over a padded copy of one image:
  _tile_gather: out-pixel x out-channel tiles, reducing over one flat index k (tap x
    in-channel, with a table of source offsets). Forward, and the gradient to the input,
    which is the same sum over each stride phase of the input (rows i with
    (i + pt) % sh == ph) with the taps whose offset lands in that phase.
  _tile_outer: in-patch-element x out-channel tiles of the gradient to the filter, reducing
    over pixels.
Each comes in two tile shapes (16 or 8 channel lanes, see _lanes), compiled into the same
parallel entry point. Few channels would leave most lanes empty, so a pass may group G
neighbouring pixels of a row into one tile row of G x channels lanes (see _Axis): 4 output
channels fill 8 lanes as 2 pixels, and the gradient to the input of a stride-2 conv fills
2 x C lanes with both column phases at once. A group reads one source offset per "super
tap" and gives each of its pixels that tap's weights (zero where the pixel has none), so
grouping costs some multiplications by zero; _choose_group weighs that against the lanes.

Work is split over Numba's threads by flattened output pixels (not only by image, so that
batch 1 uses both cores too); numba.set_num_threads(1) makes every call serial. All loop
indices are uint64: Numba checks signed indices for wraparound on every access (3x slower).
Depthwise kernels are plain loops over channels.

Compiling: the first float32 call of conv2d's forward or input gradient takes ~4.7 s, of its
filter gradient ~5 s, of each depthwise and pooling entry point 1.5-3.5 s; later processes
load them from Numba's cache in ~10 ms each.
"""
import collections
import functools

import numpy as np
from numba import njit, prange

from ._tiled import TiledKernel, stack_array, threads_for, vector_registers

__all__ = [
    "conv_output_shape",
    "conv2d_forward",
    "conv2d_backprop_input",
    "conv2d_backprop_filter",
    "depthwise_conv2d_forward",
    "depthwise_conv2d_backprop_input",
    "depthwise_conv2d_backprop_filter",
]

U = np.uint64
# error_model="numpy": no zero-division checks on the index arithmetic (sizes are checked
# before the kernels run); fastmath "contract" only fuses multiply-adds into FMAs.
_KERNEL = dict(cache=True, error_model='numpy')
_TILED = dict(_KERNEL, fastmath={'contract'})
PIXEL_BLOCK = 64   # pixels per filter-gradient sweep: its dy rows stay in L1/L2
THREAD_GRAIN = 1 << 21  # multiply-adds a thread must get before a second one pays off
# Fraction of one core's peak each tile shape reaches on a long reduction (measured here):
# 12 x 8 loads one broadcast per multiply-add, 6 x 16 one per two.
TILE_SPEED = {8: 0.7, 16: 0.95}
MAX_GROUP_LANES = 32  # grouping never widens a tile row past this many lanes


def conv_output_shape(input_hw, kernel_hw, strides, padding, dilations=(1, 1)):
    """Output size and padding of a convolution or pooling window, exactly as TF computes them.

    input_hw (H, W), kernel_hw (KH, KW), strides (sh, sw), dilations (dh, dw); padding 'SAME',
    'VALID' or ((pt, pb), (pl, pr)). Returns ((OH, OW), ((pt, pb), (pl, pr))). SAME gives
    OH = ceil(H / sh) and pads pad_total = max((OH - 1) * sh + (KH - 1) * dh + 1 - H, 0), the
    odd element at the bottom/right. VALID and explicit padding raise ValueError, with TF's
    message, when the padded input is smaller than the dilated kernel.
    """
    if isinstance(padding, str) and padding not in ('SAME', 'VALID'):
        raise ValueError(f"padding must be 'SAME', 'VALID' or ((top, bottom), (left, right)), "
                         f"got {padding!r}")
    sizes, pads = [], []
    for axis in range(2):
        size, stride = int(input_hw[axis]), int(strides[axis])
        effective = (int(kernel_hw[axis]) - 1) * int(dilations[axis]) + 1
        if padding == 'SAME':
            out = -(-size // stride)
            total = max((out - 1) * stride + effective - size, 0)
            lo, hi = total // 2, total - total // 2
        else:
            lo, hi = (0, 0) if padding == 'VALID' else (int(p) for p in padding[axis])
            if size + lo + hi < effective:
                raise ValueError(f'Negative dimension size caused by subtracting {effective} '
                                 f'from {size + lo + hi}')
            out = (size + lo + hi - effective) // stride + 1
        sizes.append(out)
        pads.append((lo, hi))
    return tuple(sizes), tuple(pads)


# --------------------------------------------------------------------------- tiled engines

def _gather_engine(mr, nr):
    """_tile_gather for MR = mr output pixels x NR = nr output channels per register tile."""
    tile = mr * nr

    @njit(**_TILED)
    def _tile_gather(src, sbase, srs, scs, koff, wp, k0, k1, p_lo, p_hi, grid_w,
                     dst, dbase, drs, dcs, nchan, lo0, hi_last):
        """Pixels p in [p_lo, p_hi) of a grid grid_w wide, a = p // grid_w, b = p % grid_w:

        dst[dbase + a*drs + b*dcs + f] = sum over k in [k0, k1) of
            src[sbase + a*srs + b*scs + koff[k]] * wp[f // NR, k, f % NR]

        for f in [lo, hi): [0, nchan) except lanes [lo0, nchan) in column b == 0 and
        [0, hi_last) in column b == grid_w - 1 (a pixel group's members outside the image).
        src, dst: flat arrays; wp [FB, K, NR] with zeros past nchan. One flat reduction
        index k (tap x channel) keeps few-channel convolutions from paying a loop's set-up
        per tap. Addresses wrap modulo 2**64 (dbase may be "negative" when lo0 > 0).
        """
        acc = stack_array(tile, wp.dtype)
        sb = stack_array(mr, np.uint64)
        db = stack_array(mr, np.uint64)
        lo = stack_array(mr, np.uint64)
        hi = stack_array(mr, np.uint64)
        last = grid_w - U(1)
        for p0 in range(p_lo, p_hi, U(mr)):
            valid = min(U(mr), p_hi - p0)
            whole = valid == U(mr)
            a = p0 // grid_w
            b = p0 - a * grid_w
            for j in range(U(mr)):
                if j < valid:
                    sb[j] = sbase + a * srs + b * scs
                    db[j] = dbase + a * drs + b * dcs
                    lo[j] = lo0 if b == U(0) else U(0)
                    hi[j] = hi_last if b == last else nchan
                    whole = whole and lo[j] == U(0) and hi[j] == nchan
                    b += U(1)
                    if b == grid_w:
                        b = U(0)
                        a += U(1)
                else:  # past the range: recompute the last pixel, never store it
                    sb[j] = sb[j - U(1)]
            for fb in range(U(wp.shape[0])):
                for q in range(U(tile)):
                    acc[q] = 0.0
                for k in range(k0, k1):
                    off = koff[k]
                    for j in range(U(mr)):
                        v = src[sb[j] + off]
                        for lane in range(U(nr)):
                            acc[j * U(nr) + lane] += v * wp[fb, k, lane]
                f0 = fb * U(nr)
                if whole and f0 + U(nr) <= nchan:  # every lane lands: vector stores
                    for j in range(U(mr)):
                        for lane in range(U(nr)):
                            dst[db[j] + f0 + lane] = acc[j * U(nr) + lane]
                else:
                    for j in range(valid):
                        for f in range(max(lo[j], f0), min(hi[j], f0 + U(nr))):
                            dst[db[j] + f] = acc[j * U(nr) + f - f0]

    return _tile_gather


def _outer_engine(mr, nr):
    """_tile_outer for MR = mr patch elements x NR = nr output channels per register tile."""
    tile = mr * nr

    @njit(**_TILED)
    def _tile_outer(src, srs, scs, moff, dy, p_lo, p_hi, grid_w, out):
        """out[m, f] += sum over p in [p_lo, p_hi) of src[a*srs + b*scs + moff[m]] * dy[p, f],
        a = p // grid_w, b = p % grid_w; moff.size a multiple of MR, dy.shape[1] of NR.
        """
        acc = stack_array(tile, out.dtype)
        mo = stack_array(mr, np.uint64)
        a0 = p_lo // grid_w
        b0 = p_lo - a0 * grid_w
        for m0 in range(U(0), U(moff.shape[0]), U(mr)):
            for j in range(U(mr)):
                mo[j] = moff[m0 + j]
            for fb in range(U(dy.shape[1]) // U(nr)):
                f0 = fb * U(nr)
                for q in range(U(tile)):
                    acc[q] = 0.0
                a = a0
                b = b0
                s = a * srs + b * scs
                for p in range(p_lo, p_hi):
                    for j in range(U(mr)):
                        v = src[s + mo[j]]
                        for lane in range(U(nr)):
                            acc[j * U(nr) + lane] += v * dy[p, f0 + lane]
                    b += U(1)
                    s += scs
                    if b == grid_w:
                        b = U(0)
                        a += U(1)
                        s = a * srs
                for j in range(U(mr)):
                    for lane in range(U(nr)):
                        out[m0 + j, f0 + lane] += acc[j * U(nr) + lane]

    return _tile_outer


# Two tile shapes, picked per call by the lanes a tile row covers (see _lanes): 6 x 16 runs
# at ~100 GFLOP/s per core, 12 x 8 at ~70; with 8 lanes or fewer 12 x 8 wastes half as many.
# The filter gradient's 16-lane tile is 12 x 16 where AVX-512 gives 32 vector registers (24
# accumulators, one broadcast per two multiply-adds): 4-11% faster than 6 x 16 here.
_gather_16, _gather_8 = _gather_engine(6, 16), _gather_engine(12, 8)
_outer_16 = _outer_engine(12 if vector_registers() >= 32 else 6, 16)
_outer_8 = _outer_engine(12, 8)
M_MULTIPLE = 12  # patch elements are padded to a multiple of both tiles' MR


def _lanes(channels):
    """NR for a tile over `channels` output lanes."""
    return 8 if channels <= 8 else 16


@njit(**_KERNEL)
def _pad_image(x, n, buf, top, left, width):
    """Copy image x[n] ([H, W, C]) into flat buf, a zero-bordered [*, width, C] image, at
    (top, left)."""
    rows, cols, chans = U(x.shape[1]), U(x.shape[2]), U(x.shape[3])
    flat = x.reshape(x.size)
    row = cols * chans
    for h in range(rows):
        s = (U(n) * rows + h) * row
        d = ((h + top) * width + left) * chans
        for i in range(row):
            buf[d + i] = flat[s + i]


@njit(**_KERNEL)
def _group_channels(dy, n, grad, group, groups):
    """Copy image dy[n] ([OH, OW, F]) into grad [OH*groups, LP]: pixel (a, j) goes to row
    a*groups + j // group, lanes (j % group)*F + f. Lanes no pixel fills stay as they are
    (zero: the same ones in every image)."""
    rows, cols, feat = U(dy.shape[1]), U(dy.shape[2]), U(dy.shape[3])
    flat = dy.reshape(dy.size)
    for a in range(rows):
        for j in range(cols):
            g = j // group
            lane = (j - g * group) * feat
            s = ((U(n) * rows + a) * cols + j) * feat
            for f in range(feat):
                grad[a * groups + g, lane + f] = flat[s + f]


@njit(**_KERNEL)
def _split(total, nthreads, t):
    """Thread t's share [lo, hi) of range(total)."""
    return total * t // nthreads, total * (t + U(1)) // nthreads


# --------------------------------------------------------------------------- conv2d drivers

@njit(nogil=True, **_KERNEL)
def _gather_part(src, wp, dst, plan, table, koff, part, parts):
    """Share part/parts of dst's pixel groups (flattened over images) for _gather_parallel."""
    top, left, cols, size, units, nchan = plan[0], plan[1], plan[2], plan[3], plan[4], plan[5]
    image = U(dst.shape[1]) * U(dst.shape[2]) * U(dst.shape[3])
    total = U(dst.shape[0]) * units
    lo, hi = _split(total, parts, part)
    dstf = dst.reshape(dst.size)
    buf = np.zeros(size, src.dtype)
    n = lo // units if units > 0 else total
    while n * units < hi:
        _pad_image(src, n, buf, top, left, cols)
        base = n * units
        for q in range(U(table.shape[0])):
            row = table[q]
            start = base + row[10]
            p_lo, p_hi = max(lo, start), min(hi, start + row[6] * row[7])
            if p_lo < p_hi and wp.shape[2] == 8:
                _gather_8(buf, row[0], row[1], row[2], koff, wp, row[8], row[9], p_lo - start,
                          p_hi - start, row[7], dstf, n * image + row[3], row[4], row[5],
                          nchan, row[11], row[12])
            elif p_lo < p_hi:
                _gather_16(buf, row[0], row[1], row[2], koff, wp, row[8], row[9], p_lo - start,
                           p_hi - start, row[7], dstf, n * image + row[3], row[4], row[5],
                           nchan, row[11], row[12])
        n += U(1)


@njit(parallel=True, **_KERNEL)
def _gather_parallel(src, wp, dst, plan, table, koff, parts):
    """dst[n] = for each row of table, a _tile_gather over image src[n] padded as plan says.

    plan = (top, left, cols, buffer size, units, lanes): src[n] is copied into a zero buffer,
    cols pixels wide, at (top, left); units = pixel groups per image, lanes per group.
    table[q] = (sbase, srs, scs, dbase, drs, dcs, A, B, k0, k1, first unit, lo0, hi_last):
    row q covers A x B pixel groups of dst[n] from its first unit on, in _tile_gather's
    terms (dbase relative to the image), reducing over koff[k0:k1] and wp[:, k0:k1]. The
    rows partition each image's units and its elements.
    """
    for t in prange(parts):
        _gather_part(src, wp, dst, plan, table, koff, U(t), U(parts))


@njit(nogil=True, **_KERNEL)
def _outer_part(x, dy, plan, moff, partial, part, parts):
    """Share part/parts of the pixel groups (flattened over images) for _outer_parallel."""
    top, left, cols, size, srs, scs = plan[0], plan[1], plan[2], plan[3], plan[4], plan[5]
    group, groups = plan[6], plan[7]
    lanes = U(partial.shape[1])
    units = U(dy.shape[1]) * groups
    total = U(x.shape[0]) * units
    lo, hi = _split(total, parts, part)
    buf = np.zeros(size, x.dtype)
    # dy's image is copied even when its rows could serve as they are: reading the copy
    # was 15% faster on [32, 56, 56, 64]
    grad = np.zeros((units, lanes), dy.dtype)
    n = lo // units if units > 0 else total
    while n * units < hi:
        _pad_image(x, n, buf, top, left, cols)
        _group_channels(dy, n, grad, group, groups)
        base = n * units
        p_hi = min(hi, base + units) - base
        for p in range(max(lo, base) - base, p_hi, U(PIXEL_BLOCK)):
            end = min(p + U(PIXEL_BLOCK), p_hi)
            if lanes % 16 == 0:
                _outer_16(buf, srs, scs, moff, grad, p, end, groups, partial)
            else:
                _outer_8(buf, srs, scs, moff, grad, p, end, groups, partial)
        n += U(1)


@njit(parallel=True, **_KERNEL)
def _outer_parallel(x, dy, plan, moff, partial):
    """partial[t] = thread t's sum over its pixel groups of patch elements x dy lanes: see
    _tile_outer.

    plan = (top, left, cols, buffer size, srs, scs, G, groups per row) of the padded image,
    as for _gather_parallel; lanes (j % G)*F + f of group j // G hold dy[.., j, f].
    """
    parts = partial.shape[0]
    for t in prange(parts):
        _outer_part(x, dy, plan, moff, partial[t], U(t), U(parts))


# The parallel wrappers are the only entry points, also for one thread (prange(1) costs ~3 us):
# compiling the parts for direct calls too would cost seconds more.
_gather = TiledKernel(_gather_parallel)
_outer = TiledKernel(_outer_parallel)


# --------------------------------------------------------------------------- geometry
# A gather is planned along each axis as a list of _Axis classes; one table row of
# _gather_parallel is one row class x one column class. Along an axis, class output unit
# g covers output positions out_first + out_step*g + r for r < group (those inside the
# output), and reads source positions src_first + src_step*g + offset for each
# (offset, members) in taps, members[r] being the filter position member r multiplies
# there (None: none). Rows always have group 1.
_Axis = collections.namedtuple(
    '_Axis', 'out_first out_step count src_first src_step group taps')
_Gather = collections.namedtuple('_Gather', 'plan table koff wsel')


def _round_up(value, multiple):
    return -(-value // multiple) * multiple


def _extent(axis_class):
    """Source positions (from 0) a class reads."""
    last = axis_class.src_first + axis_class.src_step * max(axis_class.count - 1, 0)
    return last + max((off for off, _ in axis_class.taps), default=0) + 1


def _work(classes):
    """Multiply-adds per row and channel pair the classes compute (zero weights included)."""
    return sum(c.count * c.group * len(c.taps) for c in classes)


def _tile_cost(lanes):
    """Relative time per useful lane of a tile row `lanes` wide (see TILE_SPEED)."""
    nr = _lanes(lanes)
    return _round_up(lanes, nr) / TILE_SPEED[nr] / lanes


def _forward_axis(out_size, k, stride, dil, group):
    """The forward along one axis: output position group*g + r reads source position
    (group*g + r)*stride + t*dil for each tap t."""
    members = {}
    for r in range(group):
        for t in range(k):
            members.setdefault(r * stride + t * dil, [None] * group)[r] = t
    return [_Axis(0, group, -(-out_size // group), 0, group * stride, group,
                  sorted((off, tuple(m)) for off, m in members.items()))]


def _backward_phases(size, k, stride, dil, pad):
    """The gradient to the input along one axis, one class per stride phase, and the margin
    Q before dy in the source buffer.

    Padded input position i + pad = ph + stride*a receives dy[a - q] * w[t] from each tap t
    with t*dil = ph + stride*q (so (t*dil) % stride == ph); dy[a - q] is buffer position
    a + (Q - q). A phase with no taps yields zeros.
    """
    taps = [(t, (t * dil) // stride) for t in range(k)]
    margin = max(q for _, q in taps)
    classes = []
    for ph in range(stride):
        first = max(-(-(pad - ph) // stride), 0)           # first a with ph + s*a >= pad
        end = max(-(-(pad + size - ph) // stride), first)  # first a with ph + s*a >= pad+size
        classes.append(_Axis(ph + stride * first - pad, stride, end - first, first, 1, 1,
                             [(margin - q, (t,)) for t, q in taps
                              if (t * dil) % stride == ph]))
    return margin, classes


def _backward_groups(size, k, stride, dil, pad, group):
    """The gradient to the input along columns as one class of `group` neighbouring columns
    (group a multiple of stride), and the margin before dy in the source buffer.

    Column j = group*g + r - j0 takes dy[(group/stride)*g + e] * w[t] for each tap t with
    r - j0 + pad - t*dil = stride*e. The shift j0 < group minimises the work.
    """
    best = None
    for shift in range(group):
        members = {}
        for r in range(group):
            for t in range(k):
                e, rem = divmod(r - shift + pad - t * dil, stride)
                if rem == 0:
                    members.setdefault(e, [None] * group)[r] = t
        count = -(-(size + shift) // group)
        if best is None or len(members) * count < best[0]:
            best = (len(members) * count, shift, count, members)
    _, shift, count, members = best
    margin = max(0, -min(members))
    return margin, [_Axis(-shift, group, count, 0, group // stride, group,
                          sorted((e + margin, tuple(m)) for e, m in members.items()))]


def _gather_plan(rows, cols, margins, src_hw, src_chans, out_w, lanes, kernel_w):
    """_gather_parallel's plan for row and column classes over a source image src_hw
    [H, W, src_chans] sitting at margins (top, left) of its zero buffer, writing an output
    out_w pixels wide with `lanes` channels; kernel_w: the filter's width.

    wsel [K, G]: reduction row k of group member r multiplies filter row wsel[k, r] of
    [KH*KW*src_chans, lanes] (tap*src_chans + channel), or -1: zero.
    """
    top, left = margins
    height = max([top + src_hw[0]] + [_extent(c) for c in rows])
    width = max([left + src_hw[1]] + [_extent(c) for c in cols])
    group = cols[0].group
    table, koff, wsel = [], [], []
    units = 0
    for rc in rows:
        for cc in cols:
            if rc.count == 0 or cc.count == 0:
                continue
            k0 = len(koff)
            for ro, (kh,) in rc.taps:
                for co, members in cc.taps:
                    for ch in range(src_chans):
                        koff.append((ro * width + co) * src_chans + ch)
                        wsel.append([-1 if t is None else (kh * kernel_w + t) * src_chans + ch
                                     for t in members])
            last = cc.out_first + cc.out_step * (cc.count - 1)
            table.append(((rc.src_first * width + cc.src_first) * src_chans,
                          rc.src_step * width * src_chans, cc.src_step * src_chans,
                          (rc.out_first * out_w + cc.out_first) * lanes % 2 ** 64,
                          rc.out_step * out_w * lanes, cc.out_step * lanes,
                          rc.count, cc.count, k0, len(koff), units,
                          max(0, -cc.out_first) * lanes, min(group, out_w - last) * lanes))
            units += rc.count * cc.count
    plan = np.array([top, left, width, height * width * src_chans, units, group * lanes], U)
    return _Gather(plan, np.array(table, U).reshape(-1, 13), np.array(koff, U),
                   np.array(wsel, np.intp).reshape(-1, group))


def _choose_group(candidates, lanes):
    """The candidate (group, work, ...) with the least _tile_cost(group * lanes) * work,
    the smaller group on a tie."""
    return min(candidates, key=lambda c: (_tile_cost(c[0] * lanes) * c[1], c[0]))


class _Geometry:
    """Everything about one conv2d that depends on shapes only: computed once per shape.

    out_hw; forward and backward: _Gather plans for the output and the gradient to the input;
    outer_plan, moff and fold for the filter gradient over the forward's padded input (patch
    element m = super tap * C + c at offset moff[m], padded to M_MULTIPLE; fold [KH*KW, G]:
    the super tap holding tap t for group member r). grouping=False keeps one pixel per
    group (the depthwise kernels' layout).
    """

    def __init__(self, input_shape, filter_shape, strides, padding, dilations, grouping):
        _, height, width, chans = input_shape
        kh, kw, _, feat = filter_shape
        (sh, sw), (dh, dw) = strides, dilations
        (oh, ow), ((pt, _), (pl, _)) = conv_output_shape(
            (height, width), (kh, kw), strides, padding, dilations)
        self.out_hw = (oh, ow)
        rows = _forward_axis(oh, kh, sh, dh, 1)
        options = [(g, _work(_forward_axis(ow, kw, sw, dw, g)))
                   for g in (1, 2, 4, 8) if g == 1 or (grouping and g * feat <= MAX_GROUP_LANES)]
        cols = _forward_axis(ow, kw, sw, dw, _choose_group(options, feat)[0])
        self.forward = _gather_plan(rows, cols, (pt, pl), (height, width), chans, ow, feat, kw)
        plan = self.forward.plan
        group = cols[0].group
        self.outer_plan = np.array([*plan[:4], sh * plan[2] * chans, cols[0].src_step * chans,
                                    group, cols[0].count], U)
        koff = self.forward.koff
        self.moff = np.zeros(_round_up(len(koff), M_MULTIPLE), U)
        self.moff[:len(koff)] = koff
        supertap = {(r, t): i for i, (_, m) in enumerate(cols[0].taps)
                    for r, t in enumerate(m) if t is not None}
        self.fold = np.array([[row * len(cols[0].taps) + supertap[r, t] for r in range(group)]
                              for row in range(kh) for t in range(kw)], np.intp)

        qh, rows = _backward_phases(height, kh, sh, dh, pt)
        phases = _backward_phases(width, kw, sw, dw, pl)
        options = [(1, _work(phases[1]), phases)]
        if grouping:
            options += [(g, _work(plan[1]), plan) for g in sorted({2, 4, 8, sw, 2 * sw})
                        if g % sw == 0 and g * chans <= MAX_GROUP_LANES
                        for plan in [_backward_groups(width, kw, sw, dw, pl, g)]]
        qw, cols = _choose_group(options, chans)[2]
        self.backward = _gather_plan(rows, cols, (qh, qw), (oh, ow), feat, width, chans, kw)


@functools.lru_cache(maxsize=256)
def _geometry(*key):
    return _Geometry(*key)


@njit(**_KERNEL)
def pack_filter(w2, wsel, packed):
    """packed [ceil(G*L / NR), K, NR] from w2 [R, L]: lanes r*L + l of row k hold
    w2[wsel[k, r], l] (zero for -1 and past G*L); NR = _lanes(G*L). The layout the gather
    kernel reads its filter in."""
    group = wsel.shape[1]
    cols = w2.shape[1]
    nr = packed.shape[2]
    zero = w2.dtype.type(0)
    for b in range(packed.shape[0]):
        for k in range(wsel.shape[0]):
            for j in range(nr):
                lane = b * nr + j
                r = lane // cols
                v = zero
                if r < group and wsel[k, r] >= 0:
                    v = w2[wsel[k, r], lane - r * cols]
                packed[b, k, j] = v


@njit(**_KERNEL)
def fold_filter_grad(partial, fold, dw):
    """dw [KH*KW, C, F] from the filter gradient's per-thread sums partial [P, M, lanes]:
    dw[t, c, f] = sum over group members r of (sum over parts p of
    partial[p, fold[t, r] * C + c, r * F + f]), added in that order."""
    chans, feat = dw.shape[1], dw.shape[2]
    for t in range(dw.shape[0]):
        for c in range(chans):
            for f in range(feat):
                total = partial[0, 0, 0]
                for r in range(fold.shape[1]):
                    m, lane = fold[t, r] * chans + c, r * feat + f
                    v = partial[0, m, lane]
                    for p in range(1, partial.shape[0]):
                        v += partial[p, m, lane]
                    total = v if r == 0 else total + v
                dw[t, c, f] = total


def _macs(input_shape, out_hw, filter_shape):
    """Multiply-adds of a convolution, the same for its forward pass and both gradients."""
    kh, kw, chans, feat = (int(s) for s in filter_shape)
    return int(input_shape[0]) * out_hw[0] * out_hw[1] * kh * kw * chans * feat


class GatherCall:
    """The static arguments of one gather kernel call (a forward convolution or its gradient
    to the input) for given shapes: what conv2d_forward and conv2d_backprop_input pass, and
    what compiled callers (whole-step functions) pass to ``gather_kernel``. ``out_hw`` is the
    forward output's size (the gradient dy's)."""

    def __init__(self, gather, out_shape, w2_shape, out_hw, macs):
        self.out_shape, self.w2_shape, self.out_hw = out_shape, w2_shape, out_hw
        self.wsel, self.plan, self.table, self.koff = \
            gather.wsel, gather.plan, gather.table, gather.koff
        rows, group = gather.wsel.shape
        lanes = group * w2_shape[1]
        nr = _lanes(lanes)
        self.packed_shape = (_round_up(lanes, nr) // nr, rows, nr)
        self.threads = threads_for(macs, THREAD_GRAIN)

    def run(self, src, w2, dst):
        packed = np.empty(self.packed_shape, w2.dtype)
        pack_filter(w2, self.wsel, packed)
        _gather(src, packed, dst, self.plan, self.table, self.koff, self.threads)
        return dst


def forward_call(input_shape, filter_shape, strides, padding, dilations):
    """conv2d_forward's GatherCall (w2 = w.reshape(KH*KW*C, F))."""
    geo = _geometry_for(input_shape, filter_shape, strides, padding, dilations)
    kh, kw, chans, feat = (int(s) for s in filter_shape)
    return GatherCall(geo.forward, (int(input_shape[0]), *geo.out_hw, feat),
                      (kh * kw * chans, feat), geo.out_hw,
                      _macs(input_shape, geo.out_hw, filter_shape))


def backprop_input_call(input_shape, filter_shape, strides, padding, dilations):
    """conv2d_backprop_input's GatherCall (w2 = w transposed to [KH, KW, F, C], reshaped to
    [KH*KW*F, C])."""
    geo = _geometry_for(input_shape, filter_shape, strides, padding, dilations)
    kh, kw, chans, feat = (int(s) for s in filter_shape)
    return GatherCall(geo.backward, tuple(int(s) for s in input_shape),
                      (kh * kw * feat, chans), geo.out_hw,
                      _macs(input_shape, geo.out_hw, filter_shape))


class OuterCall:
    """The static arguments of conv2d_backprop_filter's kernels for given shapes: ``partial``
    [P, M, lanes] (zeroed) takes ``outer_kernel(x, dy, outer_plan, moff, partial)``, then
    ``fold_filter_grad(partial, fold, dw.reshape(KH*KW, C, F))``."""

    def __init__(self, input_shape, filter_shape, strides, padding, dilations):
        geo = _geometry_for(input_shape, filter_shape, strides, padding, dilations)
        feat = int(filter_shape[3])
        self.out_hw = geo.out_hw
        self.outer_plan, self.moff, self.fold = geo.outer_plan, geo.moff, geo.fold
        group = geo.fold.shape[1]
        self.partial_shape = (threads_for(_macs(input_shape, geo.out_hw, filter_shape),
                                          THREAD_GRAIN), len(geo.moff),
                              _round_up(group * feat, _lanes(group * feat)))


gather_kernel = _gather_parallel  # (compiled under tile flags by a first call of _gather)
outer_kernel = _outer_parallel


def check_float_dtypes(family, *arrays):
    """TypeError unless ``arrays`` (numpy or device arrays) share float32 or float64; the
    CPU and CUDA conv and pooling kernels take nothing else. ``family``: "conv", "pooling"."""
    dtype = arrays[0].dtype
    if dtype not in (np.float32, np.float64) or any(a.dtype != dtype for a in arrays):
        raise TypeError(f'{family} kernels take float32 or float64 arrays of one dtype, got '
                        f'{[str(a.dtype) for a in arrays]}')


def _check_dtype(*arrays):
    check_float_dtypes('conv', *arrays)
    return [np.ascontiguousarray(a) for a in arrays]


def checked_arguments(input_shape, filter_shape, strides, padding, dilations):
    """The convolution's arguments as ints (padding a string or int pairs), after checking
    what every conv kernel relies on, CPU and CUDA alike (they index without checks);
    ValueError names what is wrong."""
    input_shape = tuple(int(s) for s in input_shape)
    filter_shape = tuple(int(s) for s in filter_shape)
    strides = (int(strides[0]), int(strides[1]))
    dilations = (int(dilations[0]), int(dilations[1]))
    if len(input_shape) != 4 or len(filter_shape) != 4:
        raise ValueError(f'conv2d takes 4-D input and filter, got shapes {input_shape} and '
                         f'{filter_shape}')
    if input_shape[3] != filter_shape[2]:
        raise ValueError(f'conv2d: input depth {input_shape[3]} does not match the filter\'s '
                         f'input depth {filter_shape[2]}')
    if min(strides + dilations + filter_shape[:2]) < 1:
        raise ValueError(f'conv2d: strides {strides}, dilations {dilations} and filter size '
                         f'{filter_shape[:2]} must be positive')
    if not isinstance(padding, str):
        padding = tuple((int(lo), int(hi)) for lo, hi in padding)
        if min(padding[0] + padding[1]) < 0:
            raise ValueError(f'conv2d: explicit padding {padding} must not be negative')
    return input_shape, filter_shape, strides, padding, dilations


def _geometry_for(input_shape, filter_shape, strides, padding, dilations, grouping=True):
    """The cached _Geometry of checked arguments."""
    return _geometry(*checked_arguments(input_shape, filter_shape, strides, padding, dilations),
                     grouping)


def check_grad_shape(dy_shape, batch, out_hw, feat):
    """ValueError unless a gradient dy has the forward output's shape [batch, *out_hw, feat]."""
    expected = (int(batch), out_hw[0], out_hw[1], int(feat))
    if tuple(dy_shape) != expected:
        raise ValueError(f'conv2d gradient: dy has shape {tuple(dy_shape)}, the forward output '
                         f'shape is {expected}')


# --------------------------------------------------------------------------- conv2d API

def conv2d_forward(x, w, strides=(1, 1), padding='VALID', dilations=(1, 1), alloc=None):
    """y[n, oh, ow, f] = sum over kh, kw, c of
        xpad[n, oh*sh + kh*dh, ow*sw + kw*dw, c] * w[kh, kw, c, f],
    xpad being x zero-padded by (pt, pl) on top and left.

    x [N, H, W, C], w [KH, KW, C, F] -> y [N, OH, OW, F] (tf.nn.conv2d, NHWC). ``alloc(shape,
    dtype)``, if given, allocates y (as for every forward and input-gradient kernel here).
    """
    x, w = _check_dtype(x, w)
    call = forward_call(x.shape, w.shape, strides, padding, dilations)
    return call.run(x, w.reshape(call.w2_shape), (alloc or np.empty)(call.out_shape, x.dtype))


def conv2d_backprop_input(dy, w, input_shape, strides=(1, 1), padding='VALID', dilations=(1, 1),
                          alloc=None):
    """Gradient of conv2d_forward with respect to x: dx [N, H, W, C] = input_shape.

    dy [N, OH, OW, F] must have the forward output shape for input_shape. This is also
    conv2d_transpose(dy, w, output_shape=input_shape).
    """
    dy, w = _check_dtype(dy, w)
    call = backprop_input_call(input_shape, w.shape, strides, padding, dilations)
    check_grad_shape(dy.shape, input_shape[0], call.out_hw, w.shape[3])
    w2 = w.transpose(0, 1, 3, 2).reshape(call.w2_shape)
    return call.run(dy, w2, (alloc or np.empty)(call.out_shape, dy.dtype))


def conv2d_backprop_filter(x, dy, filter_shape, strides=(1, 1), padding='VALID', dilations=(1, 1),
                           alloc=None):
    """Gradient of conv2d_forward with respect to w: dw [KH, KW, C, F] = filter_shape."""
    x, dy = _check_dtype(x, dy)
    call = OuterCall(x.shape, filter_shape, strides, padding, dilations)
    kh, kw, chans, feat = (int(s) for s in filter_shape)
    check_grad_shape(dy.shape, x.shape[0], call.out_hw, feat)
    partial = np.zeros(call.partial_shape, x.dtype)
    _outer(x, dy, call.outer_plan, call.moff, partial)
    dw = (alloc or np.empty)((kh, kw, chans, feat), x.dtype)
    fold_filter_grad(partial, call.fold, dw.reshape(kh * kw, chans, feat))
    return dw


# the channel loops). They reuse conv2d's geometry without pixel groups: the forward plan
# over the padded input and the stride phases of the gradient to the input, with C*M dy
# channels. Its flat reduction rows come in runs of R = C (forward) or C*M (backward) per
# tap: run g of a phase is tap taps[k0 // R + g], at offset koff[k0 + g*R].

@njit(nogil=True, **_KERNEL)
def _depthwise_pixels(src, sbase, srs, scs, koff, taps, k0, k1, group, w2, mult, backward,
                      p_lo, p_hi, grid_w, dst, dbase, drs, dcs, acc):
    """Pixels p in [p_lo, p_hi) of a grid grid_w wide, a = p // grid_w, b = p % grid_w, with
    s = sbase + a*srs + b*scs + koff[k0 + t*group], k = taps[k0 // group + t] for the
    (k1 - k0) // group taps t of the phase, d = dbase + a*drs + b*dcs:

    forward:  dst[d + c*M + m] = sum over t of src[s + c] * w2[k, c*M + m]
    backward: dst[d + c] = sum over t, m of src[s + c*M + m] * w2[k, c*M + m]

    w2 [taps, C*M]; acc: scratch of C*M elements.
    """
    cm = U(w2.shape[1])
    chans = cm // mult
    width = chans if backward else cm
    for p in range(p_lo, p_hi):
        a = p // grid_w
        b = p - a * grid_w
        for k in range(width):
            acc[k] = 0.0
        for t in range((k1 - k0) // group):
            s = sbase + a * srs + b * scs + koff[k0 + t * group]
            k = taps[k0 // group + t]
            if mult == 1:
                for c in range(chans):
                    acc[c] += src[s + c] * w2[k, c]
            elif backward:
                for c in range(chans):
                    for m in range(mult):
                        acc[c] += src[s + c * mult + m] * w2[k, c * mult + m]
            else:
                for c in range(chans):
                    v = src[s + c]
                    for m in range(mult):
                        acc[c * mult + m] += v * w2[k, c * mult + m]
        d = dbase + a * drs + b * dcs
        for k in range(width):
            dst[d + k] = acc[k]


@njit(nogil=True, **_KERNEL)
def _depthwise_part(src, w2, dst, mult, backward, plan, table, koff, taps, part, parts):
    """Share part/parts of dst's pixels for _depthwise_parallel (as _gather_part)."""
    top, left, cols, size = plan[0], plan[1], plan[2], plan[3]
    pixels = U(dst.shape[1]) * U(dst.shape[2])
    image = pixels * U(dst.shape[3])
    total = U(dst.shape[0]) * pixels
    lo, hi = _split(total, parts, part)
    dstf = dst.reshape(dst.size)
    buf = np.zeros(size, src.dtype)
    acc = np.empty(w2.shape[1], src.dtype)
    group = U(w2.shape[1]) if backward else U(w2.shape[1]) // mult
    n = lo // pixels if pixels > 0 else total
    while n * pixels < hi:
        _pad_image(src, n, buf, top, left, cols)
        base = n * pixels
        for q in range(U(table.shape[0])):
            row = table[q]
            start = base + row[10]
            p_lo, p_hi = max(lo, start), min(hi, start + row[6] * row[7])
            if p_lo < p_hi:
                _depthwise_pixels(buf, row[0], row[1], row[2], koff, taps, row[8], row[9], group,
                                  w2, mult, backward, p_lo - start, p_hi - start, row[7],
                                  dstf, n * image + row[3], row[4], row[5], acc)
        n += U(1)


@njit(parallel=True, **_KERNEL)
def _depthwise_parallel(src, w2, dst, mult, backward, plan, table, koff, taps, parts):
    """Depthwise forward (backward False) or gradient to the input: _gather_parallel's plan and
    table with _depthwise_pixels for the sum."""
    for t in prange(parts):
        _depthwise_part(src, w2, dst, mult, backward, plan, table, koff, taps, U(t), U(parts))


@njit(nogil=True, **_KERNEL)
def _depthwise_filter_part(x, dy, plan, toff, mult, partial, part, parts):
    """Share part/parts of the pixels for _depthwise_filter_parallel."""
    top, left, cols, size, srs, scs = plan[0], plan[1], plan[2], plan[3], plan[4], plan[5]
    ow_ = U(dy.shape[2])
    cm = U(dy.shape[3])
    chans = cm // mult
    pixels = U(dy.shape[1]) * ow_
    total = U(x.shape[0]) * pixels
    lo, hi = _split(total, parts, part)
    dyf = dy.reshape(dy.size)
    buf = np.zeros(size, x.dtype)
    n = lo // pixels if pixels > 0 else total
    while n * pixels < hi:
        _pad_image(x, n, buf, top, left, cols)
        base = n * pixels
        for p in range(max(lo, base) - base, min(hi, base + pixels) - base):
            a = p // ow_
            r = (base + p) * cm
            for t in range(U(toff.shape[0])):
                s = a * srs + (p - a * ow_) * scs + toff[t]
                if mult == 1:
                    for c in range(chans):
                        partial[t, c] += buf[s + c] * dyf[r + c]
                else:
                    for c in range(chans):
                        v = buf[s + c]
                        for m in range(mult):
                            partial[t, c * mult + m] += v * dyf[r + c * mult + m]
        n += U(1)


@njit(parallel=True, **_KERNEL)
def _depthwise_filter_parallel(x, dy, plan, toff, mult, partial):
    """partial[t] [taps, C*M] = thread t's sum over its pixels of patch value x dy."""
    parts = partial.shape[0]
    for t in prange(parts):
        _depthwise_filter_part(x, dy, plan, toff, mult, partial[t], U(t), U(parts))


def _depthwise_geometry(input_shape, filter_shape, strides, padding, dilations):
    kh, kw, chans, mult = (int(s) for s in filter_shape)
    if int(input_shape[3]) != chans:
        raise ValueError(f'depthwise conv2d: input has {input_shape[3]} channels, the filter '
                         f'{chans}')
    return _geometry_for(input_shape, (kh, kw, chans, chans * mult), strides, padding, dilations,
                         grouping=False)


def _run_depthwise(src, w, dst, backward, gather, macs):
    """_depthwise_parallel over a one-pixel-group _Gather plan."""
    mult = U(w.shape[3])
    w2 = w.reshape(-1, w.shape[2] * w.shape[3])
    run = w2.shape[1] if backward else w.shape[2]
    taps = (gather.wsel[::max(run, 1), 0] // max(run, 1)).astype(U)
    _depthwise_parallel(src, w2, dst, mult, backward, gather.plan, gather.table, gather.koff,
                        taps, threads_for(macs, THREAD_GRAIN))
    return dst


def depthwise_conv2d_forward(x, w, strides=(1, 1), padding='VALID', dilations=(1, 1),
                             alloc=None):
    """y[n, oh, ow, c*M + m] = sum over kh, kw of xpad[n, oh*sh + kh*dh, ow*sw + kw*dw, c] *
    w[kh, kw, c, m].

    x [N, H, W, C], w [KH, KW, C, M] -> y [N, OH, OW, C*M] (tf.nn.depthwise_conv2d_native).
    """
    x, w = _check_dtype(x, w)
    geo = _depthwise_geometry(x.shape, w.shape, strides, padding, dilations)
    y = (alloc or np.empty)((x.shape[0], *geo.out_hw, w.shape[2] * w.shape[3]), x.dtype)
    return _run_depthwise(x, w, y, False, geo.forward, y.size * w.shape[0] * w.shape[1])


def depthwise_conv2d_backprop_input(dy, w, input_shape, strides=(1, 1), padding='VALID',
                                    dilations=(1, 1), alloc=None):
    """Gradient of depthwise_conv2d_forward with respect to x: dx [N, H, W, C] = input_shape."""
    dy, w = _check_dtype(dy, w)
    geo = _depthwise_geometry(input_shape, w.shape, strides, padding, dilations)
    check_grad_shape(dy.shape, input_shape[0], geo.out_hw, w.shape[2] * w.shape[3])
    dx = (alloc or np.empty)(tuple(int(s) for s in input_shape), dy.dtype)
    return _run_depthwise(dy, w, dx, True, geo.backward, dy.size * w.shape[0] * w.shape[1])


def depthwise_conv2d_backprop_filter(x, dy, filter_shape, strides=(1, 1), padding='VALID',
                                     dilations=(1, 1), alloc=None):
    """Gradient of depthwise_conv2d_forward with respect to w: dw [KH, KW, C, M] = filter_shape."""
    x, dy = _check_dtype(x, dy)
    geo = _depthwise_geometry(x.shape, filter_shape, strides, padding, dilations)
    kh, kw, chans, mult = (int(s) for s in filter_shape)
    check_grad_shape(dy.shape, x.shape[0], geo.out_hw, chans * mult)
    toff = geo.forward.koff[::chans]
    parts = threads_for(dy.size * kh * kw, THREAD_GRAIN)
    partial = np.zeros((parts, kh * kw, chans * mult), x.dtype)
    _depthwise_filter_parallel(x, dy, geo.outer_plan, toff, U(mult), partial)
    dw = (alloc or np.empty)((kh, kw, chans, mult), x.dtype)
    np.sum(partial, axis=0, out=dw.reshape(kh * kw, chans * mult))
    return dw
