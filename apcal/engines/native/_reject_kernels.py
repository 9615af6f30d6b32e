"""Per-pixel rejection kernels of the integration driver (:mod:`._integrate_kernel`): every rejection
algorithm run on one pixel's sorted samples, writing KEEP/LOW/HIGH per sorted position
(:func:`_reject_sorted`).

The arithmetic mirrors :mod:`apcal.engines.native.rejection` operation for operation (float64, same
summation order, same Sn start), so both paths agree exactly; see that module for the formulas. Source:
PCL ``src/modules/processes/ImageIntegration/IntegrationRejectionEngine.cpp`` (vahlkar/PCL commit
fd570d584): ``MinMaxRejectionThread``, ``PercentileClipRejectionThread``, ``SigmaClipRejectionThread``,
``WinsorizedSigmaClipRejectionThread`` with ``RejectionWinsorization``, ``AveragedSigmaClipRejectionThread``,
``LinearFitRejectionThread`` (``pcl::LinearFit``) and ``ESDRejectionThread``.
"""

from __future__ import annotations

import math

from numba import njit

from apcal.engines.native._kernel_params import (
    AVERAGED,
    ESD,
    LINEAR_FIT,
    MINMAX,
    NONE,
    PERCENTILE,
    SIGMA,
    WINSORIZED,
)
from apcal.engines.native._kernel_stats import (
    _clip_counts,
    _median,
    _sigma,
    _sigma_about,
    _sn,
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

KEEP, LOW, HIGH = 0, 1, 2


@njit(cache=True)
def _winsorize(v, lo, hi, cutoff, w):
    cnt = hi - lo
    mean = _median(v, lo, hi)
    sigma = SN_FACTOR * (sn_correction(cnt) * _sn(v, lo, hi, w))
    for j in range(lo, hi):
        w[j] = v[j]
    it = 0
    while it < WINSOR_MAX_ITERATIONS:
        if 1 + sigma == 1:
            break
        t0 = mean - WINSOR_CLAMP * sigma
        t1 = mean + WINSOR_CLAMP * sigma
        # The clamping pass also sums the clamped samples, in the same order as the reference's sum;
        # the stdev is then taken about total/cnt (what _sigma would recompute) and that is the new mean.
        total = 0.0
        if cutoff > 0:
            c0 = mean - cutoff * sigma
            c1 = mean + cutoff * sigma
            for j in range(lo, hi):
                x = w[j]
                if x < t0:
                    x = t0 if x > c0 else mean
                elif x > t1:
                    x = t1 if x < c1 else mean
                w[j] = x
                total += x
        else:
            for j in range(lo, hi):
                x = w[j]
                if x < t0:
                    x = t0
                elif x > t1:
                    x = t1
                w[j] = x
                total += x
        s0 = sigma
        mean = total / cnt
        sigma = WINSOR_SIGMA * (_sigma_about(w, lo, hi, mean) if cnt >= 2 else 0.0)
        it += 1
        if it > 1 and abs(s0 - sigma) / s0 < WINSOR_TOLERANCE:
            break
    return mean, sigma


@njit(cache=True)
def _winsorized_from(v, lo, hi, it, p, w):
    """Winsorized sigma clipping of the sorted window v[lo:hi] from rejection iteration ``it``: the
    final window. (:func:`._winsorized_lanes._winsorized_lanes` runs the same steps across columns.)"""
    while hi - lo >= 3:
        cutoff = p.cutoff if it == 0 else 0.0
        mean, sigma = _winsorize(v, lo, hi, cutoff, w)
        if 1 + sigma == 1:
            break
        cl, ch = _clip_counts(v, lo, hi, mean, sigma, p.sigma_low, p.sigma_high, p.clip_low, p.clip_high)
        if cl + ch == 0:
            break
        lo += cl
        hi -= ch
        it += 1
    return lo, hi


@njit(cache=True)
def _minmax_window(cnt, p):
    """Min/max clipping (PCL ``MinMaxRejectionThread``): the window [lo, hi) of the survivors."""
    lo = min(p.mm_low if p.clip_low else 0, cnt)
    hi = max(cnt - min(p.mm_high if p.clip_high else 0, cnt), lo)
    return lo, hi


@njit(cache=True)
def _percentile_window(v, cnt, p):
    """Percentile clipping about the median, one pass (PCL ``PercentileClipRejectionThread``)."""
    m = _median(v, ZERO, cnt)
    if cnt >= 2 and 1 + m != 1:
        cl, ch = _clip_counts(v, ZERO, cnt, m, m, p.pc_low, p.pc_high, p.clip_low, p.clip_high)
        return cl, cnt - ch
    return 0, cnt


@njit(cache=True)
def _sigma_window(v, cnt, p):
    """Iterative sigma clipping about the median (PCL ``SigmaClipRejectionThread``)."""
    lo = 0
    hi = cnt
    while hi - lo >= 3:
        sigma = _sigma(v, lo, hi)
        if 1 + sigma == 1:
            break
        m = _median(v, lo, hi)
        cl, ch = _clip_counts(v, lo, hi, m, sigma, p.sigma_low, p.sigma_high, p.clip_low, p.clip_high)
        if cl + ch == 0:
            break
        lo += cl
        hi -= ch
    return lo, hi


@njit(cache=True)
def _averaged_window(v, cnt, p):
    """Averaged sigma clipping (PCL ``AveragedSigmaClipRejectionThread``): the Poisson-scaled sigma
    taken once about the median, then iterated clips about the survivors' median."""
    lo = 0
    hi = cnt
    m = _median(v, ZERO, cnt)
    if cnt >= 3 and 1 + m != 1:
        acc = 0.0
        for j in range(cnt):
            d = v[j] - m
            acc += d * d / m
        scale = math.sqrt(acc / (cnt - 1))
        while True:
            sigma = scale * math.sqrt(m)
            if 1 + sigma == 1:
                break
            cl, ch = _clip_counts(v, lo, hi, m, sigma, p.sigma_low, p.sigma_high, p.clip_low, p.clip_high)
            if cl + ch == 0:
                break
            lo += cl
            hi -= ch
            if hi - lo < 3:
                break
            m = _median(v, lo, hi)
    return lo, hi


@njit(cache=True)
def _window(v, cnt, p, w):
    """The surviving window [lo, hi) of the sorted samples v[:cnt] for the algorithms that reject from
    the ends of the sorted order (all but linear fit and ESD)."""
    algo = p.algorithm
    if algo == MINMAX:
        return _minmax_window(cnt, p)
    if algo == PERCENTILE:
        return _percentile_window(v, cnt, p)
    if algo == SIGMA:
        return _sigma_window(v, cnt, p)
    if algo == WINSORIZED:
        return _winsorized_from(v, ZERO, cnt, ZERO, p, w)
    if algo == AVERAGED:
        return _averaged_window(v, cnt, p)
    return 0, cnt


@njit(cache=True)
def _reject_sorted(p, v, cnt, flags, esd_table, w, w2, w3, took_low):
    """Run ``p.algorithm`` on the sorted samples v[:cnt]; write KEEP/LOW/HIGH per sorted position in flags."""
    for j in range(cnt):
        flags[j] = KEEP
    if p.algorithm == NONE or cnt == 0:
        return
    if p.algorithm == LINEAR_FIT:
        if cnt >= 5:
            _linear_fit(v, cnt, flags, p.clip_low, p.clip_high, p.lf_low, p.lf_high, w, w2, w3)
        return
    if p.algorithm == ESD:
        if esd_table is not None:  # (None: a compilation without ESD, see integration._integrate_fast)
            _esd(v, cnt, flags, p, esd_table, w, took_low)
        return
    lo, hi = _window(v, cnt, p, w)
    for j in range(lo):
        flags[j] = LOW
    for j in range(hi, cnt):
        flags[j] = HIGH


LAD_EPS = 1e-7  # relative residual below which a point counts as on the line (Numerical Recipes rofunc)
LAD_MAX_STEPS = 100


@njit(cache=True)
def _median_in_place(work, n):
    """Median of work[:n], reordering it: Wirth's selection of the upper middle element leaves the
    smaller ones before it, so the lower middle one (even n) is their maximum. Same value as sorting."""
    half = n // 2
    lo = 0
    hi = n - 1
    while lo < hi:
        x = work[half]
        i = lo
        j = hi
        while True:
            while work[i] < x:
                i += 1
            while x < work[j]:
                j -= 1
            if i <= j:
                t = work[i]
                work[i] = work[j]
                work[j] = t
                i += 1
                j -= 1
            if i > j:
                break
        if j < half:
            lo = i
        if half < i:
            hi = j
    if n % 2 == 1:
        return work[half]
    below = work[0]
    for j in range(1, half):
        if work[j] > below:
            below = work[j]
    return (below + work[half]) / 2


@njit(cache=True)
def _rofunc(b, y, n, work):
    """For slope b, x_j = j: (Σ x_j·sign(residual_j), a = median(y - b·x), Σ |residual_j|); see
    rejection_lad._rofunc."""
    for j in range(n):
        work[j] = y[j] - b * float(j)
    a = _median_in_place(work, n)
    total = 0.0
    abdev = 0.0
    for j in range(n):
        d = y[j] - (b * float(j) + a)
        abdev += abs(d)
        if y[j] != 0:
            d /= abs(y[j])
        if abs(d) > LAD_EPS:
            total += float(j) if d >= 0 else -float(j)
    return total, a, abdev


@njit(cache=True)
def _least_squares(y, n):
    """``medfit``'s start: (a, b, sigma_b) of the least-squares line through (j, y_j), j < n."""
    sx = 0.0
    sy = 0.0
    sxy = 0.0
    sxx = 0.0
    for j in range(n):
        x = float(j)
        sx += x
        sy += y[j]
        sxy += x * y[j]
        sxx += x * x
    delta = n * sxx - sx * sx
    a = (sxx * sy - sx * sxy) / delta
    b = (n * sxy - sx * sy) / delta
    chisq = 0.0
    for j in range(n):
        d = y[j] - (a + b * float(j))
        chisq += d * d
    return a, b, math.sqrt(chisq / delta)


@njit(cache=True)
def _lad_fit(y, n, work):
    """NR ``medfit`` line through (j, y_j): returns (a, b, adev). See rejection_lad._lad_fit."""
    a, b, sigb = _least_squares(y, n)
    b1 = b
    f1, a, abdev = _rofunc(b1, y, n, work)
    if sigb > 0:
        b2 = b + (3 * sigb if f1 >= 0 else -3 * sigb)
        f2, a, abdev = _rofunc(b2, y, n, work)
        if b2 == b1:
            return a, b, abdev / n
        steps = 0
        while f1 * f2 > 0 and steps < LAD_MAX_STEPS:
            b = b2 + 1.6 * (b2 - b1)
            b1 = b2
            f1 = f2
            b2 = b
            f2, a, abdev = _rofunc(b2, y, n, work)
            steps += 1
        tol = 0.01 * sigb
        steps = 0
        while abs(b2 - b1) > tol and steps < LAD_MAX_STEPS:
            b = b1 + 0.5 * (b2 - b1)
            if b == b1 or b == b2:  # noqa: SIM109 (kept numba-plain)
                break
            f, a, abdev = _rofunc(b, y, n, work)
            if f * f1 >= 0:
                f1 = f
                b1 = b
            else:
                f2 = f
                b2 = b
            steps += 1
    return a, b, abdev / n


@njit(cache=True, inline="always")
def _line_verdict(y, f, sigma, clip_low, clip_high, lf_low, lf_high):
    """KEEP, LOW or HIGH for a sample y against the line's value f at its rank (linear fit clipping:
    ``(f - y)/σ >= lf_low`` below the line, ``(y - f)/σ >= lf_high`` above)."""
    if y < f:
        if clip_low and (f - y) / sigma >= lf_low:
            return LOW
    elif clip_high and (y - f) / sigma >= lf_high:
        return HIGH
    return KEEP


@njit(cache=True)
def _linear_fit(v, cnt, flags, clip_low, clip_high, lf_low, lf_high, y, pos, work):
    """Iterative LAD line fit on the sorted survivors (see rejection_lad._linear_fit). Takes the four
    settings it reads as scalars, not the parameter tuple, which numba would copy into every call."""
    na = cnt
    for j in range(cnt):
        y[j] = v[j]
        pos[j] = j
    while True:
        a, b, adev = _lad_fit(y, na, work)
        sigma = 2 * adev * math.sqrt(1 + b * b)
        if 1 + sigma == 1:
            break
        nc = 0
        for j in range(na):
            nc += _line_verdict(y[j], a + b * float(j), sigma, clip_low, clip_high, lf_low, lf_high) != KEEP
        if nc == 0:
            break
        k = 0
        for j in range(na):
            rejected = _line_verdict(y[j], a + b * float(j), sigma, clip_low, clip_high, lf_low, lf_high)
            if rejected != KEEP:
                flags[int(pos[j])] = rejected
            else:
                y[k] = y[j]
                pos[k] = pos[j]
                k += 1
        na = k
        if na < 3:
            break


@njit(cache=True)
def _esd(v, cnt, flags, p, table, r_values, took_low):
    """Generalized ESD on the sorted samples (see rejection._esd)."""
    if cnt < 3:
        return
    frac, relax = p.esd_fraction, p.esd_relax
    k = min(max(int(frac * cnt), 1), cnt - 2)
    lo, hi, tested = 0, cnt, 0
    for i in range(k):
        nn = hi - lo
        th = max(1, int(frac * nn) - i)
        tl = max(1, int(frac / relax * nn) - i)
        if th + tl < nn - 2:
            total = 0.0
            for j in range(lo + tl, hi - th):
                total += v[j]
            m = total / (nn - th - tl)
        else:
            m = _median(v, lo, hi)
        sh = _sigma_about(v, lo, hi, m)
        if 1 + sh == 1:
            break
        sl = relax * sh
        xl, xh = v[lo] - m, v[hi - 1] - m
        r_low = xl / sh if xl >= 0 else -xl / sl
        r_high = xh / sh if xh >= 0 else -xh / sl
        if r_low >= r_high:
            r_values[i] = r_low
            took_low[i] = 1
            lo += 1
        else:
            r_values[i] = r_high
            took_low[i] = 0
            hi -= 1
        tested += 1
    nc = _esd_outliers(r_values, table, cnt, tested, k, p.esd_rosner)
    if nc == 0:
        return
    nl = nc - min(nc, tested)  # those untested candidates come from the low end (equal values)
    for i in range(min(nc, tested)):
        nl += took_low[i]
    nh = nc - nl
    median = _median(v, ZERO, cnt)
    for j in range(cnt):
        if j < nl or j >= cnt - nh:
            if v[j] > median:
                if p.clip_high:
                    flags[j] = HIGH
            elif p.clip_low:
                flags[j] = LOW


@njit(cache=True)
def _esd_outliers(r_values, table, cnt, tested, k, rosner):
    """How many of ESD's candidates are outliers, from their statistics r_values[:tested] and the
    critical values ``table[cnt, i]`` (of k candidates; see rejection._esd)."""
    nc = 0
    if rosner:
        for i in range(tested):
            if r_values[i] >= table[cnt, i]:
                nc = i + 1
    else:
        while nc < tested and r_values[nc] >= table[cnt, nc]:
            nc += 1
        if nc == tested:  # untested steps (the rest all equal) pass, as PCL's 0/0 statistic
            nc = k
    return nc
