"""The LAD lanes: linear fit clipping's first line fit computed across a row's columns instead of pixel
by pixel (the chunked fast path of :mod:`._integrate_kernel` for ``linear_fit``, flats' default under
WBPP's ``auto``).

Per pixel, linear fit clipping fits a least-absolute-deviation line to the sorted samples against their
rank (:func:`._reject_kernels._lad_fit`, Numerical Recipes' ``medfit``) with ~11 evaluations of
``rofunc`` at trial slopes, each the median of the residuals (Wirth's selection, whose branches
mispredict about once per value) and two sums: 2.9 µs per pixel of 20 samples, 15x winsorized
clipping. Here every lane holds one column and each step evaluates ``rofunc`` for all lanes at once:
the residuals across the lanes, their median by the sorting network of the winsorized lanes
(:func:`._winsorized_lanes._sort_chunk`), the sums across the lanes. Between steps each lane's
bracketing and bisection advance as ``_lad_fit``'s loops do, with the same float64 operations in the
same order, so each fit gives the same line to the bit (tests). The kernel on flats (one thread): 820,
1658 and 4780 ns per pixel at 20, 30 and 50 frames, against 2854, 4270 and 8710 per pixel.

Only the first fit runs here. A column whose first fit rejects nothing is final: all its samples are
kept. One where it rejects samples is handed to the per-pixel path with its first line, and the later
fits on the survivors run there as before (sorted normal samples curve away from a line at both ends:
~3 % of the columns at 20 frames, 9 % at 30, 23 % at 50, 55 % at 100). Source: PCL
``IntegrationRejectionEngine.cpp``, ``LinearFitRejectionThread`` (vahlkar/PCL commit fd570d584), with
``pcl::LinearFit`` as :mod:`apcal.engines.native.rejection_lad` reads it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from apcal.engines.native._reject_kernels import (
    KEEP,
    LAD_EPS,
    LAD_MAX_STEPS,
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
def _first_fit_rejects(s, c, n, a, b, abdev, p):
    """Whether linear fit clipping's first fit (a, b, abdev) rejects any of column c's n sorted samples
    (``_linear_fit``'s verdict, :func:`._reject_kernels._line_verdict`; nothing when σ is nil)."""
    sigma = 2 * (abdev / n) * math.sqrt(1 + b * b)
    if 1 + sigma == 1:
        return False
    for j in range(n):
        f = a + b * float(j)
        if _line_verdict(s[j, c], f, sigma, p.clip_low, p.clip_high, p.lf_low, p.lf_high) != KEEP:
            return True
    return False


@njit(cache=True, error_model="numpy")
def _lad_lanes(s, cols, n, elig, network, line_a, line_b, line_abdev, wy, wr):
    """Linear fit clipping's first fit of every column c < cols of a row's sorted samples ``s[j, c]``
    (n each) where ``elig[c]``: ``_lad_fit``'s a, b and the absolute deviations' sum (n times its adev)
    into line_a/line_b/line_abdev[c] (:func:`_first_fit_rejects` tells what it rejects). ``network``:
    the sorting network for n (``lanes_networks``); ``wy``/``wr``: (n, LANES) scratch.

    Each step evaluates rofunc (``_reject_kernels._rofunc``) at every lane's slope ``beval``: the
    residuals y_j - b·j, sorted across the lanes to take their median a, then the signed count and the
    absolute deviations. Then each lane moves on as ``_lad_fit`` does, or, its fit done, writes its
    line and takes the row's next column. Lanes without a column compute on stale values, unused.
    The lanes' state is one 1D array per quantity, allocated here, so the step's loops vectorize (see
    ``_winsorized_lanes``).
    """
    half = n // 2
    lcol = np.full(LANES, -1, dtype=np.int64)
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
                la[q] = wr[half, q] if n % 2 == 1 else (wr[half - 1, q] + wr[half, q]) / 2
                ltot[q] = 0.0
                labdev[q] = 0.0
            for j in range(n):
                x = float(j)
                for q in range(LANES):
                    y = wy[j, q]
                    d = y - (beval[q] * x + la[q])
                    labdev[q] += abs(d)
                    r = d / abs(y) if y != 0 else d
                    ltot[q] += (x if r >= 0 else -x) if abs(r) > LAD_EPS else 0.0
        busy = 0
        for q in range(LANES):
            done = first
            if not first and lcol[q] >= 0:
                done = _advance(q, phase, steps, beval, bret, b1, b2, f1, f2, sigb, tol, ltot[q])
                if done:
                    c = lcol[q]
                    line_a[c] = la[q]
                    line_b[c] = bret[q]
                    line_abdev[c] = labdev[q]
                    lcol[q] = -1
            if done and nxt < cols:  # take the row's next column, from its least-squares line
                c = nxt
                nxt = _next_column(elig, nxt + 1, cols)
                for j in range(n):
                    wy[j, q] = column[j] = s[j, c]
                _, b, sb = _least_squares(column, n)  # (contiguous: _lad_fit's compilation)
                lcol[q] = c
                phase[q] = _AT_B1
                bret[q] = b
                b1[q] = b
                beval[q] = b
                sigb[q] = sb
            busy += lcol[q] >= 0
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
