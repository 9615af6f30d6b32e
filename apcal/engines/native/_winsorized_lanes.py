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

import math

import numpy as np
from numba import njit

from apcal.engines.native._kernel_stats import (
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


@njit(cache=True)
def _winsorized_start(wc, width, n, h, network, mean0, sig0):
    """The start of winsorized clipping for a chunk's columns x < width, from their sorted samples
    ``wc[j, x]`` (n each, contiguous (n, CHUNK)): the median and SN_FACTOR·Sn (:func:`_sn`), computed
    across the columns at once (the compiler vectorizes), into mean0/sig0[x] (views of the row's
    arrays at the chunk). ``h`` is (n, CHUNK) scratch; ``network`` the comparators of a sorting network
    for n (:func:`sorting_network`)."""
    half = n // 2
    for x in range(width):
        mean0[x] = wc[half, x] if n % 2 == 1 else (wc[half, x] + wc[half - 1, x]) / 2
    # Sn: himed_i = min over the windows of k+1 consecutive samples holding i of their largest
    # distance from x_i (see _sn).
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
    # Sort each column's himeds with the sorting network and take the lomed, the ((n + 1)//2)-th
    # smallest.
    _sort_chunk(h, n, width, network)
    r = (n + 1) // 2 - 1
    cn = sn_correction(n)
    for x in range(width):
        sig0[x] = SN_FACTOR * (cn * h[r, x])


#: Lanes of :func:`_winsorized_lanes`: columns winsorized together, one step at a time.
LANES = 64


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

    Same float64 operations in the same order as :func:`_winsorize`: a lane sums over all n rows in
    order, adding 0.0 outside its window — exactly what the reference's masked sums do, and the same
    sum as the window's own (x + 0.0 == x). The cutoff applies in the first rejection iteration only.
    ``w`` is (n, LANES) scratch, ``v``/``wv`` (n,). The lanes' state is one 1D array per quantity (not
    rows of one array): the compiler then knows the step's loops do not alias, and vectorizes them.
    """
    cutoff = p.cutoff
    low_t = p.sigma_low
    high_t = p.sigma_high
    clip_low = p.clip_low
    clip_high = p.clip_high
    lmean, lsig, lt0, lt1, lc0, lc1, ltot, lvar, leps = (
        np.empty(LANES),
        np.empty(LANES),
        np.empty(LANES),
        np.empty(LANES),
        np.empty(LANES),
        np.empty(LANES),
        np.empty(LANES),
        np.empty(LANES),
        np.empty(LANES),
    )
    lcol, llo, lhi, lit, lrej = (
        np.empty(LANES, dtype=np.int64),
        np.empty(LANES, dtype=np.int64),
        np.empty(LANES, dtype=np.int64),
        np.empty(LANES, dtype=np.int64),
        np.empty(LANES, dtype=np.int64),
    )
    lconv = np.empty(LANES, dtype=np.bool_)
    lcut = np.empty(LANES, dtype=np.bool_)
    lattn = np.empty(LANES, dtype=np.bool_)
    att = np.arange(LANES)  # the lanes to look at before the next step: att[:natt]
    natt = LANES
    busy = 0  # lanes holding a column
    wm = np.ones((n, LANES), dtype=np.bool_)  # the lanes' windows: wm[j, q] = lo <= j < hi
    nxt = 0  # the next column to hand to a lane
    for q in range(LANES):
        lcol[q] = -1
        llo[q] = 0
        lhi[q] = n
        lcut[q] = False
        lmean[q] = 0.0
        lsig[q] = 0.0
        for j in range(n):
            w[j, q] = 0.0
    while True:
        # Bring every lane to a column that needs a winsorization step (or leave it idle).
        for t in range(natt):
            q = att[t]
            busy -= lcol[q] >= 0
            while True:
                c = lcol[q]
                if c < 0:
                    while nxt < cols and not elig[nxt]:
                        nxt += 1
                    if nxt >= cols:
                        break  # idle
                    c = nxt
                    nxt += 1
                    lcol[q] = c
                    llo[q] = 0
                    lhi[q] = n
                    lit[q] = 0
                    lrej[q] = 0
                    lconv[q] = False
                    lcut[q] = cutoff > 0
                    lmean[q] = mean0[c]
                    lsig[q] = sig0[c]
                    for j in range(n):
                        w[j, q] = s[j, c]
                        wm[j, q] = True
                mean = lmean[q]
                sigma = lsig[q]
                if not (lconv[q] or 1 + sigma == 1 or lit[q] >= WINSOR_MAX_ITERATIONS):
                    break  # needs another step
                # This winsorization is over (as _winsorize returns): clip (as _winsorized_from).
                a = llo[q]
                b = lhi[q]
                done = True
                if 1 + sigma != 1:
                    cl = 0
                    if clip_low:
                        for j in range(a, b):
                            if not (mean - s[j, c]) / sigma > low_t:
                                break
                            cl += 1
                    ch = 0
                    if clip_high:
                        for j in range(b - 1, a - 1, -1):
                            if not (s[j, c] - mean) / sigma > high_t:
                                break
                            ch += 1
                    if cl + ch > 0:
                        a += cl
                        b -= ch
                        llo[q] = a
                        lhi[q] = b
                        if b - a >= 3:
                            # The next rejection iteration: winsorize the window again, without cutoff.
                            done = False
                            for j in range(n):
                                v[j] = s[j, c]
                                w[j, q] = v[j]
                                wm[j, q] = a <= j < b
                            lmean[q] = _median(v, a, b)
                            lsig[q] = SN_FACTOR * (sn_correction(b - a) * _sn_windows(v, a, b, wv))
                            lit[q] = 0
                            lconv[q] = False
                            lcut[q] = False
                            lrej[q] += 1
                if done:
                    lo[c] = a
                    hi[c] = b
                    lcol[q] = -1
            busy += lcol[q] >= 0
        if busy == 0:
            break
        # One winsorization iteration on every lane (idle lanes compute on stale values, unused).
        for q in range(LANES):
            mean = lmean[q]
            sigma = lsig[q]
            lt0[q] = mean - WINSOR_CLAMP * sigma
            lt1[q] = mean + WINSOR_CLAMP * sigma
            lc0[q] = mean - cutoff * sigma
            lc1[q] = mean + cutoff * sigma
            ltot[q] = 0.0
            lvar[q] = 0.0
            leps[q] = 0.0
        for j in range(n):
            for q in range(LANES):
                x = w[j, q]
                t0 = lt0[q]
                t1 = lt1[q]
                c0 = lc0[q]
                c1 = lc1[q]
                mean = lmean[q]
                cut = lcut[q]
                # below t0: t0, or (with the cutoff) the mean beyond c0; above t1 likewise. (Every
                # operand is loaded first and combined with &/|: no conditional loads, so it vectorizes.)
                below = t0 if ((x > c0) | (not cut)) else mean
                above = t1 if ((x < c1) | (not cut)) else mean
                d = below if x < t0 else (above if x > t1 else x)
                w[j, q] = d
                ltot[q] += d if wm[j, q] else 0.0
        for q in range(LANES):
            ltot[q] = ltot[q] / (lhi[q] - llo[q])  # the new mean
        for j in range(n):
            for q in range(LANES):
                d = w[j, q] - ltot[q]
                inside = wm[j, q]
                lvar[q] += d * d if inside else 0.0
                leps[q] += d if inside else 0.0
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
        # Listed without a branch per lane (about one lane in five needs attention, at random: a branch
        # on each would mispredict at that rate). Idle lanes are left out (no column left to take).
        natt = 0
        for q in range(LANES):
            att[natt] = q
            natt += lattn[q] & (lcol[q] >= 0)
