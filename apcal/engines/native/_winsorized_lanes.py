"""The winsorized lanes: winsorized sigma clipping, the default rejection of every master, computed
across a row's columns instead of pixel by pixel (the chunked fast path of :mod:`._integrate_kernel`).

Each chunk's columns are sorted by a sorting network (:func:`_sort_chunk`), the start (median, Sn) is
taken per chunk (:func:`_winsorized_start`), then every rejection iteration runs in lanes that take the
row's columns in turn (:func:`_winsorized_lanes`). Same float64 operations in the same order as the
per-pixel :func:`._reject_kernels._winsorized_from` and the numpy reference
(:func:`apcal.engines.native.rejection._winsorized`), so all agree exactly (tests). Source: PCL
``IntegrationRejectionEngine.cpp``, ``WinsorizedSigmaClipRejectionThread`` and ``RejectionWinsorization``
(vahlkar/PCL commit fd570d584), Sn from ``include/pcl/Math.h``.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import njit

from apcal.engines.native._kernel_stats import (
    _clip_counts,
    _median,
    _sn_windows,
    sn_correction,
)
from apcal.engines.native.rejection import (  # the reference's constants, never copied
    SN_FACTOR,
    WINSOR_CLAMP,
    WINSOR_MAX_ITERATIONS,
    WINSOR_SIGMA,
    WINSOR_TOLERANCE,
)
from apcal.stats._typed import ZERO


def sorting_network(n: int) -> np.ndarray:
    """Comparators (a, b), a < b, of Batcher's odd-even merge sort for n values, as an (m, 2) array.

    Applying ``v[a], v[b] = min, max`` for each in order sorts any n values (tested on every 0/1 input,
    which suffices by the 0-1 principle); branch-free, so it runs across many columns at once.
    """
    pairs = []
    p = 1
    while p < n:
        k = p
        while k >= 1:
            for j in range(k % p, n - k, 2 * k):
                for i in range(min(k, n - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


@njit(cache=True)
def _sort_chunk(vals, n, width, network):
    """Sort each column x < width of ``vals[j, x]`` (n samples) in place with the sorting network
    (:func:`sorting_network`): every comparator is a min/max across the columns at once (branch-free,
    vectorized). The sorted values are those of any sort, whatever the order of ties; for n = 20 this
    is ~4x faster than ranking (:func:`_rank_chunk`) and scattering the samples into sorted order."""
    for p in range(network.shape[0]):
        a = network[p, 0]
        b = network[p, 1]
        for x in range(width):
            va = vals[a, x]
            vb = vals[b, x]
            vals[a, x] = min(va, vb)
            vals[b, x] = max(va, vb)


def selection_network(network: np.ndarray, r: int) -> np.ndarray:
    """The comparators of a sorting ``network`` that the value left at position r depends on, in order:
    applied alone they leave the r-th smallest there, as the whole network does (the others only move
    values that never reach r). For the median of 100 values, 898 of Batcher's 1104 comparators."""
    needed = {r}
    kept = []
    for a, b in network[::-1]:
        if a in needed or b in needed:
            kept.append((a, b))
            needed.update((int(a), int(b)))
    return np.array(kept[::-1], dtype=np.int64).reshape(-1, 2)


#: Wires (sample rows) per block of :func:`blocked_order`: 32 rows of a chunk's 128 float64 columns are
#: 32 KiB, which stays in a core's 48 KiB L1 data cache while the block's comparators run.
BLOCK_WIRES = 32


def blocked_order(network: np.ndarray, block: int = BLOCK_WIRES) -> np.ndarray:
    """The same comparators, reordered so that those within one block of ``block`` consecutive wires
    run together: a chunk of 100 samples (100 KiB) does not fit the L1 cache, and in Batcher's order
    every stage sweeps all the rows. Computes the same function: a comparator moves ahead only of
    comparators on other wires, so each wire meets its comparators in the original order (tested).

    Greedily: the block of the first comparator left takes every later one of its block that no
    skipped comparator shares a wire with; a comparator spanning two blocks goes out alone, in order.
    At 100 samples, one chunk sorted over and over (one thread, min of 15 rounds): the sort 189 instead
    of 376 ns per pixel, the lomed's selection 143 instead of 294. Inside the kernel, where the gather
    and the lanes share the cache, less: the sort stage 281-380 vs 450-553 ns/px and the kernel
    2574-2825 vs 2735-3133 (16 rows of 6248 columns, 3 interleaved rounds, busy machine). Up to 32
    samples the order is Batcher's own.
    """
    left = [(int(a), int(b)) for a, b in network]
    ordered: list[tuple[int, int]] = []
    while left:
        a0, b0 = left[0]
        if a0 // block != b0 // block:
            ordered.append(left.pop(0))
            continue
        waiting: list[tuple[int, int]] = []
        held: set[int] = set()  # wires of a comparator left waiting: nothing on them may pass it
        for a, b in left:
            if a // block == b // block == a0 // block and a not in held and b not in held:
                ordered.append((a, b))
            else:
                waiting.append((a, b))
                held.update((a, b))
        left = waiting
    return np.array(ordered, dtype=np.int64).reshape(-1, 2)


@functools.lru_cache(maxsize=8)
def lanes_networks(n: int) -> tuple[np.ndarray, np.ndarray]:
    """What the winsorized lanes take for n samples: the sorting network, and the selection network of
    the lomed of n himeds (Sn's start, :func:`_winsorized_start`), both in cache-friendly order
    (:func:`blocked_order`). Built once per n (~10 ms at n = 100, and the engine integrates block by
    block) and shared, so read-only."""
    batcher = sorting_network(n)
    sort = blocked_order(batcher)
    select = blocked_order(selection_network(batcher, (n + 1) // 2 - 1))
    sort.flags.writeable = False
    select.flags.writeable = False
    return sort, select


#: From this many samples on, Sn's himeds scan a band of windows (:func:`_himeds_banded`) rather than all
#: of them (:func:`_himeds_all_windows`): at 50 samples the band takes ~0.85x the time, at 100 ~0.6x;
#: below ~30 the band's bookkeeping costs what it saves.
BAND_FROM = 40


@njit(cache=True)
def _himeds_all_windows(wc, width, n, h):
    """Sn's himeds of a chunk's sorted columns: himed_i = the minimum over the windows of k + 1
    consecutive samples holding i (k = n//2) of their largest distance from x_i (see :func:`_sn`), every
    window tried, across the columns at once (the compiler vectorizes)."""
    k = n // 2
    for i in range(n):
        a0 = max(0, i - k)
        a1 = min(i, n - 1 - k)
        for x in range(width):
            h[i, x] = np.inf
        for a in range(a0, a1 + 1):
            for x in range(width):
                d = max(wc[i, x] - wc[a, x], wc[a + k, x] - wc[i, x])
                h[i, x] = min(h[i, x], d)


@njit(cache=True)
def _himeds_banded(wc, width, n, h):
    """:func:`_himeds_all_windows`, trying only the band of windows that holds every column's optimum.

    For sample i, a window starting at a has the distances left = x_i - x_a (falling with a) and right =
    x_(a+k) - x_i (rising; both as rounded, which keeps them monotone). Its largest distance falls while
    left > right and rises after: the minimum is at the first start where right >= left (the crossing)
    or just before it. The crossing never moves left as i grows (x_i grows). So for sample i the band
    starts one before the leftmost crossing any column had for i - 1, and ends at the first start where
    every column has crossed: the same minimum, from the same floating-point candidates, as trying
    every window (tests). At 100 samples the band holds ~40 % of the windows.
    """
    k = n // 2
    first = 0  # no column's crossing for the previous sample lies left of this
    for i in range(n):
        a0 = max(0, i - k)
        a1 = min(i, n - 1 - k)
        a = max(a0, first - 1)
        for x in range(width):
            h[i, x] = np.inf
        first = a1 + 1
        while True:
            before = 0  # columns that have not crossed at a
            for x in range(width):
                left = wc[i, x] - wc[a, x]
                right = wc[a + k, x] - wc[i, x]
                h[i, x] = min(h[i, x], max(left, right))
                before += right < left
            if before < width and first > a1:
                first = a
            if before == 0 or a == a1:
                break
            a += 1


@njit(cache=True)
def _winsorized_start(wc, width, n, h, select, mean0, sig0):
    """The start of winsorized clipping for a chunk's columns x < width, from their sorted samples
    ``wc[j, x]`` (n each, contiguous (n, CHUNK)): the median and SN_FACTOR·Sn (:func:`_sn`), computed
    across the columns at once, into mean0/sig0[x] (views of the row's arrays at the chunk). ``h`` is
    (n, CHUNK) scratch of wc's type; ``select`` the comparators that bring the lomed of n values to its
    place (:func:`lanes_networks`). wc may be float32 (bias and darks): the median comes out as in
    float64 (its two samples are widened before they are added), and Sn as float64's rounded to
    float32, which :func:`._integrate_kernel._sn_exact` tells apart."""
    half = n // 2
    for x in range(width):
        mean0[x] = wc[half, x] if n % 2 == 1 else (np.float64(wc[half, x]) + wc[half - 1, x]) / 2
    if n >= BAND_FROM:
        _himeds_banded(wc, width, n, h)
    else:
        _himeds_all_windows(wc, width, n, h)
    # Sn is the lomed of the himeds, the ((n + 1)//2)-th smallest.
    _sort_chunk(h, n, width, select)
    r = (n + 1) // 2 - 1
    cn = sn_correction(n)
    for x in range(width):
        sig0[x] = SN_FACTOR * (cn * h[r, x])


#: Lanes of :func:`_winsorized_lanes`: columns winsorized together, one step at a time.
LANES = 64


# numba's private _nrt flag (no reference counting) is missing from its type stubs.
@njit(cache=True, _nrt=False)  # type: ignore[call-overload]
def _next_column(elig, c, cols):
    """The first column from c on that takes the lanes (``elig``), or cols when none is left."""
    while c < cols and not elig[c]:
        c += 1
    return c


# numba's private _nrt flag (no reference counting) is missing from its type stubs.
@njit(cache=True, _nrt=False)  # type: ignore[call-overload]
def _clip_column(s, c, a, b, mean, sigma, p):
    """The counts (low, high) of column c's sorted samples in [a, b) that winsorized clipping rejects
    about mean/sigma (:func:`_clip_counts`, as :func:`._reject_kernels._winsorized_from`); none when
    sigma is nil. (``_nrt=False``: the column's view costs no reference counting.)"""
    if 1 + sigma == 1:
        return 0, 0
    return _clip_counts(s[:, c], a, b, mean, sigma, p.sigma_low, p.sigma_high, p.clip_low, p.clip_high)


# numba's private _nrt flag (no reference counting) is missing from its type stubs.
@njit(cache=True, _nrt=False)  # type: ignore[call-overload]
def _column_into(s, c, n, v):
    """v[:n] = s[:n, c], as a loop: for an array-to-slice assignment numba compiles the message it would
    raise on a shape mismatch (f-strings of the shapes), ~3 s of a first run's compiling. Not in the
    loop that fills a lane: writing v on every take made the lanes 15 % slower at 100 frames."""
    for j in range(n):
        v[j] = s[j, c]


@njit(cache=True, inline="always")
def _winsorization_over(converged, sigma, iterations):
    """A lane's winsorization has ended (:func:`._reject_kernels._winsorize`'s exit tests)."""
    return converged or 1 + sigma == 1 or iterations >= WINSOR_MAX_ITERATIONS


@njit(cache=True, error_model="numpy")
def _winsorized_lanes(s, cols, n, elig, mean0, sig0, p, lo, hi, w, v, wv):
    """Winsorized sigma clipping of every column c < cols of a row's sorted samples ``s[j, c]`` (n each)
    where ``elig[c]``, from the start mean0/sig0[c] (:func:`_winsorized_start`); writes each column's
    surviving window [lo[c], hi[c]).

    The columns go through ``LANES`` lanes: every step runs one winsorization iteration (clamp and sum,
    then the stdev) on all lanes at once, vectorized across them; a lane whose winsorization has
    ended clips its column (the sorted samples, as :func:`_winsorized_from`), and either starts the
    next rejection iteration on the narrower window (median and Sn per pixel, :func:`_median` /
    :func:`_sn_windows`) or hands its result back and takes the row's next column. So all of a pixel's
    rejection iterations run across columns, and the lanes stay full until the row runs out of columns
    instead of waiting for a chunk's slowest column.

    Same float64 operations in the same order as :func:`_winsorize`: a lane sums over all n rows in order,
    adding 0.0 outside its window (its NaN samples, which clamping leaves NaN) — exactly what the
    reference's masked sums do, and the same sum as the window's own (x + 0.0 == x). The cutoff applies in
    the first rejection iteration only. ``w`` is (n, LANES) scratch, ``v``/``wv`` (n,). The lanes' state
    is one 1D array per quantity (not rows of one array), allocated here: the compiler then knows the
    step's loops do not alias, and vectorizes them. For the same reason the step stays in this function,
    and the helpers it calls take scalars or a few arrays, never the lanes' state: numba counts references
    on every array a call passes, and a helper handed the lanes' arrays (inlined or not) made the lanes
    1.3-4x slower.
    A lane's samples outside its window [llo, lhi) are NaN in ``w`` (written so when it takes its
    column), and the step tells its window by ``d == d``; a cutoff that does not apply is ±inf. So the
    step loads no per-lane bounds or flags: the lanes take ~7 % less time than when they compared j with
    [llo, lhi) and tested the cutoff's flag (20 and 100 frames with 1 % outliers, min of 7 rounds).
    """
    cutoff = p.cutoff
    lmean, lsig = np.zeros(LANES), np.zeros(LANES)
    lt0, lt1, lc0, lc1 = np.empty(LANES), np.empty(LANES), np.empty(LANES), np.empty(LANES)
    ltot, lvar, leps = np.zeros(LANES), np.zeros(LANES), np.zeros(LANES)
    lcol = np.full(LANES, -1, dtype=np.int64)  # each lane's column (-1: idle)
    llo = np.zeros(LANES, dtype=np.int64)  # and its window [llo, lhi)
    lhi = np.full(LANES, n, dtype=np.int64)
    lit = np.zeros(LANES, dtype=np.int64)  # its winsorization's iterations so far
    lconv = np.zeros(LANES, dtype=np.bool_)
    lcut = np.zeros(LANES, dtype=np.bool_)  # the cutoff applies (first rejection iteration)
    lattn = np.empty(LANES, dtype=np.bool_)
    w[:n] = 0.0
    att = np.arange(LANES)  # the lanes to look at before the next step: att[:natt]
    natt = LANES
    busy = 1  # lanes holding a column after the last look (1: before the first)
    nxt = _next_column(elig, ZERO, cols)  # the next column to hand to a lane (cols: none left)
    while busy:
        # Bring every listed lane to a column that needs a winsorization step (or leave it idle).
        for t in range(natt):
            q = att[t]
            # Until the lane holds a column that needs a step, or is idle with no column left:
            while (lcol[q] < 0 and nxt < cols) or (
                lcol[q] >= 0 and _winsorization_over(lconv[q], lsig[q], lit[q])
            ):
                c = lcol[q]
                if c < 0:  # take the row's next column, from its start
                    c = nxt
                    nxt = _next_column(elig, nxt + 1, cols)
                    a, b, restart = 0, n, False
                else:
                    # Its winsorization is over (as _winsorize returns): clip (as _winsorized_from),
                    # then either the next rejection iteration winsorizes the narrower window again
                    # (from its median and Sn, without the cutoff) or the column's window is final.
                    cl, ch = _clip_column(s, c, llo[q], lhi[q], lmean[q], lsig[q], p)
                    a = llo[q] + cl
                    b = lhi[q] - ch
                    restart = cl + ch > 0 and b - a >= 3
                    if not restart:
                        lo[c] = a
                        hi[c] = b
                        lcol[q] = -1
                        continue
                for j in range(n):
                    w[j, q] = s[j, c]
                if restart:  # NaN beyond its window; v: its samples, for the median and Sn below
                    w[:a, q] = np.nan
                    w[b:n, q] = np.nan
                    _column_into(s, c, n, v)
                lcol[q] = c
                llo[q] = a
                lhi[q] = b
                lit[q] = 0
                lconv[q] = False
                lcut[q] = (cutoff > 0) & (not restart)
                lmean[q] = _median(v, a, b) if restart else mean0[c]
                lsig[q] = (
                    SN_FACTOR * (sn_correction(b - a) * _sn_windows(v, a, b, wv)) if restart else sig0[c]
                )
            # Its next step's clamps (mean ± WINSOR_CLAMP·sigma) and cutoffs (mean ± cutoff·sigma, or
            # ±inf where the cutoff does not apply).
            lt0[q] = lmean[q] - WINSOR_CLAMP * lsig[q]
            lt1[q] = lmean[q] + WINSOR_CLAMP * lsig[q]
            lc0[q] = lmean[q] - cutoff * lsig[q] if lcut[q] else -np.inf
            lc1[q] = lmean[q] + cutoff * lsig[q] if lcut[q] else np.inf
        # One winsorization iteration on every lane (idle lanes compute on stale values, unused; after
        # the row's last column, one step runs on idle lanes only, and the loop ends).
        for j in range(n):
            for q in range(LANES):
                x = w[j, q]
                t0 = lt0[q]
                t1 = lt1[q]
                mean = lmean[q]
                # below t0: t0, or the mean at or beyond the cutoff c0; above t1 likewise. (Operands
                # loaded unconditionally and selected: no branch, so it vectorizes.)
                below = t0 if x > lc0[q] else mean
                above = t1 if x < lc1[q] else mean
                d = below if x < t0 else (above if x > t1 else x)
                w[j, q] = d
                ltot[q] += d if d == d else 0.0  # NaN: outside the window
        for q in range(LANES):
            ltot[q] = ltot[q] / (lhi[q] - llo[q])  # the new mean
        for j in range(n):
            for q in range(LANES):
                d = w[j, q] - ltot[q]
                lvar[q] += d * d if d == d else 0.0
                leps[q] += d if d == d else 0.0
        for q in range(LANES):
            cnt = lhi[q] - llo[q]
            s0 = lsig[q]
            eps = leps[q]
            lmean[q] = ltot[q]
            sigma = WINSOR_SIGMA * math.sqrt((lvar[q] - eps * eps / cnt) / (cnt - 1))
            lsig[q] = sigma
            it = lit[q] + 1
            lit[q] = it
            conv = (it > 1) & (abs(s0 - sigma) / s0 < WINSOR_TOLERANCE)
            lconv[q] = conv
            # The lanes whose winsorization is over (_winsorize's exit tests) need attention.
            lattn[q] = conv | (1 + sigma == 1) | (it >= WINSOR_MAX_ITERATIONS)
            # The next step's clamps and cutoffs, and sums from zero.
            lt0[q] = lmean[q] - WINSOR_CLAMP * sigma
            lt1[q] = lmean[q] + WINSOR_CLAMP * sigma
            lc0[q] = lmean[q] - cutoff * sigma if lcut[q] else -np.inf
            lc1[q] = lmean[q] + cutoff * sigma if lcut[q] else np.inf
            ltot[q] = 0.0
            lvar[q] = 0.0
            leps[q] = 0.0
        # Listed without a branch per lane (about one lane in five needs attention, at random: a branch
        # on each would mispredict at that rate). Idle lanes are left out (no column left to take).
        natt = 0
        busy = 0
        for q in range(LANES):
            att[natt] = q
            natt += lattn[q] & (lcol[q] >= 0)
            busy += lcol[q] >= 0
