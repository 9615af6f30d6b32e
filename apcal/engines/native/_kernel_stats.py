"""Shared small numba helpers of the integration kernels: order statistics and dispersion of a sorted
window of one pixel's samples (median, PCL's two-pass sigma, the clip counts, Sn and its finite-sample
correction) and winsorization's constants.

Each mirrors its numpy counterpart in :mod:`apcal.engines.native.rejection` operation for operation
(float64, same summation order); tests hold the two paths equal. Sources: PCL
``src/modules/processes/ImageIntegration/IntegrationRejectionEngine.cpp`` (``RejectionSigma``,
``RejectionWinsorization``; vahlkar/PCL commit fd570d584) and ``include/pcl/Math.h`` (``Sn``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# The reference's Sn table, imported rather than copied, so the two paths cannot drift apart.
from apcal.engines.native.rejection_window import SN_SMALL_SAMPLE

#: c_n for n = 2..9 as a tuple numba freezes into the compiled code.
_SN_SMALL = tuple(SN_SMALL_SAMPLE[n] for n in range(2, 10))


@njit(cache=True)
def sn_correction(n):
    """Sn's finite-sample factor c_n (PCL include/pcl/Math.h, ``Sn``): a table for n = 2..9, then
    n/(n - 0.9) for odd n and 1 for even n; 1 below 2 (Sn is 0 there anyway)."""
    if n < 2:
        return 1.0
    if n <= 9:
        return _SN_SMALL[n - 2]
    if n % 2 == 1:
        return n / (n - 0.9)
    return 1.0


@njit(cache=True)
def _median(v, lo, hi):
    cnt = hi - lo
    if cnt < 2:
        return 0.0
    half = cnt // 2
    if cnt % 2 == 1:
        return v[lo + half]
    return (v[lo + half] + v[lo + half - 1]) / 2


@njit(cache=True)
def _sigma_about(v, lo, hi, centre):
    cnt = hi - lo
    if cnt < 2:
        return 0.0
    var = 0.0
    eps = 0.0
    for j in range(lo, hi):
        d = v[j] - centre
        var += d * d
        eps += d
    return math.sqrt((var - eps * eps / cnt) / (cnt - 1))


@njit(cache=True)
def _sigma(v, lo, hi):
    cnt = hi - lo
    if cnt < 2:
        return 0.0
    total = 0.0
    for j in range(lo, hi):
        total += v[j]
    return _sigma_about(v, lo, hi, total / cnt)


@njit(cache=True)
def _clip_counts(v, lo, hi, centre, sigma, low_t, high_t, clip_low, clip_high):
    """Leading/trailing counts of (c - x)/σ > low_t and (x - c)/σ > high_t in the sorted window."""
    cl = 0
    if clip_low:
        for j in range(lo, hi):
            if not (centre - v[j]) / sigma > low_t:
                break
            cl += 1
    ch = 0
    if clip_high:
        for j in range(hi - 1, lo - 1, -1):
            if not (v[j] - centre) / sigma > high_t:
                break
            ch += 1
    return cl, ch


@njit(cache=True)
def _sort_values(v, cnt):
    for a in range(1, cnt):
        x = v[a]
        b = a - 1
        while b >= 0 and v[b] > x:
            v[b + 1] = v[b]
            b -= 1
        v[b + 1] = x


@njit(cache=True)
def _sn(v, lo, hi, work):
    """Rousseeuw–Croux Sn of the sorted window (lomed_i himed_j |x_i - x_j|, no consistency factor).

    himed_i, the (k+1)-th smallest distance from x_i (itself included, k = cnt//2), is the smallest
    over the windows of k+1 consecutive samples holding i of the window's largest distance from x_i,
    max(x_i - x_a, x_(a+k) - x_i). The first term falls and the second rises with a, so the optimum is
    at the first a where the second reaches the first (or just before it), and that a never decreases
    with i: one two-pointer sweep, O(cnt) instead of a k-step merge per sample. The differences are the
    very floating-point numbers the merge compared, so the result is the same (tests).
    """
    cnt = hi - lo
    k = cnt // 2
    a = lo
    last = hi - 1 - k  # the last window start
    for i in range(lo, hi):
        xi = v[i]
        if a < i - k:
            a = i - k
        while a < last and a < i and v[a + k] - xi < xi - v[a]:
            a += 1
        d = v[a + k] - xi
        if d < xi - v[a]:  # only when no window start further right exists
            d = xi - v[a]
        if a > lo and a - 1 >= i - k:
            left = xi - v[a - 1]
            if left < d:
                d = left
        work[i - lo] = d
    r = (cnt + 1) // 2 - 1
    if r < 0:
        r = 0
    if math.isfinite(v[lo]) and math.isfinite(v[hi - 1]):
        return _select(work, cnt, r)
    return _count_select(work, cnt, r)  # NaN himeds (inf - inf): as counting ranks them


@njit(cache=True, inline="always")
def _counts_around(w, cnt, value):
    """(#{w_j < value}, #{w_j <= value}) over w[:cnt], in one branch-free (vectorized) pass: value is
    the r-th smallest (0-based) of w when the first <= r < the second."""
    lt = 0
    le = 0
    for j in range(cnt):
        lt += w[j] < value
        le += w[j] <= value
    return lt, le


@njit(cache=True)
def _count_select(w, cnt, r):
    """The r-th smallest (0-based) of w[:cnt], by counting around each value (:func:`_counts_around`):
    for ~20-60 values about twice as fast as sorting them.
    """
    for i in range(cnt):
        lt, le = _counts_around(w, cnt, w[i])
        if lt <= r < le:
            return w[i]
    return w[r]  # unreachable for finite values


#: Pivots :func:`_select` counts before it narrows w to the values between two of them.
PIVOTS = 6


@njit(cache=True)
def _select(w, cnt, r):
    """The r-th smallest (0-based) of the finite w[:cnt] (reordering w): :func:`_count_select` on the few
    values that can hold it.

    Counts, for ``PIVOTS`` values of w taken at evenly spaced places, how many values lie below and at
    each (one vectorized pass each); a pivot whose counts bracket r is the answer. Otherwise the answer lies
    strictly between the highest pivot below it and the lowest above it: those values are moved to the
    front (branch-free) and counted among themselves, r less the values at or below the lower pivot.
    The same value as counting all of w, from comparisons only (tests, on tie-heavy values). Counting
    all ~100 himeds of Sn compares ~10 000 pairs; this ~1 000. On 20 000 restarts' himeds (quantized
    normal samples, min of 7 rounds): 63 instead of 343 ns at 99 values, 52 vs 159 at 49, 47 vs 55 at
    20 (6 pivots; 4 took 127 ns at 99, 8 71, 12 89).
    """
    if cnt < 2 * PIVOTS:
        return _count_select(w, cnt, r)
    below = -np.inf  # the highest pivot found below the answer, and the values at or below it
    above = np.inf  # the lowest found above it
    base = 0
    step = cnt // PIVOTS
    for t in range(PIVOTS):
        p = w[t * step + step // 2]
        if not below < p < above:  # already outside the bracket: its counts would not narrow it
            continue
        lt, le = _counts_around(w, cnt, p)
        if lt <= r < le:
            return p
        if le <= r:
            below = p
            base = le
        else:
            above = p
    m = 0
    for j in range(cnt):  # in place: w[m] is written only after w[j] (j >= m) has been read
        x = w[j]
        w[m] = x
        m += (x > below) & (x < above)
    return _count_select(w, m, r - base)


#: The largest window :func:`_sn_windows` takes over every window (larger ones take the sweep, :func:`_sn`).
WINDOWS_UP_TO = 128


# numba's private _nrt flag (no reference counting) is missing from its type stubs.
@njit(cache=True, _nrt=False)  # type: ignore[call-overload]
def _sn_windows(v, lo, hi, work):
    """:func:`_sn` with the himeds taken over every window, without a data-dependent branch: for the
    restarts of :func:`_winsorized_lanes` (windows of ~20 real, tie-heavy samples), where the two-pointer
    sweep's branches mispredict about once per sample.

    Each himed is the minimum over *all* the windows of k+1 consecutive samples holding i of their
    largest distance from x_i, as :func:`_winsorized_start` takes it: the same floating-point
    candidates among which the sweep finds its optimum, so the same minimum, then the same
    :func:`_select`. Each window updates its samples' himeds through views indexed from 0 (an index
    like ``i - lo`` may be negative as far as numba knows, and its wraparound test kept the loop from
    vectorizing; ``_nrt=False``: the views cost no reference counting). On 20 000 tie-heavy pixels,
    against the sweep: 170 vs 340 ns at 18 samples, 350 vs 600 at 36, 1190 vs 1450 at 97, 1790 vs
    1980 at 128; so windows up to ``WINDOWS_UP_TO`` samples take this, larger ones the sweep. Windows
    with an infinite sample take :func:`_sn` itself (inf - inf is NaN, and min/max would treat it
    unlike the sweep's comparisons).
    """
    cnt = hi - lo
    if hi - lo > WINDOWS_UP_TO or not (math.isfinite(v[lo]) and math.isfinite(v[hi - 1])):
        return _sn(v, lo, hi, work)
    k = cnt // 2
    for i in range(cnt):
        work[i] = np.inf
    for a in range(lo, hi - k):
        xa = v[a]
        xak = v[a + k]
        window = v[a : a + k + 1]
        himeds = work[a - lo : a - lo + k + 1]
        for t in range(k + 1):
            xi = window[t]
            himeds[t] = min(himeds[t], max(xi - xa, xak - xi))
    r = (cnt + 1) // 2 - 1
    if r < 0:
        r = 0
    return _select(work, cnt, r)
