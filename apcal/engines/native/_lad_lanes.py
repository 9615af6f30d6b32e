"""The LAD lanes: linear fit clipping computed across a row's columns instead of pixel by pixel (the
chunked fast path of :mod:`._integrate_kernel` for ``linear_fit``, flats' default under WBPP's
``auto``).

Per pixel, linear fit clipping fits a least-absolute-deviation line to the sorted samples against their
rank (:func:`._reject_kernels._lad_fit`, Numerical Recipes' ``medfit``) with ~11 evaluations of
``rofunc`` at trial slopes, each the median of the residuals (Wirth's selection, whose branches
mispredict about once per value) and two sums: 2.9 µs per pixel of 20 samples, 15x winsorized
clipping. Here every lane holds one column and each step evaluates ``rofunc`` for all lanes at once:
the residuals across the lanes, their median by the sorting network of the winsorized lanes
(:func:`._winsorized_lanes._sort_chunk`), the sums across the lanes. Between steps each lane's
bracketing and bisection advance as ``_lad_fit``'s loops do, with the same float64 operations in the
same order, so each fit gives the same line to the bit.

Every fit runs here, not only the first: sorted normal samples curve away from a line at both ends, so a
first fit rejects samples in ~3 % of the columns at 20 frames, 9 % at 30, 23 % at 50 and 55 % at 100,
and the fits after it (on the survivors, ranked again from 0), run per pixel, cost from 30 frames on as
much as the lanes saved on the first. A lane whose fit rejected samples at its window's ends only fits
the narrower window again; the survivors of a column are then a window of its sorted samples, combined
chunk by chunk as the winsorized lanes' are. Where a fit rejects a sample inside the window (a plateau
among the sorted samples; ~0.1 % of normal columns at 50 frames), the column goes back to the per-pixel
path. The kernel on flats (``bench/flat_kernel.py``, one thread): 768-782, 1254-1291, 2787-2842 and
8690-9383 ns per pixel at 20, 30, 50 and 100 frames, against 859-860, 1701-1722, 5058-5248 and
23068-23191 with the first fit alone in lanes. Source: PCL ``IntegrationRejectionEngine.cpp``,
``LinearFitRejectionThread::Run`` (vahlkar/PCL commit fd570d584), with ``pcl::LinearFit`` as
:mod:`apcal.engines.native.rejection_lad` reads it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from apcal.engines.native._reject_kernels import (
    HIGH,
    KEEP,
    LAD_EPS,
    LAD_MAX_STEPS,
    LOW,
    _least_squares,
    _line_verdict,
)
from apcal.engines.native._winsorized_lanes import LANES, _next_column, _sort_chunk
from apcal.stats._typed import ZERO

# A lane's place in ``_lad_fit`` after the rofunc it has just evaluated (the slope in ``beval``).
_AT_B1 = 0  # the least-squares slope
_AT_B2 = 1  # the first step away from it, 3 sigma_b
_BRACKETING = 2  # growing the step until the sign of rofunc changes
_BISECTING = 3  # halving the bracket


@njit(cache=True)
def _fit_verdict(s, c, lo, m, a, b, abdev, p):
    """What linear fit clipping's fit (a, b, abdev) rejects of column c's sorted samples s[lo:lo+m]
    (``_linear_fit``'s verdict, :func:`._reject_kernels._line_verdict`; nothing when σ is nil):
    (rejected, leading, trailing), the rejected count and the runs of LOW samples from the bottom and
    HIGH ones from the top. When rejected == leading + trailing the survivors are the window between
    the runs and the counts are a window's (low below, high above); otherwise the lanes hand the column
    back."""
    sigma = 2 * (abdev / m) * math.sqrt(1 + b * b)
    if 1 + sigma == 1:
        return 0, 0, 0
    rejected = 0
    leading = 0
    trailing = 0
    lead = True
    for j in range(m):
        verdict = _line_verdict(
            s[lo + j, c], a + b * float(j), sigma, p.clip_low, p.clip_high, p.lf_low, p.lf_high
        )
        rejected += verdict != KEEP
        lead = lead and verdict == LOW
        leading += lead
        trailing = trailing + 1 if verdict == HIGH else 0
    return rejected, leading, trailing


# numba's private _nrt flag (no reference counting) is missing from its type stubs.
@njit(cache=True, _nrt=False)  # type: ignore[call-overload]
def _clip_lane(s, c, a0, m, a, b, abdev, p, lo, hi, back):
    """Clip column c's window s[a0:a0+m] by its fit (a, b, abdev) as ``_linear_fit`` does: returns
    (c, a0, m), the narrower window to fit again, when the fit rejected samples at the window's ends
    only and 3 or more are left; else (-1, ...) with the column done: its final window in lo/hi[c]
    (nothing rejected, or fewer than 3 left), or back[c] set (:func:`_fit_verdict`)."""
    rejected, leading, trailing = _fit_verdict(s, c, a0, m, a, b, abdev, p)
    a0 += leading
    m -= leading + trailing
    at_ends = rejected == leading + trailing
    if at_ends and rejected > 0 and m >= 3:
        return c, a0, m
    if at_ends:
        lo[c], hi[c] = a0, a0 + m
    else:
        back[c] = True
    return -1, a0, m


@njit(cache=True, error_model="numpy")
def _lad_lanes(s, cols, n, elig, network, p, lo, hi, back, wy, wr):
    """Linear fit clipping of every column c < cols of a row's sorted samples ``s[j, c]`` (n each) where
    ``elig[c]``: each column's surviving window [lo[c], hi[c]) of its sorted samples, or back[c] set
    where the survivors are not a window (:func:`_fit_verdict`), for the per-pixel path. ``network``:
    the sorting network for n (``lanes_networks``); ``p`` the settings; ``wy``/``wr``: (n, LANES)
    scratch.

    A lane holds one column's window of m samples (rows m.. of ``wy`` are +inf, sorted last and left
    out of the sums). Each step evaluates rofunc (``_reject_kernels._rofunc``) at every lane's slope
    ``beval``: the residuals y_j - b·j, sorted across the lanes to take each lane's median a, then the
    signed count and the absolute deviations over j < m. Then each lane moves on as ``_lad_fit`` does;
    its fit done, the lane clips as ``_linear_fit`` does: nothing rejected, or fewer than 3 left, and
    the window is final; rejections at the window's ends, and it fits the narrower window again;
    anything else, and the column goes back. Lanes without a column compute on stale values, unused.
    The lanes' state is one 1D array per quantity, allocated here, so the step's loops vectorize (see
    ``_winsorized_lanes``).
    """
    lcol = np.full(LANES, -1, dtype=np.int64)
    llo = np.zeros(LANES, dtype=np.int64)  # each lane's window of its column: [llo, llo + lm)
    lm = np.full(LANES, n, dtype=np.int64)
    phase = np.zeros(LANES, dtype=np.int64)
    steps = np.zeros(LANES, dtype=np.int64)
    beval, bret, b1, b2 = np.zeros(LANES), np.zeros(LANES), np.zeros(LANES), np.zeros(LANES)
    f1, f2, sigb, tol = np.zeros(LANES), np.zeros(LANES), np.zeros(LANES), np.zeros(LANES)
    la, ltot, labdev = np.zeros(LANES), np.zeros(LANES), np.zeros(LANES)
    wy[:n] = 0.0
    column = np.empty(n)
    busy = 1
    nxt = _next_column(elig, ZERO, cols)
    first = True
    while busy:
        if not first:
            # One rofunc on every lane: residuals, their median, the sums (as _rofunc, in j order).
            for j in range(n):
                x = float(j)
                for q in range(LANES):
                    wr[j, q] = wy[j, q] - beval[q] * x
            _sort_chunk(wr, n, wr.shape[1], network)  # (a variable: one compilation with the chunks')
            for q in range(LANES):
                m = lm[q]
                half = m // 2
                la[q] = wr[half, q] if m % 2 == 1 else (wr[half - 1, q] + wr[half, q]) / 2
                ltot[q] = 0.0
                labdev[q] = 0.0
            for j in range(n):
                x = float(j)
                for q in range(LANES):
                    inside = j < lm[q]
                    y = wy[j, q]
                    d = y - (beval[q] * x + la[q])
                    labdev[q] += abs(d) if inside else 0.0
                    r = d / abs(y) if y != 0 else d
                    ltot[q] += (x if r >= 0 else -x) if inside and abs(r) > LAD_EPS else 0.0
        busy = 0
        for q in range(LANES):
            c = lcol[q]
            a0, m = 0, n
            if c >= 0:
                if not _advance(q, phase, steps, beval, bret, b1, b2, f1, f2, sigb, tol, ltot[q]):
                    busy += 1
                    continue
                c, a0, m = _clip_lane(s, c, llo[q], lm[q], la[q], bret[q], labdev[q], p, lo, hi, back)
            if c < 0:  # take the row's next column, whole
                lcol[q] = -1
                if nxt >= cols:
                    continue
                c = nxt
                nxt = _next_column(elig, nxt + 1, cols)
                a0, m = 0, n
            # From the window's least-squares line; rows from m on sort last and are left out.
            for j in range(m):
                wy[j, q] = column[j] = s[a0 + j, c]
            for j in range(m, n):
                wy[j, q] = np.inf
            _, b, sb = _least_squares(column, m)  # (contiguous: _lad_fit's compilation)
            lcol[q] = c
            llo[q] = a0
            lm[q] = m
            phase[q] = _AT_B1
            bret[q] = b
            b1[q] = b
            beval[q] = b
            sigb[q] = sb
            busy += 1
        first = False


# numba's private _nrt flag (no reference counting) is missing from its type stubs.
@njit(cache=True, _nrt=False)  # type: ignore[call-overload]
def _advance(q, phase, steps, beval, bret, b1, b2, f1, f2, sigb, tol, f):
    """Lane q's ``_lad_fit`` after rofunc gave ``f`` at its slope ``beval[q]``: sets the next slope to
    evaluate and returns False, or returns True when the fit is done (its line: the last rofunc's a
    and deviation, and ``bret[q]``, ``_lad_fit``'s b). ``_nrt=False``: the lanes' arrays pass without
    reference counting."""
    at = phase[q]
    if at == _AT_B1:
        f1[q] = f
        if not sigb[q] > 0:
            return True
        b2[q] = bret[q] + (3 * sigb[q] if f >= 0 else -3 * sigb[q])
        beval[q] = b2[q]
        phase[q] = _AT_B2
        return False
    if at == _AT_B2:
        f2[q] = f
        if b2[q] == b1[q]:
            return True
        steps[q] = 0
    elif at == _BRACKETING:
        f2[q] = f
        steps[q] += 1
    if at != _BISECTING:
        if f1[q] * f2[q] > 0 and steps[q] < LAD_MAX_STEPS:
            b = b2[q] + 1.6 * (b2[q] - b1[q])
            b1[q] = b2[q]
            f1[q] = f2[q]
            b2[q] = b
            bret[q] = b
            beval[q] = b
            phase[q] = _BRACKETING
            return False
        tol[q] = 0.01 * sigb[q]
        steps[q] = 0
    else:
        if f * f1[q] >= 0:
            f1[q] = f
            b1[q] = beval[q]
        else:
            f2[q] = f
            b2[q] = beval[q]
        steps[q] += 1
    if abs(b2[q] - b1[q]) > tol[q] and steps[q] < LAD_MAX_STEPS:
        b = b1[q] + 0.5 * (b2[q] - b1[q])
        bret[q] = b
        if b == b1[q] or b == b2[q]:
            return True
        beval[q] = b
        phase[q] = _BISECTING
        return False
    return True
