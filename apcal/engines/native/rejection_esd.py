"""Generalized ESD rejection, numpy reference (Rosner 1983; PCL ``ESDRejectionThread``, commit fd570d584)."""

from __future__ import annotations

import numpy as np

from apcal.engines.native.rejection_window import Masks, _at, _median, _sigma, _sum, _window, _window_masks
from apcal.params import IntegrationParams
from apcal.stats.esd import esd_lambda_table, esd_max_outliers


def _esd(s: np.ndarray, count: np.ndarray, params: IntegrationParams) -> Masks:
    """Generalized extreme Studentized deviate test (Rosner 1983; PCL ``ESDRejectionThread``).

    Up to k = trunc(esd_outliers_fraction·N), clamped to [1, N - 2], candidates are removed one at a
    time: the sample maximizing R = (x - m)/s_h above m or (m - x)/s_l below m, where m is the mean
    trimmed of trunc(fraction·N') - i highest and trunc(fraction/esd_low_relaxation·N') - i lowest
    samples (each at least 1; the median when they leave < 3), s_h the stdev about m, and
    s_l = esd_low_relaxation·s_h (relaxation > 1 makes the low side more tolerant). Each R_i is compared
    with λ_i, the two-sided critical value at significance ``esd_alpha``
    (:func:`apcal.stats.esd.esd_lambda`). Outliers above the median of all samples are
    rejected high, the others low. One pass, not iterated.

    How many candidates are outliers is ``params.esd_rule``: ``pixinsight`` (PCL) — the candidates
    before the first with R_i < λ_i; ``rosner`` — up to the last with R_i >= λ_i, immune to the masking
    of clustered similar outliers (see :class:`apcal.params.IntegrationParams`). Once the remaining
    samples are all equal (s_h ≈ 0) PCL's statistic is 0/0, which never compares below λ: under the
    ``pixinsight`` rule every remaining candidate then counts as an outlier (equal values, so the
    combined value does not change, only the counts); ``rosner`` stops there.

    Deviation from PCL: PCL's trimmed mean (``TrimmedMeanDestructive``) sums every sample within the
    trimmed range's end values, so ties at an end count more than N' - trimmed samples; here exactly the
    N' - trimmed middle samples are averaged. With ``clip_low``/``clip_high`` off, PCL still lowers the
    pixel's count for the unflagged outliers of that side; here they are kept.
    """
    n, p = s.shape
    low = np.zeros(s.shape, dtype=bool)
    high = np.zeros(s.shape, dtype=bool)
    if n < 3:
        return low, high
    frac = params.esd_outliers_fraction
    relax = params.esd_low_relaxation
    table = esd_lambda_table(n, params.esd_alpha, frac)
    kmax = np.array([esd_max_outliers(int(c), frac) if c >= 3 else 0 for c in range(n + 1)])
    k = np.where(count >= 3, kmax[count], 0)
    lo = np.zeros_like(count)
    hi = count.copy()
    steps = int(k.max()) if p else 0
    r_values = np.full((max(steps, 1), p), -np.inf)
    took_low = np.zeros((max(steps, 1), p), dtype=bool)
    tested = np.zeros(p, dtype=np.int64)
    active = k > 0
    for i in range(steps):
        active &= i < k
        if not active.any():
            break
        nn = hi - lo
        th = np.maximum(1, (frac * nn).astype(np.int64) - i)
        tl = np.maximum(1, (frac / relax * nn).astype(np.int64) - i)
        trimmed = (th + tl) < (nn - 2)
        tlo = np.where(trimmed, lo + tl, lo)
        thi = np.where(trimmed, hi - th, hi)
        member = _window(n, tlo, thi)
        with np.errstate(invalid="ignore", divide="ignore"):
            tmean = _sum(s, member) / (thi - tlo)
        m = np.where(trimmed, tmean, _median(s, lo, hi))
        sh = _sigma(s, _window(n, lo, hi), nn, centre=m)
        active &= 1 + sh != 1
        sl = relax * sh
        with np.errstate(invalid="ignore", divide="ignore"):
            xl = _at(s, lo) - m
            xh = _at(s, hi - 1) - m
            r_low = np.where(xl >= 0, xl / sh, -xl / sl)
            r_high = np.where(xh >= 0, xh / sh, -xh / sl)
        pick_low = r_low >= r_high
        r_values[i] = np.where(active, np.where(pick_low, r_low, r_high), -np.inf)
        took_low[i] = pick_low
        tested += active
        lo = lo + (active & pick_low)
        hi = hi - (active & ~pick_low)
    # Number of outliers.
    width = max(steps, 1)
    lam = table[count[None, :], np.arange(width)[:, None]] if steps else np.full((1, p), np.inf)
    steps_index = np.arange(width)[:, None]
    tested_step = steps_index < tested[None, :]
    passed = (r_values >= lam) & tested_step
    if params.esd_rule == "rosner":
        nc = np.where(passed.any(axis=0), width - np.argmax(passed[::-1], axis=0), 0)
    else:
        # The steps left untested because the rest was all equal (s_h ≈ 0) pass, as PCL's NaN statistic.
        # (Steps beyond k are marked passed only so that a pixel whose k all pass finds no failure.)
        passed |= (~tested_step & (steps_index < k[None, :])) | (steps_index >= k[None, :])
        nc = np.where(passed.all(axis=0), k, np.argmin(passed, axis=0))
        took_low = took_low | ~tested_step  # those candidates are taken from the low end (equal values)
    first = steps_index < nc[None, :]
    nl = (first & took_low).sum(axis=0)
    nh = (first & ~took_low).sum(axis=0)
    removed_low, removed_high = _window_masks(n, count, nl, count - nh)
    median = _median(s, np.zeros_like(count), count)
    with np.errstate(invalid="ignore"):
        above = s > median
    removed = removed_low | removed_high
    if params.clip_high:
        high = removed & above
    if params.clip_low:
        low = removed & ~above
    return low, high
